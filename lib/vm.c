// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/cpuid.h"
#include "x86/desc.h"

#define PAGE_SIZE	4096ul
#define STACK_SIZE	(64ul << 10)
#define IOAPIC_BASE	0xfec00000ull
#define KICK_SIGNAL	SIGUSR1

_Static_assert(offsetof(struct guest_cpu, fixup_rip) == GUEST_CPU_FIXUP_RIP,
	       "fixup offset used by the *_safe() asm");
_Static_assert(offsetof(struct guest_cpu, fault_vector) ==
	       GUEST_CPU_FAULT_VECTOR, "vector offset used by the asm");

/* The test binary's own image, mapped into every guest. */
extern char __executable_start[], end[];
extern char guest_return_stub[];

static void kick_handler(int sig)
{
	(void)sig;
}

static void kick_signal_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: KVM_RUN must come back with EINTR. */
	sigaction(KICK_SIGNAL, &sa, NULL);
}

void vm_map_host(struct kvm_vm *vm, void *hva, size_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = vm->next_slot++,
		.guest_phys_addr = (u64)hva,
		.memory_size = ALIGN_UP(size, PAGE_SIZE),
		.userspace_addr = (u64)hva,
	};

	TEST_ASSERT(((u64)hva & (PAGE_SIZE - 1)) == 0 &&
		    (u64)hva + size < IOAPIC_BASE,
		    "guest memory %p must be page aligned and below 4 GiB",
		    hva);
	vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
	vm_map_identity(vm, (u64)hva, size);
}

void *guest_alloc(struct kvm_vm *vm, size_t size)
{
	struct guest_region *r;
	void *p;

	size = ALIGN_UP(size, PAGE_SIZE);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap of %zu guest bytes failed", size);
	vm_map_host(vm, p, size);
	r = malloc(sizeof(*r));
	TEST_ASSERT(r, "out of memory");
	*r = (struct guest_region){ .hva = p, .size = size,
				    .next = vm->regions };
	vm->regions = r;
	return p;
}

void vm_enable_cap(struct kvm_vm *vm, u32 cap, u64 arg0)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg0 } };

	vm_ioctl(vm, KVM_ENABLE_CAP, &c);
}

void vcpu_enable_cap(struct kvm_vcpu *vcpu, u32 cap, u64 arg0)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg0 } };

	vcpu_ioctl(vcpu, KVM_ENABLE_CAP, &c);
}

void vm_create_irqchip(struct kvm_vm *vm, enum irqchip_mode irqchip)
{
	TEST_ASSERT(!vm->nr_vcpus || irqchip == IRQCHIP_KERNEL,
		    "a split irqchip must exist before the first vCPU");
	if (irqchip == IRQCHIP_KERNEL)
		vm_ioctl(vm, KVM_CREATE_IRQCHIP, NULL);
	else if (irqchip == IRQCHIP_SPLIT)
		vm_enable_cap(vm, KVM_CAP_SPLIT_IRQCHIP, 24);
	vm->irqchip = irqchip;
}

/* The VMs of this process not yet freed (vm_install_handler()). */
static struct kvm_vm *live_vms;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void live_link(struct kvm_vm *vm, bool add)
{
	struct kvm_vm **p;

	pthread_mutex_lock(&live_lock);
	if (add) {
		vm->live_next = live_vms;
		live_vms = vm;
	}
	for (p = &live_vms; !add && *p; p = &(*p)->live_next)
		if (*p == vm) {
			*p = vm->live_next;
			break;
		}
	pthread_mutex_unlock(&live_lock);
}

struct kvm_vm *vm_create(enum irqchip_mode irqchip)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
	u64 image = (u64)__executable_start;

	TEST_ASSERT(vm, "out of memory");
	kick_signal_init();
	vm->fd = kvm_sys_ioctl(KVM_CREATE_VM, 0);
	vm->run_size = kvm_sys_ioctl(KVM_GET_VCPU_MMAP_SIZE, NULL);
	vm->irqchip = IRQCHIP_DEFERRED;
	if (irqchip != IRQCHIP_DEFERRED)
		vm_create_irqchip(vm, irqchip);

	vm_x86_init(vm);
	vm_map_host(vm, vm->sys, vm->sys_size);
	vm_map_host(vm, (void *)image, (u64)end - image);
	/* xAPIC and IOAPIC registers, emulated by KVM: no memslot. */
	vm_map_identity(vm, APIC_DEFAULT_BASE, PAGE_SIZE);
	vm_map_identity(vm, IOAPIC_BASE, PAGE_SIZE);
	live_link(vm, true);
	return vm;
}

