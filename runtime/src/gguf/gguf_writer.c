// SPDX-License-Identifier: MIT
/*
 * GGUF v3 writer: metadata serialized as it is set, a tensor table with
 * aligned offsets, and a streaming append path with one small output buffer,
 * so no tensor is ever held whole. Written atomically: the bytes go to a
 * temporary file in the target's directory (O_EXCL, mkostemp) renamed over
 * the target at finish, so a failed or interrupted write leaves the old
 * file untouched and the temporary one removed. A target that exists and is
 * not a regular file (/dev/null, a FIFO) is written in place, never removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "rt_error.h"
#include "rt_gguf_writer.h"

#define GGUF_MAGIC	"GGUF"
#define GGUF_VERSION	3u
#define W_MAX_NAME	64		/* ggml's GGML_MAX_NAME, NUL included */
#define W_BUF_SIZE	(1u << 20)

struct w_kv {
	char *key;
	uint8_t *data;		/* serialized: key, type, value */
	size_t len;
};

struct w_tensor {
	char name[W_MAX_NAME];
	uint32_t type;
	uint32_t n_dims;
	int64_t ne[4];
	uint64_t size;
	uint64_t offset;	/* relative to the data section */
};

struct rt_gguf_writer {
	struct w_kv *kv;
	int64_t n_kv, cap_kv;
	struct w_tensor *t;
	int64_t n_t, cap_t;
	uint32_t alignment;
	bool alignment_set;

	/* streaming state (after _open) */
	int fd;
	bool is_reg;		/* a regular file: written to tmp, renamed */
	char *tmp;		/* the temporary file while it exists, else NULL */
	bool opened, failed, finished;
	char *path;
	uint8_t *buf;
	size_t buf_len;
	uint64_t flushed;	/* bytes handed to write() successfully */
	uint64_t file_size;
	int64_t cur;		/* tensor being appended */
	uint64_t cur_done;	/* its bytes appended so far */
};

/* growable byte buffer used to serialize one key/value */
struct sbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void sb_put(struct sbuf *b, const void *src, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void sb_u32(struct sbuf *b, uint32_t v)
{
	sb_put(b, &v, 4);	/* GGUF is little-endian; so are our targets */
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
	sb_put(b, &v, 8);
}

static void sb_str(struct sbuf *b, const char *s, uint64_t len)
{
	sb_u64(b, len);
	sb_put(b, s, len);
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* scalar value sizes by GGUF type; 0 for STRING/ARRAY/unknown */
static size_t scalar_size(uint32_t t)
{
	switch (t) {
	case RT_GGUF_UINT8: case RT_GGUF_INT8: case RT_GGUF_BOOL: return 1;
	case RT_GGUF_UINT16: case RT_GGUF_INT16: return 2;
	case RT_GGUF_UINT32: case RT_GGUF_INT32: case RT_GGUF_FLOAT32: return 4;
	case RT_GGUF_UINT64: case RT_GGUF_INT64: case RT_GGUF_FLOAT64: return 8;
	default: return 0;
	}
}

int rt_gguf_writer_create(struct rt_gguf_writer **out)
{
	struct rt_gguf_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return rt_set_error(-ENOMEM, "gguf writer: out of memory");
	w->alignment = 32;
	w->fd = -1;
	*out = w;
	return 0;
}

/* fail - the writer cannot go on: close and remove the partial file */
static int fail(struct rt_gguf_writer *w, int err)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->tmp) {
		unlink(w->tmp);
		free(w->tmp);
		w->tmp = NULL;
	}
	w->failed = true;
	return err;
}

void rt_gguf_writer_destroy(struct rt_gguf_writer *w)
{
	int64_t i;

	if (!w)
		return;
	if (w->fd >= 0 || w->tmp)
		fail(w, 0);
	for (i = 0; i < w->n_kv; i++) {
		free(w->kv[i].key);
		free(w->kv[i].data);
	}
	free(w->kv);
	free(w->t);
	free(w->path);
	free(w->buf);
	free(w);
}

/* ------------------------------------------------------------- metadata */

