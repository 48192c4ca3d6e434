// SPDX-License-Identifier: GPL-2.0
/*
 * The Hyper-V SynIC message slot protocol (TLFS: a message for a busy
 * slot waits, the sender sets msg_pending, the guest frees the slot and
 * writes EOM, the message is then delivered) and SynIC timers:
 *  - a VMM's message: it finds the slot busy, sets msg_pending and waits
 *    for KVM to report the SINT acknowledged (a resampling irqfd) on the
 *    guest's EOM, or on the EOI of a normal SINT; then the queued message
 *    arrives;
 *  - a one-shot timer expiring into a busy slot: KVM leaves the slot's
 *    message alone, sets msg_pending, and delivers the timer message after
 *    the EOM, with the armed expiration time;
 *  - a periodic timer: one message per period, expiration times a whole
 *    number of periods apart, none after the timer is stopped;
 *  - direct mode: the timer's own vector, no message in any slot, no SINT.
 */
#include "harness_main.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/guest_sync.h"
#include "x86/hyperv.h"

FAULT(skip_eom, "msg.x2apic_autoeoi.vmm_message_after_eom",
      "no ack after the guest's EOM",
      "the guest frees the slot without writing EOM");
FAULT(skip_sint_eoi, "msg.xapic_normal.vmm_message_after_eom",
      "EOI of the normal SINT acked nothing",
      "the guest leaves the first message's vector in service");
FAULT(stimer_skip_eom, "msg.xapic_normal.stimer_busy_slot",
      "timer message not delivered after EOM",
      "the guest frees the busy slot without writing EOM");
FAULT(no_prefill, "msg.x2apic_autoeoi.stimer_busy_slot",
      "timer message delivered into a busy slot",
      "the guest leaves the slot free before the timer expires");
FAULT(wrong_period, "msg.xapic_normal.stimer_periodic",
      "not a multiple of the period",
      "the guest expects a period one unit longer than it armed");
FAULT(no_stop, "msg.x2apic_autoeoi.stimer_periodic",
      "fired after it was stopped", "the guest never stops the timer");
FAULT(extra_msg_timer, "stimer_direct_no_message", "in direct mode",
      "the guest also arms a message-mode timer on the SINT");

#define SINT_VEC	0x50
#define TIMER_VEC	0x60
#define SINT_A		2
#define MSG_TYPE	0x100
#define PERIOD		20000	/* 2 ms in 100 ns units */
#define NR_TICKS	5
#define WAIT_US		GUEST_WAIT_US
#define QUIET_US	GUEST_QUIET_US

enum cmd { CMD_POST = 1, CMD_QUEUE, CMD_RETRY };

/* Shared with the guest. */
static volatile u64 hits, isr_hits, timer_hits, timer_isr;
static volatile bool take_msgs, handler_eois;
static struct hv_message_page *simp;

/* Messages the SINT handler took (take_msgs). */
#define LOG_MAX		16
static struct hv_message log_msg[LOG_MAX];
static volatile u64 log_n;

static void guest_sint_handler(struct ex_regs *regs)
{
	bool in_isr = apic_vec_test(APIC_ISR, SINT_VEC);
	struct hv_message m;

	if (take_msgs && hv_guest_msg_take(simp, SINT_A, &m) != HV_MSG_NONE) {
		if (log_n < LOG_MAX)
			log_msg[log_n] = m;
		log_n++;
	}
	hits++;
	isr_hits += in_isr;
	if (in_isr && handler_eois)
		apic_eoi();
}

static void guest_timer_handler(struct ex_regs *regs)
{
	bool in_isr = apic_vec_test(APIC_ISR, TIMER_VEC);

	timer_hits++;
	timer_isr += in_isr;
	if (in_isr)
		apic_eoi();
}

static void guest_setup(u64 x2apic, u64 sint_flags)
{
	apic_enable_mode(x2apic);
	apic_write(APIC_TPR, 0);
	hv_guest_synic_enable(simp, NULL);
	hv_guest_sint_set(SINT_A, hv_sint(SINT_VEC, sint_flags));
}

