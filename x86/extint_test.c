// SPDX-License-Identifier: GPL-2.0
/*
 * ExtINT delivery and interrupt windows through the three ways a legacy
 * interrupt reaches a vCPU: the in-kernel 8259 (KVM_IRQ_LINE), a userspace
 * 8259 feeding KVM_INTERRUPT with a split irqchip, and KVM_INTERRUPT with no
 * in-kernel irqchip at all. The guest alternates cli/sti/hlt, interrupt
 * shadows, long IF=0 stretches and nested handlers; every edge raised must be
 * delivered exactly once, in order, never into an IF=0 context, and a
 * pending one right where sti's shadow ends. Window exits to userspace must
 * come only when the guest can take an interrupt, and agree with the stats.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "emulator.h"
#include "harness_main.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/exit_trail.h"
#include "x86/irqchip.h"

FAULT(drop_one_extint, "extint.kernel.delivery", "never delivered",
      "the host skips raising one ExtINT");
FAULT(double_extint, "extint.split.delivery", "delivered, host raised up to",
      "the host raises one ExtINT twice");
FAULT(expect_irq_in_cli, "extint.none.delivery", "interrupted IF=1 code",
      "the guest expects ExtINTs to land while IF=0 (check inverted)");
FAULT(shadow_off_by_one, "extint.kernel.sti_shadow", "shadow ends at",
      "expect delivery one instruction early, inside sti's shadow");
FAULT(window_count_off, "extint.split.delivery",
      "IRQ_WINDOW_OPEN exits, stat says",
      "expect one more userspace window exit than request_irq_exits says");
FAULT(expect_no_busy_error, "extint.split.interrupt_ioctl_errors",
      "second KVM_INTERRUPT: File exists",
      "expect a second KVM_INTERRUPT to work while one ExtINT waits in KVM");
FAULT(expect_pic_interrupt_ok, "extint.kernel.interrupt_ioctl_errors",
      "first KVM_INTERRUPT: No such device or address",
      "expect KVM_INTERRUPT to work with the in-kernel PIC");
FAULT(expect_first_vector, "extint.none.interrupt_ioctl_errors",
      "last vector 0x24, want 0x25",
      "without an irqchip, expect the first of two KVM_INTERRUPTs to win");

#define PIC_BASE	0x20
#define EXT_IRQ		4
#define EXT_VEC		(PIC_BASE + EXT_IRQ)
#define OTHER_VEC	0x25
#define RAISE_PORT	0xe6

/* Shared between guest and host. */
static u64 delivered;		/* ExtINTs taken by the handler */
static u64 raised_seq;		/* number of the edge last raised */
static u64 in_cli;		/* 1 only while the guest runs with IF=0 */
static u64 depth, nested, last_rip, last_vec, other_seen;
static u64 stop_at;		/* the guest stops at this many deliveries */
static u64 guest_ready;		/* the guest has programmed its PIC */
/* Deliveries off the end of the shadow: the emulator's quirk, or KVM's. */
static u64 shadow_misses, miss_rip, miss_end, miss_mov_ss;

static void guest_setup(u64 mode)
{
	if (mode != IRQCHIP_NONE) {
		xapic_enable();
		lvt0_set_extint(false);
	}
	pic_init(PIC_BASE, PIC_BASE + 8, (u8)~BIT(EXT_IRQ), 0xff);
}

static void extint_handler(struct ex_regs *regs)
{
	bool was_if = regs->rflags & X86_EFLAGS_IF;
	u64 n = READ_ONCE(delivered) + 1;

	if (fault_expect_irq_in_cli)
		GUEST_ASSERT(!was_if, "ExtINT %llu interrupted IF=1 code", n);
	GUEST_ASSERT(was_if && !READ_ONCE(in_cli),
		     "ExtINT %llu taken with IF=%d cli-section=%llu rip 0x%llx",
		     n, was_if, READ_ONCE(in_cli), regs->rip);
	GUEST_ASSERT(n == READ_ONCE(raised_seq),
		     "ExtINT number %llu delivered, host raised up to %llu",
		     n, READ_ONCE(raised_seq));
	WRITE_ONCE(last_rip, regs->rip);
	WRITE_ONCE(last_vec, regs->vector);
	if (++depth > 1)
		nested++;
	WRITE_ONCE(delivered, n);
	pic_eoi(EXT_IRQ);
	/* Every 4th: open a window inside the handler for a nested one. */
	if ((n & 3) == 0) {
		sti();
		guest_udelay(300);
		cli();
	}
	depth--;
}

