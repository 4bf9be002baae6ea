#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# accel-serve on loopback (TAP), with real clients: curl for the raw protocol
# and every error path (401/404/405/400/413/503 with OpenAI error objects, a
# stalled half request timed out, a client leaving mid-stream whose KV
# blocks come back at once), a concurrent load test whose greedy responses
# must equal accel-run --temp 0 on the same prompts (batch invariance), a
# seeded sampled request reproducing accel-run's, prefix-cache reuse, and
# the `openai` Python package for completions, chat and streaming on SmolLM2.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
serve="$bdir/accel-serve"
run="$bdir/accel-run"
py="${ACCEL_PYTHON:-python3}"
stories="$top/tests/models/stories260K.gguf"
smol="$top/models/SmolLM2-135M-Instruct.Q4_1.gguf"
missing=""
[ -x "$serve" ] || missing="accel-serve (libmicrohttpd-dev, libjson-c-dev)"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
"$py" -c 'import openai' >/dev/null 2>&1 || missing="$missing the openai package"
[ -f "$smol" ] || missing="$missing $smol"
if [ -n "$missing" ]; then
	if [ "${ACCEL_REQUIRE_REFS:-0}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - missing: $missing (scripts/setup-deps.sh --test, make model)"
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
echo "1..70"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# start NAME ARGS...: a server on a free port; sets url
start() {
	local name=$1 port=""
	shift
	"$serve" --port 0 -t 2 "$@" 2>"$tmp/$name.log" &
	pids="$pids $!"
	for _ in $(seq 1 600); do
		port=$(sed -n 's/.*listening on http:[^:]*:\([0-9]*\).*/\1/p' "$tmp/$name.log")
		[ -n "$port" ] && break
		sleep 0.1
	done
	url="http://127.0.0.1:$port"
	[ -n "$port" ]
}
# req EXPECTED_STATUS NAME CURL_ARGS...: the status and an OpenAI error object
KEY=secret-key
AUTH=(-H "Authorization: Bearer $KEY")
req_err() {
	local want=$1 name=$2 code
	shift 2
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@")
	[ "$code" = "$want" ] && "$py" -c '
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert isinstance(e["message"], str) and e["message"] and e["code"] == int(sys.argv[2])
' "$tmp/body" "$want" 2>/dev/null
	ok $? "$name: $want with an error object"
	[ "$code" = "$want" ] || echo "# got $code: $(head -c 300 "$tmp/body")"
}
# metric NAME: its value in /metrics
metric() {
	curl -s "${AUTH[@]}" "$url/metrics" | sed -n "s/^$1 \([0-9.]*\)$/\1/p"
}
# idle_blocks: wait until no sequence holds KV blocks (0 when they returned)
idle_blocks() {
	for _ in $(seq 1 100); do
		[ "$(metric accel_kv_blocks_used)" = 0 ] && [ "$(metric accel_requests_running)" = 0 ] &&
			return 0
		sleep 0.1
	done
	return 1
}
jtext() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"], end="")'; }

# ---- stories260K: the protocol, the errors, the load test
start stories -m "$stories" -np 16 -b 16 -c 4096 --api-key "$KEY" --max-body 4K --timeout 2
ok $? "accel-serve listens on a free port"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$url/health")
[ "$code" = 200 ] && grep -q '"ok"' "$tmp/body"
ok $? "/health without the key: 200"
req_err 401 "/v1/models without the key" "$url/v1/models"
req_err 401 "a wrong key" -H "Authorization: Bearer nope" "$url/v1/models"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${AUTH[@]}" "$url/v1/models")
[ "$code" = 200 ] && grep -q '"object":"list"' "$tmp/body"
ok $? "/v1/models with the key: 200, a list"
req_err 404 "an unknown route" "${AUTH[@]}" "$url/v2/nothing"
req_err 405 "GET on /v1/completions" "${AUTH[@]}" "$url/v1/completions"
C=(-s "${AUTH[@]}" -H "Content-Type: application/json")
req_err 400 "malformed JSON" "${C[@]}" -d '{"prompt": "hi", ' "$url/v1/completions"
req_err 400 "a JSON array body" "${C[@]}" -d '[1,2]' "$url/v1/completions"
req_err 400 "max_tokens of the wrong type" "${C[@]}" -d '{"prompt":"hi","max_tokens":"8"}' \
	"$url/v1/completions"
req_err 400 "an unknown field" "${C[@]}" -d '{"prompt":"hi","frobnicate":1}' "$url/v1/completions"
req_err 400 "no prompt" "${C[@]}" -d '{"max_tokens":4}' "$url/v1/completions"
req_err 400 "chat messages of the wrong shape" "${C[@]}" -d '{"messages":[{"role":"user"}]}' \
	"$url/v1/chat/completions"
long=$(for _ in $(seq 1 120); do printf 'the big dog ran '; done)
req_err 400 "a prompt longer than the context" "${C[@]}" -d "{\"prompt\":\"$long\"}" \
	"$url/v1/completions"
req_err 400 "max_tokens beyond the context" "${C[@]}" -d '{"prompt":"hi","max_tokens":300}' \
	"$url/v1/completions"
head -c 5000 /dev/zero | tr '\0' 'a' > "$tmp/big"
req_err 413 "a body over --max-body" "${C[@]}" --data-binary "@$tmp/big" "$url/v1/completions"
# half a request, then silence: closed after --timeout, the others served
t0=$(date +%s)
"$py" - "${url#http://127.0.0.1:}" "$KEY" <<'EOF' >"$tmp/stall" 2>&1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
          sys.argv[2].encode() + b"\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
s.settimeout(20)
while s.recv(4096):
    pass
EOF
t1=$(date +%s)
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/health")
[ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 10 ] && [ "$code" = 200 ] && [ ! -s "$tmp/stall" ]
ok $? "a stalled half request is closed after the timeout ($((t1 - t0)) s), the server serves on"

# greedy: exactly accel-run --temp 0's text, plain and streamed
p="Once upon a time"
want=$("$run" -m "$stories" -p "$p" -n 24 --temp 0 -t 2 2>/dev/null; echo x)
want=${want%$'\n'x}
curl "${C[@]}" -d "{\"prompt\":\"$p\",\"max_tokens\":24,\"temperature\":0}" \
	"$url/v1/completions" > "$tmp/c.json"
got=$(jtext < "$tmp/c.json"; echo x)
got=${got%x}
[ "$got" = "$want" ]
ok $? "greedy completion equals accel-run --temp 0"
[ "$got" = "$want" ] || echo "# got '$got', accel-run '$want'"
"$py" -c '
import json, sys
r = json.load(open(sys.argv[1]))
u = r["usage"]
assert r["object"] == "text_completion" and r["choices"][0]["finish_reason"] == "length"
assert u["completion_tokens"] == 24 and u["total_tokens"] == u["prompt_tokens"] + 24
assert "cached_tokens" in u["prompt_tokens_details"]
' "$tmp/c.json"
ok $? "the response's object, finish_reason and usage"
curl -sN "${C[@]}" -d "{\"prompt\":\"$p\",\"max_tokens\":24,\"temperature\":0,\"stream\":true}" \
	"$url/v1/completions" > "$tmp/sse"
"$py" -c '
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert lines[-1] == "data: [DONE]", lines[-1]
chunks = [json.loads(l[6:]) for l in lines[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks)
assert chunks[-1]["choices"][0]["finish_reason"] == "length"
assert text == sys.argv[2], (text, sys.argv[2])
' "$tmp/sse" "$want"
ok $? "stream: server-sent events that add up to the same text and end with [DONE]"
# stop strings: the text ends before the first one
stop=$(printf '%s' "$want" | cut -c 8-11)
curl "${C[@]}" -d "{\"prompt\":\"$p\",\"max_tokens\":24,\"temperature\":0,\"stop\":[\"$stop\"]}" \
	"$url/v1/completions" > "$tmp/s.json"
got=$(jtext < "$tmp/s.json"; echo x)
got=${got%x}
[ "$got" = "${want%%"$stop"*}" ] && grep -q '"finish_reason":"stop"' "$tmp/s.json"
ok $? "a stop string cuts the text before it, finish_reason stop"
# seeded sampling: accel-run's draw with the same seed and parameters, twice
wants=$("$run" -m "$stories" -p "$p" -n 16 --temp 0.9 -s 77 -t 2 2>/dev/null; echo x)
wants=${wants%$'\n'x}
for i in 1 2; do
	curl "${C[@]}" -d "{\"prompt\":\"$p\",\"max_tokens\":16,\"temperature\":0.9,\"seed\":77}" \
		"$url/v1/completions" | jtext > "$tmp/seed$i"
done
[ "$(cat "$tmp/seed1")" = "$wants" ] && cmp -s "$tmp/seed1" "$tmp/seed2"
ok $? "a seeded sampled request reproduces accel-run -s 77 --temp 0.9"
# the prefix cache: a repeated 60-token prompt skips its full blocks
lp=$(for _ in $(seq 1 12); do printf 'the cat sat '; done)
curl "${C[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":4,\"temperature\":0}" "$url/v1/completions" \
	> "$tmp/p1.json"
curl "${C[@]}" -d "{\"prompt\":\"$lp\",\"max_tokens\":4,\"temperature\":0}" "$url/v1/completions" \
	> "$tmp/p2.json"
"$py" -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
c = b["usage"]["prompt_tokens_details"]["cached_tokens"]
assert c >= 16 and c % 16 == 0 and c < b["usage"]["prompt_tokens"], c
assert a["choices"][0]["text"] == b["choices"][0]["text"]
' "$tmp/p1.json" "$tmp/p2.json"
ok $? "a repeated prompt: cached tokens in usage, the same text"
hits=$(metric accel_prefix_cache_hits_total)
[ "${hits:-0}" -ge 1 ]
ok $? "/metrics counts the prefix-cache hit ($hits)"

# a client that leaves mid-stream: cancelled, its blocks back at once
idle_blocks
ok $? "no KV blocks held when idle"
g0=$(metric accel_generation_tokens_total)
"$py" - "${url#http://127.0.0.1:}" "$KEY" <<'EOF' > "$tmp/cut"
import json, socket, sys
body = json.dumps({"prompt": "Once", "max_tokens": 250, "temperature": 0, "stream": True})
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
           % (sys.argv[2], len(body), body)).encode())
