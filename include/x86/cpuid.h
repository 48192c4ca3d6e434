/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPUID as KVM supports it (KVM_GET_SUPPORTED_CPUID) and as each vCPU sees
 * it. Every vCPU starts with the supported table, its APIC IDs patched in.
 */
#ifndef APICV_X86_CPUID_H
#define APICV_X86_CPUID_H

#include "vm.h"

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_feature {
	u32 leaf, index;
	enum cpuid_reg reg;
	u8 bit;
};

#define FEAT_X2APIC	((struct cpuid_feature){ 1, 0, CPUID_ECX, 21 })
#define FEAT_TSC_DEADLINE ((struct cpuid_feature){ 1, 0, CPUID_ECX, 24 })
#define FEAT_HYPERVISOR	((struct cpuid_feature){ 1, 0, CPUID_ECX, 31 })
#define FEAT_SVM	((struct cpuid_feature){ 0x80000001, 0, CPUID_ECX, 2 })
#define FEAT_VMX	((struct cpuid_feature){ 1, 0, CPUID_ECX, 5 })
#define FEAT_AVIC	((struct cpuid_feature){ 0x8000000a, 0, CPUID_EDX, 13 })
#define FEAT_X2AVIC	((struct cpuid_feature){ 0x8000000a, 0, CPUID_EDX, 18 })

const struct kvm_cpuid2 *kvm_supported_cpuid(void);
bool kvm_cpu_has(struct cpuid_feature f);
/* The host CPU's own CPUID (not KVM's view). */
bool host_cpu_has(struct cpuid_feature f);
bool host_is_amd(void);
bool host_is_intel(void);

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, u32 leaf, u32 index);
void vcpu_cpuid_init(struct kvm_vcpu *vcpu);
/* Adds or replaces an entry in the vCPU's table (applied by _apply). */
void vcpu_cpuid_put(struct kvm_vcpu *vcpu, const struct kvm_cpuid_entry2 *e);
void vcpu_cpuid_clear_feature(struct kvm_vcpu *vcpu, struct cpuid_feature f);
void vcpu_cpuid_apply(struct kvm_vcpu *vcpu);

#endif
