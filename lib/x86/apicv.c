// SPDX-License-Identifier: GPL-2.0
/*
 * The APICv/AVIC inhibit observer: host probe, the versioned reason table,
 * the trace line parser, a private tracefs instance per observer and the
 * irq_injections behaviour source. See include/x86/apicv.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "stats.h"
#include "vcpu.h"
#include "vm.h"
#include "x86/apicv.h"

/* ---- The versioned reason table ---------------------------------------- */

#define VENDOR_SVM	BIT(0)
#define VENDOR_VMX	BIT(1)

/*
 * One row per reason. Bits: @bit_61 through 6.2, @bit_63 from 6.3 on
 * (PHYSICAL_ID_ALIASED took bit 4 and pushed the rest up; 6.17 appended
 * PHYSICAL_ID_TOO_BIG at 12, and 7.2 still has these 13 at these bits),
 * -1 where that kernel has no such reason; @since: first kernel with the
 * reason at all. @vendors: who acts on it (VMX's and SVM's required
 * inhibit masks: a reason outside them is dropped before it is traced).
 * @sticky_until: the reason never clears on kernels before this one
 * (0: dynamic everywhere, ~0: sticky everywhere). @lazy_since: from this
 * kernel on, the bit is only kept in step with its cause while no other
 * reason is set (0: never).
 */
struct apicv_reason_info {
	const char *name;
	const char *alias;	/* the kernel's own spelling, if different */
	int bit_61, bit_63;
	unsigned int since;
	unsigned int vendors_61, vendors_63;
	unsigned int sticky_until;
	unsigned int lazy_since;
};

#define STICKY_ALWAYS	(~0u)

/*
 * 7.1 made IRQWIN a per-VM count of vCPUs waiting for an interrupt window
 * (cleared when the waiting vCPU injects, no longer at the window exit),
 * re-evaluated with an event of its own on every other reason's change,
 * and only counted, untraced, while another reason inhibits the VM.
 */
#define IRQWIN_COUNTED_SINCE	KVER(7, 1)

static const struct apicv_reason_info reason_table[APICV_NR_REASONS] = {
	[APICV_REASON_DISABLE] = { "DISABLE", "DISABLED", 0, 0, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, STICKY_ALWAYS },
	[APICV_REASON_HYPERV] = { "HYPERV", NULL, 1, 1, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_ABSENT] = { "ABSENT", NULL, 2, 2, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_BLOCKIRQ] = { "BLOCKIRQ", NULL, 3, 3, KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, 0 },
	[APICV_REASON_PHYSICAL_ID_ALIASED] = { "PHYSICAL_ID_ALIASED", NULL,
		-1, 4, KVER(6, 3),
		0, VENDOR_SVM | VENDOR_VMX, 0 },
	/* 6.1 sets it on a mismatch and never clears; 6.3 recomputes it. */
	[APICV_REASON_APIC_ID_MODIFIED] = { "APIC_ID_MODIFIED", NULL, 4, 5,
		KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, KVER(6, 3) },
	[APICV_REASON_APIC_BASE_MODIFIED] = { "APIC_BASE_MODIFIED", NULL, 5, 6,
		KVER(5, 18),
		VENDOR_SVM | VENDOR_VMX, VENDOR_SVM | VENDOR_VMX, STICKY_ALWAYS },
	[APICV_REASON_NESTED] = { "NESTED", NULL, 6, 7, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0 },
	[APICV_REASON_IRQWIN] = { "IRQWIN", NULL, 7, 8, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0, IRQWIN_COUNTED_SINCE },
	[APICV_REASON_PIT_REINJ] = { "PIT_REINJ", NULL, 8, 9, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, 0 },
	[APICV_REASON_SEV] = { "SEV", NULL, 9, 10, KVER(5, 18),
		VENDOR_SVM, VENDOR_SVM, STICKY_ALWAYS },
	[APICV_REASON_LOGICAL_ID_ALIASED] = { "LOGICAL_ID_ALIASED", NULL,
		-1, 11, KVER(6, 3),
		0, VENDOR_SVM, 0 },
	/* Set when the vCPU is created, never cleared. */
	[APICV_REASON_PHYSICAL_ID_TOO_BIG] = { "PHYSICAL_ID_TOO_BIG", NULL,
		-1, 12, KVER(6, 17),
		0, VENDOR_SVM, STICKY_ALWAYS },
};

static bool valid_reason(enum apicv_reason r)
{
	return (int)r >= 0 && r < APICV_NR_REASONS;
}

int apicv_reason_bit_for(enum apicv_reason r, unsigned int kver)
{
	const struct apicv_reason_info *ri;

	if (!valid_reason(r))
		return -1;
	ri = &reason_table[r];
	if (kver < ri->since)
		return -1;
	return kver < KVER(6, 3) ? ri->bit_61 : ri->bit_63;
}

