#!/bin/sh
# SPDX-License-Identifier: MIT
# The runtime on the driver: accel-run (static) on the models of the ext4
# disk that scripts/vmtest.sh made (/dev/vdb), resident and streamed at the
# smallest budget (no layer resident: every layer through the driver's
# LOAD), greedy ids equal to the emulated device's on the host (files
# beside the models); a streaming run killed with SIGKILL leaves no pinned
# page; a model of over 2 MiB has its weights on the driver's 2 MiB pages.
# --device names the node, so a fallback to the emulation is an error
# exit, never a pass. TAP; run by scripts/vm/init.sh.
A=/tests/accel-run
M=/mnt/models
echo "1..9"
n=0
fails=0
ok() {	# ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"
		fails=$((fails + 1))
	fi
}
bail() { echo "Bail out! $*"; exit 1; }
[ -x "$A" ] || bail "accel-run was not built"
[ -n "$ACCEL_DEVICE" ] && [ -e "$ACCEL_DEVICE" ] || bail "no accelkv node"
mkdir -p $M
mount -t ext4 /dev/vdb $M || bail "cannot mount the models disk /dev/vdb"
S=$(find /sys/kernel/debug -name accelkv_stats | head -1)
[ -n "$S" ] || bail "no accelkv_stats in debugfs"
stat_of() { sed -n "s/^$1 //p" "$S"; }
export KN_ISA=scalar	# as the host's reference runs: TCG has no AVX-512
P=$(cat $M/prompt)

for m in stories small; do
	# resident
	$A --device "$ACCEL_DEVICE" -m $M/$m.gguf -b 4 -p "$P" -n 12 --temp 0 --ids -t 2 \
		>/tmp/out 2>/tmp/err
	rc=$?
	sed 's/^/# /' /tmp/err
	[ $rc -eq 0 ] && [ "$(cat /tmp/out)" = "$(cat $M/$m.resident.ids)" ]
	ok $? "$m resident on the driver: ids equal the host's emulated run ($(cat /tmp/out))"
	# streamed through LOAD
	l0=$(stat_of load_bytes)
	$A --device "$ACCEL_DEVICE" -m $M/$m.gguf -b 4 -p "$P" -n 12 --temp 0 --ids -t 2 -v \
		--mem-budget "$(cat $M/$m.budget)" >/tmp/out 2>/tmp/err
	rc=$?
	l1=$(stat_of load_bytes)
	grep placement /tmp/err | sed 's/^/# /'
	[ $rc -eq 0 ] && [ "$(cat /tmp/out)" = "$(cat $M/$m.streamed.ids)" ]
	ok $? "$m streamed on the driver: ids equal the host's emulated run"
	grep -q 'placement: streaming .*: 0 of [0-9]* units resident' /tmp/err &&
		[ "$l1" -gt "$l0" ]
	ok $? "$m streamed: no unit resident, the driver's LOAD moved $((l1 - l0)) bytes"
done

# the weights' pools on the driver's 2 MiB pages (decode streams them every token)
$A --device "$ACCEL_DEVICE" -m $M/moe.gguf -p "$P" -n 1 --temp 0 -t 2 -v >/dev/null 2>/tmp/err
rc=$?
w=$(sed -n 's/.*weights in host pools: \([0-9]*\) KiB, \([0-9]*\) KiB pageable, \([0-9]*\) KiB on 2 MiB pages.*/\1 \2 \3/p' /tmp/err)
grep weights /tmp/err | sed 's/^/# /'
set -- $w
[ $rc -eq 0 ] && [ "${1:-0}" -gt 2048 ] && [ "$2" = 0 ] && [ "$3" = "$1" ]
ok $? "moe on the driver: ${1:-?} KiB of weights pinned, all in pools of 2 MiB pages"

# SIGKILL in the middle of a streamed run: the driver unpins everything
l0=$(stat_of load_bytes)
$A --device "$ACCEL_DEVICE" -m $M/stories.gguf -b 4 -p "$P" -n 1500 --temp 0 -t 2 \
	--mem-budget "$(cat $M/stories.budget)" >/dev/null 2>&1 &
pid=$!
i=0 pinned=0
while [ $i -lt 600 ]; do
	# four passes over the weights: it is generating, not loading
	if [ "$(stat_of load_bytes)" -gt $((l0 + 4 * $(stat -c %s $M/stories.gguf))) ]; then
		pinned=$(stat_of pinned_bytes)
		break
	fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
kill -0 $pid 2>/dev/null
alive=$?
[ $alive -eq 0 ] && [ "$pinned" -gt 0 ]
ok $? "a streaming accel-run is generating with $pinned bytes pinned"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
i=0
while [ $i -lt 100 ] && [ "$(stat_of pinned_bytes)" != 0 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(stat_of pinned_bytes)" = 0 ] && [ "$(stat_of pools)" = 0 ]
ok $? "after kill -9 the driver's pinned bytes return to 0 ($(stat_of pinned_bytes)), no pool left"
umount $M
[ $fails -eq 0 ]
