/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hyper-V enlightenments as KVM emulates them: the CPUID leaves, the
 * synthetic interrupt controller (SynIC: SCONTROL, SIMP, SIEFP, EOM, the
 * sixteen SINTs), SynIC timers, the message and event-flag page layouts,
 * and the host's way to signal a SINT (a KVM_IRQ_ROUTING_HV_SINT route
 * driven by an irqfd). Layouts and numbers follow the Hyper-V TLFS.
 *
 * Host side:
 *	hv_vcpu_init(vcpu);          Hyper-V CPUID leaves (before first run)
 *	hv_synic_activate(vcpu);     KVM_CAP_HYPERV_SYNIC2, needs in-kernel APIC
 *	hv_routes_reset(vm); r = hv_sint_route_add(vm, vcpu_id, sint);
 *	hv_sint_signal(r);
 *	hv_msg_post(simp, sint, type, payload, len)  writes one message slot
 * Guest side:
 *	hv_guest_synic_enable(simp, siefp);  SIMP, SIEFP, SCONTROL
 *	hv_guest_sint_set(sint, hv_sint(vec, HV_SINT_AUTO_EOI)); hv_guest_eom();
 *	hv_guest_stimer_arm_*()
 */
#ifndef APICV_X86_HYPERV_H
#define APICV_X86_HYPERV_H

#include "vm.h"

/* CPUID leaves. */
#define HV_CPUID_VENDOR			0x40000000
#define HV_CPUID_INTERFACE		0x40000001
#define   HV_INTERFACE_SIGNATURE	0x31237648	/* "Hv#1" */
#define HV_CPUID_FEATURES		0x40000003
/* Leaf 0x40000003 EAX: partition privileges. */
#define   HV_PRIV_TIME_REF_COUNT	BIT(1)
#define   HV_PRIV_SYNIC			BIT(2)
#define   HV_PRIV_SYNTIMER		BIT(3)
#define   HV_PRIV_HYPERCALL		BIT(5)
#define   HV_PRIV_VP_INDEX		BIT(6)
/* Leaf 0x40000003 EDX. */
#define   HV_FEAT_STIMER_DIRECT		BIT(19)
#define HV_CPUID_ENLIGHTENMENT		0x40000004
/* Leaf 0x40000004 EAX: recommendations. */
#define   HV_REC_DEPRECATING_AEOI	BIT(9)

/* MSRs. */
#define HV_MSR_GUEST_OS_ID		0x40000000
#define HV_MSR_HYPERCALL		0x40000001
#define HV_MSR_VP_INDEX			0x40000002
#define HV_MSR_TIME_REF_COUNT		0x40000020	/* 100 ns units */
#define HV_MSR_SCONTROL			0x40000080
#define   HV_SCONTROL_ENABLE		BIT_ULL(0)
#define HV_MSR_SVERSION			0x40000081	/* read-only for the guest */
#define HV_MSR_SIEFP			0x40000082
#define HV_MSR_SIMP			0x40000083
#define   HV_PAGE_ENABLE		BIT_ULL(0)	/* SIMP/SIEFP bit 0 */
#define HV_MSR_EOM			0x40000084
#define HV_MSR_SINT(n)			(0x40000090 + (n))
#define   HV_SINT_VECTOR_MASK		0xffull
#define   HV_SINT_MASKED		BIT_ULL(16)
#define   HV_SINT_AUTO_EOI		BIT_ULL(17)
#define   HV_SINT_POLLING		BIT_ULL(18)
#define HV_SINT_COUNT			16
/* The first vector a guest may give an unmasked SINT. */
#define HV_SINT_MIN_VECTOR		16

#define HV_MSR_STIMER_CONFIG(n)		(0x400000b0 + 2 * (n))
#define HV_MSR_STIMER_COUNT(n)		(0x400000b1 + 2 * (n))
#define HV_STIMER_COUNT			4
#define   HV_STIMER_ENABLE		BIT_ULL(0)
#define   HV_STIMER_PERIODIC		BIT_ULL(1)
#define   HV_STIMER_LAZY		BIT_ULL(2)
#define   HV_STIMER_AUTO_ENABLE		BIT_ULL(3)
#define   HV_STIMER_VECTOR(v)		((u64)((v) & 0xff) << 4)  /* direct */
#define   HV_STIMER_DIRECT		BIT_ULL(12)
#define   HV_STIMER_SINT(s)		((u64)((s) & 0xf) << 16)  /* message */

