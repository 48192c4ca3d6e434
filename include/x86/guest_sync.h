/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side synchronisation between the vCPUs of one VM: the one place
 * tests take their barriers and rendezvous from.
 */
#ifndef APICV_X86_GUEST_SYNC_H
#define APICV_X86_GUEST_SYNC_H

#include <stdbool.h>

#include "test_util.h"

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

#endif /* APICV_X86_GUEST_SYNC_H */
