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
 * Guest side, in an interrupt handler: was the interrupt taken on the HLT
 * of "sti; hlt", inside STI's shadow? If so, resume after the HLT (which
 * would otherwise sleep with its wake-up consumed) and return true; the
 * test counts it and reports the count with emu_quirk_count().
 */
struct ex_regs;
bool guest_emu_shadow_hit(struct ex_regs *regs);

/* ---- KVM's static keys ------------------------------------------------------ */

/*
 * Holds one user of each of KVM's text-patched keys for the life of the
 * process, so the VMs that come and go after it never re-patch kernel text
 * (multi-threaded TCG runs cross-modified code racily). Best effort and
 * idempotent; nothing happens without /dev/kvm.
 */
void emu_keys_hold_for_process(void);

#endif /* APICV_EMULATOR_H */
