// SPDX-License-Identifier: GPL-2.0
#include "x86/guest_sync.h"
#include "x86/processor.h"

void guest_barrier_init(struct guest_barrier *b, u32 parties)
{
	b->parties = parties;
	b->count = 0;
	b->gen = 0;
}

bool guest_barrier_arrive(struct guest_barrier *b, u32 *gen)
{
	u32 g = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);

	*gen = g;
	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) < b->parties)
		return false;
	__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&b->gen, g + 1, __ATOMIC_RELEASE);
	return true;
}

bool guest_barrier_passed(struct guest_barrier *b, u32 gen)
{
	return __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen;
}

void guest_barrier_wait(struct guest_barrier *b)
{
	u32 gen;

	if (guest_barrier_arrive(b, &gen))
		return;
	while (!guest_barrier_passed(b, gen))
		cpu_relax();
}

void guest_rendezvous(u64 *ctr, u64 n)
{
	__atomic_add_fetch(ctr, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(ctr, __ATOMIC_SEQ_CST) < n)
		cpu_relax();
}

void guest_halt_until(u64 *ctr, u64 want)
{
	while (READ_ONCE(*ctr) < want) {
		sti_hlt();
		cli();
	}
}
