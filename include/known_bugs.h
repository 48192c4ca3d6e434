/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM bugs the suite reproduces on kernels that predate their fix. The
 * emulator's quirks are not KVM's: include/emulator.h.
 *
 * A subtest that finds one of these on a kernel older than the fix reports
 * it as an expected failure (a skip whose reason starts "XFAIL known KVM
 * bug") instead of failing, so a stable kernel's CI stays green while the
 * bug stays visible. On a kernel that has the fix the same failure is a
 * failure. APICV_STRICT=1 turns every expected failure back into one, for
 * qualifying a platform. The table is the one place that knows which
 * kernels carry which bug; tests name bugs, never versions.
 */
#ifndef APICV_KNOWN_BUGS_H
#define APICV_KNOWN_BUGS_H

#include <stdbool.h>

#include "test_util.h"

enum known_bug {
	/*
	 * Aliased 8-bit xAPIC IDs: a physical IPI reaches one of the
	 * aliases. Aliased xAPIC logical IDs (a shared LDR bit or a
	 * multi-bit LDR): one vCPU per bit. What exactly KVM then delivers
	 * is apic_oracle_aliased_map() (x86/apic_oracle.h); a test forgives
	 * only those deliveries, and only where the bug is expected.
	 */
	KNOWN_BUG_XAPIC_ID_ALIAS,
	KNOWN_BUG_XAPIC_LDR_ALIAS,
	NR_KNOWN_BUGS,
};

/* The running kernel predates @bug's fix and the run is not strict. */
bool known_bug_expected(enum known_bug bug);
/* "aliased 8-bit xAPIC IDs ... (fixed in 6.3: <fix title>)" */
const char *known_bug_describe(enum known_bug bug);
/*
 * Ends the current subtest as an expected failure when @bug is expected
 * on this kernel; returns when it is not (the caller then fails).
 */
void known_bug_xfail(enum known_bug bug);

#endif
