// SPDX-License-Identifier: MIT
/*
 * GGUF reader: the format. Parses and validates the header, metadata and
 * tensor table of a GGUF v2/v3 file (bounded reads through gguf_io.c): every
 * count, length, type, shape and offset is checked against the file before
 * it is used. Tensor data is never read here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "gguf_priv.h"

#define GGUF_DEFAULT_ALIGNMENT	32
#define GGUF_MAX_DIMS		4
#define GGUF_MAX_NAME		64		/* tensor name bytes (GGUF spec) */
#define GGUF_MAX_KEY		65535		/* key bytes (GGUF spec) */
#define GGUF_MAX_ENTRIES	(1u << 30)	/* hash slots hold u32 indices */
#define GGUF_MIN_KV_BYTES	14		/* key len 8 + 1 + type 4 + u8 value 1 */
#define GGUF_MIN_TENSOR_BYTES	33		/* len 8 + 1 + n_dims 4 + ne 8 + type 4 + off 8 */

static const uint8_t gguf_type_size[] = {
	[RT_GGUF_UINT8] = 1, [RT_GGUF_INT8] = 1, [RT_GGUF_UINT16] = 2, [RT_GGUF_INT16] = 2,
	[RT_GGUF_UINT32] = 4, [RT_GGUF_INT32] = 4, [RT_GGUF_FLOAT32] = 4, [RT_GGUF_BOOL] = 1,
	[RT_GGUF_STRING] = 8, [RT_GGUF_ARRAY] = 0, [RT_GGUF_UINT64] = 8, [RT_GGUF_INT64] = 8,
	[RT_GGUF_FLOAT64] = 8,
};

/* -------------------------------------------------------------- metadata */

static int rd_scalar(struct rt_gguf_parser *p, uint32_t type, struct rt_gguf_kv *kv)
{
	uint8_t b[8] = { 0 };
	uint64_t u = 0;
	unsigned int n = gguf_type_size[type];
	int ret;

	ret = rt_gguf_rd(p, b, n, "value");
	if (ret)
		return ret;
	for (int i = (int)n - 1; i >= 0; i--)
		u = u << 8 | b[i];
	switch (type) {
	case RT_GGUF_INT8:
		kv->v.i = (int8_t)u;
		break;
	case RT_GGUF_INT16:
		kv->v.i = (int16_t)u;
		break;
	case RT_GGUF_INT32:
		kv->v.i = (int32_t)u;
		break;
	case RT_GGUF_INT64:
		kv->v.i = (int64_t)u;
		break;
	case RT_GGUF_FLOAT32: {
		uint32_t w = (uint32_t)u;

		memcpy(&kv->v.f32, &w, 4);
		break;
	}
	case RT_GGUF_FLOAT64:
		memcpy(&kv->v.f64, &u, 8);
		break;
	case RT_GGUF_BOOL:
		if (u > 1)
			return rt_gguf_err(p, -EINVAL, "bool value %" PRIu64 " (must be 0 or 1)", u);
		kv->v.b = u;
		break;
	default:
		kv->v.u = u;
		break;
	}
	return 0;
}

