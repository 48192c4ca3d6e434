// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "x86/apic.h"
#include "x86/irqchip.h"

/* --- Guest side --- */

void pic_init(u8 master_base, u8 slave_base, u8 master_mask, u8 slave_mask)
{
	outb(PIC_MASTER_CMD, PIC_ICW1_INIT | PIC_ICW1_ICW4);
	outb(PIC_SLAVE_CMD, PIC_ICW1_INIT | PIC_ICW1_ICW4);
	outb(PIC_MASTER_DATA, master_base);
	outb(PIC_SLAVE_DATA, slave_base);
	outb(PIC_MASTER_DATA, 1u << 2);	/* slave on IRQ2 */
	outb(PIC_SLAVE_DATA, 2);		/* cascade identity */
	outb(PIC_MASTER_DATA, PIC_ICW4_8086);
	outb(PIC_SLAVE_DATA, PIC_ICW4_8086);
	pic_set_mask(master_mask, slave_mask);
}

void pic_set_mask(u8 master_mask, u8 slave_mask)
{
	outb(PIC_MASTER_DATA, master_mask);
	outb(PIC_SLAVE_DATA, slave_mask);
}

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC_SLAVE_CMD, PIC_OCW2_EOI);
	outb(PIC_MASTER_CMD, PIC_OCW2_EOI);
}

void pic_eoi_specific(int irq)
{
	if (irq >= 8) {
		outb(PIC_SLAVE_CMD, PIC_OCW2_SEOI | (irq & 7));
		irq = 2;
	}
	outb(PIC_MASTER_CMD, PIC_OCW2_SEOI | irq);
}

static u8 pic_read_reg(bool slave, u8 ocw3)
{
	u16 port = slave ? PIC_SLAVE_CMD : PIC_MASTER_CMD;

	outb(port, ocw3);
	return inb(port);
}

u8 pic_read_isr(bool slave)
{
	return pic_read_reg(slave, PIC_OCW3_READ_ISR);
}

u8 pic_read_irr(bool slave)
{
	return pic_read_reg(slave, PIC_OCW3_READ_IRR);
}

void pit_program(u8 mode, u16 count)
{
	/* Channel 0, access lobyte then hibyte, binary. */
	outb(PIT_CMD, (0u << 6) | (3u << 4) | ((mode & 7) << 1));
	outb(PIT_CH0, count & 0xff);
	outb(PIT_CH0, count >> 8);
}

static volatile u32 *ioapic_reg(u32 off)
{
	return (volatile u32 *)(IOAPIC_MMIO + off);
}

void ioapic_write_redir(int pin, u64 entry)
{
	*ioapic_reg(0) = IOAPIC_REG_REDIR(pin);
	*ioapic_reg(0x10) = (u32)entry;
	*ioapic_reg(0) = IOAPIC_REG_REDIR(pin) + 1;
	*ioapic_reg(0x10) = (u32)(entry >> 32);
}

u64 ioapic_read_redir(int pin)
{
	u64 lo, hi;

	*ioapic_reg(0) = IOAPIC_REG_REDIR(pin);
	lo = *ioapic_reg(0x10);
	*ioapic_reg(0) = IOAPIC_REG_REDIR(pin) + 1;
	hi = *ioapic_reg(0x10);
	return lo | (hi << 32);
}

void lvt0_set_extint(bool masked)
{
	apic_write(APIC_LVT0, APIC_LVT_DM_EXTINT | (masked ? APIC_LVT_MASKED : 0));
}

/* --- Host side: in-kernel devices --- */

void vm_create_pit(struct kvm_vm *vm, u32 flags)
{
	struct kvm_pit_config cfg = { .flags = flags };

	vm_ioctl(vm, KVM_CREATE_PIT2, &cfg);
}

void vm_pit_reinject(struct kvm_vm *vm, bool on)
{
	struct kvm_reinject_control rc = { .pit_reinject = on };

	vm_ioctl(vm, KVM_REINJECT_CONTROL, &rc);
}

int vm_irq_line(struct kvm_vm *vm, u32 gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	vm_ioctl(vm, KVM_IRQ_LINE_STATUS, &l);
	return l.status;
}

void vm_irq_pulse(struct kvm_vm *vm, u32 gsi)
{
	vm_irq_line(vm, gsi, 1);
	vm_irq_line(vm, gsi, 0);
}

int vm_signal_msi(struct kvm_vm *vm, u64 addr, u32 data)
{
	struct kvm_msi msi = {
		.address_lo = (u32)addr, .address_hi = (u32)(addr >> 32),
		.data = data,
	};

	return __vm_ioctl(vm, KVM_SIGNAL_MSI, &msi);
}

