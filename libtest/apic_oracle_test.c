// SPDX-License-Identifier: GPL-2.0
/*
 * The IPI oracle (x86/apic_oracle.h) on its own, no KVM: a table of
 * destinations with the vCPUs the SDM says accept them, aliased IDs and
 * LDRs, the pre-6.3 map of the known alias bugs, strict priority, and
 * what the oracle refuses to model.
 */
#include <errno.h>

#include "harness_main.h"
#include "x86/apic.h"
#include "x86/apic_oracle.h"

FAULT(oracle_table_off, "global.oracle_table", "x2 phys unicast: got 2",
      "the table expects no target for its first case");

enum cfg_kind { CFG_X2APIC, CFG_XAPIC_FLAT, CFG_XAPIC_CLUSTER };

struct oracle_case {
	const char *what;
	int n, sender;
	enum cfg_kind kind;
	u32 dest, low;
	u64 want;		/* bitmask of vCPUs 0..63 */
	bool one;
};

#define FX(l, sh) (0x40 | APIC_DM_FIXED | ((l) ? APIC_DEST_LOGICAL : 0) | \
		   (sh) | APIC_INT_ASSERT)
#define LP (0x40 | APIC_DM_LOWEST | APIC_DEST_LOGICAL | APIC_INT_ASSERT)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const struct oracle_case oracle_cases[] = {
	{ "x2 phys unicast", 4, 0, CFG_X2APIC, 2, FX(false, 0), 0x4 },
	{ "x2 phys absent", 4, 0, CFG_X2APIC, 9, FX(false, 0), 0 },
	{ "x2 phys 0xff is not a broadcast", 8, 0, CFG_X2APIC, 0xff, FX(false, 0), 0 },
	{ "x2 phys broadcast", 3, 1, CFG_X2APIC, 0xffffffff, FX(false, 0), 0x7 },
	{ "x2 logical cluster 0 bit 0", 17, 3, CFG_X2APIC, 0x00001, FX(true, 0), 0x1 },
	{ "x2 logical cluster 1 bit 0", 17, 3, CFG_X2APIC, 0x10001, FX(true, 0), 1ull << 16 },
	{ "x2 logical cluster 1 names absent", 17, 0, CFG_X2APIC, 0x1ffff, FX(true, 0), 1ull << 16 },
	{ "x2 logical cluster 0 multi", 33, 0, CFG_X2APIC, 0x0a005, FX(true, 0), 0xa005 },
	{ "x2 logical cluster 2", 33, 0, CFG_X2APIC, 0x2ffff, FX(true, 0), 1ull << 32 },
	{ "x2 logical absent cluster", 33, 0, CFG_X2APIC, 0x3ffff, FX(true, 0), 0 },
	{ "x2 logical broadcast", 20, 5, CFG_X2APIC, 0xffffffff, FX(true, 0), 0xfffff },
	{ "x2 self", 5, 3, CFG_X2APIC, 0x1234, FX(false, APIC_DEST_SELF), 0x8 },
	{ "x2 all", 5, 3, CFG_X2APIC, 0, FX(false, APIC_DEST_ALLINC), 0x1f },
	{ "x2 all but self", 5, 3, CFG_X2APIC, 0, FX(true, APIC_DEST_ALLBUT), 0x17 },
	{ "x2 lowest", 16, 0, CFG_X2APIC, 0x00f0, LP, 0xf0, true },
	{ "flat unicast bit", 8, 0, CFG_XAPIC_FLAT, 0x10, FX(true, 0), 0x10 },
	{ "flat multi", 8, 0, CFG_XAPIC_FLAT, 0x81, FX(true, 0), 0x81 },
	{ "flat absent bit", 4, 0, CFG_XAPIC_FLAT, 0x30, FX(true, 0), 0 },
	{ "flat 0xff", 6, 2, CFG_XAPIC_FLAT, 0xff, FX(true, 0), 0x3f },
	{ "xapic phys 0xff broadcast", 6, 2, CFG_XAPIC_FLAT, 0xff, FX(false, 0), 0x3f },
	{ "xapic phys unicast", 6, 2, CFG_XAPIC_FLAT, 0x5, FX(false, 0), 0x20 },
	{ "xapic phys high bits ignored", 6, 2, CFG_XAPIC_FLAT, 0x105, FX(false, 0), 0x20 },
	{ "cluster 1 bit 1", 12, 0, CFG_XAPIC_CLUSTER, 0x12, FX(true, 0), 0x20 },
	{ "cluster 2 all", 12, 0, CFG_XAPIC_CLUSTER, 0x2f, FX(true, 0), 0xf00 },
	{ "cluster 0xff broadcast", 12, 0, CFG_XAPIC_CLUSTER, 0xff, FX(true, 0), 0xfff },
	{ "cluster 15 is no wildcard", 12, 0, CFG_XAPIC_CLUSTER, 0xf1, FX(true, 0), 0 },
	{ "cluster absent cluster", 12, 0, CFG_XAPIC_CLUSTER, 0x3f, FX(true, 0), 0 },
	{ "cluster lowest", 12, 0, CFG_XAPIC_CLUSTER, 0x03, LP, 0x3, true },
};
#pragma GCC diagnostic pop

