// SPDX-License-Identifier: GPL-2.0
/*
 * Wakeups of vCPUs blocked in "sti; hlt" while the host preempts, migrates
 * and kicks their threads. Senders: fixed IPIs (physical xAPIC, logical
 * x2APIC) from another vCPU, host MSIs (KVM_SIGNAL_MSI, irqfd through an
 * MSI route), the receiver's own LAPIC timer (one-shot, TSC deadline).
 *
 * One interrupt is in flight per receiver: the receiver announces round i
 * (armed = i) with IF=0, then halts until its handler has counted i. The
 * sender waits for armed >= i, bumps sent and sends. Checked:
 *  - per-vector counters: every interrupt received exactly once;
 *  - a watchdog per receiver: sent > recv for longer than the deadline
 *    fails with the receiver's full state, the pressure and the time since
 *    the send was first seen pending;
 *  - without host pressure, the median wakeup latency stays below
 *    WAKE_P50_LIMIT_US: a lost wakeup that something else repairs within
 *    the watchdog's deadline still fails;
 *  - with pressure or halt polling: the first BASE_ROUNDS rounds run
 *    before the pressure starts (a baseline, its median below
 *    WAKE_P50_LIMIT_US too); the rest's median stays below a bound drawn
 *    from that baseline (one pressure kind at a time; see check_latency);
 *  - under kick pressure, no wakeup is one only a host kick delivered (see
 *    "Rescue kicks": the kicks would otherwise hide a lost wakeup);
 *  - poll_window_wake_ends_poll: a wake event inside a grown halt-poll
 *    window ends the poll, it does not wait for the window's end;
 *  - no interrupt is taken inside the STI shadow (RIP on the HLT): that
 *    HLT would then sleep with nothing pending (seen under QEMU TCG nested
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
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness_main.h"
#include "known_bugs.h"
#include "host_sched.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/cpuid.h"

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
FAULT(vmm_withhold_msi, "vmm.msi.*", "was not in IRR after the send",
      "after immediate_exit the host withholds the MSI");
FAULT(vmm_stale_lapic, "vmm.ipi.*", "pending at pause, vCPU not woken",
      "the VMM restores the LAPIC saved before the IPI");
FAULT(expect_no_block, "wakeup.none.msi_irqfd", "want 0 (no receiver blocked)",
      "expect that no receiver ever blocked (halt_wakeup 0)");
FAULT(late_wakeup, "wakeup.[na]*.ipi_physical", "wake events that do not wake",
      "every wakeup before any pressure is reported 50 ms later than it came");
FAULT(late_wakeup_pressure, "wakeup.[!na]*.ipi_physical", "median wakeup under",
      "with pressure or polling on, every wakeup is reported 50 ms later");
FAULT(kick_rescue, "wakeup.[ka]*.msi_signal", "wakeups only a host kick delivered",
      "one MSI is counted as delivered but sent only when a kick finds the receiver asleep");

/*
 * Without host pressure the median wakeup must come within this: a wake
 * event that does not wake the blocked vCPU is noticed only at the next
 * unrelated wakeup (about every 100 ms in L1 under TCG: p50 104 ms with
 * KVM's kick of a blocked vCPU removed), so the watchdog alone misses it.
 * Measured on a correct KVM: p50 0.15 to 7.8 ms over 60 subtests under
 * QEMU TCG on 2 busy cores (6.1), below 1 ms under Bochs (kvm_intel).
 */
#define WAKE_P50_LIMIT_US	40000
/*
 * Each subtest first runs BASE_ROUNDS rounds per receiver before any
 * pressure starts (halt polling is on from the start): the same boot's,
 * same VM's baseline, whose median must stay below WAKE_P50_LIMIT_US too.
 * The rest runs under the variant's pressure, and its median must stay
 * below WAKE_BASE_FACTOR times the baseline's, within
 * [WAKE_P50_FLOOR_US, WAKE_PRESSURE_P50_CAP_US]: the floor for what the
 * pressure alone costs (p50 up to 21 ms with one kind of pressure, QEMU
 * TCG on 2 cores under heavy load, 6.12; with all of it on up to 64 ms, so
 * the all variants have no bound, see below), the cap well below what a wake event left to
 * an unrelated wakeup costs (about 100 ms, see above).
 */
#define BASE_ROUNDS			8
#define WAKE_BASE_FACTOR		10
#define WAKE_P50_FLOOR_US		35000
#define WAKE_PRESSURE_P50_CAP_US	50000

#define NR_VCPUS	3	/* vCPU 0 sends IPIs, 1..2 receive */
#define FIRST_RX	1
#define MAX_ROUNDS	4096

enum source { IPI_PHYS, IPI_LOGICAL, MSI_SIGNAL, MSI_IRQFD, TIMER_ONESHOT,
	      TIMER_TSCDL };
static const u8 src_vec[] = { 0x40, 0x41, 0x50, 0x51, 0x60, 0x61 };
static const char *const src_name[] = { "IPI physical", "IPI logical x2APIC",
	"KVM_SIGNAL_MSI", "irqfd MSI route", "LAPIC one-shot", "TSC deadline" };

struct rx {
	u64 armed, sent, recv, hlts;
	u64 send_tsc;		/* guest senders: rdtsc at send / expiry */
	u64 deliv;		/* round whose IPI / KVM_SIGNAL_MSI returned */
} __attribute__((aligned(64)));

static struct rx rx[NR_VCPUS];
static u64 vec_count[NR_VCPUS][256];
static u64 lat_tsc[NR_VCPUS][MAX_ROUNDS];
static u64 lat_host_ns[NR_VCPUS][MAX_ROUNDS];
static u64 g_rounds;
static u8 g_src;
static u64 g_started, g_nvcpus = NR_VCPUS;
static u64 g_go;		/* the host started the pressure phase */
static u64 shadow_hits[NR_VCPUS];
static bool g_shadow_quirk;	/* known_bugs.h: KNOWN_BUG_TCG_INT_SHADOW */

