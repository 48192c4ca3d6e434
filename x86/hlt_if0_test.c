// SPDX-License-Identifier: GPL-2.0
/*
 * HLT with IF=0. A maskable interrupt (a pending self-IPI, a fixed IPI
 * from another vCPU, the LAPIC timer) must not end it: the vCPU stays
 * halted (mp_state HALTED, no progress past HLT) with the vector pending
 * in IRR. An NMI (KVM_NMI or an NMI IPI) ends it: the NMI handler runs,
 * execution continues after HLT with the maskable vector still pending
 * until STI. INIT puts a halted AP in wait-for-SIPI (INIT_RECEIVED), which
 * a fixed IPI does not end, and SIPI starts it in real mode at the
 * vector's page.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness_main.h"
#include "vm.h"
#include "x86/apic.h"

FAULT(target_sti, "if0.self_ipi.*", "ended HLT with IF=0",
      "the target halts with IF=1 (sti; hlt)");
FAULT(no_stimulus, "if0.timer.*", "not pending in IRR while",
      "no maskable interrupt is raised (the timer is not armed)");
FAULT(no_nmi, "if0.ipi.*", "NMI did not end HLT",
      "the NMI IPI is not sent");
FAULT(nmi_sets_if, "if0.self_ipi.*", "after the NMI: taken",
      "the NMI handler returns with IF=1");
FAULT(skip_window, "if0.timer.*", "once IF=1",
      "the guest opens no interrupt window after the NMI");
FAULT(nmi_twice, "if0.timer.*", "NMI handler ran",
      "the host injects the NMI twice");
FAULT(skip_init, "*init_sipi", "after INIT: mp_state",
      "the sender sends a fixed IPI instead of INIT");
FAULT(sipi_early, "*init_sipi", "ended wait-for-SIPI",
      "the sender sends SIPI where the fixed IPI goes");
FAULT(sipi_wrong_vector, "*init_sipi", "SIPI started the AP with CS",
      "SIPI with the next vector (its page holds the same trampoline)");

#define MASK_VEC	0x61
#define NMI_VEC		2
#define HALT_WAIT_US	100000u		/* how long a halted vCPU must stay so */
#define TIMER_COUNT	1000000u	/* ~1 ms at KVM's 1 GHz APIC bus */

enum kind { KIND_SELF, KIND_IPI, KIND_TIMER };

static volatile u32 stage;	/* 1: about to HLT, 2: past it */
static volatile u32 nmis, maskable, sent, go_nmi;

static void guest_nmi(struct ex_regs *regs)
{
	nmis++;
	if (fault_nmi_sets_if)
		regs->rflags |= X86_EFLAGS_IF;
}

static void guest_maskable(struct ex_regs *regs)
{
	(void)regs;
	maskable++;
	apic_eoi();
}

static void guest_target(u64 kind)
{
	bool pending;

	if (kind == KIND_IPI)
		xapic_enable();
	else
		x2apic_enable();
	cli();
	if (kind == KIND_SELF) {
		apic_self_ipi(MASK_VEC);
		GUEST_ASSERT(apic_vec_test(APIC_IRR, MASK_VEC),
			     "self-IPI 0x%x not pending before HLT", MASK_VEC);
	} else if (kind == KIND_TIMER && !fault_no_stimulus) {
		apic_write(APIC_TDCR, 0xb);		/* divide by 1 */
		apic_write(APIC_LVTT, MASK_VEC);	/* one-shot */
		apic_write(APIC_TMICT, TIMER_COUNT);
	}
	stage = 1;
	if (fault_target_sti)
		sti_hlt();
	else
		hlt();
	stage = 2;
	if (!nmis)
		GUEST_FAIL("a maskable interrupt ended HLT with IF=0 (no NMI yet, vector 0x%x taken %u times)",
			   MASK_VEC, maskable);
	pending = apic_vec_test(APIC_IRR, MASK_VEC);
	GUEST_ASSERT(!maskable && pending,
		     "vector 0x%x after the NMI: taken %u times, pending %u (IF=0)",
		     MASK_VEC, maskable, pending);
	if (!fault_skip_window)
		sti_nop_cli();
	GUEST_ASSERT(maskable == 1, "vector 0x%x taken %u times once IF=1",
		     MASK_VEC, maskable);
}

static void guest_sender(void)
{
	xapic_enable();
	while (stage != 1)
		cpu_relax();
	guest_udelay(1000);		/* let the target reach HLT */
	apic_icr_write(1, apic_icr_low(MASK_VEC, APIC_DM_FIXED, false, 0));
	sent = 1;
	while (!go_nmi)
		cpu_relax();
	if (!fault_no_nmi)
		apic_icr_write(1, apic_icr_low(0, APIC_DM_NMI, false, 0));
}

