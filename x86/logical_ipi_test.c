// SPDX-License-Identifier: GPL-2.0
/*
 * IPI destinations against the oracle (x86/apic_oracle.h): x2APIC logical
 * clusters, xAPIC flat and cluster, physical incl. broadcast, shorthands,
 * lowest priority, aliased IDs/LDRs, and the IPI cost as vCPUs grow.
 *
 * The engine: the host builds a schedule of phases; in each phase one
 * sender writes up to NR_VEC ICRs, each with its own vector, while the
 * others busy-loop or sit in "sti; hlt". Each target counts per phase,
 * per vector (so per case and sender) in shared memory; after a phase
 * every vCPU drains its IRR and meets the others at a barrier. The host
 * then compares every count with the oracle: the expected vCPUs exactly
 * once, nobody else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness_main.h"
#include "known_bugs.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apic_oracle.h"

FAULT(oracle_one_fewer, "*", "", "the oracle is told one target fewer for one IPI");
FAULT(sender_skips_one, "*.matrix", "", "the sender skips one destination");
FAULT(target_if0, "*.matrix", "", "one target keeps IF=0 while the first phase's IPIs fly");
FAULT(extra_ipi, "*.matrix", "", "the sender repeats one IPI (a duplicate delivery)");
FAULT(wrong_vector, "*.matrix", "", "the sender uses a neighbouring vector for one IPI");
FAULT(alias_collapsed, "aliasing.*", "", "the oracle is told the aliases are one vCPU");
FAULT(stale_target, "global.mode_switch", "", "one vCPU skips its reconfiguration (keeps its old IDs)");
FAULT(scale_drop, "global.scale", "", "the sender skips one IPI of the cost run");

#define VEC_BASE	0x30
#define NR_VEC		176		/* 0x30..0xdf: one per case in a phase */
#define WAKE_VEC	0xf0
#define MAX_EPOCHS	4

enum wait_kind { WAIT_BUSY, WAIT_HALT };
enum cfg_kind { CFG_X2APIC, CFG_XAPIC_FLAT, CFG_XAPIC_CLUSTER };

struct ipi_case {
	u32 dest, low;
};

/* Shared with the guest (identity mapped). */
static struct {
	u32 nr_vcpus, nr_phases, wait;
	/* APIC set-up per epoch; a phase names its epoch */
	u32 ep_mode[MAX_EPOCHS];	/* enum cfg_kind */
	u32 ep_dfr[MAX_EPOCHS];
	u32 ep_ldr[MAX_EPOCHS][APIC_ORACLE_MAX_VCPUS];
	u32 *phase_sender, *phase_first, *phase_len, *phase_epoch;
	u32 fault_phase0_idx;		/* a case of phase 0 with targets */
	struct ipi_case *cases;
	u8 *counts;			/* [phase][vcpu][NR_VEC] */
	u64 *send_cycles;		/* per phase, sender's ICR loop */
	u32 phase_sent;
	u32 bar_count, bar_gen;
	u32 if0_vcpu, if0_ready;
} g;

static inline u8 *count_slot(u32 phase, u32 vcpu, u32 vec)
{
	return &g.counts[((u64)phase * g.nr_vcpus + vcpu) * NR_VEC +
			 (vec - VEC_BASE)];
}

static void guest_count_handler(struct ex_regs *regs)
{
	u32 me = this_cpu_id();

	(*count_slot(this_cpu()->user[0], me, regs->vector))++;
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
static void guest_barrier(void)
{
	u32 gen = __atomic_load_n(&g.bar_gen, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&g.bar_count, 1, __ATOMIC_ACQ_REL) ==
	    g.nr_vcpus) {
		__atomic_store_n(&g.bar_count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&g.bar_gen, gen + 1, __ATOMIC_RELEASE);
		wake_others();
		return;
	}
	wait_for(&g.bar_gen, gen, true);
}

static bool irr_has_case_vector(void)
{
	u32 r;

	for (r = VEC_BASE / 32; r <= (VEC_BASE + NR_VEC - 1) / 32; r++)
		if (apic_read(APIC_IRR + r * 0x10))
			return true;
	return false;
}

static void guest_send_phase(u32 p)
{
	u32 i, first = g.phase_first[p], n = g.phase_len[p];
	u64 t0;

	if (fault_target_if0 && p == 0)		/* the IF=0 target is ready */
		while (!__atomic_load_n(&g.if0_ready, __ATOMIC_ACQUIRE))
			cpu_relax();
	t0 = rdtsc();
	for (i = 0; i < n; i++) {
		struct ipi_case *c = &g.cases[first + i];
		u32 low = c->low;

		bool hit = p == 0 && i == g.fault_phase0_idx;

		if ((fault_sender_skips_one || fault_scale_drop) && hit)
			continue;
		if (fault_wrong_vector && hit)
			low = (low & ~0xffu) | (VEC_BASE + (i + 1) % NR_VEC);
		apic_icr_write(c->dest, low);
		if (fault_extra_ipi && hit) {
			/* once a target has taken it (else the IRR merges it) */
			u64 t0 = rdtsc(), v, sum = 0;

			while (!sum && guest_tsc_to_us(rdtsc() - t0) < 1000000)
				for (v = 0; v < g.nr_vcpus; v++)
					sum += READ_ONCE(*count_slot(p, v, low & 0xff));
			apic_icr_write(c->dest, low);
		}
	}
	g.send_cycles[p] = rdtsc() - t0;
}