/*
 * Every vCPU enables its APIC before any round: an APIC map change kicks
 * (and counts a halt_wakeup on) every blocked vCPU, so none may happen once
 * receivers halt.
 */
static void start_barrier(void)
{
	__atomic_add_fetch(&g_started, 1, __ATOMIC_SEQ_CST);
	while (READ_ONCE(g_started) < g_nvcpus)
		cpu_relax();
}

/*
 * "sti; hlt" with a label on the HLT: an interrupt taken with RIP there
 * arrived inside the STI shadow, before HLT ran; the HLT that follows then
 * sleeps with nothing pending. Architecturally impossible: it fails.
 */
extern char wk_hlt_insn[];
static void __attribute__((noinline)) wk_sti_hlt(void)
{
	__asm__ __volatile__("sti\n\t.globl wk_hlt_insn\nwk_hlt_insn: hlt"
			     ::: "memory");
}

static void guest_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();
	u64 n = rx[id].recv, t = rdtsc(), s = READ_ONCE(rx[id].send_tsc);

	if (regs->rip == (u64)wk_hlt_insn) {
		GUEST_ASSERT(g_shadow_quirk,
			     "vector 0x%llx taken in the STI shadow before HLT on vCPU %u "
			     "(round %llu): that HLT would sleep with nothing pending",
			     regs->vector, id, n + 1);
		/* The emulator's quirk: count it, resume after the HLT. */
		shadow_hits[id]++;
		regs->rip++;
	}
	vec_count[id][regs->vector]++;
	/* Timers: same vCPU, same clock. IPIs: the sender measures. */
	if (n < MAX_ROUNDS && (g_src == TIMER_ONESHOT || g_src == TIMER_TSCDL))
		lat_tsc[id][n] = t > s ? t - s : 0;
	WRITE_ONCE(rx[id].recv, n + 1);
	apic_eoi();
}

/* Cheap per-round pseudo-random delays, reproducible from the seed. */
static u64 mix(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 33);
}

static void apic_mode_enable(void)
{
	if (g_src == IPI_LOGICAL)
		x2apic_enable();
	else
		xapic_enable();
}

static void arm_timer(u32 id, u64 i, u64 seed)
{
	/*
	 * Odd rounds race the expiry against the HLT exit (20-170 us); even
	 * rounds outlast a slow (TCG) HLT exit (300-600 us), so the vCPU
	 * surely blocks now and then and the wakeup path is exercised.
	 */
	u64 r = mix(seed + i * 7 + id);
	u64 us = (i & 1) ? 20 + r % 150 : 300 + r % 300;
	u64 cycles = us * guest_tsc_khz / 1000;

	WRITE_ONCE(rx[id].sent, i);
	if (g_src == TIMER_ONESHOT) {
		apic_write(APIC_TDCR, 0xb);		/* divide by 1 */
		apic_write(APIC_LVTT, src_vec[g_src]);
		WRITE_ONCE(rx[id].send_tsc, rdtsc() + cycles);
		apic_write(APIC_TMICT, us * 1000);	/* 1 GHz bus in KVM */
	} else {
		apic_write(APIC_LVTT, src_vec[g_src] | APIC_LVT_TIMER_TSCDEADLINE);
		WRITE_ONCE(rx[id].send_tsc, rdtsc() + cycles);
		wrmsr(MSR_IA32_TSC_DEADLINE, rx[id].send_tsc);
	}
}

static void guest_receiver(u64 rounds, u64 seed)
{
	u32 id = this_cpu_id();
	u8 vec = src_vec[g_src];
	u64 i;

	apic_mode_enable();
	start_barrier();
	cli();
	for (i = 1; i <= rounds; i++) {
		/* The baseline ends here; the host starts the pressure. */
		if (i == BASE_ROUNDS + 1)
			while (!READ_ONCE(g_go))
				cpu_relax();
		if (g_src == TIMER_ONESHOT || g_src == TIMER_TSCDL)
			arm_timer(id, i, seed);
		WRITE_ONCE(rx[id].armed, i);
		while (READ_ONCE(rx[id].recv) < i) {
			rx[id].hlts++;
			if (fault_cli_hlt && id == FIRST_RX && i == rounds / 2) {
				hlt();
			} else {
				wk_sti_hlt();
				cli();
			}
		}
		GUEST_ASSERT(READ_ONCE(rx[id].recv) == i,
			     "vCPU %u round %llu: %llu interrupts", id, i,
			     rx[id].recv);
	}
	GUEST_ASSERT_EQ(vec_count[id][vec], rounds);
}

static void guest_sender(u64 rounds, u64 seed)
{
	bool logical = g_src == IPI_LOGICAL;
	u64 i;
	u32 r;

	apic_mode_enable();
	start_barrier();
	if (g_src != IPI_PHYS && g_src != IPI_LOGICAL)
		return;
	for (i = 1; i <= rounds; i++)
		for (r = FIRST_RX; r < NR_VCPUS; r++) {
			while (READ_ONCE(rx[r].armed) < i)
				cpu_relax();
			guest_udelay(mix(seed + i * 13 + r) % 100);
			WRITE_ONCE(rx[r].send_tsc, rdtsc());
			WRITE_ONCE(rx[r].sent, i);
			if (fault_skip_one_ipi && r == FIRST_RX &&
			    i == rounds / 2)
				continue;
			apic_icr_write(logical ? x2apic_logical_id(r) : r,
				       APIC_DM_FIXED | APIC_INT_ASSERT |
				       (logical ? APIC_DEST_LOGICAL : 0) |
				       src_vec[g_src]);
			/* The ICR write exited: KVM has accepted the IPI. */
			WRITE_ONCE(rx[r].deliv, i);
			/* Latency on the sender's clock: send to handled. */
			while (READ_ONCE(rx[r].recv) < i)
				cpu_relax();
			if (i <= MAX_ROUNDS)
				lat_tsc[r][i - 1] = rdtsc() - rx[r].send_tsc;
		}
}

/* --- host --- */

