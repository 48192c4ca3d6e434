// SPDX-License-Identifier: GPL-2.0
/*
 * Wakeups of vCPUs blocked in "sti; hlt" while the host preempts, migrates
 * and kicks their threads. Senders: fixed IPIs (physical xAPIC, logical
 * x2APIC) from another vCPU, host MSIs (KVM_SIGNAL_MSI, irqfd through an
 * MSI route), the receiver's own LAPIC timer (one-shot, TSC deadline).
 *
 * The rounds (one interrupt in flight per receiver) and the guest side are
 * x86/halt_rounds.h's. Checked:
 *  - per-vector counters: every interrupt received exactly once;
 *  - a watchdog per receiver: sent > recv for longer than the deadline
 *    fails with the receiver's full state, the pressure and the time since
 *    the send was first seen pending;
 *  - without host pressure, the median wakeup latency stays below
 *    WAKE_P50_LIMIT_US: a lost wakeup that something else repairs within
 *    the watchdog's deadline still fails;
 *  - with pressure or halt polling: the first HALT_BASE_ROUNDS rounds run
 *    before the pressure starts (a baseline, its median below
 *    WAKE_P50_LIMIT_US too); the rest's median stays below a bound drawn
 *    from that baseline (one pressure kind at a time; see check_latency);
 *  - under kick pressure, no wakeup is one only a host kick delivered
 *    (rescue_kick.h: the kicks would otherwise hide a lost wakeup);
 *  - no interrupt is taken inside the STI shadow (on the HLT of "sti;
 *    hlt"): that HLT would then sleep with nothing pending. The handler
 *    steps over such a HLT and the subtest reports the count
 *    (emu_quirk_count(), judged by the harness: seen under QEMU TCG nested
 *    SVM with 6.1 and 6.12, on timer vectors, under pressure);
 *  - halt_exits == HLTs the guest executed (KVM counts every intercepted
 *    HLT in kvm_emulate_halt; with HLT exits disabled it stays 0);
 *  - halt poll 0, HLT intercepted: halt_wakeup > 0 over the run (it counts
 *    rcuwait wakeups of a vCPU blocked in kvm_vcpu_block: the receivers
 *    really blocked, the test is not vacuous). No upper bound is asserted:
 *    measured on 6.1, halt_wakeup exceeds the interrupts received by 1-5
 *    per 25 even after all APIC map changes, so other kicks of a blocked
 *    vCPU exist (a kick that finds the task still on the rcuwait after an
 *    earlier wakeup counts again); the figures are logged.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emulator.h"
#include "harness_main.h"
#include "host_sched.h"
#include "rescue_kick.h"
#include "stats.h"
#include "vm.h"
#include "wake_latency.h"
#include "wake_watchdog.h"
#include "x86/apic.h"
#include "x86/cpuid.h"
#include "x86/halt_rounds.h"
#include "x86/irqchip.h"

FAULT(skip_one_ipi, "wakeup.none.ipi_logical_x2apic", "not in IRR (never delivered)",
      "the sender skips one IPI (counts it as sent)");
FAULT(cli_hlt, "wakeup.none.timer_oneshot", "still HALTED with vector 0x60 pending in IRR",
      "a receiver halts once with IF=0 (cli; hlt)");
FAULT(withhold_msi, "wakeup.none.msi_signal", "not in IRR (never delivered)",
      "the host counts one MSI as sent but withholds it");
FAULT(extra_wakeup, "wakeup.none.timer_oneshot", "interrupts on the wakeup vector, want",
      "expect one wakeup more than sent");
FAULT(halt_exits_off, "wakeup.none.ipi_physical", "halt_exits differ from the HLTs",
      "expect one halt exit more than HLTs executed");
FAULT(expect_no_block, "wakeup.none.msi_irqfd", "want 0 (no receiver blocked)",
      "expect that no receiver ever blocked (halt_wakeup 0)");
FAULT(late_wakeup, "wakeup.[na]*.ipi_physical", "wake events that do not wake",
      "every wakeup before any pressure is reported 50 ms later than it came");
FAULT(late_wakeup_pressure, "wakeup.[!na]*.ipi_physical", "median wakeup under",
      "with pressure or polling on, every wakeup is reported 50 ms later");
FAULT(kick_rescue, "wakeup.[ka]*.msi_signal", "wakeups only a host kick delivered",
      "one MSI is counted as delivered but sent only when a kick finds the receiver asleep");

/*
 * Each subtest first runs HALT_BASE_ROUNDS rounds per receiver before any
 * pressure starts (halt polling is on from the start): the same boot's,
 * same VM's baseline, whose median must stay below WAKE_P50_LIMIT_US too.
 * The rest runs under the variant's pressure, and its median must stay
 * below WAKE_BASE_FACTOR times the baseline's, within
 * [WAKE_P50_FLOOR_US, WAKE_PRESSURE_P50_CAP_US]: the floor for what the
 * pressure alone costs (p50 up to 21 ms with one kind of pressure, QEMU
 * TCG on 2 cores under heavy load, 6.12; with all of it on up to 64 ms, so
 * the all variants have no bound, see below), the cap well below what a wake event left to
 * an unrelated wakeup costs (about 100 ms, see WAKE_P50_LIMIT_US).
 */