/*
 * Programs this vCPU's APIC for epoch @e: xAPIC LDR/DFR rewrites, or the
 * switch to x2APIC (ID and LDR then come from the x2APIC ID).
 */
static void guest_configure(u32 e, bool first)
{
	u32 me = this_cpu_id();

	if (!first && fault_stale_target && me == 1)
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

static void guest_matrix(void)
{
	u32 me = this_cpu_id(), p;
	bool if0 = fault_target_if0 && me == g.if0_vcpu;

	guest_configure(g.phase_epoch[0], true);
	this_cpu()->user[0] = 0;
	sti();
	guest_barrier();
	for (p = 0; p < g.nr_phases; p++) {
		if (p && g.phase_epoch[p] != g.phase_epoch[p - 1]) {
			/* everyone is reconfigured before the sender starts */
			guest_configure(g.phase_epoch[p], false);
			guest_barrier();
		}
		if (me == g.phase_sender[p]) {
			guest_send_phase(p);
			__atomic_store_n(&g.phase_sent, p + 1, __ATOMIC_RELEASE);
			wake_others();
		} else if (if0) {
			cli();
			__atomic_store_n(&g.if0_ready, 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&g.phase_sent, __ATOMIC_ACQUIRE) == p)
				cpu_relax();
			guest_udelay(1000);
			/* whatever arrived counts for the next phase */
			if (p + 1 < g.nr_phases)
				this_cpu()->user[0] = p + 1;
			sti();
		} else {
			wait_for(&g.phase_sent, p, g.wait == WAIT_HALT);
		}
		while (irr_has_case_vector())
			cpu_relax();
		/*
		 * Nothing of phase p is left pending here: the next phase's
		 * sender may start as soon as the barrier lets it.
		 */
		if (p + 1 < g.nr_phases)
			this_cpu()->user[0] = p + 1;
		guest_barrier();
	}
}

/* ---- host side ---- */

struct sched {
	int n;
	struct apic_cfg *cfg;		/* the epoch being filled */
	struct apic_cfg ecfg[MAX_EPOCHS][APIC_ORACLE_MAX_VCPUS];
	int epoch;
	struct ipi_case *cases;
	int nr_cases, cap;
	u32 phase_sender[4096], phase_first[4096], phase_len[4096];
	u32 phase_epoch[4096];
	int nr_phases;
	u64 deliveries;
	/* FAULT only: changes what the oracle is told after the VM is set up */
	void (*oracle_tweak)(struct sched *s);
};

/* Starts a new epoch: a copy of the current configuration to modify. */
static void sched_epoch(struct sched *s)
{
	TEST_ASSERT(s->epoch + 1 < MAX_EPOCHS, "too many epochs");
	s->epoch++;
	memcpy(s->ecfg[s->epoch], s->cfg, sizeof(s->ecfg[0]));
	s->cfg = s->ecfg[s->epoch];
}

static enum cfg_kind cfg_kind_of(const struct apic_cfg *c)
{
	if (c->mode == APIC_MODE_X2APIC)
		return CFG_X2APIC;
	return c->dfr == APIC_DFR_CLUSTER ? CFG_XAPIC_CLUSTER : CFG_XAPIC_FLAT;
}

static void sched_add(struct sched *s, int sender, u32 dest, u32 dm,
		      bool logical, u32 sh)
{
	int p = s->nr_phases - 1;

	if (p < 0 || (int)s->phase_sender[p] != sender ||
	    s->phase_len[p] == NR_VEC || (int)s->phase_epoch[p] != s->epoch) {
		TEST_ASSERT(s->nr_phases < 4096, "too many phases");
		p = s->nr_phases++;
		s->phase_sender[p] = sender;
		s->phase_epoch[p] = s->epoch;
		s->phase_first[p] = s->nr_cases;
		s->phase_len[p] = 0;
	}
	if (s->nr_cases == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->cases = realloc(s->cases, s->cap * sizeof(*s->cases));
	}
	s->cases[s->nr_cases].dest = dest;
	s->cases[s->nr_cases++].low =
		apic_icr_low(VEC_BASE + s->phase_len[p]++, dm, logical, sh);
}

static void add_shorthands(struct sched *s, int snd)
{
	sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_SELF);
	sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_ALLINC);
	sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_ALLBUT);
}

static u32 rand_mask(struct prng *r, u32 width)
{
	u32 m;

	do {
		m = prng_next(r) & ((1u << width) - 1);
	} while (__builtin_popcount(m) < 2);
	return m;
}

