#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/install.sh INSTALL_PATH [OUTPUT]
#
# Installs the suite as a kselftest collection named "apicv", laid out as
# the kernel's `make -C tools/testing/selftests install` lays out its own:
#   INSTALL_PATH/apicv/run_tests.sh, settings, config, VERSION, x86/*_test,
#     libtest/*_test (the library's self-tests), emulator.env,
#     kmsg_patterns.def, emu_signatures.def, scripts/apicv_results.py,
#     scripts/kernel-run
#   INSTALL_PATH/kselftest-list.txt   "apicv:x86/NAME_test" and
#     "apicv:libtest/NAME_test" lines
#   INSTALL_PATH/run_kselftest.sh     runs the listed tests, KTAP output
# Installing into an existing kselftest tree keeps its run_kselftest.sh and
# replaces only the apicv: lines of its list.  OUTPUT (default $OUTPUT or
# ./build) holds the built binaries.  Called by `make install`.
set -eu

PROG=install.sh
REPO=$(cd "$(dirname "$0")/.." && pwd)

die() {
	echo "$PROG: $*" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	die "usage: scripts/install.sh INSTALL_PATH [OUTPUT]  (make install INSTALL_PATH=DIR)"
fi
DEST=$1
OUT=${2:-${OUTPUT:-$REPO/build}}

shopt -s nullglob
BINS=("$OUT"/x86/*_test)
LIBTESTS=("$OUT"/libtest/*_test)
[ ${#BINS[@]} -gt 0 ] || die "no test binaries in $OUT/x86: run 'make' first"
for b in "${BINS[@]}" "${LIBTESTS[@]}"; do
	[ -x "$b" ] || die "$b is not executable: rebuild with 'make'"
done
[ -f "$REPO/run_tests.sh" ] || die "$REPO/run_tests.sh missing"
[ -f "$OUT/emulator.env" ] || die "no $OUT/emulator.env: run 'make' first"

COL=$DEST/apicv
mkdir -p "$COL/x86" "$COL/libtest" "$COL/scripts" || die "cannot create $COL"
install -m 0755 "$REPO/run_tests.sh" "$COL/run_tests.sh"
# What the runner reads next to it: the emulator's exit codes and budgets,
# the kernel-log report patterns and emulator signatures, the module that
# writes results.json, and kernel-run (it refuses to boot kernels here: no
# scripts/vm).
install -m 0644 "$OUT/emulator.env" "$REPO/include/kmsg_patterns.def" \
	"$REPO/include/emu_signatures.def" "$COL/"
install -m 0755 "$REPO/scripts/kernel-run" "$COL/scripts/kernel-run"
install -m 0644 "$REPO/scripts/apicv_results.py" "$COL/scripts/apicv_results.py"
for f in settings config; do
	if [ -f "$REPO/$f" ]; then
		install -m 0644 "$REPO/$f" "$COL/$f"
	else
		echo "$PROG: warning: no $f in $REPO; the installed tree has none" >&2
	fi
done
version=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
echo "$version" >"$COL/VERSION"
rm -f "$COL"/x86/*_test "$COL"/libtest/*_test
for b in "${BINS[@]}"; do
	install -m 0755 "$b" "$COL/x86/"
done
for b in "${LIBTESTS[@]}"; do
	install -m 0755 "$b" "$COL/libtest/"
done

# The list: other collections' lines stay, ours are replaced.
LIST=$DEST/kselftest-list.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [ -f "$LIST" ]; then
	grep -v '^apicv:' "$LIST" >"$tmp" || :
fi
for b in "${LIBTESTS[@]}"; do
	echo "apicv:libtest/${b##*/}" >>"$tmp"
done
for b in "${BINS[@]}"; do
	echo "apicv:x86/${b##*/}" >>"$tmp"
done
install -m 0644 "$tmp" "$LIST"

RUNNER=$DEST/run_kselftest.sh
if [ -f "$RUNNER" ] && ! grep -q 'apicv-selftests' "$RUNNER"; then
	echo "$PROG: keeping the existing $RUNNER (a kernel kselftest tree)"
else
	cat >"$RUNNER" <<'EOF'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_kselftest.sh: runs the tests listed in kselftest-list.txt
# ("collection:test" lines) the way the kernel's kselftest runner does:
# each test from its collection directory, in its own session, with the
# collection's timeout (settings: timeout=N, default 45), KTAP on stdout.  Written by
# apicv-selftests' scripts/install.sh.
set -u
BASE_DIR=$(cd "$(dirname "$0")" && pwd)
LIST=$BASE_DIR/kselftest-list.txt

usage() {
	cat <<USAGE
Usage: $0 [options]
  -s | --summary            print only the result lines (full output in
                            output.log next to this script, or in /tmp)
  -t | --test COLLECTION:TEST   run this test (repeatable)
  -c | --collection NAME    run this collection's tests (repeatable)
  -l | --list               list the available COLLECTION:TEST names
  -o | --override-timeout N   timeout per test in seconds
  -h | --help               this text
USAGE
}

SUMMARY=0 TESTS= COLLECTIONS= OVERRIDE=
while [ $# -gt 0 ]; do
	case $1 in
	-s|--summary) SUMMARY=1 ;;
	-t|--test) [ $# -ge 2 ] || { usage >&2; exit 2; }; TESTS="$TESTS $2"; shift ;;
	-c|--collection) [ $# -ge 2 ] || { usage >&2; exit 2; }; COLLECTIONS="$COLLECTIONS $2"; shift ;;
	-l|--list) cat "$LIST"; exit 0 ;;
	-o|--override-timeout) [ $# -ge 2 ] || { usage >&2; exit 2; }; OVERRIDE=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ -f "$LIST" ] || { echo "$0: $LIST missing" >&2; exit 2; }

selected() {
	[ -z "$TESTS$COLLECTIONS" ] && return 0
	for s in $TESTS; do
		[ "$s" = "$1" ] && return 0
	done
	for c in $COLLECTIONS; do
		[ "$c" = "${1%%:*}" ] && return 0
	done
	return 1
}

todo=
for t in $(cat "$LIST"); do
	if selected "$t"; then
		todo="$todo $t"
	fi
done
for s in $TESTS; do
	case " $todo " in
	*" $s "*) ;;
	*) echo "$0: no test $s in $LIST (see -l)" >&2; exit 2 ;;
	esac
