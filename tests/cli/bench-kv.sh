#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# accel-bench kv (TAP): max_np_in_budget and its per-type lines are the
# largest -np whose exact-block KV pool fits --mem-budget beside the
# placement's weights (checked here by arithmetic on the printed sizes: N
# fits, N + 1 does not), blocks are whole pages within a page of the exact
# size, the pool loaded at N is N contexts' blocks, never fewer sequences
# than the power-of-two layout; a streamed placement also reports its
# slots-only figure; bad input gives one line and exit 1.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bench="${ACCEL_BUILD:-$top/build}/bin/accel-bench"
echo "1..14"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
val() { sed -n "s/^$1: //p" "$tmp/out"; }

# check_fit TYPE SUFFIX BUDGET CTX: the arithmetic of one answer
check_fit() {
	local t=$1 s=$2 budget=$3 ctx=$4
	local bpt bb np pl pool pow2 per
	bpt=$(val "kv_bytes_per_token_$t")
	bb=$(val "kv_block_bytes_$t")
	np=$(val "max_np_in_budget${s}_$t")
	pl=$(val "placement_bytes$s")
	pool=$(val "kv_pool_bytes_at_max_np${s}_$t")
	pow2=$(val "max_np_in_budget_pow2${s}_$t")
	per=$(( (ctx + 15) / 16 * bb ))
	[ -n "$bpt" ] && [ -n "$np" ] && [ -n "$pl" ] &&
		[ $((bb % 4096)) -eq 0 ] && [ "$bb" -ge $((16 * bpt)) ] && [ $((bb - 16 * bpt)) -lt 4096 ] &&
		[ $((pl + np * per)) -le "$budget" ] && [ $((pl + (np + 1) * per)) -gt "$budget" ] &&
		[ "$pool" -eq $((np * per)) ] && [ "$np" -ge "$pow2" ]
	ok $? "$t$s: -np $np fits ($pl + $np x $per <= $budget, one more does not), block $bb B for $((16 * bpt)) B"
}

# f16 and q8_0 on a model whose head size takes q8_0, everything resident
"$bench" kv -m "$top/tests/models/random/tiny-qwen3moe-random-q8_0.gguf" --mem-budget 4M \
	-c 128 >"$tmp/out" 2>"$tmp/err"
ok $? "kv on tiny-qwen3moe q8_0, --mem-budget 4M -c 128: exit 0"
ok "$(grep -cv '^[a-z0-9_]*: [0-9.]*$' "$tmp/out")" "every line is name: value"
check_fit f16 "" $((4 << 20)) 128
check_fit q8_0 "" $((4 << 20)) 128
[ "$(val max_np_in_budget)" = "$(val max_np_in_budget_f16)" ] && [ "$(val max_np_in_budget)" -gt 0 ]
ok $? "max_np_in_budget is the f16 (default) figure: $(val max_np_in_budget)"
[ "$(val max_np_ideal_q8_0)" -gt "$(val max_np_ideal_f16)" ]
ok $? "q8_0 would hold more sequences than f16 without page rounding"

# stories260K streamed under 1M: the placement takes most of it; slots only leaves more
"$bench" kv -m "$top/tests/models/stories260K.gguf" --mem-budget 1M -c 64 >"$tmp/out" 2>"$tmp/err"
ok $? "kv on stories260K, --mem-budget 1M -c 64: exit 0"
check_fit f16 "" $((1 << 20)) 64
check_fit f16 _slots_only $((1 << 20)) 64
[ "$(val max_np_in_budget_slots_only_f16)" -gt "$(val max_np_in_budget_f16)" ] &&
	[ "$(val max_np_in_budget_f16)" -gt "$(val max_np_in_budget_pow2_f16)" ]
ok $? "slots only holds more; exact blocks hold more than powers of two (12 KiB vs 16 KiB)"
grep -q "no q8_0 cache here: .*head size" "$tmp/err"
ok $? "head size 8: q8_0 left out with one line"

# bad input
"$bench" kv -m "$top/tests/models/stories260K.gguf" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "^usage: accel-bench kv" "$tmp/err"
ok $? "no --mem-budget: usage, exit 1"
"$bench" kv -m "$top/tests/models/stories260K.gguf" --mem-budget 1M -c 0 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^accel-bench: -c" "$tmp/err"
ok $? "-c 0: one line, exit 1"
"$bench" kv -m "$tmp/missing.gguf" --mem-budget 1M >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "missing.gguf" "$tmp/err"
ok $? "missing model: one line naming it, exit 1"