#define WAKE_BASE_FACTOR		10
#define WAKE_P50_FLOOR_US		35000
#define WAKE_PRESSURE_P50_CAP_US	50000

static const struct wake_bound wake_bound = {
	.factor = WAKE_BASE_FACTOR, .floor_us = WAKE_P50_FLOOR_US,
	.cap_us = WAKE_PRESSURE_P50_CAP_US,
};

/* The interrupts whose acceptance the host sees (rescue_kick.h). */
static bool host_sees_accept(enum halt_source src)
{
	return src == IPI_PHYS || src == IPI_LOGICAL || src == MSI_SIGNAL;
}

static const char *g_pressure;	/* for the watchdog's report */

/* A receiver past the deadline: its state, then the failure. */
static void __noreturn watchdog_fire(struct wake_watchdog *w, int r,
				     u64 pending_ms)
{
	struct kvm_vcpu *v = ((struct kvm_vm *)w->priv)->vcpus[r];
	struct kvm_lapic_state s;
	u8 vec = halt_src_vec[halt_src];
	u32 mp;
	bool in_irr;

	printf("# watchdog: vcpu %d sent %llu received %llu, pending for >= %llu ms "
	       "(source %s, pressure %s)\n", r, READ_ONCE(halt_rx[r].sent),
	       READ_ONCE(halt_rx[r].recv), pending_ms, halt_src_name[halt_src],
	       g_pressure);
	vcpu_thread_stop(v);
	vcpu_dump(v, "receiver past the wakeup deadline");
	vcpu_lapic_get(v, &s);
	mp = vcpu_mp_state(v);
	in_irr = lapic_state_vec_test(&s, APIC_IRR, vec);
	TEST_FAIL("vcpu %d %s with vector 0x%x %s, %llu ms after the send "
		  "(pressure %s, source %s)", r,
		  mp == KVM_MP_STATE_HALTED ? "still HALTED" : "not woken",
		  vec, in_irr ? "pending in IRR" : "not in IRR (never delivered)",
		  pending_ms, g_pressure, halt_src_name[halt_src]);
}

/*
 * Logs p50/p99/max in us over every receiver's rounds [from, to) (0-based),
 * each sample plus @add_us (negative controls); returns p50.
 */
