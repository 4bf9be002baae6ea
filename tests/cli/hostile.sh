#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tools under a careless or hostile user (TAP): every failure path of
# accel-run (-p, chat, chat-once, -f, -np, streaming), accel-bench,
# accel-mkmodel and accelctl exits 1 with exactly one stderr line and no
# sanitizer report (run it with ACCEL_BUILD=build/san for ASan+UBSan);
# nothing is lost silently (a full stdout is an error, a full context says
# so); a FIFO as model does not hang; and --mem-budget works for an
# ordinary user whose RLIMIT_MEMLOCK refuses pinning (one warning line),
# while --mlock makes that an error.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
for t in accel-run accel-bench accel-mkmodel accelctl; do
	if [ ! -x "$bdir/$t" ]; then
		echo "1..0 # SKIP $t not built"
		exit 0
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:exitcode=99"
n=0
fails=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
# fails_one TOOL PATTERN NAME ARGS...: exit 1, one stderr line "TOOL: ...PATTERN",
# no sanitizer report (ASan/UBSan write "ERROR: ..." or "runtime error")
fails_one() {
	local tool=$1 pat=$2 name=$3
	shift 3
	"$bdir/$tool" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$?
	local lines
	lines=$(wc -l <"$tmp/err")
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -q "^$tool: .*$pat" "$tmp/err" &&
		! grep -qE 'Sanitizer|runtime error' "$tmp/err"
	ok $? "$tool: $name"
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] || { printf '# rc %s:\n' "$rc"; sed 's/^/#   /' "$tmp/err" | head -20; }
}
stories="$top/tests/models/stories260K.gguf"
long="Once upon a time there was a little girl who liked to play in the park every day"
printf '%s\n' "$long" >"$tmp/long.txt"
printf 'Once upon a time\nThe dog\n' >"$tmp/two.txt"
: >"$tmp/empty.txt"

# --- accel-run: each failure path, one line, no sanitizer report
R=accel-run
fails_one $R "does not fit the context" "-p: prompt larger than -c" -m "$stories" -c 8 -p "$long"
fails_one $R "does not fit the context" "--chat-once: prompt larger than -c (was an invalid free)" \
	-m "$stories" -c 8 --chat-once -p "$long"
printf '%s\n' "$long" >"$tmp/chatin.txt"
"$bdir/$R" -m "$stories" -c 8 --chat <"$tmp/chatin.txt" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "does not fit the context" "$tmp/err" && ! grep -qE 'Sanitizer|runtime error' "$tmp/err"
ok $? "$R: --chat: a turn larger than -c fails cleanly (rc $rc)"
fails_one $R "fit the context" "-f: prompt larger than -c" -m "$stories" -c 8 -f "$tmp/long.txt"
fails_one $R "fit the context" "-f -np 2: prompt larger than -c" -m "$stories" -c 8 \
	-f "$tmp/long.txt" -np 2
fails_one $R "no prompts" "-f: an empty file" -m "$stories" -f "$tmp/empty.txt"
fails_one $R "missing.txt" "-f: a missing file" -m "$stories" -f "$tmp/missing.txt"
fails_one $R "too small for this model: streaming needs at least .* (2 slots of .*, .* of resident tensors, .* to stage embedding rows for a batch of 512); keeping it all resident (no streaming) needs" \
	"--mem-budget below the minimum: the real parts" -m "$stories" -p hi --mem-budget 1K
fails_one $R "--temp: 'nan' is not a finite number" "--temp nan" -m "$stories" -p hi --temp nan
fails_one $R "--temp: 'inf' is not a finite number" "--temp inf" -m "$stories" -p hi --temp inf
fails_one $R "--top-p: '-inf' is not a finite number" "--top-p -inf" -m "$stories" -p hi --top-p -inf
fails_one $R "--min-p: '1.5' is out of range" "--min-p 1.5" -m "$stories" -p hi --min-p 1.5
fails_one $R "--repeat-penalty: '0' is out of range" "--repeat-penalty 0" -m "$stories" -p hi --repeat-penalty 0
fails_one $R "-c: '10i' is not an integer" "-c 10i" -m "$stories" -p hi -c 10i
fails_one $R "-t: '1000' is out of range (1..256)" "-t above the engine's limit, at parse time" \
	-m "$stories" -p hi -t 1000
fails_one $R "-s: '-2' is out of range" "-s -2" -m "$stories" -p hi -s -2
fails_one $R "-n: missing value" "a flag without its value" -m "$stories" -p hi -n
fails_one $R "-p and -f both" "-p with -f" -m "$stories" -p hi -f "$tmp/two.txt"
fails_one $R "--chat .*not with -f" "--chat with -f" -m "$stories" --chat -f "$tmp/two.txt"
fails_one $R "--chat-once .*not with -np" "--chat-once with -np" -m "$stories" --chat-once -p hi -np 2
fails_one $R "accel device $tmp/nodev: No such file" "--device names the path" \
	-m "$stories" -p hi --device "$tmp/nodev"
