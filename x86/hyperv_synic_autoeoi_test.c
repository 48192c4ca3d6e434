// SPDX-License-Identifier: GPL-2.0
/*
 * Hyper-V SynIC SINT delivery, AutoEOI against normal SINTs, on xAPIC and
 * x2APIC guests. The host signals a SINT through a KVM_IRQ_ROUTING_HV_SINT
 * route and an irqfd; the guest counts handler runs and looks at its
 * APIC (ISR, IRR, PPR) from inside and outside the handler.
 *
 *  - once per signal: N signals, N handler runs, never more;
 *  - AutoEOI: the ISR bit is never set and the next delivery needs no EOI;
 *    normal: the ISR bit stays set until EOI and a second signal waits;
 *  - a masked SINT delivers nothing (and nothing is latched);
 *  - two SINTs on the same vector both deliver;
 *  - priority: TPR holds a SINT back; an in-service normal SINT holds a
 *    lower LAPIC vector back, an AutoEOI one does not;
 *  - messages posted in the SIMP slot and event flags in the SIEFP row
 *    arrive with their signal.
 * SynIC timers are hyperv_synic_stimer_test's.
 */
#include "harness_main.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/guest_sync.h"
#include "x86/hyperv.h"

FAULT(skip_eoi, "sint.xapic_normal.second_signal_waits_for_eoi",
      "hits is 1 after", "the guest skips an EOI a normal SINT needs");
FAULT(eoi_early, "sint.x2apic_normal.second_signal_waits_for_eoi",
      "second signal delivered before EOI",
      "the guest EOIs the first delivery before the second signal");
FAULT(aeoi_dropped, "sint.xapic_autoeoi.once_per_signal",
      "AutoEOI deliveries found the vector in ISR",
      "the guest programs the AutoEOI variant's SINT without AutoEOI");
FAULT(aeoi_added, "sint.x2apic_normal.once_per_signal",
      "normal deliveries found the vector out of ISR",
      "the guest programs the normal variant's SINT with AutoEOI");
FAULT(signal_one_fewer, "sint.xapic_normal.once_per_signal",
      "hits is 7 after", "the host sends the last signal one short");
FAULT(signal_one_more, "sint.x2apic_autoeoi.once_per_signal",
      "hits is 9, expected 8",
      "the host sends one signal more after the last expected one");
FAULT(unmask, "sint.xapic_autoeoi.masked_delivers_nothing",
      "masked SINT delivered", "the guest programs the masked SINT unmasked");
FAULT(same_vector_one_sint, "sint.x2apic_normal.same_vector_two_sints",
      "hits is 1 after",
      "the second SINT gets no route: its signal goes nowhere");
FAULT(tpr_low, "sint.xapic_normal.tpr_holds_sint", "hits is 1, expected 0",
      "the guest raises TPR one class too low");
FAULT(wrong_ppr, "sint.xapic_normal.lower_vector_vs_in_service",
      "low_hits is 0 after",
      "the guest expects the opposite PPR blocking of AutoEOI vs normal");
FAULT(post_one_fewer, "sint.xapic_autoeoi.messages", "msg_seen is 5 after",
      "the host posts the last message one short");
FAULT(msg_misorder, "sint.x2apic_normal.messages", "messages out of order",
      "the host numbers message 3 as 4");
FAULT(msg_wrong_type, "sint.xapic_normal.messages",
      "last_msg.hdr.message_type == MSG_TYPE",
      "the host posts the last message with another type");
FAULT(msg_wrong_size, "sint.xapic_normal.messages",
      "last_msg.hdr.payload_size == 8",
      "the host posts the last message with 16 payload bytes");
FAULT(event_one_fewer, "sint.x2apic_normal.event_flags",
      "evt_seen is 4, expected 5",
      "the host sets the last event flag one short");

#define SINT_VEC	0x50	/* class 5 */
#define LOW_VEC		0x30	/* class 3: below the SINT */
#define HIGH_VEC	0xe0
#define SINT_A		2
#define SINT_B		3
#define MSG_TYPE	0x100

enum cmd { CMD_SIGNAL = 1, CMD_POST, CMD_EVENT };

