// SPDX-License-Identifier: GPL-2.0
/*
 * Hyper-V SynIC SINTs reprogrammed while in use. After each change the
 * host signals the SINT and the guest checks which vector ran, how often,
 * and whether it entered ISR (a normal SINT does until its EOI, an AutoEOI
 * one never does):
 *  - AutoEOI off while delivering, on while the vector is in service and
 *    another signal waits in IRR (that delivery, after the EOI, is
 *    AutoEOI), off again;
 *  - mask while the vector is in service (the EOI still retires it),
 *    signals while masked (nothing delivered, nothing latched), unmask;
 *    two SINTs on one vector: masking the AutoEOI one ends AutoEOI for
 *    the vector;
 *  - a SINT moved to another vector delivers there only, and the old
 *    vector loses its AutoEOI (a self-IPI to it enters ISR); a move while
 *    the old vector is in service.
 */
#include "harness_main.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/guest_sync.h"
#include "x86/hyperv.h"

FAULT(off_ignored, "reconfig.xapic.autoeoi_on_off", "after AutoEOI off",
      "the guest's AutoEOI-off write keeps AutoEOI");
FAULT(on_ignored, "reconfig.x2apic.autoeoi_on_off",
      "after AutoEOI on in service",
      "the guest's AutoEOI-on write while in service keeps it off");
FAULT(mask_ignored, "reconfig.xapic.mask_unmask", "masked SINT delivered",
      "the guest's mask write leaves the SINT unmasked");
FAULT(aeoi_sint_unmasked, "reconfig.x2apic.mask_unmask",
      "after masking the AutoEOI SINT",
      "the guest leaves the AutoEOI SINT of the shared vector unmasked");
FAULT(move_ignored, "reconfig.xapic.move_vector", "after the move to 0x68",
      "the guest's move writes the old vector again");
FAULT(old_vector_aeoi, "reconfig.x2apic.move_vector",
      "old vector 0x50 after the move",
      "the guest expects the old vector to keep AutoEOI");

#define V1		0x50	/* class 5 */
#define V2		0x68	/* class 6 */
#define SINT_A		2
#define SINT_B		6
#define WAIT_US		GUEST_WAIT_US
#define QUIET_US	GUEST_QUIET_US

enum cmd { CMD_SIGNAL = 1 };

/* Shared with the guest; [0] counts V1, [1] V2. */
static volatile u64 hits[2], isr_hits[2];
static volatile bool handler_eois;

static void guest_record(int i, u8 vec)
{
	bool in_isr = apic_vec_test(APIC_ISR, vec);

	hits[i]++;
	isr_hits[i] += in_isr;
	if (in_isr && handler_eois)
		apic_eoi();
}

static void guest_v1_handler(struct ex_regs *regs)
{
	guest_record(0, V1);
}

static void guest_v2_handler(struct ex_regs *regs)
{
	guest_record(1, V2);
}

static void guest_signal(u64 route, u64 n)
{
	GUEST_SYNC(CMD_SIGNAL, route, n);
}

/*
 * Makes the pending event happen (@signal_route >= 0: the host signals
 * that route; else it is already pending) and checks that exactly one
 * delivery ran, on vector index @i, in ISR or not as @in_isr says, and
 * none on the other vector.
 */
static void guest_expect_one(int signal_route, int i, bool in_isr,
			     const char *step)
{
	u8 vec = i ? V2 : V1;
	u64 h = hits[i], hi = isr_hits[i], other = hits[!i];

	if (signal_route >= 0)
		guest_signal(signal_route, 1);
	guest_wait_count(&hits[i], h + 1, WAIT_US);
	guest_wait_count(&hits[i], h + 2, QUIET_US);	/* a second run shows */
	GUEST_ASSERT(hits[i] == h + 1, "%s: vector 0x%x ran %llu times, "
		     "want once", step, vec, hits[i] - h);
	GUEST_ASSERT(hits[!i] == other, "%s: vector 0x%x ran too",
		     step, i ? V1 : V2);
	GUEST_ASSERT(isr_hits[i] - hi == in_isr, "%s: vector 0x%x %s ISR",
		     step, vec, in_isr ? "not in" : "in");
}

