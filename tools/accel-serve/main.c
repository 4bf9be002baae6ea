// SPDX-License-Identifier: MIT
/*
 * accel-serve: an OpenAI-compatible HTTP server (llama-server's flags) over
 * the runtime's scheduler: continuous batching, chunked prefill, prefix
 * caching. Parsing and start-up here; http.c, api.c, engine.c do the work.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "accel.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_stream.h"
#include "rt_tokenizer.h"
#include "serve.h"
#include "tool_parse.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: accel-serve -m MODEL [options]\n"
"  -m, --model FILE       GGUF model\n"
"      --host H           address to listen on (default 127.0.0.1)\n"
"      --port N           TCP port (default 8080; 0 = any free one, printed)\n"
"  -np, --parallel N      most sequences decoded at once (default 4, at most 256)\n"
"  -c, --ctx-size N       context shared by the -np sequences, as llama-server: each\n"
"                         gets N / np (default min(train, 4096))\n"
"  -kvu, --kv-unified     every sequence may use all of -c while KV blocks last\n"
"  -b, --batch-size N     token budget of one step: decode tokens plus prompt\n"
"                         chunks (default 512)\n"
"  -n, --n-predict N      max_tokens of a request that gives none (default -1:\n"
"                         until the end of generation or the context)\n"
"  -t, --threads N        compute threads (default: all CPUs)\n"
"      --mem-budget B     cap pinned weight memory (512M, 1.5G); beyond it the\n"
"                         layers stream from the file\n"
"      --gpu              run on the first CUDA GPU (the backend libaccel-cuda.so.1,\n"
"                         loaded only then; CUDA_VISIBLE_DEVICES picks the GPU): the\n"
"                         KV cache and activations live in VRAM\n"
"      --vram-budget B    with --gpu: VRAM for the KV cache, activations and\n"
"                         weights; the layers beyond it cross PCIe every step\n"
"                         from host memory (all of it, or --mem-budget's tier)\n"
"  -ctk, --cache-type-k T KV cache type of K: f32, f16, q8_0 (default f16)\n"
"  -ctv, --cache-type-v T KV cache type of V: f32, f16, q8_0 (default f16; q8_0\n"
"                         needs flash attention)\n"
"  -fa, --flash-attn FA   on, off or auto (default auto: on, as llama.cpp on a CPU)\n"
"      --api-key KEY      require \"Authorization: Bearer KEY\" (all but /health)\n"
"      --max-body B       largest request body (default 1M; 413 beyond)\n"
"      --kv-cache-dir DIR\n"
"                         the prefix cache's disk tier: published KV blocks written\n"
"                         there when evicted (and at shutdown), reused after a\n"
"                         restart or by another server\n"
"      --kv-blocks N      most KV blocks the running sequences hold (default: the\n"
"                         pool's); beyond it the newest is swapped out to host memory\n"
"      --swap-space B     host memory for swapped-out sequences (default: no limit);\n"
"                         beyond it they swap to files in --kv-cache-dir\n"
"      --queue N          most requests waiting for a sequence (default 64; 503 beyond)\n"
"      --timeout S        close a connection idle or stalled this long (default 30)\n"
"      --shutdown-timeout S\n"
"                         on SIGTERM/SIGINT, wait this long for running requests\n"
"                         (new ones get 503) before cancelling them (default 30)\n"
"      --alias NAME       the model's id in the API (default: its file's name)\n"
"      --device D         emu or a device node (default: auto)\n"
"      --pp-timeout S     under mpirun (layers split over the ranks): seconds rank 0\n"
"                         waits for a step's logits before ending the job (default 600)\n"
"  -v, --verbose          libmicrohttpd's and libaccel's messages\n"
"  -h, --help\n");
}

static int flag_int(const char *flag, const char *val, long long lo, long long hi, int *out)
{
	return tool_flag_int("accel-serve", flag, val, lo, hi, out);
}

static int flag_size(const char *flag, const char *val, uint64_t *out)
{
	char msg[256];
	int ret = tool_parse_size(val, out);

	if (ret)
		fprintf(stderr, "accel-serve: %s\n",
			tool_parse_msg(msg, sizeof(msg), flag, val, ret, "a size",
				       "bytes or K/M/G/T: 512M, 1.5G"));
	return ret;
}

static void log_cb(enum accel_log_level level, const char *msg, void *ctx)
{
	const struct serve_opts *o = ctx;

	if (o->verbose && level <= ACCEL_LOG_INFO)
		fprintf(stderr, "accel-serve: libaccel: %s\n", msg);
}

static int parse(int argc, char **argv, struct serve_opts *o)
{
	static const char *const valued[] = {
		"-m", "--model", "--host", "--port", "-np", "--parallel", "-c", "--ctx-size",
		"-b", "--batch-size", "-n", "--n-predict", "-t", "--threads", "--mem-budget", "--vram-budget",
		"--api-key", "--kv-cache-dir", "--kv-blocks", "--max-body", "--queue", "--timeout", "--shutdown-timeout", "--swap-space", "--alias", "--device", "--pp-timeout",
		"-ctk", "--cache-type-k", "-ctv", "--cache-type-v", "-fa", "--flash-attn",
	};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = false;

#define IS(x) (!strcmp(a, x))
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			takes |= IS(valued[k]);
		if (IS("-h") || IS("--help")) {
			usage(stdout);
			exit(0);
		} else if (IS("-kvu") || IS("--kv-unified")) {
			o->kv_unified = true;
			continue;	/* takes no value: the next word is not skipped */
		} else if (IS("-no-kvu") || IS("--no-kv-unified")) {
			o->kv_unified = false;
			continue;
		} else if (IS("-v") || IS("--verbose")) {
			o->verbose = true;
			continue;
		} else if (IS("--gpu")) {
			o->gpu = true;
			continue;
		} else if (!takes) {
			fprintf(stderr, "accel-serve: %s '%s' (see --help)\n",
				a[0] == '-' ? "unknown option" : "unexpected argument", a);
			return -EINVAL;
		} else if (!val) {
			fprintf(stderr, "accel-serve: %s: missing value (see --help)\n", a);
			return -EINVAL;
		}
		i++;
		if (IS("-m") || IS("--model")) {
			o->model = val;
		} else if (IS("--host")) {
			o->host = val;
		} else if (IS("--api-key")) {
			o->api_key = val;
		} else if (IS("--kv-cache-dir")) {
			o->kv_cache_dir = val;
		} else if (IS("--alias")) {
			o->alias = val;
		} else if (IS("--device")) {
			o->device = val;
		} else if (IS("--port")) {
			if (flag_int(a, val, 0, 65535, &o->port))
				return -EINVAL;
		} else if (IS("-np") || IS("--parallel")) {
			if (flag_int(a, val, 1, SERVE_MAX_PARALLEL, &o->n_parallel))
				return -EINVAL;
		} else if (IS("-c") || IS("--ctx-size")) {
			if (flag_int(a, val, 0, 1 << 20, &o->n_ctx))
				return -EINVAL;
		} else if (IS("-b") || IS("--batch-size")) {
			if (flag_int(a, val, 1, 1 << 16, &o->n_batch))
				return -EINVAL;
		} else if (IS("-n") || IS("--n-predict")) {
			if (flag_int(a, val, -1, 1 << 24, &o->n_predict))
				return -EINVAL;
		} else if (IS("-t") || IS("--threads")) {
			if (flag_int(a, val, 1, ACCEL_QUEUE_MAX_THREADS, &o->threads))
				return -EINVAL;
		} else if (IS("--kv-blocks")) {
			if (flag_int(a, val, 1, 1 << 24, &o->kv_blocks))
				return -EINVAL;
		} else if (IS("--pp-timeout")) {
			int t;

			if (flag_int(a, val, 1, 86400, &t))
				return -EINVAL;
			o->pp_timeout = t;
		} else if (IS("--queue")) {
			if (flag_int(a, val, 1, 1 << 20, &o->max_queue))
				return -EINVAL;
		} else if (IS("--timeout")) {
			if (flag_int(a, val, 1, 86400, &o->timeout_s))
				return -EINVAL;
		} else if (IS("--shutdown-timeout")) {
			if (flag_int(a, val, 0, 86400, &o->grace_s))
				return -EINVAL;
		} else if (IS("-ctk") || IS("--cache-type-k") || IS("-ctv") || IS("--cache-type-v")) {
			int t = rt_kv_type_parse(val);

			if (t < 0) {
				fprintf(stderr, "accel-serve: %s: '%s' is not a cache type (f32, f16, q8_0)\n",
					a, val);
				return -EINVAL;
			}
			*(IS("-ctk") || IS("--cache-type-k") ? &o->type_k : &o->type_v) = t;
		} else if (IS("-fa") || IS("--flash-attn")) {
			int fa = rt_flash_attn_parse(val);

			if (fa < 0) {
				fprintf(stderr, "accel-serve: %s: '%s' is not on, off or auto\n", a, val);
				return -EINVAL;
			}
			o->flash_attn = fa;
		} else if (IS("--mem-budget")) {
			if (flag_size(a, val, &o->mem_budget))
				return -EINVAL;
		} else if (IS("--vram-budget")) {
			char msg[256];
			int ret = tool_parse_size(val, &o->vram_budget);

			/* as accel-run: 0 is no budget at all, not "unlimited" */
			if (ret || !o->vram_budget) {
				fprintf(stderr, "accel-serve: %s\n",
					tool_parse_msg(msg, sizeof(msg), a, val, ret ? ret : -ERANGE,
						       "a size", "bytes or K/M/G/T: 8G, 512M"));
				return -EINVAL;
			}
		} else if (IS("--swap-space")) {
			if (flag_size(a, val, &o->swap_space))
				return -EINVAL;
			if (!o->swap_space) {
				fprintf(stderr, "accel-serve: --swap-space 0: give at least one byte\n");
				return -EINVAL;
			}
		} else if (IS("--max-body")) {
			if (flag_size(a, val, &o->max_body))
				return -EINVAL;
			if (!o->max_body) {
				fprintf(stderr, "accel-serve: --max-body: '%s' is out of range (above 0)\n", val);
				return -EINVAL;
			}
		}
