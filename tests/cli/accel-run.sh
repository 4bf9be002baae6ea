#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CLI test of accel-run (TAP): bad input gives one "accel-run: ..." line and
# exit 1; --ids greedy output equals llama.cpp's golden sequence; streamed runs
# (--mem-budget at the minimum the tool itself states) print the same ids as
# resident runs, on the shared models and on accel-mkmodel outputs; -np
# batches give the same ids as single runs; -ctk/-ctv/-fa as llama.cpp takes
# and refuses them, its defaults (F16, flash attention) giving its ids;
# speculative decoding (--lookup, --draft-model) prints the same greedy ids.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
run_bin="$bdir/accel-run"
mk_bin="$bdir/accel-mkmodel"
if [ ! -x "$run_bin" ] || [ ! -x "$mk_bin" ]; then
	echo "1..0 # SKIP accel-run or accel-mkmodel not built"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# run ARGS...: sets out, err, rc
run() {
	out=$("$run_bin" "$@" 2>"$tmp/err")
	rc=$?
	err=$(cat "$tmp/err")
}
# fails_with PATTERN NAME ARGS...: exit 1 and exactly one line matching PATTERN
fails_with() {
	local pat=$1 name=$2
	shift 2
	run "$@"
	[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
		printf '%s' "$err" | grep -q "^accel-run: .*$pat"
	ok $? "$name"
	[ "$rc" -eq 1 ] || printf '# rc %s: %s\n' "$rc" "$err"
}
stories="$top/tests/models/stories260K.gguf"
moe="$top/tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf"

# --- bad input
fails_with "missing.gguf" "missing model file" -m "$tmp/missing.gguf" -p hi
printf 'this is not a model\n' > "$tmp/text.gguf"
fails_with "not a GGUF" "a text file as model" -m "$tmp/text.gguf" -p hi
head -c 5000 "$stories" > "$tmp/trunc.gguf"
fails_with "trunc.gguf" "a truncated GGUF" -m "$tmp/trunc.gguf" -p hi
fails_with "context" "prompt longer than the context" -m "$stories" -c 8 \
	-p "Once upon a time there was a little girl who liked to play in the park every day"
fails_with "unknown option" "unknown flag" -m "$stories" -p hi --frobnicate
fails_with "-n: .abc. is not an integer" "bad number" -m "$stories" -p hi -n abc
fails_with "mem-budget" "bad size" -m "$stories" -p hi --mem-budget 12Q
fails_with "no model" "no -m" -p hi
fails_with "at least" "budget below two slots" -m "$stories" -p hi --mem-budget 1
fails_with "kv-pool-fd: .2. is out of range" "--kv-pool-fd on stdio" -m "$stories" -p hi \
	--kv-pool-fd 2
fails_with "shares no KV state across processes" "--kv-pool-fd on the emulated device" \
	-m "$stories" -p hi --device emu --kv-pool-fd 5

# --- greedy ids equal llama.cpp's (first case of the golden file) built for
# the ISA the kernels pick here (kn_isa_best: AVX-512 F/BW/VL/VNNI, else AVX2)
golden_isa=avx2
f=$(grep -m1 '^flags' /proc/cpuinfo)
case "$f" in *avx512f*) case "$f" in *avx512bw*) case "$f" in *avx512vl*) case "$f" in
	*avx512_vnni*|*avx512vnni*) golden_isa=avx512 ;; esac ;; esac ;; esac ;; esac
# (those goldens: F32 K and V, no flash attention)
f32kv="-ctk f32 -ctv f32 -fa off"
want=$(grep -m1 '^ids ' "$top/tests/golden/stories260K/$golden_isa/greedy.txt" | cut -d' ' -f2-)
# shellcheck disable=SC2086
run -m "$stories" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 $f32kv
[ "$rc" -eq 0 ] && [ "$out" = "$want" ]
ok $? "stories260K --ids --temp 0 $f32kv equals llama.cpp's 69 ids"

# --- KV cache settings: llama.cpp's spellings, refusals and defaults
fails_with "-ctk: 'q4_0' is not a cache type" "-ctk q4_0 refused" -m "$stories" -p hi -ctk q4_0
fails_with "--flash-attn: 'maybe' is not on, off or auto" "-fa maybe refused" -m "$stories" \
	-p hi --flash-attn maybe
fails_with "quantized V cache requires flash_attn" "-ctv q8_0 -fa off refused, as llama.cpp" \
	-m "$stories" -p hi -ctv q8_0 -fa off
fails_with "head size divisible by its block of 32 (head_dim 8)" "-ctk q8_0 on head_dim 8" \
	-m "$stories" -p hi --cache-type-k q8_0
run -h
for f in -ctk --cache-type-k -ctv --cache-type-v -fa --flash-attn; do
	printf '%s\n' "$out" | grep -q -- " $f[ ,]"
	ok $? "-h shows $f"
