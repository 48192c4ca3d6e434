// SPDX-License-Identifier: GPL-2.0
/*
 * Private tracefs instances and their cleanup. See include/tracefs.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracefs.h"

#define MAX_INSTANCES	8
#define MAX_PREFIX	32

struct tracefs_instance {
	char dir[256];
	int pipe_fd;
	int slot;
};

/* For the signal and exit paths: plain arrays, async-signal-safe use. */
static char active_dir[MAX_INSTANCES][256];
static volatile int active_fd[MAX_INSTANCES] = { -1, -1, -1, -1,
						 -1, -1, -1, -1 };
static volatile sig_atomic_t active_used[MAX_INSTANCES];
static int instance_seq;
static const char *root;

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[400];
	int fd, r = 0;
	size_t len = strlen(val);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		r = -errno;
	close(fd);
	return r;
}

/* Best effort: the events off first, then the directory. */
static void remove_instance(const char *dir)
{
	write_file(dir, "events/enable", "0");
	rmdir(dir);
}

static void cleanup_all(void)
{
	int i;

	for (i = 0; i < MAX_INSTANCES; i++) {
		if (!active_used[i])
			continue;
		if (active_fd[i] >= 0)
			close(active_fd[i]);
		active_fd[i] = -1;
		rmdir(active_dir[i]);
		active_used[i] = 0;
	}
}

static void fatal_signal(int sig)
{
	cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(void)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				    SIGTERM, SIGINT, SIGHUP, SIGALRM };
	static bool done;
	struct sigaction sa;
	unsigned int i;

	if (done)
		return;
	done = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction old;

		/* Leave handlers someone else installed alone. */
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_DFL)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

const char *tracefs_root(void)
{
	static const char *const roots[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	unsigned int i;

	if (root)
		return root;
	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(path, sizeof(path), "%s/instances", roots[i]);
		if (access(path, F_OK) == 0)
			return root = roots[i];
	}
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    access("/sys/kernel/tracing/instances", F_OK) == 0)
		return root = "/sys/kernel/tracing";
	return NULL;
}

/* Gone, or a zombie nobody reaps (kill(pid, 0) succeeds on zombies). */
static bool pid_dead(int pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Removes <prefix>-<pid>-<n> instances whose process is gone. */
static void sweep_stale(const char *top, const char *prefix)
{
	size_t plen = strlen(prefix);
	char path[300];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/instances", top);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid, n;
		char dir[600];

		if (strncmp(de->d_name, prefix, plen) ||
		    sscanf(de->d_name + plen, "-%d-%d", &pid, &n) != 2)
			continue;
		if (pid <= 0 || pid == getpid() || !pid_dead(pid))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", path, de->d_name);
		remove_instance(dir);
	}
	closedir(d);
}

static pid_t sweep_owner;
static char sweep_prefix[MAX_PREFIX];

static void exit_sweep(void)
{
	cleanup_all();
	if (getpid() != sweep_owner)
		return;
	/* The main process never created an instance: look, don't mount. */
	if (!root && access("/sys/kernel/tracing/instances", F_OK) == 0)
		root = "/sys/kernel/tracing";
	if (root && geteuid() == 0)
		sweep_stale(root, sweep_prefix);
}

void tracefs_sweep_at_exit(const char *prefix)
{
	if (sweep_owner)
		return;
	sweep_owner = getpid();
	snprintf(sweep_prefix, sizeof(sweep_prefix), "%s", prefix);
	atexit(exit_sweep);
}

struct tracefs_instance *tracefs_instance_new(const char *prefix, int *err)
{
	struct tracefs_instance *ti;
	int slot;

	TEST_ASSERT(tracefs_root(), "tracefs_instance_new: no tracefs");
	sweep_stale(root, prefix);
	install_handlers();
	for (slot = 0; slot < MAX_INSTANCES && active_used[slot]; slot++)
		;
	TEST_ASSERT(slot < MAX_INSTANCES, "more than %d tracefs instances",
		    MAX_INSTANCES);
	ti = calloc(1, sizeof(*ti));
	TEST_ASSERT(ti, "out of memory");
	ti->pipe_fd = -1;
	ti->slot = slot;
	snprintf(ti->dir, sizeof(ti->dir), "%s/instances/%s-%d-%d", root,
		 prefix, getpid(), instance_seq++);
	if (mkdir(ti->dir, 0700)) {
		*err = -errno;
		free(ti);
		return NULL;
	}
	snprintf(active_dir[slot], sizeof(active_dir[slot]), "%s", ti->dir);
	active_used[slot] = 1;
	return ti;
}

void tracefs_instance_free(struct tracefs_instance *ti)
{
	if (!ti)
		return;
	if (ti->pipe_fd >= 0)
		close(ti->pipe_fd);
	active_fd[ti->slot] = -1;
	remove_instance(ti->dir);
	active_used[ti->slot] = 0;
	free(ti);
}

const char *tracefs_instance_path(const struct tracefs_instance *ti)
{
	return ti->dir;
}

int tracefs_instance_write(struct tracefs_instance *ti, const char *name,
			   const char *val)
{
	return write_file(ti->dir, name, val);
}

int tracefs_instance_filter_threads(struct tracefs_instance *ti)
{
	char buf[4096];
	size_t used = 0;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	buf[0] = 0;
	while ((de = readdir(d)) && used < sizeof(buf) - 16)
		if (isdigit((unsigned char)de->d_name[0]))
			used += snprintf(buf + used, sizeof(buf) - used, "%s ",
					 de->d_name);
	closedir(d);
	return write_file(ti->dir, "set_event_pid", buf);
}

int tracefs_instance_pipe(struct tracefs_instance *ti)
{
	char path[300];

	if (ti->pipe_fd >= 0)
		return ti->pipe_fd;
	snprintf(path, sizeof(path), "%s/trace_pipe", ti->dir);
	ti->pipe_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (ti->pipe_fd < 0)
		return -errno;
	active_fd[ti->slot] = ti->pipe_fd;
	return ti->pipe_fd;
}

u64 tracefs_instance_cpu_stat(struct tracefs_instance *ti, const char *key)
{
	char path[600], line[128];
	struct dirent *de;
	size_t klen = strlen(key);
	u64 sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/per_cpu", ti->dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;

		if (strncmp(de->d_name, "cpu", 3))
			continue;
		snprintf(path, sizeof(path), "%s/per_cpu/%s/stats", ti->dir,
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, key, klen))
				sum += strtoull(line + klen, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return sum;
}
