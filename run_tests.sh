#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh: run the apicv-selftests test binaries, print KTAP.
#
# Plain POSIX sh: it runs under bash or dash on a host and under busybox ash
# inside a booted kernel (no python there).  Only host-side extras
# (results.json, --junit, --report, per-test logs of booted kernels) use
# python3.
#
# Output, as the kernel's kselftest runner prints it:
#   TAP version 13
#   1..N                        one item per test binary (per negative
#                               control with --negative)
#   # ...                       run information (kernel, kvm parameters, seed)
#   # selftests: apicv: x86/NAME_test
#   # <the binary's output>     its own KTAP, nested by the "# " prefix
#   # kmsg: <line>              kernel-log report seen while it ran
#   # runner: exit=N time=Ts kmsg=clean|N|unwatched
#   ok 1 NAME_test              or "ok 1 NAME_test # SKIP reason",
#                               "not ok 1 NAME_test # TIMEOUT 45s",
#                               "not ok 1 NAME_test # exit=1", ...
#   P passed, F failed, S skipped
# When kernels are booted (no /dev/kvm here, or --kernel) the items are the
# kernels and each kernel's run is nested the same way ("# ok 1 NAME_test").
#
# Counting: the closing line counts test binaries, the unit of the KTAP
# result lines above: one per binary (per binary and kernel when kernels
# are booted; one per negative control with --negative).  Subtests are
# reported in the nested KTAP, results.json and JUnit, not in that line.

set -eu
set -f	# test patterns are globs for `case`, never for file names

PROG=run_tests.sh
NL='
'
TAB=$(printf '\t')
SELF_DIR=$(cd "$(dirname "$0")" && pwd)

# The inner runner's exit when an emulator fault calls for a fresh kernel.
FAULT_REBOOT_EXIT=75
# Fresh kernels per booted kernel's run for emulator faults, and in a row
# for one subtest (then its binary fails: a fault a KVM bug causes comes
# every time). The emulator's came in about half the runs of two SynIC
# hammer negative controls (17 in 8 runs of each, QEMU 7.2 and 10.0), so
# a streak of 9 has odds of 1 in 500. A binary runs for about 20 s and a
# boot takes 10 s; CI saw six fault reboots in one kernel's suite run.
FAULT_REBOOTS=${APICV_FAULT_REBOOTS:-30}
FAULT_REBOOTS_SAME=9

# Kernel-log lines that fail the binary during which they appear, in its
# dmesg slice or on the console of a booted kernel: fixed strings, the same
# as report_markers[] in lib/kmsg.c (runner_test.sh checks they agree).
KMSG_RE='WARNING:|BUG:|kernel BUG at|Oops:|general protection fault|possible circular locking dependency|inconsistent lock state|possible recursive locking|suspicious RCU usage|detected stall|KASAN:|UBSAN:|soft lockup|hard LOCKUP|hung_task|blocked for more than|Kernel panic|end trace'

# A booted (L1) kernel that dies or hangs while a binary runs, or prints a
# KMSG_RE report on its console, fails that binary: a KVM bug that takes
# the host down is the worst kind. Unless its console shows one of these
# emulator signatures first (the kernel is booted again for the binaries
# without a result either way). One per line: NAME, WHEN (tcg: the inner
# run's "# cpu:" says QEMU TCG; force_avic: --param kvm_amd.force_avic=1
# as well), ERE matched in the kernel's console lines.
#  tcg-host-rip: TCG's emulated VMRUN resumes a vCPU with its host's RIP and
#   RSP (KNOWN_BUG_TCG_HOST_RIP); the L1 kernel then panics so (four L1
#   deaths in four runs of the SynIC hammer's controls with QEMU 7.2, one
#   in nine with 10.0: scripts/setup).
#  tcg-text-poke: multi-threaded TCG runs text that static keys re-patch
#   with int3 (scripts/tools/kvm_keeper.c; kvm_keeper makes it rare): the
#   oops "Oops: int3: 0000 [#1] ..." (before 6.9 without "Oops: ").
#  tcg-force-avic-lockup: force_avic on TCG, which has no AVIC (guest
#   delivery is broken while the VM is not inhibited, by design): in the
#   churn test's activity subtests a CPU waits for ever in
#   smp_call_function_many_cond (a TLB flush from mremap) on the CPU that
#   runs a vCPU (CI, 2026-12-03: 6.1 in two of three make check runs, 7.2
#   once; never 6.12).
EMU_SIGNATURES='tcg-host-rip	tcg	corrupted stack end detected inside scheduler
tcg-text-poke	tcg	int3: [0-9a-f][0-9a-f][0-9a-f][0-9a-f] \[#[0-9]+\]
tcg-force-avic-lockup	force_avic	soft lockup - CPU#[0-9]+ stuck for [0-9]+s! \[apicv_inhibit_c:'

usage() {
	cat <<EOF
Usage: $PROG [options]

Runs the test binaries on this host's KVM.  Where the host has no /dev/kvm
(or --kernel is given) it boots a kernel under QEMU with scripts/vm and runs
them there.

Selection:
  -t PATTERN        TEST or TEST:SUBTEST, shell globs; TEST with or without
                    the _test suffix; repeatable
  -l, --list        list the tests (TEST) and subtests (TEST:SUBTEST), exit
  --negative        run the negative controls instead of the tests: every
                    fault a binary declares (--list-faults) must make it fail
Running:
  -o SECONDS        timeout per binary (default: timeout= in settings, 45)
  -j N              run N binaries at once (at most the number of CPUs)
  --profile ci|qualify   stress length (APICV_PROFILE, default ci)
  --seed N          seed for every binary (APICV_SEED; default: chosen, printed)
  --host            run on this host only, never boot a kernel
  --kernel K        bzImage path, debian-6.1, debian-6.12 or debian-unstable
                    (the newest kernel of Debian unstable); repeatable: one
                    boot per kernel, results side by side
  --modules DIR     module tree for a --kernel IMAGE (or instead of a
                    shorthand kernel's own)
  --kvm-patch FILE  build kvm.ko, kvm-amd.ko, kvm-intel.ko for each
                    shorthand kernel from its Debian linux-source with FILE
                    applied (patch -p1; only arch/x86/kvm, virt/kvm) and
                    run on them (scripts/kvm-build); repeatable, in order
  --kvm-src DIR     the same from DIR's arch/x86/kvm and virt/kvm (a KVM-only
                    series being bisected)
  --param M.P=V     module parameter for the booted kernel; repeatable
  --cpu amd|intel, --cpus N, --mem MB, --cmdline STR
                    passed to scripts/vm
Output:
  --log-dir DIR     per-run directory: KTAP, one log and kernel-log slice per
                    binary, results.json (default OUTPUT/runs/STAMP, or
                    /tmp/apicv-runs/STAMP for an installed tree)
  --junit FILE      JUnit XML: a testsuite per binary, a testcase per subtest
  --report DIR      qualification report (report.md, report.json, raw dumps)
  --bisect          exit for git bisect run: 0 good, 1 bad, 125 cannot test
  -v                verbose: commands, every kernel-log slice
  -h, --help        this text

Exit: 0 nothing failed, 1 something failed, 2 usage error (125 with --bisect).
Environment: OUTPUT (build tree, default ./build), APICV_CACHE, APICV_* (passed
 to the tests and into booted kernels), APICV_KMSG=auto|marker|tail|off (how
 the kernel log is watched), APICV_VM (scripts/vm to use), APICV_VM_RETRIES
 (boots again after a booted kernel died or hung, default 1, for the binaries
 without a result; the one that ran fails unless its console shows an
 emulator's signature: EMU_SIGNATURES in this script), APICV_FAULT_REBOOTS
 (fresh kernels after emulator faults, default 30; 0: rerun in place).
EOF
}

# ---- errors -----------------------------------------------------------------

usage_error() {
	echo "$PROG: $*" >&2
	if [ "$BISECT" = 1 ]; then
		exit 125
	fi
	exit 2
}

need_value() {
	if [ $# -lt 2 ]; then
		usage_error "$1 needs a value"
	fi
}

is_uint() {
	case $1 in
	''|*[!0-9]*) return 1 ;;
	esac
	return 0
}

# ---- options ----------------------------------------------------------------

TEST_PATS=
LIST=0
TIMEOUT_OPT=
JOBS=1
PROFILE=${APICV_PROFILE:-ci}
SEED=${APICV_SEED:-}
HOST_ONLY=0
KERNELS=
MODULES=
KVM_PATCHES=
KVM_SRC=
PARAMS=
VM_CPU=
VM_CPUS=
VM_MEM=
VM_CMDLINE=
LOG_DIR=
JUNIT=
REPORT=
BISECT=0
VERBOSE=0
NEGATIVE=0
VM_OPTS=0

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--?*=*)
			pa_opt=${1%%=*}
			pa_val=${1#*=}
			shift
			set -- "$pa_opt" "$pa_val" "$@"
			;;
		esac
		case $1 in
		-t)	need_value "$@"; TEST_PATS=$TEST_PATS$2$NL; shift ;;
		-l|--list) LIST=1 ;;
		-o)	need_value "$@"
			if ! is_uint "$2" || [ "$2" -eq 0 ]; then
				usage_error "-o needs a number of seconds above 0, not '$2'"
			fi
			TIMEOUT_OPT=$2; shift ;;
		-j)	need_value "$@"
			if ! is_uint "$2" || [ "$2" -eq 0 ]; then
				usage_error "-j needs a number of jobs above 0, not '$2'"
			fi
			JOBS=$2; shift ;;
		--profile) need_value "$@"; PROFILE=$2; shift ;;
		--seed)	need_value "$@"
			is_uint "$2" || usage_error "--seed needs a non-negative integer, not '$2'"
			SEED=$2; shift ;;
		--host)	HOST_ONLY=1 ;;
		--kernel) need_value "$@"; KERNELS=$KERNELS$2$NL; VM_OPTS=1; shift ;;
		--modules) need_value "$@"; MODULES=$2; VM_OPTS=1; shift ;;
		--kvm-patch) need_value "$@"; KVM_PATCHES=$KVM_PATCHES$2$NL; VM_OPTS=1; shift ;;
		--kvm-src) need_value "$@"; KVM_SRC=$2; VM_OPTS=1; shift ;;
		--param) need_value "$@"
			case $2 in
			?*.?*=*) ;;
			*) usage_error "--param needs MODULE.NAME=VALUE (e.g. kvm_amd.avic=1), not '$2'" ;;
			esac
			PARAMS=$PARAMS$2$NL; VM_OPTS=1; shift ;;
		--cpu)	need_value "$@"
			case $2 in
			amd|intel) ;;
			*) usage_error "--cpu needs amd or intel, not '$2'" ;;
			esac
			VM_CPU=$2; VM_OPTS=1; shift ;;
		--cpus)	need_value "$@"
			if ! is_uint "$2" || [ "$2" -eq 0 ]; then
				usage_error "--cpus needs a number above 0, not '$2'"
			fi
			VM_CPUS=$2; VM_OPTS=1; shift ;;
		--mem)	need_value "$@"
			is_uint "$2" || usage_error "--mem needs megabytes, not '$2'"
			VM_MEM=$2; VM_OPTS=1; shift ;;
		--cmdline) need_value "$@"; VM_CMDLINE=$2; VM_OPTS=1; shift ;;
		--log-dir) need_value "$@"; LOG_DIR=$2; shift ;;
		--junit) need_value "$@"; JUNIT=$2; shift ;;
		--report) need_value "$@"; REPORT=$2; shift ;;
		--bisect) BISECT=1 ;;
		--negative) NEGATIVE=1 ;;
		-v|--verbose) VERBOSE=1 ;;
		-h|--help) usage; exit 0 ;;
		--)	shift
			if [ $# -gt 0 ]; then
				usage_error "unexpected argument '$1' (select tests with -t)"
			fi
			break ;;
		-*)	usage_error "unknown option '$1'" ;;
		*)	usage_error "unexpected argument '$1' (select tests with -t)" ;;
		esac
		shift
	done
}

