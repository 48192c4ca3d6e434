// SPDX-License-Identifier: GPL-2.0
/*
 * The other ways a device interrupt reaches a vCPU with the in-kernel
 * irqchip: KVM_IRQ_LINE through an IOAPIC redirection entry the guest
 * programmed (edge, fixed, physical destination; masked entries hold the
 * interrupt back), and KVM_SIGNAL_MSI straight to a local APIC. Each is
 * delivered exactly once with the programmed vector, and the ExtINT path
 * stays out of the way while the PIC is masked.
 */
#include <string.h>

#include "harness_main.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/irqchip.h"

FAULT(wrong_redir_vector, "global.redirection",
      "vector 0x50 through IOAPIC pin 4: 0 deliveries",
      "the guest programs the redirection entry with another vector");
FAULT(msi_wrong_vector, "global.msi", "unexpected vector 82 on vCPU 0",
      "one MSI carries another vector");
FAULT(unmask_early, "global.redirection", "seen[IOAPIC_VEC] == 0",
      "the guest unmasks the entry before the masked-pulse check");

#define GSI		4
#define IOAPIC_VEC	0x50
#define MSI_VEC		0x51
#define PIC_BASE	0x20

static u64 seen[256];

static void count_handler(struct ex_regs *regs)
{
	seen[regs->vector]++;
	apic_eoi();
}

static void pic_handler(struct ex_regs *regs)
{
	seen[regs->vector]++;
	pic_eoi(GSI);
}

static void guest_redirection(void)
{
	u64 entry, back;
	u8 vec = fault_wrong_redir_vector ? IOAPIC_VEC + 1 : IOAPIC_VEC;

	xapic_enable();
	lvt0_set_extint(false);
	pic_init(PIC_BASE, PIC_BASE + 8, 0xff, 0xff);	/* all masked */
	entry = ioapic_redir(vec, apic_id(), IOAPIC_REDIR_DM_FIXED);
	ioapic_write_redir(GSI, entry | IOAPIC_REDIR_MASKED);
	back = ioapic_read_redir(GSI);
	/* Delivery status (12) and remote IRR (14) are read-only. */
	GUEST_ASSERT_EQ(back & ~(BIT_ULL(12) | BIT_ULL(14)),
			entry | IOAPIC_REDIR_MASKED);
	if (fault_unmask_early)
		ioapic_write_redir(GSI, entry);
	sti();
	GUEST_SYNC(1);			/* host pulses the masked pin */
	guest_udelay(2000);
	GUEST_ASSERT_EQ(seen[IOAPIC_VEC], 0);
	ioapic_write_redir(GSI, entry);
	GUEST_SYNC(2);			/* host pulses it unmasked */
	guest_udelay(2000);
	cli();
	GUEST_SYNC(3, seen[IOAPIC_VEC], seen[PIC_BASE + GSI]);
}

TEST(redirection)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_redirection);
	struct ucall uc;

	memset(seen, 0, sizeof(seen));
	vm_install_handler(vm, IOAPIC_VEC, count_handler);
	/* A wrong vector is counted, so the delivery check names it. */
	vm_install_handler(vm, IOAPIC_VEC + 1, count_handler);
	vm_install_handler(vm, PIC_BASE + GSI, pic_handler);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	vm_irq_pulse(vm, GSI);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	ASSERT_EQ(2, uc.args[0]);
	vm_irq_pulse(vm, GSI);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	ASSERT_EQ(3, uc.args[0]);
	EXPECT_EQ(1, uc.args[1]) {
		TH_LOG("vector 0x%x through IOAPIC pin %d: %llu deliveries",
		       IOAPIC_VEC, GSI, uc.args[1]);
	}
	EXPECT_EQ(0, uc.args[2]);	/* the masked PIC stayed silent */
	vm_free(vm);
}

static u64 msi_ready, msi_host_done;

static void guest_msi(u64 n)
{
	xapic_enable();
	sti();
	WRITE_ONCE(msi_ready, 1);
	while (READ_ONCE(seen[MSI_VEC]) < n || !READ_ONCE(msi_host_done))
		cpu_relax();
	guest_udelay(2000);
	cli();
	GUEST_SYNC(seen[MSI_VEC]);
}

static u64 msi_count;

static void msi_sync(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	msi_count = uc->args[0];
}

TEST(msi)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_msi);
	u64 i, n = profile_pick(100, 10000);
	int r;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_SIGNAL_MSI),
		     "KVM_CAP_SIGNAL_MSI not supported");
	memset(seen, 0, sizeof(seen));
	vm_install_handler(vm, MSI_VEC, count_handler);
	vcpu_args_set(vcpu, n);
	msi_count = msi_ready = msi_host_done = 0;
	vcpu->on_sync = msi_sync;
	vcpu_thread_start(vcpu);
	/* An MSI to a software-disabled APIC is dropped (returns 0). */
	while (!READ_ONCE(msi_ready))
		sleep_us(50);
	for (i = 0; i < n; i++) {
		u64 deadline = now_ns() + 5000000000ull;

		/* One at a time: an MSI into a set IRR bit would merge. */
		while (READ_ONCE(seen[MSI_VEC]) < i && now_ns() < deadline)
			sleep_us(10);
		ASSERT_GE(READ_ONCE(seen[MSI_VEC]), i) {
			TH_LOG("MSI %llu never arrived", i);
		}
		r = vm_signal_msi(vm, APIC_DEFAULT_BASE | (0u << 12),
				  fault_msi_wrong_vector && i == n / 2 ?
				  MSI_VEC + 1 : MSI_VEC);
		ASSERT_EQ(1, r);
	}
	WRITE_ONCE(msi_host_done, 1);
	vm_wait_done(vm, 20000, "MSI burst");
	EXPECT_EQ(n, msi_count);
	vm_free(vm);
}

APICV_TEST_MAIN
