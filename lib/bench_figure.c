// SPDX-License-Identifier: GPL-2.0
/*
 * Figures of the benchmarks (include/bench_figure.h): statistics, table,
 * JSON. Benchmarks link this with -lm.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_figure.h"
#include "kvm_ioctl.h"

struct bench_fig *bench_fig_new(struct bench_figs *s, const char *name,
				const char *unit, const char *better,
				const char *desc)
{
	struct bench_fig *f;

	TEST_ASSERT(s->n < s->max, "more than %d figures", s->max);
	f = &s->fig[s->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->unit = unit;
	f->better = better;
	f->desc = desc;
	return f;
}

struct bench_fig *bench_fig_point(struct bench_figs *s, const char *name,
				  const char *series, int x, const char *unit,
				  const char *better, const char *desc)
{
	struct bench_fig *f = bench_fig_new(s, name, unit, better, desc);

	snprintf(f->series, sizeof(f->series), "%s", series);
	f->x = x;
	return f;
}

struct bench_fig *bench_fig_find(struct bench_figs *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->fig[i].name, name))
			return &s->fig[i];
	return NULL;
}

void bench_fig_add(struct bench_fig *f, double v)
{
	if (f->n < BENCH_MAX_SAMPLES)
		f->v[f->n++] = v;
	bench_fig_stats(f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q)
{
	double pos = q * (n - 1);
	int i = (int)pos;

	if (i >= n - 1)
		return sorted[n - 1];
	return sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]);
}

/* The median of @n values (copied, sorted). */
static double median_of(const double *v, int n)
{
	double s[BENCH_MAX_SAMPLES];

	memcpy(s, v, n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	return quantile(s, n, 0.5);
}

void bench_fig_stats(struct bench_fig *f)
{
	double s[BENCH_MAX_SAMPLES], d[BENCH_MAX_SAMPLES];
	int n = f->n, i, lo, hi;

	if (!n)
		return;
	memcpy(s, f->v, n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	f->median = quantile(s, n, 0.5);
	f->p10 = quantile(s, n, 0.1);
	f->p90 = quantile(s, n, 0.9);
	for (i = 0; i < n; i++)
		d[i] = fabs(f->v[i] - f->median);
	f->mad = median_of(d, n);
	/* Distribution-free 95% interval of the median: binomial ranks. */
	lo = (int)floor(n / 2.0 - 0.98 * sqrt(n));
	hi = (int)ceil(n / 2.0 + 0.98 * sqrt(n));
	lo = MAX(lo, 0);
	hi = MIN(hi, n - 1);
	f->ci_lo = s[lo];
	f->ci_hi = s[hi];
	f->rel_ci = f->median != 0 ?
		(f->ci_hi - f->ci_lo) / 2 / fabs(f->median) : INFINITY;
	if (!f->iters)
		return;
	f->tsc_host = median_of(f->ratio, n);
	f->host_per_iter = median_of(f->host, n);
}

/*
 * One line per figure; "batches" is N x iterations for batched figures,
 * the number of runs for the others.
 */
void bench_table(const struct bench_figs *s)
{
	bool star = false;
	char n[32];
	int i;

	printf("%-34s %12s %12s %12s %10s %7s %9s %s\n", "figure", "median",
	       "p10", "p90", "MAD", "CI+-%", "batches", "unit");
	for (i = 0; i < s->n; i++) {
		const struct bench_fig *f = &s->fig[i];

		if (f->iters)
			snprintf(n, sizeof(n), "%4dx%-5llu", f->n, f->iters);
		else
			snprintf(n, sizeof(n), "%4d runs ", f->n);
		printf("%-34s %12.1f %12.1f %12.1f %10.1f %6.1f%s %s %s%s%s\n",
		       f->name, f->median, f->p10, f->p90, f->mad,
		       isfinite(f->rel_ci) ? 100 * f->rel_ci : 999.0,
		       f->converged ? " " : "*", n, f->unit,
		       f->note[0] ? "  # " : "", f->note);
		star |= !f->converged;
	}
	if (star)
		printf("# * = interval above target when the time limit "
		       "ended it\n");
	fflush(stdout);
}

void bench_json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(o, "\\u%04x", *s);
		else
			fputc(*s, o);
	}
	fputc('"', o);
}

/* JSON has no NaN or infinity: -1 stands for "not measured". */
static double json_num(double v)
{
	return isfinite(v) ? v : -1;
}

