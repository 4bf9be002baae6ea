// SPDX-License-Identifier: MIT
/*
 * GGUF reader on the real test models: header facts, hyperparameters, the
 * vocabulary arrays and the tensor table of stories260K and the random
 * llama/Mixtral files (facts from /work/shared/models/README.md, cross-checked
 * with llama.cpp's gguf-py), plus typed-getter error paths and open_mem, and
 * the integer getters' range checks on keys of every integer type (files made
 * with rt_gguf_writer).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_gguf_writer.h"
#include "tap.h"

static bool shape_is(const struct rt_gguf_tensor *t, uint32_t type, uint32_t n_dims,
		     int64_t ne0, int64_t ne1, int64_t ne2)
{
	return t && t->type == type && t->n_dims == n_dims && t->ne[0] == ne0 &&
	       t->ne[1] == ne1 && t->ne[2] == ne2 && t->ne[3] == 1;
}

static uint32_t u32_of(const struct rt_gguf *g, const char *key)
{
	uint32_t v = 0xdeadbeef;

	if (rt_gguf_get_u32(g, key, &v))
		diag("%s", rt_last_error());
	return v;
}

static bool str_is(const struct rt_gguf *g, const char *key, const char *want)
{
	struct rt_gguf_str s = { 0 };

	return rt_gguf_get_str(g, key, &s) == 0 && s.len == strlen(want) && !strcmp(s.s, want);
}

/* The tensor table must tile the data section: sorted by offset, each tensor
 * starts at the aligned end of the previous one, the last ends at EOF. */
static void check_tiling(const struct rt_gguf *g, const char *name)
{
	uint64_t end = rt_gguf_data_offset(g), a = rt_gguf_alignment(g);
	int64_t n = rt_gguf_n_tensors(g), placed = 0;
	bool good = true;

	while (placed < n && good) {
		const struct rt_gguf_tensor *next = NULL;

		for (int64_t i = 0; i < n; i++) {
			const struct rt_gguf_tensor *t = rt_gguf_tensor(g, i);

			if (t->offset >= end && (!next || t->offset < next->offset))
				next = t;
		}
		good = next && next->offset == (end + a - 1) / a * a &&
		       next->size == kn_row_size(next->type, next->ne[0]) *
				     (uint64_t)(next->ne[1] * next->ne[2] * next->ne[3]);
		if (good) {
			end = next->offset + next->size;
			placed++;
		}
	}
	ok(good && end == rt_gguf_file_size(g), "%s: %" PRId64 " tensors tile the data up to EOF",
	   name, n);
}

