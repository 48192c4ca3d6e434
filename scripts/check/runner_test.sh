#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/check/runner_test.sh: tests of run_tests.sh, scripts/install.sh
# and the installed run_kselftest.sh, with fake test binaries
# (fake_test.sh) and a fake scripts/vm (fake_vm.sh).  Host only: no KVM,
# no VM.  The whole run is checked under dash, and the main run also
# under busybox sh and bash (the booted kernel has only busybox).
#
# Usage: scripts/check/runner_test.sh [-v]
#   -v   print each run_tests.sh output
# Output: "ok N - what" / "not ok N - what" lines, then "P passed, F failed".
# Exit 0 when every check passed, 1 otherwise.
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=$REPO/scripts/check
VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1
for tool in dash busybox python3 setsid mkfifo; do
	command -v "$tool" >/dev/null || { echo "runner_test: needs $tool (apt-get install dash busybox-static python3 util-linux)" >&2; exit 2; }
done

# System tools first: a slow python3 shim would dominate the run time.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
T=$(mktemp -d "${TMPDIR:-/tmp}/runner-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T
unset OUTPUT APICV_SEED APICV_PROFILE APICV_FAULT APICV_KMSG APICV_VM APICV_IN_VM

N=0 PASSED=0 FAILED=0
ok() { N=$((N + 1)); PASSED=$((PASSED + 1)); echo "ok $N - $*"; }
bad() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
check() {	# DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
has() { grep -qE -e "$1" "$T/out"; }		# output has a line matching ERE
hasnt() { ! grep -qE -e "$1" "$T/out"; }
err_has() { grep -qE -e "$1" "$T/err"; }
last_is() { [ "$(tail -n 1 "$T/out")" = "$1" ]; }
rc_is() { [ "$RC" = "$1" ]; }
gone() {	# PID: no such process, or a zombie (an orphan not reaped yet)
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}
run_dir() { sed -n 's/^# logs: //p' "$T/out" | head -n 1; }

# Fake build tree: build/x86/*_test, and the build's emulator.env (the
# Makefile's, from include/emulator.h's EMU_* numbers)
B=$T/build
mkdir -p "$B/x86"
sed -n 's/^#define \(EMU_[A-Z_]*\)[[:space:]]\{1,\}\([0-9]\{1,\}\)$/\1=\2/p' \
	"$REPO/include/emulator.h" | sort >"$B/emulator.env"
# shellcheck source=/dev/null
. "$B/emulator.env"
[ -n "${EMU_REBOOTS_IN_A_ROW:-}" ] || { echo "runner_test: no EMU_* numbers in include/emulator.h" >&2; exit 2; }
for n in pass fail skip vacuous hang warn negbad crash; do
	cp "$CHECK/fake_test.sh" "$B/x86/${n}_test"
	chmod +x "$B/x86/${n}_test"
done
export FAKE_LOG=$T/fake.log FAKE_CHILD=$T/child.pid

# Can this run write fake reports into the kernel log and read them back?
KMSG=0
if [ -w /dev/kmsg ] && dmesg -r >/dev/null 2>&1; then
	KMSG=1
fi

SH=dash
rt() {	# [VAR=VALUE...] ARGS...: run_tests.sh under $SH; sets RC
	local envs=()
	while [ $# -gt 0 ] && [[ $1 == [A-Z]*=* ]]; do
		envs+=("$1")
		shift
	done
	: >"$FAKE_LOG"
	RC=0
	env OUTPUT="$B" "${envs[@]}" $SH "$REPO/run_tests.sh" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
	if [ "$VERBOSE" = 1 ]; then
		echo "# --- $SH run_tests.sh $* (exit $RC, at ${SECONDS}s)"
		sed 's/^/#   /' "$T/out" "$T/err"
	fi
}

# ---- the main run, under every shell --------------------------------------
main_run() {
	rt -o 2 --seed 1234 --host --junit "$T/junit.xml" --report "$T/report"
	local rd
	rd=$(run_dir)
	check "$SH: exit 1 when tests fail" rc_is 1
	check "$SH: KTAP header and plan" test "$(head -n 2 "$T/out" | tr '\n' ' ')" = "TAP version 13 1..8 "
	check "$SH: crash reported with its signal" has '^not ok 1 crash_test # killed by signal 11$'
	check "$SH: failing binary" has '^not ok 2 fail_test # exit=1$'
	check "$SH: subtests nested under '# '" has '^# not ok 2 fix.beta$'
	check "$SH: hanging binary reported TIMEOUT" has '^not ok 3 hang_test # TIMEOUT 2s$'
	check "$SH: TIMEOUT quotes the last lines printed" has '^# \| # hang line 25$'
	check "$SH: the run goes on after a timeout" has '^ok 4 negbad_test$'
	check "$SH: the hanging binary's child was killed" gone "$(cat "$FAKE_CHILD")"
	check "$SH: skip with its reason" has '^ok 6 skip_test # SKIP no frobnicator here$'
	check "$SH: exit 0 with every subtest skipped is a skip" \
		has '^ok 7 vacuous_test # SKIP no frobnicator here$'
	if [ "$KMSG" = 1 ]; then
		check "$SH: kernel WARNING during a passing binary fails it" \
			has '^not ok 8 warn_test # kernel log: WARNING: CPU: 0 PID: [0-9]+ at fake.c:1'
		check "$SH: the report is quoted" has '^# kmsg: \[ *[0-9.]+\] Modules linked in: fake$'
		check "$SH: closing line" last_is "2 passed, 4 failed, 2 skipped"
	else
		check "$SH: closing line" last_is "3 passed, 3 failed, 2 skipped"
	fi
	check "$SH: seed given to every binary" \
		test "$(grep -c 'seed=1234 profile=ci' "$FAKE_LOG")" = 8
	check "$SH: per-test log" grep -q '^ok 2 fix.beta$' "$rd/pass_test.log"
	if [ "$KMSG" = 1 ]; then
		check "$SH: per-test kernel-log slice" grep -q 'WARNING: CPU: 0' "$rd/warn_test.kmsg"
		check "$SH: a clean slice has no marker lines" test ! -s "$rd/pass_test.kmsg"
	fi
	check "$SH: results.json" python3 - "$rd/results.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
t = {x['name']: x for x in r['runs'][0]['tests']}
assert r['seed'] == 1234 and r['exit'] == 1, r
assert t['hang_test']['reason'] == 'TIMEOUT 2s'
assert [s['status'] for s in t['fail_test']['subtests']] == ['pass', 'fail']
assert t['skip_test']['status'] == 'skip'
EOF
	check "$SH: JUnit XML parses, a suite per binary, a case per subtest" python3 - "$T/junit.xml" "$KMSG" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
s = {x.get('name'): x for x in root.findall('testsuite')}
assert len(s) == 8, s.keys()
beta = [c for c in s['fail_test'].findall('testcase') if c.get('name') == 'fix.beta'][0]
assert 'Expected 1 (1) == 2 (2)' in beta.find('failure').get('message')
assert len(s['skip_test'].findall('testcase/skipped')) == 2
hang = s['hang_test'].findall('testcase/failure')
assert any('TIMEOUT' in f.get('message') for f in hang)
if sys.argv[2] == '1':
    assert any('kernel log' in f.get('message') for f in s['warn_test'].findall('testcase/failure'))
assert 'ok 2 fix.beta' in s['pass_test'].find('system-out').text
assert root.get('failures') and int(root.get('tests')) >= 13
EOF
	check "$SH: report files" test -s "$T/report/report.md" -a -s "$T/report/report.json" \
		-a -s "$T/report/results.json"
	check "$SH: report.json: seed, host CPU, kvm params, results" python3 - "$T/report/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r['suite']['seed'] == 1234
assert r['host']['cpu']['vendor_id']
assert 'features' in r['host'] and 'numa' in r['host'] and 'kernel' in r['host']
assert r['results']['failed'] >= 3
EOF
	if command -v cpuid >/dev/null; then
		check "$SH: report has the raw cpuid dump" grep -q '0x00000001 0x00: eax=' "$T/report/cpuid-raw.txt"
	fi
}

for SH in dash "busybox sh" bash; do
	main_run
done
SH=dash

# ---- listing and selection ----------------------------------------------
rt -l
check "-l lists binaries and binary:subtest" \
	test "$(grep -c '' "$T/out")" = 24 -a "$(grep -c '^pass_test:fix.beta$' "$T/out")" = 1
rt -l -t 'pass:*alpha'
check "-l -t TEST:SUBTEST filters both" test "$(tr '\n' ' ' <"$T/out")" = "pass_test pass_test:fix.alpha "
rt APICV_FAULT=drop_one --host -t pass_test:fix.beta --profile qualify --seed 7
check "-t TEST:SUBTEST passes -t SUBTEST, the seed and profile; no inherited fault" \
	grep -qx 'pass_test t=\[fix.beta\] fault= seed=7 profile=qualify invm=' "$FAKE_LOG"
check "... and only that subtest runs" test "$(grep -c '^# ok' "$T/out")" = 1
rt --host -t pass -t fail -t skip
cp "$T/out" "$T/serial"
rt --host -j 2 -t pass -t fail -t skip
check "-j 2 prints the same results in order" \
	test "$(grep -E '^(not )?ok' "$T/serial")" = "$(grep -E '^(not )?ok' "$T/out")"
check "-j 2 closing line" last_is "1 passed, 1 failed, 1 skipped"

# ---- exit codes -----------------------------------------------------------
rt --host -t pass --bisect
check "--bisect good: 0" rc_is 0
rt --host -t fail --bisect
check "--bisect failed test: 1" rc_is 1
rt --host -t skip --bisect
check "--bisect every test skipped: 125" rc_is 125
rt --host -t skip
check "every test skipped, no --bisect: 0" rc_is 0
rt --host -t hang -o 1 --bisect
check "--bisect timeout: 1" rc_is 1
rt --bisect --no-such-option
check "--bisect usage error: 125" rc_is 125
rt --no-such-option
check "unknown option: exit 2, one line naming it" \
	eval 'rc_is 2 && err_has "unknown option .--no-such-option." && test -z "$(cat "$T/out")"'
rt -o abc
check "-o with a bad value: exit 2" eval 'rc_is 2 && err_has "-o needs a number"'
rt -o
check "-o without a value: exit 2" eval 'rc_is 2 && err_has "-o needs a value"'
rt -t nothing_here
check "-t matching nothing: exit 2" eval 'rc_is 2 && err_has "matches no test"'
rt --profile long
check "bad --profile: exit 2" rc_is 2
rt --kernel /no/such/bzImage
check "missing --kernel image: exit 2" eval 'rc_is 2 && err_has "no such file"'
rt --host --kernel debian-6.1
check "--host with --kernel: exit 2" rc_is 2
rt stray
check "stray argument: exit 2" rc_is 2
rt OUTPUT="$T/nowhere" --host
check "missing build tree: exit 2 naming the fix" eval 'rc_is 2 && err_has "make"'
rt --kvm-patch /no/such.patch
check "--kvm-patch without the file: exit 2" eval 'rc_is 2 && err_has "no such file"'
echo x >"$T/kvm.patch"
rt --kvm-patch "$T/kvm.patch" --kernel "$T/kvm.patch"
check "--kvm-patch with a kernel image: exit 2" eval 'rc_is 2 && err_has "build for Debian.s kernels"'

# ---- negative controls ------------------------------------------------------
rt --host --negative -t pass
check "--negative: each fault makes the test fail" eval 'rc_is 1 &&
	has "^ok 1 negative:pass_test:drop_one # expected failure seen$" &&
	has "^ok 2 negative:pass_test:skip_eoi # expected failure seen$"'
check "--negative: a failure of another check than the targeted one fails" \
	has "^not ok 3 negative:pass_test:miss_check # the test failed, but not the check the control targets: no .ISR still set. in its output$"
check "--negative: the fault and its subtest pattern reach the binary" eval '
	grep -q "^pass_test t=\[fix.alpha\] fault=drop_one " "$FAKE_LOG" &&
	grep -q "^pass_test t=\[\*beta\] fault=skip_eoi " "$FAKE_LOG"'
check "--negative closing line" last_is "2 passed, 1 failed, 0 skipped"
rt --host --negative -t hang -t negbad -t skip -o 1
check "--negative: a hang counts as the expected failure" \
	has '^ok 1 negative:hang_test:stall # expected failure seen \(TIMEOUT 1s\)$'
check "--negative: an undetected fault fails" \
	has '^not ok 2 negative:negbad_test:noop # fault not detected'
check "--negative: a binary without faults fails" \
	has '^not ok 3 negative:skip_test # no negative control declared'
check "--negative: exit 1" rc_is 1

# ---- kernel log ---------------------------------------------------------------
if [ "$KMSG" = 1 ]; then
	echo "<4>WARNING: CPU: 0 PID: 1 at boot.c:1 logged before the run (runner_test)" >/dev/kmsg
	rt --host -t pass
	check "a report logged before the run does not count" eval 'rc_is 0 && has "^ok 1 pass_test$"'
	rt APICV_KMSG=tail --host -t warn -t pass
	check "APICV_KMSG=tail: the report still fails the binary" eval '
		has "^not ok 2 warn_test # kernel log: WARNING" && has "^ok 1 pass_test$" &&
		has "^# kernel log: watched .*last one seen"'
	rt APICV_KMSG=off --host -t warn
	check "APICV_KMSG=off: not watched, said so" eval 'rc_is 0 && has "^# kernel log: not watched"'
else
	echo "# skipped the kernel-log checks: /dev/kmsg not writable or dmesg not readable (not root?)"
fi

# ---- booting kernels (fake scripts/vm) ----------------------------------
export APICV_VM=$CHECK/fake_vm.sh FAKE_VM_LOG=$T/vm.log
: >"$FAKE_VM_LOG"

# --kvm-patch: a fake scripts/kvm-build prints a module tree, or fails.
cat >"$T/kvm-build" <<'KB'
#!/bin/sh
echo "kvm-build $*" >>"$FAKE_VM_LOG"
[ "${FAKE_KVM_BUILD:-ok}" = ok ] || { echo "kvm-build: the patch does not apply" >&2; exit 125; }
mkdir -p "$T_KB/mods" && echo "$T_KB/mods"
KB
chmod +x "$T/kvm-build"
export APICV_KVM_BUILD=$T/kvm-build T_KB=$T
rt --kernel debian-6.12 --kvm-patch "$T/kvm.patch" -t pass
check "--kvm-patch: built for the kernel, booted with the modules" eval '
	grep -q "^kvm-build --kernel debian-6.12 --kvm-patch $T/kvm.patch$" "$FAKE_VM_LOG" &&
	grep -q -- "--kernel debian-6.12 .*--modules $T/mods " "$FAKE_VM_LOG" && rc_is 0'
check "--kvm-patch: the KTAP header names the patch and its hash" \
	has "^# kvm under test: Debian.s KVM with $T/kvm.patch \(sha256 [0-9a-f]{12}\)$"
check "--kvm-patch: results.json names the patch" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["kvm"]["patches"][0]["file"].endswith("/kvm.patch"), r["kvm"]
assert len(r["kvm"]["patches"][0]["sha256"]) == 64' "$(run_dir)/results.json"
rt FAKE_KVM_BUILD=fail --kernel debian-6.1 --kvm-patch "$T/kvm.patch" -t pass --bisect
check "--kvm-patch that does not build: --bisect 125, named" eval '
	rc_is 125 && has "^not ok 1 kernel:debian-6.1 # cannot test: the KVM modules did not build: kvm-build: the patch does not apply$"'
unset APICV_KVM_BUILD
: >"$FAKE_VM_LOG"
rt --kernel debian-6.1 --kernel debian-6.12 --param kvm_amd.avic=1 -t pass -t fail -t skip \
	--junit "$T/junit-vm.xml"
rd=$(run_dir)
check "kernels: one KTAP item per kernel" eval 'has "^1\.\.2$" &&
	has "^not ok 1 kernel:debian-6.1 # 1 failed$" && has "^not ok 2 kernel:debian-6.12 # 1 failed$"'
check "kernels: the inner run is nested" eval 'has "^# ok 2 pass_test$" && has "^# # ok 2 fix.beta$"'
check "kernels: results side by side" has '^# pass_test +pass +pass *$'
check "kernels: closing line counts every binary of every kernel" last_is "2 passed, 2 failed, 2 skipped"
check "kernels: exit 1" rc_is 1
check "kernels: scripts/vm got the suite, kernel, parameters and the inner runner" eval '
	grep -q -- "--kernel debian-6.12 .*--param kvm_amd.avic=1 -- ./run_tests.sh --host --seed [0-9]* --profile ci -t pass -t fail -t skip$" "$FAKE_VM_LOG"'
check "kernels: the binaries ran inside (APICV_IN_VM=1)" test "$(grep -c 'invm=1' "$FAKE_LOG")" = 6
check "kernels: per-kernel logs" eval 'grep -q "^ok 2 fix.beta$" "$rd/debian-6.12/pass_test.log" &&
	test -f "$rd/debian-6.1/fail_test.kmsg"'
check "kernels: results.json has both runs" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert [x["label"] for x in r["runs"]] == ["debian-6.1", "debian-6.12"], r["runs"]
assert r["summary"] == {"passed": 2, "failed": 2, "skipped": 2}, r["summary"]' "$rd/results.json"
check "kernels: JUnit suites named per kernel" python3 -c '
import sys, xml.etree.ElementTree as ET
names = {s.get("name") for s in ET.parse(sys.argv[1]).getroot()}
assert "debian-6.12/pass_test" in names, names' "$T/junit-vm.xml"
if [ ! -d /sys/module/kvm_amd ] && [ ! -d /sys/module/kvm_intel ]; then
	rt -t pass
	check "no usable KVM: says so in one line and boots the default kernel" eval '
		rc_is 0 && test "$(grep -c "^# no usable KVM: " "$T/out")" = 1 && has "^ok 1 kernel:debian-6.1$"'
fi
rt FAKE_VM=noboot --kernel debian-6.1 -t pass --bisect
check "--bisect, kernel does not boot: 125" eval 'rc_is 125 &&
	has "^not ok 1 kernel:debian-6.1 # cannot test: scripts/vm exit 125 before the tests started: scripts/vm: the kernel did not boot"'
rt FAKE_VM=dieonce FAKE_VM_ONCE="$T/once" --kernel debian-6.1 -t pass -t fail
check "kernel hangs once, silent: booted again, the rest rerun, the binary that ran fails" eval 'rc_is 1 &&
	has "^# booted again after: debian-6.1: the VM stopped during fail_test .*: fails fail_test$" &&
	has "^# ok [0-9]+ pass_test" && has "^# not ok [0-9]+ fail_test" &&
	has "^# # kernel debian-6.1: the L1 kernel hung during fail_test, with no emulator signature" &&
	has "^# #   \(none\)$" && last_is "1 passed, 1 failed, 0 skipped"'
rt FAKE_VM=dieonce FAKE_VM_TCG=1 FAKE_VM_ONCE="$T/once-silent" --kernel debian-6.1 -t pass -t fail
check "kernel hangs once, silent, under TCG: the emulator's once, that binary's rerun counts" eval 'rc_is 1 &&
	has "^# # kernel debian-6.1: the L1 kernel hung during fail_test under TCG without a kernel report: the emulator.s this once" &&
	has "^# booted again after: debian-6.1: the VM stopped during fail_test .*: the emulator.s, tcg-silent-hang" &&
	hasnt "L1 kernel failed debian-6.1/fail_test" && has "^# not ok [0-9]+ fail_test" &&
	last_is "1 passed, 1 failed, 0 skipped"'
rt FAKE_VM=hangalways FAKE_VM_TCG=1 APICV_VM_RETRIES=2 --kernel debian-6.1 -t pass -t fail
check "kernel hangs silently in the same binary twice under TCG: it fails" eval 'rc_is 1 &&
	has "the emulator.s this once" && has "L1 kernel failed debian-6.1/fail_test: the L1 kernel hung"'
# L1 deaths and console reports (issue 17). pass_test runs second.
rt FAKE_VM_AT=pass FAKE_VM_END=die FAKE_VM_ONCE="$T/once-die" \
	FAKE_VM_CONSOLE="Kernel panic - not syncing: Fatal exception|Kernel Offset: disabled" \
	--kernel debian-6.12 -t pass -t skip --junit "$T/junit-l1.xml"
check "L1 dies without an emulator signature: rerun, and that binary fails with its console" eval 'rc_is 1 &&
	has "^# ok [0-9]+ pass_test$" && has "^# ok [0-9]+ skip_test # SKIP" &&
	has "^# #   \[ +31\.000001\] Kernel panic - not syncing: Fatal exception$" &&
	has "^# booted again after: debian-6.12: the VM stopped during pass_test .*: fails pass_test$" &&
	has "^# pass_test +FAIL" && last_is "0 passed, 1 failed, 1 skipped"'
check "L1 dies: results.json and JUnit give that binary the death of the kernel" python3 -c '
import json, sys, xml.etree.ElementTree as ET
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["runs"][0]["tests"]}
r = t["pass_test"]
assert r["status"] == "fail", r
assert r["reason"].startswith("the L1 kernel died while it ran") and "Kernel panic" in r["reason"] and r["reason"].endswith("(its rerun: pass)"), r["reason"]
s = {x.get("name"): x for x in ET.parse(sys.argv[2]).getroot()}
assert s["debian-6.12/pass_test"].find("testcase/failure") is not None or s["debian-6.12/pass_test"].find(".//failure") is not None' \
	"$(run_dir)/results.json" "$T/junit-l1.xml"
rt FAKE_VM_TCG=1 FAKE_VM_AT=pass FAKE_VM_END=die FAKE_VM_ONCE="$T/once-emu" \
	FAKE_VM_CONSOLE="Kernel panic - not syncing: corrupted stack end detected inside scheduler" \
	--kernel debian-6.12 -t pass -t skip
check "L1 dies with an emulator signature under TCG: rerun, no failure, named" eval 'rc_is 0 &&
	has "^# booted again after: debian-6.12: the VM stopped during pass_test .*: the emulator.s, tcg-host-rip: Kernel panic" &&
	last_is "1 passed, 0 failed, 1 skipped"'
rt FAKE_VM_AT=pass FAKE_VM_END=die FAKE_VM_ONCE="$T/once-emu2" \
	FAKE_VM_CONSOLE="Kernel panic - not syncing: corrupted stack end detected inside scheduler" \
	--kernel debian-6.12 -t pass
check "the same death where the emulator is not TCG: a failure" eval 'rc_is 1 && has "^# pass_test +FAIL"'
rt FAKE_VM_TCG=1 FAKE_VM_AT=skip FAKE_VM_END=hang FAKE_VM_ONCE="$T/once-lockup" \
	FAKE_VM_CONSOLE="watchdog: BUG: soft lockup - CPU#1 stuck for 104s! [apicv_inhibit_c:204]" \
	--kernel debian-6.1 --param kvm_amd.force_avic=1 -t pass -t skip
check "6.1 force_avic churn lockup under TCG: the emulator's, rerun" eval 'rc_is 0 &&
	has "the emulator.s, tcg-force-avic-lockup: watchdog: BUG: soft lockup" &&
	last_is "1 passed, 0 failed, 1 skipped"'
rt FAKE_VM_TCG=1 FAKE_VM_AT=skip FAKE_VM_END=hang FAKE_VM_ONCE="$T/once-lockup2" \
	FAKE_VM_CONSOLE="watchdog: BUG: soft lockup - CPU#1 stuck for 104s! [apicv_inhibit_c:204]" \
	--kernel debian-6.1 -t pass -t skip
check "the same lockup without force_avic: a failure" eval 'rc_is 1 && has "^# skip_test +FAIL"'
rt FAKE_VM_TCG=1 FAKE_VM_AT=pass FAKE_VM_END=die FAKE_VM_ONCE="$T/once-rip" \
	FAKE_VM_CONSOLE="=# # the failure above follows an emulator fault: host RIP (fake)|BUG: unable to handle page fault for address: 0000000000001234" \
	--kernel debian-6.12 -t pass
check "L1 dies after the harness saw an emulator fault: the emulator's, rerun" eval 'rc_is 0 &&
	has "the emulator.s, tcg-host-rip: after the harness saw the emulator fault" &&
	last_is "1 passed, 0 failed, 0 skipped"'
rt FAKE_VM_AT=pass FAKE_VM_CONSOLE="------------[ cut here ]------------|WARNING: CPU: 1 PID: 200 at arch/x86/kvm/lapic.c:123 kvm_fake+0x1/0x2 [kvm]|Call Trace:" \
	--kernel debian-6.12 -t pass -t skip
check "a WARN on the L1 console fails the binary that ran, and only it" eval 'rc_is 1 &&
	has "^# # kernel debian-6.12: L1 console during pass_test \(fails it\):$" &&
	has "^# #   \[ +32\.000002\] WARNING: CPU: 1 PID: 200" && has "^# skip_test +skip" &&
	has "^# pass_test +FAIL" && last_is "0 passed, 1 failed, 1 skipped"'
# An RCU stall whose dump shows the CPU that waits for a vCPU's CPU
# (include/emu_signatures.def: tcg-ipi-wait), as 6.1 logged it in CI.
STALL="rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:|rcu: 0-...0: (1 GPs behind) idle=af2c|(detected by 1, t=5253 jiffies, g=3333, q=5 ncpus=2)|CPU: 1 PID: 789 Comm: apicv_inhibit_c Not tainted 6.1.0-57-amd64|RIP: 0010:smp_call_function_many_cond+0xf1/0x330|RSP: 0000:ffffc900017c3c98 EFLAGS: 00010202"
rt FAKE_VM_TCG=1 FAKE_VM_AT=pass FAKE_VM_CONSOLE="$STALL" --kernel debian-6.1 -t pass -t skip
check "an RCU stall whose dump has an emulator signature under TCG: the emulator's, no failure" eval 'rc_is 0 &&
	has "^# # kernel debian-6.1: L1 console during pass_test: the emulator.s \(tcg-ipi-wait\): RIP: 0010:smp_call_function_many_cond" &&
	hasnt "L1 console during pass_test \(fails it\)" && last_is "1 passed, 0 failed, 1 skipped"'
rt FAKE_VM_AT=pass FAKE_VM_CONSOLE="$STALL" --kernel debian-6.1 -t pass -t skip
check "the same stall where the emulator is not TCG: a failure" eval 'rc_is 1 &&
	has "^# # kernel debian-6.1: L1 console during pass_test \(fails it\):$" && has "^# pass_test +FAIL"'
FILL=$(i=0; while [ $i -lt "$EMU_SIGNATURE_LINES" ]; do printf "|rcu: filler %d" $i; i=$((i + 1)); done)
rt FAKE_VM_TCG=1 FAKE_VM_AT=pass \
	FAKE_VM_CONSOLE="rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:$FILL|RIP: 0010:smp_call_function_many_cond+0xf1/0x330" \
	--kernel debian-6.1 -t pass
check "a signature more than EMU_SIGNATURE_LINES lines after the stall explains nothing" eval 'rc_is 1 &&
	has "^# # kernel debian-6.1: L1 console during pass_test \(fails it\):$" && has "^# pass_test +FAIL"'
# The inner runner's judgement of a binary's dmesg slice (slice_emulator),
# run_tests.sh sourced as scripts/kernel-run sources it.
slice_sig() {	# CPU-MODEL SLICE-LINES ("|" between them)
	printf '%s\n' "$2" | tr '|' '\n' | awk '{ printf "[ %4d.%06d] %s\n", 40, NR, $0 }' >"$T/slice"
	(
		# shellcheck disable=SC2034 # both read by run_tests.sh
		RUNNER_LIB_DIR=$REPO
		# shellcheck source=../../run_tests.sh
		. "$REPO/run_tests.sh"
		# shellcheck disable=SC2034
		TREE_DIR=$B
		load_build_env
		SLICE_CPU=$1
		cpu_model() { echo "$SLICE_CPU"; }
		slice_emulator "$T/slice"
	)
}
check "dmesg slice: an RCU stall with its signature under TCG is the emulator's" \
	test "$(slice_sig "QEMU TCG CPU version 2.5+" "$STALL")" = tcg-ipi-wait
check "dmesg slice: the same stall on other hardware is not" \
	test -z "$(slice_sig "AMD EPYC 7763 64-Core Processor" "$STALL")"
check "dmesg slice: a signature past EMU_SIGNATURE_LINES explains nothing" \
	test -z "$(slice_sig "QEMU TCG CPU version 2.5+" "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:$FILL|RIP: 0010:smp_call_function_many_cond+0xf1/0x330")"
check "dmesg slice: a KVM WARN is not the emulator's" \
	test -z "$(slice_sig "QEMU TCG CPU version 2.5+" "WARNING: CPU: 1 PID: 200 at arch/x86/kvm/lapic.c:123 kvm_fake+0x1/0x2 [kvm]|RIP: 0010:kvm_fake+0x1/0x2 [kvm]")"
check "one emulator signature list: kernel-run and run_tests.sh spell none, they read include/emu_signatures.def" eval '
	! grep -q "^EMU_SIGNATURES=." "$REPO/scripts/kernel-run" "$REPO/run_tests.sh" &&
	! grep -q "smp_call_function_many_cond\|corrupted stack end" "$REPO/scripts/kernel-run" "$REPO/run_tests.sh" &&
	test "$(grep -c "^EMU_SIGNATURE(\"" "$REPO/include/emu_signatures.def")" -ge 4'
check "one kernel-log pattern list: run_tests.sh spells none, it reads include/kmsg_patterns.def" eval '
	! grep -q "^KMSG_RE=.WARNING" "$REPO/run_tests.sh" &&
	test "$(grep -c "^KMSG_PATTERN(\"" "$REPO/include/kmsg_patterns.def")" -gt 10'
# A tree whose kmsg_patterns.def (next to run_tests.sh, as staged and
# installed) has a pattern of its own: the console scan on the host and
# the runner inside the booted kernel both read it.
K=$T/kmsg-tree
mkdir -p "$K/scripts"
cp "$REPO/run_tests.sh" "$K/"
cp "$REPO/scripts/kernel-run" "$K/scripts/"
cp "$REPO/scripts/apicv_results.py" "$K/scripts/"
{ cat "$REPO/include/kmsg_patterns.def"; echo 'KMSG_PATTERN("FAKE REPORT:")'; } >"$K/kmsg_patterns.def"
cp "$REPO/include/emu_signatures.def" "$K/"
RC=0
env OUTPUT="$B" FAKE_VM_AT=pass FAKE_VM_CONSOLE="FAKE REPORT: from runner_test" \
	dash "$K/run_tests.sh" --kernel debian-6.12 -t pass -t skip >"$T/out" 2>"$T/err" </dev/null || RC=$?
check "a pattern added to kmsg_patterns.def fails the binary whose console shows it" eval 'rc_is 1 &&
	has "^# # kernel debian-6.12: L1 console during pass_test \(fails it\):$" &&
	has "^# pass_test +FAIL" && has "^# skip_test +skip"'
# Only here: the counts checked elsewhere know nothing of it.
cp "$CHECK/fake_test.sh" "$B/x86/envfault_test"
: >"$FAKE_VM_LOG"
rt FAKE_ENVFAULT_ONCE="$T/envfault" --kernel debian-6.1 -t envfault -t pass
check "emulator fault: a fresh kernel runs that binary again, then the rest" eval 'rc_is 0 &&
	has "^# # runner: envfault_test ended on an emulator fault: stopping here" &&
	has "^# # kernel debian-6.1: an emulator fault during envfault_test:fix.alpha; booting a fresh kernel" &&
	has "^# ok 1 envfault_test$" && has "^# ok 2 pass_test$" &&
	has "^# booted again after: debian-6.1: an emulator fault during envfault_test:fix.alpha$" &&
	test "$(wc -l <"$FAKE_VM_LOG")" -ge 2 && last_is "2 passed, 0 failed, 0 skipped"'
: >"$FAKE_VM_LOG"
rt FAKE_ENVFAULT=always --kernel debian-6.1 -t envfault -t pass
check "emulator fault in every fresh kernel: a failure after EMU_REBOOTS_IN_A_ROW + 1 runs" eval 'rc_is 1 &&
	test "$(grep -c "^# # runner: envfault_test ended on an emulator fault" "$T/out")" = $((EMU_REBOOTS_IN_A_ROW + 1)) &&
	has "envfault_test +FAIL"'
check "emulator fault in every fresh kernel: results.json says why" python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["runs"][0]["tests"]
r = [x["reason"] for x in t if x["name"] == "envfault_test"]
assert r and "emulator fault in every fresh kernel" in r[0], r' "$(run_dir)/results.json"
rt FAKE_ENVFAULT=walk FAKE_ENVFAULT_ONCE="$T/envwalk" --kernel debian-6.1 -t envfault
check "emulator faults in two subtests by turns: twelve fresh kernels, then a pass" eval 'rc_is 0 &&
	test "$(grep -c "an emulator fault during envfault_test:fix.beta; booting" "$T/out")" = 6 &&
	test "$(cat "$T/envwalk")" = 13 && last_is "1 passed, 0 failed, 0 skipped"'
rt FAKE_ENVFAULT=always --kernel debian-6.1 -j 2 -t envfault -t pass
check "-j 2 in a booted kernel: no fault reboots (they rerun in place)" eval 'rc_is 0 &&
	hasnt "emulator fault" && last_is "2 passed, 0 failed, 0 skipped"'
rt FAKE_ENVFAULT=always --host -t envfault
check "emulator fault without a runner that reboots: an ordinary pass" eval 'rc_is 0 &&
	hasnt "emulator fault"'
cp "$B/emulator.env" "$T/emulator.env.keep"
sed -i 's/^EMU_REBOOTS_IN_A_ROW=.*/EMU_REBOOTS_IN_A_ROW=2/; s/^EMU_FAULT_EXIT=.*/EMU_FAULT_EXIT=99/' "$B/emulator.env"
rt FAKE_ENVFAULT=always --kernel debian-6.1 -t envfault
check "the fault exit and the reboot budget are the build's emulator.env" eval 'rc_is 1 &&
	test "$(grep -c "^# # runner: envfault_test ended on an emulator fault" "$T/out")" = 3'
cp "$T/emulator.env.keep" "$B/emulator.env"
rm -f "$B/x86/envfault_test"
rt FAKE_VM=die --kernel debian-6.1 -t pass -t hang -o 1 --bisect --junit "$T/junit-die.xml"
check "--bisect, kernel dies during a test: 1, that test named" eval 'rc_is 1 &&
	has "^# hang_test +FAIL"'
check "kernel dies: JUnit fails that test and reports the ones never run" python3 -c '
import sys, xml.etree.ElementTree as ET
s = {x.get("name"): x for x in ET.parse(sys.argv[1]).getroot()}
f = s["debian-6.1/hang_test"].find("testcase/failure")
assert "no result" in f.get("message"), f.get("message")
e = s["debian-6.1/missing"].find("testcase/error")
assert "1 of 2 tests have no result" in e.get("message"), e.get("message")' "$T/junit-die.xml"
rt APICV_VM="$T/no-vm" -t pass --kernel debian-6.1
check "no scripts/vm: exit 2" eval 'rc_is 2 && err_has "cannot boot a kernel"'
unset APICV_VM

# ---- library self-tests (libtest/) ---------------------------------------------
mkdir -p "$B/libtest"
cp "$CHECK/fake_test.sh" "$B/libtest/selfcheck_test"
chmod +x "$B/libtest/selfcheck_test"
rt --host -t pass -t selfcheck
check "libtest: run first, named libtest/NAME" eval 'rc_is 0 &&
	has "^# selftests: apicv: libtest/selfcheck_test$" &&
	has "^ok 1 libtest/selfcheck_test$" && has "^ok 2 pass_test$"'
check "libtest: a summary line apart from KVM conformance" eval '
	has "^# library self-tests: 1 passed, 0 failed, 0 skipped$" &&
	has "^# KVM conformance: 1 passed, 0 failed, 0 skipped$" && last_is "2 passed, 0 failed, 0 skipped"'
check "libtest: its log and results.json row" eval '
	test -s "$(run_dir)/libtest/selfcheck_test.log" &&
	grep -q "\"libtest/selfcheck_test\"" "$(run_dir)/results.json"'
rt --host -t pass
check "no libtest selected: no split summary" hasnt '^# library self-tests'
rt -l -t libtest/selfcheck_test:*beta
check "libtest: -t libtest/NAME:SUBTEST selects it" \
	test "$(tr '\n' ' ' <"$T/out")" = "libtest/selfcheck_test libtest/selfcheck_test:fix.beta "
rt --host --negative -t selfcheck_test
check "libtest: --negative runs its controls" eval '
	has "^ok 1 negative:libtest/selfcheck_test:drop_one # expected failure seen$" &&
	test -s "$(run_dir)/negative/libtest/selfcheck_test.drop_one.log" &&
	grep -q "^selfcheck_test t=\[fix.alpha\] fault=drop_one " "$FAKE_LOG"'
rt APICV_VM="$CHECK/fake_vm.sh" --kernel debian-6.1 -t selfcheck -t pass
check "libtest: staged into the booted kernel and run there" eval 'rc_is 0 &&
	has "^# ok 1 libtest/selfcheck_test$" && has "^# library self-tests: 1 passed" &&
	grep -q "^selfcheck_test .*invm=1" "$FAKE_LOG"'
mv "$B/emulator.env" "$T/emulator.env.keep"
rt --host -t pass
check "no emulator.env in the build tree: exit 2 naming make" eval 'rc_is 2 && err_has "emulator.env: run .make."'
mv "$T/emulator.env.keep" "$B/emulator.env"

# ---- install --------------------------------------------------------------------
I=$T/install
RC=0
"$REPO/scripts/install.sh" "$I" "$B" >"$T/out" 2>&1 || RC=$?
check "install: exit 0" rc_is 0
check "install: kselftest layout" test -x "$I/apicv/run_tests.sh" -a -x "$I/apicv/x86/pass_test" \
	-a -x "$I/run_kselftest.sh" -a -f "$I/apicv/VERSION"
check "install: kselftest-list.txt" test "$(grep -c '^apicv:x86/[a-z]*_test$' "$I/kselftest-list.txt")" = 8
check "install: library self-tests, emulator.env, kmsg_patterns.def" eval '
	test -x "$I/apicv/libtest/selfcheck_test" -a -f "$I/apicv/emulator.env" -a -f "$I/apicv/kmsg_patterns.def" &&
	grep -qx "apicv:libtest/selfcheck_test" "$I/kselftest-list.txt"'
RC=0
"$I/run_kselftest.sh" -t apicv:x86/pass_test -t apicv:x86/skip_test >"$T/out" 2>&1 || RC=$?
check "run_kselftest.sh -t: KTAP, pass and skip" eval 'rc_is 0 && has "^1\.\.2$" &&
	has "^ok 1 selftests: apicv: x86/pass_test$" && has "^ok 2 selftests: apicv: x86/skip_test # SKIP$"'
RC=0
busybox sh "$I/run_kselftest.sh" -s -o 1 -t apicv:x86/hang_test -t apicv:x86/fail_test >"$T/out" 2>&1 || RC=$?
check "run_kselftest.sh -s (busybox sh): summary lines, TIMEOUT, output.log" eval 'rc_is 1 &&
	has "^not ok 1 selftests: apicv: x86/fail_test # exit=1$" &&
	has "^not ok 2 selftests: apicv: x86/hang_test # TIMEOUT 1 seconds$" && hasnt "^# " &&
	grep -q "hang line 25" "$I/output.log"'
RC=0
"$I/run_kselftest.sh" -l >"$T/out" 2>&1 || RC=$?
check "run_kselftest.sh -l" eval 'rc_is 0 && has "^apicv:x86/warn_test$"'
RC=0
env -u OUTPUT busybox sh "$I/apicv/run_tests.sh" --host -t pass >"$T/out" 2>&1 || RC=$?
check "installed run_tests.sh finds ./x86 next to it" eval 'rc_is 0 && has "^ok 1 pass_test$"'
RC=0
env -u OUTPUT busybox sh "$I/apicv/run_tests.sh" --host -t selfcheck >"$T/out" 2>&1 || RC=$?
check "installed run_tests.sh runs the library self-tests, results.json too" eval 'rc_is 0 &&
	has "^ok 1 libtest/selfcheck_test$" && grep -q selfcheck_test "$(run_dir)/results.json"'
I2=$T/kernel-tree
mkdir -p "$I2"
printf '#!/bin/sh\necho kernel runner\n' >"$I2/run_kselftest.sh"
echo "net:fake" >"$I2/kselftest-list.txt"
"$REPO/scripts/install.sh" "$I2" "$B" >/dev/null 2>&1
check "install into a kernel kselftest tree keeps its runner and list" eval '
	grep -q "kernel runner" "$I2/run_kselftest.sh" && grep -qx "net:fake" "$I2/kselftest-list.txt" &&
	grep -qx "apicv:x86/pass_test" "$I2/kselftest-list.txt"'
RC=0
"$REPO/scripts/install.sh" "$T/x" "$T/nowhere" >/dev/null 2>"$T/err" || RC=$?
check "install without binaries: exit 2 naming the fix" eval 'rc_is 2 && err_has "run .make. first"'

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