ACCEL_DEVICE="$tmp/nodev" fails_one $R "from ACCEL_DEVICE" "ACCEL_DEVICE names itself" \
	-m "$stories" -p hi -n 1
mkfifo "$tmp/fifo"
timeout 10 "$bdir/$R" -m "$tmp/fifo" -p hi >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "fifo: not a regular file (a FIFO)" "$tmp/err"
ok $? "$R: a FIFO as model is refused at once, no hang (rc $rc)"

# --- nothing silently lost
"$bdir/$R" -m "$stories" -p "Once upon a time" -n 8 --temp 0 >/dev/full 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "stdout.*No space left" "$tmp/err"
ok $? "$R: a full stdout (>/dev/full) is an error exit with one line (rc $rc)"
"$bdir/$R" -m "$stories" -f "$tmp/two.txt" -np 2 -n 8 --temp 0 >/dev/full 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "stdout.*No space left" "$tmp/err"
ok $? "$R: -np: a full stdout is an error exit too (rc $rc)"
single=$("$bdir/$R" -m "$stories" -p "Once upon a time" -n 100 -c 16 --temp 0 --ids -t 2 2>"$tmp/err1")
rc1=$?
file=$("$bdir/$R" -m "$stories" -f <(echo "Once upon a time") -n 100 -c 16 --temp 0 --ids -t 2 2>"$tmp/err2")
rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -n "$single" ] && [ "$single" = "$file" ] &&
	[ "$(grep -c 'context is full\|stopped at the context limit' "$tmp/err1")" -eq 1 ] &&
	[ "$(grep -c 'context is full\|stopped at the context limit' "$tmp/err2")" -eq 1 ] &&
	[ "$(echo "$single" | wc -w)" -eq 16 ]
ok $? "$R: -p and -f alike at the context limit: same 16 ids, one line saying the context is full"
out=$("$bdir/$R" -m "$stories" -p "Once upon a time" -n 4 --temp 0.8 -s 5 -t 2 2>/dev/null)
out2=$("$bdir/$R" -m "$stories" -p "Once upon a time" -n 4 --temp 0.8 -s 5 -t 2 2>/dev/null)
[ -n "$out" ] && [ "$out" = "$out2" ]
ok $? "$R: -s 5 twice gives the same text"
"$bdir/$R" -m "$stories" -p "Once" -n 2 -v -s -1 -t 2 >/dev/null 2>"$tmp/err"
grep -q "^accel-run: seed [0-9]* (random" "$tmp/err" && grep -q "^accel-run: placement: every weight resident" "$tmp/err"
ok $? "$R: -v prints the random seed and the placement"
"$bdir/$R" -m "$stories" -p "Once" -n 2 -v -b 4 --mem-budget 600K -t 2 >/dev/null 2>"$tmp/err"
grep -q "^accel-run: placement: streaming under --mem-budget 600 KiB: .* slots of" "$tmp/err"
ok $? "$R: -v with --mem-budget: what is resident, what streams, slots"

# --- accel-bench, accel-mkmodel, accelctl failure paths
B=accel-bench
fails_one $B "-t: '10i' is not an integer" "decode -t 10i" decode -m "$stories" -t 10i
fails_one $B "-n: '-1' is out of range" "stream -n -1" stream -m "$stories" --mem-budget 1M -n -1
fails_one $B "--mem-budget: '1Q' is not a size" "stream --mem-budget 1Q" stream -m "$stories" --mem-budget 1Q
fails_one $B "--batch: 'x' is not an integer" "kernels --batch x" kernels --batch x
fails_one $B "missing.gguf" "decode: a missing model" decode -m "$tmp/missing.gguf" -t 2
fails_one $B "too small" "stream: a budget below the minimum" stream -m "$stories" --mem-budget 1K
fails_one $B "missing.gguf" "spec: a missing draft model" spec -m "$stories" --draft-model "$tmp/missing.gguf"
fails_one $B "--draft: '0' is out of range" "spec --draft 0" spec -m "$stories" --draft 0
# spec's greedy ids checked against plain decoding's (not its timings)
"$bdir/$B" spec -m "$stories" --draft-model "$stories" --mem-budget 768K -n 12 -t 1 >"$tmp/out" 2>&1
[ $? -eq 0 ] && grep -q '^spec_greedy_identical: yes' "$tmp/out" && grep -q '^streamed: yes' "$tmp/out" &&
	grep -q '^spec_acceptance_draft: 1.000' "$tmp/out"
