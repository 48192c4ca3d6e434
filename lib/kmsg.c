// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"

/* include/kmsg_patterns.def: the list the runner reads too. */
static const char *const report_markers[] = {
#define KMSG_PATTERN(s) s,
#include "kmsg_patterns.def"
#undef KMSG_PATTERN
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