#undef IS
	}
	if (!o->model) {
		fprintf(stderr, "accel-serve: no model given (-m FILE)\n");
		return -EINVAL;
	}
	if (o->vram_budget && !o->gpu) {
		fprintf(stderr, "accel-serve: --vram-budget needs --gpu\n");
		return -EINVAL;
	}
	if (o->swap_space && !o->kv_cache_dir) {
		fprintf(stderr, "accel-serve: --swap-space needs --kv-cache-dir (where sequences "
			"swap beyond it)\n");
		return -EINVAL;
	}
	return 0;
}

/* -v: where the weights went, in accel-run -v's words (tests grep them) */
static void print_placement(const struct serve_opts *o, const struct rt_model *m)
{
	char host[400], vram[400];

	if (rt_placement_describe(m, o->mem_budget != 0, host, sizeof(host), vram, sizeof(vram)))
		return;
	fprintf(stderr, "accel-serve: placement: %s\n", host);
	if (vram[0])
		fprintf(stderr, "accel-serve: placement: %s\n", vram);
}

/*
 * As llama-server and vLLM stop: new requests get 503 (an OpenAI error
 * object), the running ones go on until they are answered or @grace seconds
 * pass; a second signal stops at once. What is left is cancelled by the
 * caller (engine_stop), its clients told.
 */
