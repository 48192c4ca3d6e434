// SPDX-License-Identifier: GPL-2.0
/*
 * The APICv/AVIC inhibit matrix: every inhibit reason userspace can pull is
 * set, checked in the mask KVM reports through its tracepoint (the bit and
 * only the expected bits change), cleared where the running kernel clears
 * it, kept where it is sticky, and never seen when the vendor does not
 * honour it. How a reason is pulled is the library's (x86/apicv_pull.h);
 * bits, vendors and stickiness come from its reason table, never from
 * this file. The observer's own tests (trace parser, reason table,
 * tracefs instance) are libtest/apicv_trace_test.
 */
#include <string.h>

#include "harness_main.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv_burst.h"
#include "x86/apicv_host.h"
#include "x86/apicv_observer.h"
#include "x86/apicv_pull.h"
#include "x86/hyperv.h"

/* Each inhibit subtest's own assertion, one control each. */
FAULT(skip_the_clear, "inhibit.reason_absent",
      "KVM_CREATE_IRQCHIP: wrong inhibits",
      "the irqchip is never created, yet ABSENT is expected to clear");
FAULT(hyperv_masked_sint, "inhibit.reason_hyperv",
      "SINT0 with AutoEOI: wrong inhibits",
      "the AutoEOI SINT is written masked, which must not inhibit");
FAULT(expect_wrong_reason, "inhibit.reason_blockirq",
      "KVM_SET_GUEST_DEBUG BLOCKIRQ: wrong inhibits",
      "BLOCKIRQ's subtest expects the next reason's bit instead");
FAULT(pit_reinject_kept, "inhibit.reason_pit_reinj",
      "KVM_REINJECT_CONTROL 0: wrong inhibits",
      "the first KVM_REINJECT_CONTROL 0 asks for reinject again");
FAULT(apic_id_wrong_stickiness, "inhibit.reason_apic_id_modified",
      "xAPIC ID back to its own: wrong inhibits",
      "expects the other kernel generation's APIC_ID_MODIFIED (sticky before 6.3, dynamic from it)");
FAULT(apic_base_expect_clear, "inhibit.reason_apic_base_modified",
      "APIC base back to 0xfee00000: wrong inhibits",
      "expects APIC_BASE_MODIFIED to clear, as if it were not sticky");
FAULT(alias_other_id, "inhibit.reason_physical_id_aliased",
      "two vCPUs with xAPIC ID 0: wrong inhibits",
      "vCPU 1 takes an unused xAPIC ID, which aliases no one");
FAULT(logical_ids_distinct, "inhibit.reason_logical_id_aliased",
      "two vCPUs on flat logical ID 0x01: wrong inhibits",
      "the second vCPU takes logical ID 0x04, which aliases no one");
FAULT(id_within_limit, "inhibit.reason_physical_id_too_big",
      "vCPU id above the AVIC limit: wrong inhibits",
      "the new vCPU's id is the AVIC limit itself, not above it");
FAULT(combination_clears_both, "inhibit.combination",
      "first reason cleared: wrong inhibits",
      "clearing the first reason clears the second too: the VM must stay inhibited");
FAULT(expect_injected_uninhibited, "inhibit.delivery_cross_check",
      "uninhibited VM: expected every self-IPI injected",
      "the uninhibited half expects KVM to inject the burst");
FAULT(blind_observer, "inhibit.reason_logical_id_aliased",
      "observer is blind to this VM",
      "the observer records another process: the proof must fail before an unchanged mask is asserted");

#define SETTLE_QUIET_MS		20
#define SETTLE_MAX_MS		2000

/* ---- the oracle: masks the reason table predicts ----------------------- */

static void guest_idle(void)
{
	GUEST_DONE();
}

static u64 settle(struct apicv_observer *o)
{
	bool known;

	apicv_observer_settle(o, SETTLE_QUIET_MS, SETTLE_MAX_MS);
	return apicv_observer_mask_known(o, &known);
}