enum apicv_reason apicv_reason_by_bit_for(int bit, unsigned int kver)
{
	int r;

	for (r = 0; r < APICV_NR_REASONS; r++)
		if (bit >= 0 && apicv_reason_bit_for(r, kver) == bit)
			return r;
	return APICV_REASON_UNKNOWN;
}

/*
 * Bits learnt from the running kernel's own trace format (6.11+ prints the
 * reason names in bit order); -2 = not learnt, fall back to the table.
 */
static int learnt_bit[APICV_NR_REASONS];
static bool learnt_tried, learnt_any;

static void learn_from_format(const char *path)
{
	char buf[8192], *p, *q;
	int idx = 0, fd;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strstr(buf, "__print_flags");
	if (!p)
		return;
	/* Entries look like { ((1UL) << (APICV_INHIBIT_REASON_X)), "X" }. */
	while ((p = strchr(p, '{'))) {
		char name[64];
		int bit = idx, len;
		enum apicv_reason r;

		q = strchr(p, '}');
		if (!q)
			break;
		*q = 0;
		{
			char *sh = strstr(p, "<<"), *nm = strchr(p, '"'), *ne;

			if (!nm)
				break;
			if (sh) {
				sh += 2;
				while (*sh == ' ' || *sh == '(')
					sh++;
				if (isdigit((unsigned char)*sh))
					bit = atoi(sh);
			}
			ne = strchr(nm + 1, '"');
			if (!ne)
				break;
			len = MIN((int)(ne - nm - 1), (int)sizeof(name) - 1);
			memcpy(name, nm + 1, len);
			name[len] = 0;
		}
		r = apicv_reason_by_name(name);
		if (valid_reason(r)) {
			learnt_bit[r] = bit;
			learnt_any = true;
		}
		idx++;
		p = q + 1;
	}
}

static void learn_bits(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/kvm/kvm_apicv_inhibit_changed/format",
		"/sys/kernel/debug/tracing/events/kvm/kvm_apicv_inhibit_changed/format",
	};
	unsigned int i;
	int r;

	if (learnt_tried)
		return;
	learnt_tried = true;
	for (r = 0; r < APICV_NR_REASONS; r++)
		learnt_bit[r] = -2;
	for (i = 0; i < ARRAY_SIZE(paths) && !learnt_any; i++)
		learn_from_format(paths[i]);
	if (learnt_any)
		for (r = 0; r < APICV_NR_REASONS; r++)
			if (learnt_bit[r] == -2)
				learnt_bit[r] = -1;
}

bool apicv_reason_bits_from_kernel(void)
{
	learn_bits();
	return learnt_any;
}

int apicv_reason_bit(enum apicv_reason r)
{
	if (!valid_reason(r))
		return -1;
	learn_bits();
	if (learnt_any)
		return learnt_bit[r];
	return apicv_reason_bit_for(r, kernel_version());
}

u64 apicv_reason_mask(enum apicv_reason r)
{
	int bit = apicv_reason_bit(r);

	return bit < 0 ? 0 : BIT_ULL(bit);
}

enum apicv_reason apicv_reason_by_bit(int bit)
{
	int r;

	for (r = 0; r < APICV_NR_REASONS; r++)
		if (bit >= 0 && apicv_reason_bit(r) == bit)
			return r;
	return APICV_REASON_UNKNOWN;
}

bool apicv_reason_honoured(enum apicv_reason r)
{
	const struct apicv_host *h = apicv_host();
	const struct apicv_reason_info *ri;
	unsigned int v;

	if (apicv_reason_bit(r) < 0)
		return false;
	ri = &reason_table[r];
	v = h->kver < KVER(6, 3) ? ri->vendors_61 : ri->vendors_63;
	return (h->amd && (v & VENDOR_SVM)) || (h->intel && (v & VENDOR_VMX));
}

bool apicv_reason_sticky(enum apicv_reason r)
{
	if (!valid_reason(r))
		return false;
	return apicv_host()->kver < reason_table[r].sticky_until;
}

bool apicv_reason_lazy(enum apicv_reason r)
{
	unsigned int since;

	if (!valid_reason(r) || !apicv_reason_honoured(r))
		return false;
	since = reason_table[r].lazy_since;
	return since && apicv_host()->kver >= since;
}

bool apicv_irqwin_trails_for(unsigned int kver)
{
	return kver >= IRQWIN_COUNTED_SINCE;
}

bool apicv_irqwin_trails(void)
{
	return apicv_irqwin_trails_for(apicv_host()->kver);
}