struct watchdog {
	struct kvm_vm *vm;
	const char *pressure;
	u64 deadline_ms;
	volatile bool stop;
	pthread_t thread;
};

static void __noreturn watchdog_fire(struct watchdog *w, int r, u64 pending_ms)
{
	struct kvm_vcpu *v = w->vm->vcpus[r];
	struct kvm_lapic_state s;
	u8 vec = src_vec[g_src];
	u32 mp;
	bool in_irr;

	printf("# watchdog: vcpu %d sent %llu received %llu, pending for >= %llu ms "
	       "(source %s, pressure %s)\n", r, READ_ONCE(rx[r].sent),
	       READ_ONCE(rx[r].recv), pending_ms, src_name[g_src], w->pressure);
	vcpu_thread_stop(v);
	vcpu_dump(v, "receiver past the wakeup deadline");
	vcpu_lapic_get(v, &s);
	mp = vcpu_mp_state(v);
	in_irr = lapic_state_vec_test(&s, APIC_IRR, vec);
	TEST_FAIL("vcpu %d %s with vector 0x%x %s, %llu ms after the send "
		  "(pressure %s, source %s)", r,
		  mp == KVM_MP_STATE_HALTED ? "still HALTED" : "not woken",
		  vec, in_irr ? "pending in IRR" : "not in IRR (never delivered)",
		  pending_ms, w->pressure, src_name[g_src]);
}

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	u64 seen_sent[NR_VCPUS] = { 0 }, since[NR_VCPUS] = { 0 };
	int r;

	while (!READ_ONCE(w->stop)) {
		u64 now = now_ns();

		for (r = FIRST_RX; r < NR_VCPUS; r++) {
			u64 sent = READ_ONCE(rx[r].sent);

			if (READ_ONCE(rx[r].recv) >= sent) {
				since[r] = 0;
				continue;
			}
			if (!since[r] || seen_sent[r] != sent) {
				since[r] = now;
				seen_sent[r] = sent;
			} else if (now - since[r] > w->deadline_ms * 1000000) {
				watchdog_fire(w, r, (now - since[r]) / 1000000);
			}
		}
		usleep(5000);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Logs p50/p99/max in us over every receiver's rounds [from, to) (0-based),
 * each sample plus @add_us (negative controls); returns p50.
 */
static u64 latency_report(const char *what, bool host, u64 from, u64 to,
			  u64 add_us)
{
	static u64 all[NR_VCPUS * MAX_ROUNDS];
	u64 n = 0, i;
	int r;

	for (r = FIRST_RX; r < NR_VCPUS; r++)
		for (i = from; i < to && i < MAX_ROUNDS; i++)
			all[n++] = (host ? lat_host_ns[r][i] / 1000 :
				    guest_tsc_to_us(lat_tsc[r][i])) + add_us;
	if (!n)
		return 0;
	qsort(all, n, sizeof(all[0]), cmp_u64);
	test_log("%s: %llu wakeups; latency %s us: p50 %llu p99 %llu max %llu",
		 what, n, host ? "(host clock, send to handler seen)" :
				 "(guest TSC, send/expiry to handler)",
		 all[n / 2], all[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
		 all[n - 1]);
	return all[n / 2];
}

/*
 * Rescue kicks. Kick pressure signals every vCPU thread every 300 us, and
 * a signal ends kvm_vcpu_block: KVM then finds the pending interrupt and
 * enters the guest. So a wake event that KVM forgot to turn into a wakeup
 * is repaired within a kick period, and neither the watchdog nor the
 * latency bound sees it. The kick thread therefore looks, right before
 * each kick of a receiver, at what the kick is about to end: a receiver
 * whose IPI or KVM_SIGNAL_MSI has returned (KVM has accepted it: rx.deliv)
 * and not been taken, and whose thread sleeps in kvm_vcpu_block (the
 * 'blocking' statistic is 1 and the thread's state is S, read twice around
 * a second look at the count). A correct KVM makes the thread runnable
 * before the ICR write or the ioctl returns, and a woken thread reads R
 * however long it waits for a CPU. Such a receiver is not kicked for
 * RESCUE_HOLD_MS; still asleep with the same interrupt pending then, its
 * wakeup is one only a kick delivers: it is counted, then kicked. (A
 * correct 6.12 once showed such a sighting without the hold, all_poll,
 * one in about 70 MSIs; with it, a sighting on 6.1 cleared by itself
 * within the hold. KVM with no kick for a blocked vCPU: 6 to 20 counted
 * per subtest.) Not checked:
 * irqfd MSIs (the injection may be deferred to a work item after write()
 * returns) and timers (the host does not know when the L1 hrtimer fired).
 */
#define RESCUE_HOLD_MS	20

static int rx_tid[NR_VCPUS];
static u64 rescues[NR_VCPUS], rescue_round[NR_VCPUS], rescue_seen[NR_VCPUS];
static u64 held_round[NR_VCPUS], held_since[NR_VCPUS], held[NR_VCPUS];
static u64 withheld[NR_VCPUS];	/* fault_kick_rescue: the MSI not yet sent */
static struct kvm_vm *g_vm;

static void msi_signal_send(struct kvm_vm *vm, int r)
{
	struct kvm_msi msi = {
		.address_lo = APIC_DEFAULT_BASE | (r << 12),
		.data = src_vec[MSI_SIGNAL],
	};
	int ret = __vm_ioctl(vm, KVM_SIGNAL_MSI, &msi);

	TEST_ASSERT(ret > 0, "KVM_SIGNAL_MSI to vcpu %d returned %d", r, ret);
}

static bool rx_asleep(int r)
{
	u64 blk;

	return stats_read(g_vm->vcpus[r]->stats, "blocking", &blk) && blk &&
	       thread_state(rx_tid[r]) == 'S';
}

static bool rescue_check(struct pressure *p, int r)
{
	u64 s, d;

	(void)p;
	if (r < FIRST_RX || rx_tid[r] <= 0)
		return true;
	s = READ_ONCE(rx[r].sent);
	d = READ_ONCE(rx[r].deliv);
	if (!s || d != s || READ_ONCE(rx[r].recv) >= s)
		return true;
	rescue_seen[r]++;
	if (!rx_asleep(r) || READ_ONCE(rx[r].recv) >= s || !rx_asleep(r) ||
	    READ_ONCE(rx[r].recv) >= s) {
		held_round[r] = 0;
		return true;
	}
	if (held_round[r] != s) {
		held_round[r] = s;
		held_since[r] = now_ns();
		held[r]++;
		return false;
	}
	if (now_ns() - held_since[r] < RESCUE_HOLD_MS * 1000000ull)
		return false;
	held_round[r] = 0;
	if (!rescues[r]++)
		rescue_round[r] = s;
	if (READ_ONCE(withheld[r]) == s) {
		WRITE_ONCE(withheld[r], 0);
		msi_signal_send(g_vm, r);
	}
	return true;
}

struct msi_sender {
	struct kvm_vm *vm;
	int efd[NR_VCPUS];
};

static void msi_route_setup(struct msi_sender *m)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[NR_VCPUS];
	} rt = { 0 };
	int r;

	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		struct kvm_irq_routing_entry *e = &rt.e[rt.hdr.nr++];
		struct kvm_irqfd fd = { .gsi = 40 + r };

		e->gsi = 40 + r;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = APIC_DEFAULT_BASE | (r << 12);
		e->u.msi.data = src_vec[MSI_IRQFD];
		m->efd[r] = eventfd(0, EFD_CLOEXEC);
		TEST_ASSERT(m->efd[r] >= 0, "eventfd failed");
		fd.fd = m->efd[r];
		(void)fd;
	}
	vm_ioctl(m->vm, KVM_SET_GSI_ROUTING, &rt);
	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		struct kvm_irqfd fd = { .fd = m->efd[r], .gsi = 40 + r };

		vm_ioctl(m->vm, KVM_IRQFD, &fd);
	}
}

