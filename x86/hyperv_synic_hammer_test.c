// SPDX-License-Identifier: GPL-2.0
/*
 * SynIC AutoEOI hammer. N vCPUs each toggle AutoEOI on two SINTs with
 * guest WRMSRs as fast as they can (each toggle of a SINT's AutoEOI bit is
 * what moves KVM's HYPERV inhibit accounting), with interrupts enabled,
 * while:
 *  - the host posts numbered SynIC messages into each vCPU's SIMP slot and
 *    signals the SINT through its irqfd, one outstanding per vCPU;
 *  - each vCPU sends fixed IPIs to the next one, one outstanding.
 * Every message must arrive exactly once and in order, every IPI exactly
 * once, no vCPU may stop making progress (the 5.15 deadlock hung the
 * vCPU inside its SINT WRMSR) and no kernel report may appear. Each
 * delivery must match SINT_A's mode when it was taken: AutoEOI never in
 * ISR, normal always in ISR (until the handler's EOI); the deliveries
 * must have switched between the two modes, and KVM's SINTs must read
 * back the guest's last programming. Prints messages/s, toggles/s and
 * IPIs/s measured on the host's clock.
 */
#include "harness_main.h"
#include "emulator.h"
#include "x86/apic.h"
#include "x86/apicv.h"
#include "x86/hyperv.h"

FAULT(drop_one_message, "hammer.xapic_2vcpus.*",
      "messages delivered",
      "the host posts one message but never signals it");
FAULT(skip_one_eoi, "hammer.x2apic_2vcpus.*", "messages delivered",
      "the guest skips the EOI of one normal delivery");
FAULT(drop_one_ipi, "hammer.xapic_2vcpus.*", "IPIs lost",
      "one vCPU counts one IPI as sent but never sends it");
FAULT(aeoi_as_normal, "hammer.xapic_2vcpus.*",
      "normal deliveries found their vector out of ISR",
      "the handler takes one AutoEOI delivery for a normal one");
FAULT(normal_as_aeoi, "hammer.x2apic_2vcpus.*",
      "AutoEOI deliveries found their vector in ISR",
      "the handler takes one normal delivery for an AutoEOI one");
FAULT(misnumber_one, "hammer.xapic_2vcpus.*", "messages out of order",
      "the host numbers message 20 as 21");
FAULT(signal_empty, "hammer.xapic_2vcpus.*",
      "deliveries found the slot empty",
      "the host signals once with no message posted");
FAULT(toggle_idle_only, "hammer.xapic_2vcpus.*",
      "never alternated between AutoEOI and normal",
      "the guest toggles AutoEOI on the idle SINT only");
FAULT(final_sint_wrong, "hammer.x2apic_2vcpus.*", "SINT_A reads",
      "the host expects the opposite final AutoEOI bit on SINT_A");

#define MAX_VCPUS	8
#define SINT_A		2	/* carries the messages */
#define SINT_B		5	/* idle, toggled too */
#define MSG_VEC		0x50
#define IDLE_VEC	0x70
#define IPI_VEC		0xe0
#define MSG_TYPE	0x200
#define STALL_MS	5000
#define DRAIN_PACE_US	100
/* How long the hammer may run on until every vCPU saw both modes. */
#define MODES_EXTRA_MS	2000

struct vstate {
	u64 rx, bad, empty, toggles, toggles_a;
	/* Deliveries by SINT_A's mode at the time, and ISR violations. */
	u64 aeoi_rx, normal_rx, aeoi_in_isr, normal_out_of_isr;
	u64 switches, last_mode;
	u64 ipi_tx, ipi_rx, ipi_bad;
	u64 eoi_skipped, mislabeled;
	u64 ready, quiesced;
} __attribute__((aligned(64)));

static struct vstate vs[MAX_VCPUS];
static struct hv_message_page *simps[MAX_VCPUS];
static volatile bool stop, draining;
static int nr_vcpus;

