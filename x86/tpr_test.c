// SPDX-License-Identifier: GPL-2.0
/*
 * TPR and PPR at every priority class boundary, with TPR written through
 * the xAPIC page, the x2APIC MSR or CR8. For each class c in 1..15:
 *   - TPR = c:n (n a varying low nibble): a vector of class c (c:f) is
 *     held in IRR, one of class c + 1 is taken at once; PPR reads TPR;
 *   - KVM_GET_LAPIC shows the same TPR and PPR and the held vector;
 *   - TPR dropped to class c - 1: the held vector is taken before the
 *     next instruction (no later VM exit may be what delivers it);
 *   - in its handler PPR is the in-service class (c:0, not TPR), a second
 *     vector of class c stays in IRR until EOI, class c + 1 nests; the
 *     host sees that PPR in KVM_GET_LAPIC;
 *   - the round leaves IRR and ISR empty.
 */
#include <string.h>

#include "harness_main.h"
#include "vm.h"
#include "x86/apic.h"

enum tpr_via { VIA_XAPIC, VIA_X2APIC, VIA_CR8 };

FAULT(tpr_class_below, "tpr.xapic.classes", ": held vector 0x",
      "class 9: TPR one class below the held vector's");
FAULT(tpr_class_above, "tpr.x2apic.classes", "not taken with TPR",
      "class 8: TPR one class above (the next class is held too)");
FAULT(ppr_next_class, "tpr.x2apic.classes", "and nothing in service, want",
      "class 4: expect PPR one class above TPR");
FAULT(tpr_moved, "tpr.cr8.classes", "KVM_GET_LAPIC TPR",
      "class 11: the guest raises TPR after reporting it");
FAULT(held_not_sent, "tpr.xapic.classes", "IRR lacks held vector",
      "class 10: the held vector is not sent");
FAULT(tpr_drop_if0, "tpr.*.classes", "not taken on the instruction after TPR dropped",
      "class 5: TPR is lowered with IF=0 (delivery waits for STI)");
FAULT(handler_tpr_above, "tpr.x2apic.classes", "in the handler of",
      "class 5: the handler raises TPR to 0x60, so PPR is TPR, not the ISR class");
FAULT(handler_eoi_early, "tpr.xapic.classes", "taken while",
      "class 6: the handler EOIs before its interrupt window");
FAULT(handler_no_window, "tpr.cr8.classes", "not nested in the handler",
      "class 7: the handler opens no interrupt window");
FAULT(handler_tpr_moved, "tpr.x2apic.classes", "in the handler, the guest read",
      "class 12: the handler raises TPR after reading PPR");
FAULT(handler_same_not_sent, "tpr.xapic.classes", "IRR lacks same-class vector",
      "class 13: the handler does not send the second class-13 vector");
FAULT(stray_pending, "tpr.x2apic.classes", "not empty at the end of the round",
      "class 14: one more vector, held by TPR, is left pending");

/* Per class c: four distinct vectors, none with a CPU error code. */
#define HELD_VEC(c)	(((c) << 4) | 0xf)	/* class c, held by TPR c */
#define SAME_VEC(c)	(((c) << 4) | 0x8)	/* class c, sent in service */
#define NEXT_VEC(c)	(((c) + 1) << 4)	/* class c + 1: taken */
#define NEST_VEC(c)	((((c) + 1) << 4) | 0x4) /* class c + 1: nests */

enum { SYNC_TPR = 1, SYNC_ISR };

static volatile u32 handled[256];
static volatile u32 via_mode;

static void tpr_set(u32 tpr)
{
	if (via_mode == VIA_CR8)
		write_cr8(tpr >> 4);
	else
		apic_write(APIC_TPR, tpr);
}

/* TPR's low nibble for class c: 0, 0xf or c (CR8 cannot set it). */
static u32 tpr_nibble(u32 c)
{
	if (via_mode == VIA_CR8)
		return 0;
	return c % 3 == 0 ? 0 : c % 3 == 1 ? 0xf : c;
}

static void guest_count(struct ex_regs *regs)
{
	handled[regs->vector]++;
	apic_eoi();
}

