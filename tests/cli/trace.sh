#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Traces (TAP): ACCEL_TRACE=FILE and --trace FILE write trace-event JSON that
# parses, with every command of every queue as a span (op or transfer, layer,
# bytes, the fence points waited on and signalled); the commands of a queue
# never overlap, but reads the COPY engine runs as one group (a batch's
# embedding rows) start together; accel-bench stream's
# io_busy and compute_busy are the union of the trace's spans over the run's
# window (recomputed here from the file), so overlap never exceeds 1, and so
# are its moe_overlap (expert prediction on) and moe_overlap_no_prefetch on a
# MoE model; a bad path is one line.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
if [ ! -x "$bdir/accel-run" ] || [ ! -x "$bdir/accel-bench" ] || [ ! -x "$bdir/accel-mkmodel" ]; then
	echo "1..0 # SKIP accel-run, accel-bench or accel-mkmodel not built"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stories="$top/tests/models/stories260K.gguf"
echo "1..13"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

# --- accel-run under ACCEL_TRACE, streamed under its smallest budget (the
# embedding's rows read on demand too): every kind of span is there
"$bdir/accel-run" -m "$stories" -p hi -n 1 -b 4 --mem-budget 1K >/dev/null 2>"$tmp/err"
min=$(sed -n 's/.*streaming needs at least \([0-9.]*[KMG]\).*/\1/p' "$tmp/err")
ACCEL_TRACE="$tmp/run.json" "$bdir/accel-run" -m "$stories" -p "Once upon a time" -n 6 \
	--temp 0 -t 2 -b 4 --mem-budget "${min:-448K}" >/dev/null 2>"$tmp/err"
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
        q[e["tid"]].append((e["args"]["t0_ns"], e["args"]["t1_ns"], e["name"]))
groups = 0
for spans in q.values():
    # a group (reads the COPY engine runs at once) starts together, ends
    # when its last read does; groups and lone commands never overlap
    by_t0 = collections.defaultdict(list)
    for t0, t1, name in spans:
        by_t0[t0].append((t1, name))
    runs = sorted((t0, max(t1 for t1, _ in g), g) for t0, g in by_t0.items())
    assert all(b[0] >= a[1] for a, b in zip(runs, runs[1:])), "a queue ran two commands at once"
    for t0, t1, g in runs:
        if len(g) > 1:
            assert all(n.startswith("read_file") for _, n in g), ("not reads", g)
            groups += "embed_rows" in g[0][1]
assert groups > 0, "no batch's embedding rows read as one group"
PY
ok $? "the commands of one queue never overlap, but a group's reads (a batch's embedding rows), which start together"

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

# --- a MoE model: moe_overlap with prediction, and without, from one run
# (8 layers: the shared tiny ones fit the budget a 64-token batch needs)
moe="$tmp/moe.gguf"
"$bdir/accel-mkmodel" --preset tiny-moe --layers 8 --type f32 -o "$moe" 2>/dev/null
"$bdir/accel-bench" stream -m "$moe" --mem-budget 1K >/dev/null 2>"$tmp/err"
min=$(sed -n 's/.*streaming needs at least \([0-9.]*[KMG]\).*/\1/p' "$tmp/err")
"$bdir/accel-bench" stream -m "$moe" --mem-budget "$min" -t 2 -n 8 --trace "$tmp/moe.json" \
	>"$tmp/moe.txt" 2>&1
ok $? "accel-bench stream --trace on an 8-layer accel-mkmodel tiny-moe under $min"
grep -q '^streamed: yes' "$tmp/moe.txt"
ok $? "the MoE model streams"
grep -q '^moe_overlap: ' "$tmp/moe.txt" && grep -q '^moe_overlap_no_prefetch: ' "$tmp/moe.txt" &&
	grep -q '^expert_predict_hit: ' "$tmp/moe.txt" && grep -q '^expert_hit_rate: ' "$tmp/moe.txt" &&
	grep -q '^expert_predict_recall: ' "$tmp/moe.txt"
ok $? "it prints moe_overlap, moe_overlap_no_prefetch, expert_predict_hit and _recall, expert_hit_rate"
python3 - "$tmp/moe.json" "$tmp/moe.txt" <<'PY'
import json, sys
tr = json.load(open(sys.argv[1]))
got = dict(l.split(": ", 1) for l in open(sys.argv[2]).read().splitlines() if ": " in l)
ev = tr["traceEvents"]
mark = {e["name"]: e["args"]["t_ns"] for e in ev if e["ph"] == "i"}
def busy(engine, t0, t1):
    iv = sorted((max(e["args"]["t0_ns"], t0), min(e["args"]["t1_ns"], t1)) for e in ev
                if e["ph"] == "X" and e["cat"] != "wait" and e["args"]["engine"] == engine)
    tot, end = 0, 0
    for a, b in iv:
        a = max(a, end)
        if b > a:
            tot += b - a
        end = max(end, b)
    return tot / (t1 - t0)
for name, w in (("moe_overlap", got["moe_window"]),
                ("moe_overlap_no_prefetch", got["moe_window_no_prefetch"])):
    t0, t1 = mark[w + "_begin"], mark[w + "_end"]
    want = max(busy("copy", t0, t1), busy("compute", t0, t1))
    assert abs(float(got[name]) - want) < 6e-4, (name, got[name], want)
    assert 0 < float(got[name]) <= 1.0, (name, got[name])
    print("# %s %.4f from the trace" % (name, want))
for name in ("expert_predict_hit", "expert_predict_recall", "expert_hit_rate",
             "expert_hit_rate_no_prefetch"):
    assert 0 <= float(got[name]) <= 1.0, (name, got[name])
# precision and recall count the same hits: hit * predicted == recall * routed
pred, routed = int(got["expert_predicted"]), int(got["expert_routed"])
assert routed > 0 and pred > 0, (pred, routed)
hits = float(got["expert_predict_hit"]) * pred
assert abs(hits / routed - float(got["expert_predict_recall"])) < 5e-4 * pred / routed + 6e-4, \
    (got["expert_predict_hit"], pred, routed, got["expert_predict_recall"])
assert any("expert_prefetch" in e["name"] for e in ev if e["ph"] == "X"), "no prefetch span"
# streamed experts compute by parts (MOE_FFN per group of reads, then MOE_SUM)
assert float(got["expert_parts_per_layer"]) >= 1, got["expert_parts_per_layer"]
assert any(e["name"].startswith("moe_sum") for e in ev if e["ph"] == "X"), "no moe_sum span"
PY
ok $? "moe_overlap and moe_overlap_no_prefetch equal the union of their windows' spans (<= 1)"

# --- bad paths: one line, exit 1
"$bdir/accel-run" -m "$stories" -p hi -n 1 --trace "$tmp/nodir/x.json" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^accel-run: --trace .*nodir" "$tmp/err"
ok $? "accel-run --trace into a missing directory: one line"
"$bdir/accel-bench" stream -m "$stories" --mem-budget 904K -n 2 --trace "$tmp/nodir/x.json" \
	>/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "nodir" "$tmp/err"
ok $? "accel-bench stream --trace into a missing directory: one line"