/*
 * SINT_A's mode when this delivery was acknowledged decides its ISR state:
 * nothing the guest runs lies between that ack and the handler, so a read
 * of the SINT here gives the mode KVM had to apply. An AutoEOI delivery
 * must find its vector out of ISR, a normal one in it.
 */
static void guest_check_mode(struct vstate *s, bool aeoi, bool in_isr)
{
	u64 mode = aeoi ? 2 : 1;

	if (s->rx > 10 && !s->mislabeled) {
		if ((fault_aeoi_as_normal && aeoi) ||
		    (fault_normal_as_aeoi && !aeoi)) {
			aeoi = !aeoi;
			s->mislabeled = 1;
		}
	}
	if (aeoi) {
		s->aeoi_rx++;
		s->aeoi_in_isr += in_isr;
	} else {
		s->normal_rx++;
		s->normal_out_of_isr += !in_isr;
	}
	if (s->last_mode && s->last_mode != mode)
		s->switches++;
	s->last_mode = mode;
}

static void guest_msg_handler(struct ex_regs *regs)
{
	struct vstate *s = &vs[this_cpu_id()];
	bool aeoi = hv_guest_sint_get(SINT_A) & HV_SINT_AUTO_EOI;
	bool in_isr = apic_vec_test(APIC_ISR, MSG_VEC);
	struct hv_message m;

	if (hv_guest_msg_take(simps[this_cpu_id()], SINT_A, &m) == MSG_TYPE) {
		if (m.payload[0] != s->rx + 1)
			s->bad++;
		__atomic_store_n(&s->rx, s->rx + 1, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&s->empty, s->empty + 1, __ATOMIC_RELEASE);
	}
	guest_check_mode(s, aeoi, in_isr);
	if (!in_isr)
		return;
	if (fault_skip_one_eoi && !aeoi && !s->eoi_skipped && s->rx > 10) {
		s->eoi_skipped = 1;
		return;
	}
	apic_eoi();
}

static void guest_ipi_handler(struct ex_regs *regs)
{
	u32 me = this_cpu_id();
	u32 from = (me + nr_vcpus - 1) % nr_vcpus;

	if (vs[me].ipi_rx >= READ_ONCE(vs[from].ipi_tx))
		vs[me].ipi_bad++;	/* more IPIs than were sent */
	__atomic_store_n(&vs[me].ipi_rx, vs[me].ipi_rx + 1, __ATOMIC_RELEASE);
	apic_eoi();
}

static void guest_try_ipi(u32 me, u32 to)
{
	struct vstate *s = &vs[me];

	if (__atomic_load_n(&vs[to].ipi_rx, __ATOMIC_ACQUIRE) != s->ipi_tx)
		return;
	__atomic_store_n(&s->ipi_tx, s->ipi_tx + 1, __ATOMIC_RELEASE);
	if (fault_drop_one_ipi && me == 0 && s->ipi_tx == 20)
		return;
	apic_icr_write(to, APIC_DM_FIXED | APIC_INT_ASSERT | IPI_VEC);
}