/* Nothing runs on either vector. */
static void guest_expect_none(const char *step)
{
	u64 h0 = hits[0], h1 = hits[1];

	guest_wait_count(&hits[0], h0 + 1, QUIET_US);
	GUEST_ASSERT(hits[0] == h0 && hits[1] == h1, "%s: vector 0x%x ran "
		     "%llu and 0x%x %llu times", step, V1, hits[0] - h0, V2,
		     hits[1] - h1);
}

static void guest_expect_idle(const char *step)
{
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, V1) &&
		     !apic_vec_test(APIC_ISR, V2), "%s: ISR left set", step);
	GUEST_ASSERT(!apic_vec_test(APIC_IRR, V1) &&
		     !apic_vec_test(APIC_IRR, V2), "%s: IRR left set", step);
	GUEST_ASSERT(apic_read(APIC_PPR) == 0, "%s: PPR 0x%x", step,
		     apic_read(APIC_PPR));
}

static void guest_setup(u64 x2apic, struct hv_message_page *simp)
{
	apic_enable_mode(x2apic);
	apic_write(APIC_TPR, 0);
	hv_guest_synic_enable(simp, NULL);
}

/* ---- host side ---- */

static struct hv_message_page *simp;

FIXTURE(reconfig) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct hv_sint_route *route[2];
};
FIXTURE_VARIANT(reconfig) { bool x2apic; };
FIXTURE_VARIANT_ADD(reconfig, xapic) { .x2apic = false };
FIXTURE_VARIANT_ADD(reconfig, x2apic) { .x2apic = true };

FIXTURE_SETUP(reconfig)
{
	apicv_require_guest_delivery();
	self->vm = vm_create(IRQCHIP_KERNEL);
	hv_routes_reset(self->vm);
	hits[0] = hits[1] = isr_hits[0] = isr_hits[1] = 0;
	handler_eois = true;
}

FIXTURE_TEARDOWN(reconfig)
{
}

static void reconfig_run(struct __test_metadata *_metadata,
			 FIXTURE_DATA(reconfig) *self, bool x2apic,
			 void *guest_fn)
{
	struct ucall uc;

	self->vcpu = hv_synic_vcpu_add(self->vm, 0, guest_fn);
	self->route[0] = hv_sint_route_add(self->vm, 0, SINT_A);
	self->route[1] = hv_sint_route_add(self->vm, 0, SINT_B);
	simp = guest_alloc(self->vm, 4096);
	vm_install_handler(self->vm, V1, guest_v1_handler);
	vm_install_handler(self->vm, V2, guest_v2_handler);
	vcpu_args_set(self->vcpu, x2apic);
	while (vcpu_run_ucall(self->vcpu, &uc) == UCALL_SYNC) {
		u64 i;

		TEST_ASSERT(uc.args[0] == CMD_SIGNAL && uc.args[1] < 2,
			    "bad guest command %llu/%llu", uc.args[0],
			    uc.args[1]);
		for (i = 0; i < uc.args[2]; i++)
			hv_sint_signal(self->route[uc.args[1]]);
	}
	vm_free(self->vm);
}

/*
 * AutoEOI on, off, and on again while the vector is in service with a
 * second signal pending: the mode at delivery decides the ISR state.
 */
static void guest_on_off(u64 x2apic)
{
	guest_setup(x2apic, simp);
	handler_eois = false;
	hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI));
	guest_expect_one(0, 0, false, "AutoEOI");
	guest_expect_idle("AutoEOI");

	hv_guest_sint_set(SINT_A, hv_sint(V1, fault_off_ignored ?
					  HV_SINT_AUTO_EOI : 0));
	guest_expect_one(0, 0, true, "after AutoEOI off");
	guest_signal(0, 1);	/* held: the vector is in service */
	guest_expect_none("after AutoEOI off, in service");
	GUEST_ASSERT(apic_vec_test(APIC_IRR, V1), "second signal not in IRR");

	if (!fault_on_ignored)
		hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI));
	guest_expect_none("after AutoEOI on in service, before EOI");
	apic_eoi();
	guest_expect_one(-1, 0, false, "after AutoEOI on in service");
	guest_expect_idle("after AutoEOI on in service");

	hv_guest_sint_set(SINT_A, hv_sint(V1, 0));
	guest_expect_one(0, 0, true, "after AutoEOI off again");
	apic_eoi();
	guest_expect_idle("after AutoEOI off again");
}

