#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh: run the apicv-selftests test binaries, print KTAP.
#
# This is the inner runner: plain POSIX sh, it runs under bash or dash on a
# host with /dev/kvm and under busybox ash inside a booted kernel (no python
# there).  Booting kernels (--kernel, --param, --kvm-patch, ..., or no
# usable KVM here) is scripts/kernel-run's job: this script hands such a
# command line over to it (exec), and kernel-run boots each kernel with
# scripts/vm and runs this script inside.  kernel-run sources this file for
# the option parsing, test selection and KTAP summary they share.
#
# Output, as the kernel's kselftest runner prints it:
#   TAP version 13
#   1..N                        one item per test binary (per negative
#                               control with --negative)
#   # ...                       run information (kernel, kvm parameters, seed)
#   # selftests: apicv: x86/NAME_test    (libtest/NAME_test: the library's
#                               own tests, run first, reported apart)
#   # <the binary's output>     its own KTAP, nested by the "# " prefix
#   # kmsg: <line>              kernel-log report seen while it ran
#   # runner: exit=N time=Ts kmsg=clean|N|unwatched
#   ok 1 NAME_test              or "ok 1 NAME_test # SKIP reason",
#                               "not ok 1 NAME_test # TIMEOUT 45s",
#                               "not ok 1 NAME_test # exit=1", ...
#   P passed, F failed, S skipped
# When kernels are booted (scripts/kernel-run) the items are the kernels
# and each kernel's run is nested the same way ("# ok 1 NAME_test").
#
# Counting: the closing line counts test binaries, the unit of the KTAP
# result lines above: one per binary (per binary and kernel when kernels
# are booted; one per negative control with --negative).  Subtests are
# reported in the nested KTAP, results.json and JUnit, not in that line.
# With library self-tests selected, a "# library self-tests:" and a
# "# KVM conformance:" line before it split that count.

set -eu
set -f	# test patterns are globs for `case`, never for file names

PROG=run_tests.sh
NL='
'
TAB=$(printf '\t')
# scripts/kernel-run sources this file with RUNNER_LIB_DIR set to the
# repository: then main is not run.
SELF_DIR=${RUNNER_LIB_DIR:-$(cd "$(dirname "$0")" && pwd)}

# The inner runner's exit when an emulator fault calls for a fresh kernel
# (scripts/kernel-run boots one).  The emulator's own exit codes and the
# reboot budgets come from the build: emulator.env (include/emulator.h).
FAULT_REBOOT_EXIT=75

