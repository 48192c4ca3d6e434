// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_info: what this host's KVM offers, for the runner's qualification
 * report: API version, capabilities that matter here, module parameters,
 * and KVM_GET_SUPPORTED_CPUID as raw leaves.
 */
#include <stdio.h>

#include "kvm_ioctl.h"
#include "x86/cpuid.h"

static const struct {
	const char *name;
	long cap;
} caps[] = {
	{ "KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP },
	{ "KVM_CAP_SPLIT_IRQCHIP", KVM_CAP_SPLIT_IRQCHIP },
	{ "KVM_CAP_HYPERV_SYNIC2", KVM_CAP_HYPERV_SYNIC2 },
	{ "KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID },
	{ "KVM_CAP_SYS_HYPERV_CPUID", KVM_CAP_SYS_HYPERV_CPUID },
	{ "KVM_CAP_HALT_POLL", KVM_CAP_HALT_POLL },
	{ "KVM_CAP_X86_DISABLE_EXITS", KVM_CAP_X86_DISABLE_EXITS },
	{ "KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS },
	{ "KVM_CAP_MAX_VCPU_ID", KVM_CAP_MAX_VCPU_ID },
	{ "KVM_CAP_X2APIC_API", KVM_CAP_X2APIC_API },
	{ "KVM_CAP_BINARY_STATS_FD", KVM_CAP_BINARY_STATS_FD },
	{ "KVM_CAP_PIT2", KVM_CAP_PIT2 },
	{ "KVM_CAP_REINJECT_CONTROL", KVM_CAP_REINJECT_CONTROL },
	{ "KVM_CAP_SET_GUEST_DEBUG", KVM_CAP_SET_GUEST_DEBUG },
};

static const char *const params[][2] = {
	{ "kvm", "halt_poll_ns" }, { "kvm", "enable_pmu" },
	{ "kvm_amd", "avic" }, { "kvm_amd", "force_avic" },
	{ "kvm_amd", "enable_ipiv" }, { "kvm_amd", "npt" },
	{ "kvm_amd", "nested" }, { "kvm_amd", "vgif" },
	{ "kvm_intel", "enable_apicv" }, { "kvm_intel", "enable_ipiv" },
	{ "kvm_intel", "ept" }, { "kvm_intel", "vpid" },
	{ "kvm_intel", "nested" },
};

int main(void)
{
	const struct kvm_cpuid2 *c;
	char buf[64];
	size_t i;

	printf("api_version %d\n", kvm_sys_ioctl(KVM_GET_API_VERSION, NULL));
	for (i = 0; i < ARRAY_SIZE(caps); i++)
		printf("cap %s %d\n", caps[i].name, kvm_check_cap(caps[i].cap));
	for (i = 0; i < ARRAY_SIZE(params); i++)
		if (module_param_read(params[i][0], params[i][1], buf,
				      sizeof(buf)))
			printf("param %s.%s %s\n", params[i][0], params[i][1],
			       buf);
	c = kvm_supported_cpuid();
	for (i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		printf("cpuid 0x%08x 0x%02x: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x\n",
		       e->function, e->index, e->eax, e->ebx, e->ecx, e->edx);
	}
	return 0;
}
