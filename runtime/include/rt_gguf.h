/* SPDX-License-Identifier: MIT */
/*
 * GGUF reader: header, metadata (key/value), tensor table, alignment. Every
 * count, string length, offset and size is checked against the file, so a
 * malformed file gives -EINVAL (or -ENOMEM, -EIO) with one clear message in
 * rt_last_error() and never a crash or a huge allocation. Tensor data is not
 * read here: callers load it by offset (COPY engine, pread).
 */
#ifndef RT_GGUF_H
#define RT_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum rt_gguf_type {
	RT_GGUF_UINT8 = 0, RT_GGUF_INT8 = 1, RT_GGUF_UINT16 = 2, RT_GGUF_INT16 = 3,
	RT_GGUF_UINT32 = 4, RT_GGUF_INT32 = 5, RT_GGUF_FLOAT32 = 6, RT_GGUF_BOOL = 7,
	RT_GGUF_STRING = 8, RT_GGUF_ARRAY = 9, RT_GGUF_UINT64 = 10, RT_GGUF_INT64 = 11,
	RT_GGUF_FLOAT64 = 12,
};

/** struct rt_gguf_str - a string inside the parsed metadata (not NUL-terminated
 *  in the file; @s here IS NUL-terminated, @len excludes the NUL) */
struct rt_gguf_str {
	const char *s;
	uint64_t len;
};

struct rt_gguf_tensor {
	const char *name;
	uint32_t type;		/* ggml type number (enum kn_type) */
	uint32_t n_dims;	/* 1..4 */
	int64_t ne[4];		/* unused dims = 1 */
	uint64_t offset;	/* absolute byte offset of the data in the file */
	uint64_t size;		/* bytes */
};

struct rt_gguf;

/** rt_gguf_open - parse a GGUF file (v3, v2; v1 refused with a message) */
int rt_gguf_open(const char *path, struct rt_gguf **out);
/** rt_gguf_open_mem - parse from memory (fuzzing, tests); the buffer must
 *  outlive the handle; tensor data must lie within @size */
int rt_gguf_open_mem(const void *data, size_t size, struct rt_gguf **out);
void rt_gguf_close(struct rt_gguf *g);

uint32_t rt_gguf_version(const struct rt_gguf *g);
uint64_t rt_gguf_alignment(const struct rt_gguf *g);
uint64_t rt_gguf_data_offset(const struct rt_gguf *g);	/* start of tensor data */
uint64_t rt_gguf_file_size(const struct rt_gguf *g);
const char *rt_gguf_path(const struct rt_gguf *g);	/* NULL for open_mem */

/* ---- metadata */
int64_t rt_gguf_n_kv(const struct rt_gguf *g);
const char *rt_gguf_kv_key(const struct rt_gguf *g, int64_t i);
enum rt_gguf_type rt_gguf_kv_type(const struct rt_gguf *g, int64_t i);	/* -1 if out of range */
/** rt_gguf_find_key - index of @key or -ENOENT */
int64_t rt_gguf_find_key(const struct rt_gguf *g, const char *key);
/* Typed getters: 0, -ENOENT (no such key) or -EINVAL (wrong type; integer
 * getters accept any integer type whose value fits). */
int rt_gguf_get_u32(const struct rt_gguf *g, const char *key, uint32_t *v);
int rt_gguf_get_i64(const struct rt_gguf *g, const char *key, int64_t *v);
int rt_gguf_get_f32(const struct rt_gguf *g, const char *key, float *v);
int rt_gguf_get_bool(const struct rt_gguf *g, const char *key, bool *v);
int rt_gguf_get_str(const struct rt_gguf *g, const char *key, struct rt_gguf_str *v);
/** rt_gguf_get_arr - an array's element type, count and raw data (numeric
 *  arrays: little-endian packed values, 8-byte aligned; bool: one byte each;
 *  string arrays: @data points to @n struct rt_gguf_str, or use get_arr_str).
 *  @type, @n and @data may be NULL. get_f32 also accepts an f64 value. */
int rt_gguf_get_arr(const struct rt_gguf *g, const char *key, enum rt_gguf_type *type,
		    uint64_t *n, const void **data);
int rt_gguf_get_arr_str(const struct rt_gguf *g, const char *key, uint64_t i,
			struct rt_gguf_str *v);

/* ---- tensors */
int64_t rt_gguf_n_tensors(const struct rt_gguf *g);
const struct rt_gguf_tensor *rt_gguf_tensor(const struct rt_gguf *g, int64_t i);
/** rt_gguf_find_tensor - NULL if absent */
const struct rt_gguf_tensor *rt_gguf_find_tensor(const struct rt_gguf *g, const char *name);

#endif /* RT_GGUF_H */