/* After a stimulus: @set set, @clr clear, the rest as @before. */
#define expect_mask(o, mark, before, set, clr, what)			\
	(apicv_observer_settle(o, SETTLE_QUIET_MS, SETTLE_MAX_MS),	\
	 apicv_observer_expect_at(o, mark, before, set, clr, what,	\
				  __FILE__, __LINE__))

/*
 * The mask a pull of @r sets: its bit and its companions' (BLOCKIRQ: the
 * next reason's bit under the fault).
 */
static u64 want(enum apicv_reason r)
{
	int i;

	if (!fault_expect_wrong_reason || r != APICV_REASON_BLOCKIRQ)
		return apicv_reason_mask(r) | apicv_reason_companions(r);
	for (i = 1; i < APICV_NR_REASONS; i++) {
		enum apicv_reason o = (r + i) % APICV_NR_REASONS;

		if (o != APICV_REASON_DISABLE && apicv_reason_mask(o))
			return apicv_reason_mask(o);
	}
	return 0;
}

/* A reason the vendor ignores must leave no trace at all. */
static void expect_never(struct apicv_observer *o, u64 mark,
			 enum apicv_reason r, const char *what)
{
	settle(o);
	if (apicv_observer_seen(o, mark, r)) {
		apicv_observer_dump(o, mark, what);
		TEST_FAIL("%s: %s appeared although %s does not honour it",
			  what, apicv_reason_name(r),
			  apicv_host()->amd ? "kvm_amd" : "kvm_intel");
	}
	test_log("%s: %s never appeared (not honoured by this vendor)",
		 what, apicv_reason_name(r));
}

/* The table's stickiness of @r, inverted by @r's negative control. */
static bool sticky(enum apicv_reason r)
{
	bool s = apicv_reason_sticky(r);

	if (r == APICV_REASON_APIC_ID_MODIFIED)
		return s != fault_apic_id_wrong_stickiness;
	if (r == APICV_REASON_APIC_BASE_MODIFIED)
		return s != fault_apic_base_expect_clear;
	return s;
}

/*
 * What undoing a pull of @r leaves, for it and each companion: set where
 * sticky, clear where dynamic.
 */
static void after_undo(enum apicv_reason r, u64 *set, u64 *clr)
{
	u64 bits = want(r), b;

	for (*set = 0, *clr = 0; bits; bits &= bits - 1) {
		b = bits & -bits;
		if (sticky(apicv_reason_by_bit(__builtin_ctzll(b))))
			*set |= b;
		else
			*clr |= b;
	}
}

/* ---- near misses: the negative controls' stimuli ---------------------- */

/* SINT0 with AutoEOI but masked, which KVM must not count. */
static void masked_autoeoi(struct kvm_vm *vm, struct apicv_pull *p)
{
	hv_host_set_sint(apicv_pull_vcpu(p), 0,
			 hv_sint(0x30, HV_SINT_AUTO_EOI | HV_SINT_MASKED));
}

/* The spare takes an xAPIC ID nobody has: no alias. */
static void unused_xapic_id(struct kvm_vm *vm, struct apicv_pull *p)
{
	vcpu_lapic_set_reg(apicv_pull_vcpu(p), APIC_ID, 0x70u << 24);
}

/* The second spare takes logical ID 0x04, not the first one's 0x01. */
static void distinct_ldr(struct kvm_vm *vm, struct apicv_pull *p)
{
	vcpu_lapic_set_reg(apicv_pull_vcpu(p), APIC_LDR, 0x04u << 24);
}

/* A vCPU at the AVIC limit itself (0xfe on VMX, which has none). */
static void id_at_limit(struct kvm_vm *vm, struct apicv_pull *p)
{
	vm_add_vcpu(vm, apicv_host()->avic_max_id ?: 0xfe, guest_idle);
}

typedef void (*near_miss_fn)(struct kvm_vm *vm, struct apicv_pull *p);

/* ---- the fixture ------------------------------------------------------- */

FIXTURE(inhibit) {
	struct apicv_observer *o;
	struct kvm_vm *vm;
	struct apicv_pull *p[2];
};