static void other_handler(struct ex_regs *regs)
{
	WRITE_ONCE(other_seen, other_seen + 1);
	pic_eoi(EXT_IRQ);
}

static inline void cli_section_begin(void)
{
	cli();
	WRITE_ONCE(in_cli, 1);
}

static inline void cli_section_end(void)
{
	WRITE_ONCE(in_cli, 0);
	sti();
}

static void guest_delivery(u64 mode, u64 seed)
{
	struct prng p;

	guest_setup(mode);
	prng_init(&p, seed);
	WRITE_ONCE(guest_ready, 1);
	sti();
	while (READ_ONCE(delivered) < READ_ONCE(stop_at)) {
		switch (prng_below(&p, 7)) {
		case 0:		/* long IF=0 stretch */
			cli_section_begin();
			guest_udelay(500 + prng_below(&p, 2000));
			cli_section_end();
			break;
		case 1:		/* short IF=0 stretch */
			cli_section_begin();
			guest_udelay(prng_below(&p, 50));
			cli_section_end();
			break;
		case 2:		/* wait for the next one in HLT */
			cli_section_begin();
			if (READ_ONCE(delivered) < READ_ONCE(stop_at)) {
				WRITE_ONCE(in_cli, 0);
				sti_hlt();
			} else {
				cli_section_end();
			}
			break;
		case 3:		/* one boundary open */
			cli_section_begin();
			guest_udelay(prng_below(&p, 200));
			WRITE_ONCE(in_cli, 0);
			sti_nop_cli();
			WRITE_ONCE(in_cli, 1);
			cli_section_end();
			break;
		case 4:
			cli_section_begin();
			guest_udelay(prng_below(&p, 200));
			WRITE_ONCE(in_cli, 0);
			sti_mov_ss();
			break;
		default:	/* IF=1 */
			guest_udelay(prng_below(&p, 300));
			break;
		}
	}
	cli();
	GUEST_SYNC(READ_ONCE(delivered), nested);
}

struct raiser {
	struct extint_vcpu *x;
	u64 total;
	bool failed;
	u64 failed_at;		/* edge number that was never delivered */
	u64 t_start, t_end;
};

static bool wait_delivered(u64 want, u64 ms)
{
	u64 deadline = now_ns() + ms * 1000000ull;

	while (__atomic_load_n(&delivered, __ATOMIC_SEQ_CST) < want)
		if (now_ns() > deadline)
			return false;
	return true;
}

/* Edge @k delivered within 5 s; else the run stops, failed there. */
static bool raiser_wait(struct raiser *r, u64 k)
{
	if (wait_delivered(k, 5000))
		return true;
	r->failed = true;
	r->failed_at = k;
	extint_stop(r->x);
	return false;
}

static void *raiser_main(void *arg)
{
	struct raiser *r = arg;
	struct prng p;
	u64 k;

	harness_prng(&p);
	while (!__atomic_load_n(&guest_ready, __ATOMIC_SEQ_CST))
		sleep_us(50);
	r->t_start = now_ns();
	for (k = 1; k <= r->total; k++) {
		if (!raiser_wait(r, k - 1))
			return NULL;
		sleep_us(prng_below(&p, 300));
		__atomic_store_n(&raised_seq, k, __ATOMIC_SEQ_CST);
		if (!(fault_drop_one_extint && k == r->total / 2))
			extint_request_edge(r->x);
		if (fault_double_extint && k == r->total / 2) {
			wait_delivered(k, 5000);
			extint_request_edge(r->x);
			wait_delivered(k + 1, 5000);
		}
	}
	raiser_wait(r, r->total);
	r->t_end = now_ns();
	return NULL;
}

