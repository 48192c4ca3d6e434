/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Local APIC: register layout, guest access in xAPIC (MMIO) and x2APIC
 * (MSR) mode, ICR encoding, logical IDs, and host-side decoding of
 * KVM_GET_LAPIC state.
 */
#ifndef APICV_X86_APIC_H
#define APICV_X86_APIC_H

#include "vm.h"

#define APIC_DEFAULT_BASE	0xfee00000ull

#define APIC_ID		0x020
#define APIC_LVR	0x030
#define APIC_TPR	0x080
#define APIC_PPR	0x0a0
#define APIC_EOI	0x0b0
#define APIC_LDR	0x0d0
#define APIC_DFR	0x0e0
#define APIC_SPIV	0x0f0
#define   APIC_SPIV_ENABLE	BIT(8)
#define APIC_ISR	0x100
#define APIC_TMR	0x180
#define APIC_IRR	0x200
#define APIC_ESR	0x280
#define APIC_ICR	0x300
#define APIC_ICR2	0x310
#define APIC_LVTT	0x320
#define APIC_LVT0	0x350
#define APIC_LVT1	0x360
#define APIC_LVTERR	0x370
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0
#define APIC_SELF_IPI	0x3f0	/* x2APIC only */

/* ICR low word. */
#define APIC_DM_FIXED		0x000
#define APIC_DM_LOWEST		0x100
#define APIC_DM_SMI		0x200
#define APIC_DM_NMI		0x400
#define APIC_DM_INIT		0x500
#define APIC_DM_STARTUP		0x600
#define APIC_DM_EXTINT		0x700
#define APIC_DEST_LOGICAL	0x800
#define APIC_ICR_BUSY		0x1000
#define APIC_INT_ASSERT		0x4000
#define APIC_INT_LEVELTRIG	0x8000
#define APIC_DEST_SELF		0x40000
#define APIC_DEST_ALLINC	0x80000
#define APIC_DEST_ALLBUT	0xc0000
#define APIC_SHORTHAND_MASK	0xc0000

/* LVT bits. */
#define APIC_LVT_MASKED		BIT(16)
#define APIC_LVT_TIMER_PERIODIC	BIT(17)
#define APIC_LVT_TIMER_TSCDEADLINE (2u << 17)
#define APIC_LVT_DM_EXTINT	0x700
#define APIC_LVT_DM_NMI		0x400

#define APIC_DFR_FLAT		0xffffffffu
#define APIC_DFR_CLUSTER	0x0fffffffu

#define X2APIC_MSR(reg)		(0x800 + ((reg) >> 4))

/* Guest side; the mode is per vCPU (this_cpu()->x2apic). */
void xapic_enable(void);
void x2apic_enable(void);
/* x2apic_enable() or xapic_enable(), as a test's variant asks. */
void apic_enable_mode(bool x2apic);
bool apic_is_x2apic(void);
u32 apic_read(u32 reg);
void apic_write(u32 reg, u32 val);
void apic_eoi(void);
u32 apic_id(void);
/* The ISR/IRR/TMR bit of @vec as this vCPU's APIC shows it. */
bool apic_vec_test(u32 base, u8 vec);
/* Writes ICR (x2APIC: one 64-bit write; xAPIC: ICR2 then ICR). */
void apic_icr_write(u32 dest, u32 low);
static inline void apic_self_ipi(u8 vec)
{
	apic_icr_write(0, APIC_DEST_SELF | APIC_DM_FIXED | APIC_INT_ASSERT |
			  vec);
}

/* x2APIC logical ID of an x2APIC ID: cluster in 31:16, one bit in 15:0. */
static inline u32 x2apic_logical_id(u32 apic_id)
{
	return ((apic_id >> 4) << 16) | (1u << (apic_id & 0xf));
}

/* xAPIC cluster LDR: cluster in 31:28, member bits in 27:24. */
static inline u32 xapic_cluster_ldr(u8 cluster, u8 bits)
{
	return ((u32)(cluster & 0xf) << 28) | ((u32)(bits & 0xf) << 24);
}

/*
 * ICR low word: @dm is APIC_DM_*, @shorthand 0 or APIC_DEST_SELF/ALLINC/
 * ALLBUT; INIT de-assert is the only encoding that clears APIC_INT_ASSERT.
 */
static inline u32 apic_icr_low(u8 vec, u32 dm, bool logical, u32 shorthand)
{
	return vec | dm | (logical ? APIC_DEST_LOGICAL : 0) | shorthand |
	       APIC_INT_ASSERT;
}

/* Guest: xAPIC logical addressing (xAPIC mode only; LDR is RO in x2APIC). */
void xapic_set_flat(u8 ldr_bits);
void xapic_set_cluster(u8 cluster, u8 bits);

/* Host side: decoding KVM_GET_LAPIC (xAPIC register page layout). */
u32 lapic_state_reg(const struct kvm_lapic_state *s, u32 reg);
void lapic_state_set_reg(struct kvm_lapic_state *s, u32 reg, u32 val);
bool lapic_state_vec_test(const struct kvm_lapic_state *s, u32 base, u8 vec);
/* Formats the vectors set in ISR/IRR/TMR as "0x30 0xec" into @buf. */
void lapic_state_vec_list(const struct kvm_lapic_state *s, u32 base,
			  char *buf, size_t len);
/* True when the vCPU's APIC is in x2APIC mode (from APICBASE). */
bool vcpu_apic_is_x2apic(struct kvm_vcpu *vcpu);
/* One register through KVM_GET_LAPIC / KVM_SET_LAPIC. */
void vcpu_lapic_set_reg(struct kvm_vcpu *vcpu, u32 reg, u32 val);

#endif
