// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "x86/apic.h"

static volatile u32 *xapic_reg(u32 reg)
{
	return (volatile u32 *)(APIC_DEFAULT_BASE + reg);
}

bool apic_is_x2apic(void)
{
	return this_cpu()->x2apic;
}

void xapic_enable(void)
{
	u64 base = rdmsr(MSR_IA32_APICBASE);

	wrmsr(MSR_IA32_APICBASE, (base & ~MSR_APICBASE_X2APIC) |
				 MSR_APICBASE_ENABLE);
	this_cpu()->x2apic = 0;
	apic_write(APIC_SPIV, apic_read(APIC_SPIV) | APIC_SPIV_ENABLE | 0xff);
}

void x2apic_enable(void)
{
	u64 base = rdmsr(MSR_IA32_APICBASE);

	wrmsr(MSR_IA32_APICBASE, base | MSR_APICBASE_ENABLE |
				 MSR_APICBASE_X2APIC);
	this_cpu()->x2apic = 1;
	apic_write(APIC_SPIV, apic_read(APIC_SPIV) | APIC_SPIV_ENABLE | 0xff);
}

void apic_enable_mode(bool x2apic)
{
	if (x2apic)
		x2apic_enable();
	else
		xapic_enable();
}

u32 apic_read(u32 reg)
{
	if (apic_is_x2apic())
		return rdmsr(X2APIC_MSR(reg));
	return *xapic_reg(reg);
}

void apic_write(u32 reg, u32 val)
{
	if (apic_is_x2apic())
		wrmsr(X2APIC_MSR(reg), val);
	else
		*xapic_reg(reg) = val;
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

u32 apic_id(void)
{
	u32 id = apic_read(APIC_ID);

	return apic_is_x2apic() ? id : id >> 24;
}

bool apic_vec_test(u32 base, u8 vec)
{
	return apic_read(base + (vec / 32) * 0x10) & BIT(vec % 32);
}

void apic_icr_write(u32 dest, u32 low)
{
	if (apic_is_x2apic()) {
		wrmsr(X2APIC_MSR(APIC_ICR), ((u64)dest << 32) | low);
		return;
	}
	*xapic_reg(APIC_ICR2) = dest << 24;
	*xapic_reg(APIC_ICR) = low;
}

void xapic_set_flat(u8 ldr_bits)
{
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, (u32)ldr_bits << 24);
}

void xapic_set_cluster(u8 cluster, u8 bits)
{
	apic_write(APIC_DFR, APIC_DFR_CLUSTER);
	apic_write(APIC_LDR, xapic_cluster_ldr(cluster, bits));
}

u32 lapic_state_reg(const struct kvm_lapic_state *s, u32 reg)
{
	u32 v;

	memcpy(&v, &s->regs[reg], sizeof(v));
	return v;
}

void lapic_state_set_reg(struct kvm_lapic_state *s, u32 reg, u32 val)
{
	memcpy(&s->regs[reg], &val, sizeof(val));
}

bool lapic_state_vec_test(const struct kvm_lapic_state *s, u32 base, u8 vec)
{
	return lapic_state_reg(s, base + (vec / 32) * 0x10) & BIT(vec % 32);
}

void lapic_state_vec_list(const struct kvm_lapic_state *s, u32 base,
			  char *buf, size_t len)
{
	size_t n = 0;
	int vec;

	buf[0] = '\0';
	for (vec = 0; vec < 256 && n < len; vec++)
		if (lapic_state_vec_test(s, base, vec))
			n += snprintf(buf + n, len - n, "0x%02x ", vec);
	if (!n)
		snprintf(buf, len, "-");
}

bool vcpu_apic_is_x2apic(struct kvm_vcpu *vcpu)
{
	return vcpu_get_msr(vcpu, MSR_IA32_APICBASE) & MSR_APICBASE_X2APIC;
}

void vcpu_lapic_set_reg(struct kvm_vcpu *vcpu, u32 reg, u32 val)
{
	struct kvm_lapic_state s;

	vcpu_lapic_get(vcpu, &s);
	lapic_state_set_reg(&s, reg, val);
	vcpu_lapic_set(vcpu, &s);
}
