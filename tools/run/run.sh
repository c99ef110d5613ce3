#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job: boot a QEMU guest with oktls.ko loaded and oktlsd serving
# HTTPS in front of a small HTTP server, reachable from this host.
#
#   run.sh run KVER     serve until Ctrl-C, printing the URL and a curl command
#   run.sh demo KVER    download a large file through oktlsd and through
#                       userspace TLS (openssl s_server), check its sha256,
#                       print both transfer rates, shut down
#
# OKTLS_PORT (default 8443) is the host port for oktlsd; OKTLS_PORT+1 the
# one for the userspace-TLS comparison. OKTLS_DEMO_MB sizes the big file;
# OKTLS_KO picks the module (default kmod/oktls.ko).

set -euo pipefail

mode=$1
kver=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/run
port=${OKTLS_PORT:-8443}
uport=$((port + 1))
mb=${OKTLS_DEMO_MB:-64}
qpid=

die() { echo "oktls $mode: $*" >&2; exit 1; }

stop() {
	[ -n "$qpid" ] || return 0
	# QEMU runs under timeout(1) in its own process group: use its pid.
	[ -f "$out/qemu.pid" ] && kill -TERM "$(cat "$out/qemu.pid")" 2>/dev/null
	wait "$qpid" 2>/dev/null || true
	qpid=
}
trap stop EXIT
trap 'echo; echo "oktls: shutting the VM down"; stop; exit 0' INT TERM

mkdir -p "$out"
cp "${OKTLS_KO:-$top/kmod/oktls.ko}" "$out/oktls.ko"
rm -f "$out/tap.log" "$out/qemu.pid"

net="-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$port-:443,hostfwd=tcp:127.0.0.1:$uport-:4433"
net="$net -device virtio-net-pci,netdev=n0"
OKTLS_APPEND="OKTLS_RUN=/usr/bin/oktls-serve OKTLS_DEMO_MB=$mb" \
OKTLS_EXTRA="$top/tools/run/oktls-serve" OKTLS_QEMU_ARGS="$net" \
VM_TIMEOUT=${VM_TIMEOUT:-86400} \
	"$top/selftests/qemu/run.sh" "$kver" "$out" >"$out/run.log" 2>&1 &
qpid=$!

echo "oktls $mode: booting $kver under QEMU (TCG: the CPU is emulated)..."
for _ in $(seq 600); do
	grep -q '^OKTLS-SERVE-READY' "$out/tap.log" 2>/dev/null && break
	kill -0 "$qpid" 2>/dev/null || die "the VM exited; see $out/console.log"
	sleep 0.5
done
grep -q '^OKTLS-SERVE-READY' "$out/tap.log" || die "the guest never got ready; see $out/tap.log"
sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$out/tap.log" | tr -d '\r' >"$out/cert.pem"
sha=$(sed -n 's/^OKTLS-SERVE-SHA256 \([0-9a-f]*\).*/\1/p' "$out/tap.log")
curl=(curl --cacert "$out/cert.pem" --resolve "localhost:$port:127.0.0.1"
      --resolve "localhost:$uport:127.0.0.1")

if [ "$mode" = run ]; then
	cat <<EOM

oktlsd is serving HTTPS from the VM (records sealed by oktls.ko):

  URL:   https://localhost:$port/
  try:   curl --cacert $out/cert.pem https://localhost:$port/
         curl --cacert $out/cert.pem https://localhost:$port/big | sha256sum
         (expect $sha)

Guest console: $out/console.log; guest output: $out/tap.log.
Press Ctrl-C to shut the VM down.
EOM
	wait "$qpid"
	exit 0
fi

# demo: one download through each server, timed by curl.
fetch() { # PORT -> "bytes seconds sha256"
	local t
	t=$("${curl[@]}" -sS -o "$out/got" -w '%{size_download} %{time_total}' \
		"https://localhost:$1/big")
	echo "$t $(sha256sum <"$out/got" | cut -d' ' -f1)"
}
read -r kb ks ksha < <(fetch "$port")
read -r ub us usha < <(fetch "$uport")
rm -f "$out/got"
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1048576 }'; }
ok=1
[ "$ksha" = "$sha" ] || ok=0
[ "$usha" = "$sha" ] || ok=0
cat <<EOM

oktls demo on $kver, $mb MiB over HTTPS from a QEMU guest with an EMULATED
CPU (TCG): absolute rates mean little, the ratio is what to look at.

  server                              MiB/s   sha256
  oktlsd (kernel records, oktls.ko)   $(printf '%7s' "$(rate "$kb" "$ks")")   $([ "$ksha" = "$sha" ] && echo ok || echo MISMATCH)
  openssl s_server (userspace TLS)    $(printf '%7s' "$(rate "$ub" "$us")")   $([ "$usha" = "$sha" ] && echo ok || echo MISMATCH)
EOM
[ $ok = 1 ] || die "sha256 mismatch"
