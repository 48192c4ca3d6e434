// SPDX-License-Identifier: GPL-2.0
/*
 * The inhibit observer. See include/x86/apicv_observer.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "tracefs.h"
#include "vcpu.h"
#include "vm.h"
#include "x86/apicv_host.h"
#include "x86/apicv_observer.h"

#define INSTANCE_PREFIX	"apicv"

struct apicv_observer {
	struct tracefs_instance *ti;
	const char *dir;		/* the instance's, for messages */
	int pipe_fd;
	struct apicv_transition *ev;
	int nr_ev, cap_ev;
	char partial[512];
	size_t partial_len;
};

/* Registered in the main process, so instances of dead children go too. */
static void __attribute__((constructor)) apicv_observer_register_exit(void)
{
	tracefs_sweep_at_exit(INSTANCE_PREFIX);
}

static void observer_fail_start(struct apicv_observer *o, const char *what,
				int err)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
	tracefs_instance_free(o->ti);
	free(o);
	test_skip("apicv observer: %s", msg);
}

/* The instance: a small buffer, this process only, then the event on. */
static void observer_setup(struct apicv_observer *o)
{
	int r;

	tracefs_instance_write(o->ti, "buffer_size_kb", "256");
	r = tracefs_instance_write(o->ti, "options/event-fork", "1");
	if (r)
		observer_fail_start(o, "options/event-fork", r);
	r = tracefs_instance_filter_threads(o->ti);
	if (r)
		observer_fail_start(o, "set_event_pid", r);
	r = tracefs_instance_write(o->ti, "events/kvm/" APICV_TRACE_EVENT
				   "/enable", "1");
	if (r)
		observer_fail_start(o, "enabling the event", r);
	o->pipe_fd = tracefs_instance_pipe(o->ti);
	if (o->pipe_fd < 0)
		observer_fail_start(o, "open trace_pipe", o->pipe_fd);
}

struct apicv_observer *apicv_observer_start(void)
{
	struct apicv_observer *o;
	const char *root;
	char path[400];
	int err = 0;

	apicv_require_observable();
	TEST_REQUIRE(geteuid() == 0,
		     "not root: tracefs instances need root (run as root)");
	root = tracefs_root();
	TEST_REQUIRE(root,
		     "no tracefs: not mounted at /sys/kernel/tracing and mounting it failed (CONFIG_TRACING?)");
	snprintf(path, sizeof(path), "%s/events/kvm/%s", root,
		 APICV_TRACE_EVENT);
	TEST_REQUIRE(access(path, F_OK) == 0,
		     "no kvm:%s event in %s (kvm not loaded or kernel < 5.18)",
		     APICV_TRACE_EVENT, root);
	/* The bits from the kernel's format, before the first parse. */
	apicv_reason_bits_from_kernel();

	o = calloc(1, sizeof(*o));
	TEST_ASSERT(o, "out of memory");
	o->ti = tracefs_instance_new(INSTANCE_PREFIX, &err);
	if (!o->ti) {
		free(o);
		test_skip("apicv observer: mkdir %s/instances/%s-%d-*: %s",
			  root, INSTANCE_PREFIX, getpid(), strerror(-err));
	}
	o->dir = tracefs_instance_path(o->ti);
	observer_setup(o);
	return o;
}

void apicv_observer_stop(struct apicv_observer *o)
{
	if (!o)
		return;
	tracefs_instance_free(o->ti);
	free(o->ev);
	free(o);
}

const char *apicv_observer_path(struct apicv_observer *o)
{
	return o->dir;
}

static void add_line(struct apicv_observer *o, const char *line)
{
	struct apicv_transition t;

	if (!apicv_trace_parse(line, &t))
		return;
	if (o->nr_ev == o->cap_ev) {
		o->cap_ev = o->cap_ev ? o->cap_ev * 2 : 64;
		o->ev = realloc(o->ev, o->cap_ev * sizeof(*o->ev));
		TEST_ASSERT(o->ev, "out of memory");
	}
	o->ev[o->nr_ev++] = t;
}

