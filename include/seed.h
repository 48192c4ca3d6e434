/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The run's seed and a small PRNG usable from host and guest code alike
 * (no libc, no TLS). Every random choice derives from the printed seed.
 */
#ifndef APICV_SEED_H
#define APICV_SEED_H

#include "test_util.h"

struct prng {
	u64 state;
};

/* splitmix64: good enough spread, trivially reproducible. */
static inline u64 prng_next(struct prng *p)
{
	u64 z = (p->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline u64 prng_below(struct prng *p, u64 bound)
{
	return bound ? prng_next(p) % bound : 0;
}

static inline void prng_init(struct prng *p, u64 seed)
{
	p->state = seed;
	prng_next(p);
}

u64 seed_get(void);
void seed_set(u64 seed);
/* A per-subtest stream: the same subtest replays alone or in a full run. */
void prng_init_for(struct prng *p, const char *name);

#endif
