/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Negative controls. A test declares named faults that perturb its own
 * stimulus or expectation; run with one enabled (--fault NAME or
 * APICV_FAULT=NAME) the test must fail, which proves its checks bite.
 * A control names the check it targets by a piece of that check's failure
 * text: the runner requires it in the failing run's output, so a control
 * that only trips some other check (or a timeout) does not count as biting.
 *
 *	FAULT(drop_one_ipi, "*ipi*", "delivered 19, want 20",
 *	      "the sender skips one IPI");
 *	...
 *	if (fault_drop_one_ipi) ...
 *
 * The flag is a plain global, so guest code reads it directly.
 */
#ifndef APICV_FAULT_H
#define APICV_FAULT_H

#include "test_util.h"

struct fault {
	const char *name;
	const char *subtests;	/* fnmatch pattern of the subtests it breaks */
	const char *expect;	/* text the targeted check's failure prints */
	const char *desc;
	bool *active;
	struct fault *next;
};

void fault_register(struct fault *f);
/* Returns false when no fault of that name was declared. */
bool fault_enable(const char *name);
void fault_list(void);
const char *fault_active_name(void);

#define FAULT(_name, _subtests, _expect, _desc)			\
	bool fault_##_name;						\
	static struct fault __fault_##_name = {				\
		.name = #_name, .subtests = _subtests,			\
		.expect = _expect, .desc = _desc,			\
		.active = &fault_##_name,				\
	};								\
	static void __attribute__((constructor))			\
	__fault_register_##_name(void)					\
	{								\
		fault_register(&__fault_##_name);			\
	}

#endif
