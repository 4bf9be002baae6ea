// SPDX-License-Identifier: MIT
/*
 * GGUF writer: every value type, string and numeric arrays, a tensor table
 * with odd sizes, streamed in odd chunks, must read back through rt_gguf_open
 * byte for byte; bad input and failed writes (ENOSPC, short write) must give
 * -errno, a message, and no partial file.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_gguf_writer.h"
#include "tap.h"

static char dir[64];

static const char *tmp(const char *name)
{
	static char buf[4][128];
	static int slot;
	char *p = buf[slot++ & 3];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint8_t rnd8(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint8_t)(rnd_state >> 24);
}

struct tspec {
	const char *name;
	uint32_t type;
	uint32_t n_dims;
	int64_t ne[4];
};

static const struct tspec tensors[] = {
	{ "a.f32", KN_F32, 2, { 5, 3 } },		/* 60 bytes: padded */
	{ "b.q8_0", KN_Q8_0, 2, { 64, 2 } },
	{ "c.f16", KN_F16, 1, { 3 } },
	{ "d.q4_0.3d", KN_Q4_0, 3, { 32, 2, 3 } },
	{ "e.q4_K", KN_Q4_K, 2, { 256, 1 } },
	{ "f.4d", KN_F32, 4, { 1, 2, 1, 3 } },
};
#define N_T (int)(sizeof(tensors) / sizeof(tensors[0]))

static const struct rt_gguf_str strs[] = {
	{ "hello", 5 }, { "", 0 }, { "nul\0inside", 10 }, { "\xc3\xa9t\xc3\xa9", 5 },
};

/* build - a writer with one key of every type and the tensor table */
static int build(struct rt_gguf_writer **out, uint32_t alignment)
{
	static const int16_t ai16[] = { -3, 0, 32767 };
	static const float af32[] = { 1.5f, -0.0f, 3e38f };
	static const uint64_t au64[] = { 0, UINT64_MAX };
	static const uint8_t abool[] = { 1, 0, 1 };
	struct rt_gguf_writer *w;
	int ret, i;

	ret = rt_gguf_writer_create(&w);
	if (ret)
		return ret;
	if (alignment)
		ret |= rt_gguf_writer_set_alignment(w, alignment);
	ret |= rt_gguf_writer_set_u8(w, "t.u8", 200);
	ret |= rt_gguf_writer_set_i8(w, "t.i8", -100);
	ret |= rt_gguf_writer_set_u16(w, "t.u16", 60000);
	ret |= rt_gguf_writer_set_i16(w, "t.i16", -30000);
	ret |= rt_gguf_writer_set_u32(w, "t.u32", 4000000000u);
	ret |= rt_gguf_writer_set_i32(w, "t.i32", -2000000000);
	ret |= rt_gguf_writer_set_u64(w, "t.u64", 1ull << 40);
	ret |= rt_gguf_writer_set_i64(w, "t.i64", -(1ll << 40));
	ret |= rt_gguf_writer_set_f32(w, "t.f32", 0.25f);
	ret |= rt_gguf_writer_set_f64(w, "t.f64", 0.5);
	ret |= rt_gguf_writer_set_bool(w, "t.bool", true);
	ret |= rt_gguf_writer_set_str(w, "t.str", "llama");
	ret |= rt_gguf_writer_set_arr(w, "t.arr_i16", RT_GGUF_INT16, ai16, 3);
	ret |= rt_gguf_writer_set_arr(w, "t.arr_f32", RT_GGUF_FLOAT32, af32, 3);
	ret |= rt_gguf_writer_set_arr(w, "t.arr_u64", RT_GGUF_UINT64, au64, 2);
	ret |= rt_gguf_writer_set_arr(w, "t.arr_bool", RT_GGUF_BOOL, abool, 3);
	ret |= rt_gguf_writer_set_arr(w, "t.arr_empty", RT_GGUF_INT32, NULL, 0);
	ret |= rt_gguf_writer_set_arr_str(w, "t.arr_str", strs, 4);
	for (i = 0; i < N_T; i++) {
		int64_t idx = rt_gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type,
							tensors[i].n_dims, tensors[i].ne);
		if (idx != i)
			ret |= 1;
	}
	if (ret) {
		rt_gguf_writer_destroy(w);
		return -EINVAL;
	}
	*out = w;
	return 0;
}

