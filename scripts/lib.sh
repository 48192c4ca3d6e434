# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers shared by scripts/setup, scripts/fetch-kernel, scripts/vm and
# scripts/vm-bochs. Bash; source it, do not run it.

APICV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APICV_CACHE=${APICV_CACHE:-$HOME/.cache/apicv-selftests}
PROG=${0##*/}
# Any apt-get that downloads into the cache: no _apt sandbox (it could not
# write there), no translations.
APT_OPTS=(-q -o "APT::Sandbox::User=$(id -un)" -o Acquire::Languages=none)

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit "${DIE_STATUS:-1}"; }
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# as_root CMD...: run CMD as root, through sudo when we are not root.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "'$*' needs root: run it as root or install sudo"
	fi
}

# shq STR: STR single-quoted for any POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# ---- Kernels -------------------------------------------------------------

# The kernel shorthands, for messages.
KERNEL_NAMES='debian-6.1, debian-6.12 or debian-unstable'

# kernel_pattern NAME: regex of the image packages behind a shorthand.
kernel_pattern() {
	case $1 in
	debian-6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	debian-6.12) echo '^linux-image-6\.12\.[0-9]+\+[a-z0-9]+-amd64$' ;;
	# Whatever version unstable has: 7.2.13+deb14-amd64 today.
	debian-unstable) echo '^linux-image-[0-9]+\.[0-9]+\.[0-9]+(\+[a-z0-9]+|-[0-9]+)-amd64$' ;;
	*) return 1 ;;
	esac
}

# debian_uri: the archive URI the system's apt sources use for its release.
debian_uri() {
	local rel
	rel=$(. /etc/os-release && echo "$VERSION_CODENAME")
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	    /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v rel="$rel" '
		function flush() { if (uri != "" && hit) { print uri; uri = ""; exit } uri = ""; hit = 0 }
		/^[ \t]*$/ { flush(); next }
		$1 == "URIs:" { uri = $2 }
		$1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == rel) hit = 1 }
		$1 == "deb" { sub(/\[[^]]*\]/, ""); if ($3 == rel) { uri = $2; hit = 1; flush() } }
		END { flush() }'
}

# apt_private SUITE CMD ARGS...: apt-get/apt-cache on a private source list
# holding SUITE of the system's archive (bookworm-backports, unstable),
# with private state in $APICV_CACHE/apt-SUITE, so the system's apt
# configuration and lists stay untouched. Nothing is installed from it.
apt_private() {
	local d=$APICV_CACHE/apt-$1 cmd=$2
	shift 2
	"$cmd" "${APT_OPTS[@]}" -o Dir::Etc::sourcelist="$d/sources.list" \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists="$d/lists" \
		-o Dir::Cache="$d/cache" "$@"
}

# apt_private_update SUITE: write SUITE's private source list and fetch its
# package lists.
apt_private_update() {
	local suite=$1 d=$APICV_CACHE/apt-$1 uri
	uri=$(debian_uri)
	[ -n "$uri" ] || die "no Debian archive in /etc/apt/sources*: add the release's main suite there"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	echo "deb $uri $suite main" >"$d/sources.list"
	apt_private "$suite" apt-get update -qq >/dev/null || die "apt-get update of $suite ($uri) failed"
}

# Where the KVM modules and their dependencies live in Debian's packages.
KVM_MODULE_DIRS=(arch/x86/kvm virt drivers/crypto/ccp)

# newest_image CACHE... -- PATTERN: the newest image package matching
# PATTERN that CACHE (apt-cache, or apt_private SUITE apt-cache) knows.
newest_image() {
	local -a cache=()
	while [ "$1" != -- ]; do cache+=("$1"); shift; done
	"${cache[@]}" pkgnames linux-image- | grep -E "$2" | sort -V | tail -n 1
}

