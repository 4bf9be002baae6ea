// SPDX-License-Identifier: MIT
/*
 * GGUF reader against malformed files: a small synthetic GGUF built here with
 * one field broken at a time (magic, version, counts, lengths, types, dims,
 * offsets, names), and truncated / bit-flipped copies of stories260K in
 * memory and on disk. Each must fail with the expected errno and a message
 * naming the field, never crash (also run under SANITIZE=1).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "tap.h"

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			bail_out("out of memory");
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { v, v >> 8, v >> 16, v >> 24 };

	put(b, x, 4);
}

static void u64(struct buf *b, uint64_t v)
{
	u32(b, (uint32_t)v);
	u32(b, (uint32_t)(v >> 32));
}

static void str(struct buf *b, const char *s)
{
	u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void set_u32(struct buf *b, size_t off, uint32_t v)
{
	uint8_t x[4] = { v, v >> 8, v >> 16, v >> 24 };

	memcpy(b->p + off, x, 4);
}

/* ---------------------------------------------------------- the synthetic */

struct tinfo {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type;
	uint64_t off;
};

/* The valid layout: a f32 [8,4] at 0 (128 B), b q8_0 [32,2] at 128 (68 B),
 * c f32 [4] at 224 (16 B); data = 240 bytes. */
static const struct tinfo good_t[3] = {
	{ "a", 2, { 8, 4 }, KN_F32, 0 },
	{ "b", 2, { 32, 2 }, KN_Q8_0, 128 },
	{ "c", 1, { 4 }, KN_F32, 224 },
};

/* Metadata: either the default three keys or raw bytes from @kv_fn. */
struct spec {
	uint32_t version;
	const struct tinfo *t;
	int nt;
	void (*kv_fn)(struct buf *b);
	uint64_t nkv;
	uint64_t data_bytes;
};

static void kv_default(struct buf *b)
{
	str(b, "general.architecture");
	u32(b, RT_GGUF_STRING);
	str(b, "llama");
	str(b, "llama.block_count");
	u32(b, RT_GGUF_UINT32);
	u32(b, 5);
	str(b, "tokenizer.ggml.tokens");
	u32(b, RT_GGUF_ARRAY);
	u32(b, RT_GGUF_STRING);
	u64(b, 2);
	str(b, "<unk>");
	str(b, "<s>");
}

static struct buf build(const struct spec *s)
{
	struct buf b = { 0 };
	static const uint8_t zero[64];
	uint64_t left;

	put(&b, "GGUF", 4);
	u32(&b, s->version ? s->version : 3);
	u64(&b, (uint64_t)s->nt);
	u64(&b, s->kv_fn ? s->nkv : 3);
	(s->kv_fn ? s->kv_fn : kv_default)(&b);
	for (int i = 0; i < s->nt; i++) {
		str(&b, s->t[i].name);
		u32(&b, s->t[i].n_dims);
		for (uint32_t d = 0; d < s->t[i].n_dims && d < 4; d++)
			u64(&b, s->t[i].ne[d]);
		u32(&b, s->t[i].type);
		u64(&b, s->t[i].off);
	}
	while (b.n % 32)
		put(&b, zero, 1);
	for (left = s->data_bytes; left; left -= left < 64 ? left : 64)
		put(&b, zero, left < 64 ? left : 64);
	return b;
}

static struct buf build_t(const struct tinfo *t, int nt)
{
	struct spec s = { .t = t, .nt = nt, .data_bytes = 240 };

	return build(&s);
}

/* expect - open_mem of @b gives @err, a NULL handle and a message holding @needle */
static bool expect(const struct buf *b, int err, const char *needle, const char *what)
{
	struct rt_gguf *g = (struct rt_gguf *)b;
	int ret;

	rt_clear_error();
	ret = rt_gguf_open_mem(b->p, b->n, &g);
	if (!ok(ret == err && !g && strstr(rt_last_error(), needle),
		"%s: %d, \"%s\"", what, ret, rt_last_error()))
		diag("wanted %d and a message with '%s'", err, needle);
	rt_gguf_close(g);
	return ret == err;
}

