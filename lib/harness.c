// SPDX-License-Identifier: GPL-2.0
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "emulator.h"
#include "fault.h"
#include "harness.h"
#include "kmsg.h"
#include "seed.h"
#include "test_util.h"

#define MAX_PATTERNS 32

static const char *patterns[MAX_PATTERNS];
static int npatterns;
static bool listing;
static enum profile profile = PROFILE_CI;
static struct kmsg_watch watch;
/* The subtest's reports that were not the emulator's, and the first. */
static int kvm_reports;
static char kvm_quote[sizeof(watch.quote)];
static const char *subtest;

enum profile harness_profile(void)
{
	return profile;
}

bool harness_listing(void)
{
	return listing;
}

const char *harness_subtest_name(void)
{
	return subtest ? subtest : "main";
}

static void __noreturn usage(const char *prog, int code)
{
	printf("usage: %s [-l] [-t PATTERN]... [--seed N] [--profile ci|qualify]\n"
	       "       [--fault NAME] [--list-faults]\n"
	       "Environment: APICV_SEED, APICV_PROFILE, APICV_FAULT, APICV_TESTS\n"
	       "(comma-separated patterns).\n", prog);
	exit(code);
}

static void set_profile(const char *name)
{
	if (!strcmp(name, "ci"))
		profile = PROFILE_CI;
	else if (!strcmp(name, "qualify"))
		profile = PROFILE_QUALIFY;
	else {
		fprintf(stderr, "unknown profile '%s' (ci, qualify)\n", name);
		exit(2);
	}
}

static void set_fault(const char *name)
{
	if (fault_enable(name))
		return;
	fprintf(stderr, "no fault named '%s' in this test (--list-faults)\n",
		name);
	exit(2);
}

static void add_pattern(const char *p)
{
	if (npatterns == MAX_PATTERNS) {
		fprintf(stderr, "too many -t patterns\n");
		exit(2);
	}
	patterns[npatterns++] = p;
}

static void add_patterns_csv(const char *csv)
{
	char *copy = strdup(csv), *tok, *save = NULL;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		add_pattern(tok);
}

static void read_env(void)
{
	const char *v;

	if ((v = getenv("APICV_SEED")) && *v)
		seed_set(strtoull(v, NULL, 0));
	if ((v = getenv("APICV_PROFILE")) && *v)
		set_profile(v);
	if ((v = getenv("APICV_FAULT")) && *v)
		set_fault(v);
	if ((v = getenv("APICV_TESTS")) && *v)
		add_patterns_csv(v);
}

/* State the subtests' processes share with the binary's main process. */
static struct harness_shared {
	int kernel_fault;
	unsigned int kvm_passes;
} *shared;
static pid_t main_pid;

bool harness_is_main_process(void)
{
	return getpid() == main_pid;
}

/* The binary's verdict, once ksft_exit() has printed the totals. */
static void exit_on_kernel_fault(void)
{
	if (!harness_is_main_process() || !harness_kernel_faulted())
		return;
	printf("# an emulator fault ended this run: exit %d, the runner boots a fresh kernel and runs it again\n",
	       EMU_FAULT_EXIT);
	fflush(stdout);
	_exit(EMU_FAULT_EXIT);
}

void harness_kernel_fault_set(void)
{
	if (shared)
		__atomic_store_n(&shared->kernel_fault, 1, __ATOMIC_SEQ_CST);
}

bool harness_kernel_faulted(void)
{
	return shared &&
	       __atomic_load_n(&shared->kernel_fault, __ATOMIC_SEQ_CST);
}

void harness_subtest_passed(void)
{
	if (shared && test_kvm_reached_take())
		__atomic_add_fetch(&shared->kvm_passes, 1, __ATOMIC_SEQ_CST);
}

unsigned int harness_kvm_passes(void)
{
	return shared ? __atomic_load_n(&shared->kvm_passes, __ATOMIC_SEQ_CST)
		      : 1;
}

static void shared_init(void)
{
	void *p = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	main_pid = getpid();
	test_kvm_reached_track();
	emu_quirks_track();
	if (p == MAP_FAILED)
		return;
	shared = p;
	atexit(exit_on_kernel_fault);
}

int harness_parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "test", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "profile", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'f' },
		{ "list-faults", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	read_env();
	shared_init();
	while ((c = getopt_long(argc, argv, "lt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listing = true; break;
		case 't': add_pattern(optarg); break;
		case 's': seed_set(strtoull(optarg, NULL, 0)); break;
		case 'p': set_profile(optarg); break;
		case 'f': set_fault(optarg); break;
		case 'F':
			fault_list();
			exit(0);
		case 'h':
			usage(argv[0], 0);
		default:
			usage(argv[0], 2);
		}
	}
	if (optind < argc)
		usage(argv[0], 2);
	seed_get();	/* fixed before the subtests fork */
	/* The harness parses its own (now empty) command line after us. */
	argv[1] = NULL;
	optind = 1;
	return 1;
}

bool harness_selected(const char *full_name, const char *test_name)
{
	int i;

	if (!npatterns)
		return true;
	for (i = 0; i < npatterns; i++)
		if (!fnmatch(patterns[i], full_name, 0) ||
		    !fnmatch(patterns[i], test_name, 0))
			return true;
	return false;
}

int harness_subtest_timeout(void)
{
	return profile == PROFILE_QUALIFY ? 1800 : 300;
}

void harness_subtest_begin(const char *full_name)
{
	subtest = full_name;
	test_kvm_reached_take();
	printf("# seed: %llu (reproduce: --seed %llu -t '%s')\n", seed_get(),
	       seed_get(), full_name);
	if (fault_active_name())
		printf("# negative control: fault '%s' enabled, this must fail\n",
		       fault_active_name());
	fflush(stdout);
	kvm_reports = 0;
	kmsg_watch_start(&watch);
	if (watch.fd < 0)
		printf("# kmsg: /dev/kmsg unreadable, kernel reports not watched\n");
}

/*
 * Reads the log since the watch started: true if its reports, or the
 * failure of the attempt (@failed), are the emulator's.
 */
static bool kmsg_judge(bool failed)
{
	int n = kmsg_watch_scan(&watch);
	bool emulator = watch.emulator && (n || failed);

	if (emulator && !n) {
		printf("# kmsg: the failure of %s comes with an emulator signature in the kernel log (%s): an emulator fault\n",
		       subtest, watch.emulator);
		fflush(stdout);
	} else if (emulator) {
		printf("# kmsg: %d kernel report(s) during %s, the emulator's (%s): an emulator fault\n%s",
		       n, subtest, watch.emulator, watch.quote);
		fflush(stdout);
	} else if (n) {
		if (!kvm_reports)
			memcpy(kvm_quote, watch.quote, sizeof(kvm_quote));
		kvm_reports += n;
	}
	return emulator;
}

bool harness_attempt_kmsg_emulator(bool failed)
{
	bool emulator = kmsg_judge(failed);

	kmsg_watch_stop(&watch);
	kmsg_watch_start(&watch);
	return emulator;
}

int harness_subtest_end(void)
{
	kmsg_judge(false);	/* what came after the last attempt */
	if (kvm_reports)
		printf("# kmsg: %d kernel report(s) during %s:\n%s",
		       kvm_reports, subtest, kvm_quote);
	kmsg_watch_stop(&watch);
	return kvm_reports;
}

void harness_prng(struct prng *p)
{
	prng_init_for(p, harness_subtest_name());
}