static int check_key(struct rt_gguf_writer *w, const char *key)
{
	int64_t i;
	size_t len;

	if (w->opened)
		return rt_set_error(-EINVAL, "gguf writer: key '%s' set after the file was opened",
				    key ? key : "(null)");
	if (!key || !(len = strlen(key)) || len > 65535)
		return rt_set_error(-EINVAL, "gguf writer: a key must be 1..65535 bytes");
	for (i = 0; i < w->n_kv; i++)
		if (!strcmp(w->kv[i].key, key))
			return rt_set_error(-EEXIST, "gguf writer: key '%s' set twice", key);
	return 0;
}

/* add_kv - take ownership of a serialized entry (key included in @b) */
static int add_kv(struct rt_gguf_writer *w, const char *key, struct sbuf *b)
{
	struct w_kv *kv;
	char *k;

	if (b->err)
		goto err_nomem;
	if (w->n_kv == w->cap_kv) {
		int64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;

		kv = realloc(w->kv, (size_t)cap * sizeof(*kv));
		if (!kv)
			goto err_nomem;
		w->kv = kv;
		w->cap_kv = cap;
	}
	k = strdup(key);
	if (!k)
		goto err_nomem;
	w->kv[w->n_kv++] = (struct w_kv){ .key = k, .data = b->p, .len = b->len };
	return 0;

err_nomem:
	free(b->p);
	return rt_set_error(-ENOMEM, "gguf writer: out of memory for key '%s'", key);
}

static void sb_head(struct sbuf *b, const char *key, uint32_t type)
{
	sb_str(b, key, strlen(key));
	sb_u32(b, type);
}

static int set_scalar(struct rt_gguf_writer *w, const char *key, uint32_t type, const void *v)
{
	struct sbuf b = { 0 };
	int ret = check_key(w, key);

	if (ret)
		return ret;
	sb_head(&b, key, type);
	sb_put(&b, v, scalar_size(type));
	return add_kv(w, key, &b);
}

#define W_SETTER(name, ctype, gtype) \
int rt_gguf_writer_set_##name(struct rt_gguf_writer *w, const char *key, ctype v) \
{ \
	return set_scalar(w, key, gtype, &v); \
}

W_SETTER(u8, uint8_t, RT_GGUF_UINT8)
W_SETTER(i8, int8_t, RT_GGUF_INT8)
W_SETTER(u16, uint16_t, RT_GGUF_UINT16)
W_SETTER(i16, int16_t, RT_GGUF_INT16)
W_SETTER(u32, uint32_t, RT_GGUF_UINT32)
W_SETTER(i32, int32_t, RT_GGUF_INT32)
W_SETTER(u64, uint64_t, RT_GGUF_UINT64)
W_SETTER(i64, int64_t, RT_GGUF_INT64)
W_SETTER(f32, float, RT_GGUF_FLOAT32)
W_SETTER(f64, double, RT_GGUF_FLOAT64)

int rt_gguf_writer_set_bool(struct rt_gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v ? 1 : 0;

	return set_scalar(w, key, RT_GGUF_BOOL, &b);
}

int rt_gguf_writer_set_str(struct rt_gguf_writer *w, const char *key, const char *s)
{
	struct sbuf b = { 0 };
	int ret = check_key(w, key);

	if (ret)
		return ret;
	if (!s)
		return rt_set_error(-EINVAL, "gguf writer: key '%s': NULL string", key);
	sb_head(&b, key, RT_GGUF_STRING);
	sb_str(&b, s, strlen(s));
	return add_kv(w, key, &b);
}

int rt_gguf_writer_set_arr(struct rt_gguf_writer *w, const char *key, enum rt_gguf_type type,
			   const void *data, uint64_t n)
{
	struct sbuf b = { 0 };
	size_t es = scalar_size(type);
	int ret = check_key(w, key);

	if (ret)
		return ret;
	if (!es)
		return rt_set_error(-EINVAL, "gguf writer: key '%s': array element type %d is not"
				    " numeric", key, (int)type);
	if (n && (!data || n > SIZE_MAX / es))
		return rt_set_error(-EINVAL, "gguf writer: key '%s': bad array data", key);
	sb_head(&b, key, RT_GGUF_ARRAY);
	sb_u32(&b, type);
	sb_u64(&b, n);
	if (n)
		sb_put(&b, data, (size_t)n * es);
	return add_kv(w, key, &b);
}