abs_path() {	# FILE-OR-DIR (its directory must exist)
	case $1 in
	/*) echo "$1" ;;
	*) echo "$(pwd)/$1" ;;
	esac
}

have_python() {
	command -v python3 >/dev/null 2>&1
}

check_args() {
	case $PROFILE in
	ci|qualify) ;;
	*) usage_error "--profile needs ci or qualify, not '$PROFILE'" ;;
	esac
	is_uint "${APICV_VM_RETRIES:-1}" ||
		usage_error "APICV_VM_RETRIES needs a non-negative integer, not '$APICV_VM_RETRIES'"
	is_uint "$FAULT_REBOOTS" ||
		usage_error "APICV_FAULT_REBOOTS needs a non-negative integer, not '$FAULT_REBOOTS'"
	if [ "$HOST_ONLY" = 1 ] && [ "$VM_OPTS" = 1 ]; then
		usage_error "--host cannot be combined with --kernel, --modules, --param, --cpu, --cpus, --mem or --cmdline"
	fi
	while IFS= read -r ca_k; do
		case $ca_k in
		''|debian-6.1|debian-6.12|debian-unstable) ;;
		*) [ -f "$ca_k" ] || usage_error "--kernel $ca_k: no such file (give a bzImage, debian-6.1, debian-6.12 or debian-unstable)"
			[ -z "$KVM_PATCHES$KVM_SRC" ] ||
				usage_error "--kvm-patch/--kvm-src build for Debian's kernels: give --kernel debian-6.1, debian-6.12 or debian-unstable, not $ca_k" ;;
		esac
	done <<EOF
$KERNELS
EOF
	if [ -n "$MODULES" ] && [ ! -d "$MODULES" ]; then
		usage_error "--modules $MODULES: no such directory"
	fi
	check_kvm_args
	if [ -n "$JUNIT" ]; then
		JUNIT=$(abs_path "$JUNIT")
		[ -d "$(dirname "$JUNIT")" ] || usage_error "--junit $JUNIT: its directory does not exist"
		have_python || usage_error "--junit needs python3 on this host (apt-get install python3)"
	fi
	if [ -n "$REPORT" ]; then
		REPORT=$(abs_path "$REPORT")
		have_python || usage_error "--report needs python3 on this host (apt-get install python3)"
		mkdir -p "$REPORT" 2>/dev/null || usage_error "--report $REPORT: cannot create the directory"
	fi
	if [ -n "$LOG_DIR" ]; then
		LOG_DIR=$(abs_path "$LOG_DIR")
	fi
	ca_ncpu=$(nproc 2>/dev/null || echo 1)
	if [ "$JOBS" -gt "$ca_ncpu" ]; then
		echo "$PROG: -j $JOBS capped to the $ca_ncpu CPUs of this machine" >&2
		JOBS=$ca_ncpu
	fi
}

# ---- test binaries ----------------------------------------------------------

has_test_binaries() {	# DIR
	set +f
	for hb_f in "$1"/*_test; do
		if [ -f "$hb_f" ] && [ -x "$hb_f" ]; then
			set -f
			return 0
		fi
	done
	set -f
	return 1
}

list_binaries() {	# DIR
	set +f
	for lb_f in "$1"/*_test; do
		if [ -f "$lb_f" ]; then
			echo "${lb_f##*/}"
		fi
	done
	set -f
}

# In a staged or installed tree the binaries sit in ./x86 next to this
# script; in the repository they are in $OUTPUT/x86 (OUTPUT=./build).
find_binaries() {
	if [ -n "${OUTPUT:-}" ]; then
		[ -d "$OUTPUT" ] || usage_error "OUTPUT=$OUTPUT: no such directory (run 'make OUTPUT=$OUTPUT' first)"
		BIN_DIR=$(cd "$OUTPUT" && pwd)/x86
		TREE=repo
	elif has_test_binaries "$SELF_DIR/x86"; then
		BIN_DIR=$SELF_DIR/x86
		TREE=staged
	else
		BIN_DIR=$SELF_DIR/build/x86
		TREE=repo
	fi
	ALL_BINS=$(list_binaries "$BIN_DIR")
	if [ -z "$ALL_BINS" ]; then
		usage_error "no test binaries in $BIN_DIR: run 'make' first (or set OUTPUT=DIR)"
	fi
}

match_test() {	# NAME TEST-PATTERN
	case $1 in
	$2|${2}_test) return 0 ;;
	esac
	return 1
}

match_subtest() {	# SUBTEST PATTERN: the full name or its last part
	case $1 in
	$2) return 0 ;;
	esac
	case ${1##*.} in
	$2) return 0 ;;
	esac
	return 1
}

# SELECTED: the chosen binaries; $WORK/sub/NAME: their subtest patterns
# (no file: every subtest).
select_tests() {
	mkdir -p "$WORK/sub"
	: >"$WORK/matched"
	SELECTED=
	for st_name in $ALL_BINS; do
		if [ -z "$TEST_PATS" ]; then
			SELECTED=$SELECTED$st_name$NL
			continue
		fi
		st_any=0
		st_all=0
		: >"$WORK/sub/$st_name"
		while IFS= read -r st_p; do
			[ -n "$st_p" ] || continue
			st_t=${st_p%%:*}
			st_s=
			case $st_p in
			*:*) st_s=${st_p#*:} ;;
			esac
			if match_test "$st_name" "$st_t"; then
				st_any=1
				printf '%s\n' "$st_p" >>"$WORK/matched"
				if [ -z "$st_s" ]; then
					st_all=1
				else
					printf '%s\n' "$st_s" >>"$WORK/sub/$st_name"
				fi
			fi
		done <<EOF
$TEST_PATS
EOF
		if [ "$st_any" = 1 ]; then
			SELECTED=$SELECTED$st_name$NL
		fi
		if [ "$st_any" = 0 ] || [ "$st_all" = 1 ]; then
			rm -f "$WORK/sub/$st_name"
		fi
	done
	while IFS= read -r st_p; do
		[ -n "$st_p" ] || continue
		if ! grep -qxF -e "$st_p" "$WORK/matched"; then
			usage_error "-t $st_p matches no test binary in $BIN_DIR (see $PROG -l)"
		fi
	done <<EOF
$TEST_PATS
EOF
}

list_tests() {
	lt_rc=0
	for lt_name in $SELECTED; do
		echo "$lt_name"
		lt_err=0
		"$BIN_DIR/$lt_name" -l </dev/null >"$WORK/list.out" 2>"$WORK/list.err" || lt_err=$?
		if [ "$lt_err" != 0 ]; then
			echo "$PROG: $lt_name -l failed (exit $lt_err): $(head -n 1 "$WORK/list.err")" >&2
			lt_rc=1
			continue
		fi
		while IFS= read -r lt_sub; do
			case $lt_sub in
			''|'#'*) continue ;;
			esac
			if [ -f "$WORK/sub/$lt_name" ]; then
				lt_ok=0
				while IFS= read -r lt_p; do
					if match_subtest "$lt_sub" "$lt_p"; then
						lt_ok=1
					fi
				done <"$WORK/sub/$lt_name"
				[ "$lt_ok" = 1 ] || continue
			fi
			echo "$lt_name:$lt_sub"
		done <"$WORK/list.out"
	done
	return "$lt_rc"
}

# $WORK/items: one KTAP item a line, KIND<TAB>NAME<TAB>FAULT<TAB>PATTERN.
plan_items() {
	: >"$WORK/items"
	for pi_name in $SELECTED; do
		if [ "$NEGATIVE" = 0 ]; then
			printf 'test\t%s\t-\t-\n' "$pi_name" >>"$WORK/items"
			continue
		fi
		pi_rc=0
		"$BIN_DIR/$pi_name" --list-faults </dev/null >"$WORK/faults" 2>/dev/null || pi_rc=$?
		if [ "$pi_rc" != 0 ]; then
			printf 'nofault\t%s\t%s\t-\n' "$pi_name" "--list-faults failed (exit $pi_rc)" >>"$WORK/items"
			continue
		fi
		pi_n=0
		while IFS="$TAB" read -r pi_f pi_p pi_d pi_e; do
			case $pi_f in
			''|'#'*) continue ;;
			esac
			printf 'neg\t%s\t%s\t%s\t%s\n' "$pi_name" "$pi_f" "${pi_p:-*}" "${pi_e:--}" >>"$WORK/items"
			pi_n=$((pi_n + 1))
		done <"$WORK/faults"
		if [ "$pi_n" = 0 ]; then
			printf 'nofault\t%s\t%s\t-\n' "$pi_name" "no negative control declared (--list-faults printed none)" >>"$WORK/items"
		fi
	done
	# A booted kernel that stopped mid-run is booted again for the rest.
	if [ "${APICV_RESUME_SKIP:-0}" -gt 0 ] 2>/dev/null; then
		tail -n +"$((APICV_RESUME_SKIP + 1))" "$WORK/items" >"$WORK/items.rest"
		mv "$WORK/items.rest" "$WORK/items"
	fi
	PLAN=$(wc -l <"$WORK/items" | tr -d ' ')
}

read_settings_timeout() {
	TIMEOUT=45
	if [ -f "$SELF_DIR/settings" ]; then
		while IFS='=' read -r rs_k rs_v; do
			if [ "$rs_k" = timeout ] && is_uint "$rs_v"; then
				TIMEOUT=$rs_v
			fi
		done <"$SELF_DIR/settings"
	fi
	if [ -n "$TIMEOUT_OPT" ]; then
		TIMEOUT=$TIMEOUT_OPT
	fi
}

suite_version() {
	if [ -f "$SELF_DIR/VERSION" ]; then
		head -n 1 "$SELF_DIR/VERSION"
	elif command -v git >/dev/null 2>&1 &&
	     sv_v=$(git -C "$SELF_DIR" describe --always --dirty 2>/dev/null); then
		echo "$sv_v"
	else
		echo unknown
	fi
}

# ---- running one binary with a timeout -----------------------------------

prefix_lines() {
	awk '{ print "# " $0; fflush() }'
}

# run_timed SECS LOG CMD...: runs CMD in its own session (so its whole
# process group can be killed) under a watchdog, streams its output
# prefixed with "# " and into LOG.  Sets RT_RC and RT_TIMEDOUT.  Once CMD
# has exited, what is left of its group is killed, and the reader of its
# output gets at most 5 s to drain.
run_timed() {
	rt_secs=$1
	rt_log=$2
	shift 2
	rt_fifo=$WORK/fifo.$CUR_IDX
	rt_flag=$WORK/timedout.$CUR_IDX
	rm -f "$rt_fifo" "$rt_fifo.done" "$rt_flag"
	mkfifo "$rt_fifo"
	setsid sh -c 'tee "$1" | awk '\''{ print "# " $0; fflush() }'\''; : >"$2"' \
		reader "$rt_log" "$rt_fifo.done" <"$rt_fifo" &
	rt_rd=$!
	setsid "$@" >"$rt_fifo" 2>&1 </dev/null &
	rt_pid=$!
	setsid sh -c 'sleep "$1"; : >"$2"; kill -TERM -"$3"; sleep 3; kill -KILL -"$3"' \
		watchdog "$rt_secs" "$rt_flag" "$rt_pid" >/dev/null 2>&1 </dev/null &
	rt_wd=$!
	echo "$rt_pid $rt_wd $rt_rd" >"$WORK/pgid.$CUR_IDX"
	RT_RC=0
	wait "$rt_pid" || RT_RC=$?
	# The watchdog may not have reached setsid yet: kill it by pid too.
	kill -TERM -"$rt_wd" 2>/dev/null || :
	kill -TERM "$rt_wd" 2>/dev/null || :
	wait "$rt_wd" 2>/dev/null || :
	kill -KILL -"$rt_pid" 2>/dev/null || :	# leftovers of its group
	rt_n=0
	while [ ! -e "$rt_fifo.done" ] && [ "$rt_n" -lt 50 ]; do
		sleep 0.1
		rt_n=$((rt_n + 1))
	done
	kill -TERM -"$rt_rd" 2>/dev/null || :
	wait "$rt_rd" 2>/dev/null || :
	rm -f "$WORK/pgid.$CUR_IDX" "$rt_fifo" "$rt_fifo.done"
	RT_TIMEDOUT=0
	if [ -e "$rt_flag" ]; then
		RT_TIMEDOUT=1
		rm -f "$rt_flag"
	fi
}

# ---- kernel log -------------------------------------------------------------
# busybox has no non-blocking reader for /dev/kmsg (its dd lacks
# iflag=nonblock and a blocking read never ends), so the log is read with
# `dmesg -r` (syslog(2) READ_ALL: the whole buffer, returns at once).  As
# root, a marker line written to /dev/kmsg before and after each binary
# delimits its slice exactly; otherwise the slice is what follows the last
# line seen before the binary started.  Lines logged before a binary
# started never count.

