// SPDX-License-Identifier: GPL-2.0
/*
 * The HYPERV APICv/AVIC inhibit follows SynIC AutoEOI use (5.15+): set
 * while any vCPU has an unmasked SINT with AutoEOI and a vector >= 16,
 * clear once none has. Checked through the inhibit observer (tracepoint),
 * so these subtests skip where KVM tracks no inhibits (APICv/AVIC off);
 * with kvm_amd.avic=1 force_avic=1 under an emulator they check KVM's
 * bookkeeping only: the guests here only WRMSR and make ucalls, they take
 * no interrupts (delivery is broken while a forced AVIC is not inhibited).
 */
#include "harness_main.h"
#include "x86/apicv_observer.h"
#include "x86/hyperv.h"

FAULT(expect_clear_early, "inhibit.host_set_msrs.two_vcpus_count",
      "HYPERV set after vCPU 0 cleared its own",
      "expects HYPERV clear while one vCPU still has an AutoEOI SINT");
FAULT(no_autoeoi_bit, "inhibit.host_set_msrs.first_autoeoi_sets_last_clears",
      "HYPERV clear after the first AutoEOI SINT",
      "the first SINT write lacks the AutoEOI bit");
FAULT(low_vector_counts, "inhibit.host_set_msrs.vector_below_16_does_not_count",
      "HYPERV set with AutoEOI SINTs below vector 16 only",
      "the low-vector SINT gets vector 16 instead");
FAULT(masked_counts, "inhibit.host_set_msrs.masked_autoeoi_does_not_count",
      "HYPERV set with only a masked AutoEOI SINT",
      "the masked AutoEOI SINT is written unmasked");
FAULT(hint_ignored, "*deprecation_hint_keeps_apicv_uninhibited",
      "HYPERV was set although no SINT used AutoEOI",
      "the guest ignores the hint and uses AutoEOI once");
FAULT(blind_observer, "*deprecation_hint_keeps_apicv_uninhibited",
      "observer is blind to this VM",
      "the observer records another process: the proof must fail before HYPERV is asserted absent");

#define VEC	0x50
#define SINT_X	2
#define END	(~0ull)
#define WAIT_MS	3000

static volatile u64 next_val[2];

/* Writes the values the host hands over to SINT_X, one per SYNC. */
static void guest_writer(void)
{
	u32 id = this_cpu_id();
	u64 v;

	while ((v = READ_ONCE(next_val[id])) != END)
		GUEST_SYNC(wrmsr_safe(HV_MSR_SINT(SINT_X), v));
}

struct ictx {
	struct apicv_observer *o;
	struct kvm_vm *vm;
};

static void ictx_init(struct ictx *c, int n)
{
	int i;

	c->o = apicv_observer_start();
	if (fault_blind_observer)
		apicv_observer_blind(c->o);
	c->vm = vm_create(IRQCHIP_KERNEL);
	vm_add_vcpus(c->vm, n, guest_writer);
	for (i = 0; i < n; i++) {
		hv_vcpu_init(c->vm->vcpus[i]);
		hv_synic_activate(c->vm->vcpus[i]);
	}
	/* "HYPERV clear" must not pass on an observer that sees nothing. */
	apicv_observer_prove(c->o, c->vm->vcpus[0]);
}

static void ictx_free(struct ictx *c)
{
	vm_free(c->vm);
	apicv_observer_stop(c->o);
}

/* The guest on vCPU @i writes @v to its SINT_X; must not fault. */
static void guest_write(struct ictx *c, int i, u64 v)
{
	struct ucall uc;

	next_val[i] = v;
	vcpu_run_expect(c->vm->vcpus[i], UCALL_SYNC, &uc);
	TEST_ASSERT(uc.args[0] == 0, "vCPU %d: SINT write 0x%llx raised "
		    "vector %llu", i, v, uc.args[0]);
}

static void host_write(struct ictx *c, int i, u64 v)
{
	TEST_ASSERT(hv_host_set_sint(c->vm->vcpus[i], SINT_X, v) == 1,
		    "vCPU %d: KVM_SET_MSRS SINT%d = 0x%llx refused", i,
		    SINT_X, v);
}

static bool hyperv_set(struct ictx *c)
{
	u64 m = apicv_observer_settle(c->o, 50, 2000);

	return m & apicv_reason_mask(APICV_REASON_HYPERV);
}

static void expect_hyperv(struct ictx *c, bool set, const char *when)
{
	bool got;

	if (set)
		got = apicv_observer_wait(c->o, APICV_REASON_HYPERV, true,
					  WAIT_MS);
	else
		got = !apicv_observer_wait(c->o, APICV_REASON_HYPERV, false,
					   WAIT_MS);
	got = hyperv_set(c);
	if (got != set) {
		apicv_observer_dump(c->o, 0, when);
		TEST_FAIL("HYPERV %s %s, expected %s", got ? "set" : "clear",
			  when, set ? "set" : "clear");
	}
}

FIXTURE(inhibit) {};
FIXTURE_VARIANT(inhibit) { bool by_guest; };
FIXTURE_VARIANT_ADD(inhibit, guest_wrmsr) { .by_guest = true };
FIXTURE_VARIANT_ADD(inhibit, host_set_msrs) { .by_guest = false };
FIXTURE_SETUP(inhibit) {}
FIXTURE_TEARDOWN(inhibit) {}

