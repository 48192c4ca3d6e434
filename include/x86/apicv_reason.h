/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The APICv/AVIC inhibit reasons and the versioned table of what each
 * means on the running kernel: its bit in the inhibit mask, whether this
 * vendor honours it, whether it is sticky and whether its bit may lag
 * behind its cause. Bit numbers are not ABI (they moved in 6.3): tests
 * name reasons, never bits. The table is static, checked against kernel
 * sources through APICV_TABLE_CHECKED_THROUGH; on 6.11+ the bits the
 * kernel prints in its trace format override it. Never fails.
 */
#ifndef APICV_X86_APICV_REASON_H
#define APICV_X86_APICV_REASON_H

#include <stdbool.h>
#include <stddef.h>

#include "kvm_ioctl.h"
#include "test_util.h"

enum apicv_reason {
	APICV_REASON_DISABLE,
	APICV_REASON_HYPERV,
	APICV_REASON_ABSENT,
	APICV_REASON_BLOCKIRQ,
	APICV_REASON_PHYSICAL_ID_ALIASED,
	APICV_REASON_APIC_ID_MODIFIED,
	APICV_REASON_APIC_BASE_MODIFIED,
	APICV_REASON_NESTED,
	APICV_REASON_IRQWIN,
	APICV_REASON_PIT_REINJ,
	APICV_REASON_SEV,
	APICV_REASON_LOGICAL_ID_ALIASED,
	APICV_REASON_PHYSICAL_ID_TOO_BIG,
	APICV_NR_REASONS,
	APICV_REASON_UNKNOWN = -1,	/* a bit or name this table lacks */
};

/*
 * The newest kernel whose source the table was checked against (bits,
 * names, vendors, stickiness, trace format). On a newer kernel the newest
 * layout applies, and the bits the kernel prints in its trace format
 * override it (table_matches_kernel compares the two).
 */
#define APICV_TABLE_CHECKED_THROUGH	KVER(7, 2)

/*
 * True when the bits come from the running kernel itself: 6.11+ prints the
 * reason names in bit order in the tracepoint's format, which then
 * overrides the static table (needs tracefs mounted and readable).
 */
bool apicv_reason_bits_from_kernel(void);
/* The reason's bit in the inhibit mask on this kernel, -1 if it has none. */
int apicv_reason_bit(enum apicv_reason r);
/* The mask bit as a u64 (0 when the kernel has no such reason). */
u64 apicv_reason_mask(enum apicv_reason r);
/* This vendor's KVM module acts on (and records) the reason. */
bool apicv_reason_honoured(enum apicv_reason r);
/* Once set, the reason stays set for the VM's life on this kernel. */
bool apicv_reason_sticky(enum apicv_reason r);
/*
 * The reason's bit may lag behind its cause on this kernel. From 7.1 KVM
 * counts the vCPUs waiting for an interrupt window per VM and, while
 * another reason inhibits the VM, only moves that count: IRQWIN's bit is
 * not set when a window is requested then, nor cleared when the last one
 * closes, until the next change of any other honoured reason re-evaluates
 * it. The VM is never active while a window is pending: a lazy bit is
 * exact whenever it is the only reason, and may be stale otherwise.
 */
bool apicv_reason_lazy(enum apicv_reason r);
/*
 * From 7.1 every change of an honoured reason other than IRQWIN is traced
 * as two events: the reason's own, then IRQWIN's re-evaluation ("set" while
 * a window is pending, else "cleared", usually leaving the mask as it was).
 * The second one fires on VMX too, where IRQWIN's bit is never set; VM
 * creation and IRQWIN's own changes stay single events. So a reason the
 * vendor does not honour may still be named by "cleared" events there:
 * assert on masks (apicv_observer_seen()), never on the events' names or
 * counts.
 */
bool apicv_irqwin_trails(void);
bool apicv_irqwin_trails_for(unsigned int kver);
/*
 * Reasons the kernel sets along with @r when @r is pulled the only way
 * userspace can (PHYSICAL_ID_ALIASED: giving a vCPU another vCPU's xAPIC
 * ID also modifies its ID): a mask, for "only these bits changed".
 */
u64 apicv_reason_companions(enum apicv_reason r);
/* "PIT_REINJ" etc.; "?" for values outside the table. */
const char *apicv_reason_name(enum apicv_reason r);
/* Name ("PIT_REINJ", case-insensitive, optional APICV_INHIBIT_REASON_). */
enum apicv_reason apicv_reason_by_name(const char *name);
/* The reason that owns @bit on this kernel, APICV_REASON_UNKNOWN if none. */
enum apicv_reason apicv_reason_by_bit(int bit);
/* "ABSENT|PIT_REINJ" (or "0") for @mask on this kernel, into @buf. */
const char *apicv_mask_str(u64 mask, char *buf, size_t len);

/*
 * Table overrides for the parser and the unit test: the bit layout of
 * kernel @kver (KVER(maj, min)), independent of the running kernel.
 */
int apicv_reason_bit_for(enum apicv_reason r, unsigned int kver);
enum apicv_reason apicv_reason_by_bit_for(int bit, unsigned int kver);

#endif /* APICV_X86_APICV_REASON_H */