FIXTURE_SETUP(inhibit)
{
	memset(self, 0, sizeof(*self));
	self->o = apicv_observer_start();
	if (fault_blind_observer)
		apicv_observer_blind(self->o);
	test_log("apicv: %s; tracing in %s", apicv_host()->why,
		 apicv_observer_path(self->o));
}

FIXTURE_TEARDOWN(inhibit)
{
	apicv_pull_free(self->p[0]);
	apicv_pull_free(self->p[1]);
	if (self->vm)
		vm_free(self->vm);
	apicv_observer_stop(self->o);
}

/*
 * A VM with an in-kernel irqchip and @n (>= 1) idle vCPUs, the observer
 * proven to see it; returns its mask.
 */
static u64 new_vm(FIXTURE_DATA(inhibit) *self, enum irqchip_mode mode, int n)
{
	bool known;
	u64 mask;

	self->vm = vm_create(mode);
	vm_add_vcpus(self->vm, n, guest_idle);
	/* Before any "unchanged" or "never seen": the observer sees it. */
	apicv_observer_prove(self->o, self->vm->vcpus[0]);
	mask = apicv_observer_mask_known(self->o, &known);
	TEST_ASSERT(known, "no inhibit event after creating a VM (%s)",
		    apicv_observer_path(self->o));
	return mask;
}

/*
 * One reason pulled on and off: set (with its companions) or, where the
 * vendor ignores it, never seen; then cleared where dynamic, kept where
 * sticky. @prepared: also assert that preparing the pull changed nothing.
 * @miss: the negative control's near miss, done instead of the pull.
 */
static void pull_on_off(FIXTURE_DATA(inhibit) *self, enum apicv_reason r,
			const char *on, const char *off, const char *prepared,
			near_miss_fn miss)
{
	struct apicv_observer *o = self->o;
	u64 m, mark, set, clr;

	m = new_vm(self, IRQCHIP_KERNEL, 1);
	mark = apicv_observer_mark(o);
	self->p[0] = apicv_pull_new(self->vm, r);
	if (prepared)
		m = expect_mask(o, mark, m, 0, 0, prepared);
	else
		m = settle(o);

	mark = apicv_observer_mark(o);
	if (miss)
		miss(self->vm, self->p[0]);
	else
		apicv_pull(self->p[0], true);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, on);
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0, on);
	if (!off)
		return;
	apicv_pull(self->p[0], false);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, off);
}

/* ---- one subtest per reason ------------------------------------------- */

TEST_F(inhibit, reason_absent)
{
	struct apicv_observer *o = self->o;
	u64 absent = apicv_reason_mask(APICV_REASON_ABSENT);
	u64 m, mark = apicv_observer_mark(o);
	struct kvm_vm *vm2;

	/* The VM under test has no vCPU to prove with: a throwaway one has. */
	vm2 = vm_create(IRQCHIP_KERNEL);
	apicv_observer_prove(o, vm_add_vcpu(vm2, 0, guest_idle));
	vm_free(vm2);
	mark = apicv_observer_mark(o);

	/* Before the first event the mask is unknown: all bits "changed". */
	self->vm = vm_create(IRQCHIP_DEFERRED);
	m = expect_mask(o, mark, absent, absent, 0, "new VM without irqchip");
	if (!fault_skip_the_clear)
		vm_create_irqchip(self->vm, IRQCHIP_KERNEL);
	m = expect_mask(o, mark, m, 0, absent, "KVM_CREATE_IRQCHIP");

	/* The split irqchip clears it too. */
	mark = apicv_observer_mark(o);
	vm2 = vm_create(IRQCHIP_DEFERRED);
	m = expect_mask(o, mark, absent, absent, 0, "second VM");
	vm_create_irqchip(vm2, IRQCHIP_SPLIT);
	expect_mask(o, mark, m, 0, absent, "KVM_CAP_SPLIT_IRQCHIP");
	vm_free(vm2);
}

TEST_F(inhibit, reason_hyperv)
{
	pull_on_off(self, APICV_REASON_HYPERV, "SINT0 with AutoEOI",
		    "SINT0 without AutoEOI", NULL,
		    fault_hyperv_masked_sint ? masked_autoeoi : NULL);
}

