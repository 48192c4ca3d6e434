// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel 8259 pair as the guest programs it through ports 0x20/0x21,
 * 0xa0/0xa1 and the ELCR (0x4d0/0x4d1), fed by KVM_IRQ_LINE and reaching
 * the BSP as ExtINT through LVT0. The handler never EOIs: the guest opens
 * IF for a moment at a time and checks, after each window, which IRQ came
 * (one at most: an IRQ in service holds back every lower one), what the
 * ISR and IRR say, and what each EOI clears:
 *   - several IRQs pending at once, slave ones among them (cascade on
 *     IRQ2), come one per EOI in priority order;
 *   - a non-specific EOI clears the highest-priority ISR bit, a specific
 *     one the bit it names, and a higher-priority IRQ nests over a lower
 *     one in service;
 *   - an IRQ masked in the IMR is held in the IRR, does not block lower
 *     ones, and comes as soon as it is unmasked;
 *   - a level-triggered slave IRQ withdrawn before the CPU acknowledges it
 *     gives the slave's spurious IRQ 15 (no slave ISR bit, the master's
 *     IRQ2 in service); a level IRQ still asserted at EOI comes again; one
 *     withdrawn before IF=1 never comes.
 * Host stimuli come on the guest's own exits, so every step is exact.
 */
#include "harness_main.h"
#include "vm.h"
#include "x86/apic.h"
#include "x86/irqchip.h"

FAULT(expect_fifo, "global.priority",
      "priority order: got IRQ 1, want IRQ 6",
      "the guest expects the IRQs in the order they were raised");
FAULT(eoi_in_handler, "global.priority",
      "interrupts in one IF=1 window, want IRQ 1 alone",
      "the handler EOIs at once: the next IRQ is not held back");
FAULT(isr_without_cascade, "global.priority",
      "after INTA of IRQ 9: ISR master 0x04 slave 0x02, want 0x00 0x02",
      "expect a slave IRQ in service without the master's IRQ2 bit");
FAULT(raise_one_fewer, "global.priority",
      "with IRQs 1 3 5 6 9 12 raised, want 0x6e 0x12",
      "the guest never raises IRQ 12");
FAULT(skip_first_eoi, "global.priority",
      "after non-specific EOI of IRQ 1: ISR master 0x02",
      "the guest skips its first EOI");
FAULT(eoi_early, "global.nested_eoi",
      "IRQ 6 while IRQs 4 and 5 are in service: IRQ 6 delivered",
      "two non-specific EOIs empty the ISR before IRQ 6 is raised");
FAULT(wrong_specific_eoi, "global.nested_eoi",
      "after specific EOI of IRQ 5: ISR master 0x20 slave 0x00, want 0x08",
      "the specific EOI names IRQ 3 instead of IRQ 5");
FAULT(eoi_lowest_instead, "global.nested_eoi",
      "after non-specific EOI: ISR master 0x10",
      "a specific EOI of the lowest-priority IRQ replaces the non-specific one");
FAULT(mask_nothing, "global.imr", "masked IRQ 3: got IRQ 3, want IRQ 5",
      "the guest leaves IRQ 3 unmasked in the IMR");
FAULT(keep_masked, "global.imr", "IRQ 3 unmasked: 0 interrupts",
      "the guest never unmasks IRQ 3");
FAULT(slave_line_held, "global.level_spurious",
      "withdrawn slave IRQ 10: got IRQ 10, want IRQ 15",
      "the host never lowers the slave's level line before the window");
FAULT(spurious_sets_isr, "global.level_spurious",
      "spurious IRQ 15: ISR master 0x04 slave 0x00, want 0x04 0x80",
      "expect the slave's spurious IRQ 15 to set its ISR bit 7");
FAULT(lower_before_eoi, "global.level_spurious",
      "level IRQ 5 asserted at EOI: 0 interrupts",
      "the host lowers IRQ 5's line before the guest's EOI");
FAULT(withdrawn_held, "global.level_spurious",
      "level IRQ 5 withdrawn before IF=1: IRQ 5 delivered",
      "the host leaves the withdrawn master level line asserted");

#define MASTER_BASE	0x20
#define SLAVE_BASE	0x28
#define LINE_PORT	0xe6
#define LINE_PULSE	0
#define LINE_HIGH	1
#define LINE_LOW	2
#define MAX_LOG		64

/* Shared with the guest. */
static u64 taken;		/* interrupts the handler took */
static u8 taken_vec[MAX_LOG];

static void pic_irq_handler(struct ex_regs *regs)
{
	u64 n = READ_ONCE(taken);

	taken_vec[n % MAX_LOG] = regs->vector;
	WRITE_ONCE(taken, n + 1);
	if (fault_eoi_in_handler)
		pic_eoi(regs->vector - MASTER_BASE);
}

static bool line_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	u32 v, irq;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != LINE_PORT)
		return false;
	v = *(u32 *)((u8 *)run + run->io.data_offset);
	irq = v & 0xff;
	switch (v >> 8) {
	case LINE_PULSE:
		vm_irq_pulse(vcpu->vm, irq);
		break;
	case LINE_HIGH:
		vm_irq_line(vcpu->vm, irq, 1);
		break;
	default:
		vm_irq_line(vcpu->vm, irq, 0);
		break;
	}
	return true;
}

