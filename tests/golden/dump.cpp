// SPDX-License-Identifier: MIT
// Golden-reference dumper: runs llama.cpp (an independent implementation) on one GGUF and writes
// tokenize.txt, greedy.txt and (optionally) logits.txt into an output directory. Built and run
// only by tests/golden/make-golden.sh against the vendored llama.cpp; not part of the make build.
//
// usage: dump <model.gguf> <out-dir> --label <repo-relative path> --version <text> --sha256 <hex>
//             [--logits] [--logits-long] [--logits-deep] [--chatml] [--n-predict N] [--type-k T]
//             [--type-v T] [--fa on|off]
// T is f32, f16 or q8_0; the defaults (F32 K and V, flash attention off) are what the goldens
// directly under <isa>/ hold; the kv-<K>-<V>-fa<on|off>/ directories the other settings.

#include "llama.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct opts {
	const char *model = nullptr;
	const char *out = nullptr;
	const char *label = nullptr;
	const char *version = "unknown";
	const char *sha256 = nullptr;
	bool logits = false;
	bool logits_long = false;	// --logits-long: logits-long.txt, every row of the third prompt
	bool logits_deep = false;	// --logits-deep: logits-deep.txt, decode steps past 256 cells
	bool chatml = false;
	int n_predict = 64;
	ggml_type type_k = GGML_TYPE_F32;
	ggml_type type_v = GGML_TYPE_F32;
	bool fa = false;
};

bool parse_type(const char *s, ggml_type &t)
{
	if (!strcmp(s, "f32"))
		t = GGML_TYPE_F32;
	else if (!strcmp(s, "f16"))
		t = GGML_TYPE_F16;
	else if (!strcmp(s, "q8_0"))
		t = GGML_TYPE_Q8_0;
	else
		return false;
	return true;
}

bool kv_default(const opts &o)
{
	return o.type_k == GGML_TYPE_F32 && o.type_v == GGML_TYPE_F32 && !o.fa;
}

struct tok_case {
	const char *text;
	int add_special;
	int parse_special;
};

// Tricky strings for the tokenizer. Each is run with the flags listed (several get more than one).
const tok_case k_tok_cases[] = {
	{"", 0, 0},
	{"", 1, 0},
	{" ", 0, 0},
	{" ", 1, 0},
	{"  leading spaces", 0, 0},
	{"  leading spaces", 1, 0},
	{"trailing  ", 0, 0},
	{"Hello world", 0, 0},
	{"Hello world", 1, 0},
	{"hello, World!", 0, 0},
	{"12345 3.14159 1,000,000", 0, 0},
	{"...!?;:--", 0, 0},
	{"caf\xc3\xa9 na\xc3\xafve Zo\xc3\xab", 0, 0},
	{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88", 0, 0},
	{"I \xe2\x9d\xa4\xef\xb8\x8f \xf0\x9f\xa6\x99 \xf0\x9f\x9a\x80", 0, 0},
	{"\n\n\tTabs\n", 0, 0},
	{"\n\n\tTabs\n", 1, 0},
	{"MiXeD CaSe wOrDs ALLCAPS lowercase", 0, 0},
	{"https://example.com/path?q=1&r=two#frag", 0, 0},
	{"def f(x):\n    return x**2", 0, 0},
	{"don't I'm we'll they've she's", 0, 0},
	{"<|im_start|>user\nhi<|im_end|>", 0, 0},
	{"<|im_start|>user\nhi<|im_end|>", 0, 1},
	{"<|im_start|>user\nhi<|im_end|>", 1, 0},
	{"<|im_start|>user\nhi<|im_end|>", 1, 1},
	{"<s>hello</s>", 0, 0},
	{"<s>hello</s>", 0, 1},
	{"<s>hello</s>", 1, 0},
	{"<s>hello</s>", 1, 1},
	{"Once upon a time, there was a little girl named Lily.", 1, 0},
	{"a  b   c    d", 0, 0},
	{"\xc2\xa0nbsp and \xe2\x80\x94 dash", 0, 0},
};

const char *const k_prompts[] = {
	"Once upon a time",
	"The little dog",
	"One day, a little girl named Lily went to the park with her mom and saw a big red ball.",
};

const char k_chatml_prompt[] =
	"<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";

const llama_token k_prompt_ids[] = {1, 403, 407, 261, 378};

void put_hex(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", (unsigned char)s[i]);
}

void put_ids(FILE *f, const std::vector<llama_token> &ids)
{
	fputs("ids", f);
	for (llama_token t : ids)
		fprintf(f, " %d", t);
	fputc('\n', f);
}

void put_header(FILE *f, const opts &o)
{
	fprintf(f, "# model %s\n# llama.cpp %s\n", o.label, o.version);
	if (o.sha256)
		fprintf(f, "# model_sha256 %s\n", o.sha256);
}

int tokenize(const llama_vocab *vocab, const std::string &text, bool add_special, bool parse_special,
	     std::vector<llama_token> &out)
{
	out.assign(text.size() + 8, 0);
	int n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), out.data(), (int32_t)out.size(),
			       add_special, parse_special);
	if (n < 0) {
		out.assign((size_t)-n, 0);
		n = llama_tokenize(vocab, text.data(), (int32_t)text.size(), out.data(), (int32_t)out.size(),
				   add_special, parse_special);
	}
	if (n < 0)
		return -EINVAL;
	out.resize((size_t)n);
	return 0;
}

