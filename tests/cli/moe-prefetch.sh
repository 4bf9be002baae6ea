#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# accel-run --moe-prefetch on accel-mkmodel MoE models (Mixtral-style llama
# and qwen3moe, more layers than the shared tiny ones) streamed under the
# smallest --mem-budget the tool states: greedy ids with expert prediction
# on (the default) equal those with it off and those of the resident run; -v
# reports the predictions; a bad value is one line and exit 1.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
run_bin="$bdir/accel-run"
mk_bin="$bdir/accel-mkmodel"
if [ ! -x "$run_bin" ] || [ ! -x "$mk_bin" ]; then
	echo "1..1"
	echo "not ok 1 - accel-run and accel-mkmodel are built (run make)"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
echo "1..13"

"$run_bin" -m "$top/tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf" -p hi -n 1 \
	--moe-prefetch maybe >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q "^accel-run: --moe-prefetch: 'maybe' is not on or off" "$tmp/err"
ok $? "--moe-prefetch maybe: exit 1 with one line"

gen() { # gen MODEL ARGS...: greedy ids on stdout
	local model=$1
	shift
	"$run_bin" -m "$model" -p "Once upon a time" -n 24 --temp 0 --ids -b 2 -c 64 -t 2 "$@"
}

for preset in tiny-moe tiny-qwen3moe; do
	model="$tmp/$preset.gguf"
	"$mk_bin" --preset "$preset" --layers 4 --type q8_0 --seed 5 -o "$model" 2>"$tmp/err"
	ok $? "$preset: accel-mkmodel writes 4 layers"
	ref=$(gen "$model" 2>"$tmp/err")
	[ -n "$ref" ]
	ok $? "$preset: resident ids"
	# the smallest budget, as the tool states it
	gen "$model" --mem-budget 1K >/dev/null 2>"$tmp/err"
	min=$(sed -n 's/.*streaming needs at least \([0-9.]*[KMG]\).*/\1/p' "$tmp/err")
	off=$(gen "$model" --mem-budget "$min" --moe-prefetch off 2>"$tmp/err")
	[ -n "$min" ] && [ "$off" = "$ref" ]
	ok $? "$preset: streamed under $min, prefetch off: the resident ids"
	[ "$off" = "$ref" ] || printf '# ref %s\n# off %s\n' "$ref" "$off"
	on=$(gen "$model" --mem-budget "$min" --moe-prefetch on -v 2>"$tmp/err")
	[ -n "$min" ] && [ "$on" = "$ref" ]
	ok $? "$preset: streamed under $min, prefetch on: the resident ids"
	[ "$on" = "$ref" ] || printf '# ref %s\n# on  %s\n' "$ref" "$on"
	line=$(grep "^accel-run: expert prediction: " "$tmp/err")
	predicted=$(printf '%s' "$line" | sed -n 's/.*prediction: \([0-9]*\) predicted.*/\1/p')
	[ -n "$predicted" ] && [ "$predicted" -gt 0 ] &&
		grep -q "^accel-run: expert cache: [0-9]* hits, [1-9][0-9]* misses" "$tmp/err"
	ok $? "$preset: -v: ${line#accel-run: }"
	# the default is on: the same ids, and it predicts
	def=$(gen "$model" --mem-budget "$min" -v 2>"$tmp/err")
	[ -n "$min" ] && [ "$def" = "$ref" ] &&
		grep -q "^accel-run: expert prediction: [1-9][0-9]* predicted" "$tmp/err"
	ok $? "$preset: no --moe-prefetch: prediction on, the resident ids"
done
[ "$fails" -eq 0 ]
