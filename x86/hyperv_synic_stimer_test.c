// SPDX-License-Identifier: GPL-2.0
/*
 * Hyper-V SynIC timers on xAPIC and x2APIC guests.
 *
 *  - message mode: a one-shot timer writes HVMSG_TIMER_EXPIRED into its
 *    SINT's slot (timer index, expiration time as armed, a delivery time
 *    between expiry and the read) and signals the SINT once per expiry,
 *    through an AutoEOI or a normal SINT; the timer then disables itself;
 *  - direct mode: the timer raises its own vector through the LAPIC, once
 *    per expiry, never as AutoEOI.
 * Busy slots, periodic timers and the VMM's message retry are
 * hyperv_synic_messages_test's.
 */
#include "harness_main.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/guest_sync.h"
#include "x86/hyperv.h"

FAULT(stimer_no_arm, "stimer.xapic.stimer_direct_mode",
      "timer_hits is 0 after",
      "the guest never arms the SynIC timer");
FAULT(stimer_wrong_index, "sint.x2apic_normal.stimer_message_mode",
      "m.timer.timer_index == 1",
      "the guest arms SynIC timer 2 where it expects timer 1");
FAULT(stimer_late_expiry, "sint.xapic_autoeoi.stimer_message_mode",
      "m.timer.expiration_time == expiry",
      "the guest expects an expiration time one unit after the one it armed");

#define SINT_VEC	0x50
#define TIMER_VEC	0x60
#define SINT_A		2
#define DELAY_100NS	10000	/* 1 ms */

/* Shared with the guest. */
static volatile u64 hits, isr_in_handler, timer_hits, timer_isr;
static struct hv_message_page *simp;
static struct hv_event_flags_page *siefp;

static void guest_sint_handler(struct ex_regs *regs)
{
	if (apic_vec_test(APIC_ISR, SINT_VEC)) {
		isr_in_handler++;
		apic_eoi();
	}
	hits++;
}

static void guest_timer_handler(struct ex_regs *regs)
{
	timer_hits++;
	if (apic_vec_test(APIC_ISR, TIMER_VEC)) {
		timer_isr++;
		apic_eoi();
	}
}

static void guest_synic_on(bool x2apic)
{
	apic_enable_mode(x2apic);
	apic_write(APIC_TPR, 0);
	hv_guest_synic_enable(simp, siefp);
}

/* One vCPU with SynIC on; the guest runs to its end. */
static void run_guest(void *guest_fn, u64 x2apic, u64 autoeoi)
{
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct ucall uc;

	apicv_require_guest_delivery();
	vm = vm_create(IRQCHIP_KERNEL);
	vcpu = hv_synic_vcpu_add(vm, 0, guest_fn);
	simp = guest_alloc(vm, 4096);
	siefp = guest_alloc(vm, 4096);
	hits = isr_in_handler = timer_hits = timer_isr = 0;
	vm_install_handler(vm, SINT_VEC, guest_sint_handler);
	vm_install_handler(vm, TIMER_VEC, guest_timer_handler);
	vcpu_args_set(vcpu, x2apic, autoeoi);
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	vm_free(vm);
}

/* ---- message mode ---- */

static void guest_check_one_msg(u32 n, u64 expiry)
{
	struct hv_message m;
	u64 now;

	GUEST_ASSERT_EQ(hv_guest_msg_take(simp, SINT_A, &m),
			HV_MSG_TIMER_EXPIRED);
	now = hv_guest_time_ref();
	GUEST_ASSERT_EQ(m.hdr.payload_size, sizeof(m.timer));
	GUEST_ASSERT_EQ(m.timer.timer_index, 1);
	GUEST_ASSERT_EQ(m.timer.expiration_time, expiry);
	GUEST_ASSERT(m.timer.delivery_time >= m.timer.expiration_time &&
		     m.timer.delivery_time <= now,
		     "delivered at %llu, expiry %llu, read at %llu",
		     m.timer.delivery_time, m.timer.expiration_time, now);
	/* A one-shot timer disables itself when it fires. */
	GUEST_ASSERT_EQ(rdmsr(HV_MSR_STIMER_CONFIG(n)) & HV_STIMER_ENABLE, 0);
}

static void guest_stimer_msg(u64 x2apic, u64 autoeoi)
{
	u32 n = fault_stimer_wrong_index ? 2 : 1;
	u64 expiry;
	int i;

	guest_synic_on(x2apic);
	hv_guest_sint_set(SINT_A, hv_sint(SINT_VEC,
					  autoeoi ? HV_SINT_AUTO_EOI : 0));
	for (i = 1; i <= 3; i++) {
		/* One-shot: the count is the expiration time itself. */
		expiry = hv_guest_stimer_arm_msg(n, SINT_A, DELAY_100NS);
		expiry += fault_stimer_late_expiry;
		GUEST_WAIT_EQ(hits, (u64)i, 2 * GUEST_WAIT_US);
		guest_check_one_msg(n, expiry);
	}
	GUEST_QUIET_EQ(hits, 3);
	if (autoeoi)
		GUEST_ASSERT(!isr_in_handler, "%llu AutoEOI deliveries found "
			     "the vector in ISR", isr_in_handler);
	else
		GUEST_ASSERT(isr_in_handler == 3, "%llu of 3 normal deliveries "
			     "found the vector out of ISR", 3 - isr_in_handler);
	GUEST_DONE();
}

FIXTURE(sint) {};
FIXTURE_VARIANT(sint) { bool x2apic; bool autoeoi; };
FIXTURE_VARIANT_ADD(sint, xapic_normal) { .x2apic = false, .autoeoi = false };
FIXTURE_VARIANT_ADD(sint, xapic_autoeoi) { .x2apic = false, .autoeoi = true };
FIXTURE_VARIANT_ADD(sint, x2apic_normal) { .x2apic = true, .autoeoi = false };
FIXTURE_VARIANT_ADD(sint, x2apic_autoeoi) { .x2apic = true, .autoeoi = true };
FIXTURE_SETUP(sint) {}
FIXTURE_TEARDOWN(sint) {}

TEST_F(sint, stimer_message_mode)
{
	run_guest(guest_stimer_msg, variant->x2apic, variant->autoeoi);
}

/* ---- direct mode ---- */

static void guest_stimer_direct(u64 x2apic, u64 autoeoi)
{
	int i;

	guest_synic_on(x2apic);
	for (i = 1; i <= 3; i++) {
		if (!fault_stimer_no_arm)
			hv_guest_stimer_arm_direct(0, TIMER_VEC, DELAY_100NS);
		GUEST_WAIT_EQ(timer_hits, (u64)i, 2 * GUEST_WAIT_US);
	}
	GUEST_QUIET_EQ(timer_hits, 3);
	GUEST_ASSERT_EQ(timer_isr, 3);	/* direct mode is never AutoEOI */
	GUEST_DONE();
}

FIXTURE(stimer) {};
FIXTURE_VARIANT(stimer) { bool x2apic; };
FIXTURE_VARIANT_ADD(stimer, xapic) { .x2apic = false };
FIXTURE_VARIANT_ADD(stimer, x2apic) { .x2apic = true };
FIXTURE_SETUP(stimer) {}
FIXTURE_TEARDOWN(stimer) {}

TEST_F(stimer, stimer_direct_mode)
{
	run_guest(guest_stimer_direct, variant->x2apic, 0);
}

APICV_TEST_MAIN