static void msi_send(struct msi_sender *m, int r)
{
	if (g_src == MSI_SIGNAL) {
		msi_signal_send(m->vm, r);
		WRITE_ONCE(rx[r].deliv, READ_ONCE(rx[r].sent));
	} else {
		u64 one = 1;

		TEST_ASSERT(write(m->efd[r], &one, 8) == 8, "eventfd write");
	}
}

/* The host as sender: one MSI per receiver per round, rounds from..to. */
static void host_send_rounds(struct msi_sender *m, u64 from, u64 to,
			     u64 rounds, u64 seed, u64 deadline_ms)
{
	u64 i, t0;
	int r;

	for (i = from; i <= to; i++)
		for (r = FIRST_RX; r < NR_VCPUS; r++) {
			t0 = now_ns();
			while (READ_ONCE(rx[r].armed) < i) {
				if (now_ns() - t0 > deadline_ms * 1000000) {
					vcpu_thread_stop(m->vm->vcpus[r]);
					vcpu_dump(m->vm->vcpus[r], "never armed");
					TEST_FAIL("vcpu %d never armed round %llu "
						  "(received %llu)", r, i,
						  READ_ONCE(rx[r].recv));
				}
				usleep(10);
			}
			usleep(mix(seed + i * 13 + r) % 100);
			WRITE_ONCE(rx[r].sent, i);
			t0 = now_ns();
			if (fault_kick_rescue && r == FIRST_RX &&
			    i == rounds / 2) {
				/* Claimed delivered; the kick hook sends it. */
				WRITE_ONCE(withheld[r], i);
				WRITE_ONCE(rx[r].deliv, i);
			} else if (!(fault_withhold_msi && r == FIRST_RX &&
				     i == rounds / 2)) {
				msi_send(m, r);
			}
			while (READ_ONCE(rx[r].recv) < i &&
			       now_ns() - t0 < 2 * deadline_ms * 1000000)
				usleep(10);
			lat_host_ns[r][i - 1] = now_ns() - t0;
		}
}