static uint8_t *payload(const struct rt_gguf_writer *w, size_t *total)
{
	size_t n = 0, i;
	uint8_t *p;
	int t;

	for (t = 0; t < N_T; t++)
		n += rt_gguf_writer_tensor_size(w, t);
	p = malloc(n);
	for (i = 0; p && i < n; i++)
		p[i] = rnd8();
	*total = n;
	return p;
}

/* stream - append @data in chunks of @chunk bytes */
static int stream(struct rt_gguf_writer *w, const uint8_t *data, size_t n, size_t chunk)
{
	size_t off;
	int ret = 0;

	for (off = 0; off < n && !ret; off += chunk)
		ret = rt_gguf_writer_append(w, data + off, off + chunk > n ? n - off : chunk);
	return ret;
}

/*
 * Tests per check, for the plan: a path cut short (a file that does not open)
 * skips the rest of its count, so the total holds on every path.
 */
#define METADATA_TESTS 23	/* check_metadata */
#define TENSORS_TESTS 8		/* check_tensors */
#define ROUNDTRIP_TESTS (2 + 2 + METADATA_TESTS + TENSORS_TESTS)
#define COPY_KV_TESTS (1 + 1 + METADATA_TESTS + 1 + 1)
#define TYPES_TESTS 1
#define BAD_INPUT_TESTS 25
#define ENOSPC_TESTS 3
#define SHORT_WRITE_TESTS 3

static void check_metadata(const struct rt_gguf *g)
{
	struct rt_gguf_str s;
	enum rt_gguf_type at;
	const void *data;
	uint64_t n, k;
	uint32_t u32 = 0;
	int64_t i64 = 0;
	float f = 0;
	bool b = false;
	bool same = true;

	ok(!rt_gguf_get_u32(g, "t.u8", &u32) && u32 == 200, "u8 round-trips");
	is_int(rt_gguf_kv_type(g, rt_gguf_find_key(g, "t.u8")), RT_GGUF_UINT8, "u8 keeps its type");
	ok(!rt_gguf_get_i64(g, "t.i8", &i64) && i64 == -100, "i8 round-trips");
	is_int(rt_gguf_kv_type(g, rt_gguf_find_key(g, "t.i8")), RT_GGUF_INT8, "i8 keeps its type");
	ok(!rt_gguf_get_u32(g, "t.u16", &u32) && u32 == 60000, "u16 round-trips");
	ok(!rt_gguf_get_i64(g, "t.i16", &i64) && i64 == -30000, "i16 round-trips");
	ok(!rt_gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u, "u32 round-trips");
	ok(!rt_gguf_get_i64(g, "t.i32", &i64) && i64 == -2000000000, "i32 round-trips");
	ok(!rt_gguf_get_i64(g, "t.u64", &i64) && i64 == 1ll << 40, "u64 round-trips");
	is_int(rt_gguf_kv_type(g, rt_gguf_find_key(g, "t.u64")), RT_GGUF_UINT64, "u64 keeps its type");
	ok(!rt_gguf_get_i64(g, "t.i64", &i64) && i64 == -(1ll << 40), "i64 round-trips");
	ok(!rt_gguf_get_f32(g, "t.f32", &f) && f == 0.25f, "f32 round-trips");
	ok(!rt_gguf_get_f32(g, "t.f64", &f) && f == 0.5f, "f64 round-trips");
	is_int(rt_gguf_kv_type(g, rt_gguf_find_key(g, "t.f64")), RT_GGUF_FLOAT64, "f64 keeps its type");
	ok(!rt_gguf_get_bool(g, "t.bool", &b) && b, "bool round-trips");
	ok(!rt_gguf_get_str(g, "t.str", &s) && s.len == 5 && !strcmp(s.s, "llama"),
	   "string round-trips");

	ok(!rt_gguf_get_arr(g, "t.arr_i16", &at, &n, &data) && at == RT_GGUF_INT16 && n == 3 &&
	   ((const int16_t *)data)[0] == -3 && ((const int16_t *)data)[2] == 32767,
	   "i16 array round-trips");
	ok(!rt_gguf_get_arr(g, "t.arr_f32", &at, &n, &data) && at == RT_GGUF_FLOAT32 && n == 3 &&
	   ((const float *)data)[0] == 1.5f && signbit(((const float *)data)[1]) &&
	   ((const float *)data)[2] == 3e38f, "f32 array round-trips (incl. -0)");
	ok(!rt_gguf_get_arr(g, "t.arr_u64", &at, &n, &data) && at == RT_GGUF_UINT64 && n == 2 &&
	   ((const uint64_t *)data)[1] == UINT64_MAX, "u64 array round-trips");
	ok(!rt_gguf_get_arr(g, "t.arr_bool", &at, &n, &data) && at == RT_GGUF_BOOL && n == 3 &&
	   !memcmp(data, "\1\0\1", 3), "bool array round-trips");
	ok(!rt_gguf_get_arr(g, "t.arr_empty", &at, &n, NULL) && at == RT_GGUF_INT32 && n == 0,
	   "empty array round-trips");
	ok(!rt_gguf_get_arr(g, "t.arr_str", &at, &n, NULL) && at == RT_GGUF_STRING && n == 4,
	   "string array: type and count");
	for (k = 0; k < 4; k++)
		same &= !rt_gguf_get_arr_str(g, "t.arr_str", k, &s) && s.len == strs[k].len &&
			!memcmp(s.s, strs[k].s, s.len);
	ok(same, "string array: every string, empty and embedded NUL included");
}

