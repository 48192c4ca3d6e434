// SPDX-License-Identifier: GPL-2.0
/*
 * Inhibit churn: APICv/AVIC inhibits flipped as fast as host threads can
 * while vCPUs run. Each flipper thread owns one reason userspace can pull:
 *  - BLOCKIRQ: KVM_SET_GUEST_DEBUG on a spare vCPU (the bit is per VM: any
 *    vCPU with BLOCKIRQ inhibits the whole VM);
 *  - PIT_REINJ: KVM_REINJECT_CONTROL on the in-kernel PIT;
 *  - HYPERV: an AutoEOI SINT on a spare SynIC vCPU, through KVM_SET_MSRS;
 *  - APIC_ID_MODIFIED: KVM_SET_LAPIC moving a spare vCPU's xAPIC ID away
 *    and back (dynamic from 6.3; on 6.1 it stays set once set).
 * Spare vCPUs never run: a vCPU ioctl waits for the vCPU's mutex, which a
 * running vCPU holds, so flips through running vCPUs would be paced by
 * their exits instead of running freely.
 *
 * delivery: worker vCPUs run a workload that needs every interrupt: IPIs
 * in a ring (one in flight per target), self-IPIs with EOI, one-shot LAPIC
 * timer ticks, all waited for in "sti; hlt". Every interrupt counted in
 * the guest must equal what was sent, no vCPU may stall. With a forced
 * AVIC (no hardware behind it) guests only get interrupts while the VM is
 * inhibited, so the VM is held inhibited by an anchor (a spare vCPU with a
 * relocated APIC base: APIC_BASE_MODIFIED, sticky, flipped by no one).
 *
 * activity: no anchor, vCPUs spin without interrupts while the VM goes
 * from uninhibited to inhibited and back: each change of activity kicks
 * every running vCPU (KVM_REQ_APICV_UPDATE) and a stale entry would WARN.
 *
 * Both check, where KVM tracks inhibits, every transition the observer
 * recorded (each mask is the previous one with the event's bit applied)
 * and the final mask against the flippers' last operations. Where APICv/
 * AVIC is off the flips still run (KVM's early returns, the ioctls' own
 * paths); delivery then passes on its delivery checks alone and activity
 * skips, both naming the reason. A kernel WARN fails either (harness).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "harness_main.h"
#include "known_bugs.h"
#include "seed.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/hyperv.h"
#include "x86/irqchip.h"

FAULT(drop_one_delivery, "inhibit_churn.blockirq.delivery", "ring IPIs taken",
      "the counter check expects one ring IPI fewer at vCPU 0 than was sent");
FAULT(count_extra_self_ipi, "inhibit_churn.blockirq.delivery",
      "self-IPIs taken",
      "vCPU 0 counts one self-IPI it never sends");
FAULT(count_extra_timer, "inhibit_churn.blockirq.delivery",
      "timer ticks taken",
      "vCPU 0 counts one timer tick it never arms");
FAULT(withhold_one_ipi, "inhibit_churn.pit.delivery", "made no progress for",
      "vCPU 1 skips one ring IPI: its successor must be reported stuck");
FAULT(contradict_last_op, "inhibit_churn.blockirq.activity", "final inhibits",
      "the first flipper's last operation is the opposite of what it reports");
FAULT(break_chain, "inhibit_churn.all.activity",
      "inconsistent inhibit transition",
      "the transition check starts from a mask with one bit wrong");
FAULT(blind_observer, "inhibit_churn.blockirq.activity",
      "observer is blind to this VM",
      "the observer records another process: the proof must fail before any mask is checked");

#define MAX_WORKERS	4
#define MAX_FLIPPERS	6
#define RING_VEC	0x42
#define SELF_VEC	0x43
#define TIMER_VEC	0x44
#define SINT_VEC	0x50
#define FLIP_SINT	3
#define TIMER_NS	20000		/* one-shot, divide by 1: 1 ns a count */
#define MOVED_APIC_ID	0x80		/* + spare index: aliases no one */
#define ANCHOR_BASE	0xfed00000ull
#define STALL_MS	5000
#define POLL_US		2000

/*
 * A VM with one (never run) vCPU held by the parent for the whole process:
 * KVM's static keys then stay enabled while each subtest's VM comes and
 * goes, instead of being patched in and out of kernel text every time
 * (such patching has oopsed the kernel under an emulator). Best effort:
 * nothing happens without /dev/kvm.
 */