FILE *open_out(const opts &o, const char *name)
{
	std::string path = std::string(o.out) + "/" + name;
	FILE *f = fopen(path.c_str(), "w");
	if (!f)
		fprintf(stderr, "dump: cannot write %s: %s\n", path.c_str(), strerror(errno));
	return f;
}

int dump_tokenize(const opts &o, const llama_vocab *vocab)
{
	FILE *f = open_out(o, "tokenize.txt");
	if (!f)
		return -EIO;
	put_header(f, o);
	fprintf(f, "# one case per 3 lines: text <hex of UTF-8 bytes, empty = empty string> / "
		   "flags <add_special> <parse_special> / ids <llama_tokenize result>\n");
	std::vector<std::string> texts;
	std::vector<std::pair<int, int>> flags;
	for (const tok_case &c : k_tok_cases) {
		texts.emplace_back(c.text);
		flags.emplace_back(c.add_special, c.parse_special);
	}
	// The greedy prompts too, with the flags greedy.txt uses.
	for (const char *p : k_prompts) {
		texts.emplace_back(p);
		flags.emplace_back(1, 1);
	}
	texts.emplace_back(k_chatml_prompt);
	flags.emplace_back(1, 1);

	std::vector<llama_token> ids;
	for (size_t i = 0; i < texts.size(); i++) {
		if (tokenize(vocab, texts[i], flags[i].first, flags[i].second, ids)) {
			fprintf(stderr, "dump: llama_tokenize failed on case %zu\n", i);
			fclose(f);
			return -EINVAL;
		}
		fputs("text ", f);
		put_hex(f, texts[i].data(), texts[i].size());
		fprintf(f, "\nflags %d %d\n", flags[i].first, flags[i].second);
		put_ids(f, ids);
	}
	return fclose(f) ? -EIO : 0;
}

void put_logits(FILE *f, int pos, const float *row, int n_vocab)
{
	fprintf(f, "pos %d", pos);
	for (int i = 0; i < n_vocab; i++)
		fprintf(f, " %.9g", row[i]);
	fputc('\n', f);
}

// Entry i of @b: token t at position p of sequence 0, its logits kept or not.
static void batch_put(llama_batch &b, int i, llama_token t, llama_pos p, bool logits)
{
	b.token[i] = t;
	b.pos[i] = p;
	b.n_seq_id[i] = 1;
	b.seq_id[i][0] = 0;
	b.logits[i] = logits;
}

// The context every golden is computed in: n_ctx 512, one sequence, 2 threads, the KV setting
// of the options.
static llama_context_params golden_cparams(const opts &o)
{
	llama_context_params cp = llama_context_default_params();

	cp.n_ctx = 512;
	cp.n_batch = 512;
	cp.n_ubatch = 512;
	cp.n_seq_max = 1;
	cp.n_threads = 2;
	cp.n_threads_batch = 2;
	cp.flash_attn_type = o.fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.type_k = o.type_k;
	cp.type_v = o.type_v;
	cp.no_perf = true;
	return cp;
}

