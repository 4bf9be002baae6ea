/* SPDX-License-Identifier: MIT */
/*
 * GGUF v3 writer: collect metadata (every GGUF value type, numeric and string
 * arrays) and a tensor table, then stream the tensor data in table order with
 * rt_gguf_writer_append(), so a tensor is never held whole in memory. Offsets
 * are aligned (general.alignment, default 32); a failed write (ENOSPC, short
 * write) unlinks the partial file. Errors: -errno with rt_set_error().
 */
#ifndef RT_GGUF_WRITER_H
#define RT_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "rt_gguf.h"

struct rt_gguf_writer;

/** rt_gguf_writer_create - an empty writer (alignment 32, no keys, no tensors) */
int rt_gguf_writer_create(struct rt_gguf_writer **out);
/** rt_gguf_writer_destroy - free; if a file is open and incomplete, it is
 *  closed and removed. Accepts NULL. */
void rt_gguf_writer_destroy(struct rt_gguf_writer *w);

/* ---- metadata: each key once (-EEXIST otherwise); only before _open() */

/** rt_gguf_writer_set_alignment - a power of two; also writes the key
 *  general.alignment (u32). Only before any tensor is added. */
int rt_gguf_writer_set_alignment(struct rt_gguf_writer *w, uint32_t alignment);
int rt_gguf_writer_set_u8(struct rt_gguf_writer *w, const char *key, uint8_t v);
int rt_gguf_writer_set_i8(struct rt_gguf_writer *w, const char *key, int8_t v);
int rt_gguf_writer_set_u16(struct rt_gguf_writer *w, const char *key, uint16_t v);
int rt_gguf_writer_set_i16(struct rt_gguf_writer *w, const char *key, int16_t v);
int rt_gguf_writer_set_u32(struct rt_gguf_writer *w, const char *key, uint32_t v);
int rt_gguf_writer_set_i32(struct rt_gguf_writer *w, const char *key, int32_t v);
int rt_gguf_writer_set_u64(struct rt_gguf_writer *w, const char *key, uint64_t v);
int rt_gguf_writer_set_i64(struct rt_gguf_writer *w, const char *key, int64_t v);
int rt_gguf_writer_set_f32(struct rt_gguf_writer *w, const char *key, float v);
int rt_gguf_writer_set_f64(struct rt_gguf_writer *w, const char *key, double v);
int rt_gguf_writer_set_bool(struct rt_gguf_writer *w, const char *key, bool v);
/** rt_gguf_writer_set_str - a NUL-terminated string */
int rt_gguf_writer_set_str(struct rt_gguf_writer *w, const char *key, const char *s);
/** rt_gguf_writer_set_arr - a numeric (or bool) array of @n packed
 *  little-endian values of @type; @type STRING/ARRAY -> -EINVAL */
int rt_gguf_writer_set_arr(struct rt_gguf_writer *w, const char *key, enum rt_gguf_type type,
			   const void *data, uint64_t n);
/** rt_gguf_writer_set_arr_str - an array of @n strings (s + len, any bytes) */
int rt_gguf_writer_set_arr_str(struct rt_gguf_writer *w, const char *key,
			       const struct rt_gguf_str *v, uint64_t n);
/** rt_gguf_writer_copy_kv - copy key @key of an open reader as it is (scalars,
 *  strings, arrays); FLOAT64 scalars pass through float precision */
int rt_gguf_writer_copy_kv(struct rt_gguf_writer *w, const struct rt_gguf *src, const char *key);
int64_t rt_gguf_writer_n_kv(const struct rt_gguf_writer *w);

/* ---- tensor table: in the order the data will be appended */

/** rt_gguf_writer_add_tensor - @name < 64 bytes and unique, @type a known
 *  ggml type (enum kn_type), 1 <= n_dims <= 4, ne[0] a multiple of the
 *  type's block. Returns the tensor index (>= 0) or -errno. */
int64_t rt_gguf_writer_add_tensor(struct rt_gguf_writer *w, const char *name, uint32_t type,
				  uint32_t n_dims, const int64_t *ne);
int64_t rt_gguf_writer_n_tensors(const struct rt_gguf_writer *w);
/** rt_gguf_writer_tensor_size - data bytes of tensor @i (0 if no such tensor) */
uint64_t rt_gguf_writer_tensor_size(const struct rt_gguf_writer *w, int64_t i);
/** rt_gguf_writer_tensor_offset - offset of tensor @i relative to the data section */
uint64_t rt_gguf_writer_tensor_offset(const struct rt_gguf_writer *w, int64_t i);
/** rt_gguf_writer_file_size - bytes the finished file will have (known once
 *  the metadata and tensor table are complete) */
uint64_t rt_gguf_writer_file_size(const struct rt_gguf_writer *w);

/* ---- streaming the file */

/** rt_gguf_writer_open - start the file for @path and write the header, the
 *  metadata, the tensor table and the padding up to the data section. After
 *  this, keys and tensors can no longer be added. The bytes go to a
 *  temporary file beside @path that finish renames over it (an existing
 *  non-regular @path, such as /dev/null, is written in place). */
int rt_gguf_writer_open(struct rt_gguf_writer *w, const char *path);
/** rt_gguf_writer_temp_path - the temporary file being written, NULL when
 *  none exists (in place, not open, finished or failed): what a signal
 *  handler unlinks */
const char *rt_gguf_writer_temp_path(const struct rt_gguf_writer *w);
/** rt_gguf_writer_append - the next @n bytes of tensor data, in table order;
 *  a chunk may span tensors (padding between them is inserted). More bytes
 *  than the table holds -> -EINVAL. On any failure the file is removed. */
int rt_gguf_writer_append(struct rt_gguf_writer *w, const void *data, size_t n);
/** rt_gguf_writer_bytes_written - bytes of the file written so far */
uint64_t rt_gguf_writer_bytes_written(const struct rt_gguf_writer *w);
/** rt_gguf_writer_finish - check every tensor byte was appended, flush and
 *  close the file (with fsync if @sync) and rename it over the target.
 *  Incomplete data -> -EINVAL and the temporary file is removed; the old
 *  target is untouched on every failure. */
int rt_gguf_writer_finish(struct rt_gguf_writer *w, bool sync);

#endif /* RT_GGUF_WRITER_H */