static void __attribute__((constructor)) hold_kvm_keys(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	if (kvm < 0)
		return;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm >= 0 && !ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		ioctl(vm, KVM_CREATE_VCPU, 0);
}

/* ---- guest side -------------------------------------------------------- */

struct worker {
	u64 ring_recv, ring_sent;	/* from the predecessor */
	u64 self_recv, self_sent;
	u64 timer_recv, timer_armed;
	u64 spins;
} __attribute__((aligned(64)));

static struct worker wk[MAX_WORKERS];
static u64 n_workers, started, stop, final_iter, shadow_breaks;

/*
 * An interrupt taken with RIP on the HLT of "sti; hlt" came inside STI's
 * shadow (architecturally impossible; seen under QEMU TCG nested SVM, and
 * known_bugs.h). Returning there would halt with the wake-up consumed:
 * step over the HLT and count it; the host fails the run unless it is the
 * emulator's rare quirk.
 */
static void shadow_check(struct ex_regs *regs)
{
	if (guest_step_over_shadowed_hlt(regs))
		__atomic_add_fetch(&shadow_breaks, 1, __ATOMIC_RELAXED);
}

static void ring_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();

	shadow_check(regs);
	WRITE_ONCE(wk[id].ring_recv, wk[id].ring_recv + 1);
	apic_eoi();
}

static void self_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();

	shadow_check(regs);
	WRITE_ONCE(wk[id].self_recv, wk[id].self_recv + 1);
	apic_eoi();
}

static void timer_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();

	shadow_check(regs);
	WRITE_ONCE(wk[id].timer_recv, wk[id].timer_recv + 1);
	apic_eoi();
}

/* Halts with interrupts on until *@c reaches @want; returns with IF=0. */
static void wait_for(u64 *c, u64 want)
{
	while (READ_ONCE(*c) < want) {
		sti_hlt();
		cli();
	}
}

/*
 * Once the host says stop, the first vCPU to notice picks the last
 * iteration far enough ahead (neighbours are at most one apart) that no
 * vCPU has passed it.
 */
static bool past_last(u64 k)
{
	u64 f = READ_ONCE(final_iter), zero = 0;

	if (f)
		return k > f;
	if (READ_ONCE(stop))
		__atomic_compare_exchange_n(&final_iter, &zero,
					    k + n_workers + 2, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return false;
}

static void guest_worker(void)
{
	u32 id = this_cpu_id(), next = (id + 1) % n_workers;
	struct worker *me = &wk[id];
	u64 k, h;

	xapic_enable();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, TIMER_VEC);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (READ_ONCE(started) < n_workers)
		cpu_relax();
	cli();
	for (k = 1; !past_last(k); k++) {
		while (READ_ONCE(wk[next].ring_recv) < k - 1)
			cpu_relax();
		WRITE_ONCE(wk[next].ring_sent, k);
		if (!(fault_withhold_one_ipi && id == 1 && k == 20))
			apic_icr_write(next, APIC_DM_FIXED | APIC_INT_ASSERT |
					     RING_VEC);

		h = me->self_recv + 1;
		/* The control's phantom: counted, never sent nor awaited. */
		if (fault_count_extra_self_ipi && id == 0 && k == 2)
			WRITE_ONCE(me->self_sent, me->self_sent + 1);
		WRITE_ONCE(me->self_sent, me->self_sent + 1);
		apic_self_ipi(SELF_VEC);
		wait_for(&me->self_recv, h);

		h = me->timer_recv + 1;
		if (fault_count_extra_timer && id == 0 && k == 2)
			WRITE_ONCE(me->timer_armed, me->timer_armed + 1);
		WRITE_ONCE(me->timer_armed, me->timer_armed + 1);
		apic_write(APIC_TMICT, TIMER_NS);
		wait_for(&me->timer_recv, h);

		wait_for(&me->ring_recv, k);
	}
	GUEST_DONE();
}

/* No interrupts at all: only KVM's kicks take the vCPU out of the guest. */
static void guest_spinner(void)
{
	struct worker *me = &wk[this_cpu_id()];

	while (!READ_ONCE(stop))
		WRITE_ONCE(me->spins, me->spins + 1);
	GUEST_DONE();
}

static void guest_never(void)
{
	GUEST_FAIL("a spare vCPU ran");
}

/* ---- flippers ---------------------------------------------------------- */

