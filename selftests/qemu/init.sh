#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 of the test guest. The kernel console is ttyS0; test output (TAP)
# goes to ttyS1 so kernel messages never interleave with it. The host reads
# OKTLS-RIG-DONE as proof the run finished rather than hung or crashed.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug

out=/dev/ttyS1
stty -F "$out" raw -echo 2>/dev/null
say() { echo "$*" >"$out"; }

finish() {
	sync
	poweroff -f
	sleep 10
}

hostname oktls-guest
ip link set lo up
# Loopback tests want the same buffers a server would see.
sysctl -qw net.core.rmem_max=16777216 net.core.wmem_max=16777216
# The first TCP connection seeds the hash and sequence secrets, and work
# then patches kernel text (their static keys) once. Under TCG a CPU
# running that code while another patches it has taken the patch's int3
# as an Oops (6.12, once in some dozen runs), so it happens here, on an
# idle guest, rather than in the first test's burst of connections.
nc 127.0.0.1 9 </dev/null >/dev/null 2>&1
nc ::1 9 </dev/null >/dev/null 2>&1
sleep 2

say "# OKTLS-RIG kernel $(uname -r)"
for m in $(cat /etc/oktls-modules); do
	modprobe "$m" 2>/dev/null || say "# module $m not available"
done

if ! insmod /lib/oktls/oktls.ko; then
	say "OKTLS-RIG-ERROR insmod oktls.ko failed"
	finish
fi

if [ -n "$OKTLS_INTERACTIVE" ]; then
	echo "oktls guest: module loaded, tests in /tests, poweroff -f to quit"
	cd /tests
	setsid cttyhack sh -l
	finish
fi

# The debug kernel's kmemleak: forget what boot left behind, so the scan
# after the tests reports only what they (and oktls) leaked.
leaks=/sys/kernel/debug/kmemleak
if [ -w "$leaks" ]; then
	sleep 6
	echo scan >"$leaks"
	echo clear >"$leaks"
fi

# Objects must be a few seconds old before kmemleak calls them leaked. Its
# report goes to the console, which the host checks for splats.
scan_leaks() {
	[ -w "$leaks" ] || return 0
	sleep 6
	echo scan >"$leaks"
	echo scan >"$leaks"
	cat "$leaks" >/dev/console
	say "# kmemleak: $(grep -c 'unreferenced object' "$leaks") unreferenced objects after the tests"
}

if [ -n "$OKTLS_RUN" ]; then
	say "# OKTLS-RUN $OKTLS_RUN"
	(cd /tmp && $OKTLS_RUN >"$out" 2>&1)
	say "# OKTLS-RUN-END rc=$?"
	scan_leaks
	say "OKTLS-RIG-DONE"
	finish
fi

limit=${OKTLS_TEST_TIMEOUT:-600}
# The debug kernel: the harness's per-test alarms, stretched (timescale.c).
if [ -n "$OKTLS_TIMEOUT_SCALE" ] && [ -f /lib/oktls/timescale.so ]; then
	export LD_PRELOAD=/lib/oktls/timescale.so
	say "# test timeouts x$OKTLS_TIMEOUT_SCALE"
fi
for t in /tests/*_test /tests/*_test.sh; do
	[ -x "$t" ] || continue
	name=${t##*/}
	# OKTLS_TESTS=a,b: the kernel command line splits words at spaces.
	case ",${OKTLS_TESTS:-$name}," in *",$name,"*) ;; *) continue ;; esac
	# OKTLS_SKIP_TESTS=a,b: all but these (the debug kernel's second guest).
	case ",${OKTLS_SKIP_TESTS:-}," in *",$name,"*) continue ;; esac
	say "# OKTLS-TEST-BEGIN $name"
	t0=$(date +%s)
	(cd /tests && timeout "$limit" "$t" >"$out" 2>&1)
	rc=$?
	say "# OKTLS-TEST-END $name secs=$(($(date +%s) - t0)) rc=$rc"
done
scan_leaks
say "OKTLS-RIG-DONE"
finish