u64 apicv_reason_companions(enum apicv_reason r)
{
	switch (r) {
	case APICV_REASON_PHYSICAL_ID_ALIASED:
		/*
		 * The ID change itself (APIC_ID_MODIFIED), and from 6.3 an
		 * aliased physical map disables the optimized map as a
		 * whole, which SVM also reports as LOGICAL_ID_ALIASED
		 * (measured on 6.12).
		 */
		return (apicv_reason_honoured(APICV_REASON_APIC_ID_MODIFIED) ?
			apicv_reason_mask(APICV_REASON_APIC_ID_MODIFIED) : 0) |
		       (apicv_reason_honoured(APICV_REASON_LOGICAL_ID_ALIASED) ?
			apicv_reason_mask(APICV_REASON_LOGICAL_ID_ALIASED) : 0);
	default:
		return 0;
	}
}

const char *apicv_reason_name(enum apicv_reason r)
{
	return valid_reason(r) ? reason_table[r].name : "?";
}

enum apicv_reason apicv_reason_by_name(const char *name)
{
	static const char prefix[] = "APICV_INHIBIT_REASON_";
	int r;

	if (!strncasecmp(name, prefix, sizeof(prefix) - 1))
		name += sizeof(prefix) - 1;
	for (r = 0; r < APICV_NR_REASONS; r++) {
		const struct apicv_reason_info *ri = &reason_table[r];

		if (!strcasecmp(name, ri->name) ||
		    (ri->alias && !strcasecmp(name, ri->alias)))
			return r;
	}
	return APICV_REASON_UNKNOWN;
}

const char *apicv_mask_str(u64 mask, char *buf, size_t len)
{
	size_t used = 0;
	int bit;

	if (!len)
		return buf;
	buf[0] = 0;
	if (!mask) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (bit = 0; bit < 64 && used < len; bit++) {
		enum apicv_reason r;

		if (!(mask & BIT_ULL(bit)))
			continue;
		r = apicv_reason_by_bit(bit);
		if (valid_reason(r))
			used += snprintf(buf + used, len - used, "%s%s",
					 used ? "|" : "", apicv_reason_name(r));
		else
			used += snprintf(buf + used, len - used, "%sbit%d",
					 used ? "|" : "", bit);
	}
	return buf;
}

/* ---- Host capability --------------------------------------------------- */

static void host_cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ __volatile__("cpuid"
			     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			     : "a"(leaf), "c"(0));
}

/* CPUID 0x8000000a (SVM features): ECX and EDX, 0 when the leaf is absent. */
static void svm_features(u32 *ecx, u32 *edx)
{
	u32 a, b, c, d;

	*ecx = *edx = 0;
	host_cpuid(0x80000000, &a, &b, &c, &d);
	if (a < 0x8000000a)
		return;
	host_cpuid(0x8000000a, &a, &b, ecx, edx);
}

static bool cpu_has_svm_feature(int edx_bit)
{
	u32 c, d;

	svm_features(&c, &d);
	return d & BIT(edx_bit);
}

static bool cpu_has_svm_feature_ecx(int ecx_bit)
{
	u32 c, d;

	svm_features(&c, &d);
	return c & BIT(ecx_bit);
}

/* AVIC's physical ID table limits (APM vol. 2, AVIC). */
#define AVIC_MAX_ID		0xfe
#define X2AVIC_MAX_ID		0x1ff
#define X2AVIC_4K_MAX_ID	0xfff

/* The largest vCPU id AVIC addresses; larger ids set PHYSICAL_ID_TOO_BIG. */
static u32 avic_max_id(const struct apicv_host *h)
{
	if (!h->x2avic)
		return AVIC_MAX_ID;
	/* 6.19 sizes the table for 4096 vCPUs when the CPU can address them. */
	if (h->kver >= KVER(6, 19) && cpu_has_svm_feature_ecx(6))
		return X2AVIC_4K_MAX_ID;
	return X2AVIC_MAX_ID;
}

static struct apicv_host host;
static bool host_probed;

