// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kvm_ioctl.h"

int __ioctl_checked(int fd, unsigned long cmd, void *arg, const char *what,
		    const char *obj, const char *file, int line)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret < 0)
		test_fail_at(file, line, NULL, "%s on %s failed: %s (errno %d)",
			     what, obj, strerror(errno), errno);
	return ret;
}

/*
 * A KVM without kvm_amd or kvm_intel (PVM, say) opens fine but has no
 * APICv/AVIC and does not run ring-0 guests as hardware does.
 */
static bool kvm_vendor_loaded(void)
{
	return !access("/sys/module/kvm_amd", F_OK) ||
	       !access("/sys/module/kvm_intel", F_OK) ||
	       getenv("APICV_ANY_KVM");
}

int kvm_dev_fd(void)
{
	static int fd = -1;

	if (fd >= 0) {
		test_note_kvm_reached();
		return fd;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_REQUIRE(fd >= 0, "/dev/kvm: %s (load kvm_amd or kvm_intel)",
		     strerror(errno));
	if (!kvm_vendor_loaded()) {
		close(fd);
		fd = -1;
		TEST_REQUIRE(false, "/dev/kvm is not served by kvm_amd or kvm_intel (no hardware interrupt virtualization; APICV_ANY_KVM=1 overrides)");
	}
	test_note_kvm_reached();
	return fd;
}

int kvm_check_cap(long cap)
{
	int ret = ioctl(kvm_dev_fd(), KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : ret;
}

bool module_param_read(const char *module, const char *param, char *buf,
		       size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module,
		 param);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return true;
}

bool module_param_bool(const char *module, const char *param)
{
	char buf[32];

	if (!module_param_read(module, param, buf, sizeof(buf)))
		return false;
	return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

long module_param_long(const char *module, const char *param, long dflt)
{
	char buf[32];

	if (!module_param_read(module, param, buf, sizeof(buf)))
		return dflt;
	return strtol(buf, NULL, 0);
}

bool module_loaded(const char *module)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s", module);
	return access(path, F_OK) == 0;
}

unsigned int kernel_version(void)
{
	unsigned int maj = 0, min = 0;
	struct utsname u;

	if (uname(&u) == 0)
		sscanf(u.release, "%u.%u", &maj, &min);
	return KVER(maj, min);
}
