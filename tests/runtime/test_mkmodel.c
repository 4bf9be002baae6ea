// SPDX-License-Identifier: MIT
/*
 * accel-mkmodel outputs read through rt_gguf: the tiny, tiny-moe, tiny-qwen3
 * and tiny-qwen3moe presets have llama.cpp's tensor names, ggml shapes and
 * types, the <arch>.* hyperparameters its converter writes and a tokenizer
 * the size of token_embd; weights have the intended spread; --layers 1 is a
 * prefix of --layers 2 (seeded per tensor).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "tap.h"

static char dir[64];
static char bin[4096];

static int mk(const char *out, const char *args)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "'%s' -o '%s/%s' %s 2>/dev/null", bin, dir, out, args);
	return system(cmd);
}

static const char *path(const char *name)
{
	static char p[2][128];
	static int slot;
	char *s = p[slot++ & 1];

	snprintf(s, 128, "%s/%s", dir, name);
	return s;
}

struct want {
	const char *name;
	uint32_t type;
	uint32_t n_dims;
	int64_t ne[3];
};

static bool has(const struct rt_gguf *g, const struct want *w)
{
	const struct rt_gguf_tensor *t = rt_gguf_find_tensor(g, w->name);
	uint32_t d;

	if (!t) {
		diag("missing %s", w->name);
		return false;
	}
	if (t->type != w->type || t->n_dims != w->n_dims) {
		diag("%s: type %u dims %u", w->name, t->type, t->n_dims);
		return false;
	}
	for (d = 0; d < w->n_dims; d++)
		if (t->ne[d] != w->ne[d]) {
			diag("%s: ne[%u] = %lld, want %lld", w->name, d, (long long)t->ne[d],
			     (long long)w->ne[d]);
			return false;
		}
	return true;
}

static uint32_t u32(const struct rt_gguf *g, const char *key)
{
	uint32_t v = 0;

	return rt_gguf_get_u32(g, key, &v) ? 0xdeadbeef : v;
}

/* stats - mean and std of a tensor, dequantized */
static bool stats(const struct rt_gguf *g, const char *name, double *mean, double *sd)
{
	const struct rt_gguf_tensor *t = rt_gguf_find_tensor(g, name);
	int64_t n, i;
	uint8_t *raw;
	float *f;
	double s = 0, s2 = 0;
	int fd;
	bool ok = false;

	if (!t)
		return false;
	n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
	raw = malloc(t->size);
	f = malloc((size_t)n * sizeof(float));
	fd = open(rt_gguf_path(g), O_RDONLY);
	if (raw && f && fd >= 0 && pread(fd, raw, t->size, (off_t)t->offset) == (ssize_t)t->size &&
	    !kn_dequantize_row(t->type, raw, f, n)) {
		for (i = 0; i < n; i++) {
			s += f[i];
			s2 += (double)f[i] * f[i];
		}
		*mean = s / n;
		*sd = sqrt(s2 / n - *mean * *mean);
		ok = true;
	}
	if (fd >= 0)
		close(fd);
	free(raw);
	free(f);
	return ok;
}

/*
 * Tests per check: a file that does not open fails once and skips the rest
 * of its check's count, so the plan holds on every path.
 */
#define DENSE_TESTS 20
#define MOE_TESTS 6
#define QWEN3_TESTS 18
#define QWEN3MOE_TESTS 11
#define LAYERS_TESTS 8
#define NOT_RUN "not run: the file does not open"