done
qwen3="$top/tests/models/random/tiny-qwen3-random-f32.gguf"
want3=$(grep -m1 '^ids ' "$top/tests/golden/tiny-qwen3-f32/$golden_isa/kv-f16-f16-faon/greedy.txt" |
	cut -d' ' -f2-)
run -m "$qwen3" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 -v
[ "$rc" -eq 0 ] && [ -n "$want3" ] && [ "$out" = "$want3" ] &&
	printf '%s' "$err" | grep -q "KV cache K f16 V f16 (512 bytes per token), flash attention on"
ok $? "tiny-qwen3 defaults (f16 f16, -fa auto = on) give llama.cpp's ids at its defaults"
want3=$(grep -m1 '^ids ' "$top/tests/golden/tiny-qwen3-f32/$golden_isa/kv-q8_0-q8_0-faon/greedy.txt" |
	cut -d' ' -f2-)
run -m "$qwen3" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 -ctk q8_0 -ctv q8_0 -fa 1
[ "$rc" -eq 0 ] && [ -n "$want3" ] && [ "$out" = "$want3" ]
ok $? "tiny-qwen3 -ctk q8_0 -ctv q8_0 -fa 1: llama.cpp's ids with those settings"

# --- speculative decoding: greedy ids unchanged (llama.cpp's), the
# acceptance on stderr; a draft model drafting for itself is always right
spec_same() { # NAME ARGS...
	local name=$1
	shift
	# shellcheck disable=SC2086
	run -m "$stories" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 $f32kv "$@"
	[ "$rc" -eq 0 ] && [ "$out" = "$want" ] &&
		printf '%s' "$err" | grep -q '^accel-run: speculation: [0-9]* of [0-9]* drafted'
	ok $? "$name: llama.cpp's 69 ids, acceptance reported"
}
spec_same "--lookup 3" --lookup 3
spec_same "--draft-model itself --draft 6" --draft-model "$stories" --draft 6
printf '%s' "$err" | grep -q 'accepted (100.0%)'
ok $? "--draft-model itself: every draft accepted"
spec_same "--draft-model tiny random llama" --draft-model "$top/tests/models/random/tiny-llama-random-dense-f32.gguf" --draft 3
spec_same "--lookup 2 streamed at 512K" --lookup 2 --mem-budget 512K -b 8
# at the default KV settings (F16, flash attention) too: the ids of plain decoding
run -m "$stories" -p "Once upon a time" -n 64 --temp 0 --ids -t 2
ref=$out
run -m "$stories" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 --lookup 3
[ "$rc" -eq 0 ] && [ -n "$ref" ] && [ "$out" = "$ref" ]
ok $? "--lookup 3 at the default KV settings: the ids of plain decoding"
fails_with "lookup: .0. is out of range" "--lookup 0" -m "$stories" -p hi --lookup 0
fails_with "use one" "--draft-model with --lookup" -m "$stories" -p hi --lookup 2 --draft-model "$stories"
fails_with "not with -np" "--lookup with -np" -m "$stories" -p hi --lookup 2 -np 2
fails_with "missing.gguf" "missing draft model" -m "$stories" -p hi --draft-model "$tmp/missing.gguf"
smol="$top/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$smol" ]; then
	fails_with "same vocabulary" "a draft model with another vocabulary" -m "$smol" -p hi --draft-model "$stories"
else
	n=$((n + 1))
	echo "ok $n # SKIP SmolLM2 not fetched (scripts/fetch-model.sh)"
fi

# --- streamed equals resident, at the minimum budget the tool states
same_streamed() { # MODEL NAME [KV FLAGS...]
	local model=$1 name=$2 min ref
	shift 2
	run -m "$model" -b 4 -p "Once upon a time" -n 12 --temp 0 --ids -t 2 "$@"
	ref=$out
	run -m "$model" -b 4 -p hi --mem-budget 1K "$@"
	min=$(printf '%s' "$err" | sed -n 's/.*needs at least \([0-9.]*[KMG]\).*/\1/p')
	if [ -z "$min" ]; then
		ok 1 "$name: the tool states a minimum budget ($err)"
		return
	fi
	run -m "$model" -b 4 -p "Once upon a time" -n 12 --temp 0 --ids -t 2 --mem-budget "$min" "$@"
	[ "$rc" -eq 0 ] && [ -n "$ref" ] && [ "$out" = "$ref" ]
	ok $? "$name: streamed at the stated minimum ($min) prints the resident ids"
}
same_streamed "$stories" "stories260K"
same_streamed "$moe" "tiny-mixtral q8_0 (experts stream)"
qmoe="$top/tests/models/random/tiny-qwen3moe-random-q8_0.gguf"
same_streamed "$qmoe" "tiny-qwen3moe q8_0, KV f32 no flash" -ctk f32 -ctv f32 -fa off
same_streamed "$qmoe" "tiny-qwen3moe q8_0, KV q8_0 flash" -ctk q8_0 -ctv q8_0 -fa on
same_streamed "$qmoe" "tiny-qwen3moe q8_0, KV q8_0 K, f16 V, no flash" -ctk q8_0 -fa off
if "$mk_bin" --preset small --type q4_0 --seed 7 -o "$tmp/small-q4_0.gguf" >/dev/null 2>&1; then
	same_streamed "$tmp/small-q4_0.gguf" "accel-mkmodel small q4_0"
