// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "x86/exit_trail.h"

#define TRAIL_LEN	4

static struct {
	u64 rip;
	u8 shadow;
} trail[TRAIL_LEN];
static u64 trail_n;
static bool frozen;

void exit_trail_print(void)
{
	u64 i;

	for (i = trail_n > TRAIL_LEN ? trail_n - TRAIL_LEN : 0; i < trail_n; i++)
		printf("# exit %llu: rip 0x%llx, interrupt shadow %u\n", i + 1,
		       trail[i % TRAIL_LEN].rip, trail[i % TRAIL_LEN].shadow);
	fflush(stdout);
}

void exit_trail_start(void)
{
	trail_n = 0;
	frozen = false;
	test_set_fail_hook(exit_trail_print);
}

void exit_trail_note(struct kvm_vcpu *vcpu)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	if (frozen)
		return;
	vcpu_regs_get(vcpu, &regs);
	vcpu_events_get(vcpu, &ev);
	trail[trail_n % TRAIL_LEN].rip = regs.rip;
	trail[trail_n % TRAIL_LEN].shadow = ev.interrupt.shadow;
	trail_n++;
}

void exit_trail_freeze(void)
{
	frozen = true;
}
