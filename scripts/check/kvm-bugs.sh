#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scripts/check/kvm-bugs.sh [PATCH...]: the suite catches real KVM bugs.
# Each patch in scripts/check/kvm-bugs/ (default: all) is a small,
# realistic bug in Debian 6.1's KVM; its header names the family, the
# binaries that must catch it ("Must fail: A B:SUBTEST-GLOB", run with -t
# as written) and the module parameters they need ("Params: M.P=V ...").
# KVM is built with each patch
# (scripts/kvm-build through run_tests.sh --kvm-patch) and those binaries
# must fail, every one of them; the unpatched build of the same source
# must pass them all, so what fails is the bug, not the build.
# Exit 0 when all of that holds. Logs in $OUTPUT/check/kvm-bugs/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
KERNEL=debian-6.1
OUTPUT=${OUTPUT:-$PWD/build}
LOGS=$OUTPUT/check/kvm-bugs
rm -rf "$LOGS"
mkdir -p "$LOGS"
if [ $# = 0 ]; then set -- scripts/check/kvm-bugs/*.patch; fi

field() { sed -n "s/^$1: //p" "$2" | head -n 1; }

# run LABEL PARAMS TESTS [run_tests.sh options...]: one run, results in
# $LOGS/LABEL; prints run_tests.sh's exit status.
run() {
	local label=$1 params=$2 tests=$3 p t
	local -a args=(--kernel "$KERNEL" --log-dir "$LOGS/$label")
	shift 3
	for p in $params; do args+=(--param "$p"); done
	for t in $tests; do args+=(-t "$t"); done
	./run_tests.sh "${args[@]}" "$@" >"$LOGS/$label.log" 2>&1
	echo $?
}

# statuses LABEL: "NAME STATUS" per binary of that run.
statuses() {
	python3 - "$LOGS/$1/results.json" <<'PY'
import json, sys
try:
    res = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit('no results: %s' % e)
for r in res['runs']:
    for t in r['tests']:
        print(t['name'], t['status'])
PY
}

bad=0
# The unpatched build, once per parameter set the patches name.
mods=$(scripts/kvm-build --kernel "$KERNEL" 2>"$LOGS/build.log") || {
	echo "not ok - the unpatched KVM did not build:"
	tail -n 15 "$LOGS/build.log" | sed 's/^/#   /'
	exit 1
}
# Tests by parameter set ("-": none).
declare -A group=()
for p; do
	key=$(field Params "$p")
	group[${key:--}]+=" $(field 'Must fail' "$p")"
done
n=0
for key in "${!group[@]}"; do
	n=$((n + 1))
	params=${key#-}
	tests=$(echo "${group[$key]}" | tr ' ' '\n' | sort -u | xargs)
	rc=$(run "unpatched-$n" "$params" "$tests" --modules "$mods")
	if [ "$rc" = 0 ]; then
		echo "ok - unpatched KVM build passes ${params:+($params) }$tests"
	else
		echo "not ok - unpatched KVM build ${params:+($params) }exit $rc on $tests:"
		grep -E '^(# )?not ok' "$LOGS/unpatched-$n.log" | head -n 10 | sed 's/^/#   /'
		bad=1
	fi
done

for p; do
	name=$(basename "$p" .patch)
	tests=$(field 'Must fail' "$p")
	params=$(field Params "$p")
	start=$(date +%s)
	rc=$(run "$name" "$params" "$tests" --kvm-patch "$p")
	secs=$(($(date +%s) - start))
	missed=
	# Read once: grep -q closing the pipe early would fail it (pipefail).
	got=$(statuses "$name" 2>/dev/null)
	for t in $tests; do
		grep -qx "${t%%:*} fail" <<<"$got" || missed="$missed $t"
	done
	if [ "$rc" = 1 ] && [ -z "$missed" ]; then
		echo "ok - $name: $tests fail${params:+ ($params)} (${secs} s)"
	else
		echo "not ok - $name: exit $rc, not failing:${missed:- -} (${secs} s; log $LOGS/$name.log)"
		grep -E '^# kernel|cannot test' "$LOGS/$name.log" | head -n 5 | sed 's/^/#   /'
		bad=1
	fi
done
exit $bad
