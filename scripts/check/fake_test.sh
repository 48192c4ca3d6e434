#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A stand-in for a kselftest-harness test binary, used by runner_test.sh.
# Its behaviour follows the name it is installed under:
#   pass_test    two passing subtests; any APICV_FAULT fails the first run
#   fail_test    fix.beta fails (exit 1)
#   skip_test    every subtest skips (exit 4); declares no faults
#   vacuous_test every subtest skips but it exits 0, as the harness does
#   hang_test    prints 25 lines, starts a child, then hangs
#   warn_test    logs a fake WARNING to /dev/kmsg, then passes
#   negbad_test  passes; its one fault changes nothing
#   crash_test   dies of SIGSEGV
#   selfcheck_test a library self-test (libtest/): pass_test's behaviour
#   envfault_test  ends on an emulator fault (EMU_FAULT_EXIT of the tree's
#                emulator.env, ../emulator.env from the binary) where the runner
#                reboots after one (APICV_FAULT_REBOOT=1): on every run with
#                FAKE_ENVFAULT=always, else on the first (FAKE_ENVFAULT_ONCE
#                names the file that remembers it); with FAKE_ENVFAULT=walk
#                in fix.alpha and fix.beta by turns, twelve runs (the file
#                counts them); passes otherwise
# FAKE_LOG (optional): file that gets one line per run (name, args, env).
set -eu
name=${0##*/}
subs="fix.alpha fix.beta"

case ${1:-} in
-l|--list)
	for s in $subs; do echo "$s"; done
	exit 0 ;;
--list-faults)
	case $name in
	pass_test|selfcheck_test) printf 'drop_one\tfix.alpha\tdrop one IPI\tExpected 1 (1) == 2 (2)\nskip_eoi\t*beta\tskip one EOI\t-\nmiss_check\tfix.alpha\ttrips another check\tISR still set\n' ;;
	negbad_test) printf 'noop\tfix.*\ta fault that changes nothing\n' ;;
	hang_test) printf 'stall\tfix.alpha\twithhold the wakeup\n' ;;
	fail_test|warn_test|crash_test|vacuous_test|envfault_test) printf 'any\t*\tanything\n' ;;
	esac
	exit 0 ;;
esac

pats=
while [ $# -gt 0 ]; do
	case $1 in
	-t) pats="$pats $2"; shift ;;
	esac
	shift
done
if [ -n "${FAKE_LOG:-}" ]; then
	echo "$name t=[${pats# }] fault=${APICV_FAULT:-} seed=${APICV_SEED:-} profile=${APICV_PROFILE:-} invm=${APICV_IN_VM:-}" >>"$FAKE_LOG"
fi

# shellcheck disable=SC2254 # -t patterns are globs
selected() {
	[ -z "$pats" ] && return 0
	set -f
	for p in $pats; do
		case $1 in $p) set +f; return 0 ;; esac
		case ${1##*.} in $p) set +f; return 0 ;; esac
	done
	set +f
	return 1
}

run=
for s in $subs; do
	if selected "$s"; then run="$run $s"; fi
done
n=$(echo $run | wc -w)
echo "TAP version 13"
echo "1..$n"
echo "# seed: ${APICV_SEED:-0}"
i=0
rc=0
for s in $run; do
	i=$((i + 1))
	echo "#  RUN           $s ..."
	case $name:$s in
	hang_test:*)
		for l in $(seq 1 25); do echo "# hang line $l"; done
		sleep 300 &
		echo $! >"${FAKE_CHILD:-/dev/null}"
		sleep 300 ;;
	crash_test:*)
		kill -SEGV $$ ;;
	envfault_test:*)
		at=$s
		if [ "${FAKE_ENVFAULT:-}" = walk ]; then
			if [ "$i" = 1 ]; then
				runs=$(($(cat "$FAKE_ENVFAULT_ONCE" 2>/dev/null || echo 0) + 1))
				echo "$runs" >"$FAKE_ENVFAULT_ONCE"
			fi
			at=none
			[ "$runs" -gt 12 ] || at=fix.$( [ $((runs % 2)) = 1 ] && echo alpha || echo beta)
		fi
		if [ "${APICV_FAULT_REBOOT:-0}" = 1 ] && [ "$at" = "$s" ] &&
		   { [ -n "${FAKE_ENVFAULT:-}" ] || [ ! -e "${FAKE_ENVFAULT_ONCE:-/}" ]; }; then
			[ -n "${FAKE_ENVFAULT:-}" ] || : >"$FAKE_ENVFAULT_ONCE"
			echo "# FAIL fake.c:7: vcpu 1: unexpected exit SHUTDOWN (8)"
			echo "# the failure above follows an emulator fault: fake"
			echo "# $s: not run again here after the emulator fault: the runner reboots the kernel first"
			# shellcheck source=/dev/null
			. "$(dirname "$0")/../emulator.env"
			exit "$EMU_FAULT_EXIT"
		fi ;;
	skip_test:*|vacuous_test:*)
		echo "ok $i $s # SKIP no frobnicator here"
		continue ;;
	warn_test:*)
		if [ -w /dev/kmsg ]; then
			echo "<4>WARNING: CPU: 0 PID: $$ at fake.c:1 fake_warn+0x0/0x10" >/dev/kmsg
			echo "<4>Modules linked in: fake" >/dev/kmsg
		fi ;;
	fail_test:fix.beta|pass_test:*|selfcheck_test:*)
		if [ "$name" = fail_test ] || { [ -n "${APICV_FAULT:-}" ] && [ "$i" = 1 ]; }; then
			echo "# fake.c:42:$s:Expected 1 (1) == 2 (2)"
			echo "#            FAIL  $s"
			echo "not ok $i $s"
			rc=1
			continue
		fi ;;
	esac
	echo "#            OK  $s"
	echo "ok $i $s"
done
case $name in
skip_test) exit 4 ;;
esac
exit $rc
