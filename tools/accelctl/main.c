// SPDX-License-Identifier: MIT
/*
 * accelctl: drive an accelkv device (or the emulated one) call by call.
 * The emulated device lives only inside this process, so one invocation
 * runs a whole session: commands separated by "--", or one per line of a
 * script (-f FILE). Pools and fences are numbered from 0 in the session.
 * Prints one error line and exits 1 on the first failure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "accel.h"
#include "tool_parse.h"

#define MAX_OBJS 64
#define MAX_ARGS 256

struct session {
	struct accel_device *dev;
	struct accel_pool *pools[MAX_OBJS];
	struct accel_fence *fences[MAX_OBJS];
	int npools, nfences;
	bool emu;		/* the emulated device: no other process shares it */
};

static const char usage[] =
	"usage: accelctl [--device emu|PATH] [-f SCRIPT] [CMD [-- CMD]...]\n"
	"commands:\n"
	"  info | stats\n"
	"  pool create SIZE [--block-size B] [--kv] [--hugepage] [--pageable]\n"
	"  pool info N | pool destroy N\n"
	"  kv alloc POOL COUNT | kv free POOL ID... | kv ref POOL ID...\n"
	"  kv publish POOL ID HASH [ID HASH]... | kv lookup POOL HASH...\n"
	"  fence create | fence signal F POINT | fence wait F POINT [TIMEOUT_MS]\n"
	"  fence query F\n"
	"SIZE: bytes, or with K, M, G, T (powers of 1024): 64K, 1.5G, 512MiB.\n"
	"Numbers (ids, counts, points, hashes) are decimal or 0x-hexadecimal.\n";

static const char *cur_cmd = "accelctl";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "accelctl: %s: ", cur_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int fail_errno(const char *what, int err)
{
	return fail("%s: %s", what, strerror(-err));
}

/* num - a u64 argument through the strict parser: "10i" or "-1" refused with
 * the value as given and what it was meant to be */
static int num(const char *what, const char *arg, uint64_t max, uint64_t *out)
{
	char msg[256], range[48];
	uint64_t v;
	int ret = tool_parse_u64(arg, &v);

	snprintf(range, sizeof(range), "0..%llu", (unsigned long long)max);
	if (!ret && v > max)
		ret = -ERANGE;
	if (ret)
		return fail("%s", tool_parse_msg(msg, sizeof(msg), what, arg, ret,
						 "a number (decimal or 0x-hex)", range));
	*out = v;
	return 0;
}

/* size - a size argument (64K, 1.5G) through the strict parser */
static int size(const char *what, const char *arg, uint64_t max, uint64_t *out)
{
	char msg[256];
	uint64_t v;
	int ret = tool_parse_size(arg, &v);

	if (!ret && v > max)
		ret = -ERANGE;
	if (ret)
		return fail("%s", tool_parse_msg(msg, sizeof(msg), what, arg, ret,
						 "a size (bytes, or K/M/G/T: 64K, 1.5G)", NULL));
	*out = v;
	return 0;
}

static int get_pool(struct session *s, const char *arg, struct accel_pool **out)
{
	uint64_t n;

	if (tool_parse_u64(arg, &n) || n >= MAX_OBJS || !s->pools[n])
		return fail("no pool '%s'", arg ? arg : "");
	*out = s->pools[n];
	return 0;
}

static int get_fence(struct session *s, const char *arg, struct accel_fence **out)
{
	uint64_t n;

	if (tool_parse_u64(arg, &n) || n >= MAX_OBJS || !s->fences[n])
		return fail("no fence '%s'", arg ? arg : "");
	*out = s->fences[n];
	return 0;
}

static int cmd_info(struct session *s)
{
	struct accel_device_info i;
	int ret = accel_device_info(s->dev, &i);

	if (ret)
		return fail_errno("accel_device_info", ret);
	printf("backend: %s\nnode: %s\ncaps: %#llx\napi_version: %u\ncpu_threads: %u\n"
	       "max_pool_size: %llu\npinned_bytes: %llu\npinned_limit: %llu\n",
	       i.backend, i.node[0] ? i.node : "-", (unsigned long long)i.caps, i.api_version,
	       i.cpu_threads, (unsigned long long)i.max_pool_size,
	       (unsigned long long)i.pinned_bytes, (unsigned long long)i.pinned_limit);
	if (i.memlock_limit == UINT64_MAX)
		printf("memlock_limit: unlimited\n");
	else
		printf("memlock_limit: %llu\n", (unsigned long long)i.memlock_limit);
	return 0;
}