/* The held vector's handler: PPR is the in-service class now. */
static void guest_held(struct ex_regs *regs)
{
	u32 vec = regs->vector, c = vec >> 4, want = c << 4, ppr;

	handled[vec]++;
	if (fault_handler_tpr_above && c == 5)
		apic_write(APIC_TPR, 0x60);
	ppr = apic_read(APIC_PPR);
	GUEST_ASSERT(ppr == want,
		     "class %u: PPR 0x%x in the handler of 0x%x, want 0x%x (TPR 0x%x)",
		     c, ppr, vec, want, apic_read(APIC_TPR));
	if (!(fault_handler_same_not_sent && c == 13))
		apic_self_ipi(SAME_VEC(c));
	if (c < 15)
		apic_self_ipi(NEST_VEC(c));
	if (fault_handler_eoi_early && c == 6)
		apic_eoi();
	if (!(fault_handler_no_window && c == 7))
		sti_nop_cli();
	GUEST_ASSERT(!handled[SAME_VEC(c)],
		     "class %u: vector 0x%x taken while 0x%x was in service",
		     c, SAME_VEC(c), vec);
	if (c < 15)
		GUEST_ASSERT(handled[NEST_VEC(c)] == 1,
			     "class %u: vector 0x%x not nested in the handler of 0x%x (taken %u times)",
			     c, NEST_VEC(c), vec, handled[NEST_VEC(c)]);
	if (fault_handler_tpr_moved && c == 12)
		apic_write(APIC_TPR, 0xe0);
	GUEST_SYNC(SYNC_ISR, c, ppr, SAME_VEC(c));
	if (fault_handler_tpr_moved && c == 12)
		apic_write(APIC_TPR, 0xb0);
	apic_eoi();
}

static void assert_apic_clean(u32 c)
{
	u32 i, irr, isr;

	for (i = 0; i < 8; i++) {
		irr = apic_read(APIC_IRR + i * 0x10);
		isr = apic_read(APIC_ISR + i * 0x10);
		GUEST_ASSERT(!irr && !isr,
			     "class %u: IRR/ISR not empty at the end of the round: word %u IRR 0x%x ISR 0x%x",
			     c, i, irr, isr);
	}
}

/* Class c's round; returns whether the held vector came late. */
static bool tpr_round(u32 c)
{
	u32 nib = tpr_nibble(c), tpr = (c << 4) | nib;
	u32 low = ((c - 1) << 4) | nib, got, ppr, want_ppr, tpr_rd;

	if (fault_tpr_class_below && c == 9)
		tpr -= 0x10;
	if (fault_tpr_class_above && c == 8)
		tpr += 0x10;
	cli();
	tpr_set(tpr);
	sti();
	if (!(fault_held_not_sent && c == 10))
		apic_self_ipi(HELD_VEC(c));
	got = handled[HELD_VEC(c)];
	GUEST_ASSERT(!got, "class %u: held vector 0x%x taken with TPR 0x%x",
		     c, HELD_VEC(c), tpr);
	if (c < 15) {
		apic_self_ipi(NEXT_VEC(c));
		got = handled[NEXT_VEC(c)];
		GUEST_ASSERT(got == 1,
			     "class %u: vector 0x%x not taken with TPR 0x%x (taken %u times)",
			     c, NEXT_VEC(c), tpr, got);
	}
	/*
	 * PPR is TPR when nothing is in service. SVM keeps only TPR[7:4]
	 * (in V_TPR) across a VM entry when it does not intercept CR8
	 * writes, so TPR[3:0] may read back as 0: the class must hold, and
	 * PPR must equal TPR as it reads now.
	 */
	tpr_rd = apic_read(APIC_TPR);
	ppr = apic_read(APIC_PPR);
	want_ppr = tpr_rd + (fault_ppr_next_class && c == 4 ? 0x10 : 0);
	GUEST_ASSERT((tpr_rd & 0xf0) == (tpr & 0xf0) && ppr == want_ppr,
		     "class %u: PPR 0x%x with TPR 0x%x (written 0x%x) and nothing in service, want 0x%x",
		     c, ppr, tpr_rd, tpr, want_ppr);
	if (fault_tpr_moved && c == 11)
		tpr_set(tpr + 0x10);
	GUEST_SYNC(SYNC_TPR, c, tpr_rd, ppr, HELD_VEC(c));
	if (fault_tpr_moved && c == 11)
		tpr_set(tpr);

	/* The next instruction after the TPR write reads the count. */
	if (fault_tpr_drop_if0 && c == 5)
		cli();
	tpr_set(low);
	got = handled[HELD_VEC(c)];
	/* past STI's shadow: a late vector is taken by now */
	__asm__ __volatile__("sti; nop" ::: "memory");
	if (!got) {
		(void)apic_read(APIC_PPR);	/* an exit: a late KVM injects here */
		GUEST_ASSERT(handled[HELD_VEC(c)] == 1,
			     "class %u: vector 0x%x not taken on the instruction after TPR dropped to 0x%x, nor at the next exit",
			     c, HELD_VEC(c), low);
	}
	GUEST_ASSERT(handled[HELD_VEC(c)] == 1,
		     "class %u: vector 0x%x taken %u times after TPR dropped to 0x%x",
		     c, HELD_VEC(c), handled[HELD_VEC(c)], low);
	GUEST_ASSERT(handled[SAME_VEC(c)] == 1,
		     "class %u: vector 0x%x taken %u times after its class's EOI",
		     c, SAME_VEC(c), handled[SAME_VEC(c)]);
	if (fault_stray_pending && c == 14)
		apic_self_ipi(((c - 1) << 4) | 0x9);
	cli();
	assert_apic_clean(c);
	return !got;
}