// One greedy run in a fresh context. If lf != nullptr, writes the logits of the first 4 prompt
// positions (every prompt position with all_rows), the last prompt position and the first 3
// single-token decode steps.
int run_greedy(const opts &o, llama_model *model, const std::vector<llama_token> &prompt, int n_predict,
	       std::vector<llama_token> &seq, bool &stopped_eos, FILE *lf, bool all_rows = false)
{
	const llama_vocab *vocab = llama_model_get_vocab(model);
	const int n_vocab = llama_vocab_n_tokens(vocab);
	llama_context *ctx = llama_init_from_model(model, golden_cparams(o));
	if (!ctx) {
		fprintf(stderr, "dump: llama_init_from_model failed\n");
		return -ENOMEM;
	}
	llama_sampler *smpl = llama_sampler_init_greedy();
	const int n_prompt = (int)prompt.size();
	llama_batch batch = llama_batch_init(n_prompt > 1 ? n_prompt : 1, 0, 1);
	int ret = 0;

	seq = prompt;
	stopped_eos = false;
	// Prompt: one batch, logits requested at every position.
	for (int i = 0; i < n_prompt; i++)
		batch_put(batch, i, prompt[i], i, true);
	batch.n_tokens = n_prompt;
	if (llama_decode(ctx, batch)) {
		fprintf(stderr, "dump: llama_decode failed on the prompt\n");
		ret = -EIO;
		goto out;
	}
	if (lf) {
		for (int i = 0; i < n_prompt; i++)
			if (all_rows || i < 4 || i == n_prompt - 1)
				put_logits(lf, i, llama_get_logits_ith(ctx, i), n_vocab);
	}
	for (int step = 0; step < n_predict; step++) {
		llama_token t = llama_sampler_sample(smpl, ctx, -1);
		seq.push_back(t);
		if (llama_vocab_is_eog(vocab, t)) {
			stopped_eos = true;
			break;
		}
		if (step == n_predict - 1)
			break;
		batch_put(batch, 0, t, (llama_pos)(seq.size() - 1), true);
		batch.n_tokens = 1;
		if (llama_decode(ctx, batch)) {
			fprintf(stderr, "dump: llama_decode failed at step %d\n", step);
			ret = -EIO;
			goto out;
		}
		if (lf && step < 3)
			put_logits(lf, (int)seq.size() - 1, llama_get_logits_ith(ctx, -1), n_vocab);
	}
out:
	llama_batch_free(batch);
	llama_sampler_free(smpl);
	llama_free(ctx);
	(void)o;
	return ret;
}

