#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Cross-check of the llama.cpp goldens with a float64 numpy forward pass (llama arch, dense or
# Mixtral-style MoE, F32 or Q8_0 weights, dequantized by gguf-py). Compares greedy ids of every
# greedy.txt case and the logits of logits.txt. Manual tool: needs `pip install gguf numpy`.
#
# usage: tests/golden/numpy_ref.py <model.gguf> <golden-dir> [--max-new N]
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def load(path):
    r = GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        if f.types and f.name.startswith("llama."):
            kv[f.name] = f.parts[f.data[0]][0]
    w = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: outer dim first
        w[t.name] = a.reshape(shape)
    return kv, w


class Model:
    def __init__(self, path):
        kv, self.w = load(path)
        self.n_layer = int(kv["llama.block_count"])
        self.n_head = int(kv["llama.attention.head_count"])
        self.n_kv = int(kv["llama.attention.head_count_kv"])
        self.dim = int(kv["llama.embedding_length"])
        self.hd = self.dim // self.n_head
        self.eps = float(kv["llama.attention.layer_norm_rms_epsilon"])
        self.base = float(kv.get("llama.rope.freq_base", 10000.0))
        self.n_used = int(kv.get("llama.expert_used_count", 0))

    def rms(self, x, wt):
        return x / np.sqrt(np.mean(x * x) + self.eps) * wt

    def rope(self, v, pos):
        # v: [heads, hd]; NORM rope rotates adjacent pairs (2i, 2i+1)
        i = np.arange(self.hd // 2)
        th = pos * self.base ** (-2.0 * i / self.hd)
        c, s = np.cos(th), np.sin(th)
        a, b = v[:, 0::2].copy(), v[:, 1::2].copy()
        out = np.empty_like(v)
        out[:, 0::2] = a * c - b * s
        out[:, 1::2] = a * s + b * c
        return out

    def ffn(self, p, x):
        w = self.w
        if self.n_used == 0:
            g = w[p + "ffn_gate.weight"] @ x
            u = w[p + "ffn_up.weight"] @ x
            return w[p + "ffn_down.weight"] @ (g / (1 + np.exp(-g)) * u)
        lg = w[p + "ffn_gate_inp.weight"] @ x
        pr = np.exp(lg - lg.max())
        pr /= pr.sum()
        top = np.argsort(-pr, kind="stable")[: self.n_used]
        ws = pr[top] / pr[top].sum()
        out = np.zeros_like(x)
        for e, we in zip(top, ws):
            g = w[p + "ffn_gate_exps.weight"][e] @ x
            u = w[p + "ffn_up_exps.weight"][e] @ x
            out += we * (w[p + "ffn_down_exps.weight"][e] @ (g / (1 + np.exp(-g)) * u))
        return out

    def run(self, ids):
        """Logits for every position of ids (float64)."""
        w, hd = self.w, self.hd
        kc = [[] for _ in range(self.n_layer)]
        vc = [[] for _ in range(self.n_layer)]
        outs = []
        for pos, t in enumerate(ids):
            x = w["token_embd.weight"][t].copy()
            for l in range(self.n_layer):
                p = "blk.%d." % l
                h = self.rms(x, w[p + "attn_norm.weight"])
                q = self.rope((w[p + "attn_q.weight"] @ h).reshape(self.n_head, hd), pos)
                k = self.rope((w[p + "attn_k.weight"] @ h).reshape(self.n_kv, hd), pos)
                v = (w[p + "attn_v.weight"] @ h).reshape(self.n_kv, hd)
                kc[l].append(k)
                vc[l].append(v)
                K, V = np.stack(kc[l]), np.stack(vc[l])  # [T, n_kv, hd]
                att = np.empty((self.n_head, hd))
                for hh in range(self.n_head):
                    kvh = hh // (self.n_head // self.n_kv)
                    sc = K[:, kvh, :] @ q[hh] / np.sqrt(hd)
                    sc = np.exp(sc - sc.max())
                    sc /= sc.sum()
                    att[hh] = sc @ V[:, kvh, :]
                x = x + w[p + "attn_output.weight"] @ att.reshape(-1)
                x = x + self.ffn(p, self.rms(x, w[p + "ffn_norm.weight"]))
            outs.append(w["output.weight"] @ self.rms(x, w["output_norm.weight"]))
        return outs


def parse_greedy(path):
    cases, cur = [], None
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] in ("prompt", "prompt_ids"):
            cur = {"ids_given": [int(x) for x in f[1:]] if f[0] == "prompt_ids" else None,
                   "hex": f[1] if f[0] == "prompt" and len(f) > 1 else ""}
            cases.append(cur)
        elif f[0] == "ids":
            cur["ids"] = [int(x) for x in f[1:]]
        elif f[0] == "stop":
            cur["stop"] = True
    return cases


def prompt_lengths(path):
    """hex of text -> number of ids, for the tokenize.txt cases with flags 1 1 (greedy's)."""
    out, text, flags = {}, None, None
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] == "text":
            text = f[1] if len(f) > 1 else ""
        elif f[0] == "flags":
            flags = f[1:]
        elif f[0] == "ids" and flags == ["1", "1"]:
            out[text] = len(f) - 1
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: numpy_ref.py <model.gguf> <golden-dir> [--max-new N]")
    max_new = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--max-new" else 1 << 30
    m = Model(sys.argv[1])
    gdir = sys.argv[2]
    bad = 0
    plen = prompt_lengths(gdir + "/tokenize.txt")
    for c in parse_greedy(gdir + "/greedy.txt"):
        ids = c["ids"]
        n_prompt = len(c["ids_given"]) if c["ids_given"] else None
        if n_prompt is None:
            n_prompt = plen[c["hex"]]
        logits = m.run(ids[:-1])
        n_new = min(len(ids) - n_prompt, max_new)
        agree = 0
        for i in range(n_prompt - 1, n_prompt - 1 + n_new):
            if int(np.argmax(logits[i])) != ids[i + 1]:
                break
            agree += 1
        tag = "prompt_ids" if c["ids_given"] else "text prompt"
        print("%s: %d/%d next tokens agree (greedy after %d prompt tokens)" % (tag, agree, n_new, n_prompt))
        if agree != n_new:
            bad = 1
    try:
        lines = [l.split() for l in open(gdir + "/logits.txt") if l.startswith("pos ")]
    except FileNotFoundError:
        lines = []
    if lines:
        first = parse_greedy(gdir + "/greedy.txt")[0]["ids"]
        ref = m.run(first[: max(int(l[1]) for l in lines) + 1])
        worst = 0.0
        for l in lines:
            got = np.array([float(x) for x in l[2:]])
            worst = max(worst, float(np.abs(got - ref[int(l[1])]).max()))
        print("logits.txt: %d rows, max |llama.cpp - numpy| = %.3g" % (len(lines), worst))
    return bad


if __name__ == "__main__":
    sys.exit(main())