static u64 latency_report(const char *what, bool host, u64 from, u64 to,
			  u64 add_us)
{
	static u64 all[HALT_NR_VCPUS * HALT_MAX_ROUNDS];
	struct lat_summary l;
	u64 n = 0, i;
	int r;

	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++)
		for (i = from; i < to && i < HALT_MAX_ROUNDS; i++)
			all[n++] = add_us + (host ?
				halt_lat_host_ns[r][i] / 1000 :
				guest_tsc_to_us(halt_lat_tsc[r][i]));
	lat_summarize(all, n, &l);
	if (n)
		test_log("%s: %llu wakeups; latency %s us: p50 %llu p99 %llu max %llu",
			 what, n, host ? "(host clock, send to handler seen)" :
				 "(guest TSC, send/expiry to handler)",
			 l.p50, l.p99, l.max);
	return l.p50;
}

static u64 withheld[HALT_NR_VCPUS];	/* fault_kick_rescue: the MSI not yet sent */

/* Negative controls aim at one round of the first receiver. */
static bool fault_round(bool fault, u32 r, u64 i, u64 rounds)
{
	return fault && r == HALT_FIRST_RX && i == rounds / 2;
}

/* fault_kick_rescue: the kick that finds the receiver asleep sends it. */
static void send_withheld(struct rescue_watch *w, int r, u64 round)
{
	if (READ_ONCE(withheld[r]) != round)
		return;
	WRITE_ONCE(withheld[r], 0);
	halt_msi_signal_send(w->rx[r].vcpu->vm, r, halt_src_vec[MSI_SIGNAL]);
}

/* Host senders: the controls take one round's MSI over (true: not sent). */
static bool msi_fault(struct halt_msi_sender *m, int r, u64 i)
{
	if (fault_round(fault_kick_rescue, r, i, m->rounds)) {
		/* Claimed delivered; the rescue hook sends it. */
		WRITE_ONCE(withheld[r], i);
		WRITE_ONCE(halt_rx[r].deliv, i);
		return true;
	}
	return fault_round(fault_withhold_msi, r, i, m->rounds);
}

FIXTURE(wakeup) {
	struct kvm_vm *vm;
};

FIXTURE_VARIANT(wakeup) {
	unsigned int pressure;
	u32 halt_poll_ns;
	bool no_hlt_exits;
};

#define ALL_PRESSURE (PRESSURE_PREEMPT | PRESSURE_FIFO | PRESSURE_MIGRATE | \
		      PRESSURE_YIELD | PRESSURE_KICK)

FIXTURE_VARIANT_ADD(wakeup, none) { 0 };
FIXTURE_VARIANT_ADD(wakeup, poll) { .halt_poll_ns = 2000000 };
FIXTURE_VARIANT_ADD(wakeup, preempt) { .pressure = PRESSURE_PREEMPT };
FIXTURE_VARIANT_ADD(wakeup, fifo) { .pressure = PRESSURE_FIFO };
FIXTURE_VARIANT_ADD(wakeup, migrate) { .pressure = PRESSURE_MIGRATE };
FIXTURE_VARIANT_ADD(wakeup, yield) { .pressure = PRESSURE_YIELD };
FIXTURE_VARIANT_ADD(wakeup, kick) { .pressure = PRESSURE_KICK };
FIXTURE_VARIANT_ADD(wakeup, all) { .pressure = ALL_PRESSURE };
FIXTURE_VARIANT_ADD(wakeup, all_poll) {
	.pressure = ALL_PRESSURE, .halt_poll_ns = 2000000 };
FIXTURE_VARIANT_ADD(wakeup, no_hlt_exits) { .no_hlt_exits = true };

FIXTURE_SETUP(wakeup) { self->vm = NULL; }
FIXTURE_TEARDOWN(wakeup) { vm_free(self->vm); }

/*
 * The latency bounds. Without pressure or polling: the median over every
 * round below WAKE_P50_LIMIT_US. Otherwise the baseline rounds' median
 * below it too, and the rest's below the bound the baseline gives.
 */
static void check_latency(struct __test_metadata *_metadata,
			  const FIXTURE_VARIANT(wakeup) *variant,
			  enum halt_source src, u64 rounds, const char *pname)
{
	bool host = src == MSI_SIGNAL || src == MSI_IRQFD;
	u64 base, p50, limit;
	char what[96];

