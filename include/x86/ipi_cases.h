/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Schedules of IPI cases for the phase engine (x86/ipi_phase.h): every
 * destination kind an APIC mode has, from one sender. The random parts
 * (masks, lowest-priority subsets) come from the caller's seeded prng.
 *
 *	ipi_cases_x2apic(s, snd, r);        physical, logical per cluster
 *	ipi_cases_xapic(s, snd, r, flat);   8-bit IDs, flat or cluster LDRs
 *	ipi_cases_shorthands(s, snd);       self, all incl., all but self
 */
#ifndef APICV_X86_IPI_CASES_H
#define APICV_X86_IPI_CASES_H

#include <stdbool.h>

#include "seed.h"
#include "x86/ipi_phase.h"

/* Self, all including self and all excluding self (fixed, vector next). */
void ipi_cases_shorthands(struct ipi_sched *s, int snd);
/*
 * Every destination kind for x2APIC mode from @snd (s->cfg as set by
 * apic_cfg_x2apic()): each physical and logical ID, an absent ID, both
 * broadcasts, per cluster (one past the end too) all members and a random
 * mask, lowest priority per cluster, and the shorthands.
 */
void ipi_cases_x2apic(struct ipi_sched *s, int snd, struct prng *r);
/*
 * xAPIC flat (@flat) or cluster per s->cfg; 8-bit destinations: each
 * physical ID, an absent one, both broadcasts, every LDR bit (flat: all
 * eight, cluster: each member of each cluster and the whole cluster),
 * lowest priority, and the shorthands.
 */
void ipi_cases_xapic(struct ipi_sched *s, int snd, struct prng *r, bool flat);

#endif /* APICV_X86_IPI_CASES_H */
