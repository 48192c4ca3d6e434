// SPDX-License-Identifier: GPL-2.0
/*
 * The irq_injections behaviour source. See include/x86/apicv_burst.h.
 */
#include <string.h>

#include "stats.h"
#include "vcpu.h"
#include "x86/apicv_burst.h"
#include "x86/apicv_host.h"

bool apicv_burst_meaningful(void)
{
	const struct apicv_host *h = apicv_host();

	return h->enabled && !h->forced;
}

void apicv_burst_begin(struct apicv_burst *b, struct kvm_vcpu *vcpu)
{
	memset(b, 0, sizeof(*b));
	b->vcpu = vcpu;
	b->injections_before = vcpu_stat(vcpu, "irq_injections");
}

enum apicv_delivery apicv_burst_end(struct apicv_burst *b, u64 sent)
{
	b->sent = sent;
	b->injections = vcpu_stat(b->vcpu, "irq_injections") -
			b->injections_before;
	if (b->injections == 0)
		return APICV_DELIVERY_ACCELERATED;
	if (b->injections >= sent)
		return APICV_DELIVERY_INJECTED;
	return APICV_DELIVERY_MIXED;
}

const char *apicv_delivery_name(enum apicv_delivery d)
{
	switch (d) {
	case APICV_DELIVERY_ACCELERATED:
		return "accelerated";
	case APICV_DELIVERY_INJECTED:
		return "injected";
	case APICV_DELIVERY_MIXED:
		return "mixed";
	}
	return "?";
}
