#!/bin/sh
# SPDX-License-Identifier: MIT
# accelctl against the accelkv node in the guest: one session through info,
# pools, KV blocks, prefix lookup, fences and stats, plus an error exit.
# TAP output; run by scripts/vm/init.sh (ACCEL_DEVICE names the node).
A=/tests/accelctl
if [ ! -x "$A" ] || [ -z "$ACCEL_DEVICE" ]; then
	echo "1..0 # SKIP accelctl or the device missing"
	exit 0
fi
n=0
fails=0
check() {	# check DESCRIPTION PATTERN: the session output has a line matching
	n=$((n + 1))
	if grep -q -- "$2" /tmp/session.out; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		fails=$((fails + 1))
	fi
}
$A --device "$ACCEL_DEVICE" info -- pool create 1M --kv --block-size 4K -- \
	kv alloc 0 4 -- kv publish 0 0 11 1 22 -- kv free 0 0 1 -- kv lookup 0 11 22 33 -- \
	pool info 0 -- fence create -- fence signal 0 5 -- fence wait 0 5 -- fence query 0 -- \
	stats >/tmp/session.out 2>&1
rc=$?
sed 's/^/# /' /tmp/session.out
n=$((n + 1))
if [ $rc -eq 0 ]; then echo "ok $n - session exits 0"; else echo "not ok $n - session exits 0"; fails=$((fails + 1)); fi
check "kernel backend" '^backend: kernel'
check "node reported" "^node: $ACCEL_DEVICE"
check "4 blocks allocated" '^0 1 2 3$'
check "2 published" '^published 2'
check "prefix of 2 found" '^found 2: 0 1'
check "pool info: 256 blocks" '^num_blocks: 256'
check "pool info: pinned" '^flags: kv.*pinned'
check "pool info: 4 used" '^blocks_used: 4'
check "prefix hits" '^prefix_hits: 2'
check "fence at 5" '^5$'
$A --device "$ACCEL_DEVICE" pool create 64K --kv --block-size 4K -- kv free 0 7 >/tmp/err.out 2>&1
rc=$?
n=$((n + 1))
if [ $rc -eq 1 ] && [ "$(wc -l </tmp/err.out)" -ge 1 ]; then
	echo "ok $n - freeing an unheld block: exit 1 with an error line"
else
	echo "not ok $n - freeing an unheld block: exit 1 with an error line (rc $rc)"
	fails=$((fails + 1))
fi
sed 's/^/# /' /tmp/err.out
echo "1..$n"
[ $fails -eq 0 ]
