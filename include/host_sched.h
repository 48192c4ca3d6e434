/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-side scheduling pressure on vCPU threads: pinning, forced preemption
 * by competing busy threads (optionally taking SCHED_FIFO bursts), continuous
 * migration between CPUs and NUMA nodes, sched_yield storms and signal kicks
 * of KVM_RUN; per-VM halt-polling control and KVM_CAP_X86_DISABLE_EXITS(HLT).
 *
 * Functions that may be impossible on the host return 0 or a negative errno
 * and write a one-line reason to @why; sched_require() turns that into a
 * skip. Every pressure thread stops on a flag and is joined by
 * pressure_stop(): nothing outlives a subtest.
 */
#ifndef APICV_HOST_SCHED_H
#define APICV_HOST_SCHED_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <bits/pthreadtypes.h>
#include <linux/types.h>

struct kvm_vm;

#define SCHED_WHY_LEN 160

/* CPUs this process may run on (its affinity mask). */
int host_cpu_count(void);
/* The i-th CPU of the process's affinity mask (wrapping). */
int host_cpu_nth(int i);
/* NUMA nodes (the highest node number + 1, from sysfs); 1 without NUMA. */
int host_numa_nodes(void);

int sched_pin_thread(pthread_t t, const cpu_set_t *set, char *why);
int sched_pin_thread_cpu(pthread_t t, int cpu, char *why);

enum pressure_kind {
	PRESSURE_PREEMPT = (1u << 0),	/* a busy thread pinned on each vCPU's CPU */
	PRESSURE_FIFO	 = (1u << 1),	/* ... which takes SCHED_FIFO bursts */
	PRESSURE_MIGRATE = (1u << 2),	/* vCPU threads moved between CPUs/nodes */
	PRESSURE_YIELD	 = (1u << 3),	/* sched_yield storm, one thread per CPU */
	PRESSURE_KICK	 = (1u << 4),	/* signals kick vCPU threads out of KVM_RUN */
};

#define PRESSURE_MAX_THREADS 64

struct pressure {
	unsigned int kinds;
	struct kvm_vm *vm;
	volatile bool stop;
	int nthreads;
	pthread_t threads[PRESSURE_MAX_THREADS];
	/* What happened; read after pressure_stop(). */
	__u64 migrations, kicks, yields, fifo_bursts, busy_loops;
	bool fifo_denied;		/* SCHED_FIFO refused: plain busy threads */
	char note[SCHED_WHY_LEN];	/* the fallback's reason, if any */
	/* Tunables (defaults from pressure_start when 0). */
	__u32 migrate_us, kick_us, fifo_burst_us, fifo_gap_us;
	/*
	 * Optional, set after pressure_start(): the kick thread calls it
	 * right before each kick of vCPU index @idx (to see what the kick
	 * is about to rescue); false skips that kick.
	 */
	bool (*pre_kick)(struct pressure *p, int idx);
};

/* "preempt+migrate", "none": for logs. */
const char *pressure_name(unsigned int kinds, char *buf, size_t len);
/*
 * Starts @kinds against every vCPU thread of @vm (started before). Returns
 * 0, or -errno with @why (one CPU, pinning refused); then nothing runs.
 */
int pressure_start(struct pressure *p, struct kvm_vm *vm, unsigned int kinds,
		   char *why);
/* Sets the flag, joins every thread. Idempotent. */
void pressure_stop(struct pressure *p);

/* Per-VM halt polling (KVM_CAP_HALT_POLL): 0 = always block. */
int vm_set_halt_poll_ns(struct kvm_vm *vm, __u32 ns, char *why);
/* KVM_CAP_X86_DISABLE_EXITS(HLT): before the first vCPU is created. */
int vm_disable_hlt_exits(struct kvm_vm *vm, char *why);

/*
 * The kernel's thread id of @t, a thread of this process (it is renamed
 * to find it in /proc/self/task); -1 when not found.
 */
int thread_tid(pthread_t t);
/* The state letter of thread @tid of this process ('R', 'S', ...); 0 if gone. */
char thread_state(int tid);

/* Skips the subtest with @why when @r < 0 (needs test_util.h). */
#define sched_require(r, why) TEST_REQUIRE((r) >= 0, "%s", why)

#endif
