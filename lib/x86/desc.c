// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include <sys/mman.h>

#include "x86/desc.h"

#define PAGE_SIZE	4096ull
#define PTE_PRESENT	BIT_ULL(0)
#define PTE_WRITE	BIT_ULL(1)
#define PTE_ADDR	0x000ffffffffff000ull
#define SYS_SIZE	(16ull << 20)	/* tables; touched lazily */

#define CR0_PE BIT(0)
#define CR0_MP BIT(1)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR0_PG BIT(31)
#define CR4_PAE BIT(5)
#define CR4_OSFXSR BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)

extern char guest_idt_stubs[];

static void *sys_alloc(struct kvm_vm *vm, size_t size)
{
	void *p;

	size = ALIGN_UP(size, PAGE_SIZE);
	TEST_ASSERT(vm->sys_used + size <= vm->sys_size,
		    "guest table area exhausted (%zu bytes)", vm->sys_size);
	p = vm->sys + vm->sys_used;
	vm->sys_used += size;
	return p;
}

static u64 *pt_next(struct kvm_vm *vm, u64 *table, int index)
{
	if (!(table[index] & PTE_PRESENT))
		table[index] = (u64)sys_alloc(vm, PAGE_SIZE) | PTE_PRESENT |
			       PTE_WRITE;
	return (u64 *)(table[index] & PTE_ADDR);
}

static void map_page(struct kvm_vm *vm, u64 addr)
{
	u64 *pdpt = pt_next(vm, vm->pml4, (addr >> 39) & 511);
	u64 *pd = pt_next(vm, pdpt, (addr >> 30) & 511);
	u64 *pt = pt_next(vm, pd, (addr >> 21) & 511);

	pt[(addr >> 12) & 511] = addr | PTE_PRESENT | PTE_WRITE;
}

void vm_map_identity(struct kvm_vm *vm, u64 addr, u64 size)
{
	u64 end = ALIGN_UP(addr + size, PAGE_SIZE);

	for (addr = ALIGN_DOWN(addr, PAGE_SIZE); addr < end; addr += PAGE_SIZE)
		map_page(vm, addr);
}

static void gdt_init(struct kvm_vm *vm)
{
	u64 *gdt = vm->gdt, tss = (u64)vm->tss, limit = 103;

	gdt[GDT_CODE_SEL / 8] = 0x00af9b000000ffffull;	/* 64-bit code */
	gdt[GDT_DATA_SEL / 8] = 0x00cf93000000ffffull;	/* flat data */
	/* 16-byte available 64-bit TSS descriptor. */
	gdt[GDT_TSS_SEL / 8] = limit | ((tss & 0xffffff) << 16) |
			       (0x89ull << 40) | ((tss >> 24 & 0xff) << 56);
	gdt[GDT_TSS_SEL / 8 + 1] = tss >> 32;
}

static void idt_init(struct kvm_vm *vm)
{
	u64 *idt = vm->idt;
	int vec;

	for (vec = 0; vec < 256; vec++) {
		u64 fn = (u64)guest_idt_stubs + vec * 16;

		/* Present, DPL 0, 64-bit interrupt gate (clears IF). */
		idt[vec * 2] = (fn & 0xffff) | ((u64)GDT_CODE_SEL << 16) |
			       (0x8eull << 40) | ((fn >> 16 & 0xffff) << 48);
		idt[vec * 2 + 1] = fn >> 32;
	}
}

void vm_x86_init(struct kvm_vm *vm)
{
	vm->sys_size = SYS_SIZE;
	vm->sys = mmap(NULL, SYS_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT | MAP_NORESERVE,
		       -1, 0);
	TEST_ASSERT(vm->sys != MAP_FAILED, "mmap of guest tables failed");
	vm->pml4 = sys_alloc(vm, PAGE_SIZE);
	vm->gdt = sys_alloc(vm, PAGE_SIZE);
	vm->idt = sys_alloc(vm, PAGE_SIZE);
	vm->tss = sys_alloc(vm, PAGE_SIZE);
	gdt_init(vm);
	idt_init(vm);
}

static void seg_flat(struct kvm_segment *s, u16 sel, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = code ? 11 : 3;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

void vcpu_x86_init_sregs(struct kvm_vcpu *vcpu)
{
	struct kvm_vm *vm = vcpu->vm;
	struct kvm_sregs sregs;

	vcpu_sregs_get(vcpu, &sregs);
	seg_flat(&sregs.cs, GDT_CODE_SEL, true);
	seg_flat(&sregs.ds, GDT_DATA_SEL, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gs.base = (u64)vcpu->cpu;

	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = GDT_TSS_SEL;
	sregs.tr.base = (u64)vm->tss;
	sregs.tr.limit = 103;
	sregs.tr.type = 11;	/* busy 64-bit TSS */
	sregs.tr.present = 1;

	sregs.gdt.base = (u64)vm->gdt;
	sregs.gdt.limit = 4095;
	sregs.idt.base = (u64)vm->idt;
	sregs.idt.limit = 256 * 16 - 1;

	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM |
		    CR0_PG;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.cr3 = (u64)vm->pml4;
	sregs.efer = EFER_LME | EFER_LMA;
	vcpu_sregs_set(vcpu, &sregs);
}