got = b""
while b"data: {" not in got:
    d = s.recv(4096)
    if not d:
        break
    got += d
s.close()  # gone after the first event
print("first event" if b"data: {" in got and b"[DONE]" not in got else "no event")
EOF
[ "$(cat "$tmp/cut")" = "first event" ]
ok $? "a client leaves the stream after its first event"
idle_blocks
r=$?
g1=$(metric accel_generation_tokens_total)
[ $r = 0 ] && [ $((g1 - g0)) -lt 200 ]
ok $? "its sequence cancelled after $((g1 - g0)) of 250 tokens: KV blocks and running sequences back to 0"

# 32 clients x 8 requests at once: none lost, each equal to its run alone
"$py" "$top/tests/cli/serve_client.py" load "$url" "$KEY" 32 8 "$run" "$stories" > "$tmp/load"
grep '^#' "$tmp/load"
while read -r verdict name; do
	[ "$verdict" = PASS ]
	ok $? "$name"
done < <(grep -E '^(PASS|FAIL) ' "$tmp/load")
[ "$(grep -cE '^(PASS|FAIL) ' "$tmp/load")" = 3 ]
ok $? "the load test ran its 3 checks"
idle_blocks
ok $? "after the load: KV blocks back to 0"
curl -s "${AUTH[@]}" "$url/metrics" > "$tmp/metrics"
for m in accel_requests_total accel_prompt_tokens_total accel_generation_tokens_total \
	accel_prefix_cache_cached_tokens_total accel_requests_waiting accel_kv_blocks_free \
	accel_bytes_streamed_total 'accel_time_to_first_token_seconds_bucket{le="+Inf"}' \
	accel_inter_token_latency_seconds_count; do
	grep -qF "$m" "$tmp/metrics" || { echo "# no $m"; false; }