const struct apicv_host *apicv_host(void)
{
	struct apicv_host *h = &host;

	if (host_probed)
		return h;
	host_probed = true;
	h->kver = kernel_version();
	h->amd = module_loaded("kvm_amd");
	h->intel = !h->amd && module_loaded("kvm_intel");
	if (h->amd) {
		bool hw_avic = cpu_has_svm_feature(13);

		h->enabled = module_param_bool("kvm_amd", "avic");
		h->forced = h->enabled && !hw_avic &&
			    module_param_bool("kvm_amd", "force_avic");
		h->x2avic = h->enabled && cpu_has_svm_feature(18);
		h->avic_max_id = avic_max_id(h);
		char v[8];

		/* AVIC virtualizes IPIs unless enable_ipiv (6.7+) says no. */
		h->ipiv = h->enabled && !h->forced &&
			  (!module_param_read("kvm_amd", "enable_ipiv", v,
					      sizeof(v)) ||
			   module_param_bool("kvm_amd", "enable_ipiv"));
	} else if (h->intel) {
		h->enabled = module_param_bool("kvm_intel", "enable_apicv");
		h->ipiv = h->enabled &&
			  module_param_bool("kvm_intel", "enable_ipiv");
	}

	if (!h->amd && !h->intel) {
		snprintf(h->why, sizeof(h->why),
			 "neither kvm_amd nor kvm_intel is loaded");
	} else if (!h->enabled) {
		snprintf(h->why, sizeof(h->why), "%s: KVM tracks no inhibits",
			 h->amd ? "kvm_amd.avic=0" : "kvm_intel.enable_apicv=0");
	} else if (h->kver < KVER(5, 18)) {
		snprintf(h->why, sizeof(h->why),
			 "kernel %u.%u has no kvm_apicv_inhibit_changed tracepoint (5.18+)",
			 h->kver >> 8, h->kver & 0xff);
	} else {
		h->can_observe = true;
		snprintf(h->why, sizeof(h->why), "%s on, %s%s%s, kernel %u.%u",
			 h->amd ? "AVIC" : "APICv",
			 h->forced ? "forced on a CPU without AVIC (not real: "
				     "guest delivery breaks while not inhibited)"
				   : "real",
			 h->x2avic ? ", x2AVIC" : "", h->ipiv ? ", IPIv" : "",
			 h->kver >> 8, h->kver & 0xff);
	}
	return h;
}

void apicv_require_observable(void)
{
	const struct apicv_host *h = apicv_host();

	TEST_REQUIRE(h->can_observe, "%s", h->why);
}

void apicv_require_real(void)
{
	apicv_require_observable();
	apicv_require_guest_delivery();
}

void apicv_require_guest_delivery(void)
{
	TEST_REQUIRE(!apicv_host()->forced,
		     "AVIC forced on a CPU without it (force_avic): guest "
		     "interrupt delivery is broken while the VM is not inhibited");
}

/* ---- Trace parsing ----------------------------------------------------- */

static const char EVENT_NAME[] = "kvm_apicv_inhibit_changed";

/* "  comm-1234   [001] d..1.  56.789012: kvm_apicv_inhibit_changed: ..." */
static void parse_header(const char *line, const char *ev,
			 struct apicv_transition *t)
{
	const char *p = ev, *q;
	char *end;

	/* The timestamp ends with ':' just before the event name. */
	while (p > line && p[-1] == ' ')
		p--;
	if (p > line && p[-1] == ':') {
		q = --p;
		while (q > line && (isdigit((unsigned char)q[-1]) || q[-1] == '.'))
			q--;
		if (q < p) {
			unsigned long long sec = strtoull(q, &end, 10);
			u64 frac = 0;
			int digits = 0;

			if (*end == '.')
				for (end++; isdigit((unsigned char)*end); end++) {
					if (digits++ < 9)
						frac = frac * 10 + (*end - '0');
				}
			while (digits > 0 && digits < 9) {
				frac *= 10;
				digits++;
			}
			t->ts_ns = sec * 1000000000ull + frac;
		}
	}
	/* The pid: digits after the last '-' before " [cpu]". */
	q = strstr(line, " [");
	if (q && q < ev) {
		p = q;
		while (p > line && p[-1] == ' ')
			p--;
		q = p;
		while (q > line && isdigit((unsigned char)q[-1]))
			q--;
		if (q < p && q > line && q[-1] == '-')
			t->pid = atoi(q);
	}
}

