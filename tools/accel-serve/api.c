// SPDX-License-Identifier: MIT
/*
 * accel-serve's OpenAI API bodies through json-c: requests of
 * /v1/completions and /v1/chat/completions checked field by field (types,
 * ranges, unknown fields refused) into a job, and the responses, stream
 * chunks and error objects written back.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "rt_chat.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_tokenizer.h"
#include "serve.h"

#define MAX_MSGS 1024

static int bad(char *err, size_t len, const char *fmt, const char *a)
{
	snprintf(err, len, fmt, a);
	return 400;
}

static bool is_num(struct json_object *v)
{
	return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int);
}

/* a number field in [lo, hi] */
static int get_num(struct json_object *v, const char *k, double lo, double hi, float *out,
		   char *err, size_t len)
{
	double d;

	if (!is_num(v))
		return bad(err, len, "'%s' must be a number", k);
	d = json_object_get_double(v);
	if (!isfinite(d) || d < lo || d > hi) {
		snprintf(err, len, "'%s' must be in [%g, %g]", k, lo, hi);
		return 400;
	}
	*out = (float)d;
	return 0;
}

static int get_int(struct json_object *v, const char *k, int64_t lo, int64_t hi, int64_t *out,
		   char *err, size_t len)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return bad(err, len, "'%s' must be an integer", k);
	x = json_object_get_int64(v);
	if (x < lo || x > hi) {
		snprintf(err, len, "'%s' must be in [%lld, %lld]", k, (long long)lo, (long long)hi);
		return 400;
	}
	*out = x;
	return 0;
}

static int add_stop(struct job *j, const char *s, char *err, size_t len)
{
	if (!*s)
		return 0;	/* an empty stop string matches nothing */
	if (j->n_stop == SERVE_MAX_STOP) {
		snprintf(err, len, "'stop' has more than %d strings", SERVE_MAX_STOP);
		return 400;
	}
	j->stop[j->n_stop] = strdup(s);
	if (!j->stop[j->n_stop])
		return 500;
	if (strlen(s) > j->max_stop_len)
		j->max_stop_len = strlen(s);
	j->n_stop++;
	return 0;
}

static int get_stop(struct job *j, struct json_object *v, char *err, size_t len)
{
	int ret = 0;

	if (json_object_is_type(v, json_type_string))
		return add_stop(j, json_object_get_string(v), err, len);
	if (!json_object_is_type(v, json_type_array))
		return bad(err, len, "'%s' must be a string or an array of strings", "stop");
	for (size_t i = 0; !ret && i < json_object_array_length(v); i++) {
		struct json_object *s = json_object_array_get_idx(v, i);

		if (!json_object_is_type(s, json_type_string))
			return bad(err, len, "'%s' must be a string or an array of strings", "stop");
		ret = add_stop(j, json_object_get_string(s), err, len);
	}
	return ret;
}

/* the chat's messages in the model's template: the prompt's text */
static char *chat_text(struct engine *e, struct json_object *msgs, char *err, size_t len)
{
	enum rt_chat_kind kind = rt_chat_detect_gguf(rt_model_gguf(engine_model(e)));
	size_t n = json_object_array_length(msgs);
	struct rt_chat_msg *m;
	char *text = NULL;
	int l;

	if (kind == RT_CHAT_UNKNOWN)
		kind = RT_CHAT_CHATML;	/* llama.cpp's and accel-run's fallback */
	if (n == 0 || n > MAX_MSGS) {
		snprintf(err, len, "'messages' must hold 1 to %d messages", MAX_MSGS);
		return NULL;
	}
	m = calloc(n, sizeof(*m));
	if (!m)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(msgs, i), *role, *content;

		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "role", &role) ||
		    !json_object_is_type(role, json_type_string) ||
		    !json_object_object_get_ex(o, "content", &content) ||
		    !json_object_is_type(content, json_type_string)) {
			snprintf(err, len, "messages[%zu] must be an object with string 'role' and 'content'", i);
			goto out;
		}
		json_object_object_foreach(o, k, v) {
			(void)v;
			if (strcmp(k, "role") && strcmp(k, "content") && strcmp(k, "name")) {
				snprintf(err, len, "messages[%zu]: unknown field '%.64s'", i, k);
				goto out;
			}
		}
		m[i].role = json_object_get_string(role);
		m[i].content = json_object_get_string(content);
		if (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") &&
		    strcmp(m[i].role, "assistant")) {
			snprintf(err, len, "messages[%zu]: role must be system, user or assistant", i);
			goto out;
		}
	}
	l = rt_chat_format(kind, m, n, true, NULL, 0);
	if (l < 0) {
		snprintf(err, len, "cannot format the chat");
		goto out;
	}
	text = malloc((size_t)l + 1);
	if (text)
		rt_chat_format(kind, m, n, true, text, (size_t)l + 1);