	if (!variant->pressure && !variant->halt_poll_ns) {
		p50 = latency_report(halt_src_name[src], host, 0, rounds,
				     fault_late_wakeup ? 50000 : 0);
		EXPECT_GT(WAKE_P50_LIMIT_US, p50) {
			TH_LOG("median wakeup %llu us, above %u us: wake events that do not wake",
			       p50, WAKE_P50_LIMIT_US);
		}
		return;
	}
	snprintf(what, sizeof(what), "%s, baseline (no pressure)",
		 halt_src_name[src]);
	base = latency_report(what, host, 0, HALT_BASE_ROUNDS,
			      fault_late_wakeup ? 50000 : 0);
	snprintf(what, sizeof(what), "%s, %s", halt_src_name[src], pname);
	p50 = latency_report(what, host, HALT_BASE_ROUNDS, rounds,
			     fault_late_wakeup_pressure ? 50000 : 0);
	limit = wake_bound_us(&wake_bound, base);
	EXPECT_GT(WAKE_P50_LIMIT_US, base) {
		TH_LOG("median wakeup %llu us over the baseline rounds, above %u us: "
		       "wake events that do not wake", base, WAKE_P50_LIMIT_US);
	}
	/*
	 * With every pressure on, a correct KVM's median reached 64 ms on 2
	 * busy cores (6.12), a lost wakeup's 88 ms: no bound separates them.
	 * Those variants kick, and the rescue-kick check catches lost
	 * wakeups there.
	 */
	if (__builtin_popcount(variant->pressure) > 1) {
		test_log("no latency bound under %s: the rescue-kick check covers it",
			 pname);
		return;
	}
	EXPECT_GT(limit, p50) {
		TH_LOG("median wakeup under %s %llu us, above %llu us (%d x the "
		       "baseline's %llu us, within %u..%u us): wake events that "
		       "wait for something else", pname, p50, limit,
		       WAKE_BASE_FACTOR, base, WAKE_P50_FLOOR_US,
		       WAKE_PRESSURE_P50_CAP_US);
	}
}

/* Under kick pressure: no wakeup only a kick delivered (rescue_kick.h). */
static void check_rescues(struct __test_metadata *_metadata,
			  enum halt_source src, const struct rescue_watch *rw,
			  bool armed)
{
	u64 total;

	if (!(rw->pr.kinds & PRESSURE_KICK))
		return;
	if (!armed) {
		test_log("rescue kicks: not checked for %s (%s)",
			 halt_src_name[src], host_sees_accept(src) ?
			 "no 'blocking' statistic or thread id" :
			 "the host does not know when KVM accepted it");
		return;
	}
	total = rescue_watch_report(rw, halt_src_name[src]);
	EXPECT_EQ(0, total) {
		TH_LOG("%llu wakeups only a host kick delivered: lost wakeups",
		       total);
	}
}

static void check_counts(struct __test_metadata *_metadata,
			 FIXTURE_DATA(wakeup) *self,
			 const FIXTURE_VARIANT(wakeup) *variant,
			 enum halt_source src, u64 rounds)
{
	u64 hlts = 0, exits = 0, wakeups = 0, polls = 0, apolls = 0, v;
	u64 shadows = 0;
	int r, i;

	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
		struct kvm_vcpu *vc = self->vm->vcpus[r];
		u64 want = rounds + (fault_extra_wakeup ? 1 : 0);