static int rd_array(struct rt_gguf_parser *p, struct rt_gguf_kv *kv)
{
	uint64_t n, esize;
	uint32_t at;
	int ret;

	ret = rt_gguf_rd_u32(p, &at, "array element type");
	if (ret)
		return ret;
	if (at == RT_GGUF_ARRAY)
		return rt_gguf_err(p, -EINVAL, "nested arrays are not supported");
	if (at > RT_GGUF_FLOAT64)
		return rt_gguf_err(p, -EINVAL, "array element type %" PRIu32 " is not a GGUF type", at);
	ret = rt_gguf_rd_u64(p, &n, "array length");
	if (ret)
		return ret;
	esize = gguf_type_size[at];
	if (n > rt_gguf_left(p) / esize)
		return rt_gguf_err(p, -EINVAL, "array of %" PRIu64 " %s elements is larger than the rest "
			    "of the file (%" PRIu64 " bytes left at offset %" PRIu64 ")",
			    n, rt_gguf_type_name(at), rt_gguf_left(p), p->pos);
	kv->atype = at;
	kv->n = n;
	if (at == RT_GGUF_STRING) {
		struct rt_gguf_str *strs;
		char what[48];

		ret = rt_gguf_alloc(p, n * sizeof(*strs), (void **)&strs);
		if (ret)
			return ret;
		for (uint64_t i = 0; i < n; i++) {
			snprintf(what, sizeof(what), "string %" PRIu64, i);
			ret = rt_gguf_rd_str(p, what, 0, &strs[i]);
			if (ret)
				return ret;
		}
		kv->v.arr = strs;
		return 0;
	}
	ret = rt_gguf_alloc(p, n * esize, &kv->v.arr);
	if (ret)
		return ret;
	ret = rt_gguf_rd(p, kv->v.arr, n * esize, "array data");
	if (ret)
		return ret;
	if (at == RT_GGUF_BOOL) {
		const uint8_t *b = kv->v.arr;

		for (uint64_t i = 0; i < n; i++)
			if (b[i] > 1)
				return rt_gguf_err(p, -EINVAL, "bool element %" PRIu64 " is %u (must be 0 or 1)",
					    i, b[i]);
	}
	return 0;
}

static int rd_kv(struct rt_gguf_parser *p, int64_t i)
{
	struct rt_gguf *g = p->g;
	struct rt_gguf_kv *kv = &g->kv[i];
	struct rt_gguf_str key;
	uint64_t slot = 0;
	int ret;

	snprintf(p->ctx, sizeof(p->ctx), "key %" PRId64, i);
	ret = rt_gguf_rd_str(p, "key", GGUF_MAX_KEY, &key);
	if (ret)
		return ret;
	snprintf(p->ctx, sizeof(p->ctx), "key '%.80s'", key.s);
	if (rt_gguf_probe(g, false, key.s, &slot) >= 0)
		return rt_gguf_err(p, -EINVAL, "duplicate key");
	kv->key = key.s;
	g->kv_hash[slot] = (uint32_t)i + 1;
	g->n_kv = i + 1;

	ret = rt_gguf_rd_u32(p, &kv->type, "value type");
	if (ret)
		return ret;
	if (kv->type > RT_GGUF_FLOAT64)
		return rt_gguf_err(p, -EINVAL, "value type %" PRIu32 " is not a GGUF type", kv->type);
	if (kv->type == RT_GGUF_STRING)
		return rt_gguf_rd_str(p, "string value", 0, &kv->v.str);
	if (kv->type == RT_GGUF_ARRAY)
		return rd_array(p, kv);
	return rd_scalar(p, kv->type, kv);
}

static int read_alignment(struct rt_gguf_parser *p)
{
	struct rt_gguf *g = p->g;
	int64_t i = rt_gguf_kv_lookup(g, "general.alignment");
	const struct rt_gguf_kv *kv;
	uint64_t a;

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (i < 0)
		return 0;
	kv = &g->kv[i];
	snprintf(p->ctx, sizeof(p->ctx), "key 'general.alignment'");
	switch (kv->type) {
	case RT_GGUF_UINT8: case RT_GGUF_UINT16: case RT_GGUF_UINT32: case RT_GGUF_UINT64:
		a = kv->v.u;
		break;
	case RT_GGUF_INT8: case RT_GGUF_INT16: case RT_GGUF_INT32: case RT_GGUF_INT64:
		if (kv->v.i <= 0)
			return rt_gguf_err(p, -EINVAL, "alignment %" PRId64 " is not a power of two",
				    kv->v.i);
		a = (uint64_t)kv->v.i;
		break;
	default:
		return rt_gguf_err(p, -EINVAL, "type %s (expected u32)", rt_gguf_type_name(kv->type));
	}
	if (a == 0 || (a & (a - 1)) || a > UINT32_MAX)
		return rt_gguf_err(p, -EINVAL, "alignment %" PRIu64 " is not a power of two in u32", a);
	g->alignment = a;
	p->ctx[0] = '\0';
	return 0;
}

/* --------------------------------------------------------------- tensors */

