#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Generator of the tiny random-weight GGUFs that check architectures llama.cpp runs and stories260K
# does not exercise: qwen2 (QKV biases, NEOX rope, rope base 1e6), llama with Llama 3.1 rope
# scaling (a rope_freqs.weight tensor), qwen3 (per-head RMSNorm of q and k, head_dim from
# attention.key_length != dim / n_head) and qwen3moe (qwen3 attention, softmax top-k experts of
# their own width). Deterministic: same numpy, same bytes. Manual tool, needs
# `pip install gguf numpy`; llama.cpp goldens for the files come from make-golden.sh --dump.
#
# llama with linear RoPE scaling (rope.scaling.type "linear", rope.scaling.factor 4: positions
# divided by 4, as llama.cpp's freq_scale).
#
# usage: tests/golden/make-tiny-models.py [outdir]   (default tests/models/random)
import math
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter, RopeScalingType, TokenType
from gguf.quants import quantize

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
VOCAB_SRC = os.path.join(TOP, "tests/models/stories260K.gguf")
# attn_q/attn_k std gain of the llama3 file: at 1.0, ignoring rope_freqs moves its logits by only
# 1.9e-3 at positions 0-7 and changes no greedy id; at 2.0, 8e-3 and the ids part after 5 tokens
LLAMA3_QK_GAIN = 2.0
# std of the qwen3 attn_q_norm/attn_k_norm weights around 1: wide enough that applying them after
# RoPE instead of before (the weight does not commute with the rotation) moves the logits
QK_NORM_STD = 0.5