static bool parse_line(const char *line, struct apicv_transition *t,
		       unsigned int kver, bool *named)
{
	const char *ev, *p;
	char *end;
	unsigned long long mask;
	long bit;
	int pos;

	memset(t, 0, sizeof(*t));
	*named = false;
	t->reason = APICV_REASON_UNKNOWN;
	ev = strstr(line, EVENT_NAME);
	if (ev) {
		parse_header(line, ev, t);
		p = ev + sizeof(EVENT_NAME) - 1;
		if (*p != ':')
			return false;
		p++;
	} else {
		p = line;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (!strncmp(p, "set ", 4)) {
		t->set = true;
		p += 4;
	} else if (!strncmp(p, "cleared ", 8)) {
		p += 8;
	} else {
		return false;
	}
	if (strncmp(p, "reason=", 7))
		return false;
	bit = strtol(p + 7, &end, 10);
	if (end == p + 7 || bit < 0 || bit > 63)
		return false;
	p = end;
	if (*p == ',')
		p++;
	while (*p == ' ')
		p++;
	if (strncmp(p, "inhibits=", 9))
		return false;
	mask = strtoull(p + 9, &end, 16);
	if (end == p + 9)
		return false;
	t->bit = bit;
	t->mask = mask;
	t->reason = apicv_reason_by_bit_for(bit, kver);

	/*
	 * 6.11+: the names of the mask's bits follow, in bit order, joined
	 * by '|'. When the reason's own bit is in the mask its name is there:
	 * trust the kernel's name over the table.
	 */
	p = end;
	while (*p == ' ')
		p++;
	if (!*p || *p == '\n' || !(mask & BIT_ULL(bit)))
		return true;
	pos = __builtin_popcountll(mask & (BIT_ULL(bit) - 1));
	while (pos-- > 0) {
		p = strchr(p, '|');
		if (!p)
			return true;
		p++;
	}
	{
		char name[64];
		size_t n = strcspn(p, "| \n");

		if (n == 0 || n >= sizeof(name))
			return true;
		memcpy(name, p, n);
		name[n] = 0;
		if (valid_reason(apicv_reason_by_name(name))) {
			t->reason = apicv_reason_by_name(name);
			*named = true;
		}
	}
	return true;
}

bool apicv_trace_parse_for(const char *line, struct apicv_transition *t,
			   unsigned int kver)
{
	bool named;

	return parse_line(line, t, kver, &named);
}

bool apicv_trace_parse(const char *line, struct apicv_transition *t)
{
	bool named;

	if (!parse_line(line, t, kernel_version(), &named))
		return false;
	/* Without a printed name the running kernel's layout decides. */
	if (!named)
		t->reason = apicv_reason_by_bit(t->bit);
	return true;
}

/* ---- The trace observer ------------------------------------------------ */

#define MAX_OBSERVERS 8

struct apicv_observer {
	char dir[256];
	int pipe_fd;
	struct apicv_transition *ev;
	int nr_ev, cap_ev;
	char partial[512];
	size_t partial_len;
	int slot;
};

/* For the signal and exit paths: plain arrays, async-signal-safe use. */
static char active_dir[MAX_OBSERVERS][256];
static volatile int active_fd[MAX_OBSERVERS] = { -1, -1, -1, -1,
						 -1, -1, -1, -1 };
static volatile sig_atomic_t active_used[MAX_OBSERVERS];
static int observer_seq;
static const char *tracefs_root;

static void remove_instance(const char *dir)
{
	/* Best effort: the event off first, then the directory. */
	char path[320];
	int fd;

	snprintf(path, sizeof(path), "%s/events/kvm/%s/enable", dir,
		 EVENT_NAME);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "0", 1) < 0) {
			/* nothing more to do */
		}
		close(fd);
	}
	rmdir(dir);
}

static void cleanup_all(void)
{
	int i;

	for (i = 0; i < MAX_OBSERVERS; i++) {
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

static const char *find_tracefs(void)
{
	static const char *const roots[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(path, sizeof(path), "%s/instances", roots[i]);
		if (access(path, F_OK) == 0)
			return roots[i];
	}
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    access("/sys/kernel/tracing/instances", F_OK) == 0)
		return "/sys/kernel/tracing";
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

/* Removes apicv-<pid>-<n> instances whose process is gone. */
static void sweep_stale(const char *root)
{
	char path[300];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/instances", root);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid, n;
		char dir[600];

		if (sscanf(de->d_name, "apicv-%d-%d", &pid, &n) != 2)
			continue;
		if (pid <= 0 || pid == getpid() || !pid_dead(pid))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", path, de->d_name);
		remove_instance(dir);
	}
	closedir(d);
}

static pid_t sweep_owner;

static void exit_sweep(void)
{
	cleanup_all();
	if (getpid() != sweep_owner)
		return;
	/* The main process never started an observer: look, don't mount. */
	if (!tracefs_root &&
	    access("/sys/kernel/tracing/instances", F_OK) == 0)
		tracefs_root = "/sys/kernel/tracing";
	if (tracefs_root && geteuid() == 0)
		sweep_stale(tracefs_root);
}

/* Registered in the main process, so instances of dead children go too. */
static void __attribute__((constructor)) apicv_register_exit(void)
{
	sweep_owner = getpid();
	atexit(exit_sweep);
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

/* Every thread of this process: event-fork only covers later ones. */
static int filter_threads(const char *dir)
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
	return write_file(dir, "set_event_pid", buf);
}

static void observer_fail_start(struct apicv_observer *o, const char *what,
				int err)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
	if (o->pipe_fd >= 0)
		close(o->pipe_fd);
	remove_instance(o->dir);
	active_used[o->slot] = 0;
	free(o);
	test_skip("apicv observer: %s", msg);
}

struct apicv_observer *apicv_observer_start(void)
{
	struct apicv_observer *o;
	char path[400];
	int slot, r;

	apicv_require_observable();
	TEST_REQUIRE(geteuid() == 0,
		     "not root: tracefs instances need root (run as root)");
	if (!tracefs_root)
		tracefs_root = find_tracefs();
	TEST_REQUIRE(tracefs_root,
		     "no tracefs: not mounted at /sys/kernel/tracing and mounting it failed (CONFIG_TRACING?)");
	snprintf(path, sizeof(path), "%s/events/kvm/%s", tracefs_root,
		 EVENT_NAME);
	TEST_REQUIRE(access(path, F_OK) == 0,
		     "no kvm:%s event in %s (kvm not loaded or kernel < 5.18)",
		     EVENT_NAME, tracefs_root);
	sweep_stale(tracefs_root);
	install_handlers();
	learn_bits();

