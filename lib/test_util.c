// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "emulator.h"
#include "test_util.h"

static void (*fail_hook)(void);
static void __noreturn (*skip_hook)(const char *reason);
static void __noreturn (*xfail_hook)(const char *reason);
static int *kvm_reached;

void test_set_fail_hook(void (*hook)(void))
{
	fail_hook = hook;
}

void test_set_skip_hook(void __noreturn (*hook)(const char *reason))
{
	skip_hook = hook;
}

void test_set_xfail_hook(void __noreturn (*hook)(const char *reason))
{
	xfail_hook = hook;
}

void test_kvm_reached_track(void)
{
	void *p = mmap(NULL, sizeof(*kvm_reached), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		kvm_reached = p;
}

void test_note_kvm_reached(void)
{
	if (kvm_reached)
		__atomic_store_n(kvm_reached, 1, __ATOMIC_SEQ_CST);
}

bool test_kvm_reached_take(void)
{
	return kvm_reached && __atomic_exchange_n(kvm_reached, 0,
						  __ATOMIC_SEQ_CST);
}

void test_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# %s\n", buf);
	fflush(stdout);
}

bool test_strict(void)
{
	const char *s = getenv("APICV_STRICT");

	return s && *s && strcmp(s, "0");
}

void test_fail_at(const char *file, int line, const char *cond,
		  const char *fmt, ...)
{
	static int failing;
	char buf[2048];
	va_list ap;

	/* A second thread failing while the first reports: let it sleep. */
	if (__atomic_exchange_n(&failing, 1, __ATOMIC_SEQ_CST))
		for (;;)
			pause();

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# FAIL %s:%d: %s%s%s\n", file, line, cond ? cond : "",
	       cond ? ": " : "", buf);
	fflush(stdout);
	if (fail_hook)
		fail_hook();
	fflush(stdout);
	emu_exit_if_fault();
	abort();
}

static void __noreturn skip_now(const char *reason)
{
	if (skip_hook)
		skip_hook(reason);
	printf("# SKIP %s\n", reason);
	fflush(stdout);
	exit(4);
}

void test_skip(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	skip_now(buf);
}

/* Without the harness's XFAIL, a skip whose reason starts "XFAIL". */
void test_xfail(const char *fmt, ...)
{
	char buf[512] = "XFAIL ";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + 6, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	if (xfail_hook)
		xfail_hook(buf + 6);
	skip_now(buf);
}

u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void sleep_us(u64 us)
{
	struct timespec ts = {
		.tv_sec = us / 1000000,
		.tv_nsec = (us % 1000000) * 1000,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}
