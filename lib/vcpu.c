// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emulator.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"

#define KICK_SIGNAL SIGUSR1

static const char *const exit_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO", [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN", [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_HYPERV] = "HYPERV",
	[KVM_EXIT_X86_RDMSR] = "X86_RDMSR", [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
};

static const char *exit_name(u32 reason)
{
	if (reason < ARRAY_SIZE(exit_names) && exit_names[reason])
		return exit_names[reason];
	return "?";
}

u32 vcpu_run(struct kvm_vcpu *vcpu)
{
	int r = __vcpu_ioctl(vcpu, KVM_RUN, NULL);

	if (r < 0 && errno == EINTR)
		return vcpu->run->exit_reason = KVM_EXIT_INTR;
	TEST_ASSERT(r == 0, "KVM_RUN on %s failed: %s", vcpu_name(vcpu),
		    strerror(errno));
	return vcpu->run->exit_reason;
}

static void __noreturn guest_abort(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	uc->msg[sizeof(uc->msg) - 1] = '\0';
	TEST_FAIL("guest assertion on %s at %s:%llu: %s", vcpu_name(vcpu),
		  uc->file, uc->line, uc->msg);
}

void vcpu_unexpected_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[96];

	/* Our guests never triple-fault; the emulator's quirk can. */
	if (run->exit_reason == KVM_EXIT_SHUTDOWN)
		emu_note_quirk_fault(EMU_QUIRK_HOST_RIP);

	snprintf(what, sizeof(what), "unexpected exit %s (%u)",
		 exit_name(run->exit_reason), run->exit_reason);
	if (run->exit_reason == KVM_EXIT_IO)
		snprintf(what, sizeof(what), "unexpected port %s 0x%x",
			 run->io.direction ? "write to" : "read of",
			 run->io.port);
	vcpu_dump(vcpu, what);
	TEST_FAIL("%s: %s", vcpu_name(vcpu), what);
}

u64 vcpu_handle_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	switch (get_ucall(vcpu, uc)) {
	case UCALL_PRINTF:
		printf("# [%s] %s\n", vcpu_name(vcpu), uc->msg);
		fflush(stdout);
		return UCALL_PRINTF;
	case UCALL_ABORT:
		guest_abort(vcpu, uc);
	case UCALL_SYNC:
		return UCALL_SYNC;
	case UCALL_DONE:
		return UCALL_DONE;
	}
	return UCALL_NONE;
}

u64 vcpu_run_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	for (;;) {
		u32 reason = vcpu_run(vcpu);
		u64 type;

		if (reason == KVM_EXIT_INTR) {
			if (READ_ONCE(vcpu->stop))
				return UCALL_NONE;
			continue;
		}
		type = vcpu_handle_ucall(vcpu, uc);
		if (type == UCALL_SYNC || type == UCALL_DONE)
			return type;
		if (type == UCALL_PRINTF)
			continue;
		if (vcpu->on_exit && vcpu->on_exit(vcpu))
			continue;
		vcpu_unexpected_exit(vcpu);
	}
}

void vcpu_run_expect(struct kvm_vcpu *vcpu, u64 type, struct ucall *uc)
{
	u64 got = vcpu_run_ucall(vcpu, uc);

	TEST_ASSERT(got == type, "%s: ucall %llu, expected %llu",
		    vcpu_name(vcpu), got, type);
}

static void *vcpu_thread_main(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		u64 type = vcpu_run_ucall(vcpu, &uc);

		if (type == UCALL_NONE)
			break;
		if (type == UCALL_DONE) {
			WRITE_ONCE(vcpu->done, true);
			break;
		}
		TEST_ASSERT(vcpu->on_sync, "%s: GUEST_SYNC(%llu) with no handler",
			    vcpu_name(vcpu), uc.args[0]);
		vcpu->on_sync(vcpu, &uc);
	}
	return NULL;
}

