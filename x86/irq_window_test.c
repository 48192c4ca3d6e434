// SPDX-License-Identifier: GPL-2.0
/*
 * The inhibits legacy interrupts cause (SVM with AVIC): an in-kernel PIT in
 * reinject mode sets PIT_REINJ until reinject is turned off; an ExtINT
 * pending while the guest has IF=0 needs an interrupt window, which sets
 * IRQWIN until the window opens. VMX never records IRQWIN. The guest never
 * touches its local APIC: the BSP's LVT0 is ExtINT from reset, and with a
 * forced AVIC and no AVIC hardware the APIC page would not trap.
 */
#include "harness_main.h"
#include "stats.h"
#include "vm.h"
#include "x86/apicv.h"
#include "x86/irqchip.h"

FAULT(expect_irqwin_on_intel, "inhibit.irqwin", "",
      "expect the other vendor's IRQWIN behaviour (set on VMX, never on SVM)");
FAULT(expect_pit_reinj_sticky, "inhibit.pit_reinj", "",
      "expect PIT_REINJ to stay set after reinject is turned off");
FAULT(skip_window, "inhibit.irqwin", "",
      "the guest never opens the window: the ExtINT must not be taken");

#define PIC_BASE	0x20
#define EXT_IRQ		4
#define EXT_VEC		(PIC_BASE + EXT_IRQ)
#define RAISE_PORT	0xe6

static u64 delivered, in_cli;

static void extint_handler(struct ex_regs *regs)
{
	GUEST_ASSERT((regs->rflags & X86_EFLAGS_IF) && !READ_ONCE(in_cli),
		     "ExtINT taken with IF=0");
	WRITE_ONCE(delivered, delivered + 1);
	pic_eoi(EXT_IRQ);
}

static bool raise_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != RAISE_PORT)
		return false;
	vm_irq_pulse(vcpu->vm, EXT_IRQ);
	return true;
}

static void guest_irqwin(u64 rounds)
{
	u64 i;

	pic_init(PIC_BASE, PIC_BASE + 8, (u8)~BIT(EXT_IRQ), 0xff);
	for (i = 0; i < rounds; i++) {
		cli();
		WRITE_ONCE(in_cli, 1);
		outb(RAISE_PORT, 0);
		guest_udelay(200);
		GUEST_SYNC(1, READ_ONCE(delivered));	/* pending, IF=0 */
		WRITE_ONCE(in_cli, 0);
		if (!fault_skip_window)
			sti_nop_cli();
		GUEST_SYNC(2, READ_ONCE(delivered));	/* window served */
	}
}

static void run_sync(struct kvm_vcpu *vcpu, u64 phase, u64 delivered_want)
{
	struct ucall uc;

	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	TEST_ASSERT(uc.args[0] == phase && uc.args[1] == delivered_want,
		    "guest at phase %llu with %llu delivered, expected %llu/%llu",
		    uc.args[0], uc.args[1], phase, delivered_want);
}

/*
 * IRQWIN across @rounds ExtINTs held back by IF=0. Returns how many rounds
 * showed IRQWIN set while the ExtINT waited.
 */
static u64 irqwin_rounds(struct apicv_observer *o, struct kvm_vm *vm,
			 u64 rounds, bool expect_set)
{
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_irqwin);
	u64 i, mark, seen = 0;
	char buf[128];
	bool set;

	delivered = in_cli = 0;
	vm_install_handler(vm, EXT_VEC, extint_handler);
	vcpu->on_exit = raise_exit;
	vcpu_args_set(vcpu, rounds);
	for (i = 0; i < rounds; i++) {
		mark = apicv_observer_mark(o);
		run_sync(vcpu, 1, i);
		set = apicv_observer_wait(o, APICV_REASON_IRQWIN, true, 500);
		seen += set;
		if (set != expect_set) {
			apicv_observer_dump(o, mark, "ExtINT pending, IF=0");
			TEST_FAIL("round %llu: ExtINT pending at IF=0, IRQWIN %s, "
				  "expected %s on %s (mask %s)", i,
				  set ? "set" : "clear",
				  expect_set ? "set" : "never set",
				  apicv_host()->amd ? "SVM" : "VMX",
				  apicv_mask_str(apicv_observer_mask(o), buf,
						 sizeof(buf)));
		}
		run_sync(vcpu, 2, i + 1);
		if (expect_set &&
		    !apicv_observer_wait(o, APICV_REASON_IRQWIN, false, 500)) {
			apicv_observer_dump(o, mark, "window opened");
			TEST_FAIL("round %llu: IRQWIN still set after the window "
				  "opened and the ExtINT was taken", i);
		}
	}
	return seen;
}

