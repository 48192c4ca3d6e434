/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IPI phase engine: a schedule of IPIs run on a fresh VM, every
 * delivery compared with the oracle (x86/apic_oracle.h).
 *
 * The host builds a schedule of phases; in each phase one sender writes up
 * to IPI_PHASE_NR_VEC ICRs, each with its own vector, while the others
 * busy-loop or sit in "sti; hlt". Each target counts per phase, per vector
 * (so per case and sender) in shared memory; after a phase every vCPU
 * drains its IRR and meets the others at a barrier. With halted targets
 * the sender waits for every delivery due before it wakes the others, so
 * an IPI that did not wake its target shows as late. An epoch is an APIC
 * configuration the vCPUs switch to together, at a barrier. The host then
 * compares every count with the oracle: the expected vCPUs exactly once,
 * nobody else, and nothing on a vector no case of the phase uses.
 *
 * Aliasing runs (alias_model): where the known alias bug is expected
 * (known_bugs.h), a case delivered exactly as KVM's pre-6.3 map does is
 * that bug, not an error; the run counts such cases apart.
 */
#ifndef APICV_X86_IPI_PHASE_H
#define APICV_X86_IPI_PHASE_H

#include "test_util.h"
#include "x86/apic_oracle.h"

#define IPI_PHASE_VEC_BASE	0x30
#define IPI_PHASE_NR_VEC	176	/* 0x30..0xdf: one per case in a phase */
#define IPI_PHASE_WAKE_VEC	0xf0
#define IPI_PHASE_MAX_EPOCHS	4
#define IPI_PHASE_MAX_PHASES	4096
/*
 * A phase's sender gives up waiting for its deliveries after this long
 * without one (TCG on a loaded host: generous; it costs nothing unless a
 * delivery is missing).
 */
#define IPI_PHASE_GATE_IDLE_US	3000000

enum ipi_wait { IPI_WAIT_BUSY, IPI_WAIT_HALT };

struct ipi_case {
	u32 dest, low;
};

struct ipi_sched {
	int n;				/* vCPUs */
	struct apic_cfg *cfg;		/* the epoch being filled */
	struct apic_cfg ecfg[IPI_PHASE_MAX_EPOCHS][APIC_ORACLE_MAX_VCPUS];
	int epoch;
	struct ipi_case *cases;
	int nr_cases, cap;
	u32 phase_sender[IPI_PHASE_MAX_PHASES];
	u32 phase_first[IPI_PHASE_MAX_PHASES];
	u32 phase_len[IPI_PHASE_MAX_PHASES];
	u32 phase_epoch[IPI_PHASE_MAX_PHASES];
	int nr_phases;
	/* Negative controls only: changes what the oracle is told after the run */
	void (*oracle_tweak)(struct ipi_sched *s);
	/* Aliasing runs: see above. alias_seen has a bit per known_bug seen. */
	bool alias_model;
	int alias_forgiven;
	u32 alias_seen;
	/* filled by the run */
	bool vector_hashing;
	struct apic_cfg truth[APIC_ORACLE_MAX_VCPUS];	/* epoch 0 as set up */
};

struct ipi_run_result {
	u64 sends, deliveries, wall_ns, send_cycles;
	/* failed cases: right targets but some took it twice, and the rest */
	int dups, others;
};

/*
 * Where a test's negative controls perturb a run; every member may be
 * NULL. The guest ones run in guest context.
 */
struct ipi_phase_hooks {
	/* Guest, phase @p's sender: writes case @i (default: as is). */
	void (*send)(u32 p, u32 i, u32 dest, u32 low);
	/* Guest, every vCPU but the sender (default: guest_ipi_phase_wait()). */
	void (*wait)(u32 p);
	/* Guest, at a switch to epoch @e: false keeps this vCPU's APIC as is. */
	bool (*reconfigure)(u32 e);
	/* Host, checking case @i of phase @p: changes what it expects. */
	void (*want)(struct ipi_sched *s, int p, int i,
		     struct apic_targets *want);
};

struct ipi_sched *ipi_sched_new(int n);
void ipi_sched_free(struct ipi_sched *s);
/* Starts a new epoch: a copy of the current configuration to modify. */
void ipi_sched_epoch(struct ipi_sched *s);
/*
 * Appends an IPI from @sender (a new phase when the sender or epoch
 * changes or the phase is full); its vector is the next of the phase.
 */
void ipi_sched_add(struct ipi_sched *s, int sender, u32 dest, u32 dm,
		   bool logical, u32 shorthand);

/*
 * Runs @s on a fresh VM (IDs other than a vCPU's index set from the host)
 * and checks every count; logs the first failures and returns how many
 * cases failed (alias bug deliveries forgiven in s->alias_forgiven).
 */
int ipi_sched_run(struct ipi_sched *s, enum ipi_wait wait,
		  const struct ipi_phase_hooks *hooks,
		  struct ipi_run_result *res);

/* Logs a run's figures: ICR writes, deliveries, IPIs/s, us per delivery. */
void ipi_run_log(const char *what, int n, const struct ipi_run_result *r);
/* The most vCPUs a run can have here (KVM, the VM library, the oracle). */
int ipi_phase_max_vcpus(void);

/* ---- for guest hooks ---- */

/* Waits until phase @p's sender is done; halted with IPI_WAIT_HALT. */
void guest_ipi_phase_wait(u32 p);
/* The sender of phase @p has written all its ICRs. */
bool guest_ipi_phase_icrs_done(u32 p);
/* From now on this vCPU counts what it takes for the phase after @p. */
void guest_ipi_phase_count_next(u32 p);
/* Cases in phase @p; deliveries of vector @vec in phase @p so far. */
u32 guest_ipi_phase_len(u32 p);
u32 guest_ipi_phase_taken(u32 p, u32 vec);

#endif /* APICV_X86_IPI_PHASE_H */