/*
 * Lowest priority names present vCPUs only: KVM's vector hashing picks a
 * bit of the destination mask and drops the IPI when that bit names no
 * vCPU (see x86/apic_oracle.h); a nonempty random subset of @width bits.
 */
static u32 present_mask(struct prng *r, u32 width)
{
	u32 m;

	do {
		m = prng_next(r) & ((1u << width) - 1);
	} while (!m);
	return m;
}

/* Every destination kind for x2APIC mode from @snd. */
static void cases_x2apic(struct sched *s, int snd, struct prng *r)
{
	int n = s->n, i, c, clusters = (n + 15) / 16;

	for (i = 0; i < n; i++) {
		sched_add(s, snd, i, APIC_DM_FIXED, false, 0);
		sched_add(s, snd, x2apic_logical_id(i), APIC_DM_FIXED, true, 0);
	}
	sched_add(s, snd, n, APIC_DM_FIXED, false, 0);	/* absent ID */
	sched_add(s, snd, 0xffffffffu, APIC_DM_FIXED, false, 0);
	sched_add(s, snd, 0xffffffffu, APIC_DM_FIXED, true, 0);
	for (c = 0; c <= clusters; c++) {	/* one cluster past the end */
		sched_add(s, snd, (c << 16) | 0xffff, APIC_DM_FIXED, true, 0);
		sched_add(s, snd, (c << 16) | rand_mask(r, 16), APIC_DM_FIXED,
			  true, 0);
		if (c < clusters)
			sched_add(s, snd, (c << 16) |
				  present_mask(r, MIN(16, n - 16 * c)),
				  APIC_DM_LOWEST, true, 0);
	}
	add_shorthands(s, snd);
}

/* xAPIC flat or cluster per s->cfg; 8-bit destinations. */
static void cases_xapic(struct sched *s, int snd, struct prng *r, bool flat)
{
	int n = s->n, i, c;

	for (i = 0; i < n; i++)
		sched_add(s, snd, s->cfg[i].id, APIC_DM_FIXED, false, 0);
	sched_add(s, snd, n, APIC_DM_FIXED, false, 0);
	sched_add(s, snd, 0xff, APIC_DM_FIXED, false, 0);
	sched_add(s, snd, 0xff, APIC_DM_FIXED, true, 0);
	if (flat) {
		for (i = 0; i < 8; i++)		/* includes absent bits */
			sched_add(s, snd, 1u << i, APIC_DM_FIXED, true, 0);
		sched_add(s, snd, rand_mask(r, 8), APIC_DM_FIXED, true, 0);
		sched_add(s, snd, present_mask(r, MIN(8, n)), APIC_DM_LOWEST,
			  true, 0);
	} else {
		for (c = 0; c <= (n + 3) / 4 && c < 15; c++) {
			for (i = 0; i < 4; i++)
				sched_add(s, snd, (c << 4) | (1u << i),
					  APIC_DM_FIXED, true, 0);
			sched_add(s, snd, (c << 4) | 0xf, APIC_DM_FIXED, true, 0);
			if (4 * c < n)
				sched_add(s, snd, (c << 4) |
					  present_mask(r, MIN(4, n - 4 * c)),
					  APIC_DM_LOWEST, true, 0);
		}
	}
	add_shorthands(s, snd);
}

/*
 * Picks the senders: all when few or in qualify up to 64 vCPUs; else a
 * seeded sample (first, last and random others: 4 in ci, 8 in qualify
 * beyond 64 vCPUs, where all senders would take hours under TCG).
 */
static int pick_senders(int n, struct prng *r, int *out)
{
	int i, k = 0, want = profile_pick(4, n <= 64 ? n : 8);

	if (n <= want) {
		for (i = 0; i < n; i++)
			out[k++] = i;
		return k;
	}
	out[k++] = 0;
	out[k++] = n - 1;
	while (k < want) {
		int c = 1 + prng_below(r, n - 2), j;

		for (j = 0; j < k && out[j] != c; j++)
			;
		if (j == k)
			out[k++] = c;
	}
	return k;
}

struct run_result {
	u64 sends, deliveries, wall_ns, send_cycles;
};

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

/*
 * A run whose only misses are duplicates: under TCG that is the
 * emulator's duplicate injection (known_bugs.h). The check still fails,
 * and the subtest runs again (in a fresh kernel where the runner boots
 * one). The extra_ipi control's duplicate is the test's own.
 */
static void note_duplicates(int dups, int others)
{
	if (dups && !others && !fault_extra_ipi &&
	    known_bug_expected(KNOWN_BUG_TCG_DUP_INJECT))
		test_note_env_fault(known_bug_describe(KNOWN_BUG_TCG_DUP_INJECT));
}

