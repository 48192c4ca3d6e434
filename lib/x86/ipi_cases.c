// SPDX-License-Identifier: GPL-2.0
/*
 * Schedules of IPI cases: every destination kind per APIC mode
 * (x86/ipi_cases.h).
 */
#include "x86/apic.h"
#include "x86/apic_oracle.h"
#include "x86/ipi_cases.h"

void ipi_cases_shorthands(struct ipi_sched *s, int snd)
{
	ipi_sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_SELF);
	ipi_sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_ALLINC);
	ipi_sched_add(s, snd, 0, APIC_DM_FIXED, false, APIC_DEST_ALLBUT);
}

static u32 rand_mask(struct prng *r, u32 width)
{
	u32 m;

	do {
		m = prng_next(r) & ((1u << width) - 1);
	} while (__builtin_popcount(m) < 2);
	return m;
}

/*
 * Lowest priority names present vCPUs only: KVM's vector hashing picks a
 * bit of the destination mask and drops the IPI when that bit names no
 * vCPU (see x86/apic_oracle.h); a nonempty random subset of @width bits.
 */
static u32 present_mask(struct prng *r, u32 width)
{
	u32 m;

	do {
		m = prng_next(r) & ((1u << width) - 1);
	} while (!m);
	return m;
}

/*
 * Lowest priority in one cluster of @members present vCPUs (@base: the
 * destination without its mask): a random subset, one member alone (any
 * other taking it is wrong) and all members but one (the one left out
 * must not take it).
 */
static void add_lowest(struct ipi_sched *s, int snd, struct prng *r,
		       u32 base, u32 members)
{
	u32 all = (1u << members) - 1;

	ipi_sched_add(s, snd, base | present_mask(r, members),
		      APIC_DM_LOWEST, true, 0);
	ipi_sched_add(s, snd, base | 1u << prng_below(r, members),
		      APIC_DM_LOWEST, true, 0);
	if (members > 1)
		ipi_sched_add(s, snd,
			      base | (all & ~(1u << prng_below(r, members))),
			      APIC_DM_LOWEST, true, 0);
}

/* Every destination kind for x2APIC mode from @snd. */
void ipi_cases_x2apic(struct ipi_sched *s, int snd, struct prng *r)
{
	int n = s->n, i, c, clusters = (n + 15) / 16;

	for (i = 0; i < n; i++) {
		ipi_sched_add(s, snd, i, APIC_DM_FIXED, false, 0);
		ipi_sched_add(s, snd, x2apic_logical_id(i), APIC_DM_FIXED,
			      true, 0);
	}
	ipi_sched_add(s, snd, n, APIC_DM_FIXED, false, 0);	/* absent ID */
	ipi_sched_add(s, snd, 0xffffffffu, APIC_DM_FIXED, false, 0);
	ipi_sched_add(s, snd, 0xffffffffu, APIC_DM_FIXED, true, 0);
	for (c = 0; c <= clusters; c++) {	/* one cluster past the end */
		ipi_sched_add(s, snd, (c << 16) | 0xffff, APIC_DM_FIXED,
			      true, 0);
		ipi_sched_add(s, snd, (c << 16) | rand_mask(r, 16),
			      APIC_DM_FIXED, true, 0);
		if (c < clusters)
			add_lowest(s, snd, r, c << 16, MIN(16, n - 16 * c));
	}
	ipi_cases_shorthands(s, snd);
}

/* xAPIC flat or cluster per s->cfg; 8-bit destinations. */
void ipi_cases_xapic(struct ipi_sched *s, int snd, struct prng *r, bool flat)
{
	int n = s->n, i, c;

	for (i = 0; i < n; i++)
		ipi_sched_add(s, snd, s->cfg[i].id, APIC_DM_FIXED, false, 0);
	ipi_sched_add(s, snd, n, APIC_DM_FIXED, false, 0);
	ipi_sched_add(s, snd, 0xff, APIC_DM_FIXED, false, 0);
	ipi_sched_add(s, snd, 0xff, APIC_DM_FIXED, true, 0);
	if (flat) {
		for (i = 0; i < 8; i++)		/* includes absent bits */
			ipi_sched_add(s, snd, 1u << i, APIC_DM_FIXED, true, 0);
		ipi_sched_add(s, snd, rand_mask(r, 8), APIC_DM_FIXED, true, 0);
		add_lowest(s, snd, r, 0, MIN(8, n));
	} else {
		for (c = 0; c <= (n + 3) / 4 && c < 15; c++) {
			for (i = 0; i < 4; i++)
				ipi_sched_add(s, snd, (c << 4) | (1u << i),
					      APIC_DM_FIXED, true, 0);
			ipi_sched_add(s, snd, (c << 4) | 0xf, APIC_DM_FIXED,
				      true, 0);
			if (4 * c < n)
				add_lowest(s, snd, r, c << 4, MIN(4, n - 4 * c));
		}
	}
	ipi_cases_shorthands(s, snd);
}

