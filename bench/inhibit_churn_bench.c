// SPDX-License-Identifier: GPL-2.0
/*
 * inhibit_churn_bench: what APICv/AVIC inhibit churn costs.
 *
 * A flip is one KVM_SET_GUEST_DEBUG on a spare vCPU that never runs,
 * turning BLOCKIRQ on or off. Without another reason set, each flip
 * changes the VM's APICv activity: KVM kicks every vCPU with
 * KVM_REQ_APICV_UPDATE, waits, writes the mask and zaps the APIC-access
 * page ("activity" flips). With an anchor (a second spare vCPU with a
 * relocated APIC base: APIC_BASE_MODIFIED, sticky) the VM stays inhibited
 * and a flip only moves a bit under the lock ("bit-only" flips). Where
 * APICv/AVIC is off, KVM returns early and a flip is the bare ioctl.
 *
 * Figures (each a median over --reps runs of --secs seconds):
 *  - flip_cost.<kind>: one vCPU reads its TSC in a loop; every step longer
 *    than --gap-us is time the vCPU was out of the guest. The time lost per
 *    second with a flipper running, minus the same without, divided by the
 *    flips per second: the guest time one flip costs a running vCPU. With
 *    it, the flip ioctl's own latency on the host (mean, p99) and the
 *    longest gap seen.
 *  - flips.<kind>@N: flips per second one host thread achieves while N
 *    vCPUs spin in the guest (N = 1, 2, 4, ... --max-vcpus).
 *  - irqs.<none|churn>@N: self-IPIs (ICR write, handler, EOI, spinning
 *    with IF=1 until taken) per second over N vCPUs, without and with a
 *    flipper. A
 *    forced AVIC (no hardware) only delivers while inhibited, so there the
 *    VM is anchored and the churn is bit-only flips (the JSON says so).
 * Output: a table on stdout and, with --json FILE, schema
 * apicv-churn-bench/1 (bench/churn_plot draws it).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_figure.h"
#include "emulator.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/apicv_pull.h"

#define MAX_VCPUS	16
#define MAX_FIGS	64
#define MAX_REPS	16
#define IPI_VEC		0x40
#define MAX_LAT		(1 << 20)

enum gmode { G_GAPS, G_SPIN, G_SELF_IPI };

/* Shared with the guest (same addresses). */
static struct {
	u64 mode, stop, gap_cycles;
	struct {
		u64 count;		/* loop rounds / interrupts taken */
		u64 lost_cycles;	/* sum of gaps above the threshold */
		u64 gaps, max_gap;
	} c[MAX_VCPUS] __attribute__((aligned(64)));
} g;

static u64 shadow_breaks;

/*
 * An interrupt taken on the HLT of "sti; hlt" broke STI's shadow (seen under
 * QEMU TCG nested SVM): step over the HLT, or it sleeps with the wake-up
 * consumed. Counted and reported.
 */
static void shadow_check(struct ex_regs *regs)
{
	if (guest_emu_shadow_hit(regs))
		__atomic_add_fetch(&shadow_breaks, 1, __ATOMIC_RELAXED);
}

static void ipi_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();

	shadow_check(regs);
	WRITE_ONCE(g.c[id].count, g.c[id].count + 1);
	apic_eoi();
}

static void guest_gaps(u32 id)
{
	u64 prev = rdtsc(), t, d, thr = READ_ONCE(g.gap_cycles);

	while (!READ_ONCE(g.stop)) {
		t = rdtsc();
		d = t - prev;
		prev = t;
		if (d > thr) {
			g.c[id].lost_cycles += d;
			g.c[id].gaps++;
			if (d > g.c[id].max_gap)
				g.c[id].max_gap = d;
		}
		WRITE_ONCE(g.c[id].count, g.c[id].count + 1);
	}
}

static void guest_main(void)
{
	u32 id = this_cpu_id();
	u64 h;

	cli();
	/*
	 * Only the interrupt mode touches the APIC: a forced AVIC that is
	 * active maps a page no hardware backs at the APIC's address.
	 */
	if (READ_ONCE(g.mode) == G_SELF_IPI)
		xapic_enable();
	switch (READ_ONCE(g.mode)) {
	case G_GAPS:
		guest_gaps(id);
		break;
	case G_SPIN:
		while (!READ_ONCE(g.stop))
			WRITE_ONCE(g.c[id].count, g.c[id].count + 1);
		break;
	case G_SELF_IPI:
		/* IF=1 throughout: no interrupt windows, no HLT. */
		sti();
		while (!READ_ONCE(g.stop)) {
			h = g.c[id].count + 1;
			apic_self_ipi(IPI_VEC);
			while (READ_ONCE(g.c[id].count) < h)
				cpu_relax();
		}
		cli();
		break;
	}
	GUEST_DONE();
}

