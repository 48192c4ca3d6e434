/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM bugs the suite reproduces on kernels that predate their fix, and
 * quirks of the emulator the suite runs KVM under.
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
	/*
	 * Not KVM's: under QEMU TCG the emulated SVM may lose the STI
	 * shadow on a #VMEXIT, so KVM injects inside it. Tests that do not
	 * aim at the shadow tolerate a few such hits there and count them.
	 * interrupt_shadow_test makes KVM itself decide inside a shadow in
	 * every round (KVM_SET_VCPU_EVENTS, exits inside one): a KVM that
	 * ignores the shadow misses every round there, beyond the tolerance.
	 */
	KNOWN_BUG_TCG_INT_SHADOW,
	/*
	 * Not KVM's: under QEMU TCG the emulated SVM now and then resumes a
	 * vCPU with its host's RIP and RSP (addresses in the L1 kernel) after
	 * VMRUN; it stalls there or triple-faults. A failure after such a
	 * dump or a SHUTDOWN exit reruns the subtest, up to five
	 * attempts in all, in a fresh kernel where the runner boots one
	 * (test_note_env_fault()).
	 */
	KNOWN_BUG_TCG_HOST_RIP,
	/*
	 * Not KVM's: under QEMU TCG an interrupt now and then arrives twice
	 * (it comes with STI-shadow hits: the same #VMEXIT-during-delivery
	 * path). Delivery counts tolerate a rare surplus there, never a
	 * deficit.
	 */
	KNOWN_BUG_TCG_DUP_INJECT,
	NR_KNOWN_BUGS,
};

/* The running kernel predates @bug's fix and the run is not strict. */
bool known_bug_expected(enum known_bug bug);
/*
 * How many of @events may show @bug: none unless it is expected here, then
 * one in ten plus one. Quirks are rare; a KVM that has the bug for real
 * shows it far more often.
 */
u64 known_bug_tolerance(enum known_bug bug, u64 events);
/*
 * A delivery count checked against what was sent: returns @sent when @got
 * exceeds it by no more than @bug's tolerance (adding the surplus to
 * *@surplus unless NULL), else @got. A deficit always stays a deficit.
 */
u64 known_bug_forgive_surplus(enum known_bug bug, u64 sent, u64 got,
			      u64 *surplus);
/* "aliased 8-bit xAPIC IDs ... (fixed in 6.3: <fix title>)" */
const char *known_bug_describe(enum known_bug bug);
/*
 * Ends the current subtest as an expected failure when @bug is expected
 * on this kernel; returns when it is not (the caller then fails).
 */
void known_bug_xfail(enum known_bug bug);

#endif