static void check_tensors(const char *path, const struct rt_gguf *g,
			  const struct rt_gguf_writer *w, const uint8_t *data, uint64_t align)
{
	bool table = true, offs = true, bytes = true;
	FILE *f = fopen(path, "rb");
	uint64_t src = 0;
	int t, d;

	is_int(rt_gguf_n_tensors(g), N_T, "tensor count");
	is_int(rt_gguf_alignment(g), align, "alignment %llu", (unsigned long long)align);
	ok(rt_gguf_data_offset(g) % align == 0, "data section aligned");
	is_int(rt_gguf_file_size(g), rt_gguf_writer_file_size(w), "file size as predicted");
	ok(rt_gguf_file_size(g) % align == 0, "file ends aligned (last tensor padded)");
	for (t = 0; t < N_T; t++) {
		const struct rt_gguf_tensor *rt = rt_gguf_find_tensor(g, tensors[t].name);
		uint8_t *buf;

		if (!rt || rt_gguf_tensor(g, t) != rt) {
			table = false;
			continue;
		}
		table &= rt->type == tensors[t].type && rt->n_dims == tensors[t].n_dims;
		for (d = 0; d < 4; d++)
			table &= rt->ne[d] == (d < (int)tensors[t].n_dims ? tensors[t].ne[d] : 1);
		table &= rt->size == rt_gguf_writer_tensor_size(w, t);
		offs &= rt->offset % align == 0 &&
			rt->offset == rt_gguf_data_offset(g) + rt_gguf_writer_tensor_offset(w, t);
		buf = malloc(rt->size);
		bytes &= f && buf && !fseek(f, (long)rt->offset, SEEK_SET) &&
			 fread(buf, 1, rt->size, f) == rt->size && !memcmp(buf, data + src, rt->size);
		src += rt->size;
		free(buf);
	}
	ok(table, "tensor table: names, order, types, dims, sizes");
	ok(offs, "tensor offsets aligned and where the writer put them");
	ok(bytes, "tensor data bytes identical");
	if (f)
		fclose(f);
}

