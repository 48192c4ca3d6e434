// SPDX-License-Identifier: GPL-2.0
/*
 * ipi_scale_bench: the cost of IPIs as the vCPU count grows, with every
 * delivery checked.
 *
 * vCPU 0 sends unicast x2APIC logical IPIs round robin to the other vCPUs,
 * which sit in "sti; hlt", then all-but-self broadcasts (a quarter as
 * many), for 2, 4, 8, 16, 17, 33, ... vCPUs up to --max-vcpus. The ICRs go
 * out in phases of at most NR_VEC, each case of a phase on its own vector
 * (so a target's IRR never merges two of them); before the next phase the
 * sender waits, halted between looks, until every delivery due has been
 * taken. Each target counts per phase, vCPU and vector; the host compares
 * every count with x86/apic_oracle.h: the vCPUs the oracle names exactly
 * once, nobody else. Any IPI delivered wrong or missed fails the run
 * (exit 1, "missed by vCPU N" for a missed one).
 *
 * Figures per vCPU count N, each a median over --reps runs (one VM each):
 *  ipi_scale.delivery@N   host wall time per delivery (thread start to
 *                         the last vCPU done, VM set-up excluded), ns
 *  ipi_scale.icr_write@N  the sender's ICR write, guest TSC, ns
 *  ipi_scale.rate@N       deliveries per second, 1/s
 * Output: a table, and with --json FILE schema apicv-bench/1 (bench/compare,
 * bench/plot). Exit 0, 1 (a delivery check failed), 2 (usage), 4 (no KVM).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_figure.h"
#include "emulator.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apic_oracle.h"

#define BENCH_VERSION	"1"
#define VEC_BASE	0x30
#define NR_VEC		176		/* 0x30..0xdf: one per case in a phase */
#define WAKE_VEC	0xf0
#define MAX_FIGURES	64
/* The sender gives up after this long without a delivery. */
#define GATE_IDLE_US	3000000
#define CLOCKSOURCE	\
	"/sys/devices/system/clocksource/clocksource0/current_clocksource"

static const int counts[] = { 2, 4, 8, 16, 17, 33, 64, 128, 256 };

/* Shared with the guest (identity mapped). */
static struct {
	u32 nr_vcpus, nr_phases;
	u32 *phase_len;			/* cases of phase p: p * NR_VEC on */
	u32 *dest, *low;		/* per case */
	u8 *counts;			/* [phase][vcpu][NR_VEC] */
	u64 *due;			/* per phase: deliveries due */
	u64 delivered;			/* case vectors taken, all phases */
	u64 send_cycles;
	u32 phase, ready, stop, gave_up;
	u32 drop_one;			/* the scale_drop control */
	u64 shadow_hits;
} g;

static u8 *count_slot(u32 phase, u32 vcpu, u32 vec)
{
	return &g.counts[((u64)phase * g.nr_vcpus + vcpu) * NR_VEC +
			 (vec - VEC_BASE)];
}

/* ---- guest code ---- */

static void guest_count_handler(struct ex_regs *regs)
{
	if (guest_emu_shadow_hit(regs))
		__atomic_add_fetch(&g.shadow_hits, 1, __ATOMIC_RELAXED);
	(*count_slot(READ_ONCE(g.phase), this_cpu_id(), regs->vector))++;
	__atomic_add_fetch(&g.delivered, 1, __ATOMIC_RELEASE);
	apic_eoi();
}

static void guest_wake_handler(struct ex_regs *regs)
{
	if (guest_emu_shadow_hit(regs))
		__atomic_add_fetch(&g.shadow_hits, 1, __ATOMIC_RELAXED);
	apic_eoi();
}

static void guest_target(void)
{
	cli();
	__atomic_add_fetch(&g.ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&g.stop, __ATOMIC_ACQUIRE)) {
		sti_hlt();
		cli();
	}
	sti();
}