static volatile struct hv_message *guest_slot(u32 sint)
{
	return &simp->slot[sint];
}

/* ---- host side ---- */

struct ctx {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct hv_sint_route *route;
	u64 queued;
};

static void ctx_init(struct ctx *c, void *guest_fn)
{
	apicv_require_guest_delivery();
	c->vm = vm_create(IRQCHIP_KERNEL);
	c->vcpu = hv_synic_vcpu_add(c->vm, 0, guest_fn);
	hv_routes_reset(c->vm);
	c->route = hv_sint_route_add_resample(c->vm, 0, SINT_A);
	c->queued = 0;
	simp = guest_alloc(c->vm, 4096);
	hits = isr_hits = timer_hits = timer_isr = log_n = 0;
	take_msgs = false;
	handler_eois = true;
	vm_install_handler(c->vm, SINT_VEC, guest_sint_handler);
	vm_install_handler(c->vm, TIMER_VEC, guest_timer_handler);
}

/* Acks of the SINT within @ms (KVM signals them synchronously). */
static u64 host_acks(struct hv_sint_route *r, u64 ms)
{
	u64 end = now_ns() + ms * 1000000ull, n;

	while (!(n = hv_sint_acks(r)) && now_ns() < end)
		sleep_us(100);
	return n;
}

/*
 * The VMM's side of the slot protocol: post a message if the slot is
 * free, else set msg_pending and keep it until KVM reports an ack.
 */
static void host_cmd(struct __test_metadata *_metadata, struct ctx *c,
		     struct ucall *uc)
{
	struct hv_message *slot = &simp->slot[SINT_A];
	u64 seq = uc->args[1];

	switch (uc->args[0]) {
	case CMD_POST:
		TEST_ASSERT(hv_msg_post(simp, SINT_A, MSG_TYPE, &seq,
					sizeof(seq)),
			    "slot busy at message %llu", seq);
		hv_sint_signal(c->route);
		break;
	case CMD_QUEUE:
		/* args[2]: the guest EOIed a normal SINT since the last ack. */
		if (uc->args[2]) {
			EXPECT_LT(0, hv_sint_acks(c->route))
				TH_LOG("EOI of the normal SINT acked nothing");
		} else {
			hv_sint_acks(c->route);
		}
		TEST_ASSERT(!hv_msg_post(simp, SINT_A, MSG_TYPE, &seq,
					 sizeof(seq)), "slot free at message "
			    "%llu", seq);
		__atomic_or_fetch(&slot->hdr.message_flags, HV_MSG_FLAG_PENDING,
				  __ATOMIC_SEQ_CST);
		c->queued = seq;
		break;
	case CMD_RETRY:
		TEST_ASSERT(c->queued, "nothing queued");
		if (!host_acks(c->route, 100))
			TEST_FAIL("no ack after the guest's EOM: message %llu "
				  "stays queued", c->queued);
		seq = c->queued;
		c->queued = 0;
		TEST_ASSERT(hv_msg_post(simp, SINT_A, MSG_TYPE, &seq,
					sizeof(seq)), "slot busy after EOM at "
			    "message %llu", seq);
		hv_sint_signal(c->route);
		break;
	default:
		TEST_FAIL("unknown guest command %llu", uc->args[0]);
	}
}

static void ctx_run(struct __test_metadata *_metadata, struct ctx *c)
{
	struct ucall uc;

	while (vcpu_run_ucall(c->vcpu, &uc) == UCALL_SYNC)
		host_cmd(_metadata, c, &uc);
	vm_free(c->vm);
}

FIXTURE(msg) {};
FIXTURE_VARIANT(msg) { bool x2apic; bool autoeoi; };
FIXTURE_VARIANT_ADD(msg, xapic_normal) { .x2apic = false, .autoeoi = false };
FIXTURE_VARIANT_ADD(msg, x2apic_autoeoi) { .x2apic = true, .autoeoi = true };
FIXTURE_SETUP(msg) {}
FIXTURE_TEARDOWN(msg) {}