static void expect_t(const struct tinfo *t, int nt, const char *needle, const char *what)
{
	struct buf b = build_t(t, nt);

	expect(&b, -EINVAL, needle, what);
	free(b.p);
}

static void test_synthetic_valid(void)
{
	struct buf b = build_t(good_t, 3);
	struct rt_gguf *g = NULL;
	const struct rt_gguf_tensor *t;
	struct rt_gguf_str s;

	if (!ok(rt_gguf_open_mem(b.p, b.n, &g) == 0, "synthetic baseline opens")) {
		diag("%s", rt_last_error());
		skip(2, "baseline");
		goto out;
	}
	t = rt_gguf_find_tensor(g, "c");
	ok(rt_gguf_data_offset(g) == b.n - 240 && t && t->offset == b.n - 16 && t->size == 16,
	   "synthetic: data offset %" PRIu64 ", c at the end", rt_gguf_data_offset(g));
	t = rt_gguf_find_tensor(g, "b");
	ok(t && t->size == 68 && rt_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 1, &s) == 0 &&
	   !strcmp(s.s, "<s>"), "synthetic: q8_0 [32,2] is 68 bytes, tokens read");
out:
	rt_gguf_close(g);
	free(b.p);
}

/* ---------------------------------------------------------------- header */

static void test_header(void)
{
	struct buf b = build_t(good_t, 3);
	struct spec s = { .t = good_t, .nt = 3, .data_bytes = 240 };
	struct buf c;

	memcpy(b.p, "GGUX", 4);
	expect(&b, -EINVAL, "not a GGUF file (magic 47 47 55 58", "bad magic");
	memcpy(b.p, "GGUF", 4);
	c = (struct buf){ .p = b.p, .n = 3 };
	expect(&c, -EINVAL, "not a GGUF file (3 bytes)", "3-byte file");
	c.n = 0;
	expect(&c, -EINVAL, "not a GGUF file", "empty buffer");
	set_u32(&b, 4, 1);
	expect(&b, -EINVAL, "GGUF v1 is not supported (convert with a current llama.cpp)", "v1");
	set_u32(&b, 4, 4);
	expect(&b, -EINVAL, "unsupported GGUF version 4", "version 4");
	set_u32(&b, 4, 0x03000000);
	expect(&b, -EINVAL, "big-endian GGUF", "big-endian v3");
	set_u32(&b, 4, 0);
	expect(&b, -EINVAL, "unsupported GGUF version 0", "version 0");
	free(b.p);

	s.version = 2;
	b = build(&s);
	{
		struct rt_gguf *g = NULL;

		ok(rt_gguf_open_mem(b.p, b.n, &g) == 0 && rt_gguf_version(g) == 2 &&
		   rt_gguf_n_tensors(g) == 3, "synthetic v2 opens as version 2");
		rt_gguf_close(g);
	}
	/* counts: 8 bytes each after magic+version */
	memcpy(b.p + 8, (uint64_t[]){ UINT64_MAX }, 8);
	expect(&b, -EINVAL, "tensor count 18446744073709551615 is more than", "huge tensor count");
	memcpy(b.p + 8, (uint64_t[]){ 3 }, 8);
	memcpy(b.p + 16, (uint64_t[]){ 1ull << 40 }, 8);
	expect(&b, -EINVAL, "metadata count 1099511627776 is more than", "huge metadata count");
	memcpy(b.p + 16, (uint64_t[]){ 4 }, 8);
	/* key 3 then eats the first tensor info; tensor 0 is read from the middle */
	expect(&b, -EINVAL, "tensor 0: name length", "one key more than written");
	free(b.p);

	/* no keys, no tensors: the smallest valid file */
	s = (struct spec){ .kv_fn = NULL, .nt = 0 };
	b = (struct buf){ 0 };
	put(&b, "GGUF", 4);
	u32(&b, 3);
	u64(&b, 0);
	u64(&b, 0);
	{
		struct rt_gguf *g = NULL;

		ok(rt_gguf_open_mem(b.p, b.n, &g) == 0 && rt_gguf_n_kv(g) == 0 &&
		   rt_gguf_n_tensors(g) == 0 && rt_gguf_find_key(g, "x") == -ENOENT &&
		   !rt_gguf_find_tensor(g, "x"), "24-byte empty GGUF opens");
		rt_gguf_close(g);
	}
	free(b.p);
}