/*
 * Waits until @due deliveries past @base were taken, halted between looks
 * (a 1 ms periodic timer wakes it) so that it leaves the host CPUs to the
 * targets. False when none arrived for GATE_IDLE_US.
 */
static bool await_deliveries(u64 base, u64 due)
{
	u64 seen = base, since = rdtsc(), d;
	bool ok = true;

	apic_write(APIC_TDCR, 0xb);		/* divide by 1 */
	apic_write(APIC_LVTT, WAKE_VEC | APIC_LVT_TIMER_PERIODIC);
	apic_write(APIC_TMICT, 1000000);	/* 1 ms at KVM's 1 GHz bus */
	cli();
	for (;;) {
		d = __atomic_load_n(&g.delivered, __ATOMIC_ACQUIRE);
		if (d - base >= due)
			break;
		if (d != seen) {
			seen = d;
			since = rdtsc();
		} else if (guest_tsc_to_us(rdtsc() - since) > GATE_IDLE_US) {
			ok = false;
			break;
		}
		sti_hlt();
		cli();
	}
	sti();
	apic_write(APIC_TMICT, 0);
	apic_write(APIC_LVTT, APIC_LVT_MASKED | WAKE_VEC);
	return ok;
}

static void guest_sender(void)
{
	u32 p, i, first;
	u64 base, t0;

	while (__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE) < g.nr_vcpus - 1)
		cpu_relax();
	for (p = 0; p < g.nr_phases; p++) {
		WRITE_ONCE(g.phase, p);
		base = __atomic_load_n(&g.delivered, __ATOMIC_ACQUIRE);
		first = p * NR_VEC;
		t0 = rdtsc();
		for (i = 0; i < g.phase_len[p]; i++) {
			if (g.drop_one && p == 0 && i == g.phase_len[0] / 2)
				continue;
			apic_icr_write(g.dest[first + i], g.low[first + i]);
		}
		g.send_cycles += rdtsc() - t0;
		if (!await_deliveries(base, g.due[p])) {
			g.gave_up = p + 1;
			break;
		}
	}
	__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
	apic_icr_write(0, apic_icr_low(WAKE_VEC, APIC_DM_FIXED, false,
				       APIC_DEST_ALLBUT));
}

static void guest_main(void)
{
	x2apic_enable();
	sti();
	if (this_cpu_id())
		guest_target();
	else
		guest_sender();
	GUEST_DONE();
}

/* ---- host side ---- */

static struct {
	const char *json;
	int reps, max_vcpus, per;
	bool drop_one;
} opt = { .reps = 3, .max_vcpus = 33, .per = NR_VEC };

BENCH_FIGS(figs, MAX_FIGURES);

struct run_result {
	u64 sends, deliveries, wall_ns, send_cycles;
};

/* The schedule of one run: @per unicasts, then @per / 4 broadcasts. */
struct sched {
	int n, nr_cases, nr_phases;
	u32 *dest, *low;
	struct apic_cfg cfg[APIC_ORACLE_MAX_VCPUS];
};

static void sched_add(struct sched *s, u32 dest, bool logical, u32 sh)
{
	int c = s->nr_cases++;

	s->dest[c] = dest;
	s->low[c] = apic_icr_low(VEC_BASE + c % NR_VEC, APIC_DM_FIXED,
				 logical, sh);
}

static void sched_init(struct sched *s, int n)
{
	int i, max = opt.per + opt.per / 4;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->dest = calloc(max, sizeof(u32));
	s->low = calloc(max, sizeof(u32));
	TEST_ASSERT(s->dest && s->low, "out of memory");
	for (i = 0; i < n; i++)
		apic_cfg_x2apic(&s->cfg[i], i);
	for (i = 0; i < opt.per; i++)
		sched_add(s, x2apic_logical_id(1 + i % (n - 1)), true, 0);
	for (i = 0; i < opt.per / 4; i++)
		sched_add(s, 0, false, APIC_DEST_ALLBUT);
	s->nr_phases = (s->nr_cases + NR_VEC - 1) / NR_VEC;
}