static void guest_main(u64 kind)
{
	if (kind == KIND_IPI && this_cpu_id() == 0)
		guest_sender();
	else
		guest_target(kind);
}

/* Polls a flag the guest sets, failing with @what at the deadline. */
static void wait_flag(volatile u32 *flag, u32 want, u64 ms, const char *what)
{
	u64 end = now_ns() + ms * 1000000ull;

	while (READ_ONCE(*flag) != want) {
		TEST_ASSERT(now_ns() < end, "%s within %llu ms (flag %u, want %u)",
			    what, ms, READ_ONCE(*flag), want);
		sleep_us(500);
	}
}

FIXTURE(if0) {};
FIXTURE_VARIANT(if0) { enum kind kind; };
FIXTURE_VARIANT_ADD(if0, self_ipi) { .kind = KIND_SELF };
FIXTURE_VARIANT_ADD(if0, ipi) { .kind = KIND_IPI };
FIXTURE_VARIANT_ADD(if0, timer) { .kind = KIND_TIMER };
FIXTURE_SETUP(if0) {}
FIXTURE_TEARDOWN(if0) {}

TEST_F(if0, maskable_then_nmi)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	int i, n = variant->kind == KIND_IPI ? 2 : 1;
	struct kvm_lapic_state st;
	struct kvm_vcpu *target;
	u32 mp;

	stage = nmis = maskable = sent = go_nmi = 0;
	vm_install_handler(vm, NMI_VEC, guest_nmi);
	vm_install_handler(vm, MASK_VEC, guest_maskable);
	vm_add_vcpus(vm, n, guest_main);
	for (i = 0; i < n; i++)
		vcpu_args_set(vm->vcpus[i], variant->kind);
	target = vm->vcpus[n - 1];
	vm_threads_start(vm);
	wait_flag(&stage, 1, 5000, "the target did not reach HLT");
	if (variant->kind == KIND_IPI)
		wait_flag(&sent, 1, 5000, "the sender did not send its IPI");
	sleep_us(HALT_WAIT_US);

	vcpu_thread_stop(target);
	mp = vcpu_mp_state(target);
	TEST_ASSERT(stage == 1 && mp == KVM_MP_STATE_HALTED,
		    "a maskable interrupt ended HLT with IF=0: after %u ms stage %u, mp_state %u (want %u, HALTED)",
		    HALT_WAIT_US / 1000, stage, mp, KVM_MP_STATE_HALTED);
	vcpu_lapic_get(target, &st);
	TEST_ASSERT(lapic_state_vec_test(&st, APIC_IRR, MASK_VEC),
		    "vector 0x%x not pending in IRR while the vCPU halted with IF=0",
		    MASK_VEC);

	if (variant->kind == KIND_IPI)
		WRITE_ONCE(go_nmi, 1);
	else if (!fault_no_nmi)
		vcpu_ioctl(target, KVM_NMI, NULL);
	if (fault_nmi_twice)
		vcpu_ioctl(target, KVM_NMI, NULL);
	vcpu_thread_start(target);
	wait_flag(&stage, 2, 2000, "an NMI did not end HLT with IF=0");
	vm_wait_done(vm, 5000, "after the NMI ended HLT");
	EXPECT_EQ(1, nmis)
		TH_LOG("the NMI handler ran %u times for one NMI", nmis);
	vm_free(vm);
}

/*
 * INIT/SIPI. The trampoline runs in real mode at the SIPI vector's page:
 * it stores CS (vector << 8) at TRAMP_MARKER and halts with IF=0.
 */
#define SIPI_VEC	0x20
#define TRAMP_BASE	((u64)SIPI_VEC << 12)
#define TRAMP_PAGES	2		/* SIPI_VEC and SIPI_VEC + 1 */
#define TRAMP_MARKER	(TRAMP_BASE + 0xf00)

extern const u8 sipi_tramp[], sipi_tramp_end[];
__asm__(".pushsection .rodata\n"
	".globl sipi_tramp, sipi_tramp_end\n"
	"sipi_tramp:\n"
	".code16\n"
	"cli\n"
	"mov $" __stringify(SIPI_VEC) "00, %ax\n"	/* DS = SIPI_VEC's page */
	"mov %ax, %ds\n"
	"mov %cs, %ax\n"
	"mov %ax, 0xf00\n"
	"1: hlt\n"
	"jmp 1b\n"
	".code64\n"
	"sipi_tramp_end:\n"
	".popsection\n");

static volatile u32 init_sent, fixed_sent, go_fixed, go_sipi;

