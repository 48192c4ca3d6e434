/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checked KVM ioctls: a failure names the ioctl, the object, errno and the
 * caller's file:line. The __ forms return the raw result for tests that
 * check error paths. Capability and module-parameter queries live here too.
 */
#ifndef APICV_KVM_IOCTL_H
#define APICV_KVM_IOCTL_H

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "test_util.h"

int __ioctl_checked(int fd, unsigned long cmd, void *arg, const char *what,
		    const char *obj, const char *file, int line);

#define __kvm_ioctl(fd, cmd, arg) ioctl(fd, cmd, arg)

/* @obj names the object ("system", "vm", "vcpu 3") in failure messages. */
#define kvm_ioctl_obj(fd, obj, cmd, arg)				\
	__ioctl_checked(fd, cmd, (void *)(arg), #cmd, obj, __FILE__, __LINE__)

/* The process-wide /dev/kvm fd; skips the test when there is none. */
int kvm_dev_fd(void);
int kvm_check_cap(long cap);
#define kvm_sys_ioctl(cmd, arg) kvm_ioctl_obj(kvm_dev_fd(), "system", cmd, arg)

/*
 * Module parameters: returns false when the module or parameter is absent.
 * Booleans read Y/N/1/0; anything else reads through as text.
 */
bool module_param_read(const char *module, const char *param, char *buf,
		       size_t len);
bool module_param_bool(const char *module, const char *param);
long module_param_long(const char *module, const char *param, long dflt);
bool module_loaded(const char *module);

/* "6.1.0-47-amd64" -> 6, 1; packed as KERNEL_VERSION-like major<<8|minor. */
unsigned int kernel_version(void);
#define KVER(maj, min) (((maj) << 8) | (min))

#endif
