#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Traces (TAP): ACCEL_TRACE=FILE and --trace FILE write trace-event JSON that
# parses, with every command of every queue as a span (op or transfer, layer,
# bytes, the fence points waited on and signalled); accel-bench stream's
# io_busy and compute_busy are the union of the trace's spans over the run's
# window (recomputed here from the file), so overlap never exceeds 1; spans of
# one queue never overlap (queues run in order); a bad path is one line.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
if [ ! -x "$bdir/accel-run" ] || [ ! -x "$bdir/accel-bench" ]; then
	echo "1..0 # SKIP accel-run or accel-bench not built"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stories="$top/tests/models/stories260K.gguf"
echo "1..9"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

# --- accel-run under ACCEL_TRACE, streamed: every kind of span is there
ACCEL_TRACE="$tmp/run.json" "$bdir/accel-run" -m "$stories" -p "Once upon a time" -n 6 \
	--temp 0 -t 2 -b 4 --mem-budget 512K >/dev/null 2>"$tmp/err"
ok $? "accel-run with ACCEL_TRACE runs"
python3 -m json.tool "$tmp/run.json" >/dev/null 2>&1
ok $? "ACCEL_TRACE file parses as JSON"
python3 - "$tmp/run.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
x = [e for e in ev if e["ph"] == "X"]
ops = [e for e in x if e["cat"] == "op"]
reads = [e for e in x if e["cat"] == "transfer" and e["args"]["op"] == "read_file"]
waits = [e for e in x if e["cat"] == "wait"]
assert any(e["args"]["op"] == "matmul" and e["args"]["layer"] >= 0 and e["args"]["bytes"] > 0
           for e in ops), "matmul spans with a layer and bytes"
assert any(e["args"]["layer"] >= 0 and e["args"]["bytes"] > 0 and "signal" in e["args"]
           for e in reads), "weight reads with a layer, bytes and a signalled point"
assert waits and all(e["args"]["waits"] for e in waits), "fence waits name their points"
names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
assert any(n.startswith("copy") for n in names) and any(n.startswith("compute") for n in names)
PY
ok $? "ops with layer and bytes, weight reads with their signal, fence waits with their points"
python3 - "$tmp/run.json" <<'PY'
import json, sys, collections
ev = json.load(open(sys.argv[1]))["traceEvents"]
q = collections.defaultdict(list)
for e in ev:
    if e["ph"] == "X" and e["cat"] != "wait":
        q[e["tid"]].append((e["args"]["t0_ns"], e["args"]["t1_ns"]))
for spans in q.values():
    spans.sort()
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:])), "a queue ran two commands at once"
PY
ok $? "the commands of one queue never overlap"

# --- accel-bench stream: the printed busy fractions are the spans' union
"$bdir/accel-bench" stream -m "$stories" --mem-budget 904K -t 2 -n 8 --trace "$tmp/bench.json" \
	>"$tmp/bench.txt" 2>&1
ok $? "accel-bench stream --trace runs"
grep -q '^streamed: yes' "$tmp/bench.txt"
ok $? "the bench model streams"
python3 - "$tmp/bench.json" "$tmp/bench.txt" <<'PY'
import json, sys
tr = json.load(open(sys.argv[1]))
got = dict(l.split(": ", 1) for l in open(sys.argv[2]).read().splitlines() if ": " in l)
ev = tr["traceEvents"]
mark = {e["name"]: e["args"]["t_ns"] for e in ev if e["ph"] == "i"}
t0, t1 = mark["np1_begin"], mark["np1_end"]
def busy(engine):
    iv = sorted((max(e["args"]["t0_ns"], t0), min(e["args"]["t1_ns"], t1)) for e in ev
                if e["ph"] == "X" and e["cat"] != "wait" and e["args"]["engine"] == engine)
    tot, end = 0, 0
    for a, b in iv:
        a = max(a, end)
        if b > a:
            tot += b - a
        end = max(end, b)
    return tot / (t1 - t0)
io, comp = busy("copy"), busy("compute")
for name, want in (("io_busy", io), ("compute_busy", comp), ("overlap", max(io, comp))):
    assert abs(float(got[name]) - want) < 6e-4, (name, got[name], want)
assert float(got["overlap"]) <= 1.0
print("# io_busy %.4f compute_busy %.4f from the trace" % (io, comp))
PY
ok $? "io_busy, compute_busy and overlap equal the union of the trace's spans (overlap <= 1)"

# --- bad paths: one line, exit 1
"$bdir/accel-run" -m "$stories" -p hi -n 1 --trace "$tmp/nodir/x.json" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^accel-run: --trace .*nodir" "$tmp/err"
ok $? "accel-run --trace into a missing directory: one line"
"$bdir/accel-bench" stream -m "$stories" --mem-budget 904K -n 2 --trace "$tmp/nodir/x.json" \
	>/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "nodir" "$tmp/err"
ok $? "accel-bench stream --trace into a missing directory: one line"
