// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <string.h>

#include "guest_printf.h"
#include "ucall.h"
#include "vm.h"
#include "x86/processor.h"

static void ucall_out(struct ucall *uc)
{
	outl(UCALL_PORT, (u32)(u64)uc);
}

void ucall(u64 type, int nargs, const u64 *args)
{
	struct ucall uc = { .type = type, .nargs = nargs };
	int i;

	for (i = 0; i < nargs && i < UCALL_MAX_ARGS; i++)
		uc.args[i] = args[i];
	ucall_out(&uc);
}

void guest_printf(const char *fmt, ...)
{
	struct ucall uc = { .type = UCALL_PRINTF };
	va_list ap;

	va_start(ap, fmt);
	guest_vsnprintf(uc.msg, sizeof(uc.msg), fmt, ap);
	va_end(ap);
	ucall_out(&uc);
}

void guest_fail_at(const char *file, int line, const char *cond,
		   const char *fmt, ...)
{
	struct ucall uc = { .type = UCALL_ABORT, .file = file, .line = line };
	size_t n = 0;
	va_list ap;

	if (cond)
		n = guest_snprintf(uc.msg, sizeof(uc.msg), "%s: ", cond);
	if (n >= sizeof(uc.msg))
		n = sizeof(uc.msg) - 1;
	va_start(ap, fmt);
	guest_vsnprintf(uc.msg + n, sizeof(uc.msg) - n, fmt, ap);
	va_end(ap);
	for (;;)
		ucall_out(&uc);
}

u64 get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	struct kvm_run *run = vcpu->run;
	u32 addr;

	if (run->exit_reason != KVM_EXIT_IO ||
	    run->io.port != UCALL_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4)
		return UCALL_NONE;
	memcpy(&addr, (char *)run + run->io.data_offset, sizeof(addr));
	memcpy(uc, (void *)(u64)addr, sizeof(*uc));
	return uc->type;
}
