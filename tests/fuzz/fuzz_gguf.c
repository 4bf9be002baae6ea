// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the GGUF reader: rt_gguf_open_mem on arbitrary bytes,
 * then every getter on every key and every tensor lookup, with the reader's
 * promises checked (tensors inside the buffer, aligned, not overlapping;
 * strings NUL-terminated at their length), and for a quarter of the inputs
 * rt_gguf_open of the same bytes (a memfd, read through a 4 KiB window in
 * this build) must agree with open_mem. Built by scripts/fuzz-gguf.sh
 * with clang -fsanitize=fuzzer,address,undefined; not part of `make`.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* The file path (pread window) on the same bytes: same result, same message
 * after the name prefix. */
static void check_file_path(const uint8_t *data, size_t size, int ret_mem, const char *msg_mem)
{
	static int fd = -1;
	static char path[64];
	struct rt_gguf *g = NULL;
	const char *msg;
	int ret;

	if (fd < 0) {
		fd = memfd_create("fuzz_gguf", 0);
		CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size);
	ret = rt_gguf_open(path, &g);
	CHECK(ret == ret_mem && (ret == 0) == (g != NULL));
	msg = rt_last_error();
	if (ret && strlen(msg) < 400 && strlen(msg_mem) < 400)
		CHECK(!strncmp(msg, path, strlen(path)) &&
		      !strcmp(msg + strlen(path), msg_mem + strlen("<memory>")));
	if (g)
		CHECK(rt_gguf_n_tensors(g) >= 0 && rt_gguf_path(g) && !strcmp(rt_gguf_path(g), path));
	rt_gguf_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char msg_mem[512];
	struct rt_gguf *g = NULL;
	uint64_t align;
	int64_t n;
	int ret;

	rt_clear_error();
	ret = rt_gguf_open_mem(data, size, &g);
	snprintf(msg_mem, sizeof(msg_mem), "%s", rt_last_error());
	if ((size & 3) == 0)	/* syscalls are slow: a deterministic quarter */
		check_file_path(data, size, ret, msg_mem);
	if (ret) {
		CHECK(!g && ret < 0 && msg_mem[0]);
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
