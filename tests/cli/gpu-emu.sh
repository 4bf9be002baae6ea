#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU placements on the GPU emulation (TAP): libaccel-gpuemu.so.1 speaks
# the GPU backend's ABI with device memory of its own (poisoned with NaN
# until uploaded), asynchronous streams and graphs, and libaccel's CPU
# executor as its kernels, so everything above the kernels runs here as on
# a GPU and must give the CPU's tokens exactly: a model resident in VRAM
# (test_gpu_model's whole-model comparison, the GPU conformance program),
# and layers streamed through VRAM slots under --vram-budget, from host
# memory and from the file under --mem-budget, with every stream item
# delayed (ACCEL_GPUEMU_DELAY_US) so a missing fence wait shows as a wrong
# token; a budget too small, a MoE model that would stream, --vram-budget
# without --gpu and a GPU that is too small give one line and exit 1.
# What it cannot check: the CUDA kernels (tests/gpu/run.sh on a GPU).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${ACCEL_BUILD:-$top/build}"
run_bin="$build/bin/accel-run"
emu="$build/lib/libaccel-gpuemu.so.1"
models="$top/tests/models"
smol="$top/models/SmolLM2-135M-Instruct.Q4_1.gguf"
for f in "$run_bin" "$emu" "$build/tests/runtime/test_gpu_model" "$build/tests/conformance/gpu"; do
	[ -e "$f" ] || { echo "1..0 # SKIP $f not built"; exit 0; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..35"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
export ACCEL_GPU_LIB="$emu"

# 1-2: whole models resident on the GPU against the CPU; the public API
ACCEL_TOP="$top" ACCEL_BUILD="$build" "$build/tests/runtime/test_gpu_model" >"$tmp/tm" 2>&1
grep -q '^1\.\.18' "$tmp/tm" && ! grep -q '^not ok' "$tmp/tm"
ok $? "test_gpu_model on the emulation: 9 models, top-1 and logits as the CPU's"
grep '^not ok\|^1\.\.0' "$tmp/tm" | head -3 | sed 's/^/# /'
"$build/tests/conformance/gpu" >"$tmp/conf" 2>&1
! grep -q '^not ok\|SKIP' "$tmp/conf" && grep -q '^ok' "$tmp/conf"
ok $? "conformance/gpu on the emulation: GPU queues, twins, uploads, graphs"

# same_ids NAME MODEL ARGS...: accel-run --gpu ARGS gives the CPU run's ids
same_ids() {
	local name=$1 model=$2 ref out
	shift 2
	ref=$("$run_bin" -m "$model" -c 256 -p "Once upon a time there was" -n 24 --temp 0 --ids \
		2>"$tmp/cpu.err")
	out=$(ACCEL_GPUEMU_DELAY_US=${DELAY:-0} "$run_bin" -m "$model" -c 256 \
		-p "Once upon a time there was" -n 24 --temp 0 --ids --gpu -v "$@" 2>"$tmp/gpu.err")
	[ -n "$ref" ] && [ "$ref" = "$out" ] && grep -q "${EXPECT:-.}" "$tmp/gpu.err"
	ok $? "$name"
	[ -n "$ref" ] && [ "$ref" = "$out" ] || { echo "# cpu: $ref"; echo "# gpu: $out";
		sed 's/^/# /' "$tmp/gpu.err" | tail -3; }
	grep -q "${EXPECT:-.}" "$tmp/gpu.err" || echo "# no '${EXPECT:-}' in the log"
}
st="$models/stories260K.gguf"
q40="$models/random/small-random-q4_0.gguf"
moe="$models/random/tiny-mixtral-random-4x2-q8_0.gguf"

# 3-6: resident, whole models (the weights pool's twin)
same_ids "stories260K resident in VRAM: the CPU's ids" "$st"
same_ids "small q4_0 resident in VRAM: the CPU's ids" "$q40"
same_ids "mixtral (MoE, q8_0) resident in VRAM: the CPU's ids" "$moe"
DELAY=30 same_ids "stories260K resident, every stream item delayed 30 us: the CPU's ids" "$st"

# 7-13: streamed through VRAM slots: everything resident in host memory,
# or under --mem-budget from the file (host slots, embedding rows on demand)
EXPECT="VRAM slots of" DELAY=30 same_ids \
	"stories260K --vram-budget 1.8M: units cross PCIe each pass, the CPU's ids" "$st" \
	--vram-budget 1.8M
EXPECT="VRAM slots of" same_ids \
	"tiny llama3 --vram-budget 1.35M: rope factors a VRAM global, streamed, the CPU's ids" \
	"$models/random/tiny-llama3-ropefreqs-random-f32.gguf" --vram-budget 1.35M
EXPECT="VRAM 1 MiB: 3 of 6 units resident" DELAY=30 same_ids \
	"stories260K --vram-budget 1.1M --mem-budget 600K: file -> host slot -> VRAM slot, the CPU's ids" \
	"$st" --vram-budget 1.1M --mem-budget 600K -b 8
EXPECT="rows read on demand" DELAY=30 same_ids \
	"stories260K --vram-budget 1M --mem-budget 450K: embedding rows uploaded per pass, the CPU's ids" \
	"$st" --vram-budget 1M --mem-budget 450K -b 8
EXPECT="VRAM 2 MiB: 3 of 6" same_ids \
	"stories260K -np 2 --vram-budget 2.2M: the CPU's ids" "$st" --vram-budget 2.2M -np 2
EXPECT="VRAM slots of" ACCEL_GPU_GRAPHS=0 same_ids \
	"stories260K --vram-budget 1.8M without CUDA graphs: the CPU's ids" "$st" --vram-budget 1.8M
EXPECT="placement: VRAM [0-9]* MiB: 6 of 6" same_ids \
	"--mem-budget alone under --gpu: the VRAM tier sized from the GPU's free memory" \
	"$st" --mem-budget 500K -b 8
if [ -f "$smol" ]; then
	# 14-15: a real model, tied embedding and head: the head streams
	EXPECT="VRAM slots of" DELAY=10 same_ids \
		"SmolLM2 --vram-budget 115M: 29 of 31 units cross PCIe each pass, the CPU's ids" \
		"$smol" --vram-budget 115M
	EXPECT="VRAM slots of" same_ids \
		"SmolLM2 --vram-budget 115M --mem-budget 60M: the CPU's ids" "$smol" \
		--vram-budget 115M --mem-budget 60M
else
	echo "# $smol absent (scripts/fetch-model.sh): its two cases fail"
	ok 1 "SmolLM2 --vram-budget 115M"
	ok 1 "SmolLM2 --vram-budget 115M --mem-budget 60M"
fi

# MoE through VRAM: the host streams the experts by expert (--mem-budget)
# into its expert cache, the routing comes down, the routed experts missing
# from the VRAM expert cache (an LRU of its own) and the layer's table go up;
# the non-expert tensors cross in VRAM slots
qm="$models/random/tiny-qwen3moe-random-f32.gguf"
EXPECT="VRAM 1 MiB: 1 of 3 units resident" DELAY=20 same_ids \
	"qwen3moe --mem-budget 900K --vram-budget 1M: experts by routing through VRAM, the CPU's ids" \
	"$qm" --mem-budget 900K -b 1 --vram-budget 1M
EXPECT="VRAM expert cache: [1-9][0-9]* hits" same_ids \
	"qwen3moe --vram-budget 1.2M --moe-prefetch off: a VRAM expert cache of 4 that hits, the CPU's ids" \
	"$qm" --mem-budget 900K -b 1 --vram-budget 1.2M --moe-prefetch off
EXPECT="VRAM 1 MiB: 3 of 3 units resident" same_ids \
	"mixtral --mem-budget 250K --vram-budget 1M: streamed experts kept whole in VRAM, the CPU's ids" \
	"$moe" --mem-budget 250K -b 1 --vram-budget 1M

# one_line NAME PATTERN CMD...: exit 1, nothing on stdout, one line on stderr
one_line() {
	local name=$1 pat=$2 rc lines
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(grep -vc '^accel-run: libaccel: gpu 0' "$tmp/err")
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "$pat" "$tmp/err"
	ok $? "$name"
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] || { echo "# rc $rc"; sed 's/^/# /' "$tmp/err" | head -4; }
}
# 16-20
one_line "--vram-budget below two slots: one line with what it needs" \
	"too small for this model: streaming it needs at least" \
	"$run_bin" -m "$st" -p hi -n 2 --gpu --vram-budget 1M
