// SPDX-License-Identifier: GPL-2.0
/*
 * The emulator module: detection, the quirks and their one tolerance
 * policy, the faults that rerun a subtest, and the hold on KVM's static
 * keys. See include/emulator.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "emulator.h"
#include "x86/processor.h"

/* ---- detection ----------------------------------------------------------- */

bool emu_tcg(void)
{
	static int tcg = -1;
	u32 a = 0x40000000, sig[3];

	if (tcg >= 0)
		return tcg;
	__asm__ __volatile__("cpuid"
			     : "+a"(a), "=b"(sig[0]), "=c"(sig[1]), "=d"(sig[2])
			     : "c"(0));
	tcg = !memcmp(sig, "TCGTCGTCGTCG", 12);
	return tcg;
}

/*
 * The emulator's quirks are forgiven here: emu_tcg() and the run is not
 * strict (APICV_STRICT=1 forgives nothing, for qualification).
 */
static bool emu_forgiven(void)
{
	return !test_strict() && emu_tcg();
}

/* ---- quirks -------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *what;
} quirks[NR_EMU_QUIRKS] = {
	/*
	 * Tests that do not aim at the shadow step over the HLT of
	 * "sti; hlt" (guest_emu_shadow_hit()) and count the hits.
	 * interrupt_shadow_test makes KVM itself decide inside a shadow in
	 * every round: a KVM that ignores the shadow misses every round
	 * there, beyond the tolerance.
	 */
	[EMU_QUIRK_STI_SHADOW] = {
		"sti_shadow",
		"QEMU TCG's emulated SVM can drop the guest's STI shadow across a #VMEXIT: an interrupt lands between STI and HLT",
	},
	/* Comes with STI-shadow hits (the same #VMEXIT-during-delivery
	 * path): a rare surplus is forgiven, never a deficit. */
	[EMU_QUIRK_DUP_INJECT] = {
		"dup_inject",
		"QEMU TCG's emulated SVM now and then delivers an interrupt twice",
	},
	/*
	 * The vCPU stalls at an L1 kernel address or triple-faults: the
	 * subtest reruns (emu_note_quirk_fault()). Traced on 6.1 (kvm_exit,
	 * 2026-12-03): the stall is at the instruction after __svm_vcpu_run's
	 * VMRUN with L1's stack and flags; the triple fault comes at the
	 * first guest instruction after an emulated-MMIO re-entry (a "ret"
	 * that cannot fault, a #PF being delivered), and a #DF on a stack of
	 * its own (IST) is not delivered either: the vCPU runs without the
	 * guest's paging, so no guest-side handler can report it.
	 */
	[EMU_QUIRK_HOST_RIP] = {
		"host_rip",
		"QEMU TCG's emulated SVM now and then resumes a vCPU with its host's RIP and RSP after VMRUN: the vCPU stalls at a kernel address or triple-faults",
	},
};

struct emu_tally {
	u64 hits, events;
	char why[256];
};

/* Shared with the subtests' processes once emu_quirks_track() ran. */
static struct emu_tally local_tally[NR_EMU_QUIRKS];
static struct emu_tally *tally = local_tally;

/* What the quirk is, one sentence. */
static const char *emu_quirk_describe(enum emu_quirk q)
{
	return q < NR_EMU_QUIRKS ? quirks[q].what : "?";
}

/*
 * How many of @events may show @q: none unless emu_forgiven(), then one in
 * ten plus one. Quirks are rare; a KVM bug that looks like one shows far
 * more often.
 */
static u64 emu_quirk_tolerance(enum emu_quirk q, u64 events)
{
	return emu_forgiven() ? events / 10 + 1 : 0;
}

static void quirk_add(enum emu_quirk q, u64 hits, u64 events)
{
	TEST_ASSERT(q < NR_EMU_QUIRKS, "no emulator quirk %d", q);
	__atomic_add_fetch(&tally[q].hits, hits, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&tally[q].events, events, __ATOMIC_SEQ_CST);
}

void emu_quirk_count(enum emu_quirk q, u64 hits, u64 events)
{
	quirk_add(q, hits, events);
}

void emu_quirk_count_why(enum emu_quirk q, u64 hits, u64 events,
			 const char *fmt, ...)
{
	va_list ap;

	quirk_add(q, hits, events);
	va_start(ap, fmt);
	vsnprintf(tally[q].why, sizeof(tally[q].why), fmt, ap);
	va_end(ap);
}

