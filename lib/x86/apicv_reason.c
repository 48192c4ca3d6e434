// SPDX-License-Identifier: GPL-2.0
/*
 * The versioned inhibit reason table. See include/x86/apicv_reason.h.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "x86/apicv_host.h"
#include "x86/apicv_reason.h"

#define VENDOR_SVM	BIT(0)
#define VENDOR_VMX	BIT(1)

/*
 * One row per reason. Bits: @bit_61 through 6.2, @bit_63 from 6.3 on
 * (PHYSICAL_ID_ALIASED took bit 4 and pushed the rest up; 6.17 appended
 * PHYSICAL_ID_TOO_BIG at 12, and 7.2 still has these 13 at these bits),
 * -1 where that kernel has no such reason; @since: first kernel with the
 * reason at all. @vendors: who acts on it (VMX's and SVM's required
 * inhibit masks: a reason outside them is dropped before it is traced).
 * @sticky_until: the reason never clears on kernels before this one
 * (0: dynamic everywhere, ~0: sticky everywhere). @lazy_since: from this
 * kernel on, the bit is only kept in step with its cause while no other
 * reason is set (0: never).
 */
struct apicv_reason_info {
	const char *name;
	const char *alias;	/* the kernel's own spelling, if different */
	int bit_61, bit_63;
	unsigned int since;
	unsigned int vendors_61, vendors_63;
	unsigned int sticky_until;
	unsigned int lazy_since;
};

#define STICKY_ALWAYS	(~0u)

/*
 * 7.1 made IRQWIN a per-VM count of vCPUs waiting for an interrupt window
 * (cleared when the waiting vCPU injects, no longer at the window exit),
 * re-evaluated with an event of its own on every other reason's change,
 * and only counted, untraced, while another reason inhibits the VM.
 */
#define IRQWIN_COUNTED_SINCE	KVER(7, 1)

static const struct apicv_reason_info reason_table[APICV_NR_REASONS] = {
	[APICV_REASON_DISABLE] = { "DISABLE", "DISABLED", 0, 0, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, STICKY_ALWAYS },
	[APICV_REASON_HYPERV] = { "HYPERV", NULL, 1, 1, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_ABSENT] = { "ABSENT", NULL, 2, 2, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_BLOCKIRQ] = { "BLOCKIRQ", NULL, 3, 3, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_PHYSICAL_ID_ALIASED] = { "PHYSICAL_ID_ALIASED", NULL,
		-1, 4, KVER(6, 3),
		0, VENDOR_SVM | VENDOR_VMX, 0 },
	/* 6.1 sets it on a mismatch and never clears; 6.3 recomputes it. */
	[APICV_REASON_APIC_ID_MODIFIED] = { "APIC_ID_MODIFIED", NULL, 4, 5,
		KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, KVER(6, 3) },
	[APICV_REASON_APIC_BASE_MODIFIED] = { "APIC_BASE_MODIFIED", NULL, 5, 6,
		KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, STICKY_ALWAYS },
	[APICV_REASON_NESTED] = { "NESTED", NULL, 6, 7, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0 },
	[APICV_REASON_IRQWIN] = { "IRQWIN", NULL, 7, 8, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0, IRQWIN_COUNTED_SINCE },
	[APICV_REASON_PIT_REINJ] = { "PIT_REINJ", NULL, 8, 9, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0 },
	[APICV_REASON_SEV] = { "SEV", NULL, 9, 10, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, STICKY_ALWAYS },
	[APICV_REASON_LOGICAL_ID_ALIASED] = { "LOGICAL_ID_ALIASED", NULL,
		-1, 11, KVER(6, 3),
		0, VENDOR_SVM, 0 },
	/* Set when the vCPU is created, never cleared. */
	[APICV_REASON_PHYSICAL_ID_TOO_BIG] = { "PHYSICAL_ID_TOO_BIG", NULL,
		-1, 12, KVER(6, 17),
		0, VENDOR_SVM, STICKY_ALWAYS },
};

static bool valid_reason(enum apicv_reason r)
{
	return (int)r >= 0 && r < APICV_NR_REASONS;
}

int apicv_reason_bit_for(enum apicv_reason r, unsigned int kver)
{
	const struct apicv_reason_info *ri;

	if (!valid_reason(r))
		return -1;
	ri = &reason_table[r];
	if (kver < ri->since)
		return -1;
	return kver < KVER(6, 3) ? ri->bit_61 : ri->bit_63;
}

enum apicv_reason apicv_reason_by_bit_for(int bit, unsigned int kver)
{
	int r;

	for (r = 0; r < APICV_NR_REASONS; r++)
		if (bit >= 0 && apicv_reason_bit_for(r, kver) == bit)
			return r;
	return APICV_REASON_UNKNOWN;
}

/*
 * Bits learnt from the running kernel's own trace format (6.11+ prints the
 * reason names in bit order); -2 = not learnt, fall back to the table.
 */
static int learnt_bit[APICV_NR_REASONS];
static bool learnt_tried, learnt_any;

