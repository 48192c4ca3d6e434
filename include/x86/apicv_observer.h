/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The inhibit observer: a private tracefs instance (tracefs.h) recording
 * kvm:kvm_apicv_inhibit_changed for this process's threads only, read
 * into a log of transitions (apicv_trace.h) that tests query: the latest
 * mask, waits, marks, what changed since a mark, whether the chain of
 * masks is consistent. Every assertion that a reason never appeared is
 * preceded by apicv_observer_prove(): a blind observer passes those.
 */
#ifndef APICV_X86_APICV_OBSERVER_H
#define APICV_X86_APICV_OBSERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "x86/apicv_reason.h"
#include "x86/apicv_trace.h"

struct kvm_vcpu;

struct apicv_observer;

/*
 * Creates instances/apicv-<pid>-<n> under tracefs (mounting it when it is
 * not), enables kvm:kvm_apicv_inhibit_changed for this process and its
 * future threads/children only, and starts recording. Removes stale
 * apicv-<pid>-* instances of dead processes first. Skips the test, with the
 * reason, when inhibits cannot be observed (APICv/AVIC off, no tracefs, not
 * root, no such event). The instance is removed by apicv_observer_stop(),
 * at exit and on fatal signals.
 */
struct apicv_observer *apicv_observer_start(void);
void apicv_observer_stop(struct apicv_observer *o);

/*
 * The latest inhibit mask: reads pending events first. Before the first
 * event the mask is unknown: then returns 0 and *known (if given) is false.
 * Every VM creation emits events, so create the VM after starting.
 */
u64 apicv_observer_mask(struct apicv_observer *o);
u64 apicv_observer_mask_known(struct apicv_observer *o, bool *known);
/* True as soon as @r's bit is @set in the mask; false at the deadline. */
bool apicv_observer_wait(struct apicv_observer *o, enum apicv_reason r,
			 bool set, u64 timeout_ms);
/*
 * Waits until the trace has gone quiet (no event for @quiet_ms, at most
 * @timeout_ms) and returns the mask: use after an ioctl whose events are
 * synchronous, so later assertions see everything it caused.
 */
u64 apicv_observer_settle(struct apicv_observer *o, u64 quiet_ms,
			  u64 timeout_ms);
/*
 * After a stimulus, the trace settled: every bit of @set is set, every bit
 * of @clr clear, no bit outside @set | @clr differs from @before. Else
 * fails the test at @file:@line ("@what: wrong inhibits ...", the events
 * since @mark dumped). Returns the mask.
 */
u64 apicv_observer_expect_at(struct apicv_observer *o, u64 mark, u64 before,
			     u64 set, u64 clr, const char *what,
			     const char *file, int line);
/* A position in the event log; transitions after it can be listed. */
u64 apicv_observer_mark(struct apicv_observer *o);
/* Copies up to @max events since @mark into @out; returns how many exist. */
int apicv_observer_transitions(struct apicv_observer *o, u64 mark,
			       struct apicv_transition *out, int max);
/* Did @r's bit change value in any event since @mark? */
bool apicv_observer_flipped(struct apicv_observer *o, u64 mark,
			    enum apicv_reason r);
/* Was @r's bit ever set in any event since @mark? */
bool apicv_observer_seen(struct apicv_observer *o, u64 mark,
			 enum apicv_reason r);
/*
 * Proves the observer sees @vcpu's VM, before a test asserts that a reason
 * never appeared or that a mask is clear (a blind observer passes those):
 * pulls BLOCKIRQ on @vcpu, which must not be running (every vendor honours
 * BLOCKIRQ and no kernel keeps it), and requires this thread's "set" of it
 * and then its "cleared" in the trace, each within 1 s. Fails the test with
 * "apicv observer is blind to this VM: ..." otherwise; skips where the
 * kernel lacks KVM_GUESTDBG_BLOCKIRQ. Leaves BLOCKIRQ off and returns the
 * settled mask, which is then known.
 */
u64 apicv_observer_prove(struct apicv_observer *o, struct kvm_vcpu *vcpu);
/*
 * For negative controls of the proof: points the instance's pid filter at
 * another process (init), so it records nothing of this one from now on.
 */
void apicv_observer_blind(struct apicv_observer *o);
/* Logs the events since @mark as "# " lines. */
void apicv_observer_dump(struct apicv_observer *o, u64 mark, const char *why);
/* The instance's directory (for messages). */
const char *apicv_observer_path(struct apicv_observer *o);

/*
 * For tests that change inhibits thousands of times: a per-CPU ring buffer
 * of @buffer_kb and the "counter" trace clock, a global atomic count, so
 * events written on different CPUs (all under KVM's apicv_update_lock)
 * merge in exactly the order they happened ("global" can stamp two alike
 * when CPU clocks drift, as under an emulator). ts_ns then holds the count
 * times 1e9, not a time. Changing the clock empties the buffer: call it
 * before creating the VM. Returns 0 or -errno (clock or size refused).
 */
int apicv_observer_high_rate(struct apicv_observer *o, unsigned int buffer_kb);
/*
 * Events the kernel overwrote or dropped before the observer read them
 * (the instance's per-CPU "overrun" and "dropped events" counters). Any
 * loss breaks a transition-by-transition check.
 */
u64 apicv_observer_lost(struct apicv_observer *o);
/*
 * Checks the chain of events since @mark: each event's mask must be the
 * previous one (@start for the first) with exactly the event's bit set or
 * cleared - a set of a set reason leaves the mask as it was, a clear
 * leaves no stale bit, no other bit moves. Returns -1 when every event
 * fits, else the index (since @mark) of the first that does not, with a
 * one-line explanation in @why. *@checked (if given) counts the events.
 */
int apicv_observer_check_chain(struct apicv_observer *o, u64 mark, u64 start,
			       u64 *checked, char *why, size_t len);
/*
 * The same as an assertion: fails when the trace lost events or an event
 * does not fit (dumping the events around it); returns the events checked.
 */
u64 apicv_observer_assert_chain(struct apicv_observer *o, u64 mark,
				u64 start);
/* Events since @mark whose mask is zero after a non-zero one or vice versa. */
u64 apicv_observer_activity_flips(struct apicv_observer *o, u64 mark,
				  u64 start);

#endif /* APICV_X86_APICV_OBSERVER_H */
