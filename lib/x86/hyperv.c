// SPDX-License-Identifier: GPL-2.0
/*
 * Hyper-V SynIC support: CPUID leaves, SynIC activation, SINT routes driven
 * by irqfds, message/event pages, guest helpers. See x86/hyperv.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "x86/cpuid.h"
#include "x86/hyperv.h"

#ifndef KVM_CAP_SYS_HYPERV_CPUID
#define KVM_CAP_SYS_HYPERV_CPUID 191
#endif

#define HV_CPUID_MAX 64

u64 hv_synic_exits;

static struct kvm_cpuid2 *hv_cpuid_alloc(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + HV_CPUID_MAX *
				      sizeof(struct kvm_cpuid_entry2));

	TEST_ASSERT(c, "out of memory");
	c->nent = HV_CPUID_MAX;
	return c;
}

const struct kvm_cpuid2 *hv_supported_cpuid(struct kvm_vcpu *vcpu)
{
	static struct kvm_cpuid2 *cached;
	struct kvm_cpuid2 *c;

	if (cached)
		return cached;
	c = hv_cpuid_alloc();
	if (kvm_check_cap(KVM_CAP_SYS_HYPERV_CPUID) > 0) {
		kvm_sys_ioctl(KVM_GET_SUPPORTED_HV_CPUID, c);
	} else {
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_CPUID) > 0,
			     "KVM lacks KVM_CAP_HYPERV_CPUID (no Hyper-V "
			     "emulation: CONFIG_KVM_HYPERV off?)");
		TEST_ASSERT(vcpu, "hv_supported_cpuid: this kernel has only "
			    "the vCPU form of KVM_GET_SUPPORTED_HV_CPUID");
		vcpu_ioctl(vcpu, KVM_GET_SUPPORTED_HV_CPUID, c);
	}
	cached = c;
	return c;
}

const struct kvm_cpuid_entry2 *hv_supported_leaf(struct kvm_vcpu *vcpu,
						 u32 leaf)
{
	const struct kvm_cpuid2 *c = hv_supported_cpuid(vcpu);
	u32 i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf)
			return &c->entries[i];
	return NULL;
}

void hv_vcpu_init(struct kvm_vcpu *vcpu)
{
	const struct kvm_cpuid2 *c = hv_supported_cpuid(vcpu);
	u32 i;

	for (i = 0; i < c->nent; i++)
		vcpu_cpuid_put(vcpu, &c->entries[i]);
	vcpu_cpuid_apply(vcpu);
}

bool hv_handle_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason != KVM_EXIT_HYPERV)
		return false;
	if (run->hyperv.type != KVM_EXIT_HYPERV_SYNIC)
		return false;
	__atomic_add_fetch(&hv_synic_exits, 1, __ATOMIC_RELAXED);
	return true;
}

struct kvm_vcpu *hv_synic_vcpu_add(struct kvm_vm *vm, u32 id, void *guest_fn)
{
	struct kvm_vcpu *vcpu = vm_add_vcpu(vm, id, guest_fn);

	hv_vcpu_init(vcpu);
	hv_synic_activate(vcpu);
	return vcpu;
}

int __hv_synic_activate(struct kvm_vcpu *vcpu, u64 arg0)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_HYPERV_SYNIC2, .args = { arg0 },
	};

	return __vcpu_ioctl(vcpu, KVM_ENABLE_CAP, &cap) ? -errno : 0;
}

void hv_synic_activate(struct kvm_vcpu *vcpu)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_HYPERV_SYNIC2) > 0,
		     "KVM lacks KVM_CAP_HYPERV_SYNIC2 (Hyper-V SynIC emulation)");
	TEST_ASSERT(vcpu->vm->irqchip == IRQCHIP_KERNEL ||
		    vcpu->vm->irqchip == IRQCHIP_SPLIT,
		    "SynIC needs an in-kernel LAPIC: create the VM with "
		    "IRQCHIP_KERNEL or IRQCHIP_SPLIT");
	vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, 0);
	if (!vcpu->on_exit)
		vcpu->on_exit = hv_handle_exit;
}

/* The routing table of the one VM that has SINT routes. */
#define HV_MAX_ROUTES 64
static struct {
	struct kvm_vm *vm;
	int nr;
	struct hv_sint_route routes[HV_MAX_ROUTES];
} hv_rt;

