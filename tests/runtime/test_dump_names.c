// SPDX-License-Identifier: MIT
/*
 * Every command of a forward pass is named after the intermediate it
 * produces, as llama.cpp names its graph's tensors, so an ACCEL_DUMP_DIR dump
 * can be diffed tensor by tensor: the dump of a qwen3 pass holds each layer's
 * named intermediates in the order of the reference graph, and its last file
 * (result_output) is exactly the logits the pass returned.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_session.h"
#include "tap.h"

/* one decoder layer of qwen3, as blocks.c builds it */
static const char *const layer_names[] = {
	"attn_norm", "Qcur", "Kcur", "Vcur", "Qcur_normed", "Kcur_normed", "Qcur_rope",
	"Kcur_rope", "kqv_out", "attn_out", "ffn_inp", "ffn_norm", "ffn_gate", "ffn_up",
	"ffn_swiglu", "ffn_out", "l_out",
};
#define N_LAYER_NAMES (int)(sizeof(layer_names) / sizeof(layer_names[0]))

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

int main(void)
{
	char dir[] = "/tmp/accel-dump-XXXXXX", want[128], path[512];
	static const int32_t prompt[] = { 1, 403, 407 };
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64 };
	struct rt_model *m = NULL;
	struct dirent **ents = NULL;
	struct rt_session s;
	const float *logits;
	float *dumped;
	size_t size = 0;
	int n = 0, n_layer, bad = 0, i;

	plan(5);
	if (!mkdtemp(dir))
		bail_out("mkdtemp failed");
	/* before the first command: the executor reads it once */
	setenv("ACCEL_DUMP_DIR", dir, 1);
	if (!ok(rt_model_load(tap_path("tests/models/random/tiny-qwen3-random-f32.gguf"), &mo,
				&m) == 0, "load tiny qwen3"))
		bail_out("%s", rt_last_error());
	n_layer = rt_model_hparams(m)->n_layer;
	rt_session_init(&s, m, 0);
	ok(rt_session_feed(&s, prompt, 3, &logits) == 0, "one pass of %d tokens", 3);
	n = scandir(dir, &ents, not_dot, by_name);
	is_int(n, 1 + n_layer * N_LAYER_NAMES + 2, "one dump per command: embed, %d layers of %d, "
	       "norm and logits", n_layer, N_LAYER_NAMES);
	/* <seq>_<name>[-<il>]_<shape>.bin, in execution order */
	for (i = 0; i < n && i < 1 + n_layer * N_LAYER_NAMES + 2; i++) {
		int il = (i - 1) / N_LAYER_NAMES;

		if (i == 0)
			snprintf(want, sizeof(want), "%05d_inp_embd_", i);
		else if (il < n_layer)
			snprintf(want, sizeof(want), "%05d_%s-%d_", i,
				 layer_names[(i - 1) % N_LAYER_NAMES], il);
		else
			snprintf(want, sizeof(want), "%05d_%s_", i,
				 i == n - 2 ? "result_norm" : "result_output");
		if (strncmp(ents[i]->d_name, want, strlen(want))) {
			if (!bad++)
				diag("dump %d is %s, expected %s...", i, ents[i]->d_name, want);
		}
	}
	ok(n > 0 && !bad, "every dump is named after its intermediate and layer (%d wrong)", bad);
	dumped = NULL;
	if (n > 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[n - 1]->d_name);
		dumped = tap_slurp(path, &size);
	}
	ok(dumped && size == sizeof(float) * rt_model_hparams(m)->n_vocab &&
	   !memcmp(dumped, logits, size), "the result_output dump is the pass's logits");
	free(dumped);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		unlink(path);
		free(ents[i]);
	}
	free(ents);
	rmdir(dir);
	rt_session_fini(&s);
	rt_model_free(m);
	return done_testing();
}
