/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest descriptor tables and page tables, built by the host in guest
 * memory: one GDT (64-bit code, data, TSS), one IDT whose gates point at the
 * entry stubs, one TSS, and 4-level page tables mapping guest-virtual to the
 * same guest-physical address.
 */
#ifndef APICV_X86_DESC_H
#define APICV_X86_DESC_H

#include "vm.h"

#define GDT_CODE_SEL	0x08
#define GDT_DATA_SEL	0x10
#define GDT_TSS_SEL	0x18

void vm_x86_init(struct kvm_vm *vm);
/* Maps [addr, addr + size) one to one, 4 KiB pages, writable. */
void vm_map_identity(struct kvm_vm *vm, u64 addr, u64 size);
/* Long mode, flat segments, this VM's tables, GS at @vcpu->cpu. */
void vcpu_x86_init_sregs(struct kvm_vcpu *vcpu);

#endif