void vcpu_thread_start(struct kvm_vcpu *vcpu)
{
	int r;

	vcpu->stop = false;
	vcpu->done = false;
	vcpu->run->immediate_exit = 0;
	r = pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu);
	TEST_ASSERT(!r, "pthread_create: %s", strerror(r));
	vcpu->thread_started = true;
}

void vm_threads_start(struct kvm_vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_thread_start(vm->vcpus[i]);
}

void vcpu_kick(struct kvm_vcpu *vcpu)
{
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, KICK_SIGNAL);
}

static bool join_until(struct kvm_vcpu *vcpu, const struct timespec *abs)
{
	if (!vcpu->thread_started)
		return true;
	if (pthread_timedjoin_np(vcpu->thread, NULL, abs))
		return false;
	vcpu->thread_started = false;
	return true;
}

static void deadline_in(struct timespec *ts, u64 ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void vcpu_thread_stop(struct kvm_vcpu *vcpu)
{
	struct timespec ts;
	int tries;

	if (!vcpu->thread_started)
		return;
	/* immediate_exit catches a kick that lands outside KVM_RUN. */
	WRITE_ONCE(vcpu->stop, true);
	WRITE_ONCE(vcpu->run->immediate_exit, 1);
	for (tries = 0; tries < 100; tries++) {
		vcpu_kick(vcpu);
		deadline_in(&ts, 50);
		if (join_until(vcpu, &ts))
			break;
	}
	TEST_ASSERT(!vcpu->thread_started, "%s: thread does not stop",
		    vcpu_name(vcpu));
	vcpu->run->immediate_exit = 0;
}

bool vcpu_thread_wait(struct kvm_vcpu *vcpu, u64 timeout_ms)
{
	struct timespec ts;

	deadline_in(&ts, timeout_ms);
	return join_until(vcpu, &ts);
}

void vm_threads_stop(struct kvm_vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_thread_stop(vm->vcpus[i]);
}

void vm_wait_done(struct kvm_vm *vm, u64 timeout_ms, const char *what)
{
	struct timespec ts;
	char stuck[256] = "";
	size_t n = 0;
	int i;

	deadline_in(&ts, timeout_ms);
	for (i = 0; i < vm->nr_vcpus; i++)
		join_until(vm->vcpus[i], &ts);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kvm_vcpu *vcpu = vm->vcpus[i];

		if (!vcpu->thread_started)
			continue;
		vcpu_thread_stop(vcpu);
		vcpu_dump(vcpu, what);
		if (n < sizeof(stuck))
			n += snprintf(stuck + n, sizeof(stuck) - n, " %u",
				      vcpu->id);
	}
	TEST_ASSERT(!n, "%s: vCPUs%s not done after %llu ms", what, stuck,
		    timeout_ms);
}

void vcpu_regs_get(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_GET_REGS, regs);
}

void vcpu_regs_set(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_SET_REGS, regs);
}

void vcpu_sregs_get(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_GET_SREGS, sregs);
}

void vcpu_sregs_set(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_SET_SREGS, sregs);
}

struct one_msr {
	struct kvm_msrs hdr;
	struct kvm_msr_entry entry;
};

u64 vcpu_get_msr(struct kvm_vcpu *vcpu, u32 index)
{
	struct one_msr m = { .hdr.nmsrs = 1, .entry.index = index };
	int n = vcpu_ioctl(vcpu, KVM_GET_MSRS, &m);

	TEST_ASSERT(n == 1, "%s: KVM_GET_MSRS 0x%x rejected", vcpu_name(vcpu),
		    index);
	return m.entry.data;
}

int __vcpu_set_msr(struct kvm_vcpu *vcpu, u32 index, u64 value)
{
	struct one_msr m = {
		.hdr.nmsrs = 1, .entry.index = index, .entry.data = value,
	};

	return __vcpu_ioctl(vcpu, KVM_SET_MSRS, &m);
}