usage() {
	cat <<EOF
Usage: $PROG [options]

Runs the test binaries on this host's KVM.  Where the host has no usable
KVM (or --kernel, --param, ... is given) scripts/kernel-run boots a kernel
under QEMU with scripts/vm and runs them there.

Selection:
  -t PATTERN        TEST or TEST:SUBTEST, shell globs; TEST with or without
                    the _test suffix, a library self-test with or without
                    libtest/; repeatable
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
 emulator's signature: EMU_SIGNATURES in scripts/kernel-run),
 APICV_FAULT_REBOOTS (fresh kernels after emulator faults, default
 EMU_REBOOTS_PER_KERNEL of the build's emulator.env; 0: rerun in place).
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

# The options for booting kernels are used by scripts/kernel-run.
# shellcheck disable=SC2034
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
	if [ "$HOST_ONLY" = 1 ] && [ "$VM_OPTS" = 1 ]; then
		usage_error "--host cannot be combined with --kernel, --modules, --param, --cpu, --cpus, --mem or --cmdline"
	fi
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

list_binaries() {	# DIR [PREFIX]
	set +f
	for lb_f in "$1"/*_test; do
		if [ -f "$lb_f" ]; then
			echo "${2:-}${lb_f##*/}"
		fi
	done
	set -f
}

# In a staged or installed tree the binaries sit in ./x86 next to this
# script; in the repository they are in $OUTPUT/x86 (OUTPUT=./build).
# TREE_DIR is that directory's parent: the library's own tests are in its
# libtest/, named "libtest/NAME" (run first); the build's emulator.env is
# there too.
find_binaries() {
	if [ -n "${OUTPUT:-}" ]; then
		[ -d "$OUTPUT" ] || usage_error "OUTPUT=$OUTPUT: no such directory (run 'make OUTPUT=$OUTPUT' first)"
		TREE_DIR=$(cd "$OUTPUT" && pwd)
		TREE=repo
	elif has_test_binaries "$SELF_DIR/x86"; then
		TREE_DIR=$SELF_DIR
		TREE=staged
	else
		TREE_DIR=$SELF_DIR/build
		TREE=repo
	fi
	BIN_DIR=$TREE_DIR/x86
	ALL_BINS=$(list_binaries "$TREE_DIR/libtest" libtest/; list_binaries "$BIN_DIR")
	if [ -z "$ALL_BINS" ]; then
		usage_error "no test binaries in $BIN_DIR: run 'make' first (or set OUTPUT=DIR)"
	fi
	load_build_env
}

bin_rel() {	# NAME: x86/NAME, or libtest/NAME as named
	case $1 in
	*/*) echo "$1" ;;
	*) echo "x86/$1" ;;
	esac
}

bin_path() {	# NAME
	echo "$TREE_DIR/$(bin_rel "$1")"
}

# The emulator's exit codes and budgets (EMU_*: include/emulator.h, as the
# build writes them to emulator.env) and the kernel-log report patterns
# (include/kmsg_patterns.def, the list lib/kmsg.c uses): never spelled
# here.  Staged and installed trees have both next to this script.
load_build_env() {
	lb_env=$TREE_DIR/emulator.env
	[ -f "$lb_env" ] || usage_error "no $lb_env: run 'make' first (the build writes it)"
	# shellcheck source=/dev/null
	. "$lb_env"
	for lb_v in "${EMU_FAULT_EXIT:-}" "${EMU_REBOOTS_IN_A_ROW:-}" "${EMU_REBOOTS_PER_KERNEL:-}"; do
		is_uint "$lb_v" || usage_error "$lb_env: no EMU_FAULT_EXIT, EMU_REBOOTS_IN_A_ROW or EMU_REBOOTS_PER_KERNEL number: run 'make' again"
	done
	KMSG_DEF=$SELF_DIR/kmsg_patterns.def
	[ -f "$KMSG_DEF" ] || KMSG_DEF=$SELF_DIR/include/kmsg_patterns.def
	[ -f "$KMSG_DEF" ] || usage_error "no kmsg_patterns.def next to $PROG or in include/"
	# Kernel-log lines that fail the binary during which they appear, in
	# its dmesg slice or on the console of a booted kernel.
	KMSG_RE=$(sed -n 's/^KMSG_PATTERN("\(.*\)")$/\1/p' "$KMSG_DEF" |
		awk '{ s = s (NR > 1 ? "|" : "") $0 } END { print s }')
	[ -n "$KMSG_RE" ] || usage_error "$KMSG_DEF: no KMSG_PATTERN lines"
	# NAME<TAB>WHEN<TAB>ERE: the kernel-log lines that make reports the
	# emulator's (include/emu_signatures.def, lib/emulator.c's list).
	EMU_SIG_DEF=$SELF_DIR/emu_signatures.def
	[ -f "$EMU_SIG_DEF" ] || EMU_SIG_DEF=$SELF_DIR/include/emu_signatures.def
	[ -f "$EMU_SIG_DEF" ] || usage_error "no emu_signatures.def next to $PROG or in include/"
	EMU_SIGNATURES=$(sed -n "s/^EMU_SIGNATURE(\"\([^\"]*\)\", \"\([^\"]*\)\", \"\(.*\)\")\$/\1$TAB\2$TAB\3/p" "$EMU_SIG_DEF")
	[ -n "$EMU_SIGNATURES" ] || usage_error "$EMU_SIG_DEF: no EMU_SIGNATURE lines"
	is_uint "${EMU_SIGNATURE_LINES:-}" || usage_error "$lb_env: no EMU_SIGNATURE_LINES number: run 'make' again"
}

# awk functions over ENVIRON["SIGS"] (EMU_SIGNATURES): sig_load() in
# BEGIN; sig_of(TEXT, TCG, FORCE_AVIC), the signature that a kernel-log
# message matches on such a host, or "".
EMU_SIG_AWK='
function sig_load(   i, f) {
	sig_n = split(ENVIRON["SIGS"], sig_l, "\n")
	for (i = 1; i <= sig_n; i++) {
		split(sig_l[i], f, "\t"); sig_name[i] = f[1]; sig_when[i] = f[2]; sig_re[i] = f[3]
	}
}
function sig_of(t, tcg, fa,   i) {
	for (i = 1; i <= sig_n; i++)
		if (tcg && (sig_when[i] == "tcg" || sig_when[i] == "force_avic" && fa) && t ~ sig_re[i])
			return sig_name[i]
	return ""
}'

# -t patterns are globs.
# shellcheck disable=SC2254
match_test() {	# NAME TEST-PATTERN: libtest/NAME matches with or without libtest/
	case $1 in
	$2|${2}_test) return 0 ;;
	esac
	case ${1#libtest/} in
	$2|${2}_test) return 0 ;;
	esac
	return 1
}

# shellcheck disable=SC2254
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
	mkdir -p "$WORK/sub/libtest"
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
		"$(bin_path "$lt_name")" -l </dev/null >"$WORK/list.out" 2>"$WORK/list.err" || lt_err=$?
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
		"$(bin_path "$pi_name")" --list-faults </dev/null >"$WORK/faults" 2>/dev/null || pi_rc=$?
		if [ "$pi_rc" != 0 ]; then
			printf 'nofault\t%s\t%s\t-\n' "$pi_name" "--list-faults failed (exit $pi_rc)" >>"$WORK/items"
			continue
		fi
		pi_n=0
		while IFS="$TAB" read -r pi_f pi_p _ pi_e; do
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
			KMSG_MODE="tail"
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
	echo "# selftests: apicv: $(bin_rel "$rt_name")"
	set -- "$(bin_path "$rt_name")"
	if [ -f "$WORK/sub/$rt_name" ]; then
		while IFS= read -r rt_p; do
			set -- "$@" -t "$rt_p"
		done <"$WORK/sub/$rt_name"
	fi
	if [ ! -x "$1" ]; then
		result_line fail "$rt_name" "not executable: $1"
		return 0
	fi
	mkdir -p "$(dirname "$RUN_DIR/$rt_name")"
	execute "$RUN_DIR/$rt_name.log" "$RUN_DIR/$rt_name.kmsg" "$@"
	excuse_emulator_reports "$rt_name" "$RUN_DIR/$rt_name.kmsg"
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

# Inside a kernel scripts/kernel-run boots (APICV_FAULT_REBOOT=1), a
# binary that ends on an emulator fault (exit EMU_FAULT_EXIT of
# emulator.env) leaves no result: the runner stops, and kernel-run boots a
# fresh kernel and runs that binary again, since the fault may have damaged
# this kernel. True when it stops.
stop_on_kernel_fault() {	# NAME
	[ "${APICV_FAULT_REBOOT:-0}" = 1 ] && [ "$JOBS" -le 1 ] &&
		[ "$EX_TIMEDOUT" = 0 ] && [ "$EX_RC" = "$EMU_FAULT_EXIT" ] &&
		[ "$KM_HITS" = 0 ] || return 1
	echo "# runner: $1 ended on an emulator fault: stopping here, the kernel is booted again to run it (exit $FAULT_REBOOT_EXIT)"
	: >"$WORK/fault_stop"
}

# Kernel reports in a binary's dmesg slice fail it unless an emulator
# signature explains them (slice_emulator), as the harness judged too:
# then they are no failure of the binary's (KM_HITS=0), which ended on
# the emulator fault or passed its rerun.
excuse_emulator_reports() {	# NAME SLICE
	[ "$KM_HITS" != 0 ] || return 0
	ee_sig=$(slice_emulator "$2")
	[ -n "$ee_sig" ] || return 0
	echo "# runner: the kernel reports during $1 are the emulator's ($ee_sig): $(first_hit)"
	KM_HITS=0
}

# slice_emulator SLICE: the emulator signature that makes the kernel
# reports in SLICE the emulator's here (include/emu_signatures.def: one
# before the first report or within EMU_SIGNATURE_LINES lines after it),
# or nothing.
slice_emulator() {
	se_tcg=0
	case $(cpu_model) in *"QEMU TCG"*) se_tcg=1 ;; esac
	se_fa=0
	case $(cat /sys/module/kvm_amd/parameters/force_avic 2>/dev/null) in
	Y|1) se_fa=1 ;;
	esac
	KR="$KMSG_RE" SIGS="$EMU_SIGNATURES" awk -v tcg="$se_tcg" -v fa="$se_fa" \
		-v win="$EMU_SIGNATURE_LINES" "$EMU_SIG_AWK"'
		BEGIN { sig_load() }
		{ sub(/^\[ *[0-9]+\.[0-9]+\] /, "") }
		rep && NR - rep > win { exit }
		{ g = sig_of($0, tcg, fa); if (g != "") { print g; exit } }
		!rep && $0 ~ ENVIRON["KR"] { rep = NR }' "$1"
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
	mkdir -p "$(dirname "$RUN_DIR/negative/$I_NAME")"
	echo "# negative control: $rn_label (APICV_FAULT=$I_FAULT $(bin_rel "$I_NAME") -t '$I_PAT')"
	execute "$RUN_DIR/negative/$I_NAME.$I_FAULT.log" "$RUN_DIR/negative/$I_NAME.$I_FAULT.kmsg" \
		env "APICV_FAULT=$I_FAULT" "$(bin_path "$I_NAME")" -t "$I_PAT"
	excuse_emulator_reports "$rn_label" "$RUN_DIR/negative/$I_NAME.$I_FAULT.kmsg"
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
		echo "# negative control: negative:$I_NAME ($(bin_rel "$I_NAME") --list-faults)"
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

# The closing line, after one for the library's self-tests (libtest/) and
# one for KVM's conformance tests when self-tests ran.
summary_lines() {	# ROWS
	awk -F "$TAB" '
		{ k = ($2 ~ /^(negative:)?libtest\//) ? "lib" : "kvm"; n[k, $3]++; any[k] = 1 }
		function line(what, k) {
			printf "# %s: %d passed, %d failed, %d skipped\n", what,
				n[k, "pass"], n[k, "fail"], n[k, "skip"] }
		END { if (any["lib"]) { line("library self-tests", "lib")
				line("KVM conformance", "kvm") } }' "$1"
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
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

# results.json, JUnit and the report come from python3 (host side only:
# scripts/apicv_results.py; an installed tree has it too).
write_results() {	# MANIFEST EXIT
	if ! have_python; then
		echo "# results.json not written: no python3 here (the KTAP is in $RUN_DIR/ktap.txt)"
		return 0
	fi
	wr_helper=$SELF_DIR/scripts/apicv_results.py
	if [ ! -f "$wr_helper" ]; then
		echo "# results.json not written: no $wr_helper (the KTAP is in $RUN_DIR/ktap.txt)"
		return 0
	fi
	set -- --manifest "$1" --run-dir "$RUN_DIR" --exit "$2" \
		--version "$VERSION" --seed "$SEED" --profile "$PROFILE" \
		--negative "$NEGATIVE" --bin-dir "$BIN_DIR" --self-dir "$SELF_DIR" \
		--junit "$JUNIT" --report "$REPORT" --timeout "$TIMEOUT" \
		--kvm-patches "$KVM_PATCHES" --kvm-src "$KVM_SRC"
	if ! python3 "$wr_helper" "$@"; then
		echo "# results: the python3 helper failed (see the message above)"
	fi
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
	read -r _ _ hm_n _ <"$WORK/meta"
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
		summary_lines "$WORK/rows"
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
			mr_base=$TREE_DIR/runs
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

parse_cmdline() {	# ARGS
	for pc_a in "$@"; do
		if [ "$pc_a" = --bisect ]; then BISECT=1; fi
	done
	parse_args "$@"
}

# prepare: everything but running, shared with scripts/kernel-run: checks,
# binaries and selection (-l lists them and exits), seed, plan, log dir.
prepare() {
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
}

# Kernels are booted by scripts/kernel-run: for the options that say so,
# or where this host has no usable KVM (unless --host, or inside a booted
# kernel).
boots_kernel() {
	[ "${APICV_IN_VM:-}" != 1 ] && [ "$HOST_ONLY" = 0 ] || return 1
	[ "$VM_OPTS" = 1 ] || { [ "$LIST" = 0 ] && [ -n "$(kvm_missing)" ]; }
}

main() {
	parse_cmdline "$@"
	if boots_kernel; then
		[ -f "$SELF_DIR/scripts/kernel-run" ] ||
			usage_error "cannot boot a kernel: no $SELF_DIR/scripts/kernel-run; run on a host with /dev/kvm or pass --host"
		exec bash "$SELF_DIR/scripts/kernel-run" "$@"
	fi
	prepare
	kmsg_init
	host_main
}

if [ -z "${RUNNER_LIB_DIR:-}" ]; then
	main "$@"
fi