out:
	free(m);
	return text;
}

static int tokenize(struct engine *e, const char *text, struct job *j, char *err, size_t len)
{
	const struct rt_tokenizer *tok = engine_tokenizer(e);
	int n = rt_tokenize(tok, text, strlen(text), true, true, NULL, 0);

	if (n < 0)
		return bad(err, len, "cannot tokenize the prompt%s", "");
	j->prompt = malloc(sizeof(*j->prompt) * ((size_t)n + 1));
	if (!j->prompt)
		return 500;
	j->n_prompt = rt_tokenize(tok, text, strlen(text), true, true, j->prompt, n + 1);
	if (j->n_prompt <= 0)
		return bad(err, len, "the prompt is empty%s", "");
	return 0;
}

static const char *const fields[] = {
	"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
	"seed", "stop", "stream", "stream_options", "n", "user", "repeat_penalty",
};

int api_parse(struct engine *e, const char *body, size_t len, bool chat, struct job *j,
	      char *err, size_t errlen)
{
	struct json_tokener *jt = json_tokener_new();
	struct json_object *root, *text_src = NULL;
	int64_t max_tokens = j->max_tokens, x;
	int n_ctx = rt_model_n_ctx(engine_model(e));
	enum json_tokener_error je;
	bool seeded = false;
	char *text = NULL;
	int ret = 0;

	if (!jt)
		return 500;
	root = json_tokener_parse_ex(jt, body, (int)len);
	je = json_tokener_get_error(jt);
	if (!root || je != json_tokener_success || json_tokener_get_parse_end(jt) != len) {
		snprintf(err, errlen, "invalid JSON: %s",
			 je != json_tokener_success ? json_tokener_error_desc(je)
						    : "trailing characters");
		json_tokener_free(jt);
		json_object_put(root);
		return 400;
	}
	json_tokener_free(jt);
	if (!json_object_is_type(root, json_type_object)) {
		ret = bad(err, errlen, "the body must be a JSON object%s", "");
		goto out;
	}
	rt_sampler_defaults(&j->sp);
	json_object_object_foreach(root, k, v) {
		size_t i = 0;

		while (i < sizeof(fields) / sizeof(fields[0]) && strcmp(k, fields[i]))
			i++;
		if (!strcmp(k, chat ? "messages" : "prompt")) {
			text_src = v;
			continue;
		}
		if (i == sizeof(fields) / sizeof(fields[0])) {
			snprintf(err, errlen, "unknown field '%.64s'", k);
			ret = 400;
			goto out;
		}
		if (json_object_is_type(v, json_type_null))
			continue;	/* as absent */
		if (!strcmp(k, "model") || !strcmp(k, "user")) {
			if (!json_object_is_type(v, json_type_string))
				ret = bad(err, errlen, "'%s' must be a string", k);
		} else if (!strcmp(k, "max_tokens") || !strcmp(k, "max_completion_tokens")) {
			ret = get_int(v, k, 0, 1 << 30, &max_tokens, err, errlen);
		} else if (!strcmp(k, "temperature")) {
			ret = get_num(v, k, 0, 100, &j->sp.temp, err, errlen);
		} else if (!strcmp(k, "top_p")) {
			ret = get_num(v, k, 0, 1, &j->sp.top_p, err, errlen);
			if (!ret && j->sp.top_p <= 0)
				ret = bad(err, errlen, "'%s' must be above 0", k);
		} else if (!strcmp(k, "min_p")) {
			ret = get_num(v, k, 0, 1, &j->sp.min_p, err, errlen);
		} else if (!strcmp(k, "repeat_penalty")) {
			ret = get_num(v, k, 0.01, 100, &j->sp.repeat_penalty, err, errlen);
		} else if (!strcmp(k, "top_k")) {
			ret = get_int(v, k, 0, 1 << 24, &x, err, errlen);
			j->sp.top_k = (int)x;
		} else if (!strcmp(k, "seed")) {
			/* llama.cpp's seeds are 32-bit; -1 = a random one */
			ret = get_int(v, k, -1, 0xffffffffLL, &x, err, errlen);
			if (!ret && x >= 0) {
				j->sp.seed = (uint64_t)x;
				seeded = true;
			}
		} else if (!strcmp(k, "stop")) {
			ret = get_stop(j, v, err, errlen);
		} else if (!strcmp(k, "stream")) {
			if (!json_object_is_type(v, json_type_boolean))
				ret = bad(err, errlen, "'%s' must be a boolean", k);
			j->stream = json_object_get_boolean(v);
		} else if (!strcmp(k, "stream_options")) {
			struct json_object *u;

			if (!json_object_is_type(v, json_type_object))
				ret = bad(err, errlen, "'%s' must be an object", k);
			else if (json_object_object_get_ex(v, "include_usage", &u))
				j->include_usage = json_object_get_boolean(u);
		} else if (!strcmp(k, "n")) {
			ret = get_int(v, k, 1, 1, &x, err, errlen);
		}
		if (ret)
			goto out;
	}
	if (!seeded) {
		uint32_t r = 0;

		(void)!getrandom(&r, sizeof(r), GRND_NONBLOCK);
		j->sp.seed = r;
	}
	if (!text_src || (chat && !json_object_is_type(text_src, json_type_array)) ||
	    (!chat && !json_object_is_type(text_src, json_type_string))) {
		ret = bad(err, errlen, chat ? "'%s' must be an array of messages"
					    : "'%s' must be a string", chat ? "messages" : "prompt");
		goto out;
	}
	j->chat = chat;
	if (chat) {
		text = chat_text(e, text_src, err, errlen);
		if (!text) {
			ret = *err ? 400 : 500;
			goto out;
		}
	} else {
		text = strdup(json_object_get_string(text_src));
		if (!text) {
			ret = 500;
			goto out;
		}
	}
	ret = tokenize(e, text, j, err, errlen);
	if (ret)
		goto out;
	if (j->n_prompt > n_ctx) {
		snprintf(err, errlen, "the prompt (%d tokens) is longer than the context (%d tokens)",
			 j->n_prompt, n_ctx);
		ret = 400;
		goto out;
	}
	if (max_tokens >= 0 && j->n_prompt + max_tokens > n_ctx) {
		snprintf(err, errlen, "max_tokens (%lld) and the prompt (%d tokens) exceed the context (%d tokens)",
			 (long long)max_tokens, j->n_prompt, n_ctx);
		ret = 400;
		goto out;
	}
	j->max_tokens = (int)max_tokens;
out:
	free(text);
	json_object_put(root);
	return ret;
}

