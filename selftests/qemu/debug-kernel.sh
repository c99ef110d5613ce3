#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, once per machine, the debug kernel oktls's tests also run on:
# Debian's linux-source-6.12 configured as allnoconfig plus debug.config
# (KASAN, kmemleak, lockdep, UBSAN, fault injection, SM4 and ARIA). It is
# kept in the cache, outside the repository, and rebuilt only when the
# source package or debug.config changes.
#
#   debug-kernel.sh          build it if needed; quiet when already built
#   debug-kernel.sh --env    print KVER= KDIR= IMAGE= MODROOT= for the rig
#
# The build log and its measured time are in $CACHE/dbg/out/build.log.

set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${OKTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oktls}
SERIES=6.12
dbg=$CACHE/dbg
src=$dbg/linux-source-$SERIES
out=$dbg/out
root=$dbg/root
fragment=$top/selftests/qemu/debug.config

die() { echo "oktls debug kernel: $*" >&2; exit 1; }

tarball=/usr/src/linux-source-$SERIES.tar.xz
[ -f "$tarball" ] || die "no $tarball (run selftests/qemu/deps.sh)"
srcver=$(dpkg-query -W -f='${Version}' "linux-source-$SERIES")
stamp="$srcver $(sha256sum "$fragment" | cut -c1-16)"

print_env() {
	echo "KVER=$(cat "$out/include/config/kernel.release")"
	echo "KDIR=$out"
	echo "IMAGE=$out/arch/x86/boot/bzImage"
	echo "MODROOT=$root"
}

if [ "$(cat "$out/.oktls-stamp" 2>/dev/null)" = "$stamp" ]; then
	[ "${1:-}" = --env ] && print_env
	exit 0
fi

mkdir -p "$dbg"
if [ "$(cat "$src/.oktls-srcver" 2>/dev/null)" != "$srcver" ]; then
	rm -rf "$src" "$out" "$root"
	tar -xJf "$tarball" -C "$dbg" || die "cannot extract $tarball"
	echo "$srcver" >"$src/.oktls-srcver"
fi

mkdir -p "$out"
rm -f "$out/.oktls-stamp"
start=$(date +%s)
{
	make -s -C "$src" O="$out" KCONFIG_ALLCONFIG="$fragment" allnoconfig &&
	# Every line of the fragment must have survived Kconfig's dependencies.
	grep -E '^CONFIG_' "$fragment" | while IFS= read -r line; do
		sym=${line%%=*}
		case ${line#*=} in
		n) grep -q "^$sym=" "$out/.config" && die "$sym is set, debug.config wants n" ;;
		*) grep -qxF "$line" "$out/.config" || die "$line did not stick: $(grep "^$sym=" "$out/.config")" ;;
		esac
	done &&
	make -s -C "$out" -j"$(($(nproc) + 1))" bzImage modules &&
	rm -rf "$root" &&
	make -s -C "$out" INSTALL_MOD_PATH="$root" modules_install
} >"$out/build.log" 2>&1 || die "build failed (see $out/build.log)"
echo "built in $(($(date +%s) - start)) s on $(nproc) CPUs" >>"$out/build.log"
echo "$stamp" >"$out/.oktls-stamp"
[ "${1:-}" = --env ] && print_env
exit 0
