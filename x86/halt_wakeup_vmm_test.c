// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM's pause, save/restore and resume of a halted vCPU keep its
 * wakeup. One receiver in the wakeup rounds of x86/halt_rounds.h, woken
 * by a fixed IPI from vCPU 0 or by KVM_SIGNAL_MSI from the host.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness_main.h"
#include "host_sched.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/halt_rounds.h"
#include "x86/irqchip.h"

FAULT(vmm_withhold_msi, "vmm.msi.*", "was not in IRR after the send",
      "after immediate_exit the host withholds the MSI");
FAULT(vmm_stale_lapic, "vmm.ipi.*", "pending at pause, vCPU not woken",
      "the VMM restores the LAPIC saved before the IPI");

/*
 * What a VMM does on pause or migration, around a halted vCPU: stop its
 * thread (immediate_exit + signal), read mp_state (HALTED) and the LAPIC,
 * deliver an interrupt while the vCPU is out of KVM_RUN, run KVM_RUN once
 * with immediate_exit (it must return EINTR without running), restore the
 * LAPIC and mp_state, resume: the pending interrupt must wake the vCPU.
 */
static u64 ipi_req, ipi_done;
#define IPI_REQ_STOP (~0ull)

static void guest_vmm_sender(void)
{
	u64 seen = 0;

	halt_guest_apics_enabled();
	for (;;) {
		u64 req;

		while ((req = READ_ONCE(ipi_req)) == seen)
			cpu_relax();
		if (req == IPI_REQ_STOP)
			return;
		seen = req;
		apic_icr_write(HALT_FIRST_RX, APIC_DM_FIXED |
			       APIC_INT_ASSERT | halt_src_vec[IPI_PHYS]);
		WRITE_ONCE(ipi_done, seen);
	}
}

FIXTURE(vmm) {
	struct kvm_vm *vm;
};
FIXTURE_VARIANT(vmm) {
	enum halt_source src;
};
FIXTURE_VARIANT_ADD(vmm, ipi) { .src = IPI_PHYS };
FIXTURE_VARIANT_ADD(vmm, msi) { .src = MSI_SIGNAL };
FIXTURE_SETUP(vmm) { self->vm = NULL; }
FIXTURE_TEARDOWN(vmm)
{
	WRITE_ONCE(ipi_req, IPI_REQ_STOP);
	vm_free(self->vm);
}

static bool wait_until(volatile u64 *p, u64 v, u64 ms)
{
	u64 t0 = now_ns();

	while (*p < v)
		if (now_ns() - t0 > ms * 1000000)
			return false;
		else
			usleep(20);
	return true;
}

TEST_F(vmm, pause_resume_keeps_wakeup)
{
	u64 rounds = profile_pick(8, 200), deadline_ms = 3000, i, blk, t0;
	struct kvm_lapic_state before, after;
	char why[SCHED_WHY_LEN];
	struct kvm_vcpu *rxv;
	u8 vec = halt_src_vec[variant->src];
	int ret;

	halt_rounds_reset(variant->src, 2);
	halt_go = 1;		/* no baseline phase */
	ipi_req = ipi_done = 0;
	self->vm = vm_create(IRQCHIP_KERNEL);
	sched_require(vm_set_halt_poll_ns(self->vm, 0, why), why);
	vm_add_vcpu(self->vm, 0, guest_vmm_sender);
	rxv = vm_add_vcpu(self->vm, HALT_FIRST_RX, halt_guest_receiver);
	vcpu_args_set(rxv, rounds, 0);
	vm_install_handler(self->vm, vec, halt_guest_handler);
	vm_threads_start(self->vm);

	for (i = 1; i <= rounds; i++) {
		ASSERT_TRUE(wait_until(&halt_rx[HALT_FIRST_RX].armed, i, deadline_ms));
		/* Let it block in the kernel (the 'blocking' stat says so). */
		t0 = now_ns();
		while (vcpu_stat_try(rxv, "blocking", &blk) && !blk &&
		       now_ns() - t0 < deadline_ms * 1000000ull)
			usleep(50);
		usleep(200);
		vcpu_thread_stop(rxv);
		ASSERT_EQ(KVM_MP_STATE_HALTED, vcpu_mp_state(rxv));
		vcpu_lapic_get(rxv, &before);

		WRITE_ONCE(halt_rx[HALT_FIRST_RX].sent, i);
		if (variant->src == IPI_PHYS) {
			WRITE_ONCE(ipi_req, i);
			ASSERT_TRUE(wait_until(&ipi_done, i, deadline_ms));
		} else if (!(fault_vmm_withhold_msi && i == rounds / 2)) {
			ASSERT_LT(0, vm_signal_msi(self->vm, APIC_DEFAULT_BASE |
						   (HALT_FIRST_RX << 12), vec));
		}
		/* Out of KVM_RUN: the interrupt waits in IRR, vCPU halted. */
		rxv->run->immediate_exit = 1;
		ret = __vcpu_ioctl(rxv, KVM_RUN, NULL);
		rxv->run->immediate_exit = 0;
		ASSERT_EQ(-1, ret);
		ASSERT_EQ(EINTR, errno);
		vcpu_lapic_get(rxv, &after);
		EXPECT_EQ(KVM_MP_STATE_HALTED, vcpu_mp_state(rxv));
		/* Save and restore, as a migration would. */
		vcpu_lapic_set(rxv, fault_vmm_stale_lapic && i == rounds / 2 ?
			       &before : &after);
		vcpu_set_mp_state(rxv, KVM_MP_STATE_HALTED);
		vcpu_thread_start(rxv);
		if (!wait_until(&halt_rx[HALT_FIRST_RX].recv, i, deadline_ms)) {
			vcpu_thread_stop(rxv);
			vcpu_dump(rxv, "not woken after resume");
			ASSERT_TRUE(lapic_state_vec_test(&after, APIC_IRR, vec)) {
				TH_LOG("vector 0x%x was not in IRR after the send",
				       vec);
			}
			ASSERT_TRUE(false) {
				TH_LOG("round %llu: interrupt 0x%x pending at pause, "
				       "vCPU not woken %llu ms after resume",
				       i, vec, deadline_ms);
			}
		}
	}
	WRITE_ONCE(ipi_req, IPI_REQ_STOP);
	vm_wait_done(self->vm, deadline_ms, "pause/resume rounds");
	EXPECT_EQ(rounds, halt_vec_count[HALT_FIRST_RX][vec]);
	test_log("%llu pause/save/restore/resume cycles, each woken by a %s "
		 "sent while out of KVM_RUN", rounds, halt_src_name[variant->src]);
}

APICV_TEST_MAIN
