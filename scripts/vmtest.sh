#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Test accelkv.ko in QEMU (TCG, never KVM): build the module against Debian 12's
# 6.1 and 6.12 kernels, the guest programs statically, an initramfs per kernel;
# boot each kernel, run the suites, judge by TAP lines and the end marker.
# Without --quick also a debug kernel (KUnit, KASAN, lockdep, kmemleak) built
# once from Debian's linux-source-6.1 and cached under build/vm/dbg.
# Usage: scripts/vmtest.sh [--quick] [--only 6.1|6.12|debug]
# VMTEST_SUITES="a b" runs only those guest suites (while developing).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
VM=$TOP/build/vm
QUICK=0
ONLY=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only) ONLY=$2; shift ;;
	*) echo "usage: $0 [--quick] [--only 6.1|6.12|debug]" >&2; exit 2 ;;
	esac
	shift
done
T_START=$(date +%s)
say() { echo "vmtest: $*"; }
die() { echo "vmtest: error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ deps
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_pkgs() {
	local p missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
need_pkgs linux-headers-amd64 qemu-system-x86 busybox-static kmod cpio xz-utils \
	liburing-dev libdrm-dev build-essential
[ $QUICK = 1 ] || need_pkgs flex bison libelf-dev bc libssl-dev

mkdir -p "$VM/debs"
chmod 777 "$VM/debs"	# apt-get download runs as the _apt user
fetch_deb() {	# fetch_deb PACKAGE -> path of the .deb
	local f
	f=$(ls "$VM/debs/$1"_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$f" ]; then
		(cd "$VM/debs" && apt-get download -qq "$1" >/dev/null 2>&1) || die "apt-get download $1"
		f=$(ls "$VM/debs/$1"_*.deb | tail -1)
	fi
	echo "$f"
}
dep_of() {	# dep_of META-PACKAGE PREFIX: the versioned package it depends on
	apt-cache depends "$1" 2>/dev/null | sed -n "s/^ *Depends: \($2[^ ]*\).*/\1/p" | head -1
}

# ------------------------------------------------------- guest programs
GUEST=$VM/guest
build_guest() {
	local src out
	mkdir -p "$GUEST"
	for src in "$TOP"/tests/vm/guest/*.c; do
		out=$GUEST/$(basename "$src" .c)
		[ "$out" -nt "$src" ] && [ "$out" -nt "$TOP/tests/vm/guest/akv.h" ] &&
			[ "$out" -nt "$TOP/uapi/accelkv.h" ] && [ "$out" -nt "$TOP/tests/lib/memlimits.c" ] &&
			continue
		gcc -static -std=gnu11 -O2 -g0 -Wall -Wextra -Werror -Wno-unused-parameter \
			-D_GNU_SOURCE -I"$TOP/uapi" -I"$TOP/tests/lib" -I"$TOP/tests/vm/guest" \
			-I/usr/include/libdrm -o "$out" "$src" "$TOP/tests/lib/tap.c" "$TOP/tests/lib/memlimits.c" \
			-ldrm -luring -lpthread || die "building $src"
	done
	# conformance suite and accelctl, linked statically against libaccel
	if [ -d "$TOP/tests/conformance" ] && ls "$TOP"/tests/conformance/*.c >/dev/null 2>&1; then
		if make -C "$TOP" -j2 --no-print-directory build/lib/libaccel.a build/lib/libkn.a \
			build/lib/libtest.a >/dev/null 2>&1; then
			for src in "$TOP"/tests/conformance/*.c; do
				out=$GUEST/conformance-$(basename "$src" .c)
				rm -f "$out"
				gcc -static -std=gnu11 -O2 -D_GNU_SOURCE -I"$TOP/uapi" \
					-I"$TOP/libaccel/include" -I"$TOP/kernels/include" \
					-I"$TOP/runtime/include" -I"$TOP/tests/lib" -I/usr/include/libdrm \
					-o "$out" "$src" "$TOP/build/lib/libtest.a" "$TOP/build/lib/libaccel.a" \
					"$TOP/build/lib/libkn.a" -luring -ldrm -lm -lpthread ||
					say "conformance $(basename "$src"): static build failed"
			done
		fi
	fi
	# accel-run, static: the runtime on the driver (suite runtime)
	if make -C "$TOP" -j2 --no-print-directory build/lib/libaccel.a build/lib/libkn.a \
		build/lib/libaccelrt.a build/lib/libacceltools.a build/lib/libtest.a >/dev/null 2>&1; then
		rm -f "$GUEST/accel-run"
		# (no MPI in the guest: the pipeline transport compiles to its stub)
		gcc -static -std=gnu11 -O2 -D_GNU_SOURCE -I"$TOP/libaccel/include" \
			-I"$TOP/runtime/include" -I"$TOP/tools/lib" -I"$TOP/tools/pipeline" \
			-o "$GUEST/accel-run" "$TOP"/tools/accel-run/*.c "$TOP"/tools/pipeline/*.c \
			"$TOP/build/lib/libacceltools.a" \
			"$TOP/build/lib/libaccelrt.a" "$TOP/build/lib/libaccel.a" "$TOP/build/lib/libkn.a" \
			-luring -ldrm -lpcre2-8 -lm -lpthread -ldl 2>/dev/null ||
			say "accel-run: static build failed"
		# runtime test programs (tests/vm/rt), static: the runtime on the driver
		for src in "$TOP"/tests/vm/rt/*.c; do
			[ -f "$src" ] || continue
			out=$GUEST/$(basename "$src" .c)
			rm -f "$out"
			gcc -static -std=gnu11 -O2 -D_GNU_SOURCE -I"$TOP/libaccel/include" \
				-I"$TOP/runtime/include" -I"$TOP/tests/lib" -o "$out" "$src" \
				"$TOP/build/lib/libtest.a" "$TOP/build/lib/libaccelrt.a" \
				"$TOP/build/lib/libaccel.a" "$TOP/build/lib/libkn.a" \
				-luring -ldrm -lpcre2-8 -lm -lpthread 2>/dev/null ||
				say "$(basename "$src"): static build failed"
		done
	fi
	# accelctl uses libaccel only (and the tools' shared parsers in tools/lib)
	if ls "$TOP"/tools/accelctl/*.c >/dev/null 2>&1 &&
		make -C "$TOP" -j2 --no-print-directory build/lib/libaccel.a build/lib/libkn.a \
			>/dev/null 2>&1; then
		rm -f "$GUEST/accelctl"
		gcc -static -std=gnu11 -O2 -D_GNU_SOURCE -I"$TOP/libaccel/include" \
			-I"$TOP/runtime/include" -I"$TOP/tools/lib" \
			-o "$GUEST/accelctl" "$TOP"/tools/accelctl/*.c "$TOP"/tools/lib/*.c \
			"$TOP/build/lib/libaccel.a" "$TOP/build/lib/libkn.a" \
			-luring -ldrm -lm -lpthread 2>/dev/null ||
			say "accelctl: static build failed"
	fi
}

# -------------------------------------------------------------- module
build_module() {	# build_module TAG KDIR [make args...] -> $VM/TAG/src/driver/*.ko
	local tag=$1 kdir=$2 src=$VM/$1/src log=$VM/$1/module.log
	shift 2
	mkdir -p "$src"
	# M= builds in place: one copy of the sources per kernel, built from
	# the top-level Kbuild as DKMS and packagers do
	rm -rf "$src/driver" "$src/uapi" "$src/kvcore" "$src/Kbuild"
	cp -r "$TOP/Kbuild" "$TOP/driver" "$TOP/uapi" "$TOP/kvcore" "$src/"
	rm -f "$src"/driver/*.o "$src"/driver/*.ko "$src"/driver/tests/*.o "$src"/kvcore/*.o
	if ! make -C "$kdir" M="$src" W=1 CONFIG_DEBUG_INFO_BTF_MODULES= "$@" modules \
		>"$log" 2>&1; then
		cat "$log" >&2
		die "module build failed for $tag"
	fi
	if grep -E 'warning:|error:' "$log" | grep -v 'Skipping BTF' >&2; then
		die "module build for $tag has warnings"
	fi
}

# ------------------------------------------------------------ initramfs
# make_initrd TAG KIND SUITES PARAMS MODULE...: MODULEs are dependency .ko/.ko.xz
make_initrd() {
	local tag=$1 kind=$2 suites=$3 params=$4 st=$VM/$1/initrd m
	shift 4
	rm -rf "$st"
	mkdir -p "$st/bin" "$st/etc" "$st/tests" "$st/deps"
	cp /bin/busybox "$st/bin/busybox"
	cp "$TOP/scripts/vm/init.sh" "$st/init"
	: >"$st/modules.list"
	for m in "$@"; do
		case $m in
		*.xz) xz -dc "$m" >"$st/deps/$(basename "$m" .xz)" ;;
		*) cp "$m" "$st/deps/" ;;
		esac
		echo "deps/$(basename "${m%.xz}")" >>"$st/modules.list"
	done
	# modules a suite loads itself, with its own parameters (freeze: null_blk)
	mkdir -p "$st/opt"
	for m in ${OPT_KO:-}; do
		case $m in
		*.xz) xz -dc "$m" >"$st/opt/$(basename "$m" .xz)" ;;
		*) cp "$m" "$st/opt/" ;;
		esac
	done
	cp "$VM/$tag/src/driver/accelkv.ko" "$st/"
	[ -f "$VM/$tag/src/driver/tests/accelkv_kunit.ko" ] &&
		cp "$VM/$tag/src/driver/tests/accelkv_kunit.ko" "$st/"
	cp "$GUEST"/* "$st/tests/"
	cp "$TOP"/tests/vm/guest/*.sh "$st/tests/" 2>/dev/null || true
	cat >"$st/etc/vmtest.conf" <<-CONF
	KIND=$kind
	CPUS=$VM_CPUS
	SUITES="$suites"
	ACCELKV_PARAMS="$params"
	CONF
	(cd "$st" && find . | cpio -o -H newc --quiet | gzip -1) >"$VM/$tag/initrd.gz"
}

# ------------------------------------------------------ runtime models
# The runtime suite's disk (ext4, /dev/vdb in the guest): stories260K and an
# accel-mkmodel model, with the greedy ids the emulated device prints for
# them on this host, resident and streamed at the smallest budget the tool
# accepts (no layer resident: every one goes through the driver's LOAD).
# Both sides force the scalar kernels: the guest CPU (TCG) has no AVX-512.
MODELS=$VM/models.img
RT_PROMPT="Once upon a time"
RT_SYS="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her mom. One day, she saw a big red ball under a tree."
make_models() {
	local fs=$VM/rt/fs m min run_emu
	make -C "$TOP" -j2 --no-print-directory build/bin/accel-run build/bin/accel-mkmodel \
		>/dev/null 2>&1 || die "building accel-run for the host references"
	rm -rf "$VM/rt" "$MODELS"
	mkdir -p "$fs"
	cp "$TOP/tests/models/stories260K.gguf" "$fs/stories.gguf"
	# weights over 2 MiB: the runtime's pools on the driver's huge pages
	cp "$TOP/tests/models/random/small-moe-random-q6_k.gguf" "$fs/moe.gguf"
	"$TOP/build/bin/accel-mkmodel" --preset small --type q4_0 --seed 7 -o "$fs/small.gguf" \
		>/dev/null 2>&1 || die "accel-mkmodel small"
	run_emu() { ACCEL_DEVICE=emu KN_ISA=scalar "$TOP/build/bin/accel-run" "$@"; }
	for m in stories small; do
		run_emu -m "$fs/$m.gguf" -b 4 -p "$RT_PROMPT" -n 12 --temp 0 --ids -t 2 \
			>"$fs/$m.resident.ids" 2>/dev/null || die "host run of $m"
		# refused (exit 1) with the minimum in its message
		min=$({ run_emu -m "$fs/$m.gguf" -b 4 -p hi --mem-budget 1K 2>&1 || true; } |
			sed -n 's/.*needs at least \([0-9.]*[KMG]\).*/\1/p')
		[ -n "$min" ] || die "no minimum budget stated for $m"
		echo "$min" >"$fs/$m.budget"
		run_emu -m "$fs/$m.gguf" -b 4 -p "$RT_PROMPT" -n 12 --temp 0 --ids -t 2 \
			--mem-budget "$min" >"$fs/$m.streamed.ids" 2>/dev/null || die "host streamed run of $m"
		cmp -s "$fs/$m.resident.ids" "$fs/$m.streamed.ids" ||
			die "$m: streamed ids differ from resident ones on the host"
	done
	echo "$RT_PROMPT" >"$fs/prompt"
	# prefix_share: a system prompt, two endings; ids computed in full here
	echo "$RT_SYS" >"$fs/share.sys"
	echo "Lily wanted to" >"$fs/share.a"
	echo "The ball was" >"$fs/share.b"
	for m in a b; do
		run_emu -m "$fs/stories.gguf" -c 256 -b 4 -p "$RT_SYS $(cat "$fs/share.$m")" -n 12 \
			--temp 0 --ids -t 2 >"$fs/share.$m.ids" 2>/dev/null || die "host run share.$m"
	done
	mkdir -p "$fs/scratch"
	mke2fs -q -t ext4 -F -d "$fs" "$MODELS" 64M || die "mke2fs of the models disk"
}

# ------------------------------------------------------------------ boot
DISK=$VM/disk.img
VM_CPUS=2	# races need two CPUs the guest really uses
make_disk() {
	[ -f "$DISK" ] && [ "$(stat -c %s "$DISK")" -eq $((64 << 20)) ] && return 0
	head -c $((64 << 20)) /dev/urandom >"$DISK"
}

# boot TAG KERNEL-IMAGE MEM: result in $VM/TAG/result.log, console in console.log
boot() {
	local tag=$1 kernel=$2 mem=$3 t0 t1
	rm -f "$VM/$tag/result.log" "$VM/$tag/console.log"
	t0=$(date +%s.%N)
	# Two sockets of one CPU each: with plain -smp 2 (one socket, two
	# cores) SeaBIOS's MP table lists one CPU per socket, and the debug
	# kernel (no ACPI) brings up only one. init.sh checks what it sees.
	timeout 600 qemu-system-x86_64 -accel tcg -cpu max -m "$mem" \
		-smp "$VM_CPUS,sockets=$VM_CPUS,cores=1,threads=1" \
		-kernel "$kernel" -initrd "$VM/$tag/initrd.gz" -display none -monitor none \
		-no-reboot -serial "file:$VM/$tag/console.log" -serial "file:$VM/$tag/result.log" \
		-drive "file=$DISK,if=virtio,format=raw,cache=none" \
		-drive "file=$MODELS,if=virtio,format=raw,cache=none" \
		-append "console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init" \
		>"$VM/$tag/qemu.log" 2>&1 || true
	t1=$(date +%s.%N)
	BOOT_SECS=$(echo "$t1 - $t0" | bc)
}

# judge TAG: print per-suite counts; add to totals; return 1 on failure
TOTAL_PASS=0
TOTAL_FAIL=0
RAN=""	# per kernel, the suites its guest started (for the summary)
FAILED_KERNELS=""
judge() {
	local tag=$1 res=$VM/$1/result.txt con=$VM/$1/console.log bad=0 out
	# the serial port ends lines with CR LF
	tr -d '\r' <"$VM/$1/result.log" >"$res" 2>/dev/null || : >"$res"

	if ! grep -q '^# VMTEST-END' "$res" 2>/dev/null; then
		say "$tag: no end marker; console tail:"
		tail -30 "$con" 2>/dev/null | sed 's/^/  | /'
		tail -10 "$res" 2>/dev/null | sed 's/^/  > /'
		bad=1
	fi
	out=$(awk -v tag="$tag" '
		function flush() {
			if (suite == "") return
			if (suite == "kunit") {
				# KTAP: leaf cases sit deeper than the suite result lines
				sf = 0
				for (i = 1; i <= n; i++) {
					if (ind[i] > minind) { if (res[i]) p++; else f++ }
					else if (!res[i]) sf++
				}
				if (f == 0 && sf > 0) f = sf
				if (n == 0) f++
			} else {
				# a whole-suite skip ("1..0 # SKIP") proves nothing here
				if (planned <= 0 || planned != cnt) f++
				if (rc != 0 && f == 0) f++
			}
			printf "  %-8s %-24s %d passed, %d failed, %d skipped\n", tag, suite, p, f, sk
			P += p; F += f
			suite = ""
		}
		/^# suite / { flush(); suite = $3; p = 0; f = 0; sk = 0; cnt = 0; planned = -1; rc = -1
			n = 0; minind = 1000; next }
		/^# exit / { rc = $4 + 0; if (suite != "kunit") flush(); else { flush() } next }
		suite == "" { next }
		suite == "kunit" && /^[ \t]*(not )?ok [0-9]/ {
			match($0, /^[ \t]*/); n++; ind[n] = RLENGTH
			res[n] = ($0 !~ /^[ \t]*not ok/) || ($0 ~ /# SKIP/)
			if (RLENGTH < minind) minind = RLENGTH
			next }
		suite != "kunit" && /^[0-9]+\.\.[0-9]+/ { split($1, a, "\\.\\."); planned = a[2] + 0
			if ($0 ~ /# SKIP/) { sk++ } next }
		suite != "kunit" && /^ok [0-9]/ { cnt++; if ($0 ~ /# SKIP/) sk++; else p++; next }
		suite != "kunit" && /^not ok [0-9]/ { cnt++; if ($0 ~ /# TODO/) p++; else f++; next }
		END { flush(); printf "TOTAL %d %d\n", P, F }
	' "$res" 2>/dev/null || echo "TOTAL 0 1")
	echo "$out" | grep -v '^TOTAL'
	local p f
	p=$(echo "$out" | awk '/^TOTAL/ {print $2}')
	f=$(echo "$out" | awk '/^TOTAL/ {print $3}')
	if grep -q '^# problem: ' "$res" 2>/dev/null; then
		say "$tag: kernel reported problems:"
		grep '^# problem: ' "$res" | head -20 | sed 's/^/  /'
		bad=1
	fi
	if grep -E 'BUG:|WARNING:|Oops|KASAN|INFO: possible|kernel panic|Kernel panic' "$con" >/dev/null 2>&1; then
		say "$tag: console shows a kernel problem:"
		grep -E -A5 'BUG:|WARNING:|Oops|KASAN|INFO: possible|Kernel panic' "$con" | head -40 | sed 's/^/  | /'
		bad=1
	fi
	local taint
	taint=$(sed -n 's/^# tainted \([0-9]*\).*/\1/p' "$res" 2>/dev/null | tail -1)
	# allowed: O (out-of-tree, 4096), E (unsigned, 8192), N (test, 262144)
	if [ -z "$taint" ] || [ $((taint & ~(4096 | 8192 | 262144))) -ne 0 ]; then
		say "$tag: taint ${taint:-unknown} beyond out-of-tree/unsigned/test"
		bad=1
	fi
	grep -q '^# rmmod ok' "$res" 2>/dev/null || { say "$tag: rmmod failed"; bad=1; }
	local leaks
	leaks=$(sed -n 's/^# kmemleak \([0-9]*\)/\1/p' "$res" 2>/dev/null)
	if [ -n "$leaks" ] && [ "$leaks" != 0 ]; then
		say "$tag: kmemleak found $leaks objects"
		grep '^# ' "$res" | grep -A3 unreferenced | head -20
		bad=1
	fi
	[ "$bad" = 1 ] && f=$((f + 1))
	RAN="$RAN
vmtest: $tag ran:$(sed -n 's/^# suite \([^ ]*\).*/ \1/p' "$res" | tr -d '\n')"
	say "$tag: $p passed, $f failed (boot to result ${BOOT_SECS}s)"
	TOTAL_PASS=$((TOTAL_PASS + p))
	TOTAL_FAIL=$((TOTAL_FAIL + f))
	[ "$f" = 0 ] || FAILED_KERNELS="$FAILED_KERNELS $tag"
}

SUITES="${VMTEST_SUITES:-ioctl_neg pool_map kv uring share leak race accelctl_session runtime prefix_share sched_disk freeze}"
conformance_suites() {	# one suite per conformance program (a missing build fails)
	local f
	for f in "$TOP"/tests/conformance/*.c; do
		[ -f "$f" ] && printf ' conformance-%s' "$(basename "$f" .c)"
	done
}

# ---------------------------------------------------------- Debian kernel
# debian_kernel TAG VERSIONED-KVER-or-empty
run_debian() {
	local tag=$1 kver=$2 img=$VM/$1/img kdir deps m
	mkdir -p "$VM/$tag"
	if [ ! -f "$img/boot/vmlinuz-$kver" ]; then
		rm -rf "$img"
		dpkg -x "$(fetch_deb "linux-image-$kver")" "$img"
		depmod -b "$img" "$kver"
	fi
	if [ "$tag" = 6.1 ]; then
		need_pkgs "linux-headers-$kver"
		kdir=/lib/modules/$kver/build
	else
		local hdr=$VM/$tag/hdr
		kdir=$hdr/usr/src/linux-headers-$kver
		if [ ! -f "$kdir/.accelkv-ok" ]; then
			rm -rf "$hdr"
			mkdir -p "$hdr"
			local common kb
			common=$(dep_of "linux-headers-$kver" linux-headers-)
			kb=$(dep_of "linux-headers-$kver" linux-kbuild-)
			for p in "linux-headers-$kver" "$common" "$kb"; do
				dpkg -x "$(fetch_deb "$p")" "$hdr"
			done
			# its Makefile includes the common tree by absolute path
			sed -i "s|^include /usr/src/|include $hdr/usr/src/|" "$kdir/Makefile"
			touch "$kdir/.accelkv-ok"
		fi
	fi
	build_module "$tag" "$kdir"
	# one module name per call (a second name would be taken as a parameter)
	local files="" m1
	for m1 in drm virtio_pci virtio_blk ext4; do
		deps=$(modprobe -d "$img" -S "$kver" --show-depends "$m1" 2>/dev/null |
			awk '/^insmod/ {print $2}')
		for m in $deps; do
			case " $files " in *" $m "*) ;; *) files="$files $m" ;; esac
		done
	done
	OPT_KO=$(modprobe -d "$img" -S "$kver" --show-depends null_blk 2>/dev/null |
		awk '/^insmod/ {print $2}')
	# shellcheck disable=SC2086
	make_initrd "$tag" debian "$SUITES" "pinned_limit_mb=256" $files
	OPT_KO=""
	boot "$tag" "$img/boot/vmlinuz-$kver" 1024
	judge "$tag" || true
}

run_debug() {
	local tag=debug obj=$VM/dbg/obj
	say "debug kernel: building (cached after the first run; ~8-12 min on 2 cores)"
	"$TOP/scripts/vm/debug-kernel.sh" "$VM" || die "debug kernel build failed"
	mkdir -p "$VM/$tag"
	build_module "$tag" "$obj"
	# conformance-stress times fence waits (20 s for 6000 syncobj points):
	# KASAN under TCG is ~10x slower, so it runs on the Debian kernels only
	# runtime, prefix_share, sched_disk and freeze need ext4 and null_blk
	# (modules of the Debian kernels only); the first three run whole
	# models: under KASAN and TCG that would take minutes
	local dsuites=${SUITES/ conformance-stress/}
	dsuites=${dsuites/ runtime/}
	dsuites=${dsuites/ prefix_share/}
	dsuites=${dsuites/ sched_disk/}
	make_initrd "$tag" debug "${dsuites/ freeze/}" "pinned_limit_mb=256"
	boot "$tag" "$obj/arch/x86/boot/bzImage" 1024
	judge "$tag" || true
}

build_guest
[ -n "${VMTEST_SUITES:-}" ] || SUITES="$SUITES$(conformance_suites)"
make_disk
make_models
K61=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null | sed 's/^linux-headers-//; s/[ ,].*//')
K612=$(dep_of linux-headers-6.12-amd64 linux-headers- | sed 's/^linux-headers-//')
[ -n "$K61" ] || die "cannot find the 6.1 kernel version"
[ -n "$K612" ] || die "cannot find the 6.12 kernel version"
say "kernels: $K61 $K612$([ $QUICK = 1 ] || echo ' debug')"
[ -z "$ONLY" ] || [ "$ONLY" = 6.1 ] && run_debian 6.1 "$K61"
[ -z "$ONLY" ] || [ "$ONLY" = 6.12 ] && run_debian 6.12 "$K612"
if [ $QUICK = 0 ] && { [ -z "$ONLY" ] || [ "$ONLY" = debug ]; }; then
	run_debug
fi
echo "${RAN#?}"
say "overall: $TOTAL_PASS passed, $TOTAL_FAIL failed ($(($(date +%s) - T_START)) s)"
[ "$TOTAL_FAIL" = 0 ] || { say "failed:$FAILED_KERNELS"; exit 1; }
