// SPDX-License-Identifier: MIT
/*
 * accel-run: generate text with a GGUF model, llama.cpp-style flags.
 * Parsing and printing only; the work is runtime/ (rt_model, rt_session,
 * rt_sampler, rt_tokenizer, rt_chat).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_tokenizer.h"
#include "run.h"
#include "tool_parse.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: accel-run -m MODEL [-p PROMPT | -f FILE] [options]\n"
"  -m, --model FILE       GGUF model\n"
"  -p, --prompt TEXT      prompt\n"
"  -f, --file FILE        prompts, one per line (with -np: decoded together)\n"
"  -n, --n-predict N      tokens to generate (default 128; -1 = until EOS/context)\n"
"  -c, --ctx-size N       context length (default min(train, 4096))\n"
"  -b, --batch-size N     most tokens per forward pass (default 512)\n"
"  -t, --threads N        compute threads (default: all CPUs)\n"
"  -np, --parallel N      sequences decoded together (default 1)\n"
"      --temp T           temperature (default 0.8; 0 = greedy)\n"
"      --top-k K          (default 40)   --top-p P (0.95)   --min-p P (0.05)\n"
"      --repeat-penalty R (default 1.0)  --repeat-last-n N (64)\n"
"  -s, --seed S           sampling seed\n"
"      --ids              print the whole token id sequence instead of text\n"
"      --chat             interactive chat with the model's template\n"
"      --chat-once        format -p as one user turn of the chat template\n"
"      --mem-budget B     cap pinned weight memory (1.5G, 512M: K/M/G/T, powers of\n"
"                         1024); the layers beyond it stream from the file\n"
"      --device D         emu or a device node (default: auto)\n"
"  -h, --help\n");
}

static int parse_int(const char *s, const char *flag, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "accel-run: %s: invalid value '%s' (%ld..%ld)\n", flag, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_float(const char *s, const char *flag, float *out)
{
	char *end;
	float v;

	errno = 0;
	v = strtof(s, &end);
	if (errno || end == s || *end) {
		fprintf(stderr, "accel-run: %s: invalid number '%s'\n", flag, s);
		return -1;
	}
	*out = v;
	return 0;
}

static bool takes_value(const char *a)
{
	static const char *const flags[] = {
		"-m", "--model", "-p", "--prompt", "-f", "--file", "--device", "-n", "--n-predict",
		"-c", "--ctx-size", "-b", "--batch-size", "-t", "--threads", "-np", "--parallel",
		"-s", "--seed", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
		"--repeat-last-n", "--mem-budget",
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strcmp(a, flags[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct run_opts o;
	long v;

	memset(&o, 0, sizeof(o));
	rt_sampler_defaults(&o.sp);
	o.n_predict = 128;
	o.sp.seed = (uint64_t)time(NULL);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

#define IS(x) (!strcmp(a, x))
		if (IS("-h") || IS("--help")) {
			usage(stdout);
			return 0;
		} else if (IS("--ids")) {
			o.ids = true;
			takes = false;
		} else if (IS("--chat")) {
			o.chat = true;
			takes = false;
		} else if (IS("--chat-once")) {
			o.chat_once = true;
			takes = false;
		} else if (IS("-v") || IS("--verbose")) {
			o.verbose = true;
			takes = false;
		} else if (!takes_value(a)) {
			fprintf(stderr, "accel-run: %s '%s' (see --help)\n",
				a[0] == '-' ? "unknown option" : "unexpected argument", a);
			return 1;
		} else if (!val) {
			fprintf(stderr, "accel-run: %s: missing value (see --help)\n", a);
			return 1;
		} else if (IS("-m") || IS("--model")) {
			o.model = val;
		} else if (IS("-p") || IS("--prompt")) {
			o.prompt = val;
		} else if (IS("-f") || IS("--file")) {
			o.prompt_file = val;
		} else if (IS("--device")) {
			o.device = val;
		} else if (IS("-n") || IS("--n-predict")) {
			if (parse_int(val, a, -1, 1 << 24, &v))
				return 1;
			o.n_predict = (int)v;
		} else if (IS("-c") || IS("--ctx-size")) {
			if (parse_int(val, a, 0, 1 << 20, &v))
				return 1;
			o.n_ctx = (int)v;
		} else if (IS("-b") || IS("--batch-size")) {
			if (parse_int(val, a, 1, 1 << 16, &v))
				return 1;
			o.n_batch = (int)v;
		} else if (IS("-t") || IS("--threads")) {
			if (parse_int(val, a, 1, 1024, &v))
				return 1;
			o.threads = (int)v;
		} else if (IS("-np") || IS("--parallel")) {
			if (parse_int(val, a, 1, 256, &v))
				return 1;
			o.n_parallel = (int)v;
		} else if (IS("-s") || IS("--seed")) {
			if (parse_int(val, a, 0, 0x7fffffffL, &v))
				return 1;
			o.sp.seed = (uint64_t)v;
		} else if (IS("--temp")) {
			if (parse_float(val, a, &o.sp.temp))
				return 1;
		} else if (IS("--top-k")) {
			if (parse_int(val, a, 0, 1 << 24, &v))
				return 1;
			o.sp.top_k = (int)v;
		} else if (IS("--top-p")) {
			if (parse_float(val, a, &o.sp.top_p))
				return 1;
		} else if (IS("--min-p")) {
			if (parse_float(val, a, &o.sp.min_p))
				return 1;
		} else if (IS("--repeat-penalty")) {
			if (parse_float(val, a, &o.sp.repeat_penalty))
				return 1;
		} else if (IS("--repeat-last-n")) {
			if (parse_int(val, a, 0, 1 << 16, &v))
				return 1;
			o.sp.repeat_last_n = (int)v;
		} else if (IS("--mem-budget")) {
			if (tool_parse_size(val, &o.mem_budget) < 0) {
				fprintf(stderr, "accel-run: --mem-budget: invalid size '%s'\n", val);
				return 1;
			}
		}
		if (takes)
			i++;
#undef IS
	}
	if (!o.model) {
		fprintf(stderr, "accel-run: no model given (-m FILE)\n");
		return 1;
	}
	if (o.sp.top_p <= 0 || o.sp.top_p > 1 || o.sp.min_p < 0 || o.sp.min_p > 1 ||
	    o.sp.repeat_penalty <= 0) {
		fprintf(stderr, "accel-run: sampling values out of range\n");
		return 1;
	}
	return run_main(&o) < 0 ? 1 : 0;
}