int __vcpu_interrupt(struct kvm_vcpu *vcpu, u32 vector)
{
	struct kvm_interrupt irq = { .irq = vector };

	return __vcpu_ioctl(vcpu, KVM_INTERRUPT, &irq) ? -errno : 0;
}

/* --- Userspace 8259 --- */

void upic_reset(struct upic *p)
{
	memset(p, 0, sizeof(*p));
	p->imr = 0xff;
}

void upic_raise(struct upic *p, int irq)
{
	TEST_ASSERT(irq >= 0 && irq < 8, "userspace PIC: IRQ %d unsupported",
		    irq);
	p->irr |= 1u << irq;
}

static int upic_winner(struct upic *p)
{
	u8 pending = p->irr & ~p->imr;
	int i;

	if (p->init_step)
		return -1;
	for (i = 0; i < 8; i++) {
		if (p->isr & (1u << i))
			return -1;	/* fully nested: same or higher busy */
		if (pending & (1u << i))
			return i;
	}
	return -1;
}

int upic_output(struct upic *p)
{
	int i = upic_winner(p);

	return i < 0 ? -1 : p->base + i;
}

int upic_ack(struct upic *p)
{
	int i = upic_winner(p);

	TEST_ASSERT(i >= 0, "userspace PIC: INTA with no request");
	p->irr &= ~(1u << i);
	if (!p->auto_eoi)
		p->isr |= 1u << i;
	p->acks++;
	return p->base + i;
}

static void upic_write_cmd(struct upic *p, u8 v)
{
	int i;

	if (v & PIC_ICW1_INIT) {
		p->irr = p->isr = p->imr = 0;
		p->read_isr = false;
		p->need_icw4 = v & PIC_ICW1_ICW4;
		p->init_step = (v & 0x02) ? 0x12 : 2;	/* 0x10: single */
		return;
	}
	if ((v & 0x18) == 0x08) {			/* OCW3 */
		if (v & 0x02)
			p->read_isr = v & 0x01;
		return;
	}
	if ((v & 0xe0) == 0x20) {			/* non-specific EOI */
		for (i = 0; i < 8; i++)
			if (p->isr & (1u << i)) {
				p->isr &= ~(1u << i);
				break;
			}
		p->eois++;
	} else if ((v & 0xe0) == 0x60) {		/* specific EOI */
		p->isr &= ~(1u << (v & 7));
		p->eois++;
	}
}

static void upic_write_data(struct upic *p, u8 v)
{
	bool single = p->init_step & 0x10;

	switch (p->init_step & 0xf) {
	case 2:
		p->base = v & 0xf8;
		p->init_step = single ? (p->need_icw4 ? 4 : 0) : 3;
		break;
	case 3:
		p->init_step = p->need_icw4 ? 4 : 0;
		break;
	case 4:
		p->auto_eoi = v & PIC_ICW4_AUTO_EOI;
		p->init_step = 0;
		break;
	default:
		p->imr = v;
	}
}

bool upic_io(struct upic *p, struct kvm_run *run)
{
	u8 *data = (u8 *)run + run->io.data_offset;
	u16 port = run->io.port;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	if (port != PIC_MASTER_CMD && port != PIC_MASTER_DATA &&
	    port != PIC_SLAVE_CMD && port != PIC_SLAVE_DATA)
		return false;
	TEST_ASSERT(run->io.size == 1 && run->io.count == 1,
		    "userspace PIC: %u-byte x%u access to port 0x%x",
		    run->io.size, run->io.count, port);
	if (port == PIC_SLAVE_CMD || port == PIC_SLAVE_DATA) {
		/* Slave: accepted and ignored (no IRQs 8-15 here). */
		if (!out)
			*data = port == PIC_SLAVE_DATA ? 0xff : 0;
		return true;
	}
	if (out && port == PIC_MASTER_CMD)
		upic_write_cmd(p, *data);
	else if (out)
		upic_write_data(p, *data);
	else if (port == PIC_MASTER_CMD)
		*data = p->read_isr ? p->isr : p->irr;
	else
		*data = p->imr;
	return true;
}

/* --- The run loop --- */

const char *extint_path_name(enum irqchip_mode m)
{
	return m == IRQCHIP_KERNEL ? "in-kernel PIC, KVM_IRQ_LINE" :
	       m == IRQCHIP_SPLIT ? "split irqchip, KVM_INTERRUPT" :
				    "no irqchip, KVM_INTERRUPT";
}

