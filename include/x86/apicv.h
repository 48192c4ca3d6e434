/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The APICv/AVIC inhibit observer.
 *
 * Four pieces, used by every test that asserts on inhibit state:
 *  - the host: vendor, whether APICv/AVIC is on, forced or real, x2AVIC/IPIv,
 *    kernel version, and one verdict "inhibit assertions possible, because";
 *  - the reason table: for each reason its bit on the running kernel, whether
 *    this vendor honours it, whether it is sticky and whether its bit may
 *    lag behind its cause on this kernel. Bit numbers are not ABI (they
 *    moved in 6.3); tests name reasons, never bits;
 *  - the trace source: a private tracefs instance recording
 *    kvm:kvm_apicv_inhibit_changed for this process's threads only, parsed
 *    from both trace formats (through 6.10 and 6.11+ with names; the text
 *    is the same through 7.2, though 7.1 changed which events fire);
 *  - the behaviour source: whether a burst of interrupts reached a vCPU by
 *    APICv/AVIC, from the vCPU's irq_injections statistic.
 */
#ifndef APICV_X86_APICV_H
#define APICV_X86_APICV_H

#include <stdbool.h>

#include "kvm_ioctl.h"
#include "test_util.h"

struct kvm_vcpu;

enum apicv_reason {
	APICV_REASON_DISABLE,
	APICV_REASON_HYPERV,
	APICV_REASON_ABSENT,
	APICV_REASON_BLOCKIRQ,
	APICV_REASON_PHYSICAL_ID_ALIASED,
	APICV_REASON_APIC_ID_MODIFIED,
	APICV_REASON_APIC_BASE_MODIFIED,
	APICV_REASON_NESTED,
	APICV_REASON_IRQWIN,
	APICV_REASON_PIT_REINJ,
	APICV_REASON_SEV,
	APICV_REASON_LOGICAL_ID_ALIASED,
	APICV_REASON_PHYSICAL_ID_TOO_BIG,
	APICV_NR_REASONS,
	APICV_REASON_UNKNOWN = -1,	/* a bit or name this table lacks */
};

/* ---- Host capability --------------------------------------------------- */

struct apicv_host {
	bool amd, intel;	/* which KVM vendor module is loaded */
	bool enabled;		/* kvm_amd.avic / kvm_intel.enable_apicv */
	bool forced;		/* force_avic on a CPU without AVIC: not real */
	bool x2avic, ipiv;	/* CPU has x2AVIC / IPI virtualization on */
	/*
	 * SVM: the largest vCPU id AVIC can address on this host and kernel;
	 * from 6.17 a vCPU created with a larger id sets PHYSICAL_ID_TOO_BIG.
	 * 0xfe without x2AVIC, 0x1ff with it, 0xfff from 6.19 when the CPU
	 * has the 4K-vCPU x2AVIC extension (CPUID 0x8000000a ECX bit 6).
	 * 0 on VMX.
	 */
	u32 avic_max_id;
	unsigned int kver;	/* KVER(major, minor) of the running kernel */
	bool can_observe;	/* inhibit assertions are possible */
	char why[200];		/* why (not): one line, for skips and logs */
};

/* Probed once per process; never fails (reads /sys and CPUID). */
const struct apicv_host *apicv_host(void);
/* Skips the test with apicv_host()->why unless inhibits can be observed. */
void apicv_require_observable(void);
/*
 * Skips unless a guest may run with APICv/AVIC active and still receive
 * interrupts (enabled and not forced): the behaviour source needs it.
 */
void apicv_require_real(void);
/*
 * Skips the test unless guests get their interrupts: not so with AVIC
 * forced on a CPU without it (force_avic) while the VM is not inhibited.
 */
void apicv_require_guest_delivery(void);

/* ---- The versioned reason table ---------------------------------------- */

/*
 * The newest kernel whose source the table was checked against (bits,
 * names, vendors, stickiness, trace format). On a newer kernel the newest
 * layout applies, and the bits the kernel prints in its trace format
 * override it (table_matches_kernel compares the two).
 */
#define APICV_TABLE_CHECKED_THROUGH	KVER(7, 2)

/*
 * True when the bits come from the running kernel itself: 6.11+ prints the
 * reason names in bit order in the tracepoint's format, which then
 * overrides the static table (needs tracefs mounted and readable).
 */
bool apicv_reason_bits_from_kernel(void);
/* The reason's bit in the inhibit mask on this kernel, -1 if it has none. */
int apicv_reason_bit(enum apicv_reason r);
/* The mask bit as a u64 (0 when the kernel has no such reason). */
u64 apicv_reason_mask(enum apicv_reason r);
/* This vendor's KVM module acts on (and records) the reason. */
bool apicv_reason_honoured(enum apicv_reason r);
/* Once set, the reason stays set for the VM's life on this kernel. */
bool apicv_reason_sticky(enum apicv_reason r);
/*
 * The reason's bit may lag behind its cause on this kernel. From 7.1 KVM
 * counts the vCPUs waiting for an interrupt window per VM and, while
 * another reason inhibits the VM, only moves that count: IRQWIN's bit is
 * not set when a window is requested then, nor cleared when the last one
 * closes, until the next change of any other honoured reason re-evaluates
 * it. The VM is never active while a window is pending: a lazy bit is
 * exact whenever it is the only reason, and may be stale otherwise.
 */
