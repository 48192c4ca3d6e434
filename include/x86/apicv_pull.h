/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pulling an APICv/AVIC inhibit reason on purpose, by name: the one place
 * that knows which ioctl sets and clears each reason a VMM can reach from
 * outside the guest, what the VM needs for it (a spare vCPU that never
 * runs, an in-kernel PIT) and whether this host can do it. Tests and
 * benchmarks name reasons, never ioctls.
 *
 *	reason			pulled on			pulled off
 *	BLOCKIRQ		KVM_SET_GUEST_DEBUG BLOCKIRQ	debug off
 *	PIT_REINJ		KVM_REINJECT_CONTROL 1		reinject 0
 *	HYPERV			SynIC SINT0 with AutoEOI	SINT0 masked
 *	APIC_ID_MODIFIED	xAPIC ID to an unused one	back to own id
 *	APIC_BASE_MODIFIED	APIC base 0xfed00000		back to 0xfee00000
 *	PHYSICAL_ID_ALIASED	xAPIC ID of another vCPU	back to own id
 *	LOGICAL_ID_ALIASED	flat LDR of another spare	own flat LDR
 *	PHYSICAL_ID_TOO_BIG	a vCPU above the AVIC limit	(never clears)
 * Each works on vCPUs of its own (BLOCKIRQ, HYPERV, the ID and base
 * reasons: one spare; LOGICAL_ID_ALIASED: two) or on the VM (PIT_REINJ,
 * PHYSICAL_ID_TOO_BIG), so any set of pulls may share a VM and run from
 * one thread each. Whether the kernel then records the reason (vendor,
 * stickiness) is the reason table's business (x86/apicv_reason.h).
 */
#ifndef APICV_X86_APICV_PULL_H
#define APICV_X86_APICV_PULL_H

#include <stdbool.h>

#include "x86/apicv_reason.h"

struct kvm_vm;
struct kvm_vcpu;
struct apicv_pull;

/*
 * Prepares @vm (in-kernel irqchip) to pull @r and leaves @r off: creates
 * the spare vCPU(s), which never run, with the next free ids; for
 * PIT_REINJ creates the PIT unless the VM has one (KVM_CREATE_PIT2 starts
 * in reinject mode, so the reason is set, then cleared). Skips the subtest,
 * with the reason, when this host or kernel cannot pull @r (no such reason
 * on this kernel, no BLOCKIRQ or SynIC capability, not pullable from the
 * host: DISABLE, ABSENT, NESTED, IRQWIN, SEV).
 */
struct apicv_pull *apicv_pull_new(struct kvm_vm *vm, enum apicv_reason r);
/* Sets (@on) or clears @r from the VMM side (fails the test if refused). */
void apicv_pull(struct apicv_pull *p, bool on);
/* Frees the handle (NULL: nothing); the spares stay until vm_free(). */
void apicv_pull_free(struct apicv_pull *p);

/* The reason @p pulls. */
enum apicv_reason apicv_pull_reason(const struct apicv_pull *p);
/*
 * The vCPU the pull writes (the spare; for LOGICAL_ID_ALIASED the one
 * whose LDR moves; NULL for PIT_REINJ): for negative controls that need
 * a near miss of the stimulus.
 */
struct kvm_vcpu *apicv_pull_vcpu(const struct apicv_pull *p);

#endif /* APICV_X86_APICV_PULL_H */
