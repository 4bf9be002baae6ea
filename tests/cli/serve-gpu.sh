#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# accel-serve --gpu on the GPU emulation (TAP, loopback): libaccel-gpuemu.so.1
# keeps the KV cache, activations and weights in device memory of its own,
# poisoned with NaN until uploaded, and computes with the CPU executor, so
# every greedy response must equal accel-run --temp 0 on the CPU exactly
# while the scheduler batches several sequences, chunks prompts (-b 16),
# reuses cached prefix blocks, swaps preempted sequences out and back
# (--kv-blocks; to host memory and to files) and reads the disk tier after a
# restart: everything the serve path does with KV bytes on the host between
# steps must go through the VRAM twins. Placements: resident in VRAM, layers
# streamed through VRAM slots (--vram-budget, every stream item delayed
# 20 us so a missing fence wait shows as a wrong token), and file -> host
# slot -> VRAM slot (--mem-budget beside it), and SmolLM2 (a real Q4_1
# model, its tied head streamed) where models/ has it. /health, /metrics (parsed as
# Prometheus text) and /v1/models answer; KV blocks return to idle; what
# cannot run is refused with one line. What it cannot check: CUDA's kernels
# (tests/gpu/run.sh on a GPU).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${ACCEL_BUILD:-$top/build}"
serve="$build/bin/accel-serve"
run="$build/bin/accel-run"
emu="$build/lib/libaccel-gpuemu.so.1"
py="${ACCEL_PYTHON:-python3}"
st="$top/tests/models/stories260K.gguf"
smol="$top/models/SmolLM2-135M-Instruct.Q4_1.gguf"
missing=""
[ -x "$serve" ] || missing="accel-serve (libmicrohttpd-dev, libjson-c-dev)"
[ -e "$emu" ] || missing="$missing $emu"
[ -x "$run" ] || missing="$missing accel-run"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
	if [ "${ACCEL_REQUIRE_REFS:-0}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - missing: $missing (scripts/setup-deps.sh --test)"
		exit 1
	fi
	echo "1..0 # SKIP missing: $missing (scripts/setup-deps.sh --test installs them)"
	exit 0
fi
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
export ACCEL_GPU_LIB="$emu"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
echo "1..54"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# start NAME ARGS...: a server on a free port; sets url and pid
start() {
	local name=$1 port=""
	shift
	"$serve" --port 0 -t 2 "$@" 2>"$tmp/$name.log" &
	pid=$!
	pids="$pids $pid"
	for _ in $(seq 1 600); do
		port=$(sed -n 's/.*listening on http:[^:]*:\([0-9]*\).*/\1/p' "$tmp/$name.log")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	url="http://127.0.0.1:$port"
	[ -n "$port" ] || sed 's/^/# /' "$tmp/$name.log" | tail -3
	[ -n "$port" ]
}
# stop: SIGTERM (drains, flushes the disk tier), the exit status
stop() {
	kill "$pid" 2>/dev/null
	wait "$pid"
}
metric() { # metric NAME: its value in /metrics
	curl -s "$url/metrics" | sed -n "s/^$1 \([0-9.]*\)$/\1/p"
}
# idle_blocks: wait until no sequence runs nor holds KV blocks
idle_blocks() {
	for _ in $(seq 1 100); do
		[ "$(metric accel_kv_blocks_used)" = 0 ] && [ "$(metric accel_requests_running)" = 0 ] &&
			return 0
		sleep 0.1
	done
	return 1
}
# load NAME CLIENTS REQUESTS [MODEL]: serve_client.py's concurrent greedy
# requests against accel-run --temp 0 on the CPU (3 checks)
load() {
	"$py" "$top/tests/cli/serve_client.py" load "$url" none "$2" "$3" "$run" "${4:-$st}" \
		>"$tmp/$1.load" 2>&1
	grep '^#' "$tmp/$1.load" | head -3
	while read -r verdict name; do
		[ "$verdict" = PASS ]
		ok $? "$1: $name"
	done < <(grep -E '^(PASS|FAIL) ' "$tmp/$1.load")
	[ "$(grep -cE '^(PASS|FAIL) ' "$tmp/$1.load")" = 3 ] ||
		{ ok 1 "$1: the load test ran its 3 checks"; tail -3 "$tmp/$1.load" | sed 's/^/# /'; }
}
# prom FILE: the text parses as Prometheus exposition format 0.0.4: HELP
# and TYPE once per family, before its samples, which are contiguous; names,
# labels and values well formed; no series twice
prom() {
	"$py" - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (\S+)$" % (name, label, label))
types, helps, seen, done, cur = {}, set(), set(), set(), None
for ln in text.splitlines():
    m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % name, ln)
    if m:
        kind, fam, rest = m.groups()
        assert fam not in done, "family %s comes back after others" % fam
        if kind == "TYPE":
            assert fam not in types, "TYPE twice: " + fam
            assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), ln
            types[fam] = rest
        else:
            assert fam not in helps, "HELP twice: " + fam
            helps.add(fam)
        continue
    assert not ln.startswith("#") and ln, "stray line: %r" % ln
    m = sample.match(ln)
    assert m, "bad sample: %r" % ln
    s, labels, v = m.group(1), m.group(2) or "", m.group(3)
    fam = s
    if fam not in types:
        fam = re.sub(r"_(bucket|sum|count)$", "", s)
        assert types.get(fam) in ("histogram", "summary"), "no TYPE for " + s
    if cur != fam:
        if cur:
            done.add(cur)
        assert fam not in done, "family %s split" % fam
        cur = fam
    float(v)
    assert (s, labels) not in seen, "series twice: " + ln
    seen.add((s, labels))