static void sched_free(struct sched *s)
{
	free(s->dest);
	free(s->low);
}

static void oracle(struct sched *s, int c, struct apic_targets *want)
{
	char d[128];

	TEST_ASSERT(!apic_oracle(s->cfg, s->n, 0, s->dest[c], s->low[c], 0,
				 want),
		    "oracle rejects %s",
		    apic_icr_str(s->dest[c], s->low[c], d, sizeof(d)));
}

/* What is wrong with case @c's counts, as text; "" when nothing is. */
static const char *diagnose(struct sched *s, int c, char *buf, size_t len)
{
	struct apic_targets want;
	int v, p = c / NR_VEC;
	u8 k;
	size_t o = 0;

	oracle(s, c, &want);
	buf[0] = '\0';
	for (v = 0; v < s->n && o < len; v++) {
		k = *count_slot(p, v, s->low[c] & 0xff);
		if (!k && targets_test(&want, v))
			o += snprintf(buf + o, len - o, "missed by vCPU %d; ",
				      v);
		else if (k && !targets_test(&want, v))
			o += snprintf(buf + o, len - o,
				      "reached non-target vCPU %d; ", v);
		else if (k > 1)
			o += snprintf(buf + o, len - o,
				      "vCPU %d took it %u times; ", v, k);
	}
	if (o >= 2 && o < len)
		buf[o - 2] = '\0';
	return buf;
}

/* Compares every count with the oracle; returns the cases delivered wrong. */
static int check_counts(struct sched *s, u64 *deliveries)
{
	char d[128], why[256];
	int c, v, errors = 0;

	*deliveries = 0;
	for (c = 0; c < s->nr_cases; c++) {
		/* After the sender gave up, the phases it never sent. */
		if (g.gave_up && c / NR_VEC >= (int)g.gave_up)
			break;
		for (v = 0; v < s->n; v++)
			*deliveries += *count_slot(c / NR_VEC, v,
						   s->low[c] & 0xff);
		if (!diagnose(s, c, why, sizeof(why))[0])
			continue;
		if (errors++ < 10)
			printf("# %d vCPUs, phase %d %s: %s\n", s->n,
			       c / NR_VEC, apic_icr_str(s->dest[c], s->low[c],
							d, sizeof(d)), why);
	}
	if (g.gave_up)
		printf("# %d vCPUs: phase %u: no delivery for %d ms, the "
		       "sender gave up\n", s->n, g.gave_up - 1,
		       GATE_IDLE_US / 1000);
	return errors + !!g.gave_up;
}

static int run_sched(struct sched *s, struct run_result *res)
{
	struct apic_targets want;
	struct kvm_vm *vm;
	int c, p, i, errors;
	u64 t0;

	memset(&g, 0, sizeof(g));
	vm = vm_create(IRQCHIP_KERNEL);
	g.nr_vcpus = s->n;
	g.nr_phases = s->nr_phases;
	g.drop_one = opt.drop_one;
	g.phase_len = guest_alloc(vm, s->nr_phases * sizeof(u32));
	g.due = guest_alloc(vm, s->nr_phases * sizeof(u64));
	g.dest = guest_alloc(vm, s->nr_cases * sizeof(u32));
	g.low = guest_alloc(vm, s->nr_cases * sizeof(u32));
	g.counts = guest_alloc(vm, (u64)s->nr_phases * s->n * NR_VEC);
	memcpy(g.dest, s->dest, s->nr_cases * sizeof(u32));
	memcpy(g.low, s->low, s->nr_cases * sizeof(u32));
	for (c = 0; c < s->nr_cases; c++) {
		p = c / NR_VEC;
		g.phase_len[p]++;
		oracle(s, c, &want);
		g.due[p] += targets_count(&want);
	}
	for (i = 0; i < NR_VEC; i++)
		vm_install_handler(vm, VEC_BASE + i, guest_count_handler);
	vm_install_handler(vm, WAKE_VEC, guest_wake_handler);
	vm_add_vcpus(vm, s->n, guest_main);
	t0 = now_ns();
	vm_threads_start(vm);
	vm_wait_done(vm, 600000, "IPI scale run");
	res->wall_ns = now_ns() - t0;
	errors = check_counts(s, &res->deliveries);
	res->sends = s->nr_cases - opt.drop_one;
	res->send_cycles = g.send_cycles;
	if (g.shadow_hits)
		printf("# %d vCPUs: %llu interrupt(s) taken between STI and "
		       "HLT (stepped over)\n", s->n, g.shadow_hits);
	vm_free(vm);
	return errors;
}

