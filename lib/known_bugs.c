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
};

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
};

bool known_bug_expected(enum known_bug bug)
{
	if (bug < 0 || bug >= NR_KNOWN_BUGS || test_strict())
		return false;
	return kernel_version() < known_bugs[bug].fixed_in;
}

const char *known_bug_describe(enum known_bug bug)
{
	static __thread char buf[256];
	const struct known_bug_info *b;

	b = &known_bugs[bug];
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