kmsg_init() {
	KMSG_MODE=none
	KMSG_N=0
	km_want=${APICV_KMSG:-auto}
	case $km_want in
	auto|marker|tail|off) ;;
	*) usage_error "APICV_KMSG must be auto, marker, tail or off, not '$km_want'" ;;
	esac
	if [ "$km_want" = off ]; then
		KMSG_DESC="not watched (APICV_KMSG=off)"
	elif ! command -v dmesg >/dev/null 2>&1; then
		KMSG_DESC="not watched: no dmesg command"
	elif ! dmesg -r >/dev/null 2>&1; then
		KMSG_DESC="not watched: dmesg cannot read it (run as root, or sysctl kernel.dmesg_restrict=0)"
	else
		ki_tag="apicv-selftests: runner $$ started"
		if [ "$km_want" != tail ] &&
		   { printf "<6>%s\n" "$ki_tag" >/dev/kmsg; } 2>/dev/null &&
		   dmesg -r 2>/dev/null | kmsg_messages | grep -qxF -e "$ki_tag"; then
			KMSG_MODE=marker
			KMSG_DESC="watched around each binary (dmesg between markers written to /dev/kmsg)"
		else
			KMSG_MODE=tail
			KMSG_DESC="watched around each binary (dmesg, lines after the last one seen before it)"
		fi
	fi
	if [ "$JOBS" -gt 1 ] && [ "$KMSG_MODE" != none ]; then
		KMSG_DESC="$KMSG_DESC; with -j a report fails every binary running at the time"
	fi
}

kmsg_messages() {	# raw dmesg lines -> bare messages
	awk '{ sub(/^<[0-9]+>/, ""); sub(/^\[ *[0-9]+\.[0-9]+\] /, ""); print }'
}

kmsg_begin() {
	KB_TAG="apicv-selftests: start $$.$CUR_IDX"
	KB_LAST=
	case $KMSG_MODE in
	marker) printf "<6>%s\n" "$KB_TAG" >/dev/kmsg 2>/dev/null || : ;;
	tail) KB_LAST=$(dmesg -r 2>/dev/null | tail -n 1) ;;
	esac
	KB_TAINT=$(cat /proc/sys/kernel/tainted 2>/dev/null || echo 0)
}

# kmsg_end SLICE: writes the lines logged while the binary ran to SLICE,
# the quoted reports to $WORK/hits.$CUR_IDX; sets KM_HITS.
kmsg_end() {
	ke_slice=$1
	ke_hits=$WORK/hits.$CUR_IDX
	: >"$ke_slice"
	: >"$ke_hits"
	KM_HITS=0
	case $KMSG_MODE in
	marker)
		ke_tag="apicv-selftests: end $$.$CUR_IDX"
		printf "<6>%s\n" "$ke_tag" >/dev/kmsg 2>/dev/null || :
		dmesg -r 2>/dev/null | KS="$KB_TAG" KE="$ke_tag" awk '
			{ raw = $0; sub(/^<[0-9]+>/, "", raw)
			  m = raw; sub(/^\[ *[0-9]+\.[0-9]+\] /, "", m) }
			m == ENVIRON["KS"] { n = 0; next }
			m == ENVIRON["KE"] { exit }
			m ~ /^apicv-selftests: / { next }
			{ line[++n] = raw }
			END { for (i = 1; i <= n; i++) print line[i] }' >"$ke_slice" || :
		;;
	tail)
		dmesg -r 2>/dev/null | KL="$KB_LAST" awk '
			{ line[NR] = $0; if ($0 == ENVIRON["KL"]) p = NR }
			END { for (i = p + 1; i <= NR; i++) {
				x = line[i]; sub(/^<[0-9]+>/, "", x)
				if (x !~ /^(\[ *[0-9]+\.[0-9]+\] )?apicv-selftests: /) print x } }' \
			>"$ke_slice" || :
		;;
	none)
		# No log to read: a new WARN/BUG/lockup taint still tells.
		ke_t=$(cat /proc/sys/kernel/tainted 2>/dev/null || echo 0)
		ke_new=$(( ke_t & ~KB_TAINT & ((1 << 5) | (1 << 7) | (1 << 9) | (1 << 14)) ))
		if [ "$ke_new" != 0 ]; then
			echo "kernel taint gained $ke_new while it ran (tainted $KB_TAINT -> $ke_t: WARN, BUG, soft lockup or bad page)" >"$ke_hits"
			KM_HITS=1
		fi
		return 0
		;;
	esac
	KR="$KMSG_RE" awk '
		BEGIN { re = ENVIRON["KR"] }
		$0 ~ re { hits++; ctx = 12 }
		ctx > 0 && out < 40 { print; out++; ctx-- }
		END { exit hits ? 0 : 1 }' "$ke_slice" >"$ke_hits" || :
	KM_HITS=$(grep -cE -e "$KMSG_RE" "$ke_slice" || :)
}

kmsg_word() {
	if [ "$KMSG_MODE" = none ] && [ "$KM_HITS" = 0 ]; then
		echo unwatched
	elif [ "$KM_HITS" = 0 ]; then
		echo clean
	else
		echo "$KM_HITS"
	fi
}

first_hit() {	# the first report line, without its timestamp
	KR="$KMSG_RE" awk 'BEGIN { re = ENVIRON["KR"] }
		$0 ~ re || NR == 1 && /^kernel taint/ { sub(/^\[ *[0-9]+\.[0-9]+\] /, ""); print; exit }' \
		"$WORK/hits.$CUR_IDX" | cut -c 1-160
}

# execute LOG SLICE CMD...: one binary with timeout and kernel-log watch;
# prints its output and the annotations, sets EX_* and KM_HITS.
execute() {
	ex_log=$1
	ex_slice=$2
	shift 2
	if [ "$VERBOSE" = 1 ]; then
		echo "# run: $*"
	fi
	kmsg_begin
	ex_t0=$(date +%s)
	run_timed "$TIMEOUT" "$ex_log" "$@"
	EX_SECS=$(( $(date +%s) - ex_t0 ))
	EX_RC=$RT_RC
	EX_TIMEDOUT=$RT_TIMEDOUT
	kmsg_end "$ex_slice"
	if [ "${APICV_IN_VM:-}" = 1 ] || [ "$VERBOSE" = 1 ]; then
		sed 's/^/# dmesg: /' "$ex_slice"
	fi
	sed 's/^/# kmsg: /' "$WORK/hits.$CUR_IDX"
	if [ "$EX_TIMEDOUT" = 1 ]; then
		echo "# TIMEOUT: killed after ${TIMEOUT}s; the last lines it printed:"
		tail -n 20 "$ex_log" | sed 's/^/# | /'
	fi
	echo "# runner: exit=$EX_RC time=${EX_SECS}s kmsg=$(kmsg_word)"
}

skip_reason() {	# LOG
	sr_r=$(sed -n 's/.*# SKIP *//p' "$1" | head -n 1 | tr -d '\r' | cut -c 1-160)
	echo "${sr_r:-exit 4}"
}

all_skipped() {	# LOG: it has result lines and every one is a SKIP
	awk '/^(not )?ok [0-9]+/ { n++; if ($0 ~ /^ok .*# *SKIP/) k++ }
		END { exit !(n > 0 && n == k) }' "$1"
}

exit_reason() {	# RC
	if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
		echo "killed by signal $(( $1 - 128 ))"
	else
		echo "exit=$1"
	fi
}

result_line() {	# STATUS NAME REASON
	case $1 in
	pass)	if [ -n "$3" ]; then
			echo "ok $CUR_IDX $2 # $3"
		else
			echo "ok $CUR_IDX $2"
		fi ;;
	skip)	echo "ok $CUR_IDX $2 # SKIP $3" ;;
	*)	echo "not ok $CUR_IDX $2 # $3" ;;
	esac
}

run_test() {
	rt_name=$I_NAME
	echo "# selftests: apicv: x86/$rt_name"
	set -- "$BIN_DIR/$rt_name"
	if [ -f "$WORK/sub/$rt_name" ]; then
		while IFS= read -r rt_p; do
			set -- "$@" -t "$rt_p"
		done <"$WORK/sub/$rt_name"
	fi
	if [ ! -x "$1" ]; then
		result_line fail "$rt_name" "not executable: $1"
		return 0
	fi
	execute "$RUN_DIR/$rt_name.log" "$RUN_DIR/$rt_name.kmsg" "$@"
	if stop_on_kernel_fault "$rt_name"; then
		return 0
	fi
	rt_why=
	if [ "$EX_TIMEDOUT" = 1 ]; then
		rt_st=fail; rt_why="TIMEOUT ${TIMEOUT}s"
	else
		case $EX_RC in
		0)	rt_st=pass
			# The harness exits 0 when every subtest skipped: no pass.
			if all_skipped "$RUN_DIR/$rt_name.log"; then
				rt_st=skip
				rt_why=$(skip_reason "$RUN_DIR/$rt_name.log")
			fi ;;
		4) rt_st=skip; rt_why=$(skip_reason "$RUN_DIR/$rt_name.log") ;;
		*) rt_st=fail; rt_why=$(exit_reason "$EX_RC") ;;
		esac
	fi
	if [ "$KM_HITS" != 0 ]; then
		if [ "$rt_st" = fail ]; then
			rt_why="$rt_why; kernel log: $(first_hit)"
		else
			rt_why="kernel log: $(first_hit)"
		fi
		rt_st=fail
	fi
	result_line "$rt_st" "$rt_name" "$rt_why"
}

# Inside a kernel the outer runner boots (APICV_FAULT_REBOOT=1), a binary
# that ends on an emulator fault (exit 254, see test_util.h) leaves no
# result: the runner stops, and the outer one boots a fresh kernel and runs
# that binary again, since the fault may have damaged this kernel. True
# when it stops.
stop_on_kernel_fault() {	# NAME
	[ "${APICV_FAULT_REBOOT:-0}" = 1 ] && [ "$JOBS" -le 1 ] &&
		[ "$EX_TIMEDOUT" = 0 ] && [ "$EX_RC" = 254 ] &&
		[ "$KM_HITS" = 0 ] || return 1
	echo "# runner: $1 ended on an emulator fault: stopping here, the kernel is booted again to run it (exit $FAULT_REBOOT_EXIT)"
	: >"$WORK/fault_stop"
}

# A negative control passes when the binary, with one fault injected,
# fails (exit 1) or hangs (TIMEOUT).
# A control bites only when the check it names failed: its failure text
# (the fault's expect column) is in the output. "-": any failure counts.
targeted_check_failed() {
	[ "${I_EXPECT:--}" = - ] ||
		grep -qF -- "$I_EXPECT" "$RUN_DIR/negative/$I_NAME.$I_FAULT.log"
}

run_negative() {
	rn_label=negative:$I_NAME:$I_FAULT
	mkdir -p "$RUN_DIR/negative"
	echo "# negative control: $rn_label (APICV_FAULT=$I_FAULT x86/$I_NAME -t '$I_PAT')"
	execute "$RUN_DIR/negative/$I_NAME.$I_FAULT.log" "$RUN_DIR/negative/$I_NAME.$I_FAULT.kmsg" \
		env "APICV_FAULT=$I_FAULT" "$BIN_DIR/$I_NAME" -t "$I_PAT"
	if stop_on_kernel_fault "$rn_label"; then
		return 0
	fi
	if [ "$KM_HITS" != 0 ]; then
		result_line fail "$rn_label" "kernel log: $(first_hit)"
	elif [ "$EX_TIMEDOUT" = 1 ]; then
		if targeted_check_failed; then
			result_line pass "$rn_label" "expected failure seen (TIMEOUT ${TIMEOUT}s)"
		else
			result_line fail "$rn_label" "timed out, but not in the check the control targets: no '$I_EXPECT' in its output"
		fi
	else
		case $EX_RC in
		1)	if targeted_check_failed; then
				result_line pass "$rn_label" "expected failure seen"
			else
				result_line fail "$rn_label" "the test failed, but not the check the control targets: no '$I_EXPECT' in its output"
			fi ;;
		0)	if all_skipped "$RUN_DIR/negative/$I_NAME.$I_FAULT.log"; then
				result_line skip "$rn_label" "$(skip_reason "$RUN_DIR/negative/$I_NAME.$I_FAULT.log")"
			else
				result_line fail "$rn_label" "fault not detected: the test passed with APICV_FAULT=$I_FAULT"
			fi ;;
		4) result_line skip "$rn_label" "$(skip_reason "$RUN_DIR/negative/$I_NAME.$I_FAULT.log")" ;;
		*) result_line fail "$rn_label" "$(exit_reason "$EX_RC"), expected exit=1 (a failed check)" ;;
		esac
	fi
}

run_item() {	# INDEX
	CUR_IDX=$1
	ri_line=$(sed -n "${1}p" "$WORK/items")
	IFS=$TAB read -r I_KIND I_NAME I_FAULT I_PAT I_EXPECT <<EOF
$ri_line
EOF
	case $I_KIND in
	test)	run_test ;;
	neg)	run_negative ;;
	nofault)
		echo "# negative control: negative:$I_NAME (x86/$I_NAME --list-faults)"
		result_line fail "negative:$I_NAME" "$I_FAULT" ;;
	esac
}