#define HV_FIRST_GSI 32

void hv_routes_reset(struct kvm_vm *vm)
{
	int i;

	for (i = 0; i < hv_rt.nr; i++) {
		close(hv_rt.routes[i].efd);
		if (hv_rt.routes[i].rfd >= 0)
			close(hv_rt.routes[i].rfd);
	}
	hv_rt.nr = 0;
	hv_rt.vm = vm;
}

static void hv_routes_apply(struct kvm_vm *vm)
{
	struct kvm_irq_routing *t;
	int i;

	t = calloc(1, sizeof(*t) + hv_rt.nr * sizeof(t->entries[0]));
	TEST_ASSERT(t, "out of memory");
	t->nr = hv_rt.nr;
	for (i = 0; i < hv_rt.nr; i++) {
		t->entries[i].gsi = hv_rt.routes[i].gsi;
		t->entries[i].type = KVM_IRQ_ROUTING_HV_SINT;
		t->entries[i].u.hv_sint.vcpu = hv_rt.routes[i].vcpu_id;
		t->entries[i].u.hv_sint.sint = hv_rt.routes[i].sint;
	}
	vm_ioctl(vm, KVM_SET_GSI_ROUTING, t);
	free(t);
}

static struct hv_sint_route *__hv_sint_route_add(struct kvm_vm *vm,
						 u32 vcpu_id, u32 sint,
						 bool resample)
{
	struct kvm_irqfd irqfd = { 0 };
	struct hv_sint_route *r;

	if (hv_rt.vm != vm) {
		/* The old VM's fds are gone with it or will be closed now. */
		hv_rt.nr = 0;
		hv_rt.vm = vm;
	}
	TEST_ASSERT(hv_rt.nr < HV_MAX_ROUTES, "too many SINT routes");
	TEST_ASSERT(sint < HV_SINT_COUNT, "SINT %u out of range", sint);
	r = &hv_rt.routes[hv_rt.nr++];
	r->gsi = HV_FIRST_GSI + hv_rt.nr - 1;
	r->vcpu_id = vcpu_id;
	r->sint = sint;
	r->efd = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT(r->efd >= 0, "eventfd: %s", strerror(errno));
	r->rfd = -1;
	hv_routes_apply(vm);
	irqfd.fd = r->efd;
	irqfd.gsi = r->gsi;
	if (resample) {
		r->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		TEST_ASSERT(r->rfd >= 0, "eventfd: %s", strerror(errno));
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = r->rfd;
	}
	vm_ioctl(vm, KVM_IRQFD, &irqfd);
	return r;
}

struct hv_sint_route *hv_sint_route_add(struct kvm_vm *vm, u32 vcpu_id,
					u32 sint)
{
	return __hv_sint_route_add(vm, vcpu_id, sint, false);
}

struct hv_sint_route *hv_sint_route_add_resample(struct kvm_vm *vm,
						 u32 vcpu_id, u32 sint)
{
	TEST_ASSERT(vm->irqchip == IRQCHIP_KERNEL, "a resampling irqfd needs "
		    "the full in-kernel irqchip");
	return __hv_sint_route_add(vm, vcpu_id, sint, true);
}

u64 hv_sint_acks(struct hv_sint_route *r)
{
	u64 n = 0;

	TEST_ASSERT(r->rfd >= 0, "SINT %u route has no resample eventfd",
		    r->sint);
	if (read(r->rfd, &n, sizeof(n)) != sizeof(n)) {
		TEST_ASSERT(errno == EAGAIN, "resample eventfd read: %s",
			    strerror(errno));
		return 0;
	}
	return n;
}

