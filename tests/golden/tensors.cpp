// SPDX-License-Identifier: MIT
// golden-tensors: every named F32 intermediate of one llama.cpp forward pass, as raw
// little-endian floats, for a tensor-by-tensor diff against accelkv's ACCEL_DUMP_DIR dump
// (both name tensors "<name>-<layer>" as llama.cpp's graph callbacks do). Manual tool,
// built by make-golden.sh next to golden-dump.
//
// usage: golden-tensors <model.gguf> <out-dir> <token id>...   (one batch, F32 KV cache,
//        no flash attention, 2 threads: the goldens' settings; GOLDEN_KV=f16-f16-faon etc.
//        for another KV setting)
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "ggml.h"
#include "llama.h"

namespace {

struct state {
	const char *dir;
	int seq;
};

bool on_tensor(struct ggml_tensor *t, bool ask, void *user)
{
	state *s = static_cast<state *>(user);

	if (ask)
		return t->type == GGML_TYPE_F32 && t->name[0];
	if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t))
		return true;
	std::string path = std::string(s->dir) + "/";
	char seq[16];
	snprintf(seq, sizeof(seq), "%05d_", s->seq++);
	path += seq;
	for (const char *c = t->name; *c; c++)
		path += (isalnum((unsigned char)*c) || strchr("_.-", *c)) ? *c : '_';
	path += ".bin";
	FILE *f = fopen(path.c_str(), "wb");
	if (f) {
		fwrite(t->data, 1, ggml_nbytes(t), f);
		fclose(f);
	}
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: golden-tensors <model.gguf> <out-dir> <token id>...\n");
		return 1;
	}
	std::vector<llama_token> ids;
	for (int i = 3; i < argc; i++)
		ids.push_back((llama_token)atoi(argv[i]));
	llama_backend_init();
	llama_model_params mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	llama_model *model = llama_model_load_from_file(argv[1], mp);
	if (!model) {
		fprintf(stderr, "golden-tensors: cannot load %s\n", argv[1]);
		return 1;
	}
	state st = { argv[2], 0 };
	llama_context_params cp = llama_context_default_params();
	cp.n_ctx = 512;
	cp.n_batch = 512;
	cp.n_ubatch = 512;
	cp.n_seq_max = 1;
	cp.n_threads = 2;
	cp.n_threads_batch = 2;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.type_k = GGML_TYPE_F32;
	cp.type_v = GGML_TYPE_F32;
	// GOLDEN_KV=<k>-<v>-fa<on|off> (f32, f16, q8_0): another KV setting, as make-golden.sh --kv
	if (const char *kv = getenv("GOLDEN_KV")) {
		char k[8] = "", v[8] = "", fa[8] = "";
		auto type = [](const char *t) {
			return !strcmp(t, "q8_0") ? GGML_TYPE_Q8_0 : !strcmp(t, "f16") ? GGML_TYPE_F16 : GGML_TYPE_F32;
		};
		if (sscanf(kv, "%7[^-]-%7[^-]-fa%7s", k, v, fa) == 3) {
			cp.type_k = type(k);
			cp.type_v = type(v);
			cp.flash_attn_type = !strcmp(fa, "on") ? LLAMA_FLASH_ATTN_TYPE_ENABLED
							       : LLAMA_FLASH_ATTN_TYPE_DISABLED;
		}
	}
	cp.cb_eval = on_tensor;
	cp.cb_eval_user_data = &st;
	llama_context *ctx = llama_init_from_model(model, cp);
	int rc = !ctx || llama_decode(ctx, llama_batch_get_one(ids.data(), (int32_t)ids.size()));
	if (rc)
		fprintf(stderr, "golden-tensors: decode failed\n");
	llama_free(ctx);
	llama_model_free(model);
	llama_backend_free();
	return rc ? 1 : 0;
}
