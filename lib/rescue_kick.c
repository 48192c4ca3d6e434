// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include <string.h>

#include "rescue_kick.h"
#include "stats.h"

void rescue_watch_init(struct rescue_watch *w)
{
	memset(w, 0, sizeof(*w));
}

bool rescue_watch_prepare(struct kvm_vcpu *v)
{
	u64 blk;

	return vcpu_stat_try(v, "blocking", &blk);
}

bool rescue_watch_add(struct rescue_watch *w, int idx, struct kvm_vcpu *v,
		      const u64 *sent, const u64 *deliv, const u64 *recv)
{
	struct rescue_rx *x;

	TEST_ASSERT(idx >= 0 && idx < RESCUE_MAX_VCPUS,
		    "rescue watch: vCPU index %d", idx);
	x = &w->rx[idx];
	memset(x, 0, sizeof(*x));
	x->vcpu = v;
	x->sent = sent;
	x->deliv = deliv;
	x->recv = recv;
	x->tid = thread_tid(v->thread);
	return x->tid > 0;
}

static bool asleep(const struct rescue_rx *x)
{
	u64 blk;

	return stats_read(x->vcpu->stats, "blocking", &blk) && blk &&
	       thread_state(x->tid) == 'S';
}

/* The kick thread's hook: false holds this kick of vCPU @idx. */
static bool rescue_pre_kick(struct pressure *p, int idx)
{
	struct rescue_watch *w = (struct rescue_watch *)
		((char *)p - offsetof(struct rescue_watch, pr));
	struct rescue_rx *x;
	u64 s, d;

	if (idx < 0 || idx >= RESCUE_MAX_VCPUS || w->rx[idx].tid <= 0)
		return true;
	x = &w->rx[idx];
	s = READ_ONCE(*x->sent);
	d = READ_ONCE(*x->deliv);
	if (!s || d != s || READ_ONCE(*x->recv) >= s)
		return true;
	x->seen++;
	if (!asleep(x) || READ_ONCE(*x->recv) >= s || !asleep(x) ||
	    READ_ONCE(*x->recv) >= s) {
		x->held_round = 0;
		return true;
	}
	if (x->held_round != s) {
		x->held_round = s;
		x->held_since = now_ns();
		x->held++;
		return false;
	}
	if (now_ns() - x->held_since < RESCUE_HOLD_MS * 1000000ull)
		return false;
	x->held_round = 0;
	if (!x->rescues++)
		x->first_round = s;
	if (w->on_rescue)
		w->on_rescue(w, idx, s);
	return true;
}

void rescue_watch_arm(struct rescue_watch *w)
{
	WRITE_ONCE(w->pr.pre_kick, rescue_pre_kick);
}

u64 rescue_watch_report(const struct rescue_watch *w, const char *what)
{
	u64 seen = 0, holds = 0, total = 0;
	int i;

	for (i = 0; i < RESCUE_MAX_VCPUS; i++) {
		seen += w->rx[i].seen;
		holds += w->rx[i].held;
	}
	test_log("rescue kicks: %llu kicks found a delivered %s not yet taken, "
		 "%llu of them its receiver asleep (kicks then held %d ms)",
		 seen, what, holds, RESCUE_HOLD_MS);
	for (i = 0; i < RESCUE_MAX_VCPUS; i++) {
		const struct rescue_rx *x = &w->rx[i];

		if (!x->rescues)
			continue;
		test_log("vcpu %d: %llu wakeups only a host kick delivered "
			 "(first in round %llu): KVM had accepted the %s, the "
			 "vCPU slept on in kvm_vcpu_block until the signal",
			 i, x->rescues, x->first_round, what);
		total += x->rescues;
	}
	return total;
}
