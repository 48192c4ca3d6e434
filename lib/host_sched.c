// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host_sched.h"
#include "vm.h"

#define WHY(why, ...) do { if (why) snprintf(why, SCHED_WHY_LEN, __VA_ARGS__); } while (0)

static int cpus[CPU_SETSIZE], ncpus;

/*
 * NUMA topology from sysfs: the suite needs only which node holds a CPU,
 * and libnuma, linked statically, drags in getaddrinfo() and a linker
 * warning with it.
 */
#define SYS_NODE "/sys/devices/system/node/node%d"

static int node_of_cpu(int cpu, int nodes)
{
	char path[96];
	int node;

	for (node = 0; node < nodes; node++) {
		snprintf(path, sizeof(path), SYS_NODE "/cpu%d", node, cpu);
		if (!access(path, F_OK))
			return node;
	}
	return -1;
}

/* The process's CPUs, ordered by NUMA node so rotation crosses nodes. */
static void cpus_init(void)
{
	cpu_set_t set;
	int c, n, node, nodes;

	if (ncpus)
		return;
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	nodes = host_numa_nodes();
	for (node = 0; node < nodes; node++)
		for (c = 0; c < CPU_SETSIZE; c++) {
			if (!CPU_ISSET(c, &set))
				continue;
			n = nodes > 1 ? node_of_cpu(c, nodes) : 0;
			if (n == node || (node == 0 && n < 0))
				cpus[ncpus++] = c;
		}
}

int host_cpu_count(void)
{
	cpus_init();
	return ncpus;
}

int host_cpu_nth(int i)
{
	cpus_init();
	return cpus[i % ncpus];
}

int host_numa_nodes(void)
{
	char path[64];
	int node, nodes = 1;

	/* Node numbers may have holes: the highest present one counts. */
	for (node = 0; node < 1024; node++) {
		snprintf(path, sizeof(path), SYS_NODE, node);
		if (!access(path, F_OK))
			nodes = node + 1;
	}
	return nodes;
}

int sched_pin_thread(pthread_t t, const cpu_set_t *set, char *why)
{
	int r = pthread_setaffinity_np(t, sizeof(*set), set);

	if (r)
		WHY(why, "pthread_setaffinity_np: %s", strerror(r));
	return -r;
}

int sched_pin_thread_cpu(pthread_t t, int cpu, char *why)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_pin_thread(t, &set, why);
}

const char *pressure_name(unsigned int kinds, char *buf, size_t len)
{
	static const char *const names[] = {
		"preempt", "fifo", "migrate", "yield", "kick",
	};
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (kinds & BIT(i))
			n += snprintf(buf + n, len > n ? len - n : 0, "%s%s",
				      n ? "+" : "", names[i]);
	if (!n)
		snprintf(buf, len, "none");
	return buf;
}

struct busy_arg {
	struct pressure *p;
	int cpu;
};

static struct busy_arg busy_args[PRESSURE_MAX_THREADS];

static void spin_us(u64 us)
{
	u64 end = now_ns() + us * 1000;

	while (now_ns() < end)
		__asm__ __volatile__("pause");
}

/* A competitor for one CPU: spins, or alternates FIFO bursts and sleep. */
static void *busy_main(void *arg)
{
	struct busy_arg *a = arg;
	struct pressure *p = a->p;
	struct sched_param fifo = { .sched_priority = 1 }, other = { 0 };
	bool use_fifo = p->kinds & PRESSURE_FIFO;

	while (!READ_ONCE(p->stop)) {
		if (!use_fifo) {
			spin_us(200);
			__atomic_add_fetch(&p->busy_loops, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo)) {
			/* First refusal wins the note; then plain spinning. */
			if (!__atomic_exchange_n(&p->fifo_denied, true,
						 __ATOMIC_SEQ_CST))
				snprintf(p->note, sizeof(p->note),
					 "SCHED_FIFO refused (%s): busy threads at SCHED_OTHER",
					 strerror(errno));
			use_fifo = false;
			continue;
		}
		spin_us(p->fifo_burst_us);
		pthread_setschedparam(pthread_self(), SCHED_OTHER, &other);
		__atomic_add_fetch(&p->fifo_bursts, 1, __ATOMIC_RELAXED);
		usleep(p->fifo_gap_us);
	}
	return NULL;
}