/* ---- options and figures ---------------------------------------------- */

static struct {
	double secs, gap_us;
	int reps, max_vcpus;
	const char *json;
} opt = { .secs = 1.0, .gap_us = 5.0, .reps = 3, .max_vcpus = 4 };

BENCH_FIGS(figs, MAX_FIGS);

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A figure of --reps runs: complete after each, so never "unconverged". */
static struct bench_fig *fig_new(const char *name, const char *series, int x,
				 const char *unit, const char *better,
				 const char *desc)
{
	struct bench_fig *f = bench_fig_point(&figs, name, series, x, unit,
					      better, desc);

	f->converged = true;
	return f;
}

static void fig_add(struct bench_fig *f, double v)
{
	bench_fig_add(f, v);
}

/* ---- the flipper ------------------------------------------------------- */

struct flipper {
	struct apicv_pull *pull;	/* BLOCKIRQ */
	pthread_t thread;
	volatile bool stop, counting;
	u64 flips;
	double *lat_us;			/* per-op latency while counting */
	u64 nlat;
};

static void *flipper_main(void *arg)
{
	struct flipper *f = arg;
	bool on = true;
	u64 t0;

	while (!READ_ONCE(f->stop)) {
		t0 = now_ns();
		apicv_pull(f->pull, on);
		on = !on;
		if (!READ_ONCE(f->counting))
			continue;
		if (f->nlat < MAX_LAT)
			f->lat_us[f->nlat++] = (now_ns() - t0) / 1e3;
		WRITE_ONCE(f->flips, f->flips + 1);
	}
	if (!on)
		apicv_pull(f->pull, false);
	return NULL;
}

/* ---- one run ----------------------------------------------------------- */

struct run {
	enum gmode mode;
	int nvcpus;
	bool anchor, churn;
	/* results */
	double secs, count_per_s, lost_us_per_s, flips_per_s;
	double flip_mean_us, flip_p99_us, max_gap_us;
};

static double cyc_us(u64 c)
{
	return c * 1000.0 / guest_tsc_khz;
}

static void run_once(struct run *r)
{
	static double lat[MAX_LAT];
	u64 c0[MAX_VCPUS], l0[MAX_VCPUS], t0, t1, count = 0, lost = 0, mg = 0;
	struct flipper fl = { .lat_us = lat };
	struct apicv_pull *anchor = NULL;
	struct kvm_vm *vm;
	int i;

	memset(&g, 0, sizeof(g));
	g.mode = r->mode;
	vm = vm_create(IRQCHIP_KERNEL);
	vm_add_vcpus(vm, r->nvcpus, guest_main);
	vm_install_handler(vm, IPI_VEC, ipi_handler);
	g.gap_cycles = (u64)(opt.gap_us * guest_tsc_khz / 1000);
	fl.pull = apicv_pull_new(vm, APICV_REASON_BLOCKIRQ);
	if (r->anchor) {
		anchor = apicv_pull_new(vm, APICV_REASON_APIC_BASE_MODIFIED);
		apicv_pull(anchor, true);
	}
	for (i = 0; i < r->nvcpus; i++)
		vcpu_thread_start(vm->vcpus[i]);
	if (r->churn)
		TEST_ASSERT(!pthread_create(&fl.thread, NULL, flipper_main,
					    &fl), "pthread_create");
	usleep(200000);		/* warm-up: first entries, page faults */
	for (i = 0; i < r->nvcpus; i++) {
		c0[i] = READ_ONCE(g.c[i].count);
		l0[i] = READ_ONCE(g.c[i].lost_cycles);
	}
	WRITE_ONCE(fl.counting, true);
	t0 = now_ns();
	usleep((useconds_t)(opt.secs * 1e6));
	t1 = now_ns();
	WRITE_ONCE(fl.counting, false);
	for (i = 0; i < r->nvcpus; i++) {
		count += READ_ONCE(g.c[i].count) - c0[i];
		lost += READ_ONCE(g.c[i].lost_cycles) - l0[i];
		mg = MAX(mg, READ_ONCE(g.c[i].max_gap));
	}
	r->flips_per_s = 0;
	r->flip_mean_us = r->flip_p99_us = 0;
	if (r->churn) {
		u64 n = fl.nlat;
		double sum = 0;

		WRITE_ONCE(fl.stop, true);
		pthread_join(fl.thread, NULL);
		for (i = 0; (u64)i < n; i++)
			sum += lat[i];
		qsort(lat, n, sizeof(lat[0]), cmp_d);
		r->flips_per_s = fl.flips / ((t1 - t0) / 1e9);
		r->flip_mean_us = n ? sum / n : 0;
		r->flip_p99_us = n ? lat[n * 99 / 100] : 0;
	}
	WRITE_ONCE(g.stop, 1);
	for (i = 0; i < r->nvcpus; i++) {
		if (vcpu_thread_wait(vm->vcpus[i], 10000))
			continue;
		vcpu_thread_stop(vm->vcpus[i]);
		vcpu_dump(vm->vcpus[i], "did not stop");
		TEST_FAIL("mode %d, %d vCPUs, anchor %d, churn %d: vCPU %d "
			  "did not stop", r->mode, r->nvcpus, r->anchor,
			  r->churn, i);
	}
	r->secs = (t1 - t0) / 1e9;
	printf("#   run: mode %d, %d vCPUs, anchor %d, churn %d: %.0f/s, "
	       "flips %.0f/s\n", r->mode, r->nvcpus, r->anchor, r->churn,
	       count / r->secs, r->flips_per_s);
	r->count_per_s = count / r->secs;
	r->lost_us_per_s = cyc_us(lost) / r->secs / r->nvcpus;
	r->max_gap_us = cyc_us(mg);
	apicv_pull_free(fl.pull);
	if (anchor)
		apicv_pull_free(anchor);
	vm_free(vm);
}

