// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"

/*
 * Lines that open a kernel report worth failing a test for: the same
 * fixed strings as KMSG_RE in run_tests.sh, which the runner matches in
 * dmesg slices and on a booted kernel's console (scripts/check/
 * runner_test.sh checks that the two lists agree).
 */
static const char *const report_markers[] = {
	"WARNING:", "BUG:", "kernel BUG at", "Oops:", "general protection fault",
	"possible circular locking dependency", "inconsistent lock state",
	"possible recursive locking", "suspicious RCU usage", "detected stall",
	"KASAN:", "UBSAN:", "soft lockup", "hard LOCKUP", "hung_task",
	"blocked for more than", "Kernel panic",
	/* ---[ end trace ]--- ends an oops; before 6.9 no Oops: opens it */
	"end trace",
};

/* Quote this many records of a report (its call trace follows the marker). */
#define QUOTE_RECORDS 24

bool kmsg_line_is_report(const char *line)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(report_markers); i++)
		if (strstr(line, report_markers[i]))
			return true;
	return false;
}

void kmsg_watch_start(struct kmsg_watch *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd >= 0)
		lseek(w->fd, 0, SEEK_END);
}

static void quote_record(struct kmsg_watch *w, const char *text)
{
	size_t len = strlen(w->quote);

	snprintf(w->quote + len, sizeof(w->quote) - len, "%s\n", text);
}

int kmsg_watch_scan(struct kmsg_watch *w)
{
	char rec[8192];
	int quoting = 0;
	ssize_t n;

	if (w->fd < 0)
		return 0;
	for (;;) {
		const char *text;

		n = read(w->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		*strchrnul(text, '\n') = '\0';
		if (kmsg_line_is_report(text)) {
			if (!w->reports++)
				quoting = QUOTE_RECORDS;
		}
		if (quoting && quoting--)
			quote_record(w, text);
	}
	return w->reports;
}

void kmsg_watch_stop(struct kmsg_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
