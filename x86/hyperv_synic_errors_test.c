// SPDX-License-Identifier: GPL-2.0
/*
 * Hyper-V SynIC error paths and the CPUID KVM advertises: SynIC MSR
 * accesses without SynIC activated, SynIC activation without an in-kernel
 * LAPIC or with a bad argument, invalid SINT vectors and read-only or
 * nonexistent SynIC MSRs. Each must end in the documented error (#GP in
 * the guest, a refused KVM_SET_MSRS or EINVAL on the host), never a hang.
 * Plus: KVM_GET_SUPPORTED_HV_CPUID advertises SynIC, SynIC timers and the
 * AutoEOI-deprecation recommendation.
 */
#include "harness_main.h"
#include "x86/apic.h"
#include "x86/hyperv.h"

FAULT(activate_synic, "global.msrs_without_synic",
      "wrmsr_safe(HV_MSR_SINT(0), hv_sint(0x50, 0)) == GP",
      "the host activates SynIC, so the accesses succeed");
FAULT(irqchip_present, "global.synic_without_lapic",
      "SynIC activated without an in-kernel LAPIC",
      "the VM gets an in-kernel irqchip, so activation succeeds");
FAULT(synic2_good_arg, "global.synic2_bad_argument",
      "KVM_CAP_HYPERV_SYNIC2 accepted args[0]",
      "the host passes args[0] = 0");
FAULT(vector_16, "global.invalid_sint_and_msrs",
      "wrmsr_safe(HV_MSR_SINT(1), hv_sint(bad, 0)) == GP",
      "the guest probes vector 16 (valid) where it expects #GP");
FAULT(hint_stripped, "global.supported_hv_cpuid",
      "no AutoEOI-deprecation hint",
      "the host clears the hint in its copy before checking, as a kernel "
      "that stopped advertising it would");

#define GP 13

static void guest_msrs_without_synic(void)
{
	u64 v;

	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(0), hv_sint(0x50, 0)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(5),
				   hv_sint(0x50, HV_SINT_AUTO_EOI)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SCONTROL, HV_SCONTROL_ENABLE), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SIMP, 0x100000 | HV_PAGE_ENABLE), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_EOM, 0), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_STIMER_CONFIG(0),
				   HV_STIMER_ENABLE | HV_STIMER_SINT(2)), GP);
	GUEST_ASSERT_EQ(rdmsr_safe(HV_MSR_SINT(0), &v), GP);
	GUEST_ASSERT_EQ(rdmsr_safe(HV_MSR_SCONTROL, &v), GP);
}

TEST(msrs_without_synic)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_msrs_without_synic);
	struct ucall uc;

	hv_vcpu_init(vcpu);
	if (fault_activate_synic)
		hv_synic_activate(vcpu);
	vcpu->on_exit = hv_handle_exit;
	/* The host may not set a SINT either (a zero write may pass). */
	EXPECT_EQ(0, hv_host_set_sint(vcpu, 0, hv_sint(0x50,
						       HV_SINT_AUTO_EOI)));
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	vm_free(vm);
}

static void guest_no_lapic(void)
{
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(0), hv_sint(0x50, 0)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SCONTROL, HV_SCONTROL_ENABLE), GP);
}

TEST(synic_without_lapic)
{
	enum irqchip_mode m = fault_irqchip_present ? IRQCHIP_KERNEL :
						      IRQCHIP_NONE;
	struct kvm_vm *vm = vm_create(m);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_no_lapic);
	struct ucall uc;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_SYNIC2) > 0,
		     "KVM lacks KVM_CAP_HYPERV_SYNIC2");
	hv_vcpu_init(vcpu);
	ASSERT_EQ(-EINVAL, __hv_synic_activate(vcpu, 0))
		TH_LOG("SynIC activated without an in-kernel LAPIC");
	vcpu->on_exit = hv_handle_exit;
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	vm_free(vm);
}

TEST(synic2_bad_argument)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_no_lapic);

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_SYNIC2) > 0,
		     "KVM lacks KVM_CAP_HYPERV_SYNIC2");
	ASSERT_EQ(-EINVAL, __hv_synic_activate(vcpu,
					       fault_synic2_good_arg ? 0 : 1))
		TH_LOG("KVM_CAP_HYPERV_SYNIC2 accepted args[0] = %d",
		       fault_synic2_good_arg ? 0 : 1);
	vm_free(vm);
}

static struct hv_message_page *simp;

static void guest_invalid(void)
{
	u64 v;
	u8 bad = fault_vector_16 ? 16 : 15;

	xapic_enable();
	hv_guest_synic_enable(simp, NULL);
	/* Unmasked vectors below 16 are refused, masked ones are not. */
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1), hv_sint(bad, 0)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1),
				   hv_sint(bad, HV_SINT_AUTO_EOI)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1), hv_sint(0, 0)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1),
				   hv_sint(0, HV_SINT_MASKED)), 0);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1),
				   hv_sint(15, HV_SINT_MASKED |
					       HV_SINT_AUTO_EOI)), 0);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(1), hv_sint(16, 0)), 0);
	GUEST_ASSERT_EQ(rdmsr(HV_MSR_SINT(1)), 16);
	/* SVERSION is read-only for the guest and reads 1. */
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SVERSION, 2), GP);
	GUEST_ASSERT_EQ(rdmsr_safe(HV_MSR_SVERSION, &v), 0);
	GUEST_ASSERT_EQ(v, 1);
	/* There are SINT0..15 and STIMER0..3, nothing past them. */
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_SINT(16), hv_sint(0x50, 0)), GP);
	GUEST_ASSERT_EQ(wrmsr_safe(HV_MSR_STIMER_CONFIG(4), 0), GP);
	GUEST_ASSERT_EQ(rdmsr_safe(HV_MSR_STIMER_COUNT(4), &v), GP);
}

TEST(invalid_sint_and_msrs)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, guest_invalid);
	struct ucall uc;

	hv_vcpu_init(vcpu);
	hv_synic_activate(vcpu);
	simp = guest_alloc(vm, 4096);
	/* The host may zero-init a SINT with a low vector (nested Hyper-V). */
	EXPECT_EQ(1, hv_host_set_sint(vcpu, 2, hv_sint(5, 0)));
	EXPECT_EQ(5, vcpu_get_msr(vcpu, HV_MSR_SINT(2)));
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	vm_free(vm);
}

TEST(supported_hv_cpuid)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, 0, NULL);
	const struct kvm_cpuid_entry2 *e;
	u32 eax;

	e = hv_supported_leaf(vcpu, HV_CPUID_INTERFACE);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(HV_INTERFACE_SIGNATURE, e->eax);
	e = hv_supported_leaf(vcpu, HV_CPUID_FEATURES);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->eax & HV_PRIV_SYNIC);
	EXPECT_TRUE(e->eax & HV_PRIV_SYNTIMER);
	EXPECT_TRUE(e->eax & HV_PRIV_TIME_REF_COUNT);
	EXPECT_TRUE(e->edx & HV_FEAT_STIMER_DIRECT);
	e = hv_supported_leaf(vcpu, HV_CPUID_ENLIGHTENMENT);
	ASSERT_NE(NULL, e);
	eax = e->eax;
	if (fault_hint_stripped)
		eax &= ~HV_REC_DEPRECATING_AEOI;
	TH_LOG("leaf 0x40000004 eax=0x%x", eax);
	EXPECT_TRUE(eax & HV_REC_DEPRECATING_AEOI)
		TH_LOG("no AutoEOI-deprecation hint in leaf 0x40000004");
	vm_free(vm);
}

APICV_TEST_MAIN
