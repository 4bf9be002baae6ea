#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# uapi/accelkv.h compiles for -m32 and -m64 with the same sizes and offsets
# (tests/uapi/abi.c asserts them); through libdrm's drm.h and without it.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
cc=${CC:-gcc}
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# -ffreestanding: no 32-bit libc needed; the kernel's asm headers serve both
asm_inc=/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
for m in 64 32; do
	$cc -m$m -ffreestanding -fsyntax-only -Wall -Werror -DABI_SYNTAX_ONLY -DABI_NO_DRM \
		-I"$top/uapi" -I"$asm_inc" "$top/tests/uapi/abi.c" 2>"${TMPDIR:-/tmp}/abi.$$"
	ok $? "uapi layout with -m$m (linux/types.h)"
	[ -s "${TMPDIR:-/tmp}/abi.$$" ] && sed 's/^/# /' "${TMPDIR:-/tmp}/abi.$$"
done
drm=$(pkg-config --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm)
$cc -m64 -fsyntax-only -Wall -Werror -DABI_SYNTAX_ONLY -I"$top/uapi" $drm "$top/tests/uapi/abi.c"
ok $? "uapi layout with -m64 through libdrm's drm.h"
rm -f "${TMPDIR:-/tmp}/abi.$$"
echo "1..$n"