/* -------------------------------------------------------------- metadata */

static uint64_t kv_case;

static void kv_bad(struct buf *b)
{
	switch (kv_case) {
	case 0:		/* key length beyond the file */
		u64(b, UINT64_MAX);
		break;
	case 1:		/* empty key */
		u64(b, 0);
		u32(b, RT_GGUF_UINT8);
		put(b, "x", 1);
		break;
	case 2:		/* string value longer than the file */
		str(b, "general.name");
		u32(b, RT_GGUF_STRING);
		u64(b, 1ull << 62);
		break;
	case 3:		/* unknown value type */
		str(b, "general.name");
		u32(b, 13);
		break;
	case 4:		/* unknown array element type */
		str(b, "x.arr");
		u32(b, RT_GGUF_ARRAY);
		u32(b, 99);
		u64(b, 1);
		break;
	case 5:		/* nested array */
		str(b, "x.arr");
		u32(b, RT_GGUF_ARRAY);
		u32(b, RT_GGUF_ARRAY);
		u64(b, 1);
		break;
	case 6:		/* array count beyond the file */
		str(b, "x.arr");
		u32(b, RT_GGUF_ARRAY);
		u32(b, RT_GGUF_UINT64);
		u64(b, 1ull << 61);
		break;
	case 7:		/* a string inside an array with a huge length */
		str(b, "x.arr");
		u32(b, RT_GGUF_ARRAY);
		u32(b, RT_GGUF_STRING);
		u64(b, 2);
		str(b, "ok");
		u64(b, UINT64_MAX - 7);
		break;
	case 8:		/* bool that is neither 0 nor 1 */
		str(b, "x.flag");
		u32(b, RT_GGUF_BOOL);
		put(b, "\x02", 1);
		break;
	case 9:		/* duplicate key */
		str(b, "general.name");
		u32(b, RT_GGUF_UINT8);
		put(b, "\x01", 1);
		str(b, "general.name");
		u32(b, RT_GGUF_UINT8);
		put(b, "\x01", 1);
		break;
	case 10:	/* alignment not a power of two */
		str(b, "general.alignment");
		u32(b, RT_GGUF_UINT32);
		u32(b, 48);
		break;
	case 11:	/* alignment of the wrong type */
		str(b, "general.alignment");
		u32(b, RT_GGUF_STRING);
		str(b, "32");
		break;
	case 12:	/* alignment 0 */
		str(b, "general.alignment");
		u32(b, RT_GGUF_UINT32);
		u32(b, 0);
		break;
	case 13:	/* key with a NUL byte inside */
		u64(b, 3);
		put(b, "a\0b", 3);
		u32(b, RT_GGUF_UINT8);
		put(b, "\x01", 1);
		break;
	case 14:	/* key longer than 65535 bytes */
		u64(b, 70000);
		for (int i = 0; i < 70000; i++)
			put(b, "k", 1);
		u32(b, RT_GGUF_UINT8);
		put(b, "\x01", 1);
		break;
	case 15:	/* bool array with a 7 */
		str(b, "x.flags");
		u32(b, RT_GGUF_ARRAY);
		u32(b, RT_GGUF_BOOL);
		u64(b, 3);
		put(b, "\x00\x01\x07", 3);
		break;
	}
}

