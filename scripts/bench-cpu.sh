#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CPU kernels against llama.cpp, per weight type and x86 ISA, in one run:
# accel-bench decode (one thread) on SmolLM2-135M Q4_1 and on accel-mkmodel
# llama-7b-shape models of 2 layers in Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K, once per
# ISA this CPU has (KN_ISA, and llama.cpp built for that ISA by
# tests/golden/make-golden.sh). Prints one line per type and ISA with the
# wall-clock ratios and the CPU-time ones (tokens per CPU second: what a
# shared, busy machine does not blur), and the share of the weights on huge
# pages (decode streams them: 4 KiB pages read DRAM ~30% slower on a Zen 4).
#
#   scripts/bench-cpu.sh [--dir DIR] [--threads N] [--rounds N]
#     --dir DIR    where the 7B-shape models are made (kept; default
#                  build/bench-cpu; 3 GB)
#     --rounds N   accel-bench decode -r: rounds of one repetition of ours
#                  and one of llama-bench's, the best of each side counted
#                  (default 5; a prompt of 64 tokens, 64 generated)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/bench-cpu
threads=1
rounds=5
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=${2:?--dir needs a directory}; shift 2 ;;
	--threads) threads=${2:?--threads needs a count}; shift 2 ;;
	--rounds) rounds=${2:?--rounds needs a count}; shift 2 ;;
	*) echo "bench-cpu: unknown argument $1 (usage: $0 [--dir DIR] [--threads N] [--rounds N])" >&2
	   exit 2 ;;
	esac
done
bin=$top/build/bin
[ -x "$bin/accel-bench" ] && [ -x "$bin/accel-mkmodel" ] || {
	echo "bench-cpu: build first (make)" >&2; exit 1; }
smol=$top/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$smol" ] || { echo "bench-cpu: $smol absent (scripts/fetch-model.sh)" >&2; exit 1; }
mkdir -p "$dir"
models="smollm2:$smol"
for t in q4_0 q4_1 q8_0 q4_k q5_k q6_k; do
	m=$dir/l7b2-$t.gguf
	[ -s "$m" ] || "$bin/accel-mkmodel" --preset llama-7b --layers 2 --type $t -o "$m" >/dev/null
	models="$models $t:$m"
done
isas=avx2
grep -qw avx512_vnni /proc/cpuinfo && isas="avx512 avx2"
grep -qw avx2 /proc/cpuinfo || { echo "bench-cpu: no AVX2 on this CPU" >&2; exit 1; }
printf '%-7s %-8s %8s %8s %12s %12s %6s\n' isa type tg_vs pp_vs cpu_tg_vs cpu_pp_vs huge
for isa in $isas; do
	for e in $models; do
		t=${e%%:*} m=${e#*:}
		out=$(cd "$top" && KN_ISA=$isa "$bin/accel-bench" decode -m "$m" -t "$threads" -p 64 -n 64 \
			-r "$rounds") || {
			echo "bench-cpu: accel-bench decode failed on $m ($isa)" >&2; exit 1; }
		v() { echo "$out" | sed -n "s/^$1: //p"; }
		[ -n "$(v cpu_tg_vs_llama)" ] || { echo "bench-cpu: no llama.cpp figures ($isa): \
tests/golden/make-golden.sh --build (GOLDEN_ISA=$isa)" >&2; exit 1; }
		printf '%-7s %-8s %8s %8s %12s %12s %6s\n' "$isa" "$t" "$(v tg_vs_llama)" \
			"$(v pp_vs_llama)" "$(v cpu_tg_vs_llama)" "$(v cpu_pp_vs_llama)" \
			"$(v weights_huge_frac)"
	done
done