one_line "a MoE model streamed through VRAM from host memory: refused in one line" \
	"stream through VRAM only from the file" \
	"$run_bin" -m "$moe" -p hi -n 2 --gpu --vram-budget 1M
one_line "--vram-budget without --gpu: one line" "needs --gpu" \
	"$run_bin" -m "$st" -p hi -n 2 --vram-budget 1G
one_line "--vram-budget 0: one line" "vram-budget" \
	"$run_bin" -m "$st" -p hi -n 2 --gpu --vram-budget 0
ACCEL_GPUEMU_MEM=1M one_line "a GPU with less memory than the budget: one line" \
	"vram-budget" "$run_bin" -m "$st" -p hi -n 2 --gpu --vram-budget 1.8M

# 21-22: the emulation says what it is, and exports its entry alone
"$run_bin" -m "$st" -p hi -n 1 --gpu -v 2>&1 | grep -q "GPU emulation (CPU, no GPU)"
ok $? "the emulation names itself as no GPU in the device line"
syms=$(nm -D --defined-only "$emu" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
[ "$syms" = "accel_gpu_entry" ]
ok $? "libaccel-gpuemu.so.1 exports accel_gpu_entry alone ($(echo $syms | wc -w) symbols)"

# 23: accel-bench decode reports the VRAM tier's figures from one run
out=$("$build/bin/accel-bench" decode -m "$st" --gpu --vram-budget 1M -p 16 -n 16 -r 1 2>&1)
echo "$out" | grep -q '^vram_units_resident: 2 of 6$' &&
	echo "$out" | awk -F': ' '$1 == "tg_vs_upload_bound" && $2 > 0 {f = 1} END {exit !f}' &&
	echo "$out" | awk -F': ' '$1 == "vram_streamed_mb_per_pass" && $2 > 0.5 {f = 1} END {exit !f}'
ok $? "accel-bench decode --gpu --vram-budget: units resident, MB per pass, tg_vs_upload_bound"

# 27: accel-bench vram: pinned H2D, -np 1 and -np 4, against the PCIe bound
out=$("$build/bin/accel-bench" vram -m "$st" --vram-budget 1.2M -np 4 -n 4 --h2d-mb 8 2>&1)
for k in h2d_gbps tokens_per_s_np1 tokens_per_s_np4 tps_vs_pcie_bound_np1 tps_vs_pcie_bound_np4; do
	echo "$out" | awk -F': ' -v k=$k '$1 == k && $2 > 0 {f = 1} END {exit !f}' || { echo "# no $k > 0"; false; } || break
done
ok $? "accel-bench vram: h2d_gbps, tokens/s at -np 1 and 4, tps_vs_pcie_bound each"

# 28-29: the PCIe link's nominal peak from sysfs (a fixture tree: an NVIDIA
# 3D controller beside a bridge), h2d against it; gen 5 x16 and gen 2 x8
sys=$tmp/sys/bus/pci/devices
mkdir -p "$sys/0000:00:01.0" "$sys/0000:19:00.0"
echo 0x8086 >"$sys/0000:00:01.0/vendor"; echo 0x060400 >"$sys/0000:00:01.0/class"
echo 0x10de >"$sys/0000:19:00.0/vendor"; echo 0x030200 >"$sys/0000:19:00.0/class"
for link in "32.0 16 63.02" "5.0 8 4.00"; do
	set -- $link
	echo "$1 GT/s PCIe" >"$sys/0000:19:00.0/current_link_speed"
	echo "$2" >"$sys/0000:19:00.0/current_link_width"
	out=$(ACCEL_BENCH_SYSFS=$tmp/sys "$build/bin/accel-bench" vram -m "$st" --vram-budget 1.2M \
		-np 2 -n 2 --h2d-mb 8 2>&1)
	echo "$out" | grep -q "^pcie_link: 0000:19:00.0 $1 GT/s x$2$" &&
		echo "$out" | grep -q "^pcie_peak_gbps: $3$" &&
		echo "$out" | awk -F': ' '$1 == "h2d_vs_pinned_peak" && $2 > 0 {f = 1} END {exit !f}'
	ok $? "PCIe $1 GT/s x$2 from sysfs: peak $3 GB/s (128b/130b from 8 GT/s), h2d_vs_pinned_peak"
done

# 30-31: speculative decoding and batched sequences over the streamed tier
p="Once upon a time there was a little girl named Lily. She loved to play"
ref=$("$run_bin" -m "$st" -c 256 -p "$p" -n 32 --temp 0 --ids 2>/dev/null)
out=$("$run_bin" -m "$st" -c 256 -p "$p" -n 32 --temp 0 --ids --gpu --vram-budget 1.8M \
	--lookup 2 -v 2>"$tmp/spec.err")
[ -n "$ref" ] && [ "$ref" = "$out" ] && grep -q "VRAM slots of" "$tmp/spec.err" &&
	grep -q "speculation: [1-9]" "$tmp/spec.err"
ok $? "--lookup 2 over --vram-budget 1.8M: drafts verified in streamed passes, the CPU's ids"
printf 'Once upon a time\nThe dog\nLily and Tom went\nOne day a bird\n' >"$tmp/prompts"
"$run_bin" -m "$st" -c 512 -f "$tmp/prompts" -np 4 -n 16 --temp 0 >"$tmp/np.cpu" 2>/dev/null
"$run_bin" -m "$st" -c 512 -f "$tmp/prompts" -np 4 -n 16 --temp 0 --gpu --vram-budget 2.9M -v \
	>"$tmp/np.gpu" 2>"$tmp/np.err"
[ -s "$tmp/np.cpu" ] && cmp -s "$tmp/np.cpu" "$tmp/np.gpu" && grep -q "VRAM slots of" "$tmp/np.err"
ok $? "-np 4 over --vram-budget 2.9M: four sequences batched per streamed pass, the CPU's texts"

# 32-33: no --vram-budget and a model bigger than the GPU: the layers cross
# PCIe in what is free instead of a refusal; too small even for that: one line
EXPECT="VRAM slots of" ACCEL_GPUEMU_MEM=4M same_ids \
	"a 4 MiB GPU, no --vram-budget: streamed through what is free, the CPU's ids" "$st"
ACCEL_GPUEMU_MEM=2097152 one_line "a 2 MiB GPU, no --vram-budget: one line naming its free memory" \
	"the GPU's free memory (.* usable) is too small" "$run_bin" -m "$st" -c 256 -p hi -n 2 --gpu

# 34-35: the emulation's own knobs refuse what is not a number (a typo must
# not become a 4-byte GPU or no delay)
ACCEL_GPUEMU_MEM=4X one_line "ACCEL_GPUEMU_MEM=4X: one line, the run refused" \
	"ACCEL_GPUEMU_MEM=4X is not a size" "$run_bin" -m "$st" -p hi -n 2 --gpu
ACCEL_GPUEMU_DELAY_US=fast one_line "ACCEL_GPUEMU_DELAY_US=fast: one line, the run refused" \
	"ACCEL_GPUEMU_DELAY_US=fast is not a count" "$run_bin" -m "$st" -p hi -n 2 --gpu