/* KVM emulates the TSC deadline timer but leaves the CPUID bit to us. */
static void tsc_deadline_enable(struct kvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(vcpu->cpuid, 1, 0);

	TEST_ASSERT(e, "no CPUID leaf 1");
	e->ecx |= BIT(24);
	vcpu_cpuid_apply(vcpu);
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

/* Waits until every receiver took its baseline rounds; fails past 5 deadlines. */
static void wait_baseline(struct kvm_vm *vm, u64 deadline_ms)
{
	u64 t0 = now_ns();
	int r;

	for (r = FIRST_RX; r < NR_VCPUS; r++)
		while (READ_ONCE(rx[r].recv) < BASE_ROUNDS) {
			if (now_ns() - t0 > 5 * deadline_ms * 1000000ull) {
				vcpu_thread_stop(vm->vcpus[r]);
				vcpu_dump(vm->vcpus[r], "baseline rounds");
				TEST_FAIL("vcpu %d took %llu of %d baseline rounds",
					  r, READ_ONCE(rx[r].recv), BASE_ROUNDS);
			}
			usleep(200);
		}
}

/* Waits for every vCPU's DONE, pressure still on; 5 deadlines at most. */
static void wait_rounds(struct kvm_vm *vm, u64 t0, u64 deadline_ms)
{
	int r, i;

	for (;;) {
		bool all = true;

		for (i = 0; i < NR_VCPUS; i++)
			all &= READ_ONCE(vm->vcpus[i]->done) ||
			       !vm->vcpus[i]->thread_started;
		if (all)
			return;
		if (now_ns() - t0 > 5 * deadline_ms * 1000000ull) {
			for (r = FIRST_RX; r < NR_VCPUS; r++)
				test_log("vcpu %d: armed %llu sent %llu recv %llu hlts %llu",
					 r, rx[r].armed, rx[r].sent, rx[r].recv,
					 rx[r].hlts);
			return;
		}
		usleep(2000);
	}
}

/*
 * The latency bounds. Without pressure or polling: the median over every
 * round below WAKE_P50_LIMIT_US. Otherwise the baseline rounds' median
 * below it too, and the rest's below the bound the baseline gives.
 */
static void check_latency(struct __test_metadata *_metadata,
			  const FIXTURE_VARIANT(wakeup) *variant,
			  enum source src, u64 rounds, const char *pname)
{
	bool host = src == MSI_SIGNAL || src == MSI_IRQFD;
	u64 base, p50, limit;
	char what[96];

	if (!variant->pressure && !variant->halt_poll_ns) {
		p50 = latency_report(src_name[src], host, 0, rounds,
				     fault_late_wakeup ? 50000 : 0);
		EXPECT_GT(WAKE_P50_LIMIT_US, p50) {
			TH_LOG("median wakeup %llu us, above %u us: wake events that do not wake",
			       p50, WAKE_P50_LIMIT_US);
		}
		return;
	}
	snprintf(what, sizeof(what), "%s, baseline (no pressure)",
		 src_name[src]);
	base = latency_report(what, host, 0, BASE_ROUNDS,
			      fault_late_wakeup ? 50000 : 0);
	snprintf(what, sizeof(what), "%s, %s", src_name[src], pname);
	p50 = latency_report(what, host, BASE_ROUNDS, rounds,
			     fault_late_wakeup_pressure ? 50000 : 0);
	limit = base * WAKE_BASE_FACTOR;
	limit = limit < WAKE_P50_FLOOR_US ? WAKE_P50_FLOOR_US :
		limit > WAKE_PRESSURE_P50_CAP_US ? WAKE_PRESSURE_P50_CAP_US :
		limit;
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

static void check_rescues(struct __test_metadata *_metadata, enum source src,
			  const struct pressure *pr, bool armed)
{
	u64 seen = 0, total = 0, holds = 0;
	int r;

	if (!(pr->kinds & PRESSURE_KICK))
		return;
	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		seen += rescue_seen[r];
		holds += held[r];
	}
	if (!armed) {
		test_log("rescue kicks: not checked for %s (%s)", src_name[src],
			 rx_tid[FIRST_RX] < 0 ? "no 'blocking' statistic or thread id" :
			 "the host does not know when KVM accepted it");
		return;
	}
	test_log("rescue kicks: %llu kicks found a delivered %s not yet taken, "
		 "%llu of them its receiver asleep (kicks then held %d ms)",
		 seen, src_name[src], holds, RESCUE_HOLD_MS);
	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		if (!rescues[r])
			continue;
		test_log("vcpu %d: %llu wakeups only a host kick delivered "
			 "(first in round %llu): KVM had accepted the %s, the "
			 "vCPU slept on in kvm_vcpu_block until the signal",
			 r, rescues[r], rescue_round[r], src_name[src]);
		total += rescues[r];
	}
	EXPECT_EQ(0, total) {
		TH_LOG("%llu wakeups only a host kick delivered: lost wakeups",
		       total);
	}
}

static void check_counts(struct __test_metadata *_metadata,
			 FIXTURE_DATA(wakeup) *self,
			 const FIXTURE_VARIANT(wakeup) *variant, enum source src,
			 u64 rounds)
{
	u64 hlts = 0, exits = 0, wakeups = 0, polls = 0, apolls = 0, v;
	u64 shadows = 0;
	int r, i;

	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		struct kvm_vcpu *vc = self->vm->vcpus[r];
		u64 want = rounds + (fault_extra_wakeup ? 1 : 0);

		EXPECT_EQ(want, vec_count[r][src_vec[src]]) {
			TH_LOG("vcpu %d: %llu interrupts on the wakeup vector, want %llu",
			       r, vec_count[r][src_vec[src]], want);
		}
		for (i = 0; i < 256; i++)
			if (i != src_vec[src])
				EXPECT_EQ(0, vec_count[r][i]);
		EXPECT_EQ(rounds, rx[r].recv);
		hlts += rx[r].hlts - shadow_hits[r];
		shadows += shadow_hits[r];
		exits += vcpu_stat(vc, "halt_exits");
		v = vcpu_stat(vc, "halt_wakeup");
		wakeups += v;
		if (vcpu_stat_try(vc, "halt_successful_poll", &v))
			polls += v;
		if (vcpu_stat_try(vc, "halt_attempted_poll", &v))
			apolls += v;
	}
	if (shadows) {
		test_log("%llu interrupts taken in the STI shadow, HLT skipped: %s",
			 shadows, known_bug_describe(KNOWN_BUG_TCG_INT_SHADOW));
		/* A quirk is rare; a KVM that ignores the shadow is not. */
		EXPECT_GE(known_bug_tolerance(KNOWN_BUG_TCG_INT_SHADOW, rounds),
			  shadows);
	}
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

