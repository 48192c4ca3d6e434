// SPDX-License-Identifier: GPL-2.0
/*
 * The IPI phase engine (x86/ipi_phase.h): the guest side that sends and
 * counts phase by phase, the host side that runs a schedule and compares
 * every count with the oracle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "known_bugs.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/guest_sync.h"
#include "x86/ipi_phase.h"

#define VEC_BASE	IPI_PHASE_VEC_BASE
#define NR_VEC		IPI_PHASE_NR_VEC
#define WAKE_VEC	IPI_PHASE_WAKE_VEC
#define GATE_IDLE_US	IPI_PHASE_GATE_IDLE_US

enum cfg_kind { CFG_X2APIC, CFG_XAPIC_FLAT, CFG_XAPIC_CLUSTER };

/* Shared with the guest (identity mapped). */
static struct {
	u32 nr_vcpus, nr_phases, wait;
	/* APIC set-up per epoch; a phase names its epoch */
	u32 ep_mode[IPI_PHASE_MAX_EPOCHS];	/* enum cfg_kind */
	u32 ep_dfr[IPI_PHASE_MAX_EPOCHS];
	u32 ep_ldr[IPI_PHASE_MAX_EPOCHS][APIC_ORACLE_MAX_VCPUS];
	u32 *phase_sender, *phase_first, *phase_len, *phase_epoch;
	struct ipi_case *cases;
	u8 *counts;			/* [phase][vcpu][NR_VEC] */
	u64 *send_cycles;		/* per phase, sender's ICR loop */
	u64 *due;			/* per phase: deliveries due (0: no gate) */
	u32 *late;			/* per phase: taken after the gate gave up */
	u32 *late_vcpu;			/* per vCPU: the same */
	u8 *gave_up;			/* per phase: the sender stopped waiting */
	u64 delivered;			/* every case vector taken, all phases */
	u32 phase_sent, phase_icrs_done;
	u32 count_phase[APIC_ORACLE_MAX_VCPUS];	/* the phase a vCPU counts for */
	struct guest_barrier bar;
	struct ipi_phase_hooks hooks;
} g;

static inline u8 *count_slot(u32 phase, u32 vcpu, u32 vec)
{
	return &g.counts[((u64)phase * g.nr_vcpus + vcpu) * NR_VEC +
			 (vec - VEC_BASE)];
}

/* ---- guest side ---- */

static void guest_count_handler(struct ex_regs *regs)
{
	u32 me = this_cpu_id(), p = g.count_phase[me];

	(*count_slot(p, me, regs->vector))++;
	__atomic_add_fetch(&g.delivered, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&g.gave_up[p], __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&g.late[p], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&g.late_vcpu[me], 1, __ATOMIC_RELAXED);
	}
	apic_eoi();
}

static void guest_wake_handler(struct ex_regs *regs)
{
	apic_eoi();
}

static void wait_for(u32 *word, u32 old, bool halt)
{
	if (!halt) {
		while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old)
			cpu_relax();
		return;
	}
	cli();
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old) {
		sti_hlt();
		cli();
	}
	sti();
}

static void wake_others(void)
{
	apic_icr_write(0, apic_icr_low(WAKE_VEC, APIC_DM_FIXED, false,
				       APIC_DEST_ALLBUT));
}

/* All vCPUs meet; waiters halt, the last one wakes them. */
static void guest_phase_barrier(void)
{
	u32 gen;

	if (guest_barrier_arrive(&g.bar, &gen)) {
		wake_others();
		return;
	}
	cli();
	while (!guest_barrier_passed(&g.bar, gen)) {
		sti_hlt();
		cli();
	}
	sti();
}

void guest_ipi_phase_wait(u32 p)
{
	wait_for(&g.phase_sent, p, g.wait == IPI_WAIT_HALT);
}

bool guest_ipi_phase_icrs_done(u32 p)
{
	return __atomic_load_n(&g.phase_icrs_done, __ATOMIC_ACQUIRE) != p;
}

void guest_ipi_phase_count_next(u32 p)
{
	if (p + 1 < g.nr_phases)
		g.count_phase[this_cpu_id()] = p + 1;
}

u32 guest_ipi_phase_len(u32 p)
{
	return g.phase_len[p];
}

u32 guest_ipi_phase_taken(u32 p, u32 vec)
{
	u32 v, sum = 0;

	for (v = 0; v < g.nr_vcpus; v++)
		sum += READ_ONCE(*count_slot(p, v, vec));
	return sum;
}

