// SPDX-License-Identifier: GPL-2.0
/* The IPI oracle; see include/x86/apic_oracle.h for the rules it encodes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "x86/apic.h"
#include "x86/apic_oracle.h"

void apic_cfg_x2apic(struct apic_cfg *cfg, u32 id)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->present = true;
	cfg->mode = APIC_MODE_X2APIC;
	cfg->sw_enabled = true;
	cfg->id = id;
	cfg->ldr = x2apic_logical_id(id);
}

void apic_cfg_xapic_flat(struct apic_cfg *cfg, u8 id, u8 ldr_bits)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->present = true;
	cfg->mode = APIC_MODE_XAPIC;
	cfg->sw_enabled = true;
	cfg->id = id;
	cfg->ldr = (u32)ldr_bits << 24;
	cfg->dfr = APIC_DFR_FLAT;
}

void apic_cfg_xapic_cluster(struct apic_cfg *cfg, u8 id, u8 cluster, u8 bits)
{
	apic_cfg_xapic_flat(cfg, id, 0);
	cfg->ldr = xapic_cluster_ldr(cluster, bits);
	cfg->dfr = APIC_DFR_CLUSTER;
}

static bool match_physical(const struct apic_cfg *c, u32 dest)
{
	if (c->mode == APIC_MODE_X2APIC)
		return dest == 0xffffffffu || dest == c->id;
	dest &= 0xff;
	return dest == 0xff || dest == (c->id & 0xff);
}

static bool match_logical(const struct apic_cfg *c, u32 dest)
{
	u32 ldr;

	if (c->mode == APIC_MODE_X2APIC) {
		if (dest == 0xffffffffu)
			return true;
		return (dest >> 16) == (c->ldr >> 16) &&
		       (dest & c->ldr & 0xffff);
	}
	dest &= 0xff;
	ldr = c->ldr >> 24;
	if ((c->dfr >> 28) == 0xf)			/* flat */
		return dest & ldr;
	/* cluster: 0xff is the broadcast; otherwise the high nibble names
	 * one cluster, 0xf included (see the header) */
	if (dest == 0xff)
		return true;
	if ((dest >> 4) != (ldr >> 4))
		return false;
	return dest & ldr & 0xf;
}

bool apic_oracle_match(const struct apic_cfg *c, u32 dest, bool logical)
{
	if (!c->present || c->mode == APIC_MODE_DISABLED)
		return false;
	return logical ? match_logical(c, dest) : match_physical(c, dest);
}

/* What a software-disabled APIC still accepts. */
static bool accepts(const struct apic_cfg *c, u32 dm)
{
	if (c->sw_enabled)
		return true;
	return dm == APIC_DM_NMI || dm == APIC_DM_INIT ||
	       dm == APIC_DM_STARTUP || dm == APIC_DM_SMI;
}

int apic_oracle(const struct apic_cfg *cfg, int n, int sender, u32 dest,
		u32 low, unsigned int flags, struct apic_targets *out)
{
	u32 dm = low & 0x700, sh = low & APIC_SHORTHAND_MASK;
	bool logical = low & APIC_DEST_LOGICAL;
	enum apic_mode mode = APIC_MODE_DISABLED;
	int i, best = 256;

	memset(out, 0, sizeof(*out));
	if (n > APIC_ORACLE_MAX_VCPUS || sender < 0 || sender >= n ||
	    !cfg[sender].present || cfg[sender].mode == APIC_MODE_DISABLED)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!cfg[i].present || cfg[i].mode == APIC_MODE_DISABLED)
			continue;
		if (mode != APIC_MODE_DISABLED && cfg[i].mode != mode)
			return -EINVAL;
		mode = cfg[i].mode;
	}
	if (dm == APIC_DM_EXTINT || (sh == APIC_DEST_SELF && dm != APIC_DM_FIXED))
		return -EINVAL;		/* reserved / invalid combinations */
	if (mode == APIC_MODE_XAPIC)
		dest &= 0xff;
	for (i = 0; i < n; i++) {
		const struct apic_cfg *c = &cfg[i];
		bool hit;

		if (!c->present || c->mode == APIC_MODE_DISABLED)
			continue;
		switch (sh) {
		case APIC_DEST_SELF:
			hit = i == sender;
			break;
		case APIC_DEST_ALLINC:
			hit = true;
			break;
		case APIC_DEST_ALLBUT:
			hit = i != sender;
			break;
		default:
			hit = apic_oracle_match(c, dest, logical);
		}
		if (hit && accepts(c, dm))
			targets_set(out, i);
	}
	if (dm != APIC_DM_LOWEST || !targets_count(out))
		return 0;
	out->exactly_one = true;
	if (!(flags & APIC_ORACLE_STRICT_PRIORITY))
		return 0;
	for (i = 0; i < n; i++)
		if (targets_test(out, i) && (cfg[i].ppr >> 4) < best)
			best = cfg[i].ppr >> 4;
	for (i = 0; i < n; i++)
		if (targets_test(out, i) && (cfg[i].ppr >> 4) != best)
			targets_clear(out, i);
	return 0;
}

