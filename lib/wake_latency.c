// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "wake_latency.h"

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

void lat_summarize(u64 *v, u64 n, struct lat_summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!n)
		return;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	s->n = n;
	s->p50 = v[n / 2];
	s->p99 = v[n * 99 / 100];
	s->max = v[n - 1];
}

u64 wake_bound_us(const struct wake_bound *b, u64 base_p50_us)
{
	u64 limit = base_p50_us * b->factor;

	if (limit < b->floor_us)
		return b->floor_us;
	if (limit > b->cap_us)
		return b->cap_us;
	return limit;
}
