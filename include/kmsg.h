/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-log watcher: remembers a point in /dev/kmsg and later finds the
 * WARN, BUG, lockdep, RCU-stall, KASAN and lockup reports emitted since,
 * and whether an emulator signature explains them (emulator.h).
 */
#ifndef APICV_KMSG_H
#define APICV_KMSG_H

#include "test_util.h"

struct kmsg_watch {
	int fd;			/* -1: the log cannot be read here */
	int reports;		/* reports found by the last scan */
	char quote[4096];	/* first report, a few lines of it */
	int quoting;		/* records of it still to quote */
	int after_first;	/* records seen after the first report */
	/* The signature that makes the reports the emulator's, or NULL */
	const char *emulator;
	/* Names a line's emulator signature: emu_kmsg_signature() */
	const char *(*signature)(const char *line);
};

/* An idle watch (no log): feed it with kmsg_watch_feed(). */
void kmsg_watch_init(struct kmsg_watch *w);
void kmsg_watch_start(struct kmsg_watch *w);
/* One record's text, as kmsg_watch_scan() takes each from the log. */
void kmsg_watch_feed(struct kmsg_watch *w, const char *text);
/* Reads everything logged since start; returns the number of reports. */
int kmsg_watch_scan(struct kmsg_watch *w);
void kmsg_watch_stop(struct kmsg_watch *w);
/* True when @line (the text of one record) starts a report. */
bool kmsg_line_is_report(const char *line);

#endif