enum flip_kind { FLIP_BLOCKIRQ, FLIP_PIT, FLIP_HYPERV, FLIP_APIC_ID };

static const char *const flip_name[] = {
	[FLIP_BLOCKIRQ] = "blockirq", [FLIP_PIT] = "pit",
	[FLIP_HYPERV] = "hyperv", [FLIP_APIC_ID] = "apic_id",
};

static const enum apicv_reason flip_reason[] = {
	[FLIP_BLOCKIRQ] = APICV_REASON_BLOCKIRQ,
	[FLIP_PIT] = APICV_REASON_PIT_REINJ,
	[FLIP_HYPERV] = APICV_REASON_HYPERV,
	[FLIP_APIC_ID] = APICV_REASON_APIC_ID_MODIFIED,
};

struct flipper {
	enum flip_kind kind;
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;		/* the spare it works on (not PIT) */
	struct kvm_lapic_state lapic;	/* APIC ID: the spare's state */
	u32 home_id, moved_id;
	pthread_t thread;
	bool final_on, ever_on;
	bool contradict;		/* negative control: last op inverted */
	u64 flips;			/* on+off pairs done */
	u64 op_start;			/* now_ns() inside an op, else 0 */
	u64 op_max_ns, op_total_ns, ops;
};

static volatile bool flippers_stop;
/*
 * While the trace is observed, a flipper pauses after each burst until the
 * main thread has drained the trace again: the observer reads every event
 * (none is overwritten) and its reader is never outrun for good.
 */
#define FLIP_BURST	64
static bool throttle;
static u64 drained_gen;

static void wait_drained(void)
{
	u64 g = READ_ONCE(drained_gen);

	while (READ_ONCE(drained_gen) == g && !READ_ONCE(flippers_stop))
		usleep(100);
}

static void flip_op(struct flipper *f, bool on)
{
	struct kvm_guest_debug dbg = { 0 };
	struct kvm_reinject_control rc = { 0 };
	u64 t0 = now_ns(), d;

	WRITE_ONCE(f->op_start, t0);
	switch (f->kind) {
	case FLIP_BLOCKIRQ:
		if (on)
			dbg.control = KVM_GUESTDBG_ENABLE |
				      KVM_GUESTDBG_BLOCKIRQ;
		vcpu_ioctl(f->vcpu, KVM_SET_GUEST_DEBUG, &dbg);
		break;
	case FLIP_PIT:
		rc.pit_reinject = on;
		vm_ioctl(f->vm, KVM_REINJECT_CONTROL, &rc);
		break;
	case FLIP_HYPERV:
		TEST_ASSERT(hv_host_set_sint(f->vcpu, FLIP_SINT, on ?
				hv_sint(SINT_VEC, HV_SINT_AUTO_EOI) :
				hv_sint(SINT_VEC, HV_SINT_MASKED)) == 1,
			    "KVM_SET_MSRS SINT%d refused", FLIP_SINT);
		break;
	case FLIP_APIC_ID:
		lapic_state_set_reg(&f->lapic, APIC_ID,
				    (on ? f->moved_id : f->home_id) << 24);
		vcpu_lapic_set(f->vcpu, &f->lapic);
		break;
	}
	d = now_ns() - t0;
	WRITE_ONCE(f->op_start, 0);
	f->ever_on |= on;
	f->ops++;
	f->op_total_ns += d;
	if (d > f->op_max_ns)
		f->op_max_ns = d;
}

static void *flipper_main(void *arg)
{
	struct flipper *f = arg;

	while (!READ_ONCE(flippers_stop)) {
		flip_op(f, true);
		flip_op(f, false);
		if (!(++f->flips % FLIP_BURST) && throttle)
			wait_drained();
	}
	if (f->final_on != f->contradict)
		flip_op(f, true);
	return NULL;
}

/* Sets the spare up for @kind and leaves the reason off. */
static void flipper_init(struct flipper *f, enum flip_kind kind,
			 struct kvm_vm *vm, struct kvm_vcpu *spare, int idx)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->vm = vm;
	f->vcpu = spare;
	switch (kind) {
	case FLIP_BLOCKIRQ:
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2) <= 0 ||
			     (kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2) &
			      KVM_GUESTDBG_BLOCKIRQ),
			     "KVM_CAP_SET_GUEST_DEBUG2 lacks KVM_GUESTDBG_BLOCKIRQ");
		break;
	case FLIP_PIT:
		break;
	case FLIP_HYPERV:
		hv_synic_activate(spare);
		break;
	case FLIP_APIC_ID:
		vcpu_lapic_get(spare, &f->lapic);
		f->home_id = spare->id;
		f->moved_id = MOVED_APIC_ID + idx;
		break;
	}
	flip_op(f, false);
	f->ever_on = false;
	f->ops = f->op_total_ns = f->op_max_ns = 0;
}