def read_vocab(path):
    """stories260K's 512-token sentencepiece ('llama') vocabulary."""
    r = GGUFReader(path)

    def arr(name):
        f = r.fields[name]
        return [f.parts[i] for i in f.data]

    tokens = [bytes(p) for p in arr("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in arr("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    return tokens, scores, types


def add_vocab(w, vocab):
    tokens, scores, types = vocab
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types([TokenType(t) for t in types])
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)


def gauss(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def norm_w(rng, n):
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def add_common(w, arch, dim, n_layer, n_head, n_kv, ff, ctx, head_dim, base, eps, rope_dim=True):
    """rope_dim=False writes no rope.dimension_count, as llama.cpp's qwen3 converter does
    (llama.cpp then rotates all key_length dims)"""
    w.add_name("tiny-%s-random" % arch)
    w.add_context_length(ctx)
    w.add_embedding_length(dim)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    if rope_dim:
        w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(base)
    w.add_layer_norm_rms_eps(eps)


def add_weights(w, rng, dim, n_layer, n_head, n_kv, head_dim, ff, n_vocab, qkv_bias, qk_gain=1.0):
    """numpy arrays are [out, in], which gguf writes as ggml [in, out] (ne0 = in). qk_gain
    scales the std of attn_q/attn_k (sharper attention, more weight on small rotations)."""
    qd, kvd = n_head * head_dim, n_kv * head_dim
    w.add_tensor("token_embd.weight", gauss(rng, (n_vocab, dim), 1.0))
    w.add_tensor("output_norm.weight", norm_w(rng, dim))
    w.add_tensor("output.weight", gauss(rng, (n_vocab, dim), 1 / math.sqrt(dim)))
    for il in range(n_layer):
        p = "blk.%d." % il
        w.add_tensor(p + "attn_norm.weight", norm_w(rng, dim))
        w.add_tensor(p + "attn_q.weight", gauss(rng, (qd, dim), qk_gain / math.sqrt(dim)))
        w.add_tensor(p + "attn_k.weight", gauss(rng, (kvd, dim), qk_gain / math.sqrt(dim)))
        w.add_tensor(p + "attn_v.weight", gauss(rng, (kvd, dim), 1 / math.sqrt(dim)))
        if qkv_bias:
            w.add_tensor(p + "attn_q.bias", gauss(rng, (qd,), 0.1))
            w.add_tensor(p + "attn_k.bias", gauss(rng, (kvd,), 0.1))
            w.add_tensor(p + "attn_v.bias", gauss(rng, (kvd,), 0.1))
        w.add_tensor(p + "attn_output.weight", gauss(rng, (dim, qd), 1 / math.sqrt(qd)))
        w.add_tensor(p + "ffn_norm.weight", norm_w(rng, dim))
        w.add_tensor(p + "ffn_gate.weight", gauss(rng, (ff, dim), 1 / math.sqrt(dim)))
        w.add_tensor(p + "ffn_up.weight", gauss(rng, (ff, dim), 1 / math.sqrt(dim)))
        w.add_tensor(p + "ffn_down.weight", gauss(rng, (dim, ff), 1 / math.sqrt(ff)))


def add_qwen3_weights(w, rng, dim, n_layer, n_head, n_kv, head_dim, n_vocab, n_exp=0, ff=0,
                      qtype=None):
    """qwen3 (n_exp 0, dense FFN of width ff) or qwen3moe (n_exp experts of width ff and an F32
    router). qtype: the type of every 2-D/3-D weight but the router (None: F32), as
    llama-quantize leaves norms and ffn_gate_inp in F32. Draws the same numbers whatever qtype
    is, so the Q8_0 file is the F32 file quantized."""
    qd, kvd = n_head * head_dim, n_kv * head_dim

    def mat(name, a):
        if qtype is None:
            w.add_tensor(name, a)
        else:
            w.add_tensor(name, quantize(a, qtype), raw_dtype=qtype)

    mat("token_embd.weight", gauss(rng, (n_vocab, dim), 1.0))
    w.add_tensor("output_norm.weight", norm_w(rng, dim))
    mat("output.weight", gauss(rng, (n_vocab, dim), 1 / math.sqrt(dim)))
    for il in range(n_layer):
        p = "blk.%d." % il
        w.add_tensor(p + "attn_norm.weight", norm_w(rng, dim))
        mat(p + "attn_q.weight", gauss(rng, (qd, dim), 1 / math.sqrt(dim)))
        mat(p + "attn_k.weight", gauss(rng, (kvd, dim), 1 / math.sqrt(dim)))
        mat(p + "attn_v.weight", gauss(rng, (kvd, dim), 1 / math.sqrt(dim)))
        w.add_tensor(p + "attn_q_norm.weight", (1.0 + QK_NORM_STD * rng.standard_normal(head_dim))
                     .astype(np.float32))
        w.add_tensor(p + "attn_k_norm.weight", (1.0 + QK_NORM_STD * rng.standard_normal(head_dim))
                     .astype(np.float32))
        mat(p + "attn_output.weight", gauss(rng, (dim, qd), 1 / math.sqrt(qd)))
        w.add_tensor(p + "ffn_norm.weight", norm_w(rng, dim))
        if n_exp:
            # numpy [n_exp, out, in] = ggml [in, out, n_exp]
            w.add_tensor(p + "ffn_gate_inp.weight", gauss(rng, (n_exp, dim), 1 / math.sqrt(dim)))
            mat(p + "ffn_gate_exps.weight", gauss(rng, (n_exp, ff, dim), 1 / math.sqrt(dim)))
            mat(p + "ffn_up_exps.weight", gauss(rng, (n_exp, ff, dim), 1 / math.sqrt(dim)))
            mat(p + "ffn_down_exps.weight", gauss(rng, (n_exp, dim, ff), 1 / math.sqrt(ff)))
        else:
            mat(p + "ffn_gate.weight", gauss(rng, (ff, dim), 1 / math.sqrt(dim)))
            mat(p + "ffn_up.weight", gauss(rng, (ff, dim), 1 / math.sqrt(dim)))
            mat(p + "ffn_down.weight", gauss(rng, (dim, ff), 1 / math.sqrt(ff)))


def llama3_rope_factors(base, dim, factor=8.0, low=1.0, high=4.0, old_ctx=8192):
    """Llama 3.1's per-frequency divisors, as llama.cpp's converter computes rope_freqs.weight
    (float32 frequencies, then python-float arithmetic)."""
    freqs = 1.0 / (np.float32(base) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    low_wl, high_wl = old_ctx / low, old_ctx / high
    out = []
    for f in freqs.astype(np.float32):
        wl = 2 * math.pi / float(f)
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            s = (old_ctx / wl - low) / (high - low)
            out.append(1 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


def write(path, w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def make_qwen2(out, vocab):
    dim, n_layer, n_head, n_kv, ff, ctx = 64, 2, 8, 4, 128, 512
    rng = np.random.default_rng(2025)
    path = os.path.join(out, "tiny-qwen2-random-f32.gguf")
    w = GGUFWriter(path, "qwen2")
    add_common(w, "qwen2", dim, n_layer, n_head, n_kv, ff, ctx, dim // n_head, 1000000.0, 1e-6)
    add_vocab(w, vocab)
    add_weights(w, rng, dim, n_layer, n_head, n_kv, dim // n_head, ff, len(vocab[0]), True)
    write(path, w)


def make_llama3(out, vocab):
    dim, n_layer, n_head, n_kv, ff, ctx, base = 64, 2, 4, 2, 128, 512, 500000.0
    hd = dim // n_head
    rng = np.random.default_rng(3131)
    path = os.path.join(out, "tiny-llama3-ropefreqs-random-f32.gguf")
    w = GGUFWriter(path, "llama")
    add_common(w, "llama", dim, n_layer, n_head, n_kv, ff, ctx, hd, base, 1e-5)
    # the converter writes no rope.scaling.* keys for rope_type llama3, only the tensor
    add_vocab(w, vocab)
    w.add_tensor("rope_freqs.weight", llama3_rope_factors(base, hd))
    add_weights(w, rng, dim, n_layer, n_head, n_kv, hd, ff, len(vocab[0]), False, LLAMA3_QK_GAIN)
    write(path, w)


# linear RoPE scaling factor of the tiny-llama-ropelinear file: llama.cpp's freq_scale = 1/4
ROPE_LINEAR_FACTOR = 4.0


def make_llama_rope_linear(out, vocab):
    dim, n_layer, n_head, n_kv, ff, ctx, base = 64, 2, 4, 2, 128, 512, 10000.0
    hd = dim // n_head
    rng = np.random.default_rng(4044)
    path = os.path.join(out, "tiny-llama-ropelinear-random-f32.gguf")
    w = GGUFWriter(path, "llama")
    add_common(w, "llama", dim, n_layer, n_head, n_kv, ff, ctx, hd, base, 1e-5)
    # what convert_hf_to_gguf writes for rope_scaling {"type": "linear", "factor": 4}
    w.add_rope_scaling_type(RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(ROPE_LINEAR_FACTOR)
    add_vocab(w, vocab)
    # sharper attention (as the llama3 file) so that the rotation decides greedy ids
    add_weights(w, rng, dim, n_layer, n_head, n_kv, hd, ff, len(vocab[0]), False, LLAMA3_QK_GAIN)
    write(path, w)


# qwen3 shapes: head_dim 32 with 4 heads, so q is 128 wide against dim 64 (Qwen3-8B: 32 x 128 =
# 4096 = dim, but Qwen3-0.6B: 16 x 128 = 2048 against dim 1024); GQA 2:1
Q3_DIM, Q3_LAYERS, Q3_HEADS, Q3_KV, Q3_HEAD_DIM, Q3_CTX = 64, 2, 4, 2, 32, 512


def add_qwen3_hparams(w, arch, ff):
    # what convert_hf_to_gguf writes for Qwen3: key_length and value_length, no
    # rope.dimension_count; llama.cpp's qwen3 graph asserts value_length == key_length == n_rot
    add_common(w, arch, Q3_DIM, Q3_LAYERS, Q3_HEADS, Q3_KV, ff, Q3_CTX, Q3_HEAD_DIM, 1000000.0,
               1e-6, rope_dim=False)
    w.add_key_length(Q3_HEAD_DIM)
    w.add_value_length(Q3_HEAD_DIM)


def make_qwen3(out, vocab):
    ff = 128
    rng = np.random.default_rng(3003)
    path = os.path.join(out, "tiny-qwen3-random-f32.gguf")
    w = GGUFWriter(path, "qwen3")
    add_qwen3_hparams(w, "qwen3", ff)
    add_vocab(w, vocab)
    add_qwen3_weights(w, rng, Q3_DIM, Q3_LAYERS, Q3_HEADS, Q3_KV, Q3_HEAD_DIM, len(vocab[0]),
                      ff=ff)
    write(path, w)


# qwen3moe: 8 experts, 2 used, expert width 96 (three Q8_0 blocks, unlike dim 64 and q width
# 128); feed_forward_length 256 is not the expert width, nor llama.cpp's fallback when
# expert_feed_forward_length is absent (256 / 2 = 128)
Q3M_EXPERTS, Q3M_USED, Q3M_EXPERT_FF, Q3M_FF = 8, 2, 96, 256


def make_qwen3moe(out, vocab, qtype=None):
    rng = np.random.default_rng(3030)
    suffix = "f32" if qtype is None else qtype.name.lower()
    path = os.path.join(out, "tiny-qwen3moe-random-%s.gguf" % suffix)
    w = GGUFWriter(path, "qwen3moe")
    add_qwen3_hparams(w, "qwen3moe", Q3M_FF)
    w.add_expert_count(Q3M_EXPERTS)
    w.add_expert_used_count(Q3M_USED)
    w.add_expert_feed_forward_length(Q3M_EXPERT_FF)
    if qtype is not None:
        w.add_file_type(7)  # LLAMA_FTYPE_MOSTLY_Q8_0
        w.add_quantization_version(2)
    add_vocab(w, vocab)
    add_qwen3_weights(w, rng, Q3_DIM, Q3_LAYERS, Q3_HEADS, Q3_KV, Q3_HEAD_DIM, len(vocab[0]),
                      n_exp=Q3M_EXPERTS, ff=Q3M_EXPERT_FF, qtype=qtype)
    write(path, w)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "tests/models/random")
    vocab = read_vocab(VOCAB_SRC)
    make_qwen2(out, vocab)
    make_llama3(out, vocab)
    make_qwen3(out, vocab)
    make_qwen3moe(out, vocab)
    make_qwen3moe(out, vocab, GGMLQuantizationType.Q8_0)
    make_llama_rope_linear(out, vocab)


if __name__ == "__main__":
    main()
