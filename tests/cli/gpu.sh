#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --gpu where it cannot run (TAP): every way the GPU backend can be missing
# gives accel-run and accel-bench one "TOOL: --gpu: ..." line and exit 1,
# never a crash or a silent CPU run: the backend object absent (a machine
# without CUDA: ACCEL_GPU_LIB points nowhere), a file that does not load, a
# shared object that is no backend, a backend of another ABI version (built
# here from a few lines of C), and, where make built libaccel-cuda.so.1
# (nvcc present), the real backend on a machine without a usable GPU. The
# object itself: it exports its entry point alone, and a run without --gpu
# never loads it (the CPU tools need no CUDA library).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${ACCEL_BUILD:-$top/build}"
run_bin="$build/bin/accel-run"
bench_bin="$build/bin/accel-bench"
so="$build/lib/libaccel-cuda.so.1"
model="$top/tests/models/stories260K.gguf"
[ -f "$model" ] || model=/work/shared/models/stories260K.gguf
if [ ! -x "$run_bin" ] || [ ! -x "$bench_bin" ] || [ ! -f "$model" ]; then
	echo "1..0 # SKIP accel-run, accel-bench or stories260K missing"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..13"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
# one_line TOOL PATTERN NAME CMD...: exit 1, stdout empty, exactly one stderr
# line "TOOL: --gpu: ...PATTERN..."
one_line() {
	local tool=$1 pat=$2 name=$3 rc lines
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] &&
		grep -q "^$tool: --gpu: .*$pat" "$tmp/err"
	ok $? "$name"
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] || { echo "# rc $rc"; sed 's/^/# /' "$tmp/err" | head -5; }
}
runp=(-m "$model" -p "Once upon a time" -n 4 --temp 0 --gpu)

# 1-2: no CUDA at all: the object is not there
ACCEL_GPU_LIB="$tmp/none/libaccel-cuda.so.1" one_line accel-run "no CUDA backend" \
	"accel-run --gpu without the backend object: one line, exit 1" "$run_bin" "${runp[@]}"
ACCEL_GPU_LIB="$tmp/none/libaccel-cuda.so.1" one_line accel-bench "no CUDA backend" \
	"accel-bench decode --gpu without the backend object: one line, exit 1" \
	"$bench_bin" decode -m "$model" -p 8 -n 2 -r 1 --gpu

ACCEL_GPU_LIB="$tmp/none/libaccel-cuda.so.1" "$bench_bin" gpu >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^accel-bench: gpu: no CUDA backend' "$tmp/err"
ok $? "accel-bench gpu without the backend object: one line, exit 1"

# 3: the object is there but does not load (as when its CUDA libraries are missing)
printf 'not an ELF object\n' >"$tmp/libaccel-cuda.so.1"
ACCEL_GPU_LIB="$tmp/libaccel-cuda.so.1" one_line accel-run "cannot load the CUDA backend" \
	"a backend object that does not load: one line with the loader's reason" \
	"$run_bin" "${runp[@]}"

# 4: a shared object without the entry point
nolib=$(ls "$build"/lib/libaccel.so.0 2>/dev/null || ls /lib/x86_64-linux-gnu/libm.so.6)
ACCEL_GPU_LIB="$nolib" one_line accel-run "is not a GPU backend of ABI version 1 (no accel_gpu_entry)" \
	"a shared object without accel_gpu_entry is refused" "$run_bin" "${runp[@]}"

# 5: a backend that speaks another ABI version only
cat >"$tmp/fake.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
struct ops { uint32_t abi_version, size; };
static const struct ops v2 = { 2, sizeof(struct ops) };
const struct ops *accel_gpu_entry(uint32_t v) { return v == 2 ? &v2 : NULL; }
EOF
if ${CC:-cc} -shared -fPIC -o "$tmp/fake.so" "$tmp/fake.c" 2>"$tmp/ccerr"; then
	ACCEL_GPU_LIB="$tmp/fake.so" one_line accel-run "is not a GPU backend of ABI version 1$" \
		"a backend of another ABI version is refused" "$run_bin" "${runp[@]}"
else
	ok 1 "cc builds the fake backend"
	sed 's/^/# /' "$tmp/ccerr"
fi

# 6: without --gpu nothing loads the backend or any CUDA library
LD_DEBUG=files "$run_bin" -m "$model" -p "Once" -n 2 --temp 0 >/dev/null 2>"$tmp/ld"
! grep -qiE 'libaccel-cuda|libcudart|libcublas' "$tmp/ld"
ok $? "a run without --gpu loads no CUDA object"

# 7: the tools link no CUDA library
! ldd "$run_bin" "$bench_bin" | grep -qiE 'cuda|cublas'
ok $? "accel-run and accel-bench link no CUDA library"

# 8-11: the real backend, where make built it (nvcc present)
if [ ! -f "$so" ]; then
	for t in 9 10 11 12 13; do
		skip "$so not built (no nvcc: make builds it where the CUDA toolkit is)"
	done
	exit 0
fi
syms=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)
[ "$syms" = "accel_gpu_entry" ]
ok $? "$so exports accel_gpu_entry alone"
[ "$syms" = "accel_gpu_entry" ] || printf '# exports: %s\n' $syms | head -5

# it calls libaccel only through the host table (a static program's libaccel
# symbols are not visible to it)
! nm -D --undefined-only "$so" | grep -qE ' accel_'
ok $? "$so needs no libaccel symbol"

if nvidia-smi -L >/dev/null 2>&1; then
	skip "a GPU is present: the no-device refusal cannot be shown here"
	skip "a GPU is present: the no-device refusal cannot be shown here"
else
	one_line accel-run "no usable CUDA device" \
		"accel-run --gpu on a machine without a GPU: the backend loads and says no device" \
		"$run_bin" "${runp[@]}"
	one_line accel-bench "no usable CUDA device" \
		"accel-bench decode --gpu on a machine without a GPU: one line" \
		"$bench_bin" decode -m "$model" -p 8 -n 2 -r 1 --gpu
fi
if nvidia-smi -L >/dev/null 2>&1; then
	skip "a GPU is present: the no-device refusal cannot be shown here"
else
	"$bench_bin" gpu >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
		grep -q '^accel-bench: gpu: no usable CUDA device' "$tmp/err"
	ok $? "accel-bench gpu on a machine without a GPU: one line, exit 1"
fi