# Parallel runs write each item's output to a file; they are printed in
# item order, so the KTAP numbering stays sequential.
run_parallel() {
	rp_next=1
	rp_out=1
	while [ "$rp_out" -le "$PLAN" ]; do
		rp_busy=0
		rp_k=$rp_out
		while [ "$rp_k" -lt "$rp_next" ]; do
			[ -e "$WORK/done.$rp_k" ] || rp_busy=$((rp_busy + 1))
			rp_k=$((rp_k + 1))
		done
		while [ "$rp_busy" -lt "$JOBS" ] && [ "$rp_next" -le "$PLAN" ]; do
			(
				run_item "$rp_next" >"$WORK/out.$rp_next" 2>&1 || :
				: >"$WORK/done.$rp_next"
			) </dev/null &
			rp_next=$((rp_next + 1))
			rp_busy=$((rp_busy + 1))
		done
		if [ -e "$WORK/done.$rp_out" ]; then
			cat "$WORK/out.$rp_out"
			rp_out=$((rp_out + 1))
		else
			sleep 0.2
		fi
	done
	wait
}

run_items() {
	if [ "$JOBS" -le 1 ]; then
		ri_i=1
		while [ "$ri_i" -le "$PLAN" ] && [ ! -e "$WORK/fault_stop" ]; do
			run_item "$ri_i"
			ri_i=$((ri_i + 1))
		done
	else
		run_parallel
	fi
}

# kvm_missing: empty when this host's KVM can run the suite, else why not.
# /dev/kvm alone is not enough: a KVM without kvm_amd or kvm_intel (PVM,
# say) has no APICv/AVIC and cannot run the guests.
kvm_missing() {
	if [ ! -e /dev/kvm ]; then
		echo "no /dev/kvm on this host"
	elif [ ! -d /sys/module/kvm_amd ] && [ ! -d /sys/module/kvm_intel ]; then
		km_m=$(cd /sys/module 2>/dev/null && ls -d kvm_* 2>/dev/null | tr '\n' ' ')
		echo "/dev/kvm here is ${km_m:-an unknown KVM }without kvm_amd or kvm_intel"
	fi
}

cpu_model() {
	cm_m=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
	echo "${cm_m:-unknown}"
}

kvm_param_lines() {
	for kp_m in kvm kvm_amd kvm_intel; do
		kp_d=/sys/module/$kp_m/parameters
		[ -d "$kp_d" ] || continue
		set +f
		kp_line=$(grep -s -H . "$kp_d"/* | sed 's|^.*/||; s|:|=|' | tr '\n' ' ')
		set -f
		echo "# $kp_m: ${kp_line% }"
	done
}

print_header() {
	echo "TAP version 13"
	echo "1..$PLAN"
	echo "# apicv-selftests $VERSION$( [ "$NEGATIVE" = 1 ] && echo ': negative controls')"
	echo "# kernel: $(uname -r)${APICV_KERNEL:+ ($APICV_KERNEL${APICV_KERNEL_PACKAGE:+: $APICV_KERNEL_PACKAGE})}"
	echo "# cpu: $(cpu_model)"
	kvm_param_lines
	echo "# seed: $SEED (rerun with --seed $SEED), profile: $PROFILE, timeout: ${TIMEOUT}s per binary, jobs: $JOBS"
	echo "# kernel log: $KMSG_DESC"
	echo "# logs: $RUN_DIR"
	pm_m=$(kvm_missing)
	if [ -n "$pm_m" ]; then
		echo "# no usable KVM: $pm_m: tests that need KVM will skip (--host)"
	fi
}

# ---- results ----------------------------------------------------------------

# ktap_rows LABEL FILE META: one line per top-level result of a run,
# LABEL<TAB>NAME<TAB>pass|fail|skip<TAB>REASON; META gets
# "STARTED PLAN RESULTS OPEN-NAME".
ktap_rows() {
	awk -v label="$1" -v meta="$3" '
		BEGIN { OFS = "\t" }
		/^TAP version/ { started = 1 }
		/^1\.\.[0-9]+/ && !plan { plan = substr($1, 4) + 0 }
		/^# selftests: apicv: / { cur = $4; sub(/^x86\//, "", cur); open = 1; next }
		/^# negative control: / { cur = $4; open = 1; next }
		/^(not )?ok [0-9]+ / {
			st = ($1 == "not") ? "fail" : "pass"
			rest = $0; sub(/^(not )?ok [0-9]+ /, "", rest)
			name = rest; why = ""
			i = index(rest, " # ")
			if (i) { name = substr(rest, 1, i - 1); why = substr(rest, i + 3) }
			if (st == "pass" && why ~ /^SKIP/) { st = "skip"; sub(/^SKIP ?/, "", why) }
			print label, name, st, why
			n++; open = 0
		}
		END { print (started ? 1 : 0), plan + 0, n + 0, (open ? cur : "-") > meta }' "$2"
}

count_rows() {	# ROWS -> PASSED FAILED SKIPPED
	PASSED=$(awk -F "$TAB" '$3 == "pass"' "$1" | wc -l | tr -d ' ')
	FAILED=$(awk -F "$TAB" '$3 == "fail"' "$1" | wc -l | tr -d ' ')
	SKIPPED=$(awk -F "$TAB" '$3 == "skip"' "$1" | wc -l | tr -d ' ')
}

use_color() {
	[ "$IS_TTY" = 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]
}

# One coloured line per test when stdout is a terminal.
tty_summary() {	# ROWS
	[ "$IS_TTY" = 1 ] || return 0
	if use_color; then
		ts_c=1
	else
		ts_c=0
	fi
	awk -F "$TAB" -v c="$ts_c" -v multi="$2" '
		BEGIN { col["pass"] = "32"; col["fail"] = "31"; col["skip"] = "33"
			word["pass"] = "PASS"; word["fail"] = "FAIL"; word["skip"] = "SKIP" }
		{ w = sprintf("%-4s", word[$3]); if (c) w = "\033[" col[$3] "m" w "\033[0m"
		  n = (multi ? $1 ": " : "") $2
		  printf "# %s %s%s\n", w, n, ($4 != "" ? "  (" $4 ")" : "") }' "$1"
}

# Side-by-side table of every kernel's result per binary.
side_by_side() {	# ROWS LABELS-FILE
	awk -F "$TAB" -v labels="$2" '
		BEGIN { while ((getline l < labels) > 0) lab[++nl] = l; w = 4
			for (i = 1; i <= nl; i++) if (length(lab[i]) > w) w = length(lab[i]) }
		{ if (!($2 in seen)) { seen[$2] = 1; name[++nn] = $2; if (length($2) > nw) nw = length($2) }
		  cell[$1, $2] = ($3 == "pass" ? "pass" : ($3 == "skip" ? "skip" : "FAIL")) }
		END { if (nn == 0) exit
			printf "# results by kernel:\n# %-" nw "s", "test"
			for (i = 1; i <= nl; i++) printf "  %-" w "s", lab[i]; printf "\n"
			for (j = 1; j <= nn; j++) { printf "# %-" nw "s", name[j]
				for (i = 1; i <= nl; i++) { c = cell[lab[i], name[j]]; if (c == "") c = "-"
					printf "  %-" w "s", c }
				printf "\n" } }' "$1"
}

# results.json, JUnit and the report come from python3 (host side only).
write_results() {	# MANIFEST EXIT
	if ! have_python; then
		echo "# results.json not written: no python3 here (the KTAP is in $RUN_DIR/ktap.txt)"
		return 0
	fi
	set -- --manifest "$1" --run-dir "$RUN_DIR" --exit "$2" \
		--version "$VERSION" --seed "$SEED" --profile "$PROFILE" \
		--negative "$NEGATIVE" --bin-dir "$BIN_DIR" --self-dir "$SELF_DIR" \
		--junit "$JUNIT" --report "$REPORT" --timeout "$TIMEOUT" \
		--kvm-patches "$KVM_PATCHES" --kvm-src "$KVM_SRC"
	if ! results_py "$@"; then
		echo "# results: the python3 helper failed (see the message above)"
	fi
}

# ---- booting kernels --------------------------------------------------------

# --kvm-patch/--kvm-src: absolute paths, Debian shorthand kernels only.
check_kvm_args() {
	[ -n "$KVM_PATCHES$KVM_SRC" ] || return 0
	[ -z "$MODULES" ] || usage_error "--modules and --kvm-patch/--kvm-src exclude each other"
	ck_list=
	while IFS= read -r ck_p; do
		[ -n "$ck_p" ] || continue
		[ -f "$ck_p" ] || usage_error "--kvm-patch $ck_p: no such file"
		ck_list=$ck_list$(abs_path "$ck_p")$NL
	done <<EOF
$KVM_PATCHES
EOF
	KVM_PATCHES=$ck_list
	if [ -n "$KVM_SRC" ]; then
		[ -d "$KVM_SRC/arch/x86/kvm" ] && [ -d "$KVM_SRC/virt/kvm" ] ||
			usage_error "--kvm-src $KVM_SRC: no arch/x86/kvm and virt/kvm there"
		KVM_SRC=$(abs_path "$KVM_SRC")
	fi
}

# What --kvm-patch/--kvm-src put under test, for the header.
kvm_change() {
	if [ -n "$KVM_SRC" ]; then
		echo "KVM from $KVM_SRC"
		return
	fi
	printf "Debian's KVM with"
	while IFS= read -r kc_p; do
		if [ -n "$kc_p" ]; then
			printf ' %s (sha256 %s)' "$kc_p" "$(sha256sum "$kc_p" | cut -c 1-12)"
		fi
	done <<EOF
$KVM_PATCHES
EOF
	echo
}

# kvm_modules KERNEL: build (or find cached) KVM modules for KERNEL with
# the --kvm-patch/--kvm-src change; prints the module tree.
kvm_modules() {
	set -- "${APICV_KVM_BUILD:-$SELF_DIR/scripts/kvm-build}" --kernel "$1"
	while IFS= read -r km_p; do
		if [ -n "$km_p" ]; then set -- "$@" --kvm-patch "$km_p"; fi
	done <<EOF
$KVM_PATCHES
EOF
	if [ -n "$KVM_SRC" ]; then set -- "$@" --kvm-src "$KVM_SRC"; fi
	"$@"
}

sanitize() {
	printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'
}

stage_suite() {
	STAGE=$WORK/suite
	mkdir -p "$STAGE/x86"
	cp "$SELF_DIR/run_tests.sh" "$STAGE/run_tests.sh"
	for ss_f in settings config; do
		if [ -f "$SELF_DIR/$ss_f" ]; then
			cp "$SELF_DIR/$ss_f" "$STAGE/$ss_f"
		fi
	done
	for ss_n in $SELECTED; do
		cp "$BIN_DIR/$ss_n" "$STAGE/x86/$ss_n"
	done
	# scripts/vm-init starts it under the tests (see kvm_keeper.c).
	if [ -x "$BIN_DIR/../tools/kvm_keeper" ]; then
		mkdir -p "$STAGE/tools"
		cp "$BIN_DIR/../tools/kvm_keeper" "$STAGE/tools/"
	fi
	echo "$VERSION" >"$STAGE/VERSION"
}

# Options the runner inside the booted kernel gets (one per line).
inner_args() {
	echo --host
	echo --seed; echo "$SEED"
	echo --profile; echo "$PROFILE"
	if [ -n "$TIMEOUT_OPT" ]; then
		echo -o; echo "$TIMEOUT_OPT"
	fi
	if [ "$JOBS" -gt 1 ]; then
		echo -j; echo "$JOBS"
	fi
	if [ "$VERBOSE" = 1 ]; then
		echo -v
	fi
	if [ "$NEGATIVE" = 1 ]; then
		echo --negative
	fi
	while IFS= read -r ia_p; do
		if [ -n "$ia_p" ]; then
			echo -t; echo "$ia_p"
		fi
	done <<EOF
$TEST_PATS
EOF
}

# vm_boot DIR CMD...: one boot running CMD (scripts/vm ...), its output
# appended to DIR/ktap.txt and shown; sets vo_rc. VM_RESUME_SKIP binaries
# of the plan are left out (they have results from an earlier boot).
vm_boot() {
	vb_dir=$1
	shift
	rm -f "$vb_dir/err.fifo"
	mkfifo "$vb_dir/err.fifo"
	tee "$vb_dir/vm.stderr" <"$vb_dir/err.fifo" >&2 &
	vb_tee=$!
	# A parallel inner run cannot stop at one binary: it reruns in place.
	vb_reboot=0
	if [ "$FAULT_REBOOTS" -gt 0 ] && [ "$JOBS" -le 1 ]; then
		vb_reboot=1
	fi
	{
		vb_rc=0
		APICV_RESUME_SKIP=${VM_RESUME_SKIP:-0} APICV_FAULT_REBOOT=$vb_reboot \
			"$@" </dev/null \
			2>"$vb_dir/err.fifo" || vb_rc=$?
		echo "$vb_rc" >"$vb_dir/vm.rc"
	} | tee -a "$vb_dir/ktap.txt" | prefix_lines
	wait "$vb_tee" || :
	rm -f "$vb_dir/err.fifo"
	vo_rc=$(cat "$vb_dir/vm.rc")
}

# fault_subtest KTAP: ":SUBTEST" of the last emulator fault that ended a
# binary (the harness names it), or nothing.
fault_subtest() {
	fs_s=$(sed -n 's/^[# ]*\([^ ]*\): not run again here after the emulator fault.*/\1/p' "$1" |
		tail -n 1)
	[ -z "$fs_s" ] || echo ":$fs_s"
}

# console_scan SEGMENT EXCERPTS FORCE_AVIC OPEN: the booted kernel's console
# lines ("[ secs] text") in one boot's output, by the binary that ran when
# they came. Prints, the first of each per binary, NAME<TAB>emu<TAB>SIG<TAB>
# TEXT (an EMU_SIGNATURES line; reports after it are the emulator's too)
# and NAME<TAB>report<TAB>-<TAB>TEXT (a KMSG_RE line before any signature,
# or before the harness saw the emulator fault that KNOWN_BUG_TCG_HOST_RIP
# names: the kernel it corrupts is the emulator's from there on);
# EXCERPTS gets NAME<TAB>LINE, 12 console lines from the first of them, or
# the last 12 of a binary without either. OPEN gets the binary that had no
# result when the output ended, or "-".
console_scan() {
	KR="$KMSG_RE" SIGS="$EMU_SIGNATURES" awk -v ex="$2" -v fa="$3" -v openf="$4" '
	function start(name) { cur = name; nl[cur] = 0; q[cur] = 0; done[cur] = 0; rep[cur] = 0 }
	BEGIN { OFS = "\t"; ns = split(ENVIRON["SIGS"], s, "\n"); re = ENVIRON["KR"]
		for (i = 1; i <= ns; i++) { split(s[i], f, "\t"); sn[i] = f[1]; sw[i] = f[2]; sr[i] = f[3] } }
	{ sub(/\r$/, "") }
	/^# cpu: / { tcg = ($0 ~ /QEMU TCG/) }
	/^# selftests: apicv: / { n = $4; sub(/^x86\//, "", n); start(n); next }
	/^# negative control: / { start($4); next }
	/^(not )?ok [0-9]+ / { cur = ""; next }
	# The harness saw a vCPU resumed at its host RIP: what the kernel
	# says after that is the same fault (KNOWN_BUG_TCG_HOST_RIP).
	cur != "" && !done[cur] && /the failure above follows an emulator fault|ended on an emulator fault: stopping here/ {
		print cur, "emu", "tcg-host-rip", "after the harness saw the emulator fault"; done[cur] = 1; q[cur] = 12
	}
	cur != "" && /^\[ *[0-9]+\.[0-9]+\] / {
		t = $0; sub(/^\[ *[0-9]+\.[0-9]+\] /, "", t)
		for (i = 1; i <= ns && !done[cur]; i++)
			if ((sw[i] == "tcg" && tcg || sw[i] == "force_avic" && tcg && fa) && t ~ sr[i]) {
				print cur, "emu", sn[i], t; done[cur] = 1; q[cur] = 12
			}
		if (!done[cur] && !rep[cur] && t ~ re) { print cur, "report", "-", t; rep[cur] = 1; q[cur] = 12 }
		if (q[cur] > 0) { print cur, $0 > ex; q[cur]--; quoted[cur] = 1 }
		else if (!quoted[cur]) { last[cur, ++nl[cur] % 12] = $0 }
	}
	END { print (cur == "" ? "-" : cur) > openf
		if (cur != "" && !quoted[cur])
			for (i = nl[cur] - 11; i <= nl[cur]; i++)
				if (i > 0) print cur, last[cur, i % 12] > ex }' "$1"
}

# console_verdicts DIR KERNEL RC: after a boot, from DIR/seg (its output):
# the binaries whose console showed a kernel report, and the one that ran
# when the kernel died or hung (RC not 0, unless the signature of an
# emulator fault explains it), go to DIR/console-fails as NAME<TAB>REASON
# (without -j only),
# their console excerpt to the log. Sets CV_EMU to the signature that
# explained a death, if one did.
console_verdicts() {
	cv_d=$1
	CV_EMU=
	# With -j the console cannot tell which binary ran: the inner run's
	# kernel-log watch fails every binary running at the time instead.
	[ "$JOBS" -le 1 ] || return 0
	cv_fa=0
	case $NL$PARAMS$NL in *"${NL}kvm_amd.force_avic=1$NL"*) cv_fa=1 ;; esac
	console_scan "$cv_d/seg" "$cv_d/excerpt" "$cv_fa" "$cv_d/open" >"$cv_d/scan"
	cv_open=$(cat "$cv_d/open")
	cv_dead=
	if [ "$3" != 0 ] && [ "$3" != "$FAULT_REBOOT_EXIT" ] && [ "$cv_open" != - ]; then
		cv_dead=$cv_open
	fi
	while IFS=$TAB read -r cv_n cv_kind cv_sig cv_text; do
		if [ "$cv_kind" = emu ]; then
			if [ "$cv_n" = "$cv_dead" ]; then
				CV_EMU="$cv_sig: $cv_text"
			elif [ "${cv_text#after the harness}" != "$cv_text" ]; then
				continue	# a fault reboot says so already
			fi
			echo "# kernel $2: L1 console during $cv_n: the emulator's ($cv_sig): $cv_text"
			continue
		fi
		if [ "$cv_n" = "$cv_dead" ]; then continue; fi
		printf '%s\t%s\n' "$cv_n" "L1 console: $cv_text" >>"$cv_d/console-fails"
		echo "# kernel $2: L1 console during $cv_n (fails it):"
		awk -F "$TAB" -v n="$cv_n" '$1 == n { print "#   " $2 }' "$cv_d/excerpt"
	done <"$cv_d/scan"
	[ -n "$cv_dead" ] && [ -z "$CV_EMU" ] || return 0
	cv_err=$(tail -n 1 "$cv_d/vm.stderr" 2>/dev/null | cut -c 1-200)
	cv_how=died
	case $cv_err in *hung*|*"timed out"*|*"no output"*) cv_how=hung ;; esac
	cv_first=$(awk -F "$TAB" -v n="$cv_dead" '$1 == n && $2 == "report" { print $4; exit }' "$cv_d/scan")
	printf '%s\t%s\n' "$cv_dead" "the L1 kernel $cv_how while it ran (scripts/vm exit $3${cv_err:+: $cv_err})${cv_first:+; L1 console: $cv_first}" \
		>>"$cv_d/console-fails"
	echo "# kernel $2: the L1 kernel $cv_how during $cv_dead, with no emulator signature on its console: that fails it; its last console lines:"
	if grep -q "^$cv_dead$TAB" "$cv_d/excerpt"; then
		awk -F "$TAB" -v n="$cv_dead" '$1 == n { print "#   " $2 }' "$cv_d/excerpt"
	else
		echo "#   (none)"
	fi
}

