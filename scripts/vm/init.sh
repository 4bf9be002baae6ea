#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# /init of the accelkv test initramfs (busybox). Loads the DRM dependencies
# and accelkv.ko, runs each suite listed in /etc/vmtest.conf with TAP on
# ttyS1 (kernel messages stay on ttyS0), unloads, reports kernel problems and
# taint, prints the end marker and reboots (qemu -no-reboot then exits).
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
exec >/dev/ttyS1 2>&1
. /etc/vmtest.conf
export PATH=/tests:/bin:/sbin:/usr/bin:/usr/sbin
t0=$(cut -d' ' -f1 /proc/uptime)
echo "# vmtest kernel $(uname -r) ($KIND)"

# Races and lock tests mean nothing on one CPU: the guest must see $CPUS.
echo "# suite cpus"
echo "1..1"
ncpu=$(grep -c '^processor' /proc/cpuinfo)
if [ "$ncpu" -ge "${CPUS:-2}" ]; then
	echo "ok 1 - the guest runs on $ncpu CPUs"
else
	echo "not ok 1 - the guest runs on $ncpu CPUs, not ${CPUS:-2}"
fi
echo "# exit cpus 0"
[ -e /sys/kernel/debug/kmemleak ] && echo clear >/sys/kernel/debug/kmemleak

for m in $(cat /modules.list); do
	insmod "/$m" || echo "# insmod $m failed"
done

# KUnit suites run when their module loads; debugfs keeps each suite's KTAP.
if [ -f /accelkv_kunit.ko ]; then
	echo "# suite kunit"
	insmod /accelkv_kunit.ko || echo "not ok 1 insmod accelkv_kunit.ko"
	for r in /sys/kernel/debug/kunit/accelkv_*/results; do
		[ -f "$r" ] && cat "$r"
	done
	rmmod accelkv_kunit
	echo "# exit kunit 0"
fi

insmod /accelkv.ko $ACCELKV_PARAMS || echo "# insmod accelkv.ko failed"
dev=""
for n in /dev/accel/accel0 /dev/dri/renderD128; do
	[ -e "$n" ] && { dev=$n; break; }
done
echo "# device ${dev:-none}"
# No node means a failed suite, never libaccel's fallback to the emulation.
export ACCEL_DEVICE=${dev:-/dev/accelkv-missing}
export ACCEL_VMTEST=1
export ACCEL_TOP=/
for s in $SUITES; do
	echo "# suite $s"
	if [ -x "/tests/$s" ]; then
		timeout 180 "/tests/$s"
		echo "# exit $s $?"
	elif [ -f "/tests/$s.sh" ]; then
		timeout 180 sh "/tests/$s.sh"
		echo "# exit $s $?"
	else
		echo "not ok 1 - $s was not built"
		echo "1..1"
		echo "# exit $s 1"
	fi
done

rmmod accelkv && echo "# rmmod ok" || echo "# rmmod failed"
if [ -e /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(grep -c 'unreferenced object' /sys/kernel/debug/kmemleak)
	echo "# kmemleak $leaks"
	[ "$leaks" = 0 ] || head -40 /sys/kernel/debug/kmemleak | sed 's/^/# /'
fi
echo "# dmesg problems:"
dmesg | grep -E 'BUG:|WARNING:|Oops|INFO: possible|INFO: trying|kmemleak:.*new suspected|KASAN|UBSAN|circular locking|general protection|Call Trace' |
	sed 's/^/# problem: /'
echo "# tainted $(cat /proc/sys/kernel/tainted)"
t1=$(cut -d' ' -f1 /proc/uptime)
echo "# uptime $t0 $t1"
echo "# VMTEST-END"
sync
reboot -f