static void check_counts(struct sched *s, int *errors)
{
	char a[256], b[256], d[128];
	int p, i, v, dups = 0, others = 0;

	for (p = 0; p < s->nr_phases; p++) {
		for (i = 0; i < (int)s->phase_len[p]; i++) {
			struct ipi_case *c = &s->cases[s->phase_first[p] + i];
			struct apic_targets want, got = {};
			u32 vec = c->low & 0xff;
			int sum = 0, expected;
			bool right;

			struct apic_cfg *cfg = s->ecfg[s->phase_epoch[p]];

			TEST_ASSERT(!apic_oracle(cfg, s->n, s->phase_sender[p],
						 c->dest, c->low, 0, &want),
				    "oracle rejects %s",
				    apic_icr_str(c->dest, c->low, d, sizeof(d)));
			if (fault_oracle_one_fewer && p == 0 &&
			    i == (int)g.fault_phase0_idx) {
				for (v = 0; v < s->n && !targets_test(&want, v); v++)
					;
				if (v < s->n)
					targets_clear(&want, v);
			}
			for (v = 0; v < s->n; v++) {
				u8 cnt = *count_slot(p, v, vec);

				sum += cnt;
				if (cnt)
					targets_set(&got, v);
				if (cnt > 1 && !want.exactly_one)
					(*errors)++;
			}
			s->deliveries += sum;
			right = right_targets(&want, &got, &expected);
			if (right && sum == expected)
				continue;
			/* Right targets but not the count: some took it twice. */
			if (right)
				dups++;
			else
				others++;
			if ((*errors)++ < 10)
				test_log("phase %d sender %u %s: want %s%s, got %s (%d deliveries)",
					 p, s->phase_sender[p],
					 apic_icr_str(c->dest, c->low, d, sizeof(d)),
					 want.exactly_one ? "one of " : "",
					 targets_str(&want, a, sizeof(a)),
					 targets_str(&got, b, sizeof(b)), sum);
		}
	}
	note_duplicates(dups, others);
}

static void lapic_set_id(struct kvm_vcpu *vcpu, u8 id)
{
	struct kvm_lapic_state st;

	vcpu_lapic_get(vcpu, &st);
	lapic_state_set_reg(&st, APIC_ID, (u32)id << 24);
	vcpu_lapic_set(vcpu, &st);
}

/* Runs @s on a fresh VM; returns 0 on a match with the oracle. */
/* A case of phase 0 that has fixed-delivery targets: the faults hit it. */
static u32 fault_case(struct sched *s)
{
	struct apic_targets t;
	u32 i, n = s->phase_len[0];

	for (i = n / 2; i < n + n / 2; i++) {
		struct ipi_case *c = &s->cases[s->phase_first[0] + i % n];

		if (!apic_oracle(s->ecfg[s->phase_epoch[0]], s->n,
				 s->phase_sender[0], c->dest, c->low, 0, &t) &&
		    targets_count(&t) && !t.exactly_one)
			return i % n;
	}
	return 0;
}

static int run_sched(struct sched *s, enum wait_kind wait,
		     struct run_result *res)
{
	struct kvm_vm *vm;
	int i, e, errors = 0;
	u64 t0, total_sends = 0, cyc = 0;
	u32 np = s->nr_phases;

	memset(&g, 0, sizeof(g));
	vm = vm_create(IRQCHIP_KERNEL);
	g.nr_vcpus = s->n;
	g.nr_phases = np;
	g.wait = wait;
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
	g.if0_vcpu = s->phase_sender[0] ? 0 : 1;
	g.fault_phase0_idx = fault_case(s);
	for (i = 0; i < NR_VEC; i++)
		vm_install_handler(vm, VEC_BASE + i, guest_count_handler);
	vm_install_handler(vm, WAKE_VEC, guest_wake_handler);
	vm_add_vcpus(vm, s->n, guest_matrix);
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
	check_counts(s, &errors);
	for (i = 0; i < (int)np; i++) {
		total_sends += s->phase_len[i];
		cyc += g.send_cycles[i];
	}
	res->sends = total_sends;
	res->deliveries = s->deliveries;
	res->send_cycles = cyc;
	vm_free(vm);
	return errors;
}

/* ---- the oracle itself, no KVM ---- */

struct oracle_case {
	const char *what;
	int n, sender;
	enum cfg_kind kind;
	u32 dest, low;
	u64 want;		/* bitmask of vCPUs 0..63 */
	bool one;
};

#define FX(l, sh) (0x40 | APIC_DM_FIXED | ((l) ? APIC_DEST_LOGICAL : 0) | \
		   (sh) | APIC_INT_ASSERT)