/* ---- the fixture ------------------------------------------------------- */

FIXTURE(inhibit_churn) {
	struct kvm_vm *vm;
	struct apicv_observer *o;
	struct flipper fl[MAX_FLIPPERS];
	int nfl, nworkers;
	bool threads;		/* flipper threads running */
	bool anchored;
	struct prng rng;
	u64 mark, base;		/* observer position and mask before churn */
};

FIXTURE_VARIANT(inhibit_churn) {
	int nflip;
	enum flip_kind kinds[MAX_FLIPPERS];
};

FIXTURE_VARIANT_ADD(inhibit_churn, blockirq) {
	.nflip = 1, .kinds = { FLIP_BLOCKIRQ } };
FIXTURE_VARIANT_ADD(inhibit_churn, pit) {
	.nflip = 1, .kinds = { FLIP_PIT } };
FIXTURE_VARIANT_ADD(inhibit_churn, hyperv) {
	.nflip = 1, .kinds = { FLIP_HYPERV } };
FIXTURE_VARIANT_ADD(inhibit_churn, apic_id) {
	.nflip = 1, .kinds = { FLIP_APIC_ID } };
/* One reason from two threads: the bit is "any spare has BLOCKIRQ". */
FIXTURE_VARIANT_ADD(inhibit_churn, blockirq_x2) {
	.nflip = 2, .kinds = { FLIP_BLOCKIRQ, FLIP_BLOCKIRQ } };
FIXTURE_VARIANT_ADD(inhibit_churn, all) {
	.nflip = 5, .kinds = { FLIP_BLOCKIRQ, FLIP_PIT, FLIP_HYPERV,
			       FLIP_APIC_ID, FLIP_BLOCKIRQ } };

FIXTURE_SETUP(inhibit_churn)
{
	memset(self, 0, sizeof(*self));
	memset(wk, 0, sizeof(wk));
	started = stop = final_iter = shadow_breaks = 0;
	flippers_stop = false;
	throttle = false;
	drained_gen = 0;
}

static void stop_flippers(FIXTURE_DATA(inhibit_churn) *self)
{
	int i;

	if (!self->threads)
		return;
	WRITE_ONCE(flippers_stop, true);
	for (i = 0; i < self->nfl; i++)
		pthread_join(self->fl[i].thread, NULL);
	self->threads = false;
}

FIXTURE_TEARDOWN(inhibit_churn)
{
	stop_flippers(self);
	if (self->vm)
		vm_free(self->vm);
	if (self->o)
		apicv_observer_stop(self->o);
}

static bool observing(void)
{
	return apicv_host()->can_observe;
}

/*
 * A VM with @nworkers vCPUs running @guest_fn, one spare per flipper and,
 * when @anchor, one more spare whose relocated APIC base keeps the VM
 * inhibited. The observer (where KVM tracks inhibits) starts before it.
 */