void hv_sint_signal(struct hv_sint_route *r)
{
	u64 one = 1;

	TEST_ASSERT(write(r->efd, &one, sizeof(one)) == sizeof(one),
		    "eventfd write for SINT %u of vCPU %u: %s", r->sint,
		    r->vcpu_id, strerror(errno));
}

bool hv_msg_post(struct hv_message_page *simp, u32 sint, u32 type,
		 const void *payload, u8 len)
{
	struct hv_message *m = &simp->slot[sint];

	TEST_ASSERT(len <= HV_MSG_PAYLOAD_BYTES, "payload too long");
	if (__atomic_load_n(&m->hdr.message_type, __ATOMIC_ACQUIRE) !=
	    HV_MSG_NONE)
		return false;
	memcpy(m->payload, payload, len);
	m->hdr.payload_size = len;
	m->hdr.message_flags = 0;
	m->hdr.origin = 0;
	__atomic_store_n(&m->hdr.message_type, type, __ATOMIC_RELEASE);
	return true;
}

void hv_event_set(struct hv_event_flags_page *siefp, u32 sint, u32 bit)
{
	__atomic_or_fetch(&siefp->flags[sint][bit / 8], (u8)(1u << (bit % 8)),
			  __ATOMIC_SEQ_CST);
}

/* Guest side. */

void hv_guest_synic_enable(void *simp, void *siefp)
{
	if (simp)
		wrmsr(HV_MSR_SIMP, (u64)simp | HV_PAGE_ENABLE);
	if (siefp)
		wrmsr(HV_MSR_SIEFP, (u64)siefp | HV_PAGE_ENABLE);
	wrmsr(HV_MSR_SCONTROL, HV_SCONTROL_ENABLE);
}

u32 hv_guest_msg_take(struct hv_message_page *simp, u32 sint,
		      struct hv_message *out)
{
	struct hv_message *m = &simp->slot[sint];
	u32 type = __atomic_load_n(&m->hdr.message_type, __ATOMIC_ACQUIRE);
	u32 i;

	if (type == HV_MSG_NONE)
		return type;
	if (out)
		for (i = 0; i < sizeof(*m) / 8; i++)
			((u64 *)out)[i] = ((volatile u64 *)m)[i];
	__atomic_store_n(&m->hdr.message_type, HV_MSG_NONE, __ATOMIC_SEQ_CST);
	if (READ_ONCE(m->hdr.message_flags) & HV_MSG_FLAG_PENDING)
		hv_guest_eom();
	return type;
}

u64 hv_guest_stimer_arm_direct(u32 n, u8 vector, u64 delay_100ns)
{
	u64 count = hv_guest_time_ref() + delay_100ns;

	wrmsr(HV_MSR_STIMER_COUNT(n), count);
	wrmsr(HV_MSR_STIMER_CONFIG(n), HV_STIMER_ENABLE | HV_STIMER_DIRECT |
				       HV_STIMER_VECTOR(vector));
	return count;
}

u64 hv_guest_stimer_arm_msg(u32 n, u32 sint, u64 delay_100ns)
{
	u64 count = hv_guest_time_ref() + delay_100ns;

	wrmsr(HV_MSR_STIMER_COUNT(n), count);
	wrmsr(HV_MSR_STIMER_CONFIG(n), HV_STIMER_ENABLE | HV_STIMER_SINT(sint));
	return count;
}

void hv_guest_stimer_arm_periodic(u32 n, u64 config, u64 period_100ns)
{
	wrmsr(HV_MSR_STIMER_COUNT(n), period_100ns);
	wrmsr(HV_MSR_STIMER_CONFIG(n), HV_STIMER_ENABLE | HV_STIMER_PERIODIC |
				       config);
}

void hv_guest_stimer_stop(u32 n)
{
	wrmsr(HV_MSR_STIMER_CONFIG(n), 0);
	wrmsr(HV_MSR_STIMER_COUNT(n), 0);
}
