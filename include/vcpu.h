/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running vCPUs: the run loop, ucall handling, one host thread per vCPU with
 * deadlines, state accessors and the state dump every timeout prints.
 */
#ifndef APICV_VCPU_H
#define APICV_VCPU_H

#include <linux/kvm.h>

#include "kvm_ioctl.h"
#include "ucall.h"

struct kvm_vcpu;
struct kvm_vm;

#define vcpu_ioctl(vcpu, cmd, arg)					\
	__ioctl_checked((vcpu)->fd, cmd, (void *)(arg), #cmd,		\
			vcpu_name(vcpu), __FILE__, __LINE__)
#define __vcpu_ioctl(vcpu, cmd, arg) ioctl((vcpu)->fd, cmd, arg)
const char *vcpu_name(struct kvm_vcpu *vcpu);

void vcpu_enable_cap(struct kvm_vcpu *vcpu, u32 cap, u64 arg0);

/*
 * Runs the vCPU once. Returns the exit reason; a signal that interrupted
 * KVM_RUN reads as KVM_EXIT_INTR.
 */
u32 vcpu_run(struct kvm_vcpu *vcpu);
/*
 * Runs until the guest makes a SYNC or DONE ucall (printing PRINTFs on the
 * way) and returns its type. A guest failure fails the test with the
 * guest's file:line and message; an unexpected exit fails it with the
 * vCPU's state. Returns UCALL_NONE if interrupted and vcpu->stop is set.
 */
u64 vcpu_run_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);
/*
 * For run loops of their own: acts on the ucall of the last exit (prints a
 * PRINTF, fails the test on an ABORT) and returns its type, UCALL_NONE when
 * the exit was not a ucall.
 */
u64 vcpu_handle_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);
/* Dumps the vCPU and fails the test: an exit nobody handled. */
void __noreturn vcpu_unexpected_exit(struct kvm_vcpu *vcpu);
/* Like vcpu_run_ucall() but requires @type. */
void vcpu_run_expect(struct kvm_vcpu *vcpu, u64 type, struct ucall *uc);

/*
 * Threads: each vCPU runs in its own host thread until GUEST_DONE, calling
 * vcpu->on_sync for SYNCs. vm_wait_done() enforces a deadline and, when it
 * passes, stops every vCPU, dumps the stuck ones and fails the test.
 */
void vcpu_thread_start(struct kvm_vcpu *vcpu);
void vm_threads_start(struct kvm_vm *vm);
/* Kicks the thread out of KVM_RUN (a signal; KVM_RUN returns EINTR). */
void vcpu_kick(struct kvm_vcpu *vcpu);
void vcpu_thread_stop(struct kvm_vcpu *vcpu);
bool vcpu_thread_wait(struct kvm_vcpu *vcpu, u64 timeout_ms);
void vm_wait_done(struct kvm_vm *vm, u64 timeout_ms, const char *what);
void vm_threads_stop(struct kvm_vm *vm);

/* State. */
void vcpu_regs_get(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_regs_set(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_sregs_get(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
void vcpu_sregs_set(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
u64 vcpu_get_msr(struct kvm_vcpu *vcpu, u32 index);
void vcpu_set_msr(struct kvm_vcpu *vcpu, u32 index, u64 value);
/* Returns the number of MSRs KVM accepted (0 or 1), never fails. */
int __vcpu_set_msr(struct kvm_vcpu *vcpu, u32 index, u64 value);
u32 vcpu_mp_state(struct kvm_vcpu *vcpu);
void vcpu_set_mp_state(struct kvm_vcpu *vcpu, u32 state);
void vcpu_lapic_get(struct kvm_vcpu *vcpu, struct kvm_lapic_state *s);
void vcpu_lapic_set(struct kvm_vcpu *vcpu, struct kvm_lapic_state *s);
void vcpu_events_get(struct kvm_vcpu *vcpu, struct kvm_vcpu_events *ev);
/* Prints RIP, RFLAGS.IF, mp_state, events, LAPIC IRR/ISR/TPR/PPR, stats. */
void vcpu_dump(struct kvm_vcpu *vcpu, const char *why);

#endif
