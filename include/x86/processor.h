/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86 guest runtime: instructions, MSRs, per-vCPU data, exception handling.
 * Guest code is plain C of the test binary running at its link addresses in
 * 64-bit ring 0; it must not call libc, use TLS, or make system calls.
 */
#ifndef APICV_X86_PROCESSOR_H
#define APICV_X86_PROCESSOR_H

#include "test_util.h"

#define X86_EFLAGS_IF		BIT(9)

#define MSR_IA32_APICBASE	0x0000001b
#define   MSR_APICBASE_BSP	BIT(8)
#define   MSR_APICBASE_X2APIC	BIT(10)
#define   MSR_APICBASE_ENABLE	BIT(11)
#define   MSR_APICBASE_BASE	0xfffff000ull
#define MSR_IA32_TSC_DEADLINE	0x000006e0
#define MSR_EFER		0xc0000080
#define MSR_GS_BASE		0xc0000101

/* Register frame pushed by the interrupt entry stubs (lib/x86/entry.S). */
struct ex_regs {
	u64 rax, rcx, rdx, rbx, rbp, rsi, rdi;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

/*
 * Per-vCPU guest data, reached through GS. The host fills it before the
 * vCPU first runs; the guest reads its id without a VM exit.
 */
struct guest_cpu {
	struct guest_cpu *self;
	u32 vcpu_id;
	u32 apic_id;
	u64 fixup_rip;		/* resume here on an exception, see *_safe() */
	u64 fault_vector;	/* set by the handler when fixup_rip was used */
	u64 fault_error;
	u64 stack_top;
	u64 x2apic;		/* the guest's APIC mode, see x86/apic.h */
	u64 user[8];		/* free for tests */
};

/* Offsets the *_safe() asm uses; checked at build time in lib/vm.c. */
#define GUEST_CPU_FIXUP_RIP	16
#define GUEST_CPU_FAULT_VECTOR	24
#define __stringify_1(x) #x
#define __stringify(x) __stringify_1(x)
#define GS_FIXUP "%%gs:" __stringify(GUEST_CPU_FIXUP_RIP)
#define GS_VECTOR "%%gs:" __stringify(GUEST_CPU_FAULT_VECTOR)

static inline struct guest_cpu *this_cpu(void)
{
	struct guest_cpu *c;

	__asm__ __volatile__("mov %%gs:0, %0" : "=r"(c));
	return c;
}

static inline u32 this_cpu_id(void)
{
	return this_cpu()->vcpu_id;
}

static inline void cpuid_count(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c,
			       u32 *d)
{
	__asm__ __volatile__("cpuid"
			     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			     : "a"(leaf), "c"(sub) : "memory");
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return lo | ((u64)hi << 32);
}

static inline void wrmsr(u32 msr, u64 val)
{
	__asm__ __volatile__("wrmsr"
			     :: "a"((u32)val), "d"((u32)(val >> 32)), "c"(msr)
			     : "memory");
}

/*
 * Safe forms return the exception vector the access raised (0: none).
 * The entry code resumes at the label after the instruction.
 */
static inline u8 rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0;
	u64 vec;

	__asm__ __volatile__("lea 1f(%%rip), %%r11\n\t"
			     "movq $0, " GS_VECTOR "\n\t"
			     "mov %%r11, " GS_FIXUP "\n\t"
			     "rdmsr\n\t"
			     "1: movq $0, " GS_FIXUP "\n\t"
			     "mov " GS_VECTOR ", %2"
			     : "+a"(lo), "+d"(hi), "=r"(vec)
			     : "c"(msr) : "r11", "memory");
	*val = lo | ((u64)hi << 32);
	return vec;
}

static inline u8 wrmsr_safe(u32 msr, u64 val)
{
	u64 vec;

	__asm__ __volatile__("lea 1f(%%rip), %%r11\n\t"
			     "movq $0, " GS_VECTOR "\n\t"
			     "mov %%r11, " GS_FIXUP "\n\t"
			     "wrmsr\n\t"
			     "1: movq $0, " GS_FIXUP "\n\t"
			     "mov " GS_VECTOR ", %0"
			     : "=r"(vec)
			     : "a"((u32)val), "d"((u32)(val >> 32)), "c"(msr)
			     : "r11", "memory");
	return vec;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | ((u64)hi << 32);
}