static int cmd_stats(struct session *s)
{
	struct accel_device_stats st;
	int ret = accel_device_stats(s->dev, &st);

	if (ret)
		return fail_errno("accel_device_stats", ret);
	printf("pools: %u\nqueues: %u\nfences: %llu\npinned_bytes: %llu\nblocks_total: %llu\n"
	       "blocks_used: %llu\nblocks_cached: %llu\nblocks_free: %llu\n"
	       "prefix_queries: %llu\nprefix_hits: %llu\n", st.pools, st.queues,
	       (unsigned long long)st.fences, (unsigned long long)st.pinned_bytes,
	       (unsigned long long)st.blocks_total, (unsigned long long)st.blocks_used,
	       (unsigned long long)st.blocks_cached, (unsigned long long)st.blocks_free,
	       (unsigned long long)st.prefix_queries, (unsigned long long)st.prefix_hits);
	return 0;
}

static int cmd_pool(struct session *s, int argc, char **argv)
{
	struct accel_pool *pool = NULL;
	int ret;

	if (argc >= 2 && !strcmp(argv[0], "create")) {
		struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts);
		uint64_t bs = 0;
		int slot;

		if (size("SIZE", argv[1], UINT64_MAX, &o.size))
			return 1;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--kv")) {
				o.flags |= ACCEL_POOL_KV;
			} else if (!strcmp(argv[i], "--hugepage")) {
				o.flags |= ACCEL_POOL_HUGEPAGE;
			} else if (!strcmp(argv[i], "--pageable")) {
				o.flags |= ACCEL_POOL_PAGEABLE;
			} else if (!strcmp(argv[i], "--block-size")) {
				if (i + 1 == argc)
					return fail("--block-size: missing value");
				if (size("--block-size", argv[++i], UINT32_MAX, &bs))
					return 1;
				o.block_size = (uint32_t)bs;
			} else {
				return fail("unknown option '%s'", argv[i]);
			}
		}
		if (o.block_size && !(o.flags & ACCEL_POOL_KV))
			o.flags |= ACCEL_POOL_KV;	/* a block size implies a KV pool */
		if ((o.flags & ACCEL_POOL_KV) && !o.block_size)
			o.block_size = 4096;
		for (slot = 0; slot < MAX_OBJS && s->pools[slot]; slot++)
			;
		if (slot == MAX_OBJS)
			return fail("too many pools");
		ret = accel_pool_create(s->dev, &o, &s->pools[slot]);
		if (ret)
			return fail_errno("accel_pool_create", ret);
		printf("pool %d\n", slot);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "info")) {
		struct accel_pool_info pi;

		if (get_pool(s, argv[1], &pool))
			return 1;
		ret = accel_pool_info(pool, &pi);
		if (ret)
			return fail_errno("accel_pool_info", ret);
		printf("size: %llu\nblock_size: %u\nnum_blocks: %u\nflags:%s%s%s%s\n"
		       "blocks_used: %u\nblocks_cached: %u\nblocks_free: %u\n"
		       "prefix_queries: %llu\nprefix_hits: %llu\n",
		       (unsigned long long)pi.size, pi.block_size, pi.num_blocks,
		       pi.flags & ACCEL_POOL_KV ? " kv" : "",
		       pi.flags & ACCEL_POOL_HUGEPAGE ? " hugepage" : "",
		       pi.flags & ACCEL_POOL_INFO_PINNED ? " pinned" : " pageable",
		       pi.flags & ACCEL_POOL_PAGEABLE ? " pageable-ok" : "",
		       pi.blocks_used, pi.blocks_cached, pi.blocks_free,
		       (unsigned long long)pi.prefix_queries, (unsigned long long)pi.prefix_hits);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "destroy")) {
		if (get_pool(s, argv[1], &pool))
			return 1;
		accel_pool_destroy(pool);
		for (int i = 0; i < MAX_OBJS; i++)
			if (s->pools[i] == pool)
				s->pools[i] = NULL;
		return 0;
	}
	return fail("usage: pool create SIZE [opts] | pool info N | pool destroy N");
}

static int parse_ids(char **argv, int n, uint32_t *ids)
{
	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (num("block id", argv[i], UINT32_MAX, &v))
			return 1;
		ids[i] = (uint32_t)v;
	}
	return 0;
}