static u64 aeoi_flag(u64 autoeoi)
{
	return autoeoi ? HV_SINT_AUTO_EOI : 0;
}

/*
 * Message 1 is delivered and left in the slot; message 2 finds it busy
 * and is queued with msg_pending; the guest frees the slot, sees
 * msg_pending and writes EOM; KVM acks the SINT and message 2 arrives.
 */
static void guest_vmm_message(u64 x2apic, u64 autoeoi)
{
	volatile struct hv_message *slot = guest_slot(SINT_A);
	struct hv_message m;

	guest_setup(x2apic, aeoi_flag(autoeoi));
	handler_eois = false;
	GUEST_SYNC(CMD_POST, 1);
	GUEST_ASSERT(guest_wait_count(&hits, 1, WAIT_US) == 1, "message 1: %llu "
		     "deliveries", hits);
	GUEST_ASSERT_EQ(isr_hits, !autoeoi);
	GUEST_ASSERT_EQ(slot->hdr.message_type, MSG_TYPE);
	GUEST_ASSERT_EQ(slot->payload[0], 1);
	/* A normal SINT's EOI acks it too (the VMM may retry then). */
	if (!autoeoi && !fault_skip_sint_eoi)
		apic_eoi();
	handler_eois = true;

	GUEST_SYNC(CMD_QUEUE, 2, !autoeoi);
	GUEST_ASSERT(slot->hdr.message_flags & HV_MSG_FLAG_PENDING,
		     "msg_pending not set");
	if (fault_skip_eom)
		slot->hdr.message_type = HV_MSG_NONE;
	else
		hv_guest_msg_take(simp, SINT_A, &m);	/* EOM: pending */
	GUEST_SYNC(CMD_RETRY);
	GUEST_ASSERT(guest_wait_count(&hits, 2, WAIT_US) == 2, "queued message: "
		     "%llu deliveries", hits);
	GUEST_ASSERT(guest_wait_count(&hits, 3, QUIET_US) == 2, "%llu deliveries, "
		     "want 2", hits);
	GUEST_ASSERT_EQ(slot->hdr.message_type, MSG_TYPE);
	GUEST_ASSERT_EQ(slot->payload[0], 2);
	GUEST_ASSERT_EQ(slot->hdr.message_flags, 0);
	GUEST_ASSERT_EQ(isr_hits, autoeoi ? 0 : 2);
}

TEST_F(msg, vmm_message_after_eom)
{
	struct ctx c;

	ctx_init(&c, guest_vmm_message);
	vcpu_args_set(c.vcpu, variant->x2apic, variant->autoeoi);
	ctx_run(_metadata, &c);
}

/*
 * A one-shot timer expires while the slot holds an unread message: KVM
 * must not overwrite it, must set msg_pending, and must deliver the timer
 * message once the guest frees the slot and writes EOM.
 */