static void check_dense(void)
{
	static const struct want w[] = {
		{ "token_embd.weight", KN_Q8_0, 2, { 64, 512 } },
		{ "output_norm.weight", KN_F32, 1, { 64 } },
		{ "output.weight", KN_Q8_0, 2, { 64, 512 } },
		{ "blk.0.attn_norm.weight", KN_F32, 1, { 64 } },
		{ "blk.0.attn_q.weight", KN_Q8_0, 2, { 64, 64 } },
		{ "blk.0.attn_k.weight", KN_Q8_0, 2, { 64, 32 } },
		{ "blk.0.attn_v.weight", KN_Q8_0, 2, { 64, 32 } },
		{ "blk.1.attn_output.weight", KN_Q8_0, 2, { 64, 64 } },
		{ "blk.1.ffn_norm.weight", KN_F32, 1, { 64 } },
		{ "blk.1.ffn_gate.weight", KN_Q8_0, 2, { 64, 128 } },
		{ "blk.1.ffn_up.weight", KN_Q8_0, 2, { 64, 128 } },
		{ "blk.1.ffn_down.weight", KN_Q8_0, 2, { 128, 64 } },
	};
	struct rt_gguf *g = NULL;
	struct rt_gguf_str s = { 0 };
	uint64_t n_tok = 0;
	double mean = 0, sd = 0;
	bool all = true, aligned = true, got;
	float f = 0;
	size_t i;
	int64_t t;

	is_int(mk("tiny.gguf", "--preset tiny --type q8_0 --seed 5"), 0, "tiny q8_0 written");
	if (rt_gguf_open(path("tiny.gguf"), &g)) {
		ok(0, "tiny opens with rt_gguf: %s", rt_last_error());
		skip(DENSE_TESTS - 2, NOT_RUN);
		return;
	}
	ok(!rt_gguf_get_str(g, "general.architecture", &s) && !strcmp(s.s, "llama"),
	   "architecture llama");
	is_int(u32(g, "llama.block_count"), 2, "block_count");
	is_int(u32(g, "llama.embedding_length"), 64, "embedding_length");
	is_int(u32(g, "llama.feed_forward_length"), 128, "feed_forward_length");
	is_int(u32(g, "llama.attention.head_count"), 8, "head_count");
	is_int(u32(g, "llama.attention.head_count_kv"), 4, "head_count_kv");
	is_int(u32(g, "llama.rope.dimension_count"), 8, "rope.dimension_count = head dim");
	is_int(u32(g, "llama.context_length"), 4096, "context_length");
	ok(!rt_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) && f == 1e-5f,
	   "rms epsilon");
	ok(!rt_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n_tok, NULL) && n_tok == 512,
	   "tokenizer copied from stories260K (512 tokens)");
	is_int(u32(g, "llama.vocab_size"), n_tok, "vocab_size = tokens");
	ok(!rt_gguf_get_str(g, "tokenizer.ggml.model", &s) && !strcmp(s.s, "llama"),
	   "tokenizer model llama");
	is_int(rt_gguf_n_tensors(g), 3 + 9 * 2, "tensor count");
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		all &= has(g, &w[i]);
	ok(all, "names, types and ggml shapes as llama.cpp expects");
	for (t = 0; t < rt_gguf_n_tensors(g); t++)
		aligned &= rt_gguf_tensor(g, t)->offset % 32 == 0;
	ok(aligned, "every tensor offset 32-aligned");

	got = stats(g, "token_embd.weight", &mean, &sd);
	ok(got && fabs(mean) < 0.05 && fabs(sd - 1) < 0.05,
	   "token_embd ~ N(0, 1): mean %.3f std %.3f", mean, sd);
	got = stats(g, "blk.0.attn_q.weight", &mean, &sd);
	ok(got && fabs(mean) < 0.01 &&
	   fabs(sd - 0.125) < 0.01, "attn_q ~ N(0, 1/sqrt(64)): mean %.4f std %.4f", mean, sd);
	got = stats(g, "blk.1.ffn_down.weight", &mean, &sd);
	ok(got && fabs(sd - 1 / sqrt(128)) < 0.01,
	   "ffn_down std 1/sqrt(ff): %.4f", sd);
	got = stats(g, "output_norm.weight", &mean, &sd);
	ok(got && fabs(mean - 1) < 0.05 && sd > 0.05 &&
	   sd < 0.15, "norm ~ 1 + 0.1 N(0,1): mean %.3f std %.3f", mean, sd);
	rt_gguf_close(g);
}