static int rd_tensor(struct rt_gguf_parser *p, int64_t i)
{
	struct rt_gguf *g = p->g;
	struct rt_gguf_tensor *t = &g->tensors[i];
	struct rt_gguf_str name;
	uint64_t slot = 0, u, rows = 1, row_bytes;
	int64_t nel = 1, blk;
	size_t bb;
	int ret;

	snprintf(p->ctx, sizeof(p->ctx), "tensor %" PRId64, i);
	ret = rt_gguf_rd_str(p, "name", GGUF_MAX_NAME, &name);
	if (ret)
		return ret;
	snprintf(p->ctx, sizeof(p->ctx), "tensor '%s'", name.s);
	if (rt_gguf_probe(g, true, name.s, &slot) >= 0)
		return rt_gguf_err(p, -EINVAL, "duplicate tensor name");
	t->name = name.s;
	g->t_hash[slot] = (uint32_t)i + 1;
	g->n_tensors = i + 1;

	ret = rt_gguf_rd_u32(p, &t->n_dims, "n_dims");
	if (ret)
		return ret;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return rt_gguf_err(p, -EINVAL, "n_dims %" PRIu32 " (must be 1..%d)", t->n_dims,
			    GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		ret = rt_gguf_rd_u64(p, &u, "ne");
		if (ret)
			return ret;
		if (u == 0 || u > INT64_MAX)
			return rt_gguf_err(p, -EINVAL, "ne[%" PRIu32 "] = %" PRIu64 " (must be 1..2^63-1)",
				    d, u);
		t->ne[d] = (int64_t)u;
		if (__builtin_mul_overflow(nel, t->ne[d], &nel))
			return rt_gguf_err(p, -EINVAL, "element count overflows int64 (ne[%" PRIu32
				    "] = %" PRId64 ")", d, t->ne[d]);
		if (d > 0)
			rows *= u;	/* <= nel, cannot overflow */
	}
	ret = rt_gguf_rd_u32(p, &t->type, "type");
	if (ret)
		return ret;
	if (!accel_dtype_name(t->type))
		return rt_gguf_err(p, -EINVAL, "unknown ggml type %" PRIu32, t->type);
	blk = accel_dtype_block_size(t->type);
	bb = accel_dtype_block_bytes(t->type);
	if (blk <= 0 || bb == 0)
		return rt_gguf_err(p, -EINVAL, "ggml type %" PRIu32 " has no block layout", t->type);
	if (t->ne[0] % blk)
		return rt_gguf_err(p, -EINVAL, "ne[0] = %" PRId64 " is not a multiple of the %s block "
			    "size %" PRId64, t->ne[0], accel_dtype_name(t->type), blk);
	/* accel_dtype_row_size does not check for overflow: do it first */
	if (__builtin_mul_overflow((uint64_t)(t->ne[0] / blk), (uint64_t)bb, &row_bytes) ||
	    row_bytes != accel_dtype_row_size(t->type, t->ne[0]) ||
	    __builtin_mul_overflow(row_bytes, rows, &t->size))
		return rt_gguf_err(p, -EINVAL, "byte size overflows (ne = [%" PRId64 ", %" PRId64 ", %"
			    PRId64 ", %" PRId64 "], type %s)", t->ne[0], t->ne[1], t->ne[2],
			    t->ne[3], accel_dtype_name(t->type));
	ret = rt_gguf_rd_u64(p, &t->offset, "offset");
	if (ret)
		return ret;
	if (t->offset % g->alignment)
		return rt_gguf_err(p, -EINVAL, "offset %" PRIu64 " is not a multiple of the alignment %"
			    PRIu64, t->offset, g->alignment);
	return 0;
}

static int cmp_offset(const void *a, const void *b, void *arg)
{
	const struct rt_gguf_tensor *t = arg;
	uint64_t x = t[*(const uint32_t *)a].offset, y = t[*(const uint32_t *)b].offset;

	return x < y ? -1 : x > y;
}

