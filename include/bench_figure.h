/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Figures of the benchmarks in bench/: a named measurement with its
 * samples (batch means or per-run values), the statistics over them, the
 * table on stdout and the "figures" array of the JSON result. One figure
 * format for every benchmark, so bench/compare, bench/plot and
 * bench/churn_plot read all of them alike.
 */
#ifndef APICV_BENCH_FIGURE_H
#define APICV_BENCH_FIGURE_H

#include <stdbool.h>
#include <stdio.h>

#include "test_util.h"

#define BENCH_MAX_SAMPLES	200

struct bench_fig {
	char name[96];
	char series[64];	/* scaling curve this point belongs to */
	int x;			/* its position on the curve (vCPUs) */
	const char *unit, *better, *desc;
	double v[BENCH_MAX_SAMPLES];
	/*
	 * Batched figures (iters != 0) also keep per sample the guest TSC
	 * time over the host clock time and the host-clock ns per iteration.
	 */
	double ratio[BENCH_MAX_SAMPLES];
	double host[BENCH_MAX_SAMPLES];
	int n;
	u64 iters;		/* iterations per batch; 0: not batched */
	double median, p10, p90, mad, ci_lo, ci_hi, rel_ci;
	double tsc_host, host_per_iter;
	bool converged;
	u64 shadow_breaks;	/* interrupts taken between STI and HLT */
	u64 tsc_negative;	/* cross-vCPU TSC went backwards */
	char diag[256];		/* extra JSON members, formatted */
	char note[256];		/* JSON "note", a comment in the table */
};

struct bench_figs {
	struct bench_fig *fig;
	int n, max;
};

/* A static set of at most @max figures named @set. */
#define BENCH_FIGS(set, max)						\
	static struct bench_fig set##_store[max];			\
	static struct bench_figs set = { set##_store, 0, max }

struct bench_fig *bench_fig_new(struct bench_figs *s, const char *name,
				const char *unit, const char *better,
				const char *desc);
/* The same, as point @x of the curve @series. */
struct bench_fig *bench_fig_point(struct bench_figs *s, const char *name,
				  const char *series, int x, const char *unit,
				  const char *better, const char *desc);
struct bench_fig *bench_fig_find(struct bench_figs *s, const char *name);

/* Appends one sample (dropped beyond BENCH_MAX_SAMPLES) and restats. */
void bench_fig_add(struct bench_fig *f, double v);
/*
 * Median, p10, p90, MAD and the distribution-free 95% interval of the
 * median (binomial ranks) of the samples; for batched figures also the
 * medians of ratio[] and host[].
 */
void bench_fig_stats(struct bench_fig *f);

/* The table of every figure; a note follows its line as "# note". */
void bench_table(const struct bench_figs *s);

/* JSON: a quoted, escaped string; the "figures" member (last in its object). */
void bench_json_str(FILE *o, const char *s);
void bench_json_figures(FILE *o, const struct bench_figs *s);
/*
 * The "host" member of schema apicv-bench/1: kernel, CPU model, the
 * clocksource, allowed CPUs, command line, KVM module parameters.
 */
void bench_json_host(FILE *o, u64 tsc_khz, const char *clocksource,
		     const int *cpus, int ncpus);

/* First line of @path without its newline; "" when unreadable. */
void bench_read_line(const char *path, char *buf, size_t len);

#endif
