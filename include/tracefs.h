/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private tracefs instances, owned by this process: each is
 * instances/<prefix>-<pid>-<n> under tracefs (mounted at
 * /sys/kernel/tracing when it is not mounted anywhere). An instance goes
 * with tracefs_instance_free(), at exit, and on fatal signals (its trace
 * pipe closed first, async-signal-safe). One whose process died without
 * any of these goes at the next tracefs_instance_new() of the same
 * prefix, and at the exit of the process that called
 * tracefs_sweep_at_exit(). Instances need root; nothing here knows which
 * events an instance records.
 */
#ifndef APICV_TRACEFS_H
#define APICV_TRACEFS_H

#include "test_util.h"

struct tracefs_instance;

/* The tracefs mount ("/sys/kernel/tracing"), mounting it; NULL if none. */
const char *tracefs_root(void);
/*
 * Sweeps dead processes' @prefix instances, then creates a new one; NULL
 * with *@err = -errno when mkdir fails. At most 8 live at a time.
 */
struct tracefs_instance *tracefs_instance_new(const char *prefix, int *err);
/* Turns every event of the instance off, closes its pipe, removes it. */
void tracefs_instance_free(struct tracefs_instance *ti);
/* The instance's directory (for messages). */
const char *tracefs_instance_path(const struct tracefs_instance *ti);
/* Writes @val to the instance's file @name ("options/event-fork"). */
int tracefs_instance_write(struct tracefs_instance *ti, const char *name,
			   const char *val);
/*
 * set_event_pid to every thread this process has now (options/event-fork
 * covers later threads and children). 0 or -errno.
 */
int tracefs_instance_filter_threads(struct tracefs_instance *ti);
/* Opens trace_pipe non-blocking: the instance owns the fd. fd or -errno. */
int tracefs_instance_pipe(struct tracefs_instance *ti);
/* Sums the "@key <n>" lines of every per_cpu/cpuN/stats file. */
u64 tracefs_instance_cpu_stat(struct tracefs_instance *ti, const char *key);
/*
 * Call in the main process (a constructor): at its exit, @prefix
 * instances of dead processes (e.g. SIGKILLed children) are removed.
 */
void tracefs_sweep_at_exit(const char *prefix);

#endif /* APICV_TRACEFS_H */
