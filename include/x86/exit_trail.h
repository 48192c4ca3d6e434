/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The last few exits of a vCPU, as RIP and interrupt shadow, printed if
 * the test fails: where a delivery check needs the exits that led to it.
 */
#ifndef APICV_X86_EXIT_TRAIL_H
#define APICV_X86_EXIT_TRAIL_H

#include "vm.h"

/* Empties the trail and prints it from the failure hook (test_util.h). */
void exit_trail_start(void);
/* Notes @vcpu's RIP and interrupt shadow at this exit. */
void exit_trail_note(struct kvm_vcpu *vcpu);
/* Keeps the trail as it is now: later exits are not noted. */
void exit_trail_freeze(void);
void exit_trail_print(void);

#endif
