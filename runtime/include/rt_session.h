/* SPDX-License-Identifier: MIT */
/*
 * A sequence being generated: its tokens so far and its place in the paged
 * KV cache. Feeding tokens runs them through the model (prefill in batches of
 * n_batch; the longest cached prefix is reused from the KV prefix index) and
 * gives the logits of the last one.
 */
#ifndef RT_SESSION_H
#define RT_SESSION_H

#include <stdint.h>

struct rt_model;

struct rt_session {
	struct rt_model *m;
	int seq;
	int n_past;
	int32_t *hist;
	int cap;
	int n_reused;		/* positions taken from the prefix cache so far */
	int n_published;	/* positions in full blocks given to the prefix cache:
				 * final, never truncated or written again */
};

int rt_session_init(struct rt_session *s, struct rt_model *m, int seq);
void rt_session_fini(struct rt_session *s);
/** rt_session_reset - forget the sequence (its full blocks stay cached) */
int rt_session_reset(struct rt_session *s);
/** rt_session_feed - append @n tokens; *logits = the last token's logits */
int rt_session_feed(struct rt_session *s, const int32_t *ids, int n, const float **logits);
/** rt_session_feed_all_logits - like feed but returns logits of every fed
 *  token (n <= rt_model_max_logits) into @out [n][n_vocab] */
int rt_session_feed_all_logits(struct rt_session *s, const int32_t *ids, int n, float *out);

/**
 * rt_session_feed_draft - append @n tokens that may be taken back (drafted
 * tokens of speculative decoding): nothing is published to the prefix cache
 * and no prefix is reused. Logits of every token into @out [n][n_vocab] when
 * given (n <= rt_model_max_logits), else *logits = the last token's.
 */
int rt_session_feed_draft(struct rt_session *s, const int32_t *ids, int n, const float **logits,
			  float *out);
/**
 * rt_session_truncate - keep the first @n_past positions (rejected drafts
 * go; their KV slots are written again by the next feed), then publish the
 * full blocks of what is kept. -EBUSY below n_published.
 */
int rt_session_truncate(struct rt_session *s, int n_past);

#endif /* RT_SESSION_H */