static void guest_stimer_busy(u64 x2apic, u64 autoeoi)
{
	volatile struct hv_message *slot = guest_slot(SINT_A);
	u64 expiry, t_eom, end;
	struct hv_message *m;

	guest_setup(x2apic, aeoi_flag(autoeoi));
	take_msgs = true;
	if (!fault_no_prefill) {
		slot->payload[0] = 0xabc;
		slot->hdr.payload_size = 8;
		slot->hdr.message_type = MSG_TYPE;
	}
	expiry = hv_guest_stimer_arm_msg(0, SINT_A, 10000);
	/* KVM sets msg_pending when it finds the slot busy at expiry. */
	end = rdtsc() + WAIT_US * guest_tsc_khz / 1000;
	sti();
	while (!(slot->hdr.message_flags & HV_MSG_FLAG_PENDING) && !hits &&
	       rdtsc() < end)
		cpu_relax();
	cli();
	GUEST_ASSERT(!hits, "timer message delivered into a busy slot");
	GUEST_ASSERT(slot->hdr.message_type == MSG_TYPE &&
		     slot->payload[0] == 0xabc, "busy slot overwritten: type "
		     "0x%x", slot->hdr.message_type);
	GUEST_ASSERT(slot->hdr.message_flags & HV_MSG_FLAG_PENDING,
		     "no msg_pending %u us after the timer's expiry", WAIT_US);
	GUEST_ASSERT(hv_guest_time_ref() >= expiry, "msg_pending before the "
		     "expiry");

	t_eom = hv_guest_time_ref();
	slot->hdr.message_type = HV_MSG_NONE;
	if (!fault_stimer_skip_eom)
		hv_guest_eom();
	GUEST_ASSERT(guest_wait_count(&hits, 1, WAIT_US) == 1, "timer message not "
		     "delivered after EOM");
	GUEST_ASSERT(guest_wait_count(&hits, 2, QUIET_US) == 1, "%llu deliveries",
		     hits);
	GUEST_ASSERT_EQ(log_n, 1);
	m = &log_msg[0];
	GUEST_ASSERT_EQ(m->hdr.message_type, HV_MSG_TIMER_EXPIRED);
	GUEST_ASSERT_EQ(m->hdr.message_flags & HV_MSG_FLAG_PENDING, 0);
	GUEST_ASSERT_EQ(m->timer.timer_index, 0);
	GUEST_ASSERT_EQ(m->timer.expiration_time, expiry);
	GUEST_ASSERT(m->timer.delivery_time >= t_eom, "delivery time %llu "
		     "before the EOM at %llu", m->timer.delivery_time, t_eom);
	GUEST_ASSERT_EQ(rdmsr(HV_MSR_STIMER_CONFIG(0)) & HV_STIMER_ENABLE, 0);
	GUEST_ASSERT_EQ(isr_hits, !autoeoi);
}

TEST_F(msg, stimer_busy_slot)
{
	struct ctx c;

	ctx_init(&c, guest_stimer_busy);
	vcpu_args_set(c.vcpu, variant->x2apic, variant->autoeoi);
	ctx_run(_metadata, &c);
}

/* Stops timer @n and lets a tick already in IRR land. */
static void guest_stop_timer(u32 n)
{
	if (!fault_no_stop)
		hv_guest_stimer_stop(n);
	sti_nop_cli();
}

/*
 * Periodic, message mode: NR_TICKS messages, expiration times a whole
 * number of periods apart starting one period after the arming, each
 * delivered after it expired; nothing once stopped.
 */
static void guest_stimer_periodic(u64 x2apic, u64 autoeoi)
{
	u64 period = PERIOD + fault_wrong_period, t0, t1, n, i;
	struct hv_message *m;

	guest_setup(x2apic, aeoi_flag(autoeoi));
	take_msgs = true;
	t0 = hv_guest_time_ref();
	hv_guest_stimer_arm_periodic(1, HV_STIMER_SINT(SINT_A), PERIOD);
	t1 = hv_guest_time_ref();
	n = guest_wait_count(&log_n, NR_TICKS, WAIT_US + NR_TICKS * PERIOD / 10);
	GUEST_ASSERT(n >= NR_TICKS, "%llu of %u ticks", n, NR_TICKS);
	GUEST_ASSERT(rdmsr(HV_MSR_STIMER_CONFIG(1)) & HV_STIMER_ENABLE,
		     "periodic timer disabled itself");
	guest_stop_timer(1);
	n = log_n;
	GUEST_ASSERT(guest_wait_count(&log_n, n + 1, 3 * PERIOD / 10) == n,
		     "periodic timer fired after it was stopped");
	GUEST_ASSERT_EQ(hits, n);
	for (i = 0; i < NR_TICKS; i++) {
		m = &log_msg[i];
		GUEST_ASSERT_EQ(m->hdr.message_type, HV_MSG_TIMER_EXPIRED);
		GUEST_ASSERT_EQ(m->hdr.payload_size, sizeof(m->timer));
		GUEST_ASSERT_EQ(m->timer.timer_index, 1);
		GUEST_ASSERT(m->timer.delivery_time >= m->timer.expiration_time,
			     "tick %llu delivered at %llu before its expiry "
			     "%llu", i, m->timer.delivery_time,
			     m->timer.expiration_time);
		if (!i) {
			GUEST_ASSERT(m->timer.expiration_time >= t0 + PERIOD &&
				     m->timer.expiration_time <= t1 + PERIOD,
				     "first expiry %llu not one period after "
				     "the arming (%llu..%llu)",
				     m->timer.expiration_time, t0, t1);
			continue;
		}
		GUEST_ASSERT(m->timer.expiration_time >
			     m[-1].timer.expiration_time &&
			     !((m->timer.expiration_time -
				m[-1].timer.expiration_time) % period),
			     "tick %llu: expiry %llu after %llu, not a "
			     "multiple of the period %llu", i,
			     m->timer.expiration_time,
			     m[-1].timer.expiration_time, period);
	}
}

