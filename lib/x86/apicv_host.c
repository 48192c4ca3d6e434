// SPDX-License-Identifier: GPL-2.0
/*
 * Probing the host for APICv/AVIC. See include/x86/apicv_host.h.
 */
#include <stdio.h>

#include "kvm_ioctl.h"
#include "x86/apicv_host.h"

static void host_cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ __volatile__("cpuid"
			     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			     : "a"(leaf), "c"(0));
}

/* CPUID 0x8000000a (SVM features): ECX and EDX, 0 when the leaf is absent. */
static void svm_features(u32 *ecx, u32 *edx)
{
	u32 a, b, c, d;

	*ecx = *edx = 0;
	host_cpuid(0x80000000, &a, &b, &c, &d);
	if (a < 0x8000000a)
		return;
	host_cpuid(0x8000000a, &a, &b, ecx, edx);
}

static bool cpu_has_svm_feature(int edx_bit)
{
	u32 c, d;

	svm_features(&c, &d);
	return d & BIT(edx_bit);
}

static bool cpu_has_svm_feature_ecx(int ecx_bit)
{
	u32 c, d;

	svm_features(&c, &d);
	return c & BIT(ecx_bit);
}

/* AVIC's physical ID table limits (APM vol. 2, AVIC). */
#define AVIC_MAX_ID		0xfe
#define X2AVIC_MAX_ID		0x1ff
#define X2AVIC_4K_MAX_ID	0xfff

/* The largest vCPU id AVIC addresses; larger ids set PHYSICAL_ID_TOO_BIG. */
static u32 avic_max_id(const struct apicv_host *h)
{
	if (!h->x2avic)
		return AVIC_MAX_ID;
	/* 6.19 sizes the table for 4096 vCPUs when the CPU can address them. */
	if (h->kver >= KVER(6, 19) && cpu_has_svm_feature_ecx(6))
		return X2AVIC_4K_MAX_ID;
	return X2AVIC_MAX_ID;
}

static struct apicv_host host;
static bool host_probed;

const struct apicv_host *apicv_host(void)
{
	struct apicv_host *h = &host;

	if (host_probed)
		return h;
	host_probed = true;
	h->kver = kernel_version();
	h->amd = module_loaded("kvm_amd");
	h->intel = !h->amd && module_loaded("kvm_intel");
	if (h->amd) {
		bool hw_avic = cpu_has_svm_feature(13);

		h->enabled = module_param_bool("kvm_amd", "avic");
		h->forced = h->enabled && !hw_avic &&
			    module_param_bool("kvm_amd", "force_avic");
		h->x2avic = h->enabled && cpu_has_svm_feature(18);
		h->avic_max_id = avic_max_id(h);
		char v[8];

		/* AVIC virtualizes IPIs unless enable_ipiv (6.7+) says no. */
		h->ipiv = h->enabled && !h->forced &&
			  (!module_param_read("kvm_amd", "enable_ipiv", v,
					      sizeof(v)) ||
			   module_param_bool("kvm_amd", "enable_ipiv"));
	} else if (h->intel) {
		h->enabled = module_param_bool("kvm_intel", "enable_apicv");
		h->ipiv = h->enabled &&
			  module_param_bool("kvm_intel", "enable_ipiv");
	}

	if (!h->amd && !h->intel) {
		snprintf(h->why, sizeof(h->why),
			 "neither kvm_amd nor kvm_intel is loaded");
	} else if (!h->enabled) {
		snprintf(h->why, sizeof(h->why), "%s: KVM tracks no inhibits",
			 h->amd ? "kvm_amd.avic=0" : "kvm_intel.enable_apicv=0");
	} else if (h->kver < KVER(5, 18)) {
		snprintf(h->why, sizeof(h->why),
			 "kernel %u.%u has no kvm_apicv_inhibit_changed tracepoint (5.18+)",
			 h->kver >> 8, h->kver & 0xff);
	} else {
		h->can_observe = true;
		snprintf(h->why, sizeof(h->why), "%s on, %s%s%s, kernel %u.%u",
			 h->amd ? "AVIC" : "APICv",
			 h->forced ? "forced on a CPU without AVIC (not real: "
				     "guest delivery breaks while not inhibited)"
				   : "real",
			 h->x2avic ? ", x2AVIC" : "", h->ipiv ? ", IPIv" : "",
			 h->kver >> 8, h->kver & 0xff);
	}
	return h;
}

void apicv_require_observable(void)
{
	const struct apicv_host *h = apicv_host();

	TEST_REQUIRE(h->can_observe, "%s", h->why);
}

void apicv_require_real(void)
{
	apicv_require_observable();
	apicv_require_guest_delivery();
}

void apicv_require_guest_delivery(void)
{
	TEST_REQUIRE(!apicv_host()->forced,
		     "AVIC forced on a CPU without it (force_avic): guest "
		     "interrupt delivery is broken while the VM is not inhibited");
}