static void guest_hammer(u64 x2apic)
{
	u32 me = this_cpu_id(), to = (me + 1) % nr_vcpus;
	u32 from = (me + nr_vcpus - 1) % nr_vcpus;
	struct vstate *s = &vs[me];
	u64 i, end;

	apic_enable_mode(x2apic);
	hv_guest_synic_enable(simps[me], NULL);
	hv_guest_sint_set(SINT_A, hv_sint(MSG_VEC, 0));
	hv_guest_sint_set(SINT_B, hv_sint(IDLE_VEC, 0));
	/* Everyone's APIC and SynIC are up before any traffic. */
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
	for (i = 0; i < (u64)nr_vcpus; i++)
		while (!__atomic_load_n(&vs[i].ready, __ATOMIC_ACQUIRE))
			cpu_relax();
	sti();
	for (i = 0; !READ_ONCE(stop); i++) {
		u64 aeoi = (i & 1) ? HV_SINT_AUTO_EOI : 0;
		bool a = !(i & 2) && !fault_toggle_idle_only;

		hv_guest_sint_set(a ? SINT_A : SINT_B,
				  hv_sint(a ? MSG_VEC : IDLE_VEC, aeoi));
		s->toggles++;
		s->toggles_a += a;
		guest_try_ipi(me, to);
		/*
		 * The host waits for our last message: keep toggling around
		 * its delivery, but at a walk. Under TCG every exit risks the
		 * emulator's fault (emulator.h), and a message that never
		 * comes (a negative control) makes the wait 5 s long.
		 */
		if (READ_ONCE(draining))
			guest_udelay(DRAIN_PACE_US);
	}
	/* Final programming: AutoEOI on SINT_A of odd vCPUs only. */
	hv_guest_sint_set(SINT_A, hv_sint(MSG_VEC, (me & 1) ?
					  HV_SINT_AUTO_EOI : 0));
	hv_guest_sint_set(SINT_B, hv_sint(IDLE_VEC, HV_SINT_MASKED));
	/*
	 * Once every vCPU has stopped sending, the sender's count is final:
	 * wait for all of our own incoming IPIs before leaving.
	 */
	__atomic_store_n(&s->quiesced, 1, __ATOMIC_RELEASE);
	end = rdtsc() + 5000000ull * guest_tsc_khz / 1000;
	for (i = 0; i < (u64)nr_vcpus; i++)
		while (!__atomic_load_n(&vs[i].quiesced, __ATOMIC_ACQUIRE) &&
		       rdtsc() < end)
			cpu_relax();
	while (__atomic_load_n(&s->ipi_rx, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&vs[from].ipi_tx, __ATOMIC_ACQUIRE) &&
	       rdtsc() < end)
		cpu_relax();
	cli();
}

FIXTURE(hammer) {};
FIXTURE_VARIANT(hammer) { int n; bool x2apic; };
FIXTURE_VARIANT_ADD(hammer, xapic_2vcpus) { .n = 2, .x2apic = false };
FIXTURE_VARIANT_ADD(hammer, x2apic_2vcpus) { .n = 2, .x2apic = true };
FIXTURE_VARIANT_ADD(hammer, x2apic_4vcpus) { .n = 4, .x2apic = true };
FIXTURE_SETUP(hammer) {}
FIXTURE_TEARDOWN(hammer) {}

/*
 * The hammer runs @dur_ms, and on (up to MODES_EXTRA_MS) until every
 * vCPU has taken deliveries in both modes: on a slow host a vCPU may see
 * few messages in @dur_ms.
 */
static bool hammer_goes_on(u64 elapsed_ns, u64 dur_ms, int n)
{
	int i;

	if (elapsed_ns < dur_ms * 1000000ull)
		return true;
	if (elapsed_ns >= (dur_ms + MODES_EXTRA_MS) * 1000000ull)
		return false;
	for (i = 0; i < n; i++)
		if (!READ_ONCE(vs[i].switches))
			return true;
	return false;
}

/* Negative control: one signal with the slot empty, delivered alone. */
static void host_signal_empty(struct hv_sint_route *r, struct vstate *s)
{
	u64 end = now_ns() + 1000000000ull;

	hv_sint_signal(r);
	while (!__atomic_load_n(&s->empty, __ATOMIC_ACQUIRE) && now_ns() < end)
		sleep_us(100);
}