/* --- Guest helpers --- */

static void line(int irq, int op)
{
	outl(LINE_PORT, irq | op << 8);
}

static int vec_irq(u8 vec)
{
	return vec - MASTER_BASE;
}

static void guest_pic_setup(void)
{
	xapic_enable();
	lvt0_set_extint(false);
	cli();
	pic_init(MASTER_BASE, SLAVE_BASE, 0, 0);
}

/* IF=1 for a moment: how many interrupts came in it. */
static u64 window(void)
{
	u64 n0 = READ_ONCE(taken);

	sti();
	guest_udelay(200);
	cli();
	return READ_ONCE(taken) - n0;
}

static void expect_irq(int irq, const char *why)
{
	u64 n = window();
	int got = n ? vec_irq(taken_vec[(taken - n) % MAX_LOG]) : -1;

	GUEST_ASSERT(n == 1,
		     "%s: %llu interrupts in one IF=1 window, want IRQ %d alone (first: IRQ %d)",
		     why, n, irq, got);
	GUEST_ASSERT(got == irq, "%s: got IRQ %d, want IRQ %d", why, got, irq);
}

static void expect_none(const char *why)
{
	u64 n = window();

	GUEST_ASSERT(!n, "%s: IRQ %d delivered (%llu interrupts), want none",
		     why, vec_irq(taken_vec[(taken - 1) % MAX_LOG]), n);
}

/* @irq < 0: @what alone names the step. */
static void expect_isr(u8 m, u8 s, const char *what, int irq)
{
	u8 gm = pic_read_isr(false), gs = pic_read_isr(true);

	if (irq < 0)
		GUEST_ASSERT(gm == m && gs == s,
			     "%s: ISR master 0x%02x slave 0x%02x, want 0x%02x 0x%02x",
			     what, gm, gs, m, s);
	else
		GUEST_ASSERT(gm == m && gs == s,
			     "%s%d: ISR master 0x%02x slave 0x%02x, want 0x%02x 0x%02x",
			     what, irq, gm, gs, m, s);
}

/* The ISR bits an acknowledged @irq sets. */
static void expect_isr_of(int irq, const char *what)
{
	if (irq < 8)
		expect_isr(BIT(irq), 0, what, irq);
	else if (fault_isr_without_cascade)
		expect_isr(0, BIT(irq - 8), what, irq);
	else
		expect_isr(BIT(2), BIT(irq - 8), what, irq);
}

/* --- Priority order, one per EOI --- */

static const int prio_raised[] = { 6, 12, 3, 9, 5, 1 };
static const int prio_order[] = { 1, 9, 12, 3, 5, 6 };

static void guest_priority(void)
{
	u8 irr_m, irr_s;
	unsigned int k;
	int irq;

	guest_pic_setup();
	for (k = 0; k < ARRAY_SIZE(prio_raised); k++)
		if (!fault_raise_one_fewer || prio_raised[k] != 12)
			line(prio_raised[k], LINE_PULSE);
	irr_m = pic_read_irr(false);
	irr_s = pic_read_irr(true);
	/* 1, 3, 5, 6 and the slave's IRQ2; 9 and 12 on the slave. */
	GUEST_ASSERT(irr_m == 0x6e && irr_s == 0x12,
		     "IRR master 0x%02x slave 0x%02x with IRQs 1 3 5 6 9 12 raised, want 0x6e 0x12",
		     irr_m, irr_s);
	for (k = 0; k < ARRAY_SIZE(prio_order); k++) {
		irq = fault_expect_fifo ? prio_raised[k] : prio_order[k];
		expect_irq(irq, "priority order");
		expect_isr_of(irq, "after INTA of IRQ ");
		/* Alternate the two EOI forms. */
		if (k & 1) {
			pic_eoi_specific(irq);
			expect_isr(0, 0, "after specific EOI of IRQ ", irq);
		} else {
			if (!fault_skip_first_eoi || k)
				pic_eoi(irq);
			expect_isr(0, 0, "after non-specific EOI of IRQ ", irq);
		}
	}
	expect_none("all six taken");
	irr_m = pic_read_irr(false);
	irr_s = pic_read_irr(true);
	GUEST_ASSERT(!irr_m && !irr_s, "IRR master 0x%02x slave 0x%02x at the end",
		     irr_m, irr_s);
	GUEST_DONE();
}

/* --- Nesting and the two EOI forms with two IRQs in service --- */