/* The slots of the pre-6.3 map; -1 empty. */
struct aliased_map {
	int phys[256];
	int logical[16][8];	/* [cluster][bit]; flat: cluster 0 */
	u32 dfr;		/* 0: no vCPU in the logical map */
};

/* Fills @m from @cfg; returns false for the slow path (mixed flat/cluster). */
static bool aliased_map_build(const struct apic_cfg *cfg, int n,
			      struct aliased_map *m)
{
	int i;

	memset(m, 0xff, sizeof(*m));
	m->dfr = 0;
	for (i = 0; i < n; i++) {
		const struct apic_cfg *c = &cfg[i];
		u8 lid = c->ldr >> 24;

		if (!c->present || c->mode != APIC_MODE_XAPIC)
			continue;
		if (m->phys[c->id & 0xff] < 0)
			m->phys[c->id & 0xff] = i;
		if (!c->sw_enabled || !lid)
			continue;
		if (m->dfr && m->dfr != c->dfr)
			return false;		/* mixed flat/cluster */
		m->dfr = c->dfr;
		if (c->dfr != APIC_DFR_CLUSTER)
			m->logical[0][__builtin_ctz(lid)] = i;
		else if (lid & 0xf)
			m->logical[lid >> 4][__builtin_ctz(lid & 0xf)] = i;
	}
	return true;
}

/* The @k-th (from 0) set bit of @mask. */
static int nth_bit(u32 mask, u32 k)
{
	while (k--)
		mask &= mask - 1;
	return __builtin_ctz(mask);
}

int apic_oracle_aliased_map(const struct apic_cfg *cfg, int n, int sender,
			    u32 dest, u32 low, bool vector_hashing,
			    struct apic_targets *out)
{
	u32 dm = low & 0x700, mask;
	struct aliased_map m;
	const int *row;
	int r, b;

	r = apic_oracle(cfg, n, sender, dest, low, 0, out);
	if (r || (low & APIC_SHORTHAND_MASK) || (dest & 0xff) == 0xff ||
	    cfg[sender].mode != APIC_MODE_XAPIC)
		return r;
	if (!aliased_map_build(cfg, n, &m))
		return 0;
	if (low & APIC_DEST_LOGICAL) {
		if (!m.dfr)
			return 0;		/* no logical map: slow path */
		row = m.dfr == APIC_DFR_CLUSTER ? m.logical[(dest >> 4) & 0xf] :
						  m.logical[0];
		mask = m.dfr == APIC_DFR_CLUSTER ? dest & 0xf : dest & 0xff;
	} else {
		row = &m.phys[dest & 0xff];
		mask = 1;
	}
	memset(out, 0, sizeof(*out));
	if (dm == APIC_DM_LOWEST && mask && vector_hashing) {
		b = nth_bit(mask, (low & 0xff) % __builtin_popcount(mask));
		mask = 1u << b;
	}
	for (b = 0; b < 8; b++)
		if ((mask & (1u << b)) && row[b] >= 0 &&
		    accepts(&cfg[row[b]], dm))
			targets_set(out, row[b]);
	out->exactly_one = dm == APIC_DM_LOWEST && targets_count(out);
	return 0;
}

int targets_count(const struct apic_targets *t)
{
	int i, n = 0;

	for (i = 0; i < APIC_ORACLE_WORDS; i++)
		n += __builtin_popcountll(t->bits[i]);
	return n;
}

const char *targets_str(const struct apic_targets *t, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < APIC_ORACLE_MAX_VCPUS && o < len; i++)
		if (targets_test(t, i))
			o += snprintf(buf + o, len - o, "%s%d", o ? " " : "", i);
	if (!o)
		snprintf(buf, len, "-");
	return buf;
}

const char *apic_icr_str(u32 dest, u32 low, char *buf, size_t len)
{
	static const char *const dms[] = {
		"fixed", "lowest", "smi", "dm3", "nmi", "init", "sipi", "extint",
	};
	static const char *const shs[] = { "", " self", " all", " all-but-self" };

	snprintf(buf, len, "%s %s%s dest=0x%x vec=0x%02x",
		 low & APIC_DEST_LOGICAL ? "logical" : "physical",
		 dms[(low >> 8) & 7], shs[(low >> 18) & 3], dest, low & 0xff);
	return buf;
}