# fetch_kernel NAME: download and extract a shorthand's kernel once; print
# its directory: vmlinuz, vmlinux (its ELF), version ("PACKAGE VERSION
# RELEASE"), and modules/, a module tree holding modules.dep,
# modules.builtin and the KVM modules (uncompressed).
# Two layouts of Debian's kernel packages: up to 6.12 linux-image-ABI holds
# everything (/boot/vmlinuz-ABI, /lib/modules/ABI/); later (unstable's 7.x)
# it is a metapackage depending on linux-binary-ABI (vmlinuz in
# /usr/lib/modules/ABI/), linux-modules-ABI (the modules) and linux-base-ABI
# (modules.builtin), all of its version. Either way the image package and
# those of its dependencies named linux-*-ABI are fetched.
fetch_kernel() {
	local name=$1 dir=$APICV_CACHE/kernels/$1 pat pkg ver abi tmp deb d f
	local suite='' where="the system's apt sources" rel dep n v have
	local -a apt=(apt-get "${APT_OPTS[@]}") cache=(apt-cache) pkgs=() globs=()
	[ -f "$dir/version" ] && { echo "$dir"; return; }
	pat=$(kernel_pattern "$name") || die "unknown kernel '$name' ($KERNEL_NAMES, or an image path)"
	case $name in
	# Always from unstable itself, whatever the system's sources hold.
	debian-unstable) suite=unstable ;;
	*)
		# The system's sources first; bookworm had 6.12 only in backports.
		pkg=$(newest_image "${cache[@]}" -- "$pat")
		if [ -z "$pkg" ] && [ "$name" = debian-6.12 ]; then
			rel=$(. /etc/os-release && echo "$VERSION_CODENAME")
			suite=$rel-backports
		fi ;;
	esac
	if [ -n "$suite" ]; then
		apt_private_update "$suite"
		apt=(apt_private "$suite" apt-get) cache=(apt_private "$suite" apt-cache)
		where="$suite (private list $APICV_CACHE/apt-$suite)"
		pkg=$(newest_image "${cache[@]}" -- "$pat")
	fi
	if [ -z "$pkg" ]; then
		[ -n "$suite" ] || die "no package in $where matches $pat: run 'apt-get update'"
		die "no package in $where matches $pat"
	fi
	ver=$("${cache[@]}" show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$ver" ] || die "$pkg has no version to download in $where"
	abi=${pkg#linux-image-}
	pkgs=("$pkg=$ver")
	# The split layout: its linux-*-ABI dependencies, at their versions.
	while read -r dep; do
		n=${dep%% *} v=
		[[ $n == linux-*-"$abi" ]] || continue
		[[ $dep =~ \(=\ ([^\)]+)\) ]] && v=${BASH_REMATCH[1]}
		have=$("${cache[@]}" show "$n" 2>/dev/null | sed -n 's/^Version: //p' | xargs)
		[ -n "$have" ] || die "$pkg $ver depends on $n, which $where does not have"
		if [ -n "$v" ]; then
			case " $have " in
			*" $v "*) ;;
			*) die "$pkg $ver depends on $n (= $v), which $where has only in version $have" ;;
			esac
			pkgs+=("$n=$v")
		else
			pkgs+=("$n")
		fi
	done < <("${cache[@]}" show --no-all-versions "$pkg" |
		sed -n 's/^Depends: //p' | tr ',' '\n' | grep -v '|' | sed 's/^ *//')
	mkdir -p "$APICV_CACHE/kernels"
	tmp=$(mktemp -d "$APICV_CACHE/kernels/.$name.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	note "fetching ${pkgs[*]} from $where"
	mkdir "$tmp/debs" "$tmp/x" "$tmp/out"
	(cd "$tmp/debs" && "${apt[@]}" download "${pkgs[@]}" >/dev/null) ||
		die "apt-get download ${pkgs[*]} from $where failed"
	for d in "${KVM_MODULE_DIRS[@]}"; do globs+=("*/kernel/$d/*"); done
	for deb in "$tmp"/debs/*.deb; do
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards \
			'./boot/vmlinuz-*' '*/modules/*/vmlinuz' '*/modules/*/modules.builtin' \
			"${globs[@]}" 2>/dev/null || :
	done
	pkgs=("${pkgs[@]%=*}")
	f=$(find "$tmp/x" -path '*/boot/vmlinuz-*' -o -path '*/modules/*/vmlinuz' | head -n 1)
	[ -n "$f" ] || die "no vmlinuz in ${pkgs[*]} (looked for /boot/vmlinuz-* of linux-image-$abi and /usr/lib/modules/$abi/vmlinuz of linux-binary-$abi)"
	mv "$f" "$tmp/out/vmlinuz"
	vmlinux_of "$tmp/out/vmlinuz" "$tmp/out/vmlinux" || rm -f "$tmp/out/vmlinux"
	f=$(find "$tmp/x" -path '*/modules/*/modules.builtin' | head -n 1)
	[ -n "$f" ] || die "no modules.builtin in ${pkgs[*]} (looked for lib/modules/$abi/modules.builtin of linux-image-$abi or linux-base-$abi)"
	d=${f%/*}
	MODULES_FROM="${pkgs[*]}" copy_modules "$d" "$tmp/out/modules" kvm-amd kvm-intel
	echo "$pkg $ver ${d##*/}" >"$tmp/out/version"
	mv -T "$tmp/out" "$dir" 2>/dev/null || : # on a lost race keep the other
	rm -rf "$tmp"
	trap - EXIT
	echo "$dir"
}

