// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_keeper: holds KVM's text-patched switches steady while the suite
 * runs in a kernel booted under QEMU TCG.
 *
 * KVM flips static keys as the first VM with a software-disabled APIC, a
 * hardware-disabled APIC or an APIC-less vCPU comes and the last one goes
 * (the APIC keys a second later), and the inhibit observer flips a
 * tracepoint's key. Each flip rewrites kernel text with int3 breakpoints
 * and IPIs; multi-threaded TCG runs such cross-modified code racily, and
 * the booted kernel then dies with "Oops: int3" or hangs. Holding one
 * user of each key for the whole run means the tests' own VMs only move
 * the counts, never the code. scripts/vm-init starts it before the
 * command when it is in the suite; it stops on SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

#define APIC_BASE_MSR		0x1b
#define APIC_DEFAULT_BASE	0xfee00000ull
#define INSTANCE		"/sys/kernel/tracing/instances/kvm-keeper"
#define EVENT			"events/kvm/kvm_apicv_inhibit_changed/enable"

static volatile sig_atomic_t done;

static void on_term(int sig)
{
	done = 1;
}

static void guest_never_runs(void)
{
}

static bool write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* A small private instance with the inhibit event on keeps its key on. */
static bool hold_tracepoint(void)
{
	if (mkdir(INSTANCE, 0700) && errno != EEXIST)
		return false;
	write_file(INSTANCE "/buffer_size_kb", "4");
	return write_file(INSTANCE "/" EVENT, "1");
}

int main(void)
{
	struct kvm_vm *with_apic, *without_apic;
	struct kvm_vcpu *hw_off;
	bool traced;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	/* A vCPU's APIC starts software-disabled: never enabled here. */
	with_apic = vm_create(IRQCHIP_KERNEL);
	vm_add_vcpu(with_apic, 0, guest_never_runs);
	hw_off = vm_add_vcpu(with_apic, 1, guest_never_runs);
	vcpu_set_msr(hw_off, APIC_BASE_MSR, APIC_DEFAULT_BASE);
	without_apic = vm_create(IRQCHIP_NONE);
	vm_add_vcpu(without_apic, 0, guest_never_runs);
	traced = hold_tracepoint();
	printf("kvm_keeper: holding KVM's APIC keys%s\n",
	       traced ? " and the inhibit tracepoint" : "");
	fflush(stdout);
	while (!done)
		pause();
	if (traced) {
		write_file(INSTANCE "/" EVENT, "0");
		rmdir(INSTANCE);
	}
	vm_free(without_apic);
	vm_free(with_apic);
	return 0;
}
