// SPDX-License-Identifier: MIT
/*
 * GGUF reader lookups: header facts, metadata keys and typed getters, tensor
 * table. Reads only what gguf.c parsed and validated; never touches the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "rt_error.h"
#include "rt_gguf.h"
#include "gguf_priv.h"

static const char *gname(const struct rt_gguf *g)
{
	return g->path ? g->path : "<memory>";
}

uint32_t rt_gguf_version(const struct rt_gguf *g)
{
	return g->version;
}

uint64_t rt_gguf_alignment(const struct rt_gguf *g)
{
	return g->alignment;
}

uint64_t rt_gguf_data_offset(const struct rt_gguf *g)
{
	return g->data_offset;
}

uint64_t rt_gguf_file_size(const struct rt_gguf *g)
{
	return g->file_size;
}

const char *rt_gguf_path(const struct rt_gguf *g)
{
	return g->path;
}

/* ---------------------------------------------------------------- metadata */

int64_t rt_gguf_n_kv(const struct rt_gguf *g)
{
	return g->n_kv;
}

const char *rt_gguf_kv_key(const struct rt_gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

enum rt_gguf_type rt_gguf_kv_type(const struct rt_gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_kv ? (enum rt_gguf_type)g->kv[i].type : (enum rt_gguf_type)-1;
}

int64_t rt_gguf_find_key(const struct rt_gguf *g, const char *key)
{
	int64_t i = key ? rt_gguf_kv_lookup(g, key) : -1;

	return i < 0 ? -ENOENT : i;
}

/* find - the entry for @key, or NULL with -ENOENT in *err and a message */
static const struct rt_gguf_kv *find(const struct rt_gguf *g, const char *key, int *err)
{
	int64_t i = key ? rt_gguf_kv_lookup(g, key) : -1;

	if (i < 0) {
		*err = rt_set_error(-ENOENT, "%s: no key '%s'", gname(g), key ? key : "(null)");
		return NULL;
	}
	return &g->kv[i];
}

static int wrong_type(const struct rt_gguf *g, const struct rt_gguf_kv *kv, const char *want)
{
	return rt_set_error(-EINVAL, "%s: key '%s' is %s, not %s", gname(g), kv->key,
			    rt_gguf_type_name(kv->type), want);
}

static bool is_unsigned(uint32_t t)
{
	return t == RT_GGUF_UINT8 || t == RT_GGUF_UINT16 || t == RT_GGUF_UINT32 ||
	       t == RT_GGUF_UINT64;
}

static bool is_signed(uint32_t t)
{
	return t == RT_GGUF_INT8 || t == RT_GGUF_INT16 || t == RT_GGUF_INT32 ||
	       t == RT_GGUF_INT64;
}

/* get_int - any integer value of @key within [lo, hi] */
static int get_int(const struct rt_gguf *g, const char *key, int64_t lo, uint64_t hi,
		   const char *want, int64_t *sv, uint64_t *uv)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (is_unsigned(kv->type)) {
		if (kv->v.u > hi)
			return rt_set_error(-EINVAL, "%s: key '%s' = %" PRIu64 " does not fit in %s",
					    gname(g), key, kv->v.u, want);
		*uv = kv->v.u;
		*sv = (int64_t)kv->v.u;
		return 0;
	}
	if (is_signed(kv->type)) {
		if (kv->v.i < lo || (kv->v.i > 0 && (uint64_t)kv->v.i > hi))
			return rt_set_error(-EINVAL, "%s: key '%s' = %" PRId64 " does not fit in %s",
					    gname(g), key, kv->v.i, want);
		*uv = (uint64_t)kv->v.i;
		*sv = kv->v.i;
		return 0;
	}
	return wrong_type(g, kv, "an integer");
}

int rt_gguf_get_u32(const struct rt_gguf *g, const char *key, uint32_t *v)
{
	int64_t s;
	uint64_t u;
	int ret = get_int(g, key, 0, UINT32_MAX, "u32", &s, &u);

	if (!ret)
		*v = (uint32_t)u;
	return ret;
}

int rt_gguf_get_i64(const struct rt_gguf *g, const char *key, int64_t *v)
{
	int64_t s;
	uint64_t u;
	int ret = get_int(g, key, INT64_MIN, INT64_MAX, "i64", &s, &u);

	if (!ret)
		*v = s;
	return ret;
}

int rt_gguf_get_f32(const struct rt_gguf *g, const char *key, float *v)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (kv->type == RT_GGUF_FLOAT32)
		*v = kv->v.f32;
	else if (kv->type == RT_GGUF_FLOAT64)
		*v = (float)kv->v.f64;
	else
		return wrong_type(g, kv, "a float");
	return 0;
}

int rt_gguf_get_bool(const struct rt_gguf *g, const char *key, bool *v)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (kv->type != RT_GGUF_BOOL)
		return wrong_type(g, kv, "bool");
	*v = kv->v.b;
	return 0;
}

int rt_gguf_get_str(const struct rt_gguf *g, const char *key, struct rt_gguf_str *v)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (kv->type != RT_GGUF_STRING)
		return wrong_type(g, kv, "string");
	*v = kv->v.str;
	return 0;
}

int rt_gguf_get_arr(const struct rt_gguf *g, const char *key, enum rt_gguf_type *type,
		    uint64_t *n, const void **data)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (kv->type != RT_GGUF_ARRAY)
		return wrong_type(g, kv, "array");
	if (type)
		*type = (enum rt_gguf_type)kv->atype;
	if (n)
		*n = kv->n;
	if (data)
		*data = kv->v.arr;
	return 0;
}

int rt_gguf_get_arr_str(const struct rt_gguf *g, const char *key, uint64_t i,
			struct rt_gguf_str *v)
{
	const struct rt_gguf_kv *kv;
	int err = 0;

	kv = find(g, key, &err);
	if (!kv)
		return err;
	if (kv->type != RT_GGUF_ARRAY || kv->atype != RT_GGUF_STRING)
		return rt_set_error(-EINVAL, "%s: key '%s' is not an array of strings", gname(g),
				    key);
	if (i >= kv->n)
		return rt_set_error(-EINVAL, "%s: key '%s': index %" PRIu64 " out of range (%"
				    PRIu64 " strings)", gname(g), key, i, kv->n);
	*v = ((const struct rt_gguf_str *)kv->v.arr)[i];
	return 0;
}

/* ----------------------------------------------------------------- tensors */

int64_t rt_gguf_n_tensors(const struct rt_gguf *g)
{
	return g->n_tensors;
}

const struct rt_gguf_tensor *rt_gguf_tensor(const struct rt_gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct rt_gguf_tensor *rt_gguf_find_tensor(const struct rt_gguf *g, const char *name)
{
	int64_t i = name ? rt_gguf_tensor_lookup(g, name) : -1;

	return i < 0 ? NULL : &g->tensors[i];
}
