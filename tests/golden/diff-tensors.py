#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Tensor-by-tensor diff of one prefill pass: accelkv's ACCEL_DUMP_DIR dump (files
# <seq>_<name>[-<il>]_<shape>.bin) against golden-tensors' dump of llama.cpp
# (<seq>_<name>[-<il>].bin). Both name intermediates as llama.cpp's graph does; a name
# llama.cpp gives several tensors (Qcur-0: the matmul, then after RoPE) is matched in
# order (our Qcur_rope-0 is its last Qcur-0). Prints, per tensor in our order, the
# count of differing floats and the largest difference; the first differing tensor is
# where two arithmetics part. Manual tool (numpy).
#
# usage: tests/golden/diff-tensors.py OURS_DIR LLAMA_DIR
import os
import re
import sys

import numpy as np

ALIAS = {"Qcur_rope": ("Qcur", -1), "Kcur_rope": ("Kcur", -1), "Qcur": ("Qcur", 0),
         "Kcur": ("Kcur", 0), "Vcur": ("Vcur", 0), "inp_embd": ("inp_embd", 0)}


def load(d, pat):
    out = {}
    for f in sorted(os.listdir(d)):
        m = re.match(pat, f)
        if m:
            out.setdefault(m.group(1), []).append(os.path.join(d, f))
    return out


def main():
    ours, theirs = sys.argv[1], sys.argv[2]
    mine = []
    for f in sorted(os.listdir(ours)):
        m = re.match(r"\d+_(.+?)_\d+x\d+x\d+\.bin$", f)
        if m:
            mine.append((m.group(1), os.path.join(ours, f)))
    ref = load(theirs, r"\d+_(.+)\.bin$")
    first = None
    for name, path in mine:
        base, il = (name.rsplit("-", 1) + [""])[:2] if "-" in name else (name, "")
        alias, idx = ALIAS.get(base, (base, 0))
        key = alias + ("-" + il if il else "")
        if key not in ref:
            print("%-22s (no llama.cpp tensor)" % name)
            continue
        a = np.fromfile(path, dtype=np.float32)
        b = np.fromfile(ref[key][idx], dtype=np.float32)
        if a.size != b.size:
            print("%-22s size %d vs %d" % (name, a.size, b.size))
            continue
        nd = int(np.count_nonzero(a != b))
        print("%-22s %8d of %8d differ, max |d| %.3g" % (name, nd, a.size,
              float(np.max(np.abs(a - b))) if a.size else 0.0))
        if nd and first is None:
            first = name
    print("first difference:", first or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
