// SPDX-License-Identifier: GPL-2.0
/*
 * Wakeup rounds of vCPUs blocked in "sti; hlt" (x86/halt_rounds.h).
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "emulator.h"
#include "x86/apic.h"
#include "x86/cpuid.h"
#include "x86/guest_sync.h"
#include "x86/halt_rounds.h"
#include "x86/irqchip.h"

const u8 halt_src_vec[] = { 0x40, 0x41, 0x50, 0x51, 0x60, 0x61 };
const char *const halt_src_name[] = { "IPI physical", "IPI logical x2APIC",
	"KVM_SIGNAL_MSI", "irqfd MSI route", "LAPIC one-shot", "TSC deadline" };

struct halt_rx halt_rx[HALT_NR_VCPUS];
u64 halt_vec_count[HALT_NR_VCPUS][256];
u64 halt_lat_tsc[HALT_NR_VCPUS][HALT_MAX_ROUNDS];
u64 halt_shadow_hits[HALT_NR_VCPUS];
u8 halt_src;
u64 halt_go;
struct halt_faults halt_faults;
u64 halt_lat_host_ns[HALT_NR_VCPUS][HALT_MAX_ROUNDS];
static u64 started, nr_vcpus = HALT_NR_VCPUS;

void halt_rounds_reset(enum halt_source src, u64 nvcpus)
{
	memset(halt_rx, 0, sizeof(halt_rx));
	memset(halt_vec_count, 0, sizeof(halt_vec_count));
	memset(halt_lat_tsc, 0, sizeof(halt_lat_tsc));
	memset(halt_shadow_hits, 0, sizeof(halt_shadow_hits));
	memset(halt_lat_host_ns, 0, sizeof(halt_lat_host_ns));
	memset(&halt_faults, 0, sizeof(halt_faults));
	started = 0;
	nr_vcpus = nvcpus;
	halt_go = 0;
	halt_src = src;
}

u64 halt_mix(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 33);
}

/*
 * Every vCPU enables its APIC before any round: an APIC map change kicks
 * (and counts a halt_wakeup on) every blocked vCPU, so none may happen once
 * receivers halt.
 */
void halt_guest_apics_enabled(void)
{
	if (halt_src == IPI_LOGICAL)
		x2apic_enable();
	else
		xapic_enable();
	guest_rendezvous(&started, nr_vcpus);
}

static bool is_timer(void)
{
	return halt_src == TIMER_ONESHOT || halt_src == TIMER_TSCDL;
}

void halt_guest_handler(struct ex_regs *regs)
{
	u32 id = this_cpu_id();
	u64 n = halt_rx[id].recv, t = rdtsc();
	u64 s = READ_ONCE(halt_rx[id].send_tsc);

	/* Taken on the HLT of "sti; hlt": the HLT is skipped, counted. */
	if (guest_emu_shadow_hit(regs))
		halt_shadow_hits[id]++;
	halt_vec_count[id][regs->vector]++;
	/* Timers: same vCPU, same clock. IPIs: the sender measures. */
	if (n < HALT_MAX_ROUNDS && is_timer())
		halt_lat_tsc[id][n] = t > s ? t - s : 0;
	WRITE_ONCE(halt_rx[id].recv, n + 1);
	apic_eoi();
}

static void arm_timer(u32 id, u64 i, u64 seed)
{
	/*
	 * Odd rounds race the expiry against the HLT exit (20-170 us); even
	 * rounds outlast a slow (TCG) HLT exit (300-600 us), so the vCPU
	 * surely blocks now and then and the wakeup path is exercised.
	 */
	u64 r = halt_mix(seed + i * 7 + id);
	u64 us = (i & 1) ? 20 + r % 150 : 300 + r % 300;
	u64 cycles = us * guest_tsc_khz / 1000;
	u8 vec = halt_src_vec[halt_src];

	WRITE_ONCE(halt_rx[id].sent, i);
	if (halt_src == TIMER_ONESHOT) {
		apic_write(APIC_TDCR, 0xb);		/* divide by 1 */
		apic_write(APIC_LVTT, vec);
		WRITE_ONCE(halt_rx[id].send_tsc, rdtsc() + cycles);
		apic_write(APIC_TMICT, us * 1000);	/* 1 GHz bus in KVM */
	} else {
		apic_write(APIC_LVTT, vec | APIC_LVT_TIMER_TSCDEADLINE);
		WRITE_ONCE(halt_rx[id].send_tsc, rdtsc() + cycles);
		wrmsr(MSR_IA32_TSC_DEADLINE, halt_rx[id].send_tsc);
	}
}