	for (slot = 0; slot < MAX_OBSERVERS && active_used[slot]; slot++)
		;
	TEST_ASSERT(slot < MAX_OBSERVERS, "more than %d apicv observers",
		    MAX_OBSERVERS);
	o = calloc(1, sizeof(*o));
	TEST_ASSERT(o, "out of memory");
	o->pipe_fd = -1;
	o->slot = slot;
	snprintf(o->dir, sizeof(o->dir), "%s/instances/apicv-%d-%d",
		 tracefs_root, getpid(), observer_seq++);
	if (mkdir(o->dir, 0700))
		test_skip("apicv observer: mkdir %s: %s", o->dir,
			  strerror(errno));
	snprintf(active_dir[slot], sizeof(active_dir[slot]), "%s", o->dir);
	active_used[slot] = 1;

	/* Small buffer, this process only, then the event on. */
	write_file(o->dir, "buffer_size_kb", "256");
	r = write_file(o->dir, "options/event-fork", "1");
	if (r)
		observer_fail_start(o, "options/event-fork", r);
	r = filter_threads(o->dir);
	if (r)
		observer_fail_start(o, "set_event_pid", r);
	snprintf(path, sizeof(path), "events/kvm/%s/enable", EVENT_NAME);
	r = write_file(o->dir, path, "1");
	if (r)
		observer_fail_start(o, "enabling the event", r);
	snprintf(path, sizeof(path), "%s/trace_pipe", o->dir);
	o->pipe_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (o->pipe_fd < 0)
		observer_fail_start(o, "open trace_pipe", -errno);
	active_fd[slot] = o->pipe_fd;
	return o;
}

void apicv_observer_stop(struct apicv_observer *o)
{
	if (!o)
		return;
	if (o->pipe_fd >= 0)
		close(o->pipe_fd);
	active_fd[o->slot] = -1;
	remove_instance(o->dir);
	active_used[o->slot] = 0;
	free(o->ev);
	free(o);
}

const char *apicv_observer_path(struct apicv_observer *o)
{
	return o->dir;
}

static void add_line(struct apicv_observer *o, const char *line)
{
	struct apicv_transition t;

	if (!apicv_trace_parse(line, &t))
		return;
	if (o->nr_ev == o->cap_ev) {
		o->cap_ev = o->cap_ev ? o->cap_ev * 2 : 64;
		o->ev = realloc(o->ev, o->cap_ev * sizeof(*o->ev));
		TEST_ASSERT(o->ev, "out of memory");
	}
	o->ev[o->nr_ev++] = t;
}

/* Reads what the pipe holds now; returns the number of new events. */
static int observer_poll(struct apicv_observer *o)
{
	int before = o->nr_ev;
	char buf[4096];

	for (;;) {
		ssize_t n = read(o->pipe_fd, buf, sizeof(buf));
		ssize_t i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (o->partial_len < sizeof(o->partial) - 1)
					o->partial[o->partial_len++] = buf[i];
				continue;
			}
			o->partial[o->partial_len] = 0;
			add_line(o, o->partial);
			o->partial_len = 0;
		}
	}
	return o->nr_ev - before;
}

u64 apicv_observer_mask_known(struct apicv_observer *o, bool *known)
{
	observer_poll(o);
	if (known)
		*known = o->nr_ev > 0;
	return o->nr_ev ? o->ev[o->nr_ev - 1].mask : 0;
}

u64 apicv_observer_mask(struct apicv_observer *o)
{
	return apicv_observer_mask_known(o, NULL);
}

bool apicv_observer_wait(struct apicv_observer *o, enum apicv_reason r,
			 bool set, u64 timeout_ms)
{
	u64 deadline = now_ns() + timeout_ms * 1000000ull;
	u64 bit = apicv_reason_mask(r);

	if (!bit)
		return false;
	for (;;) {
		bool known;
		u64 mask = apicv_observer_mask_known(o, &known);

		if (known && !!(mask & bit) == set)
			return true;
		if (now_ns() >= deadline)
			return false;
		sleep_us(500);
	}
}

u64 apicv_observer_settle(struct apicv_observer *o, u64 quiet_ms,
			  u64 timeout_ms)
{
	u64 start = now_ns(), last = start;

	for (;;) {
		u64 now;

		if (observer_poll(o))
			last = now_ns();
		now = now_ns();
		if (now - last >= quiet_ms * 1000000ull ||
		    now - start >= timeout_ms * 1000000ull)
			break;
		sleep_us(500);
	}
	return o->nr_ev ? o->ev[o->nr_ev - 1].mask : 0;
}