static void churn_setup(FIXTURE_DATA(inhibit_churn) *self,
			const FIXTURE_VARIANT(inhibit_churn) *variant,
			int nworkers, void *guest_fn, bool anchor)
{
	char why[160];
	bool known;
	int i, r;

	prng_init_for(&self->rng, variant->nflip > 1 ? "churn-multi" :
		      flip_name[variant->kinds[0]]);
	if (observing()) {
		self->o = apicv_observer_start();
		if (fault_blind_observer)
			apicv_observer_blind(self->o);
		r = apicv_observer_high_rate(self->o, 4096);
		TEST_ASSERT(!r, "%s: trace_clock/buffer_size_kb: %s",
			    apicv_observer_path(self->o), strerror(-r));
	}
	self->nworkers = nworkers;
	n_workers = nworkers;
	self->vm = vm_create(IRQCHIP_KERNEL);
	vm_add_vcpus(self->vm, nworkers, guest_fn);
	vm_install_handler(self->vm, RING_VEC, ring_handler);
	vm_install_handler(self->vm, SELF_VEC, self_handler);
	vm_install_handler(self->vm, TIMER_VEC, timer_handler);
	for (i = 0; i < variant->nflip; i++)
		if (variant->kinds[i] == FLIP_PIT)
			vm_create_pit(self->vm, KVM_PIT_SPEAKER_DUMMY);
	self->nfl = variant->nflip;
	for (i = 0; i < self->nfl; i++) {
		struct kvm_vcpu *spare = NULL;

		if (variant->kinds[i] != FLIP_PIT)
			spare = vm_add_vcpu(self->vm, nworkers + i,
					    guest_never);
		flipper_init(&self->fl[i], variant->kinds[i], self->vm,
			     spare, i);
		/* Each flipper leaves its reason as the seed says. */
		self->fl[i].final_on = prng_below(&self->rng, 2);
		self->fl[i].contradict = fault_contradict_last_op && !i;
	}
	if (anchor) {
		struct kvm_vcpu *a = vm_add_vcpu(self->vm, nworkers + i,
						 guest_never);

		vcpu_set_msr(a, MSR_IA32_APICBASE,
			     ANCHOR_BASE | MSR_APICBASE_ENABLE);
		self->anchored = true;
	}
	if (!self->o) {
		test_log("inhibit checks skipped: %s (flips still run)",
			 apicv_host()->why);
		return;
	}
	throttle = true;
	/* Before any mask is trusted: the observer sees this VM (vCPU 0). */
	apicv_observer_prove(self->o, self->vm->vcpus[0]);
	apicv_observer_settle(self->o, 50, 3000);
	self->mark = apicv_observer_mark(self->o);
	self->base = apicv_observer_mask_known(self->o, &known);
	TEST_ASSERT(known, "no inhibit event after creating the VM (%s)",
		    apicv_observer_path(self->o));
	test_log("mask before churn: %s%s",
		 apicv_mask_str(self->base, why, sizeof(why)),
		 anchor ? " (anchored by a relocated APIC base)" : "");
}

static void start_flippers(FIXTURE_DATA(inhibit_churn) *self)
{
	int i, r;

	for (i = 0; i < self->nfl; i++) {
		r = pthread_create(&self->fl[i].thread, NULL, flipper_main,
				   &self->fl[i]);
		TEST_ASSERT(!r, "pthread_create: %s", strerror(r));
	}
	self->threads = true;
}

/* Fails when a flip ioctl has not returned within STALL_MS. */
static void check_flippers(FIXTURE_DATA(inhibit_churn) *self)
{
	int i;

	for (i = 0; i < self->nfl; i++) {
		u64 t = READ_ONCE(self->fl[i].op_start), now = now_ns();

		TEST_ASSERT(!t || now < t || now - t < STALL_MS * 1000000ull,
			    "flipper %d (%s) stuck in its ioctl for %llu ms",
			    i, flip_name[self->fl[i].kind],
			    (now - t) / 1000000);
	}
}

static void log_flippers(FIXTURE_DATA(inhibit_churn) *self, u64 ns)
{
	int i;

	for (i = 0; i < self->nfl; i++) {
		struct flipper *f = &self->fl[i];

		test_log("flipper %d %s: %llu flips (%.0f/s), op mean %.1f us "
			 "max %.1f us, left %s", i, flip_name[f->kind],
			 f->flips, f->flips / (ns / 1e9),
			 f->ops ? f->op_total_ns / 1e3 / f->ops : 0.0,
			 f->op_max_ns / 1e3, f->final_on ? "on" : "off");
	}
}

static void poll_observer(FIXTURE_DATA(inhibit_churn) *self)
{
	if (!self->o)
		return;
	apicv_observer_mark(self->o);
	WRITE_ONCE(drained_gen, drained_gen + 1);
}

/* ---- inhibit checks ---------------------------------------------------- */

/* What the flippers' last operations (and the anchor) leave set. */
static u64 expected_mask(FIXTURE_DATA(inhibit_churn) *self, u64 *driven)
{
	u64 want = 0;
	int i;

	*driven = 0;
	if (self->anchored) {
		want |= apicv_reason_mask(APICV_REASON_APIC_BASE_MODIFIED);
		*driven |= want;
	}
	for (i = 0; i < self->nfl; i++) {
		struct flipper *f = &self->fl[i];
		enum apicv_reason r = flip_reason[f->kind];
		u64 bit = apicv_reason_mask(r);

		if (!apicv_reason_honoured(r))
			continue;
		*driven |= bit;
		/* Two BLOCKIRQ spares: set while either holds it. */
		if (f->final_on || (f->ever_on && apicv_reason_sticky(r)))
			want |= bit;
	}
	return want;
}