TEST_F(reconfig, autoeoi_on_off)
{
	reconfig_run(_metadata, self, variant->x2apic, guest_on_off);
}

/*
 * Mask while in service, signal while masked, unmask; then SINT_A
 * (AutoEOI) and SINT_B (normal) share V1: with SINT_A masked, V1 is a
 * normal vector again.
 */
static void guest_mask_unmask(u64 x2apic)
{
	guest_setup(x2apic, simp);
	handler_eois = false;
	hv_guest_sint_set(SINT_A, hv_sint(V1, 0));
	guest_expect_one(0, 0, true, "normal");

	hv_guest_sint_set(SINT_A, hv_sint(V1, fault_mask_ignored ? 0 :
					  HV_SINT_MASKED));
	apic_eoi();
	guest_expect_idle("EOI after the mask");
	guest_signal(0, 2);
	guest_expect_none("masked SINT delivered");
	guest_expect_idle("masked");

	handler_eois = true;
	hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI));
	guest_expect_none("unmask delivered a signal sent while masked");
	guest_expect_one(0, 0, false, "unmasked with AutoEOI");

	hv_guest_sint_set(SINT_B, hv_sint(V1, 0));
	if (!fault_aeoi_sint_unmasked)
		hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI |
						  HV_SINT_MASKED));
	guest_expect_one(1, 0, true, "after masking the AutoEOI SINT");
	apic_self_ipi(V1);
	guest_expect_one(-1, 0, true, "self-IPI after masking the AutoEOI "
			 "SINT");

	hv_guest_sint_set(SINT_B, hv_sint(V1, HV_SINT_MASKED));
	hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI));
	guest_expect_one(0, 0, false, "AutoEOI SINT unmasked again");
	guest_signal(1, 1);
	guest_expect_none("masked SINT_B delivered");
	guest_expect_idle("end");
}

TEST_F(reconfig, mask_unmask)
{
	reconfig_run(_metadata, self, variant->x2apic, guest_mask_unmask);
}

/*
 * SINT_A moves V1 -> V2 -> V1: it delivers on its new vector only, and
 * the vector it left is a plain LAPIC vector again (a self-IPI to it
 * enters ISR). Last, a move while V1 is in service: V2 (a higher class)
 * is still delivered, and two EOIs retire both.
 */
static void guest_move(u64 x2apic)
{
	guest_setup(x2apic, simp);
	hv_guest_sint_set(SINT_A, hv_sint(V1, HV_SINT_AUTO_EOI));
	guest_expect_one(0, 0, false, "AutoEOI on 0x50");

	hv_guest_sint_set(SINT_A, hv_sint(fault_move_ignored ? V1 : V2,
					  HV_SINT_AUTO_EOI));
	guest_expect_one(0, 1, false, "after the move to 0x68");
	apic_self_ipi(V1);
	guest_expect_one(-1, 0, !fault_old_vector_aeoi,
			 "old vector 0x50 after the move");

	hv_guest_sint_set(SINT_A, hv_sint(V1, 0));
	guest_expect_one(0, 0, true, "after the move back to 0x50");
	apic_self_ipi(V2);
	guest_expect_one(-1, 1, true, "old vector 0x68 after the move back");
	guest_expect_idle("after the moves");

	handler_eois = false;
	guest_expect_one(0, 0, true, "0x50 before the move in service");
	hv_guest_sint_set(SINT_A, hv_sint(V2, 0));
	guest_expect_one(0, 1, true, "after the move in service");
	GUEST_ASSERT(apic_vec_test(APIC_ISR, V1), "0x50 left ISR");
	apic_eoi();
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, V2) &&
		     apic_vec_test(APIC_ISR, V1), "first EOI did not retire "
		     "0x68 alone");
	apic_eoi();
	guest_expect_idle("after the move in service");
}

TEST_F(reconfig, move_vector)
{
	reconfig_run(_metadata, self, variant->x2apic, guest_move);
}

APICV_TEST_MAIN