bool apicv_reason_lazy(enum apicv_reason r);
/*
 * From 7.1 every change of an honoured reason other than IRQWIN is traced
 * as two events: the reason's own, then IRQWIN's re-evaluation ("set" while
 * a window is pending, else "cleared", usually leaving the mask as it was).
 * The second one fires on VMX too, where IRQWIN's bit is never set; VM
 * creation and IRQWIN's own changes stay single events. So a reason the
 * vendor does not honour may still be named by "cleared" events there:
 * assert on masks (apicv_observer_seen()), never on the events' names or
 * counts.
 */
bool apicv_irqwin_trails(void);
bool apicv_irqwin_trails_for(unsigned int kver);
/*
 * Reasons the kernel sets along with @r when @r is pulled the only way
 * userspace can (PHYSICAL_ID_ALIASED: giving a vCPU another vCPU's xAPIC
 * ID also modifies its ID): a mask, for "only these bits changed".
 */
u64 apicv_reason_companions(enum apicv_reason r);
/* "PIT_REINJ" etc.; "?" for values outside the table. */
const char *apicv_reason_name(enum apicv_reason r);
/* Name ("PIT_REINJ", case-insensitive, optional APICV_INHIBIT_REASON_). */
enum apicv_reason apicv_reason_by_name(const char *name);
/* The reason that owns @bit on this kernel, APICV_REASON_UNKNOWN if none. */
enum apicv_reason apicv_reason_by_bit(int bit);
/* "ABSENT|PIT_REINJ" (or "0") for @mask on this kernel, into @buf. */
const char *apicv_mask_str(u64 mask, char *buf, size_t len);

/*
 * Table overrides for the parser and the unit test: the bit layout of
 * kernel @kver (KVER(maj, min)), independent of the running kernel.
 */
int apicv_reason_bit_for(enum apicv_reason r, unsigned int kver);
enum apicv_reason apicv_reason_by_bit_for(int bit, unsigned int kver);

/* ---- Trace parsing (no tracefs needed) --------------------------------- */

struct apicv_transition {
	enum apicv_reason reason;	/* from the name if printed, else bit */
	int bit;			/* the raw "reason=" number */
	bool set;			/* "set" (true) or "cleared" */
	u64 mask;			/* "inhibits=": the mask after it */
	u64 ts_ns;			/* trace timestamp, ns (0 if absent) */
	int pid;			/* the thread that changed it (0 if absent) */
};

/*
 * Parses one trace line (raw "trace_pipe"/"trace" line or just the event's
 * text): "... kvm_apicv_inhibit_changed: set reason=8, inhibits=0x100" or
 * "... cleared reason=9, inhibits=0x200 PIT_REINJ". Bits map to reasons by
 * the running kernel's table (by name when printed). False for other lines.
 */
bool apicv_trace_parse(const char *line, struct apicv_transition *t);
/* The same, mapping bits with the table of kernel @kver. */
bool apicv_trace_parse_for(const char *line, struct apicv_transition *t,
			   unsigned int kver);

/* ---- The trace observer ------------------------------------------------ */

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
/* Events since @mark whose mask is zero after a non-zero one or vice versa. */
u64 apicv_observer_activity_flips(struct apicv_observer *o, u64 mark,
				  u64 start);

/* ---- Behaviour source -------------------------------------------------- */

/*
 * Around a burst of fixed interrupts to @vcpu (guest self-IPIs, host MSIs):
 *	struct apicv_burst b;
 *	apicv_burst_begin(&b, vcpu);  ...send @n...  apicv_burst_end(&b, n);
 * irq_injections counts only legacy injection, so a burst that reached the
 * guest while it stays at zero went through APICv/AVIC. Only meaningful when
 * apicv_host()->enabled && !forced (check apicv_burst_meaningful()).
 */
struct apicv_burst {
	struct kvm_vcpu *vcpu;
	u64 injections_before;
	u64 injections;		/* the delta, after apicv_burst_end() */
	u64 sent;
};
enum apicv_delivery {
	APICV_DELIVERY_ACCELERATED,	/* none injected: APICv/AVIC */
	APICV_DELIVERY_INJECTED,	/* all (or more) injected by KVM */
	APICV_DELIVERY_MIXED,		/* some of each (state changed) */
};
bool apicv_burst_meaningful(void);
void apicv_burst_begin(struct apicv_burst *b, struct kvm_vcpu *vcpu);
enum apicv_delivery apicv_burst_end(struct apicv_burst *b, u64 sent);
const char *apicv_delivery_name(enum apicv_delivery d);

#endif