static void test_stories(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	const struct rt_gguf_tensor *emb, *out;
	const void *data;
	enum rt_gguf_type at;
	struct rt_gguf_str s;
	struct rt_gguf *g = NULL;
	uint64_t n;
	int64_t i64;
	float eps;
	bool b;
	int ret;

	ret = rt_gguf_open(path, &g);
	if (!ok(ret == 0, "open stories260K.gguf") || !g) {
		diag("%s", rt_last_error());
		skip(42, "stories260K.gguf did not open");
		return;
	}
	is_int(rt_gguf_version(g), 3, "version 3");
	is_int(rt_gguf_alignment(g), 32, "alignment 32 (default)");
	is_int(rt_gguf_data_offset(g), 14176, "data offset 14176");
	is_int(rt_gguf_file_size(g), 1185376, "file size");
	is_int(rt_gguf_n_tensors(g), 48, "48 tensors");
	is_int(rt_gguf_n_kv(g), 19, "19 keys");
	ok(rt_gguf_path(g) && !strcmp(rt_gguf_path(g), path), "path kept");
	ok(!strcmp(rt_gguf_kv_key(g, 0), "tokenizer.ggml.tokens") &&
	   rt_gguf_kv_type(g, 0) == RT_GGUF_ARRAY, "first key is the token array (file order)");
	ok(rt_gguf_kv_key(g, 19) == NULL && rt_gguf_kv_key(g, -1) == NULL, "kv index bounds");

	ok(str_is(g, "general.architecture", "llama"), "general.architecture = llama");
	ok(str_is(g, "tokenizer.ggml.model", "llama"), "tokenizer.ggml.model = llama");
	is_int(u32_of(g, "llama.context_length"), 2048, "context_length");
	is_int(u32_of(g, "llama.embedding_length"), 64, "embedding_length");
	is_int(u32_of(g, "llama.feed_forward_length"), 172, "feed_forward_length");
	is_int(u32_of(g, "llama.attention.head_count"), 8, "head_count");
	is_int(u32_of(g, "llama.attention.head_count_kv"), 4, "head_count_kv");
	is_int(u32_of(g, "llama.block_count"), 5, "block_count");
	is_int(u32_of(g, "llama.rope.dimension_count"), 8, "rope.dimension_count");
	ok(u32_of(g, "tokenizer.ggml.unknown_token_id") == 0 &&
	   u32_of(g, "tokenizer.ggml.bos_token_id") == 1 &&
	   u32_of(g, "tokenizer.ggml.eos_token_id") == 2, "unk/bos/eos = 0/1/2");
	ok(u32_of(g, "tokenizer.ggml.seperator_token_id") == 0xFFFFFFFFu, "seperator = 0xFFFFFFFF");
	ok(rt_gguf_get_i64(g, "tokenizer.ggml.padding_token_id", &i64) == 0 &&
	   i64 == 0xFFFFFFFFll, "u32 key read as i64");
	ok(rt_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps) == 0 &&
	   eps == 1e-5f, "rms eps 1e-5");
	ok(rt_gguf_find_key(g, "llama.rope.freq_base") == -ENOENT &&
	   rt_gguf_get_f32(g, "llama.rope.freq_base", &eps) == -ENOENT, "no rope.freq_base");

	ok(rt_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n, NULL) == 0 &&
	   at == RT_GGUF_STRING && n == 512, "512 tokens");
	ok(rt_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 1, &s) == 0 && !strcmp(s.s, "<s>") &&
	   rt_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 3, &s) == 0 &&
	   !strcmp(s.s, "<0x00>") && s.len == 6, "token 1 '<s>', token 3 '<0x00>'");
	ok(rt_gguf_get_arr(g, "tokenizer.ggml.token_type", &at, &n, &data) == 0 &&
	   at == RT_GGUF_INT32 && n == 512 && ((const int32_t *)data)[0] == 2 &&
	   ((const int32_t *)data)[1] == 3 && ((const int32_t *)data)[3] == 6,
	   "token_type i32[512]: unknown, control, byte");
	ok(rt_gguf_get_arr(g, "tokenizer.ggml.scores", &at, &n, NULL) == 0 &&
	   at == RT_GGUF_FLOAT32 && n == 512, "scores f32[512]");

	/* getter error paths */
	ok(rt_gguf_get_u32(g, "general.name", (uint32_t *)&i64) == -EINVAL &&
	   strstr(rt_last_error(), "general.name"), "u32 of a string: -EINVAL naming the key");
	ok(rt_gguf_get_f32(g, "llama.block_count", &eps) == -EINVAL, "f32 of a u32: -EINVAL");
	ok(rt_gguf_get_bool(g, "llama.block_count", &b) == -EINVAL, "bool of a u32: -EINVAL");
	ok(rt_gguf_get_str(g, "tokenizer.ggml.tokens", &s) == -EINVAL, "str of an array: -EINVAL");
	ok(rt_gguf_get_arr(g, "general.name", &at, &n, &data) == -EINVAL, "arr of a string: -EINVAL");
	ok(rt_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 512, &s) == -EINVAL &&
	   rt_gguf_get_arr_str(g, "tokenizer.ggml.scores", 0, &s) == -EINVAL,
	   "arr_str: index 512 and a float array refused");
	ok(rt_gguf_get_u32(g, "no.such.key", (uint32_t *)&i64) == -ENOENT &&
	   strstr(rt_last_error(), "no.such.key"), "missing key: -ENOENT naming it");

	emb = rt_gguf_find_tensor(g, "token_embd.weight");
	out = rt_gguf_find_tensor(g, "output.weight");
	ok(shape_is(emb, KN_F32, 2, 64, 512, 1) && emb->offset == 14176 && emb->size == 131072,
	   "token_embd f32 [64,512] at the data offset");
	ok(shape_is(out, KN_F32, 2, 64, 512, 1), "output f32 [64,512]");
	ok(shape_is(rt_gguf_find_tensor(g, "output_norm.weight"), KN_F32, 1, 64, 1, 1),
	   "output_norm [64]");
	ok(shape_is(rt_gguf_find_tensor(g, "blk.0.attn_q.weight"), KN_F32, 2, 64, 64, 1) &&
	   shape_is(rt_gguf_find_tensor(g, "blk.4.attn_k.weight"), KN_F32, 2, 64, 32, 1) &&
	   shape_is(rt_gguf_find_tensor(g, "blk.2.attn_v.weight"), KN_F32, 2, 64, 32, 1) &&
	   shape_is(rt_gguf_find_tensor(g, "blk.3.attn_output.weight"), KN_F32, 2, 64, 64, 1),
	   "attention shapes q/k/v/o");
	ok(shape_is(rt_gguf_find_tensor(g, "blk.1.ffn_gate.weight"), KN_F32, 2, 64, 172, 1) &&
	   shape_is(rt_gguf_find_tensor(g, "blk.1.ffn_up.weight"), KN_F32, 2, 64, 172, 1) &&
	   shape_is(rt_gguf_find_tensor(g, "blk.1.ffn_down.weight"), KN_F32, 2, 172, 64, 1),
	   "ffn shapes gate/up [64,172], down [172,64]");
	ok(!rt_gguf_find_tensor(g, "blk.5.attn_q.weight") && !rt_gguf_tensor(g, 48) &&
	   !rt_gguf_tensor(g, -1), "no layer 5, tensor index bounds");
	check_tiling(g, "stories260K");

	/* output.weight is an explicit copy of token_embd: the offsets must
	 * point at identical bytes. */
	if (emb && out) {
		void *a = malloc(emb->size), *c = malloc(out->size);
		int fd = open(path, O_RDONLY);

		ok(fd >= 0 && a && c && pread(fd, a, emb->size, (off_t)emb->offset) == (ssize_t)emb->size &&
		   pread(fd, c, out->size, (off_t)out->offset) == (ssize_t)out->size &&
		   !memcmp(a, c, emb->size), "output.weight bytes == token_embd.weight bytes");
		if (fd >= 0)
			close(fd);
		free(a);
		free(c);
	} else {
		skip(1, "token_embd/output missing");
	}
	rt_gguf_close(g);
}