static void drain(struct http *h, const sigset_t *sigs, int sig, int grace)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	double end = serve_now() + grace;
	int n;

	http_drain(h);
	fprintf(stderr, "accel-serve: %s: stopping; %d requests running, %d s to finish "
		"(a second signal stops at once)\n", strsignal(sig), http_active(h), grace);
	while ((n = http_active(h)) > 0 && serve_now() < end)
		if (sigtimedwait(sigs, NULL, &tick) > 0)
			break;
	if (n > 0)
		fprintf(stderr, "accel-serve: %d requests cancelled\n", http_active(h));
}

int main(int argc, char **argv)
{
	struct serve_opts o = { .host = "127.0.0.1", .port = 8080, .n_parallel = 4,
				.n_predict = -1, .max_queue = 64, .max_body = 1 << 20,
				.timeout_s = 30, .grace_s = 30 };
	struct rt_model_opts mo;
	struct rt_tokenizer *tok = NULL;
	struct rt_model *m = NULL;
	struct engine *e = NULL;
	struct http *h = NULL;
	const char *name;
	sigset_t sigs;
	bool piped = false;
	int ret, port, sig;

	if (parse(argc, argv, &o) < 0)
		return 1;
	/* the signals that stop us are taken by sigwait, in no other thread */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	accel_set_log(log_cb, &o);
	mo = (struct rt_model_opts){ .threads = o.threads, .n_ctx = o.n_ctx, .n_batch = o.n_batch,
				     .n_seq = o.n_parallel, .device = o.device,
				     .mem_budget = o.mem_budget, .vram_budget = o.vram_budget,
				     .gpu = o.gpu, .type_k = o.type_k,
				     .type_v = o.type_v, .flash_attn = o.flash_attn,
				     .ctx_mode = o.kv_unified ? RT_CTX_UNIFIED : RT_CTX_SPLIT };
	/* started by mpirun: the layers split over the ranks (pipeline.c) */
	if (getenv("OMPI_COMM_WORLD_SIZE")) {
		ret = serve_pp_load(&o, &mo, &m);
		if (ret != 0)
			return ret > 0 ? 0 : 1;
		piped = m != NULL;
	}
	ret = m ? 0 : rt_model_load(o.model, &mo, &m);
	if (ret < 0) {
		fprintf(stderr, "accel-serve: %s\n", *rt_last_error() ? rt_last_error() : strerror(-ret));
		return 1;
	}
	if (o.verbose)
		print_placement(&o, m);
	ret = rt_tokenizer_load(rt_model_gguf(m), &tok);
	if (ret < 0) {
		fprintf(stderr, "accel-serve: tokenizer: %s\n", rt_last_error());
		goto out;
	}
	ret = engine_start(&o, m, tok, &e);
	if (ret < 0) {
		fprintf(stderr, "accel-serve: %s\n", *rt_last_error() ? rt_last_error() : strerror(-ret));
		goto out;
	}
	name = o.alias ? o.alias : (strrchr(o.model, '/') ? strrchr(o.model, '/') + 1 : o.model);
	ret = http_start(&o, e, name, &h, &port);
	if (ret < 0) {
		fprintf(stderr, "accel-serve: %s\n", rt_last_error());
		goto out;
	}
	fprintf(stderr, "accel-serve: %s: %d sequences of %d tokens, step budget %d tokens%s\n",
		name, o.n_parallel, rt_model_n_ctx(m), rt_model_n_batch(m),
		piped ? ", layers split over the mpirun ranks" : "");
	fprintf(stderr, "accel-serve: listening on http://%s:%d\n", o.host, port);
	sigwait(&sigs, &sig);
	if (piped) {
		/*
		 * mpirun ends every rank with SIGTERM when one dies (or when it
		 * is stopped itself): the other ranks are gone, so no step can
		 * finish and nothing can drain; say so once and leave at once.
		 */
		fprintf(stderr, "accel-serve: %s under mpirun: a rank ended or the job was "
			"stopped; the server stops now (%d requests cut off)\n", strsignal(sig),
			http_active(h));
		fflush(stderr);
		_exit(1);
	}
	drain(h, &sigs, sig, o.grace_s);
	ret = 0;
out:
	/* the jobs end first, so no connection thread waits on one; then the
	 * connections; the engine's memory last (they may still touch it) */
	engine_stop(e);
	http_stop(h);
	engine_free(e);
	rt_tokenizer_free(tok);
	if (piped)
		serve_pp_end();		/* the other ranks stop; frees the model */
	else
		rt_model_free(m);
	return ret < 0 ? 1 : 0;
}