/* The per-vCPU verdicts. */
static void check_vcpu(struct __test_metadata *_metadata, int i, int n,
		       u64 tx)
{
	struct vstate *s = &vs[i];
	u32 to = (i + 1) % n;

	TH_LOG("vCPU %d: messages %llu/%llu (AutoEOI %llu, normal %llu, "
	       "mode switches %llu), toggles %llu (SINT_A %llu), IPIs out "
	       "%llu in-at-next %llu, out-of-order %llu, empty %llu, extra "
	       "IPIs %llu", i, s->rx, tx, s->aeoi_rx, s->normal_rx,
	       s->switches, s->toggles, s->toggles_a, s->ipi_tx,
	       vs[to].ipi_rx, s->bad, s->empty, s->ipi_bad);
	EXPECT_EQ(tx, s->rx)
		TH_LOG("vCPU %d: %llu of %llu messages delivered", i, s->rx,
		       tx);
	EXPECT_EQ(0, s->bad)
		TH_LOG("vCPU %d: %llu messages out of order", i, s->bad);
	EXPECT_EQ(0, s->empty)
		TH_LOG("vCPU %d: %llu deliveries found the slot empty", i,
		       s->empty);
	EXPECT_EQ(0, s->aeoi_in_isr)
		TH_LOG("vCPU %d: %llu of %llu AutoEOI deliveries found their "
		       "vector in ISR", i, s->aeoi_in_isr, s->aeoi_rx);
	EXPECT_EQ(0, s->normal_out_of_isr)
		TH_LOG("vCPU %d: %llu of %llu normal deliveries found their "
		       "vector out of ISR", i, s->normal_out_of_isr,
		       s->normal_rx);
	/* The toggling must have interleaved with the traffic. */
	EXPECT_LT(0, s->switches)
		TH_LOG("vCPU %d: %llu deliveries never alternated between "
		       "AutoEOI and normal", i, s->rx + s->empty);
	/* A surplus under TCG is the emulator's quirk: the harness judges. */
	emu_quirk_count_why(EMU_QUIRK_DUP_INJECT, s->ipi_bad, s->ipi_tx,
			    "vCPU %d: IPIs taken before they were sent", i);
	EXPECT_EQ(s->ipi_tx, emu_count_dup(s->ipi_tx, vs[to].ipi_rx))
		TH_LOG("vCPU %d: IPIs lost: sent %llu, vCPU %u got %llu", i,
		       s->ipi_tx, to, vs[to].ipi_rx);
}

/*
 * KVM's SINT state after the hammer is the guest's final programming:
 * AutoEOI on SINT_A of odd vCPUs only, SINT_B masked.
 */
static void check_final_sints(struct __test_metadata *_metadata,
			      struct kvm_vm *vm, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		u64 a = hv_sint(MSG_VEC, (i & 1) ? HV_SINT_AUTO_EOI : 0);
		u64 b = hv_sint(IDLE_VEC, HV_SINT_MASKED);
		u64 got;

		if (fault_final_sint_wrong)
			a ^= HV_SINT_AUTO_EOI;
		got = vcpu_get_msr(vm->vcpus[i], HV_MSR_SINT(SINT_A));
		EXPECT_EQ(a, got)
			TH_LOG("vCPU %d: SINT_A reads 0x%llx after the hammer, "
			       "want 0x%llx", i, got, a);
		got = vcpu_get_msr(vm->vcpus[i], HV_MSR_SINT(SINT_B));
		EXPECT_EQ(b, got)
			TH_LOG("vCPU %d: SINT_B reads 0x%llx after the hammer, "
			       "want 0x%llx", i, got, b);
	}
}