/* open_mem gives the same tables as open, and path NULL */
static void test_mem_matches_file(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_gguf *f = NULL, *m = NULL;
	size_t size = 0;
	void *buf = tap_slurp(path, &size);
	bool same = true;

	if (!buf || rt_gguf_open(path, &f) || rt_gguf_open_mem(buf, size, &m)) {
		ok(0, "open_mem and open of stories260K: %s", rt_last_error());
		skip(1, "no handles");
		goto out;
	}
	ok(rt_gguf_path(m) == NULL && rt_gguf_data_offset(m) == rt_gguf_data_offset(f) &&
	   rt_gguf_n_kv(m) == rt_gguf_n_kv(f) && rt_gguf_n_tensors(m) == rt_gguf_n_tensors(f),
	   "open_mem: same header facts, no path");
	for (int64_t i = 0; i < rt_gguf_n_tensors(f); i++) {
		const struct rt_gguf_tensor *a = rt_gguf_tensor(f, i), *b = rt_gguf_tensor(m, i);

		same = same && !strcmp(a->name, b->name) && a->offset == b->offset &&
		       a->size == b->size && !memcmp(a->ne, b->ne, sizeof(a->ne));
	}
	for (int64_t i = 0; i < rt_gguf_n_kv(f); i++)
		same = same && !strcmp(rt_gguf_kv_key(f, i), rt_gguf_kv_key(m, i));
	ok(same, "open_mem: identical tensor table and keys");
out:
	rt_gguf_close(f);
	rt_gguf_close(m);
	free(buf);
}