static void guest_init_sender(void)
{
	u32 sipi = SIPI_VEC + (fault_sipi_wrong_vector ? 1 : 0);

	x2apic_enable();
	while (stage != 1)
		cpu_relax();
	guest_udelay(1000);
	if (fault_skip_init)
		apic_icr_write(1, apic_icr_low(MASK_VEC, APIC_DM_FIXED, false, 0));
	else
		apic_icr_write(1, apic_icr_low(0, APIC_DM_INIT, false, 0));
	init_sent = 1;
	while (!go_fixed)
		cpu_relax();
	if (fault_sipi_early)
		apic_icr_write(1, apic_icr_low(sipi, APIC_DM_STARTUP, false, 0));
	else
		apic_icr_write(1, apic_icr_low(MASK_VEC, APIC_DM_FIXED, false, 0));
	fixed_sent = 1;
	while (!go_sipi)
		cpu_relax();
	apic_icr_write(1, apic_icr_low(sipi, APIC_DM_STARTUP, false, 0));
}

static void guest_init_main(void)
{
	if (this_cpu_id() == 0) {
		guest_init_sender();
		return;
	}
	x2apic_enable();
	cli();
	stage = 1;
	hlt();
	GUEST_FAIL("the INIT target left HLT with IF=0 in 64-bit mode");
}

/* Stops @vcpu's thread, requires @want, and runs it again. */
static void expect_mp_state(struct kvm_vcpu *vcpu, u32 want, const char *when)
{
	u32 mp;

	vcpu_thread_stop(vcpu);
	mp = vcpu_mp_state(vcpu);
	if (mp != want)
		vcpu_dump(vcpu, when);
	TEST_ASSERT(mp == want, "%s: mp_state %u, want %u (INIT_RECEIVED)",
		    when, mp, want);
	vcpu_thread_start(vcpu);
}

TEST(init_sipi)
{
	size_t size = TRAMP_PAGES * 4096, len = sipi_tramp_end - sipi_tramp;
	struct kvm_vcpu *target;
	struct kvm_sregs sregs;
	struct kvm_vm *vm;
	u8 *pages;
	u32 i, mp;
	u16 cs;

	pages = mmap((void *)TRAMP_BASE, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	TEST_REQUIRE(pages == (void *)TRAMP_BASE,
		     "cannot map the SIPI page at 0x%llx: %s (vm.mmap_min_addr?)",
		     TRAMP_BASE, strerror(errno));
	for (i = 0; i < TRAMP_PAGES; i++)
		memcpy(pages + i * 4096, sipi_tramp, len);
	stage = init_sent = fixed_sent = go_fixed = go_sipi = 0;
	vm = vm_create(IRQCHIP_KERNEL);
	vm_map_host(vm, pages, size);
	vm_install_handler(vm, MASK_VEC, guest_maskable);
	vm_add_vcpus(vm, 2, guest_init_main);
	target = vm->vcpus[1];
	vm_threads_start(vm);
	wait_flag(&stage, 1, 5000, "the INIT target did not reach HLT");
	wait_flag(&init_sent, 1, 5000, "the sender did not send INIT");
	sleep_us(HALT_WAIT_US);
	expect_mp_state(target, KVM_MP_STATE_INIT_RECEIVED,
			"halted AP after INIT");
	WRITE_ONCE(go_fixed, 1);
	wait_flag(&fixed_sent, 1, 5000, "the sender did not send its IPI");
	sleep_us(HALT_WAIT_US);
	expect_mp_state(target, KVM_MP_STATE_INIT_RECEIVED,
			"a fixed IPI ended wait-for-SIPI");
	WRITE_ONCE(go_sipi, 1);
	TEST_ASSERT(vcpu_thread_wait(vm->vcpus[0], 5000),
		    "the sender did not finish");
	cs = 0;
	for (i = 0; i < 2000 && !(cs = READ_ONCE(*(u16 *)TRAMP_MARKER)); i++)
		sleep_us(1000);
	/* The trampoline halts right after its marker: let it get there. */
	sleep_us(HALT_WAIT_US);
	vcpu_thread_stop(target);
	mp = vcpu_mp_state(target);
	vcpu_sregs_get(target, &sregs);
	TEST_ASSERT(cs == SIPI_VEC << 8,
		    "SIPI started the AP with CS 0x%x, want 0x%x (mp_state %u, CS base 0x%llx)",
		    cs, SIPI_VEC << 8, mp, sregs.cs.base);
	EXPECT_EQ(TRAMP_BASE, sregs.cs.base);
	EXPECT_EQ(KVM_MP_STATE_HALTED, mp);
	vm_free(vm);
	munmap(pages, size);
}

APICV_TEST_MAIN