/* place_tensors - absolute offsets; each tensor inside the file, none overlapping */
static int place_tensors(struct rt_gguf_parser *p)
{
	struct rt_gguf *g = p->g;
	uint32_t *order;
	int ret = 0;

	for (int64_t i = 0; i < g->n_tensors; i++) {
		struct rt_gguf_tensor *t = &g->tensors[i];
		uint64_t abs;

		snprintf(p->ctx, sizeof(p->ctx), "tensor '%s'", t->name);
		if (__builtin_add_overflow(g->data_offset, t->offset, &abs) || abs > p->size ||
		    t->size > p->size - abs)
			return rt_gguf_err(p, -EINVAL, "offset %" PRIu64 " + size %" PRIu64
				    " beyond end of file (%" PRIu64 ")",
				    abs < g->data_offset ? t->offset : abs, t->size, p->size);
		t->offset = abs;
	}
	p->ctx[0] = '\0';
	if (g->n_tensors < 2)
		return 0;
	order = malloc((size_t)g->n_tensors * sizeof(*order));
	if (!order)
		return rt_gguf_err(p, -ENOMEM, "out of memory (tensor order)");
	for (int64_t i = 0; i < g->n_tensors; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, (size_t)g->n_tensors, sizeof(*order), cmp_offset, g->tensors);
	for (int64_t i = 1; i < g->n_tensors; i++) {
		const struct rt_gguf_tensor *a = &g->tensors[order[i - 1]];
		const struct rt_gguf_tensor *b = &g->tensors[order[i]];

		if (a->offset + a->size > b->offset) {
			ret = rt_gguf_err(p, -EINVAL, "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%"
				   PRIu64 ", %" PRIu64 ") overlap", a->name, a->offset,
				   a->offset + a->size, b->name, b->offset, b->offset + b->size);
			break;
		}
	}
	free(order);
	return ret;
}

/* ------------------------------------------------------------------ parse */

static int parse_header(struct rt_gguf_parser *p, uint64_t *n_tensors, uint64_t *n_kv)
{
	struct rt_gguf *g = p->g;
	uint8_t magic[4];
	uint32_t v, swapped;
	int ret;

	if (p->size < 4)
		return rt_gguf_err(p, -EINVAL, "not a GGUF file (%" PRIu64 " bytes)", p->size);
	ret = rt_gguf_rd(p, magic, 4, "magic");
	if (ret)
		return ret;
	if (memcmp(magic, "GGUF", 4))
		return rt_gguf_err(p, -EINVAL, "not a GGUF file (magic %02x %02x %02x %02x, expected "
			    "47 47 55 46 \"GGUF\")", magic[0], magic[1], magic[2], magic[3]);
	ret = rt_gguf_rd_u32(p, &v, "version");
	if (ret)
		return ret;
	swapped = __builtin_bswap32(v);
	if (v == 1)
		return rt_gguf_err(p, -EINVAL, "GGUF v1 is not supported (convert with a current llama.cpp)");
	if (!(v & 0xffff) && swapped >= 1 && swapped <= 3)
		return rt_gguf_err(p, -EINVAL, "big-endian GGUF (version field 0x%08" PRIx32
			    ") is not supported", v);
	if (v != 2 && v != 3)
		return rt_gguf_err(p, -EINVAL, "unsupported GGUF version %" PRIu32 " (expected 2 or 3)", v);
	g->version = v;
	ret = rt_gguf_rd_u64(p, n_tensors, "tensor count");
	if (ret)
		return ret;
	ret = rt_gguf_rd_u64(p, n_kv, "metadata count");
	if (ret)
		return ret;
	if (*n_kv > rt_gguf_left(p) / GGUF_MIN_KV_BYTES || *n_kv > GGUF_MAX_ENTRIES)
		return rt_gguf_err(p, -EINVAL, "metadata count %" PRIu64 " is more than the rest of the "
			    "file could hold (%" PRIu64 " bytes, >= %d per key)", *n_kv, rt_gguf_left(p),
			    GGUF_MIN_KV_BYTES);
	if (*n_tensors > rt_gguf_left(p) / GGUF_MIN_TENSOR_BYTES || *n_tensors > GGUF_MAX_ENTRIES)
		return rt_gguf_err(p, -EINVAL, "tensor count %" PRIu64 " is more than the rest of the "
			    "file could hold (%" PRIu64 " bytes, >= %d per tensor)", *n_tensors,
			    rt_gguf_left(p), GGUF_MIN_TENSOR_BYTES);
	return 0;
}

