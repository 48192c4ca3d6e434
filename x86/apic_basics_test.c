// SPDX-License-Identifier: GPL-2.0
/*
 * The local APIC basics every IPI test builds on, in xAPIC and x2APIC
 * mode: a self-IPI is delivered once per send, sits in ISR until EOI and
 * leaves it at EOI; TPR holds back a lower-priority vector in IRR until it
 * drops; KVM_GET_LAPIC shows what the guest reads (ID, LDR, TPR, IRR,
 * ISR); fixed physical IPIs wake a target halted in "sti; hlt", one
 * wakeup per IPI, with halt_exits and halt_wakeup moving accordingly.
 */
#include <string.h>

#include "harness_main.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"

FAULT(self_ipi_skip_one, "mode.x2apic.self_ipi", "handled[SELF_VEC] == before + 1",
      "the guest sends one self-IPI fewer than it counts");
FAULT(skip_eoi, "mode.xapic.self_ipi", "still in ISR after EOI",
      "the handler skips one EOI (vector stays in ISR)");
FAULT(eoi_first, "mode.x2apic.self_ipi", "not in ISR in its handler",
      "the handler EOIs once before it looks at ISR");
FAULT(tpr_too_low, "mode.xapic.tpr_masking", "handled[LOW_VEC] == 0",
      "TPR class one below the masked vector's");
FAULT(tpr_drop_if0, "mode.x2apic.tpr_masking", "not taken on the instruction after TPR dropped",
      "the guest lowers TPR with IF=0 (the held vector waits for STI)");
FAULT(lapic_tpr_mismatch, "mode.x2apic.tpr_masking", "Expected want_tpr (",
      "the host expects a different TPR from KVM_GET_LAPIC");
FAULT(vcpu_id_other, "mode.x2apic.tpr_masking", "Expected TPR_VCPU_ID (",
      "the vCPU is created with the next id (its APIC ID and LDR follow)");
FAULT(lapic_id_moved, "mode.xapic.tpr_masking", "Expected guest_id (",
      "the guest moves its xAPIC ID after reading it (KVM_GET_LAPIC differs)");
FAULT(lapic_ldr_moved, "mode.xapic.tpr_masking", "Expected guest_ldr (",
      "the guest moves its LDR after reading it (KVM_GET_LAPIC differs)");
FAULT(sender_skips_one, "mode.xapic.physical_ipi_halted", "not taken by the halted target",
      "the sender skips one IPI");
FAULT(target_if0, "mode.x2apic.physical_ipi_halted", "not taken by the halted target",
      "the target halts once with IF=0 (cli; hlt)");
FAULT(halt_exit_extra, "mode.xapic.physical_ipi_halted", "Expected hlts + (",
      "expect one halt exit more than HLTs executed");

#define SELF_VEC	0x41
#define LOW_VEC		0x45	/* class 4 */
#define HIGH_VEC	0x65	/* class 6 */
#define IPI_VEC		0x52

static volatile u32 handled[256];

/*
 * ISR holds the vector while its handler runs and loses it at EOI: checked
 * in the handler itself, so a failure names the round.
 */
static void guest_self_handler(struct ex_regs *regs)
{
	u8 vec = regs->vector;
	u32 n = handled[vec]++;

	if (fault_eoi_first && n == 1)
		apic_eoi();
	GUEST_ASSERT(apic_vec_test(APIC_ISR, vec),
		     "round %u: vector 0x%x not in ISR in its handler", n, vec);
	if (!(fault_skip_eoi && n == 1))
		apic_eoi();
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, vec),
		     "round %u: vector 0x%x still in ISR after EOI", n, vec);
}

static void guest_self_ipi(u64 x2apic, u64 rounds)
{
	u64 i;

	apic_enable_mode(x2apic);
	for (i = 0; i < rounds; i++) {
		u32 before = handled[SELF_VEC];

		cli();
		if (!(fault_self_ipi_skip_one && i == rounds / 2))
			apic_self_ipi(SELF_VEC);
		/* IF=0: pending in IRR, not in service yet */
		if (!(fault_self_ipi_skip_one && i == rounds / 2)) {
			GUEST_ASSERT(apic_vec_test(APIC_IRR, SELF_VEC),
				     "round %llu: vector not pending", i);
			GUEST_ASSERT(!apic_vec_test(APIC_ISR, SELF_VEC),
				     "round %llu: in service before IF=1", i);
		}
		sti_nop_cli();
		GUEST_ASSERT_EQ(handled[SELF_VEC], before + 1);
		GUEST_ASSERT(!apic_vec_test(APIC_IRR, SELF_VEC),
			     "round %llu: still pending after delivery", i);
	}
	sti();
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, SELF_VEC), "ISR left set");
}

