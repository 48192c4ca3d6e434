// SPDX-License-Identifier: GPL-2.0
/*
 * The APICv/AVIC inhibit matrix: every inhibit reason userspace can pull is
 * set, checked in the mask KVM reports through its tracepoint (the bit and
 * only the expected bits change), cleared where the running kernel clears
 * it, kept where it is sticky, and never seen when the vendor does not
 * honour it. Bits, vendors and stickiness come from the library's reason
 * table (x86/apicv.h), never from this file.
 *
 * trace_parse runs anywhere (no /dev/kvm): the observer's parser against
 * recorded lines of both trace formats (through 6.10, and 6.11+ with names).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_main.h"
#include "stats.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/apicv.h"

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
      "xAPIC ID back to 0: wrong inhibits",
      "expects the other kernel generation's APIC_ID_MODIFIED (sticky before 6.3, dynamic from it)");
FAULT(apic_base_expect_clear, "inhibit.reason_apic_base_modified",
      "APIC base back to 0xfee00000: wrong inhibits",
      "expects APIC_BASE_MODIFIED to clear, as if it were not sticky");
FAULT(alias_other_id, "inhibit.reason_physical_id_aliased",
      "two vCPUs with xAPIC ID 0: wrong inhibits",
      "vCPU 1 takes xAPIC ID 2, which aliases no one");
FAULT(logical_ids_distinct, "inhibit.reason_logical_id_aliased",
      "two vCPUs on flat logical ID 0x01: wrong inhibits",
      "vCPU 1 takes logical ID 0x04, which aliases no one");
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
FAULT(keep_instance, "global.observer_cleanup", "still exists after stop",
      "the tracefs instance is left behind instead of stopped");
FAULT(parse_with_6_1_table, "global.trace_parse",
      "line 4: got APIC_ID_MODIFIED",
      "every recorded line is parsed with Debian 6.1's bit layout");
FAULT(table_6_3_as_6_2, "global.reason_table",
      "PHYSICAL_ID_ALIASED on 6.3: bit -1",
      "the 6.3 layout is looked up as 6.2's");
FAULT(kernel_table_6_1, "global.table_matches_kernel", "table says bit",
      "the kernel's own bits are compared with the 6.1 table");

/* Local constants: self-contained, whatever hyperv.h grows into. */
#define APICBASE_BSP		BIT(8)
#define APICBASE_ENABLE		BIT(11)
#define HV_MSR_SINT0		0x40000090
#define HV_SINT_MASKED		BIT(16)
#define HV_SINT_AUTO_EOI	BIT(17)
#define SINT_VECTOR		0x30

#define SETTLE_QUIET_MS		20
#define SETTLE_MAX_MS		2000

/* ---- helpers ----------------------------------------------------------- */

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

/*
 * After a stimulus: every bit of @set is set, every bit of @clr clear, and
 * no bit outside @set | @clr differs from @before. Returns the new mask.
 */
static u64 __expect(struct apicv_observer *o, u64 mark, u64 before, u64 set,
		    u64 clr, const char *what, int line)
{
	char b1[160], b2[160], b3[160], b4[160];
	bool known;
	u64 mask;

	apicv_observer_settle(o, SETTLE_QUIET_MS, SETTLE_MAX_MS);
	mask = apicv_observer_mask_known(o, &known);
	if (!known || (mask & set) != set || (mask & clr) ||
	    ((mask ^ before) & ~(set | clr))) {
		apicv_observer_dump(o, mark, what);
		test_fail_at(__FILE__, line, NULL,
			     "%s: wrong inhibits %s%s, expected set %s, clear %s, rest as before (%s)",
			     what, known ? "" : "unknown ",
			     apicv_mask_str(mask, b1, sizeof(b1)),
			     apicv_mask_str(set, b2, sizeof(b2)),
			     apicv_mask_str(clr, b3, sizeof(b3)),
			     apicv_mask_str(before, b4, sizeof(b4)));
	}
	test_log("%s: inhibits 0x%llx %s", what, (unsigned long long)mask,
		 apicv_mask_str(mask, b1, sizeof(b1)));
	return mask;
}
#define expect_mask(o, mark, before, set, clr, what) \
	__expect(o, mark, before, set, clr, what, __LINE__)

