/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ucall: the guest's way to talk to the host. The guest fills a struct on
 * its own stack and writes its address (all guest memory lives below 4 GiB
 * at the same address in host and guest) to UCALL_PORT; the host reads the
 * struct in place. Interrupt-safe: nothing is shared between two ucalls.
 */
#ifndef APICV_UCALL_H
#define APICV_UCALL_H

#include "test_util.h"

#define UCALL_PORT	0xe5
#define UCALL_MAX_ARGS	6
#define UCALL_MSG_LEN	480

enum ucall_type {
	UCALL_NONE,
	UCALL_SYNC,
	UCALL_PRINTF,
	UCALL_ABORT,
	UCALL_DONE,
};

struct ucall {
	u64 type;
	u64 nargs;
	u64 args[UCALL_MAX_ARGS];
	const char *file;
	u64 line;
	char msg[UCALL_MSG_LEN];
};

/* Guest side. */
void ucall(u64 type, int nargs, const u64 *args);
void __printf(1, 2) guest_printf(const char *fmt, ...);
void __printf(4, 5) __noreturn
guest_fail_at(const char *file, int line, const char *cond,
	      const char *fmt, ...);

#define __UCALL_NARGS(_0, _1, _2, _3, _4, _5, _6, N, ...) N
#define UCALL_NARGS(...) __UCALL_NARGS(_, ##__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)

/* Stops the vCPU's run loop on the host with up to six values. */
#define GUEST_SYNC(...)						\
	ucall(UCALL_SYNC, UCALL_NARGS(__VA_ARGS__),			\
	      (u64[UCALL_MAX_ARGS]){ __VA_ARGS__ })
#define GUEST_DONE() ucall(UCALL_DONE, 0, NULL)
#define GUEST_PRINTF(fmt, ...) guest_printf(fmt, ##__VA_ARGS__)
#define GUEST_FAIL(fmt, ...) \
	guest_fail_at(__FILE__, __LINE__, NULL, fmt, ##__VA_ARGS__)
#define GUEST_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!(cond))						\
			guest_fail_at(__FILE__, __LINE__, #cond,	\
				      fmt, ##__VA_ARGS__);		\
	} while (0)
#define GUEST_ASSERT_EQ(a, b)						\
	do {								\
		u64 __a = (u64)(a), __b = (u64)(b);			\
		if (__a != __b)						\
			guest_fail_at(__FILE__, __LINE__, #a " == " #b,	\
				      "0x%llx != 0x%llx", __a, __b);	\
	} while (0)

/* Host side. */
struct kvm_vcpu;
/* Copies the ucall of the last exit into @uc; UCALL_NONE if it wasn't one. */
u64 get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);

#endif
