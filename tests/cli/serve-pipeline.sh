#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# accel-serve under mpirun (TAP): the layers split over 2 and 3 ranks on
# loopback; rank 0 serves HTTP and schedules, every step runs through the
# ranks. Concurrent greedy completions (prompts chunked by a 16-token step
# budget, decode and prefill in the same steps) must equal the responses of
# a one-process server to each prompt alone. A rank killed mid-request ends
# the job with one line from the server and no rank left; a rank that hangs
# is timed out (--pp-timeout); what a pipeline cannot do is refused with one
# line. Skips where mpirun or an MPI build is missing (CI installs them).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
bdir="${ACCEL_BUILD:-$top/build}/bin"
serve="$bdir/accel-serve"
py="${ACCEL_PYTHON:-python3}"
stories="$top/tests/models/stories260K.gguf"
why=""
command -v mpirun >/dev/null 2>&1 || why="mpirun not installed (apt-get install openmpi-bin libopenmpi-dev)"
[ -z "$why" ] && [ ! -x "$serve" ] && why="accel-serve not built (libmicrohttpd-dev, libjson-c-dev)"
[ -z "$why" ] && ! grep -q MPI_Init "$serve" 2>/dev/null && why="accel-serve built without MPI (libopenmpi-dev)"
[ -z "$why" ] && ! command -v curl >/dev/null 2>&1 && why="curl not installed"
if [ -n "$why" ]; then
	if [ "${ACCEL_REQUIRE_REFS:-}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - $why (CI must have it)"
		exit 1
	fi
	echo "1..0 # SKIP $why"
	exit 0
fi
tmp=$(mktemp -d "${ACCEL_BUILD:-$top/build}/serve-pipeline.XXXXXX")
jobs_=""
cleanup() {
	for p in $jobs_; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
echo "1..18"
n=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# alive PIDS...: how many of them still run after up to 10 s (zombies do not count)
alive() {
	local p left
	for _ in $(seq 100); do
		left=0
		for p in "$@"; do
			[ -r "/proc/$p/stat" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] &&
				left=$((left + 1))
		done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	echo $left
}
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
asroot=""
[ "$(id -u)" -eq 0 ] && asroot="--allow-run-as-root"
MPIRUN="mpirun $asroot --oversubscribe --bind-to none"
common="-m $stories --port 0 -t 1 -np 4 -c 1024 -b 16 -v"
# wait_port LOG: the port the server printed (empty after 60 s)
wait_port() {
	local port=""
	for _ in $(seq 600); do
		port=$(sed -n 's/.*listening on http:[^:]*:\([0-9]*\).*/\1/p' "$1")
		[ -n "$port" ] && break
		sleep 0.1
	done
	echo "$port"
}
# start_pp NAME NP ARGS...: accel-serve on NP ranks in the background;
# sets job, url, pids (every rank's), victim (rank 1's pid)
start_pp() {
	local name=$1 np=$2 port
	shift 2
	timeout -k 5 300 $MPIRUN -np "$np" "$serve" $common "$@" 2>"$tmp/$name.log" &
	job=$!
	jobs_="$jobs_ $job"
	port=$(wait_port "$tmp/$name.log")
	url="http://127.0.0.1:$port"
	# mpirun forwards each rank's lines on its own: they may follow the port
	for _ in $(seq 100); do
		pids=$(sed -n "s/^accel-serve: rank [0-9]* of $np on .*, pid \([0-9]*\):.*/\1/p" \
			"$tmp/$name.log" | tr '\n' ' ')
		[ "$(echo $pids | wc -w)" -eq "$np" ] && break
		sleep 0.1
	done
	victim=$(sed -n "s/^accel-serve: rank 1 of $np on .*, pid \([0-9]*\):.*/\1/p" "$tmp/$name.log")
	[ -n "$port" ] && [ "$(echo $pids | wc -w)" -eq "$np" ]
}
# pair NAME CLIENTS REQUESTS: serve_client.py's comparison with the reference
pair() {
	"$py" "$top/tests/cli/serve_client.py" pair "$ref" "$url" "$2" "$3" 24 >"$tmp/$1.pair"
	grep '^#' "$tmp/$1.pair"
	while read -r verdict name; do
		[ "$verdict" = PASS ]
		ok $? "$1: $name"
	done < <(grep -E '^(PASS|FAIL) ' "$tmp/$1.pair")
	[ "$(grep -cE '^(PASS|FAIL) ' "$tmp/$1.pair")" = 2 ] || ok 1 "$1: the pair checks ran"
}

# the reference: one process, the same flags
"$serve" $common 2>"$tmp/ref.log" &
jobs_="$jobs_ $!"
port=$(wait_port "$tmp/ref.log")
ref="http://127.0.0.1:$port"
[ -n "$port" ]
ok $? "one-process reference server listening"

for np in 2 3; do
	start_pp "pp$np" $np
	ok $? "$np ranks: rank 0 listening, every rank loaded its layers"
	pair "$np ranks" 8 4
	curl -s "$url/metrics" >"$tmp/metrics"
	grep -q '^accel_requests_running 0$' "$tmp/metrics" &&
		grep -q '^accel_kv_blocks_used 0$' "$tmp/metrics"
	ok $? "$np ranks: no sequence running, no KV block held after the load"
	kill "$job" 2>/dev/null
	wait "$job" 2>/dev/null
	[ "$(alive $pids)" -eq 0 ]
	ok $? "$np ranks: stopping mpirun leaves no rank running"
done

# GPU stages (the GPU emulation: tests/cli/gpu-emu.sh): each rank's layers
# on its GPU, rank 0's through VRAM slots (--vram-budget 1.1M), the hidden
# state up and down around every stage's pass: the CPU reference's answers
emu="${ACCEL_BUILD:-$top/build}/lib/libaccel-gpuemu.so.1"
if [ -f "$emu" ]; then
	ACCEL_GPU_LIB="$emu" ACCEL_GPUEMU_DELAY_US=10 start_pp gpu 2 --gpu --vram-budget 1.1M
	ok $? "2 GPU ranks: rank 0 listening, every rank loaded its layers"
	grep -q "^accel-serve: rank 0 of 2 .*on the GPU: 0 of 3 units in VRAM, 2 VRAM slots" \
		"$tmp/gpu.log"
	ok $? "2 GPU ranks: rank 0's layers cross into VRAM slots every step"
	pair "2 GPU ranks" 8 2
	kill "$job" 2>/dev/null
	wait "$job" 2>/dev/null
else
	for i in 1 2 3 4; do ok 1 "GPU ranks: $emu not built"; done
fi

# a rank killed while a request runs: one line from the server, no hang
start_pp kill 2
curl -s "$url/v1/completions" -d '{"prompt":"Once","max_tokens":240,"temperature":0}' \
	>/dev/null 2>&1 &
jobs_="$jobs_ $!"
sleep 0.3
lines0=$(grep -c '^accel-serve' "$tmp/kill.log")
[ -n "$victim" ] && kill -9 "$victim"
wait "$job"
rc=$?
left=$(alive $pids)
after=$(tail -n +$((lines0 + 1)) "$tmp/kill.log" | grep -c '^accel-serve')
[ -n "$victim" ] && [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$left" -eq 0 ] && [ "$after" -eq 1 ] &&
	grep -q '^accel-serve: .* under mpirun: a rank ended or the job was stopped' "$tmp/kill.log"
ok $? "rank 1 killed mid-request: the server exits (exit $rc) with one line ($after), no rank left ($left)"

# a rank that hangs: the next request's step times out on rank 0, one line
start_pp hang 2 --pp-timeout 3
[ -n "$victim" ] && kill -STOP "$victim"
curl -s "$url/v1/completions" -d '{"prompt":"Once","max_tokens":24,"temperature":0}' \
	>/dev/null 2>&1 &
jobs_="$jobs_ $!"
wait "$job"
rc=$?
[ -n "$victim" ] && kill -CONT "$victim" 2>/dev/null
left=$(alive $pids)
[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
[ -n "$victim" ] && [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$left" -eq 0 ] &&
	grep -q "^accel-serve: rank 0 (.*): no progress for 3 s while waiting for rank 1 (--pp-timeout)" \
		"$tmp/hang.log"
ok $? "rank 1 stopped, then a request: rank 0 times out with one line, the job ends (exit $rc)"

# the KV of later ranks cannot be cached, stored or swapped by rank 0
timeout -k 5 60 $MPIRUN -np 2 "$serve" $common --kv-cache-dir "$tmp" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c '^accel-serve' "$tmp/err")" -eq 1 ] &&
	grep -q '^accel-serve: under mpirun: no --kv-cache-dir' "$tmp/err"
ok $? "--kv-cache-dir under mpirun refused with one line (exit $rc)"