static void json_figure(FILE *o, const struct bench_fig *f)
{
	int k;

	fprintf(o, "    {\"name\": ");
	bench_json_str(o, f->name);
	fprintf(o, ", \"unit\": \"%s\", \"better\": \"%s\", \"desc\": ",
		f->unit, f->better);
	bench_json_str(o, f->desc);
	if (f->series[0]) {
		fprintf(o, ", \"series\": ");
		bench_json_str(o, f->series);
		fprintf(o, ", \"x\": %d", f->x);
	}
	fprintf(o, ",\n     \"median\": %.3f, \"p10\": %.3f, \"p90\": %.3f, "
		"\"mad\": %.3f, \"ci_lo\": %.3f, \"ci_hi\": %.3f, "
		"\"rel_ci\": %.4f, \"batches\": %d",
		json_num(f->median), json_num(f->p10), json_num(f->p90),
		json_num(f->mad), json_num(f->ci_lo), json_num(f->ci_hi),
		isfinite(f->rel_ci) ? f->rel_ci : 99.0, f->n);
	if (f->iters)
		fprintf(o, ", \"iters_per_batch\": %llu", f->iters);
	fprintf(o, ", \"converged\": %s", f->converged ? "true" : "false");
	/* Batched figures: the clock cross-check and the guest's oddities. */
	if (f->iters)
		fprintf(o, ", \"host_ns_per_iter\": %.1f, "
			"\"tsc_over_host\": %.3f, "
			"\"sti_hlt_shadow_breaks\": %llu, "
			"\"cross_vcpu_tsc_negative\": %llu", f->host_per_iter,
			f->tsc_host, f->shadow_breaks, f->tsc_negative);
	fprintf(o, "%s%s", f->diag[0] ? ", " : "", f->diag);
	if (f->note[0]) {
		fprintf(o, ", \"note\": ");
		bench_json_str(o, f->note);
	}
	/* Batch means in ns need no more than two decimals. */
	fprintf(o, ",\n     \"samples\": [");
	for (k = 0; k < f->n; k++)
		if (f->iters)
			fprintf(o, "%s%.2f", k ? ", " : "", f->v[k]);
		else
			fprintf(o, "%s%.3f", k ? ", " : "", json_num(f->v[k]));
	fprintf(o, "]}");
}

void bench_json_figures(FILE *o, const struct bench_figs *s)
{
	int i;

	fprintf(o, "  \"figures\": [\n");
	for (i = 0; i < s->n; i++) {
		json_figure(o, &s->fig[i]);
		fprintf(o, "%s\n", i + 1 < s->n ? "," : "");
	}
	fprintf(o, "  ]\n");
}

void bench_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512], *p;

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) || !strchr(line, ':'))
			continue;
		p = strchr(line, ':') + 1;
		while (*p == ' ')
			p++;
		p[strcspn(p, "\n")] = '\0';
		snprintf(buf, len, "%s", p);
		break;
	}
	fclose(f);
}

static void json_params(FILE *o, const char *mod)
{
	char dir[128], path[512], val[256];
	struct dirent *e;
	bool first = true;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/module/%s/parameters", mod);
	fprintf(o, "      ");
	bench_json_str(o, mod);
	fprintf(o, ": {");
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		bench_read_line(path, val, sizeof(val));
		fprintf(o, "%s", first ? "" : ", ");
		bench_json_str(o, e->d_name);
		fprintf(o, ": ");
		bench_json_str(o, val);
		first = false;
	}
	if (d)
		closedir(d);
	fprintf(o, "}");
}

void bench_json_host(FILE *o, u64 tsc_khz, const char *clocksource,
		     const int *cpus, int ncpus)
{
	const char *k = getenv("APICV_KERNEL");
	struct utsname u;
	char buf[512];
	int i;

	uname(&u);
	fprintf(o, "  \"host\": {\n    \"kernel\": ");
	bench_json_str(o, u.release);
	fprintf(o, ",\n    \"kernel_build\": ");
	bench_json_str(o, u.version);
	fprintf(o, ",\n    \"kernel_label\": ");
	bench_json_str(o, k ? k : u.release);
	fprintf(o, ",\n    \"machine\": ");
	bench_json_str(o, u.machine);
	cpu_model(buf, sizeof(buf));
	fprintf(o, ",\n    \"cpu_model\": ");
	bench_json_str(o, buf);
	fprintf(o, ",\n    \"clocksource\": ");
	bench_json_str(o, clocksource);
	fprintf(o, ",\n    \"cpus_online\": %ld,\n    \"cpus_allowed\": [",
		sysconf(_SC_NPROCESSORS_ONLN));
	for (i = 0; i < ncpus; i++)
		fprintf(o, "%s%d", i ? ", " : "", cpus[i]);
	bench_read_line("/proc/cmdline", buf, sizeof(buf));
	fprintf(o, "],\n    \"cmdline\": ");
	bench_json_str(o, buf);
	fprintf(o, ",\n    \"in_vm\": %s,\n    \"tsc_khz\": %llu,\n",
		getenv("APICV_IN_VM") ? "true" : "false", tsc_khz);
	fprintf(o, "    \"kvm_max_vcpus\": %d,\n    \"kvm_params\": {\n",
		kvm_check_cap(KVM_CAP_MAX_VCPUS));
	json_params(o, "kvm");
	fprintf(o, ",\n");
	json_params(o, "kvm_amd");
	fprintf(o, ",\n");
	json_params(o, "kvm_intel");
	fprintf(o, "\n    }\n  },\n");
}