static void guest_nested_eoi(void)
{
	guest_pic_setup();
	line(5, LINE_PULSE);
	expect_irq(5, "IRQ 5 alone");
	line(4, LINE_PULSE);
	expect_irq(4, "IRQ 4 over IRQ 5 in service");
	expect_isr(0x30, 0, "IRQs 4 and 5 in service", -1);
	if (fault_eoi_early) {
		outb(PIC_MASTER_CMD, PIC_OCW2_EOI);
		outb(PIC_MASTER_CMD, PIC_OCW2_EOI);
	}
	line(6, LINE_PULSE);
	expect_none("IRQ 6 while IRQs 4 and 5 are in service");
	/* Non-specific: the highest priority in service, IRQ 4. */
	if (fault_eoi_lowest_instead)
		pic_eoi_specific(5);
	else
		outb(PIC_MASTER_CMD, PIC_OCW2_EOI);
	expect_isr(0x20, 0, "after non-specific EOI", -1);
	expect_none("IRQ 6 while IRQ 5 is in service");
	line(3, LINE_PULSE);
	expect_irq(3, "IRQ 3 over IRQ 5 in service");
	/* Specific: IRQ 5, below IRQ 3 in priority. */
	pic_eoi_specific(fault_wrong_specific_eoi ? 3 : 5);
	expect_isr(0x08, 0, "after specific EOI of IRQ ", 5);
	expect_none("IRQ 6 while IRQ 3 is in service");
	outb(PIC_MASTER_CMD, PIC_OCW2_EOI);
	expect_irq(6, "IRQ 6 after the last EOI");
	pic_eoi_specific(6);
	expect_isr(0, 0, "after specific EOI of IRQ ", 6);
	expect_none("nothing left");
	GUEST_DONE();
}

/* --- The IMR --- */

static void guest_imr(void)
{
	u8 irr;

	guest_pic_setup();
	pic_set_mask(fault_mask_nothing ? 0 : BIT(3), 0);
	line(3, LINE_PULSE);
	line(5, LINE_PULSE);
	/* A masked IRQ neither comes nor blocks a lower one. */
	expect_irq(5, "masked IRQ 3");
	irr = pic_read_irr(false);
	GUEST_ASSERT(irr == BIT(3), "masked IRQ 3: IRR 0x%02x, want 0x08", irr);
	/* Unmasked with IRQ 5 in service: it nests over it. */
	if (!fault_keep_masked)
		pic_set_mask(0, 0);
	expect_irq(3, "IRQ 3 unmasked");
	expect_isr(0x28, 0, "IRQs 3 and 5 in service", -1);
	pic_eoi(3);
	pic_eoi(5);
	expect_isr(0, 0, "after both EOIs", -1);
	expect_none("nothing left");
	GUEST_DONE();
}

/* --- Level triggering and the spurious IRQ --- */

static void guest_level_spurious(void)
{
	guest_pic_setup();
	outb(PIC_ELCR_MASTER, BIT(5));
	outb(PIC_ELCR_SLAVE, BIT(10 - 8));

	/* Slave IRQ 10 asserted and withdrawn before the acknowledge. */
	line(10, LINE_HIGH);
	if (!fault_slave_line_held)
		line(10, LINE_LOW);
	expect_irq(15, "withdrawn slave IRQ 10");
	expect_isr(BIT(2), fault_spurious_sets_isr ? BIT(7) : 0,
		   "spurious IRQ ", 15);
	outb(PIC_MASTER_CMD, PIC_OCW2_EOI);	/* the master's IRQ2 only */
	line(10, LINE_LOW);
	expect_isr(0, 0, "after EOI of spurious IRQ ", 15);
	expect_none("after the spurious IRQ");

	/* Master IRQ 5, level: comes again while asserted at EOI. */
	line(5, LINE_HIGH);
	expect_irq(5, "level IRQ 5");
	if (fault_lower_before_eoi)
		line(5, LINE_LOW);
	pic_eoi(5);
	expect_irq(5, "level IRQ 5 asserted at EOI");
	line(5, LINE_LOW);
	pic_eoi(5);
	expect_none("level IRQ 5 withdrawn");

	/* Asserted and withdrawn while IF=0: nothing at all. */
	line(5, LINE_HIGH);
	if (!fault_withdrawn_held)
		line(5, LINE_LOW);
	expect_none("level IRQ 5 withdrawn before IF=1");
	line(5, LINE_LOW);
	outb(PIC_ELCR_MASTER, 0);
	outb(PIC_ELCR_SLAVE, 0);
	GUEST_DONE();
}

static void run_guest(void *guest)
{
	struct kvm_vm *vm = vm_create(IRQCHIP_KERNEL);
	struct kvm_vcpu *vcpu;
	struct ucall uc;
	int v;

	taken = 0;
	for (v = MASTER_BASE; v < SLAVE_BASE + 8; v++)
		vm_install_handler(vm, v, pic_irq_handler);
	vcpu = vm_add_vcpu(vm, 0, guest);
	vcpu->on_exit = line_exit;
	vcpu_run_expect(vcpu, UCALL_DONE, &uc);
	test_log("%llu interrupts taken", taken);
	vm_free(vm);
}

TEST(priority)
{
	run_guest(guest_priority);
}

TEST(nested_eoi)
{
	run_guest(guest_nested_eoi);
}

TEST(imr)
{
	run_guest(guest_imr);
}

TEST(level_spurious)
{
	run_guest(guest_level_spurious);
}

APICV_TEST_MAIN