done

LOG=/dev/null
if [ "$SUMMARY" = 1 ]; then
	LOG=$BASE_DIR/output.log
	: 2>/dev/null >"$LOG" || LOG=${TMPDIR:-/tmp}/kselftest-output.log
	: >"$LOG"
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
total=$(echo $todo | wc -w)
echo "TAP version 13"
echo "1..$total"
failed=0
for t in $todo; do
	n=$((n + 1))
	col=${t%%:*}
	test=${t#*:}
	name="selftests: $col: $test"
	limit=45
	if [ -f "$BASE_DIR/$col/settings" ]; then
		v=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$BASE_DIR/$col/settings" | tail -n 1)
		[ -n "$v" ] && limit=$v
	fi
	[ -n "$OVERRIDE" ] && limit=$OVERRIDE
	echo "# $name" | if [ "$SUMMARY" = 1 ]; then cat >>"$LOG"; else cat; fi
	if [ ! -x "$BASE_DIR/$col/$test" ]; then
		echo "not ok $n $name # not executable or missing"
		failed=1
		continue
	fi
	# Its own session, so a timeout or its end kills every process it
	# started (and none keeps the output pipe open).
	rm -f "$tmp/timedout"
	{
		cd "$BASE_DIR/$col" || { echo 1 >"$tmp/rc"; exit 0; }
		setsid "./$test" </dev/null 2>&1 &
		pid=$!
		setsid sh -c 'sleep "$1"; : >"$2"; kill -TERM -"$3"; sleep 5; kill -KILL -"$3"' \
			watchdog "$limit" "$tmp/timedout" "$pid" >/dev/null 2>&1 </dev/null &
		wd=$!
		rc=0
		wait "$pid" || rc=$?
		kill -TERM -"$wd" 2>/dev/null
		kill -TERM "$wd" 2>/dev/null
		kill -KILL -"$pid" 2>/dev/null
		echo "$rc" >"$tmp/rc"
	} 2>&1 | awk '{ print "# " $0; fflush() }' |
	if [ "$SUMMARY" = 1 ]; then cat >>"$LOG"; else cat; fi
	rc=$(cat "$tmp/rc")
	if [ -e "$tmp/timedout" ]; then
		echo "not ok $n $name # TIMEOUT $limit seconds"
		failed=1
	elif [ "$rc" = 0 ]; then
		echo "ok $n $name"
	elif [ "$rc" = 4 ]; then
		echo "ok $n $name # SKIP"
	else
		echo "not ok $n $name # exit=$rc"
		failed=1
	fi
done
exit $failed
EOF
	chmod 0755 "$RUNNER"
fi
echo "$PROG: installed ${#BINS[@]} tests into $COL ($version)"