static char *dump(struct json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

char *api_error_json(int status, const char *msg)
{
	struct json_object *root = json_object_new_object(), *e = json_object_new_object();
	const char *type = status == 401 ? "authentication_error"
			 : status == 404 ? "not_found_error"
			 : status == 503 ? "unavailable_error"
			 : status >= 500 ? "server_error" : "invalid_request_error";

	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "code", json_object_new_int(status));
	json_object_object_add(root, "error", e);
	return dump(root);
}

static struct json_object *usage(const struct job *j)
{
	struct json_object *u = json_object_new_object(), *d = json_object_new_object();

	json_object_object_add(u, "prompt_tokens", json_object_new_int(j->n_prompt));
	json_object_object_add(u, "completion_tokens", json_object_new_int(j->n_gen));
	json_object_object_add(u, "total_tokens", json_object_new_int(j->n_prompt + j->n_gen));
	json_object_object_add(d, "cached_tokens", json_object_new_int(j->n_cached));
	json_object_object_add(u, "prompt_tokens_details", d);
	return u;
}

static struct json_object *head(const struct job *j, const char *model, const char *id,
				long created, bool chunk)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "object", json_object_new_string(
		j->chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"));
	json_object_object_add(o, "created", json_object_new_int64(created));
	json_object_object_add(o, "model", json_object_new_string(model));
	return o;
}