static void check_window(struct extint_vcpu *x)
{
	TEST_ASSERT(!READ_ONCE(in_cli),
		    "%s: window exit while the guest is in a cli section",
		    vcpu_name(x->vcpu));
}

FIXTURE(extint) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct extint_vcpu x;
};
FIXTURE_VARIANT(extint) { enum irqchip_mode mode; };
FIXTURE_VARIANT_ADD(extint, kernel) { .mode = IRQCHIP_KERNEL };
FIXTURE_VARIANT_ADD(extint, split) { .mode = IRQCHIP_SPLIT };
FIXTURE_VARIANT_ADD(extint, none) { .mode = IRQCHIP_NONE };

FIXTURE_SETUP(extint)
{
	if (variant->mode == IRQCHIP_SPLIT)
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_SPLIT_IRQCHIP),
			     "KVM_CAP_SPLIT_IRQCHIP not supported");
	delivered = raised_seq = in_cli = depth = nested = guest_ready = 0;
	last_rip = last_vec = other_seen = stop_at = shadow_misses = 0;
	self->vm = vm_create(variant->mode);
	vm_install_handler(self->vm, EXT_VEC, extint_handler);
	vm_install_handler(self->vm, OTHER_VEC, other_handler);
}

FIXTURE_TEARDOWN(extint)
{
	vm_free(self->vm);
}

TEST_F(extint, delivery)
{
	u64 total = profile_pick(500, 20000);
	u64 win0, req0, irqwin, reqirq, expect_req;
	struct raiser r = { .total = total };
	struct ucall uc;
	pthread_t th;

	stop_at = total;
	self->vcpu = vm_add_vcpu(self->vm, 0, guest_delivery);
	extint_vcpu_init(&self->x, self->vcpu, EXT_IRQ);
	self->x.on_window = check_window;
	vcpu_args_set(self->vcpu, variant->mode, seed_get());
	win0 = vcpu_stat(self->vcpu, "irq_window_exits");
	req0 = vcpu_stat(self->vcpu, "request_irq_exits");
	r.x = &self->x;
	ASSERT_EQ(0, pthread_create(&th, NULL, raiser_main, &r));
	uc.type = extint_run(&self->x, &uc);
	pthread_join(th, NULL);
	if (r.failed || uc.type != UCALL_SYNC) {
		vcpu_dump(self->vcpu, "delivery stalled");
		ASSERT_FALSE(r.failed) {
			TH_LOG("ExtINT %llu (of %llu) never delivered (%s): "
			       "guest saw %llu", r.failed_at, total,
			       extint_path_name(variant->mode),
			       READ_ONCE(delivered));
		}
	}
	ASSERT_EQ(total, uc.args[0]);
	irqwin = vcpu_stat(self->vcpu, "irq_window_exits") - win0;
	reqirq = vcpu_stat(self->vcpu, "request_irq_exits") - req0;
	expect_req = self->x.window_exits + (fault_window_count_off ? 1 : 0);
	EXPECT_EQ(expect_req, reqirq) {
		TH_LOG("userspace saw %llu IRQ_WINDOW_OPEN exits, stat says %llu",
		       self->x.window_exits, reqirq);
	}
	if (variant->mode == IRQCHIP_KERNEL) {
		EXPECT_EQ(0, self->x.window_exits);
	} else {
		EXPECT_EQ(total, self->x.injections);
	}
	/* Every userspace window exit came out of a hardware window exit
	 * or an entry with IF=1 already; never more than were requested. */
	EXPECT_LE(self->x.window_exits, self->x.window_requests);
	test_log("%s: %llu ExtINTs in %.2f s (%.0f/s), %llu nested, "
		 "irq_window_exits %llu, request_irq_exits %llu, "
		 "KVM_INTERRUPT %llu, window requests %llu, HLT exits %llu",
		 extint_path_name(variant->mode), total,
		 (r.t_end - r.t_start) / 1e9,
		 total / ((r.t_end - r.t_start) / 1e9), uc.args[1], irqwin,
		 reqirq, self->x.injections, self->x.window_requests,
		 self->x.hlt_exits);
}

