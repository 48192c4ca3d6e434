// SPDX-License-Identifier: GPL-2.0
/*
 * The inhibit observer's own tests, apart from KVM's results: the trace
 * parser on recorded lines of both trace formats (through 6.10, and 6.11+
 * with names) and the reason table's layout per kernel, which need no
 * /dev/kvm; the table against the running kernel's own names (6.11+), and
 * the tracefs instance's lifecycle (root and tracefs).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_main.h"
#include "x86/apicv_host.h"
#include "x86/apicv_observer.h"
#include "x86/apicv_reason.h"
#include "x86/apicv_trace.h"

FAULT(parse_with_6_1_table, "global.trace_parse",
      "line 4: got APIC_ID_MODIFIED",
      "every recorded line is parsed with Debian 6.1's bit layout");
FAULT(table_6_3_as_6_2, "global.reason_table",
      "PHYSICAL_ID_ALIASED on 6.3: bit -1",
      "the 6.3 layout is looked up as 6.2's");
FAULT(kernel_table_6_1, "global.table_matches_kernel", "table says bit",
      "the kernel's own bits are compared with the 6.1 table");
FAULT(keep_instance, "global.observer_cleanup", "still exists after stop",
      "the tracefs instance is left behind instead of stopped");

/* ---- the parser, on recorded lines (no KVM) --------------------------- */

struct parse_case {
	const char *line;
	unsigned int kver;
	bool ok, set;
	int bit;
	u64 mask;
	enum apicv_reason reason;
};

static const struct parse_case parse_cases[] = {
	/* Recorded on Debian 6.1 (kvm_amd avic=1 force_avic=1): numbers only. */
	{ " apicv_inhibit_m-105     [000] .....     6.516748: kvm_apicv_inhibit_changed: set reason=8, inhibits=0x108",
	  KVER(6, 1), true, true, 8, 0x108, APICV_REASON_PIT_REINJ },
	{ " apicv_inhibit_m-105     [000] .....     6.537708: kvm_apicv_inhibit_changed: cleared reason=3, inhibits=0x100",
	  KVER(6, 1), true, false, 3, 0x100, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-101     [001] .....     5.540766: kvm_apicv_inhibit_changed: set reason=2, inhibits=0x4",
	  KVER(6, 1), true, true, 2, 0x4, APICV_REASON_ABSENT },
	{ " apicv_inhibit_m-105     [000] .....     6.558584: kvm_apicv_inhibit_changed: cleared reason=8, inhibits=0x0",
	  KVER(6, 1), true, false, 8, 0, APICV_REASON_PIT_REINJ },
	/* 6.3-6.10: the same text with the new numbers. */
	{ "kvm_apicv_inhibit_changed: set reason=4, inhibits=0x10",
	  KVER(6, 6), true, true, 4, 0x10, APICV_REASON_PHYSICAL_ID_ALIASED },
	/* Recorded on Debian 6.12: the mask's names follow, in bit order. */
	{ " apicv_inhibit_m-154     [001] .....     5.218899: kvm_apicv_inhibit_changed: set reason=9, inhibits=0x208 BLOCKIRQ|PIT_REINJ",
	  KVER(6, 12), true, true, 9, 0x208, APICV_REASON_PIT_REINJ },
	{ " apicv_inhibit_m-154     [001] .....     5.193733: kvm_apicv_inhibit_changed: set reason=3, inhibits=0x8 BLOCKIRQ",
	  KVER(6, 12), true, true, 3, 0x8, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-154     [001] .....     5.244834: kvm_apicv_inhibit_changed: cleared reason=3, inhibits=0x200 PIT_REINJ",
	  KVER(6, 12), true, false, 3, 0x200, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-154     [001] .....     5.111952: kvm_apicv_inhibit_changed: cleared reason=11, inhibits=0x0",
	  KVER(6, 12), true, false, 11, 0, APICV_REASON_LOGICAL_ID_ALIASED },
	{ " apicv_inhibit_m-164     [000] .....     5.300000: kvm_apicv_inhibit_changed: set reason=5, inhibits=0x830 PHYSICAL_ID_ALIASED|APIC_ID_MODIFIED|LOGICAL_ID_ALIASED",
	  KVER(6, 12), true, true, 5, 0x830, APICV_REASON_APIC_ID_MODIFIED },
	/* A name beats the table: bit 12 is unknown to the 6.12 table. */
	{ "kvm_apicv_inhibit_changed: set reason=12, inhibits=0x1004 ABSENT|PHYSICAL_ID_TOO_BIG",
	  KVER(6, 12), true, true, 12, 0x1004, APICV_REASON_PHYSICAL_ID_TOO_BIG },
	/* Bare event text, as in a format example. */
	{ "set reason=8, inhibits=0x100", KVER(6, 1), true, true, 8, 0x100,
	  APICV_REASON_PIT_REINJ },
	/* Not ours. */
	{ "  qemu-1 [000] ..... 1.0: kvm_apicv_accept_irq: apicid 0 vec 32 (Fixed|edge)",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "kvm_apicv_inhibit_changed: toggled reason=1, inhibits=0x2",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "kvm_apicv_inhibit_changed: set reason=x, inhibits=0x2",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "", KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
};

TEST(trace_parse)
{
	struct apicv_transition t;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		bool ok = apicv_trace_parse_for(c->line, &t,
						fault_parse_with_6_1_table ?
						KVER(6, 1) : c->kver);

		ASSERT_EQ(c->ok, ok) {
			TH_LOG("line %u: '%s'", i, c->line);
		}
		if (!ok)
			continue;
		ASSERT_EQ(c->set, t.set) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->bit, t.bit) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->mask, t.mask) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->reason, t.reason) {
			TH_LOG("line %u: got %s", i, apicv_reason_name(t.reason));
		}
	}
	/* The header: timestamp and pid of the first line. */
	ASSERT_TRUE(apicv_trace_parse_for(parse_cases[0].line, &t, KVER(6, 1)));
	ASSERT_EQ(6516748000ull, t.ts_ns);
	ASSERT_EQ(105, t.pid);
}