/* Reads what the pipe holds now; returns the number of new events. */
static int observer_poll(struct apicv_observer *o)
{
	int before = o->nr_ev;
	char buf[4096];

	for (;;) {
		ssize_t n = read(o->pipe_fd, buf, sizeof(buf));
		ssize_t i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (o->partial_len < sizeof(o->partial) - 1)
					o->partial[o->partial_len++] = buf[i];
				continue;
			}
			o->partial[o->partial_len] = 0;
			add_line(o, o->partial);
			o->partial_len = 0;
		}
	}
	return o->nr_ev - before;
}

u64 apicv_observer_mask_known(struct apicv_observer *o, bool *known)
{
	observer_poll(o);
	if (known)
		*known = o->nr_ev > 0;
	return o->nr_ev ? o->ev[o->nr_ev - 1].mask : 0;
}

u64 apicv_observer_mask(struct apicv_observer *o)
{
	return apicv_observer_mask_known(o, NULL);
}

bool apicv_observer_wait(struct apicv_observer *o, enum apicv_reason r,
			 bool set, u64 timeout_ms)
{
	u64 deadline = now_ns() + timeout_ms * 1000000ull;
	u64 bit = apicv_reason_mask(r);

	if (!bit)
		return false;
	for (;;) {
		bool known;
		u64 mask = apicv_observer_mask_known(o, &known);

		if (known && !!(mask & bit) == set)
			return true;
		if (now_ns() >= deadline)
			return false;
		sleep_us(500);
	}
}

u64 apicv_observer_settle(struct apicv_observer *o, u64 quiet_ms,
			  u64 timeout_ms)
{
	u64 start = now_ns(), last = start;

	for (;;) {
		u64 now;

		if (observer_poll(o))
			last = now_ns();
		now = now_ns();
		if (now - last >= quiet_ms * 1000000ull ||
		    now - start >= timeout_ms * 1000000ull)
			break;
		sleep_us(500);
	}
	return o->nr_ev ? o->ev[o->nr_ev - 1].mask : 0;
}

u64 apicv_observer_mark(struct apicv_observer *o)
{
	observer_poll(o);
	return o->nr_ev;
}

int apicv_observer_transitions(struct apicv_observer *o, u64 mark,
			       struct apicv_transition *out, int max)
{
	int i, n = 0;

	observer_poll(o);
	for (i = (int)mark; i < o->nr_ev; i++, n++)
		if (n < max)
			out[n] = o->ev[i];
	return n;
}

/* The mask in force at @mark: the last event before it (or unknown). */
static bool mask_at(struct apicv_observer *o, u64 mark, u64 *mask)
{
	if (mark == 0 || mark > (u64)o->nr_ev)
		return false;
	*mask = o->ev[mark - 1].mask;
	return true;
}

bool apicv_observer_flipped(struct apicv_observer *o, u64 mark,
			    enum apicv_reason r)
{
	u64 bit = apicv_reason_mask(r), prev;
	bool have;
	int i;

	observer_poll(o);
	if (!bit)
		return false;
	have = mask_at(o, mark, &prev);
	for (i = (int)mark; i < o->nr_ev; i++) {
		if (have && ((prev ^ o->ev[i].mask) & bit))
			return true;
		/* Without a known start, any event naming it as set flips. */
		if (!have && (o->ev[i].mask & bit))
			return true;
		prev = o->ev[i].mask;
		have = true;
	}
	return false;
}

bool apicv_observer_seen(struct apicv_observer *o, u64 mark,
			 enum apicv_reason r)
{
	u64 bit = apicv_reason_mask(r);
	int i;

	observer_poll(o);
	for (i = (int)mark; bit && i < o->nr_ev; i++)
		if (o->ev[i].mask & bit)
			return true;
	return false;
}

/* ---- Proving the observer sees the VM ---------------------------------- */

#define PROVE_MS	1000

