// SPDX-License-Identifier: GPL-2.0
/*
 * Pulling inhibit reasons from the VMM side. See include/x86/apicv_pull.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_ioctl.h"
#include "test_util.h"
#include "ucall.h"
#include "vcpu.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv_host.h"
#include "x86/apicv_reason.h"
#include "x86/apicv_pull.h"
#include "x86/hyperv.h"
#include "x86/irqchip.h"
#include "x86/processor.h"

#define PULL_SINT		0
#define PULL_SINT_VECTOR	0x30
#define PULL_MOVED_BASE		0xfed00000ull
#define PULL_MOVED_ID_BASE	0x80	/* + the spare's id: aliases no one */
#define PULL_SPARE_ID_LIMIT	0x80	/* spares take ids below this */
#define PULL_LDR_HOME		0x01	/* the first LOGICAL spare's flat LDR */
#define PULL_LDR_AWAY		0x02	/* the second's, until pulled */

struct apicv_pull {
	enum apicv_reason reason;
	struct kvm_vm *vm;
	struct kvm_vcpu *spare;		/* the vCPU written (none: PIT) */
	u32 home_id, moved_id;		/* xAPIC IDs (ID and alias reasons) */
	u64 apicbase;			/* the spare's own APIC base MSR */
	bool on;
};

static void guest_spare(void)
{
	GUEST_FAIL("a spare vCPU of apicv_pull ran");
}

/* A vCPU that never runs, with the next id above every one below 0x80. */
static struct kvm_vcpu *add_spare(struct kvm_vm *vm)
{
	u32 id = 0;
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->id < PULL_SPARE_ID_LIMIT &&
		    vm->vcpus[i]->id >= id)
			id = vm->vcpus[i]->id + 1;
	TEST_ASSERT(id < PULL_SPARE_ID_LIMIT, "apicv_pull: no spare vCPU id left");
	return vm_add_vcpu(vm, id, guest_spare);
}

static void set_xapic_id(struct kvm_vcpu *vcpu, u32 id)
{
	struct kvm_lapic_state s;

	vcpu_lapic_get(vcpu, &s);
	lapic_state_set_reg(&s, APIC_ID, id << 24);
	vcpu_lapic_set(vcpu, &s);
}

/* Software-enables the xAPIC in flat mode with logical ID @ldr. */
static void set_flat_ldr(struct kvm_vcpu *vcpu, u8 ldr)
{
	struct kvm_lapic_state s;

	vcpu_lapic_get(vcpu, &s);
	lapic_state_set_reg(&s, APIC_SPIV,
			    lapic_state_reg(&s, APIC_SPIV) | APIC_SPIV_ENABLE);
	lapic_state_set_reg(&s, APIC_DFR, APIC_DFR_FLAT);
	lapic_state_set_reg(&s, APIC_LDR, (u32)ldr << 24);
	vcpu_lapic_set(vcpu, &s);
}

static void require_blockirq(void)
{
	int caps = kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2);

	TEST_REQUIRE(caps <= 0 || (caps & KVM_GUESTDBG_BLOCKIRQ),
		     "KVM_CAP_SET_GUEST_DEBUG2 lacks KVM_GUESTDBG_BLOCKIRQ");
}

/* KVM_CREATE_PIT2 unless the VM has its PIT already (EEXIST). */
static void ensure_pit(struct kvm_vm *vm)
{
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };

	TEST_REQUIRE(vm->irqchip == IRQCHIP_KERNEL,
		     "PIT_REINJ needs the in-kernel PIT, which needs IRQCHIP_KERNEL");
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_PIT2) > 0,
		     "KVM_CAP_PIT2 not supported");
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &cfg) && errno != EEXIST)
		TEST_FAIL("KVM_CREATE_PIT2: %s", strerror(errno));
}

/* The vCPU whose xAPIC ID the spare borrows: any other, else a new one. */
static u32 alias_target(struct kvm_vm *vm, struct kvm_vcpu *spare)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i] != spare &&
		    vm->vcpus[i]->id < PULL_SPARE_ID_LIMIT)
			return vm->vcpus[i]->id;
	return add_spare(vm)->id;
}