static void oracle_cfg(struct apic_cfg *cfg, int n, enum cfg_kind kind)
{
	int i;

	for (i = 0; i < n; i++) {
		if (kind == CFG_X2APIC)
			apic_cfg_x2apic(&cfg[i], i);
		else if (kind == CFG_XAPIC_FLAT)
			apic_cfg_xapic_flat(&cfg[i], i, 1u << i);
		else
			apic_cfg_xapic_cluster(&cfg[i], i, i / 4, 1u << (i % 4));
	}
}

TEST(oracle_table)
{
	static struct apic_cfg cfg[APIC_ORACLE_MAX_VCPUS];
	struct apic_targets t;
	char a[512];
	size_t k;

	for (k = 0; k < ARRAY_SIZE(oracle_cases); k++) {
		const struct oracle_case *c = &oracle_cases[k];
		u64 want = c->want;

		if (fault_oracle_table_off && k == 0)
			want = 0;
		oracle_cfg(cfg, c->n, c->kind);
		ASSERT_EQ(0, apic_oracle(cfg, c->n, c->sender, c->dest, c->low,
					 0, &t));
		EXPECT_EQ(want, t.bits[0]) {
			TH_LOG("%s: got %s", c->what, targets_str(&t, a, sizeof(a)));
		}
		EXPECT_EQ(c->one, t.exactly_one) {
			TH_LOG("%s", c->what);
		}
		for (size_t w = 1; w < APIC_ORACLE_WORDS; w++)
			EXPECT_EQ(0, t.bits[w]);
	}
	/* Aliases: every matching vCPU, software-disabled ones drop fixed. */
	oracle_cfg(cfg, 4, CFG_XAPIC_FLAT);
	cfg[2].id = 1;
	cfg[3].ldr = 0x06u << 24;		/* multi-bit LDR */
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 1, FX(false, 0), 0, &t));
	EXPECT_EQ(0x6, t.bits[0]);
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4, FX(true, 0), 0, &t));
	EXPECT_EQ(0xc, t.bits[0]);
	cfg[3].sw_enabled = false;
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4, FX(true, 0), 0, &t));
	EXPECT_EQ(0x4, t.bits[0]);
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x4,
				 apic_icr_low(0, APIC_DM_NMI, true, 0), 0, &t));
	EXPECT_EQ(0xc, t.bits[0]);
	/* The pre-6.3 map (what Debian's 6.1 was seen to deliver). */
	oracle_cfg(cfg, 4, CFG_XAPIC_FLAT);
	cfg[2].id = 1;
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 3, 1, FX(false, 0), true, &t));
	EXPECT_EQ(0x2, t.bits[0]);		/* the lowest-numbered alias */
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 3, 0xff, FX(false, 0), true, &t));
	EXPECT_EQ(0xf, t.bits[0]);		/* broadcast: slow path */
	cfg[2].id = 2;
	cfg[2].ldr = 0x02u << 24;		/* shares vCPU 1's bit */
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0x3, FX(true, 0), true, &t));
	EXPECT_EQ(0x5, t.bits[0]);		/* the last on the bit */
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0x6, (LP & ~0xffu) | 0x3b, true, &t));
	EXPECT_EQ(0, t.bits[0]);		/* hashed onto empty bit 2 */
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0x6, (LP & ~0xffu) | 0x3b, false, &t));
	EXPECT_EQ(0x4, t.bits[0]);
	EXPECT_TRUE(t.exactly_one);
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0, FX(false, APIC_DEST_ALLBUT), true, &t));
	EXPECT_EQ(0xe, t.bits[0]);		/* shorthand: slow path */
	cfg[2].ldr = 0x04u << 24;
	cfg[3].ldr = 0x0cu << 24;		/* bit 2 taken over, bit 3 empty */
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0x4, FX(true, 0), true, &t));
	EXPECT_EQ(0x8, t.bits[0]);
	ASSERT_EQ(0, apic_oracle_aliased_map(cfg, 4, 0, 0x8, FX(true, 0), true, &t));
	EXPECT_EQ(0, t.bits[0]);
	/* Strict priority narrows lowest priority to the lowest PPR class. */
	oracle_cfg(cfg, 4, CFG_XAPIC_FLAT);
	cfg[0].ppr = 0x40; cfg[1].ppr = 0x20; cfg[2].ppr = 0x2f; cfg[3].ppr = 0x10;
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0x7, LP, APIC_ORACLE_STRICT_PRIORITY, &t));
	EXPECT_EQ(0x6, t.bits[0]);
	EXPECT_TRUE(t.exactly_one);
	/* Mixed modes and hardware-disabled senders are outside the model. */
	cfg[1].mode = APIC_MODE_X2APIC;
	EXPECT_EQ(-EINVAL, apic_oracle(cfg, 4, 0, 1, FX(false, 0), 0, &t));
	cfg[1].mode = APIC_MODE_DISABLED;
	EXPECT_EQ(-EINVAL, apic_oracle(cfg, 4, 1, 1, FX(false, 0), 0, &t));
	ASSERT_EQ(0, apic_oracle(cfg, 4, 0, 0xff, FX(false, 0), 0, &t));
	EXPECT_EQ(0xd, t.bits[0]);
}

APICV_TEST_MAIN
