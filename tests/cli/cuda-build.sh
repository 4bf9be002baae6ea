#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CUDA backend compiles (TAP): wherever nvcc exists, `make cuda` builds
# libkn_cuda.a (every kernels/cuda/*.cu with -Werror, for sm_80, sm_90 and
# PTX) and the GPU op tests, so a broken .cu cannot land unnoticed on a
# machine without a GPU. Each object carries device code, the archive defines
# every entry kn_cuda.h declares (libaccel_cuda.a every one of
# libaccel/cuda/cuda_domain.h), and a second `make cuda` has nothing to do.
# Running the kernels needs a GPU: tests/gpu/run.sh. Without nvcc (CI) it
# skips, saying so.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
n=0
fails=0
ok() {
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
cd "$top" || exit 1
nvcc=$(mk -s print-NVCC)
if ! command -v "$nvcc" >/dev/null 2>&1; then
	echo "1..0 # SKIP no nvcc ($nvcc): the CUDA build is checked where the toolkit exists"
	exit 0
fi
echo "1..7"
{
	read -r B
	read -r cu_objs
	read -r lib
	read -r gpu_tests
	read -r alib
} < <(mk -s print-B print-CU_OBJ print-LIBKN_CUDA print-GPU_TESTS print-LIBACCEL_CUDA)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

mk cuda >"$log" 2>&1
rc=$?
[ $rc -eq 0 ]
ok $? "make cuda builds the CUDA kernels and the GPU tests (rc $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$log" | grep -v '^#   \(NVCC\|CC\|AR\|LD\) ' | head -20

missing=0 count=0
for o in $cu_objs; do
	count=$((count + 1))
	objdump -h "$o" 2>/dev/null | grep -q '\.nv_fatbin' || { missing=$((missing + 1)); echo "# no device code in $o"; }
done
[ "$count" -gt 0 ] && [ $missing -eq 0 ]
ok $? "each of the $count kernels/cuda objects carries device code (.nv_fatbin)"

want=$(grep -oE '^(int|void|size_t) kn_cuda_[a-z0-9_]+' kernels/include/kn_cuda.h | awk '{print $2}' | sort)
have=$(nm -g --defined-only "$lib" 2>/dev/null | awk '$2 == "T" {print $3}' | grep '^kn_cuda_' | sort)
absent=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
[ -n "$want" ] && [ -z "$absent" ]
ok $? "$lib defines all $(printf '%s\n' "$want" | wc -l) entries of kn_cuda.h"
[ -z "$absent" ] || printf '# missing: %s\n' $absent

want=$(grep -oE '^(int|void|void \*) \*?accel_(cuda|vram)_[a-z0-9_]+' libaccel/cuda/cuda_domain.h |
	grep -oE 'accel_[a-z0-9_]+' | sort)
have=$(nm -g --defined-only "$alib" 2>/dev/null | awk '$2 == "T" {print $3}' | sort)
absent=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
[ -n "$want" ] && [ -z "$absent" ]
ok $? "$alib (memory domains: VRAM pools, host registration, copies, fence bridges) defines all $(printf '%s\n' "$want" | wc -l) entries of cuda_domain.h"
[ -z "$absent" ] || printf '# missing: %s\n' $absent

exported=$(nm -g --defined-only "$lib" 2>/dev/null | awk '$2 == "T" {print $3}' | grep -v '^kn_cu' | grep -v '^_' | head -5)
[ -z "$exported" ]
ok $? "the archive exports nothing but kn_cuda_* / kn_cu_* functions"
[ -z "$exported" ] || printf '# also exported: %s\n' $exported

all_x=0
for t in $gpu_tests; do
	[ -x "$t" ] || all_x=1
done
[ -n "$gpu_tests" ] && [ $all_x -eq 0 ]
ok $? "the GPU programs (op tests, benchmarks) are linked: $gpu_tests"

mk -q cuda
rc=$?
[ $rc -eq 0 ]
ok $? "a second make cuda has nothing to do (make -q: $rc)"
exit $((fails > 0))