static void roundtrip(uint32_t alignment, size_t chunk)
{
	struct rt_gguf_writer *w = NULL;
	struct rt_gguf *g = NULL;
	const char *path = tmp("rt.gguf");
	uint8_t *data;
	size_t n;
	int ret;

	diag("alignment %u, chunks of %zu bytes", alignment ? alignment : 32, chunk);
	if (build(&w, alignment)) {
		ok(0, "writer built");
		skip(ROUNDTRIP_TESTS - 1, "no writer");
		return;
	}
	data = payload(w, &n);
	ret = rt_gguf_writer_open(w, path);
	if (!ret)
		ret = stream(w, data, n, chunk);
	if (!ret)
		ret = rt_gguf_writer_finish(w, false);
	is_int(ret, 0, "written: %s", rt_last_error());
	ret = rt_gguf_open(path, &g);
	is_int(ret, 0, "rt_gguf_open reads it: %s", rt_last_error());
	if (!ret) {
		is_int(rt_gguf_version(g), 3, "GGUF v3");
		is_int(rt_gguf_n_kv(g), rt_gguf_writer_n_kv(w), "key count");
		check_metadata(g);
		check_tensors(path, g, w, data, alignment ? alignment : 32);
		rt_gguf_close(g);
	} else {
		skip(2 + METADATA_TESTS + TENSORS_TESTS, "the file does not open");
	}
	free(data);
	rt_gguf_writer_destroy(w);
	unlink(path);
}

/* copy_all - copy every key of a file into a fresh writer and compare */
static void test_copy_kv(void)
{
	struct rt_gguf_writer *w = NULL, *w2 = NULL;
	struct rt_gguf *g = NULL, *g2 = NULL;
	int64_t i;
	int ret;

	ret = build(&w, 0);
	if (!ret)
		ret = rt_gguf_writer_open(w, tmp("src.gguf"));
	if (!ret) {
		size_t n;
		uint8_t *data = payload(w, &n);

		ret = stream(w, data, n, n);
		free(data);
	}
	if (!ret)
		ret = rt_gguf_writer_finish(w, false);
	if (!ret)
		ret = rt_gguf_open(tmp("src.gguf"), &g);
	if (!ret)
		ret = rt_gguf_writer_create(&w2);
	for (i = 0; !ret && i < rt_gguf_n_kv(g); i++)
		ret = rt_gguf_writer_copy_kv(w2, g, rt_gguf_kv_key(g, i));
	is_int(ret, 0, "copy_kv of every key: %s", rt_last_error());
	if (!ret)
		ret = rt_gguf_writer_open(w2, tmp("copy.gguf"));
	if (!ret)
		ret = rt_gguf_writer_finish(w2, true);
	if (!ret)
		ret = rt_gguf_open(tmp("copy.gguf"), &g2);
	is_int(ret, 0, "copy written and read back: %s", rt_last_error());
	if (!ret) {
		diag("metadata of the copy:");
		check_metadata(g2);
		ok(rt_gguf_n_tensors(g2) == 0 && rt_gguf_data_offset(g2) % 32 == 0,
		   "a file without tensors is valid");
	} else {
		skip(METADATA_TESTS + 1, "no copy to read");
	}
	is_int(rt_gguf_writer_copy_kv(w2, g, "no.such.key"), -ENOENT, "copy of a missing key");
	rt_gguf_close(g);
	rt_gguf_close(g2);
	rt_gguf_writer_destroy(w);
	rt_gguf_writer_destroy(w2);
	unlink(tmp("src.gguf"));
	unlink(tmp("copy.gguf"));
}

/* the writer's own dtype table (it does not include kn.h) gives the kernels'
 * row sizes for every type, and refuses the numbers the kernels do not know */
static void test_types(void)
{
	struct rt_gguf_writer *w;
	int64_t ne[2] = { 512, 3 };
	int bad = 0, n = 0;
	char name[16];

	if (rt_gguf_writer_create(&w)) {
		ok(0, "writer created");
		return;
	}
	for (uint32_t t = 0; t < KN_TYPE_MAX + 2; t++) {
		uint64_t want = kn_row_size(t, ne[0]) * (uint64_t)ne[1];
		int64_t idx;
		bool good;

		snprintf(name, sizeof(name), "t%u", t);
		idx = rt_gguf_writer_add_tensor(w, name, t, 2, ne);
		if (kn_type_known(t))
			good = idx >= 0 && rt_gguf_writer_tensor_size(w, idx) == want;
		else
			good = idx == -EINVAL;
		if (!good) {
			diag("type %u: %lld", t, (long long)idx);
			bad++;
		}
		n += kn_type_known(t);
	}
	ok(!bad, "row sizes of the %d dtypes kn knows are kn_row_size's, others -EINVAL", n);
	rt_gguf_writer_destroy(w);
}