static inline void cli(void)
{
	__asm__ __volatile__("cli" ::: "memory");
}

static inline void sti(void)
{
	__asm__ __volatile__("sti" ::: "memory");
}

static inline void hlt(void)
{
	__asm__ __volatile__("hlt" ::: "memory");
}

/* STI's one-instruction shadow covers HLT: no interrupt slips between. */
static inline void sti_hlt(void)
{
	__asm__ __volatile__("sti; hlt" ::: "memory");
}

/* Opens the interrupt window for exactly one instruction boundary. */
static inline void sti_nop_cli(void)
{
	__asm__ __volatile__("sti; nop; cli" ::: "memory");
}

/* STI, then a MOV SS whose own shadow may extend STI's by one instruction. */
static inline void sti_mov_ss(void)
{
	__asm__ __volatile__("mov %%ss, %%eax\n\t"
			     "sti\n\t"
			     "mov %%eax, %%ss\n\t"
			     "nop" ::: "rax", "memory");
}

/*
 * "sti; nop; nop; cli" with IF=0 before: returns the second NOP's address,
 * where an interrupt pending at the STI is taken (the shadow covers the
 * first NOP).
 */
static inline u64 sti_nop_nop_cli(void)
{
	u64 end;

	__asm__ __volatile__("lea 1f(%%rip), %0\n\t"
			     "sti\n\t"
			     "nop\n"
			     "1:\tnop\n\t"
			     "cli"
			     : "=&r"(end) :: "memory");
	return end;
}

/*
 * "sti; mov ss; nop; nop; cli" with IF=0 before: a pending interrupt is
 * taken at the first NOP (*@end1), or at the second (*@end2) where MOV
 * SS's shadow extends STI's.
 */
static inline void sti_mov_ss_nop_nop_cli(u64 *end1, u64 *end2)
{
	__asm__ __volatile__("mov %%ss, %%eax\n\t"
			     "lea 1f(%%rip), %0\n\t"
			     "lea 2f(%%rip), %1\n\t"
			     "sti\n\t"
			     "mov %%eax, %%ss\n"
			     "1:\tnop\n"
			     "2:\tnop\n\t"
			     "cli"
			     : "=&r"(*end1), "=&r"(*end2) :: "rax", "memory");
}

/* CR8 is TPR[7:4] (64-bit mode only). */
static inline void write_cr8(u64 v)
{
	__asm__ __volatile__("mov %0, %%cr8" :: "r"(v) : "memory");
}

static inline u64 read_cr8(void)
{
	u64 v;

	__asm__ __volatile__("mov %%cr8, %0" : "=r"(v) :: "memory");
	return v;
}

static inline void cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

static inline u64 read_rflags(void)
{
	u64 f;

	__asm__ __volatile__("pushfq; pop %0" : "=r"(f) :: "memory");
	return f;
}

static inline bool irqs_enabled(void)
{
	return read_rflags() & X86_EFLAGS_IF;
}

static inline void outb(u16 port, u8 v)
{
	__asm__ __volatile__("outb %0, %1" :: "a"(v), "Nd"(port) : "memory");
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline void outl(u16 port, u32 v)
{
	__asm__ __volatile__("outl %0, %1" :: "a"(v), "Nd"(port) : "memory");
}

/* The initial APIC ID CPUID leaf 1 reports (EBX[31:24]). */
static inline u32 apic_id_from_cpuid(void)
{
	u32 a, b, c, d;

	cpuid_count(1, 0, &a, &b, &c, &d);
	return b >> 24;
}

/* Guest-side handlers, per vector, shared by all vCPUs of the process. */
typedef void (*guest_handler_t)(struct ex_regs *regs);
extern guest_handler_t guest_handlers[256];

/* TSC-based delays; the host stores the vCPU TSC rate before running. */
extern u64 guest_tsc_khz;
void guest_udelay(u64 us);
/* With IF=1, waits until *@ctr >= @want or @us pass; returns *@ctr (IF=0). */
u64 guest_wait_count(volatile u64 *ctr, u64 want, u64 us);
u64 guest_tsc_to_us(u64 cycles);

#endif