# apply_console_fails ROWS FAILS: the rows of the binaries in FAILS fail.
apply_console_fails() {
	[ -s "$2" ] || return 0
	awk -F "$TAB" 'BEGIN { OFS = "\t" }
		NR == FNR { if (!($1 in why)) why[$1] = $2; next }
		$2 in why { r = why[$2]
			if ($3 == "fail" && $4 != "") r = r "; " $4
			else if ($3 != "fail") r = r " (its rerun: " $3 ")"
			$3 = "fail"; $4 = r }
		{ print }' "$2" "$1" >"$1.cf" && mv "$1.cf" "$1"
}

vm_one() {	# INDEX KERNEL
	vo_dir=$RUN_DIR/$(sanitize "$2")
	mkdir -p "$vo_dir"
	vo_mods=$MODULES
	if [ -n "$KVM_PATCHES$KVM_SRC" ]; then
		: >"$vo_dir/ktap.txt"
		: >"$vo_dir/rows"
		if ! vo_mods=$(kvm_modules "$2" 2>"$vo_dir/kvm-build.log"); then
			echo "# kernel $2: scripts/kvm-build failed; the end of $vo_dir/kvm-build.log:"
			tail -n 15 "$vo_dir/kvm-build.log" | sed 's/^/#   /'
			echo "cannot test: the KVM modules did not build: $(tail -n 1 "$vo_dir/kvm-build.log" | cut -c 1-200)" >"$vo_dir/infra"
			echo "not ok $1 kernel:$2 # $(cat "$vo_dir/infra")"
			return 0
		fi
		echo "# kernel $2: KVM modules built by scripts/kvm-build: $vo_mods"
	fi
	# A silent VM is a hung guest kernel: the inner runner would have
	# printed a TIMEOUT within the per-binary limit.
	set -- "$1" "$2" "$VM" --suite "$STAGE" --kernel "$2" --timeout "$VM_TIMEOUT" \
		--idle-timeout "$((TIMEOUT + 90))"
	if [ -n "$vo_mods" ]; then set -- "$@" --modules "$vo_mods"; fi
	if [ -n "$VM_CPU" ]; then set -- "$@" --cpu "$VM_CPU"; fi
	if [ -n "$VM_CPUS" ]; then set -- "$@" --cpus "$VM_CPUS"; fi
	if [ -n "$VM_MEM" ]; then set -- "$@" --mem "$VM_MEM"; fi
	if [ -n "$VM_CMDLINE" ]; then set -- "$@" --cmdline "$VM_CMDLINE"; fi
	while IFS= read -r vo_p; do
		if [ -n "$vo_p" ]; then set -- "$@" --param "$vo_p"; fi
	done <<EOF
$PARAMS
EOF
	set -- "$@" -- ./run_tests.sh
	while IFS= read -r vo_a; do
		set -- "$@" "$vo_a"
	done <<EOF
$(inner_args)
EOF
	vo_i=$1
	vo_k=$2
	shift 2
	echo "# kernel $vo_k: $*" | sed "s|$STAGE|SUITE|"
	: >"$vo_dir/ktap.txt"
	vo_try=0
	vo_faults=0
	vo_same=0
	vo_last=
	# A kernel that does not boot, or dies or hangs mid-run, is booted
	# again (APICV_VM_RETRIES times) to run what has no result yet, the
	# binary that was running included: emulated SVM under TCG hangs now
	# and then. The first stop stays in the log and the summary. A binary
	# that ended on an emulator fault is run again in a fresh kernel, with
	# a budget of its own (FAULT_REBOOTS, FAULT_REBOOTS_SAME).
	: >"$vo_dir/console-fails"
	while :; do
		vo_from=$(($(wc -l <"$vo_dir/ktap.txt") + 1))
		vm_boot "$vo_dir" "$@"
		tail -n +"$vo_from" "$vo_dir/ktap.txt" >"$vo_dir/seg"
		: >"$vo_dir/excerpt"
		console_verdicts "$vo_dir" "$vo_k" "$vo_rc" >"$vo_dir/verdicts"
		tee -a "$vo_dir/ktap.txt" <"$vo_dir/verdicts" | prefix_lines
		ktap_rows "$vo_k" "$vo_dir/ktap.txt" "$vo_dir/meta" >"$vo_dir/rows"
		read -r vo_started vo_plan vo_n vo_open <"$vo_dir/meta"
		[ "$vo_rc" != 0 ] || break
		[ "$vo_started" = 0 ] || [ "$vo_n" -lt "$vo_plan" ] || break
		if [ "$vo_rc" = "$FAULT_REBOOT_EXIT" ] && [ "$vo_open" != - ]; then
			vo_at=$vo_open$(fault_subtest "$vo_dir/ktap.txt")
			if [ "$vo_at" = "$vo_last" ]; then
				vo_same=$((vo_same + 1))
			else
				vo_same=1
				vo_last=$vo_at
			fi
			[ "$vo_same" -le "$FAULT_REBOOTS_SAME" ] &&
				[ "$vo_faults" -lt "$FAULT_REBOOTS" ] || break
			vo_faults=$((vo_faults + 1))
			echo "$vo_k: an emulator fault during $vo_at" >>"$RUN_DIR/retried"
			echo "# kernel $vo_k: an emulator fault during $vo_at; booting a fresh kernel to run it and the $((vo_plan - vo_n - 1)) after it (fault reboot $vo_faults of at most $FAULT_REBOOTS)" |
				tee -a "$vo_dir/ktap.txt" | prefix_lines
			VM_RESUME_SKIP=$vo_n
			continue
		fi
		[ "$vo_try" -lt "${APICV_VM_RETRIES:-1}" ] || break
		vo_try=$((vo_try + 1))
		vo_err=$(tail -n 1 "$vo_dir/vm.stderr" 2>/dev/null | cut -c 1-160)
		vo_why="the VM stopped ${vo_open:+during $vo_open }(scripts/vm exit $vo_rc${vo_err:+: $vo_err})"
		if [ -n "$CV_EMU" ]; then
			vo_why="$vo_why: the emulator's, $CV_EMU"
		elif grep -q "^$vo_open$TAB" "$vo_dir/console-fails"; then
			vo_why="$vo_why: fails $vo_open"
		fi
		[ "$vo_open" != - ] || vo_why="the VM stopped (scripts/vm exit $vo_rc${vo_err:+: $vo_err})"
		echo "$vo_k: $vo_why" >>"$RUN_DIR/retried"
		echo "# kernel $vo_k: $vo_why; booting again for the $((vo_plan - vo_n)) binaries without a result (retry $vo_try)" |
			tee -a "$vo_dir/ktap.txt" | prefix_lines
		if [ "$vo_open" = - ] && [ "$vo_started" = 0 ]; then
			vo_n=0
		fi
		VM_RESUME_SKIP=$vo_n
	done
	VM_RESUME_SKIP=0
	apply_console_fails "$vo_dir/rows" "$vo_dir/console-fails"
	vo_fail=$(awk -F "$TAB" '$3 == "fail"' "$vo_dir/rows" | wc -l | tr -d ' ')
	vo_err=$(tail -n 1 "$vo_dir/vm.stderr" 2>/dev/null | cut -c 1-160)
	if [ "$vo_started" = 0 ]; then
		echo "cannot test: scripts/vm exit $vo_rc before the tests started${vo_err:+: $vo_err}" >"$vo_dir/infra"
		echo "not ok $vo_i kernel:$vo_k # $(cat "$vo_dir/infra")"
		return 0
	fi
	if [ "$vo_open" != - ]; then
		# The kernel died or hung while this binary ran: its fault.
		vo_stop="the VM stopped during this test (scripts/vm exit $vo_rc)"
		if [ "$vo_rc" = "$FAULT_REBOOT_EXIT" ]; then
			vo_stop="it ended on an emulator fault in $vo_at in $vo_same fresh kernels in a row ($vo_faults fault reboots in all)"
		fi
		vo_cf=$(awk -F "$TAB" -v n="$vo_open" '$1 == n { print $2; exit }' "$vo_dir/console-fails")
		vo_stop=${vo_cf:-$vo_stop}
		printf '%s\t%s\tfail\t%s\n' "$vo_k" "$vo_open" "$vo_stop" >>"$vo_dir/rows"
		vo_n=$((vo_n + 1))
		vo_fail=$((vo_fail + 1))
	fi
	if [ "$vo_n" -lt "$vo_plan" ]; then
		echo "$((vo_plan - vo_n)) of $vo_plan tests have no result (scripts/vm exit $vo_rc)" >"$vo_dir/missing"
		echo "$((vo_plan - vo_n))" >"$vo_dir/nmissing"
	fi
	if [ "$vo_fail" != 0 ]; then
		echo "not ok $vo_i kernel:$vo_k # $vo_fail failed"
	elif [ "$vo_n" -lt "$vo_plan" ] || [ "$vo_rc" != 0 ]; then
		echo "cannot test: scripts/vm exit $vo_rc${vo_err:+: $vo_err}" >"$vo_dir/infra"
		echo "not ok $vo_i kernel:$vo_k # $(cat "$vo_dir/infra")"
	else
		echo "ok $vo_i kernel:$vo_k"
	fi
}

