/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-test-file half of the harness glue (see harness.h). It is a
 * header because kselftest_harness.h defines functions and keeps its test
 * list static: it must be compiled into each test binary exactly once.
 * Include it from the test's .c file and end that file with
 * APICV_TEST_MAIN.
 */
#ifndef APICV_HARNESS_MAIN_H
#define APICV_HARNESS_MAIN_H

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#include "emulator.h"
#include "harness.h"
#include "harness_features.h"	/* generated: scripts/harness-features */

#ifdef HARNESS_TEST_F_SETJMP
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

/* How a subtest's process tells the harness it skipped. */
#ifdef HARNESS_HAS_EXIT_CODE
#define __HARNESS_SKIP_EXIT KSFT_SKIP
#else
#define __HARNESS_SKIP_EXIT 255
#endif

#define __HARNESS_MAX_TESTS 512

static struct {
	struct __test_metadata *t;
	void (*fn)(struct __test_metadata *,
		   struct __fixture_variant_metadata *);
} __harness_orig[__HARNESS_MAX_TESTS];
static int __harness_norig;
static struct __test_metadata *__harness_current;

static void __noreturn __harness_skip(const char *reason)
{
	struct __test_metadata *_metadata = __harness_current;

	if (_metadata)
		SKIP(, "%s", reason);
	else
		printf("# SKIP %s\n", reason);
	fflush(stdout);
	_exit(_metadata ? __HARNESS_SKIP_EXIT : KSFT_SKIP);
}

/*
 * A known KVM bug seen on a kernel that predates its fix: the harness's
 * own expected-failure result. Without one, no hook: test_xfail() skips
 * with a reason that starts "XFAIL".
 */
#ifdef HARNESS_HAS_XFAIL
static void __noreturn __harness_xfail(const char *reason)
{
	struct __test_metadata *_metadata = __harness_current;

	snprintf(_metadata->results->reason,
		 sizeof(_metadata->results->reason), "%s", reason);
	printf("# XFAIL %s\n", reason);
	fflush(stdout);
	_exit(KSFT_XFAIL);
}
#endif

static void __harness_full_name(char *buf, size_t len,
				struct __test_metadata *t,
				struct __fixture_variant_metadata *v)
{
	snprintf(buf, len, "%s%s%s.%s", t->fixture->name,
		 v->name[0] ? "." : "", v->name, t->name);
}

/* An attempt's verdict as the exit status its parent reads. */
static int __harness_attempt_status(struct __test_metadata *m)
{
#ifdef HARNESS_HAS_EXIT_CODE
	return m->exit_code;
#else
	if (m->skip)
		return __HARNESS_SKIP_EXIT;
	return m->passed ? 0 : (m->step ? m->step : 1);
#endif
}

/* Passed, or failed as a known bug expects (XFAIL counts as "ok"). */
static bool __harness_ok(struct __test_metadata *m)
{
#ifdef HARNESS_HAS_XFAIL
	if (m->exit_code == KSFT_XFAIL)
		return true;
#endif
	return __harness_attempt_status(m) == 0;
}

static void __harness_set_failed(struct __test_metadata *m, int status)
{
#ifdef HARNESS_HAS_EXIT_CODE
	m->exit_code = KSFT_FAIL;
#else
	m->passed = 0;
	m->step = status > 0 && status < 253 ? status : 1;
#endif
}

static void __harness_call_orig(struct __test_metadata *_metadata,
				struct __fixture_variant_metadata *variant)
{
	int i;

	for (i = 0; i < __harness_norig; i++)
		if (__harness_orig[i].t == _metadata)
			__harness_orig[i].fn(_metadata, variant);
}