u64 apicv_observer_mark(struct apicv_observer *o)
{
	observer_poll(o);
	return o->nr_ev;
}

int apicv_observer_transitions(struct apicv_observer *o, u64 mark,
			       struct apicv_transition *out, int max)
{
	int i, n = 0;

	observer_poll(o);
	for (i = (int)mark; i < o->nr_ev; i++, n++)
		if (n < max)
			out[n] = o->ev[i];
	return n;
}

/* The mask in force at @mark: the last event before it (or unknown). */
static bool mask_at(struct apicv_observer *o, u64 mark, u64 *mask)
{
	if (mark == 0 || mark > (u64)o->nr_ev)
		return false;
	*mask = o->ev[mark - 1].mask;
	return true;
}

bool apicv_observer_flipped(struct apicv_observer *o, u64 mark,
			    enum apicv_reason r)
{
	u64 bit = apicv_reason_mask(r), prev;
	bool have;
	int i;

	observer_poll(o);
	if (!bit)
		return false;
	have = mask_at(o, mark, &prev);
	for (i = (int)mark; i < o->nr_ev; i++) {
		if (have && ((prev ^ o->ev[i].mask) & bit))
			return true;
		/* Without a known start, any event naming it as set flips. */
		if (!have && (o->ev[i].mask & bit))
			return true;
		prev = o->ev[i].mask;
		have = true;
	}
	return false;
}

bool apicv_observer_seen(struct apicv_observer *o, u64 mark,
			 enum apicv_reason r)
{
	u64 bit = apicv_reason_mask(r);
	int i;

	observer_poll(o);
	for (i = (int)mark; bit && i < o->nr_ev; i++)
		if (o->ev[i].mask & bit)
			return true;
	return false;
}

/* ---- Proving the observer sees the VM ---------------------------------- */

#define PROVE_MS	1000

/* The first event from @from on: @tid's set/clear of @bit, in its mask too. */
static int find_own_event(struct apicv_observer *o, int from, int bit,
			  bool set, int tid)
{
	int i;

	for (i = from; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];

		if (t->bit == bit && t->set == set && t->pid == tid &&
		    !!(t->mask & BIT_ULL(bit)) == set)
			return i;
	}
	return -1;
}

static int wait_own_event(struct apicv_observer *o, int from, int bit,
			  bool set, int tid)
{
	u64 deadline = now_ns() + PROVE_MS * 1000000ull;
	int i;

	for (;;) {
		observer_poll(o);
		i = find_own_event(o, from, bit, set, tid);
		if (i >= 0 || now_ns() >= deadline)
			return i;
		sleep_us(500);
	}
}

static void prove_guest_debug(struct kvm_vcpu *vcpu, bool blockirq)
{
	struct kvm_guest_debug dbg = { 0 };

	if (blockirq)
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_BLOCKIRQ;
	vcpu_ioctl(vcpu, KVM_SET_GUEST_DEBUG, &dbg);
}

u64 apicv_observer_prove(struct apicv_observer *o, struct kvm_vcpu *vcpu)
{
	int bit = apicv_reason_bit(APICV_REASON_BLOCKIRQ);
	int caps = kvm_check_cap(KVM_CAP_SET_GUEST_DEBUG2);
	int tid = gettid(), set_at, clr_at = -1;
	u64 mark;

	TEST_REQUIRE(caps > 0 && (caps & KVM_GUESTDBG_BLOCKIRQ),
		     "no KVM_GUESTDBG_BLOCKIRQ in KVM_CAP_SET_GUEST_DEBUG2: "
		     "cannot prove the inhibit observer sees the VM");
	TEST_ASSERT(bit >= 0, "no BLOCKIRQ bit on this kernel");
	apicv_observer_settle(o, 20, PROVE_MS);
	mark = apicv_observer_mark(o);
	prove_guest_debug(vcpu, true);
	set_at = wait_own_event(o, (int)mark, bit, true, tid);
	prove_guest_debug(vcpu, false);
	if (set_at >= 0)
		clr_at = wait_own_event(o, set_at + 1, bit, false, tid);
	if (clr_at < 0) {
		apicv_observer_dump(o, mark, "proof");
		TEST_FAIL("apicv observer is blind to this VM: no %s of "
			  "BLOCKIRQ by thread %d (KVM_SET_GUEST_DEBUG on %s) "
			  "in %s within %d ms", set_at < 0 ? "set" : "clear",
			  tid, vcpu_name(vcpu), o->dir, PROVE_MS);
	}
	return apicv_observer_settle(o, 20, PROVE_MS);
}

void apicv_observer_blind(struct apicv_observer *o)
{
	int r;

	write_file(o->dir, "options/event-fork", "0");
	r = write_file(o->dir, "set_event_pid", "1");
	TEST_ASSERT(!r, "%s/set_event_pid: %s", o->dir, strerror(-r));
	observer_poll(o);
	test_log("apicv observer %s blinded: it records pid 1 only", o->dir);
}

