# SPDX-License-Identifier: GPL-2.0
# TAP for shell selftests, in the shape the kselftest harness prints.

tap_n=0
tap_fail=0

tap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}

tap_ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n $1"
}

tap_not_ok() {
	tap_n=$((tap_n + 1))
	tap_fail=$((tap_fail + 1))
	echo "not ok $tap_n $1"
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n $1 # SKIP $2"
}

# tap_check NAME COMMAND...: one test that passes when COMMAND does.
tap_check() {
	local name=$1
	shift
	if "$@"; then
		tap_ok "$name"
	else
		tap_not_ok "$name"
	fi
}

tap_done() {
	echo "# Totals: pass:$((tap_n - tap_fail)) fail:$tap_fail"
	[ "$tap_fail" = 0 ]
}