static bool irr_has_case_vector(void)
{
	u32 r;

	for (r = VEC_BASE / 32; r <= (VEC_BASE + NR_VEC - 1) / 32; r++)
		if (apic_read(APIC_IRR + r * 0x10))
			return true;
	return false;
}

/* With IF=1 and TPR 0 nothing may stay pending. */
static void guest_drain_irr(u32 p)
{
	u64 start = rdtsc();

	while (irr_has_case_vector()) {
		GUEST_ASSERT(guest_tsc_to_us(rdtsc() - start) < GATE_IDLE_US,
			     "phase %u: a vector stays in vCPU %u's IRR with IF=1 for %u ms",
			     p, this_cpu_id(), GATE_IDLE_US / 1000);
		cpu_relax();
	}
}

/*
 * Before the sender wakes the others, every delivery due in phase @p
 * must have been taken: the targets, halted or not, take their IPIs
 * while the sender waits. When none arrives for GATE_IDLE_US the sender
 * gives up and wakes everyone; what arrives after that is late (a halted
 * target its IPI did not wake), which the host fails. With halted
 * targets the sender halts too between looks (a 1 ms timer tick wakes
 * it), so that it does not take a host CPU from the targets.
 */
static void guest_await_deliveries(u32 p, u64 base)
{
	u64 seen = base, since = rdtsc(), d, now;
	bool halt = g.wait == IPI_WAIT_HALT;

	if (halt) {
		apic_write(APIC_TDCR, 0xb);		/* divide by 1 */
		apic_write(APIC_LVTT, WAKE_VEC | APIC_LVT_TIMER_PERIODIC);
		apic_write(APIC_TMICT, 1000000);	/* 1 GHz bus in KVM */
	}
	for (;;) {
		d = __atomic_load_n(&g.delivered, __ATOMIC_ACQUIRE);
		if (d - base >= g.due[p])
			break;
		now = rdtsc();
		if (d != seen) {
			seen = d;
			since = now;
		} else if (guest_tsc_to_us(now - since) > GATE_IDLE_US) {
			__atomic_store_n(&g.gave_up[p], 1, __ATOMIC_RELEASE);
			break;
		}
		if (halt)
			sti_hlt();
		else
			cpu_relax();
	}
	if (halt) {
		apic_write(APIC_TMICT, 0);
		apic_write(APIC_LVTT, APIC_LVT_MASKED | WAKE_VEC);
	}
}

static void guest_send_phase(u32 p)
{
	u32 i, first = g.phase_first[p], n = g.phase_len[p];
	u64 t0, base;

	base = __atomic_load_n(&g.delivered, __ATOMIC_ACQUIRE);
	t0 = rdtsc();
	for (i = 0; i < n; i++) {
		struct ipi_case *c = &g.cases[first + i];

		if (g.hooks.send)
			g.hooks.send(p, i, c->dest, c->low);
		else
			apic_icr_write(c->dest, c->low);
	}
	g.send_cycles[p] = rdtsc() - t0;
	__atomic_store_n(&g.phase_icrs_done, p + 1, __ATOMIC_RELEASE);
	guest_await_deliveries(p, base);
}

/*
 * Programs this vCPU's APIC for epoch @e: xAPIC LDR/DFR rewrites, or the
 * switch to x2APIC (ID and LDR then come from the x2APIC ID).
 */
static void guest_configure(u32 e, bool first)
{
	u32 me = this_cpu_id();

	if (!first && g.hooks.reconfigure && !g.hooks.reconfigure(e))
		return;
	cli();
	if (g.ep_mode[e] == CFG_X2APIC) {
		if (first || !apic_is_x2apic())
			x2apic_enable();
	} else {
		if (first)
			xapic_enable();
		apic_write(APIC_DFR, g.ep_dfr[e]);
		apic_write(APIC_LDR, g.ep_ldr[e][me]);
	}
	sti();
}