TEST_F(inhibit, reason_blockirq)
{
	pull_on_off(self, APICV_REASON_BLOCKIRQ,
		    "KVM_SET_GUEST_DEBUG BLOCKIRQ", "KVM_SET_GUEST_DEBUG off",
		    NULL, NULL);
}

TEST_F(inhibit, reason_apic_id_modified)
{
	pull_on_off(self, APICV_REASON_APIC_ID_MODIFIED,
		    "KVM_SET_LAPIC xAPIC ID to an unused one",
		    "KVM_SET_LAPIC xAPIC ID back to its own", NULL, NULL);
}

TEST_F(inhibit, reason_apic_base_modified)
{
	pull_on_off(self, APICV_REASON_APIC_BASE_MODIFIED,
		    "APIC base 0xfed00000", "APIC base back to 0xfee00000",
		    NULL, NULL);
}

/* A spare vCPU takes vCPU 0's xAPIC ID: the companions come along. */
TEST_F(inhibit, reason_physical_id_aliased)
{
	pull_on_off(self, APICV_REASON_PHYSICAL_ID_ALIASED,
		    "two vCPUs with xAPIC ID 0", "vCPU 1 back to xAPIC ID 1",
		    NULL, fault_alias_other_id ? unused_xapic_id : NULL);
}

/* Two spares on flat logical IDs 0x01 and 0x02; the second takes 0x01. */
TEST_F(inhibit, reason_logical_id_aliased)
{
	pull_on_off(self, APICV_REASON_LOGICAL_ID_ALIASED,
		    "two vCPUs on flat logical ID 0x01",
		    "second vCPU back to logical ID 0x02",
		    "flat logical IDs 0x01 and 0x02",
		    fault_logical_ids_distinct ? distinct_ldr : NULL);
}

/* Sticky by nature: the vCPU cannot be taken back. */
TEST_F(inhibit, reason_physical_id_too_big)
{
	pull_on_off(self, APICV_REASON_PHYSICAL_ID_TOO_BIG,
		    "vCPU id above the AVIC limit", NULL, NULL,
		    fault_id_within_limit ? id_at_limit : NULL);
}

/*
 * KVM_CREATE_PIT2 starts in reinject mode (preparing the pull sets the
 * reason, then clears it); then reinject on and off again.
 */
TEST_F(inhibit, reason_pit_reinj)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_PIT_REINJ;
	u64 m, mark, bit = apicv_reason_mask(r);
	struct apicv_pull *p;

	m = new_vm(self, IRQCHIP_KERNEL, 1);
	mark = apicv_observer_mark(o);
	p = self->p[0] = apicv_pull_new(self->vm, r);
	if (fault_pit_reinject_kept)
		apicv_pull(p, true);
	if (!apicv_reason_honoured(r)) {
		apicv_pull(p, true);
		expect_never(o, mark, r, "KVM_CREATE_PIT2 + reinject");
		return;
	}
	TEST_ASSERT(apicv_observer_seen(o, mark, r),
		    "KVM_CREATE_PIT2: %s never set", apicv_reason_name(r));
	m = expect_mask(o, mark, m, 0, bit, "KVM_REINJECT_CONTROL 0");
	apicv_pull(p, true);
	m = expect_mask(o, mark, m, bit, 0, "KVM_REINJECT_CONTROL 1");
	apicv_pull(p, false);
	expect_mask(o, mark, m, 0, bit, "KVM_REINJECT_CONTROL 0 again");
}

