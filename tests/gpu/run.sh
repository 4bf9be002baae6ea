#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU session's one script (DESIGN.md: a lent H100/H200, 15 minutes of
# device time, nvcc 13, no liburing/libdrm/PCRE2/MPI there, no installs):
#
#   tests/gpu/run.sh --bundle build/gpu-bundle.tar.xz   the programs built
#                       elsewhere (scripts/gpu-bundle.sh: tools, the CUDA
#                       backend, GPU tests and the shared objects they load)
#   tests/gpu/run.sh    builds here instead (make cuda and make: needs the
#                       libraries the GPU machine lacks, so only on ours)
#   --memcheck          also the op tests under compute-sanitizer memcheck
#                       and racecheck (adds up to 4 minutes)
#   --big               also decode tokens/s of an accel-mkmodel llama-7b
#                       Q4_0 model resident on the GPU against the CPU (the
#                       file, 3.8 GB, in $TMPDIR; adds up to 4 minutes)
#
# Steps, each with its own timeout so the whole stays under 8 minutes:
# device; the op tests (every CUDA op against the CPU kernels, TAP); the
# engines through libaccel (tests/conformance/gpu: VRAM twins, UPLOAD,
# COMPUTE on the GPU, DOWNLOAD, fences); the models (test_gpu_model:
# teacher-forced top-1 >= 99% and logits NMSE <= 1e-4 against the CPU on nine
# models); accel-run --gpu greedy ids against the CPU's; the kernels'
# benchmarks; accel-bench decode on the GPU and the CPU. Logs in $OUT (the
# device tool's output folder; build/gpu-out elsewhere). Exit 0 only if every
# test step passed.
set -u
top="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$top/build/gpu-out}"
memcheck=0
big=0
bundle=
while [ $# -gt 0 ]; do
	case "$1" in
	--memcheck) memcheck=1 ;;
	--big) big=1 ;;
	--bundle) bundle=${2:-}; shift ;;
	*) echo "run.sh: unknown option $1 (--bundle FILE, --memcheck, --big)" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$out" || exit 1
cd "$top" || exit 1
stamp() { date -u +%H:%M:%S; }
rc=0
# step NAME TIMEOUT CMD...: run, log to $OUT/NAME.log, keep the first failure
step() {
	local name=$1 t=$2 s
	shift 2
	echo "# $(stamp) $name"
	timeout "$t" "$@" >"$out/$name.log" 2>&1
	s=$?
	grep -E '^(not ok|ok|1\.\.|#|Bail out)' "$out/$name.log" | grep -v '^ok' | head -40
	grep -cE '^ok' "$out/$name.log" | sed "s/^/# $name: ok lines: /"
	echo "# $(stamp) $name: exit $s"
	[ $s -eq 0 ] || rc=$s
	return $s
}

{
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
		--format=csv 2>&1
	nvcc --version 2>&1 | tail -2
	ldd --version 2>&1 | head -1
} | tee "$out/device.txt"

if [ -n "$bundle" ]; then
	dir=$(mktemp -d)
	tar -C "$dir" -xJf "$bundle" || { echo "run.sh: cannot unpack $bundle" >&2; exit 1; }
	B="$dir/accel-gpu"
	export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
	echo "# $(stamp) make cuda and make"
	if ! { make -j"$(nproc)" cuda && make -j"$(nproc)"; } >"$out/build.log" 2>&1; then
		tail -30 "$out/build.log"
		echo "run.sh: the build failed (log: $out/build.log); a GPU machine without" \
			"liburing/libdrm/PCRE2 needs --bundle (scripts/gpu-bundle.sh)" >&2
		exit 1
	fi
	B="$top/$(make -s print-B)"
fi
export ACCEL_BUILD="$B" ACCEL_TOP="$top" ACCEL_DEVICE=emu
export ACCEL_GPU_LIB="$B/lib/libaccel-cuda.so.1"
m=tests/models/stories260K.gguf

step test_backend_ops 120 "$B/gpu/test_backend_ops"
step conformance_gpu 60 "$B/tests/conformance/gpu"
step test_gpu_model 100 "$B/tests/runtime/test_gpu_model"

echo "# $(stamp) accel-run --gpu against the CPU's greedy ids ($m)"
timeout 30 "$B/bin/accel-run" -m "$m" -p "Once upon a time" -n 48 --temp 0 --ids \
	>"$out/cpu.ids" 2>"$out/cpu.err" &&
	timeout 30 "$B/bin/accel-run" -m "$m" -p "Once upon a time" -n 48 --temp 0 --ids --gpu \
		>"$out/gpu.ids" 2>"$out/gpu.err" && cmp -s "$out/cpu.ids" "$out/gpu.ids"
s=$?
echo "# greedy ids GPU == CPU: $([ $s -eq 0 ] && echo yes || echo NO)"
[ $s -eq 0 ] || { rc=1; tail -2 "$out/gpu.err"; }

echo "# $(stamp) --vram-budget: layers streamed through VRAM slots, ids as resident on the GPU"
timeout 60 "$B/bin/accel-run" -m "$m" -c 256 -p "Once upon a time" -n 48 --temp 0 --ids --gpu \
	>"$out/gpu256.ids" 2>"$out/gpu256.err" &&
	timeout 60 "$B/bin/accel-run" -m "$m" -c 256 -p "Once upon a time" -n 48 --temp 0 --ids --gpu \
		--vram-budget 115M -v >"$out/vram.ids" 2>"$out/vram.err" &&
	cmp -s "$out/gpu256.ids" "$out/vram.ids" && grep -q "VRAM slots of" "$out/vram.err"