vm_main() {
	VM=${APICV_VM:-$SELF_DIR/scripts/vm}
	if [ ! -x "$VM" ]; then
		usage_error "cannot boot a kernel: no $VM (an installed tree has none); run on a host with /dev/kvm or pass --host"
	fi
	if [ -z "$KERNELS" ]; then
		KERNELS="debian-6.1$NL"
	fi
	: >"$WORK/labels"
	while IFS= read -r vm_k; do
		if [ -n "$vm_k" ]; then echo "$vm_k" >>"$WORK/labels"; fi
	done <<EOF
$KERNELS
EOF
	vm_nk=$(wc -l <"$WORK/labels" | tr -d ' ')
	stage_suite
	VM_TIMEOUT=${APICV_VM_TIMEOUT:-$(( PLAN * (TIMEOUT + 25) + 300 ))}
	{
		echo "TAP version 13"
		echo "1..$vm_nk"
		echo "# apicv-selftests $VERSION$( [ "$NEGATIVE" = 1 ] && echo ': negative controls')"
		if [ -n "$VM_NOTE" ]; then echo "# $VM_NOTE"; fi
		if [ -n "$KVM_PATCHES$KVM_SRC" ]; then echo "# kvm under test: $(kvm_change)"; fi
		echo "# seed: $SEED (rerun with --seed $SEED), profile: $PROFILE, timeout: ${TIMEOUT}s per binary"
		echo "# logs: $RUN_DIR"
		vm_i=1
		while IFS= read -r vm_k; do
			vm_one "$vm_i" "$vm_k"
			vm_i=$((vm_i + 1))
		done <"$WORK/labels"
	} | tee "$RUN_DIR/ktap.txt"

	: >"$WORK/rows"
	: >"$WORK/manifest"
	VM_INFRA=0
	VM_MISSING=0
	while IFS= read -r vm_k; do
		vm_d=$RUN_DIR/$(sanitize "$vm_k")
		cat "$vm_d/rows" >>"$WORK/rows" 2>/dev/null || :
		if [ -f "$vm_d/infra" ]; then VM_INFRA=1; fi
		if [ -f "$vm_d/nmissing" ]; then
			VM_MISSING=$((VM_MISSING + $(cat "$vm_d/nmissing")))
		fi
		printf '%s\t%s\t%s\t%s\n' "$vm_k" "$vm_d/ktap.txt" "$vm_d" "$(cat "$vm_d/vm.rc" 2>/dev/null || echo -)" >>"$WORK/manifest"
	done <"$WORK/labels"
	count_rows "$WORK/rows"
	FAILED=$((FAILED + VM_MISSING))
	if [ "$FAILED" != 0 ]; then
		RC=1
	elif [ "$VM_INFRA" = 1 ]; then
		RC=$( [ "$BISECT" = 1 ] && echo 125 || echo 1 )
	elif [ "$PASSED" = 0 ] && [ "$BISECT" = 1 ]; then
		RC=125
	else
		RC=0
	fi
	{
		side_by_side "$WORK/rows" "$WORK/labels"
		if [ "$VM_MISSING" != 0 ]; then
			echo "# $VM_MISSING tests have no result (counted as failed)"
		fi
		if [ -f "$RUN_DIR/retried" ]; then
			sed 's/^/# booted again after: /' "$RUN_DIR/retried"
		fi
		while IFS= read -r vm_k; do
			vm_d=$RUN_DIR/$(sanitize "$vm_k")
			[ -s "$vm_d/console-fails" ] || continue
			awk -F "$TAB" -v k="$vm_k" '!seen[$1]++ { print "# L1 kernel failed " k "/" $1 ": " substr($2, 1, 300) }' \
				"$vm_d/console-fails"
		done <"$WORK/labels"
		if [ "$PASSED" = 0 ] && [ "$FAILED" = 0 ] && [ "$VM_INFRA" = 0 ]; then
			echo "# every selected test skipped: nothing was tested"
		fi
		write_results "$WORK/manifest" "$RC"
		tty_summary "$WORK/rows" "$( [ "$vm_nk" -gt 1 ] && echo 1 || echo 0)"
		echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	} | tee -a "$RUN_DIR/ktap.txt"
	exit "$RC"
}

host_main() {
	{
		print_header
		run_items
	} | tee "$RUN_DIR/ktap.txt"
	if [ -e "$WORK/fault_stop" ]; then
		exit "$FAULT_REBOOT_EXIT"
	fi
	ktap_rows host "$RUN_DIR/ktap.txt" "$WORK/meta" >"$WORK/rows"
	read -r hm_started hm_plan hm_n hm_open <"$WORK/meta"
	count_rows "$WORK/rows"
	hm_missing=$((PLAN - hm_n))
	FAILED=$((FAILED + hm_missing))
	if [ "$FAILED" != 0 ]; then
		RC=1
	elif [ "$PASSED" = 0 ] && [ "$BISECT" = 1 ]; then
		RC=125
	else
		RC=0
	fi
	printf 'host\t%s\t%s\t-\n' "$RUN_DIR/ktap.txt" "$RUN_DIR" >"$WORK/manifest"
	{
		if [ "$hm_missing" != 0 ]; then
			echo "# $hm_missing tests have no result (the run was cut short; counted as failed)"
		fi
		if [ "$PASSED" = 0 ] && [ "$FAILED" = 0 ]; then
			echo "# every selected test skipped: nothing was tested"
		fi
		if [ "${APICV_IN_VM:-}" != 1 ]; then
			write_results "$WORK/manifest" "$RC"
		fi
		tty_summary "$WORK/rows" 0
		echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	} | tee -a "$RUN_DIR/ktap.txt"
	exit "$RC"
}

# ---- set-up -----------------------------------------------------------------

cleanup() {
	set +e
	if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		set +f
		for cl_f in "$WORK"/pgid.*; do
			[ -f "$cl_f" ] || continue
			for cl_p in $(cat "$cl_f"); do
				kill -KILL -"$cl_p" 2>/dev/null
			done
		done
		set -f
		rm -rf "$WORK"
	fi
}

on_signal() {
	trap - EXIT INT TERM
	cleanup
	echo "$PROG: interrupted" >&2
	exit 130
}

make_run_dir() {
	mr_stamp=$(date +%Y%m%d-%H%M%S)-$$
	if [ -n "$LOG_DIR" ]; then
		RUN_DIR=$LOG_DIR
	else
		if [ "$TREE" = repo ] && [ "${APICV_IN_VM:-}" != 1 ]; then
			mr_base=$(dirname "$BIN_DIR")/runs
		else
			mr_base=${TMPDIR:-/tmp}/apicv-runs
		fi
		RUN_DIR=$mr_base/$mr_stamp
	fi
	mkdir -p "$RUN_DIR" 2>/dev/null || usage_error "cannot create the log directory $RUN_DIR (give --log-dir DIR)"
	if [ -z "$LOG_DIR" ]; then
		ln -sfn "$mr_stamp" "$mr_base/latest" 2>/dev/null || :
	fi
}

main() {
	for m_a in "$@"; do
		if [ "$m_a" = --bisect ]; then BISECT=1; fi
	done
	parse_args "$@"
	check_args
	unset APICV_FAULT	# only negative controls inject faults
	IS_TTY=0
	if [ -t 1 ] && [ "${APICV_IN_VM:-}" != 1 ]; then IS_TTY=1; fi
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/apicv-run.XXXXXX")
	trap cleanup EXIT
	trap on_signal INT TERM
	find_binaries
	select_tests
	if [ "$LIST" = 1 ]; then
		list_tests
		exit $?
	fi
	read_settings_timeout
	if [ -z "$SEED" ]; then
		SEED=$(date +%s)
	fi
	export APICV_SEED="$SEED" APICV_PROFILE="$PROFILE"
	VERSION=$(suite_version)
	plan_items
	make_run_dir

	VM_NOTE=
	if [ "${APICV_IN_VM:-}" != 1 ] && [ "$HOST_ONLY" = 0 ]; then
		if [ "$VM_OPTS" = 1 ]; then
			VM_NOTE="booting the given kernel(s) under QEMU (scripts/vm)"
		elif [ -n "$(kvm_missing)" ]; then
			VM_NOTE="no usable KVM: $(kvm_missing): booting debian-6.1 under QEMU to run the tests there (--host refuses this)"
		fi
	fi
	if [ -n "$VM_NOTE" ]; then
		vm_main
	fi
	kmsg_init
	host_main
}

# ---- python3 helper (host only): results.json, JUnit, report ----------------