static void test_bad_input(void)
{
	struct rt_gguf_writer *w;
	char longname[80];
	int64_t ne[2] = { 33, 2 }, ok_ne[2] = { 32, 1 }, zero[2] = { 32, 0 };

	if (rt_gguf_writer_create(&w)) {
		ok(0, "writer created");
		skip(BAD_INPUT_TESTS - 1, "no writer");
		return;
	}
	is_int(rt_gguf_writer_set_u32(w, "k", 1), 0, "a key");
	is_int(rt_gguf_writer_set_str(w, "k", "x"), -EEXIST, "the same key twice: -EEXIST");
	is_int(rt_gguf_writer_set_u32(w, "", 1), -EINVAL, "empty key: -EINVAL");
	is_int(rt_gguf_writer_set_arr(w, "a", RT_GGUF_STRING, "x", 1), -EINVAL,
	       "set_arr with STRING elements: -EINVAL");
	is_int(rt_gguf_writer_set_alignment(w, 48), -EINVAL, "alignment 48: -EINVAL");
	is_int(rt_gguf_writer_add_tensor(w, "t", KN_Q4_0, 2, ne), -EINVAL,
	       "ne[0] not a multiple of the block: -EINVAL");
	ok(strstr(rt_last_error(), "block") != NULL, "... with a message: %s", rt_last_error());
	is_int(rt_gguf_writer_add_tensor(w, "t", KN_F32, 2, zero), -EINVAL, "ne[1] = 0: -EINVAL");
	is_int(rt_gguf_writer_add_tensor(w, "t", 77, 2, ok_ne), -EINVAL, "unknown type: -EINVAL");
	is_int(rt_gguf_writer_add_tensor(w, "t", KN_F32, 5, ok_ne), -EINVAL, "5 dims: -EINVAL");
	memset(longname, 'x', 64);
	longname[64] = 0;
	is_int(rt_gguf_writer_add_tensor(w, longname, KN_F32, 2, ok_ne), -EINVAL,
	       "a 64-byte name: -EINVAL");
	longname[63] = 0;
	is_int(rt_gguf_writer_add_tensor(w, longname, KN_F32, 2, ok_ne), 0, "a 63-byte name: index 0");
	is_int(rt_gguf_writer_add_tensor(w, longname, KN_F32, 2, ok_ne), -EEXIST,
	       "the same tensor twice: -EEXIST");
	is_int(rt_gguf_writer_set_alignment(w, 64), -EINVAL, "alignment after tensors: -EINVAL");
	is_int(rt_gguf_writer_append(w, "x", 1), -EINVAL, "append before open: -EINVAL");
	is_int(rt_gguf_writer_open(w, tmp("bad.gguf")), 0, "open");
	is_int(rt_gguf_writer_set_u32(w, "late", 1), -EINVAL, "a key after open: -EINVAL");
	is_int(rt_gguf_writer_finish(w, false), -EINVAL, "finish with no tensor data: -EINVAL");
	ok(!exists(tmp("bad.gguf")), "... and the partial file is gone");
	rt_gguf_writer_destroy(w);

	/* too many bytes */
	if (rt_gguf_writer_create(&w))
		bail_out("rt_gguf_writer_create: %s", rt_last_error());
	rt_gguf_writer_add_tensor(w, "t", KN_F32, 2, ok_ne);
	{
		uint8_t buf[200] = { 0 };

		rt_gguf_writer_open(w, tmp("over.gguf"));
		is_int(rt_gguf_writer_append(w, buf, sizeof(buf)), -EINVAL,
		       "more data than the table holds: -EINVAL");
		ok(!exists(tmp("over.gguf")), "... and the partial file is gone");
		is_int(rt_gguf_writer_append(w, buf, 1), -EINVAL, "append after failure: -EINVAL");
	}
	rt_gguf_writer_destroy(w);

	/* destroyed while incomplete */
	if (rt_gguf_writer_create(&w))
		bail_out("rt_gguf_writer_create: %s", rt_last_error());
	rt_gguf_writer_add_tensor(w, "t", KN_F32, 2, ok_ne);
	rt_gguf_writer_open(w, tmp("abandoned.gguf"));
	rt_gguf_writer_append(w, "abcd", 4);
	rt_gguf_writer_destroy(w);
	ok(!exists(tmp("abandoned.gguf")), "an abandoned file is removed by destroy");
	is_int(rt_gguf_writer_create(&w), 0, "create");
	is_int(rt_gguf_writer_open(w, tmp("no/such/dir.gguf")), -ENOENT,
	       "open in a missing directory: -ENOENT");
	rt_gguf_writer_destroy(w);
}

