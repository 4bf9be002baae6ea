#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CLI test of accelctl on the emulated device (TAP): one session per
# invocation, commands separated by "--" or read from a script; every
# failure prints one "accelctl: ..." line and exits 1.
set -u
bin="${ACCEL_BUILD:-$(dirname "$0")/../../build}/bin/accelctl"
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP accelctl not built ($bin)"
	exit 0
fi
n=0
fails=0
ok() { # ok COND_STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
# run ARGS...: sets out, err, rc
run() {
	local e
	e=$(mktemp)
	out=$("$bin" --device emu "$@" 2>"$e")
	rc=$?
	err=$(cat "$e")
	rm -f "$e"
}
# fails_with PATTERN NAME ARGS...: exit 1 and one error line matching PATTERN
fails_with() {
	local pat=$1 name=$2
	shift 2
	run "$@"
	[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
		printf '%s' "$err" | grep -q "^accelctl: .*$pat"
	ok $? "$name"
}

echo "1..30"
run info
ok $? "info succeeds"
printf '%s\n' "$out" | grep -q '^backend: emu$'
ok $? "info names the emu backend"

run pool create 1M -- pool create 64K --kv --block-size 8K -- pool info 1
[ "$rc" -eq 0 ] && printf '%s\n' "$out" | head -2 | tr '\n' ' ' | grep -q '^pool 0 pool 1 $'
ok $? "pool create prints the pool numbers"
printf '%s\n' "$out" | grep -q '^num_blocks: 8$' && printf '%s\n' "$out" | grep -q '^block_size: 8192$'
ok $? "pool info: 64K / 8K = 8 blocks"

run pool create 64K --kv -- kv alloc 0 3 -- kv publish 0 0 0x10 1 0x20 -- kv free 0 0 1 2 \
	-- kv lookup 0 0x10 0x20 0x30 -- pool info 0
[ "$rc" -eq 0 ]
ok $? "kv session succeeds"
printf '%s\n' "$out" | grep -q '^0 1 2$'
ok $? "kv alloc prints the block ids"
printf '%s\n' "$out" | grep -q '^published 2$'
ok $? "kv publish prints the count"
printf '%s\n' "$out" | grep -q '^found 2: 0 1$'
ok $? "kv lookup finds the published prefix"
printf '%s\n' "$out" | grep -q '^blocks_used: 2$'
ok $? "pool info counts the looked-up blocks as used"

script=$(mktemp)
cat >"$script" <<'SCRIPT'
# a script: one command per line
fence create
fence signal 0 5

fence query 0
fence wait 0 5 100
stats
SCRIPT
run -f "$script"
rm -f "$script"
[ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^5$'
ok $? "script: fence create/signal/query/wait"
printf '%s\n' "$out" | grep -q '^fences: 1$'
ok $? "script: stats count the fence"

fails_with "Invalid argument" "pool create 0: -EINVAL" pool create 0
fails_with "Invalid argument" "KV block size 1000: -EINVAL" pool create 64K --block-size 1000
fails_with "SIZE: '12Q' is not a size" "unparsable size" pool create 12Q
fails_with "SIZE: '-1M' is not a size" "negative size (tools/lib parser)" pool create -1M
run pool create 0.5MiB --block-size 4KiB -- pool info 0
printf '%s\n' "$out" | grep -q '^size: 524288$' && printf '%s\n' "$out" | grep -q '^num_blocks: 128$'
ok $? "sizes as tools/lib spells them: 0.5MiB pool of 4KiB blocks"
fails_with "no pool" "pool info of an unknown pool" pool info 3
fails_with "No such file or directory" "double free: -ENOENT" \
	pool create 64K --kv -- kv alloc 0 1 -- kv free 0 0 -- kv free 0 0
fails_with "Cannot allocate memory" "alloc beyond the pool: -ENOMEM" \
	pool create 64K --kv -- kv alloc 0 17
fails_with "Operation not supported" "kv on a plain pool: -EOPNOTSUPP" \
	pool create 64K -- kv alloc 0 1
fails_with "Invalid argument" "non-increasing fence signal: -EINVAL" \
	fence create -- fence signal 0 5 -- fence signal 0 5
fails_with "point 1 not signalled (value 0) and nothing can signal it on the emulated device" \
	"fence wait on the emulated device: refused at once, not a wait" fence create -- fence wait 0 1 10
fails_with "nothing can signal it" "fence wait without a timeout: the same, no hang" \
	fence create -- fence wait 0 1
run fence create -- fence signal 0 3 -- fence wait 0 2 -- fence wait 0 3 5
ok $? "fence wait on a signalled point returns at once"
fails_with "COUNT: '10i' is not a number" "trailing garbage refused (10i)" pool create 64K --kv -- kv alloc 0 10i
fails_with "TIMEOUT_MS: '5x' is not a number" "a bad timeout names itself" \
	fence create -- fence wait 0 1 5x
fails_with "block-size: missing value" "a flag without its value says so" pool create 64K --block-size
fails_with "POINT: '-1' is not a number" "a negative point refused" fence create -- fence signal 0 -1
fails_with "unknown command" "unknown command" frobnicate
run --device /dev/null info
[ "$rc" -eq 1 ] && printf '%s' "$err" | grep -q "No such device"
ok $? "a node that is not accelkv: -ENODEV"
[ "$fails" -eq 0 ]
