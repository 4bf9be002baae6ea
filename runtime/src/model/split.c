// SPDX-License-Identifier: MIT
/*
 * Pipeline split: contiguous layer ranges for N stages, balanced by weight
 * bytes, each stage's share weighted (a rank with more memory takes more).
 * Reads the GGUF tensor table only, loads nothing; knows no transport.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"

/* "blk.N.": N, else -1 */
static int layer_of(const char *name)
{
	char *end;
	long v;

	if (strncmp(name, "blk.", 4))
		return -1;
	v = strtol(name + 4, &end, 10);
	return *end == '.' && v >= 0 && v < (1 << 20) ? (int)v : -1;
}

/* bytes of each layer (n_layer = the highest blk index + 1) and of the head */
static int layer_bytes(const struct rt_gguf *g, uint64_t **out, int *n_layer, uint64_t *head)
{
	int64_t nt = rt_gguf_n_tensors(g);
	uint64_t *b;
	int n = 0;

	for (int64_t i = 0; i < nt; i++) {
		int l = layer_of(rt_gguf_tensor(g, i)->name);

		if (l + 1 > n)
			n = l + 1;
	}
	b = calloc(n > 0 ? n : 1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	*head = 0;
	for (int64_t i = 0; i < nt; i++) {
		const struct rt_gguf_tensor *t = rt_gguf_tensor(g, i);
		int l = layer_of(t->name);

		if (l >= 0)
			b[l] += t->size;
		else if (!strcmp(t->name, "output.weight"))
			*head = t->size;
	}
	if (!*head) {	/* tied: the head is the embedding */
		const struct rt_gguf_tensor *t = rt_gguf_find_tensor(g, "token_embd.weight");

		*head = t ? t->size : 0;
	}
	*out = b;
	*n_layer = n;
	return 0;
}

int rt_model_split(const char *path, int n, const double *weight, int *first)
{
	struct rt_gguf *g;
	uint64_t *lb = NULL, head, total = 0, cum = 0;
	double wsum = 0, wcum = 0;
	int nl = 0, ret;

	if (n <= 0)
		return -EINVAL;
	if ((ret = rt_gguf_open(path, &g)) < 0)
		return ret;
	ret = layer_bytes(g, &lb, &nl, &head);
	rt_gguf_close(g);
	if (ret < 0)
		return ret;
	if (nl < n) {
		free(lb);
		return rt_set_error(-EINVAL, "%s: %d layers cannot be split over %d pipeline stages",
				    path, nl, n);
	}
	for (int r = 0; r < n; r++)
		wsum += weight && weight[r] > 0 ? weight[r] : 1.0;
	for (int l = 0; l < nl; l++)
		total += lb[l];
	total += head;
	first[0] = 0;
	for (int r = 1; r < n; r++) {
		double target;
		int lo = first[r - 1] + 1, hi = nl - (n - r), best = lo;
		double best_d = INFINITY;
		uint64_t c = cum;

		wcum += weight && weight[r - 1] > 0 ? weight[r - 1] : 1.0;
		target = (double)total * wcum / wsum;
		/* the boundary whose cumulative bytes come closest to the target */
		for (int l = first[r - 1]; l < lo; l++)
			c += lb[l];
		for (int b = lo; b <= hi; b++) {
			double d = fabs((double)c - target);

			if (d < best_d) {
				best_d = d;
				best = b;
			}
			c += lb[b];
		}
		for (int l = first[r - 1]; l < best; l++)
			cum += lb[l];
		first[r] = best;
	}
	first[n] = nl;
	free(lb);
	return 0;
}
