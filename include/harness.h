/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between the kernel's kselftest harness and this suite: options,
 * seed, profile, kernel-log watch. The per-test-file part, which must see
 * kselftest_harness.h, is harness_main.h. APICV_TEST_MAIN adds to every
 * subtest:
 *   - options: -l, -t PATTERN, --seed, --profile, --fault, --list-faults;
 *   - the seed printed, a per-subtest PRNG stream (harness_prng());
 *   - a kernel-log watch: a WARN/BUG/lockdep/KASAN report emitted during
 *     the subtest fails it, quoted;
 *   - library skips (TEST_REQUIRE) reported with their reason from any
 *     thread; per-subtest timeouts scaled by the profile.
 */
#ifndef APICV_HARNESS_H
#define APICV_HARNESS_H

#include "fault.h"
#include "seed.h"
#include "test_util.h"

enum profile { PROFILE_CI, PROFILE_QUALIFY };

enum profile harness_profile(void);
/* Picks the stress length for the running profile. */
static inline u64 profile_pick(u64 ci, u64 qualify)
{
	return harness_profile() == PROFILE_QUALIFY ? qualify : ci;
}

/* Parses our options; returns argv's new length, or exits (list, error). */
int harness_parse_args(int argc, char **argv);
bool harness_selected(const char *full_name, const char *test_name);
bool harness_listing(void);
int harness_subtest_timeout(void);
void harness_subtest_begin(const char *full_name);
/*
 * Ends one attempt's kernel-log watch (the next attempt's starts): true
 * when its reports are the emulator's (emu_kmsg_signature()), or when the
 * attempt @failed and its log has a signature line: that makes the
 * attempt an emulator fault. Other reports count for the subtest.
 */
bool harness_attempt_kmsg_emulator(bool failed);
/* Returns the number of kernel reports seen during the subtest that
 * were not the emulator's. */
int harness_subtest_end(void);
const char *harness_subtest_name(void);
/* A PRNG seeded from the run's seed and the subtest's name. */
void harness_prng(struct prng *p);

/*
 * A subtest ended on an emulator fault and the runner reboots the kernel
 * after one (emu_fault_reboot()): the subtests after it skip and the
 * binary exits EMU_FAULT_EXIT. Shared by the harness's processes.
 */
void harness_kernel_fault_set(void);
bool harness_kernel_faulted(void);

/*
 * The subtest that just ended passed: counted when it reached KVM
 * (test_note_kvm_reached()), so the binary is a pass only if one did.
 */
void harness_subtest_passed(void);
unsigned int harness_kvm_passes(void);
bool harness_is_main_process(void);

#endif