s=$?
grep "placement: VRAM" "$out/vram.err"
echo "# greedy ids GPU streamed (--vram-budget 115M) == GPU resident: $([ $s -eq 0 ] && echo yes || echo NO)"
[ $s -eq 0 ] || { rc=1; tail -2 "$out/vram.err"; }

echo "# $(stamp) accel-serve --gpu: a greedy completion as accel-run --gpu gives it"
if [ -x "$B/bin/accel-serve" ] && command -v python3 >/dev/null; then
	timeout 60 "$B/bin/accel-serve" -m "$m" --port 0 -c 512 --gpu -v 2>"$out/serve.log" &
	sp=$!
	port=
	for _ in $(seq 300); do
		port=$(sed -n 's/.*listening on http:[^:]*:\([0-9]*\).*/\1/p' "$out/serve.log")
		[ -n "$port" ] && break
		sleep 0.1
	done
	got=$(timeout 30 python3 -c '
import json, sys, urllib.request
r = urllib.request.Request("http://127.0.0.1:%s/v1/completions" % sys.argv[1],
    data=json.dumps({"prompt": "Once upon a time", "max_tokens": 32, "temperature": 0}).encode(),
    headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(r))["choices"][0]["text"], end="")' "$port" 2>>"$out/serve.log")
	kill $sp 2>/dev/null
	wait $sp 2>/dev/null
	want=$(timeout 30 "$B/bin/accel-run" -m "$m" -c 512 -p "Once upon a time" -n 32 --temp 0 --gpu \
		2>/dev/null)
	[ -n "$port" ] && [ -n "$got" ] && [ "$want" = "$got" ]
	s=$?
	echo "# served completion == accel-run --gpu: $([ $s -eq 0 ] && echo yes || echo NO)"
	[ $s -eq 0 ] || { rc=1; tail -3 "$out/serve.log"; echo "# got: $got"; echo "# want: $want"; }
else
	echo "# accel-serve not in the bundle or no python3: skipped (NOT a pass)"
fi

echo "# $(stamp) benchmarks"
timeout 45 "$B/gpu/bench_cuda" >"$out/bench.txt" 2>&1
cat "$out/bench.txt"
timeout 60 "$B/bin/accel-bench" gpu >"$out/accel-bench-gpu.txt" 2>&1
cat "$out/accel-bench-gpu.txt"
for dev in cpu gpu; do
	timeout 40 "$B/bin/accel-bench" decode -m "$m" -t 8 -p 128 -n 64 -r 2 \
		$([ $dev = gpu ] && echo --gpu) >"$out/decode-$dev.txt" 2>&1
	sed "s/^/decode.$dev./" "$out/decode-$dev.txt" | grep -E 'tps|gpu:|rror'
done

if [ $big -eq 1 ]; then
	echo "# $(stamp) llama-7b Q4_0 (accel-mkmodel), resident: decode on the GPU and the CPU"
	l7=$(mktemp -d)/llama-7b-q4_0.gguf
	if timeout 120 "$B/bin/accel-mkmodel" --preset llama-7b --type q4_0 --threads "$(nproc)" \
		-o "$l7" >"$out/mkmodel.log" 2>&1; then
		for dev in gpu cpu; do
			timeout 100 "$B/bin/accel-bench" decode -m "$l7" -t "$(nproc)" -p 64 -n 16 -r 1 \
				$([ $dev = gpu ] && echo --gpu) >"$out/decode7b-$dev.txt" 2>&1
			sed "s/^/decode7b.$dev./" "$out/decode7b-$dev.txt" | grep -E 'tps|rror'
		done
	else
		tail -2 "$out/mkmodel.log"
	fi
	rm -f "$l7"
	echo "# $(stamp) llama-70b shape, 40 layers, Q4_0, --vram-budget 8G from pinned host memory"
	l70=$(mktemp -d)/llama-70b-40-q4_0.gguf
	if timeout 150 "$B/bin/accel-mkmodel" --preset llama-70b --layers 40 --type q4_0 \
		--threads "$(nproc)" -o "$l70" >"$out/mkmodel70.log" 2>&1; then
		# pinned H2D in the same run, then -np 1 and -np 32 against the PCIe bound
		timeout 200 "$B/bin/accel-bench" vram -m "$l70" -t "$(nproc)" -n 4 -np 32 \
			--vram-budget 8G >"$out/vram70.txt" 2>&1
		sed "s/^/vram70./" "$out/vram70.txt"
	else
		tail -2 "$out/mkmodel70.log"
	fi
	rm -f "$l70"
fi

if [ $memcheck -eq 1 ] && command -v compute-sanitizer >/dev/null; then
	for tool in memcheck racecheck; do
		echo "# $(stamp) compute-sanitizer --tool $tool"
		timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 3 \
			"$B/gpu/test_backend_ops" >"$out/sanitizer-$tool.log" 2>&1
		s=$?
		tail -5 "$out/sanitizer-$tool.log"
		[ $s -eq 0 ] || rc=$s
	done
fi
echo "# $(stamp) done: exit $rc"
exit $rc