		EXPECT_EQ(want, halt_vec_count[r][halt_src_vec[src]]) {
			TH_LOG("vcpu %d: %llu interrupts on the wakeup vector, want %llu",
			       r, halt_vec_count[r][halt_src_vec[src]], want);
		}
		for (i = 0; i < 256; i++)
			if (i != halt_src_vec[src])
				EXPECT_EQ(0, halt_vec_count[r][i]);
		EXPECT_EQ(rounds, halt_rx[r].recv);
		hlts += halt_rx[r].hlts - halt_shadow_hits[r];
		shadows += halt_shadow_hits[r];
		exits += vcpu_stat(vc, "halt_exits");
		v = vcpu_stat(vc, "halt_wakeup");
		wakeups += v;
		if (vcpu_stat_try(vc, "halt_successful_poll", &v))
			polls += v;
		if (vcpu_stat_try(vc, "halt_attempted_poll", &v))
			apolls += v;
	}
	if (shadows)
		test_log("%llu interrupts taken in the STI shadow, HLT skipped",
			 shadows);
	/* Judged by the harness at the subtest's end. */
	emu_quirk_count(EMU_QUIRK_STI_SHADOW, shadows, rounds);
	test_log("receivers: %llu HLTs, halt_exits %llu, halt_wakeup %llu, "
		 "halt_attempted_poll %llu, halt_successful_poll %llu",
		 hlts, exits, wakeups, apolls, polls);
	if (variant->no_hlt_exits) {
		EXPECT_EQ(0, exits);
		return;
	}
	EXPECT_EQ(hlts + (fault_halt_exits_off ? 1 : 0), exits) {
		TH_LOG("halt_exits differ from the HLTs the receivers executed");
	}
	/* Blocking really happened: the test is not vacuous. */
	if (!variant->halt_poll_ns)
		EXPECT_EQ(fault_expect_no_block, wakeups == 0) {
			TH_LOG("halt_wakeup %llu, want %s", wakeups,
			       fault_expect_no_block ? "0 (no receiver blocked)" :
			       "> 0 (receivers blocked)");
		}
}

/* The guest-side controls hook one round of the first receiver. */
static void wakeup_reset(enum halt_source src, u64 rounds)
{
	halt_rounds_reset(src, HALT_NR_VCPUS);
	memset(withheld, 0, sizeof(withheld));
	if (fault_cli_hlt)
		halt_faults.cli_hlt_round = rounds / 2;
	if (fault_skip_one_ipi)
		halt_faults.skip_ipi_round = rounds / 2;
}

/*
 * A VM of one sender and the receivers, with the variant's HLT exits and
 * halt polling; false when the rescue-kick check cannot watch it.
 */
static bool wakeup_vm_create(FIXTURE_DATA(wakeup) *self,
			     const FIXTURE_VARIANT(wakeup) *variant,
			     enum halt_source src, u64 rounds, struct prng *prng)
{
	char why[SCHED_WHY_LEN] = "";
	bool watchable = true;
	int r;

	self->vm = vm_create(IRQCHIP_KERNEL);
	if (variant->no_hlt_exits)
		sched_require(vm_disable_hlt_exits(self->vm, why), why);
	sched_require(vm_set_halt_poll_ns(self->vm, variant->halt_poll_ns, why),
		      why);
	vm_add_vcpu(self->vm, 0, halt_guest_sender);
	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
		struct kvm_vcpu *vc = vm_add_vcpu(self->vm, r,
						  halt_guest_receiver);

		if (src == TIMER_TSCDL)
			halt_tsc_deadline_enable(vc);
		watchable &= rescue_watch_prepare(vc);
	}
	for (r = 0; r < HALT_NR_VCPUS; r++)
		vcpu_args_set(self->vm->vcpus[r], rounds, prng_next(prng));
	vm_install_handler(self->vm, halt_src_vec[src], halt_guest_handler);
	return watchable;
}

static void run_wakeups(struct __test_metadata *_metadata,
			FIXTURE_DATA(wakeup) *self,
			const FIXTURE_VARIANT(wakeup) *variant,
			enum halt_source src)
{
	u64 rounds = profile_pick(25, 2000), deadline_ms = profile_pick(3000, 5000);
	struct wake_watchdog wd = { .deadline_ms = deadline_ms,
				    .fire = watchdog_fire };
	bool host = src == MSI_SIGNAL || src == MSI_IRQFD;
	char why[SCHED_WHY_LEN] = "", pname[64];
	struct halt_msi_sender msi = { .alter = msi_fault };
	struct rescue_watch rw;
	struct pressure *pr = &rw.pr;
	struct prng prng;
	u64 t0, seed;
	bool rescue;
	int r;

