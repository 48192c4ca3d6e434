// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emulator.h"
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

void kmsg_watch_init(struct kmsg_watch *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->signature = emu_kmsg_signature;
}

void kmsg_watch_start(struct kmsg_watch *w)
{
	kmsg_watch_init(w);
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd >= 0)
		lseek(w->fd, 0, SEEK_END);
}

static void quote_record(struct kmsg_watch *w, const char *text)
{
	size_t len = strlen(w->quote);

	snprintf(w->quote + len, sizeof(w->quote) - len, "%s\n", text);
}

/*
 * Before the first report and up to EMU_SIGNATURE_LINES records after it,
 * a record that matches an emulator signature makes the reports the
 * emulator's (include/emu_signatures.def).
 */
static void look_for_emulator(struct kmsg_watch *w, const char *text)
{
	if (w->emulator)
		return;
	if (w->reports && w->after_first++ > EMU_SIGNATURE_LINES)
		return;
	w->emulator = w->signature(text);
}

void kmsg_watch_feed(struct kmsg_watch *w, const char *text)
{
	if (kmsg_line_is_report(text) && !w->reports++)
		w->quoting = QUOTE_RECORDS;
	look_for_emulator(w, text);
	if (w->quoting && w->quoting--)
		quote_record(w, text);
}

int kmsg_watch_scan(struct kmsg_watch *w)
{
	char rec[8192];
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
		kmsg_watch_feed(w, text);
	}
	return w->reports;
}

void kmsg_watch_stop(struct kmsg_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
