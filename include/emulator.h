/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The emulator the suite may run KVM under (QEMU TCG emulating SVM, or
 * Bochs): how it is detected, the quirks it has that KVM does not, one
 * tolerance policy per quirk, the rerun and reboot budgets after a fault it
 * caused, and the exit codes that carry such a fault to the runner.
 *
 * The build exports the numbers below to the runner ($(OUTPUT)/emulator.env,
 * NAME=value lines): the runner never spells one itself.
 */
#ifndef APICV_EMULATOR_H
#define APICV_EMULATOR_H

#include <stdbool.h>

#include "test_util.h"

/* ---- exit codes and budgets (exported to the runner) ------------------ */

/* A binary ends with this after an emulator fault that may have harmed
 * the kernel: the runner reboots and reruns it. */
#define EMU_FAULT_EXIT			254
/* A fault that cannot have harmed the kernel: rerun in process. */
#define EMU_FAULT_LOCAL_EXIT		253
/* Attempts of one subtest, in process or across reboots. */
#define EMU_RERUN_ATTEMPTS		5
/* Fault reboots of one kernel in a row, and in all, before giving up. */
#define EMU_REBOOTS_IN_A_ROW		9
#define EMU_REBOOTS_PER_KERNEL		30

/* ---- detection ------------------------------------------------------------ */

/* The host (the kernel running KVM) is a QEMU TCG guest. */
bool emu_tcg(void);

/* ---- quirks ---------------------------------------------------------------- */

enum emu_quirk {
	EMU_QUIRK_STI_SHADOW,	/* an interrupt taken inside STI's shadow */
	EMU_QUIRK_DUP_INJECT,	/* an interrupt delivered twice */
	EMU_QUIRK_HOST_RIP,	/* a vCPU resumed at its host's RIP */
	NR_EMU_QUIRKS,
};

/*
 * A subtest reports, once it has them, how many of @events showed @q. The
 * harness judges every quirk once, when the subtest ends: any hit fails it
 * unless the emulator is there and the hits are within @q's tolerance.
 */
void emu_quirk_count(enum emu_quirk q, u64 hits, u64 events);
/*
 * The same, with what the hits were (printf-style): the failure message
 * quotes it. A test reporting a surplus (DUP_INJECT) passes the surplus as
 * @hits and what was sent as @events; a deficit is its own failure.
 */
void __printf(4, 5) emu_quirk_count_why(enum emu_quirk q, u64 hits,
					u64 events, const char *fmt, ...);
/*
 * DUP_INJECT's policy for a delivery count: a surplus of @got over @sent
 * is reported (emu_quirk_count(), @sent the events) for the harness to
 * judge, and @sent returned; else @got, so that a deficit stays the
 * caller's own failure: EXPECT_EQ(sent, emu_count_dup(sent, got)).
 */
u64 emu_count_dup(u64 sent, u64 got);

/*
 * For the harness: emu_quirks_track() before the subtests fork (the counts
 * are shared with their processes), emu_quirks_reset() as an attempt
 * starts, emu_quirks_judge() when it ends, in the attempt's process: it
 * prints the tolerated hits as "# " lines and returns false, after one
 * "# FAIL" line, when a quirk fails the subtest.
 */
void emu_quirks_track(void);
void emu_quirks_reset(void);
bool emu_quirks_judge(void);

/* ---- faults that rerun the subtest ----------------------------------------- */

/*
 * Records that the emulator, not KVM, may have broken the vCPU state: a
 * failure that follows ends the process with EMU_FAULT_EXIT. The harness
 * then runs the subtest again in this process, or, inside a kernel that
 * the runner can boot again (emu_fault_reboot()), ends the binary with
 * that code so the rerun happens in a fresh kernel: the fault may have
 * damaged this one. Up to EMU_RERUN_ATTEMPTS attempts in all.
 */
void emu_note_fault(const char *why);
/* A fault that cannot have harmed the kernel: always rerun in process. */
void emu_note_fault_local(const char *why);
/* emu_note_fault(@q's description) under TCG in a run that is not
 * strict; else nothing. */
void emu_note_quirk_fault(enum emu_quirk q);
/* Ends a failing process with the code above if a fault was noted. */
void emu_exit_if_fault(void);
/* APICV_FAULT_REBOOT=1: the runner reboots the kernel after a fault. */
bool emu_fault_reboot(void);

/*
 * Guest side, in an interrupt handler: was the interrupt taken on the HLT
 * of "sti; hlt", inside STI's shadow? If so, resume after the HLT (which
 * would otherwise sleep with its wake-up consumed) and return true; the
 * test counts it and reports the count with emu_quirk_count().
 */
struct ex_regs;
bool guest_emu_shadow_hit(struct ex_regs *regs);

/* ---- kernel-log signatures ----------------------------------------------- */

/*
 * A kernel report is the emulator's when a signature line (include/
 * emu_signatures.def) comes before it or within this many lines after it.
 */
#define EMU_SIGNATURE_LINES		24

/*
 * The name of the signature that @line, one kernel-log message, matches
 * where the emulator it names is forgiven here (TCG, force_avic; never
 * with APICV_STRICT=1); else NULL.
 */
const char *emu_kmsg_signature(const char *line);
/* The same on a host of the kind given (the library's tests). */
const char *emu_signature_match(const char *line, bool tcg, bool force_avic);

/* ---- KVM's static keys ------------------------------------------------------ */

/*
 * Holds one user of each of KVM's text-patched keys for the life of the
 * process, so the VMs that come and go after it never re-patch kernel text
 * (multi-threaded TCG runs cross-modified code racily): emu_keys_hold(),
 * released when the process exits. Best effort and idempotent; nothing
 * happens without /dev/kvm.
 */
void emu_keys_hold_for_process(void);

/*
 * The same for a holder that lets go (scripts/tools/kvm_keeper): a VM with
 * a vCPU whose APIC is software-disabled and one whose APIC is
 * hardware-disabled, a VM whose vCPU has no in-kernel APIC, and a tracefs
 * instance with the APICv-inhibit event on. emu_keys_hold() returns false
 * when it could hold none of the KVM keys; k->traced says whether the
 * tracepoint is held. Release what it held with emu_keys_release().
 */
struct emu_keys {
	int fds[6];
	int nfds;
	bool traced;
	char instance[128];
};
bool emu_keys_hold(struct emu_keys *k);
void emu_keys_release(struct emu_keys *k);

#endif /* APICV_EMULATOR_H */