static void guest_phases(void)
{
	u32 me = this_cpu_id(), p;

	guest_configure(g.phase_epoch[0], true);
	g.count_phase[me] = 0;
	sti();
	guest_phase_barrier();
	for (p = 0; p < g.nr_phases; p++) {
		if (p && g.phase_epoch[p] != g.phase_epoch[p - 1]) {
			/* everyone is reconfigured before the sender starts */
			guest_configure(g.phase_epoch[p], false);
			guest_phase_barrier();
		}
		if (me == g.phase_sender[p]) {
			guest_send_phase(p);
			__atomic_store_n(&g.phase_sent, p + 1, __ATOMIC_RELEASE);
			wake_others();
		} else if (g.hooks.wait) {
			g.hooks.wait(p);
		} else {
			guest_ipi_phase_wait(p);
		}
		guest_drain_irr(p);
		/*
		 * Nothing of phase p is left pending here: the next phase's
		 * sender may start as soon as the barrier lets it.
		 */
		guest_ipi_phase_count_next(p);
		guest_phase_barrier();
	}
}

/* ---- the schedule ---- */

struct ipi_sched *ipi_sched_new(int n)
{
	struct ipi_sched *s = calloc(1, sizeof(*s));

	TEST_ASSERT(s, "out of memory");
	s->n = n;
	s->cfg = s->ecfg[0];
	return s;
}

void ipi_sched_free(struct ipi_sched *s)
{
	free(s->cases);
	free(s);
}

void ipi_sched_epoch(struct ipi_sched *s)
{
	TEST_ASSERT(s->epoch + 1 < IPI_PHASE_MAX_EPOCHS, "too many epochs");
	s->epoch++;
	memcpy(s->ecfg[s->epoch], s->cfg, sizeof(s->ecfg[0]));
	s->cfg = s->ecfg[s->epoch];
}

void ipi_sched_add(struct ipi_sched *s, int sender, u32 dest, u32 dm,
		   bool logical, u32 shorthand)
{
	int p = s->nr_phases - 1;

	if (p < 0 || (int)s->phase_sender[p] != sender ||
	    s->phase_len[p] == NR_VEC || (int)s->phase_epoch[p] != s->epoch) {
		TEST_ASSERT(s->nr_phases < IPI_PHASE_MAX_PHASES,
			    "too many phases");
		p = s->nr_phases++;
		s->phase_sender[p] = sender;
		s->phase_epoch[p] = s->epoch;
		s->phase_first[p] = s->nr_cases;
		s->phase_len[p] = 0;
	}
	if (s->nr_cases == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->cases = realloc(s->cases, s->cap * sizeof(*s->cases));
		TEST_ASSERT(s->cases, "out of memory");
	}
	s->cases[s->nr_cases].dest = dest;
	s->cases[s->nr_cases++].low =
		apic_icr_low(VEC_BASE + s->phase_len[p]++, dm, logical,
			     shorthand);
}

/* ---- the check ---- */

/*
 * Whether the vCPUs that took the IPI are the right ones (for lowest
 * priority: one of the candidates); @expected gets the deliveries due.
 */
static bool right_targets(const struct apic_targets *want,
			  const struct apic_targets *got, int *expected)
{
	int w;

	if (!want->exactly_one) {
		*expected = targets_count(want);
		return !memcmp(got->bits, want->bits, sizeof(got->bits));
	}
	*expected = 1;
	for (w = 0; w < APIC_ORACLE_WORDS; w++)
		if (got->bits[w] & ~want->bits[w])
			return false;
	return targets_count(got) == 1;
}

/* What is wrong with one case's deliveries @cnt against @want, as text. */
static const char *diagnose(const struct apic_targets *want, const u8 *cnt,
			    int n, char *buf, size_t len)
{
	int v, k = 0, stray = -1, miss = -1, twice = -1;
	size_t o = 0;

	for (v = 0; v < n; v++) {
		k += !!cnt[v];
		if (cnt[v] && !targets_test(want, v) && stray < 0)
			stray = v;
		if (!cnt[v] && targets_test(want, v) && miss < 0)
			miss = v;
		if (cnt[v] > 1 && twice < 0)
			twice = v;
	}
	buf[0] = '\0';
	if (want->exactly_one) {
		if (stray >= 0)
			o += snprintf(buf + o, len - o,
				      "lowest priority reached non-candidate vCPU %d; ",
				      stray);
		if (k != 1)
			o += snprintf(buf + o, len - o,
				      "lowest priority reached %d vCPUs; ", k);
	} else {
		if (stray >= 0)
			o += snprintf(buf + o, len - o,
				      "reached non-target vCPU %d; ", stray);
		if (miss >= 0)
			o += snprintf(buf + o, len - o, "missed by vCPU %d; ",
				      miss);
	}
	if (twice >= 0 && o < len)
		o += snprintf(buf + o, len - o, "vCPU %d took it %d times; ",
			      twice, cnt[twice]);
	if (o >= 2 && o < len)
		buf[o - 2] = '\0';
	return buf;
}