/* Halts with IF=0 until round @i's interrupt was handled. */
static void halt_for_round(u32 id, u64 i)
{
	bool cli_hlt = id == HALT_FIRST_RX &&
		       i == READ_ONCE(halt_faults.cli_hlt_round);

	while (READ_ONCE(halt_rx[id].recv) < i) {
		halt_rx[id].hlts++;
		if (cli_hlt) {
			hlt();		/* IF=0: nothing wakes it */
		} else {
			sti_hlt();
			cli();
		}
	}
}

void halt_guest_receiver(u64 rounds, u64 seed)
{
	u32 id = this_cpu_id();
	u8 vec = halt_src_vec[halt_src];
	u64 i;

	halt_guest_apics_enabled();
	cli();
	for (i = 1; i <= rounds; i++) {
		/* The baseline ends here; the host starts the pressure. */
		if (i == HALT_BASE_ROUNDS + 1)
			while (!READ_ONCE(halt_go))
				cpu_relax();
		if (is_timer())
			arm_timer(id, i, seed);
		WRITE_ONCE(halt_rx[id].armed, i);
		halt_for_round(id, i);
		GUEST_ASSERT(READ_ONCE(halt_rx[id].recv) == i,
			     "vCPU %u round %llu: %llu interrupts", id, i,
			     halt_rx[id].recv);
	}
	GUEST_ASSERT_EQ(halt_vec_count[id][vec], rounds);
}

/* Round @i's IPI to receiver @r, then the latency on the sender's clock. */
static void send_ipi(u32 r, u64 i, u64 seed)
{
	bool logical = halt_src == IPI_LOGICAL;
	struct halt_rx *x = &halt_rx[r];

	while (READ_ONCE(x->armed) < i)
		cpu_relax();
	guest_udelay(halt_mix(seed + i * 13 + r) % 100);
	WRITE_ONCE(x->send_tsc, rdtsc());
	WRITE_ONCE(x->sent, i);
	if (r == HALT_FIRST_RX && i == READ_ONCE(halt_faults.skip_ipi_round))
		return;
	apic_icr_write(logical ? x2apic_logical_id(r) : r,
		       APIC_DM_FIXED | APIC_INT_ASSERT |
		       (logical ? APIC_DEST_LOGICAL : 0) |
		       halt_src_vec[halt_src]);
	/* The ICR write exited: KVM has accepted the IPI. */
	WRITE_ONCE(x->deliv, i);
	/* Send to handled. */
	while (READ_ONCE(x->recv) < i)
		cpu_relax();
	if (i <= HALT_MAX_ROUNDS)
		halt_lat_tsc[r][i - 1] = rdtsc() - x->send_tsc;
}

void halt_guest_sender(u64 rounds, u64 seed)
{
	u64 i;
	u32 r;

	halt_guest_apics_enabled();
	if (halt_src != IPI_PHYS && halt_src != IPI_LOGICAL)
		return;
	for (i = 1; i <= rounds; i++)
		for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++)
			send_ipi(r, i, seed);
}

void halt_msi_signal_send(struct kvm_vm *vm, int r, u8 vec)
{
	int ret = vm_signal_msi(vm, APIC_DEFAULT_BASE | (r << 12), vec);

	TEST_ASSERT(ret > 0, "KVM_SIGNAL_MSI to vcpu %d returned %d", r, ret);
}

void halt_tsc_deadline_enable(struct kvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(vcpu->cpuid, 1, 0);

	TEST_ASSERT(e, "no CPUID leaf 1");
	e->ecx |= BIT(24);
	vcpu_cpuid_apply(vcpu);
}