const char *vcpu_name(struct kvm_vcpu *vcpu)
{
	static __thread char buf[32];

	snprintf(buf, sizeof(buf), "vcpu %u", vcpu->id);
	return buf;
}

static void vcpu_init_regs(struct kvm_vcpu *vcpu, void *guest_fn)
{
	u64 top = (u64)vcpu->stack + STACK_SIZE;
	struct kvm_regs regs = { 0 };

	/* A returning guest function lands in the DONE stub. */
	top -= 8;
	*(u64 *)top = (u64)guest_return_stub;
	regs.rsp = top;
	regs.rip = (u64)guest_fn;
	regs.rflags = 0x2;
	vcpu_regs_set(vcpu, &regs);
}

struct kvm_vcpu *vm_add_vcpu(struct kvm_vm *vm, u32 id, void *guest_fn)
{
	struct kvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));

	TEST_ASSERT(vcpu && vm->nr_vcpus < VM_MAX_VCPUS, "too many vCPUs");
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = vm_ioctl(vm, KVM_CREATE_VCPU, (unsigned long)id);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	TEST_ASSERT(vcpu->run != MAP_FAILED, "mmap of kvm_run failed");

	vcpu->stack = guest_alloc(vm, STACK_SIZE + PAGE_SIZE);
	vcpu->cpu = (void *)(vcpu->stack + STACK_SIZE);
	vcpu->cpu->self = vcpu->cpu;
	vcpu->cpu->vcpu_id = id;
	vcpu->cpu->apic_id = id;
	vcpu->cpu->stack_top = (u64)vcpu->stack + STACK_SIZE;

	/* CPUID first: KVM checks CR4 and CR3 against the guest's CPUID. */
	vcpu_cpuid_init(vcpu);
	vcpu_cpuid_apply(vcpu);
	vcpu_x86_init_sregs(vcpu);
	vcpu_init_regs(vcpu, guest_fn);
	if (!guest_tsc_khz)
		guest_tsc_khz = vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	/* APs wait for INIT/SIPI with an in-kernel APIC: start them now. */
	if (vm->irqchip != IRQCHIP_NONE && vm->irqchip != IRQCHIP_DEFERRED)
		vcpu_set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	vcpu->stats = stats_open(vcpu_ioctl(vcpu, KVM_GET_STATS_FD, NULL));
	vm->vcpus[vm->nr_vcpus++] = vcpu;
	return vcpu;
}

void vm_add_vcpus(struct kvm_vm *vm, int n, void *guest_fn)
{
	int i;

	for (i = 0; i < n; i++)
		vm_add_vcpu(vm, i, guest_fn);
}

void __vcpu_args_set(struct kvm_vcpu *vcpu, int n, const u64 *args)
{
	struct kvm_regs regs;
	u64 *slots[] = { &regs.rdi, &regs.rsi, &regs.rdx,
			 &regs.rcx, &regs.r8, &regs.r9 };
	int i;

	vcpu_regs_get(vcpu, &regs);
	for (i = 0; i < n; i++)
		*slots[i] = args[i];
	vcpu_regs_set(vcpu, &regs);
}

void vm_install_handler(struct kvm_vm *vm, int vector, guest_handler_t fn)
{
	struct kvm_vm *o;

	pthread_mutex_lock(&live_lock);
	for (o = live_vms; o; o = o->live_next)
		if (o != vm && o->handlers[vector] && o->handlers[vector] != fn)
			printf("# warning: vector 0x%x gets another handler "
			       "while VM fd %d (not freed) uses one: the two "
			       "guests now share the new one\n", vector, o->fd);
	vm->handlers[vector] = fn;
	WRITE_ONCE(guest_handlers[vector], fn);
	pthread_mutex_unlock(&live_lock);
}

static void vcpu_free(struct kvm_vcpu *vcpu, size_t run_size)
{
	stats_close(vcpu->stats);
	munmap(vcpu->run, run_size);
	close(vcpu->fd);
	free(vcpu->cpuid);
	free(vcpu);
}

void vm_free(struct kvm_vm *vm)
{
	int i;

	if (!vm)
		return;
	live_link(vm, false);
	vm_threads_stop(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_free(vm->vcpus[i], vm->run_size);
	stats_close(vm->stats);
	close(vm->fd);
	while (vm->regions) {
		struct guest_region *r = vm->regions;

		vm->regions = r->next;
		munmap(r->hva, r->size);
		free(r);
	}
	munmap(vm->sys, vm->sys_size);
	free(vm);
}