int rt_gguf_writer_set_arr_str(struct rt_gguf_writer *w, const char *key,
			       const struct rt_gguf_str *v, uint64_t n)
{
	struct sbuf b = { 0 };
	uint64_t i;
	int ret = check_key(w, key);

	if (ret)
		return ret;
	if (n && !v)
		return rt_set_error(-EINVAL, "gguf writer: key '%s': NULL string array", key);
	sb_head(&b, key, RT_GGUF_ARRAY);
	sb_u32(&b, RT_GGUF_STRING);
	sb_u64(&b, n);
	for (i = 0; i < n && !b.err; i++) {
		if (v[i].len && !v[i].s) {
			free(b.p);
			return rt_set_error(-EINVAL, "gguf writer: key '%s': string %" PRIu64
					    " is NULL", key, i);
		}
		sb_str(&b, v[i].s, v[i].len);
	}
	return add_kv(w, key, &b);
}

int rt_gguf_writer_copy_kv(struct rt_gguf_writer *w, const struct rt_gguf *src, const char *key)
{
	int64_t i = rt_gguf_find_key(src, key);
	enum rt_gguf_type type, atype;
	struct rt_gguf_str s;
	const void *data;
	int64_t iv;
	uint64_t n, k;
	float f;
	bool bv;
	int ret;

	if (i < 0)
		return rt_set_error(-ENOENT, "gguf writer: source has no key '%s'", key);
	type = rt_gguf_kv_type(src, i);
	switch (type) {
	case RT_GGUF_STRING:
		ret = rt_gguf_get_str(src, key, &s);
		if (ret)
			return ret;
		{
			struct sbuf b = { 0 };

			ret = check_key(w, key);
			if (ret)
				return ret;
			sb_head(&b, key, RT_GGUF_STRING);
			sb_str(&b, s.s, s.len);
			return add_kv(w, key, &b);
		}
	case RT_GGUF_ARRAY:
		ret = rt_gguf_get_arr(src, key, &atype, &n, &data);
		if (ret)
			return ret;
		if (atype != RT_GGUF_STRING)
			return rt_gguf_writer_set_arr(w, key, atype, data, n);
		{
			struct rt_gguf_str *v = calloc(n ? n : 1, sizeof(*v));

			if (!v)
				return rt_set_error(-ENOMEM, "gguf writer: out of memory for '%s'",
						    key);
			for (k = 0, ret = 0; k < n && !ret; k++)
				ret = rt_gguf_get_arr_str(src, key, k, &v[k]);
			if (!ret)
				ret = rt_gguf_writer_set_arr_str(w, key, v, n);
			free(v);
			return ret;
		}
	case RT_GGUF_FLOAT32:
	case RT_GGUF_FLOAT64:
		ret = rt_gguf_get_f32(src, key, &f);
		if (ret)
			return ret;
		return type == RT_GGUF_FLOAT32 ? rt_gguf_writer_set_f32(w, key, f)
					       : rt_gguf_writer_set_f64(w, key, f);
	case RT_GGUF_BOOL:
		ret = rt_gguf_get_bool(src, key, &bv);
		return ret ? ret : rt_gguf_writer_set_bool(w, key, bv);
	default:
		if (!scalar_size(type))
			return rt_set_error(-EINVAL, "gguf writer: key '%s' has unknown type %d",
					    key, (int)type);
		ret = rt_gguf_get_i64(src, key, &iv);
		if (ret)
			return ret;
		/* the low bytes of the two's complement value are the value */
		return set_scalar(w, key, type, &iv);
	}
}

int64_t rt_gguf_writer_n_kv(const struct rt_gguf_writer *w)
{
	return w->n_kv;
}