static void check_inhibits(FIXTURE_DATA(inhibit_churn) *self,
			   bool expect_activity)
{
	u64 irqwin = apicv_reason_mask(APICV_REASON_IRQWIN);
	u64 mask, want, driven, checked = 0, lost, toggles;
	char why[400], b1[160], b2[160];
	int bad;

	if (!self->o)
		return;
	mask = apicv_observer_settle(self->o, 50, 3000);
	lost = apicv_observer_lost(self->o);
	TEST_ASSERT(!lost, "the trace lost %llu inhibit events (%s): the "
		    "transitions cannot be checked one by one", lost,
		    apicv_observer_path(self->o));
	if (fault_break_chain)
		self->base ^= apicv_reason_mask(APICV_REASON_SEV) ?:
			      BIT_ULL(0);
	bad = apicv_observer_check_chain(self->o, self->mark, self->base,
					 &checked, why, sizeof(why));
	if (bad >= 0) {
		apicv_observer_dump(self->o, self->mark + (bad > 8 ? bad - 8 : 0),
				    "around the inconsistent transition");
		TEST_FAIL("inconsistent inhibit transition: %s", why);
	}
	toggles = apicv_observer_activity_flips(self->o, self->mark,
						self->base);
	test_log("%llu transitions consistent, activity changed %llu times",
		 checked, toggles);
	want = expected_mask(self, &driven);
	/* IRQWIN follows the workload's own interrupt windows. */
	if ((mask & ~irqwin) != want) {
		apicv_observer_dump(self->o, checked > 16 ?
				    self->mark + checked - 16 : self->mark,
				    "last transitions");
		TEST_FAIL("final inhibits %s, the last operations imply %s",
			  apicv_mask_str(mask, b1, sizeof(b1)),
			  apicv_mask_str(want, b2, sizeof(b2)));
	}
	if (expect_activity && driven && !self->anchored) {
		bool dynamic = false;
		int i;

		for (i = 0; i < self->nfl; i++) {
			enum apicv_reason r = flip_reason[self->fl[i].kind];

			dynamic |= apicv_reason_honoured(r) &&
				   !apicv_reason_sticky(r) &&
				   self->fl[i].flips > 0;
		}
		TEST_ASSERT(!dynamic || toggles > 0,
			    "%llu flips of dynamic reasons never changed the "
			    "VM's activity", self->fl[0].flips);
	}
}

/* ---- delivery ---------------------------------------------------------- */

static void workers_stalled(FIXTURE_DATA(inhibit_churn) *self, int who)
{
	int i;

	for (i = 0; i < self->nworkers; i++)
		test_log("vcpu %d: ring %llu/%llu self %llu/%llu timer "
			 "%llu/%llu", i, wk[i].ring_recv, wk[i].ring_sent,
			 wk[i].self_recv, wk[i].self_sent, wk[i].timer_recv,
			 wk[i].timer_armed);
	stop_flippers(self);
	for (i = 0; i < self->nworkers; i++) {
		vcpu_thread_stop(self->vm->vcpus[i]);
		vcpu_dump(self->vm->vcpus[i], "no progress under churn");
	}
	TEST_FAIL("vCPU %d made no progress for %d ms under churn", who,
		  STALL_MS);
}

static u64 progress(int i)
{
	return READ_ONCE(wk[i].ring_recv) + READ_ONCE(wk[i].self_recv) +
	       READ_ONCE(wk[i].timer_recv) + READ_ONCE(wk[i].spins);
}

static bool workers_done(FIXTURE_DATA(inhibit_churn) *self)
{
	int i;

	for (i = 0; i < self->nworkers; i++)
		if (!READ_ONCE(self->vm->vcpus[i]->done))
			return false;
	return true;
}

