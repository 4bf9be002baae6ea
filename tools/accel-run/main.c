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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "accel.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_spec.h"
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
"  -c, --ctx-size N       context length shared by the -np sequences, as llama.cpp:\n"
"                         each gets N / np (default min(train, 4096))\n"
"  -kvu, --kv-unified     every sequence may use all of -c while KV blocks last\n"
"                         (one shared pool; a sequence that finds none fails)\n"
"  -b, --batch-size N     most tokens per forward pass (default 512)\n"
"  -t, --threads N        compute threads (default: all CPUs; at most 256)\n"
"  -np, --parallel N      sequences decoded together (default 1, at most 256)\n"
"      --temp T           temperature (default 0.8; 0 = greedy)\n"
"      --top-k K          (default 40)   --top-p P (0.95)   --min-p P (0.05)\n"
"      --repeat-penalty R (default 1.0)  --repeat-last-n N (64)\n"
"  -s, --seed S           sampling seed (default -1: random, printed with -v)\n"
"      --ids              print the whole token id sequence instead of text\n"
"      --chat             interactive chat with the model's template\n"
"      --chat-once        format -p as one user turn of the chat template\n"
"      --mem-budget B     cap pinned weight memory (1.5G, 512M: K/M/G/T, powers of\n"
"                         1024); the layers beyond it stream from the file\n"
"      --draft-model FILE speculative decoding: a small model with the same\n"
"                         vocabulary drafts, the model verifies (resident)\n"
"      --lookup N         speculative decoding without a second model: drafts\n"
"                         from the latest earlier match of the last N tokens\n"
"      --draft K          most tokens drafted per model pass (default 8, fewer\n"
"                         when -b leaves less room)\n"
"      --draft-p-min P    stop a draft at a token the draft model gives less\n"
"                         than P (default 0.75; 0 = never)\n"
"      --trace FILE       every command of every queue as a span: trace-event\n"
"                         JSON for chrome://tracing or Perfetto (as ACCEL_TRACE)\n"
"      --gpu              run on the first CUDA GPU (the backend libaccel-cuda.so.1,\n"
"                         loaded only then; CUDA_VISIBLE_DEVICES picks the GPU)\n"
"      --vram-budget B    with --gpu: VRAM for the KV cache, activations and\n"
"                         weights; the layers beyond it cross PCIe every pass\n"
"                         from host memory (all of it, or --mem-budget's tier)\n"
"      --moe-prefetch on|off  streamed MoE: read the experts the next layers are\n"
"                         predicted to route to before their routing finishes\n"
"                         (default on; the output is the same)\n"
"      --mlock            pinning is mandatory: fail where RLIMIT_MEMLOCK refuses it\n"
"                         (default: fall back to pageable memory with a warning)\n"
"  -ctk, --cache-type-k T KV cache type of K: f32, f16, q8_0 (default f16)\n"
"  -ctv, --cache-type-v T KV cache type of V: f32, f16, q8_0 (default f16; q8_0\n"
"                         needs flash attention)\n"
"  -fa, --flash-attn FA   on, off or auto (default auto: on, as llama.cpp on a CPU)\n"
"  -v, --verbose          model, placement and seed on stderr\n"
"      --device D         emu or a device node (default: auto)\n"
"      --pp-timeout S     under mpirun (pipeline over ranks): seconds a rank waits\n"
"                         for a peer before the job ends (default 600)\n"
"      --kv-pool-fd N     KV cache in the KV pool another process exported as fd N\n"
"                         (a dma-buf of the driver): prompt prefixes it published\n"
"                         are reused, not computed again\n"
"  -h, --help\n");
}

/* the strict parsers of tools/lib; one line naming the flag and the value */
static int flag_int(const char *flag, const char *val, long long lo, long long hi, int *out)
{
	return tool_flag_int("accel-run", flag, val, lo, hi, out);
}

/* a finite float in [lo, hi]; @range as the user reads it */
static int flag_float(const char *flag, const char *val, double lo, double hi,
		      const char *range, float *out)
{
	char msg[256];
	double v;
	int ret = tool_parse_float(val, lo, hi, &v);

	if (ret) {
		fprintf(stderr, "accel-run: %s\n",
			tool_parse_msg(msg, sizeof(msg), flag, val, ret, "a finite number", range));
		return ret;
	}
	*out = (float)v;
	return 0;
}

/* a seed nobody chose: -s -1 and no -s (llama.cpp's LLAMA_DEFAULT_SEED) */
static uint64_t random_seed(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	return v;
}

