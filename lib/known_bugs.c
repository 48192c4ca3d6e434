// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "known_bugs.h"
#include "kvm_ioctl.h"

struct known_bug_info {
	const char *what;
	unsigned int fixed_in;	/* KVER() of the first release with the fix */
	const char *fix;	/* the fix's subject line upstream */
	bool (*present)(void);	/* instead of fixed_in: not a kernel's bug */
};

/* The host (the L1 kernel running KVM) is a QEMU TCG guest. */
static bool under_qemu_tcg(void)
{
	u32 a = 0x40000000, sig[3];

	__asm__ __volatile__("cpuid"
			     : "+a"(a), "=b"(sig[0]), "=c"(sig[1]), "=d"(sig[2])
			     : "c"(0));
	return !memcmp(sig, "TCGTCGTCGTCG", 12);
}

static const struct known_bug_info known_bugs[NR_KNOWN_BUGS] = {
	[KNOWN_BUG_XAPIC_ID_ALIAS] = {
		"vCPUs sharing an 8-bit xAPIC ID: a physical IPI to it reaches only the lowest-numbered of them",
		KVER(6, 3),
		"KVM: x86: Honor architectural behavior for aliased 8-bit APIC IDs",
	},
	[KNOWN_BUG_XAPIC_LDR_ALIAS] = {
		"vCPUs sharing a logical ID bit or with a multi-bit LDR: a vCPU answers only to its LDR's lowest bit, and of the vCPUs on one bit only the highest-numbered receives",
		KVER(6, 3),
		"KVM: x86: Disable APIC logical map if vCPUs are aliased in logical mode",
	},
	[KNOWN_BUG_TCG_INT_SHADOW] = {
		"QEMU TCG's emulated SVM can drop the guest's STI shadow across a #VMEXIT: an interrupt lands between STI and HLT",
		0, "none: an emulator quirk, not KVM's",
		under_qemu_tcg,
	},
	[KNOWN_BUG_TCG_HOST_RIP] = {
		"QEMU TCG's emulated SVM now and then resumes a vCPU with its host's RIP and RSP after VMRUN: the vCPU stalls at a kernel address or triple-faults",
		0, "none: an emulator quirk, not KVM's",
		under_qemu_tcg,
	},
	[KNOWN_BUG_TCG_DUP_INJECT] = {
		"QEMU TCG's emulated SVM now and then delivers an interrupt twice",
		0, "none: an emulator quirk, not KVM's",
		under_qemu_tcg,
	},
};

static bool strict(void)
{
	const char *s = getenv("APICV_STRICT");

	return s && *s && strcmp(s, "0");
}

bool known_bug_expected(enum known_bug bug)
{
	const struct known_bug_info *b;

	if (bug < 0 || bug >= NR_KNOWN_BUGS || strict())
		return false;
	b = &known_bugs[bug];
	if (b->present)
		return b->present();
	return kernel_version() < b->fixed_in;
}

u64 known_bug_tolerance(enum known_bug bug, u64 events)
{
	return known_bug_expected(bug) ? events / 10 + 1 : 0;
}

u64 known_bug_forgive_surplus(enum known_bug bug, u64 sent, u64 got,
			      u64 *surplus)
{
	if (got <= sent || got - sent > known_bug_tolerance(bug, sent))
		return got;
	if (surplus)
		*surplus += got - sent;
	return sent;
}

const char *known_bug_describe(enum known_bug bug)
{
	static __thread char buf[256];
	const struct known_bug_info *b = &known_bugs[bug];

	if (!b->fixed_in)
		return b->what;
	snprintf(buf, sizeof(buf), "%s (fixed in %u.%u: \"%s\")", b->what,
		 b->fixed_in >> 8, b->fixed_in & 0xff, b->fix);
	return buf;
}

void known_bug_xfail(enum known_bug bug)
{
	if (!known_bug_expected(bug))
		return;
	test_xfail("known KVM bug on %u.%u: %s; APICV_STRICT=1 fails it",
		  kernel_version() >> 8, kernel_version() & 0xff,
		  known_bug_describe(bug));
}