else
	ok 1 "accel-mkmodel small q4_0 written"
fi
if "$mk_bin" --preset small --type q4_k --seed 7 -o "$tmp/small-q4_k.gguf" >/dev/null 2>&1; then
	same_streamed "$tmp/small-q4_k.gguf" "accel-mkmodel small q4_k"
else
	ok 1 "accel-mkmodel small q4_k written"
fi
if "$mk_bin" --preset tiny-moe --type q4_0 --seed 7 -o "$tmp/tiny-moe.gguf" >/dev/null 2>&1; then
	same_streamed "$tmp/tiny-moe.gguf" "accel-mkmodel tiny-moe q4_0"
else
	ok 1 "accel-mkmodel tiny-moe q4_0 written"
fi

# --- -np: prompts decoded together give the ids of single runs
printf 'Once upon a time\nThe little dog\n' > "$tmp/prompts.txt"
run -m "$stories" -f "$tmp/prompts.txt" -np 2 -n 16 --temp 0 --ids -t 2
both=$out
run -m "$stories" -p "Once upon a time" -n 16 --temp 0 --ids -t 2
one=$out
run -m "$stories" -p "The little dog" -n 16 --temp 0 --ids -t 2
[ "$both" = "$(printf '%s\n%s' "$one" "$out")" ]
ok $? "-np 2 -f prints each prompt's single-run ids"

# --- -c is the total of the -np sequences (llama.cpp's meaning): each gets
# -c / -np; the pool holds -c positions in exact blocks taken on demand
run -m "$stories" -f "$tmp/prompts.txt" -np 2 -c 256 -n 16 --temp 0 --ids -t 2 -v
[ "$rc" -eq 0 ] && [ "$out" = "$both" ] && printf '%s\n' "$err" |
	grep -q "KV pool: 16 blocks of 16 tokens, [0-9]* bytes each, [0-9]* KiB for 2 sequences of up to 128 positions$"
ok $? "-c 256 -np 2: one pool of 16 blocks, 128 positions per sequence, the same ids"
fails_with "cannot be split between 4 sequences" "-c 3 -np 4 refused" -m "$stories" \
	-f "$tmp/prompts.txt" -np 4 -c 3
# -kvu: every sequence may use all of -c while blocks last
run -m "$stories" -f "$tmp/prompts.txt" -np 2 -c 64 -kvu -n 16 --temp 0 --ids -t 2 -v
[ "$rc" -eq 0 ] && [ "$out" = "$both" ] &&
	printf '%s\n' "$err" | grep -q "KV pool: 4 blocks .* 2 sequences of up to 64 positions (unified"
ok $? "-kvu -c 64 -np 2: 4 blocks shared, each sequence up to 64, the same ids"
fails_with "KV cache full: sequence . needs 2 blocks for 17 positions" "-kvu -c 32 -np 2: the pool runs out, one line" \
	-m "$stories" -f "$tmp/prompts.txt" -np 2 -c 32 -kvu -n 40 --temp 0 -t 2

# --- O_DIRECT refused (tmpfs on kernels before 6.6): one warning, same output
shm=/dev/shm
if [ -d "$shm" ] && cp "$stories" "$shm/accelkv-test-$$.gguf" 2>/dev/null; then
	if python3 -c "import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))" \
		"$shm/accelkv-test-$$.gguf" 2>/dev/null; then
		echo "ok $((n + 1)) # SKIP $shm accepts O_DIRECT on this kernel: no fallback to see"
		n=$((n + 1))
	else
		# shellcheck disable=SC2086
		run -m "$shm/accelkv-test-$$.gguf" -p "Once upon a time" -n 64 --temp 0 --ids -t 2 \
			$f32kv
		[ "$rc" -eq 0 ] && [ "$out" = "$want" ] &&
			[ "$(printf '%s\n' "$err" | grep -c 'O_DIRECT refused')" -eq 1 ]
		ok $? "tmpfs model: one O_DIRECT warning, same ids"
	fi
	rm -f "$shm/accelkv-test-$$.gguf"
else
	echo "ok $((n + 1)) # SKIP no writable /dev/shm"
	n=$((n + 1))
fi
echo "1..$n"
