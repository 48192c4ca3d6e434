#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A stand-in for scripts/vm used by runner_test.sh: instead of booting a
# kernel it runs CMD in the --suite directory under busybox sh (the shell
# of the real initramfs), with the environment scripts/vm gives.
# FAKE_VM=noboot: fail as a kernel that does not boot (exit 125).
# FAKE_VM=die: stop the output when hang_test starts, exit 125 (a kernel
# that died during that test).
# FAKE_VM=dieonce: die when the first binary starts, on the first boot
# only (FAKE_VM_ONCE names the file that remembers it); hangalways: the
# same on every boot.
# FAKE_VM_AT=NAME: when binary NAME_test starts, print the kernel console lines
# of FAKE_VM_CONSOLE ("|" between them; one that starts with "=" is a line
# of CMD's output instead), then FAKE_VM_END: die (the output
# stops, exit 125 as a dead VM), hang (the same as a hung one) or go on;
# on the first boot only when FAKE_VM_ONCE is set (the file remembers it).
# FAKE_VM_TCG=1: the inner run's "# cpu:" line says QEMU TCG (and with
# FAKE_VM_AT its "# kernel:" line the release of the --kernel shorthand,
# 6.1.0-fake ...).
# FAKE_VM_LOG: file that gets the arguments, one run a line.
set -eu
suite=
kernel=debian-6.1
if [ -n "${FAKE_VM_LOG:-}" ]; then
	echo "$*" >>"$FAKE_VM_LOG"
fi
while [ $# -gt 0 ]; do
	case $1 in
	--suite) suite=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--modules|--param|--cmdline|--cpus|--mem|--timeout|--idle-timeout|--cpu) shift ;;
	--) shift; break ;;
	*) echo "fake_vm: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "${FAKE_VM:-}" = noboot ]; then
	echo "scripts/vm: the kernel did not boot (fake)" >&2
	exit 125
fi
cd "$suite"
[ -x ./run_tests.sh ] && [ -d ./x86 ] || { echo "fake_vm: bad suite dir $suite" >&2; exit 125; }
export APICV_IN_VM=1 APICV_KERNEL="$kernel"
if [ "${FAKE_VM:-}" = die ]; then
	busybox sh "$@" 2>&1 | sed '/selftests: apicv: x86\/hang_test/q' || :
	echo "scripts/vm: the VM died before the command finished (fake)" >&2
	exit 125
fi
# The inner run's "# cpu:" line, as FAKE_VM_TCG says.
cpu_line() {
	if [ -n "${FAKE_VM_TCG:-}" ]; then
		sed 's/^# cpu: .*/# cpu: QEMU TCG CPU version 2.5+ (fake)/'
	else
		cat
	fi
}
if { [ "${FAKE_VM:-}" = dieonce ] && [ ! -e "$FAKE_VM_ONCE" ]; } ||
   [ "${FAKE_VM:-}" = hangalways ]; then
	[ "${FAKE_VM:-}" = hangalways ] || : >"$FAKE_VM_ONCE"
	busybox sh "$@" 2>&1 | cpu_line | sed '/selftests: apicv: /q' || :
	echo "scripts/vm: no output for 9 s while running CMD (fake)" >&2
	exit 125
fi
if [ -n "${FAKE_VM_AT:-}" ] && { [ -z "${FAKE_VM_ONCE:-}" ] || [ ! -e "$FAKE_VM_ONCE" ]; }; then
	[ -z "${FAKE_VM_ONCE:-}" ] || : >"$FAKE_VM_ONCE"
	out=$(mktemp)
	rc=0
	busybox sh "$@" >"$out" 2>&1 || rc=$?
	end=${FAKE_VM_END:-go}
	case $kernel in
	debian-6.1) krel=6.1.0-fake ;;
	debian-6.12) krel=6.12.0-fake ;;
	*) krel=7.2.0-fake ;;
	esac
	awk -v krel="$krel" -v at="# selftests: apicv: x86/${FAKE_VM_AT}_test" -v con="${FAKE_VM_CONSOLE:-}" -v end="$end" \
		-v tcg="${FAKE_VM_TCG:-}" '
		tcg && /^# cpu: / { $0 = "# cpu: QEMU TCG CPU version 2.5+ (fake)" }
		tcg && /^# kernel: / { $0 = "# kernel: " krel }
		{ print }
		$0 == at { n = split(con, c, "|")
			for (i = 1; i <= n; i++)
				if (c[i] ~ /^=/) print substr(c[i], 2)
				else printf "[ %4d.%06d] %s\n", 30 + i, i, c[i]
			if (end != "go") exit }' "$out"
	rm -f "$out"
	case $end in
	die) echo "scripts/vm: VM died (qemu exit 0) while running CMD; last line: (fake)" >&2; exit 125 ;;
	hang) echo "scripts/vm: no output for 9 s while running CMD: the guest kernel hung; last line: (fake)" >&2; exit 125 ;;
	esac
	exit "$rc"
fi
exec busybox sh "$@"