static enum known_bug alias_bug_of(const struct ipi_case *c)
{
	return c->low & APIC_DEST_LOGICAL ? KNOWN_BUG_XAPIC_LDR_ALIAS :
					    KNOWN_BUG_XAPIC_ID_ALIAS;
}

/*
 * Aliasing runs on a kernel with the known alias bug: what that bug
 * delivers for case @c of phase @p (the pre-6.3 map, computed from the
 * configuration as set up, never from what a control told the oracle).
 * False when the bug is not expected here or does not change this case.
 */
static bool alias_bug_targets(struct ipi_sched *s, int p,
			      const struct ipi_case *c,
			      struct apic_targets *bug)
{
	struct apic_targets arch;

	if (!s->alias_model || !known_bug_expected(alias_bug_of(c)))
		return false;
	TEST_ASSERT(!apic_oracle(s->truth, s->n, s->phase_sender[p], c->dest,
				 c->low, 0, &arch) &&
		    !apic_oracle_aliased_map(s->truth, s->n,
					     s->phase_sender[p], c->dest,
					     c->low, s->vector_hashing, bug),
		    "oracle rejects an aliasing case");
	return memcmp(&arch, bug, sizeof(arch)) != 0;
}

/* Exactly the deliveries @bug predicts: each predicted vCPU once. */
static bool is_alias_bug(const struct apic_targets *bug, const u8 *cnt, int n)
{
	int v, sum = 0;

	for (v = 0; v < n; v++) {
		if (cnt[v] && !targets_test(bug, v))
			return false;
		if (!bug->exactly_one && targets_test(bug, v) && cnt[v] != 1)
			return false;
		sum += cnt[v];
	}
	return bug->exactly_one ? sum == 1 : true;
}

/*
 * Nothing may arrive on a vector that no case of the phase uses (a
 * wrong vector, or a case's IPI counted in the wrong phase).
 */
static int check_stray_vectors(struct ipi_sched *s, int p, int *errors)
{
	int v, bad = 0;
	u32 vec;

	for (vec = VEC_BASE + s->phase_len[p]; vec < VEC_BASE + NR_VEC; vec++)
		for (v = 0; v < s->n; v++) {
			if (!*count_slot(p, v, vec))
				continue;
			bad++;
			if ((*errors)++ < 10)
				test_log("phase %d sender %u: vCPU %d took vector 0x%x %u times, but no case of the phase uses it",
					 p, s->phase_sender[p], v, vec,
					 *count_slot(p, v, vec));
		}
	return bad;
}

/* Deliveries the gate saw only after it gave up (guest_await_deliveries). */
static int check_late(struct ipi_sched *s, int *errors)
{
	int p, v, bad = 0;
	char vcpus[256];
	size_t o = 0;

	vcpus[0] = '\0';
	for (v = 0; v < s->n && o < sizeof(vcpus); v++)
		if (g.late_vcpu[v])
			o += snprintf(vcpus + o, sizeof(vcpus) - o, " %d", v);
	for (p = 0; p < s->nr_phases; p++) {
		if (!g.late[p])
			continue;
		bad++;
		if ((*errors)++ < 10)
			test_log("phase %d sender %u: %u deliveries taken only after the wake-up broadcast, after %u ms without any (halted targets their IPIs did not wake; vCPUs with late deliveries:%s)",
				 p, s->phase_sender[p], g.late[p],
				 GATE_IDLE_US / 1000, vcpus);
	}
	return bad;
}

static void oracle_want(struct ipi_sched *s, int p, const struct ipi_case *c,
			struct apic_targets *want)
{
	char d[128];

	TEST_ASSERT(!apic_oracle(s->ecfg[s->phase_epoch[p]], s->n,
				 s->phase_sender[p], c->dest, c->low, 0, want),
		    "oracle rejects %s",
		    apic_icr_str(c->dest, c->low, d, sizeof(d)));
}