int dump_greedy(const opts &o, llama_model *model)
{
	const llama_vocab *vocab = llama_model_get_vocab(model);
	FILE *gf = open_out(o, "greedy.txt");
	FILE *lf = nullptr, *ll = nullptr;
	int ret = -EIO;
	if (!gf)
		return -EIO;
	put_header(gf, o);
	fprintf(gf, "# add_bos %d add_eos %d (model metadata; prompts tokenized with add_special 1, "
		    "parse_special 1)\n",
		llama_vocab_get_add_bos(vocab), llama_vocab_get_add_eos(vocab));
	if (kv_default(o))
		fprintf(gf, "# greedy, n_ctx 512, F32 KV cache, no flash attention, 2 threads; ids = prompt "
			    "tokens then generated tokens; 'stop eos' = stopped at an end-of-generation token\n");
	else
		fprintf(gf, "# greedy, n_ctx 512, KV cache K %s V %s, flash attention %s, 2 threads; ids = "
			    "prompt tokens then generated tokens; 'stop eos' = stopped at an end-of-generation "
			    "token\n", ggml_type_name(o.type_k), ggml_type_name(o.type_v), o.fa ? "on" : "off");
	if (o.logits) {
		lf = open_out(o, "logits.txt");
		if (!lf)
			goto out;
		put_header(lf, o);
		fprintf(lf, "# prompt %s (first greedy.txt case); pos <position> <n_vocab logits>: first 4 "
			    "prompt positions, last prompt position, then 3 single-token decode steps\n",
			k_prompts[0]);
	}
	if (o.logits_long) {
		ll = open_out(o, "logits-long.txt");
		if (!ll)
			goto out;
		put_header(ll, o);
		fprintf(ll, "# prompt %s (third greedy.txt case, one batch of all its tokens); pos <position> "
			    "<n_vocab logits>: every prompt position, then 3 single-token decode steps\n",
			k_prompts[2]);
	}

	{
		std::vector<std::string> prompts(k_prompts, k_prompts + sizeof(k_prompts) / sizeof(k_prompts[0]));
		if (o.chatml)
			prompts.emplace_back(k_chatml_prompt);
		std::vector<llama_token> ids, seq;
		bool eos;
		for (size_t i = 0; i < prompts.size(); i++) {
			if (tokenize(vocab, prompts[i], true, true, ids))
				goto out;
			if (run_greedy(o, model, ids, o.n_predict, seq, eos, i == 0 ? lf : i == 2 ? ll : nullptr,
				       i == 2))
				goto out;
			fputs("prompt ", gf);
			put_hex(gf, prompts[i].data(), prompts[i].size());
			fprintf(gf, "\nn_predict %d\n", o.n_predict);
			put_ids(gf, seq);
			if (eos)
				fputs("stop eos\n", gf);
		}
		ids.assign(k_prompt_ids, k_prompt_ids + sizeof(k_prompt_ids) / sizeof(k_prompt_ids[0]));
		if (run_greedy(o, model, ids, o.n_predict, seq, eos, nullptr))
			goto out;
		fputs("prompt_ids", gf);
		for (llama_token t : ids)
			fprintf(gf, " %d", t);
		fprintf(gf, "\nn_predict %d\n", o.n_predict);
		put_ids(gf, seq);
		if (eos)
			fputs("stop eos\n", gf);
	}
	ret = 0;
out:
	if (lf && fclose(lf))
		ret = -EIO;
	if (ll && fclose(ll))
		ret = -EIO;
	if (fclose(gf))
		ret = -EIO;
	return ret;
}

// logits-deep.txt: the decode steps at these positions (255: a KV view of 256 cells; from
// 256 on 512, which llama.cpp's flash attention splits over its threads)
const int k_deep_pos[] = {254, 255, 256, 257, 299, 300};
const int k_deep_last = 300;

// The first prompt in one batch, then one token a step (the greedy choice, end-of-generation
// tokens included: only the positions matter) up to position k_deep_last, in a fresh context
// of the greedy runs' parameters; logits of the steps at k_deep_pos.
int dump_deep(const opts &o, llama_model *model)
{
	const llama_vocab *vocab = llama_model_get_vocab(model);
	const int n_vocab = llama_vocab_n_tokens(vocab);
	std::vector<llama_token> ids;
	size_t next = 0;
	int ret = -EIO;

	if (tokenize(vocab, k_prompts[0], true, true, ids))
		return -EINVAL;
	llama_context *ctx = llama_init_from_model(model, golden_cparams(o));
	if (!ctx)
		return -ENOMEM;
	FILE *f = open_out(o, "logits-deep.txt");
	std::vector<std::vector<float>> rows;
	const int n_prompt = (int)ids.size();
	llama_batch batch = llama_batch_init(n_prompt, 0, 1);
	if (!f)
		goto out;
	for (int i = 0; i < n_prompt; i++)
		batch_put(batch, i, ids[i], i, i == n_prompt - 1);
	batch.n_tokens = n_prompt;
	if (llama_decode(ctx, batch))
		goto out;
	while ((int)ids.size() <= k_deep_last) {
		const float *lg = llama_get_logits_ith(ctx, -1);
		llama_token t = 0;

		for (int i = 1; i < n_vocab; i++)
			if (lg[i] > lg[t])
				t = i;
		ids.push_back(t);
		batch_put(batch, 0, t, (llama_pos)(ids.size() - 1), true);
		batch.n_tokens = 1;
		if (llama_decode(ctx, batch))
			goto out;
		lg = llama_get_logits_ith(ctx, -1);
		if (next < sizeof(k_deep_pos) / sizeof(k_deep_pos[0]) &&
		    (int)ids.size() - 1 == k_deep_pos[next]) {
			rows.emplace_back(lg, lg + n_vocab);
			next++;
		}
	}
	put_header(f, o);
	fprintf(f, "# prompt %s (first greedy.txt case) in one batch, then one token a step (the "
		   "argmax, end-of-generation tokens included) to position %d; n_prompt, ids (every "
		   "position's token), then pos <position> <n_vocab logits> of decode steps\n",
		k_prompts[0], k_deep_last);
	fprintf(f, "n_prompt %d\n", n_prompt);
	put_ids(f, ids);
	for (size_t r = 0; r < rows.size(); r++)
		put_logits(f, k_deep_pos[r], rows[r].data(), n_vocab);
	ret = 0;
out:
	if (f && fclose(f))
		ret = -EIO;
	llama_batch_free(batch);
	llama_free(ctx);
	return ret;
}

