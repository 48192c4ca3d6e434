/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Rescue kicks: the wakeups only a host kick delivered.
 *
 * Kick pressure (PRESSURE_KICK, host_sched.h) signals every vCPU thread
 * every few hundred us, and a signal ends kvm_vcpu_block: KVM then finds
 * the pending interrupt and enters the guest. So a wake event that KVM
 * forgot to turn into a wakeup is repaired within a kick period, and
 * neither a watchdog nor a latency bound sees it. The watch therefore
 * looks, right before each kick of a receiver, at what the kick is about
 * to end: a receiver whose interrupt KVM has accepted (an IPI's ICR write
 * or a KVM_SIGNAL_MSI has returned: *deliv == *sent) and that has not taken
 * it (*recv < *sent), and whose thread sleeps in kvm_vcpu_block (the
 * 'blocking' statistic is 1 and the thread's state is S, read twice around
 * a second look at the count). A correct KVM makes the thread runnable
 * before the ICR write or the ioctl returns, and a woken thread reads R
 * however long it waits for a CPU. Such a receiver is not kicked for
 * RESCUE_HOLD_MS; still asleep with the same interrupt pending then, its
 * wakeup is one only a kick delivers: it is counted, then kicked. (A
 * correct 6.12 once showed such a sighting without the hold, all_poll,
 * one in about 70 MSIs; with it, a sighting on 6.1 cleared by itself
 * within the hold. KVM with no kick for a blocked vCPU: 6 to 20 counted
 * per subtest.)
 *
 * Not for interrupts whose acceptance the host cannot see: irqfd MSIs
 * (the injection may be deferred to a work item after write() returns)
 * and timers (the host does not know when the L1 hrtimer fired).
 *
 * Use: rescue_watch_add() each receiver after vm_threads_start(),
 * pressure_start(&w->pr, ...), rescue_watch_arm(w), run, pressure_stop(),
 * then rescue_watch_report(): any wakeup counted is a lost wakeup.
 */
#ifndef APICV_RESCUE_KICK_H
#define APICV_RESCUE_KICK_H

#include <stdbool.h>

#include "host_sched.h"
#include "vm.h"

#define RESCUE_HOLD_MS	20
#define RESCUE_MAX_VCPUS	16

/* One receiver; its counters are guest memory the guest and host update. */
struct rescue_rx {
	struct kvm_vcpu *vcpu;
	int tid;			/* > 0: watched */
	const u64 *sent, *deliv, *recv;
	/* Results. */
	u64 seen;			/* kicks that found an accepted interrupt not taken */
	u64 held;			/* ... with the receiver asleep: kicks held */
	u64 rescues;			/* wakeups only a kick delivered */
	u64 first_round;		/* the round of the first of them */
	/* The hold in progress. */
	u64 held_round, held_since;
};

struct rescue_watch {
	/* The pressure whose kicks are watched: pressure_start(&w->pr, ...). */
	struct pressure pr;
	struct rescue_rx rx[RESCUE_MAX_VCPUS];	/* by vCPU index */
	/*
	 * Optional (negative controls): called when a wakeup is counted,
	 * right before the kick that ends it.
	 */
	void (*on_rescue)(struct rescue_watch *w, int idx, u64 round);
};

/* Zeroes @w: nothing watched. */
void rescue_watch_init(struct rescue_watch *w);
/*
 * Opens @v's statistics; call before its thread starts (the kick thread
 * reads them). False when KVM has no 'blocking' statistic.
 */
bool rescue_watch_prepare(struct kvm_vcpu *v);
/*
 * Watches receiver vCPU @idx of the VM, whose thread runs, through its
 * round counters; false when its thread id is unknown (not watched).
 */
bool rescue_watch_add(struct rescue_watch *w, int idx, struct kvm_vcpu *v,
		      const u64 *sent, const u64 *deliv, const u64 *recv);
/* After pressure_start(&w->pr, ...): every kick is looked at first. */
void rescue_watch_arm(struct rescue_watch *w);
/*
 * After pressure_stop(): logs what the kicks found (@what names the
 * interrupt) and every receiver's count; returns the wakeups only a kick
 * delivered, over every receiver.
 */
u64 rescue_watch_report(const struct rescue_watch *w, const char *what);

#endif /* APICV_RESCUE_KICK_H */