/* Shared with the guest. */
static volatile u64 hits, low_hits, high_hits;
static volatile u64 isr_in_handler, ppr_in_handler, order_pos;
static volatile u8 order[8];
static volatile bool handler_eois;	/* normal SINT handler EOIs itself */
static volatile u64 msg_seen, msg_bad, evt_seen;
static volatile bool use_msgs, use_events;
static struct hv_message_page *simp;
static struct hv_event_flags_page *siefp;
static struct hv_message last_msg;

static void log_vec(u8 v)
{
	u64 i = order_pos++;

	if (i < ARRAY_SIZE(order))
		order[i] = v;
}

static void guest_sint_handler(struct ex_regs *regs)
{
	bool in_isr = apic_vec_test(APIC_ISR, SINT_VEC);

	ppr_in_handler = apic_read(APIC_PPR);
	if (in_isr)
		isr_in_handler++;
	log_vec(SINT_VEC);
	if (use_msgs) {
		struct hv_message m;

		if (hv_guest_msg_take(simp, SINT_A, &m) != HV_MSG_NONE) {
			if (m.payload[0] != msg_seen + 1)
				msg_bad++;
			last_msg = m;
			msg_seen++;
		}
	}
	if (use_events) {
		u8 *row = siefp->flags[SINT_A];
		u32 i;

		for (i = 0; i < 4; i++)
			evt_seen += __builtin_popcount(
				__atomic_exchange_n(&row[i], 0, __ATOMIC_SEQ_CST));
	}
	hits++;
	if (in_isr && handler_eois)
		apic_eoi();
}

/* LOW_VEC and HIGH_VEC, the self-IPIs next to the SINT. */
static void guest_lapic_handler(struct ex_regs *regs)
{
	if (regs->vector == LOW_VEC)
		low_hits++;
	else
		high_hits++;
	log_vec(regs->vector);
	apic_eoi();
}

/* Every delivery's ISR state as the SINT's mode demands, @n deliveries. */
static void guest_check_isr_count(u64 autoeoi, u64 n)
{
	if (autoeoi)
		GUEST_ASSERT(!isr_in_handler, "%llu AutoEOI deliveries found the "
			     "vector in ISR", isr_in_handler);
	else
		GUEST_ASSERT(isr_in_handler == n, "%llu of %llu normal "
			     "deliveries found the vector out of ISR",
			     n - isr_in_handler, n);
}

/* APIC in @x2apic mode, TPR 0, SynIC on and SINT_A on SINT_VEC with @flags. */
static void guest_sint_on(bool x2apic, u64 flags)
{
	apic_enable_mode(x2apic);
	apic_write(APIC_TPR, 0);
	hv_guest_synic_enable(simp, siefp);
	hv_guest_sint_set(SINT_A, hv_sint(SINT_VEC, flags));
}

static void guest_signal(u64 route, u64 n)
{
	GUEST_SYNC(CMD_SIGNAL, route, n);
}

/* ---- host side ---- */

#define N_MSGS		6

/* Message @seq carries @seq; the faults alter one of them. */
static void host_post(u64 seq)
{
	u64 payload[2] = { seq, 0 };
	u32 type = MSG_TYPE;
	u8 len = 8;

	if (fault_msg_misorder && seq == 3)
		payload[0]++;
	if (fault_msg_wrong_type && seq == N_MSGS)
		type++;
	if (fault_msg_wrong_size && seq == N_MSGS)
		len = 16;
	TEST_ASSERT(hv_msg_post(simp, SINT_A, type, payload, len),
		    "SIMP slot %u busy at message %llu", SINT_A, seq);
}

/* Serves the guest's commands until it is done; @route[1] may be NULL. */
static void host_serve(struct kvm_vcpu *vcpu, struct hv_sint_route **route)
{
	struct ucall uc;
	u64 seq = 0;

	while (vcpu_run_ucall(vcpu, &uc) == UCALL_SYNC) {
		struct hv_sint_route *r = route[uc.args[1] & 1];
		u64 n = uc.args[2], i;

		switch (uc.args[0]) {
		case CMD_POST:
			for (i = 0; i < n; i++)
				host_post(++seq);
			/* each message comes with a signal */
			__attribute__((fallthrough));
		case CMD_SIGNAL:
			if (!r)
				break;	/* no route: the signal goes nowhere */
			for (i = 0; i < n; i++)
				hv_sint_signal(r);
			break;
		case CMD_EVENT:
			hv_event_set(siefp, SINT_A, uc.args[2]);
			hv_sint_signal(r);
			break;
		default:
			TEST_FAIL("unknown guest command %llu", uc.args[0]);
		}
	}
}

