// SPDX-License-Identifier: GPL-2.0
/* Guest-side runtime: interrupt dispatch, delays, the return path. */
#include "ucall.h"
#include "x86/processor.h"

guest_handler_t guest_handlers[256];
u64 guest_tsc_khz;

void guest_idt_dispatch(struct ex_regs *regs);
void guest_idt_dispatch(struct ex_regs *regs)
{
	struct guest_cpu *c = this_cpu();
	guest_handler_t fn;

	/* An exception inside a *_safe() access: resume after it. */
	if (regs->vector < 32 && c->fixup_rip) {
		c->fault_vector = regs->vector;
		c->fault_error = regs->error_code;
		regs->rip = c->fixup_rip;
		c->fixup_rip = 0;
		return;
	}
	fn = READ_ONCE(guest_handlers[regs->vector]);
	if (fn) {
		fn(regs);
		return;
	}
	GUEST_FAIL("unexpected vector %llu on vCPU %u at rip 0x%llx, error 0x%llx",
		   regs->vector, c->vcpu_id, regs->rip, regs->error_code);
}

void guest_returned(void);
void __noreturn guest_returned(void)
{
	GUEST_DONE();
	GUEST_FAIL("vCPU %u resumed after its guest function returned",
		   this_cpu_id());
}

u64 guest_tsc_to_us(u64 cycles)
{
	return guest_tsc_khz ? cycles * 1000 / guest_tsc_khz : 0;
}

void guest_udelay(u64 us)
{
	u64 start = rdtsc(), cycles = us * guest_tsc_khz / 1000;

	while (rdtsc() - start < cycles)
		cpu_relax();
}

u64 guest_wait_count(volatile u64 *ctr, u64 want, u64 us)
{
	u64 end = rdtsc() + us * guest_tsc_khz / 1000;

	sti();
	while (*ctr < want && rdtsc() < end)
		cpu_relax();
	cli();
	return *ctr;
}