/* The first event from @from on: @tid's set/clear of @bit, in its mask too. */
static int find_own_event(struct apicv_observer *o, int from, int bit,
			  bool set, int tid)
{
	int i;

	for (i = from; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];

		if (t->bit == bit && t->set == set && t->pid == tid &&
		    !!(t->mask & BIT_ULL(bit)) == set)
			return i;
	}
	return -1;
}

static int wait_own_event(struct apicv_observer *o, int from, int bit,
			  bool set, int tid)
{
	u64 deadline = now_ns() + PROVE_MS * 1000000ull;
	int i;

	for (;;) {
		observer_poll(o);
		i = find_own_event(o, from, bit, set, tid);
		if (i >= 0 || now_ns() >= deadline)
			return i;
		sleep_us(500);
	}
}

static void prove_guest_debug(struct kvm_vcpu *vcpu, bool blockirq)
{
	struct kvm_guest_debug dbg = { 0 };

	if (blockirq)
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_BLOCKIRQ;
	vcpu_ioctl(vcpu, KVM_SET_GUEST_DEBUG, &dbg);
}

u64 apicv_observer_prove(struct apicv_observer *o, struct kvm_vcpu *vcpu)
{
	int bit = apicv_reason_bit(APICV_REASON_BLOCKIRQ);
	int caps = kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2);
	int tid = gettid(), set_at, clr_at = -1;
	u64 mark;

	TEST_REQUIRE(caps > 0 && (caps & KVM_GUESTDBG_BLOCKIRQ),
		     "no KVM_GUESTDBG_BLOCKIRQ in KVM_CAP_SET_GUEST_DEBUG2: "
		     "cannot prove the inhibit observer sees the VM");
	TEST_ASSERT(bit >= 0, "no BLOCKIRQ bit on this kernel");
	apicv_observer_settle(o, 20, PROVE_MS);
	mark = apicv_observer_mark(o);
	prove_guest_debug(vcpu, true);
	set_at = wait_own_event(o, (int)mark, bit, true, tid);
	prove_guest_debug(vcpu, false);
	if (set_at >= 0)
		clr_at = wait_own_event(o, set_at + 1, bit, false, tid);
	if (clr_at < 0) {
		apicv_observer_dump(o, mark, "proof");
		TEST_FAIL("apicv observer is blind to this VM: no %s of "
			  "BLOCKIRQ by thread %d (KVM_SET_GUEST_DEBUG on %s) "
			  "in %s within %d ms", set_at < 0 ? "set" : "clear",
			  tid, vcpu_name(vcpu), o->dir, PROVE_MS);
	}
	return apicv_observer_settle(o, 20, PROVE_MS);
}

void apicv_observer_blind(struct apicv_observer *o)
{
	int r;

	tracefs_instance_write(o->ti, "options/event-fork", "0");
	r = tracefs_instance_write(o->ti, "set_event_pid", "1");
	TEST_ASSERT(!r, "%s/set_event_pid: %s", o->dir, strerror(-r));
	observer_poll(o);
	test_log("apicv observer %s blinded: it records pid 1 only", o->dir);
}

void apicv_observer_dump(struct apicv_observer *o, u64 mark, const char *why)
{
	char buf[256];
	int i;

	observer_poll(o);
	test_log("apicv events since mark %llu (%s): %d",
		 (unsigned long long)mark, why, o->nr_ev - (int)mark);
	for (i = (int)mark; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];
		bool same = i > 0 && o->ev[i - 1].mask == t->mask;

		/* Events that change nothing: from 7.1 most IRQWIN ones. */
		test_log("  %s %s (bit %d) -> 0x%llx %s [pid %d]%s",
			 t->set ? "set" : "cleared",
			 apicv_reason_name(t->reason), t->bit,
			 (unsigned long long)t->mask,
			 apicv_mask_str(t->mask, buf, sizeof(buf)), t->pid,
			 same ? " (unchanged)" : "");
	}
}

