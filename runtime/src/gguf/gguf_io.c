// SPDX-License-Identifier: MIT
/*
 * GGUF reader plumbing: the bounded byte source (memory, or a file read by
 * pread through a window), checked little-endian reads, the per-handle arena
 * whose total is bounded by the file size, and the name hash tables. Knows
 * nothing of the GGUF layout beyond "a string is a u64 length + bytes".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_error.h"
#include "gguf_priv.h"

#define GGUF_CHUNK		(64u * 1024)	/* smallest arena chunk */

struct rt_gguf_chunk {
	struct rt_gguf_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

static const char *const gguf_type_names[] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
	"u64", "i64", "f64",
};

const char *rt_gguf_type_name(uint32_t type)
{
	return type <= RT_GGUF_FLOAT64 ? gguf_type_names[type] : "?";
}

int rt_gguf_err(struct rt_gguf_parser *p, int err, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->ctx[0])
		return rt_set_error(err, "%s: %s: %s", p->name, p->ctx, msg);
	return rt_set_error(err, "%s: %s", p->name, msg);
}

/* ------------------------------------------------------------ byte source */

static int pread_full(struct rt_gguf_parser *p, void *buf, size_t n, uint64_t off)
{
	uint8_t *b = buf;

	while (n) {
		ssize_t r = pread(p->fd, b, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return rt_gguf_err(p, -errno, "read at offset %" PRIu64 ": %s", off,
				    strerror(errno));
		}
		if (r == 0)
			return rt_gguf_err(p, -EIO, "file shrank while reading (offset %" PRIu64 ")", off);
		b += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* src_read - copy [off, off+n) of the source; the caller checked the bounds */
static int src_read(struct rt_gguf_parser *p, uint64_t off, void *dst, size_t n)
{
	uint8_t *d = dst;
	size_t len;
	int ret;

	if (p->mem) {
		if (n)
			memcpy(d, p->mem + off, n);
		return 0;
	}
	while (n) {
		if (off >= p->win_off && off < p->win_off + p->win_len) {
			size_t k = (size_t)(p->win_off + p->win_len - off);

			if (k > n)
				k = n;
			memcpy(d, p->win + (off - p->win_off), k);
			d += k;
			off += k;
			n -= k;
			continue;
		}
		if (n >= p->win_cap)
			return pread_full(p, d, n, off);
		len = p->size - off < p->win_cap ? (size_t)(p->size - off) : p->win_cap;
		p->win_len = 0;
		ret = pread_full(p, p->win, len, off);
		if (ret)
			return ret;
		p->win_off = off;
		p->win_len = len;
	}
	return 0;
}

/* rt_gguf_rd - read @n bytes at the cursor; truncation is an error naming @what */
int rt_gguf_rd(struct rt_gguf_parser *p, void *dst, uint64_t n, const char *what)
{
	int ret;

	if (n > rt_gguf_left(p))
		return rt_gguf_err(p, -EINVAL, "truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64
			    ", file size %" PRIu64, what, n, p->pos, p->size);
	ret = src_read(p, p->pos, dst, (size_t)n);
	if (ret)
		return ret;
	p->pos += n;
	return 0;
}

int rt_gguf_rd_u32(struct rt_gguf_parser *p, uint32_t *v, const char *what)
{
	uint8_t b[4];
	int ret = rt_gguf_rd(p, b, 4, what);

	if (ret)
		return ret;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

int rt_gguf_rd_u64(struct rt_gguf_parser *p, uint64_t *v, const char *what)
{
	uint8_t b[8];
	int ret = rt_gguf_rd(p, b, 8, what);

	if (ret)
		return ret;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return 0;
}

/* ------------------------------------------------------------------ arena */

/* rt_gguf_alloc - @n bytes (8-aligned) owned by the handle; fails with -EINVAL
 * once the metadata would need more memory than the file size allows. */
int rt_gguf_alloc(struct rt_gguf_parser *p, uint64_t n, void **out)
{
	struct rt_gguf *g = p->g;
	struct rt_gguf_chunk *c = g->arena;

	n = n < 8 ? 8 : n;
	if (n > UINT64_MAX - 8 || (n + 7) / 8 * 8 > p->budget - g->arena_bytes)
		return rt_gguf_err(p, -EINVAL, "metadata needs more than %" PRIu64
			    " bytes of memory, more than a file of %" PRIu64 " bytes can describe",
			    p->budget, p->size);
	n = (n + 7) / 8 * 8;
	if (!c || c->cap - c->used < n) {
		size_t cap = c ? c->cap * 2 : GGUF_CHUNK;

		if (cap > 8u << 20)
			cap = 8u << 20;
		if (cap < n)
			cap = (size_t)n;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return rt_gguf_err(p, -ENOMEM, "out of memory (%zu bytes)", cap);
		c->used = 0;
		c->cap = cap;
		c->next = g->arena;
		g->arena = c;
	}
	*out = (char *)c->data + c->used;
	c->used += (size_t)n;
	g->arena_bytes += n;
	return 0;
}

/* ------------------------------------------------------------ hash tables */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static const char *kv_name(const struct rt_gguf *g, uint32_t i)
{
	return g->kv[i].key;
}

static const char *tensor_name(const struct rt_gguf *g, uint32_t i)
{
	return g->tensors[i].name;
}

static int64_t probe(const struct rt_gguf *g, const uint32_t *tab, uint64_t mask,
		     const char *(*name_of)(const struct rt_gguf *, uint32_t),
		     const char *name, uint64_t *slot)
{
	uint64_t h;

	if (!tab)
		return -1;
	for (h = name_hash(name) & mask;; h = (h + 1) & mask) {
		uint32_t e = tab[h];

		if (!e) {
			if (slot)
				*slot = h;
			return -1;
		}
		if (!strcmp(name_of(g, e - 1), name))
			return e - 1;
	}
}

int64_t rt_gguf_probe(const struct rt_gguf *g, bool tensor, const char *name, uint64_t *slot)
{
	if (tensor)
		return probe(g, g->t_hash, g->t_mask, tensor_name, name, slot);
	return probe(g, g->kv_hash, g->kv_mask, kv_name, name, slot);
}

int64_t rt_gguf_kv_lookup(const struct rt_gguf *g, const char *name)
{
	return probe(g, g->kv_hash, g->kv_mask, kv_name, name, NULL);
}

int64_t rt_gguf_tensor_lookup(const struct rt_gguf *g, const char *name)
{
	return probe(g, g->t_hash, g->t_mask, tensor_name, name, NULL);
}

int rt_gguf_table_alloc(struct rt_gguf_parser *p, uint64_t n, uint32_t **tab, uint64_t *mask)
{
	uint64_t slots = 16;
	int ret;

	while (slots < 2 * n)
		slots *= 2;
	ret = rt_gguf_alloc(p, slots * sizeof(**tab), (void **)tab);
	if (ret)
		return ret;
	memset(*tab, 0, slots * sizeof(**tab));
	*mask = slots - 1;
	return 0;
}

/* ---------------------------------------------------------------- strings */

/* rt_gguf_rd_str - a GGUF string (u64 length + bytes) copied NUL-terminated into the
 * arena. Names (@max_len != 0) must be non-empty, at most @max_len bytes and
 * free of NUL bytes. */
int rt_gguf_rd_str(struct rt_gguf_parser *p, const char *what, uint64_t max_len,
		  struct rt_gguf_str *out)
{
	uint64_t len;
	char *s;
	int ret;

	ret = rt_gguf_rd_u64(p, &len, what);
	if (ret)
		return ret;
	if (len > rt_gguf_left(p))
		return rt_gguf_err(p, -EINVAL, "%s length %" PRIu64 " beyond end of file (offset %"
			    PRIu64 ", %" PRIu64 " bytes left)", what, len, p->pos, rt_gguf_left(p));
	if (max_len && (len == 0 || len > max_len))
		return rt_gguf_err(p, -EINVAL, "%s length %" PRIu64 " (must be 1..%" PRIu64 ")",
			    what, len, max_len);
	ret = rt_gguf_alloc(p, len + 1, (void **)&s);
	if (ret)
		return ret;
	ret = rt_gguf_rd(p, s, len, what);
	if (ret)
		return ret;
	s[len] = '\0';
	if (max_len && memchr(s, '\0', (size_t)len))
		return rt_gguf_err(p, -EINVAL, "%s '%s' contains a NUL byte", what, s);
	out->s = s;
	out->len = len;
	return 0;
}

void rt_gguf_close(struct rt_gguf *g)
{
	struct rt_gguf_chunk *c, *next;

	if (!g)
		return;
	for (c = g->arena; c; c = next) {
		next = c->next;
		free(c);
	}
	free(g->path);
	free(g);
}