FIXTURE(sint) {};
FIXTURE_VARIANT(sint) { bool x2apic; bool autoeoi; };
FIXTURE_VARIANT_ADD(sint, xapic_normal) { .x2apic = false, .autoeoi = false };
FIXTURE_VARIANT_ADD(sint, xapic_autoeoi) { .x2apic = false, .autoeoi = true };
FIXTURE_VARIANT_ADD(sint, x2apic_normal) { .x2apic = true, .autoeoi = false };
FIXTURE_VARIANT_ADD(sint, x2apic_autoeoi) { .x2apic = true, .autoeoi = true };
FIXTURE_SETUP(sint) {}
FIXTURE_TEARDOWN(sint) {}

static u64 sint_flags(bool autoeoi)
{
	return autoeoi ? HV_SINT_AUTO_EOI : 0;
}

/*
 * One subtest on a fresh VM: @guest_fn(x2apic, autoeoi, @n) as the
 * variant says (guests without @n ignore it), served until it is done.
 */
static void sint_run(const FIXTURE_VARIANT(sint) *variant, void *guest_fn,
		     bool two_routes, u64 n)
{
	struct hv_sint_route *route[2];
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	apicv_require_guest_delivery();
	vm = vm_create(IRQCHIP_KERNEL);
	vcpu = hv_synic_vcpu_add(vm, 0, guest_fn);
	hv_routes_reset(vm);
	route[0] = hv_sint_route_add(vm, 0, SINT_A);
	route[1] = two_routes && !fault_same_vector_one_sint ?
		   hv_sint_route_add(vm, 0, SINT_B) : NULL;
	simp = guest_alloc(vm, 4096);
	siefp = guest_alloc(vm, 4096);
	hits = low_hits = high_hits = 0;
	isr_in_handler = ppr_in_handler = order_pos = 0;
	memset((void *)order, 0, sizeof(order));
	msg_seen = msg_bad = evt_seen = 0;
	use_msgs = use_events = false;
	handler_eois = true;
	vm_install_handler(vm, SINT_VEC, guest_sint_handler);
	vm_install_handler(vm, LOW_VEC, guest_lapic_handler);
	vm_install_handler(vm, HIGH_VEC, guest_lapic_handler);
	vcpu_args_set(vcpu, variant->x2apic, variant->autoeoi, n);
	host_serve(vcpu, route);
	vm_free(vm);
}

/* N signals, one at a time: N handler runs, ISR as the mode says. */
static void guest_once_per_signal(u64 x2apic, u64 autoeoi, u64 n)
{
	bool aeoi = autoeoi;
	u64 i;

	/* The faults: the mode the guest programs is not the variant's. */
	if (fault_aeoi_dropped || fault_aeoi_added)
		aeoi = fault_aeoi_added;
	guest_sint_on(x2apic, sint_flags(aeoi));
	for (i = 1; i <= n; i++) {
		guest_signal(0, i == n && fault_signal_one_fewer ? 0 : 1);
		GUEST_WAIT_EQ(hits, i, GUEST_WAIT_US);
	}
	/* A stray extra delivery would show up here. */
	guest_signal(0, fault_signal_one_more ? 1 : 0);
	GUEST_QUIET_EQ(hits, n);
	guest_check_isr_count(autoeoi, n);
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, SINT_VEC), "ISR left set");
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
}

TEST_F(sint, once_per_signal)
{
	sint_run(variant, guest_once_per_signal, false, 8);
}

/*
 * The handler does not EOI. Normal: ISR set after the first delivery, the
 * second signal sits in IRR until the guest's EOI. AutoEOI: ISR clear,
 * the second signal is delivered at once.
 */
