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
#include "x86/apicv_host.h"
#include "x86/apicv_observer.h"
#include "x86/apicv_pull.h"
#include "x86/irqchip.h"

FAULT(expect_irqwin_on_intel, "inhibit.irqwin",
      "ExtINT pending at IF=0, IRQWIN",
      "expect the other vendor's IRQWIN behaviour (set on VMX, never on SVM)");
FAULT(expect_pit_reinj_sticky, "inhibit.pit_reinj",
      "reinject off: PIT_REINJ clear",
      "expect PIT_REINJ to stay set after reinject is turned off");
FAULT(skip_window, "inhibit.irqwin", "at phase 2 with 0 delivered",
      "the guest never opens the window: the ExtINT must not be taken");
FAULT(irqwin_wrong_laziness, "inhibit.irqwin_under_pit_reinj",
      "with PIT_REINJ set and an ExtINT waiting at IF=0, IRQWIN",
      "expect the other kernel generation's IRQWIN under PIT_REINJ (lazy before 7.1, eager from it)");
FAULT(withhold_last_extint, "inhibit.irqwin_under_pit_reinj",
      "PIT_REINJ cleared while a window was pending: inhibits",
      "the host raises no ExtINT in the last round: no window is pending when PIT_REINJ goes");
FAULT(blind_observer, "inhibit.pit_reinj", "observer is blind to this VM",
      "the observer records another process: the proof must fail first");

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

static bool withhold_next;

static bool raise_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != RAISE_PORT)
		return false;
	if (!withhold_next)
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

static void guest_idle(void)
{
	GUEST_DONE();
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

	apicv_observer_prove(o, vcpu);
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
	struct apicv_pull *pit;		/* PIT_REINJ */
};
FIXTURE_SETUP(inhibit)
{
	self->o = apicv_observer_start();
	if (fault_blind_observer)
		apicv_observer_blind(self->o);
	test_log("apicv: %s", apicv_host()->why);
	withhold_next = false;
	self->vm = vm_create(IRQCHIP_KERNEL);
	self->pit = NULL;
}
FIXTURE_TEARDOWN(inhibit)
{
	if (self->pit)
		apicv_pull_free(self->pit);
	vm_free(self->vm);
	apicv_observer_stop(self->o);
}