/* Checks case @i of phase @p; false when it failed. */
static bool check_case(struct ipi_sched *s, int p, int i,
		       struct ipi_run_result *res, int *errors)
{
	static u8 cnt[APIC_ORACLE_MAX_VCPUS];
	char a[256], b[256], d[128], why[160];
	struct ipi_case *c = &s->cases[s->phase_first[p] + i];
	struct apic_targets want, got = {}, bug;
	u32 vec = c->low & 0xff;
	int v, sum = 0, expected;
	bool right, alias;

	oracle_want(s, p, c, &want);
	if (g.hooks.want)
		g.hooks.want(s, p, i, &want);
	for (v = 0; v < s->n; v++) {
		cnt[v] = *count_slot(p, v, vec);
		sum += cnt[v];
		if (cnt[v])
			targets_set(&got, v);
	}
	res->deliveries += sum;
	right = right_targets(&want, &got, &expected);
	for (v = 0; v < s->n && right; v++)
		right = cnt[v] <= 1;
	if (right && sum == expected)
		return true;
	alias = alias_bug_targets(s, p, c, &bug);
	if (alias && is_alias_bug(&bug, cnt, s->n)) {
		s->alias_seen |= 1u << alias_bug_of(c);
		if (s->alias_forgiven++ < 4)
			test_log("phase %d sender %u %s: want %s%s, got %s, exactly as the known alias bug delivers it",
				 p, s->phase_sender[p],
				 apic_icr_str(c->dest, c->low, d, sizeof(d)),
				 want.exactly_one ? "one of " : "",
				 targets_str(&want, a, sizeof(a)),
				 targets_str(&got, b, sizeof(b)));
		return true;
	}
	/* Right targets, some took it twice (TCG: rerun). */
	if (right_targets(&want, &got, &expected) ||
	    (alias && !memcmp(got.bits, bug.bits, sizeof(got.bits))))
		res->dups++;
	else
		res->others++;
	if ((*errors)++ < 10)
		test_log("phase %d sender %u %s: want %s%s, got %s (%d deliveries): %s%s",
			 p, s->phase_sender[p],
			 apic_icr_str(c->dest, c->low, d, sizeof(d)),
			 want.exactly_one ? "one of " : "",
			 targets_str(&want, a, sizeof(a)),
			 targets_str(&got, b, sizeof(b)), sum,
			 diagnose(&want, cnt, s->n, why, sizeof(why)),
			 alias ? " (not what the known alias bug delivers)" : "");
	return false;
}

static int check_counts(struct ipi_sched *s, struct ipi_run_result *res)
{
	int p, i, errors = 0;

	s->alias_forgiven = 0;
	for (p = 0; p < s->nr_phases; p++) {
		for (i = 0; i < (int)s->phase_len[p]; i++)
			check_case(s, p, i, res, &errors);
		res->others += check_stray_vectors(s, p, &errors);
	}
	res->others += check_late(s, &errors);
	return errors;
}

/* ---- the run ---- */

static enum cfg_kind cfg_kind_of(const struct apic_cfg *c)
{
	if (c->mode == APIC_MODE_X2APIC)
		return CFG_X2APIC;
	return c->dfr == APIC_DFR_CLUSTER ? CFG_XAPIC_CLUSTER : CFG_XAPIC_FLAT;
}

/* The deliveries each phase's gate waits for (guest_await_deliveries()). */
static void fill_due(struct ipi_sched *s, enum ipi_wait wait)
{
	struct apic_targets want, bug;
	int p, i;

	for (p = 0; p < s->nr_phases; p++) {
		for (i = 0; i < (int)s->phase_len[p]; i++) {
			struct ipi_case *c = &s->cases[s->phase_first[p] + i];

			oracle_want(s, p, c, &want);
			if (alias_bug_targets(s, p, c, &bug))
				want = bug;
			g.due[p] += want.exactly_one ? 1 : targets_count(&want);
		}
		/*
		 * Running targets: no wakeup to miss, and a kick KVM missed
		 * shows at the target's next exit anyway: no gate.
		 */
		if (wait == IPI_WAIT_BUSY)
			g.due[p] = 0;
	}
}

