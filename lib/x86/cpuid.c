// SPDX-License-Identifier: GPL-2.0
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpuid.h"

#define CPUID_MAX_ENTRIES 256

static struct kvm_cpuid2 *cpuid_alloc(void)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) +
		      CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	TEST_ASSERT(c, "out of memory");
	c->nent = CPUID_MAX_ENTRIES;
	return c;
}

const struct kvm_cpuid2 *kvm_supported_cpuid(void)
{
	static struct kvm_cpuid2 *supported;

	if (!supported) {
		supported = cpuid_alloc();
		kvm_sys_ioctl(KVM_GET_SUPPORTED_CPUID, supported);
	}
	return supported;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, u32 leaf, u32 index)
{
	u32 i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != leaf)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		    e->index == index)
			return e;
	}
	return NULL;
}

static u32 entry_reg(const struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	const u32 regs[] = { e->eax, e->ebx, e->ecx, e->edx };

	return regs[r];
}

bool kvm_cpu_has(struct cpuid_feature f)
{
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find((struct kvm_cpuid2 *)kvm_supported_cpuid(), f.leaf,
		       f.index);
	return e && (entry_reg(e, f.reg) & BIT(f.bit));
}

bool host_cpu_has(struct cpuid_feature f)
{
	u32 r[4], max = __get_cpuid_max(f.leaf & 0x80000000, NULL);

	if (f.leaf > max)
		return false;
	__cpuid_count(f.leaf, f.index, r[0], r[1], r[2], r[3]);
	return r[f.reg] & BIT(f.bit);
}

static bool host_vendor_is(const char *vendor)
{
	u32 a, b, c, d;
	char v[13];

	__cpuid(0, a, b, c, d);
	memcpy(v, &b, 4);
	memcpy(v + 4, &d, 4);
	memcpy(v + 8, &c, 4);
	v[12] = '\0';
	return !strcmp(v, vendor);
}

bool host_is_amd(void)
{
	return host_vendor_is("AuthenticAMD") || host_vendor_is("HygonGenuine");
}

bool host_is_intel(void)
{
	return host_vendor_is("GenuineIntel");
}

void vcpu_cpuid_init(struct kvm_vcpu *vcpu)
{
	const struct kvm_cpuid2 *s = kvm_supported_cpuid();
	struct kvm_cpuid_entry2 *e;
	u32 i;

	vcpu->cpuid = cpuid_alloc();
	vcpu->cpuid->nent = s->nent;
	memcpy(vcpu->cpuid->entries, s->entries, s->nent * sizeof(*e));

	e = cpuid_find(vcpu->cpuid, 1, 0);
	if (e)
		e->ebx = (e->ebx & 0x00ffffff) | (vcpu->id << 24);
	for (i = 0; i < vcpu->cpuid->nent; i++) {
		e = &vcpu->cpuid->entries[i];
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = vcpu->id;
	}
}

void vcpu_cpuid_put(struct kvm_vcpu *vcpu, const struct kvm_cpuid_entry2 *e)
{
	struct kvm_cpuid_entry2 *old = cpuid_find(vcpu->cpuid, e->function,
						  e->index);

	if (!old) {
		TEST_ASSERT(vcpu->cpuid->nent < CPUID_MAX_ENTRIES,
			    "CPUID table full");
		old = &vcpu->cpuid->entries[vcpu->cpuid->nent++];
	}
	*old = *e;
}

void vcpu_cpuid_clear_feature(struct kvm_vcpu *vcpu, struct cpuid_feature f)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(vcpu->cpuid, f.leaf, f.index);
	u32 *regs[4];

	if (!e)
		return;
	regs[0] = &e->eax;
	regs[1] = &e->ebx;
	regs[2] = &e->ecx;
	regs[3] = &e->edx;
	*regs[f.reg] &= ~BIT(f.bit);
}

void vcpu_cpuid_apply(struct kvm_vcpu *vcpu)
{
	vcpu_ioctl(vcpu, KVM_SET_CPUID2, vcpu->cpuid);
}
