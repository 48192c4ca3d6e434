/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IPI oracle: which vCPUs must accept an ICR write, computed from the
 * architecture (SDM vol. 3 ch. 10/11, APM vol. 2 ch. 16) on a described
 * configuration. Pure host code, no KVM: every IPI test compares what its
 * targets counted with apic_oracle().
 *
 * Where KVM intentionally departs from the letter of the manuals the
 * difference lives here, in one place:
 *  - lowest-priority delivery: the manuals pick the target with the lowest
 *    arbitration/processor priority; KVM picks one matching vCPU by vector
 *    hashing or its own round-robin arbitration counter and ignores TPR/PPR.
 *    The oracle therefore returns the whole candidate set with
 *    exactly_one set; APIC_ORACLE_STRICT_PRIORITY narrows the set to the
 *    lowest PPR class as the SDM describes (not what KVM does).
 *  - xAPIC cluster model: only destination 0xff is a broadcast. A
 *    destination in cluster 0xf with fewer than four member bits is not
 *    given a meaning by the SDM (cluster 15 is the broadcast cluster of the
 *    old APIC bus); KVM and the oracle match it against cluster 15 only.
 *  - mixed modes (an x2APIC sender and xAPIC targets) are not modelled:
 *    every present vCPU must be in the same mode, apic_oracle() returns
 *    -EINVAL otherwise.
 */
#ifndef APICV_X86_APIC_ORACLE_H
#define APICV_X86_APIC_ORACLE_H

#include "test_util.h"

#define APIC_ORACLE_MAX_VCPUS	320
#define APIC_ORACLE_WORDS	((APIC_ORACLE_MAX_VCPUS + 63) / 64)

enum apic_mode {
	APIC_MODE_DISABLED,	/* APICBASE.EN = 0: accepts nothing */
	APIC_MODE_XAPIC,
	APIC_MODE_X2APIC,
};

struct apic_cfg {
	bool present;		/* false: a hole in the vCPU index space */
	enum apic_mode mode;
	bool sw_enabled;	/* SPIV bit 8; off: fixed/lowest dropped */
	u32 id;			/* xAPIC: 8-bit ID; x2APIC: 32-bit ID */
	u32 ldr;		/* LDR register value (x2APIC: derived from id) */
	u32 dfr;		/* xAPIC DFR: APIC_DFR_FLAT or APIC_DFR_CLUSTER */
	u8 ppr;			/* only for APIC_ORACLE_STRICT_PRIORITY */
};

struct apic_targets {
	u64 bits[APIC_ORACLE_WORDS];
	bool exactly_one;	/* lowest priority: one of bits, exactly once */
};

#define APIC_ORACLE_STRICT_PRIORITY	BIT(0)

/* Fills @cfg for a vCPU in x2APIC mode with x2APIC ID @id (LDR derived). */
void apic_cfg_x2apic(struct apic_cfg *cfg, u32 id);
/* xAPIC flat: LDR bits 31:24 = @ldr_bits. */
void apic_cfg_xapic_flat(struct apic_cfg *cfg, u8 id, u8 ldr_bits);
/* xAPIC cluster: LDR 31:28 = @cluster, 27:24 = @bits. */
void apic_cfg_xapic_cluster(struct apic_cfg *cfg, u8 id, u8 cluster, u8 bits);

/* True when a vCPU of mode/ID/LDR/DFR @c matches destination @dest. */
bool apic_oracle_match(const struct apic_cfg *c, u32 dest, bool logical);
/*
 * The vCPUs that must accept @low/@dest written to ICR by vCPU @sender,
 * among @n vCPUs described by @cfg. Returns 0, or -EINVAL for what the
 * oracle does not model (mixed modes, n too large, reserved encodings).
 */
int apic_oracle(const struct apic_cfg *cfg, int n, int sender, u32 dest,
		u32 low, unsigned int flags, struct apic_targets *out);

/*
 * What KVM before 6.3 delivers where xAPIC IDs or LDRs alias (the known
 * bugs KNOWN_BUG_XAPIC_ID_ALIAS and _LDR_ALIAS). Its APIC map holds one
 * vCPU per 8-bit physical ID, the lowest-numbered one with that ID, and
 * one per logical-ID bit: a software-enabled vCPU sits only in the slot of
 * the lowest bit of its LDR, and a later vCPU claiming that slot replaces
 * an earlier one. An IPI the map can route goes to the occupants of the
 * slots its destination names. Shorthands, broadcasts (0xff) and a map
 * mixing flat and cluster vCPUs take the slow path, which is
 * architectural (the apic_oracle() answer). Lowest priority: with
 * @vector_hashing (KVM's default) the vector picks one bit of the
 * destination mask, occupied or not, and an empty slot drops the IPI;
 * without it, one of the occupied slots. Same arguments and return as
 * apic_oracle() (no flags); x2APIC configurations get its answer.
 */
int apic_oracle_aliased_map(const struct apic_cfg *cfg, int n, int sender,
			    u32 dest, u32 low, bool vector_hashing,
			    struct apic_targets *out);

static inline bool targets_test(const struct apic_targets *t, int i)
{
	return t->bits[i / 64] & BIT_ULL(i % 64);
}

static inline void targets_set(struct apic_targets *t, int i)
{
	t->bits[i / 64] |= BIT_ULL(i % 64);
}

static inline void targets_clear(struct apic_targets *t, int i)
{
	t->bits[i / 64] &= ~BIT_ULL(i % 64);
}

int targets_count(const struct apic_targets *t);
/* "0 3 17" (or "-") into @buf. */
const char *targets_str(const struct apic_targets *t, char *buf, size_t len);
/* Describes an ICR as "logical fixed dest=0x10003 vec=0x31" into @buf. */
const char *apic_icr_str(u32 dest, u32 low, char *buf, size_t len);

#endif