static void test_random(void)
{
	struct rt_gguf *g = NULL;
	const struct rt_gguf_tensor *t;
	bool b = false;
	float fb = 0;

	if (!ok(rt_gguf_open(tap_path("tests/models/random/tiny-llama-random-dense-f32.gguf"),
			     &g) == 0, "open dense random")) {
		diag("%s", rt_last_error());
		skip(4, "dense did not open");
	} else {
		is_int(rt_gguf_n_tensors(g), 21, "dense: 21 tensors (3 + 2 layers x 9)");
		ok(u32_of(g, "llama.block_count") == 2 && u32_of(g, "llama.feed_forward_length") == 128 &&
		   u32_of(g, "llama.context_length") == 512, "dense: 2 layers, ffn 128, ctx 512");
		ok(rt_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 && b &&
		   rt_gguf_get_f32(g, "llama.rope.freq_base", &fb) == 0 && fb == 10000.0f,
		   "dense: add_bos_token true, rope base 10000");
		check_tiling(g, "dense");
	}
	rt_gguf_close(g);
	g = NULL;

	if (!ok(rt_gguf_open(tap_path("tests/models/random/tiny-mixtral-random-4x2-f32.gguf"),
			     &g) == 0, "open MoE f32")) {
		diag("%s", rt_last_error());
		skip(3, "MoE f32 did not open");
	} else {
		ok(u32_of(g, "llama.expert_count") == 4 && u32_of(g, "llama.expert_used_count") == 2,
		   "moe: 4 experts, 2 used");
		ok(shape_is(rt_gguf_find_tensor(g, "blk.1.ffn_gate_exps.weight"), KN_F32, 3, 64, 128, 4) &&
		   shape_is(rt_gguf_find_tensor(g, "blk.1.ffn_up_exps.weight"), KN_F32, 3, 64, 128, 4) &&
		   shape_is(rt_gguf_find_tensor(g, "blk.0.ffn_down_exps.weight"), KN_F32, 3, 128, 64, 4) &&
		   shape_is(rt_gguf_find_tensor(g, "blk.0.ffn_gate_inp.weight"), KN_F32, 2, 64, 4, 1),
		   "moe: 3-D expert tensors and router");
		check_tiling(g, "moe f32");
	}
	rt_gguf_close(g);
	g = NULL;

	if (!ok(rt_gguf_open(tap_path("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf"),
			     &g) == 0, "open MoE q8_0")) {
		diag("%s", rt_last_error());
		skip(3, "MoE q8_0 did not open");
	} else {
		t = rt_gguf_find_tensor(g, "blk.1.ffn_up_exps.weight");
		ok(shape_is(t, KN_Q8_0, 3, 64, 128, 4) && t->size == 64 / 32 * 34 * 128 * 4,
		   "q8_0: expert tensor Q8_0 [64,128,4], 34816 bytes");
		ok(shape_is(rt_gguf_find_tensor(g, "blk.0.attn_norm.weight"), KN_F32, 1, 64, 1, 1),
		   "q8_0: norms stay f32");
		check_tiling(g, "moe q8_0");
	}
	rt_gguf_close(g);
}

/* A file whose metadata is several pread windows long (a 300000-string
 * array whose strings straddle window edges, and a 600 KiB string read in
 * one go) parses the same through rt_gguf_open as through open_mem. */
static void put_u64(FILE *f, uint64_t v)
{
	fwrite(&v, 8, 1, f);	/* little-endian host: what the tests run on */
}

