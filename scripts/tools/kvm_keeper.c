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
 * user of each key for the whole run (emu_keys_hold(), emulator.h) means
 * the tests' own VMs only move the counts, never the code. scripts/vm-init
 * starts it before the command when it is in the suite; on SIGTERM it
 * lets go, the tracefs instance included.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "emulator.h"

static volatile sig_atomic_t done;

static void on_term(int sig)
{
	done = 1;
}

int main(void)
{
	struct emu_keys keys;
	bool held;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	held = emu_keys_hold(&keys);
	printf("kvm_keeper: holding %s%s\n",
	       held ? "KVM's APIC keys" : "no KVM key",
	       keys.traced ? " and the inhibit tracepoint" : "");
	fflush(stdout);
	while (!done)
		pause();
	emu_keys_release(&keys);
	return 0;
}
