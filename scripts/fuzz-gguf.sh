#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzz the GGUF reader (tests/fuzz/fuzz_gguf.c) with libFuzzer + ASan + UBSan.
#   scripts/fuzz-gguf.sh [SECONDS]     (default 60)
# Seeds: the test models and a few tiny synthetic GGUFs, copied to a temp
# corpus; dictionary tests/fuzz/gguf.dict. Exits non-zero on a finding (the
# input is kept in build/fuzz/artifacts/). Installs clang quietly if missing.
# Afterwards the corpus is kept in build/fuzz/corpus and, if llvm-cov is
# there, the line coverage of the reader's sources over it is printed.
set -eu

secs=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
cd "$top"

CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
	for c in clang clang-18 clang-17 clang-16 clang-15 clang-14; do
		if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
	done
fi
have_fuzzer() {
	[ -n "$CC" ] && echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
		"$CC" -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1
}
if ! have_fuzzer; then
	echo "fuzz-gguf: installing clang and libclang-rt-14-dev"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
	CC=clang-14
	have_fuzzer || { echo "fuzz-gguf: $CC cannot build a libFuzzer target" >&2; exit 2; }
fi

mkdir -p "$out/artifacts"
# the fuzz target is test code: it sees every layer (as the Makefile's tests)
inc="-Iuapi -Ilibaccel/include -Ikernels/include -Iruntime/include -Iruntime/src -D_GNU_SOURCE -std=gnu11"
# rt_src NAME...: the runtime's sources by file name, wherever runtime/src
# groups them (runtime/src/gguf/gguf.c or runtime/src/gguf.c)
rt_src() {
	local f p
	for f in "$@"; do
		p=$(find runtime/src -name "$f" -type f | head -1)
		[ -n "$p" ] || { echo "fuzz-gguf: no $f under runtime/src" >&2; exit 2; }
		printf '%s ' "$p"
	done
}
src=$(rt_src gguf.c gguf_io.c gguf_get.c)
err_src=$(rt_src error.c)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The reader and the target get coverage; the kernels (only their type
# traits are used) come from the normal gcc build, uninstrumented.
make -s -j2 build/lib/libkn.a >/dev/null
$CC $inc -DRT_GGUF_WINDOW=4096 -O1 -g $san -fsanitize=fuzzer \
	tests/fuzz/fuzz_gguf.c $src $err_src build/lib/libkn.a -lm -o "$out/fuzz_gguf"

corpus=$(mktemp -d /tmp/fuzz-gguf.XXXXXX)
trap 'rm -rf "$corpus"' EXIT
cp tests/models/*.gguf tests/models/random/*.gguf "$corpus/"
# header-only cuts of the models (what fits in -max_len) and small synthetic
# files that open, with every scalar type, arrays and two tensors
python3 - "$corpus" <<'EOF'
import glob, os, struct, sys
d = sys.argv[1]
for f in glob.glob(os.path.join(d, '*.gguf')):
    b = open(f, 'rb').read()
    open(f[:-5] + '.head', 'wb').write(b[:16384])
def s(x):
    x = x.encode()
    return struct.pack('<Q', len(x)) + x
def kv(k, t, v):
    return s(k) + struct.pack('<I', t) + v
def tiny(version, align, extra=b''):
    kvs = [kv('general.architecture', 8, s('llama')),
           kv('general.alignment', 4, struct.pack('<I', align)),
           kv('x.u8', 0, b'\x07'), kv('x.i8', 1, b'\xf9'), kv('x.u16', 2, b'\x01\x02'),
           kv('x.i16', 3, b'\xff\xff'), kv('x.i32', 5, struct.pack('<i', -3)),
           kv('x.f32', 6, struct.pack('<f', 0.5)), kv('x.bool', 7, b'\x01'),
           kv('x.u64', 10, struct.pack('<Q', 1 << 40)), kv('x.i64', 11, struct.pack('<q', -1)),
           kv('x.f64', 12, struct.pack('<d', 1e-6)),
           kv('x.arr.s', 9, struct.pack('<IQ', 8, 3) + s('a') + s('') + s('ccc')),
           kv('x.arr.b', 9, struct.pack('<IQ', 7, 2) + b'\x00\x01'),
           kv('x.arr.f', 9, struct.pack('<IQ', 6, 2) + struct.pack('<ff', 1, 2))]
    ts = [('w', [32, 2], 8, 0), ('n', [4], 0, 128)]
    b = b'GGUF' + struct.pack('<IQQ', version, len(ts), len(kvs)) + b''.join(kvs)
    for name, ne, ty, off in ts:
        b += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', n) for n in ne)
        b += struct.pack('<IQ', ty, off)
    b += b'\0' * (-len(b) % align)
    return b + b'\x11' * (128 + 16) + extra
open(os.path.join(d, 'tiny-v3.gguf'), 'wb').write(tiny(3, 64))
open(os.path.join(d, 'tiny-v2.gguf'), 'wb').write(tiny(2, 32))
open(os.path.join(d, 'empty.gguf'), 'wb').write(b'GGUF' + struct.pack('<IQQ', 3, 0, 0))
EOF

log=$out/fuzz-gguf.log
echo "fuzz-gguf: $CC, ${secs}s, corpus $(ls "$corpus" | wc -l) seeds, log $log"
rc=0
"$out/fuzz_gguf" "$corpus" -dict=tests/fuzz/gguf.dict -max_total_time="$secs" \
	-max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" >"$log" 2>&1 || rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1)
echo "fuzz-gguf: ${execs:-?} executions, ${cov:-cov: ?}, ${corp:-corp: ?}, exit $rc"
if [ "$rc" -ne 0 ]; then
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2
	exit "$rc"
fi
rm -rf "$out/corpus"
cp -r "$corpus" "$out/corpus"

# Source line coverage of the reader over the final corpus (open_mem only:
# the pread path of rt_gguf_open is covered by the TAP tests instead).
prof=$(command -v llvm-profdata || command -v llvm-profdata-14 || true)
lcov=$(command -v llvm-cov || command -v llvm-cov-14 || true)
if [ -n "$prof" ] && [ -n "$lcov" ]; then
	$CC $inc -DRT_GGUF_WINDOW=4096 -O0 -g -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
		tests/fuzz/fuzz_gguf.c $src $err_src build/lib/libkn.a -lm \
		-o "$out/fuzz_gguf_cov"
	rm -f "$out"/cov-*.profraw
	LLVM_PROFILE_FILE="$out/cov-%p.profraw" "$out/fuzz_gguf_cov" -runs=0 \
		"$out/corpus" >/dev/null 2>&1 || true
	"$prof" merge -sparse "$out"/cov-*.profraw -o "$out/cov.profdata"
	"$lcov" report "$out/fuzz_gguf_cov" -instr-profile="$out/cov.profdata" $src |
		awk '/^gguf|^TOTAL/ { printf "fuzz-gguf: coverage %-24s lines %s, branches %s\n", $1, $10, $13 }'
fi