/* ---- the figures ------------------------------------------------------- */

static bool forced(void)
{
	return apicv_host()->can_observe && apicv_host()->forced;
}

static void bench_flip_cost(bool anchor)
{
	const char *kind = anchor ? "bit_only" : "activity";
	struct bench_fig *cost, *lat, *p99, *gap, *base;
	struct run r;
	char name[64];
	int k;

	snprintf(name, sizeof(name), "flip_cost.%s", kind);
	cost = fig_new(name, "", 0, "us", "lower",
		       "guest time lost by one running vCPU per flip "
		       "(lost/s with churn - lost/s without) / flips/s");
	snprintf(name, sizeof(name), "flip_ioctl.%s.mean", kind);
	lat = fig_new(name, "", 0, "us", "lower",
		      "KVM_SET_GUEST_DEBUG latency, host");
	snprintf(name, sizeof(name), "flip_ioctl.%s.p99", kind);
	p99 = fig_new(name, "", 0, "us", "lower", "its 99th percentile");
	snprintf(name, sizeof(name), "max_gap.%s", kind);
	gap = fig_new(name, "", 0, "us", "lower",
		      "longest guest TSC gap under churn");
	snprintf(name, sizeof(name), "lost_base.%s", kind);
	base = fig_new(name, "", 0, "us/s", "lower",
		       "guest time lost per second without churn (noise)");
	for (k = 0; k < opt.reps; k++) {
		double lost_base, fps;

		r = (struct run){ .mode = G_GAPS, .nvcpus = 1,
				  .anchor = anchor };
		run_once(&r);
		lost_base = r.lost_us_per_s;
		r.churn = true;
		run_once(&r);
		fps = r.flips_per_s;
		fig_add(cost, fps > 0 ? (r.lost_us_per_s - lost_base) / fps :
					NAN);
		fig_add(lat, r.flip_mean_us);
		fig_add(p99, r.flip_p99_us);
		fig_add(gap, r.max_gap_us);
		fig_add(base, lost_base);
	}
}

static void bench_flip_rate(bool anchor)
{
	const char *kind = anchor ? "bit_only" : "activity";
	char name[64];
	int n, k;

	for (n = 1; n <= opt.max_vcpus; n *= 2) {
		struct bench_fig *f;

		snprintf(name, sizeof(name), "flips.%s@%d", kind, n);
		f = fig_new(name, anchor ? "flips_bit_only" : "flips_activity",
			    n, "1/s", "higher", "flips one host thread achieves "
			    "while N vCPUs spin in the guest");
		for (k = 0; k < opt.reps; k++) {
			struct run r = { .mode = G_SPIN, .nvcpus = n,
					 .anchor = anchor, .churn = true };

			run_once(&r);
			fig_add(f, r.flips_per_s);
		}
	}
}

static void bench_irqs(bool churn)
{
	bool anchor = forced();
	char name[64];
	int n, k;

	for (n = 1; n <= opt.max_vcpus; n *= 2) {
		struct bench_fig *f;

		snprintf(name, sizeof(name), "irqs.%s@%d",
			 churn ? "churn" : "none", n);
		f = fig_new(name, churn ? "irqs_churn" : "irqs_none", n, "1/s",
			    "higher",
			    "self-IPIs delivered per second over N vCPUs");
		if (anchor)
			snprintf(f->note, sizeof(f->note),
				 "anchored: forced AVIC delivers only while "
				 "inhibited; churn = bit-only flips");
		for (k = 0; k < opt.reps; k++) {
			struct run r = { .mode = G_SELF_IPI, .nvcpus = n,
					 .anchor = anchor, .churn = churn };

			run_once(&r);
			fig_add(f, r.count_per_s);
			if (churn)
				snprintf(f->note + strlen(f->note),
					 sizeof(f->note) - strlen(f->note),
					 "%sflips/s %.0f", f->note[0] ?
					 "; " : "", r.flips_per_s);
		}
	}
}

