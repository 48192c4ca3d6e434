// SPDX-License-Identifier: GPL-2.0
/*
 * Inhibit flippers. See include/x86/apicv_flipper.h.
 */
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "x86/apicv.h"
#include "x86/apicv_flipper.h"
#include "x86/apicv_pull.h"

static void flip_op(struct apicv_flipper *f, bool on)
{
	u64 t0 = now_ns(), d;

	WRITE_ONCE(f->op_start, t0);
	apicv_pull(f->pull, on);
	d = now_ns() - t0;
	WRITE_ONCE(f->op_start, 0);
	f->ever_on |= on;
	f->ops++;
	f->op_total_ns += d;
	if (d > f->op_max_ns)
		f->op_max_ns = d;
}

static void wait_drained(struct apicv_flippers *s)
{
	u64 g = READ_ONCE(s->drained_gen);

	while (READ_ONCE(s->drained_gen) == g && !READ_ONCE(s->stop))
		usleep(100);
}

static void *flipper_main(void *arg)
{
	struct apicv_flipper *f = arg;
	struct apicv_flippers *s = f->set;

	while (!READ_ONCE(s->stop)) {
		flip_op(f, true);
		flip_op(f, false);
		if (!(++f->flips % APICV_FLIP_BURST) && READ_ONCE(s->throttled))
			wait_drained(s);
	}
	if (f->final_on)
		flip_op(f, true);
	return NULL;
}

struct apicv_flipper *apicv_flippers_add(struct apicv_flippers *s,
					 struct kvm_vm *vm,
					 enum apicv_reason r, bool final_on)
{
	struct apicv_flipper *f;

	TEST_ASSERT(s->n < APICV_FLIPPERS_MAX, "more than %d flippers",
		    APICV_FLIPPERS_MAX);
	f = &s->fl[s->n];
	memset(f, 0, sizeof(*f));
	f->set = s;
	f->reason = r;
	f->final_on = final_on;
	f->pull = apicv_pull_new(vm, r);
	s->n++;
	return f;
}

void apicv_flippers_throttle(struct apicv_flippers *s)
{
	WRITE_ONCE(s->throttled, true);
}

void apicv_flippers_drained(struct apicv_flippers *s)
{
	WRITE_ONCE(s->drained_gen, s->drained_gen + 1);
}

void apicv_flippers_start(struct apicv_flippers *s)
{
	int i, r;

	WRITE_ONCE(s->stop, false);
	for (i = 0; i < s->n; i++) {
		r = pthread_create(&s->fl[i].thread, NULL, flipper_main,
				   &s->fl[i]);
		TEST_ASSERT(!r, "pthread_create: %s", strerror(r));
	}
	s->running = true;
}

void apicv_flippers_check(struct apicv_flippers *s, u64 stall_ms)
{
	int i;

	for (i = 0; i < s->n; i++) {
		u64 t = READ_ONCE(s->fl[i].op_start), now = now_ns();

		TEST_ASSERT(!t || now < t || now - t < stall_ms * 1000000ull,
			    "flipper %d (%s) stuck in its ioctl for %llu ms",
			    i, apicv_reason_name(s->fl[i].reason),
			    (now - t) / 1000000);
	}
}

void apicv_flippers_stop(struct apicv_flippers *s)
{
	int i;

	if (!s->running)
		return;
	WRITE_ONCE(s->stop, true);
	for (i = 0; i < s->n; i++)
		pthread_join(s->fl[i].thread, NULL);
	s->running = false;
}

void apicv_flippers_log(const struct apicv_flippers *s, u64 ns)
{
	int i;

	for (i = 0; i < s->n; i++) {
		const struct apicv_flipper *f = &s->fl[i];

		test_log("flipper %d %s: %llu flips (%.0f/s), op mean %.1f us "
			 "max %.1f us, left %s", i,
			 apicv_reason_name(f->reason), f->flips,
			 f->flips / (ns / 1e9),
			 f->ops ? f->op_total_ns / 1e3 / f->ops : 0.0,
			 f->op_max_ns / 1e3, f->final_on ? "on" : "off");
	}
}

u64 apicv_flippers_mask(const struct apicv_flippers *s, u64 *driven)
{
	u64 want = 0;
	int i;

	*driven = 0;
	for (i = 0; i < s->n; i++) {
		const struct apicv_flipper *f = &s->fl[i];
		u64 bit = apicv_reason_mask(f->reason);

		if (!apicv_reason_honoured(f->reason))
			continue;
		*driven |= bit;
		if (f->final_on ||
		    (f->ever_on && apicv_reason_sticky(f->reason)))
			want |= bit;
	}
	return want;
}

bool apicv_flippers_dynamic(const struct apicv_flippers *s)
{
	int i;

	for (i = 0; i < s->n; i++) {
		enum apicv_reason r = s->fl[i].reason;

		if (apicv_reason_honoured(r) && !apicv_reason_sticky(r) &&
		    s->fl[i].flips > 0)
			return true;
	}
	return false;
}

void apicv_flippers_free(struct apicv_flippers *s)
{
	int i;

	apicv_flippers_stop(s);
	for (i = 0; i < s->n; i++)
		apicv_pull_free(s->fl[i].pull);
	s->n = 0;
}