/* The mask a test expects for @r (BLOCKIRQ: the wrong one under the fault). */
static u64 want(enum apicv_reason r)
{
	int i;

	if (!fault_expect_wrong_reason || r != APICV_REASON_BLOCKIRQ)
		return apicv_reason_mask(r);
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

static void require_reason(enum apicv_reason r, const char *when)
{
	const struct apicv_host *h = apicv_host();

	TEST_REQUIRE(apicv_reason_bit(r) >= 0,
		     "kernel %u.%u has no %s inhibit (%s)", h->kver >> 8,
		     h->kver & 0xff, apicv_reason_name(r), when);
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

/* Clear when dynamic, stays when sticky: what the table says. */
static void after_undo(enum apicv_reason r, u64 *set, u64 *clr)
{
	if (sticky(r)) {
		*set = apicv_reason_mask(r);
		*clr = 0;
	} else {
		*set = 0;
		*clr = apicv_reason_mask(r);
	}
}

static void lapic_set_reg(struct kvm_vcpu *vcpu, u32 reg, u32 val)
{
	struct kvm_lapic_state s;

	vcpu_lapic_get(vcpu, &s);
	lapic_state_set_reg(&s, reg, val);
	vcpu_lapic_set(vcpu, &s);
}

static void set_guest_debug(struct kvm_vcpu *vcpu, bool blockirq)
{
	struct kvm_guest_debug dbg = { 0 };

	if (blockirq)
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_BLOCKIRQ;
	vcpu_ioctl(vcpu, KVM_SET_GUEST_DEBUG, &dbg);
}

static void require_blockirq(void)
{
	int caps = kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2);

	TEST_REQUIRE(caps <= 0 || (caps & KVM_GUESTDBG_BLOCKIRQ),
		     "KVM_CAP_SET_GUEST_DEBUG2 lacks KVM_GUESTDBG_BLOCKIRQ");
}

static void pit_reinject(struct kvm_vm *vm, bool on)
{
	struct kvm_reinject_control rc = { .pit_reinject = on };

	vm_ioctl(vm, KVM_REINJECT_CONTROL, &rc);
}

static void create_pit(struct kvm_vm *vm)
{
	struct kvm_pit_config cfg = { .flags = 0 };

	vm_ioctl(vm, KVM_CREATE_PIT2, &cfg);
}

static void synic_autoeoi(struct kvm_vcpu *vcpu, bool on)
{
	vcpu_set_msr(vcpu, HV_MSR_SINT0, on ? SINT_VECTOR | HV_SINT_AUTO_EOI
					    : HV_SINT_MASKED);
}

/* A masked AutoEOI SINT, which KVM must not count (negative control). */
static void synic_autoeoi_masked(struct kvm_vcpu *vcpu)
{
	vcpu_set_msr(vcpu, HV_MSR_SINT0,
		     SINT_VECTOR | HV_SINT_AUTO_EOI | HV_SINT_MASKED);
}

/* ---- the fixture ------------------------------------------------------- */

FIXTURE(inhibit) {
	struct apicv_observer *o;
	struct kvm_vm *vm;
};

FIXTURE_SETUP(inhibit)
{
	self->vm = NULL;
	self->o = apicv_observer_start();
	if (fault_blind_observer)
		apicv_observer_blind(self->o);
	test_log("apicv: %s; tracing in %s", apicv_host()->why,
		 apicv_observer_path(self->o));
}

FIXTURE_TEARDOWN(inhibit)
{
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
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_HYPERV;
	u64 m, mark, set, clr;
	struct kvm_vcpu *vcpu;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_SYNIC2) > 0,
		     "KVM_CAP_HYPERV_SYNIC2 not supported (CONFIG_KVM_HYPERV=n?)");
	m = new_vm(self, IRQCHIP_KERNEL, 1);
	vcpu = self->vm->vcpus[0];
	vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, 0);
	m = settle(o);
	mark = apicv_observer_mark(o);
	if (fault_hyperv_masked_sint)
		synic_autoeoi_masked(vcpu);
	else
		synic_autoeoi(vcpu, true);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "SINT0 with AutoEOI");
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0, "SINT0 with AutoEOI");
	synic_autoeoi(vcpu, false);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, "SINT0 without AutoEOI");
}

TEST_F(inhibit, reason_blockirq)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_BLOCKIRQ;
	u64 m, mark, set, clr;
	struct kvm_vcpu *vcpu;

	require_blockirq();
	m = new_vm(self, IRQCHIP_KERNEL, 2);
	vcpu = self->vm->vcpus[1];
	mark = apicv_observer_mark(o);
	set_guest_debug(vcpu, true);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "KVM_SET_GUEST_DEBUG BLOCKIRQ");
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0, "KVM_SET_GUEST_DEBUG BLOCKIRQ");
	set_guest_debug(vcpu, false);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, "KVM_SET_GUEST_DEBUG off");
}

