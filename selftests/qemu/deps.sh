#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build and the QEMU rig need, idempotently. Prints nothing
# and returns at once when everything is already there.
#
#   deps.sh            install whatever is missing
#   deps.sh --kvers    print the kernel releases to test, one per line
#                      (KVER="a b" overrides the resolved list)
#
# A dependency that cannot be had stops the run with one line naming it.

set -eu

CACHE=${OKTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oktls}
SRC_SERIES=6.12
SERIES="6.12 6.1"
# nginx-light and curl: unmodified kTLS server and TLS client in the guest.
# bc, bison, flex, libelf-dev: building the debug kernel (debug-kernel.sh).
HOST_PKGS="qemu-system-x86 qemu-utils busybox-static cpio gcc make libssl-dev sparse kmod xz-utils perl openssl nginx-light curl dkms bc bison flex libelf-dev"

die() { echo "oktls deps: $*" >&2; exit 1; }

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	# Debian retires point releases: only fresh lists name the newest one.
	local lists=/var/lib/apt/lists
	if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -720 2>/dev/null | head -n1)" ]; then
		apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
	fi
	apt_updated=1
}

apt_install() {
	local rc=0 policy=/usr/sbin/policy-rc.d own_policy=
	[ "$(id -u)" = 0 ] || die "need root to install: $*"
	apt_update
	# Packaged services (nginx) must not start on the build host.
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive INITRD=No \
		apt-get install -y -qq --no-install-recommends "$@" >"$CACHE/apt.log" 2>&1 || rc=$?
	[ -n "$own_policy" ] && rm -f "$policy"
	[ $rc = 0 ] || die "cannot install $* (see $CACHE/apt.log)"
}

# Newest point release of a kernel series, e.g. 6.12 -> 6.12.117+deb12-amd64.
resolve_series() {
	local series=$1 re
	case $series in
	6.1) re='^linux-image-(6\.1\.0-[0-9]+-amd64)-unsigned$' ;;
	*) re="^linux-image-(${series//./\\.}\\.[0-9]+\\+deb[0-9]+-amd64)-unsigned\$" ;;
	esac
	apt-cache pkgnames linux-image- 2>/dev/null | sed -nE "s/$re/\\1/p" | sort -V | tail -n1
}

resolve_kvers() {
	if [ -n "${KVER:-}" ]; then
		printf '%s\n' $KVER
		return
	fi
	local s v
	[ -f "$CACHE/kvers" ] && [ -n "$(find "$CACHE/kvers" -mmin -720)" ] && { cat "$CACHE/kvers"; return; }
	apt_update
	for s in $SERIES; do
		v=$(resolve_series "$s")
		[ -n "$v" ] || die "no linux-image-$s.*-amd64-unsigned in the apt lists"
		echo "$v"
	done >"$CACHE/kvers.new"
	mv "$CACHE/kvers.new" "$CACHE/kvers"
	cat "$CACHE/kvers"
}

host_missing() {
	local p missing=
	for p in $HOST_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	echo $missing
}

kernel_missing() {
	local v=$1 missing=
	[ -f "/boot/vmlinuz-$v" ] && [ -d "/lib/modules/$v/kernel" ] || missing="linux-image-$v-unsigned"
	[ -f "/usr/src/linux-headers-$v/Makefile" ] || missing="$missing linux-headers-$v"
	echo $missing
}

# Only a few files of the 140 MB source tarball are needed: the kselftest
# harness, checkpatch and the TLS documentation and uapi for reference.
SRC_FILES="tools/testing/selftests/kselftest_harness.h tools/testing/selftests/kselftest.h
scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
Documentation/networking/tls.rst include/uapi/linux/tls.h"

src_extract() {
	local tarball=/usr/src/linux-source-$SRC_SERIES.tar.xz dest=$CACHE/src f paths=
	[ -f "$dest/.done" ] && return 0
	[ -f "$tarball" ] || apt_install "linux-source-$SRC_SERIES"
	[ -f "$tarball" ] || die "linux-source-$SRC_SERIES has no $tarball"
	for f in $SRC_FILES; do paths="$paths linux-source-$SRC_SERIES/$f"; done
	rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
	tar -xJf "$tarball" -C "$dest.tmp" --strip-components=1 $paths ||
		die "cannot extract $paths from $tarball"
	rm -rf "$dest" && mv "$dest.tmp" "$dest"
	touch "$dest/.done"
}

main() {
	mkdir -p "$CACHE"
	if [ "${1:-}" = --kvers ]; then
		resolve_kvers
		return
	fi
	local want v
	want=$(host_missing)
	for v in $(resolve_kvers); do
		want="$want $(kernel_missing "$v")"
	done
	want=$(echo $want)
	if [ -n "$want" ]; then
		echo "oktls deps: installing $want" >&2
		apt_install $want
	fi
	src_extract
}

main "$@"
