/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wakeup latencies: order statistics of a set of samples, and the bound a
 * same-VM baseline gives the samples taken later under pressure.
 *
 * The wakeup tests take a baseline in the VM under test before any host
 * pressure starts; what the pressure may cost is then judged against that
 * baseline, not against a fixed figure, so a slow host does not fail a
 * correct KVM. A wake event KVM does not turn into a wakeup waits for an
 * unrelated one (about every 100 ms in L1 under TCG), far above any bound.
 */
#ifndef APICV_WAKE_LATENCY_H
#define APICV_WAKE_LATENCY_H

#include "test_util.h"

struct lat_summary {
	u64 n, p50, p99, max;
};

/* Sorts @v[0..n) in place and fills @s (all zero when @n is 0). */
void lat_summarize(u64 *v, u64 n, struct lat_summary *s);

/*
 * The bound on a median under pressure: @factor times the baseline's
 * median, but at least @floor_us (what the pressure alone may cost) and at
 * most @cap_us (below what a wake event left to an unrelated wakeup costs).
 */
struct wake_bound {
	u64 factor, floor_us, cap_us;
};

u64 wake_bound_us(const struct wake_bound *b, u64 base_p50_us);

#endif /* APICV_WAKE_LATENCY_H */