#define LP (0x40 | APIC_DM_LOWEST | APIC_DEST_LOGICAL | APIC_INT_ASSERT)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const struct oracle_case oracle_cases[] = {
	{ "x2 phys unicast", 4, 0, CFG_X2APIC, 2, FX(false, 0), 0x4 },
	{ "x2 phys absent", 4, 0, CFG_X2APIC, 9, FX(false, 0), 0 },
	{ "x2 phys 0xff is not a broadcast", 8, 0, CFG_X2APIC, 0xff, FX(false, 0), 0 },
	{ "x2 phys broadcast", 3, 1, CFG_X2APIC, 0xffffffff, FX(false, 0), 0x7 },
	{ "x2 logical cluster 0 bit 0", 17, 3, CFG_X2APIC, 0x00001, FX(true, 0), 0x1 },
	{ "x2 logical cluster 1 bit 0", 17, 3, CFG_X2APIC, 0x10001, FX(true, 0), 1ull << 16 },
	{ "x2 logical cluster 1 names absent", 17, 0, CFG_X2APIC, 0x1ffff, FX(true, 0), 1ull << 16 },
	{ "x2 logical cluster 0 multi", 33, 0, CFG_X2APIC, 0x0a005, FX(true, 0), 0xa005 },
	{ "x2 logical cluster 2", 33, 0, CFG_X2APIC, 0x2ffff, FX(true, 0), 1ull << 32 },
	{ "x2 logical absent cluster", 33, 0, CFG_X2APIC, 0x3ffff, FX(true, 0), 0 },
	{ "x2 logical broadcast", 20, 5, CFG_X2APIC, 0xffffffff, FX(true, 0), 0xfffff },
	{ "x2 self", 5, 3, CFG_X2APIC, 0x1234, FX(false, APIC_DEST_SELF), 0x8 },
	{ "x2 all", 5, 3, CFG_X2APIC, 0, FX(false, APIC_DEST_ALLINC), 0x1f },
	{ "x2 all but self", 5, 3, CFG_X2APIC, 0, FX(true, APIC_DEST_ALLBUT), 0x17 },
	{ "x2 lowest", 16, 0, CFG_X2APIC, 0x00f0, LP, 0xf0, true },
	{ "flat unicast bit", 8, 0, CFG_XAPIC_FLAT, 0x10, FX(true, 0), 0x10 },
	{ "flat multi", 8, 0, CFG_XAPIC_FLAT, 0x81, FX(true, 0), 0x81 },
	{ "flat absent bit", 4, 0, CFG_XAPIC_FLAT, 0x30, FX(true, 0), 0 },
	{ "flat 0xff", 6, 2, CFG_XAPIC_FLAT, 0xff, FX(true, 0), 0x3f },
	{ "xapic phys 0xff broadcast", 6, 2, CFG_XAPIC_FLAT, 0xff, FX(false, 0), 0x3f },
	{ "xapic phys unicast", 6, 2, CFG_XAPIC_FLAT, 0x5, FX(false, 0), 0x20 },
	{ "xapic phys high bits ignored", 6, 2, CFG_XAPIC_FLAT, 0x105, FX(false, 0), 0x20 },
	{ "cluster 1 bit 1", 12, 0, CFG_XAPIC_CLUSTER, 0x12, FX(true, 0), 0x20 },
	{ "cluster 2 all", 12, 0, CFG_XAPIC_CLUSTER, 0x2f, FX(true, 0), 0xf00 },
	{ "cluster 0xff broadcast", 12, 0, CFG_XAPIC_CLUSTER, 0xff, FX(true, 0), 0xfff },
	{ "cluster 15 is no wildcard", 12, 0, CFG_XAPIC_CLUSTER, 0xf1, FX(true, 0), 0 },
	{ "cluster absent cluster", 12, 0, CFG_XAPIC_CLUSTER, 0x3f, FX(true, 0), 0 },
	{ "cluster lowest", 12, 0, CFG_XAPIC_CLUSTER, 0x03, LP, 0x3, true },
};
#pragma GCC diagnostic pop

static void oracle_cfg(struct apic_cfg *cfg, int n, enum cfg_kind kind)
{
	int i;

	for (i = 0; i < n; i++) {
		if (kind == CFG_X2APIC)
			apic_cfg_x2apic(&cfg[i], i);
		else if (kind == CFG_XAPIC_FLAT)
			apic_cfg_xapic_flat(&cfg[i], i, 1u << i);
		else
			apic_cfg_xapic_cluster(&cfg[i], i, i / 4, 1u << (i % 4));
	}
}