results_py() {
	python3 - "$@" <<'PYEOF'
import argparse, gzip, hashlib, json, os, platform, re, shutil, subprocess, sys, time
import xml.etree.ElementTree as ET

RESULT_HEAD = re.compile(r'^(not )?ok (\d+)(?: |$)')


class Result:
    """A KTAP result line: "ok 3 name # SKIP why", "ok 1 # SKIP why"."""
    def __init__(self, m, line):
        rest = line[m.end():]
        if rest.startswith('# '):
            name, directive = '', rest[2:]
        else:
            name, _, directive = rest.partition(' # ')
        self.g = (None, m.group(1), m.group(2), name or None, directive or None)

    def group(self, i):
        return self.g[i]


class RESULT:
    @staticmethod
    def match(line):
        m = RESULT_HEAD.match(line)
        return Result(m, line) if m else None
RUNNER = ('# kmsg: ', '# dmesg: ', '# runner: ', '# TIMEOUT: ', '# | ', '# run: ')
BAD_XML = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def status_of(notok, directive):
    d = (directive or '').strip()
    if notok:
        return 'fail', d
    if d.upper().startswith('SKIP'):
        return 'skip', d[4:].strip()
    # A known bug's expected failure: the harness's XFAIL result, or the
    # "SKIP XFAIL ..." older harnesses give; both are reported as skips.
    if d.upper().startswith('XFAIL'):
        return 'skip', d
    return 'pass', d


def subtests_of(lines):
    subs, out = [], []
    for l in lines:
        m = RESULT.match(l)
        if m:
            st, why = status_of(m.group(1), m.group(4))
            name = m.group(3) or ('subtest %s' % m.group(2))
            subs.append({'name': name, 'status': st, 'reason': why, 'output': out})
            out = []
        elif not l.startswith('TAP version') and not re.match(r'^1\.\.\d+', l):
            out.append(l)
    return subs


def parse_stream(path):
    run = {'header': {}, 'plan': None, 'started': False, 'tests': [], 'open': None}
    try:
        text = open(path, errors='replace').read().splitlines()
    except OSError:
        return run
    block, in_block = [], False
    for line in text:
        m = RESULT.match(line)
        if m:
            st, why = status_of(m.group(1), m.group(4))
            add_test(run, block, m.group(3) or '', st, why)
            block, in_block, run['open'] = [], False, None
            continue
        if line.startswith('TAP version'):
            run['started'] = True
            continue
        p = re.match(r'^1\.\.(\d+)', line)
        if p and run['plan'] is None:
            run['plan'] = int(p.group(1))
            continue
        if line.startswith('# selftests: apicv: ') or line.startswith('# negative control: '):
            block, in_block = [line], True
            run['open'] = line.split()[3].replace('x86/', '')
            continue
        if in_block:
            block.append(line)
            continue
        elif not run['tests'] and line.startswith('# '):
            k, _, v = line[2:].partition(': ')
            if v and k in ('kernel', 'cpu', 'kvm', 'kvm_amd', 'kvm_intel', 'seed', 'kernel log'):
                run['header'][k] = v
            elif line.startswith('# kvm'):
                k, _, v = line[2:].partition(':')
                run['header'][k] = v.strip()
    if in_block and run['open']:
        # The run stopped while this binary ran (kernel crash, VM limit).
        name = block[0].split()[3].replace('x86/', '')
        why = 'no result: the run stopped while it ran (kernel crash or time limit)'
        if any(' ended on an emulator fault: stopping here' in b for b in block):
            why = ('no result: it ended on an emulator fault in every fresh kernel '
                   'the runner booted for it')
        add_test(run, block, name, 'fail', why)
    return run


def add_test(run, block, name, st, why):
    t = {'name': name, 'status': st, 'reason': why,
         'exit': None, 'seconds': None, 'log': [], 'kmsg': [],
         'kmsg_reports': [], 'timeout_tail': []}
    t['kind'] = 'negative' if name.startswith('negative:') else 'test'
    for b in block:
        if b.startswith('# kmsg: '):
            t['kmsg_reports'].append(b[8:])
        elif b.startswith('# dmesg: '):
            t['kmsg'].append(b[9:])
        elif b.startswith('# | '):
            t['timeout_tail'].append(b[4:])
        elif b.startswith('# runner: '):
            r = re.search(r'exit=(\d+) time=(\d+)s', b)
            if r:
                t['exit'], t['seconds'] = int(r.group(1)), int(r.group(2))
        elif b.startswith(RUNNER):
            continue
        elif b.startswith('# selftests: apicv: ') or b.startswith('# negative control: '):
            continue
        elif b.startswith('# ') or b == '#':
            t['log'].append(b[2:])
        elif b:
            t['log'].append(b)
    t['subtests'] = subtests_of(t['log'])
    run['tests'].append(t)


def write_logs(run, d):
    for t in run['tests']:
        base = t['name'].replace('negative:', 'negative.').replace(':', '.').replace('/', '_')
        with open(os.path.join(d, base + '.log'), 'w') as f:
            f.write('\n'.join(t['log']) + ('\n' if t['log'] else ''))
        with open(os.path.join(d, base + '.kmsg'), 'w') as f:
            f.write('\n'.join(t['kmsg']) + ('\n' if t['kmsg'] else ''))
        t['log_file'] = os.path.join(d, base + '.log')
        t['kmsg_file'] = os.path.join(d, base + '.kmsg')


def load_runs(a):
    runs = []
    for line in open(a.manifest):
        label, ktap, d, vmrc = line.rstrip('\n').split('\t')
        run = parse_stream(ktap)
        run['label'] = label
        run['ktap'] = ktap
        run['vm_exit'] = None if vmrc == '-' else int(vmrc)
        if label == 'host':
            for t in run['tests']:
                if t['kind'] == 'test':
                    base = os.path.join(d, t['name'])
                else:
                    _, b, flt = (t['name'].split(':') + ['', ''])[:3]
                    base = os.path.join(d, 'negative', '%s.%s' % (b, flt))
                t['log_file'], t['kmsg_file'] = base + '.log', base + '.kmsg'
        else:
            write_logs(run, d)
        cf = os.path.join(d, 'console-fails')
        if label != 'host' and os.path.exists(cf):
            why = {}
            for c in open(cf, errors='replace'):
                n, _, r = c.rstrip('\n').partition('\t')
                why.setdefault(n, r)
            for t in run['tests']:
                if t['name'] in why:
                    r = why[t['name']]
                    if t['status'] == 'fail' and t['reason']:
                        r += '; ' + t['reason']
                    elif t['status'] != 'fail':
                        r += ' (its rerun: %s)' % t['status']
                    t['status'], t['reason'] = 'fail', r
        for f in ('infra', 'missing', 'nmissing'):
            p = os.path.join(d, f)
            run[f] = open(p).read().strip() if label != 'host' and os.path.exists(p) else None
        run['nmissing'] = int(run['nmissing'] or 0)
        if label == 'host' and run['plan'] is not None:
            run['nmissing'] = max(0, run['plan'] - len(run['tests']))
        runs.append(run)
    return runs


def summary(runs):
    s = {'passed': 0, 'failed': 0, 'skipped': 0}
    key = {'pass': 'passed', 'fail': 'failed', 'skip': 'skipped'}
    for r in runs:
        for t in r['tests']:
            s[key[t['status']]] += 1
        s['failed'] += r['nmissing']    # no result counts as failed
    return s


def clean(s):
    return BAD_XML.sub('', s)


def junit(runs, a, path):
    root = ET.Element('testsuites', name='apicv-selftests')
    tot = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    multi = len(runs) > 1 or runs[0]['label'] != 'host'
    for r in runs:
        for t in r['tests']:
            sname = ('%s/%s' % (r['label'], t['name'])) if multi else t['name']
            ts = ET.SubElement(root, 'testsuite', name=sname)
            props = ET.SubElement(ts, 'properties')
            for k, v in (('kernel', r['header'].get('kernel', r['label'])),
                         ('seed', a.seed), ('profile', a.profile),
                         ('exit', '' if t['exit'] is None else str(t['exit']))):
                ET.SubElement(props, 'property', name=k, value=clean(str(v)))
            cases = []
            for s in t['subtests']:
                cases.append((s['name'], s['status'], s['reason'], s['output']))
            failing_sub = any(s['status'] == 'fail' for s in t['subtests'])
            if not t['subtests'] or (t['status'] == 'fail' and not failing_sub) \
                    or t['kmsg_reports']:
                detail = t['kmsg_reports'] or t['timeout_tail'] or t['log'][-20:]
                cases.append((t['name'], t['status'], t['reason'], detail))
            nf = ns = 0
            for name, st, why, out in cases:
                tc = ET.SubElement(ts, 'testcase', name=clean(name), classname=clean(sname))
                if st == 'fail':
                    nf += 1
                    msg = why or next((l for l in out if re.search(
                        r'Expected|ASSERT|FAIL|fail', l)), 'failed')
                    e = ET.SubElement(tc, 'failure', message=clean(msg.strip('# ')))
                    e.text = clean('\n'.join(out))
                elif st == 'skip':
                    ns += 1
                    ET.SubElement(tc, 'skipped', message=clean(why or 'skipped'))
            ts.set('tests', str(len(cases)))
            ts.set('failures', str(nf))
            ts.set('errors', '0')
            ts.set('skipped', str(ns))
            ts.set('time', str(t['seconds'] or 0))
            so = ET.SubElement(ts, 'system-out')
            body = t['log'] + (['', '-- kernel log --'] + t['kmsg'] if t['kmsg'] else [])
            so.text = clean('\n'.join(body)[-1000000:])
            tot['tests'] += len(cases)
            tot['failures'] += nf
            tot['skipped'] += ns
        for what, msg in (('boot', r.get('infra')), ('missing', r.get('missing'))):
            if not msg:
                continue
            ts = ET.SubElement(root, 'testsuite', name='%s/%s' % (r['label'], what),
                               tests='1', failures='0', errors='1', skipped='0')
            tc = ET.SubElement(ts, 'testcase', name=what, classname=r['label'])
            ET.SubElement(tc, 'error', message=clean(msg))
            tot['tests'] += 1
            tot['errors'] += 1
    for k, v in tot.items():
        root.set(k, str(v))
    ET.ElementTree(root).write(path, encoding='utf-8', xml_declaration=True)


def kvm_change(a):
    """What --kvm-patch/--kvm-src put under test; None for stock KVM."""
    patches = [p for p in a.kvm_patches.split('\n') if p]
    if not patches and not a.kvm_src:
        return None
    out = {'src': a.kvm_src or None, 'patches': []}
    for p in patches:
        with open(p, 'rb') as f:
            out['patches'].append({'file': p,
                                   'sha256': hashlib.sha256(f.read()).hexdigest()})
    return out


def results_json(runs, a):
    out = {'suite': 'apicv-selftests', 'version': a.version, 'seed': int(a.seed),
           'profile': a.profile, 'negative': a.negative == '1',
           'timeout': int(a.timeout), 'exit': int(a.exit),
           'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
           'host': {'kernel': platform.release(), 'machine': platform.machine()},
           'summary': summary(runs), 'kvm': kvm_change(a), 'runs': []}
    for r in runs:
        rr = {'label': r['label'], 'info': r['header'], 'plan': r['plan'],
              'vm_exit': r['vm_exit'], 'infra_error': r.get('infra'),
              'missing': r.get('missing'), 'no_result': r['nmissing'],
              'ktap': r['ktap'], 'tests': []}
        for t in r['tests']:
            rr['tests'].append({
                'name': t['name'], 'kind': t['kind'], 'status': t['status'],
                'reason': t['reason'], 'exit': t['exit'], 'seconds': t['seconds'],
                'log': t.get('log_file'), 'kmsg': t.get('kmsg_file'),
                'kmsg_reports': t['kmsg_reports'],
                'subtests': [{'name': s['name'], 'status': s['status'],
                              'reason': s['reason']} for s in t['subtests']]})
        out['runs'].append(rr)
    return out


# ---- qualification report ----

def read(path, limit=None):
    try:
        with open(path, errors='replace') as f:
            return f.read(limit) if limit else f.read()
    except OSError:
        return None


def run_cmd(argv, timeout=60):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, universal_newlines=True)
        return p.returncode, p.stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)


def cpuinfo():
    info = {}
    for line in (read('/proc/cpuinfo') or '').splitlines():
        if not line.strip():
            if info:
                break
            continue
        k, _, v = line.partition(':')
        info[k.strip()] = v.strip()
    return info


def cpuid_leaves(raw):
    leaves = {}
    for line in raw.splitlines():
        m = re.match(r'\s*0x([0-9a-f]+) 0x([0-9a-f]+): eax=0x([0-9a-f]+) ebx=0x([0-9a-f]+)'
                     r' ecx=0x([0-9a-f]+) edx=0x([0-9a-f]+)', line)
        if m:
            leaf, sub = int(m.group(1), 16), int(m.group(2), 16)
            leaves.setdefault((leaf, sub), tuple(int(m.group(i), 16) for i in range(3, 7)))
    return leaves


def cpuid_from_dev():
    """Key leaves through the cpuid driver when the cpuid tool is absent."""
    lines = []
    try:
        fd = os.open('/dev/cpu/0/cpuid', os.O_RDONLY)
    except OSError:
        return None
    try:
        for leaf in (0, 1, 7, 0xd, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x8000000a):
            try:
                b = os.pread(fd, 16, leaf)
            except OSError:
                continue
            regs = [int.from_bytes(b[i:i + 4], 'little') for i in range(0, 16, 4)]
            lines.append('   0x%08x 0x00: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x'
                         % ((leaf,) + tuple(regs)))
    finally:
        os.close(fd)
    return 'CPU 0 (/dev/cpu/0/cpuid):\n' + '\n'.join(lines) + '\n'


