/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM binary statistics (KVM_GET_STATS_FD) read by name, for a VM or a
 * vCPU: halt_exits, halt_wakeup, irq_injections, irq_window_exits, ...
 */
#ifndef APICV_STATS_H
#define APICV_STATS_H

#include "vm.h"

struct stats_fd {
	int fd;
	struct kvm_stats_header hdr;
	u8 *descs;
	size_t desc_size;
};

struct stats_fd *stats_open(int stats_fd);
void stats_close(struct stats_fd *s);
/* False when the kernel has no statistic of that name. */
bool stats_read(struct stats_fd *s, const char *name, u64 *value);

/* Fail the test when the statistic does not exist. */
u64 vcpu_stat(struct kvm_vcpu *vcpu, const char *name);
u64 vm_stat(struct kvm_vm *vm, const char *name);
bool vcpu_stat_try(struct kvm_vcpu *vcpu, const char *name, u64 *value);

#endif
