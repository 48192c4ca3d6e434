/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VM model: a VM, its vCPUs and guest memory, and the loops that run
 * them. Guest memory is host memory: the test binary's own image and every
 * buffer from guest_alloc() are mapped into the guest at their host
 * addresses (all below 4 GiB), so guest code, globals and pointers are
 * shared as they are. Guest physical == guest virtual == host virtual.
 */
#ifndef APICV_VM_H
#define APICV_VM_H

#include <pthread.h>
#include <linux/kvm.h>

#include "kvm_ioctl.h"
#include "test_util.h"
#include "ucall.h"
#include "x86/processor.h"
#include "vcpu.h"

#define VM_MAX_VCPUS	288

enum irqchip_mode {
	IRQCHIP_KERNEL,		/* in-kernel PIC, IOAPIC and LAPICs */
	IRQCHIP_SPLIT,		/* in-kernel LAPICs, PIC/IOAPIC in userspace */
	IRQCHIP_NONE,		/* no in-kernel irqchip at all */
	IRQCHIP_DEFERRED,	/* none yet: vm_create_irqchip() adds one */
};

struct kvm_vcpu;
struct stats_fd;
typedef void (*vcpu_ucall_fn)(struct kvm_vcpu *vcpu, struct ucall *uc);

struct kvm_vm {
	int fd;
	enum irqchip_mode irqchip;
	int nr_vcpus;
	struct kvm_vcpu *vcpus[VM_MAX_VCPUS];
	u32 next_slot;
	size_t run_size;
	struct stats_fd *stats;
	/* Guest page tables and descriptor tables, allocated from sys. */
	u8 *sys;
	size_t sys_used, sys_size;
	u64 *pml4;
	void *gdt, *idt, *tss;
	/* guest_alloc() regions, unmapped by vm_free(). */
	struct guest_region *regions;
	/* What vm_install_handler() gave this VM's guest, per vector. */
	guest_handler_t handlers[256];
	struct kvm_vm *live_next;	/* the process's VMs not yet freed */
};

struct guest_region {
	void *hva;
	size_t size;
	struct guest_region *next;
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	int fd;
	u32 id;
	struct kvm_run *run;
	struct guest_cpu *cpu;
	u8 *stack;
	/* Run-loop thread (vcpu_thread_start). */
	pthread_t thread;
	bool thread_started;
	volatile bool stop;	/* leave the run loop at the next exit */
	volatile bool done;	/* the guest reached GUEST_DONE */
	vcpu_ucall_fn on_sync;	/* called from the thread for each SYNC */
	void *priv;		/* for the test */
	struct kvm_cpuid2 *cpuid;	/* what KVM_SET_CPUID2 was given */
	struct stats_fd *stats;
	bool (*on_exit)(struct kvm_vcpu *vcpu);	/* non-ucall exits */
};

struct kvm_vm *vm_create(enum irqchip_mode irqchip);
void vm_create_irqchip(struct kvm_vm *vm, enum irqchip_mode irqchip);
void vm_free(struct kvm_vm *vm);
/* Adds vCPU @id that starts in @guest_fn (void fn(args...)) when run. */
struct kvm_vcpu *vm_add_vcpu(struct kvm_vm *vm, u32 id, void *guest_fn);
/* Creates @n vCPUs with ids 0..n-1 all starting in @guest_fn. */
void vm_add_vcpus(struct kvm_vm *vm, int n, void *guest_fn);
/* Up to six integer arguments for the guest function. */
void __vcpu_args_set(struct kvm_vcpu *vcpu, int n, const u64 *args);
#define vcpu_args_set(vcpu, ...)					\
	__vcpu_args_set(vcpu, UCALL_NARGS(__VA_ARGS__),			\
			(u64[UCALL_MAX_ARGS]){ __VA_ARGS__ })

/* Guest-visible memory, zeroed, page aligned, below 2 GiB. */
void *guest_alloc(struct kvm_vm *vm, size_t size);
void vm_map_host(struct kvm_vm *vm, void *hva, size_t size);

#define vm_ioctl(vm, cmd, arg) kvm_ioctl_obj((vm)->fd, "vm", cmd, arg)
#define __vm_ioctl(vm, cmd, arg) ioctl((vm)->fd, cmd, arg)
void vm_enable_cap(struct kvm_vm *vm, u32 cap, u64 arg0);

/*
 * Guest handlers are process-wide: one table for every vCPU and VM, the
 * last install wins. @vm records what its guest expects; installing a
 * different handler for a vector another VM not yet freed uses warns.
 */
void vm_install_handler(struct kvm_vm *vm, int vector, guest_handler_t fn);

#endif