/* one -EINVAL test per case, kv_bad() writes case kv_case's bad key */
static const struct {
	const char *needle, *what;
	uint64_t nkv;
} meta_cases[] = {
	{ "key 0: key length 18446744073709551615 beyond end of file", "key length 2^64-1", 1 },
	{ "key length 0 (must be 1..65535)", "empty key", 1 },
	{ "key 'general.name': string value length 4611686018427387904 beyond end of file",
	  "huge string length", 1 },
	{ "key 'general.name': value type 13 is not a GGUF type", "value type 13", 1 },
	{ "key 'x.arr': array element type 99 is not a GGUF type", "array type 99", 1 },
	{ "key 'x.arr': nested arrays are not supported", "nested array", 1 },
	{ "key 'x.arr': array of 2305843009213693952 u64 elements is larger than the rest",
	  "huge array count", 1 },
	{ "key 'x.arr': string 1 length 18446744073709551608 beyond end of file",
	  "huge string in an array", 1 },
	{ "key 'x.flag': bool value 2", "bool 2", 1 },
	{ "key 'general.name': duplicate key", "duplicate key", 2 },
	{ "key 'general.alignment': alignment 48 is not a power of two", "alignment 48", 1 },
	{ "key 'general.alignment': type string (expected u32)", "alignment string", 1 },
	{ "key 'general.alignment': alignment 0 is not a power of two", "alignment 0", 1 },
	{ "key 0: key 'a' contains a NUL byte", "NUL in key", 1 },
	{ "key 0: key length 70000 (must be 1..65535)", "key of 70000 bytes", 1 },
	{ "key 'x.flags': bool element 2 is 7", "bool array", 1 },
};
#define N_META_CASES (sizeof(meta_cases) / sizeof(meta_cases[0]))

static void test_metadata(void)
{
	for (kv_case = 0; kv_case < N_META_CASES; kv_case++) {
		struct spec s = { .t = good_t, .nt = 3, .kv_fn = kv_bad,
				  .nkv = meta_cases[kv_case].nkv, .data_bytes = 240 };
		struct buf b = build(&s);

		expect(&b, -EINVAL, meta_cases[kv_case].needle, meta_cases[kv_case].what);
		free(b.p);
	}
	/* huge string length in the real position of a default key's value */
	{
		struct buf b = build_t(good_t, 3);
		/* header 24 + key len 8 + "general.architecture" 20 + type 4 */
		memcpy(b.p + 56, (uint64_t[]){ UINT64_MAX }, 8);
		expect(&b, -EINVAL, "string value length 18446744073709551615 beyond end of file",
		       "string length 2^64-1");
		free(b.p);
	}
}

/* --------------------------------------------------------------- tensors */

static void test_tensors(void)
{
	struct tinfo t[3];

#define MUTATE(stmt, needle, what) do {				\
		memcpy(t, good_t, sizeof(t));			\
		stmt;						\
		expect_t(t, 3, needle, what);			\
	} while (0)

	MUTATE(t[1].n_dims = 0, "tensor 'b': n_dims 0 (must be 1..4)", "n_dims 0");
	MUTATE(t[1].n_dims = 5, "tensor 'b': n_dims 5 (must be 1..4)", "n_dims 5");
	MUTATE(t[0].ne[1] = 0, "tensor 'a': ne[1] = 0 (must be 1..2^63-1)", "ne 0");
	MUTATE(t[0].ne[0] = 1ull << 63, "tensor 'a': ne[0] = 9223372036854775808", "ne 2^63");
	MUTATE((t[0].ne[0] = 1ull << 32, t[0].ne[1] = 1ull << 32),
	       "tensor 'a': element count overflows int64", "ne product overflow");
	MUTATE((t[2].ne[0] = 1ull << 62), "tensor 'c': byte size overflows", "byte size overflow");
	MUTATE(t[0].type = 7, "tensor 'a': unknown ggml type 7", "removed type 7 (Q4_2)");
	MUTATE(t[0].type = 0xFFFFFFFFu, "tensor 'a': unknown ggml type 4294967295", "type 2^32-1");
	MUTATE(t[1].ne[0] = 33, "tensor 'b': ne[0] = 33 is not a multiple of the q8_0 block size 32",
	       "q8_0 row of 33");
	MUTATE(t[1].off = 132, "tensor 'b': offset 132 is not a multiple of the alignment 32",
	       "misaligned offset");
	MUTATE(t[1].off = 96, "overlap", "overlapping tensors");
	MUTATE(t[2].off = 1ull << 40, "tensor 'c': offset", "offset 2^40 beyond EOF");
	MUTATE(t[2].off = 256, "beyond end of file", "c ends 16 bytes past EOF");
	MUTATE(t[2].off = UINT64_MAX - 31, "beyond end of file", "offset overflowing data_offset");
	MUTATE(t[2].name = "a", "tensor 'a': duplicate tensor name", "duplicate tensor name");
	MUTATE(t[2].name = "", "tensor 2: name length 0", "empty tensor name");
	MUTATE(t[2].name = "blk.0.this_name_is_much_longer_than_the_sixty_four_bytes_ggml_allows",
	       "tensor 2: name length 68 (must be 1..64)", "68-byte tensor name");