# vmlinux_of BZIMAGE OUT: unpack the ELF kernel inside BZIMAGE. QEMU boots
# it through PVH, which skips the decompression (3 s under TCG).
vmlinux_of() {
	local m off
	for m in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
		off=$(LC_ALL=C grep -obUaP "${m#*:}" "$1" | head -n 1 | cut -d: -f1)
		[ -n "$off" ] || continue
		tail -c +$((off + 1)) "$1" | "${m%%:*}" -dc >"$2" 2>/dev/null
		[ "$(head -c 4 "$2")" = $'\x7fELF' ] && return
	done
	return 1
}

# ko_cat FILE: a module's contents, decompressed.
ko_cat() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# copy_modules SRC DST MODULE...: copy MODULE... and what they depend on
# (from their .modinfo) from the module tree SRC (no modules.dep needed) to
# DST, uncompressed, and write DST/modules.dep. MODULES_FROM names where SRC
# came from, for the error message.
copy_modules() {
	local src=$1 dst=$2 f n d
	local -A file=() deps=()
	local -a order=()
	shift 2
	while read -r f; do
		n=${f##*/} n=${n%.ko*}
		file[${n//-/_}]=${f#"$src"/}
	done < <(find "$src" -name '*.ko*')
	_visit() {
		local n=${1//-/_} d
		[ -n "${deps[$n]+set}" ] && return
		if [ -z "${file[$n]:-}" ]; then
			grep -qE "/${1//[-_]/[-_]}\.ko" "$src/modules.builtin" && return
			die "module $1 is neither in ${MODULES_FROM:-the package} nor built in (${MODULES_FROM:+their }modules.builtin)"
		fi
		deps[$n]=
		for d in $(ko_cat "$src/${file[$n]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr , ' '); do
			_visit "$d"
			[ -z "${file[${d//-/_}]:-}" ] || deps[$n]+=" ${d//-/_} ${deps[${d//-/_}]}"
		done
		order+=("$n")
	}
	for n; do _visit "$n"; done
	mkdir -p "$dst"
	cp "$src/modules.builtin" "$dst/"
	for n in "${order[@]}"; do
		f=${file[$n]%.ko*}.ko
		mkdir -p "$dst/${f%/*}"
		ko_cat "$src/${file[$n]}" >"$dst/$f"
		# modules.dep: every dependency, the ones to load first last.
		printf '%s:' "$f"
		for d in "${order[@]}"; do
			case " ${deps[$n]} " in *" $d "*) echo "$d" ;; esac
		done | tac | while read -r d; do printf ' %s' "${file[$d]%.ko*}.ko"; done
		echo
	done >"$dst/modules.dep"
}

# module_tree DIR: the module tree in DIR (DIR itself, or DIR/lib/modules/*).
module_tree() {
	local d
	for d in "$1" "$1"/lib/modules/* "$1"/usr/lib/modules/*; do
		[ -f "$d/modules.dep" ] && { echo "$d"; return; }
	done
	return 1
}

# mod_order TREE MODULE...: files (relative to TREE) to insmod, in order, so
# that each MODULE loads; a MODULE built into the kernel needs nothing.
mod_order() {
	local tree=$1 m re line f
	local -A seen=()
	shift
	for m; do
		re="(^|/)${m//[-_]/[-_]}\\.ko[.a-z]*"
		line=$(grep -E "$re:" "$tree/modules.dep" | head -n 1)
		if [ -z "$line" ]; then
			grep -qE "$re\$" "$tree/modules.builtin" 2>/dev/null && continue
			note "$m is neither in $tree/modules.dep nor built in"
			return 1
		fi
		# modules.dep lists every dependency, the ones to load first last.
		# shellcheck disable=SC2086 # one word per dependency
		for f in $(printf '%s\n' ${line#*:} | tac) "${line%%:*}"; do
			[ -n "${seen[$f]:-}" ] && continue
			seen[$f]=1
			echo "$f"
		done
	done
}

# ---- Initramfs -----------------------------------------------------------
# build_initramfs OUT: write a gzip'ed cpio to OUT from these variables:
#   IR_VENDOR    amd|intel (loads kvm-amd or kvm-intel)
#   IR_MODULES   module tree, or empty for a kernel with KVM built in
#   IR_PARAMS    array of MOD.NAME=VALUE
#   IR_SUITE     directory copied to /suite (may be empty)
#   IR_KERNEL    value of APICV_KERNEL inside
#   IR_KERNEL_PACKAGE  optional: value of APICV_KERNEL_PACKAGE inside, the
#                package and version of a shorthand's kernel (its version
#                file), for the runner's header
#   IR_TAG       marker tag (see scripts/vm-init)
#   IR_CMD       array: the command to run
#   IR_E9        optional: tools/e9_console, to send CMD's output through
#                Bochs' port 0xe9 instead of the console (scripts/vm-init)
# Sets IR_CMDLINE to the parameters of modules not loaded by insmod (built
# in), to be put on the kernel command line.
build_initramfs() {
	local out=$1 st f ko p mod params v
	local -a order=()
	st=$(mktemp -d)
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,suite,etc/vm,lib/modules}
	[ -x /bin/busybox ] || die "/bin/busybox missing: run scripts/setup"
	cp /bin/busybox "$st/bin/"
	cp "$APICV_ROOT/scripts/vm-init" "$st/init"
	[ -z "${IR_E9:-}" ] || cp "$IR_E9" "$st/bin/e9_console"
	chmod 755 "$st/init"
	if [ -n "$IR_MODULES" ]; then
		f=$(mod_order "$IR_MODULES" "kvm-$IR_VENDOR") || { rm -rf "$st"; return 1; }
		[ -z "$f" ] || mapfile -t order <<<"$f"
	fi
	IR_CMDLINE=
	local -A used=()
	: >"$st/etc/vm/modules"
	for f in "${order[@]}"; do
		ko=${f##*/}
		ko=${ko%.ko*}.ko mod=${ko%.ko} mod=${mod//-/_} params=
		ko_cat "$IR_MODULES/$f" >"$st/lib/modules/$ko"
		for p in "${IR_PARAMS[@]}"; do
			v=${p%%.*}
			[ "${v//-/_}" = "$mod" ] && params+=" ${p#*.}" && used[$p]=1
		done
		echo "$ko$params" >>"$st/etc/vm/modules"
	done
	for p in "${IR_PARAMS[@]}"; do
		[ -n "${used[$p]:-}" ] || IR_CMDLINE+=" $p"
	done
	{
		for v in $(compgen -e | grep '^APICV_'); do
			echo "export $v=$(shq "${!v}")"
		done
		echo "export APICV_IN_VM=1 APICV_KERNEL=$(shq "$IR_KERNEL")" \
			"APICV_KERNEL_PACKAGE=$(shq "${IR_KERNEL_PACKAGE:-}")"
	} >"$st/etc/vm/env"
	printf 'set --' >"$st/etc/vm/cmd"
	for v in "${IR_CMD[@]}"; do printf ' %s' "$(shq "$v")"; done >>"$st/etc/vm/cmd"
	echo "$IR_TAG" >"$st/etc/vm/tag"
	if { [ -z "$IR_SUITE" ] || cp -a "$IR_SUITE/." "$st/suite/"; } &&
		(cd "$st" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out"; then
		rm -rf "$st"
	else
		rm -rf "$st"
		return 1
	fi
}
