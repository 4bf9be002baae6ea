// SPDX-License-Identifier: MIT
/*
 * accel-serve's job: one request's state between its HTTP thread and the
 * engine, two references, an eventfd to wake the HTTP side without polling.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "serve.h"

double serve_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct job *job_new(void)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0) {
		free(j);
		return NULL;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->refs = 1;
	j->status = 200;
	j->t_arrive = serve_now();
	rt_detok_init(&j->dt);
	return j;
}

void job_put(struct job *j)
{
	int refs;

	pthread_mutex_lock(&j->mu);
	refs = --j->refs;
	pthread_mutex_unlock(&j->mu);
	if (refs)
		return;
	for (int i = 0; i < j->n_stop; i++)
		free(j->stop[i]);
	free(j->prompt);
	free(j->text.buf);
	close(j->efd);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

size_t job_sendable_locked(const struct job *j)
{
	size_t hold = j->max_stop_len > 1 ? j->max_stop_len - 1 : 0;

	/* while running, the tail that may begin a stop string is held back */
	size_t n;

	if (j->state == JOB_DONE)
		return j->text.len;
	n = j->text.len > hold ? j->text.len - hold : 0;
	/* never half a UTF-8 character */
	while (n > j->sent && n < j->text.len && ((unsigned char)j->text.buf[n] & 0xC0) == 0x80)
		n--;
	return n;
}

int job_wait(struct job *j, size_t have, int fd)
{
	struct pollfd p[2] = { { .fd = j->efd, .events = POLLIN },
			       { .fd = fd, .events = POLLRDHUP } };
	uint64_t v;
	bool ready;

	pthread_mutex_lock(&j->mu);
	ready = j->state == JOB_DONE || job_sendable_locked(j) > have;
	pthread_mutex_unlock(&j->mu);
	if (ready)
		return 0;
	/* an event of the job (the eventfd counts them: none is lost between
	 * the check above and here), or the client hanging up */
	while (poll(p, fd >= 0 ? 2 : 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (fd >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return -ECONNRESET;
	if (p[0].revents & POLLIN)
		(void)!read(j->efd, &v, sizeof(v));
	return 0;
}
