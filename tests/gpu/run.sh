#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU session's one script (DESIGN.md: a lent H100/H200, 15 minutes of
# device time, nvcc 13, no liburing/libdrm/PCRE2 there): build the CUDA
# kernels and their op tests with nvcc, run the op tests (TAP: every op
# against the CPU kernels) and the kernels' benchmarks (build/gpu/bench_cuda:
# bandwidth and throughput as ratios to the device's), optionally the tests
# under compute-sanitizer, and keep the logs in $OUT (the device tool's output folder; build/gpu-out elsewhere).
#
#   tests/gpu/run.sh              build + op tests (about 2 minutes on 16 cores)
#   tests/gpu/run.sh --memcheck   the same, then compute-sanitizer memcheck and racecheck
#
# The end-to-end step (accel-run with the GPU placement against the CPU's
# greedy ids) runs once accel-run has --gpu: libaccel's CUDA COMPUTE backend
# is the next step of issue 9; until then the script says so and stops there.
set -u
top="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$top/build/gpu-out}"
memcheck=0
for a in "$@"; do
	case "$a" in
	--memcheck) memcheck=1 ;;
	*) echo "run.sh: unknown option $a (--memcheck)" >&2; exit 2 ;;
	esac
done
mkdir -p "$out" || exit 1
cd "$top" || exit 1

stamp() { date -u +%H:%M:%S; }
{
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
		--format=csv 2>&1
	nvcc --version 2>&1 | tail -2
} | tee "$out/device.txt"

echo "# $(stamp) make cuda"
if ! make -j"$(nproc)" cuda >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log"
	echo "run.sh: make cuda failed (log: $out/build.log)" >&2
	exit 1
fi

echo "# $(stamp) op tests"
timeout 300 build/gpu/test_backend_ops 2>&1 | tee "$out/test_backend_ops.tap"
rc=${PIPESTATUS[0]}
echo "# $(stamp) op tests: exit $rc"

echo "# $(stamp) benchmarks"
timeout 120 build/gpu/bench_cuda 2>&1 | tee "$out/bench.txt"

if [ $memcheck -eq 1 ] && command -v compute-sanitizer >/dev/null; then
	for tool in memcheck racecheck; do
		echo "# $(stamp) compute-sanitizer --tool $tool"
		timeout 240 compute-sanitizer --tool "$tool" --error-exitcode 3 \
			build/gpu/test_backend_ops >"$out/sanitizer-$tool.log" 2>&1
		s=$?
		tail -5 "$out/sanitizer-$tool.log"
		[ $s -eq 0 ] || rc=$s
	done
fi

if [ -x build/bin/accel-run ] && build/bin/accel-run --help 2>&1 | grep -q -- '--gpu'; then
	echo "# $(stamp) accel-run --gpu against the CPU's greedy ids"
	m=tests/models/stories260K.gguf
	build/bin/accel-run -m "$m" -p "Once upon a time" -n 32 --temp 0 --ids >"$out/cpu.ids" &&
		build/bin/accel-run -m "$m" -p "Once upon a time" -n 32 --temp 0 --ids --gpu \
			>"$out/gpu.ids" && cmp "$out/cpu.ids" "$out/gpu.ids"
	s=$?
	echo "# greedy ids GPU == CPU: $([ $s -eq 0 ] && echo yes || echo NO)"
	[ $s -eq 0 ] || rc=1
else
	echo "# accel-run has no --gpu yet (libaccel's CUDA backend): end-to-end check not run"
fi
exit $rc
