#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scripts/check/kselftest.sh KERNEL [RESULTS_JSON]: the kernel's own kselftest runner
# (run_kselftest.sh and kselftest/ from Debian's linux-source, fetched by
# scripts/fetch-source) on `make install`'s tree, the way test farms run a
# collection:
#   1. here, in a mount namespace without /dev/kvm: every KVM binary is
#      "ok N selftests: apicv: NAME # SKIP" (exit 4), none a pass; the
#      library's self-tests (libtest/) pass or skip, none fails;
#   2. inside KERNEL booted by scripts/vm: each binary's verdict (pass,
#      skip, fail) from the kernel's runner equals run_tests.sh's on the
#      same kernel, and with a negative control enabled it is a fail.
# Exit 0 when both hold. Logs in $OUTPUT/check/kselftest/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
KERNEL=${1:-debian-6.12}
# results.json of a run_tests.sh run on KERNEL (check/run's suite step);
# without it one is made here.
OURS=${2:-}
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
# The kernel's runner names a binary by its file name: libtest/ goes.
sed -n 's#^apicv:libtest/##p' "$tree/kselftest-list.txt" >"$LOGS/libtests"

# verdicts FILE: "NAME pass|skip|fail" per result line of either runner:
# the kernel's "ok 3 selftests: apicv: NAME # SKIP", ours "ok 3 NAME # SKIP"
# (ours "libtest/NAME" for a library self-test).
verdicts() {
	sed -n 's/^\(not \)\{0,1\}ok [0-9]\{1,\} \(selftests: apicv: \)\{0,1\}\(libtest\/\)\{0,1\}\([a-z0-9_]*_test\)\( # \(.*\)\)\{0,1\}.*$/\1|\4|\6/p' "$1" |
		awk -F'|' '{ v = $1 != "" ? "fail" : ($3 ~ /^SKIP/ ? "skip" : "pass"); print $2, v }' |
		sort
}

bad=0
echo "# kselftest: the kernel's runner ($(cat "$ksft/../../../.package")) without /dev/kvm"
unshare -m sh -c 'mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 &&
	cd "$1" && ./run_kselftest.sh -c apicv' sh "$tree" >"$LOGS/nokvm.log" 2>&1
verdicts "$LOGS/nokvm.log" >"$LOGS/nokvm.verdicts"
# A KVM binary that is not a skip, or a library self-test that fails.
nokvm_wrong() {
	awk 'NR == FNR { lib[$1] = 1; next }
		($1 in lib) ? $2 == "fail" : $2 != "skip"' "$LOGS/libtests" "$1"
}
if [ "$(wc -l <"$LOGS/nokvm.verdicts")" = "$nbin" ] &&
	[ -z "$(nokvm_wrong "$LOGS/nokvm.verdicts")" ]; then
	echo "ok - without /dev/kvm all $nbin binaries: KVM's SKIP, no library self-test fails"
else
	echo "not ok - without /dev/kvm not every KVM binary is SKIP (or a library self-test failed):"
	nokvm_wrong "$LOGS/nokvm.verdicts" | sed 's/^/#   /'
	[ -s "$LOGS/nokvm.verdicts" ] || tail -n 20 "$LOGS/nokvm.log" | sed 's/^/#   /'
	bad=1
fi

# Inside the kernel: the kernel's runner on the whole tree, then on one
# binary with a negative control (APICV_FAULT: it must fail; the negative
# step shows run_tests.sh failing it too). The kernel's runner wants GNU
# timeout (--foreground); busybox's rejects that and every test would
# "exit=1", so there it runs without one, as where timeout is missing:
# scripts/vm's limits bound the VM. Sections are marked for the split.
# shellcheck disable=SC2016 # expanded inside the VM
# Its per-test output goes to output.log (-s): busybox loses what it
# appends to /dev/stdout.
inner='cd ksft || exit 1
rm -f /usr/bin/timeout
echo "@@section kselftest"
./run_kselftest.sh -s -c apicv
echo "@@section kselftest_output"
cat output.log
echo "@@section kselftest_fault"
APICV_FAULT=$1 ./run_kselftest.sh -s -t apicv:x86/$2
echo "@@section end"'

# Under TCG the L1 kernel now and then dies or hangs of the emulator (see
# the README): boot again, up to three boots, as run_tests.sh does.
for boot in 1 2 3; do
	echo "# kselftest: the kernel's runner inside $KERNEL (boot $boot)"
	scripts/vm --kernel "$KERNEL" --suite "$LOGS/stage" --timeout 1800 \
		--idle-timeout 400 -- sh -c "$inner" sh "$FAULT" "$FAULT_TEST" \
		>"$LOGS/vm.log" 2>&1
	rc=$?
	rm -f "$LOGS"/kselftest*.log "$LOGS/end.log"
	awk -v d="$LOGS" '/^@@section / { f = d "/" $2 ".log"; printf "" > f; next }
		f { print > f }' "$LOGS/vm.log"
	[ "$rc" != 0 ] || [ ! -f "$LOGS/end.log" ] || break
	echo "# the VM did not finish (scripts/vm exit $rc); the last lines:"
	tail -n 5 "$LOGS/vm.log" | sed 's/^/#   /'
	cp "$LOGS/vm.log" "$LOGS/vm.boot$boot.log"
done
if [ ! -f "$LOGS/end.log" ]; then
	echo "not ok - the kernel's runner did not finish in three boots of $KERNEL"
	exit 1
fi
for f in kselftest kselftest_fault; do
	verdicts "$LOGS/$f.log" >"$LOGS/$f.verdicts"
done

# Ours: run_tests.sh's verdicts on the same kernel, from results.json of a
# run that check/run's suite step made, else from a run of our own.
if [ -z "$OURS" ]; then
	./run_tests.sh --kernel "$KERNEL" --log-dir "$LOGS/ours" >"$LOGS/ours.log" 2>&1
	OURS=$LOGS/ours/results.json
fi
python3 - "$OURS" "$KERNEL" <<'PY' | sort >"$LOGS/run_tests.verdicts" || exit 1
import json, sys
res = json.load(open(sys.argv[1]))
runs = [r for r in res['runs'] if r['label'] == sys.argv[2]]
if not runs:
    sys.exit('no run labelled %s in %s' % (sys.argv[2], sys.argv[1]))
for t in runs[0]['tests']:
    print(t['name'].split('/')[-1], t['status'])
PY
if [ "$(wc -l <"$LOGS/kselftest.verdicts")" = "$nbin" ] &&
	cmp -s "$LOGS/kselftest.verdicts" "$LOGS/run_tests.verdicts"; then
	echo "ok - $KERNEL: both runners agree on all $nbin binaries ($(awk '{ print $2 }' "$LOGS/run_tests.verdicts" | sort | uniq -c | xargs))"
else
	echo "not ok - $KERNEL: the runners disagree (< kselftest, > run_tests.sh from $OURS):"
	diff "$LOGS/kselftest.verdicts" "$LOGS/run_tests.verdicts" | sed 's/^/#   /'
	bad=1
fi
if [ "$(cat "$LOGS/kselftest_fault.verdicts")" = "$FAULT_TEST fail" ]; then
	echo "ok - $KERNEL: with APICV_FAULT=$FAULT the kernel's runner fails $FAULT_TEST"
else
	echo "not ok - $KERNEL: with APICV_FAULT=$FAULT the kernel's runner says '$(xargs <"$LOGS/kselftest_fault.verdicts")', want '$FAULT_TEST fail'"
	bad=1
fi
exit $bad
