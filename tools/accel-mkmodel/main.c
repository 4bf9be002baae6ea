// SPDX-License-Identifier: MIT
/*
 * accel-mkmodel: write a GGUF of a named model shape (llama-7b, llama-70b,
 * mixtral-8x7b, qwen3-8b, qwen3-30b-a3b, and tiny test shapes) with seeded
 * random weights. Owns the command line, the free-space check and the
 * progress display.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "accel.h"
#include "rt_error.h"
#include "mkmodel.h"
#include "tool_parse.h"

#define DEFAULT_VOCAB "tests/models/stories260K.gguf"

static const char usage[] =
	"usage: accel-mkmodel --preset NAME -o OUT.gguf [--layers N]\n"
	"                     [--type q4_0|q4_1|q8_0|q4_k|q5_k|q6_k|f16|f32] [--seed S]\n"
	"                     [--vocab-from FILE.gguf] [--threads N]\n"
	"  presets: tiny, tiny-moe, small, small-moe, tiny-qwen3, tiny-qwen3moe (tests), llama-7b,\n"
	"           llama-70b, mixtral-8x7b, qwen3-8b, qwen3-30b-a3b\n"
	"  --type     type of the 2-D/3-D weights (norms and the MoE router stay f32;\n"
	"             default q4_0)\n"
	"  --seed     PRNG seed (default 1); the same seed gives the same file\n"
	"  --vocab-from  GGUF whose tokenizer.* keys are copied (default\n"
	"             " DEFAULT_VOCAB "); big presets pad it with <unused_N>\n"
	"  --threads  generator threads (default 2)\n";

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "accel-mkmodel: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t parse_type(const char *s)
{
	static const struct { const char *name; uint32_t type; } t[] = {
		{ "q4_0", ACCEL_DTYPE_Q4_0 }, { "q4_1", ACCEL_DTYPE_Q4_1 }, { "q8_0", ACCEL_DTYPE_Q8_0 }, { "q4_k", ACCEL_DTYPE_Q4_K }, { "q4_K", ACCEL_DTYPE_Q4_K },
		{ "q5_k", ACCEL_DTYPE_Q5_K }, { "q5_K", ACCEL_DTYPE_Q5_K },
		{ "q6_k", ACCEL_DTYPE_Q6_K }, { "q6_K", ACCEL_DTYPE_Q6_K },
		{ "f16", ACCEL_DTYPE_F16 }, { "f32", ACCEL_DTYPE_F32 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].type;
	die("unknown --type '%s' (q4_0, q4_1, q8_0, q4_k, q5_k, q6_k, f16, f32)", s);
}

/* default_vocab - $ACCEL_TOP/<rel>, else the repo around build/bin, else ./<rel> */
static const char *default_vocab(void)
{
	static char path[PATH_MAX + 64];
	char exe[PATH_MAX];
	const char *top = getenv("ACCEL_TOP");
	ssize_t n;

	if (top && *top) {
		snprintf(path, sizeof(path), "%s/%s", top, DEFAULT_VOCAB);
		if (!access(path, R_OK))
			return path;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *bin;

		exe[n] = 0;
		bin = dirname(exe);
		/* <top>/build/bin/accel-mkmodel or <top>/build/san/bin/accel-mkmodel */
		snprintf(path, sizeof(path), "%s/../../%s", bin, DEFAULT_VOCAB);
		if (!access(path, R_OK))
			return path;
		snprintf(path, sizeof(path), "%s/../../../%s", bin, DEFAULT_VOCAB);
		if (!access(path, R_OK))
			return path;
	}
	return DEFAULT_VOCAB;
}