TEST_F(msg, stimer_periodic)
{
	struct ctx c;

	ctx_init(&c, guest_stimer_periodic);
	vcpu_args_set(c.vcpu, variant->x2apic, variant->autoeoi);
	ctx_run(_metadata, &c);
}

/* No slot of the SIMP holds a message. */
static void guest_expect_no_message(const char *when)
{
	u32 s;

	for (s = 0; s < HV_SINT_COUNT; s++)
		GUEST_ASSERT(guest_slot(s)->hdr.message_type == HV_MSG_NONE,
			     "%s: SIMP slot %u holds message 0x%x in direct "
			     "mode", when, s, guest_slot(s)->hdr.message_type);
}

/*
 * Direct mode, one-shot then periodic: the timer's vector, in ISR like
 * any fixed interrupt, no message anywhere and no SINT interrupt, though
 * the configuration also names SINT_A (ignored in direct mode).
 */
static void guest_stimer_direct(void)
{
	u64 direct = HV_STIMER_DIRECT | HV_STIMER_VECTOR(TIMER_VEC) |
		     HV_STIMER_SINT(SINT_A), n;

	guest_setup(true, 0);
	if (fault_extra_msg_timer)
		hv_guest_stimer_arm_msg(1, SINT_A, 10000);
	wrmsr(HV_MSR_STIMER_COUNT(0), hv_guest_time_ref() + 10000);
	wrmsr(HV_MSR_STIMER_CONFIG(0), HV_STIMER_ENABLE | direct);
	GUEST_ASSERT(guest_wait_count(&timer_hits, 1, WAIT_US) == 1, "one-shot: "
		     "%llu timer interrupts", timer_hits);
	GUEST_ASSERT(guest_wait_count(&timer_hits, 2, QUIET_US) == 1, "one-shot: "
		     "%llu timer interrupts", timer_hits);
	GUEST_ASSERT_EQ(timer_isr, 1);
	guest_expect_no_message("one-shot");
	GUEST_ASSERT(!hits, "SINT vector ran %llu times in direct mode", hits);
	GUEST_ASSERT_EQ(rdmsr(HV_MSR_STIMER_CONFIG(0)) & HV_STIMER_ENABLE, 0);

	hv_guest_stimer_arm_periodic(0, direct, PERIOD);
	n = guest_wait_count(&timer_hits, 1 + NR_TICKS, WAIT_US +
		       NR_TICKS * PERIOD / 10);
	GUEST_ASSERT(n >= 1 + NR_TICKS, "periodic: %llu of %u ticks", n - 1,
		     NR_TICKS);
	hv_guest_stimer_stop(0);
	sti_nop_cli();
	n = timer_hits;
	GUEST_ASSERT(guest_wait_count(&timer_hits, n + 1, 3 * PERIOD / 10) == n,
		     "direct periodic timer fired after it was stopped");
	GUEST_ASSERT_EQ(timer_isr, n);
	guest_expect_no_message("periodic");
	GUEST_ASSERT(!hits, "SINT vector ran %llu times in direct mode", hits);
}

TEST(stimer_direct_no_message)
{
	struct ctx c;

	ctx_init(&c, guest_stimer_direct);
	ctx_run(_metadata, &c);
}

APICV_TEST_MAIN