static void run_wakeups(struct __test_metadata *_metadata,
			FIXTURE_DATA(wakeup) *self,
			const FIXTURE_VARIANT(wakeup) *variant, enum source src)
{
	u64 rounds = profile_pick(25, 2000), deadline_ms = profile_pick(3000, 5000);
	struct msi_sender msi = { 0 };
	struct watchdog wd = { .deadline_ms = deadline_ms };
	char why[SCHED_WHY_LEN] = "", pname[64];
	bool host = src == MSI_SIGNAL || src == MSI_IRQFD;
	bool rescue = src == IPI_PHYS || src == IPI_LOGICAL || src == MSI_SIGNAL;
	u64 t0, seed, v;
	struct pressure pr;
	struct prng prng;
	int r;

	harness_prng(&prng);
	if (src == IPI_LOGICAL)
		TEST_REQUIRE(kvm_cpu_has(FEAT_X2APIC), "KVM offers no x2APIC");
	if (src == TIMER_TSCDL)
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_TSC_DEADLINE_TIMER) > 0,
			     "no KVM_CAP_TSC_DEADLINE_TIMER");
	memset(rx, 0, sizeof(rx));
	memset(vec_count, 0, sizeof(vec_count));
	memset(lat_tsc, 0, sizeof(lat_tsc));
	memset(lat_host_ns, 0, sizeof(lat_host_ns));
	memset(shadow_hits, 0, sizeof(shadow_hits));
	memset(rescues, 0, sizeof(rescues));
	memset(rescue_seen, 0, sizeof(rescue_seen));
	memset(withheld, 0, sizeof(withheld));
	memset(held_round, 0, sizeof(held_round));
	memset(held, 0, sizeof(held));
	g_shadow_quirk = known_bug_expected(KNOWN_BUG_TCG_INT_SHADOW);
	g_rounds = rounds;
	g_started = 0;
	g_go = 0;
	g_src = src;
	pressure_name(variant->pressure, pname, sizeof(pname));
	if (variant->halt_poll_ns)
		strcat(pname, "+halt_poll");

	self->vm = g_vm = vm_create(IRQCHIP_KERNEL);
	if (variant->no_hlt_exits)
		sched_require(vm_disable_hlt_exits(self->vm, why), why);
	sched_require(vm_set_halt_poll_ns(self->vm, variant->halt_poll_ns, why),
		      why);
	vm_add_vcpu(self->vm, 0, guest_sender);
	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		struct kvm_vcpu *vc = vm_add_vcpu(self->vm, r, guest_receiver);

		if (src == TIMER_TSCDL)
			tsc_deadline_enable(vc);
		/* Opens the stats fd now: the kick thread reads it. */
		if (!vcpu_stat_try(vc, "blocking", &v))
			rescue = false;
	}
	for (r = 0; r < NR_VCPUS; r++)
		vcpu_args_set(self->vm->vcpus[r], rounds, prng_next(&prng));
	vm_install_handler(self->vm, src_vec[src], guest_handler);
	if (host) {
		msi.vm = self->vm;
		if (src == MSI_IRQFD)
			msi_route_setup(&msi);
	}

	t0 = now_ns();
	vm_threads_start(self->vm);
	for (r = FIRST_RX; r < NR_VCPUS; r++) {
		rx_tid[r] = thread_tid(self->vm->vcpus[r]->thread);
		rescue &= rx_tid[r] > 0;
	}
	wd.vm = self->vm;
	wd.pressure = pname;
	ASSERT_EQ(0, pthread_create(&wd.thread, NULL, watchdog_main, &wd));
	seed = prng_next(&prng);
	/* The baseline: no pressure yet. */
	if (host)
		host_send_rounds(&msi, 1, BASE_ROUNDS, rounds, seed, deadline_ms);
	wait_baseline(self->vm, deadline_ms);
	r = pressure_start(&pr, self->vm, variant->pressure, why);
	if (r < 0) {
		WRITE_ONCE(wd.stop, true);
		pthread_join(wd.thread, NULL);
		vm_threads_stop(self->vm);
		sched_require(r, why);
	}
	if (rescue)
		WRITE_ONCE(pr.pre_kick, rescue_check);
	if (pr.note[0])
		test_log("pressure: %s", pr.note);
	WRITE_ONCE(g_go, 1);
	if (host)
		host_send_rounds(&msi, BASE_ROUNDS + 1, rounds, rounds, seed,
				 deadline_ms);
	wait_rounds(self->vm, t0, deadline_ms);
	pressure_stop(&pr);
	WRITE_ONCE(wd.stop, true);
	pthread_join(wd.thread, NULL);
	vm_wait_done(self->vm, deadline_ms, "wakeup rounds");
	if (pr.note[0])
		test_log("pressure: %s", pr.note);
	test_log("pressure %s: migrations %llu kicks %llu yields %llu fifo bursts %llu; "
		 "%llu rounds per receiver in %.2f s", pname, pr.migrations,
		 pr.kicks, pr.yields, pr.fifo_bursts, rounds,
		 (now_ns() - t0) / 1e9);
	check_latency(_metadata, variant, src, rounds, pname);
	check_rescues(_metadata, src, &pr, rescue);
	check_counts(_metadata, self, variant, src, rounds);
	for (r = FIRST_RX; r < NR_VCPUS; r++)
		if (msi.efd[r] > 0)
			close(msi.efd[r]);
}

TEST_F(wakeup, ipi_physical) { run_wakeups(_metadata, self, variant, IPI_PHYS); }
TEST_F(wakeup, ipi_logical_x2apic) { run_wakeups(_metadata, self, variant, IPI_LOGICAL); }
TEST_F(wakeup, msi_signal) { run_wakeups(_metadata, self, variant, MSI_SIGNAL); }
TEST_F(wakeup, msi_irqfd) { run_wakeups(_metadata, self, variant, MSI_IRQFD); }
TEST_F(wakeup, timer_oneshot) { run_wakeups(_metadata, self, variant, TIMER_ONESHOT); }
TEST_F(wakeup, timer_tsc_deadline) { run_wakeups(_metadata, self, variant, TIMER_TSCDL); }

/*
 * Halt polling ends when the wake event comes. With a per-VM halt-poll
 * limit (KVM_CAP_HALT_POLL) of POLL_MAX_NS, the vCPU's poll window starts
 * small (10 us) and doubles after every halt that outlasted it: the
 * growth rounds wake the receiver later and later (twice its current
 * window each time) until the window is about POLL_GROW_TO_US. Then, in
 * each test round, the host sends a KVM_SIGNAL_MSI POLL_SEND_AFTER_US
 * after the receiver halted, inside that window, and times it to the
 * handler. A correct KVM shows the delivery alone: p50 3 to 4 ms under
 * TCG on 2 busy cores (6.1, 6.12). A poll loop that checks for wake events
 * only once it stops (a patched 6.1) showed p50 76 ms with an 82 ms
 * window and 83 ms with a 328 ms one: the poll then ends at the window's
 * end or when another task wants the CPU, in L1 about every 80 ms. The
 * median must stay below WAKE_P50_LIMIT_US.
 */
#define POLL_MAX_NS		400000000u
#define POLL_GROW_TO_US		80000
#define POLL_SEND_AFTER_US	2000
#define POLL_TEST_ROUNDS	9
#define POLL_P50_LIMIT_US	WAKE_P50_LIMIT_US