done
ok $? "/metrics: counters, gauges and histograms in Prometheus text"
g=$(sed -n 's/^accel_generation_tokens_total \([0-9]*\)$/\1/p' "$tmp/metrics")
[ "${g:-0}" -ge $((32 * 8 * 8)) ]
ok $? "/metrics counted the generated tokens ($g)"

# ---- a queue of one: the requests beyond it get 503
start queue -m "$stories" -np 1 -c 256 --queue 1
ok $? "a second server with -np 1 --queue 1"
qpids=""
for i in $(seq 1 6); do
	curl -s -o "$tmp/q$i" -w '%{http_code}\n' -d '{"prompt":"Once","max_tokens":250,"temperature":0}' \
		"$url/v1/completions" > "$tmp/qc$i" &
	qpids="$qpids $!"
done
for p in $qpids; do wait "$p"; done
n200=$(cat "$tmp"/qc* | grep -c 200)
n503=$(cat "$tmp"/qc* | grep -c 503)
[ "$n200" -ge 1 ] && [ "$n503" -ge 1 ] && [ $((n200 + n503)) = 6 ]
ok $? "6 requests at once on a queue of 1: $n200 served, $n503 refused with 503"
grep -l '"code":503' "$tmp"/q[0-9] >/dev/null
ok $? "the 503 carries an OpenAI error object"