static void print_ids(const uint32_t *ids, int n)
{
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? " " : "", ids[i]);
	printf("\n");
}

static int cmd_kv(struct session *s, int argc, char **argv)
{
	uint32_t ids[MAX_ARGS];
	uint64_t hashes[MAX_ARGS];
	struct accel_pool *pool = NULL;
	int ret, n;

	if (argc < 3)
		return fail("usage: kv alloc|free|ref|publish|lookup POOL ...");
	if (get_pool(s, argv[1], &pool))
		return 1;
	n = argc - 2;
	if (n > MAX_ARGS)
		return fail("at most %d ids or hashes", MAX_ARGS);
	if (!strcmp(argv[0], "alloc") && argc == 3) {
		uint64_t count;
		uint32_t *out;

		if (num("COUNT", argv[2], 1U << 20, &count))
			return 1;
		out = calloc(count ? count : 1, sizeof(*out));
		if (!out)
			return fail_errno("calloc", -ENOMEM);
		ret = accel_kv_alloc(pool, (uint32_t)count, out);
		if (!ret)
			print_ids(out, (int)count);
		free(out);
		return ret ? fail_errno("accel_kv_alloc", ret) : 0;
	}
	if (!strcmp(argv[0], "free") || !strcmp(argv[0], "ref")) {
		int is_free = argv[0][0] == 'f';

		if (parse_ids(argv + 2, n, ids))
			return 1;
		ret = is_free ? accel_kv_free(pool, (uint32_t)n, ids)
			      : accel_kv_ref(pool, (uint32_t)n, ids);
		return ret ? fail_errno(is_free ? "accel_kv_free" : "accel_kv_ref", ret) : 0;
	}
	if (!strcmp(argv[0], "publish")) {
		if (n % 2)
			return fail("usage: kv publish POOL ID HASH [ID HASH]...");
		for (int i = 0; i < n / 2; i++) {
			if (parse_ids(argv + 2 + 2 * i, 1, &ids[i]))
				return 1;
			if (num("HASH", argv[3 + 2 * i], UINT64_MAX, &hashes[i]))
				return 1;
		}
		ret = accel_kv_publish(pool, (uint32_t)(n / 2), ids, hashes);
		if (ret < 0)
			return fail_errno("accel_kv_publish", ret);
		printf("published %d\n", ret);
		return 0;
	}
	if (!strcmp(argv[0], "lookup")) {
		for (int i = 0; i < n; i++)
			if (num("HASH", argv[2 + i], UINT64_MAX, &hashes[i]))
				return 1;
		ret = accel_kv_lookup(pool, (uint32_t)n, hashes, ids);
		if (ret < 0)
			return fail_errno("accel_kv_lookup", ret);
		printf("found %d%s", ret, ret ? ": " : "\n");
		if (ret)
			print_ids(ids, ret);
		return 0;
	}
	return fail("unknown kv command '%s'", argv[0]);
}

static int cmd_fence(struct session *s, int argc, char **argv)
{
	struct accel_fence *f = NULL;
	uint64_t point, v;
	int ret;

	if (argc == 1 && !strcmp(argv[0], "create")) {
		int slot;

		for (slot = 0; slot < MAX_OBJS && s->fences[slot]; slot++)
			;
		if (slot == MAX_OBJS)
			return fail("too many fences");
		ret = accel_fence_create(s->dev, &s->fences[slot]);
		if (ret)
			return fail_errno("accel_fence_create", ret);
		printf("fence %d\n", slot);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "query")) {
		if (get_fence(s, argv[1], &f))
			return 1;
		ret = accel_fence_query(f, &v);
		if (ret)
			return fail_errno("accel_fence_query", ret);
		printf("%llu\n", (unsigned long long)v);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[0], "signal")) {
		if (get_fence(s, argv[1], &f))
			return 1;
		if (num("POINT", argv[2], UINT64_MAX, &point))
			return 1;
		ret = accel_fence_signal(f, point);
		return ret ? fail_errno("accel_fence_signal", ret) : 0;
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[0], "wait")) {
		uint64_t ms = 0;

		if (get_fence(s, argv[1], &f))
			return 1;
		if (num("POINT", argv[2], UINT64_MAX, &point))
			return 1;
		if (argc == 4 && num("TIMEOUT_MS", argv[3], INT64_MAX / 1000000, &ms))
			return 1;
		/*
		 * The emulated device lives in this process and runs one command at
		 * a time: a point not reached now never will be, so say so rather
		 * than wait (forever without a timeout).
		 */
		if (s->emu && !accel_fence_query(f, &v) && v < point)
			return fail("fence %s: point %llu not signalled (value %llu) and nothing "
				    "can signal it on the emulated device (fence signal %s %llu first)",
				    argv[1], (unsigned long long)point, (unsigned long long)v,
				    argv[1], (unsigned long long)point);
		ret = accel_fence_wait(f, point, argc == 4 ? (int64_t)ms * 1000000 : -1);
		if ((ret == -ETIME || ret == -ETIMEDOUT) && !accel_fence_query(f, &v))
			return fail("fence %s: point %llu not signalled after %llu ms (value %llu)",
				    argv[1], (unsigned long long)point, (unsigned long long)ms,
				    (unsigned long long)v);
		return ret ? fail_errno("accel_fence_wait", ret) : 0;
	}
	return fail("usage: fence create | signal F POINT | wait F POINT [MS] | query F");
}