static void check_moe(void)
{
	static const struct want w[] = {
		{ "token_embd.weight", KN_Q4_0, 2, { 64, 512 } },
		{ "blk.0.ffn_gate_inp.weight", KN_F32, 2, { 64, 4 } },
		{ "blk.0.ffn_gate_exps.weight", KN_Q4_0, 3, { 64, 128, 4 } },
		{ "blk.0.ffn_up_exps.weight", KN_Q4_0, 3, { 64, 128, 4 } },
		{ "blk.1.ffn_down_exps.weight", KN_Q4_0, 3, { 128, 64, 4 } },
		{ "blk.1.attn_k.weight", KN_Q4_0, 2, { 64, 32 } },
	};
	struct rt_gguf *g = NULL;
	bool all = true;
	size_t i;

	is_int(mk("moe.gguf", "--preset tiny-moe --seed 5"), 0, "tiny-moe (default q4_0) written");
	if (rt_gguf_open(path("moe.gguf"), &g)) {
		ok(0, "tiny-moe opens with rt_gguf: %s", rt_last_error());
		skip(MOE_TESTS - 2, NOT_RUN);
		return;
	}
	is_int(u32(g, "llama.expert_count"), 4, "expert_count");
	is_int(u32(g, "llama.expert_used_count"), 2, "expert_used_count");
	is_int(rt_gguf_n_tensors(g), 3 + 10 * 2, "tensor count");
	ok(!rt_gguf_find_tensor(g, "blk.0.ffn_gate.weight"), "no dense FFN tensors");
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		all &= has(g, &w[i]);
	ok(all, "merged expert tensors [ne0, ne1, n_expert] and the F32 router");
	rt_gguf_close(g);
}

/* qwen3: head_dim 32 from key_length (q 128 wide against dim 64), per-head
 * q/k norms, no rope.dimension_count (llama.cpp's converter writes none) */
static void check_qwen3(void)
{
	static const struct want w[] = {
		{ "token_embd.weight", KN_Q8_0, 2, { 64, 512 } },
		{ "output.weight", KN_Q8_0, 2, { 64, 512 } },
		{ "blk.0.attn_q.weight", KN_Q8_0, 2, { 64, 128 } },
		{ "blk.0.attn_k.weight", KN_Q8_0, 2, { 64, 64 } },
		{ "blk.0.attn_v.weight", KN_Q8_0, 2, { 64, 64 } },
		{ "blk.0.attn_q_norm.weight", KN_F32, 1, { 32 } },
		{ "blk.1.attn_k_norm.weight", KN_F32, 1, { 32 } },
		{ "blk.1.attn_output.weight", KN_Q8_0, 2, { 128, 64 } },
		{ "blk.1.ffn_gate.weight", KN_Q8_0, 2, { 64, 128 } },
		{ "blk.1.ffn_down.weight", KN_Q8_0, 2, { 128, 64 } },
	};
	struct rt_gguf *g = NULL;
	struct rt_gguf_str s = { 0 };
	double mean = 0, sd = 0;
	bool all = true, got;
	float f = 0;
	size_t i;

	is_int(mk("qwen3.gguf", "--preset tiny-qwen3 --type q8_0 --seed 5"), 0,
	       "tiny-qwen3 q8_0 written");
	if (rt_gguf_open(path("qwen3.gguf"), &g)) {
		ok(0, "tiny-qwen3 opens with rt_gguf: %s", rt_last_error());
		skip(QWEN3_TESTS - 2, NOT_RUN);
		return;
	}
	ok(!rt_gguf_get_str(g, "general.architecture", &s) && !strcmp(s.s, "qwen3"),
	   "architecture qwen3");
	is_int(u32(g, "qwen3.block_count"), 2, "qwen3.block_count");
	is_int(u32(g, "qwen3.embedding_length"), 64, "qwen3.embedding_length");
	is_int(u32(g, "qwen3.feed_forward_length"), 128, "qwen3.feed_forward_length");
	is_int(u32(g, "qwen3.attention.head_count"), 4, "qwen3.attention.head_count");
	is_int(u32(g, "qwen3.attention.head_count_kv"), 2, "qwen3.attention.head_count_kv");
	is_int(u32(g, "qwen3.attention.key_length"), 32, "key_length = head_dim");
	is_int(u32(g, "qwen3.attention.value_length"), 32, "value_length = head_dim");
	ok(rt_gguf_get_u32(g, "qwen3.rope.dimension_count", &(uint32_t){ 0 }) < 0,
	   "no rope.dimension_count (llama.cpp rotates key_length dims)");
	ok(!rt_gguf_get_f32(g, "qwen3.rope.freq_base", &f) && f == 1e6f, "rope base 1e6");
	ok(!rt_gguf_get_f32(g, "qwen3.attention.layer_norm_rms_epsilon", &f) && f == 1e-6f,
	   "rms epsilon 1e-6");
	is_int(u32(g, "qwen3.vocab_size"), 512, "qwen3.vocab_size");
	ok(!rt_gguf_find_tensor(g, "blk.0.attn_q.bias"), "no QKV biases");
	is_int(rt_gguf_n_tensors(g), 3 + 11 * 2, "tensor count (9 + 2 norms a layer)");
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		all &= has(g, &w[i]);
	ok(all, "q [dim, heads * head_dim], o [heads * head_dim, dim], norms [head_dim] F32");
	got = stats(g, "blk.0.attn_k_norm.weight", &mean, &sd);
	ok(got && fabs(mean - 1) < 0.1 && sd > 0.03 && sd < 0.2,
	   "attn_k_norm ~ 1 + 0.1 N(0,1): mean %.3f std %.3f", mean, sd);
	got = stats(g, "blk.0.attn_output.weight", &mean, &sd);
	ok(got && fabs(sd - 1 / sqrt(128)) < 0.01, "attn_output std 1/sqrt(heads * head_dim): %.4f",
	   sd);
	rt_gguf_close(g);
}

