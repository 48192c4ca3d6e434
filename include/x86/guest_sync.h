/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side synchronisation between the vCPUs of one VM: the one place
 * tests take their barriers and rendezvous from.
 */
#ifndef APICV_X86_GUEST_SYNC_H
#define APICV_X86_GUEST_SYNC_H

#include <stdbool.h>

#include "test_util.h"
#include "ucall.h"
#include "x86/processor.h"

/*
 * A reusable barrier for @parties vCPUs. The host zeroes it and sets
 * parties (guest_barrier_init()) before the vCPUs run.
 */
struct guest_barrier {
	u32 parties;
	u32 count;
	u32 gen;
};

void guest_barrier_init(struct guest_barrier *b, u32 parties);

/*
 * Arrives at @b. Returns true for the last arrival (the barrier has then
 * opened for everyone); else *@gen is the generation to wait out with
 * guest_barrier_passed(). Split so a caller can wait its own way (halt).
 */
bool guest_barrier_arrive(struct guest_barrier *b, u32 *gen);
bool guest_barrier_passed(struct guest_barrier *b, u32 gen);

/* Arrives and spins until every party has arrived. */
void guest_barrier_wait(struct guest_barrier *b);

/*
 * One-shot rendezvous on a counter: counts this vCPU in and spins until
 * @n have come.
 */
void guest_rendezvous(u64 *ctr, u64 n);

/*
 * Halts with interrupts on ("sti; hlt") until *@ctr, counted by a handler,
 * reaches @want; returns with IF=0.
 */
void guest_halt_until(u64 *ctr, u64 want);

/*
 * Waiting for deliveries counted by a handler. A delivery that should happen
 * comes within GUEST_WAIT_US even under an emulator; one that should not is
 * looked for GUEST_QUIET_US.
 */
#define GUEST_WAIT_US	200000
#define GUEST_QUIET_US	20000

/* *@ctr reaches exactly @want within @us (IF=1 while waiting). */
#define GUEST_WAIT_EQ(ctr, want, us)					\
	do {								\
		u64 __got = guest_wait_count(&(ctr), want, us);		\
		GUEST_ASSERT(__got == (want), #ctr " is %llu after %u us, " \
			     "expected %llu", __got, (unsigned)(us),	\
			     (u64)(want));				\
	} while (0)

/* Nothing more than @want arrives within GUEST_QUIET_US. */
#define GUEST_QUIET_EQ(ctr, want)					\
	do {								\
		u64 __got = guest_wait_count(&(ctr), (want) + 1,	\
					     GUEST_QUIET_US);		\
		GUEST_ASSERT(__got == (want), #ctr " is %llu, expected "	\
			     "%llu", __got, (u64)(want));		\
	} while (0)

#endif /* APICV_X86_GUEST_SYNC_H */
