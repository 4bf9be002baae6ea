#!/bin/sh
# SPDX-License-Identifier: MIT
#
# accel-mkmodel from the command line: the same seed gives the same bytes,
# another seed other bytes, bad flags one error line and exit 1, a file that
# cannot fit is refused up front with the numbers and never created, and an
# interrupted or failed run leaves the old file as it was.
TOP=${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${ACCEL_BUILD:-$TOP/build}/bin/accel-mkmodel
T=$(mktemp -d /tmp/mkmodel.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

if [ ! -x "$BIN" ]; then
	echo "1..0 # SKIP no $BIN (run make)"
	exit 0
fi

mk() { "$BIN" "$@" 2>"$T/err"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

mk --preset tiny -o "$T/a.gguf" --seed 7; ok $? "tiny writes"
mk --preset tiny -o "$T/b.gguf" --seed 7; ok $? "tiny again, same seed"
[ "$(sha "$T/a.gguf")" = "$(sha "$T/b.gguf")" ]; ok $? "same seed: same sha256"
grep -q "wrote $T/b.gguf" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]
ok $? "one summary line when stderr is not a terminal"
mk --preset tiny -o "$T/c.gguf" --seed 8; ok $? "tiny, seed 8"
[ "$(sha "$T/a.gguf")" != "$(sha "$T/c.gguf")" ]; ok $? "another seed: another sha256"
mk --preset tiny -o "$T/d.gguf" --seed 7 --threads 1; ok $? "tiny, one thread"
[ "$(sha "$T/a.gguf")" = "$(sha "$T/d.gguf")" ]; ok $? "the thread count does not change the bytes"

mk --preset tiny-moe --type q8_0 -o "$T/m1.gguf" --seed 3 &&
	mk --preset tiny-moe --type q8_0 -o "$T/m2.gguf" --seed 3
ok $? "tiny-moe q8_0 writes twice"
[ "$(sha "$T/m1.gguf")" = "$(sha "$T/m2.gguf")" ]; ok $? "tiny-moe: same seed, same sha256"
mk --preset tiny-moe --type q8_0 -o "$T/m3.gguf" --seed 4
[ "$(sha "$T/m1.gguf")" != "$(sha "$T/m3.gguf")" ]; ok $? "tiny-moe: another seed, another sha256"

mk --preset tiny-qwen3moe --type q8_0 -o "$T/q1.gguf" --seed 3 &&
	mk --preset tiny-qwen3moe --type q8_0 -o "$T/q2.gguf" --seed 3 --threads 1
ok $? "tiny-qwen3moe q8_0 writes twice"
[ "$(sha "$T/q1.gguf")" = "$(sha "$T/q2.gguf")" ]; ok $? "tiny-qwen3moe: same seed, same sha256"
mk --preset tiny-qwen3 --type f16 -o "$T/q3.gguf"; ok $? "tiny-qwen3 f16 writes"
mk --preset tiny --type q4_1 -o "$T/q41.gguf"; ok $? "tiny q4_1 writes"
"${ACCEL_BUILD:-$TOP/build}/bin/accel-run" -m "$T/q41.gguf" -p "Once upon" -n 4 --temp 0 >"$T/out" 2>&1
ok $? "accel-run generates from the q4_1 file"
"$BIN" --preset nope -o "$T/bad.gguf" 2>&1 | grep -q "qwen3-8b, qwen3-30b-a3b"
ok $? "an unknown preset lists the qwen3 presets"

# bad flags: exit 1, exactly one line on stderr, no file
bad() {
	desc=$1; shift
	rm -f "$T/bad.gguf"
	"$BIN" "$@" 2>"$T/err" >/dev/null
	rc=$?
	lines=$(wc -l <"$T/err")
	[ $rc -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -e "$T/bad.gguf" ]
	r=$?
	[ $r -ne 0 ] && echo "# rc=$rc lines=$lines: $(head -c 300 "$T/err")"
	ok $r "$desc: exit 1 with one line"
}
bad "unknown preset" --preset llama-3b -o "$T/bad.gguf"
bad "unknown type" --preset tiny --type q3_k -o "$T/bad.gguf"
bad "--layers 0" --preset tiny --layers 0 -o "$T/bad.gguf"
bad "--layers x" --preset tiny --layers x -o "$T/bad.gguf"
bad "--seed -1" --preset tiny --seed -1 -o "$T/bad.gguf"
bad "unknown flag" --preset tiny --frobnicate -o "$T/bad.gguf"
bad "missing -o" --preset tiny
bad "-o without a value" --preset tiny -o
bad "q4_k on 64-wide rows" --preset tiny --type q4_k -o "$T/bad.gguf"

# llama-70b in f32 is ~282 GB: refused up front where that much is not free
need=282000000000
avail=$(df -B1 --output=avail "$T" | tail -1)
if [ "$avail" -lt "$need" ]; then
	"$BIN" --preset llama-70b --type f32 -o "$T/big.gguf" 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "needs .* GB .* free" "$T/err" && [ ! -e "$T/big.gguf" ]
	ok $? "a file that cannot fit is refused with the numbers: $(cat "$T/err")"
else
	skip "more than $need bytes free: cannot provoke the free-space refusal"
fi
# files are written atomically: a temporary file beside the target, renamed
# at the end; an interrupted or failed run leaves the old file's bytes and no
# temporary file
cp "$T/c.gguf" "$T/int.gguf"
old=$(sha "$T/int.gguf")
"$BIN" --preset llama-7b --layers 8 -o "$T/int.gguf" 2>/dev/null &
pid=$!
i=0
tmpf() { ls -A "$T" | grep -c '^\.int\.gguf\.'; }
while [ "$(tmpf)" -eq 0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
seen=$(tmpf)
kill -INT $pid 2>/dev/null
wait $pid 2>/dev/null
rc=$?
[ "$seen" -eq 1 ] && [ $rc -ne 0 ] && [ "$(sha "$T/int.gguf")" = "$old" ] && [ "$(tmpf)" -eq 0 ]
ok $? "SIGINT mid-write: the old file's bytes stay, no temporary file (seen=$seen rc=$rc)"
"$BIN" --preset llama-7b --layers 8 -o "$T/int.gguf" 2>/dev/null &
pid=$!
i=0
while [ "$(tmpf)" -eq 0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null
rc=$?
[ $rc -ne 0 ] && [ "$(sha "$T/int.gguf")" = "$old" ] && [ "$(tmpf)" -eq 0 ]
ok $? "SIGTERM mid-write: the same (rc=$rc)"
# a write that fails (RLIMIT_FSIZE: 64 KiB) keeps the old file as well
(ulimit -f 64; trap '' XFSZ; exec "$BIN" --preset tiny --seed 9 -o "$T/int.gguf") 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && [ "$(sha "$T/int.gguf")" = "$old" ] &&
	[ "$(tmpf)" -eq 0 ]
ok $? "a failed write: exit 1, one line, the old file's bytes, no temporary file ($(cat "$T/err"))"
chmod 600 "$T/int.gguf"
mk --preset tiny --seed 7 -o "$T/int.gguf"
rc=$?
[ $rc -eq 0 ] && [ "$(sha "$T/int.gguf")" = "$(sha "$T/a.gguf")" ] && [ "$(tmpf)" -eq 0 ] &&
	[ "$(stat -c %a "$T/int.gguf")" = 600 ]
ok $? "a finished write replaces the file, keeps its mode and leaves no temporary file"
mk --preset tiny -o /dev/null
ok $? "/dev/null is written in place"
[ -c /dev/null ]
ok $? "... and stays a device"
echo "1..$n"
[ $fails -eq 0 ]