static int parse(struct rt_gguf_parser *p)
{
	struct rt_gguf *g = p->g;
	uint64_t n_tensors, n_kv;
	int ret;

	g->file_size = p->size;
	/* Every arena byte stands for at most a few file bytes (a 13-byte key
	 * costs a 48-byte entry, its copy and hash slots); see rt_gguf_alloc. */
	p->budget = p->size > (UINT64_MAX >> 4) ? UINT64_MAX : p->size * 8 + (1u << 20);
	ret = parse_header(p, &n_tensors, &n_kv);
	if (ret)
		return ret;

	ret = rt_gguf_alloc(p, n_kv * sizeof(*g->kv), (void **)&g->kv);
	if (!ret)
		ret = rt_gguf_table_alloc(p, n_kv, &g->kv_hash, &g->kv_mask);
	for (uint64_t i = 0; !ret && i < n_kv; i++)
		ret = rd_kv(p, (int64_t)i);
	if (!ret)
		ret = read_alignment(p);
	if (ret)
		return ret;

	ret = rt_gguf_alloc(p, n_tensors * sizeof(*g->tensors), (void **)&g->tensors);
	if (!ret)
		ret = rt_gguf_table_alloc(p, n_tensors, &g->t_hash, &g->t_mask);
	for (uint64_t i = 0; !ret && i < n_tensors; i++)
		ret = rd_tensor(p, (int64_t)i);
	if (ret)
		return ret;
	p->ctx[0] = '\0';
	/* pos <= size, and alignment <= 2^31: no overflow */
	g->data_offset = (p->pos + g->alignment - 1) / g->alignment * g->alignment;
	return place_tensors(p);
}

static int parser_run(struct rt_gguf_parser *p, struct rt_gguf **out)
{
	struct rt_gguf *g;
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return rt_gguf_err(p, -ENOMEM, "out of memory");
	p->g = g;
	ret = parse(p);
	if (ret) {
		rt_gguf_close(g);
		return ret;
	}
	*out = g;
	return 0;
}

int rt_gguf_open_mem(const void *data, size_t size, struct rt_gguf **out)
{
	struct rt_gguf_parser p = {
		.name = "<memory>", .mem = data, .fd = -1, .size = size,
	};

	*out = NULL;
	if (!data && size)
		return rt_set_error(-EINVAL, "<memory>: NULL buffer of %zu bytes", size);
	if (!data)
		p.mem = (const uint8_t *)"";
	return parser_run(&p, out);
}

int rt_gguf_open(const char *path, struct rt_gguf **out)
{
	struct rt_gguf_parser p = { .name = path, .fd = -1 };
	struct stat st;
	char *copy;
	int ret;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO nobody writes must not hang (it is refused
	 * just below as not a regular file); no effect on a regular file's reads */
	p.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (p.fd < 0)
		return rt_set_error(-errno, "%s: %s", path, strerror(errno));
	if (fstat(p.fd, &st)) {
		ret = rt_gguf_err(&p, -errno, "stat: %s", strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = rt_gguf_err(&p, -EINVAL, "not a regular file (%s)",
				  S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
				  S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a socket");
		goto out_close;
	}
	p.size = (uint64_t)st.st_size;
	p.win_cap = p.size < RT_GGUF_WINDOW ? (size_t)p.size : RT_GGUF_WINDOW;
	p.win = malloc(p.win_cap ? p.win_cap : 1);
	copy = strdup(path);
	if (!p.win || !copy) {
		free(copy);
		ret = rt_gguf_err(&p, -ENOMEM, "out of memory");
		goto out_free;
	}
	ret = parser_run(&p, out);
	if (ret)
		free(copy);
	else
		(*out)->path = copy;
out_free:
	free(p.win);
out_close:
	close(p.fd);
	return ret;
}