static void test_window(void)
{
	char tmp[] = "/tmp/test_gguf_win_XXXXXX";
	struct rt_gguf *g = NULL, *m = NULL;
	struct rt_gguf_str s1, s2;
	const uint32_t nstr = 300000, big = 600 * 1024;
	bool same = true;
	size_t size = 0;
	void *buf = NULL;
	char name[32];
	FILE *f;
	int fd;

	fd = mkstemp(tmp);
	f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!f) {
		skip(3, "mkstemp");
		return;
	}
	fwrite("GGUF\3\0\0\0", 8, 1, f);
	put_u64(f, 1);
	put_u64(f, 2);
	put_u64(f, 9);
	fwrite("x.strings", 9, 1, f);
	fwrite((uint32_t[]){ RT_GGUF_ARRAY, RT_GGUF_STRING }, 8, 1, f);
	put_u64(f, nstr);
	for (uint32_t i = 0; i < nstr; i++) {
		int n = snprintf(name, sizeof(name), "t%u%.*s", i, (int)(i % 7), "xxxxxxx");

		put_u64(f, (uint64_t)n);
		fwrite(name, (size_t)n, 1, f);
	}
	put_u64(f, 5);
	fwrite("x.big", 5, 1, f);
	fwrite((uint32_t[]){ RT_GGUF_STRING }, 4, 1, f);
	put_u64(f, big);
	for (uint32_t i = 0; i < big; i++)
		fputc('a' + i % 26, f);
	put_u64(f, 1);
	fwrite("w", 1, 1, f);
	fwrite((uint32_t[]){ 1 }, 4, 1, f);
	put_u64(f, 8);
	fwrite((uint32_t[]){ KN_F32 }, 4, 1, f);
	put_u64(f, 0);
	while (ftell(f) % 32)
		fputc(0, f);
	for (int i = 0; i < 32; i++)
		fputc(i, f);
	if (fclose(f) || !(buf = tap_slurp(tmp, &size))) {
		skip(3, "writing %s", tmp);
		goto out;
	}
	if (!ok(rt_gguf_open(tmp, &g) == 0 && rt_gguf_open_mem(buf, size, &m) == 0,
		"%zu-byte file with %u strings opens", size, nstr))
		diag("%s", rt_last_error());
	if (!g || !m) {
		skip(2, "did not open");
		goto out;
	}
	for (uint32_t i = 0; i < nstr && same; i += 1) {
		int n = snprintf(name, sizeof(name), "t%u%.*s", i, (int)(i % 7), "xxxxxxx");

		same = rt_gguf_get_arr_str(g, "x.strings", i, &s1) == 0 &&
		       rt_gguf_get_arr_str(m, "x.strings", i, &s2) == 0 && s1.len == (uint64_t)n &&
		       !strcmp(s1.s, name) && !strcmp(s2.s, name);
	}
	ok(same, "all %u strings read back through the pread window", nstr);
	ok(rt_gguf_get_str(g, "x.big", &s1) == 0 && s1.len == big && s1.s[0] == 'a' &&
	   s1.s[big - 1] == 'a' + (big - 1) % 26 && rt_gguf_get_str(m, "x.big", &s2) == 0 &&
	   !memcmp(s1.s, s2.s, big) && rt_gguf_find_tensor(g, "w")->offset == size - 32 &&
	   rt_gguf_data_offset(g) == rt_gguf_data_offset(m),
	   "a string longer than the window, and the tensor after it");
out:
	rt_gguf_close(g);
	rt_gguf_close(m);
	free(buf);
	unlink(tmp);
}

static void test_smollm(void)
{
	const char *path = tap_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
	struct rt_gguf *g = NULL;
	uint64_t n = 0;

	if (access(path, R_OK)) {
		skip(4, "SmolLM2 not fetched (scripts/fetch-model.sh)");
		return;
	}
	if (!ok(rt_gguf_open(path, &g) == 0, "open SmolLM2-135M Q4_1")) {
		diag("%s", rt_last_error());
		skip(3, "SmolLM2 did not open");
		return;
	}
	is_int(rt_gguf_n_tensors(g), 272, "SmolLM2: 272 tensors");
	ok(u32_of(g, "llama.block_count") == 30 && u32_of(g, "llama.embedding_length") == 576 &&
	   u32_of(g, "llama.attention.head_count") == 9 &&
	   u32_of(g, "llama.attention.head_count_kv") == 3, "SmolLM2: 30 layers, dim 576, 9/3 heads");
	ok(rt_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n, NULL) == 0 && n == 49152 &&
	   shape_is(rt_gguf_find_tensor(g, "blk.0.ffn_down.weight"), KN_Q4_1, 2, 1536, 576, 1),
	   "SmolLM2: 49152 tokens, ffn_down Q4_1 [1536,576]");
	rt_gguf_close(g);
}

/* one integer key per case: the getter's answer and value for each */
struct int_case {
	const char *key;
	enum rt_gguf_type type;
	int64_t sv;		/* the value, signed types */
	uint64_t uv;		/* the value, unsigned types */
	int u32_ret;		/* rt_gguf_get_u32: 0 or -EINVAL */
	uint32_t u32;
	int i64_ret;		/* rt_gguf_get_i64 */
	int64_t i64;
};