static void guest_classes(u64 via)
{
	u32 c, late = 0, first = 0;

	via_mode = via;
	if (via == VIA_XAPIC)
		xapic_enable();
	else
		x2apic_enable();
	for (c = 1; c <= 15; c++) {
		if (tpr_round(c) && !late++)
			first = c;
	}
	GUEST_ASSERT(!late,
		     "%u of 15 held vectors not taken on the instruction after TPR dropped (first: class %u)",
		     late, first);
}

/* Compares KVM_GET_LAPIC with what the guest just read; counts mismatches. */
static int check_sync(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	struct kvm_lapic_state st;
	u32 c = uc->args[1], tpr, ppr;
	int bad = 0;

	vcpu_lapic_get(vcpu, &st);
	tpr = lapic_state_reg(&st, APIC_TPR);
	ppr = lapic_state_reg(&st, APIC_PPR);
	if (uc->args[0] == SYNC_TPR) {
		if (tpr != uc->args[2]) {
			test_log("class %u: KVM_GET_LAPIC TPR 0x%x, the guest read 0x%llx",
				 c, tpr, uc->args[2]);
			bad++;
		}
		if (ppr != uc->args[3]) {
			test_log("class %u: KVM_GET_LAPIC PPR 0x%x, the guest read 0x%llx",
				 c, ppr, uc->args[3]);
			bad++;
		}
		if (!lapic_state_vec_test(&st, APIC_IRR, uc->args[4])) {
			test_log("class %u: KVM_GET_LAPIC IRR lacks held vector 0x%llx",
				 c, uc->args[4]);
			bad++;
		}
		return bad;
	}
	if (ppr != uc->args[2]) {
		test_log("class %u: KVM_GET_LAPIC PPR 0x%x in the handler, the guest read 0x%llx",
			 c, ppr, uc->args[2]);
		bad++;
	}
	if (!lapic_state_vec_test(&st, APIC_IRR, uc->args[3])) {
		test_log("class %u: KVM_GET_LAPIC IRR lacks same-class vector 0x%llx",
			 c, uc->args[3]);
		bad++;
	}
	return bad;
}

FIXTURE(tpr) {};
FIXTURE_VARIANT(tpr) { enum tpr_via via; };
FIXTURE_VARIANT_ADD(tpr, xapic) { .via = VIA_XAPIC };
FIXTURE_VARIANT_ADD(tpr, x2apic) { .via = VIA_X2APIC };
FIXTURE_VARIANT_ADD(tpr, cr8) { .via = VIA_CR8 };
FIXTURE_SETUP(tpr) {}
FIXTURE_TEARDOWN(tpr) {}

TEST_F(tpr, classes)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_classes);
	int bad = 0, syncs = 0;
	struct ucall uc;
	u32 c;

	memset((void *)handled, 0, sizeof(handled));
	for (c = 1; c <= 15; c++) {
		vm_install_handler(vm, HELD_VEC(c), guest_held);
		vm_install_handler(vm, SAME_VEC(c), guest_count);
		if (c < 15) {
			vm_install_handler(vm, NEXT_VEC(c), guest_count);
			vm_install_handler(vm, NEST_VEC(c), guest_count);
		}
	}
	vcpu_args_set(vcpu, variant->via);
	for (;;) {
		u64 type = vcpu_run_ucall(vcpu, &uc);

		if (type == UCALL_DONE)
			break;
		TEST_ASSERT(type == UCALL_SYNC, "ucall %llu", type);
		bad += check_sync(vcpu, &uc);
		syncs++;
	}
	test_log("%d syncs, %d KVM_GET_LAPIC mismatches", syncs, bad);
	EXPECT_EQ(0, bad);
	vm_free(vm);
}

APICV_TEST_MAIN
