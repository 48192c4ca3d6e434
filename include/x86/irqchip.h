/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Legacy interrupt plumbing: the 8259 PIC and 8254 PIT as the guest
 * programs them, the IOAPIC redirection table, LVT0 in ExtINT mode, and the
 * host side: in-kernel PIT creation and reinject control, KVM_IRQ_LINE,
 * KVM_SIGNAL_MSI, and - for split irqchip or no irqchip at all - a minimal
 * userspace 8259 model that feeds KVM_INTERRUPT from a run loop honouring
 * request_interrupt_window / ready_for_interrupt_injection / if_flag.
 */
#ifndef APICV_X86_IRQCHIP_H
#define APICV_X86_IRQCHIP_H

#include "vm.h"

/* 8259 ports and commands. */
#define PIC_MASTER_CMD		0x20
#define PIC_MASTER_DATA		0x21
#define PIC_SLAVE_CMD		0xa0
#define PIC_SLAVE_DATA		0xa1
#define PIC_ICW1_INIT		0x10
#define PIC_ICW1_ICW4		0x01
#define PIC_ICW4_8086		0x01
#define PIC_ICW4_AUTO_EOI	0x02
#define PIC_OCW2_EOI		0x20	/* non-specific EOI */
#define PIC_OCW2_SEOI		0x60	/* specific EOI, | the level (0-7) */
#define PIC_OCW3_READ_IRR	0x0a
#define PIC_OCW3_READ_ISR	0x0b
#define PIC_ELCR_MASTER		0x4d0	/* edge/level control, bit per IRQ */
#define PIC_ELCR_SLAVE		0x4d1

/* 8254 ports, modes and the input clock. */
#define PIT_CH0			0x40
#define PIT_CMD			0x43
#define PIT_HZ			1193182u
#define PIT_MODE_ONESHOT	0	/* interrupt on terminal count */
#define PIT_MODE_RATE		2	/* periodic, one pulse per period */
#define PIT_MODE_SQUARE		3	/* periodic square wave */

/* IOAPIC, identity-mapped for the guest. */
#define IOAPIC_MMIO		0xfec00000ull
#define IOAPIC_REG_REDIR(pin)	(0x10 + 2 * (pin))
#define IOAPIC_REDIR_MASKED	BIT_ULL(16)
#define IOAPIC_REDIR_LEVEL	BIT_ULL(15)
#define IOAPIC_REDIR_LOGICAL	BIT_ULL(11)
#define IOAPIC_REDIR_DM_FIXED	(0ull << 8)
#define IOAPIC_REDIR_DM_EXTINT	(7ull << 8)
static inline u64 ioapic_redir(u8 vector, u8 dest, u64 flags)
{
	return vector | flags | ((u64)dest << 56);
}

/* --- Guest side --- */
/* ICW1-4 on both PICs: vectors @master_base.. and @slave_base.., masks. */
void pic_init(u8 master_base, u8 slave_base, u8 master_mask, u8 slave_mask);
void pic_set_mask(u8 master_mask, u8 slave_mask);
/* Non-specific EOI for @irq (0-15; slave IRQs EOI both chips). */
void pic_eoi(int irq);
/* Specific EOI naming @irq (a slave IRQ: on the slave, IRQ2 on the master). */
void pic_eoi_specific(int irq);
u8 pic_read_isr(bool slave);
u8 pic_read_irr(bool slave);
/* Channel 0, lobyte/hibyte access. Count 0 means 65536. */
void pit_program(u8 mode, u16 count);
static inline u16 pit_count_for_hz(u32 hz)
{
	return PIT_HZ / hz;
}
void ioapic_write_redir(int pin, u64 entry);
u64 ioapic_read_redir(int pin);
/* LVT0 (LINT0) as ExtINT, unmasked (or masked): the PIC reaches the CPU. */
void lvt0_set_extint(bool masked);