/* Two reasons set, one cleared: the VM stays inhibited by the other. */
TEST_F(inhibit, combination)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason a = APICV_REASON_BLOCKIRQ, b;
	u64 m, mark, ma = apicv_reason_mask(a), mb;
	struct apicv_pull *pa, *pb;

	b = apicv_reason_honoured(APICV_REASON_PIT_REINJ) ?
		APICV_REASON_PIT_REINJ : APICV_REASON_HYPERV;
	TEST_REQUIRE(apicv_reason_honoured(a) && apicv_reason_honoured(b),
		     "this vendor honours neither PIT_REINJ nor HYPERV with BLOCKIRQ");
	mb = apicv_reason_mask(b);
	new_vm(self, IRQCHIP_KERNEL, 1);
	pa = self->p[0] = apicv_pull_new(self->vm, a);
	pb = self->p[1] = apicv_pull_new(self->vm, b);
	m = settle(o);

	mark = apicv_observer_mark(o);
	apicv_pull(pa, true);
	m = expect_mask(o, mark, m, ma, 0, apicv_reason_name(a));
	apicv_pull(pb, true);
	m = expect_mask(o, mark, m, ma | mb, 0, "both reasons");
	apicv_pull(pa, false);
	if (fault_combination_clears_both)
		apicv_pull(pb, false);
	m = expect_mask(o, mark, m, mb, ma, "first reason cleared");
	TEST_ASSERT(m != 0, "VM reported uninhibited with %s still set",
		    apicv_reason_name(b));
	apicv_pull(pb, false);
	expect_mask(o, mark, m, 0, mb, "second reason cleared");
}

/* ---- the behaviour source (real APICv/AVIC only) ---------------------- */

#define BURST_VECTOR	0x40
#define BURST_N		64

static volatile u64 burst_seen;

static void burst_handler(struct ex_regs *regs)
{
	__atomic_add_fetch(&burst_seen, 1, __ATOMIC_RELAXED);
	apic_eoi();
}

static void guest_burst(void)
{
	int round, i;

	xapic_enable();
	sti();
	for (round = 0; round < 2; round++) {
		for (i = 0; i < BURST_N; i++)
			apic_self_ipi(BURST_VECTOR);
		GUEST_SYNC(round);
	}
}

TEST_F(inhibit, delivery_cross_check)
{
	struct apicv_observer *o = self->o;
	enum apicv_delivery d;
	struct apicv_burst burst;
	struct kvm_vcpu *vcpu;
	struct ucall uc;

	apicv_require_real();
	self->vm = vm_create(IRQCHIP_KERNEL);
	vcpu = vm_add_vcpu(self->vm, 0, guest_burst);
	vm_install_handler(self->vm, BURST_VECTOR, burst_handler);
	ASSERT_EQ(0, apicv_observer_prove(o, vcpu));

	/* Uninhibited: the self-IPIs bypass KVM's injection. */
	apicv_burst_begin(&burst, vcpu);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	d = apicv_burst_end(&burst, BURST_N);
	ASSERT_EQ(BURST_N, READ_ONCE(burst_seen));
	if (fault_expect_injected_uninhibited) {
		ASSERT_EQ(APICV_DELIVERY_INJECTED, d) {
			TH_LOG("uninhibited VM: expected every self-IPI "
			       "injected, %llu of %d were",
			       (unsigned long long)burst.injections, BURST_N);
		}
	}
	ASSERT_EQ(APICV_DELIVERY_ACCELERATED, d) {
		TH_LOG("uninhibited VM: %llu of %d self-IPIs injected by KVM",
		       (unsigned long long)burst.injections, BURST_N);
	}

	/* Inhibited by the PIT (SVM only): KVM injects every one. */
	TEST_REQUIRE(apicv_reason_honoured(APICV_REASON_PIT_REINJ),
		     "second half needs PIT_REINJ, which this vendor ignores");
	self->p[0] = apicv_pull_new(self->vm, APICV_REASON_PIT_REINJ);
	apicv_pull(self->p[0], true);
	ASSERT_TRUE(apicv_observer_wait(o, APICV_REASON_PIT_REINJ, true, 1000));
	apicv_burst_begin(&burst, vcpu);
	vcpu_run_expect(vcpu, UCALL_SYNC, &uc);
	d = apicv_burst_end(&burst, BURST_N);
	ASSERT_EQ(2 * BURST_N, READ_ONCE(burst_seen));
	ASSERT_EQ(APICV_DELIVERY_INJECTED, d) {
		TH_LOG("inhibited VM: only %llu of %d injected",
		       (unsigned long long)burst.injections, BURST_N);
	}
}

APICV_TEST_MAIN
