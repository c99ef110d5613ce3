#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot one Debian kernel in QEMU (TCG) with oktls.ko and the selftests in a
# busybox initramfs, and bring the results back.
#
#   run.sh KVER OUTDIR            run every selftest; OUTDIR gets console.log
#                                 (kernel) and tap.log (tests)
#   run.sh --interactive KVER OUTDIR
#                                 a shell on the guest console instead
#
# The module is taken from OUTDIR/oktls.ko, the tests from selftests/.
# VM_TIMEOUT (seconds, default 1500) bounds the whole boot; TEST_TIMEOUT
# (default 600) each test binary inside it. OKTLS_APPEND adds to the kernel
# command line; NAME=value words there reach the tests as environment
# (OKTLS_TEST_ULP=tls runs the socket tests against the stock module,
# OKTLS_TESTS=tx_test,rx_test runs only the named binaries, OKTLS_SKIP_TESTS=
# all but the named ones; OKTLS_RUN="cmd args" runs that command instead of
# the tests). OKTLS_EXTRA lists more host
# programs to pack into the guest's /usr/bin. OKTLS_CPU (default max) and
# OKTLS_QEMU_ARGS tune the emulated machine (benchmarks use
# -icount shift=0,sleep=off). OKTLS_IMAGE and OKTLS_MODROOT boot a kernel
# that is not installed in /boot and /lib/modules (the debug kernel built by
# debug-kernel.sh): its image, and the root its lib/modules/KVER is under.

set -euo pipefail

interactive=
if [ "${1:-}" = --interactive ]; then
	interactive=1
	shift
fi
kver=$1
out=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/selftests/qemu
stage=$out/initramfs
vm_timeout=${VM_TIMEOUT:-1500}
test_timeout=${TEST_TIMEOUT:-600}

die() { echo "oktls rig: $*" >&2; exit 1; }

image=${OKTLS_IMAGE:-/boot/vmlinuz-$kver}
modroot=${OKTLS_MODROOT:-/}
[ -f "$image" ] || die "no $image (run selftests/qemu/deps.sh)"
[ -f "$out/oktls.ko" ] || die "no $out/oktls.ko"

# Copy a program and the shared libraries it needs into the stage.
copy_prog() {
	local prog=$1 dest=${2:-$1} lib
	install -D -m 0755 "$prog" "$stage/$dest"
	for lib in $(ldd "$prog" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$stage$lib" ] || install -D -m 0755 "$lib" "$stage$lib"
	done
}

copy_modules() {
	local m path dst mods=$modroot/lib/modules/$kver
	: >"$stage/etc/oktls-modules"
	for m in $(grep -v '^#' "$here/modules"); do
		# A module this kernel lacks is left out; init reports it.
		echo "$m" >>"$stage/etc/oktls-modules"
		for path in $(modprobe -d "$modroot" -S "$kver" --show-depends "$m" 2>/dev/null |
			      awk '$1 == "insmod" { print $2 }'); do
			dst=$stage${path#"${modroot%/}"}
			dst=${dst%.xz}
			[ -e "$dst" ] && continue
			mkdir -p "$(dirname "$dst")"
			case $path in
			*.xz) xz -dc "$path" >"$dst" ;;
			*.zst) zstd -qdc "$path" >"$dst" ;;
			*) cp "$path" "$dst" ;;
			esac
		done
	done
	mkdir -p "$stage/lib/modules/$kver"
	cp "$mods"/modules.order "$mods"/modules.builtin* "$stage/lib/modules/$kver/" 2>/dev/null || true
	depmod -b "$stage" "$kver"
}

build_initramfs() {
	local t
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,sbin,etc,lib/oktls,tests,usr/bin,usr/sbin}
	install -m 0755 /bin/busybox "$stage/bin/busybox"
	install -m 0755 "$here/init.sh" "$stage/init"
	install -m 0644 "$out/oktls.ko" "$stage/lib/oktls/oktls.ko"
	for t in "$top"/selftests/*_test "$top"/selftests/*_test.sh; do
		[ -x "$t" ] && copy_prog "$t" "/tests/${t##*/}"
	done
	install -D -m 0644 "$top/selftests/lib/tap.sh" "$stage/tests/lib/tap.sh"
	[ -f "$top/selftests/qemu/timescale.so" ] &&
		install -m 0755 "$top/selftests/qemu/timescale.so" "$stage/lib/oktls/"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$stage/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"
	# The project's own programs, and the host programs tests drive.
	for t in "$top"/userspace/*; do
		[ -f "$t" ] && [ -x "$t" ] && copy_prog "$t" "/usr/bin/${t##*/}"
	done
	for t in ${OKTLS_EXTRA:-}; do
		copy_prog "$t" "/usr/bin/${t##*/}"
	done
	for t in $(grep -v '^#' "$here/programs"); do
		if [ -x "$t" ]; then
			copy_prog "$t"
		elif [ -f "$t" ]; then
			install -D -m 0644 "$t" "$stage$t"
		fi
	done
	copy_modules
	(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out/initramfs.cpio.gz"
}

build_initramfs

append="console=ttyS0 panic=-1 loglevel=7 no_hash_pointers OKTLS_TEST_TIMEOUT=$test_timeout ${OKTLS_APPEND:-}"
qemu=(qemu-system-x86_64 -accel tcg -cpu "${OKTLS_CPU:-max}" -smp 2 -m 2G -nodefaults
      -no-reboot -display none -kernel "$image"
      -initrd "$out/initramfs.cpio.gz" -pidfile "$out/qemu.pid" ${OKTLS_QEMU_ARGS:-})

if [ -n "$interactive" ]; then
	exec "${qemu[@]}" -append "$append OKTLS_INTERACTIVE=1" \
		-serial mon:stdio -serial "file:$out/tap.log"
fi

rm -f "$out/console.log" "$out/tap.log"
rc=0
timeout -k 10 "$vm_timeout" "${qemu[@]}" -append "$append" \
	-serial "file:$out/console.log" -serial "file:$out/tap.log" \
	</dev/null || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "oktls rig: $kver: guest killed after ${vm_timeout}s" >&2
fi
exit "$rc"