TEST(oracle_table)
{
	static struct apic_cfg cfg[APIC_ORACLE_MAX_VCPUS];
	struct apic_targets t;
	char a[512];
	size_t k;

	for (k = 0; k < ARRAY_SIZE(oracle_cases); k++) {
		const struct oracle_case *c = &oracle_cases[k];
		u64 want = c->want;

		if (fault_oracle_one_fewer && k == 0)
			want = 0;
		oracle_cfg(cfg, c->n, c->kind);
		ASSERT_EQ(0, apic_oracle(cfg, c->n, c->sender, c->dest, c->low,
					 0, &t));
		EXPECT_EQ(want, t.bits[0]) {
			TH_LOG("%s: got %s", c->what, targets_str(&t, a, sizeof(a)));
		}
		EXPECT_EQ(c->one, t.exactly_one) {
			TH_LOG("%s", c->what);
		}
		for (size_t w = 1; w < APIC_ORACLE_WORDS; w++)
			EXPECT_EQ(0, t.bits[w]);
	}
	/* Aliases: every matching vCPU, software-disabled ones drop fixed. */
	oracle_cfg(cfg, 4, CFG_XAPIC_FLAT);
	cfg[2].id = 1;
	cfg[3].ldr = 0x06u << 24;		/* multi-bit LDR */
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 1, FX(false, 0), 0, &t));
	EXPECT_EQ(0x6, t.bits[0]);
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4, FX(true, 0), 0, &t));
	EXPECT_EQ(0xc, t.bits[0]);
	cfg[3].sw_enabled = false;
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4, FX(true, 0), 0, &t));
	EXPECT_EQ(0x4, t.bits[0]);
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4,
				 apic_icr_low(0, APIC_DM_NMI, true, 0), 0, &t));
	EXPECT_EQ(0xc, t.bits[0]);
	/* Strict priority narrows lowest priority to the lowest PPR class. */
	oracle_cfg(cfg, 4, CFG_XAPIC_FLAT);
	cfg[0].ppr = 0x40; cfg[1].ppr = 0x20; cfg[2].ppr = 0x2f; cfg[3].ppr = 0x10;
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x7, LP, APIC_ORACLE_STRICT_PRIORITY, &t));
	EXPECT_EQ(0x6, t.bits[0]);
	EXPECT_TRUE(t.exactly_one);
	/* Mixed modes and hardware-disabled senders are outside the model. */
	cfg[1].mode = APIC_MODE_X2APIC;
	EXPECT_EQ(-EINVAL, apic_oracle(cfg, 4, 0, 1, FX(false, 0), 0, &t));
	cfg[1].mode = APIC_MODE_DISABLED;
	EXPECT_EQ(-EINVAL, apic_oracle(cfg, 4, 1, 1, FX(false, 0), 0, &t));
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0xff, FX(false, 0), 0, &t));
	EXPECT_EQ(0xd, t.bits[0]);
}

/* ---- the matrices ---- */

static struct sched *sched_new(int n)
{
	struct sched *s = calloc(1, sizeof(*s));

	s->n = n;
	s->cfg = s->ecfg[0];
	return s;
}

static void sched_free(struct sched *s)
{
	free(s->cases);
	free(s);
}

static void require_vcpus(struct __test_metadata *_metadata, int n)
{
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = kvm_check_cap(KVM_CAP_NR_VCPUS);
	if (n > max || n > VM_MAX_VCPUS)
		SKIP(return, "%d vCPUs: host allows %d (KVM_CAP_MAX_VCPUS)", n, max);
}

static int largest_vcpus(void)
{
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);

	return MIN(MAX(max, 1), MIN(VM_MAX_VCPUS, APIC_ORACLE_MAX_VCPUS));
}

static void report(const char *what, int n, struct run_result *r)
{
	test_log("%s: %d vCPUs, %llu ICR writes, %llu deliveries in %.1f ms: "
		 "%.0f IPIs/s, %.1f us wall per delivery, %.1f us per ICR write",
		 what, n, r->sends, r->deliveries, r->wall_ns / 1e6,
		 r->deliveries * 1e9 / MAX(r->wall_ns, 1),
		 r->wall_ns / 1e3 / MAX(r->deliveries, 1),
		 guest_tsc_to_us(r->send_cycles) / (double)MAX(r->sends, 1));
}

FIXTURE(x2apic) {};
FIXTURE_VARIANT(x2apic) { int n; bool halt; bool qualify_only; };
FIXTURE_VARIANT_ADD(x2apic, busy_2) { .n = 2 };
FIXTURE_VARIANT_ADD(x2apic, halt_2) { .n = 2, .halt = true };
FIXTURE_VARIANT_ADD(x2apic, busy_16) { .n = 16 };
FIXTURE_VARIANT_ADD(x2apic, halt_16) { .n = 16, .halt = true };
FIXTURE_VARIANT_ADD(x2apic, busy_17) { .n = 17 };
FIXTURE_VARIANT_ADD(x2apic, halt_17) { .n = 17, .halt = true };
FIXTURE_VARIANT_ADD(x2apic, halt_33) { .n = 33, .halt = true };
/*
 * KVM's APIC map is at least 256 IDs wide, so only a cluster past ID 255
 * can end short: the 17th cluster here holds two vCPUs (IDs 256, 257).
 */
FIXTURE_VARIANT_ADD(x2apic, halt_258) { .n = 258, .halt = true };
FIXTURE_VARIANT_ADD(x2apic, busy_33) { .n = 33, .qualify_only = true };
FIXTURE_VARIANT_ADD(x2apic, halt_64) { .n = 64, .halt = true, .qualify_only = true };
FIXTURE_VARIANT_ADD(x2apic, halt_max) { .n = -1, .halt = true, .qualify_only = true };
FIXTURE_SETUP(x2apic) {}
FIXTURE_TEARDOWN(x2apic) {}

