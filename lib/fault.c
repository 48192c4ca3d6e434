// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "fault.h"

static struct fault *faults;
static const char *active_name;

void fault_register(struct fault *f)
{
	struct fault **p = &faults;

	/* Keep declaration order for a stable listing. */
	while (*p)
		p = &(*p)->next;
	*p = f;
}

bool fault_enable(const char *name)
{
	struct fault *f;

	for (f = faults; f; f = f->next) {
		if (strcmp(f->name, name))
			continue;
		*f->active = true;
		active_name = f->name;
		return true;
	}
	return false;
}

/*
 * One control a line: name, subtests, description, then the expected
 * failure text last ("-" for none), as tabs collapse an empty field.
 */
void fault_list(void)
{
	struct fault *f;

	for (f = faults; f; f = f->next)
		printf("%s\t%s\t%s\t%s\n", f->name, f->subtests, f->desc,
		       f->expect && *f->expect ? f->expect : "-");
}

const char *fault_active_name(void)
{
	return active_name;
}