FAULT(poll_late_wake, "*poll_window_wake_ends_poll", "poll window: median wakeup",
      "in the test rounds the host sends each MSI 50 ms after it starts the clock");

static u64 poll_round(struct kvm_vm *vm, u64 i, u64 delay_us, u64 late_us,
		      u64 deadline_ms)
{
	u64 t0 = now_ns();

	while (READ_ONCE(rx[FIRST_RX].armed) < i)
		if (now_ns() - t0 > deadline_ms * 1000000ull)
			TEST_FAIL("vcpu 1 never armed round %llu", i);
		else
			usleep(20);
	usleep(delay_us);
	WRITE_ONCE(rx[FIRST_RX].sent, i);
	t0 = now_ns();
	if (late_us)
		usleep(late_us);
	msi_signal_send(vm, FIRST_RX);
	/* Sleeps: an idle CPU costs the emulator nothing. */
	while (READ_ONCE(rx[FIRST_RX].recv) < i) {
		if (now_ns() - t0 > deadline_ms * 1000000ull) {
			vcpu_thread_stop(vm->vcpus[FIRST_RX]);
			vcpu_dump(vm->vcpus[FIRST_RX], "not woken in the poll test");
			TEST_FAIL("round %llu: MSI not taken in %llu ms", i,
				  deadline_ms);
		}
		usleep(20);
	}
	return (now_ns() - t0) / 1000;
}

TEST(poll_window_wake_ends_poll)
{
	u64 deadline_ms = 3000, i, grow, win_us, lat[POLL_TEST_ROUNDS];
	u64 ap0, sp0, ap1, sp1, p50;
	char why[SCHED_WHY_LEN] = "";
	struct kvm_vcpu *rxv;
	struct kvm_vm *vm;

	memset(rx, 0, sizeof(rx));
	memset(vec_count, 0, sizeof(vec_count));
	g_src = MSI_SIGNAL;
	g_started = 0;
	g_go = 1;
	g_nvcpus = 2;
	TEST_REQUIRE(host_cpu_count() >= 2, "the polling vCPU needs a CPU of "
		     "its own: this process may use %d", host_cpu_count());
	vm = g_vm = vm_create(IRQCHIP_KERNEL);
	sched_require(vm_set_halt_poll_ns(vm, POLL_MAX_NS, why), why);
	vm_add_vcpu(vm, 0, guest_sender);
	rxv = vm_add_vcpu(vm, FIRST_RX, guest_receiver);
	/* Growth rounds: the window doubles from 10 us, the default start. */
	for (grow = 0, win_us = 10; win_us < POLL_GROW_TO_US; win_us *= 2)
		grow++;
	vcpu_args_set(rxv, grow + 1 + POLL_TEST_ROUNDS, 0);
	vm_install_handler(vm, src_vec[MSI_SIGNAL], guest_handler);
	TEST_REQUIRE(vcpu_stat_try(rxv, "halt_attempted_poll", &ap0),
		     "no halt_attempted_poll statistic");
	vm_threads_start(vm);
	/*
	 * The receiver alone on its CPU: KVM stops polling when another task
	 * wants that CPU (the host thread waking up to send, say), and the
	 * vCPU then blocks and takes the ordinary wakeup path.
	 */
	sched_require(sched_pin_thread_cpu(rxv->thread, host_cpu_nth(1), why),
		      why);
	sched_require(sched_pin_thread_cpu(pthread_self(), host_cpu_nth(0), why),
		      why);
	for (i = 1, win_us = 10; i <= grow + 1; i++, win_us *= 2)
		poll_round(vm, i, win_us < 1000 ? 1000 : win_us, 0,
			   deadline_ms);
	ap0 = vcpu_stat(rxv, "halt_attempted_poll");
	sp0 = vcpu_stat(rxv, "halt_successful_poll");
	for (i = 0; i < POLL_TEST_ROUNDS; i++)
		lat[i] = poll_round(vm, grow + 2 + i, POLL_SEND_AFTER_US,
				    fault_poll_late_wake ? 50000 : 0,
				    deadline_ms);
	vm_wait_done(vm, deadline_ms, "poll rounds");
	ap1 = vcpu_stat(rxv, "halt_attempted_poll");
	sp1 = vcpu_stat(rxv, "halt_successful_poll");
	qsort(lat, POLL_TEST_ROUNDS, sizeof(lat[0]), cmp_u64);
	p50 = lat[POLL_TEST_ROUNDS / 2];
	test_log("poll window grown over %llu rounds to about %llu us; %d MSIs "
		 "%d us into it: %llu polls, %llu ended by the wake; latency us "
		 "(host clock) p50 %llu max %llu", grow + 1, win_us / 2,
		 POLL_TEST_ROUNDS, POLL_SEND_AFTER_US, ap1 - ap0, sp1 - sp0,
		 p50, lat[POLL_TEST_ROUNDS - 1]);
	EXPECT_GT(POLL_P50_LIMIT_US, p50) {
		TH_LOG("poll window: median wakeup %llu us, above %u us, with "
		       "the wake %u us into a window of about %llu us: the poll "
		       "did not end at the wake event", p50, POLL_P50_LIMIT_US,
		       POLL_SEND_AFTER_US, win_us / 2);
	}
	EXPECT_EQ(grow + 1 + POLL_TEST_ROUNDS,
		  vec_count[FIRST_RX][src_vec[MSI_SIGNAL]]);
	vm_free(vm);
	/*
	 * Not vacuous: the test rounds' halts polled and the wake ended them
	 * (a KVM that lets the poll run out fails above first).
	 */
	if (p50 < POLL_P50_LIMIT_US)
		TEST_REQUIRE(sp1 - sp0 >= POLL_TEST_ROUNDS / 2,
		     "only %llu of %d halts ended in a successful poll (%llu "
		     "polled): KVM aborted the polls (another task on the CPU?)",
		     sp1 - sp0, POLL_TEST_ROUNDS, ap1 - ap0);
}