static void guest_second_waits(u64 x2apic, u64 autoeoi)
{
	guest_sint_on(x2apic, sint_flags(autoeoi));
	handler_eois = false;

	guest_signal(0, 1);
	GUEST_WAIT_EQ(hits, 1, GUEST_WAIT_US);
	GUEST_ASSERT_EQ(apic_vec_test(APIC_ISR, SINT_VEC), !autoeoi);
	GUEST_ASSERT_EQ(ppr_in_handler & 0xf0, autoeoi ? 0 : SINT_VEC & 0xf0);

	if (fault_eoi_early)
		apic_eoi();
	guest_signal(0, 1);
	if (autoeoi) {
		GUEST_WAIT_EQ(hits, 2, GUEST_WAIT_US);
	} else {
		guest_wait_count(&hits, 2, GUEST_QUIET_US);
		GUEST_ASSERT(hits == 1, "second signal delivered before EOI");
		GUEST_ASSERT(apic_vec_test(APIC_IRR, SINT_VEC),
			     "second signal not pending in IRR");
		if (!fault_skip_eoi)
			apic_eoi();
		GUEST_WAIT_EQ(hits, 2, GUEST_WAIT_US);
		GUEST_ASSERT(apic_vec_test(APIC_ISR, SINT_VEC),
			     "second delivery not in service");
		apic_eoi();
	}
	GUEST_ASSERT(!apic_vec_test(APIC_ISR, SINT_VEC), "ISR left set");
	GUEST_ASSERT(!apic_vec_test(APIC_IRR, SINT_VEC), "IRR left set");
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
	guest_check_isr_count(autoeoi, 2);
}

TEST_F(sint, second_signal_waits_for_eoi)
{
	sint_run(variant, guest_second_waits, false, 0);
}

/* Masked: nothing delivered, nothing latched for after the unmask. */
static void guest_masked(u64 x2apic, u64 autoeoi)
{
	u64 masked = fault_unmask ? 0 : HV_SINT_MASKED;

	guest_sint_on(x2apic, sint_flags(autoeoi) | masked);
	guest_signal(0, 3);
	guest_wait_count(&hits, 1, GUEST_QUIET_US);
	GUEST_ASSERT(!hits, "masked SINT delivered %llu times", hits);
	GUEST_ASSERT(!apic_vec_test(APIC_IRR, SINT_VEC), "masked SINT in IRR");
	hv_guest_sint_set(SINT_A, hv_sint(SINT_VEC, sint_flags(autoeoi)));
	GUEST_QUIET_EQ(hits, 0);
	guest_signal(0, 1);
	GUEST_WAIT_EQ(hits, 1, GUEST_WAIT_US);
	GUEST_QUIET_EQ(hits, 1);
}

TEST_F(sint, masked_delivers_nothing)
{
	sint_run(variant, guest_masked, false, 0);
}

/* Two SINTs on one vector: a signal on either runs the handler once. */
static void guest_same_vector(u64 x2apic, u64 autoeoi)
{
	u64 v = hv_sint(SINT_VEC, sint_flags(autoeoi));
	int i;

	guest_sint_on(x2apic, sint_flags(autoeoi));
	hv_guest_sint_set(SINT_B, v);
	for (i = 0; i < 4; i++) {
		guest_signal(i & 1, 1);
		GUEST_WAIT_EQ(hits, (u64)i + 1, GUEST_WAIT_US);
	}
	GUEST_QUIET_EQ(hits, 4);
	guest_check_isr_count(autoeoi, 4);
	/* Masking one leaves the other working. */
	hv_guest_sint_set(SINT_A, v | HV_SINT_MASKED);
	guest_signal(0, 1);
	GUEST_QUIET_EQ(hits, 4);
	guest_signal(1, 1);
	GUEST_WAIT_EQ(hits, 5, GUEST_WAIT_US);
}

TEST_F(sint, same_vector_two_sints)
{
	sint_run(variant, guest_same_vector, true, 0);
}

/* TPR at the SINT's class holds it in IRR; lowering TPR delivers it. */
static void guest_tpr(u64 x2apic, u64 autoeoi)
{
	u32 tpr = (SINT_VEC & 0xf0) - (fault_tpr_low ? 0x10 : 0);

	guest_sint_on(x2apic, sint_flags(autoeoi));
	apic_write(APIC_TPR, tpr);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR) & 0xf0, tpr);
	guest_signal(0, 1);
	GUEST_QUIET_EQ(hits, 0);
	GUEST_ASSERT(apic_vec_test(APIC_IRR, SINT_VEC), "SINT not pending");
	apic_write(APIC_TPR, 0);
	GUEST_WAIT_EQ(hits, 1, GUEST_WAIT_US);
	guest_check_isr_count(autoeoi, 1);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
}