static int run_cmd(struct session *s, int argc, char **argv)
{
	if (!argc)
		return 0;
	cur_cmd = argv[0];
	if (!strcmp(argv[0], "info") && argc == 1)
		return cmd_info(s);
	if (!strcmp(argv[0], "stats") && argc == 1)
		return cmd_stats(s);
	if (!strcmp(argv[0], "pool"))
		return cmd_pool(s, argc - 1, argv + 1);
	if (!strcmp(argv[0], "kv"))
		return cmd_kv(s, argc - 1, argv + 1);
	if (!strcmp(argv[0], "fence"))
		return cmd_fence(s, argc - 1, argv + 1);
	return fail("unknown command (try accelctl --help)");
}

static int run_script(struct session *s, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	if (!f) {
		cur_cmd = "-f";
		return fail("%s: %s", path, strerror(errno));
	}
	while (!ret && getline(&line, &cap, f) >= 0) {	/* any length: never split */
		char *argv[MAX_ARGS], *save = NULL, *tok;
		int argc = 0;

		line[strcspn(line, "#\n")] = '\0';
		for (tok = strtok_r(line, " \t\r", &save); tok && argc < MAX_ARGS;
		     tok = strtok_r(NULL, " \t\r", &save))
			argv[argc++] = tok;
		ret = run_cmd(s, argc, argv);
		fflush(stdout);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return ret;
}

static void log_cb(enum accel_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= ACCEL_LOG_WARN || getenv("ACCELCTL_VERBOSE"))
		fprintf(stderr, "accelctl: libaccel: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct session s;
	const char *device = NULL, *script = NULL;
	int i = 1, ret;

	memset(&s, 0, sizeof(s));
	for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--device") || !strcmp(argv[i], "-f")) {
			if (i + 1 == argc) {
				fprintf(stderr, "accelctl: %s: missing value (try --help)\n", argv[i]);
				return 1;
			}
			if (argv[i][1] == 'f')
				script = argv[++i];
			else
				device = argv[++i];
		} else {
			fprintf(stderr, "accelctl: unknown option '%s' (try --help)\n", argv[i]);
			return 1;
		}
	}
	if (i == argc && !script) {
		fputs(usage, stderr);
		return 1;
	}
	accel_set_log(log_cb, NULL);
	ret = accel_device_open(device, &s.dev);
	if (ret) {
		const char *env = getenv("ACCEL_DEVICE");

		/* name what chose the device: --device, ACCEL_DEVICE, or the search */
		if (device)
			fprintf(stderr, "accelctl: --device %s: %s\n", device, strerror(-ret));
		else if (env && *env)
			fprintf(stderr, "accelctl: ACCEL_DEVICE=%s: %s\n", env, strerror(-ret));
		else
			fprintf(stderr, "accelctl: no accel device could be opened: %s\n",
				strerror(-ret));
		return 1;
	}
	{
		struct accel_device_info di;

		s.emu = !accel_device_info(s.dev, &di) && !strcmp(di.backend, "emu");
	}
	ret = 0;
	if (script)
		ret = run_script(&s, script);
	while (!ret && i < argc) {
		int start = i;

		while (i < argc && strcmp(argv[i], "--"))
			i++;
		ret = run_cmd(&s, i - start, argv + start);
		fflush(stdout);
		if (i < argc)
			i++;	/* skip "--" */
	}
	accel_device_close(s.dev);
	return ret ? 1 : 0;
}
