/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wakeup rounds of vCPUs blocked in "sti; hlt": the guest side (receiver,
 * IPI sender, handler) and the state the host reads, shared by the
 * x86/halt_* tests.
 *
 * One interrupt is in flight per receiver: the receiver announces round i
 * (armed = i) with IF=0, then halts until its handler has counted i. The
 * sender (another vCPU, the host, or the receiver's own LAPIC timer) waits
 * for armed >= i, bumps sent and sends. The handler counts every vector
 * per receiver and, for the timers, the latency from expiry to handler.
 */
#ifndef APICV_X86_HALT_ROUNDS_H
#define APICV_X86_HALT_ROUNDS_H

#include <stdbool.h>

#include "test_util.h"
#include "vm.h"
#include "x86/processor.h"

#define HALT_NR_VCPUS	3	/* vCPU 0 sends IPIs, 1..2 receive */
#define HALT_FIRST_RX	1
#define HALT_MAX_ROUNDS	4096
/*
 * The receivers wait for halt_go after this many rounds: the baseline
 * before the host starts its pressure (tests without one set halt_go).
 */
#define HALT_BASE_ROUNDS	8

/*
 * Without host pressure the median wakeup must come within this: a wake
 * event that does not wake the blocked vCPU is noticed only at the next
 * unrelated wakeup (about every 100 ms in L1 under TCG: p50 104 ms with
 * KVM's kick of a blocked vCPU removed), so a watchdog alone misses it.
 * Measured on a correct KVM: p50 0.15 to 7.8 ms over 60 subtests under
 * QEMU TCG on 2 busy cores (6.1), below 1 ms under Bochs (kvm_intel).
 */
#define WAKE_P50_LIMIT_US	40000

enum halt_source { IPI_PHYS, IPI_LOGICAL, MSI_SIGNAL, MSI_IRQFD,
		   TIMER_ONESHOT, TIMER_TSCDL };

extern const u8 halt_src_vec[];
extern const char *const halt_src_name[];

struct halt_rx {
	u64 armed, sent, recv, hlts;
	u64 send_tsc;		/* guest senders: rdtsc at send / expiry */
	u64 deliv;		/* round whose IPI / KVM_SIGNAL_MSI returned */
} __attribute__((aligned(64)));

extern struct halt_rx halt_rx[HALT_NR_VCPUS];
extern u64 halt_vec_count[HALT_NR_VCPUS][256];
/* Per round: guest TSC cycles from send (IPI) or expiry (timer) to handler. */
extern u64 halt_lat_tsc[HALT_NR_VCPUS][HALT_MAX_ROUNDS];
/* Interrupts taken on the HLT of "sti; hlt" (stepped over, counted). */
extern u64 halt_shadow_hits[HALT_NR_VCPUS];
extern u8 halt_src;
extern u64 halt_go;		/* the host started the pressure phase */

/*
 * Negative-control hooks, 0 for none: the round in which the first
 * receiver halts with IF=0, and the round whose IPI the sender skips
 * (still counting it as sent).
 */
struct halt_faults {
	u64 cli_hlt_round;
	u64 skip_ipi_round;
};
extern struct halt_faults halt_faults;

/*
 * Zeroes the shared state before a VM runs: source @src, @nvcpus vCPUs
 * (sender included) meet before the first round, halt_go clear.
 */
void halt_rounds_reset(enum halt_source src, u64 nvcpus);

/* Cheap pseudo-random per-round delays, reproducible from a seed. */
u64 halt_mix(u64 x);

/* Guest: every vCPU enables its APIC (x2APIC for IPI_LOGICAL), then meets. */
void halt_guest_apics_enabled(void);
/* Guest: the handler of the source's vector. */
void halt_guest_handler(struct ex_regs *regs);
/* Guest: @rounds wakeup rounds (timers: armed by the receiver itself). */
void halt_guest_receiver(u64 rounds, u64 seed);
/* Guest: the IPIs of @rounds rounds to every receiver; else returns. */
void halt_guest_sender(u64 rounds, u64 seed);

/* Host: KVM_SIGNAL_MSI of the source's vector to receiver @r. */
void halt_msi_signal_send(struct kvm_vm *vm, int r, u8 vec);

/* Host: KVM emulates the TSC deadline timer but leaves the CPUID bit to us. */
void halt_tsc_deadline_enable(struct kvm_vcpu *vcpu);

/*
 * The host as sender (MSI_SIGNAL, MSI_IRQFD): one MSI per receiver per
 * round. A test's @alter hook may take round @i of receiver @r over
 * (negative controls): true when it did, and nothing is sent.
 */
struct halt_msi_sender {
	struct kvm_vm *vm;
	int efd[HALT_NR_VCPUS];		/* MSI_IRQFD: per receiver */
	u64 rounds;			/* per receiver, the whole run */
	bool (*alter)(struct halt_msi_sender *m, int r, u64 i);
};
/* Per round: host clock from the send to the handler's count seen. */
extern u64 halt_lat_host_ns[HALT_NR_VCPUS][HALT_MAX_ROUNDS];

/* MSI_IRQFD: an eventfd per receiver, routed as an MSI of its vector. */
void halt_msi_route_setup(struct halt_msi_sender *m);
/* Rounds @from..@to (1-based); fails when a receiver never arms. */
void halt_host_send_rounds(struct halt_msi_sender *m, u64 from, u64 to,
			   u64 seed, u64 deadline_ms);
void halt_msi_sender_close(struct halt_msi_sender *m);

/* Host: every receiver took its baseline rounds; fails past 5 deadlines. */
void halt_wait_baseline(struct kvm_vm *vm, u64 deadline_ms);
/*
 * Host: every started vCPU is done; past 5 deadlines from @t0 it logs the
 * receivers' rounds and returns (the watchdog or the counts then fail).
 */
void halt_wait_rounds(struct kvm_vm *vm, u64 t0, u64 deadline_ms);

#endif