TEST_F(sint, tpr_holds_sint)
{
	sint_run(variant, guest_tpr, false, 0);
}

/*
 * Order against pending LAPIC vectors, then PPR while the SINT is "in
 * service": with interrupts off, a higher and a lower self-IPI are made
 * pending next to the SINT; on STI the higher one runs first, then the
 * SINT. A normal SINT left without EOI holds the lower vector back (PPR
 * = its class); an AutoEOI SINT never enters ISR, so the lower vector
 * follows at once.
 */
static void guest_lower_vector(u64 x2apic, u64 autoeoi)
{
	bool blocks = !autoeoi;

	if (fault_wrong_ppr)
		blocks = !blocks;
	guest_sint_on(x2apic, sint_flags(autoeoi));
	handler_eois = false;

	guest_signal(0, 1);		/* IF=0: stays pending */
	apic_self_ipi(HIGH_VEC);
	apic_self_ipi(LOW_VEC);
	GUEST_ASSERT(apic_vec_test(APIC_IRR, SINT_VEC), "SINT not pending");
	GUEST_WAIT_EQ(hits, 1, GUEST_WAIT_US);
	GUEST_ASSERT_EQ(high_hits, 1);
	GUEST_ASSERT_EQ(order[0], HIGH_VEC);
	GUEST_ASSERT_EQ(order[1], SINT_VEC);
	if (blocks) {
		GUEST_QUIET_EQ(low_hits, 0);
		GUEST_ASSERT_EQ(apic_read(APIC_PPR) & 0xf0, SINT_VEC & 0xf0);
		apic_eoi();
		GUEST_WAIT_EQ(low_hits, 1, GUEST_WAIT_US);
	} else {
		GUEST_WAIT_EQ(low_hits, 1, GUEST_WAIT_US);
		GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
	}
	GUEST_ASSERT_EQ(order[2], LOW_VEC);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
}

TEST_F(sint, lower_vector_vs_in_service)
{
	sint_run(variant, guest_lower_vector, false, 0);
}

/* Messages in the SIMP slot, one per signal, in order. */
static void guest_messages(u64 x2apic, u64 autoeoi, u64 n)
{
	u64 i;

	guest_sint_on(x2apic, sint_flags(autoeoi));
	use_msgs = true;
	for (i = 1; i <= n; i++) {
		GUEST_SYNC(CMD_POST, 0, i == n && fault_post_one_fewer ? 0 : 1);
		GUEST_WAIT_EQ(msg_seen, i, GUEST_WAIT_US);
	}
	GUEST_QUIET_EQ(msg_seen, n);
	GUEST_ASSERT(!msg_bad, "%llu messages out of order", msg_bad);
	GUEST_ASSERT_EQ(last_msg.hdr.message_type, MSG_TYPE);
	GUEST_ASSERT_EQ(last_msg.hdr.payload_size, 8);
	GUEST_ASSERT_EQ(last_msg.payload[0], n);
	GUEST_ASSERT_EQ(hits, n);
	guest_check_isr_count(autoeoi, n);
}

TEST_F(sint, messages)
{
	sint_run(variant, guest_messages, false, N_MSGS);
}

/* Event flags in the SIEFP row: each set bit is seen once. */
static void guest_events(u64 x2apic, u64 autoeoi, u64 n)
{
	u64 i;

	guest_sint_on(x2apic, sint_flags(autoeoi));
	use_events = true;
	for (i = 1; i <= n; i++) {
		if (i == n && fault_event_one_fewer)
			break;
		GUEST_SYNC(CMD_EVENT, 0, i * 3);	/* flag bit number */
		GUEST_WAIT_EQ(evt_seen, i, GUEST_WAIT_US);
	}
	GUEST_QUIET_EQ(evt_seen, n);
}

TEST_F(sint, event_flags)
{
	sint_run(variant, guest_events, false, 5);
}

APICV_TEST_MAIN