void vcpu_set_msr(struct kvm_vcpu *vcpu, u32 index, u64 value)
{
	int n = __vcpu_set_msr(vcpu, index, value);

	TEST_ASSERT(n == 1, "%s: KVM_SET_MSRS 0x%x = 0x%llx rejected (%d)",
		    vcpu_name(vcpu), index, value, n);
}

u32 vcpu_mp_state(struct kvm_vcpu *vcpu)
{
	struct kvm_mp_state mp;

	vcpu_ioctl(vcpu, KVM_GET_MP_STATE, &mp);
	return mp.mp_state;
}

void vcpu_set_mp_state(struct kvm_vcpu *vcpu, u32 state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
}

void vcpu_lapic_get(struct kvm_vcpu *vcpu, struct kvm_lapic_state *s)
{
	vcpu_ioctl(vcpu, KVM_GET_LAPIC, s);
}

void vcpu_lapic_set(struct kvm_vcpu *vcpu, struct kvm_lapic_state *s)
{
	vcpu_ioctl(vcpu, KVM_SET_LAPIC, s);
}

void vcpu_events_get(struct kvm_vcpu *vcpu, struct kvm_vcpu_events *ev)
{
	vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, ev);
}

static const char *mp_state_name(u32 s)
{
	static const char *const names[] = {
		"RUNNABLE", "UNINITIALIZED", "INIT_RECEIVED", "HALTED",
		"SIPI_RECEIVED", "STOPPED", "CHECK_STOP", "OPERATING", "LOAD",
		"AP_RESET_HOLD", "SUSPENDED",
	};

	return s < ARRAY_SIZE(names) ? names[s] : "?";
}

static void dump_lapic(struct kvm_vcpu *vcpu)
{
	struct kvm_lapic_state s;
	char irr[256], isr[256];

	if (vcpu->vm->irqchip == IRQCHIP_NONE ||
	    vcpu->vm->irqchip == IRQCHIP_DEFERRED)
		return;
	vcpu_lapic_get(vcpu, &s);
	lapic_state_vec_list(&s, APIC_IRR, irr, sizeof(irr));
	lapic_state_vec_list(&s, APIC_ISR, isr, sizeof(isr));
	printf("#   lapic: IRR %s ISR %s TPR 0x%x PPR 0x%x SPIV 0x%x LVT0 0x%x\n",
	       irr, isr, lapic_state_reg(&s, APIC_TPR),
	       lapic_state_reg(&s, APIC_PPR), lapic_state_reg(&s, APIC_SPIV),
	       lapic_state_reg(&s, APIC_LVT0));
}

static void dump_stats(struct kvm_vcpu *vcpu)
{
	static const char *const names[] = {
		"exits", "halt_exits", "halt_wakeup", "irq_injections",
		"irq_window_exits", "request_irq_exits", "irq_exits",
		"halt_successful_poll", "blocking",
	};
	size_t i;
	u64 v;

	printf("#   stats:");
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (vcpu->stats && stats_read(vcpu->stats, names[i], &v))
			printf(" %s=%llu", names[i], v);
	printf("\n");
}

void vcpu_dump(struct kvm_vcpu *vcpu, const char *why)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
	vcpu_events_get(vcpu, &ev);
	printf("# %s state (%s):\n", vcpu_name(vcpu), why);
	printf("#   rip 0x%llx rsp 0x%llx rflags 0x%llx (IF=%d) mp_state %s\n",
	       regs.rip, regs.rsp, regs.rflags, !!(regs.rflags & X86_EFLAGS_IF),
	       mp_state_name(vcpu_mp_state(vcpu)));
	printf("#   events: irq injected=%u nr=0x%x shadow=%u nmi pending=%u\n",
	       ev.interrupt.injected, ev.interrupt.nr, ev.interrupt.shadow,
	       ev.nmi.pending);
	dump_lapic(vcpu);
	dump_stats(vcpu);
	fflush(stdout);
	/* Guests never run in the upper half: that RIP is the host's. */
	if (regs.rip >= 0xffff800000000000ull)
		emu_note_quirk_fault(EMU_QUIRK_HOST_RIP);
}