void halt_msi_route_setup(struct halt_msi_sender *m)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[HALT_NR_VCPUS];
	} rt = { 0 };
	int r;

	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
		struct kvm_irq_routing_entry *e = &rt.e[rt.hdr.nr++];

		e->gsi = 40 + r;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = APIC_DEFAULT_BASE | (r << 12);
		e->u.msi.data = halt_src_vec[MSI_IRQFD];
		m->efd[r] = eventfd(0, EFD_CLOEXEC);
		TEST_ASSERT(m->efd[r] >= 0, "eventfd failed");
	}
	vm_ioctl(m->vm, KVM_SET_GSI_ROUTING, &rt);
	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
		struct kvm_irqfd fd = { .fd = m->efd[r], .gsi = 40 + r };

		vm_ioctl(m->vm, KVM_IRQFD, &fd);
	}
}

void halt_msi_sender_close(struct halt_msi_sender *m)
{
	int r;

	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++)
		if (m->efd[r] > 0)
			close(m->efd[r]);
}

static void msi_send(struct halt_msi_sender *m, int r, u64 i)
{
	u64 one = 1;

	if (m->alter && m->alter(m, r, i))
		return;
	if (halt_src == MSI_SIGNAL) {
		halt_msi_signal_send(m->vm, r, halt_src_vec[MSI_SIGNAL]);
		WRITE_ONCE(halt_rx[r].deliv, READ_ONCE(halt_rx[r].sent));
	} else {
		TEST_ASSERT(write(m->efd[r], &one, 8) == 8, "eventfd write");
	}
}

static void wait_armed(struct halt_msi_sender *m, int r, u64 i,
		       u64 deadline_ms)
{
	u64 t0 = now_ns();

	while (READ_ONCE(halt_rx[r].armed) < i) {
		if (now_ns() - t0 > deadline_ms * 1000000) {
			vcpu_thread_stop(m->vm->vcpus[r]);
			vcpu_dump(m->vm->vcpus[r], "never armed");
			TEST_FAIL("vcpu %d never armed round %llu "
				  "(received %llu)", r, i,
				  READ_ONCE(halt_rx[r].recv));
		}
		usleep(10);
	}
}

void halt_host_send_rounds(struct halt_msi_sender *m, u64 from, u64 to,
			   u64 seed, u64 deadline_ms)
{
	u64 i, t0;
	int r;

	for (i = from; i <= to; i++)
		for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
			wait_armed(m, r, i, deadline_ms);
			usleep(halt_mix(seed + i * 13 + r) % 100);
			WRITE_ONCE(halt_rx[r].sent, i);
			t0 = now_ns();
			msi_send(m, r, i);
			while (READ_ONCE(halt_rx[r].recv) < i &&
			       now_ns() - t0 < 2 * deadline_ms * 1000000)
				usleep(10);
			halt_lat_host_ns[r][i - 1] = now_ns() - t0;
		}
}

void halt_wait_baseline(struct kvm_vm *vm, u64 deadline_ms)
{
	u64 t0 = now_ns();
	int r;

	for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++)
		while (READ_ONCE(halt_rx[r].recv) < HALT_BASE_ROUNDS) {
			if (now_ns() - t0 > 5 * deadline_ms * 1000000ull) {
				vcpu_thread_stop(vm->vcpus[r]);
				vcpu_dump(vm->vcpus[r], "baseline rounds");
				TEST_FAIL("vcpu %d took %llu of %d baseline rounds",
					  r, READ_ONCE(halt_rx[r].recv),
					  HALT_BASE_ROUNDS);
			}
			usleep(200);
		}
}

static bool all_done(struct kvm_vm *vm)
{
	int i;

	for (i = 0; i < HALT_NR_VCPUS; i++)
		if (!READ_ONCE(vm->vcpus[i]->done) &&
		    vm->vcpus[i]->thread_started)
			return false;
	return true;
}

void halt_wait_rounds(struct kvm_vm *vm, u64 t0, u64 deadline_ms)
{
	struct halt_rx *x;
	int r;

	while (!all_done(vm)) {
		if (now_ns() - t0 > 5 * deadline_ms * 1000000ull) {
			for (r = HALT_FIRST_RX; r < HALT_NR_VCPUS; r++) {
				x = &halt_rx[r];
				test_log("vcpu %d: armed %llu sent %llu recv %llu hlts %llu",
					 r, x->armed, x->sent, x->recv, x->hlts);
			}
			return;
		}
		usleep(2000);
	}
}
