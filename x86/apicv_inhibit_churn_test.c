// SPDX-License-Identifier: GPL-2.0
/*
 * Inhibit churn: APICv/AVIC inhibits flipped as fast as host threads can
 * while vCPUs run. Each flipper thread (x86/apicv_flipper.h) pulls one
 * reason userspace can reach (x86/apicv_pull.h) on a spare vCPU that never
 * runs, or on the in-kernel PIT: BLOCKIRQ, PIT_REINJ, HYPERV (an AutoEOI
 * SINT), APIC_ID_MODIFIED (dynamic from 6.3; on 6.1 it stays set once set).
 * A vCPU ioctl waits for the vCPU's mutex, which a running vCPU holds, so
 * flips through running vCPUs would be paced by their exits.
 *
 * delivery: worker vCPUs run a workload that needs every interrupt: IPIs
 * in a ring (one in flight per target), self-IPIs with EOI, one-shot LAPIC
 * timer ticks, all waited for in "sti; hlt". Every interrupt counted in
 * the guest must equal what was sent, no vCPU may stall. With a forced
 * AVIC (no hardware behind it) guests only get interrupts while the VM is
 * inhibited, so an anchor holds it inhibited: APIC_BASE_MODIFIED, sticky,
 * pulled once and flipped by no one.
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
#include <string.h>
#include <unistd.h>

#include "emulator.h"
#include "harness_main.h"
#include "seed.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/apicv_flipper.h"
#include "x86/apicv_pull.h"
#include "x86/guest_sync.h"

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
#define TIMER_NS	20000		/* one-shot, divide by 1: 1 ns a count */
#define STALL_MS	5000
#define POLL_US		2000

/* VMs come and go without patching KVM's static keys in and out. */
static void __attribute__((constructor)) hold_keys(void)
{
	emu_keys_hold_for_process();
}

/* ---- stimulus: the guest ------------------------------------------------ */

struct worker {
	u64 ring_recv, ring_sent;	/* from the predecessor */
	u64 self_recv, self_sent;
	u64 timer_recv, timer_armed;
	u64 spins;
} __attribute__((aligned(64)));

static struct worker wk[MAX_WORKERS];
static u64 n_workers, started, stop, final_iter, shadow_hits;