TEST_F(inhibit, reason_pit_reinj)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_PIT_REINJ;
	u64 m, mark, bit = apicv_reason_mask(r);

	m = new_vm(self, IRQCHIP_KERNEL, 1);
	mark = apicv_observer_mark(o);
	create_pit(self->vm);
	if (!apicv_reason_honoured(r)) {
		pit_reinject(self->vm, false);
		pit_reinject(self->vm, true);
		expect_never(o, mark, r, "KVM_CREATE_PIT2 + reinject");
		return;
	}
	/* KVM_CREATE_PIT2 starts in reinject mode. */
	m = expect_mask(o, mark, m, want(r), 0, "KVM_CREATE_PIT2");
	pit_reinject(self->vm, fault_pit_reinject_kept);
	m = expect_mask(o, mark, m, 0, bit, "KVM_REINJECT_CONTROL 0");
	pit_reinject(self->vm, true);
	m = expect_mask(o, mark, m, bit, 0, "KVM_REINJECT_CONTROL 1");
	pit_reinject(self->vm, false);
	expect_mask(o, mark, m, 0, bit, "KVM_REINJECT_CONTROL 0 again");
}

TEST_F(inhibit, reason_apic_id_modified)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_APIC_ID_MODIFIED;
	u64 m, mark, set, clr;
	struct kvm_vcpu *vcpu;

	m = new_vm(self, IRQCHIP_KERNEL, 1);
	vcpu = self->vm->vcpus[0];
	mark = apicv_observer_mark(o);
	lapic_set_reg(vcpu, APIC_ID, 5u << 24);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "xAPIC ID 0 -> 5");
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0, "KVM_SET_LAPIC xAPIC ID 0 -> 5");
	lapic_set_reg(vcpu, APIC_ID, 0);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, "KVM_SET_LAPIC xAPIC ID back to 0");
}

TEST_F(inhibit, reason_apic_base_modified)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_APIC_BASE_MODIFIED;
	u64 base = APICBASE_ENABLE | APICBASE_BSP;
	u64 m, mark, set, clr;
	struct kvm_vcpu *vcpu;

	m = new_vm(self, IRQCHIP_KERNEL, 1);
	vcpu = self->vm->vcpus[0];
	mark = apicv_observer_mark(o);
	vcpu_set_msr(vcpu, MSR_IA32_APICBASE, 0xfed00000ull | base);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "APIC base 0xfed00000");
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0, "APIC base 0xfed00000");
	vcpu_set_msr(vcpu, MSR_IA32_APICBASE, APIC_DEFAULT_BASE | base);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, "APIC base back to 0xfee00000");
}

TEST_F(inhibit, reason_physical_id_aliased)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_PHYSICAL_ID_ALIASED;
	u64 m, mark, set, clr, with, wset, wclr;
	struct kvm_vcpu *vcpu;

	require_reason(r, "added in 6.3");
	m = new_vm(self, IRQCHIP_KERNEL, 2);
	vcpu = self->vm->vcpus[1];
	mark = apicv_observer_mark(o);
	/* vCPU 1 takes vCPU 0's xAPIC ID: the companions say what comes along. */
	lapic_set_reg(vcpu, APIC_ID, fault_alias_other_id ? 2u << 24 : 0);
	with = apicv_reason_companions(r);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "two vCPUs with xAPIC ID 0");
		return;
	}
	m = expect_mask(o, mark, m, want(r) | with, 0,
			"two vCPUs with xAPIC ID 0");
	lapic_set_reg(vcpu, APIC_ID, 1u << 24);
	after_undo(r, &set, &clr);
	for (wset = 0, wclr = 0; with; with &= with - 1) {
		enum apicv_reason c = apicv_reason_by_bit(__builtin_ctzll(with));
		u64 s, cl;

		after_undo(c, &s, &cl);
		wset |= s;
		wclr |= cl;
	}
	expect_mask(o, mark, m, set | wset, clr | wclr,
		    "vCPU 1 back to xAPIC ID 1");
}

static void set_logical(struct kvm_vcpu *vcpu, u8 ldr)
{
	struct kvm_lapic_state s;

	vcpu_lapic_get(vcpu, &s);
	lapic_state_set_reg(&s, APIC_SPIV,
			    lapic_state_reg(&s, APIC_SPIV) | APIC_SPIV_ENABLE);
	lapic_state_set_reg(&s, APIC_DFR, APIC_DFR_FLAT);
	lapic_state_set_reg(&s, APIC_LDR, (u32)ldr << 24);
	vcpu_lapic_set(vcpu, &s);
}