void quiet_log(enum ggml_log_level level, const char *text, void *)
{
	if (level >= GGML_LOG_LEVEL_WARN)
		fputs(text, stderr);
}

int parse_args(int argc, char **argv, opts &o)
{
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (!strcmp(a, "--label") && has_val)
			o.label = argv[++i];
		else if (!strcmp(a, "--version") && has_val)
			o.version = argv[++i];
		else if (!strcmp(a, "--sha256") && has_val)
			o.sha256 = argv[++i];
		else if (!strcmp(a, "--n-predict") && has_val)
			o.n_predict = atoi(argv[++i]);
		else if (!strcmp(a, "--logits"))
			o.logits = true;
		else if (!strcmp(a, "--logits-deep"))
			o.logits_deep = true;
		else if (!strcmp(a, "--logits-long"))
			o.logits_long = true;
		else if (!strcmp(a, "--chatml"))
			o.chatml = true;
		else if (!strcmp(a, "--type-k") && has_val && parse_type(argv[i + 1], o.type_k))
			i++;
		else if (!strcmp(a, "--type-v") && has_val && parse_type(argv[i + 1], o.type_v))
			i++;
		else if (!strcmp(a, "--fa") && has_val && (!strcmp(argv[i + 1], "on") || !strcmp(argv[i + 1], "off")))
			o.fa = !strcmp(argv[++i], "on");
		else if (a[0] != '-' && pos == 0 && ++pos)
			o.model = a;
		else if (a[0] != '-' && pos == 1 && ++pos)
			o.out = a;
		else
			return -EINVAL;
	}
	if (!o.model || !o.out || o.n_predict < 1)
		return -EINVAL;
	if (!o.label)
		o.label = o.model;
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	opts o;
	if (parse_args(argc, argv, o)) {
		fprintf(stderr, "usage: dump <model.gguf> <out-dir> --label <path> --version <text> "
				"--sha256 <hex> [--logits] [--logits-long] [--logits-deep] [--chatml] [--n-predict N] "
				"[--type-k f32|f16|q8_0] "
				"[--type-v f32|f16|q8_0] [--fa on|off]\n");
		return 1;
	}
	llama_log_set(quiet_log, nullptr);
	llama_backend_init();
	llama_model_params mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	llama_model *model = llama_model_load_from_file(o.model, mp);
	if (!model) {
		fprintf(stderr, "dump: cannot load %s\n", o.model);
		return 1;
	}
	// with other KV settings only greedy.txt and logits.txt: tokenize.txt does not depend on them
	int rc = kv_default(o) ? dump_tokenize(o, llama_model_get_vocab(model)) : 0;
	if (!rc)
		rc = dump_greedy(o, model);
	if (!rc && o.logits_deep)
		rc = dump_deep(o, model);
	llama_model_free(model);
	llama_backend_free();
	if (rc) {
		fprintf(stderr, "dump: failed on %s (%d)\n", o.model, rc);
		return 1;
	}
	return 0;
}