/* big_writer - one 8 MiB F32 tensor (larger than the writer's buffer) */
static int big_writer(struct rt_gguf_writer **w)
{
	int64_t ne[2] = { 1024, 2048 };

	if (rt_gguf_writer_create(w))
		return -1;
	return rt_gguf_writer_add_tensor(*w, "big", KN_F32, 2, ne) == 0 ? 0 : -1;
}

static int append_big(struct rt_gguf_writer *w)
{
	static uint8_t chunk[1 << 16];
	int i, ret = 0;

	for (i = 0; i < 128 && !ret; i++)
		ret = rt_gguf_writer_append(w, chunk, sizeof(chunk));
	return ret;
}

static void test_enospc(void)
{
	struct rt_gguf_writer *w;
	int ret;

	if (!exists("/dev/full")) {
		skip(ENOSPC_TESTS, "no /dev/full");
	} else if (!big_writer(&w)) {
		ret = rt_gguf_writer_open(w, "/dev/full");
		if (!ret)
			ret = append_big(w);
		if (!ret)
			ret = rt_gguf_writer_finish(w, false);
		is_int(ret, -ENOSPC, "a full disk gives -ENOSPC");
		ok(strstr(rt_last_error(), "No space left") != NULL, "... and says so: %s",
		   rt_last_error());
		rt_gguf_writer_destroy(w);
		ok(exists("/dev/full"), "... and a device node is never unlinked");
	} else {
		ok(0, "writer built");
		skip(ENOSPC_TESTS - 1, "no writer");
	}
}

/* A file size limit (RLIMIT_FSIZE) makes write() stop short, then fail with
 * EFBIG: the writer must report it and remove the partial file. Run in a child
 * so the limit does not outlive the check. */
static void test_short_write(void)
{
	const char *path = tmp("short.gguf");
	char msg[512] = "";
	int pfd[2], status = 0;
	pid_t pid;

	if (pipe(pfd)) {
		skip(SHORT_WRITE_TESTS, "no pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 3 << 20, 3 << 20 };
		struct rt_gguf_writer *w;
		int ret = -1;

		close(pfd[0]);
		signal(SIGXFSZ, SIG_IGN);
		if (!big_writer(&w) && !setrlimit(RLIMIT_FSIZE, &rl)) {
			ret = rt_gguf_writer_open(w, path);
			if (!ret)
				ret = append_big(w);
			if (!ret)
				ret = rt_gguf_writer_finish(w, false);
			if (write(pfd[1], rt_last_error(), strlen(rt_last_error())) < 0)
				ret = 0;
		}
		_exit(ret == -EFBIG ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], msg, sizeof(msg) - 1) < 0)
		msg[0] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a write cut short by RLIMIT_FSIZE: -EFBIG");
	ok(strstr(msg, "partial file was removed") && strstr(msg, "at byte"),
	   "... with the offset in the message: %s", msg);
	ok(!exists(path), "... and the partial file is gone");
}

int main(void)
{
	/* round trips: alignment (0 = default 32), streamed in chunks of */
	static const struct { uint32_t alignment; size_t chunk; } rt_cases[] = {
		{ 0, 7 }, { 64, 4096 }, { 256, 1 },
	};

	snprintf(dir, sizeof(dir), "/tmp/gguf_writer.XXXXXX");
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	plan((int)(sizeof(rt_cases) / sizeof(rt_cases[0])) * ROUNDTRIP_TESTS + COPY_KV_TESTS +
	     TYPES_TESTS + BAD_INPUT_TESTS + ENOSPC_TESTS + SHORT_WRITE_TESTS);
	for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++)
		roundtrip(rt_cases[i].alignment, rt_cases[i].chunk);
	test_copy_kv();
	test_types();
	test_bad_input();
	test_enospc();
	test_short_write();
	rmdir(dir);
	return done_testing();
}