u64 emu_count_dup(u64 sent, u64 got)
{
	if (got < sent)
		return got;
	quirk_add(EMU_QUIRK_DUP_INJECT, got - sent, sent);
	return sent;
}

void emu_quirks_track(void)
{
	void *p = mmap(NULL, sizeof(local_tally), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		tally = p;
}

void emu_quirks_reset(void)
{
	memset(tally, 0, sizeof(local_tally));
}

/* One quirk's verdict: the one policy, applied here only. */
static bool quirk_judge(enum emu_quirk q)
{
	const struct emu_tally *t = &tally[q];
	u64 tol = emu_quirk_tolerance(q, t->events);

	if (!t->hits)
		return true;
	if (t->hits <= tol) {
		printf("# emulator quirk %s tolerated: %llu of %llu events (up to %llu)%s%s\n",
		       quirks[q].name, t->hits, t->events, tol,
		       t->why[0] ? ": " : "", t->why);
		return true;
	}
	printf("# FAIL emulator quirk %s: %llu of %llu events showed it, %llu tolerated (%s)%s%s\n",
	       quirks[q].name, t->hits, t->events, tol,
	       !emu_tcg() ? "not under QEMU TCG" :
	       tol ? "one in ten plus one under QEMU TCG" : "APICV_STRICT",
	       t->why[0] ? ": " : "", t->why);
	printf("# %s\n", quirks[q].what);
	return false;
}

bool emu_quirks_judge(void)
{
	bool ok = true;
	int q;

	for (q = 0; q < NR_EMU_QUIRKS; q++)
		ok &= quirk_judge(q);
	fflush(stdout);
	return ok;
}

/* ---- faults that rerun the subtest --------------------------------------- */

static const char *fault_why;
static bool fault_local;

void emu_note_fault(const char *why)
{
	if (!fault_why)
		fault_why = why;
}

void emu_note_fault_local(const char *why)
{
	if (fault_why)
		return;
	fault_why = why;
	fault_local = true;
}

void emu_note_quirk_fault(enum emu_quirk q)
{
	if (emu_forgiven())
		emu_note_fault(emu_quirk_describe(q));
}

void emu_exit_if_fault(void)
{
	if (!fault_why)
		return;
	printf("# the failure above follows an emulator fault: %s\n",
	       fault_why);
	fflush(stdout);
	_exit(fault_local ? EMU_FAULT_LOCAL_EXIT : EMU_FAULT_EXIT);
}

bool emu_fault_reboot(void)
{
	const char *v = getenv("APICV_FAULT_REBOOT");

	return v && !strcmp(v, "1");
}

/* ---- kernel-log signatures ---------------------------------------------- */

static const struct {
	const char *name, *when, *ere;
} signatures[] = {
#define EMU_SIGNATURE(name, when, ere) { name, when, ere },
#include "emu_signatures.def"
#undef EMU_SIGNATURE
};

static bool force_avic_on(void)
{
	static int on = -1;
	char v = 0;
	int fd;

	if (on >= 0)
		return on;
	fd = open("/sys/module/kvm_amd/parameters/force_avic", O_RDONLY);
	if (fd >= 0 && read(fd, &v, 1) != 1)
		v = 0;
	if (fd >= 0)
		close(fd);
	on = v == 'Y' || v == '1';
	return on;
}

const char *emu_signature_match(const char *line, bool tcg, bool force_avic)
{
	static regex_t re[ARRAY_SIZE(signatures)];
	static bool compiled[ARRAY_SIZE(signatures)];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(signatures); i++) {
		const char *when = signatures[i].when;

		if (!tcg || (!strcmp(when, "force_avic") && !force_avic))
			continue;
		if (!compiled[i]) {
			TEST_ASSERT(!regcomp(&re[i], signatures[i].ere,
					     REG_EXTENDED | REG_NOSUB),
				    "emu_signatures.def: bad ERE for %s",
				    signatures[i].name);
			compiled[i] = true;
		}
		if (!regexec(&re[i], line, 0, NULL, 0))
			return signatures[i].name;
	}
	return NULL;
}

const char *emu_kmsg_signature(const char *line)
{
	if (!emu_forgiven())
		return NULL;
	return emu_signature_match(line, true, force_avic_on());
}

/* ---- guest side ---------------------------------------------------------- */

