/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The behaviour source: whether a burst of interrupts reached a vCPU by
 * APICv/AVIC or by KVM's injection, from the vCPU's irq_injections
 * statistic. Independent of the trace: it cross-checks the observer.
 */
#ifndef APICV_X86_APICV_BURST_H
#define APICV_X86_APICV_BURST_H

#include <stdbool.h>

#include "test_util.h"

struct kvm_vcpu;

/*
 * Around a burst of fixed interrupts to @vcpu (guest self-IPIs, host MSIs):
 *	struct apicv_burst b;
 *	apicv_burst_begin(&b, vcpu);  ...send @n...  apicv_burst_end(&b, n);
 * irq_injections counts only legacy injection, so a burst that reached the
 * guest while it stays at zero went through APICv/AVIC. Only meaningful when
 * apicv_host()->enabled && !forced (check apicv_burst_meaningful()).
 */
struct apicv_burst {
	struct kvm_vcpu *vcpu;
	u64 injections_before;
	u64 injections;		/* the delta, after apicv_burst_end() */
	u64 sent;
};
enum apicv_delivery {
	APICV_DELIVERY_ACCELERATED,	/* none injected: APICv/AVIC */
	APICV_DELIVERY_INJECTED,	/* all (or more) injected by KVM */
	APICV_DELIVERY_MIXED,		/* some of each (state changed) */
};
bool apicv_burst_meaningful(void);
void apicv_burst_begin(struct apicv_burst *b, struct kvm_vcpu *vcpu);
enum apicv_delivery apicv_burst_end(struct apicv_burst *b, u64 sent);
const char *apicv_delivery_name(enum apicv_delivery d);

#endif /* APICV_X86_APICV_BURST_H */