TEST_F(inhibit, pit_reinj)
{
	bool honoured = apicv_reason_honoured(APICV_REASON_PIT_REINJ);
	bool sticky_fault = fault_expect_pit_reinj_sticky;
	struct apicv_observer *o = self->o;
	u64 mark;
	bool set;

	/* A vCPU that never runs, for the proof that precedes "never set". */
	apicv_observer_prove(o, vm_add_vcpu(self->vm, 0, guest_idle));
	/* Creating the PIT (reinject on) sets it; the pull starts it off. */
	mark = apicv_observer_mark(o);
	self->pit = apicv_pull_new(self->vm, APICV_REASON_PIT_REINJ);
	apicv_observer_settle(o, 20, 1000);
	set = apicv_observer_seen(o, mark, APICV_REASON_PIT_REINJ);
	ASSERT_EQ(honoured, set) {
		TH_LOG("KVM_CREATE_PIT2 (reinject on): PIT_REINJ %s",
		       set ? "set" : "not set");
	}
	set = !apicv_observer_wait(o, APICV_REASON_PIT_REINJ, false, 1000);
	ASSERT_EQ(honoured && sticky_fault, set) {
		TH_LOG("reinject off: PIT_REINJ %s", set ? "still set" : "clear");
	}
	apicv_pull(self->pit, true);
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

/* The mask after the trace went quiet, as names for messages. */
static u64 quiet_mask(struct apicv_observer *o, char *buf, size_t len)
{
	u64 m = apicv_observer_settle(o, 20, 1000);

	apicv_mask_str(m, buf, len);
	return m;
}

/*
 * IRQWIN while PIT_REINJ already inhibits the VM, as the reason table says
 * for this kernel: through 7.0 each window request sets IRQWIN and its
 * exit clears it, whatever else is set; from 7.1 (apicv_reason_lazy) KVM
 * only counts the waiting vCPU then and the bit never moves. Either way
 * the count must be right when PIT_REINJ goes: a window still pending
 * keeps the VM inhibited by IRQWIN alone, and serving it clears IRQWIN.
 */
TEST_F(inhibit, irqwin_under_pit_reinj)
{
	u64 irqwin = apicv_reason_mask(APICV_REASON_IRQWIN);
	u64 pit = apicv_reason_mask(APICV_REASON_PIT_REINJ);
	u64 rounds = profile_pick(3, 20), i, mark, m;
	struct apicv_observer *o = self->o;
	bool eager, set;
	struct kvm_vcpu *vcpu;
	char buf[160];

	TEST_REQUIRE(apicv_reason_honoured(APICV_REASON_PIT_REINJ),
		     "PIT_REINJ is not honoured by %s",
		     apicv_host()->amd ? "kvm_amd" : "kvm_intel");
	ASSERT_TRUE(apicv_reason_honoured(APICV_REASON_IRQWIN));
	eager = !apicv_reason_lazy(APICV_REASON_IRQWIN);
	if (fault_irqwin_wrong_laziness)
		eager = !eager;
	vcpu = vm_add_vcpu(self->vm, 0, guest_irqwin);
	apicv_observer_prove(o, vcpu);
	self->pit = apicv_pull_new(self->vm, APICV_REASON_PIT_REINJ);
	apicv_pull(self->pit, true);
	ASSERT_TRUE(apicv_observer_wait(o, APICV_REASON_PIT_REINJ, true, 1000));
	/* The PIT is not programmed: it stays silent on IRQ0. */
	delivered = in_cli = 0;
	vm_install_handler(self->vm, EXT_VEC, extint_handler);
	vcpu->on_exit = raise_exit;
	vcpu_args_set(vcpu, rounds + 1);
	for (i = 0; i < rounds; i++) {
		mark = apicv_observer_mark(o);
		run_sync(vcpu, 1, i);
		if (eager) {
			set = apicv_observer_wait(o, APICV_REASON_IRQWIN, true,
						  500);
		} else {
			apicv_observer_settle(o, 20, 1000);
			set = apicv_observer_seen(o, mark, APICV_REASON_IRQWIN);
		}
		if (set != eager) {
			apicv_observer_dump(o, mark,
					    "ExtINT pending under PIT_REINJ");
			TEST_FAIL("round %llu: with PIT_REINJ set and an "
				  "ExtINT waiting at IF=0, IRQWIN %s, "
				  "expected %s on %u.%u (the table: %s)", i,
				  set ? "set" : "never set",
				  eager ? "set" : "never set",
				  apicv_host()->kver >> 8,
				  apicv_host()->kver & 0xff,
				  apicv_reason_lazy(APICV_REASON_IRQWIN) ?
				  "lazy from 7.1" : "eager before 7.1");
		}
		run_sync(vcpu, 2, i + 1);
		if (eager)
			apicv_observer_wait(o, APICV_REASON_IRQWIN, false, 500);
		m = quiet_mask(o, buf, sizeof(buf));
		if ((m & (pit | irqwin)) != pit) {
			apicv_observer_dump(o, mark, "window served");
			TEST_FAIL("round %llu: inhibits %s after the window "
				  "opened, expected PIT_REINJ without IRQWIN",
				  i, buf);
		}
	}

	/* The last ExtINT waits while PIT_REINJ goes. */
	withhold_next = fault_withhold_last_extint;
	mark = apicv_observer_mark(o);
	run_sync(vcpu, 1, rounds);
	apicv_pull(self->pit, false);
	m = quiet_mask(o, buf, sizeof(buf));
	if (m != irqwin) {
		apicv_observer_dump(o, mark, "PIT_REINJ off, window pending");
		TEST_FAIL("PIT_REINJ cleared while a window was pending: "
			  "inhibits %s, expected IRQWIN alone", buf);
	}
	run_sync(vcpu, 2, rounds + 1);
	apicv_observer_wait(o, APICV_REASON_IRQWIN, false, 500);
	m = quiet_mask(o, buf, sizeof(buf));
	if (m) {
		apicv_observer_dump(o, mark, "last window served");
		TEST_FAIL("inhibits %s after the last window opened with "
			  "PIT_REINJ off, expected none", buf);
	}
	test_log("%llu rounds: IRQWIN %s under PIT_REINJ, as the table says "
		 "for %u.%u; a pending window kept the VM inhibited when "
		 "PIT_REINJ went", rounds,
		 eager ? "set and cleared" : "never set (lazy)",
		 apicv_host()->kver >> 8, apicv_host()->kver & 0xff);
}

APICV_TEST_MAIN