	harness_prng(&prng);
	if (src == IPI_LOGICAL)
		TEST_REQUIRE(kvm_cpu_has(FEAT_X2APIC), "KVM offers no x2APIC");
	if (src == TIMER_TSCDL)
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_TSC_DEADLINE_TIMER) > 0,
			     "no KVM_CAP_TSC_DEADLINE_TIMER");
	wakeup_reset(src, rounds);
	rescue_watch_init(&rw);
	rw.on_rescue = fault_kick_rescue ? send_withheld : NULL;
	pressure_name(variant->pressure, pname, sizeof(pname));
	if (variant->halt_poll_ns)
		strcat(pname, "+halt_poll");
	g_pressure = pname;

	rescue = wakeup_vm_create(self, variant, src, rounds, &prng) &&
		 host_sees_accept(src);
	msi.vm = self->vm;
	msi.rounds = rounds;
	if (src == MSI_IRQFD)
		halt_msi_route_setup(&msi);

	t0 = now_ns();
	vm_threads_start(self->vm);
	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
		if (rescue)
			rescue &= rescue_watch_add(&rw, r, self->vm->vcpus[r],
						   &halt_rx[r].sent,
						   &halt_rx[r].deliv,
						   &halt_rx[r].recv);
		wake_watchdog_add(&wd, r, &halt_rx[r].sent, &halt_rx[r].recv);
	}
	wd.priv = self->vm;
	wake_watchdog_start(&wd);
	seed = prng_next(&prng);
	/* The baseline: no pressure yet. */
	if (host)
		halt_host_send_rounds(&msi, 1, HALT_BASE_ROUNDS, seed, deadline_ms);
	halt_wait_baseline(self->vm, deadline_ms);
	r = pressure_start(pr, self->vm, variant->pressure, why);
	if (r < 0) {
		wake_watchdog_stop(&wd);
		vm_threads_stop(self->vm);
		sched_require(r, why);
	}
	if (rescue)
		rescue_watch_arm(&rw);
	if (pr->note[0])
		test_log("pressure: %s", pr->note);
	WRITE_ONCE(halt_go, 1);
	if (host)
		halt_host_send_rounds(&msi, HALT_BASE_ROUNDS + 1, rounds, seed,
				      deadline_ms);
	halt_wait_rounds(self->vm, t0, deadline_ms);
	pressure_stop(pr);
	wake_watchdog_stop(&wd);
	vm_wait_done(self->vm, deadline_ms, "wakeup rounds");
	if (pr->note[0])
		test_log("pressure: %s", pr->note);
	test_log("pressure %s: migrations %llu kicks %llu yields %llu fifo bursts %llu; "
		 "%llu rounds per receiver in %.2f s", pname, pr->migrations,
		 pr->kicks, pr->yields, pr->fifo_bursts, rounds,
		 (now_ns() - t0) / 1e9);
	check_latency(_metadata, variant, src, rounds, pname);
	check_rescues(_metadata, src, &rw, rescue);
	check_counts(_metadata, self, variant, src, rounds);
	halt_msi_sender_close(&msi);
}

TEST_F(wakeup, ipi_physical) { run_wakeups(_metadata, self, variant, IPI_PHYS); }
TEST_F(wakeup, ipi_logical_x2apic) { run_wakeups(_metadata, self, variant, IPI_LOGICAL); }
TEST_F(wakeup, msi_signal) { run_wakeups(_metadata, self, variant, MSI_SIGNAL); }
TEST_F(wakeup, msi_irqfd) { run_wakeups(_metadata, self, variant, MSI_IRQFD); }
TEST_F(wakeup, timer_oneshot) { run_wakeups(_metadata, self, variant, TIMER_ONESHOT); }
TEST_F(wakeup, timer_tsc_deadline) { run_wakeups(_metadata, self, variant, TIMER_TSCDL); }

APICV_TEST_MAIN