/* ---- output ------------------------------------------------------------ */

static void read_param(const char *mod, const char *p, char *buf, size_t len)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", mod, p);
	snprintf(buf, len, "-");
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void json_write(const char *path, double wall)
{
	char avic[16], force[16], apicv[16];
	FILE *o = fopen(path, "w");

	TEST_ASSERT(o, "cannot write %s: %s", path, strerror(errno));
	read_param("kvm_amd", "avic", avic, sizeof(avic));
	read_param("kvm_amd", "force_avic", force, sizeof(force));
	read_param("kvm_intel", "enable_apicv", apicv, sizeof(apicv));
	fprintf(o, "{\n  \"schema\": \"apicv-churn-bench/1\",\n"
		"  \"kernel_label\": \"%s\",\n  \"kernel\": \"%u.%u\",\n"
		"  \"kvm_amd_avic\": \"%s\", \"kvm_amd_force_avic\": \"%s\", "
		"\"kvm_intel_enable_apicv\": \"%s\",\n  \"apicv\": \"%s\",\n"
		"  \"wall_s\": %.1f,\n  \"method\": {\"secs_per_run\": %g, "
		"\"reps\": %d, \"gap_us\": %g, \"warmup_ms\": 200, "
		"\"statistic\": \"median of reps\", \"sti_hlt_shadow_breaks\": %llu, "
		"\"flip\": "
		"\"KVM_SET_GUEST_DEBUG BLOCKIRQ on/off on a spare vCPU that "
		"never runs\", \"anchor\": \"spare vCPU with APIC base "
		"0xfed00000 (APIC_BASE_MODIFIED)\", \"guest_tsc_khz\": %llu},\n",
		getenv("APICV_KERNEL") ?: "?", apicv_host()->kver >> 8,
		apicv_host()->kver & 0xff, avic, force, apicv,
		apicv_host()->why, wall, opt.secs, opt.reps, opt.gap_us,
		(unsigned long long)shadow_breaks,
		(unsigned long long)guest_tsc_khz);
	bench_json_figures(o, &figs);
	fprintf(o, "}\n");
	fclose(o);
}

static void print_table(void)
{
	bench_table(&figs);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
"usage: inhibit_churn_bench [--json FILE] [--secs S] [--reps N]\n"
"                           [--max-vcpus N] [--gap-us US]\n"
"  --secs S        measuring window of one run (default 1)\n"
"  --reps N        runs per figure, the median is reported (default 3)\n"
"  --max-vcpus N   vCPU counts 1, 2, 4, ... up to N (default 4)\n"
"  --gap-us US     a TSC step above this is time out of the guest (5)\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", required_argument, NULL, 'j' },
		{ "secs", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "max-vcpus", required_argument, NULL, 'm' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	u64 t0 = now_ns();
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'j': opt.json = optarg; break;
		case 's': opt.secs = atof(optarg); break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'm': opt.max_vcpus = atoi(optarg); break;
		case 'g': opt.gap_us = atof(optarg); break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (opt.secs <= 0 || opt.reps < 1 || opt.reps > MAX_REPS ||
	    opt.max_vcpus < 1 || opt.max_vcpus > MAX_VCPUS - 2)
		usage(2);
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("# SKIP inhibit_churn_bench: no /dev/kvm (run it inside "
		       "scripts/vm)\n");
		return 4;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Holds KVM's static keys while the runs' VMs come and go. */
	emu_keys_hold_for_process();
	printf("# inhibit_churn_bench: kernel %s, %s\n",
	       getenv("APICV_KERNEL") ?: "?", apicv_host()->why);
	bench_flip_cost(false);
	bench_flip_cost(true);
	bench_flip_rate(false);
	bench_flip_rate(true);
	bench_irqs(false);
	bench_irqs(true);
	print_table();
	if (opt.json) {
		json_write(opt.json, (now_ns() - t0) / 1e9);
		printf("# wrote %s\n", opt.json);
	}
	printf("# interrupts taken inside the STI shadow: %llu\n",
	       (unsigned long long)shadow_breaks);
	printf("# total %.1f s\n", (now_ns() - t0) / 1e9);
	return 0;
}