TEST_F(inhibit, reason_logical_id_aliased)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_LOGICAL_ID_ALIASED;
	u64 m, mark, set, clr;

	require_reason(r, "added in 6.3");
	m = new_vm(self, IRQCHIP_KERNEL, 2);
	set_logical(self->vm->vcpus[0], 0x01);
	set_logical(self->vm->vcpus[1], 0x02);
	m = expect_mask(o, apicv_observer_mark(o), m, 0, 0,
			"flat logical IDs 0x01 and 0x02");
	mark = apicv_observer_mark(o);
	set_logical(self->vm->vcpus[1],
		    fault_logical_ids_distinct ? 0x04 : 0x01);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "two vCPUs on flat logical ID 0x01");
		return;
	}
	m = expect_mask(o, mark, m, want(r), 0,
			"two vCPUs on flat logical ID 0x01");
	set_logical(self->vm->vcpus[1], 0x02);
	after_undo(r, &set, &clr);
	expect_mask(o, mark, m, set, clr, "vCPU 1 back to logical ID 0x02");
}

TEST_F(inhibit, reason_physical_id_too_big)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason r = APICV_REASON_PHYSICAL_ID_TOO_BIG;
	u32 id;
	u64 m, mark;

	require_reason(r, "added in 6.17; older kernels refuse such vCPU ids");
	/* On VMX (no AVIC limit) 0xff: the reason must never show there. */
	id = (apicv_host()->avic_max_id ?: 0xfe) + !fault_id_within_limit;
	m = new_vm(self, IRQCHIP_KERNEL, 1);
	mark = apicv_observer_mark(o);
	vm_add_vcpu(self->vm, id, guest_idle);
	if (!apicv_reason_honoured(r)) {
		expect_never(o, mark, r, "vCPU id above the AVIC limit");
		return;
	}
	expect_mask(o, mark, m, want(r), 0, "vCPU id above the AVIC limit");
}

/* Two reasons set, one cleared: the VM stays inhibited by the other. */
TEST_F(inhibit, combination)
{
	struct apicv_observer *o = self->o;
	enum apicv_reason a = APICV_REASON_BLOCKIRQ, b;
	u64 m, mark, ma = apicv_reason_mask(a), mb;
	struct kvm_vcpu *vcpu;

	require_blockirq();
	b = apicv_reason_honoured(APICV_REASON_PIT_REINJ) ?
		APICV_REASON_PIT_REINJ : APICV_REASON_HYPERV;
	TEST_REQUIRE(apicv_reason_honoured(a) && apicv_reason_honoured(b),
		     "this vendor honours neither PIT_REINJ nor HYPERV with BLOCKIRQ");
	if (b == APICV_REASON_HYPERV)
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_SYNIC2) > 0,
			     "KVM_CAP_HYPERV_SYNIC2 not supported");
	mb = apicv_reason_mask(b);
	m = new_vm(self, IRQCHIP_KERNEL, 1);
	vcpu = self->vm->vcpus[0];
	if (b == APICV_REASON_HYPERV)
		vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, 0);
	m = settle(o);
	mark = apicv_observer_mark(o);
	set_guest_debug(vcpu, true);
	m = expect_mask(o, mark, m, ma, 0, apicv_reason_name(a));
	if (b == APICV_REASON_PIT_REINJ)
		create_pit(self->vm);
	else
		synic_autoeoi(vcpu, true);
	m = expect_mask(o, mark, m, ma | mb, 0, "both reasons");
	set_guest_debug(vcpu, false);
	if (fault_combination_clears_both) {
		if (b == APICV_REASON_PIT_REINJ)
			pit_reinject(self->vm, false);
		else
			synic_autoeoi(vcpu, false);
	}
	m = expect_mask(o, mark, m, mb, ma, "first reason cleared");
	TEST_ASSERT(m != 0, "VM reported uninhibited with %s still set",
		    apicv_reason_name(b));
	if (b == APICV_REASON_PIT_REINJ)
		pit_reinject(self->vm, false);
	else
		synic_autoeoi(vcpu, false);
	expect_mask(o, mark, m, 0, mb, "second reason cleared");
}

/* ---- the observer itself ---------------------------------------------- */