assert types and helps == set(types), "HELP and TYPE do not pair"
EOF
}
# one_line NAME PATTERN ARGS...: accel-serve ARGS exits 1 before listening,
# with one line on stderr and nothing on stdout
one_line() {
	local name=$1 pat=$2 rc lines
	shift 2
	timeout 60 "$serve" --port 0 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q -- "$pat" "$tmp/err"
	ok $? "$name"
	[ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] || { echo "# rc $rc"; sed 's/^/# /' "$tmp/err" | head -4; }
	grep -q -- "$pat" "$tmp/err" || echo "# no '$pat' in: $(head -c 300 "$tmp/err")"
}
# the text accel-run --temp 0 prints for prompt $1, $2 tokens, on the CPU
want() {
	local w
	w=$("$run" -m "$st" -p "$1" -n "$2" --temp 0 -t 2 2>/dev/null; echo x)
	w=${w%$'\n'x}
	printf '%s' "$w"
}
jtext() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"], end="")'; }
J=(-s -H "Content-Type: application/json")
lp=$(for _ in $(seq 1 12); do printf 'the cat sat '; done)	# 49 tokens: 3 full blocks
wlp=$(want "$lp" 8)
common=(-m "$st" -np 8 -c 1024 -b 16)

# ---- resident in VRAM (weights, KV cache, activations)
start res "${common[@]}" --gpu -v
ok $? "--gpu resident: listening"
grep -q "GPU emulation (CPU, no GPU)" "$tmp/res.log" &&
	grep -q "placement: the weights, KV cache and activations resident in VRAM" "$tmp/res.log"