void apicv_observer_dump(struct apicv_observer *o, u64 mark, const char *why)
{
	char buf[256];
	int i;

	observer_poll(o);
	test_log("apicv events since mark %llu (%s): %d",
		 (unsigned long long)mark, why, o->nr_ev - (int)mark);
	for (i = (int)mark; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];
		bool same = i > 0 && o->ev[i - 1].mask == t->mask;

		/* Events that change nothing: from 7.1 most IRQWIN ones. */
		test_log("  %s %s (bit %d) -> 0x%llx %s [pid %d]%s",
			 t->set ? "set" : "cleared",
			 apicv_reason_name(t->reason), t->bit,
			 (unsigned long long)t->mask,
			 apicv_mask_str(t->mask, buf, sizeof(buf)), t->pid,
			 same ? " (unchanged)" : "");
	}
}

int apicv_observer_high_rate(struct apicv_observer *o, unsigned int buffer_kb)
{
	char kb[24];
	int r;

	snprintf(kb, sizeof(kb), "%u", buffer_kb);
	r = write_file(o->dir, "buffer_size_kb", kb);
	if (r)
		return r;
	r = write_file(o->dir, "trace_clock", "counter");
	/* The switch empties the buffer: a half-read line is gone. */
	o->partial_len = 0;
	return r;
}

/* Sums "@key <n>" lines of every per_cpu/cpuN/stats file. */
static u64 sum_cpu_stats(const char *dir, const char *key)
{
	char path[400], line[128];
	struct dirent *de;
	size_t klen = strlen(key);
	u64 sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/per_cpu", dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;

		if (strncmp(de->d_name, "cpu", 3))
			continue;
		snprintf(path, sizeof(path), "%s/per_cpu/%s/stats", dir,
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

u64 apicv_observer_lost(struct apicv_observer *o)
{
	return sum_cpu_stats(o->dir, "overrun:") +
	       sum_cpu_stats(o->dir, "dropped events:");
}

int apicv_observer_check_chain(struct apicv_observer *o, u64 mark, u64 start,
			       u64 *checked, char *why, size_t len)
{
	char b1[160], b2[160];
	u64 prev = start;
	int i;

	observer_poll(o);
	if (checked)
		*checked = o->nr_ev > (int)mark ? o->nr_ev - (int)mark : 0;
	for (i = (int)mark; i < o->nr_ev; i++) {
		const struct apicv_transition *t = &o->ev[i];
		u64 bit = t->bit >= 0 && t->bit < 64 ? BIT_ULL(t->bit) : 0;
		u64 want = t->set ? prev | bit : prev & ~bit;

		if (bit && t->mask == want) {
			prev = t->mask;
			continue;
		}
		snprintf(why, len, "event %d: %s %s (bit %d) made the mask %s, "
			 "but the mask before was %s", i - (int)mark,
			 t->set ? "set" : "cleared",
			 apicv_reason_name(t->reason), t->bit,
			 apicv_mask_str(t->mask, b1, sizeof(b1)),
			 apicv_mask_str(prev, b2, sizeof(b2)));
		return i - (int)mark;
	}
	return -1;
}

u64 apicv_observer_activity_flips(struct apicv_observer *o, u64 mark,
				  u64 start)
{
	u64 prev = start, n = 0;
	int i;

	observer_poll(o);
	for (i = (int)mark; i < o->nr_ev; i++) {
		n += !prev != !o->ev[i].mask;
		prev = o->ev[i].mask;
	}
	return n;
}

/* ---- Behaviour source -------------------------------------------------- */

bool apicv_burst_meaningful(void)
{
	const struct apicv_host *h = apicv_host();

	return h->enabled && !h->forced;
}

void apicv_burst_begin(struct apicv_burst *b, struct kvm_vcpu *vcpu)
{
	memset(b, 0, sizeof(*b));
	b->vcpu = vcpu;
	b->injections_before = vcpu_stat(vcpu, "irq_injections");
}

enum apicv_delivery apicv_burst_end(struct apicv_burst *b, u64 sent)
{
	b->sent = sent;
	b->injections = vcpu_stat(b->vcpu, "irq_injections") -
			b->injections_before;
	if (b->injections == 0)
		return APICV_DELIVERY_ACCELERATED;
	if (b->injections >= sent)
		return APICV_DELIVERY_INJECTED;
	return APICV_DELIVERY_MIXED;
}

const char *apicv_delivery_name(enum apicv_delivery d)
{
	switch (d) {
	case APICV_DELIVERY_ACCELERATED:
		return "accelerated";
	case APICV_DELIVERY_INJECTED:
		return "injected";
	case APICV_DELIVERY_MIXED:
		return "mixed";
	}
	return "?";
}