static bool instance_exists(const char *prefix)
{
	const char *roots[] = { "/sys/kernel/tracing/instances",
				"/sys/kernel/debug/tracing/instances" };
	struct dirent *de;
	bool found = false;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(roots) && !found; i++) {
		DIR *d = opendir(roots[i]);

		if (!d)
			continue;
		while ((de = readdir(d)) && !found)
			found = !strncmp(de->d_name, prefix, strlen(prefix));
		closedir(d);
	}
	return found;
}

/* The instance goes on stop, and a SIGKILLed owner's goes at next start. */
TEST(observer_cleanup)
{
	struct apicv_observer *o;
	char prefix[64], path[300];
	int status;
	pid_t child;

	apicv_require_observable();
	o = apicv_observer_start();
	snprintf(path, sizeof(path), "%s", apicv_observer_path(o));
	ASSERT_EQ(0, access(path, F_OK));
	if (!fault_keep_instance)
		apicv_observer_stop(o);
	ASSERT_NE(0, access(path, F_OK)) {
		TH_LOG("%s still exists after stop", path);
	}

	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		apicv_observer_start();
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	snprintf(prefix, sizeof(prefix), "apicv-%d-", child);
	ASSERT_TRUE(instance_exists(prefix)) {
		TH_LOG("the killed child left no %s* instance to clean", prefix);
	}
	o = apicv_observer_start();
	ASSERT_FALSE(instance_exists(prefix)) {
		TH_LOG("stale %s* instance survived the next start", prefix);
	}
	apicv_observer_stop(o);
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
	create_pit(self->vm);
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

/* ---- the parser, on recorded lines (no KVM) --------------------------- */

struct parse_case {
	const char *line;
	unsigned int kver;
	bool ok, set;
	int bit;
	u64 mask;
	enum apicv_reason reason;
};

static const struct parse_case parse_cases[] = {
	/* Recorded on Debian 6.1 (kvm_amd avic=1 force_avic=1): numbers only. */
	{ " apicv_inhibit_m-105     [000] .....     6.516748: kvm_apicv_inhibit_changed: set reason=8, inhibits=0x108",
	  KVER(6, 1), true, true, 8, 0x108, APICV_REASON_PIT_REINJ },
	{ " apicv_inhibit_m-105     [000] .....     6.537708: kvm_apicv_inhibit_changed: cleared reason=3, inhibits=0x100",
	  KVER(6, 1), true, false, 3, 0x100, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-101     [001] .....     5.540766: kvm_apicv_inhibit_changed: set reason=2, inhibits=0x4",
	  KVER(6, 1), true, true, 2, 0x4, APICV_REASON_ABSENT },
	{ " apicv_inhibit_m-105     [000] .....     6.558584: kvm_apicv_inhibit_changed: cleared reason=8, inhibits=0x0",
	  KVER(6, 1), true, false, 8, 0, APICV_REASON_PIT_REINJ },
	/* 6.3-6.10: the same text with the new numbers. */
	{ "kvm_apicv_inhibit_changed: set reason=4, inhibits=0x10",
	  KVER(6, 6), true, true, 4, 0x10, APICV_REASON_PHYSICAL_ID_ALIASED },
	/* Recorded on Debian 6.12: the mask's names follow, in bit order. */
	{ " apicv_inhibit_m-154     [001] .....     5.218899: kvm_apicv_inhibit_changed: set reason=9, inhibits=0x208 BLOCKIRQ|PIT_REINJ",
	  KVER(6, 12), true, true, 9, 0x208, APICV_REASON_PIT_REINJ },
	{ " apicv_inhibit_m-154     [001] .....     5.193733: kvm_apicv_inhibit_changed: set reason=3, inhibits=0x8 BLOCKIRQ",
	  KVER(6, 12), true, true, 3, 0x8, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-154     [001] .....     5.244834: kvm_apicv_inhibit_changed: cleared reason=3, inhibits=0x200 PIT_REINJ",
	  KVER(6, 12), true, false, 3, 0x200, APICV_REASON_BLOCKIRQ },
	{ " apicv_inhibit_m-154     [001] .....     5.111952: kvm_apicv_inhibit_changed: cleared reason=11, inhibits=0x0",
	  KVER(6, 12), true, false, 11, 0, APICV_REASON_LOGICAL_ID_ALIASED },
	{ " apicv_inhibit_m-164     [000] .....     5.300000: kvm_apicv_inhibit_changed: set reason=5, inhibits=0x830 PHYSICAL_ID_ALIASED|APIC_ID_MODIFIED|LOGICAL_ID_ALIASED",
	  KVER(6, 12), true, true, 5, 0x830, APICV_REASON_APIC_ID_MODIFIED },
	/* A name beats the table: bit 12 is unknown to the 6.12 table. */
	{ "kvm_apicv_inhibit_changed: set reason=12, inhibits=0x1004 ABSENT|PHYSICAL_ID_TOO_BIG",
	  KVER(6, 12), true, true, 12, 0x1004, APICV_REASON_PHYSICAL_ID_TOO_BIG },
	/* Bare event text, as in a format example. */
	{ "set reason=8, inhibits=0x100", KVER(6, 1), true, true, 8, 0x100,
	  APICV_REASON_PIT_REINJ },
	/* Not ours. */
	{ "  qemu-1 [000] ..... 1.0: kvm_apicv_accept_irq: apicid 0 vec 32 (Fixed|edge)",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "kvm_apicv_inhibit_changed: toggled reason=1, inhibits=0x2",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "kvm_apicv_inhibit_changed: set reason=x, inhibits=0x2",
	  KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
	{ "", KVER(6, 12), false, false, 0, 0, APICV_REASON_UNKNOWN },
};

TEST(trace_parse)
{
	struct apicv_transition t;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		bool ok = apicv_trace_parse_for(c->line, &t,
						fault_parse_with_6_1_table ?
						KVER(6, 1) : c->kver);

		ASSERT_EQ(c->ok, ok) {
			TH_LOG("line %u: '%s'", i, c->line);
		}
		if (!ok)
			continue;
		ASSERT_EQ(c->set, t.set) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->bit, t.bit) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->mask, t.mask) { TH_LOG("line %u", i); }
		ASSERT_EQ(c->reason, t.reason) {
			TH_LOG("line %u: got %s", i, apicv_reason_name(t.reason));
		}
	}
	/* The header: timestamp and pid of the first line. */
	ASSERT_TRUE(apicv_trace_parse_for(parse_cases[0].line, &t, KVER(6, 1)));
	ASSERT_EQ(6516748000ull, t.ts_ns);
	ASSERT_EQ(105, t.pid);
}