static bool kvm_vector_hashing(void)
{
	char buf[8];

	/* KVM's default when the parameter cannot be read */
	if (!module_param_read("kvm", "vector_hashing", buf, sizeof(buf)))
		return true;
	return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

static void lapic_set_id(struct kvm_vcpu *vcpu, u8 id)
{
	struct kvm_lapic_state st;

	vcpu_lapic_get(vcpu, &st);
	lapic_state_set_reg(&st, APIC_ID, (u32)id << 24);
	vcpu_lapic_set(vcpu, &st);
}

/* The schedule and the per-phase counters in guest memory. */
static void share_sched(struct kvm_vm *vm, struct ipi_sched *s)
{
	u32 np = s->nr_phases;
	int i, e;

	g.nr_vcpus = s->n;
	g.nr_phases = np;
	for (e = 0; e <= s->epoch; e++) {
		g.ep_mode[e] = cfg_kind_of(&s->ecfg[e][0]);
		g.ep_dfr[e] = s->ecfg[e][0].dfr;
		for (i = 0; i < s->n; i++)
			g.ep_ldr[e][i] = s->ecfg[e][i].ldr;
	}
	g.phase_sender = guest_alloc(vm, np * 16);
	g.phase_first = g.phase_sender + np;
	g.phase_len = g.phase_first + np;
	g.phase_epoch = g.phase_len + np;
	memcpy(g.phase_sender, s->phase_sender, np * 4);
	memcpy(g.phase_first, s->phase_first, np * 4);
	memcpy(g.phase_len, s->phase_len, np * 4);
	memcpy(g.phase_epoch, s->phase_epoch, np * 4);
	g.cases = guest_alloc(vm, s->nr_cases * sizeof(*s->cases));
	memcpy(g.cases, s->cases, s->nr_cases * sizeof(*s->cases));
	g.counts = guest_alloc(vm, (u64)np * s->n * NR_VEC);
	g.send_cycles = guest_alloc(vm, np * 8);
	g.due = guest_alloc(vm, np * 8);
	g.late = guest_alloc(vm, np * 4);
	g.late_vcpu = guest_alloc(vm, s->n * 4);
	g.gave_up = guest_alloc(vm, np);
}

int ipi_sched_run(struct ipi_sched *s, enum ipi_wait wait,
		  const struct ipi_phase_hooks *hooks,
		  struct ipi_run_result *res)
{
	struct kvm_vm *vm;
	int i, errors;
	u64 t0;

	memset(&g, 0, sizeof(g));
	memset(res, 0, sizeof(*res));
	vm = vm_create(IRQCHIP_KERNEL);
	share_sched(vm, s);
	g.wait = wait;
	guest_barrier_init(&g.bar, s->n);
	if (hooks)
		g.hooks = *hooks;
	memcpy(s->truth, s->ecfg[0], sizeof(s->truth));
	s->vector_hashing = kvm_vector_hashing();
	fill_due(s, wait);
	for (i = 0; i < NR_VEC; i++)
		vm_install_handler(vm, VEC_BASE + i, guest_count_handler);
	vm_install_handler(vm, WAKE_VEC, guest_wake_handler);
	vm_add_vcpus(vm, s->n, guest_phases);
	/* 8-bit xAPIC IDs other than the vCPU id (aliases) from the host */
	for (i = 0; i < s->n; i++)
		if (s->ecfg[0][i].mode == APIC_MODE_XAPIC &&
		    s->ecfg[0][i].id != (u32)i)
			lapic_set_id(vm->vcpus[i], s->ecfg[0][i].id);
	t0 = now_ns();
	vm_threads_start(vm);
	vm_wait_done(vm, profile_pick(120000, 600000), "IPI matrix");
	res->wall_ns = now_ns() - t0;
	if (s->oracle_tweak)
		s->oracle_tweak(s);
	errors = check_counts(s, res);
	for (i = 0; i < s->nr_phases; i++) {
		res->sends += s->phase_len[i];
		res->send_cycles += g.send_cycles[i];
	}
	vm_free(vm);
	return errors;
}

void ipi_run_log(const char *what, int n, const struct ipi_run_result *r)
{
	test_log("%s: %d vCPUs, %llu ICR writes, %llu deliveries in %.1f ms: "
		 "%.0f IPIs/s, %.1f us wall per delivery, %.1f us per ICR write",
		 what, n, r->sends, r->deliveries, r->wall_ns / 1e6,
		 r->deliveries * 1e9 / MAX(r->wall_ns, 1),
		 r->wall_ns / 1e3 / MAX(r->deliveries, 1),
		 guest_tsc_to_us(r->send_cycles) / (double)MAX(r->sends, 1));
}

int ipi_phase_max_vcpus(void)
{
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);

	return MIN(MAX(max, 1), MIN(VM_MAX_VCPUS, APIC_ORACLE_MAX_VCPUS));
}
