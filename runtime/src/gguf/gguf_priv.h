/* SPDX-License-Identifier: MIT */
/*
 * GGUF reader internals shared by gguf.c (the format: parsing and
 * validation), gguf_io.c (bounded reads, arena, hash tables) and gguf_get.c
 * (lookups and typed getters). Not part of the runtime API.
 */
#ifndef RT_GGUF_PRIV_H
#define RT_GGUF_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rt_gguf.h"

/* One metadata entry. Scalars are widened at parse time: unsigned integers
 * in u, signed in i, floats in f64/f32, so the getters never re-read bytes. */
struct rt_gguf_kv {
	const char *key;
	uint32_t type;		/* enum rt_gguf_type */
	uint32_t atype;		/* arrays: element type */
	uint64_t n;		/* arrays: element count */
	union {
		uint64_t u;
		int64_t i;
		float f32;
		double f64;
		bool b;
		struct rt_gguf_str str;
		void *arr;	/* packed LE values, or struct rt_gguf_str[n] */
	} v;
};

struct rt_gguf_chunk;

struct rt_gguf {
	char *path;			/* NULL for open_mem */
	uint32_t version;
	uint64_t alignment;
	uint64_t data_offset;
	uint64_t file_size;
	int64_t n_kv;
	int64_t n_tensors;
	struct rt_gguf_kv *kv;		/* [n_kv] */
	struct rt_gguf_tensor *tensors;	/* [n_tensors] */
	uint32_t *kv_hash;		/* open addressing: index + 1, 0 = empty */
	uint32_t *t_hash;
	uint64_t kv_mask, t_mask;	/* table size - 1 */
	struct rt_gguf_chunk *arena;	/* every string, array and table above */
	uint64_t arena_bytes;		/* total handed out, bounded by the file size */
};

#ifndef RT_GGUF_WINDOW		/* the fuzz build makes it small */
#define RT_GGUF_WINDOW		(256u * 1024)	/* pread window for files */
#endif

/* One parse: the byte source (memory, or fd + window), the cursor and what is
 * being read now (prefixed to messages). */
struct rt_gguf_parser {
	struct rt_gguf *g;
	const char *name;		/* path or "<memory>" */
	const uint8_t *mem;		/* memory source, or NULL */
	int fd;				/* file source */
	uint8_t *win;			/* [win_cap] */
	size_t win_cap;			/* min(RT_GGUF_WINDOW, file size) */
	uint64_t win_off;
	size_t win_len;
	uint64_t pos;
	uint64_t size;
	uint64_t budget;		/* arena bytes allowed */
	char ctx[128];			/* "key 'x'", "tensor 'y'" or "" */
};

static inline uint64_t rt_gguf_left(const struct rt_gguf_parser *p)
{
	return p->size - p->pos;
}

/* rt_gguf_err - "<name>: <ctx>: <message>" into rt_set_error; returns @err */
int rt_gguf_err(struct rt_gguf_parser *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Checked reads at the cursor: truncation is -EINVAL naming @what. */
int rt_gguf_rd(struct rt_gguf_parser *p, void *dst, uint64_t n, const char *what);
int rt_gguf_rd_u32(struct rt_gguf_parser *p, uint32_t *v, const char *what);
int rt_gguf_rd_u64(struct rt_gguf_parser *p, uint64_t *v, const char *what);
/* rt_gguf_rd_str - u64 length + bytes, copied NUL-terminated into the arena;
 * @max_len != 0 makes it a name: 1..max_len bytes, no NUL inside. */
int rt_gguf_rd_str(struct rt_gguf_parser *p, const char *what, uint64_t max_len,
		   struct rt_gguf_str *out);
/* rt_gguf_alloc - @n bytes (8-aligned) freed by rt_gguf_close; -EINVAL once
 * the handle would hold more than p->budget bytes. */
int rt_gguf_alloc(struct rt_gguf_parser *p, uint64_t n, void **out);
/* rt_gguf_table_alloc - an empty hash table for @n names */
int rt_gguf_table_alloc(struct rt_gguf_parser *p, uint64_t n, uint32_t **tab, uint64_t *mask);
/* rt_gguf_probe - index of the key (or tensor) @name, or -1 with the free
 * slot in *slot (if not NULL) */
int64_t rt_gguf_probe(const struct rt_gguf *g, bool tensor, const char *name, uint64_t *slot);

/* Index of the key / tensor called @name, or -1 (hash lookups). */
int64_t rt_gguf_kv_lookup(const struct rt_gguf *g, const char *name);
int64_t rt_gguf_tensor_lookup(const struct rt_gguf *g, const char *name);
/* "u32", "string", ... ; "type 77" style names are not needed: unknown -> "?" */
const char *rt_gguf_type_name(uint32_t type);

#endif /* RT_GGUF_PRIV_H */