static void *yield_main(void *arg)
{
	struct pressure *p = ((struct busy_arg *)arg)->p;
	u64 n = 0;

	while (!READ_ONCE(p->stop)) {
		sched_yield();
		n++;
	}
	__atomic_add_fetch(&p->yields, n, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * Moves every vCPU thread to the next CPU of the list. A thread that has
 * exited (but is not joined yet) makes setaffinity fail with ESRCH: fine.
 */
static void *migrate_main(void *arg)
{
	struct pressure *p = arg;
	struct kvm_vm *vm = p->vm;
	u64 step = 0;
	int i;

	while (!READ_ONCE(p->stop)) {
		step++;
		for (i = 0; i < vm->nr_vcpus; i++) {
			struct kvm_vcpu *v = vm->vcpus[i];

			if (!READ_ONCE(v->thread_started) || READ_ONCE(v->done))
				continue;
			if (!sched_pin_thread_cpu(v->thread,
						  host_cpu_nth(i + step), NULL))
				p->migrations++;
		}
		usleep(p->migrate_us);
	}
	return NULL;
}

static void *kick_main(void *arg)
{
	struct pressure *p = arg;
	struct kvm_vm *vm = p->vm;
	bool (*hook)(struct pressure *p, int idx);
	int i;

	while (!READ_ONCE(p->stop)) {
		for (i = 0; i < vm->nr_vcpus; i++) {
			struct kvm_vcpu *v = vm->vcpus[i];

			if (!READ_ONCE(v->thread_started) || READ_ONCE(v->done))
				continue;
			hook = READ_ONCE(p->pre_kick);
			if (hook && !hook(p, i))
				continue;
			vcpu_kick(v);
			p->kicks++;
		}
		usleep(p->kick_us);
	}
	return NULL;
}

static int spawn(struct pressure *p, void *(*fn)(void *), void *arg, int cpu,
		 char *why)
{
	pthread_t t;
	int r;

	if (p->nthreads == PRESSURE_MAX_THREADS) {
		WHY(why, "more than %d pressure threads", PRESSURE_MAX_THREADS);
		return -E2BIG;
	}
	r = pthread_create(&t, NULL, fn, arg);
	if (r) {
		WHY(why, "pthread_create: %s", strerror(r));
		return -r;
	}
	p->threads[p->nthreads++] = t;
	if (cpu >= 0)
		return sched_pin_thread_cpu(t, cpu, why);
	return 0;
}

static int per_cpu_threads(struct pressure *p, void *(*fn)(void *),
			   char *why)
{
	int c, r;

	for (c = 0; c < ncpus; c++) {
		struct busy_arg *a = &busy_args[p->nthreads];

		a->p = p;
		a->cpu = cpus[c];
		r = spawn(p, fn, a, cpus[c], why);
		if (r)
			return r;
	}
	return 0;
}

static int start_all(struct pressure *p, char *why)
{
	struct kvm_vm *vm = p->vm;
	int i, r;

	/* Pin each vCPU thread to a CPU: it then shares it with a competitor. */
	if ((p->kinds & (PRESSURE_PREEMPT | PRESSURE_FIFO)) &&
	    !(p->kinds & PRESSURE_MIGRATE))
		for (i = 0; i < vm->nr_vcpus; i++) {
			if (!vm->vcpus[i]->thread_started)
				continue;
			r = sched_pin_thread_cpu(vm->vcpus[i]->thread,
						 host_cpu_nth(i), why);
			if (r)
				return r;
		}
	if (p->kinds & (PRESSURE_PREEMPT | PRESSURE_FIFO)) {
		r = per_cpu_threads(p, busy_main, why);
		if (r)
			return r;
	}
	if (p->kinds & PRESSURE_YIELD) {
		r = per_cpu_threads(p, yield_main, why);
		if (r)
			return r;
	}
	if (p->kinds & PRESSURE_MIGRATE) {
		r = spawn(p, migrate_main, p, -1, why);
		if (r)
			return r;
	}
	if (p->kinds & PRESSURE_KICK)
		return spawn(p, kick_main, p, -1, why);
	return 0;
}

int pressure_start(struct pressure *p, struct kvm_vm *vm, unsigned int kinds,
		   char *why)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->kinds = kinds;
	p->vm = vm;
	p->migrate_us = 500;
	p->kick_us = 300;
	p->fifo_burst_us = 1000;
	p->fifo_gap_us = 3000;
	cpus_init();
	if ((kinds & PRESSURE_MIGRATE) && ncpus < 2) {
		WHY(why, "migration needs 2 CPUs, this process may use %d",
		    ncpus);
		return -ENODEV;
	}
	r = start_all(p, why);
	if (r)
		pressure_stop(p);
	return r;
}

void pressure_stop(struct pressure *p)
{
	int i;

	WRITE_ONCE(p->stop, true);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

int thread_tid(pthread_t t)
{
	static int seq;
	char name[16], path[300], comm[32];
	struct dirent *d;
	int tid = -1;
	DIR *dir;
	FILE *f;

	snprintf(name, sizeof(name), "apicv-t%d",
		 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	if (pthread_setname_np(t, name))
		return -1;
	dir = opendir("/proc/self/task");
	if (!dir)
		return -1;
	while (tid < 0 && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = '\0';
			if (!strcmp(comm, name))
				tid = atoi(d->d_name);
		}
		fclose(f);
	}
	closedir(dir);
	return tid;
}

char thread_state(int tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "tid (comm) S ...": the comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int vm_set_halt_poll_ns(struct kvm_vm *vm, u32 ns, char *why)
{
	struct kvm_enable_cap c = { .cap = KVM_CAP_HALT_POLL, .args = { ns } };

	if (kvm_check_cap(KVM_CAP_HALT_POLL) <= 0) {
		WHY(why, "KVM_CAP_HALT_POLL not supported by this kernel");
		return -ENOTSUP;
	}
	if (__vm_ioctl(vm, KVM_ENABLE_CAP, &c)) {
		WHY(why, "KVM_ENABLE_CAP(HALT_POLL, %u): %s", ns,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

int vm_disable_hlt_exits(struct kvm_vm *vm, char *why)
{
	struct kvm_enable_cap c = {
		.cap = KVM_CAP_X86_DISABLE_EXITS,
		.args = { KVM_X86_DISABLE_EXITS_HLT },
	};
	int caps = kvm_check_cap(KVM_CAP_X86_DISABLE_EXITS);

	if (!(caps & KVM_X86_DISABLE_EXITS_HLT)) {
		WHY(why, "KVM_CAP_X86_DISABLE_EXITS lacks HLT (0x%x)", caps);
		return -ENOTSUP;
	}
	if (vm->nr_vcpus) {
		WHY(why, "HLT exits must be disabled before the first vCPU");
		return -EBUSY;
	}
	if (__vm_ioctl(vm, KVM_ENABLE_CAP, &c)) {
		WHY(why, "KVM_ENABLE_CAP(X86_DISABLE_EXITS, HLT): %s",
		    strerror(errno));
		return -errno;
	}
	return 0;
}
