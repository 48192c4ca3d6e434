/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-log watcher: remembers a point in /dev/kmsg and later finds the
 * WARN, BUG, lockdep, RCU-stall, KASAN and lockup reports emitted since.
 */
#ifndef APICV_KMSG_H
#define APICV_KMSG_H

#include "test_util.h"

struct kmsg_watch {
	int fd;			/* -1: the log cannot be read here */
	int reports;		/* reports found by the last scan */
	char quote[4096];	/* first report, a few lines of it */
};

void kmsg_watch_start(struct kmsg_watch *w);
/* Reads everything logged since start; returns the number of reports. */
int kmsg_watch_scan(struct kmsg_watch *w);
void kmsg_watch_stop(struct kmsg_watch *w);
/* True when @line (the text of one record) starts a report. */
bool kmsg_line_is_report(const char *line);

#endif