/* A failed ASSERT_*() aborts: it too may follow an emulator fault. */
static void __harness_abort(int sig)
{
	fflush(stdout);
	emu_exit_if_fault();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * One attempt, in the child: the subtest, then the emulator's quirks it
 * counted judged once (emu_quirks_judge()); the exit status carries the
 * verdict, EMU_FAULT_EXIT after a failure that follows an emulator fault.
 */
static void __noreturn
__harness_attempt(struct __test_metadata *_metadata,
		  struct __fixture_variant_metadata *variant)
{
	signal(SIGABRT, __harness_abort);
	emu_quirks_reset();
	__harness_call_orig(_metadata, variant);
	fflush(stdout);
	if (__harness_attempt_status(_metadata) != __HARNESS_SKIP_EXIT &&
	    !emu_quirks_judge())
		__harness_set_failed(_metadata, 1);
	if (__harness_attempt_status(_metadata))
		emu_exit_if_fault();
	_exit(__harness_attempt_status(_metadata));
}

/*
 * Runs the subtest in a child of its own, up to EMU_RERUN_ATTEMPTS times
 * while its attempts end on an emulator fault (emu_note_fault(), or kernel
 * reports an emulator signature explains, emu_kmsg_signature()): the
 * quirk comes and goes with timing, a KVM bug that looks like it does not.
 * Five: the 4-vCPU wakeup ring under TCG has needed three in one CI run.
 * Where the runner reboots the kernel after a fault, the fault ends the
 * binary instead: the L1 kernel has been seen to panic in the rerun.
 */
static void __harness_attempts(struct __test_metadata *_metadata,
			       struct __fixture_variant_metadata *variant,
			       const char *full)
{
	int attempt, status, code;
	pid_t pid;

	for (attempt = 1;; attempt++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			__harness_call_orig(_metadata, variant);
			return;
		}
		if (pid == 0)
			__harness_attempt(_metadata, variant);
		while (waitpid(pid, &status, 0) < 0)
			;
		code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (harness_attempt_kmsg_emulator(code != 0 &&
						  code != __HARNESS_SKIP_EXIT))
			code = EMU_FAULT_EXIT;
		if (code == 0)
			return;
		if (code == __HARNESS_SKIP_EXIT)
			_exit(__HARNESS_SKIP_EXIT);
#ifdef HARNESS_HAS_XFAIL
		if (code == KSFT_XFAIL) {
			_metadata->exit_code = KSFT_XFAIL;
			return;
		}
#endif
		if (code == EMU_FAULT_EXIT && emu_fault_reboot()) {
			printf("# %s: not run again here after the emulator fault: the runner reboots the kernel first\n",
			       full);
			fflush(stdout);
			harness_kernel_fault_set();
			__harness_set_failed(_metadata, code);
			return;
		}
		if (code == EMU_FAULT_LOCAL_EXIT)
			code = EMU_FAULT_EXIT;
		if (code == EMU_FAULT_EXIT && attempt < EMU_RERUN_ATTEMPTS) {
			printf("# %s: running it again after the emulator fault (attempt %d of %d)\n",
			       full, attempt + 1, EMU_RERUN_ATTEMPTS);
			continue;
		}
		if (code == EMU_FAULT_EXIT)
			printf("# %s: the emulator fault came back in all %d attempts: a failure\n",
			       full, EMU_RERUN_ATTEMPTS);
		else if (WIFSIGNALED(status))
			printf("# %s: terminated by signal %d\n", full,
			       WTERMSIG(status));
		fflush(stdout);
		__harness_set_failed(_metadata, code);
		return;
	}
}

static void __harness_trampoline(struct __test_metadata *_metadata,
				 struct __fixture_variant_metadata *variant)
{
	char full[256];

	__harness_full_name(full, sizeof(full), _metadata, variant);
	__harness_current = _metadata;
	test_set_skip_hook(__harness_skip);
#ifdef HARNESS_HAS_XFAIL
	test_set_xfail_hook(__harness_xfail);
#endif
	if (!harness_selected(full, _metadata->name))
		SKIP(return, "not selected by -t");
	if (harness_kernel_faulted())
		SKIP(return, "not run after an emulator fault: the runner reboots the kernel and runs the binary again");
	harness_subtest_begin(full);
	__harness_attempts(_metadata, variant, full);
	EXPECT_EQ(0, harness_subtest_end()) {
		TH_LOG("kernel log reports appeared during %s", full);
	}
	if (__harness_ok(_metadata))
		harness_subtest_passed();
}

