// SPDX-License-Identifier: MIT
/*
 * accel-serve's HTTP side on libmicrohttpd, a thread per connection: routes,
 * the Bearer key, the body limit, OpenAI-style errors, and the completions:
 * a plain JSON answer, or server-sent events that end with "data: [DONE]".
 * A client that leaves (its socket hangs up while we wait) cancels its job.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "serve.h"

struct http {
	struct MHD_Daemon *d;
	const struct serve_opts *o;
	struct engine *e;
	char model[256];
	char *auth;			/* "Bearer KEY" or NULL */
	long created;
	pthread_mutex_t mu;		/* protects the three below */
	uint64_t next_id;
	bool draining;			/* SIGTERM/SIGINT: 503 to new requests */
	int active;			/* completions accepted, not yet answered */
};

enum route { R_NONE, R_HEALTH, R_MODELS, R_METRICS, R_COMPLETIONS, R_CHAT };

struct conn {
	struct http *h;
	enum route route;
	struct tool_text body;
	bool too_big;
	bool active;			/* counted in http.active until completed */
};

static bool draining(struct http *h)
{
	bool d;

	pthread_mutex_lock(&h->mu);
	d = h->draining;
	pthread_mutex_unlock(&h->mu);
	return d;
}

/* one streamed response: owned by the MHD response */
struct sse {
	struct http *h;
	struct job *j;
	int fd;
	char id[48];
	struct tool_text out;		/* formatted events not yet taken by MHD */
	size_t out_off;
	bool done;
};

static enum MHD_Result reply(struct MHD_Connection *c, struct http *h, int status,
			     const char *type, char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (draining(h))	/* a keep-alive client goes elsewhere next time */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	engine_count_error(h->e, status);
	return ret;
}

static enum MHD_Result fail(struct MHD_Connection *c, struct http *h, int status,
			    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply(c, h, status, "application/json", api_error_json(status, msg));
}

static enum route route_of(const char *url)
{
	if (!strcmp(url, "/health"))
		return R_HEALTH;
	if (!strcmp(url, "/v1/models") || !strcmp(url, "/models"))
		return R_MODELS;
	if (!strcmp(url, "/metrics"))
		return R_METRICS;
	if (!strcmp(url, "/v1/completions") || !strcmp(url, "/completions"))
		return R_COMPLETIONS;
	if (!strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions"))
		return R_CHAT;
	return R_NONE;
}

static int conn_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

static void new_id(struct http *h, const struct job *j, char *id, size_t len)
{
	uint64_t n;

	pthread_mutex_lock(&h->mu);
	n = ++h->next_id;
	pthread_mutex_unlock(&h->mu);
	snprintf(id, len, "%s-%llu", j->chat ? "chatcmpl" : "cmpl", (unsigned long long)n);
}

static void sse_append(struct sse *s, char *json)
{
	if (!json)
		return;
	tool_text_append(&s->out, "data: ", 6);
	tool_text_append(&s->out, json, strlen(json));
	tool_text_append(&s->out, "\n\n", 2);
	free(json);
}

/* the next events: new text, then the end */
static int sse_fill(struct sse *s)
{
	struct job *j = s->j;
	size_t have, upto;
	bool done;
	int ret;

	pthread_mutex_lock(&j->mu);
	have = j->sent;
	pthread_mutex_unlock(&j->mu);
	ret = job_wait(j, have, s->fd);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&j->mu);
	upto = job_sendable_locked(j);
	done = j->state == JOB_DONE;
	if (upto > j->sent) {
		sse_append(s, api_chunk_json(j, s->h->model, s->id, s->h->created,
					     j->text.buf + j->sent, upto - j->sent, NULL, false));
		j->sent = upto;
	}
	if (done) {
		if (j->status != 200) {
			char *e = api_error_json(j->status, j->err);

			sse_append(s, e);
		} else {
			sse_append(s, api_chunk_json(j, s->h->model, s->id, s->h->created, NULL, 0,
						     j->finish ? j->finish : "stop", false));
			if (j->include_usage)
				sse_append(s, api_chunk_json(j, s->h->model, s->id, s->h->created,
							     NULL, 0, NULL, true));
		}
		tool_text_append(&s->out, "data: [DONE]\n\n", 14);
		s->done = true;
	}
	pthread_mutex_unlock(&j->mu);
	return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	size_t n;