char *api_response_json(const struct job *j, const char *model, const char *id, long created)
{
	struct json_object *o = head(j, model, id, created, false);
	struct json_object *choices = json_object_new_array(), *c = json_object_new_object();
	struct json_object *txt = json_object_new_string_len(j->text.buf ? j->text.buf : "",
							     (int)j->text.len);

	json_object_object_add(c, "index", json_object_new_int(0));
	if (j->chat) {
		struct json_object *msg = json_object_new_object();

		json_object_object_add(msg, "role", json_object_new_string("assistant"));
		json_object_object_add(msg, "content", txt);
		json_object_object_add(c, "message", msg);
	} else {
		json_object_object_add(c, "text", txt);
		json_object_object_add(c, "logprobs", NULL);
	}
	json_object_object_add(c, "finish_reason", json_object_new_string(j->finish ? j->finish : "stop"));
	json_object_array_add(choices, c);
	json_object_object_add(o, "choices", choices);
	json_object_object_add(o, "usage", usage(j));
	return dump(o);
}

char *api_chunk_json(const struct job *j, const char *model, const char *id, long created,
		     const char *text, size_t len, const char *finish, bool usage_only)
{
	struct json_object *o = head(j, model, id, created, true);
	struct json_object *choices = json_object_new_array();

	if (!usage_only) {
		struct json_object *c = json_object_new_object();
		struct json_object *txt = json_object_new_string_len(text ? text : "", (int)len);

		json_object_object_add(c, "index", json_object_new_int(0));
		if (j->chat) {
			struct json_object *d = json_object_new_object();

			if (!finish) {
				json_object_object_add(d, "role", json_object_new_string("assistant"));
				json_object_object_add(d, "content", txt);
			} else {
				json_object_put(txt);
			}
			json_object_object_add(c, "delta", d);
		} else {
			json_object_object_add(c, "text", txt);
			json_object_object_add(c, "logprobs", NULL);
		}
		json_object_object_add(c, "finish_reason",
				       finish ? json_object_new_string(finish) : NULL);
		json_object_array_add(choices, c);
	}
	json_object_object_add(o, "choices", choices);
	if (usage_only)
		json_object_object_add(o, "usage", usage(j));
	return dump(o);
}

char *api_models_json(const char *model, long created)
{
	struct json_object *o = json_object_new_object(), *data = json_object_new_array();
	struct json_object *m = json_object_new_object();

	json_object_object_add(m, "id", json_object_new_string(model));
	json_object_object_add(m, "object", json_object_new_string("model"));
	json_object_object_add(m, "created", json_object_new_int64(created));
	json_object_object_add(m, "owned_by", json_object_new_string("accelkv"));
	json_object_array_add(data, m);
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	return dump(o);
}