# ---- --kv-cache-dir: a restarted server takes the prompt's blocks from their files
start disk1 -m "$stories" -np 2 -c 512 --kv-cache-dir "$tmp/kvc"
curl -s -d "{\"prompt\":\"$lp\",\"max_tokens\":4,\"temperature\":0}" "$url/v1/completions" \
	> "$tmp/d1.json"
set -- $pids
last=${!#}
kill -TERM "$last"
wait "$last"
pids="${pids% $last}"
ls "$tmp/kvc" | grep -q '\.kv$'
ok $? "a server with --kv-cache-dir leaves its blocks in files ($(ls "$tmp/kvc" | wc -l))"
start disk2 -m "$stories" -np 2 -c 512 --kv-cache-dir "$tmp/kvc"
curl -s -d "{\"prompt\":\"$lp\",\"max_tokens\":4,\"temperature\":0}" "$url/v1/completions" \
	> "$tmp/d2.json"
"$py" -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["choices"][0]["text"] == b["choices"][0]["text"]
assert b["usage"]["prompt_tokens_details"]["cached_tokens"] >= 32
' "$tmp/d1.json" "$tmp/d2.json"
ok $? "after a restart: the same text, the prompt's blocks cached"
l=$(metric accel_kv_disk_blocks_loaded_total)
[ "${l:-0}" -ge 2 ]
ok $? "/metrics: $l blocks read from the cache directory"

# ---- memory pressure: 4 sequences in 3 KV blocks, the newest swapped out and back
start swap -m "$stories" -np 4 -b 16 -c 1024 --kv-blocks 3
ok $? "a server with --kv-blocks 3"
"$py" "$top/tests/cli/serve_client.py" load "$url" none 4 2 "$run" "$stories" > "$tmp/swapload"
grep -q "^PASS load: .* greedy responses equal" "$tmp/swapload" &&
	[ "$(grep -c '^FAIL' "$tmp/swapload")" = 0 ]
ok $? "4 clients x 2 requests under swapping: all equal accel-run --temp 0"
p=$(metric accel_preemptions_total)
idle_blocks && [ "${p:-0}" -ge 1 ]
ok $? "$p sequences were preempted and swapped back; blocks back to 0"
"$serve" -m "$stories" --swap-space 1K 2>"$tmp/sw.err"
[ $? = 1 ] && [ "$(wc -l < "$tmp/sw.err")" = 1 ] && grep -q "needs --kv-cache-dir" "$tmp/sw.err"
ok $? "--swap-space without --kv-cache-dir refused with one line"
start swapf -m "$stories" -np 4 -b 16 -c 1024 --kv-blocks 3 --swap-space 1 --kv-cache-dir "$tmp/swapdir"
"$py" "$top/tests/cli/serve_client.py" load "$url" none 4 2 "$run" "$stories" > "$tmp/swapfload"
grep -q "^PASS load: .* greedy responses equal" "$tmp/swapfload" &&
	[ "$(grep -c '^FAIL' "$tmp/swapfload")" = 0 ]
ok $? "--swap-space 1: 4 clients x 2 requests swapping to files: all equal accel-run --temp 0"
pf=$(metric accel_preemptions_to_file_total)
idle_blocks && [ "${pf:-0}" -ge 1 ] && ! ls "$tmp/swapdir" | grep -q '^swap-'
ok $? "$pf sequences swapped to files and back; no swap file in the directory"

# ---- -kvu: 4 sequences share one pool of -c 64 (4 blocks), each may use all
# 64 positions; 4 requests of 47 need 12 blocks: the newest wait preempted
start kvu -m "$stories" -np 4 -c 64 -kvu
ok $? "a server with -np 4 -c 64 -kvu"
cpids=""
for i in 1 2 3 4; do
	curl -s "$url/v1/completions" -d "{\"prompt\":\"Once upon a time $i\",\"max_tokens\":40,\"temperature\":0}" \
		> "$tmp/kvu$i.json" &
	cpids="$cpids $!"
done
# shellcheck disable=SC2086
wait $cpids
all=0
for i in 1 2 3 4; do
	w=$("$run" -m "$stories" -p "Once upon a time $i" -n 40 --temp 0 -t 2 2>/dev/null; echo x)
	w=${w%$'\n'x}
	g=$(jtext < "$tmp/kvu$i.json"; echo x)
	g=${g%x}
	[ "$g" = "$w" ] || { all=1; echo "# request $i: got '$g', accel-run '$w'"; }
done
p=$(metric accel_preemptions_total)
[ "$all" = 0 ] && idle_blocks && [ "${p:-0}" -ge 1 ]
ok $? "4 requests over a 4-block unified pool: accel-run's text, $p preemptions, blocks back"

# ---- streamed weights (--mem-budget): one pass over the layers per step, same answers
start streamed -m "$stories" -np 4 -b 16 -c 1024 --mem-budget 600K
ok $? "a server streaming its layers under --mem-budget 600K"
"$py" "$top/tests/cli/serve_client.py" load "$url" none 4 2 "$run" "$stories" > "$tmp/streamload"
grep -q "^PASS load: .* greedy responses equal" "$tmp/streamload" &&
	[ "$(grep -c '^FAIL' "$tmp/streamload")" = 0 ]
ok $? "4 clients x 2 requests, streamed: all equal accel-run --temp 0 (resident)"
bs=$(metric accel_bytes_streamed_total)
st=$(metric accel_steps_total)
[ "${bs:-0}" -gt 0 ] && [ "${st:-0}" -gt 0 ]
ok $? "/metrics: $bs weight bytes streamed in $st steps"

# ---- KV cache settings as accel-run's (-ctk/-ctv/-fa): same text with the same settings
if "$serve" -m "$stories" -ctv f16 -ctk q4_0 2>"$tmp/ctk.err"; then false; else
	[ "$(wc -l < "$tmp/ctk.err")" = 1 ] && grep -q "'q4_0' is not a cache type" "$tmp/ctk.err"; fi
ok $? "-ctk q4_0 refused with one line"
p="Once upon a time"
start kvf32 -m "$stories" -np 2 -c 512 -ctk f32 -ctv f32 -fa off
ok $? "accel-serve -ctk f32 -ctv f32 -fa off"
want=$("$run" -m "$stories" -p "$p" -n 24 --temp 0 -t 2 -ctk f32 -ctv f32 -fa off 2>/dev/null; echo x)
want=${want%$'\n'x}
got=$(curl -s -d "{\"prompt\":\"$p\",\"max_tokens\":24,\"temperature\":0}" \
	"$url/v1/completions" | jtext; echo x)
got=${got%x}
[ -n "$got" ] && [ "$got" = "$want" ]
ok $? "F32 cache without flash attention: accel-run's text with the same flags"

# ---- SmolLM2 through the openai package (its chat template)
start smol -m "$smol" -np 2 -c 1024
ok $? "accel-serve on SmolLM2-135M"
"$py" "$top/tests/cli/serve_client.py" openai "$url" "$run" "$smol" > "$tmp/oa" 2>"$tmp/oa.err"
tail -n 3 "$tmp/oa.err" | sed 's/^/# /'
while read -r verdict name; do
	[ "$verdict" = PASS ]
	ok $? "$name"
done < <(grep -E '^(PASS|FAIL) ' "$tmp/oa")
[ "$(grep -cE '^(PASS|FAIL) ' "$tmp/oa")" = 7 ]
ok $? "the openai checks ran all 7"

# shutdown on SIGTERM: exit 0
set -- $pids
kill -TERM "$1"
wait "$1"
ok $? "SIGTERM: accel-serve exits 0"
pids="${pids# $1}"

# ---- graceful shutdown: a stream running at SIGTERM finishes, new requests get 503
# lastpid: the server started last, in $last (and left out of cleanup's list)
lastpid() { set -- $pids; last=${!#}; pids="${pids% $last}"; }
start drain -m "$stories" -np 2 -c 512 --shutdown-timeout 20
lastpid
"$py" - "${url#http://127.0.0.1:}" "$last" <<'EOF' > "$tmp/drain"
import json, os, signal, socket, sys, time, urllib.error, urllib.request
port, pid = int(sys.argv[1]), int(sys.argv[2])
body = json.dumps({"prompt": "Once", "max_tokens": 200, "temperature": 0, "stream": True,
                   "stream_options": {"include_usage": True}})
# a request admitted before the signal, its body held back: the server keeps
# draining until it is complete, however fast the stream below ends
held_body = json.dumps({"prompt": "Once", "max_tokens": 4, "temperature": 0}).encode()
held = socket.create_connection(("127.0.0.1", port))
held.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n%s" % (len(held_body), held_body[:5]))
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
got = b""
while b"data: {" not in got:
    b = s.recv(1)
    if not b:  # refused or cut before its first event: fail, never spin
        print("stream refused", got.decode(errors="replace").split("\r\n")[0])
        sys.exit(0)
    got += b
os.kill(pid, signal.SIGTERM)

def status(path, data=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data)
    for _ in range(100):  # until the signal is seen
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            if e.code == 503:
                return 503, json.load(e)["error"]
        except OSError:
            return -1, None
        time.sleep(0.05)
    return 200, None

code, err = status("/v1/completions", json.dumps({"prompt": "Once", "max_tokens": 4}).encode())
print("new", code, err["code"] if err else None, bool(err and err["message"]))
code, err = status("/health")
print("health", code)
held.sendall(held_body[5:])
reply = b""
while True:
    d = held.recv(65536)
    if not d:
        break
    reply += d
print("held", reply.split(b"\r\n")[0].decode(errors="replace"))
while True:  # draining, the server closes the connection after the response
    d = s.recv(65536)
    if not d:
        break
    got += d
usage = [json.loads(l[6:])["usage"] for l in got.decode(errors="replace").split("\n")
         if l.startswith("data: {") and '"choices":[]' in l]
# chunked: the events, then the last (empty) chunk
done = b"data: [DONE]\n\n" in got and got.endswith(b"\r\n0\r\n\r\n")
print("stream", "done" if done else "cut", usage[-1]["completion_tokens"] if usage else -1)
EOF
grep -q "^new 503 503 True$" "$tmp/drain"
ok $? "SIGTERM: a new request meanwhile gets 503 with an OpenAI error object"
grep -q "^health 503$" "$tmp/drain"
ok $? "SIGTERM: /health answers 503"
grep -q "^stream done 200$" "$tmp/drain"
ok $? "SIGTERM: the stream running at the signal ends complete (200 tokens, [DONE])"
grep -q "^held HTTP/1.1 200 OK$" "$tmp/drain"
ok $? "SIGTERM: a request whose body was still coming is answered 200"
[ "$(grep -c . "$tmp/drain")" = 4 ] || sed 's/^/# /' "$tmp/drain"
wait "$last"
r=$?
# (how many requests it counts as running at the signal depends on timing: the
# stream may be fully buffered already, a 503 probe may be in flight: not checked)
[ $r = 0 ] && grep -q "stopping; [0-9]* requests running" "$tmp/drain.log" &&
	! grep -q "cancelled" "$tmp/drain.log"
ok $? "SIGTERM: exit 0 ($r) once the running request was answered"

# the grace period runs out: a half-sent request does not hold the server
start grace -m "$stories" -np 2 -c 512 --timeout 60 --shutdown-timeout 1
lastpid
"$py" - "${url#http://127.0.0.1:}" "$tmp/held" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro")
time.sleep(0.5)
open(sys.argv[2], "w").write("sent\n")
time.sleep(30)
EOF
hold=$!
for _ in $(seq 1 200); do [ -s "$tmp/held" ] && break; sleep 0.05; done
t0=$(date +%s)
kill -TERM "$last"
wait "$last"
r=$?
t1=$(date +%s)
kill "$hold" 2>/dev/null
wait "$hold" 2>/dev/null
[ $r = 0 ] && [ $((t1 - t0)) -le 10 ] && grep -q "1 requests cancelled" "$tmp/grace.log"
ok $? "--shutdown-timeout 1: a stalled half request is given up after the grace, exit 0 ($((t1 - t0)) s)"