static void learn_from_format(const char *path)
{
	char buf[8192], *p, *q;
	int idx = 0, fd;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strstr(buf, "__print_flags");
	if (!p)
		return;
	/* Entries look like { ((1UL) << (APICV_INHIBIT_REASON_X)), "X" }. */
	while ((p = strchr(p, '{'))) {
		char name[64];
		int bit = idx, len;
		enum apicv_reason r;

		q = strchr(p, '}');
		if (!q)
			break;
		*q = 0;
		{
			char *sh = strstr(p, "<<"), *nm = strchr(p, '"'), *ne;

			if (!nm)
				break;
			if (sh) {
				sh += 2;
				while (*sh == ' ' || *sh == '(')
					sh++;
				if (isdigit((unsigned char)*sh))
					bit = atoi(sh);
			}
			ne = strchr(nm + 1, '"');
			if (!ne)
				break;
			len = MIN((int)(ne - nm - 1), (int)sizeof(name) - 1);
			memcpy(name, nm + 1, len);
			name[len] = 0;
		}
		r = apicv_reason_by_name(name);
		if (valid_reason(r)) {
			learnt_bit[r] = bit;
			learnt_any = true;
		}
		idx++;
		p = q + 1;
	}
}

static void learn_bits(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/kvm/kvm_apicv_inhibit_changed/format",
		"/sys/kernel/debug/tracing/events/kvm/kvm_apicv_inhibit_changed/format",
	};
	unsigned int i;
	int r;

	if (learnt_tried)
		return;
	learnt_tried = true;
	for (r = 0; r < APICV_NR_REASONS; r++)
		learnt_bit[r] = -2;
	for (i = 0; i < ARRAY_SIZE(paths) && !learnt_any; i++)
		learn_from_format(paths[i]);
	if (learnt_any)
		for (r = 0; r < APICV_NR_REASONS; r++)
			if (learnt_bit[r] == -2)
				learnt_bit[r] = -1;
}

bool apicv_reason_bits_from_kernel(void)
{
	learn_bits();
	return learnt_any;
}

int apicv_reason_bit(enum apicv_reason r)
{
	if (!valid_reason(r))
		return -1;
	learn_bits();
	if (learnt_any)
		return learnt_bit[r];
	return apicv_reason_bit_for(r, kernel_version());
}

u64 apicv_reason_mask(enum apicv_reason r)
{
	int bit = apicv_reason_bit(r);

	return bit < 0 ? 0 : BIT_ULL(bit);
}

enum apicv_reason apicv_reason_by_bit(int bit)
{
	int r;

	for (r = 0; r < APICV_NR_REASONS; r++)
		if (bit >= 0 && apicv_reason_bit(r) == bit)
			return r;
	return APICV_REASON_UNKNOWN;
}

bool apicv_reason_honoured(enum apicv_reason r)
{
	const struct apicv_host *h = apicv_host();
	const struct apicv_reason_info *ri;
	unsigned int v;

	if (apicv_reason_bit(r) < 0)
		return false;
	ri = &reason_table[r];
	v = h->kver < KVER(6, 3) ? ri->vendors_61 : ri->vendors_63;
	return (h->amd && (v & VENDOR_SVM)) || (h->intel && (v & VENDOR_VMX));
}

bool apicv_reason_sticky(enum apicv_reason r)
{
	if (!valid_reason(r))
		return false;
	return apicv_host()->kver < reason_table[r].sticky_until;
}

bool apicv_reason_lazy(enum apicv_reason r)
{
	unsigned int since;

	if (!valid_reason(r) || !apicv_reason_honoured(r))
		return false;
	since = reason_table[r].lazy_since;
	return since && apicv_host()->kver >= since;
}

bool apicv_irqwin_trails_for(unsigned int kver)
{
	return kver >= IRQWIN_COUNTED_SINCE;
}

bool apicv_irqwin_trails(void)
{
	return apicv_irqwin_trails_for(apicv_host()->kver);
}

u64 apicv_reason_companions(enum apicv_reason r)
{
	switch (r) {
	case APICV_REASON_PHYSICAL_ID_ALIASED:
		/*
		 * The ID change itself (APIC_ID_MODIFIED), and from 6.3 an
		 * aliased physical map disables the optimized map as a
		 * whole, which SVM also reports as LOGICAL_ID_ALIASED
		 * (measured on 6.12).
		 */
		return (apicv_reason_honoured(APICV_REASON_APIC_ID_MODIFIED) ?
			apicv_reason_mask(APICV_REASON_APIC_ID_MODIFIED) : 0) |
		       (apicv_reason_honoured(APICV_REASON_LOGICAL_ID_ALIASED) ?
			apicv_reason_mask(APICV_REASON_LOGICAL_ID_ALIASED) : 0);
	default:
		return 0;
	}
}

const char *apicv_reason_name(enum apicv_reason r)
{
	return valid_reason(r) ? reason_table[r].name : "?";
}

enum apicv_reason apicv_reason_by_name(const char *name)
{
	static const char prefix[] = "APICV_INHIBIT_REASON_";
	int r;

	if (!strncasecmp(name, prefix, sizeof(prefix) - 1))
		name += sizeof(prefix) - 1;
	for (r = 0; r < APICV_NR_REASONS; r++) {
		const struct apicv_reason_info *ri = &reason_table[r];

		if (!strcasecmp(name, ri->name) ||
		    (ri->alias && !strcasecmp(name, ri->alias)))
			return r;
	}
	return APICV_REASON_UNKNOWN;
}

const char *apicv_mask_str(u64 mask, char *buf, size_t len)
{
	size_t used = 0;
	int bit;

	if (!len)
		return buf;
	buf[0] = 0;
	if (!mask) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (bit = 0; bit < 64 && used < len; bit++) {
		enum apicv_reason r;

		if (!(mask & BIT_ULL(bit)))
			continue;
		r = apicv_reason_by_bit(bit);
		if (valid_reason(r))
			used += snprintf(buf + used, len - used, "%s%s",
					 used ? "|" : "", apicv_reason_name(r));
		else
			used += snprintf(buf + used, len - used, "%sbit%d",
					 used ? "|" : "", bit);
	}
	return buf;
}