def kvm_params():
    out = {}
    for m in ('kvm', 'kvm_amd', 'kvm_intel'):
        d = '/sys/module/%s/parameters' % m
        if not os.path.isdir(d):
            continue
        out[m] = {}
        for p in sorted(os.listdir(d)):
            v = read(os.path.join(d, p))
            if v is not None:
                out[m][p] = v.strip()
    return out


CONFIG_RE = re.compile(r'^(# )?CONFIG_(KVM|X86_X2APIC|X86_LOCAL_APIC|HYPERV|IRQ_REMAP|AMD_IOMMU'
                       r'|INTEL_IOMMU|KASAN|UBSAN|PROVE_LOCKING|LOCKDEP|PROVE_RCU|DEBUG_ATOMIC_SLEEP'
                       r'|PREEMPT|HZ|NO_HZ|NUMA|TRACING|FTRACE|DEBUG_KMEMLEAK|SOFTLOCKUP_DETECTOR'
                       r'|DETECT_HUNG_TASK|RCU_CPU_STALL|PANIC_ON_OOPS|BUG_ON_DATA_CORRUPTION'
                       r'|IRQ_BYPASS_MANAGER|VIRTUALIZATION|PARAVIRT)\w*[ =]')


def kernel_config(selfdir):
    text = None
    try:
        text = gzip.open('/proc/config.gz', 'rt').read()
        src = '/proc/config.gz'
    except OSError:
        src = '/boot/config-' + platform.release()
        text = read(src)
    if text is None:
        return None, []
    wanted = set()
    frag = read(os.path.join(selfdir, 'config')) or ''
    for l in frag.splitlines():
        m = re.match(r'^(?:# )?(CONFIG_\w+)', l)
        if m:
            wanted.add(m.group(1))
    lines = []
    for l in text.splitlines():
        m = re.match(r'^(?:# )?(CONFIG_\w+)', l)
        if m and (m.group(1) in wanted or CONFIG_RE.match(l)):
            lines.append(l)
    return src, lines


def numa():
    if shutil.which('numactl'):
        rc, out = run_cmd(['numactl', '--hardware'])
        if rc == 0:
            return 'numactl --hardware', out
    d = '/sys/devices/system/node'
    if os.path.isdir(d):
        rows = []
        for n in sorted(x for x in os.listdir(d) if re.match(r'node\d+$', x)):
            cpus = (read(os.path.join(d, n, 'cpulist')) or '').strip()
            dist = (read(os.path.join(d, n, 'distance')) or '').strip()
            rows.append('%s cpus %s distances %s' % (n, cpus, dist))
        return d, '\n'.join(rows) + '\n'
    return None, 'no NUMA information\n'


def bit(leaves, leaf, reg, b):
    v = leaves.get((leaf, 0))
    if v is None:
        return None
    return bool(v[reg] >> b & 1)


def features(ci, leaves, params):
    flags = set(ci.get('flags', '').split())
    vmx = set(ci.get('vmx flags', '').split())
    ECX, EDX = 2, 3
    f = []

    def add(name, cpuid, flag, src, kvm=None):
        f.append({'feature': name, 'cpuid': cpuid, 'source': src,
                  'kernel_flag': (flag in flags or flag in vmx) if flag else None,
                  'kvm': kvm})

    add('x2APIC', bit(leaves, 1, ECX, 21), 'x2apic', 'CPUID 1 ECX[21]')
    if ci.get('vendor_id') == 'AuthenticAMD' or 'svm' in flags:
        kp = params.get('kvm_amd', {})
        add('SVM', bit(leaves, 0x80000001, ECX, 2), 'svm', 'CPUID 0x80000001 ECX[2]')
        add('NPT', bit(leaves, 0x8000000a, EDX, 0), 'npt', 'CPUID 0x8000000A EDX[0]',
            'npt=%s' % kp.get('npt', '-'))
        add('AVIC', bit(leaves, 0x8000000a, EDX, 13), 'avic', 'CPUID 0x8000000A EDX[13]',
            'avic=%s force_avic=%s' % (kp.get('avic', '-'), kp.get('force_avic', '-')))
        add('vGIF', bit(leaves, 0x8000000a, EDX, 16), 'vgif', 'CPUID 0x8000000A EDX[16]',
            'vgif=%s' % kp.get('vgif', '-'))
        add('x2AVIC', bit(leaves, 0x8000000a, EDX, 18), 'x2avic', 'CPUID 0x8000000A EDX[18]')
        add('IPI virtualization (AVIC)', None, None, 'kvm_amd parameter',
            'enable_ipiv=%s' % kp.get('enable_ipiv', '-'))
    if ci.get('vendor_id') == 'GenuineIntel' or 'vmx' in flags:
        kp = params.get('kvm_intel', {})
        add('VMX', bit(leaves, 1, ECX, 5), 'vmx', 'CPUID 1 ECX[5]')
        for name, flag in (('TPR shadow', 'vtpr'), ('virtualize APIC accesses', 'vapic'),
                           ('APIC-register virtualization', 'vapic_reg'),
                           ('virtual-interrupt delivery', 'vid'),
                           ('posted interrupts', 'posted_intr'),
                           ('APICv (all of the above)', 'apicv'),
                           ('IPI virtualization (IPIv)', 'ipi_virt')):
            add(name, None, flag, 'VMX capability MSRs (/proc/cpuinfo vmx flags)')
        add('KVM APICv', None, None, 'kvm_intel parameters',
            'enable_apicv=%s enable_ipiv=%s' % (kp.get('enable_apicv', '-'),
                                              kp.get('enable_ipiv', '-')))
    return f


def yesno(v):
    return {True: 'yes', False: 'no', None: '-'}[v]


def report(runs, a, d, res):
    os.makedirs(d, exist_ok=True)
    ci = cpuinfo()
    files = []
    raw, raw_src = None, None
    if shutil.which('cpuid'):
        rc, raw = run_cmd(['cpuid', '-r', '-1'])
        raw_src = 'cpuid -r -1'
        if rc != 0:
            raw = None
    if raw is None:
        raw = cpuid_from_dev()
        raw_src = '/dev/cpu/0/cpuid' if raw else None
    if raw:
        open(os.path.join(d, 'cpuid-raw.txt'), 'w').write(raw)
        files.append('cpuid-raw.txt')
    leaves = cpuid_leaves(raw or '')
    kinfo_src = None
    kinfo = os.path.normpath(os.path.join(a.bin_dir, '..', 'tools', 'kvm_info'))
    if os.access(kinfo, os.X_OK):
        rc, out = run_cmd([kinfo])
        open(os.path.join(d, 'kvm-supported-cpuid.txt'), 'w').write(out)
        files.append('kvm-supported-cpuid.txt')
        kinfo_src = '%s (exit %s)' % (kinfo, rc)
    params = kvm_params()
    cfg_src, cfg = kernel_config(a.self_dir)
    numa_src, numa_text = numa()
    for r in runs:
        dst = os.path.join(d, 'ktap-%s.txt' % re.sub(r'[^A-Za-z0-9._-]', '_', r['label']))
        shutil.copyfile(r['ktap'], dst)
        files.append(os.path.basename(dst))
    json.dump(res, open(os.path.join(d, 'results.json'), 'w'), indent=2)
    files.append('results.json')
    feats = features(ci, leaves, params)
    rep = {
        'suite': {'name': 'apicv-selftests', 'version': a.version, 'seed': int(a.seed),
                  'profile': a.profile, 'negative': a.negative == '1',
                  'date': res['date'], 'exit': int(a.exit)},
        'host': {
            'cpu': {k: ci.get(k) for k in ('vendor_id', 'cpu family', 'model', 'model name',
                                           'stepping', 'microcode')},
            'cpus_online': os.cpu_count(),
            'cpuid_raw_source': raw_src,
            'kvm_supported_cpuid_source': kinfo_src,
            'features': feats,
            'kernel': {'uname': ' '.join(platform.uname()), 'config_source': cfg_src,
                       'config': cfg},
            'kvm_parameters': params,
            'numa': {'source': numa_src, 'text': numa_text},
        },
        'runs': [{'label': r['label'], 'info': r['header'], 'infra_error': r.get('infra')}
                 for r in runs],
        'results': res['summary'],
        'files': files + ['report.md', 'report.json'],
    }
    json.dump(rep, open(os.path.join(d, 'report.json'), 'w'), indent=2)
    c = rep['host']['cpu']
    md = ['# apicv-selftests qualification report', '',
          '| item | value |', '|---|---|',
          '| suite version | %s |' % a.version, '| date | %s |' % res['date'],
          '| seed | %s |' % a.seed, '| profile | %s |' % a.profile,
          '| negative controls | %s |' % ('yes' if a.negative == '1' else 'no'),
          '| result | %(passed)d passed, %(failed)d failed, %(skipped)d skipped |' % res['summary'],
          '', '## Host CPU', '',
          '| vendor | family | model | stepping | microcode | name |', '|---|---|---|---|---|---|',
          '| %s | %s | %s | %s | %s | %s |' % tuple(c.get(k) or '?' for k in (
              'vendor_id', 'cpu family', 'model', 'stepping', 'microcode', 'model name')),
          '', 'Raw CPUID: %s.  KVM_GET_SUPPORTED_CPUID: %s.' % (
              ('`cpuid-raw.txt` (from %s)' % raw_src) if raw_src else
              'not available (install the cpuid package)',
              ('`kvm-supported-cpuid.txt` (from %s)' % kinfo_src) if kinfo_src else
              'not available (build tools/kvm_info)'),
          '', '## Interrupt-virtualization features', '',
          '| feature | CPUID | kernel flag | where | KVM |', '|---|---|---|---|---|']
    for f in feats:
        md.append('| %s | %s | %s | %s | %s |' % (f['feature'], yesno(f['cpuid']),
                                                  yesno(f['kernel_flag']), f['source'],
                                                  f['kvm'] or ''))
    md += ['', '## Kernel', '', '`%s`' % rep['host']['kernel']['uname'], '']
    if cfg:
        md += ['Configuration (%s):' % cfg_src, '', '```'] + cfg + ['```']
    else:
        md.append('Configuration: not found (/proc/config.gz, /boot/config-*).')
    md += ['', '## KVM module parameters', '']
    for m, ps in params.items():
        md.append('- **%s**: %s' % (m, ' '.join('%s=%s' % kv for kv in ps.items())))
    if not params:
        md.append('KVM modules not loaded on this host.')
    md += ['', '## NUMA topology', '', '```', numa_text.rstrip(), '```', '', '## Results', '']
    for r in runs:
        h = r['header']
        md.append('### %s' % (r['label'] if r['label'] != 'host' else 'this host'))
        md.append('')
        for k in ('kernel', 'cpu', 'kvm', 'kvm_amd', 'kvm_intel', 'kernel log'):
            if h.get(k):
                md.append('- %s: `%s`' % (k, h[k]))
        if r.get('infra'):
            md.append('- **%s**' % r['infra'])
        md += ['', '| test | result | subtests pass/fail/skip | reason |', '|---|---|---|---|']
        for t in r['tests']:
            n = {s: sum(1 for x in t['subtests'] if x['status'] == s) for s in ('pass', 'fail', 'skip')}
            md.append('| %s | %s | %d/%d/%d | %s |' % (t['name'], t['status'].upper(), n['pass'],
                                                      n['fail'], n['skip'],
                                                      (t['reason'] or '').replace('|', '/')))
        md.append('')
    md += ['## Files', ''] + ['- `%s`' % f for f in rep['files']] + ['']
    open(os.path.join(d, 'report.md'), 'w').write('\n'.join(md))


def main():
    ap = argparse.ArgumentParser()
    for o in ('manifest', 'run-dir', 'exit', 'version', 'seed', 'profile', 'negative',
              'bin-dir', 'self-dir', 'junit', 'report', 'timeout', 'kvm-patches',
              'kvm-src'):
        ap.add_argument('--' + o, default='')
    a = ap.parse_args()
    runs = load_runs(a)
    res = results_json(runs, a)
    path = os.path.join(a.run_dir, 'results.json')
    json.dump(res, open(path, 'w'), indent=2)
    print('# results: %s' % path)
    if a.junit:
        junit(runs, a, a.junit)
        print('# junit: %s' % a.junit)
    if a.report:
        report(runs, a, a.report, res)
        print('# report: %s' % os.path.join(a.report, 'report.md'))


main()
PYEOF
}

main "$@"
