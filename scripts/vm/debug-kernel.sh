#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build (once, cached) the accelkv debug kernel from Debian's linux-source-6.1:
# tinyconfig + scripts/vm/debug-kernel.config. Output: $VM/dbg/obj (O= tree with
# bzImage and Module.symvers, usable as KDIR). Rebuilds only when the fragment changes.
# Usage: debug-kernel.sh VMDIR   (VMDIR = build/vm); prints the log path on failure.
set -eu
VM=$(realpath "$1")
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FRAG=$TOP/scripts/vm/debug-kernel.config
D=$VM/dbg
OBJ=$D/obj
stamp=$OBJ/.accelkv-frag.sha
want=$(sha256sum "$FRAG" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$OBJ/arch/x86/boot/bzImage" ]; then
	exit 0
fi
mkdir -p "$D" "$VM/debs"
chmod 777 "$VM/debs"
if [ ! -d "$D/src" ]; then
	deb=$(ls "$VM"/debs/linux-source-6.1_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$deb" ]; then
		(cd "$VM/debs" && apt-get download -qq linux-source-6.1 >/dev/null)
		deb=$(ls "$VM"/debs/linux-source-6.1_*.deb | tail -1)
	fi
	rm -rf "$D/x" && mkdir -p "$D/x"
	dpkg -x "$deb" "$D/x"
	tar -C "$D" -xJf "$D"/x/usr/src/linux-source-6.1.tar.xz
	mv "$D"/linux-source-6.1 "$D/src"
	rm -rf "$D/x"
fi
mkdir -p "$OBJ"
log=$D/build.log
{
	make -C "$D/src" O="$OBJ" ARCH=x86_64 tinyconfig
	(cd "$D/src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$OBJ" "$OBJ/.config" "$FRAG")
	make -C "$D/src" O="$OBJ" ARCH=x86_64 olddefconfig
	# every line of the fragment must have survived olddefconfig
	grep -E '^CONFIG_' "$FRAG" | while IFS= read -r l; do
		k=${l%%=*}; v=${l#*=}
		if [ "$v" = n ]; then
			! grep -q "^$k=y" "$OBJ/.config" || { echo "debug-kernel: $k not off"; exit 1; }
		else
			grep -q "^$l\$" "$OBJ/.config" || { echo "debug-kernel: $l did not stick"; exit 1; }
		fi
	done
	nice make -C "$D/src" O="$OBJ" ARCH=x86_64 -j"${JOBS:-2}" bzImage modules
	make -C "$D/src" O="$OBJ" ARCH=x86_64 modules_prepare
} >"$log" 2>&1 || { echo "debug-kernel: build failed, see $log" >&2; tail -20 "$log" >&2; exit 1; }
echo "$want" >"$stamp"
