/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host as APICv/AVIC tests see it: which vendor module is loaded,
 * whether APICv/AVIC is on, forced (force_avic on a CPU without AVIC) or
 * real, x2AVIC/IPIv, the AVIC vCPU id limit, the kernel version, and one
 * verdict "inhibit assertions possible, because ...", with the skips
 * built on it. Probed once per process from /sys and CPUID.
 */
#ifndef APICV_X86_APICV_HOST_H
#define APICV_X86_APICV_HOST_H

#include <stdbool.h>

#include "test_util.h"

struct apicv_host {
	bool amd, intel;	/* which KVM vendor module is loaded */
	bool enabled;		/* kvm_amd.avic / kvm_intel.enable_apicv */
	bool forced;		/* force_avic on a CPU without AVIC: not real */
	bool x2avic, ipiv;	/* CPU has x2AVIC / IPI virtualization on */
	/*
	 * SVM: the largest vCPU id AVIC can address on this host and kernel;
	 * from 6.17 a vCPU created with a larger id sets PHYSICAL_ID_TOO_BIG.
	 * 0xfe without x2AVIC, 0x1ff with it, 0xfff from 6.19 when the CPU
	 * has the 4K-vCPU x2AVIC extension (CPUID 0x8000000a ECX bit 6).
	 * 0 on VMX.
	 */
	u32 avic_max_id;
	unsigned int kver;	/* KVER(major, minor) of the running kernel */
	bool can_observe;	/* inhibit assertions are possible */
	char why[200];		/* why (not): one line, for skips and logs */
};

/* Probed once per process; never fails (reads /sys and CPUID). */
const struct apicv_host *apicv_host(void);
/* Skips the test with apicv_host()->why unless inhibits can be observed. */
void apicv_require_observable(void);
/*
 * Skips unless a guest may run with APICv/AVIC active and still receive
 * interrupts (enabled and not forced): the behaviour source needs it.
 */
void apicv_require_real(void);
/*
 * Skips the test unless guests get their interrupts: not so with AVIC
 * forced on a CPU without it (force_avic) while the VM is not inhibited.
 */
void apicv_require_guest_delivery(void);

#endif /* APICV_X86_APICV_HOST_H */