static void parse(int argc, char **argv, struct mk_opts *o, const char **out)
{
	static const struct option lo[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "layers", required_argument, NULL, 'l' },
		{ "type", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "vocab-from", required_argument, NULL, 'v' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->type = ACCEL_DTYPE_Q4_0;
	o->seed = 1;
	o->threads = 2;
	*out = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:l:t:s:v:j:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->preset = mk_preset_find(optarg);
			if (!o->preset)
				die("unknown --preset '%s' (%s)", optarg, mk_preset_names());
			break;
		case 'o':
			*out = optarg;
			break;
		case 'l':
			if (tool_parse_u64(optarg, &v) || v < 1 || v > 1024)
				die("--layers wants a number from 1 to 1024, not '%s'", optarg);
			o->layers = (uint32_t)v;
			break;
		case 't':
			o->type = parse_type(optarg);
			break;
		case 's':
			if (tool_parse_u64(optarg, &v))
				die("--seed wants an unsigned number, not '%s'", optarg);
			o->seed = v;
			break;
		case 'v':
			o->vocab_from = optarg;
			break;
		case 'j':
			if (tool_parse_u64(optarg, &v) || v < 1 || v > 64)
				die("--threads wants a number from 1 to 64, not '%s'", optarg);
			o->threads = (int)v;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case ':':
			die("%s needs a value (see --help)", argv[optind - 1]);
		default:
			die("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (!o->preset)
		die("--preset is required (%s)", mk_preset_names());
	if (!*out || !**out)
		die("-o OUT.gguf is required");
	if (!o->vocab_from)
		o->vocab_from = default_vocab();
}

static double gb(uint64_t b)
{
	return (double)b / 1e9;
}

/* check_space - refuse when the file cannot fit where it goes */
static void check_space(const char *out, uint64_t need)
{
	char dir[PATH_MAX];
	struct statvfs vfs;
	struct stat st;
	uint64_t avail;

	snprintf(dir, sizeof(dir), "%s", out);
	if (statvfs(dirname(dir), &vfs))
		die("%s: cannot check free space: %s", out, strerror(errno));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	/* the old file stays until the new one replaces it: no credit for it */
	if (!stat(out, &st) && !S_ISREG(st.st_mode))
		return;		/* /dev/null and friends: written in place */
	if (need > avail)
		die("%s needs %.2f GB (%llu bytes) but only %.2f GB (%llu bytes) are free there",
		    out, gb(need), (unsigned long long)need, gb(avail), (unsigned long long)avail);
}

/* An interrupted run leaves no partial file behind and the old file as it
 * was: the writer's temporary file is removed (unlink is async-signal-safe),
 * the target is never touched before the final rename. */
static void on_signal(int sig)
{
	if (mk_partial_set)
		unlink(mk_partial);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void remove_on_signal(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal };
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

struct progress {
	bool tty;
	double t0, last;
};

static void show(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *pr = ctx;
	double t = now_s(), el = t - pr->t0, rate;
	char bar[31];
	int i, fill;

	if (!pr->tty || (t - pr->last < 0.2 && done < total))
		return;
	pr->last = t;
	rate = el > 0 ? (double)done / el : 0;
	fill = total ? (int)(30.0 * (double)done / (double)total) : 30;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = 0;
	fprintf(stderr, "\r[%s] %8.1f / %.1f MB  %6.1f MB/s  ETA %4.0f s ", bar, done / 1e6,
		total / 1e6, rate / 1e6, rate > 0 ? (double)(total - done) / rate : 0.0);
	if (done >= total)
		fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	struct progress pr = { 0 };
	struct mk_plan plan;
	struct mk_opts o;
	const char *out;
	uint64_t size;
	double el;
	int ret;

	parse(argc, argv, &o, &out);
	ret = mk_plan_build(&o, &plan);
	if (ret)
		die("%s", rt_last_error());
	size = rt_gguf_writer_file_size(plan.w);
	check_space(out, size);
	remove_on_signal();
	pr.tty = isatty(STDERR_FILENO);
	pr.t0 = now_s();
	ret = mk_generate(&plan, &o, out, show, &pr);
	if (ret) {
		mk_plan_fini(&plan);
		die("%s", rt_last_error());
	}
	el = now_s() - pr.t0;
	fprintf(stderr, "accel-mkmodel: wrote %s: %s, %u layers, %s, vocab %u, %lld tensors, "
		"%.1f M params, %.1f MB in %.1f s (%.0f MB/s)\n", out, o.preset->name, plan.layers,
		accel_dtype_name(o.type), plan.vocab, (long long)plan.n_tensors, plan.n_params / 1e6,
		size / 1e6, el, el > 0 ? size / 1e6 / el : 0.0);
	mk_plan_fini(&plan);
	return 0;
}