FIXTURE(mode) {};
FIXTURE_VARIANT(mode) { bool x2apic; };
FIXTURE_VARIANT_ADD(mode, xapic) { .x2apic = false };
FIXTURE_VARIANT_ADD(mode, x2apic) { .x2apic = true };
FIXTURE_SETUP(mode) {}
FIXTURE_TEARDOWN(mode) {}

TEST_F(mode, self_ipi)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_self_ipi);
	u64 rounds = profile_pick(200, 5000);
	struct ucall uc;

	memset((void *)handled, 0, sizeof(handled));
	vm_install_handler(vm, SELF_VEC, guest_self_handler);
	vcpu_args_set(vcpu, variant->x2apic, rounds);
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	EXPECT_EQ(rounds, handled[SELF_VEC]);
	EXPECT_EQ(variant->x2apic, vcpu_apic_is_x2apic(vcpu));
	vm_free(vm);
}

static void guest_tpr(u64 x2apic)
{
	u32 tpr = fault_tpr_too_low ? 0x30 : 0x40;
	u32 id, ldr, got;

	apic_enable_mode(x2apic);
	if (!x2apic)
		xapic_set_flat(0x04);
	apic_write(APIC_TPR, tpr);
	sti();
	apic_self_ipi(LOW_VEC);		/* class 4 <= TPR class 4: held */
	apic_self_ipi(HIGH_VEC);	/* class 6: delivered */
	guest_udelay(100);
	GUEST_ASSERT_EQ(handled[HIGH_VEC], 1);
	GUEST_ASSERT_EQ(handled[LOW_VEC], 0);
	GUEST_ASSERT(apic_vec_test(APIC_IRR, LOW_VEC), "masked vector not in IRR");
	/* the host compares KVM_GET_LAPIC with what the guest reads */
	id = apic_id();
	ldr = apic_read(APIC_LDR);
	if (fault_lapic_id_moved)
		apic_write(APIC_ID, (id + 1) << 24);
	if (fault_lapic_ldr_moved)
		apic_write(APIC_LDR, ldr << 1);
	GUEST_SYNC(id, ldr, apic_read(APIC_TPR), apic_read(APIC_PPR));
	/*
	 * Lowering TPR makes the held vector deliverable: it must be taken
	 * before the next instruction, which reads the count (no VM exit in
	 * between that would give KVM a second chance to inject).
	 */
	if (fault_tpr_drop_if0)
		cli();
	apic_write(APIC_TPR, 0);
	got = handled[LOW_VEC];
	sti();
	GUEST_ASSERT(got == 1,
		     "vector 0x%x not taken on the instruction after TPR dropped (count %u)",
		     LOW_VEC, got);
	GUEST_ASSERT_EQ(handled[LOW_VEC], 1);
	GUEST_ASSERT(!apic_vec_test(APIC_IRR, LOW_VEC), "still pending");
}

static void guest_count_eoi(struct ex_regs *regs)
{
	handled[regs->vector]++;
	apic_eoi();
}

/* A vCPU id other than 0, so that ID and LDR checks see non-zero values. */
#define TPR_VCPU_ID	3

TEST_F(mode, tpr_masking)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, TPR_VCPU_ID + fault_vcpu_id_other,
					    guest_tpr);
	struct kvm_lapic_state st;
	struct ucall uc;
	u32 want_tpr = fault_lapic_tpr_mismatch ? 0x50 : 0x40;
	u32 guest_id, guest_ldr, lapic_id, lapic_ldr;

	memset((void *)handled, 0, sizeof(handled));
	vm_install_handler(vm, LOW_VEC, guest_count_eoi);
	vm_install_handler(vm, HIGH_VEC, guest_count_eoi);
	vcpu_args_set(vcpu, variant->x2apic);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	vcpu_lapic_get(vcpu, &st);
	/* KVM_GET_LAPIC uses the xAPIC layout unless KVM_CAP_X2APIC_API's
	 * 32-bit IDs are enabled (they are not here): ID in bits 31:24. */
	guest_id = uc.args[0];
	guest_ldr = uc.args[1];
	lapic_id = lapic_state_reg(&st, APIC_ID) >> 24;
	lapic_ldr = lapic_state_reg(&st, APIC_LDR);
	EXPECT_EQ(TPR_VCPU_ID, guest_id);
	EXPECT_EQ(guest_id, lapic_id);
	if (variant->x2apic) {
		EXPECT_EQ(x2apic_logical_id(TPR_VCPU_ID), guest_ldr);
	} else {
		EXPECT_EQ(0x04000000u, guest_ldr);
	}
	EXPECT_EQ(guest_ldr, lapic_ldr);
	EXPECT_EQ(want_tpr, lapic_state_reg(&st, APIC_TPR));
	EXPECT_EQ(uc.args[2], lapic_state_reg(&st, APIC_TPR));
	EXPECT_EQ(uc.args[3], lapic_state_reg(&st, APIC_PPR));
	EXPECT_TRUE(lapic_state_vec_test(&st, APIC_IRR, LOW_VEC));
	EXPECT_FALSE(lapic_state_vec_test(&st, APIC_IRR, HIGH_VEC));
	EXPECT_FALSE(lapic_state_vec_test(&st, APIC_ISR, LOW_VEC));
	EXPECT_FALSE(lapic_state_vec_test(&st, APIC_ISR, HIGH_VEC));
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	EXPECT_EQ(1, handled[LOW_VEC]);
	EXPECT_EQ(1, handled[HIGH_VEC]);
	vm_free(vm);
}