/* --- Host side: in-kernel devices --- */
/* KVM_CREATE_PIT2 with @flags (KVM_PIT_SPEAKER_DUMMY); reinject starts on. */
void vm_create_pit(struct kvm_vm *vm, u32 flags);
void vm_pit_reinject(struct kvm_vm *vm, bool on);
/* KVM_IRQ_LINE; returns the ioctl's status field (delivered count / <0). */
int vm_irq_line(struct kvm_vm *vm, u32 gsi, int level);
/* An edge: assert then deassert. */
void vm_irq_pulse(struct kvm_vm *vm, u32 gsi);
/* KVM_SIGNAL_MSI; returns the raw ioctl result (>0 delivered, 0 blocked). */
int vm_signal_msi(struct kvm_vm *vm, u64 addr, u32 data);
/* KVM_INTERRUPT, raw: 0 or -errno. */
int __vcpu_interrupt(struct kvm_vcpu *vcpu, u32 vector);

/* --- Host side: userspace 8259 (master only; slave writes accepted) --- */
struct upic {
	u8 irr, isr, imr, base;
	u8 init_step;		/* 0 ready; 2, 3, 4: ICW expected next */
	u8 slave_step;
	bool need_icw4, read_isr, auto_eoi;
	u64 acks, eois;
};

void upic_reset(struct upic *p);
void upic_raise(struct upic *p, int irq);	/* an edge on @irq (0-7) */
/* The vector the PIC would hand the CPU now, or -1. */
int upic_output(struct upic *p);
/* INTA: moves the winning IRR bit into ISR, returns its vector. */
int upic_ack(struct upic *p);
/* Handles a port exit to 0x20/0x21/0xa0/0xa1; false if not a PIC port. */
bool upic_io(struct upic *p, struct kvm_run *run);

/*
 * A vCPU driven by the userspace PIC (IRQCHIP_SPLIT or IRQCHIP_NONE) or by
 * the in-kernel PIC (IRQCHIP_KERNEL: the loop only counts). Edges may be
 * requested from any thread (extint_request_edge): the loop folds them into
 * the PIC at its next exit and kicks the vCPU out of KVM_RUN to do so.
 */
struct extint_vcpu {
	struct kvm_vcpu *vcpu;
	struct upic pic;
	int irq;			/* the PIC input async edges hit */
	pthread_t thread;		/* the thread running extint_run */
	u64 requested;			/* edges asked for (atomic) */
	u64 folded;			/* edges folded into the PIC */
	/* Counters of the run loop. */
	u64 window_exits;		/* KVM_EXIT_IRQ_WINDOW_OPEN */
	u64 window_requests;		/* entries with request_interrupt_window */
	u64 hlt_exits;			/* KVM_EXIT_HLT (no irqchip) */
	u64 injections;			/* successful KVM_INTERRUPT */
	u64 io_exits;
	/*
	 * Called at every IRQ_WINDOW_OPEN exit (e.g. to check the guest's
	 * state); the loop itself checks if_flag and readiness.
	 */
	void (*on_window)(struct extint_vcpu *x);
	/* Non-ucall, non-PIC exits; true if handled (cf. vcpu->on_exit). */
	bool (*on_exit)(struct extint_vcpu *x);
	/* Polled while a no-irqchip vCPU sits in HLT with nothing pending. */
	u64 hlt_timeout_ms;
	volatile bool stop;
};

void extint_vcpu_init(struct extint_vcpu *x, struct kvm_vcpu *vcpu, int irq);
/* How an ExtINT reaches a vCPU in @m: "split irqchip, KVM_INTERRUPT". */
const char *extint_path_name(enum irqchip_mode m);
/* From any thread: one edge on x->irq (KVM_IRQ_LINE pulse in kernel mode). */
void extint_request_edge(struct extint_vcpu *x);
/* From any thread: make extint_run return UCALL_NONE at once. */
void extint_stop(struct extint_vcpu *x);
/* Runs until SYNC or DONE (returns the type; UCALL_NONE when stopped). */
u64 extint_run(struct extint_vcpu *x, struct ucall *uc);
void extint_run_expect(struct extint_vcpu *x, u64 type, struct ucall *uc);

#endif