/* The table's layout for each kernel generation. */
TEST(reason_table)
{
	int bit;

	ASSERT_EQ(8, apicv_reason_bit_for(APICV_REASON_PIT_REINJ, KVER(6, 1)));
	ASSERT_EQ(9, apicv_reason_bit_for(APICV_REASON_PIT_REINJ, KVER(6, 12)));
	ASSERT_EQ(-1, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_ALIASED,
					   KVER(6, 1)));
	bit = apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_ALIASED,
				   fault_table_6_3_as_6_2 ? KVER(6, 2) :
							    KVER(6, 3));
	ASSERT_EQ(4, bit) {
		TH_LOG("PHYSICAL_ID_ALIASED on 6.3: bit %d", bit);
	}
	ASSERT_EQ(-1, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_TOO_BIG,
					   KVER(6, 12)));
	ASSERT_EQ(12, apicv_reason_bit_for(APICV_REASON_PHYSICAL_ID_TOO_BIG,
					   KVER(6, 17)));
	ASSERT_EQ(APICV_REASON_SEV, apicv_reason_by_bit_for(9, KVER(6, 1)));
	ASSERT_EQ(APICV_REASON_DISABLE, apicv_reason_by_name("DISABLED"));
	ASSERT_EQ(APICV_REASON_IRQWIN,
		  apicv_reason_by_name("APICV_INHIBIT_REASON_IRQWIN"));
	ASSERT_EQ(APICV_REASON_UNKNOWN, apicv_reason_by_name("X2APIC"));
}

/* On 6.11+ the kernel names its bits: the static table must agree. */
TEST(table_matches_kernel)
{
	unsigned int kver = kernel_version();
	int r;

	if (fault_kernel_table_6_1)
		kver = KVER(6, 1);

	TEST_REQUIRE(apicv_reason_bits_from_kernel(),
		     "no inhibit names in the kvm_apicv_inhibit_changed format on %u.%u (needs 6.11+, kvm loaded, tracefs readable)",
		     kver >> 8, kver & 0xff);
	for (r = 0; r < APICV_NR_REASONS; r++) {
		EXPECT_EQ(apicv_reason_bit_for(r, kver), apicv_reason_bit(r)) {
			TH_LOG("%s: table says bit %d for %u.%u, the kernel %d",
			       apicv_reason_name(r),
			       apicv_reason_bit_for(r, kver), kver >> 8,
			       kver & 0xff, apicv_reason_bit(r));
		}
	}
}

APICV_TEST_MAIN