static const struct int_case int_cases[] = {
	{ "u8.max", RT_GGUF_UINT8, 0, UINT8_MAX, 0, UINT8_MAX, 0, UINT8_MAX },
	{ "i8.neg", RT_GGUF_INT8, INT8_MIN, 0, -EINVAL, 0, 0, INT8_MIN },
	{ "i8.pos", RT_GGUF_INT8, INT8_MAX, 0, 0, INT8_MAX, 0, INT8_MAX },
	{ "u16.max", RT_GGUF_UINT16, 0, UINT16_MAX, 0, UINT16_MAX, 0, UINT16_MAX },
	{ "i16.neg", RT_GGUF_INT16, -1, 0, -EINVAL, 0, 0, -1 },
	{ "u32.max", RT_GGUF_UINT32, 0, UINT32_MAX, 0, UINT32_MAX, 0, UINT32_MAX },
	{ "i32.neg", RT_GGUF_INT32, INT32_MIN, 0, -EINVAL, 0, 0, INT32_MIN },
	{ "i32.max", RT_GGUF_INT32, INT32_MAX, 0, 0, INT32_MAX, 0, INT32_MAX },
	{ "u64.u32max", RT_GGUF_UINT64, 0, UINT32_MAX, 0, UINT32_MAX, 0, UINT32_MAX },
	{ "u64.over_u32", RT_GGUF_UINT64, 0, (uint64_t)UINT32_MAX + 1, -EINVAL, 0, 0,
	  (int64_t)UINT32_MAX + 1 },
	{ "u64.i64max", RT_GGUF_UINT64, 0, INT64_MAX, -EINVAL, 0, 0, INT64_MAX },
	{ "u64.over_i64", RT_GGUF_UINT64, 0, (uint64_t)INT64_MAX + 1, -EINVAL, 0, -EINVAL, 0 },
	{ "u64.max", RT_GGUF_UINT64, 0, UINT64_MAX, -EINVAL, 0, -EINVAL, 0 },
	{ "i64.u32max", RT_GGUF_INT64, UINT32_MAX, 0, 0, UINT32_MAX, 0, UINT32_MAX },
	{ "i64.over_u32", RT_GGUF_INT64, (int64_t)UINT32_MAX + 1, 0, -EINVAL, 0, 0,
	  (int64_t)UINT32_MAX + 1 },
	{ "i64.neg1", RT_GGUF_INT64, -1, 0, -EINVAL, 0, 0, -1 },
	{ "i64.min", RT_GGUF_INT64, INT64_MIN, 0, -EINVAL, 0, 0, INT64_MIN },
	{ "i64.max", RT_GGUF_INT64, INT64_MAX, 0, -EINVAL, 0, 0, INT64_MAX },
};
#define N_INT_CASES ((int)(sizeof(int_cases) / sizeof(int_cases[0])))
/* tests run by test_int_ranges */
#define INT_RANGE_TESTS (1 + 4 * N_INT_CASES + 6)

static int set_int(struct rt_gguf_writer *w, const struct int_case *c)
{
	switch (c->type) {
	case RT_GGUF_UINT8: return rt_gguf_writer_set_u8(w, c->key, (uint8_t)c->uv);
	case RT_GGUF_INT8: return rt_gguf_writer_set_i8(w, c->key, (int8_t)c->sv);
	case RT_GGUF_UINT16: return rt_gguf_writer_set_u16(w, c->key, (uint16_t)c->uv);
	case RT_GGUF_INT16: return rt_gguf_writer_set_i16(w, c->key, (int16_t)c->sv);
	case RT_GGUF_UINT32: return rt_gguf_writer_set_u32(w, c->key, (uint32_t)c->uv);
	case RT_GGUF_INT32: return rt_gguf_writer_set_i32(w, c->key, (int32_t)c->sv);
	case RT_GGUF_UINT64: return rt_gguf_writer_set_u64(w, c->key, c->uv);
	case RT_GGUF_INT64: return rt_gguf_writer_set_i64(w, c->key, c->sv);
	default: return -EINVAL;
	}
}

