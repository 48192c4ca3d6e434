// SPDX-License-Identifier: GPL-2.0
#include <unistd.h>

#include "wake_watchdog.h"

void wake_watchdog_add(struct wake_watchdog *w, int idx, const u64 *sent,
		       const u64 *recv)
{
	TEST_ASSERT(w->nr < WAKE_WATCHDOG_MAX, "watchdog: too many receivers");
	w->idx[w->nr] = idx;
	w->sent[w->nr] = sent;
	w->recv[w->nr] = recv;
	w->nr++;
}

static void *wake_watchdog_main(void *arg)
{
	u64 seen_sent[WAKE_WATCHDOG_MAX] = { 0 };
	u64 since[WAKE_WATCHDOG_MAX] = { 0 };
	struct wake_watchdog *w = arg;
	int i;

	while (!READ_ONCE(w->stop)) {
		u64 now = now_ns();

		for (i = 0; i < w->nr; i++) {
			u64 sent = READ_ONCE(*w->sent[i]);

			if (READ_ONCE(*w->recv[i]) >= sent) {
				since[i] = 0;
				continue;
			}
			if (!since[i] || seen_sent[i] != sent) {
				since[i] = now;
				seen_sent[i] = sent;
			} else if (now - since[i] > w->deadline_ms * 1000000) {
				w->fire(w, w->idx[i], (now - since[i]) / 1000000);
			}
		}
		usleep(5000);
	}
	return NULL;
}

void wake_watchdog_start(struct wake_watchdog *w)
{
	int r;

	w->stop = false;
	r = pthread_create(&w->thread, NULL, wake_watchdog_main, w);
	TEST_ASSERT(!r, "watchdog: pthread_create: %d", r);
}

void wake_watchdog_stop(struct wake_watchdog *w)
{
	WRITE_ONCE(w->stop, true);
	pthread_join(w->thread, NULL);
}