bool guest_emu_shadow_hit(struct ex_regs *regs)
{
	const u8 *ip = (const u8 *)regs->rip;

	/* HLT right after STI: taken inside the shadow. */
	if (ip[0] != 0xf4 || ip[-1] != 0xfb)
		return false;
	regs->rip++;
	return true;
}

/* ---- KVM's static keys --------------------------------------------------- */

#define TRACEFS		"/sys/kernel/tracing/instances"
#define KEYS_INSTANCE	"apicv-keys-"	/* + the holder's pid */
#define INHIBIT_EVENT	"events/kvm/kvm_apicv_inhibit_changed/enable"
#define APIC_BASE_MSR	0x1b
/* The default base with the enable bit clear. */
#define APIC_BASE_OFF	0xfee00000ull

static void keys_keep(struct emu_keys *k, int fd)
{
	if (fd >= 0 && k->nfds < (int)ARRAY_SIZE(k->fds))
		k->fds[k->nfds++] = fd;
	else if (fd >= 0)
		close(fd);
}

static bool apic_disable(int vcpu)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {
		.hdr.nmsrs = 1,
		.e = { .index = APIC_BASE_MSR, .data = APIC_BASE_OFF },
	};

	return ioctl(vcpu, KVM_SET_MSRS, &m) == 1;
}

/*
 * A vCPU's APIC starts software-disabled and is never enabled here; the
 * second one's is hardware-disabled; the second VM has no in-kernel APIC.
 */
static bool hold_vms(struct emu_keys *k, int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0), vcpu;
	bool held = false;

	if (vm >= 0 && !ioctl(vm, KVM_CREATE_IRQCHIP, 0)) {
		held = true;
		keys_keep(k, ioctl(vm, KVM_CREATE_VCPU, 0));
		vcpu = ioctl(vm, KVM_CREATE_VCPU, 1);
		if (vcpu >= 0)
			apic_disable(vcpu);
		keys_keep(k, vcpu);
	}
	keys_keep(k, vm);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm >= 0) {
		held = true;
		keys_keep(k, ioctl(vm, KVM_CREATE_VCPU, 0));
	}
	keys_keep(k, vm);
	return held;
}

static bool write_file(const char *dir, const char *file, const char *val)
{
	char path[256];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* Instances of holders that died without letting go (killed). */
static void sweep_dead_holders(void)
{
	char dir[320];
	DIR *d = opendir(TRACEFS);
	struct dirent *e;
	int pid;

	while (d && (e = readdir(d))) {
		if (sscanf(e->d_name, KEYS_INSTANCE "%d", &pid) != 1 ||
		    !kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(dir, sizeof(dir), TRACEFS "/%s", e->d_name);
		write_file(dir, INHIBIT_EVENT, "0");
		rmdir(dir);
	}
	if (d)
		closedir(d);
}

/* A small private instance with the inhibit event on keeps its key on. */
static bool hold_tracepoint(struct emu_keys *k)
{
	sweep_dead_holders();
	snprintf(k->instance, sizeof(k->instance), TRACEFS "/" KEYS_INSTANCE "%d",
		 (int)getpid());
	if (mkdir(k->instance, 0700) && errno != EEXIST)
		return false;
	write_file(k->instance, "buffer_size_kb", "4");
	if (write_file(k->instance, INHIBIT_EVENT, "1"))
		return true;
	rmdir(k->instance);
	return false;
}

bool emu_keys_hold(struct emu_keys *k)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	bool held;

	memset(k, 0, sizeof(*k));
	if (kvm < 0)
		return false;
	held = hold_vms(k, kvm);
	close(kvm);
	k->traced = hold_tracepoint(k);
	return held;
}

void emu_keys_release(struct emu_keys *k)
{
	if (k->traced) {
		write_file(k->instance, INHIBIT_EVENT, "0");
		rmdir(k->instance);
		k->traced = false;
	}
	while (k->nfds)
		close(k->fds[--k->nfds]);
}

static struct emu_keys process_keys;
static pid_t process_keys_pid;

/* Only the process that holds them lets go (not its forked children). */
static void process_keys_release(void)
{
	if (getpid() == process_keys_pid)
		emu_keys_release(&process_keys);
}

void emu_keys_hold_for_process(void)
{
	if (process_keys_pid)
		return;
	process_keys_pid = getpid();
	emu_keys_hold(&process_keys);
	atexit(process_keys_release);
}