ok $? "--gpu resident: -v names the emulated GPU and the placement"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$url/health")
[ "$code" = 200 ] && grep -q '"ok"' "$tmp/body"
ok $? "--gpu resident: /health 200"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$url/v1/models")
[ "$code" = 200 ] && grep -q '"object":"list"' "$tmp/body"
ok $? "--gpu resident: /v1/models 200, a list"
load resident 8 2
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >"$tmp/p1.json"
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >"$tmp/p2.json"
g1=$(jtext <"$tmp/p1.json")
g2=$(jtext <"$tmp/p2.json")
c=$("$py" -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens_details"]["cached_tokens"])' \
	<"$tmp/p2.json")
[ -n "$wlp" ] && [ "$g1" = "$wlp" ] && [ "$g2" = "$wlp" ] && [ "${c:-0}" -ge 16 ]
ok $? "--gpu resident: a repeated prompt reuses $c cached tokens (blocks in VRAM), both equal accel-run's"
curl -s "$url/metrics" >"$tmp/res.metrics"
prom "$tmp/res.metrics" >"$tmp/prom.err" 2>&1 &&
	grep -q '^accel_placement_info{device="gpu",weights="resident"} 1$' "$tmp/res.metrics"
ok $? "--gpu resident: /metrics is Prometheus text with accel_placement_info{device=\"gpu\"}"
tail -1 "$tmp/prom.err" | sed 's/^/# /'
idle_blocks
ok $? "--gpu resident: after the load no sequence runs, no KV block is held"
stop
ok $? "--gpu resident: SIGTERM drains, exit 0"

# ---- layers streamed through VRAM slots, every stream item delayed
ACCEL_GPUEMU_DELAY_US=20 start slots "${common[@]}" --gpu --vram-budget 1.8M -v
ok $? "--vram-budget 1.8M (items delayed 20 us): listening"
grep -q "placement: VRAM .*VRAM slots of [1-9]" "$tmp/slots.log" &&
	! grep -q "6 of 6 units resident" "$tmp/slots.log"
ok $? "--vram-budget 1.8M: -v says units stream through VRAM slots"
grep "VRAM slots of" "$tmp/slots.log" | sed 's/^/# /'
load slots 8 2
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >/dev/null
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >"$tmp/p2.json"
g2=$(jtext <"$tmp/p2.json")
[ -n "$wlp" ] && [ "$g2" = "$wlp" ] && [ "$(metric accel_prefix_cache_hits_total)" -ge 1 ]
ok $? "--vram-budget 1.8M: a cached prefix gives accel-run's text"
curl -s "$url/metrics" >"$tmp/slots.metrics"
prom "$tmp/slots.metrics" >"$tmp/prom.err" 2>&1 &&
	grep -q '^accel_placement_info{device="gpu",weights="vram-slots"} 1$' "$tmp/slots.metrics" &&
	awk '$1 == "accel_vram_units" {u = $2} $1 == "accel_vram_units_resident" {r = $2}
	     $1 == "accel_vram_uploaded_bytes_total" {b = $2}
	     END {exit !(u == 6 && r >= 1 && r < u && b > 0)}' "$tmp/slots.metrics"
ok $? "--vram-budget 1.8M: /metrics Prometheus text: VRAM units resident below all, bytes uploaded"
tail -1 "$tmp/prom.err" | sed 's/^/# /'
idle_blocks
ok $? "--vram-budget 1.8M: KV blocks back to idle"
stop
ok $? "--vram-budget 1.8M: SIGTERM drains, exit 0"

# ---- file -> host slot -> VRAM slot (--mem-budget as the host tier)
# (-kvu right before -v: a flag without a value must not swallow the next)
start tiers "${common[@]}" --gpu --vram-budget 1.8M --mem-budget 600K -kvu -v
ok $? "--vram-budget 1.8M --mem-budget 600K -kvu: listening"
grep -q "placement: streaming under --mem-budget" "$tmp/tiers.log" &&
	grep -q "VRAM slots of [1-9]" "$tmp/tiers.log"
ok $? "--vram-budget 1.8M --mem-budget 600K -kvu -v: -v shows both tiers streaming"
load tiers 8 2
curl -s "$url/metrics" >"$tmp/tiers.metrics"
grep -q '^accel_placement_info{device="gpu",weights="vram-slots-from-file"} 1$' \
	"$tmp/tiers.metrics" && awk '$1 == "accel_bytes_streamed_total" && $2 > 0 {f = 1} END {exit !f}' \
	"$tmp/tiers.metrics" && idle_blocks
ok $? "--vram-budget 1.8M --mem-budget 600K: weights read from the file, blocks back to idle"
stop >/dev/null

# ---- swap under a KV block budget: blocks down from VRAM, back up
start swap -m "$st" -np 4 -c 1024 -b 16 --kv-blocks 3 --gpu
ok $? "--gpu --kv-blocks 3: listening"
load swap 4 2
p=$(metric accel_preemptions_total)
[ "${p:-0}" -ge 1 ] && idle_blocks
ok $? "--gpu --kv-blocks 3: $p sequences swapped to host memory and back; blocks to idle"
stop >/dev/null
ACCEL_GPUEMU_DELAY_US=20 start swapf -m "$st" -np 4 -c 1024 -b 16 --kv-blocks 3 --gpu \
	--vram-budget 1.8M --swap-space 1 --kv-cache-dir "$tmp/swapdir"
ok $? "--vram-budget 1.8M --kv-blocks 3 --swap-space 1 (items delayed): listening"
load swapf 4 2
pf=$(metric accel_preemptions_to_file_total)
[ "${pf:-0}" -ge 1 ] && idle_blocks && ! ls "$tmp/swapdir" | grep -q '^swap-'
ok $? "--vram-budget --swap-space 1: $pf sequences swapped to files and back; none left"
stop >/dev/null

# ---- the disk tier across a restart: blocks written from VRAM at
# shutdown, read back into VRAM by the next server
start disk1 -m "$st" -np 4 -c 1024 -b 16 --gpu --kv-cache-dir "$tmp/kvdir"
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >"$tmp/d1.json"
stop
rc=$?
nf=$(ls "$tmp/kvdir" 2>/dev/null | grep -c '\.kv$')
[ "$rc" -eq 0 ] && [ "$nf" -ge 3 ] && [ "$(jtext <"$tmp/d1.json")" = "$wlp" ]
ok $? "--gpu --kv-cache-dir: accel-run's text; $nf blocks written at shutdown"
start disk2 -m "$st" -np 4 -c 1024 -b 16 --gpu --vram-budget 1.8M --kv-cache-dir "$tmp/kvdir"
ok $? "a restarted server on the same directory (now streaming through VRAM slots)"
curl "${J[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":8,\"temperature\":0}" \
	"$url/v1/completions" >"$tmp/d2.json"
g=$(jtext <"$tmp/d2.json")
dl=$(metric accel_kv_disk_blocks_loaded_total)
[ "${dl:-0}" -ge 3 ] && [ -n "$wlp" ] && [ "$g" = "$wlp" ]
ok $? "after the restart: $dl blocks read from the files into VRAM, accel-run's text"
[ "$g" = "$wlp" ] || { echo "# got:  $g"; echo "# want: $wlp"; }
load disk 8 1
stop >/dev/null

# ---- a real model (Q4_1, tied embedding and head) streamed through VRAM slots
if [ -f "$smol" ]; then
	start smol -m "$smol" -np 4 -c 1024 -b 32 --gpu --vram-budget 120M -v
	grep -q "VRAM slots of [1-9]" "$tmp/smol.log"
	ok $? "SmolLM2 --vram-budget 120M: listening, units stream through VRAM slots"
	load smol 4 2 "$smol"
	idle_blocks
	ok $? "SmolLM2 --vram-budget 120M: KV blocks back to idle"
	stop >/dev/null
else
	for c in "listening" "load: answered" "load: equal" "load: usage" "blocks idle"; do
		n=$((n + 1))
		echo "ok $n # SKIP SmolLM2 $c: $smol absent (make model)"
	done
fi

# ---- refusals, one line each
one_line "--vram-budget without --gpu: one line" "^accel-serve: --vram-budget needs --gpu$" \
	-m "$st" --vram-budget 1G
one_line "--vram-budget 0: one line" "^accel-serve: --vram-budget" -m "$st" --gpu --vram-budget 0
one_line "--vram-budget not a size: one line" "^accel-serve: --vram-budget" \
	-m "$st" --gpu --vram-budget lots
one_line "--vram-budget below two slots: one line with what it needs" \
	"too small for this model: streaming it needs at least" "${common[@]}" --gpu --vram-budget 1M
one_line "--gpu with K and V caches of two types: one line" "^accel-serve: --gpu: the GPU.s attention" \
	-m "$st" --gpu -ctk f32 -ctv f16
ACCEL_GPU_LIB="$tmp/no-such-backend.so" one_line "--gpu without its backend object: one line" \
	"^accel-serve: --gpu" -m "$st" --gpu
# (--gpu under mpirun: GPU stages, tests/cli/serve-pipeline.sh)

# under SANITIZE=1 (ACCEL_BUILD=build/san) every server ran under ASan+UBSan
! grep -l "ERROR: AddressSanitizer\|runtime error:" "$tmp"/*.log
ok $? "no sanitizer report in any server's log"