/* RING_VEC, SELF_VEC and TIMER_VEC: counts the delivery, EOIs. */
static void irq_handler(struct ex_regs *regs)
{
	struct worker *me = &wk[this_cpu_id()];
	u64 *c = regs->vector == RING_VEC ? &me->ring_recv :
		 regs->vector == SELF_VEC ? &me->self_recv : &me->timer_recv;

	/* Taken inside "sti; hlt"'s shadow: stepped over, counted. */
	if (guest_emu_shadow_hit(regs))
		__atomic_add_fetch(&shadow_hits, 1, __ATOMIC_RELAXED);
	WRITE_ONCE(*c, *c + 1);
	apic_eoi();
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

static void send_ring(u32 id, u32 next, u64 k)
{
	while (READ_ONCE(wk[next].ring_recv) < k - 1)
		cpu_relax();
	WRITE_ONCE(wk[next].ring_sent, k);
	/* Negative control: one IPI counted as sent, never sent. */
	if (fault_withhold_one_ipi && id == 1 && k == 20)
		return;
	apic_icr_write(next, APIC_DM_FIXED | APIC_INT_ASSERT | RING_VEC);
}

static void guest_worker(void)
{
	u32 id = this_cpu_id(), next = (id + 1) % n_workers;
	struct worker *me = &wk[id];
	u64 k, h;

	xapic_enable();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, TIMER_VEC);
	guest_rendezvous(&started, n_workers);
	cli();
	for (k = 1; !past_last(k); k++) {
		send_ring(id, next, k);

		h = me->self_recv + 1;
		WRITE_ONCE(me->self_sent, me->self_sent + 1);
		apic_self_ipi(SELF_VEC);
		guest_halt_until(&me->self_recv, h);

		h = me->timer_recv + 1;
		WRITE_ONCE(me->timer_armed, me->timer_armed + 1);
		apic_write(APIC_TMICT, TIMER_NS);
		guest_halt_until(&me->timer_recv, h);

		guest_halt_until(&me->ring_recv, k);
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

/* ---- stimulus: the host ------------------------------------------------- */

FIXTURE(inhibit_churn) {
	struct kvm_vm *vm;
	struct apicv_observer *o;
	struct apicv_flippers fl;
	struct apicv_pull *anchor;
	int nworkers;
	struct prng rng;
	u64 mark, base;		/* observer position and mask before churn */
};

FIXTURE_VARIANT(inhibit_churn) {
	int nflip;
	enum apicv_reason reasons[MAX_FLIPPERS];
};

#define ONE_REASON(r)	{ .nflip = 1, .reasons = { APICV_REASON_##r } }
FIXTURE_VARIANT_ADD(inhibit_churn, blockirq) ONE_REASON(BLOCKIRQ);
FIXTURE_VARIANT_ADD(inhibit_churn, pit) ONE_REASON(PIT_REINJ);
FIXTURE_VARIANT_ADD(inhibit_churn, hyperv) ONE_REASON(HYPERV);
FIXTURE_VARIANT_ADD(inhibit_churn, apic_id) ONE_REASON(APIC_ID_MODIFIED);
/* One reason from two threads: the bit is "any spare has BLOCKIRQ". */
FIXTURE_VARIANT_ADD(inhibit_churn, blockirq_x2) {
	.nflip = 2, .reasons = { APICV_REASON_BLOCKIRQ,
				 APICV_REASON_BLOCKIRQ } };
FIXTURE_VARIANT_ADD(inhibit_churn, all) {
	.nflip = 5, .reasons = { APICV_REASON_BLOCKIRQ, APICV_REASON_PIT_REINJ,
				 APICV_REASON_HYPERV,
				 APICV_REASON_APIC_ID_MODIFIED,
				 APICV_REASON_BLOCKIRQ } };

FIXTURE_SETUP(inhibit_churn)
{
	memset(self, 0, sizeof(*self));
	memset(wk, 0, sizeof(wk));
	started = stop = final_iter = shadow_hits = 0;
}

FIXTURE_TEARDOWN(inhibit_churn)
{
	apicv_flippers_free(&self->fl);
	if (self->anchor)
		apicv_pull_free(self->anchor);
	if (self->vm)
		vm_free(self->vm);
	if (self->o)
		apicv_observer_stop(self->o);
}

/* Where KVM tracks inhibits: the trace, fast enough for the churn. */
static void observer_start(FIXTURE_DATA(inhibit_churn) *self)
{
	int r;

	if (!apicv_host()->can_observe)
		return;
	self->o = apicv_observer_start();
	if (fault_blind_observer)
		apicv_observer_blind(self->o);
	r = apicv_observer_high_rate(self->o, 4096);
	TEST_ASSERT(!r, "%s: trace_clock/buffer_size_kb: %s",
		    apicv_observer_path(self->o), strerror(-r));
}

/* Before any mask is trusted: the observer sees this VM (vCPU 0). */
static void observer_base(FIXTURE_DATA(inhibit_churn) *self)
{
	char why[160];
	bool known;

	apicv_flippers_throttle(&self->fl);
	apicv_observer_prove(self->o, self->vm->vcpus[0]);
	apicv_observer_settle(self->o, 50, 3000);
	self->mark = apicv_observer_mark(self->o);
	self->base = apicv_observer_mask_known(self->o, &known);
	TEST_ASSERT(known, "no inhibit event after creating the VM (%s)",
		    apicv_observer_path(self->o));
	test_log("mask before churn: %s%s",
		 apicv_mask_str(self->base, why, sizeof(why)),
		 self->anchor ? " (anchored by a relocated APIC base)" : "");
}

/*
 * A VM with @nworkers vCPUs running @guest_fn, one flipper per reason of
 * the variant (each to end as the seed says) and, when @anchor, the
 * anchor. The observer starts before it.
 */
static void churn_setup(FIXTURE_DATA(inhibit_churn) *self,
			const FIXTURE_VARIANT(inhibit_churn) *variant,
			int nworkers, void *guest_fn, bool anchor)
{
	int i;

	prng_init_for(&self->rng, variant->nflip > 1 ? "churn-multi" :
		      apicv_reason_name(variant->reasons[0]));
	observer_start(self);
	self->nworkers = n_workers = nworkers;
	self->vm = vm_create(IRQCHIP_KERNEL);
	vm_add_vcpus(self->vm, nworkers, guest_fn);
	for (i = RING_VEC; i <= TIMER_VEC; i++)
		vm_install_handler(self->vm, i, irq_handler);
	for (i = 0; i < variant->nflip; i++)
		apicv_flippers_add(&self->fl, self->vm, variant->reasons[i],
				   prng_below(&self->rng, 2));
	if (anchor) {
		self->anchor = apicv_pull_new(self->vm,
					      APICV_REASON_APIC_BASE_MODIFIED);
		apicv_pull(self->anchor, true);
	}
	if (self->o)
		observer_base(self);
	else
		test_log("inhibit checks skipped: %s (flips still run)",
			 apicv_host()->why);
}

static void workers_stalled(FIXTURE_DATA(inhibit_churn) *self, int who)
{
	int i;

	for (i = 0; i < self->nworkers; i++)
		test_log("vcpu %d: ring %llu/%llu self %llu/%llu timer "
			 "%llu/%llu", i, wk[i].ring_recv, wk[i].ring_sent,
			 wk[i].self_recv, wk[i].self_sent, wk[i].timer_recv,
			 wk[i].timer_armed);
	apicv_flippers_stop(&self->fl);
	for (i = 0; i < self->nworkers; i++) {
		vcpu_thread_stop(self->vm->vcpus[i]);
		vcpu_dump(self->vm->vcpus[i], "no progress under churn");
	}
	TEST_FAIL("vCPU %d made no progress for %d ms under churn", who,
		  STALL_MS);
}

static bool workers_done(FIXTURE_DATA(inhibit_churn) *self)
{
	int i = 0;

	while (i < self->nworkers && READ_ONCE(self->vm->vcpus[i]->done))
		i++;
	return i == self->nworkers;
}

/*
 * Runs workers and flippers until the workers finish (told to stop after
 * @run_ms), failing on a vCPU without progress or a flip ioctl that does
 * not return for STALL_MS. Returns the time it took.
 */
static u64 churn_run(FIXTURE_DATA(inhibit_churn) *self, u64 run_ms)
{
	u64 t0 = now_ns(), last[MAX_WORKERS], seen[MAX_WORKERS], now, p;
	int i;

	for (i = 0; i < self->nworkers; i++) {
		seen[i] = 0;
		last[i] = t0;
		vcpu_thread_start(self->vm->vcpus[i]);
	}
	apicv_flippers_start(&self->fl);
	while (!workers_done(self)) {
		usleep(POLL_US);
		if (self->o) {
			apicv_observer_mark(self->o);
			apicv_flippers_drained(&self->fl);
		}
		apicv_flippers_check(&self->fl, STALL_MS);
		now = now_ns();
		for (i = 0; i < self->nworkers; i++) {
			p = READ_ONCE(wk[i].ring_recv) +
			    READ_ONCE(wk[i].self_recv) +
			    READ_ONCE(wk[i].timer_recv) +
			    READ_ONCE(wk[i].spins);
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
	apicv_flippers_stop(&self->fl);
	for (i = 0; i < self->nworkers; i++)
		TEST_ASSERT(vcpu_thread_wait(self->vm->vcpus[i], STALL_MS),
			    "vCPU %d: thread did not end after GUEST_DONE", i);
	apicv_flippers_log(&self->fl, now);
	return now;
}

/* ---- oracle ------------------------------------------------------------- */

/* What the flippers' last operations (and the anchor) leave set. */
static u64 expected_mask(FIXTURE_DATA(inhibit_churn) *self, u64 *driven)
{
	u64 anchor = self->anchor ?
		apicv_reason_mask(APICV_REASON_APIC_BASE_MODIFIED) : 0;
	u64 want;

	/* Negative control: the first flipper reports the opposite. */
	if (fault_contradict_last_op)
		self->fl.fl[0].final_on = !self->fl.fl[0].final_on;
	want = apicv_flippers_mask(&self->fl, driven) | anchor;
	*driven |= anchor;
	return want;
}

/*
 * Counted deliveries above @sent are the emulator's duplicates, added to
 * *@dups for the harness to judge; the rest must match what was sent.
 */
static u64 delivered(u64 sent, u64 recv, u64 *dups)
{
	if (recv <= sent)
		return recv;
	*dups += recv - sent;
	return sent;
}

/* ---- assertions --------------------------------------------------------- */

/* Every traced transition consistent, nothing lost, the final mask right. */
static void check_inhibits(FIXTURE_DATA(inhibit_churn) *self,
			   bool expect_activity)
{
	u64 mask, want, driven, checked, toggles;
	char b1[160], b2[160];

	if (!self->o)
		return;
	mask = apicv_observer_settle(self->o, 50, 3000);
	if (fault_break_chain)
		self->base ^= apicv_reason_mask(APICV_REASON_SEV) ?:
			      BIT_ULL(0);
	checked = apicv_observer_assert_chain(self->o, self->mark, self->base);
	toggles = apicv_observer_activity_flips(self->o, self->mark,
						self->base);
	test_log("%llu transitions consistent, activity changed %llu times",
		 checked, toggles);
	want = expected_mask(self, &driven);
	/* IRQWIN follows the workload's own interrupt windows. */
	if ((mask & ~apicv_reason_mask(APICV_REASON_IRQWIN)) != want) {
		apicv_observer_dump(self->o, checked > 16 ?
				    self->mark + checked - 16 : self->mark,
				    "last transitions");
		TEST_FAIL("final inhibits %s, the last operations imply %s",
			  apicv_mask_str(mask, b1, sizeof(b1)),
			  apicv_mask_str(want, b2, sizeof(b2)));
	}
	if (expect_activity && driven && !self->anchor)
		TEST_ASSERT(!apicv_flippers_dynamic(&self->fl) || toggles > 0,
			    "%llu flips of dynamic reasons never changed the "
			    "VM's activity", self->fl.fl[0].flips);
}

TEST_F(inhibit_churn, delivery)
{
	u64 run_ms = profile_pick(2000, 30000), ns, dups = 0, events = 0;
	bool anchor = apicv_host()->can_observe && apicv_host()->forced;
	u64 ring, self_ipi, timer;
	int i, n = MAX_WORKERS;

	churn_setup(self, variant, n, guest_worker, anchor);
	ns = churn_run(self, run_ms);
	for (i = 0; i < n; i++) {
		struct worker *w = &wk[i];

		/* Negative controls: the oracle is off by one at vCPU 0. */
		ring = w->ring_sent - (fault_drop_one_delivery && !i);
		self_ipi = w->self_sent + (fault_count_extra_self_ipi && !i);
		timer = w->timer_armed + (fault_count_extra_timer && !i);
		events += w->ring_sent + w->self_sent + w->timer_armed;
		EXPECT_EQ(final_iter, w->ring_sent) {
			TH_LOG("vCPU %d: predecessor sent %llu ring IPIs, "
			       "%llu iterations agreed", i, w->ring_sent,
			       final_iter);
		}
		EXPECT_EQ(ring, delivered(w->ring_sent, w->ring_recv, &dups)) {
			TH_LOG("vCPU %d: %llu ring IPIs taken, %llu sent", i,
			       w->ring_recv, ring);
		}
		EXPECT_EQ(self_ipi, delivered(w->self_sent, w->self_recv,
					      &dups)) {
			TH_LOG("vCPU %d: %llu self-IPIs taken, %llu sent", i,
			       w->self_recv, self_ipi);
		}
		EXPECT_EQ(timer, delivered(w->timer_armed, w->timer_recv,
					   &dups)) {
			TH_LOG("vCPU %d: %llu timer ticks taken, %llu armed",
			       i, w->timer_recv, timer);
		}
	}
	emu_quirk_count(EMU_QUIRK_DUP_INJECT, dups, events);
	emu_quirk_count(EMU_QUIRK_STI_SHADOW, shadow_hits, events);
	test_log("%d vCPUs, %llu iterations each in %.2f s: %.0f "
		 "interrupts/s delivered", n, final_iter, ns / 1e9,
		 3.0 * n * final_iter / (ns / 1e9));
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