TEST_F(x2apic, matrix)
{
	int n = variant->n < 0 ? largest_vcpus() : variant->n;
	struct sched *s = sched_new(n);
	int senders[APIC_ORACLE_MAX_VCPUS], ns, i;
	struct run_result r;
	struct prng rng;

	if (variant->qualify_only && harness_profile() != PROFILE_QUALIFY)
		SKIP(return, "qualify profile only (--profile qualify)");
	require_vcpus(_metadata, n);
	harness_prng(&rng);
	for (i = 0; i < n; i++)
		apic_cfg_x2apic(&s->cfg[i], i);
	ns = pick_senders(n, &rng, senders);
	for (i = 0; i < ns; i++)
		cases_x2apic(s, senders[i], &rng);
	EXPECT_EQ(0, run_sched(s, variant->halt ? WAIT_HALT : WAIT_BUSY, &r));
	report(variant->halt ? "x2apic halted targets" : "x2apic busy targets",
	       n, &r);
	sched_free(s);
}

FIXTURE(xapic) {};
FIXTURE_VARIANT(xapic) { int n; bool cluster; bool halt; };
FIXTURE_VARIANT_ADD(xapic, flat_busy_8) { .n = 8 };
FIXTURE_VARIANT_ADD(xapic, flat_halt_8) { .n = 8, .halt = true };
FIXTURE_VARIANT_ADD(xapic, flat_halt_3) { .n = 3, .halt = true };
FIXTURE_VARIANT_ADD(xapic, cluster_halt_6) { .n = 6, .cluster = true, .halt = true };
FIXTURE_VARIANT_ADD(xapic, cluster_busy_10) { .n = 10, .cluster = true };
FIXTURE_SETUP(xapic) {}
FIXTURE_TEARDOWN(xapic) {}

TEST_F(xapic, matrix)
{
	struct sched *s = sched_new(variant->n);
	int senders[64], ns, i;
	struct run_result r;
	struct prng rng;

	require_vcpus(_metadata, variant->n);
	harness_prng(&rng);
	for (i = 0; i < variant->n; i++) {
		if (variant->cluster)
			apic_cfg_xapic_cluster(&s->cfg[i], i, i / 4, 1u << (i % 4));
		else
			apic_cfg_xapic_flat(&s->cfg[i], i, 1u << i);
	}
	ns = pick_senders(variant->n, &rng, senders);
	for (i = 0; i < ns; i++)
		cases_xapic(s, senders[i], &rng, !variant->cluster);
	EXPECT_EQ(0, run_sched(s, variant->halt ? WAIT_HALT : WAIT_BUSY, &r));
	report(variant->cluster ? "xapic cluster" : "xapic flat", variant->n, &r);
	sched_free(s);
}

/*
 * Aliasing (xAPIC flat, 4 vCPUs). The SDM: every APIC whose ID or LDR
 * matches accepts, so every alias receives; lowest priority still picks
 * exactly one. Variants: vCPU 2 takes vCPU 1's 8-bit APIC ID (through
 * KVM_SET_LAPIC); vCPU 2 shares vCPU 1's flat LDR bit; vCPU 3 has a
 * two-bit LDR (0x0c: it answers to 0x04 and 0x08). The targets of these
 * kinds are listed in kvm-facts.md section 3 (aliases reaching only one).
 */
/* The oracle believes vCPU 2 and 3 are plain: own ID, one LDR bit each. */
static void alias_collapse(struct sched *s)
{
	s->ecfg[0][2].id = 2;
	s->ecfg[0][2].ldr = 0x04u << 24;
	s->ecfg[0][3].ldr = 0x08u << 24;
}

FIXTURE(aliasing) {};
FIXTURE_VARIANT(aliasing) { u8 id2, ldr2, ldr3; };
FIXTURE_VARIANT_ADD(aliasing, physical_id) { .id2 = 1, .ldr2 = 0x04, .ldr3 = 0x08 };
FIXTURE_VARIANT_ADD(aliasing, flat_ldr_bit) { .id2 = 2, .ldr2 = 0x02, .ldr3 = 0x08 };
FIXTURE_VARIANT_ADD(aliasing, multi_bit_ldr) { .id2 = 2, .ldr2 = 0x04, .ldr3 = 0x0c };
FIXTURE_SETUP(aliasing) {}
FIXTURE_TEARDOWN(aliasing) {}