/* One IPI in flight: the target arms round i, halts, the sender sends. */
#define IPI_TAKEN_US	2000000u
static u32 armed, received, hlts, sender_ready;

static void guest_halt_target(struct ex_regs *regs)
{
	__atomic_add_fetch(&received, 1, __ATOMIC_RELEASE);
	apic_eoi();
}

static void guest_physical(u64 x2apic, u64 rounds)
{
	u32 me = this_cpu_id(), i;
	u64 t0;

	apic_enable_mode(x2apic);
	if (me == 1) {			/* target */
		/*
		 * The sender's APIC set-up kicks every vCPU (APIC map
		 * update): wait for it so that only IPIs wake this one.
		 */
		while (!__atomic_load_n(&sender_ready, __ATOMIC_ACQUIRE))
			cpu_relax();
		for (i = 0; i < rounds; i++) {
			cli();
			__atomic_store_n(&armed, i + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&received, __ATOMIC_ACQUIRE) <= i) {
				hlts++;
				if (fault_target_if0 && i == rounds / 2) {
					hlt();	/* IF=0: the IPI cannot wake it */
					break;
				}
				sti_hlt();
				cli();
			}
			sti();
		}
		return;
	}
	__atomic_store_n(&sender_ready, 1, __ATOMIC_RELEASE);
	for (i = 0; i < rounds; i++) {	/* sender */
		while (__atomic_load_n(&armed, __ATOMIC_ACQUIRE) <= i)
			cpu_relax();
		guest_udelay(200);	/* let the target reach HLT */
		if (!(fault_sender_skips_one && i == rounds / 2))
			apic_icr_write(1, apic_icr_low(IPI_VEC, APIC_DM_FIXED,
							 false, 0));
		/* a bounded wait: a lost wakeup fails here, not at the deadline */
		t0 = rdtsc();
		while (__atomic_load_n(&received, __ATOMIC_ACQUIRE) <= i) {
			GUEST_ASSERT(rdtsc() - t0 < IPI_TAKEN_US * guest_tsc_khz / 1000,
				     "IPI %u not taken by the halted target within %u ms",
				     i, IPI_TAKEN_US / 1000);
			cpu_relax();
		}
	}
}

TEST_F(mode, physical_ipi_halted)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	u64 rounds = profile_pick(200, 5000), ex0, wk0, ex, wk;
	struct kvm_vcpu *target;

	armed = received = hlts = sender_ready = 0;
	vm_install_handler(vm, IPI_VEC, guest_halt_target);
	vm_add_vcpus(vm, 2, guest_physical);
	target = vm->vcpus[1];
	vcpu_args_set(vm->vcpus[0], variant->x2apic, rounds);
	vcpu_args_set(target, variant->x2apic, rounds);
	ex0 = vcpu_stat(target, "halt_exits");
	wk0 = vcpu_stat(target, "halt_wakeup");
	vm_threads_start(vm);
	vm_wait_done(vm, profile_pick(15000, 600000),
		     "physical IPIs to a halted vCPU");
	ex = vcpu_stat(target, "halt_exits") - ex0;
	wk = vcpu_stat(target, "halt_wakeup") - wk0;
	test_log("%llu IPIs: target executed %u HLTs, halt_exits %llu, halt_wakeup %llu",
		 rounds, hlts, ex, wk);
	EXPECT_EQ(rounds, received);
	/* every HLT the guest executed is intercepted and counted */
	EXPECT_EQ(hlts + (fault_halt_exit_extra ? 1 : 0), ex);
	/*
	 * It did block (not only polled), and about once per IPI: KVM also
	 * kicks blocked vCPUs for its own requests (kvmclock updates when a
	 * vCPU thread migrates between host CPUs), measured here at 0-2 per
	 * 200 rounds, so the bound allows 5%.
	 */
	EXPECT_GT(wk, 0);
	EXPECT_LE(wk, rounds + rounds / 20);
	vm_free(vm);
}

APICV_TEST_MAIN