static void prepare(struct apicv_pull *p)
{
	struct kvm_vm *vm = p->vm;

	switch (p->reason) {
	case APICV_REASON_BLOCKIRQ:
		require_blockirq();
		p->spare = add_spare(vm);
		break;
	case APICV_REASON_PIT_REINJ:
		ensure_pit(vm);
		break;
	case APICV_REASON_HYPERV:
		/* Skips without KVM_CAP_HYPERV_SYNIC2 (CONFIG_KVM_HYPERV=n). */
		p->spare = add_spare(vm);
		hv_synic_activate(p->spare);
		break;
	case APICV_REASON_APIC_ID_MODIFIED:
		p->spare = add_spare(vm);
		p->home_id = p->spare->id;
		p->moved_id = PULL_MOVED_ID_BASE + p->spare->id;
		break;
	case APICV_REASON_APIC_BASE_MODIFIED:
		p->spare = add_spare(vm);
		p->apicbase = vcpu_get_msr(p->spare, MSR_IA32_APICBASE);
		break;
	case APICV_REASON_PHYSICAL_ID_ALIASED:
		p->spare = add_spare(vm);
		p->home_id = p->spare->id;
		p->moved_id = alias_target(vm, p->spare);
		break;
	case APICV_REASON_LOGICAL_ID_ALIASED:
		set_flat_ldr(add_spare(vm), PULL_LDR_HOME);
		p->spare = add_spare(vm);
		break;
	case APICV_REASON_PHYSICAL_ID_TOO_BIG:
		break;
	default:
		test_skip("%s cannot be pulled from the VMM side on an existing VM",
			  apicv_reason_name(p->reason));
	}
}

struct apicv_pull *apicv_pull_new(struct kvm_vm *vm, enum apicv_reason r)
{
	const struct apicv_host *h = apicv_host();
	struct apicv_pull *p;

	TEST_REQUIRE(apicv_reason_bit(r) >= 0, "kernel %u.%u has no %s inhibit",
		     h->kver >> 8, h->kver & 0xff, apicv_reason_name(r));
	TEST_REQUIRE(vm->irqchip == IRQCHIP_KERNEL ||
		     vm->irqchip == IRQCHIP_SPLIT,
		     "pulling %s needs an in-kernel LAPIC",
		     apicv_reason_name(r));
	p = calloc(1, sizeof(*p));
	TEST_ASSERT(p, "out of memory");
	p->reason = r;
	p->vm = vm;
	prepare(p);
	if (r != APICV_REASON_PHYSICAL_ID_TOO_BIG) {
		p->on = true;
		apicv_pull(p, false);
	}
	return p;
}

/* A vCPU above AVIC's limit (0xff on VMX, where none applies). */
static void add_too_big(struct apicv_pull *p)
{
	u32 id = apicv_host()->avic_max_id ?: 0xfe;

	vm_add_vcpu(p->vm, id + 1, guest_spare);
}

void apicv_pull(struct apicv_pull *p, bool on)
{
	struct kvm_guest_debug dbg = { 0 };
	int r;

	switch (p->reason) {
	case APICV_REASON_BLOCKIRQ:
		if (on)
			dbg.control = KVM_GUESTDBG_ENABLE |
				      KVM_GUESTDBG_BLOCKIRQ;
		vcpu_ioctl(p->spare, KVM_SET_GUEST_DEBUG, &dbg);
		break;
	case APICV_REASON_PIT_REINJ:
		vm_pit_reinject(p->vm, on);
		break;
	case APICV_REASON_HYPERV:
		r = hv_host_set_sint(p->spare, PULL_SINT, on ?
				     hv_sint(PULL_SINT_VECTOR, HV_SINT_AUTO_EOI) :
				     hv_sint(PULL_SINT_VECTOR, HV_SINT_MASKED));
		TEST_ASSERT(r == 1, "KVM_SET_MSRS SINT%d refused", PULL_SINT);
		break;
	case APICV_REASON_APIC_ID_MODIFIED:
	case APICV_REASON_PHYSICAL_ID_ALIASED:
		set_xapic_id(p->spare, on ? p->moved_id : p->home_id);
		break;
	case APICV_REASON_APIC_BASE_MODIFIED:
		vcpu_set_msr(p->spare, MSR_IA32_APICBASE, on ?
			     (p->apicbase & ~MSR_APICBASE_BASE) | PULL_MOVED_BASE :
			     p->apicbase);
		break;
	case APICV_REASON_LOGICAL_ID_ALIASED:
		set_flat_ldr(p->spare, on ? PULL_LDR_HOME : PULL_LDR_AWAY);
		break;
	case APICV_REASON_PHYSICAL_ID_TOO_BIG:
		/* Only ever set, once: the vCPU cannot be taken back. */
		if (on && !p->on)
			add_too_big(p);
		if (!on)
			return;
		break;
	default:
		TEST_FAIL("apicv_pull: %s is not pullable",
			  apicv_reason_name(p->reason));
	}
	p->on = on;
}

void apicv_pull_free(struct apicv_pull *p)
{
	free(p);
}

enum apicv_reason apicv_pull_reason(const struct apicv_pull *p)
{
	return p->reason;
}

struct kvm_vcpu *apicv_pull_vcpu(const struct apicv_pull *p)
{
	return p->spare;
}
