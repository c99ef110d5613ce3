#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified nginx (Debian's, "ssl_conf_command Options KTLS", sendfile on)
# serves files over HTTPS with its records sealed by oktls registered as
# "tls"; unmodified curl (userspace OpenSSL) downloads them. Checks: sha256
# of a 1 MiB file, a 100 MiB file and 1000 small files over TLS 1.2 and
# 1.3, and nginx's debug log showing kTLS send in use, never a fallback.

cd "$(dirname "$0")"
. ./lib/tap.sh

work=$(mktemp -d /tmp/nginx-test.XXXXXX)
port=8443

unload() {
	i=0
	while [ -d "/sys/module/$1" ]; do
		rmmod "$1" 2>/dev/null && return 0
		i=$((i + 1))
		[ $i -gt 500 ] && return 1
		usleep 10000
	done
}

cleanup() {
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
	sleep 1
	unload oktls
	insmod /lib/oktls/oktls.ko
	modprobe tls
	rm -rf "$work"
}
trap cleanup EXIT

tap_plan 9

if ! unload tls || ! unload oktls || ! insmod /lib/oktls/oktls.ko ulp_name=tls; then
	tap_not_ok "oktls registered as tls"
	exit 1
fi
tap_ok "oktls registered as tls"

mkdir -p "$work/www/small"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-days 1 -subj /CN=localhost -keyout "$work/key.pem" \
	-out "$work/cert.pem" 2>/dev/null
dd if=/dev/urandom of="$work/www/1m" bs=1M count=1 2>/dev/null
dd if=/dev/urandom of="$work/www/100m" bs=1M count=100 2>/dev/null
i=0
while [ $i -lt 1000 ]; do
	head -c $((i * 37 % 4000 + 1)) /dev/urandom >"$work/www/small/$i"
	echo "url = \"https://localhost:$port/small/$i\"" >>"$work/urls"
	echo "output = \"$work/got/$i\"" >>"$work/urls"
	i=$((i + 1))
done

cat >"$work/nginx.conf" <<EOC
user root;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log debug;
events { worker_connections 256; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 10000;
	client_body_temp_path $work/tmp;
	proxy_temp_path $work/tmp;
	fastcgi_temp_path $work/tmp;
	uwsgi_temp_path $work/tmp;
	scgi_temp_path $work/tmp;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_certificate $work/cert.pem;
		ssl_certificate_key $work/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_conf_command Options KTLS;
		root $work/www;
	}
}
EOC
mkdir -p "$work/tmp"
if nginx -c "$work/nginx.conf" -p "$work" && sleep 1 && [ -f "$work/nginx.pid" ]; then
	tap_ok "nginx starts with ssl_conf_command Options KTLS"
else
	tap_not_ok "nginx starts with ssl_conf_command Options KTLS"
	cat "$work/error.log" | tail -n 20 | sed 's/^/# /'
	exit 1
fi

fetch() { # VERSION FILE
	rm -f "$work/out"
	curl -sS --cacert "$work/cert.pem" --tlsv"$1" --tls-max "$1" \
		-o "$work/out" "https://localhost:$port/$2" &&
		[ "$(sha256sum <"$work/out")" = "$(sha256sum <"$work/www/$2")" ]
}

small() { # VERSION
	rm -rf "$work/got" && mkdir -p "$work/got"
	curl -sS --cacert "$work/cert.pem" --tlsv"$1" --tls-max "$1" \
		-K "$work/urls" || return 1
	(cd "$work/www/small" && sha256sum $(ls)) >"$work/want.sum"
	(cd "$work/got" && sha256sum $(ls)) >"$work/got.sum"
	cmp -s "$work/want.sum" "$work/got.sum"
}

for v in 1.2 1.3; do
	tap_check "TLS $v: 1 MiB file, sha256 matches" fetch $v 1m
	t0=$(date +%s)
	tap_check "TLS $v: 100 MiB file, sha256 matches" fetch $v 100m
	echo "# TLS $v: 100 MiB in $(($(date +%s) - t0)) s (emulated CPU)"
	tap_check "TLS $v: 1000 small files, sha256 match" small $v
done

# nginx logs what OpenSSL reported for each connection's kTLS send.
ktls_on=$(grep -c 'BIO_get_ktls_send(): 1' "$work/error.log")
ktls_off=$(grep -c 'BIO_get_ktls_send(): 0' "$work/error.log")
echo "# debug log: kTLS send on for $ktls_on connections, off for $ktls_off; SSL_sendfile calls: $(grep -c 'SSL_sendfile' "$work/error.log")"
if [ "$ktls_on" -gt 0 ] && [ "$ktls_off" = 0 ] && grep -q 'SSL_sendfile' "$work/error.log"; then
	tap_ok "nginx debug log: kTLS and SSL_sendfile in use, no fallback"
else
	tap_not_ok "nginx debug log: kTLS and SSL_sendfile in use, no fallback"
fi
tap_done
