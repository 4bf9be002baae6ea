// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the GGUF reader: rt_gguf_open_mem on arbitrary bytes,
 * then every getter on every key and every tensor lookup, with the reader's
 * promises checked (tensors inside the buffer, aligned, not overlapping;
 * strings NUL-terminated at their length). Built by scripts/fuzz-gguf.sh
 * with clang -fsanitize=fuzzer,address,undefined; not part of `make`.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_error.h"
#include "rt_gguf.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static volatile uint8_t sink;

static void touch_str(const struct rt_gguf_str *s)
{
	CHECK(s->s && s->s[s->len] == '\0');
	if (s->len)
		sink ^= (uint8_t)s->s[0] ^ (uint8_t)s->s[s->len - 1];
}

static void exercise_key(const struct rt_gguf *g, int64_t i)
{
	const char *key = rt_gguf_kv_key(g, i);
	enum rt_gguf_type type = rt_gguf_kv_type(g, i), at;
	struct rt_gguf_str s;
	const void *data;
	uint32_t u32;
	int64_t i64;
	uint64_t n;
	float f;
	bool b;
	int ret;

	CHECK(key && rt_gguf_find_key(g, key) == i);
	/* every getter on every key: the right one succeeds, others -EINVAL */
	ret = rt_gguf_get_u32(g, key, &u32);
	CHECK(ret == 0 || ret == -EINVAL);
	ret = rt_gguf_get_i64(g, key, &i64);
	CHECK(ret == 0 || ret == -EINVAL);
	ret = rt_gguf_get_f32(g, key, &f);
	CHECK((ret == 0) == (type == RT_GGUF_FLOAT32 || type == RT_GGUF_FLOAT64));
	ret = rt_gguf_get_bool(g, key, &b);
	CHECK((ret == 0) == (type == RT_GGUF_BOOL));
	ret = rt_gguf_get_str(g, key, &s);
	CHECK((ret == 0) == (type == RT_GGUF_STRING));
	if (!ret)
		touch_str(&s);
	ret = rt_gguf_get_arr(g, key, &at, &n, &data);
	CHECK((ret == 0) == (type == RT_GGUF_ARRAY));
	if (ret)
		return;
	CHECK(at != RT_GGUF_ARRAY && (unsigned)at <= RT_GGUF_FLOAT64 && data);
	if (at == RT_GGUF_STRING) {
		for (uint64_t k = 0; k < n && k < 4096; k++) {
			CHECK(rt_gguf_get_arr_str(g, key, k, &s) == 0);
			touch_str(&s);
		}
		CHECK(rt_gguf_get_arr_str(g, key, n, &s) == -EINVAL);
	} else if (n) {
		static const uint8_t sz[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

		sink ^= ((const uint8_t *)data)[n * sz[at] - 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_gguf *g = NULL;
	uint64_t align;
	int64_t n;
	int ret;

	ret = rt_gguf_open_mem(data, size, &g);
	if (ret) {
		CHECK(!g && ret < 0 && rt_last_error()[0]);
		return 0;
	}
	align = rt_gguf_alignment(g);
	CHECK(align && !(align & (align - 1)));
	CHECK(rt_gguf_version(g) == 2 || rt_gguf_version(g) == 3);
	CHECK(rt_gguf_file_size(g) == size && !rt_gguf_path(g));
	for (int64_t i = 0; i < rt_gguf_n_kv(g); i++)
		exercise_key(g, i);
	CHECK(!rt_gguf_kv_key(g, rt_gguf_n_kv(g)) && !rt_gguf_tensor(g, rt_gguf_n_tensors(g)));

	n = rt_gguf_n_tensors(g);
	for (int64_t i = 0; i < n; i++) {
		const struct rt_gguf_tensor *t = rt_gguf_tensor(g, i);

		CHECK(t && rt_gguf_find_tensor(g, t->name) == t);
		CHECK(t->n_dims >= 1 && t->n_dims <= 4 && t->size > 0);
		CHECK(t->offset >= rt_gguf_data_offset(g) && t->offset % align == 0);
		CHECK(t->offset <= size && t->size <= size - t->offset);
		sink ^= data[t->offset] ^ data[t->offset + t->size - 1];
		for (int64_t j = 0; j < i && n <= 256; j++) {
			const struct rt_gguf_tensor *u = rt_gguf_tensor(g, j);

			CHECK(u->offset + u->size <= t->offset || t->offset + t->size <= u->offset);
		}
	}
	rt_gguf_close(g);
	return 0;
}