	while (s->out_off == s->out.len) {
		s->out.len = s->out_off = 0;
		if (s->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (sse_fill(s) < 0) {
			engine_cancel(s->h->e, s->j);	/* the client left */
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	n = s->out.len - s->out_off;
	if (n > max)
		n = max;
	memcpy(buf, s->out.buf + s->out_off, n);
	s->out_off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;

	/* the response is gone: a job still running has lost its client */
	engine_cancel(s->h->e, s->j);
	job_put(s->j);
	free(s->out.buf);
	free(s);
}

static enum MHD_Result completion(struct MHD_Connection *c, struct http *h, struct conn *cc)
{
	struct job *j = job_new();
	char err[512] = "", id[48];
	int status, fd = conn_fd(c);
	enum MHD_Result ret;

	if (!j)
		return fail(c, h, 500, "out of memory");
	j->max_tokens = h->o->n_predict;
	status = api_parse(h->e, cc->body.buf ? cc->body.buf : "", cc->body.len,
			   cc->route == R_CHAT, j, err, sizeof(err));
	if (status) {
		job_put(j);
		return fail(c, h, status, "%s", err);
	}
	new_id(h, j, id, sizeof(id));
	engine_submit(h->e, j);
	if (j->stream) {
		struct MHD_Response *r;
		struct sse *s;

		/* accepted or refused (a full queue) before the events begin */
		for (;;) {
			bool queued;

			pthread_mutex_lock(&j->mu);
			queued = j->state == JOB_QUEUED;
			pthread_mutex_unlock(&j->mu);
			if (!queued)
				break;
			if (job_wait(j, (size_t)-1, fd) == -ECONNRESET) {
				engine_cancel(h->e, j);
				job_put(j);
				return MHD_NO;
			}
		}
		if (j->status != 200 && j->state == JOB_DONE) {
			status = j->status;
			snprintf(err, sizeof(err), "%s", j->err);
			job_put(j);
			return fail(c, h, status, "%s", err);
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			engine_cancel(h->e, j);
			job_put(j);
			return fail(c, h, 500, "out of memory");
		}
		s->h = h;
		s->j = j;
		s->fd = fd;
		snprintf(s->id, sizeof(s->id), "%s", id);
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
		if (!r) {
			sse_free(s);
			return MHD_NO;
		}
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		engine_count_error(h->e, 200);
		return ret;
	}
	for (;;) {
		bool done;

		pthread_mutex_lock(&j->mu);
		done = j->state == JOB_DONE;
		pthread_mutex_unlock(&j->mu);
		if (done)
			break;
		/* wait for the end; a client that hangs up cancels its job */
		if (job_wait(j, (size_t)-1, fd) == -ECONNRESET) {
			engine_cancel(h->e, j);
			job_put(j);
			return MHD_NO;
		}
	}
	if (j->status != 200) {
		status = j->status;
		snprintf(err, sizeof(err), "%s", j->err);
		job_put(j);
		return fail(c, h, status, "%s", err);
	}
	ret = reply(c, h, 200, "application/json", api_response_json(j, h->model, id, h->created));
	job_put(j);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct conn *cc = *con_cls;

	if (!cc) {
		const char *cl, *auth;
		bool post;

		cc = calloc(1, sizeof(*cc));
		if (!cc)
			return MHD_NO;
		cc->h = h;
		*con_cls = cc;
		cc->route = route_of(url);
		if (cc->route != R_HEALTH && h->auth) {
			auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
			if (!auth || strcmp(auth, h->auth))
				return fail(c, h, 401, "invalid or missing API key (Authorization: Bearer KEY)");
		}
		if (cc->route == R_NONE)
			return fail(c, h, 404, "no route %s %.200s", method, url);
		post = cc->route == R_COMPLETIONS || cc->route == R_CHAT;
		/* shutting down: what runs finishes, nothing new starts */
		pthread_mutex_lock(&h->mu);
		if (!h->draining && post) {
			cc->active = true;
			h->active++;
		}
		pthread_mutex_unlock(&h->mu);
		if ((post || cc->route == R_HEALTH) && !cc->active && draining(h))
			return fail(c, h, 503, "the server is shutting down");
		if (strcmp(method, post ? "POST" : "GET"))
			return fail(c, h, 405, "%.200s takes %s", url, post ? "POST" : "GET");
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > h->o->max_body)
			return fail(c, h, 413, "the body (%s bytes) is over the limit (%llu bytes)", cl,
				    (unsigned long long)h->o->max_body);
		return MHD_YES;
	}
	if (*upload_size) {
		if (cc->too_big || cc->body.len + *upload_size > h->o->max_body)
			cc->too_big = true;
		else if (tool_text_append(&cc->body, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (cc->too_big)
		return fail(c, h, 413, "the body is over the limit (%llu bytes)",
			    (unsigned long long)h->o->max_body);
	switch (cc->route) {
	case R_HEALTH:
		return reply(c, h, 200, "application/json", strdup("{\"status\":\"ok\"}"));
	case R_MODELS:
		return reply(c, h, 200, "application/json", api_models_json(h->model, h->created));
	case R_METRICS:
		return reply(c, h, 200, "text/plain; version=0.0.4", engine_metrics(h->e));
	case R_COMPLETIONS:
	case R_CHAT:
		return completion(c, h, cc);
	default:
		return fail(c, h, 404, "no route");
	}
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct conn *cc = *con_cls;

	if (!cc)
		return;
	if (cc->active) {
		pthread_mutex_lock(&cc->h->mu);
		cc->h->active--;
		pthread_mutex_unlock(&cc->h->mu);
	}
	free(cc->body.buf);
	free(cc);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct serve_opts *o = cls;

	if (o->verbose) {
		fprintf(stderr, "accel-serve: libmicrohttpd: ");
		vfprintf(stderr, fmt, ap);
	}
}

int http_start(const struct serve_opts *o, struct engine *e, const char *model_name,
	       struct http **out, int *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct http *h = calloc(1, sizeof(*h));
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	char portstr[16];
	int ret;

	if (!h)
		return -ENOMEM;
	h->o = o;
	h->e = e;
	h->created = (long)time(NULL);
	pthread_mutex_init(&h->mu, NULL);
	snprintf(h->model, sizeof(h->model), "%s", model_name);
	if (o->api_key) {
		size_t n = strlen(o->api_key) + 8;

		h->auth = malloc(n);
		if (!h->auth) {
			free(h);
			return -ENOMEM;
		}
		snprintf(h->auth, n, "Bearer %s", o->api_key);
	}
	snprintf(portstr, sizeof(portstr), "%d", o->port);
	ret = getaddrinfo(o->host, portstr, &hints, &ai);
	if (ret) {
		rt_set_error(-EINVAL, "--host %s: %s", o->host, gai_strerror(ret));
		free(h->auth);
		free(h);
		return -EINVAL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handler, h,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_NOTIFY_COMPLETED, completed, h,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)o,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		rt_set_error(-EADDRINUSE, "cannot listen on %s:%d (in use, or not an address of this machine)",
			     o->host, o->port);
		free(h->auth);
		free(h);
		return -EADDRINUSE;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : o->port;
	*out = h;
	return 0;
}

void http_drain(struct http *h)
{
	pthread_mutex_lock(&h->mu);
	h->draining = true;
	pthread_mutex_unlock(&h->mu);
}

int http_active(struct http *h)
{
	int n;

	pthread_mutex_lock(&h->mu);
	n = h->active;
	pthread_mutex_unlock(&h->mu);
	return n;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	free(h->auth);
	free(h);
}