ok $? "spec: streamed, greedy ids identical, the model as its own draft accepted every time"
M=accel-mkmodel
fails_one $M "layers" "--layers 10i" --preset tiny --layers 10i -o "$tmp/x.gguf"
fails_one $M "none.gguf: No such file" "--vocab-from a missing file" --preset tiny --vocab-from "$tmp/none.gguf" -o "$tmp/x.gguf"
fails_one $M "nodir/x.gguf: .*No such file" "-o in a missing directory" --preset tiny -o "$tmp/nodir/x.gguf"
C=accelctl
fails_one $C "--device: missing value" "--device without a value" --device
fails_one $C "--device $tmp/nodev" "--device names the path" --device "$tmp/nodev" info
fails_one $C "COUNT: '10i' is not a number" "kv alloc 0 10i" --device emu pool create 64K --kv -- kv alloc 0 10i
fails_one $C "nothing can signal it" "fence wait that nothing can signal" --device emu fence create -- fence wait 0 1
fails_one $C "no pool" "destroy a missing pool" --device emu pool destroy 3

# --- SIGINT/SIGTERM end a tool promptly (here: a long generation); a
# background job starts with SIGINT ignored, env --default-signal undoes it
for sig in INT TERM; do
	env --default-signal=INT "$bdir/$R" -m "$stories" -p "Once" -n -1 -c 2048 -t 1 \
		>/dev/null 2>"$tmp/err" &
	pid=$!
	sleep 0.5
	start=$(date +%s%N)
	kill -$sig $pid
	wait $pid 2>/dev/null
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	[ $rc -eq $((128 + $(kill -l $sig))) ] && [ $ms -lt 2000 ] &&
		! grep -qE 'Sanitizer|runtime error' "$tmp/err"
	ok $? "$R: SIG$sig ends a long run promptly (rc $rc, $ms ms)"
done

# --- memory locking as an ordinary user (RLIMIT_MEMLOCK 256 KiB < the pools)
# Must run: as root switch to nobody; not root and no switch = a failure.
# the user runs a copy of the tool from $tmp (755): the checkout may be
# private to root (a clone in a mktemp -d directory is)
cp "$stories" "$tmp/m.gguf"
cp "$bdir/$R" "$tmp/$R"
chmod 644 "$tmp/m.gguf"
chmod 755 "$tmp/$R"
asuser() { # asuser CMD...: run as an unprivileged user with ulimit -l 256
	if [ "$(id -u)" -ne 0 ]; then
		bash -c 'ulimit -l 256 && exec "$@"' _ "$@"
	elif command -v setpriv >/dev/null; then
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
			bash -c 'ulimit -l 256 && exec "$@"' _ "$@"
	else
		runuser -u nobody -- bash -c 'ulimit -l 256 && exec "$@"' _ "$@"
	fi
}
ref=$("$tmp/$R" -m "$tmp/m.gguf" -p "Once upon a time" -n 8 --temp 0 --ids -t 2 -b 4 2>/dev/null)
asuser id -u >"$tmp/uid" 2>&1
uid=$(cat "$tmp/uid")
[ -n "$uid" ] && [ "$uid" != 0 ]
ok $? "switched to an unprivileged user (uid $uid)"
out=$(asuser "$tmp/$R" -m "$tmp/m.gguf" -p "Once upon a time" -n 8 --temp 0 --ids -t 2 -b 4 \
	--mem-budget 600K 2>"$tmp/err")
rc=$?
[ $rc -eq 0 ] && [ -n "$ref" ] && [ "$out" = "$ref" ] &&
	[ "$(grep -c 'warning' "$tmp/err")" -eq 1 ] &&
	grep -q "^accel-run: warning: RLIMIT_MEMLOCK (256 KiB) refused to pin .* KiB of weights: they stay pageable.*ulimit -l.*limits.conf.*CAP_IPC_LOCK" "$tmp/err" &&
	! grep -q "libaccel" "$tmp/err"
ok $? "non-root --mem-budget streams with pageable memory: resident ids, one warning line (rc $rc)"
[ $rc -eq 0 ] || sed 's/^/#   /' "$tmp/err"
asuser "$tmp/$R" -m "$tmp/m.gguf" -p "Once" -n 2 -t 2 -b 4 --mem-budget 600K --mlock \
	>/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q "^accel-run: cannot pin .* KiB for .*: RLIMIT_MEMLOCK is 256 KiB (raise it with ulimit -l" "$tmp/err"
ok $? "non-root --mlock: refused pinning is one error line (rc $rc)"
[ $rc -eq 1 ] || sed 's/^/#   /' "$tmp/err"

echo "1..$n"
[ $fails -eq 0 ]