FIXTURE(inhibit) {
	struct apicv_observer *o;
	struct kvm_vm *vm;
};
FIXTURE_SETUP(inhibit)
{
	self->o = apicv_observer_start();
	test_log("apicv: %s", apicv_host()->why);
	self->vm = vm_create(IRQCHIP_KERNEL);
}
FIXTURE_TEARDOWN(inhibit)
{
	vm_free(self->vm);
	apicv_observer_stop(self->o);
}

TEST_F(inhibit, pit_reinj)
{
	bool honoured = apicv_reason_honoured(APICV_REASON_PIT_REINJ);
	bool sticky_fault = fault_expect_pit_reinj_sticky;
	struct apicv_observer *o = self->o;
	bool set;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_PIT2), "KVM_CAP_PIT2 not supported");
	vm_create_pit(self->vm, KVM_PIT_SPEAKER_DUMMY);
	set = apicv_observer_wait(o, APICV_REASON_PIT_REINJ, true, 1000);
	ASSERT_EQ(honoured, set) {
		TH_LOG("KVM_CREATE_PIT2 (reinject on): PIT_REINJ %s",
		       set ? "set" : "not set");
	}
	vm_pit_reinject(self->vm, false);
	set = !apicv_observer_wait(o, APICV_REASON_PIT_REINJ, false, 1000);
	ASSERT_EQ(honoured && sticky_fault, set) {
		TH_LOG("reinject off: PIT_REINJ %s", set ? "still set" : "clear");
	}
	vm_pit_reinject(self->vm, true);
	set = apicv_observer_wait(o, APICV_REASON_PIT_REINJ, true, 1000);
	ASSERT_EQ(honoured, set);
	test_log("PIT_REINJ %s: on create, off, on again",
		 honoured ? "set, cleared, set" : "never set (not honoured)");
}

TEST_F(inhibit, irqwin)
{
	bool expect = apicv_reason_honoured(APICV_REASON_IRQWIN);
	u64 rounds = profile_pick(5, 50), seen;

	if (fault_expect_irqwin_on_intel)
		expect = !expect;
	seen = irqwin_rounds(self->o, self->vm, rounds, expect);
	test_log("IRQWIN set in %llu of %llu rounds with an ExtINT held back "
		 "by IF=0, cleared each time the window opened", seen, rounds);
}

/* With PIT_REINJ already inhibiting the VM: does IRQWIN still flip? */
TEST_F(inhibit, irqwin_under_pit_reinj)
{
	u64 rounds = profile_pick(3, 20), seen;
	struct kvm_vcpu *vcpu;
	struct ucall uc;
	u64 i;

	TEST_REQUIRE(apicv_reason_honoured(APICV_REASON_PIT_REINJ),
		     "PIT_REINJ is not honoured by %s",
		     apicv_host()->amd ? "kvm_amd" : "kvm_intel");
	vm_create_pit(self->vm, KVM_PIT_SPEAKER_DUMMY);
	ASSERT_TRUE(apicv_observer_wait(self->o, APICV_REASON_PIT_REINJ, true,
					1000));
	/* The PIT is not programmed: it stays silent on IRQ0. */
	vcpu = vm_add_vcpu(self->vm, 0, guest_irqwin);
	delivered = in_cli = 0;
	vm_install_handler(self->vm, EXT_VEC, extint_handler);
	vcpu->on_exit = raise_exit;
	vcpu_args_set(vcpu, rounds);
	seen = 0;
	for (i = 0; i < rounds; i++) {
		vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
		ASSERT_EQ(i, uc.args[1]);
		seen += apicv_observer_wait(self->o, APICV_REASON_IRQWIN, true,
					    300);
		vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
		ASSERT_EQ(i + 1, uc.args[1]);
		ASSERT_TRUE(apicv_observer_wait(self->o, APICV_REASON_PIT_REINJ,
						true, 10));
	}
	test_log("with PIT_REINJ set, IRQWIN was %s in %llu of %llu rounds "
		 "(this kernel: %s)", seen ? "still set" : "not set", seen,
		 rounds, seen == rounds ? "IRQWIN flips regardless" :
		 seen ? "mixed" : "IRQWIN skipped while inhibited");
}

APICV_TEST_MAIN