/* qwen3moe: 8 experts of 96 (expert_feed_forward_length, not the 256 of
 * feed_forward_length), qwen3 attention */
static void check_qwen3moe(void)
{
	static const struct want w[] = {
		{ "blk.0.attn_q.weight", KN_Q4_0, 2, { 64, 128 } },
		{ "blk.0.attn_q_norm.weight", KN_F32, 1, { 32 } },
		{ "blk.0.ffn_gate_inp.weight", KN_F32, 2, { 64, 8 } },
		{ "blk.0.ffn_gate_exps.weight", KN_Q4_0, 3, { 64, 96, 8 } },
		{ "blk.1.ffn_up_exps.weight", KN_Q4_0, 3, { 64, 96, 8 } },
		{ "blk.1.ffn_down_exps.weight", KN_Q4_0, 3, { 96, 64, 8 } },
	};
	struct rt_gguf *g = NULL;
	struct rt_gguf_str s = { 0 };
	double mean = 0, sd = 0;
	bool all = true;
	size_t i;

	is_int(mk("qwen3moe.gguf", "--preset tiny-qwen3moe --seed 5"), 0,
	       "tiny-qwen3moe (default q4_0) written");
	if (rt_gguf_open(path("qwen3moe.gguf"), &g)) {
		ok(0, "tiny-qwen3moe opens with rt_gguf: %s", rt_last_error());
		skip(QWEN3MOE_TESTS - 2, NOT_RUN);
		return;
	}
	ok(!rt_gguf_get_str(g, "general.architecture", &s) && !strcmp(s.s, "qwen3moe"),
	   "architecture qwen3moe");
	is_int(u32(g, "qwen3moe.expert_count"), 8, "qwen3moe.expert_count");
	is_int(u32(g, "qwen3moe.expert_used_count"), 2, "qwen3moe.expert_used_count");
	is_int(u32(g, "qwen3moe.expert_feed_forward_length"), 96, "expert_feed_forward_length");
	is_int(u32(g, "qwen3moe.feed_forward_length"), 256, "feed_forward_length");
	is_int(u32(g, "qwen3moe.attention.key_length"), 32, "qwen3moe key_length");
	is_int(rt_gguf_n_tensors(g), 3 + 12 * 2, "tensor count (10 + 2 norms a layer)");
	ok(!rt_gguf_find_tensor(g, "blk.0.ffn_gate.weight") &&
	   !rt_gguf_find_tensor(g, "blk.0.ffn_gate_shexp.weight"), "no dense FFN, no shared expert");
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		all &= has(g, &w[i]);
	ok(all, "expert tensors [.., 96, 8], F32 router, qwen3 attention");
	ok(stats(g, "blk.1.ffn_down_exps.weight", &mean, &sd) && fabs(sd - 1 / sqrt(96)) < 0.01,
	   "ffn_down_exps std 1/sqrt(expert ff): %.4f", sd);
	rt_gguf_close(g);
}

