#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Cross-check of the llama.cpp goldens with a float64 numpy forward pass: llama (dense or
# Mixtral-style MoE, rope_freqs), qwen2 (QKV biases, NEOX rope), qwen3 (per-head RMSNorm of q and
# k before RoPE, head_dim from attention.key_length) and qwen3moe (softmax top-k experts,
# renormalised weights, expert width from expert_feed_forward_length); F32 or quantized weights,
# dequantized by gguf-py. Compares greedy ids of every greedy.txt case and the logits of
# logits.txt. Manual tool: needs `pip install gguf numpy`.
#
# usage: tests/golden/numpy_ref.py <model.gguf> <golden-dir> [--max-new N] [--ablate WHAT]
#   --ablate runs a deliberately wrong variant, to measure what a golden catches: no-qk-norm,
#   qk-norm-after-rope, norm-rope (NORM instead of NEOX), no-bias, no-rope-freqs, no-renorm
#   (MoE weights not renormalised), scale-dim (1/sqrt(dim/n_head) instead of 1/sqrt(head_dim))
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

NEOX_ARCHS = ("qwen2", "qwen2moe", "qwen3", "qwen3moe")
ABLATIONS = ("no-qk-norm", "qk-norm-after-rope", "norm-rope", "no-bias", "no-rope-freqs",
             "no-renorm", "scale-dim")


def load(path):
    r = GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        if f.types and len(f.types) == 1 and f.data:
            v = f.parts[f.data[0]]
            kv[f.name] = bytes(v).decode() if f.types[0].name == "STRING" else v[0]
    w = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: outer dim first
        w[t.name] = a.reshape(shape)
    return kv, w


class Model:
    def __init__(self, path, ablate=None):
        kv, self.w = load(path)
        self.ablate = ablate
        self.arch = kv["general.architecture"]
        a = self.arch + "."
        self.n_layer = int(kv[a + "block_count"])
        self.n_head = int(kv[a + "attention.head_count"])
        self.n_kv = int(kv.get(a + "attention.head_count_kv", self.n_head))
        self.dim = int(kv[a + "embedding_length"])
        # llama.cpp: head_dim = key_length, default dim / n_head; n_rot = rope.dimension_count,
        # default head_dim
        self.hd = int(kv.get(a + "attention.key_length", self.dim // self.n_head))
        self.n_rot = int(kv.get(a + "rope.dimension_count", self.hd))
        self.eps = float(kv[a + "attention.layer_norm_rms_epsilon"])
        self.base = float(kv.get(a + "rope.freq_base", 10000.0))
        self.n_used = int(kv.get(a + "expert_used_count", 0))
        self.neox = self.arch in NEOX_ARCHS and ablate != "norm-rope"
        self.scale = 1 / np.sqrt(self.dim // self.n_head if ablate == "scale-dim" else self.hd)
        ff = self.w.get("rope_freqs.weight")
        self.rope_div = ff if ff is not None and ablate != "no-rope-freqs" else np.ones(self.n_rot // 2)

    def rms(self, x, wt):
        # over the last axis: a row of dim, or each head of [heads, hd]
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * wt

    def rope(self, v, pos):
        # v: [heads, hd]; the first n_rot dims rotate. NORM rotates adjacent pairs (2i, 2i+1),
        # NEOX the pairs (i, i + n_rot/2); angle of pair i: pos * base^(-2i/n_rot) / rope_freqs[i]
        i = np.arange(self.n_rot // 2)
        th = pos * self.base ** (-2.0 * i / self.n_rot) / self.rope_div
        c, s = np.cos(th), np.sin(th)
        out = v.copy()
        if self.neox:
            a, b = v[:, : self.n_rot // 2].copy(), v[:, self.n_rot // 2 : self.n_rot].copy()
            out[:, : self.n_rot // 2] = a * c - b * s
            out[:, self.n_rot // 2 : self.n_rot] = a * s + b * c
        else:
            a, b = v[:, 0 : self.n_rot : 2].copy(), v[:, 1 : self.n_rot : 2].copy()
            out[:, 0 : self.n_rot : 2] = a * c - b * s
            out[:, 1 : self.n_rot : 2] = a * s + b * c
        return out

    def proj(self, p, name, h, heads):
        """attn_q/k/v of h, [heads, hd], with its bias when the file has one"""
        y = self.w[p + name + ".weight"] @ h
        b = self.w.get(p + name + ".bias")
        if b is not None and self.ablate != "no-bias":
            y = y + b
        return y.reshape(heads, self.hd)

    def qk(self, p, name, h, heads, pos):
        """q or k: projection, qwen3's per-head RMSNorm (when attn_{q,k}_norm exist), RoPE"""
        v = self.proj(p, name, h, heads)
        nw = self.w.get(p + name + "_norm.weight")
        if nw is None or self.ablate == "no-qk-norm":
            return self.rope(v, pos)
        if self.ablate == "qk-norm-after-rope":
            return self.rms(self.rope(v, pos), nw)
        return self.rope(self.rms(v, nw), pos)

    def ffn(self, p, x):
        w = self.w
        if self.n_used == 0:
            g = w[p + "ffn_gate.weight"] @ x
            u = w[p + "ffn_up.weight"] @ x
            return w[p + "ffn_down.weight"] @ (g / (1 + np.exp(-g)) * u)
        # Mixtral and qwen3moe: softmax over all experts, top-k, weights renormalised to sum 1
        lg = w[p + "ffn_gate_inp.weight"] @ x
        pr = np.exp(lg - lg.max())
        pr /= pr.sum()
        top = np.argsort(-pr, kind="stable")[: self.n_used]
        ws = pr[top] if self.ablate == "no-renorm" else pr[top] / pr[top].sum()
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
                q = self.qk(p, "attn_q", h, self.n_head, pos)
                k = self.qk(p, "attn_k", h, self.n_kv, pos)
                v = self.proj(p, "attn_v", h, self.n_kv)
                kc[l].append(k)
                vc[l].append(v)
                K, V = np.stack(kc[l]), np.stack(vc[l])  # [T, n_kv, hd]
                att = np.empty((self.n_head, hd))
                for hh in range(self.n_head):
                    kvh = hh // (self.n_head // self.n_kv)
                    sc = K[:, kvh, :] @ q[hh] * self.scale
                    sc = np.exp(sc - sc.max())
                    sc /= sc.sum()
                    att[hh] = sc @ V[:, kvh, :]
                x = x + w[p + "attn_output.weight"] @ att.reshape(-1)
                x = x + self.ffn(p, self.rms(x, w[p + "ffn_norm.weight"]))
            out_w = w.get("output.weight", w["token_embd.weight"])  # tied when absent
            outs.append(out_w @ self.rms(x, w["output_norm.weight"]))
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
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit("usage: numpy_ref.py <model.gguf> <golden-dir> [--max-new N] [--ablate WHAT]")
    max_new, ablate = 1 << 30, None
    opts = args[2:]
    while opts:
        if len(opts) < 2 or opts[0] not in ("--max-new", "--ablate"):
            sys.exit("numpy_ref.py: unknown option %s" % opts[0])
        if opts[0] == "--max-new":
            max_new = int(opts[1])
        elif opts[1] not in ABLATIONS:
            sys.exit("numpy_ref.py: --ablate wants one of %s" % ", ".join(ABLATIONS))
        else:
            ablate = opts[1]
        opts = opts[2:]
    m = Model(args[0], ablate)
    gdir = args[1]
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