/* The table's layout for each kernel generation. */
TEST(reason_table)
{
	int bit;

	ASSERT_EQ(8, apicv_reason_bit_for(APICV_REASON_PIT_REINJ, KVER(6, 1)));
	ASSERT_EQ(9, apicv_reason_bit_for(APICV_REASON_PIT_REINJ, KVER(6, 12)));
	ASSERT_EQ(-1, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_ALIASED,
					   KVER(6, 1)));
	bit = apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_ALIASED,
				   fault_table_6_3_as_6_2 ? KVER(6, 2) :
							    KVER(6, 3));
	ASSERT_EQ(4, bit) {
		TH_LOG("PHYSICAL_ID_ALIASED on 6.3: bit %d", bit);
	}
	ASSERT_EQ(-1, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_TOO_BIG,
					   KVER(6, 12)));
	ASSERT_EQ(12, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_TOO_BIG,
					   KVER(6, 17)));
	ASSERT_EQ(APICV_REASON_SEV, apicv_reason_by_bit_for(9, KVER(6, 1)));
	ASSERT_EQ(APICV_REASON_DISABLE, apicv_reason_by_name("DISABLED"));
	ASSERT_EQ(APICV_REASON_IRQWIN,
		  apicv_reason_by_name("APICV_INHIBIT_REASON_IRQWIN"));
	ASSERT_EQ(APICV_REASON_UNKNOWN, apicv_reason_by_name("X2APIC"));
}

/* On 6.11+ the kernel names its bits: the static table must agree. */
TEST(table_matches_kernel)
{
	unsigned int kver = kernel_version();
	int r;

	if (fault_kernel_table_6_1)
		kver = KVER(6, 1);

	TEST_REQUIRE(apicv_reason_bits_from_kernel(),
		     "no inhibit names in the kvm_apicv_inhibit_changed format on %u.%u (needs 6.11+, kvm loaded, tracefs readable)",
		     kver >> 8, kver & 0xff);
	for (r = 0; r < APICV_NR_REASONS; r++) {
		EXPECT_EQ(apicv_reason_bit_for(r, kver), apicv_reason_bit(r)) {
			TH_LOG("%s: table says bit %d for %u.%u, the kernel %d",
			       apicv_reason_name(r),
			       apicv_reason_bit_for(r, kver), kver >> 8,
			       kver & 0xff, apicv_reason_bit(r));
		}
	}
}

/* ---- the tracefs instance ------------------------------------------- */

static bool instance_exists(const char *prefix)
{
	const char *roots[] = { "/sys/kernel/tracing/instances",
				"/sys/kernel/debug/tracing/instances" };
	struct dirent *de;
	bool found = false;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(roots) && !found; i++) {
		DIR *d = opendir(roots[i]);

		if (!d)
			continue;
		while ((de = readdir(d)) && !found)
			found = !strncmp(de->d_name, prefix, strlen(prefix));
		closedir(d);
	}
	return found;
}

/* The instance goes on stop, and a SIGKILLed owner's goes at next start. */
TEST(observer_cleanup)
{
	struct apicv_observer *o;
	char prefix[64], path[300];
	int status;
	pid_t child;

	apicv_require_observable();
	o = apicv_observer_start();
	snprintf(path, sizeof(path), "%s", apicv_observer_path(o));
	ASSERT_EQ(0, access(path, F_OK));
	if (!fault_keep_instance)
		apicv_observer_stop(o);
	ASSERT_NE(0, access(path, F_OK)) {
		TH_LOG("%s still exists after stop", path);
	}

	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		apicv_observer_start();
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	snprintf(prefix, sizeof(prefix), "apicv-%d-", child);
	ASSERT_TRUE(instance_exists(prefix)) {
		TH_LOG("the killed child left no %s* instance to clean", prefix);
	}
	o = apicv_observer_start();
	ASSERT_FALSE(instance_exists(prefix)) {
		TH_LOG("stale %s* instance survived the next start", prefix);
	}
	apicv_observer_stop(o);
}

APICV_TEST_MAIN
