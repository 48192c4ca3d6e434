// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

struct stats_fd *stats_open(int fd)
{
	struct stats_fd *s = calloc(1, sizeof(*s));
	size_t len;

	TEST_ASSERT(s, "out of memory");
	s->fd = fd;
	TEST_ASSERT(pread(fd, &s->hdr, sizeof(s->hdr), 0) == sizeof(s->hdr),
		    "reading the stats header failed");
	s->desc_size = sizeof(struct kvm_stats_desc) + s->hdr.name_size;
	len = s->desc_size * s->hdr.num_desc;
	s->descs = malloc(len);
	TEST_ASSERT(s->descs, "out of memory");
	TEST_ASSERT(pread(fd, s->descs, len, s->hdr.desc_offset) == (ssize_t)len,
		    "reading the stats descriptors failed");
	return s;
}

void stats_close(struct stats_fd *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->descs);
	free(s);
}

bool stats_read(struct stats_fd *s, const char *name, u64 *value)
{
	u32 i;

	for (i = 0; i < s->hdr.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(s->descs + i * s->desc_size);

		if (strcmp(d->name, name))
			continue;
		return pread(s->fd, value, sizeof(*value),
			     s->hdr.data_offset + d->offset) == sizeof(*value);
	}
	return false;
}

static struct stats_fd *vcpu_stats(struct kvm_vcpu *vcpu)
{
	if (!vcpu->stats)
		vcpu->stats = stats_open(vcpu_ioctl(vcpu, KVM_GET_STATS_FD,
						    NULL));
	return vcpu->stats;
}

bool vcpu_stat_try(struct kvm_vcpu *vcpu, const char *name, u64 *value)
{
	return stats_read(vcpu_stats(vcpu), name, value);
}

u64 vcpu_stat(struct kvm_vcpu *vcpu, const char *name)
{
	u64 v = 0;

	TEST_ASSERT(vcpu_stat_try(vcpu, name, &v),
		    "no vCPU statistic named %s", name);
	return v;
}

u64 vm_stat(struct kvm_vm *vm, const char *name)
{
	u64 v = 0;

	if (!vm->stats)
		vm->stats = stats_open(vm_ioctl(vm, KVM_GET_STATS_FD, NULL));
	TEST_ASSERT(stats_read(vm->stats, name, &v),
		    "no VM statistic named %s", name);
	return v;
}
