#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scripts/check/kselftest.sh KERNEL: the kernel's own kselftest runner
# (run_kselftest.sh and kselftest/ from Debian's linux-source, fetched by
# scripts/fetch-source) on `make install`'s tree, the way test farms run a
# collection:
#   1. here, in a mount namespace without /dev/kvm: every binary is
#      "ok N selftests: apicv: NAME # SKIP" (exit 4), none a pass;
#   2. inside KERNEL booted by scripts/vm: each binary's verdict (pass,
#      skip, fail) from the kernel's runner equals run_tests.sh's, and with
#      a negative control enabled both see the binary fail.
# Exit 0 when both hold. Logs in $OUTPUT/check/kselftest/.
set -uo pipefail
cd "$(dirname "$0")/../.."
KERNEL=${1:-debian-6.12}
OUTPUT=${OUTPUT:-$PWD/build}
LOGS=$OUTPUT/check/kselftest
# The negative control both runners must report as a failure.
FAULT_TEST=apic_basics_test FAULT=skip_eoi
rm -rf "$LOGS"
mkdir -p "$LOGS"

ksft=$(scripts/fetch-source debian-6.1)/tools/testing/selftests || exit 1
tree=$LOGS/stage/ksft
mkdir -p "$tree"
cp -r "$ksft/run_kselftest.sh" "$ksft/kselftest" "$tree/"
scripts/install.sh "$tree" "$OUTPUT" >/dev/null || exit 1
mkdir -p "$LOGS/stage/tools"
cp "$OUTPUT/tools/kvm_keeper" "$LOGS/stage/tools/"
nbin=$(grep -c '^apicv:' "$tree/kselftest-list.txt")

# verdicts FILE: "NAME pass|skip|fail" per result line of either runner:
# the kernel's "ok 3 selftests: apicv: NAME # SKIP", ours "ok 3 NAME # SKIP".
verdicts() {
	sed -n 's/^\(not \)\{0,1\}ok [0-9]\{1,\} \(selftests: apicv: \)\{0,1\}\([a-z0-9_]*_test\)\( # \(.*\)\)\{0,1\}.*$/\1|\3|\5/p' "$1" |
		awk -F'|' '{ v = $1 != "" ? "fail" : ($3 ~ /^SKIP/ ? "skip" : "pass"); print $2, v }' |
		sort
}

bad=0
echo "# kselftest: the kernel's runner ($(cat "$ksft/../../../.package")) without /dev/kvm"
unshare -m sh -c 'mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 &&
	cd "$1" && ./run_kselftest.sh -c apicv' sh "$tree" >"$LOGS/nokvm.log" 2>&1
verdicts "$LOGS/nokvm.log" >"$LOGS/nokvm.verdicts"
if [ "$(grep -c ' skip$' "$LOGS/nokvm.verdicts")" = "$nbin" ]; then
	echo "ok - without /dev/kvm all $nbin binaries are SKIP"
else
	echo "not ok - without /dev/kvm not every binary is SKIP:"
	grep -v ' skip$' "$LOGS/nokvm.verdicts" | sed 's/^/#   /'
	[ -s "$LOGS/nokvm.verdicts" ] || tail -n 20 "$LOGS/nokvm.log" | sed 's/^/#   /'
	bad=1
fi

# Inside the kernel: both runners on the whole tree, then the kernel's on
# one binary with a negative control (APICV_FAULT: it must fail) beside
# ours running that control (it must see the failure; run_tests.sh never
# passes an inherited APICV_FAULT on). The kernel's runner wants GNU
# timeout (--foreground); busybox's rejects that and every test would
# "exit=1", so there it runs without one, as where timeout is missing:
# scripts/vm's limits bound the VM. Sections are marked for the split.
# shellcheck disable=SC2016 # expanded inside the VM
inner='cd ksft || exit 1
rm -f /usr/bin/timeout
echo "@@section kselftest"
./run_kselftest.sh -c apicv
echo "@@section run_tests"
apicv/run_tests.sh --host
echo "@@section kselftest_fault"
APICV_FAULT=$1 ./run_kselftest.sh -t apicv:x86/$2
echo "@@section run_tests_fault"
apicv/run_tests.sh --host --negative -t $2
echo "@@section end"'
echo "# kselftest: both runners inside $KERNEL"
scripts/vm --kernel "$KERNEL" --suite "$LOGS/stage" --timeout 2400 \
	--idle-timeout 400 -- sh -c "$inner" sh "$FAULT" "$FAULT_TEST" \
	>"$LOGS/vm.log" 2>&1
rc=$?
awk -v d="$LOGS" '/^@@section / { f = d "/" $2 ".log"; printf "" > f; next }
	f { print > f }' "$LOGS/vm.log"
for s in kselftest run_tests kselftest_fault; do
	[ -f "$LOGS/$s.log" ] || : >"$LOGS/$s.log"
	verdicts "$LOGS/$s.log" >"$LOGS/$s.verdicts"
done
if [ "$rc" != 0 ] || [ ! -f "$LOGS/end.log" ]; then
	echo "not ok - the VM did not finish both runs (scripts/vm exit $rc); the last lines:"
	tail -n 20 "$LOGS/vm.log" | sed 's/^/#   /'
	exit 1
fi
if [ "$(wc -l <"$LOGS/kselftest.verdicts")" = "$nbin" ] &&
	cmp -s "$LOGS/kselftest.verdicts" "$LOGS/run_tests.verdicts"; then
	echo "ok - $KERNEL: both runners agree on all $nbin binaries ($(awk '{ print $2 }' "$LOGS/run_tests.verdicts" | sort | uniq -c | xargs))"
else
	echo "not ok - $KERNEL: the runners disagree (kselftest | run_tests.sh):"
	diff "$LOGS/kselftest.verdicts" "$LOGS/run_tests.verdicts" | sed 's/^/#   /'
	bad=1
fi
# Ours reports each control as "ok N negative:TEST:FAULT # expected
# failure seen" when the binary failed with it.
neg="negative:$FAULT_TEST:$FAULT"
if [ "$(cat "$LOGS/kselftest_fault.verdicts")" = "$FAULT_TEST fail" ] &&
	grep -q "^ok [0-9]* $neg # expected failure seen" "$LOGS/run_tests_fault.log"; then
	echo "ok - $KERNEL: with APICV_FAULT=$FAULT both runners see $FAULT_TEST fail"
else
	echo "not ok - $KERNEL: with APICV_FAULT=$FAULT: the kernel's runner says '$(xargs <"$LOGS/kselftest_fault.verdicts")' (want '$FAULT_TEST fail'), run_tests.sh says '$(grep " $neg" "$LOGS/run_tests_fault.log")'"
	bad=1
fi
exit $bad