/* Message page (SIMP): one 256-byte slot per SINT. */
#define HV_MSG_NONE			0x00000000u
#define HV_MSG_TIMER_EXPIRED		0x80000010u
#define HV_MSG_PAYLOAD_BYTES		240
#define HV_MSG_FLAG_PENDING		BIT(0)

struct hv_message_header {
	u32 message_type;
	u8 payload_size;
	u8 message_flags;
	u16 reserved;
	u64 origin;		/* sender partition or port id */
} __attribute__((packed));

struct hv_message {
	struct hv_message_header hdr;
	union {
		u64 payload[HV_MSG_PAYLOAD_BYTES / 8];
		struct {	/* HV_MSG_TIMER_EXPIRED */
			u32 timer_index;
			u32 reserved;
			u64 expiration_time;
			u64 delivery_time;
		} __attribute__((packed)) timer;
	};
} __attribute__((packed));

struct hv_message_page {
	struct hv_message slot[HV_SINT_COUNT];
} __attribute__((packed));

/* Event-flags page (SIEFP): 2048 flag bits per SINT. */
#define HV_EVENT_FLAGS_BYTES		256
struct hv_event_flags_page {
	u8 flags[HV_SINT_COUNT][HV_EVENT_FLAGS_BYTES];
};

_Static_assert(sizeof(struct hv_message) == 256, "hv_message layout");
_Static_assert(sizeof(struct hv_message_page) == 4096, "SIMP layout");
_Static_assert(sizeof(struct hv_event_flags_page) == 4096, "SIEFP layout");

static inline u64 hv_sint(u8 vector, u64 flags)
{
	return vector | flags;
}

/* ---- host side ---- */

/*
 * KVM_GET_SUPPORTED_HV_CPUID: the system ioctl when KVM has
 * KVM_CAP_SYS_HYPERV_CPUID, else the vCPU form on @vcpu (may be NULL only
 * when the system form exists). Cached; do not free.
 */
const struct kvm_cpuid2 *hv_supported_cpuid(struct kvm_vcpu *vcpu);
/* One supported leaf (NULL when absent). */
const struct kvm_cpuid_entry2 *hv_supported_leaf(struct kvm_vcpu *vcpu,
						 u32 leaf);
/*
 * Gives @vcpu every Hyper-V leaf KVM supports (replacing KVM's own
 * 0x4000000x leaves) and applies the table. Call before the first run.
 */
void hv_vcpu_init(struct kvm_vcpu *vcpu);
/*
 * KVM_ENABLE_CAP(KVM_CAP_HYPERV_SYNIC2) on @vcpu; skips the test when KVM
 * lacks it. Installs hv_handle_exit as the vCPU's on_exit hook unless the
 * test set one (then the test's hook must call hv_handle_exit()).
 */
void hv_synic_activate(struct kvm_vcpu *vcpu);
/*
 * A vCPU of @vm (created with an in-kernel LAPIC) running @guest_fn with
 * the Hyper-V leaves and SynIC on: vm_add_vcpu(), hv_vcpu_init() and
 * hv_synic_activate(), the set-up every SynIC test starts from.
 */
struct kvm_vcpu *hv_synic_vcpu_add(struct kvm_vm *vm, u32 id, void *guest_fn);
/* The raw ioctl result (0 or -errno) for error-path tests. */
int __hv_synic_activate(struct kvm_vcpu *vcpu, u64 arg0);
/* Consumes KVM_EXIT_HYPERV (SynIC MSR writes); false for other exits. */
bool hv_handle_exit(struct kvm_vcpu *vcpu);
/* Counts KVM_EXIT_HYPERV exits of type SYNIC handled (all vCPUs). */
extern u64 hv_synic_exits;

