#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The build enforces the layers of DESIGN.md (TAP; `make check-layers`): for
# each layer, the include paths of its real compile command (make -n -W, never
# a build) let it reach the headers below it and refuse, with "No such file",
# the ones it may not use (the runtime and accel-mkmodel get dtype sizes and
# quantization from libaccel, never the kernels' kn.h).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
cc=${CC:-gcc}
n=0
fails=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"
		fails=$((fails + 1))
	fi
}
mk() {	# make in the top directory, outside the calling make's jobserver
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make --no-print-directory -C "$top" SANITIZE="${ACCEL_SANITIZE:-}" "$@"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$top" || exit 1

# the build's variables, one per line, in one make run
{
	read -r B
	read -r rt_src
	read -r rt_flags
} < <(mk -s print-B print-RT_SRC print-RT_CPPFLAGS)
# flags_of SOURCE: the -I options of SOURCE's compile command in the Makefile
# (from $cmds: what `make -n -W` would run for every source probed below)
flags_of() {
	printf '%s\n' "$cmds" | grep -- " -c $1 " | tr ' ' '\n' | grep '^-I' | tr '\n' ' '
}
# probe FLAGS HEADER: 0 when #include "HEADER" is found and preprocesses,
# 1 when HEADER itself is not found; 2 otherwise (found, but something it
# includes is missing: it was reachable, so that is no refusal)
probe() {
	printf '#include "%s"\n' "$2" >"$tmp/probe.c"
	if $cc $1 -D_GNU_SOURCE -E -o /dev/null "$tmp/probe.c" 2>"$tmp/err"; then
		return 0
	fi
	grep -q "^$tmp/probe.c:1:[0-9]*: fatal error: $2: No such file" "$tmp/err" && return 1
	sed 's/^/# /' "$tmp/err" | head -3
	return 2
}
sees() { # LAYER FLAGS HEADER...
	local layer=$1 flags=$2 h
	shift 2
	for h in "$@"; do
		probe "$flags" "$h"
		ok $? "$layer sees \"$h\""
	done
}
blind() { # LAYER FLAGS HEADER...
	local layer=$1 flags=$2 h rc
	shift 2
	for h in "$@"; do
		probe "$flags" "$h"
		rc=$?
		[ $rc -eq 1 ]
		ok $? "$layer cannot include \"$h\""
	done
}
first() { ls $1 2>/dev/null | head -1; }
# the first source of each layer; the first private header of each folder
kn_c=$(first 'kernels/cpu/*.c')
accel_c=$(first 'libaccel/src/*.c')
rt_c=$(printf '%s\n' $rt_src | head -1)
tlib_c=$(first 'tools/lib/*.c')
tool_h=$(basename "$(first 'tools/lib/*.h')")
kn_priv=$(basename "$(first 'kernels/cpu/*.h')")
accel_priv=$(basename "$(first 'libaccel/src/*.h')")
rt_priv=$(cd runtime/src && find . -name '*.h' | sed 's|^\./||' | sort | head -1)
if [ -z "$kn_c" ] || [ -z "$accel_c" ] || [ -z "$rt_c" ] || [ -z "$rt_priv" ]; then
	echo "1..0 # SKIP source tree incomplete"
	exit 0
fi
tool_cs=
for t in tools/*/; do
	[ "$t" = tools/lib/ ] || tool_cs="$tool_cs $(first "$t*.c")"
done
test_c=$(first 'tests/unit/*.c')
kvc_c=$(first 'kvcore/*.c')
srcs="$kn_c $kvc_c $accel_c $rt_c $tlib_c $tool_cs $test_c"
args=
for c in $srcs; do
	args="$args -W $c $B/obj/${c%.c}.o"
done
cmds=$(mk -n V=1 $args 2>/dev/null)

# kernels: pure math, their own headers only
f=$(flags_of "$kn_c")
sees kernels "$f" kn.h kn_ops.h
blind kernels "$f" accel.h accelkv.h rt_model.h tap.h ${tool_h:+"$tool_h"}

# kvcore: the KV allocator the driver and libaccel both compile; it
# includes only its own environment headers (kernel C and userspace C)
if [ -n "$kvc_c" ]; then
	f=$(flags_of "$kvc_c")
	[ -z "$f" ]
	ok $? "kvcore compiles with no include path (\"$f\")"
	blind kvcore "$f" accel.h accelkv.h kn.h rt_model.h "$accel_priv" tap.h
fi

# libaccel: kernels, the uapi and kvcore below it; nothing above
f=$(flags_of "$accel_c")
sees libaccel "$f" accel.h accel_cmd.h accelkv.h accelkv_kvcore.h kn.h
blind libaccel "$f" rt_model.h "$rt_priv" "$kn_priv" tap.h ${tool_h:+"$tool_h"}

# runtime: libaccel's API and its own headers (runtime/src for the private
# headers of its subfolders); never the kernels, ioctls or libaccel internals
f=$(flags_of "$rt_c")
sees runtime "$f" rt_model.h rt_gguf.h accel.h "$rt_priv"
blind runtime "$f" accelkv.h accelkv_kvcore.h "$accel_priv" "$kn_priv" tap.h ${tool_h:+"$tool_h"}
blind runtime "$f" kn.h kn_ops.h
want=$(printf '%s\n' $rt_flags | grep '^-I' | sort | tr '\n' ' ')
got=$(printf '%s\n' $f | sort | tr '\n' ' ')
[ "$got" = "$want" ]
ok $? "runtime compiles with its layer flags RT_CPPFLAGS only ($got)"
# and links without them: the runtime's archive calls no kernel directly, so
# a tool needs only the runtime and libaccel (static or libaccel.so)
if [ -f "$B/lib/libaccelrt.a" ]; then
	kn_refs=$(nm -u "$B/lib/libaccelrt.a" 2>/dev/null | grep -c ' kn_')
	[ "$kn_refs" -eq 0 ]
	ok $? "libaccelrt.a references no kn_* symbol ($kn_refs)"
fi

# tools/lib: code shared by the tools, standalone
if [ -n "$tlib_c" ]; then
	f=$(flags_of "$tlib_c")
	sees tools/lib "$f" "$tool_h"
	blind tools/lib "$f" accel.h rt_model.h kn.h accelkv.h
fi

# tools: the runtime's and libaccel's public API and tools/lib
for t in tools/*/; do
	t=${t%/}
	[ "$t" = tools/lib ] && continue
	c=$(first "$t/*.c")
	[ -n "$c" ] || continue
	f=$(flags_of "$c")
	name=${t#tools/}
	sees "$name" "$f" rt_model.h accel.h ${tool_h:+"$tool_h"}
	blind "$name" "$f" accelkv.h "$rt_priv" "$accel_priv" "$kn_priv" tap.h
	case $name in
	accel-bench)	# benchmarks the kernels layer itself: the one allowance
		sees "$name" "$f" kn.h kn_ops.h ;;
	*)
		blind "$name" "$f" kn.h ;;
	esac
done

# tests see every layer (they test internals too)
if [ -n "$test_c" ]; then
	f=$(flags_of "$test_c")
	sees tests "$f" tap.h kn.h accel.h accelkv.h rt_model.h "$rt_priv" ${tool_h:+"$tool_h"}
fi
echo "1..$n"
[ "$fails" -eq 0 ]