/* Runs workers and flippers until the workers finish; returns ns. */
static u64 churn_run(FIXTURE_DATA(inhibit_churn) *self, u64 run_ms)
{
	u64 t0 = now_ns(), last[MAX_WORKERS], seen[MAX_WORKERS], now, p;
	int i;

	for (i = 0; i < self->nworkers; i++) {
		seen[i] = 0;
		last[i] = t0;
		vcpu_thread_start(self->vm->vcpus[i]);
	}
	start_flippers(self);
	while (!workers_done(self)) {
		usleep(POLL_US);
		poll_observer(self);
		check_flippers(self);
		now = now_ns();
		for (i = 0; i < self->nworkers; i++) {
			p = progress(i);
			if (p != seen[i] ||
			    READ_ONCE(self->vm->vcpus[i]->done)) {
				seen[i] = p;
				last[i] = now;
			} else if (now - last[i] > STALL_MS * 1000000ull) {
				workers_stalled(self, i);
			}
		}
		if (now - t0 > run_ms * 1000000ull)
			WRITE_ONCE(stop, 1);
	}
	now = now_ns() - t0;
	stop_flippers(self);
	for (i = 0; i < self->nworkers; i++)
		TEST_ASSERT(vcpu_thread_wait(self->vm->vcpus[i], STALL_MS),
			    "vCPU %d: thread did not end after GUEST_DONE", i);
	log_flippers(self, now);
	return now;
}

/* The emulator's rare duplicates (known_bugs.h): never outside TCG. */
static u64 forgive_duplicates(u64 sent, u64 recv, u64 *dups)
{
	return known_bug_forgive_surplus(KNOWN_BUG_TCG_DUP_INJECT, sent, recv,
					 dups);
}

TEST_F(inhibit_churn, delivery)
{
	u64 run_ms = profile_pick(2000, 30000), ns, want, dups = 0;
	bool anchor = observing() && apicv_host()->forced;
	int i, n = MAX_WORKERS;

	churn_setup(self, variant, n, guest_worker, anchor);
	ns = churn_run(self, run_ms);
	for (i = 0; i < n; i++) {
		struct worker *w = &wk[i];

		want = w->ring_sent - (fault_drop_one_delivery && i == 0);
		EXPECT_EQ(final_iter, w->ring_sent) {
			TH_LOG("vCPU %d: predecessor sent %llu ring IPIs, "
			       "%llu iterations agreed", i, w->ring_sent,
			       final_iter);
		}
		EXPECT_EQ(want, forgive_duplicates(w->ring_sent, w->ring_recv,
						   &dups)) {
			TH_LOG("vCPU %d: %llu ring IPIs taken, %llu sent", i,
			       w->ring_recv, w->ring_sent);
		}
		EXPECT_EQ(w->self_sent, forgive_duplicates(w->self_sent,
							   w->self_recv, &dups)) {
			TH_LOG("vCPU %d: %llu self-IPIs taken, %llu sent", i,
			       w->self_recv, w->self_sent);
		}
		EXPECT_EQ(w->timer_armed, forgive_duplicates(w->timer_armed,
							     w->timer_recv,
							     &dups)) {
			TH_LOG("vCPU %d: %llu timer ticks taken, %llu armed",
			       i, w->timer_recv, w->timer_armed);
		}
	}
	if (dups)
		test_log("%llu interrupt(s) delivered twice: %s", dups,
			 known_bug_describe(KNOWN_BUG_TCG_DUP_INJECT));
	test_log("%d vCPUs, %llu iterations each in %.2f s: %.0f "
		 "interrupts/s delivered", n, final_iter, ns / 1e9,
		 3.0 * n * final_iter / (ns / 1e9));
	if (shadow_breaks) {
		test_log("%llu interrupt(s) taken inside the STI shadow, HLT "
			 "stepped over: %s", shadow_breaks,
			 known_bug_describe(KNOWN_BUG_TCG_INT_SHADOW));
		/* Only the emulator's quirk is forgiven, and only rarely. */
		EXPECT_GE(known_bug_tolerance(KNOWN_BUG_TCG_INT_SHADOW,
					      3 * n * final_iter), shadow_breaks);
	}
	check_inhibits(self, false);
}

TEST_F(inhibit_churn, activity)
{
	u64 run_ms = profile_pick(1500, 30000);
	int i, n = 2;

	churn_setup(self, variant, n, guest_spinner, false);
	churn_run(self, run_ms);
	for (i = 0; i < n; i++)
		EXPECT_NE(0, wk[i].spins) {
			TH_LOG("vCPU %d never ran its loop", i);
		}
	TEST_REQUIRE(self->o, "inhibit checks: %s (the flips and spinning "
		     "vCPUs ran, nothing to assert on)", apicv_host()->why);
	check_inhibits(self, true);
}

APICV_TEST_MAIN
