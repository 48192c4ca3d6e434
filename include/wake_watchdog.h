/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A host thread that watches receivers' round counters: a receiver whose
 * sent count stays above its received count, with the same round pending,
 * for longer than the deadline is a wakeup that never came. The watchdog
 * then calls the test's fire() (which dumps and fails; it does not
 * return). Polled every 5 ms; a round that changes restarts the clock.
 */
#ifndef APICV_WAKE_WATCHDOG_H
#define APICV_WAKE_WATCHDOG_H

#include <pthread.h>
#include <stdbool.h>

#include "test_util.h"

#define WAKE_WATCHDOG_MAX	16

struct wake_watchdog {
	int nr;					/* receivers watched */
	const u64 *sent[WAKE_WATCHDOG_MAX], *recv[WAKE_WATCHDOG_MAX];
	int idx[WAKE_WATCHDOG_MAX];		/* passed to fire() */
	u64 deadline_ms;
	void (*fire)(struct wake_watchdog *w, int idx, u64 pending_ms);
	void *priv;				/* for fire() */
	volatile bool stop;
	pthread_t thread;
};

/* Adds a receiver, known to fire() as @idx. */
void wake_watchdog_add(struct wake_watchdog *w, int idx, const u64 *sent,
		       const u64 *recv);
void wake_watchdog_start(struct wake_watchdog *w);
/* Stops and joins the thread. */
void wake_watchdog_stop(struct wake_watchdog *w);

#endif /* APICV_WAKE_WATCHDOG_H */