/*
 * What a VMM does on pause or migration, around a halted vCPU: stop its
 * thread (immediate_exit + signal), read mp_state (HALTED) and the LAPIC,
 * deliver an interrupt while the vCPU is out of KVM_RUN, run KVM_RUN once
 * with immediate_exit (it must return EINTR without running), restore the
 * LAPIC and mp_state, resume: the pending interrupt must wake the vCPU.
 */
static u64 ipi_req, ipi_done;
#define IPI_REQ_STOP (~0ull)

static void guest_vmm_sender(void)
{
	u64 seen = 0;

	xapic_enable();
	start_barrier();
	for (;;) {
		u64 req;

		while ((req = READ_ONCE(ipi_req)) == seen)
			cpu_relax();
		if (req == IPI_REQ_STOP)
			return;
		seen = req;
		apic_icr_write(FIRST_RX, APIC_DM_FIXED | APIC_INT_ASSERT |
					 src_vec[IPI_PHYS]);
		WRITE_ONCE(ipi_done, seen);
	}
}

FIXTURE(vmm) {
	struct kvm_vm *vm;
};
FIXTURE_VARIANT(vmm) {
	enum source src;
};
FIXTURE_VARIANT_ADD(vmm, ipi) { .src = IPI_PHYS };
FIXTURE_VARIANT_ADD(vmm, msi) { .src = MSI_SIGNAL };
FIXTURE_SETUP(vmm) { self->vm = NULL; }
FIXTURE_TEARDOWN(vmm)
{
	WRITE_ONCE(ipi_req, IPI_REQ_STOP);
	vm_free(self->vm);
}

static bool wait_until(volatile u64 *p, u64 v, u64 ms)
{
	u64 t0 = now_ns();

	while (*p < v)
		if (now_ns() - t0 > ms * 1000000)
			return false;
		else
			usleep(20);
	return true;
}

TEST_F(vmm, pause_resume_keeps_wakeup)
{
	u64 rounds = profile_pick(8, 200), deadline_ms = 3000, i, blk, t0;
	struct kvm_lapic_state before, after;
	char why[SCHED_WHY_LEN];
	struct kvm_vcpu *rxv;
	u8 vec = src_vec[variant->src];
	int ret;

	memset(rx, 0, sizeof(rx));
	memset(vec_count, 0, sizeof(vec_count));
	g_src = variant->src;
	g_started = 0;
	g_go = 1;
	g_nvcpus = 2;
	ipi_req = ipi_done = 0;
	self->vm = vm_create(IRQCHIP_KERNEL);
	sched_require(vm_set_halt_poll_ns(self->vm, 0, why), why);
	vm_add_vcpu(self->vm, 0, guest_vmm_sender);
	rxv = vm_add_vcpu(self->vm, FIRST_RX, guest_receiver);
	vcpu_args_set(rxv, rounds, 0);
	vm_install_handler(self->vm, vec, guest_handler);
	vm_threads_start(self->vm);

	for (i = 1; i <= rounds; i++) {
		ASSERT_TRUE(wait_until(&rx[FIRST_RX].armed, i, deadline_ms));
		/* Let it block in the kernel (the 'blocking' stat says so). */
		t0 = now_ns();
		while (vcpu_stat_try(rxv, "blocking", &blk) && !blk &&
		       now_ns() - t0 < deadline_ms * 1000000ull)
			usleep(50);
		usleep(200);
		vcpu_thread_stop(rxv);
		ASSERT_EQ(KVM_MP_STATE_HALTED, vcpu_mp_state(rxv));
		vcpu_lapic_get(rxv, &before);

		WRITE_ONCE(rx[FIRST_RX].sent, i);
		if (variant->src == IPI_PHYS) {
			WRITE_ONCE(ipi_req, i);
			ASSERT_TRUE(wait_until(&ipi_done, i, deadline_ms));
		} else if (!(fault_vmm_withhold_msi && i == rounds / 2)) {
			struct kvm_msi msi = {
				.address_lo = APIC_DEFAULT_BASE | (FIRST_RX << 12),
				.data = vec,
			};

			ASSERT_LT(0, __vm_ioctl(self->vm, KVM_SIGNAL_MSI, &msi));
		}
		/* Out of KVM_RUN: the interrupt waits in IRR, vCPU halted. */
		rxv->run->immediate_exit = 1;
		ret = __vcpu_ioctl(rxv, KVM_RUN, NULL);
		rxv->run->immediate_exit = 0;
		ASSERT_EQ(-1, ret);
		ASSERT_EQ(EINTR, errno);
		vcpu_lapic_get(rxv, &after);
		EXPECT_EQ(KVM_MP_STATE_HALTED, vcpu_mp_state(rxv));
		/* Save and restore, as a migration would. */
		vcpu_lapic_set(rxv, fault_vmm_stale_lapic && i == rounds / 2 ?
			       &before : &after);
		vcpu_set_mp_state(rxv, KVM_MP_STATE_HALTED);
		vcpu_thread_start(rxv);
		if (!wait_until(&rx[FIRST_RX].recv, i, deadline_ms)) {
			vcpu_thread_stop(rxv);
			vcpu_dump(rxv, "not woken after resume");
			ASSERT_TRUE(lapic_state_vec_test(&after, APIC_IRR, vec)) {
				TH_LOG("vector 0x%x was not in IRR after the send",
				       vec);
			}
			ASSERT_TRUE(false) {
				TH_LOG("round %llu: interrupt 0x%x pending at pause, "
				       "vCPU not woken %llu ms after resume",
				       i, vec, deadline_ms);
			}
		}
	}
	WRITE_ONCE(ipi_req, IPI_REQ_STOP);
	vm_wait_done(self->vm, deadline_ms, "pause/resume rounds");
	EXPECT_EQ(rounds, vec_count[FIRST_RX][vec]);
	test_log("%llu pause/save/restore/resume cycles, each woken by a %s "
		 "sent while out of KVM_RUN", rounds, src_name[variant->src]);
}

APICV_TEST_MAIN