/* Wraps every registered subtest; prints the list when asked to. */
static void __harness_wrap_all(void)
{
	struct __fixture_variant_metadata no_variant = { .name = "" };
	struct __fixture_variant_metadata *v;
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	char full[256];

	for (f = __fixture_list; f; f = f->next) {
		for (t = f->tests; t; t = t->next) {
			for (v = f->variant ?: &no_variant; v; v = v->next) {
				__harness_full_name(full, sizeof(full), t, v);
				if (harness_listing())
					printf("%s\n", full);
			}
			if (__harness_norig == __HARNESS_MAX_TESTS)
				continue;
			__harness_orig[__harness_norig].t = t;
			__harness_orig[__harness_norig++].fn = t->fn;
			t->fn = __harness_trampoline;
			if (t->timeout == TEST_TIMEOUT_DEFAULT)
				t->timeout = harness_subtest_timeout();
		}
	}
}

static bool __harness_keep(struct __fixture_metadata *f,
			   struct __test_metadata *t)
{
	struct __fixture_variant_metadata no_variant = { .name = "" };
	struct __fixture_variant_metadata *v;
	char full[256];

	for (v = f->variant ?: &no_variant; v; v = v->next) {
		__harness_full_name(full, sizeof(full), t, v);
		if (harness_selected(full, t->name))
			return true;
	}
	return false;
}

/*
 * Drops subtests that no -t pattern selects, so the plan stays honest.
 * The harness lists are NULL-terminated forward, head->prev is the tail.
 */
static void __harness_prune(void)
{
	struct __test_metadata *t, *next, *head, *tail;
	struct __fixture_metadata *f;

	for (f = __fixture_list; f; f = f->next) {
		head = tail = NULL;
		for (t = f->tests; t; t = next) {
			next = t->next;
			if (!__harness_keep(f, t))
				continue;
			t->next = NULL;
			t->prev = tail ? tail : t;
			if (tail)
				tail->next = t;
			else
				head = t;
			tail = t;
		}
		if (head)
			head->prev = tail;
		f->tests = head;
	}
}

/*
 * The binary's verdict as kselftest reads it: KSFT_SKIP unless a subtest
 * that reached KVM passed. Subtests of pure logic (parsers, the oracle)
 * pass anywhere; on a host without KVM they must not make the binary a
 * pass (a library self-test's do: APICV_LIBTEST). Runs after the harness has printed its totals (ksft_exit()).
 */
static void __harness_verdict(void)
{
#ifdef APICV_LIBTEST
	/* The library's own tests (libtest/): their pure subtests count. */
	return;
#endif
	if (!harness_is_main_process() || ksft_get_fail_cnt() ||
	    ksft_get_error_cnt() || harness_kvm_passes())
		return;
	printf("# SKIP %s\n", ksft_plan ? "no subtest that reached KVM passed"
					: "no subtest selected");
	fflush(stdout);
	_exit(KSFT_SKIP);
}

/*
 * TEST_HARNESS_MAIN is the harness's public way to end a test file (the
 * old ones also settle constructor order there); its main() is renamed
 * to run after our options are parsed and the subtests wrapped.
 */
#define main __harness_generated_main
TEST_HARNESS_MAIN
#undef main

static inline int __harness_main(int argc, char **argv)
{
	argc = harness_parse_args(argc, argv);
	__harness_wrap_all();
	if (harness_listing())
		return KSFT_PASS;
	__harness_prune();
	atexit(__harness_verdict);
	return __harness_generated_main(argc, argv);
}

#define APICV_TEST_MAIN							\
	int main(int argc, char **argv)					\
	{								\
		return __harness_main(argc, argv);			\
	}

#endif