/* same_bytes - tensor @name has the same bytes in both files */
static bool same_bytes(const char *a, const char *b, const char *name)
{
	struct rt_gguf *ga = NULL, *gb = NULL;
	const struct rt_gguf_tensor *ta, *tb;
	bool same = false;
	int fa = -1, fb = -1;
	char *ba = NULL, *bb = NULL;

	if (rt_gguf_open(a, &ga) || rt_gguf_open(b, &gb))
		goto out;
	ta = rt_gguf_find_tensor(ga, name);
	tb = rt_gguf_find_tensor(gb, name);
	if (!ta || !tb || ta->size != tb->size)
		goto out;
	ba = malloc(ta->size);
	bb = malloc(tb->size);
	fa = open(a, O_RDONLY);
	fb = open(b, O_RDONLY);
	same = ba && bb && fa >= 0 && fb >= 0 &&
	       pread(fa, ba, ta->size, (off_t)ta->offset) == (ssize_t)ta->size &&
	       pread(fb, bb, tb->size, (off_t)tb->offset) == (ssize_t)tb->size &&
	       !memcmp(ba, bb, ta->size);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(ba);
	free(bb);
	rt_gguf_close(ga);
	rt_gguf_close(gb);
	return same;
}

static void check_layers_prefix(void)
{
	struct rt_gguf *g = NULL;

	is_int(mk("l1.gguf", "--preset tiny --type f16 --layers 1 --seed 9"), 0, "--layers 1, f16");
	is_int(mk("l2.gguf", "--preset tiny --type f16 --layers 2 --seed 9"), 0, "--layers 2, f16");
	if (!rt_gguf_open(path("l1.gguf"), &g)) {
		is_int(u32(g, "llama.block_count"), 1, "block_count follows --layers");
		is_int(rt_gguf_n_tensors(g), 3 + 9, "one layer of tensors");
		ok(rt_gguf_find_tensor(g, "token_embd.weight")->type == KN_F16, "f16 weights");
		rt_gguf_close(g);
	} else {
		ok(0, "l1 opens: %s", rt_last_error());
		skip(2, NOT_RUN);
	}
	ok(same_bytes(path("l1.gguf"), path("l2.gguf"), "blk.0.ffn_down.weight") &&
	   same_bytes(path("l1.gguf"), path("l2.gguf"), "output.weight"),
	   "weights depend on (seed, name), not on the layer count");
	ok(same_bytes(path("l1.gguf"), path("l1.gguf"), "blk.0.attn_k.weight"),
	   "sanity: a tensor equals itself");
	ok(!same_bytes(path("l2.gguf"), path("l1.gguf"), "blk.1.attn_q.weight"),
	   "sanity: a tensor absent from one file does not compare equal");
}

int main(void)
{
	const char *b = getenv("ACCEL_BUILD");
	const char *names[] = { "tiny.gguf", "moe.gguf", "qwen3.gguf", "qwen3moe.gguf", "l1.gguf",
				"l2.gguf" };
	size_t i;

	snprintf(bin, sizeof(bin), "%s/bin/accel-mkmodel", b ? b : "build");
	if (access(bin, X_OK))
		plan_skip_all("no %s (run make)", bin);
	snprintf(dir, sizeof(dir), "/tmp/mkmodel_test.XXXXXX");
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	plan(DENSE_TESTS + MOE_TESTS + QWEN3_TESTS + QWEN3MOE_TESTS + LAYERS_TESTS);
	check_dense();
	check_moe();
	check_qwen3();
	check_qwen3moe();
	check_layers_prefix();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path(names[i]));
	rmdir(dir);
	return done_testing();
}