/* Host side of the RAISE_PORT exit. */
static int raise_action, ioctl_r1, ioctl_r2, ioctl_inval;

static bool raise_exit(struct extint_vcpu *x)
{
	struct kvm_run *run = x->vcpu->run;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != RAISE_PORT)
		return false;
	if (READ_ONCE(shadow_misses))	/* the exits up to the first */
		exit_trail_freeze();
	if (raise_action == 0) {
		if (x->vcpu->vm->irqchip == IRQCHIP_KERNEL)
			vm_irq_pulse(x->vcpu->vm, EXT_IRQ);
		else
			upic_raise(&x->pic, EXT_IRQ);
		return true;
	}
	/* KVM_INTERRUPT error paths. */
	ioctl_inval = __vcpu_interrupt(x->vcpu, 256);
	if (x->vcpu->vm->irqchip == IRQCHIP_KERNEL) {
		ioctl_r1 = __vcpu_interrupt(x->vcpu, EXT_VEC);
		vm_irq_pulse(x->vcpu->vm, EXT_IRQ);
	} else if (x->vcpu->vm->irqchip == IRQCHIP_SPLIT) {
		ioctl_r1 = __vcpu_interrupt(x->vcpu, EXT_VEC);
		ioctl_r2 = __vcpu_interrupt(x->vcpu, OTHER_VEC);
	} else {
		/* No irqchip: the vector is queued as injected; a second
		 * call replaces it. The guest has IF=1 here. */
		ioctl_r1 = __vcpu_interrupt(x->vcpu, OTHER_VEC);
		ioctl_r2 = __vcpu_interrupt(x->vcpu, EXT_VEC);
	}
	return true;
}

static void shadow_window(struct extint_vcpu *x)
{
	check_window(x);
	exit_trail_note(x->vcpu);
}

static void guest_shadow(u64 mode, u64 rounds)
{
	u64 i, e1, e2, at_e1 = 0, at_e2 = 0;

	guest_setup(mode);
	for (i = 0; i < 2 * rounds; i++) {
		cli_section_begin();
		WRITE_ONCE(raised_seq, i + 1);
		outb(RAISE_PORT, 0);
		guest_udelay(1000);
		GUEST_ASSERT_EQ(READ_ONCE(delivered), i);
		WRITE_ONCE(in_cli, 0);
		if (i < rounds)
			e1 = e2 = sti_nop_nop_cli();
		else
			sti_mov_ss_nop_nop_cli(&e1, &e2);
		WRITE_ONCE(in_cli, 1);
		GUEST_ASSERT_EQ(READ_ONCE(delivered), i + 1);
		if (fault_shadow_off_by_one)
			e1 = e2 = e1 - 1;
		if (last_rip != e1 && last_rip != e2 && !shadow_misses++) {
			miss_rip = last_rip;
			miss_end = e1;
			miss_mov_ss = i >= rounds;
		}
		if (i >= rounds) {
			at_e1 += last_rip == e1;
			at_e2 += last_rip == e2 && e2 != e1;
		}
		cli_section_end();
	}
	GUEST_SYNC(at_e1, at_e2);
}