TEST_F(aliasing, matrix_alias)
{
	struct sched *s = sched_new(4);
	struct run_result r;
	int snd, d, errors;

	apic_cfg_xapic_flat(&s->cfg[0], 0, 0x01);
	apic_cfg_xapic_flat(&s->cfg[1], 1, 0x02);
	apic_cfg_xapic_flat(&s->cfg[2], variant->id2, variant->ldr2);
	apic_cfg_xapic_flat(&s->cfg[3], 3, variant->ldr3);
	for (snd = 0; snd < 4; snd++) {
		for (d = 0; d < 4; d++)
			sched_add(s, snd, d, APIC_DM_FIXED, false, 0);
		sched_add(s, snd, 0xff, APIC_DM_FIXED, false, 0);
		for (d = 0; d < 4; d++)
			sched_add(s, snd, 1u << d, APIC_DM_FIXED, true, 0);
		sched_add(s, snd, 0x03, APIC_DM_FIXED, true, 0);
		sched_add(s, snd, 0x0c, APIC_DM_FIXED, true, 0);
		sched_add(s, snd, 0x06, APIC_DM_LOWEST, true, 0);
		add_shorthands(s, snd);
	}
	if (fault_alias_collapsed)
		s->oracle_tweak = alias_collapse;
	errors = run_sched(s, WAIT_HALT, &r);
	report("aliasing", 4, &r);
	sched_free(s);
	if (errors && !fault_alias_collapsed)
		known_bug_xfail(variant->id2 == 1 ? KNOWN_BUG_XAPIC_ID_ALIAS :
				KNOWN_BUG_XAPIC_LDR_ALIAS);
	EXPECT_EQ(0, errors) {
		TH_LOG("aliases must all receive (SDM); this kernel (%u.%u) "
		       "delivers to fewer", kernel_version() >> 8,
		       kernel_version() & 0xff);
	}
}

/*
 * Reconfiguration between rounds of IPIs: epoch 0 xAPIC flat with vCPU i
 * on LDR bit i, epoch 1 the LDR bits rotated by one (LDR rewrites), epoch
 * 2 everyone in x2APIC mode. Each epoch's IPIs are checked against that
 * epoch's configuration: an IPI reaching a vCPU through an ID or LDR it
 * gave up is a stale target. The switch happens at a barrier, not while
 * IPIs are in flight (the oracle needs a defined configuration per IPI).
 */
TEST(mode_switch)
{
	int n = 6, i, snd, e;
	struct sched *s = sched_new(n);
	struct run_result r;
	struct prng rng;

	harness_prng(&rng);
	for (i = 0; i < n; i++)
		apic_cfg_xapic_flat(&s->cfg[i], i, 1u << i);
	for (e = 0; e < 3; e++) {
		if (e == 1) {
			sched_epoch(s);
			for (i = 0; i < n; i++)
				s->cfg[i].ldr = (1u << ((i + 1) % n)) << 24;
		} else if (e == 2) {
			sched_epoch(s);
			for (i = 0; i < n; i++)
				apic_cfg_x2apic(&s->cfg[i], i);
		}
		for (snd = 0; snd < n; snd += 2) {
			if (e < 2)
				cases_xapic(s, snd, &rng, true);
			else
				cases_x2apic(s, snd, &rng);
		}
	}
	EXPECT_EQ(0, run_sched(s, WAIT_HALT, &r));
	report("mode switch", n, &r);
	sched_free(s);
}

/*
 * The cost curve: sender 0 sends unicast logical IPIs round-robin to the
 * others (halted) and then all-but-self broadcasts, for growing vCPU
 * counts. Wall time is the host's, from thread start to the last vCPU done
 * (so it includes barriers and VM setup is excluded).
 */
TEST(scale)
{
	static const int counts[] = { 2, 4, 8, 16, 17, 33, 64, 128, 256 };
	int maxn = profile_pick(33, largest_vcpus());
	int k, i, per = profile_pick(NR_VEC, 4 * NR_VEC);
	struct run_result r;

	test_log("%6s %8s %10s %10s %12s %14s", "vCPUs", "ICRs", "deliveries",
		 "wall ms", "IPIs/s", "us/delivery");
	for (k = 0; k < (int)ARRAY_SIZE(counts) && counts[k] <= maxn; k++) {
		int n = counts[k];
		struct sched *s;

		if (n > largest_vcpus())
			break;
		s = sched_new(n);
		for (i = 0; i < n; i++)
			apic_cfg_x2apic(&s->cfg[i], i);
		for (i = 0; i < per; i++)
			sched_add(s, 0, x2apic_logical_id(1 + i % (n - 1)),
				  APIC_DM_FIXED, true, 0);
		for (i = 0; i < per / 4; i++)
			sched_add(s, 0, 0, APIC_DM_FIXED, false, APIC_DEST_ALLBUT);
		ASSERT_EQ(0, run_sched(s, WAIT_HALT, &r));
		test_log("%6d %8llu %10llu %10.1f %12.0f %14.1f", n, r.sends,
			 r.deliveries, r.wall_ns / 1e6,
			 r.deliveries * 1e9 / MAX(r.wall_ns, 1),
			 r.wall_ns / 1e3 / MAX(r.deliveries, 1));
		sched_free(s);
	}
}

APICV_TEST_MAIN
