/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pulling an APICv/AVIC inhibit reason on purpose, by name: the one place
 * that knows which ioctl (or guest action) sets and clears each reason a
 * VMM can reach, what the VM needs for it (a spare vCPU, an in-kernel PIT)
 * and whether this host can do it. Tests and benchmarks name reasons,
 * never ioctls.
 */
#ifndef APICV_X86_APICV_PULL_H
#define APICV_X86_APICV_PULL_H

#include <stdbool.h>

#include "x86/apicv.h"

struct kvm_vm;
struct apicv_pull;

/*
 * Prepares @vm to pull @r (creating what it needs, e.g. a spare vCPU that
 * never runs for BLOCKIRQ, the PIT for PIT_REINJ). Skips the subtest, with
 * the reason, when this host or kernel cannot pull @r.
 */
struct apicv_pull *apicv_pull_new(struct kvm_vm *vm, enum apicv_reason r);
/* Sets (@on) or clears @r from the VMM side. */
void apicv_pull(struct apicv_pull *p, bool on);
void apicv_pull_free(struct apicv_pull *p);

#endif /* APICV_X86_APICV_PULL_H */
