/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-side assertions, skips, time and small helpers shared by every test.
 * Assertions work from any thread: a failure prints and aborts the test
 * process, which the kselftest harness reports as a failed subtest.
 */
#ifndef APICV_TEST_UTIL_H
#define APICV_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#define BIT(n) (1u << (n))
#define BIT_ULL(n) (1ull << (n))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define barrier() __asm__ __volatile__("" ::: "memory")

#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, a, b)))
#endif
/* Newer kselftest.h defines it too. */
#ifndef __noreturn
#define __noreturn __attribute__((__noreturn__))
#endif

void __printf(4, 5) __noreturn
test_fail_at(const char *file, int line, const char *cond,
	     const char *fmt, ...);
void __printf(1, 2) __noreturn test_skip(const char *fmt, ...);
void __printf(1, 2) test_log(const char *fmt, ...);

/* Fails the current test (from any thread) when @cond is false. */
#define TEST_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!(cond))						\
			test_fail_at(__FILE__, __LINE__, #cond,	\
				     fmt, ##__VA_ARGS__);		\
	} while (0)

#define TEST_FAIL(fmt, ...) \
	test_fail_at(__FILE__, __LINE__, NULL, fmt, ##__VA_ARGS__)

/* Skips the current test with a reason when the host lacks @cond. */
#define TEST_REQUIRE(cond, fmt, ...)					\
	do {								\
		if (!(cond))						\
			test_skip(fmt, ##__VA_ARGS__);			\
	} while (0)

/*
 * APICV_STRICT=1: nothing is forgiven, neither a known KVM bug nor an
 * emulator quirk (for qualifying a platform).
 */
bool test_strict(void);

/* Hook run before the process dies on a failure (e.g. dump vCPU state). */
void test_set_fail_hook(void (*hook)(void));

/* Hook the harness glue installs to report a skip with its reason. */
void test_set_skip_hook(void __noreturn (*hook)(const char *reason));

/*
 * Ends the current subtest as an expected failure (a known KVM bug on a
 * kernel without its fix): the harness's XFAIL result where it has one,
 * else a skip whose reason starts "XFAIL".
 */
void __printf(1, 2) __noreturn test_xfail(const char *fmt, ...);
void test_set_xfail_hook(void __noreturn (*hook)(const char *reason));

/*
 * Whether a subtest reached a usable KVM: the harness counts a binary as
 * passed only when such a subtest passed. The flag is shared with the
 * processes forked after test_kvm_reached_track().
 */
void test_kvm_reached_track(void);
void test_note_kvm_reached(void);
bool test_kvm_reached_take(void);

u64 now_ns(void);
void sleep_us(u64 us);

#endif
