// SPDX-License-Identifier: GPL-2.0
/*
 * The emulator module's own tests, apart from KVM's results: which kernel
 * log lines are emulator signatures (include/emu_signatures.def) on which
 * host, and when a signature makes a log slice's reports the emulator's,
 * on kernel logs recorded in CI. No /dev/kvm needed.
 */
#include <string.h>

#include "emulator.h"
#include "harness_main.h"
#include "kmsg.h"

FAULT(match_as_bare_metal, "global.signature_match",
      "line 0: got (none)",
      "the lines are matched as if the host were not TCG");
FAULT(stop_at_report, "global.report_window",
      "6.1 RCU stall: not the emulator's",
      "the watch looks for signatures only up to the first report's line");

/* ---- which lines are signatures, where -------------------------------- */

struct sig_case {
	const char *line;
	bool tcg, force_avic;
	const char *name;	/* NULL: none */
};

static const struct sig_case sig_cases[] = {
	/* Recorded: 6.1, an RCU stall's dump under TCG (avic=0). */
	{ "RIP: 0010:smp_call_function_many_cond+0xf1/0x330",
	  true, false, "tcg-ipi-wait" },
	/* Recorded: 7.2, a soft lockup's dump under force_avic. */
	{ "RIP: 0010:smp_call_function_many_cond+0x116/0x560",
	  true, true, "tcg-ipi-wait" },
	{ "watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [apicv_inhibit_c:204]",
	  true, true, "tcg-force-avic-lockup" },
	{ "Kernel panic - not syncing: corrupted stack end detected inside scheduler",
	  true, false, "tcg-host-rip" },
	{ "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI",
	  true, false, "tcg-text-poke" },
	{ "int3: 0000 [#1] SMP NOPTI", true, false, "tcg-text-poke" },
	/* Recorded: 7.2 under TCG, in the churn test's failing attempt. */
	{ "clocksource: Marking clocksource tsc unstable due to frequency skew",
	  true, false, "tcg-tsc-unstable" },
	/* The lockup's first line says nothing without force_avic. */
	{ "watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [apicv_inhibit_c:204]",
	  true, false, NULL },
	/* Nothing is the emulator's off TCG. */
	{ "RIP: 0010:smp_call_function_many_cond+0xf1/0x330",
	  false, true, NULL },
	/* A CPU stuck elsewhere, and KVM's own reports. */
	{ "RIP: 0010:kvm_vcpu_halt+0x2a/0x3e0 [kvm]", true, true, NULL },
	{ "WARNING: CPU: 0 PID: 204 at arch/x86/kvm/x86.c:10401 kvm_vcpu_update_apicv+0x5b/0x70 [kvm]",
	  true, true, NULL },
	{ "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
	  true, true, NULL },
};

TEST(signature_match)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sig_cases); i++) {
		const struct sig_case *c = &sig_cases[i];
		const char *got = emu_signature_match(c->line,
						      c->tcg && !fault_match_as_bare_metal,
						      c->force_avic);

		ASSERT_TRUE(c->name ? got && !strcmp(got, c->name) : !got) {
			TH_LOG("line %u: got %s, want %s ('%s')", i,
			       got ? got : "(none)",
			       c->name ? c->name : "(none)", c->line);
		}
	}
}

/* ---- which reports a signature explains ------------------------------- */

/* Recorded: Debian 6.1 under TCG, halt_wakeup_test (CI helper, 2026-12-03). */
static const char *const rcu_stall_6_1[] = {
	"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
	"rcu: \t0-...0: (1 GPs behind) idle=af2c/1/0x4000000000000000 softirq=2591/2592 fqs=701",
	"\t(detected by 1, t=5253 jiffies, g=3333, q=5 ncpus=2)",
	"rcu: rcu_preempt kthread starved for 1732 jiffies! g3333 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=1",
	"rcu: \tUnless rcu_preempt kthread gets sufficient CPU time, OOM is now expected behavior.",
	"rcu: RCU grace-period kthread stack dump:",
	"rcu: Stack dump where RCU GP kthread last ran:",
	"CPU: 1 PID: 789 Comm: halt_wakeup_tes Not tainted 6.1.0-57-amd64 #1  Debian 6.1.192-3",
	"Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2~bpo12+1 04/01/2014",
	"RIP: 0010:smp_call_function_many_cond+0xf1/0x330",
	"RSP: 0000:ffffc900017c3c98 EFLAGS: 00010202",
};

/* Shaped like a WARN in KVM: a CPU's dump, none of it a signature. */
static const char *const kvm_warn_6_12[] = {
	"------------[ cut here ]------------",
	"WARNING: CPU: 1 PID: 312 at arch/x86/kvm/lapic.c:1456 kvm_apic_send_ipi+0x1c1/0x1d0 [kvm]",
	"Modules linked in: kvm_amd ccp kvm irqbypass",
	"RIP: 0010:kvm_apic_send_ipi+0x1c1/0x1d0 [kvm]",
	"---[ end trace 0000000000000000 ]---",
};

static const char *tcg_host(const char *line)
{
	return emu_signature_match(line, true, false);
}

/* Feeds @n lines, with @filler unrelated lines after the first. */
static const char *slice_emulator(const char *const *lines, int n,
				  int filler)
{
	struct kmsg_watch w;
	int i;

	kmsg_watch_init(&w);
	w.signature = tcg_host;
	for (i = 0; i < n; i++) {
		kmsg_watch_feed(&w, lines[i]);
		if (fault_stop_at_report && w.reports)
			break;
		while (i == 0 && filler-- > 0)
			kmsg_watch_feed(&w, "kvm: vcpu 0 filler");
	}
	return w.reports ? w.emulator : NULL;
}

TEST(report_window)
{
	int n = ARRAY_SIZE(rcu_stall_6_1), fill;
	const char *got;

	got = slice_emulator(rcu_stall_6_1, n, 0);
	ASSERT_TRUE(got && !strcmp(got, "tcg-ipi-wait")) {
		TH_LOG("6.1 RCU stall: not the emulator's (%s)",
		       got ? got : "no signature");
	}
	/* The RIP line is line 9 after the report: the window's last line. */
	fill = EMU_SIGNATURE_LINES - 9;
	ASSERT_TRUE(slice_emulator(rcu_stall_6_1, n, fill) != NULL) {
		TH_LOG("signature %d lines after the report: not seen",
		       EMU_SIGNATURE_LINES);
	}
	ASSERT_TRUE(slice_emulator(rcu_stall_6_1, n, fill + 1) == NULL) {
		TH_LOG("signature %d lines after the report: seen",
		       EMU_SIGNATURE_LINES + 1);
	}
	got = slice_emulator(kvm_warn_6_12, ARRAY_SIZE(kvm_warn_6_12), 0);
	ASSERT_TRUE(got == NULL) {
		TH_LOG("a KVM WARN taken for the emulator's");
	}
}

APICV_TEST_MAIN
