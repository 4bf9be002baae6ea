/* SPDX-License-Identifier: MIT */
/* Internal glue between model_load.c, forward.c and the streamer. */
#ifndef RT_MODEL_INTERNAL_H
#define RT_MODEL_INTERNAL_H

#include "rt_model.h"

/** rt_tensor_ptr - CPU address of a tensor in a host-visible pool */
static inline void *rt_tensor_ptr(const struct accel_tensor *t)
{
	return (uint8_t *)accel_pool_ptr(t->pool) + t->offset;
}

/** the file offset that byte 0 of the weights pool mirrors */
uint64_t rt_model_data_base(const struct rt_model *m);
/** point every weight ref whose pool is unset at @pool */
void rt_model_rebind_pool(struct rt_model *m, struct accel_pool *pool);
/** point layer @il's refs at @pool, where the layer's bytes start at
 *  @pool_offset (the layer's file_begin maps there) */
void rt_model_rebind_layer(struct rt_model *m, int il, struct accel_pool *pool,
			   uint64_t pool_offset);
int rt_model_alloc_activations(struct rt_model *m);
/** the most rows of logits one forward call can return */
int rt_model_max_logits(const struct rt_model *m);

/** rt_model_prep_read - up to 2 READ_FILE commands bringing file bytes
 *  [begin, end) to @pool: the 4 KiB-aligned superset through the O_DIRECT fd,
 *  a tail past the last full page of the file through the buffered one. The
 *  byte at @begin lands at pool_off + (begin & 4095). Returns the count. */
int rt_model_prep_read(const struct rt_model *m, struct accel_cmd *cmd, struct accel_pool *pool,
		       uint64_t pool_off, uint64_t begin, uint64_t end);

/* forward.c: building blocks, each builds into m->cmds from scratch */
int rt_forward_stage(struct rt_model *m, const struct rt_batch *b, bool *decode);
int rt_forward_build_embed(struct rt_model *m, const struct accel_tensor *w,
			   const struct accel_tensor *ids, int n);
int rt_forward_build_layer(struct rt_model *m, int il, int n, bool decode);
int rt_forward_build_output(struct rt_model *m, const struct rt_batch *b, int *n_out);
/* the output head in row chunks: chunk 0 also norms the requested rows
 * (compacted); logits land in place (one row) or chunk-major in logits_tmp,
 * which rt_forward_head_assemble puts in order after the pass */
int rt_forward_build_head_chunk(struct rt_model *m, const struct rt_batch *b, int h,
				const struct accel_tensor *w, int *n_out);
void rt_forward_head_assemble(struct rt_model *m, int n_out);
/* a MoE layer in two halves: attention + routing, then the routed experts */
int rt_forward_build_layer_route(struct rt_model *m, int il, int n, bool decode);
int rt_forward_build_moe_experts(struct rt_model *m, const struct accel_tensor *gate,
				 const struct accel_tensor *up, const struct accel_tensor *down,
				 const struct accel_tensor *table, int n);
/* the 16 weight refs of a layer, in a fixed order; the last 3 are the experts */
#define RT_LAYER_N_TENSORS 16
#define RT_LAYER_FIRST_EXPERT 13
void rt_layer_tensors(struct rt_layer *l, struct accel_tensor **out);
const char *rt_layer_tensor_name(int i);
int rt_forward_submit(struct rt_model *m, const struct accel_fence_point *waits, uint32_t nwaits,
		      const struct accel_fence_point *signal);
/** wait for m->fence_point and return the logits */
int rt_forward_finish(struct rt_model *m, const float **out);

/* placement.c */
struct rt_placement;
int rt_placement_plan(const struct rt_model *m, uint64_t budget, struct rt_placement *p);
void rt_placement_free(struct rt_placement *p);
void rt_unit_range(const struct rt_model *m, int u, uint64_t *begin, uint64_t *end);
uint64_t rt_expert_entry_bytes(const struct rt_model *m);
/** rows [r0, r1) of the output head in chunk h (units n_layer + h) */
void rt_head_rows(const struct rt_model *m, int h, int64_t *r0, int64_t *r1);

/* streamer.c */
int rt_stream_setup(struct rt_model *m, uint64_t budget);
void rt_stream_teardown(struct rt_model *m);
int rt_stream_forward(struct rt_model *m, const struct rt_batch *b, const float **out);

#endif /* RT_MODEL_INTERNAL_H */