TEST_F(hammer, toggle_autoeoi_under_load)
{
	struct hv_sint_route *route[MAX_VCPUS];
	u64 tx[MAX_VCPUS] = { 0 }, progress[MAX_VCPUS];
	u64 dur_ms = profile_pick(1000, 30000);
	u64 t0, t1, now, end, msgs = 0, toggles = 0, ipis = 0;
	struct kvm_vm *vm;
	bool dropped = false, empty_sent = false;
	int i, n = variant->n;

	apicv_require_guest_delivery();
	vm = vm_create(IRQCHIP_KERNEL);
	hv_routes_reset(vm);
	nr_vcpus = n;
	stop = false;
	draining = false;
	memset(vs, 0, sizeof(vs));
	vm_add_vcpus(vm, n, guest_hammer);
	for (i = 0; i < n; i++) {
		struct kvm_vcpu *vcpu = vm->vcpus[i];

		hv_vcpu_init(vcpu);
		hv_synic_activate(vcpu);
		vcpu_args_set(vcpu, variant->x2apic);
		simps[i] = guest_alloc(vm, 4096);
		route[i] = hv_sint_route_add(vm, i, SINT_A);
	}
	vm_install_handler(vm, MSG_VEC, guest_msg_handler);
	vm_install_handler(vm, IPI_VEC, guest_ipi_handler);

	vm_threads_start(vm);
	for (i = 0; i < n; i++) {
		u64 ready_by = now_ns() + STALL_MS * 1000000ull;

		while (!__atomic_load_n(&vs[i].ready, __ATOMIC_ACQUIRE)) {
			if (now_ns() > ready_by)
				vm_wait_done(vm, 1, "SynIC set-up");
			sleep_us(100);
		}
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		progress[i] = t0;
	for (now = t0; hammer_goes_on(now - t0, dur_ms, n); now = now_ns()) {
		bool idle = true;

		for (i = 0; i < n; i++) {
			u64 rx = __atomic_load_n(&vs[i].rx, __ATOMIC_ACQUIRE);
			u64 seq = tx[i] + 1;

			if (rx != tx[i]) {
				if (now - progress[i] > STALL_MS * 1000000ull) {
					WRITE_ONCE(stop, true);
					vm_wait_done(vm, 5000, "hammer stop");
					TEST_FAIL("vCPU %d: message %llu not delivered "
						  "within %d ms (rx %llu)", i,
						  tx[i], STALL_MS, rx);
				}
				continue;
			}
			idle = false;
			progress[i] = now;
			if (fault_signal_empty && !empty_sent && seq == 21) {
				empty_sent = true;
				host_signal_empty(route[i], &vs[i]);
			}
			if (fault_misnumber_one && i == 0 && seq == 20)
				seq++;
			TEST_ASSERT(hv_msg_post(simps[i], SINT_A, MSG_TYPE, &seq,
						sizeof(seq)),
				    "vCPU %d: SIMP slot busy after message %llu "
				    "was consumed", i, tx[i]);
			tx[i] = tx[i] + 1;
			if (fault_drop_one_message && !dropped && seq == 20) {
				dropped = true;
				continue;
			}
			hv_sint_signal(route[i]);
		}
		if (idle)
			sleep_us(20);
	}
	/* Drain: the last message of each vCPU must still arrive. */
	WRITE_ONCE(draining, true);
	end = now_ns() + STALL_MS * 1000000ull;
	for (i = 0; i < n; i++) {
		while (__atomic_load_n(&vs[i].rx, __ATOMIC_ACQUIRE) != tx[i] &&
		       now_ns() < end)
			sleep_us(100);
	}
	t1 = now_ns();
	WRITE_ONCE(stop, true);
	vm_wait_done(vm, 10000, "hammer finish");

	for (i = 0; i < n; i++) {
		check_vcpu(_metadata, i, n, tx[i]);
		msgs += vs[i].rx;
		toggles += vs[i].toggles;
		ipis += vs[(i + 1) % n].ipi_rx;
	}
	check_final_sints(_metadata, vm, n);
	TH_LOG("%d vCPUs, %s, %.2f s (host clock, start of vCPU threads to the "
	       "last message): %.0f messages/s, %.0f AutoEOI toggles/s, "
	       "%.0f IPIs/s", n, variant->x2apic ? "x2APIC" : "xAPIC",
	       (t1 - t0) / 1e9, msgs / ((t1 - t0) / 1e9),
	       toggles / ((t1 - t0) / 1e9), ipis / ((t1 - t0) / 1e9));
	vm_free(vm);
}

APICV_TEST_MAIN