int apicv_observer_high_rate(struct apicv_observer *o, unsigned int buffer_kb)
{
	char kb[24];
	int r;

	snprintf(kb, sizeof(kb), "%u", buffer_kb);
	r = tracefs_instance_write(o->ti, "buffer_size_kb", kb);
	if (r)
		return r;
	r = tracefs_instance_write(o->ti, "trace_clock", "counter");
	/* The switch empties the buffer: a half-read line is gone. */
	o->partial_len = 0;
	return r;
}

u64 apicv_observer_lost(struct apicv_observer *o)
{
	return tracefs_instance_cpu_stat(o->ti, "overrun:") +
	       tracefs_instance_cpu_stat(o->ti, "dropped events:");
}

int apicv_observer_check_chain(struct apicv_observer *o, u64 mark, u64 start,
			       u64 *checked, char *why, size_t len)
{
	char b1[160], b2[160];
	u64 prev = start;
	int i;

	observer_poll(o);
	if (checked)
		*checked = o->nr_ev > (int)mark ? o->nr_ev - (int)mark : 0;
	for (i = (int)mark; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];
		u64 bit = t->bit >= 0 && t->bit < 64 ? BIT_ULL(t->bit) : 0;
		u64 want = t->set ? prev | bit : prev & ~bit;

		if (bit && t->mask == want) {
			prev = t->mask;
			continue;
		}
		snprintf(why, len, "event %d: %s %s (bit %d) made the mask %s, "
			 "but the mask before was %s", i - (int)mark,
			 t->set ? "set" : "cleared",
			 apicv_reason_name(t->reason), t->bit,
			 apicv_mask_str(t->mask, b1, sizeof(b1)),
			 apicv_mask_str(prev, b2, sizeof(b2)));
		return i - (int)mark;
	}
	return -1;
}

u64 apicv_observer_expect_at(struct apicv_observer *o, u64 mark, u64 before,
			     u64 set, u64 clr, const char *what,
			     const char *file, int line)
{
	char b1[160], b2[160], b3[160], b4[160];
	bool known;
	u64 mask = apicv_observer_mask_known(o, &known);

	if (!known || (mask & set) != set || (mask & clr) ||
	    ((mask ^ before) & ~(set | clr))) {
		apicv_observer_dump(o, mark, what);
		test_fail_at(file, line, NULL,
			     "%s: wrong inhibits %s%s, expected set %s, clear %s, rest as before (%s)",
			     what, known ? "" : "unknown ",
			     apicv_mask_str(mask, b1, sizeof(b1)),
			     apicv_mask_str(set, b2, sizeof(b2)),
			     apicv_mask_str(clr, b3, sizeof(b3)),
			     apicv_mask_str(before, b4, sizeof(b4)));
	}
	test_log("%s: inhibits 0x%llx %s", what, (unsigned long long)mask,
		 apicv_mask_str(mask, b1, sizeof(b1)));
	return mask;
}

u64 apicv_observer_assert_chain(struct apicv_observer *o, u64 mark,
				u64 start)
{
	u64 lost = apicv_observer_lost(o), checked = 0;
	char why[400];
	int bad;

	TEST_ASSERT(!lost, "the trace lost %llu inhibit events (%s): the "
		    "transitions cannot be checked one by one", lost,
		    apicv_observer_path(o));
	bad = apicv_observer_check_chain(o, mark, start, &checked, why,
					 sizeof(why));
	if (bad >= 0) {
		apicv_observer_dump(o, mark + (bad > 8 ? bad - 8 : 0),
				    "around the inconsistent transition");
		TEST_FAIL("inconsistent inhibit transition: %s", why);
	}
	return checked;
}

u64 apicv_observer_activity_flips(struct apicv_observer *o, u64 mark,
				  u64 start)
{
	u64 prev = start, n = 0;
	int i;

	observer_poll(o);
	for (i = (int)mark; i < o->nr_ev; i++) {
		n += !prev != !o->ev[i].mask;
		prev = o->ev[i].mask;
	}
	return n;
}