/* The three figures of @n vCPUs. */
static void point(int n, struct bench_fig *f[3])
{
	char name[64];

	snprintf(name, sizeof(name), "ipi_scale.delivery@%d", n);
	f[0] = bench_fig_point(&figs, name, "ipi_scale.delivery", n, "ns",
			       "lower", "host wall time per delivery: unicast "
			       "logical IPIs round robin to halted vCPUs, "
			       "then all-but-self broadcasts");
	snprintf(name, sizeof(name), "ipi_scale.icr_write@%d", n);
	f[1] = bench_fig_point(&figs, name, "ipi_scale.icr_write", n, "ns",
			       "lower", "the sender's ICR write (guest TSC)");
	snprintf(name, sizeof(name), "ipi_scale.rate@%d", n);
	f[2] = bench_fig_new(&figs, name, "1/s", "higher",
			     "deliveries per second");
	f[0]->converged = f[1]->converged = f[2]->converged = true;
}

/* Runs every vCPU count; returns the runs that delivered wrong. */
static int bench_scale(void)
{
	int k, r, bad = 0, kmax = kvm_check_cap(KVM_CAP_MAX_VCPUS);
	int maxn = MIN(opt.max_vcpus, MIN(VM_MAX_VCPUS, APIC_ORACLE_MAX_VCPUS));
	static struct sched s;
	struct run_result res;
	struct bench_fig *f[3];

	if (kmax > 0)
		maxn = MIN(maxn, kmax);
	printf("# %6s %8s %10s %10s %12s %14s\n", "vCPUs", "ICRs",
	       "deliveries", "wall ms", "IPIs/s", "us/delivery");
	for (k = 0; k < (int)ARRAY_SIZE(counts) && counts[k] <= maxn; k++) {
		int n = counts[k];

		sched_init(&s, n);
		point(n, f);
		for (r = 0; r < opt.reps; r++) {
			if (run_sched(&s, &res)) {
				bad++;
				continue;
			}
			printf("# %6d %8llu %10llu %10.1f %12.0f %14.1f\n", n,
			       res.sends, res.deliveries, res.wall_ns / 1e6,
			       res.deliveries * 1e9 / MAX(res.wall_ns, 1),
			       res.wall_ns / 1e3 / MAX(res.deliveries, 1));
			bench_fig_add(f[0], (double)res.wall_ns /
				      MAX(res.deliveries, 1));
			bench_fig_add(f[1], guest_tsc_to_us(res.send_cycles) *
				      1e3 / MAX(res.sends, 1));
			bench_fig_add(f[2], res.deliveries * 1e9 /
				      MAX(res.wall_ns, 1));
		}
		sched_free(&s);
	}
	return bad;
}