static bool takes_value(const char *a)
{
	static const char *const flags[] = {
		"-m", "--model", "-p", "--prompt", "-f", "--file", "--device", "-n", "--n-predict",
		"-c", "--ctx-size", "-b", "--batch-size", "-t", "--threads", "-np", "--parallel",
		"-s", "--seed", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
		"--repeat-last-n", "--mem-budget", "--vram-budget", "--pp-timeout", "--kv-pool-fd", "--draft-model",
		"--lookup", "--draft", "--trace", "--draft-p-min", "-ctk", "--cache-type-k", "-ctv",
		"--cache-type-v", "-fa", "--flash-attn", "--moe-prefetch",
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strcmp(a, flags[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct run_opts o;

	memset(&o, 0, sizeof(o));
	rt_sampler_defaults(&o.sp);
	o.n_predict = 128;
	o.draft_p_min = 0.75f;
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
		} else if (IS("-kvu") || IS("--kv-unified")) {
			o.kv_unified = true;
			takes = false;
		} else if (IS("-no-kvu") || IS("--no-kv-unified")) {
			o.kv_unified = false;
			takes = false;
		} else if (IS("--mlock")) {
			o.mlock = true;
		} else if (IS("--gpu")) {
			o.gpu = true;
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
			if (flag_int(a, val, -1, 1 << 24, &o.n_predict))
				return 1;
		} else if (IS("-c") || IS("--ctx-size")) {
			if (flag_int(a, val, 0, 1 << 20, &o.n_ctx))
				return 1;
		} else if (IS("-b") || IS("--batch-size")) {
			if (flag_int(a, val, 1, 1 << 16, &o.n_batch))
				return 1;
		} else if (IS("-t") || IS("--threads")) {
			/* the COMPUTE engine's own limit, refused here rather than at load */
			if (flag_int(a, val, 1, ACCEL_QUEUE_MAX_THREADS, &o.threads))
				return 1;
		} else if (IS("-np") || IS("--parallel")) {
			if (flag_int(a, val, 1, RUN_MAX_PARALLEL, &o.n_parallel))
				return 1;
		} else if (IS("-s") || IS("--seed")) {
			/* llama.cpp's seeds are 32-bit; -1 = a random one */
			long long sv;
			int ret = tool_parse_int(val, -1, 0xffffffffLL, &sv);
			char msg[256];

			if (ret) {
				fprintf(stderr, "accel-run: %s\n",
					tool_parse_msg(msg, sizeof(msg), a, val, ret, "an integer",
						       "-1..4294967295, -1 = random"));
				return 1;
			}
			o.sp.seed = (uint64_t)(sv < 0 ? 0 : sv);
			o.seed_given = sv >= 0;
		} else if (IS("--temp")) {
			if (flag_float(a, val, -100, 100, "-100..100, 0 or below = greedy",
				       &o.sp.temp))
				return 1;
		} else if (IS("--top-k")) {
			if (flag_int(a, val, 0, 1 << 24, &o.sp.top_k))
				return 1;
		} else if (IS("--top-p")) {
			if (flag_float(a, val, 0, 1, "above 0, at most 1", &o.sp.top_p))
				return 1;
			if (o.sp.top_p <= 0) {
				fprintf(stderr, "accel-run: %s: '%s' is out of range (above 0, at most 1)\n",
					a, val);
				return 1;
			}
		} else if (IS("--min-p")) {
			if (flag_float(a, val, 0, 1, "0..1", &o.sp.min_p))
				return 1;
		} else if (IS("--repeat-penalty")) {
			if (flag_float(a, val, 0, 100, "above 0, at most 100; 1 = off",
				       &o.sp.repeat_penalty))
				return 1;
			if (o.sp.repeat_penalty <= 0) {
				fprintf(stderr, "accel-run: %s: '%s' is out of range (above 0, at most 100; 1 = off)\n",
					a, val);
				return 1;
			}
		} else if (IS("--repeat-last-n")) {
			if (flag_int(a, val, 0, 1 << 16, &o.sp.repeat_last_n))
				return 1;
		} else if (IS("--pp-timeout")) {
			float t;

			if (flag_float(a, val, 1, 86400, "1..86400 seconds", &t))
				return 1;
			o.pp_timeout = t;
		} else if (IS("--kv-pool-fd")) {
			/* 0, 1 and 2 are stdio, never a pool */
			if (flag_int(a, val, 3, 1 << 20, &o.kv_pool_fd))
				return 1;
		} else if (IS("--trace")) {
			o.trace = val;
		} else if (IS("--draft-model")) {
			o.draft_model = val;
		} else if (IS("--lookup")) {
			if (flag_int(a, val, 1, 64, &o.lookup))
				return 1;
		} else if (IS("--draft-p-min")) {
			if (flag_float(a, val, 0, 1, "0..1", &o.draft_p_min))
				return 1;
		} else if (IS("--draft")) {
			if (flag_int(a, val, 1, RT_SPEC_MAX_DRAFT, &o.n_draft))
				return 1;
		} else if (IS("-ctk") || IS("--cache-type-k") || IS("-ctv") || IS("--cache-type-v")) {
			int t = rt_kv_type_parse(val);

			if (t < 0) {
				fprintf(stderr, "accel-run: %s: '%s' is not a cache type (f32, f16, q8_0)\n",
					a, val);
				return 1;
			}
			*(IS("-ctk") || IS("--cache-type-k") ? &o.type_k : &o.type_v) = t;
		} else if (IS("-fa") || IS("--flash-attn")) {
			int fa = rt_flash_attn_parse(val);

			if (fa < 0) {
				fprintf(stderr, "accel-run: %s: '%s' is not on, off or auto\n", a, val);
				return 1;
			}
			o.flash_attn = fa;
		} else if (IS("--moe-prefetch")) {
			if (strcmp(val, "on") && strcmp(val, "off")) {
				fprintf(stderr, "accel-run: %s: '%s' is not on or off\n", a, val);
				return 1;
			}
			o.moe_prefetch = strcmp(val, "on") ? RT_MOE_PREFETCH_OFF : RT_MOE_PREFETCH_ON;
		} else if (IS("--vram-budget")) {
			char msg[256];
			int ret = tool_parse_size(val, &o.vram_budget);

			if (ret || !o.vram_budget) {
				fprintf(stderr, "accel-run: %s\n",
					tool_parse_msg(msg, sizeof(msg), a, val, ret ? ret : -ERANGE,
						       "a size", "bytes or K/M/G/T: 8G, 512M"));
				return 1;
			}
		} else if (IS("--mem-budget")) {
			char msg[256];
			int ret = tool_parse_size(val, &o.mem_budget);

			if (ret) {
				fprintf(stderr, "accel-run: %s\n",
					tool_parse_msg(msg, sizeof(msg), a, val, ret, "a size",
						       "bytes or K/M/G/T: 512M, 1.5G"));
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
	/* two sources of prompts: refused rather than one silently ignored */
	if (o.prompt && o.prompt_file && !o.chat) {
		fprintf(stderr, "accel-run: -p and -f both give the prompt: use one\n");
		return 1;
	}
	if ((o.chat || o.chat_once) && (o.prompt_file || o.n_parallel > 1)) {
		fprintf(stderr, "accel-run: %s works on one conversation: not with %s\n",
			o.chat ? "--chat" : "--chat-once", o.prompt_file ? "-f" : "-np");
		return 1;
	}
	if ((o.draft_model || o.lookup) && (o.prompt_file || o.n_parallel > 1)) {
		fprintf(stderr, "accel-run: %s speeds up one sequence: not with %s\n",
			o.draft_model ? "--draft-model" : "--lookup", o.prompt_file ? "-f" : "-np");
		return 1;
	}
	if (o.draft_model && o.lookup) {
		fprintf(stderr, "accel-run: --draft-model and --lookup both draft: use one\n");
		return 1;
	}
	if (o.chat && o.chat_once) {
		fprintf(stderr, "accel-run: --chat and --chat-once: use one\n");
		return 1;
	}
	if (o.vram_budget && !o.gpu) {
		fprintf(stderr, "accel-run: --vram-budget needs --gpu\n");
		return 1;
	}
	if (!o.seed_given)
		o.sp.seed = random_seed();
	/* started by mpirun: layers split over the ranks (pipeline.c) */
	if (getenv("OMPI_COMM_WORLD_SIZE")) {
		if (o.draft_model || o.lookup || o.trace) {
			fprintf(stderr, "accel-run: --draft-model, --lookup and --trace are not supported under mpirun\n");
			return 1;
		}
		return pipeline_main(&o) < 0 ? 1 : 0;
	}
	if (o.trace) {
		int ret = accel_trace_start(o.trace);

		if (ret < 0) {
			fprintf(stderr, "accel-run: --trace %s: %s\n", o.trace, strerror(-ret));
			return 1;
		}
		ret = run_main(&o);
		if (accel_trace_stop() < 0) {
			fprintf(stderr, "accel-run: --trace %s: the trace could not be written\n", o.trace);
			return 1;
		}
		return ret < 0 ? 1 : 0;
	}
	return run_main(&o) < 0 ? 1 : 0;
}