TEST_F(extint, sti_shadow)
{
	u64 rounds = profile_pick(8, 64), win0, req0, irqwin, reqirq;
	struct ucall uc;

	raise_action = 0;
	self->vcpu = vm_add_vcpu(self->vm, 0, guest_shadow);
	extint_vcpu_init(&self->x, self->vcpu, EXT_IRQ);
	self->x.on_window = shadow_window;
	exit_trail_start();
	self->x.on_exit = raise_exit;
	vcpu_args_set(self->vcpu, variant->mode, rounds);
	win0 = vcpu_stat(self->vcpu, "irq_window_exits");
	req0 = vcpu_stat(self->vcpu, "request_irq_exits");
	extint_run_expect(&self->x, UCALL_SYNC, &uc);
	irqwin = vcpu_stat(self->vcpu, "irq_window_exits") - win0;
	reqirq = vcpu_stat(self->vcpu, "request_irq_exits") - req0;
	/* Each ExtINT pending at sti needs exactly one window. */
	EXPECT_GE(irqwin, 2 * rounds);
	if (variant->mode == IRQCHIP_KERNEL) {
		EXPECT_EQ(0, reqirq);
	} else {
		EXPECT_EQ(2 * rounds, self->x.window_exits);
		EXPECT_EQ(2 * rounds, reqirq);
	}
	test_log("%s: sti;mov ss delivered after mov ss %llu, one later %llu; "
		 "irq_window_exits %llu request_irq_exits %llu",
		 extint_path_name(variant->mode), uc.args[0], uc.args[1],
		 irqwin, reqirq);
	/*
	 * Here the CPU ends the shadow before the window exit, so a KVM
	 * that ignores the shadow in its own decisions passes too:
	 * interrupt_shadow_test makes KVM decide inside one.
	 */
	if (shadow_misses)
		exit_trail_print();
	emu_quirk_count_why(EMU_QUIRK_STI_SHADOW, shadow_misses, 2 * rounds,
			    "first %s: delivered at 0x%llx, shadow ends at 0x%llx",
			    miss_mov_ss ? "sti; mov ss" : "sti; nop", miss_rip,
			    miss_end);
}

static void guest_ioctl_errors(u64 mode)
{
	guest_setup(mode);
	WRITE_ONCE(raised_seq, 1);
	if (mode == IRQCHIP_NONE) {
		/* Queued as injected: it lands at the next entry. */
		sti();
		outb(RAISE_PORT, 1);
		cli();
	} else {
		cli_section_begin();
		outb(RAISE_PORT, 1);
		guest_udelay(500);
		GUEST_ASSERT_EQ(READ_ONCE(delivered), 0);
		WRITE_ONCE(in_cli, 0);
		sti_nop_cli();
	}
	guest_udelay(2000);
	sti();
	guest_udelay(2000);
	cli();
	GUEST_SYNC(READ_ONCE(delivered), READ_ONCE(other_seen));
}

TEST_F(extint, interrupt_ioctl_errors)
{
	struct ucall uc;
	int want1, want2;

	raise_action = 1;
	ioctl_r1 = ioctl_r2 = ioctl_inval = 1;
	self->vcpu = vm_add_vcpu(self->vm, 0, guest_ioctl_errors);
	extint_vcpu_init(&self->x, self->vcpu, EXT_IRQ);
	self->x.on_exit = raise_exit;
	vcpu_args_set(self->vcpu, variant->mode);
	extint_run_expect(&self->x, UCALL_SYNC, &uc);
	EXPECT_EQ(-EINVAL, ioctl_inval);
	/*
	 * In-kernel PIC: no KVM_INTERRUPT at all (the second is not made).
	 * Split: one ExtINT may wait in KVM. None: no bookkeeping, the
	 * second replaces the first. The negative controls expect no error.
	 */
	want1 = variant->mode == IRQCHIP_KERNEL &&
		!fault_expect_pic_interrupt_ok ? -ENXIO : 0;
	want2 = variant->mode == IRQCHIP_KERNEL ? 1 :
		variant->mode == IRQCHIP_SPLIT &&
		!fault_expect_no_busy_error ? -EEXIST : 0;
	EXPECT_EQ(want1, ioctl_r1) {
		TH_LOG("first KVM_INTERRUPT: %s", strerror(-ioctl_r1));
	}
	EXPECT_EQ(want2, ioctl_r2) {
		TH_LOG("second KVM_INTERRUPT: %s", strerror(-ioctl_r2));
	}
	/* Exactly one ExtINT, the right vector, nothing else. */
	EXPECT_EQ(1, uc.args[0]);
	EXPECT_EQ(0, uc.args[1]);
	EXPECT_EQ(fault_expect_first_vector ? OTHER_VEC : EXT_VEC, last_vec) {
		TH_LOG("last vector 0x%llx, want 0x%x", last_vec,
		       fault_expect_first_vector ? OTHER_VEC : EXT_VEC);
	}
}

APICV_TEST_MAIN