/* A SINT reachable from the host: a GSI routed to (vcpu, sint) + irqfd. */
struct hv_sint_route {
	u32 gsi;
	int efd;
	int rfd;	/* resample eventfd: the SINT's acks, or -1 */
	u32 vcpu_id, sint;
};
/*
 * Adds a KVM_IRQ_ROUTING_HV_SINT route and binds an eventfd to it. The VM's
 * routing table becomes exactly the set of SINT routes added so far (the
 * default PIC/IOAPIC routes are dropped). One VM at a time holds routes:
 * call hv_routes_reset(vm) right after vm_create() (a new VM may reuse a
 * freed one's address); it also closes the previous VM's eventfds.
 */
struct hv_sint_route *hv_sint_route_add(struct kvm_vm *vm, u32 vcpu_id,
					u32 sint);
/*
 * The same with a resampling irqfd (KVM_IRQFD_FLAG_RESAMPLE, needs
 * IRQCHIP_KERNEL): KVM signals r->rfd whenever it acknowledges the SINT,
 * on the guest's EOM and on the EOI of the SINT's vector, which is how a
 * VMM learns that it may retry a message that found the slot busy.
 */
struct hv_sint_route *hv_sint_route_add_resample(struct kvm_vm *vm,
						 u32 vcpu_id, u32 sint);
/* Acks counted on @r's resample eventfd since the last call (0: none). */
u64 hv_sint_acks(struct hv_sint_route *r);
/* Signals the SINT once (eventfd write): the SINT's vector is requested. */
void hv_sint_signal(struct hv_sint_route *r);
void hv_routes_reset(struct kvm_vm *vm);

/*
 * Writes one message into @sint's slot of @simp if the slot is free
 * (message_type == HV_MSG_NONE); returns false when it is busy. The slot
 * is filled payload first and the type last (release order).
 */
bool hv_msg_post(struct hv_message_page *simp, u32 sint, u32 type,
		 const void *payload, u8 len);
/* Sets event flag @bit of @sint's row in @siefp (atomic OR). */
void hv_event_set(struct hv_event_flags_page *siefp, u32 sint, u32 bit);

/* Host-side SynIC MSR accesses (KVM_SET_MSRS); return KVM's count. */
static inline int hv_host_set_sint(struct kvm_vcpu *vcpu, u32 sint, u64 val)
{
	return __vcpu_set_msr(vcpu, HV_MSR_SINT(sint), val);
}

/* ---- guest side ---- */

/* SIMP and SIEFP at @simp/@siefp (page aligned; NULL: leave off), SCONTROL. */
void hv_guest_synic_enable(void *simp, void *siefp);
static inline void hv_guest_sint_set(u32 sint, u64 val)
{
	wrmsr(HV_MSR_SINT(sint), val);
}

static inline u64 hv_guest_sint_get(u32 sint)
{
	return rdmsr(HV_MSR_SINT(sint));
}

/* End of message: KVM retries pending messages (e.g. timers) on it. */
static inline void hv_guest_eom(void)
{
	wrmsr(HV_MSR_EOM, 0);
}

/* Partition reference time, 100 ns units. */
static inline u64 hv_guest_time_ref(void)
{
	return rdmsr(HV_MSR_TIME_REF_COUNT);
}

/*
 * Consumes @sint's message slot: returns its type (HV_MSG_NONE: empty),
 * copies it to @out if non-NULL, frees the slot and writes EOM when the
 * pending flag says another message waits.
 */
u32 hv_guest_msg_take(struct hv_message_page *simp, u32 sint,
		      struct hv_message *out);

/*
 * One-shot SynIC timer @n firing @delay_100ns from now; returns the count
 * written, the expiration time in partition reference time.
 */
u64 hv_guest_stimer_arm_direct(u32 n, u8 vector, u64 delay_100ns);
u64 hv_guest_stimer_arm_msg(u32 n, u32 sint, u64 delay_100ns);
/*
 * Periodic SynIC timer @n, period @period_100ns, first expiry one period
 * after KVM starts it; @config: HV_STIMER_DIRECT | HV_STIMER_VECTOR(v) or
 * HV_STIMER_SINT(s).
 */
void hv_guest_stimer_arm_periodic(u32 n, u64 config, u64 period_100ns);
/* Stops timer @n (config 0) and clears its count. */
void hv_guest_stimer_stop(u32 n);

#endif