void extint_vcpu_init(struct extint_vcpu *x, struct kvm_vcpu *vcpu, int irq)
{
	memset(x, 0, sizeof(*x));
	x->vcpu = vcpu;
	x->irq = irq;
	x->thread = pthread_self();
	x->hlt_timeout_ms = 10000;
	upic_reset(&x->pic);
}

static bool extint_user_pic(struct extint_vcpu *x)
{
	return x->vcpu->vm->irqchip != IRQCHIP_KERNEL;
}

void extint_request_edge(struct extint_vcpu *x)
{
	if (!extint_user_pic(x)) {
		vm_irq_pulse(x->vcpu->vm, x->irq);
		return;
	}
	__atomic_add_fetch(&x->requested, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&x->vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(x->thread, SIGUSR1);
}

void extint_stop(struct extint_vcpu *x)
{
	WRITE_ONCE(x->stop, true);
	__atomic_store_n(&x->vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(x->thread, SIGUSR1);
}

static void extint_fold(struct extint_vcpu *x)
{
	u64 req = __atomic_load_n(&x->requested, __ATOMIC_SEQ_CST);

	if (req != x->folded) {
		upic_raise(&x->pic, x->irq);
		x->folded = req;
	}
}

/* Before KVM_RUN: hand the PIC's output to KVM or ask for a window. */
static void extint_prepare(struct extint_vcpu *x)
{
	struct kvm_run *run = x->vcpu->run;
	int r;

	extint_fold(x);
	if (upic_output(&x->pic) >= 0 && run->ready_for_interrupt_injection) {
		r = __vcpu_interrupt(x->vcpu, upic_output(&x->pic));
		TEST_ASSERT(!r, "%s: KVM_INTERRUPT while ready: %s",
			    vcpu_name(x->vcpu), strerror(-r));
		upic_ack(&x->pic);
		x->injections++;
		/* KVM holds it now; the flag is stale until the next exit. */
		run->ready_for_interrupt_injection = 0;
	}
	run->request_interrupt_window = upic_output(&x->pic) >= 0;
	if (run->request_interrupt_window)
		x->window_requests++;
}

static void extint_wait_in_hlt(struct extint_vcpu *x)
{
	u64 deadline = now_ns() + x->hlt_timeout_ms * 1000000ull;

	while (upic_output(&x->pic) < 0) {
		if (READ_ONCE(x->stop))
			return;
		TEST_ASSERT(now_ns() < deadline,
			    "%s: halted with IF=%u and no interrupt for %llu ms",
			    vcpu_name(x->vcpu), x->vcpu->run->if_flag,
			    x->hlt_timeout_ms);
		sleep_us(20);
		extint_fold(x);
	}
}

static bool extint_exit(struct extint_vcpu *x)
{
	struct kvm_run *run = x->vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		x->window_exits++;
		TEST_ASSERT(run->if_flag && run->ready_for_interrupt_injection,
			    "%s: window exit with if_flag=%u ready=%u",
			    vcpu_name(x->vcpu), run->if_flag,
			    run->ready_for_interrupt_injection);
		if (x->on_window)
			x->on_window(x);
		return true;
	case KVM_EXIT_HLT:
		x->hlt_exits++;
		extint_wait_in_hlt(x);
		return true;
	case KVM_EXIT_IO:
		x->io_exits++;
		if (extint_user_pic(x) && upic_io(&x->pic, run))
			return true;
		break;
	}
	return x->on_exit && x->on_exit(x);
}

u64 extint_run(struct extint_vcpu *x, struct ucall *uc)
{
	struct kvm_vcpu *vcpu = x->vcpu;
	u64 type;

	TEST_ASSERT(pthread_equal(x->thread, pthread_self()),
		    "extint_run must run on the thread extint_vcpu_init ran on");
	for (;;) {
		if (extint_user_pic(x))
			extint_prepare(x);
		vcpu_run(vcpu);
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (READ_ONCE(x->stop))
			return UCALL_NONE;
		type = vcpu_handle_ucall(vcpu, uc);
		if (type == UCALL_SYNC || type == UCALL_DONE)
			return type;
		if (type == UCALL_PRINTF || extint_exit(x))
			continue;
		vcpu_unexpected_exit(vcpu);
	}
}

void extint_run_expect(struct extint_vcpu *x, u64 type, struct ucall *uc)
{
	u64 got = extint_run(x, uc);

	TEST_ASSERT(got == type, "%s: ucall %llu, expected %llu",
		    vcpu_name(x->vcpu), got, type);
}
