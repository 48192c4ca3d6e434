// SPDX-License-Identifier: GPL-2.0
/* Stub of the emulator module: the consumer API, filled in by its owner. */
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "emulator.h"
#include "x86/processor.h"

bool emu_tcg(void)
{
	u32 a = 0x40000000, sig[3];

	__asm__ __volatile__("cpuid"
			     : "+a"(a), "=b"(sig[0]), "=c"(sig[1]), "=d"(sig[2])
			     : "c"(0));
	return !memcmp(sig, "TCGTCGTCGTCG", 12);
}

void emu_quirk_count(enum emu_quirk q, u64 hits, u64 events)
{
}

bool guest_emu_shadow_hit(struct ex_regs *regs)
{
	return guest_step_over_shadowed_hlt(regs);
}

void emu_keys_hold_for_process(void)
{
	static bool held;
	int kvm, vm;

	if (held)
		return;
	held = true;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm >= 0 && !ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		ioctl(vm, KVM_CREATE_VCPU, 0);
}