/*
 * rt_gguf_get_u32 and rt_gguf_get_i64 take an integer of any width and
 * signedness and refuse what does not fit (negative into u32, over 2^32-1,
 * over INT64_MAX) with -EINVAL, leaving the output untouched; floats,
 * strings and bools are refused; a missing key is -ENOENT.
 */
static void test_int_ranges(void)
{
	char path[] = "/tmp/test_gguf_ints.XXXXXX";
	struct rt_gguf_writer *w = NULL;
	struct rt_gguf *g = NULL;
	int fd = mkstemp(path), ret;
	uint32_t u32;
	int64_t i64;

	if (fd >= 0)
		close(fd);
	ret = fd < 0 ? -errno : rt_gguf_writer_create(&w);
	for (int i = 0; i < N_INT_CASES && !ret; i++)
		ret = set_int(w, &int_cases[i]);
	if (!ret)
		ret = rt_gguf_writer_set_f32(w, "f32.one", 1.0f);
	if (!ret)
		ret = rt_gguf_writer_set_str(w, "str.seven", "7");
	if (!ret)
		ret = rt_gguf_writer_set_bool(w, "bool.true", true);
	if (!ret)
		ret = rt_gguf_writer_open(w, path);
	if (!ret)
		ret = rt_gguf_writer_finish(w, false);
	rt_gguf_writer_destroy(w);
	if (!ret)
		ret = rt_gguf_open(path, &g);
	if (!ok(ret == 0, "a GGUF with %d integer keys of every type: written and read back",
		N_INT_CASES)) {
		diag("%s", rt_last_error());
		skip(INT_RANGE_TESTS - 1, "no file");
		unlink(path);
		return;
	}
	for (int i = 0; i < N_INT_CASES; i++) {
		const struct int_case *c = &int_cases[i];
		int64_t ki = rt_gguf_find_key(g, c->key);

		is_int(ki >= 0 ? (int)rt_gguf_kv_type(g, ki) : -1, c->type, "%s: stored as type %d",
		       c->key, (int)c->type);
		u32 = 0x5a5a5a5a;
		ret = rt_gguf_get_u32(g, c->key, &u32);
		ok(ret == c->u32_ret && u32 == (c->u32_ret ? 0x5a5a5a5au : c->u32),
		   "%s: get_u32 -> %d, %" PRIu32 " (want %d%s)", c->key, ret, u32, c->u32_ret,
		   c->u32_ret ? ", output untouched" : "");
		if (c->u32_ret)
			ok(strstr(rt_last_error(), c->key) && strstr(rt_last_error(), "does not fit"),
			   "%s: the u32 error names the key: %s", c->key, rt_last_error());
		else
			ok(1, "%s: fits in u32", c->key);
		i64 = 0x5a5a;
		ret = rt_gguf_get_i64(g, c->key, &i64);
		ok(ret == c->i64_ret && i64 == (c->i64_ret ? 0x5a5a : c->i64),
		   "%s: get_i64 -> %d, %" PRId64 " (want %d)", c->key, ret, i64, c->i64_ret);
	}
	u32 = 7;
	is_int(rt_gguf_get_u32(g, "f32.one", &u32), -EINVAL, "get_u32 on a float32 key: -EINVAL");
	is_int(rt_gguf_get_u32(g, "str.seven", &u32), -EINVAL, "get_u32 on a string key: -EINVAL");
	is_int(rt_gguf_get_i64(g, "bool.true", &i64), -EINVAL, "get_i64 on a bool key: -EINVAL");
	is_int(u32, 7, "refused getters leave the output untouched");
	is_int(rt_gguf_get_u32(g, "no.such.key", &u32), -ENOENT, "get_u32 on a missing key: -ENOENT");
	is_int(rt_gguf_get_i64(g, "no.such.key", &i64), -ENOENT, "get_i64 on a missing key: -ENOENT");
	rt_gguf_close(g);
	unlink(path);
}

int main(void)
{
	/* 65 on the models (SmolLM2's own tests skip as a group when absent) */
	plan(65 + INT_RANGE_TESTS);
	test_stories();
	test_mem_matches_file();
	test_random();
	test_window();
	test_smollm();
	test_int_ranges();
	return done_testing();
}