int rt_gguf_writer_set_alignment(struct rt_gguf_writer *w, uint32_t alignment)
{
	int ret;

	if (!alignment || (alignment & (alignment - 1)))
		return rt_set_error(-EINVAL, "gguf writer: alignment %u is not a power of two",
				    alignment);
	if (w->n_t || w->alignment_set)
		return rt_set_error(-EINVAL, "gguf writer: alignment set twice or after tensors");
	ret = rt_gguf_writer_set_u32(w, "general.alignment", alignment);
	if (ret)
		return ret;
	w->alignment = alignment;
	w->alignment_set = true;
	return 0;
}

/* ---------------------------------------------------------- tensor table */

int64_t rt_gguf_writer_add_tensor(struct rt_gguf_writer *w, const char *name, uint32_t type,
				  uint32_t n_dims, const int64_t *ne)
{
	const char *tname = accel_dtype_name(type);
	struct w_tensor *t;
	uint64_t size, rows = 1;
	int64_t i;
	uint32_t d;

	if (w->opened)
		return rt_set_error(-EINVAL, "gguf writer: tensor added after the file was opened");
	if (!name || !*name || strlen(name) >= W_MAX_NAME)
		return rt_set_error(-EINVAL, "gguf writer: tensor name must be 1..%d bytes",
				    W_MAX_NAME - 1);
	if (!tname)
		return rt_set_error(-EINVAL, "gguf writer: tensor '%s': unknown type %u", name,
				    type);
	if (n_dims < 1 || n_dims > 4 || !ne)
		return rt_set_error(-EINVAL, "gguf writer: tensor '%s': %u dimensions", name,
				    n_dims);
	for (d = 0; d < n_dims; d++)
		if (ne[d] < 1)
			return rt_set_error(-EINVAL, "gguf writer: tensor '%s': ne[%u] = %" PRId64,
					    name, d, ne[d]);
	size = accel_dtype_row_size(type, ne[0]);
	if (!size)
		return rt_set_error(-EINVAL, "gguf writer: tensor '%s': ne[0] = %" PRId64
				    " is not a multiple of %s's block of %u", name, ne[0],
				    tname, accel_dtype_block_size(type));
	for (d = 1; d < n_dims; d++)
		if (__builtin_mul_overflow(rows, (uint64_t)ne[d], &rows))
			goto err_big;
	if (__builtin_mul_overflow(size, rows, &size) || size > (UINT64_MAX >> 2))
		goto err_big;
	for (i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return rt_set_error(-EEXIST, "gguf writer: tensor '%s' added twice", name);
	if (w->n_t == w->cap_t) {
		int64_t cap = w->cap_t ? w->cap_t * 2 : 64;

		t = realloc(w->t, (size_t)cap * sizeof(*t));
		if (!t)
			return rt_set_error(-ENOMEM, "gguf writer: out of memory");
		w->t = t;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t];
	memset(t, 0, sizeof(*t));
	strcpy(t->name, name);
	t->type = type;
	t->n_dims = n_dims;
	for (d = 0; d < 4; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->size = size;
	t->offset = w->n_t ? align_up(w->t[w->n_t - 1].offset + w->t[w->n_t - 1].size,
				      w->alignment) : 0;
	return w->n_t++;

err_big:
	return rt_set_error(-EOVERFLOW, "gguf writer: tensor '%s' is too large", name);
}

int64_t rt_gguf_writer_n_tensors(const struct rt_gguf_writer *w)
{
	return w->n_t;
}

uint64_t rt_gguf_writer_tensor_size(const struct rt_gguf_writer *w, int64_t i)
{
	return i >= 0 && i < w->n_t ? w->t[i].size : 0;
}

uint64_t rt_gguf_writer_tensor_offset(const struct rt_gguf_writer *w, int64_t i)
{
	return i >= 0 && i < w->n_t ? w->t[i].offset : 0;
}

/* meta_size - header + metadata + tensor table, before padding */
static uint64_t meta_size(const struct rt_gguf_writer *w)
{
	uint64_t n = 4 + 4 + 8 + 8;
	int64_t i;

	for (i = 0; i < w->n_kv; i++)
		n += w->kv[i].len;
	for (i = 0; i < w->n_t; i++)
		n += 8 + strlen(w->t[i].name) + 4 + 8ull * w->t[i].n_dims + 4 + 8;
	return n;
}

static uint64_t data_size(const struct rt_gguf_writer *w)
{
	const struct w_tensor *last = w->n_t ? &w->t[w->n_t - 1] : NULL;

	return last ? align_up(last->offset + last->size, w->alignment) : 0;
}

uint64_t rt_gguf_writer_file_size(const struct rt_gguf_writer *w)
{
	return align_up(meta_size(w), w->alignment) + data_size(w);
}

/* ------------------------------------------------------------- output */

static int flush(struct rt_gguf_writer *w)
{
	size_t off = 0;

	while (off < w->buf_len) {
		ssize_t n = write(w->fd, w->buf + off, w->buf_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			rt_set_error(err, "%s: %s at byte %" PRIu64 " of %" PRIu64 ": %s; the partial"
				     " file was removed", w->path,
				     n < 0 ? "write failed" : "short write (0 bytes written)",
				     w->flushed + off, w->file_size, strerror(-err));
			return fail(w, err);
		}
		off += (size_t)n;
	}
	w->flushed += w->buf_len;
	w->buf_len = 0;
	return 0;
}

static int put(struct rt_gguf_writer *w, const void *src, size_t n)
{
	const uint8_t *p = src;
	int ret;

	while (n) {
		size_t take = W_BUF_SIZE - w->buf_len;

		if (take > n)
			take = n;
		memcpy(w->buf + w->buf_len, p, take);
		w->buf_len += take;
		p += take;
		n -= take;
		if (w->buf_len == W_BUF_SIZE) {
			ret = flush(w);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int put_zeros(struct rt_gguf_writer *w, uint64_t n)
{
	static const uint8_t zeros[256];
	int ret = 0;

	while (n && !ret) {
		size_t take = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;

		ret = put(w, zeros, take);
		n -= take;
	}
	return ret;
}

/*
 * open_target - the temporary file beside @path (".NAME.XXXXXX", created
 * O_EXCL with the mode the target has, or would get from open(0644) under
 * the umask), or @path itself when it exists and is not a regular file.
 */
static int open_target(struct rt_gguf_writer *w, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
	struct stat st;
	mode_t mode, mask;
	int ret;

	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		w->fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
		if (w->fd < 0) {
			ret = -errno;
			return rt_set_error(ret, "%s: cannot open: %s", path, strerror(-ret));
		}
		return 0;
	}
	if (!stat(path, &st)) {
		mode = st.st_mode & 07777;
	} else {
		mask = umask(022);	/* read it: the writer opens before threads start */
		umask(mask);
		mode = 0644 & ~mask;
	}
	w->tmp = malloc(strlen(path) + 16);
	if (!w->tmp)
		return rt_set_error(-ENOMEM, "gguf writer: out of memory");
	memcpy(w->tmp, path, dlen);
	sprintf(w->tmp + dlen, ".%s.XXXXXX", path + dlen);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		ret = -errno;
		free(w->tmp);
		w->tmp = NULL;
		return rt_set_error(ret, "%s: cannot create a file beside it: %s", path,
				    strerror(-ret));
	}
	w->is_reg = true;
	if (fchmod(w->fd, mode)) {
		ret = -errno;
		rt_set_error(ret, "%s: chmod: %s", w->tmp, strerror(-ret));
		return fail(w, ret);
	}
	return 0;
}

const char *rt_gguf_writer_temp_path(const struct rt_gguf_writer *w)
{
	return w->tmp;
}

int rt_gguf_writer_open(struct rt_gguf_writer *w, const char *path)
{
	struct sbuf b = { 0 };
	uint64_t meta;
	int64_t i;
	uint32_t d;
	int ret;

	if (w->opened)
		return rt_set_error(-EINVAL, "gguf writer: already opened");
	if (!path)
		return rt_set_error(-EINVAL, "gguf writer: no path");
	w->path = strdup(path);
	w->buf = malloc(W_BUF_SIZE);
	if (!w->path || !w->buf) {
		w->opened = w->failed = true;
		return rt_set_error(-ENOMEM, "gguf writer: out of memory");
	}
	w->opened = true;
	ret = open_target(w, path);
	if (ret) {
		w->failed = true;
		return ret;
	}
	w->file_size = rt_gguf_writer_file_size(w);
	meta = meta_size(w);

	sb_put(&b, GGUF_MAGIC, 4);
	sb_u32(&b, GGUF_VERSION);
	sb_u64(&b, (uint64_t)w->n_t);
	sb_u64(&b, (uint64_t)w->n_kv);
	for (i = 0; i < w->n_kv; i++)
		sb_put(&b, w->kv[i].data, w->kv[i].len);
	for (i = 0; i < w->n_t; i++) {
		const struct w_tensor *t = &w->t[i];

		sb_str(&b, t->name, strlen(t->name));
		sb_u32(&b, t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			sb_u64(&b, (uint64_t)t->ne[d]);
		sb_u32(&b, t->type);
		sb_u64(&b, t->offset);
	}
	if (b.err) {
		free(b.p);
		rt_set_error(-ENOMEM, "gguf writer: out of memory");
		return fail(w, -ENOMEM);
	}
	ret = put(w, b.p, b.len);
	free(b.p);
	if (!ret)
		ret = put_zeros(w, align_up(meta, w->alignment) - meta);
	return ret;
}

int rt_gguf_writer_append(struct rt_gguf_writer *w, const void *data, size_t n)
{
	const uint8_t *p = data;
	int ret;

	if (!w->opened || w->failed || w->finished)
		return rt_set_error(-EINVAL, "gguf writer: append on a writer that is %s",
				    !w->opened ? "not open" : w->failed ? "failed" : "finished");
	while (n) {
		struct w_tensor *t;
		uint64_t take;

		if (w->cur >= w->n_t) {
			rt_set_error(-EINVAL, "%s: %zu bytes more than the tensor table holds",
				     w->path, n);
			return fail(w, -EINVAL);
		}
		t = &w->t[w->cur];
		take = t->size - w->cur_done;
		if (take > n)
			take = n;
		ret = put(w, p, (size_t)take);
		if (ret)
			return ret;
		p += take;
		n -= take;
		w->cur_done += take;
		if (w->cur_done == t->size) {
			ret = put_zeros(w, align_up(t->size, w->alignment) - t->size);
			if (ret)
				return ret;
			w->cur++;
			w->cur_done = 0;
		}
	}
	return 0;
}

uint64_t rt_gguf_writer_bytes_written(const struct rt_gguf_writer *w)
{
	return w->flushed + w->buf_len;
}

int rt_gguf_writer_finish(struct rt_gguf_writer *w, bool sync)
{
	int ret;

	if (!w->opened || w->failed || w->finished)
		return rt_set_error(-EINVAL, "gguf writer: finish on a writer that is %s",
				    !w->opened ? "not open" : w->failed ? "failed" : "finished");
	if (w->cur < w->n_t) {
		rt_set_error(-EINVAL, "%s: tensor data incomplete: '%s' has %" PRIu64 " of %" PRIu64
			     " bytes; the partial file was removed", w->path, w->t[w->cur].name,
			     w->cur_done, w->t[w->cur].size);
		return fail(w, -EINVAL);
	}
	ret = flush(w);
	if (ret)
		return ret;
	if (sync && fsync(w->fd)) {
		ret = -errno;
		rt_set_error(ret, "%s: fsync: %s; the partial file was removed", w->path,
			     strerror(-ret));
		return fail(w, ret);
	}
	if (close(w->fd)) {
		ret = -errno;
		w->fd = -1;
		rt_set_error(ret, "%s: close: %s; the partial file was removed", w->path,
			     strerror(-ret));
		return fail(w, ret);
	}
	w->fd = -1;
	/* the one step that replaces the old file: all of it or nothing */
	if (w->tmp && rename(w->tmp, w->path)) {
		ret = -errno;
		rt_set_error(ret, "%s: rename from %s: %s; the old file is untouched", w->path,
			     w->tmp, strerror(-ret));
		return fail(w, ret);
	}
	free(w->tmp);
	w->tmp = NULL;
	w->finished = true;
	return 0;
}
