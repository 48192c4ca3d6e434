/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inhibit flippers: host threads that each pull one APICv/AVIC inhibit
 * reason (x86/apicv_pull.h) on and off as fast as they can while a VM's
 * vCPUs run, then leave it on or off as the caller chose. Each flipper
 * times its operations (one that never returns is a failure) and remembers
 * what it did, so the caller can say which inhibits the flippers leave
 * set (apicv_flippers_mask()).
 *
 * A reader of the inhibit trace can throttle them: after each burst of
 * APICV_FLIP_BURST flips a flipper waits until the reader reports the
 * trace drained (apicv_flippers_drained()), so no event is overwritten
 * and the reader is never outrun for good.
 */
#ifndef APICV_X86_APICV_FLIPPER_H
#define APICV_X86_APICV_FLIPPER_H

#include <pthread.h>
#include <stdbool.h>

#include "test_util.h"
#include "x86/apicv.h"

#define APICV_FLIPPERS_MAX	8
#define APICV_FLIP_BURST	64

struct kvm_vm;
struct apicv_pull;
struct apicv_flippers;

struct apicv_flipper {
	struct apicv_flippers *set;
	struct apicv_pull *pull;
	enum apicv_reason reason;
	pthread_t thread;
	bool final_on;		/* the state its last operation leaves */
	bool ever_on;
	u64 flips;		/* on+off pairs done */
	u64 op_start;		/* now_ns() inside an operation, else 0 */
	u64 op_max_ns, op_total_ns, ops;
};

/* A set of flippers on one VM; zeroed before the first add. */
struct apicv_flippers {
	struct apicv_flipper fl[APICV_FLIPPERS_MAX];
	int n;
	bool running, throttled;
	volatile bool stop;
	u64 drained_gen;
};

/*
 * Adds a flipper pulling @r in @vm (apicv_pull_new(): creates the spare
 * vCPU or PIT it needs, skips if this host cannot pull @r), with @r off.
 * When stopped, it leaves @r on if @final_on.
 */
struct apicv_flipper *apicv_flippers_add(struct apicv_flippers *s,
					 struct kvm_vm *vm,
					 enum apicv_reason r, bool final_on);
/* From the next burst on, pause until apicv_flippers_drained(). */
void apicv_flippers_throttle(struct apicv_flippers *s);
/* The trace reader has drained the trace: paused flippers go on. */
void apicv_flippers_drained(struct apicv_flippers *s);
void apicv_flippers_start(struct apicv_flippers *s);
/* Fails the test when an operation has not returned within @stall_ms. */
void apicv_flippers_check(struct apicv_flippers *s, u64 stall_ms);
/* Stops and joins the threads, each leaving its reason as final_on. */
void apicv_flippers_stop(struct apicv_flippers *s);
/* One line per flipper: flips/s over @ns, operation mean/max, final state. */
void apicv_flippers_log(const struct apicv_flippers *s, u64 ns);
/*
 * The inhibits the flippers' last operations leave set on this kernel
 * (a sticky reason stays once pulled; one reason from two flippers is set
 * while either holds it), and in *@driven the bits they drive: reasons
 * this vendor does not honour count in neither.
 */
u64 apicv_flippers_mask(const struct apicv_flippers *s, u64 *driven);
/* Some flipper flipped an honoured reason that is not sticky. */
bool apicv_flippers_dynamic(const struct apicv_flippers *s);
/* Stops them and frees the pulls (the spares stay in the VM). */
void apicv_flippers_free(struct apicv_flippers *s);

#endif /* APICV_X86_APICV_FLIPPER_H */
