// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "seed.h"

static u64 run_seed;
static bool seed_chosen;

void seed_set(u64 seed)
{
	run_seed = seed;
	seed_chosen = true;
}

u64 seed_get(void)
{
	if (!seed_chosen)
		seed_set((u64)time(NULL) ^ ((u64)getpid() << 20));
	return run_seed;
}

void prng_init_for(struct prng *p, const char *name)
{
	u64 h = 1469598103934665603ull;

	while (*name)
		h = (h ^ (u8)*name++) * 1099511628211ull;
	prng_init(p, seed_get() ^ h);
}