static void sint_write(struct ictx *c, bool by_guest, int i, u64 v)
{
	if (by_guest)
		guest_write(c, i, v);
	else
		host_write(c, i, v);
}

TEST_F(inhibit, first_autoeoi_sets_last_clears)
{
	u64 aeoi = fault_no_autoeoi_bit ? 0 : HV_SINT_AUTO_EOI;
	struct ictx c;

	ictx_init(&c, 1);
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, 0));
	expect_hyperv(&c, false, "with SynIC on and no AutoEOI SINT");
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, aeoi));
	expect_hyperv(&c, true, "after the first AutoEOI SINT");
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, 0));
	expect_hyperv(&c, false, "after the last AutoEOI SINT went away");
	next_val[0] = END;
	ictx_free(&c);
}

TEST_F(inhibit, two_vcpus_count)
{
	struct ictx c;

	ictx_init(&c, 2);
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, HV_SINT_AUTO_EOI));
	expect_hyperv(&c, true, "after vCPU 0's AutoEOI SINT");
	sint_write(&c, variant->by_guest, 1, hv_sint(VEC, HV_SINT_AUTO_EOI));
	expect_hyperv(&c, true, "after vCPU 1 added one");
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, 0));
	expect_hyperv(&c, !fault_expect_clear_early,
		      "after vCPU 0 cleared its own (vCPU 1 keeps one)");
	sint_write(&c, variant->by_guest, 1, hv_sint(VEC, 0));
	expect_hyperv(&c, false, "after vCPU 1 cleared the last one");
	next_val[0] = next_val[1] = END;
	ictx_free(&c);
}

/*
 * KVM counts a SINT as AutoEOI only while it is unmasked (the vector of a
 * masked SINT reads as none): a masked AutoEOI SINT does not inhibit.
 */
TEST_F(inhibit, masked_autoeoi_does_not_count)
{
	u64 masked = fault_masked_counts ? 0 : HV_SINT_MASKED;
	struct ictx c;

	ictx_init(&c, 1);
	sint_write(&c, variant->by_guest, 0,
		   hv_sint(VEC, HV_SINT_AUTO_EOI | masked));
	expect_hyperv(&c, false, "with only a masked AutoEOI SINT");
	sint_write(&c, variant->by_guest, 0, hv_sint(VEC, HV_SINT_AUTO_EOI));
	expect_hyperv(&c, true, "once it is unmasked");
	sint_write(&c, variant->by_guest, 0,
		   hv_sint(VEC, HV_SINT_AUTO_EOI | HV_SINT_MASKED));
	expect_hyperv(&c, false, "after masking it again");
	next_val[0] = END;
	ictx_free(&c);
}

/*
 * Vectors below 16 are not SynIC vectors: an AutoEOI SINT there never
 * inhibits. The guest may only write them masked (unmasked is #GP), the
 * host may write them unmasked.
 */
TEST_F(inhibit, vector_below_16_does_not_count)
{
	u8 vec = fault_low_vector_counts ? 16 : 15;
	u64 flags = HV_SINT_AUTO_EOI;
	struct ictx c;

	if (variant->by_guest && !fault_low_vector_counts)
		flags |= HV_SINT_MASKED;
	ictx_init(&c, 1);
	sint_write(&c, variant->by_guest, 0, hv_sint(vec, flags));
	sint_write(&c, variant->by_guest, 0, hv_sint(5, HV_SINT_AUTO_EOI |
					     (variant->by_guest ?
					      HV_SINT_MASKED : 0)));
	if (fault_low_vector_counts)	/* leave the vector-16 SINT set */
		sint_write(&c, variant->by_guest, 0,
			   hv_sint(16, HV_SINT_AUTO_EOI));
	expect_hyperv(&c, false, "with AutoEOI SINTs below vector 16 only");
	next_val[0] = END;
	ictx_free(&c);
}

/*
 * A guest that follows KVM's AutoEOI-deprecation recommendation (leaf
 * 0x40000004 EAX bit 9) programs its SINTs without AutoEOI: APICv/AVIC is
 * never inhibited for HYPERV on its behalf. The name carries "inhibit",
 * which is how the force_avic runs select the subtests they assert in.
 */
TEST(deprecation_hint_keeps_apicv_uninhibited)
{
	const struct kvm_cpuid_entry2 *e;
	struct ictx c;
	u64 mark, aeoi;
	int i;

	ictx_init(&c, 2);
	e = hv_supported_leaf(c.vm->vcpus[0], HV_CPUID_ENLIGHTENMENT);
	ASSERT_NE(NULL, e);
	ASSERT_TRUE(e->eax & HV_REC_DEPRECATING_AEOI);
	aeoi = fault_hint_ignored ? HV_SINT_AUTO_EOI : 0;
	mark = apicv_observer_mark(c.o);
	for (i = 0; i < 8; i++) {
		guest_write(&c, i & 1, hv_sint(VEC + i, i == 5 ? aeoi : 0));
		guest_write(&c, i & 1, hv_sint(VEC + i, HV_SINT_MASKED));
	}
	apicv_observer_settle(c.o, 50, 2000);
	if (apicv_observer_seen(c.o, mark, APICV_REASON_HYPERV)) {
		apicv_observer_dump(c.o, mark, "hint followed");
		TEST_FAIL("HYPERV was set although no SINT used AutoEOI");
	}
	next_val[0] = next_val[1] = END;
	ictx_free(&c);
}

APICV_TEST_MAIN