static void json_write(const char *path, const char *when, double secs)
{
	char clocksource[64];
	FILE *o = fopen(path, "w");

	TEST_ASSERT(o, "cannot write %s: %s", path, strerror(errno));
	bench_read_line(CLOCKSOURCE, clocksource, sizeof(clocksource));
	fprintf(o, "{\n  \"schema\": \"apicv-bench/1\",\n  \"tool\": "
		"\"ipi_scale_bench\",\n  \"version\": \"" BENCH_VERSION "\",\n"
		"  \"date\": \"%s\",\n  \"wall_s\": %.1f,\n", when, secs);
	bench_json_host(o, guest_tsc_khz, clocksource, NULL, 0);
	fprintf(o, "  \"method\": {\"clock\": \"host CLOCK_MONOTONIC per run "
		"(VM set-up excluded), guest TSC for ICR writes\", "
		"\"statistic\": \"median of runs\", \"ci\": \"95%% "
		"order-statistic interval of the median\", \"reps\": %d, "
		"\"unicast_per_run\": %d, \"broadcasts_per_run\": %d, "
		"\"apic_mode\": \"x2apic\", \"check\": \"every delivery "
		"against x86/apic_oracle.h\"},\n", opt.reps, opt.per,
		opt.per / 4);
	bench_json_figures(o, &figs);
	fprintf(o, "}\n");
	fclose(o);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
"usage: ipi_scale_bench [options]\n"
"  --json FILE       write the results as JSON (schema apicv-bench/1)\n"
"  --reps N          runs (VMs) per vCPU count, the median is reported (3)\n"
"  --max-vcpus N     vCPU counts 2, 4, 8, 16, 17, 33, ... up to N (33)\n"
"  --per N           unicast IPIs per run, plus N/4 broadcasts (%d)\n"
"  --fault NAME      negative control (or APICV_FAULT=NAME); --list-faults\n",
		NR_VEC);
	exit(code);
}

static int num(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v < 1 || v > 1 << 20) {
		fprintf(stderr, "ipi_scale_bench: %s wants a positive "
			"number, got '%s'\n", what, s);
		usage(2);
	}
	return (int)v;
}

static void set_fault(const char *name)
{
	if (strcmp(name, "scale_drop")) {
		fprintf(stderr, "ipi_scale_bench: unknown fault '%s' "
			"(--list-faults)\n", name);
		exit(2);
	}
	opt.drop_one = true;
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", required_argument, NULL, 'j' },
		{ "reps", required_argument, NULL, 'r' },
		{ "max-vcpus", required_argument, NULL, 'm' },
		{ "per", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'F' },
		{ "list-faults", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *env = getenv("APICV_FAULT");
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'j': opt.json = optarg; break;
		case 'r': opt.reps = num(optarg, "--reps"); break;
		case 'm': opt.max_vcpus = num(optarg, "--max-vcpus"); break;
		case 'p': opt.per = num(optarg, "--per"); break;
		case 'F': set_fault(optarg); break;
		case 'L':
			printf("scale_drop\t-\tthe sender skips one IPI of "
			       "each run: \"missed by vCPU\", exit 1\n");
			exit(0);
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!opt.drop_one && env && *env)
		set_fault(env);
	if (optind < argc || opt.reps > BENCH_MAX_SAMPLES ||
	    opt.max_vcpus < 2)
		usage(2);
}

int main(int argc, char **argv)
{
	char when[64];
	time_t now = time(NULL);
	u64 t0 = now_ns();
	int bad;

	parse(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("# SKIP ipi_scale_bench: no /dev/kvm (run it inside "
		       "scripts/vm)\n");
		return 4;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	emu_keys_hold_for_process();
	printf("# ipi_scale_bench %s: kernel %s, x2APIC logical unicast and "
	       "all-but-self broadcasts, %d + %d per run, %d run(s) per "
	       "count%s\n", when,
	       getenv("APICV_KERNEL") ? getenv("APICV_KERNEL") : "?",
	       opt.per, opt.per / 4, opt.reps,
	       opt.drop_one ? ", fault scale_drop" : "");
	bad = bench_scale();
	bench_table(&figs);
	if (opt.json) {
		json_write(opt.json, when, (now_ns() - t0) / 1e9);
		printf("# wrote %s\n", opt.json);
	}
	if (bad)
		printf("FAIL ipi_scale: %d run(s) delivered IPIs wrong "
		       "(see above)\n", bad);
	printf("# total %.1f s\n", (now_ns() - t0) / 1e9);
	return bad ? 1 : 0;
}