#undef MUTATE

	/* the documented message shape, absolute offsets */
	{
		struct buf b;
		char want[160];

		memcpy(t, good_t, sizeof(t));
		t[2].off = 256;
		b = build_t(t, 3);
		snprintf(want, sizeof(want), "<memory>: tensor 'c': offset %zu + size 16 beyond end of file (%zu)",
			 b.n - 240 + 256, b.n);
		ok(rt_gguf_open_mem(b.p, b.n, &(struct rt_gguf *){ NULL }) == -EINVAL &&
		   !strcmp(rt_last_error(), want), "message: \"%s\"", rt_last_error());
		free(b.p);
	}
}

/* -------------------------------------------------- truncations, flips */

/* open a copy of @len bytes from its own heap block, so ASan sees overreads */
static int open_copy(const uint8_t *p, size_t len, struct rt_gguf **g)
{
	uint8_t *c = malloc(len ? len : 1);
	int ret;

	memcpy(c, p, len);
	ret = rt_gguf_open_mem(c, len, g);
	rt_gguf_close(*g);
	*g = NULL;
	free(c);
	return ret;
}

static bool write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	bool good = f && fwrite(p, 1, n, f) == n;

	if (f && fclose(f))
		good = false;
	return good;
}

static void test_stories_damage(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_gguf *g = NULL;
	size_t size = 0, n_bad = 0, n_cuts = 0, n_open = 0, n_fail = 0;
	uint8_t *d = tap_slurp(path, &size);
	char tmp[] = "/tmp/test_gguf_XXXXXX";
	uint64_t data_off = 14176;
	uint32_t rng = 12345;
	int fd;

	if (!d) {
		skip(10, "stories260K.gguf unreadable");
		return;
	}
	/* every 199 bytes through the header, then points in the data */
	for (size_t cut = 0; cut < data_off; cut += 199, n_cuts++) {
		int ret = open_copy(d, cut, &g);

		if (ret != -EINVAL || !rt_last_error()[0]) {
			diag("cut at %zu: %d \"%s\"", cut, ret, rt_last_error());
			n_bad++;
		}
	}
	ok(n_bad == 0, "%zu header truncations of stories260K: all -EINVAL with a message", n_cuts);
	n_bad = 0;
	n_cuts = 0;
	for (size_t cut = data_off; cut < size; cut += (size - data_off) / 7, n_cuts++) {
		int ret = open_copy(d, cut, &g);

		if (ret != -EINVAL || !strstr(rt_last_error(), "beyond end of file")) {
			diag("cut at %zu: %d \"%s\"", cut, ret, rt_last_error());
			n_bad++;
		}
	}
	if (open_copy(d, size - 1, &g) != -EINVAL ||
	    !strstr(rt_last_error(), "tensor 'blk.4.ffn_norm.weight': offset 1185120 + size 256 "
		    "beyond end of file (1185375)"))
		n_bad++, diag("cut of the last byte: \"%s\"", rt_last_error());
	ok(n_bad == 0, "%zu data truncations (incl. the last byte): 'beyond end of file'", n_cuts + 1);

	/* v2: identical layout, only the version differs */
	set_u32(&(struct buf){ .p = d }, 4, 2);
	ok(rt_gguf_open_mem(d, size, &g) == 0 && rt_gguf_version(g) == 2 &&
	   rt_gguf_n_tensors(g) == 48 && rt_gguf_data_offset(g) == data_off, "stories as v2 opens");
	rt_gguf_close(g);
	g = NULL;
	set_u32(&(struct buf){ .p = d }, 4, 3);

	/* seeded random bit flips in the header of the whole file (restored
	 * after each try): it opens (a flip in a token's text) or fails cleanly */
	for (int i = 0; i < 3000; i++) {
		size_t at[4];
		uint8_t old[4];
		int ret, flips = 1 + i % 4;

		for (int k = 0; k < flips; k++) {
			rng = rng * 1103515245u + 12345u;
			at[k] = (rng >> 8) % data_off;
			old[k] = d[at[k]];
			d[at[k]] ^= (uint8_t)(1u << (rng >> 4) % 8);
		}
		ret = rt_gguf_open_mem(d, size, &g);
		if (ret == 0)
			n_open++;
		else if (ret == -EINVAL && rt_last_error()[0])
			n_fail++;
		else
			diag("flip %d: %d \"%s\"", i, ret, rt_last_error());
		rt_gguf_close(g);
		g = NULL;
		for (int k = flips - 1; k >= 0; k--)
			d[at[k]] = old[k];
	}
	ok(n_open + n_fail == 3000 && n_fail > 0,
	   "3000 bit-flipped headers: %zu open, %zu clean errors", n_open, n_fail);

	/* on disk: the pread window path */
	fd = mkstemp(tmp);
	if (fd < 0) {
		skip(6, "mkstemp failed");
		free(d);
		return;
	}
	close(fd);
	n_bad = 0;
	n_cuts = 0;
	for (size_t cut = 0; cut < data_off; cut += 997, n_cuts++) {
		int ret = write_file(tmp, d, cut) ? rt_gguf_open(tmp, &g) : -1;

		if (ret != -EINVAL || g || strncmp(rt_last_error(), tmp, strlen(tmp))) {
			diag("file cut at %zu: %d \"%s\"", cut, ret, rt_last_error());
			n_bad++;
		}
	}
	ok(n_bad == 0, "%zu header truncations on disk: all -EINVAL, message names the file", n_cuts);
	ok(write_file(tmp, d, size - 100) && rt_gguf_open(tmp, &g) == -EINVAL && !g &&
	   !strncmp(rt_last_error(), tmp, strlen(tmp)) && strstr(rt_last_error(), "beyond end of file"),
	   "file cut in the data: \"%s\"", rt_last_error());
	ok(write_file(tmp, d, 5000) && rt_gguf_open(tmp, &g) == -EINVAL &&
	   strstr(rt_last_error(), "key 'tokenizer.ggml.tokens': truncated"),
	   "file cut inside the token array: \"%s\"", rt_last_error());
	memcpy(d, "\x7f" "ELF", 4);
	ok(write_file(tmp, d, size) && rt_gguf_open(tmp, &g) == -EINVAL &&
	   strstr(rt_last_error(), "not a GGUF file (magic 7f 45 4c 46"),
	   "file with ELF magic: \"%s\"", rt_last_error());
	unlink(tmp);
	ok(rt_gguf_open(tmp, &g) == -ENOENT && strstr(rt_last_error(), tmp),
	   "missing file: -ENOENT naming it");
	ok(rt_gguf_open("/tmp", &g) == -EINVAL && strstr(rt_last_error(), "not a regular file"),
	   "directory refused");
	free(d);
}

int main(void)
{
	/* synthetic 3, header 12, metadata one per case + 1, tensors 17 mutations
	 * + 1, stories260K damage 10 (its skips stand for their tests) */
	plan(3 + 12 + (int)N_META_CASES + 1 + 17 + 1 + 10);
	test_synthetic_valid();
	test_header();
	test_metadata();
	test_tensors();
	test_stories_damage();
	return done_testing();
}
