#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench: oktls against the stock tls module, userspace OpenSSL and
# plain TCP, in QEMU. Three boots of the same guest program (oktls-bench,
# which interleaves every implementation round by round):
#
#   icount-max     -icount shift=0,sleep=off, -cpu max        (the judged clock)
#   icount-noerms  -icount shift=0,sleep=off, -cpu max,-erms  (copies cost per byte)
#   wall-max       ordinary TCG time, -cpu max                (noisy on a busy host)
#
# The two instruction-clock boots run side by side (their clock does not
# depend on the host), then the wall-clock boot alone. Output: the markdown
# on the terminal and in bench/results/<kernel>-<date>.md, the chart in
# bench/results/<kernel>-<date>.png, the raw BENCH lines beside them.
#
#   tools/bench/run.sh [KVER]
#
# BENCH_ARGS replaces the guest program's arguments (see oktls-bench --help);
# BENCH_BOOTS picks boots, e.g. "icount-max" for a quick look; BOOT_WAIT
# (seconds, default 300) gives up on a guest that has not started by then.

set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tools/bench
kver=${1:-$("$top/selftests/qemu/deps.sh" --kvers | awk '{ print $1 }')}
work=$top/build/bench/$kver
results=$top/bench/results
args=${BENCH_ARGS:---rounds 5 --bulk-kib 4096 --small-kib 512 --scale-kib 4096}
boots=${BENCH_BOOTS:-icount-max icount-noerms wall-max}
stamp=$(date -u +%Y-%m-%d)

die() { echo "oktls bench: $*" >&2; exit 1; }

# Tools, installed only when missing (as selftests/qemu/deps.sh does).
need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	echo "oktls bench: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null ||
		die "cannot install ${need[*]} (run as root with apt)"
fi
[ -f "/lib/modules/$kver/build/Makefile" ] || die "no headers for $kver (run selftests/qemu/deps.sh)"

# The module, built for this kernel in our own directory.
rev=$(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD -- kmod Kbuild ||
	echo ' + uncommitted kmod changes')
mkdir -p "$work/src"
rm -rf "$work/src/kmod"
cp -r "$top/Kbuild" "$top/kmod" "$work/src/"
make -s -C "/lib/modules/$kver/build" M="$work/src" modules >"$work/build.log" 2>&1 ||
	die "module build failed, see $work/build.log"
make -s -C "$here" >/dev/null || die "oktls-bench build failed"

boot() { # LABEL
	local label=$1 out=$work/$1 cpu=max qargs=
	case $label in
	icount-max) qargs="-icount shift=0,sleep=off" ;;
	icount-noerms) qargs="-icount shift=0,sleep=off"; cpu=max,-erms ;;
	wall-max) ;;
	*) die "unknown boot $label" ;;
	esac
	mkdir -p "$out"
	cp "$work/src/kmod/oktls.ko" "$out/"
	rm -f "$out/tap.log" "$out/qemu.pid"
	OKTLS_CPU=$cpu OKTLS_QEMU_ARGS=$qargs OKTLS_EXTRA="$here/oktls-bench" \
	OKTLS_APPEND="OKTLS_RUN=\"/usr/bin/oktls-bench $args\"" \
	VM_TIMEOUT=${VM_TIMEOUT:-1500} \
		"$top/selftests/qemu/run.sh" "$kver" "$out" >"$out/rig.log" 2>&1 &
	local rig=$! waited=0
	# A guest that has not started the program after BOOT_WAIT seconds is
	# stuck (Debian's 6.1 kernels never get past SMP bring-up under
	# -icount on QEMU 7.2): stop its QEMU rather than wait for VM_TIMEOUT.
	while kill -0 "$rig" 2>/dev/null; do
		if [ $waited -ge "${BOOT_WAIT:-300}" ] && ! grep -q '^# OKTLS-RUN ' "$out/tap.log" 2>/dev/null; then
			echo "oktls bench: $label: guest did not boot in ${BOOT_WAIT:-300}s; stopping it" >&2
			[ -f "$out/qemu.pid" ] && kill "$(cat "$out/qemu.pid")" 2>/dev/null
			break
		fi
		sleep 5
		waited=$((waited + 5))
	done
	wait "$rig" || true
	if ! grep -q '^# OKTLS-RUN-END rc=0' "$out/tap.log" 2>/dev/null; then
		echo "oktls bench: $label: the guest program did not finish cleanly; see $out/tap.log" >&2
	fi
	echo "oktls bench: $label done at $(date -u +%T)"
}

t0=$(date +%s)
echo "oktls bench: $kver, boots: $boots, guest args: $args (started $(date -u +%T))"
pids=()
for b in $boots; do
	case $b in icount-*) boot "$b" & pids+=($!) ;; esac
done
for p in "${pids[@]}"; do wait "$p"; done
for b in $boots; do
	case $b in icount-*) ;; *) boot "$b" ;; esac
done

mkdir -p "$results"
base=$results/$kver-$stamp
header=$work/header.md
{
	echo "# oktls benchmark: $kver, $stamp"
	echo
	echo "- Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, shared with other jobs"
	echo "- Guest: $kver, qemu-system-x86_64 -accel tcg -smp 2 -m 2G ($(qemu-system-x86_64 --version | head -1))"
	echo "- oktls: $rev (kmod/ as built at the start)"
	echo "- Boots: $boots; guest program: oktls-bench $args"
	echo "- Took $(( ($(date +%s) - t0) / 60 )) min on this machine"
	echo
	echo "**Caveat: the CPU is emulated (QEMU TCG, no KVM). Absolute numbers mean little;"
	echo "only ratios between implementations measured in the same boot, interleaved, count."
	echo "On the instruction clock (-icount shift=0) guest time is instructions executed,"
	echo "so a ratio there is a ratio of instructions spent per byte by the whole guest.**"
} >"$header"
reports=()
for b in $boots; do
	grep '^BENCH ' "$work/$b/tap.log" >"$base-$b.log" 2>/dev/null || true
	reports+=("$b=$base-$b.log")
done
python3 "$here/report.py" "$base.md" "$base.png" "$header" "${reports[@]}"
# latest.* (what the README shows) only from a full run of all three boots
if [ "$boots" = "icount-max icount-noerms wall-max" ]; then
	cp "$base.md" "$results/latest.md"
	sed -i "s|($(basename "$base.png"))|(latest.png)|" "$results/latest.md"
	[ -f "$base.png" ] && cp "$base.png" "$results/latest.png"
fi
cat "$base.md"
echo
echo "oktls bench: wrote $base.md and $base.png in $(( ($(date +%s) - t0) / 60 )) min"
