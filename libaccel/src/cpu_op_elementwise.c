// SPDX-License-Identifier: MIT
/*
 * CPU executor, row-wise and element-wise ops: EMBED, RMSNORM, ROPE, SWIGLU,
 * ADD. Each is one kernels/ call over this thread's share (no barrier);
 * the checks validate shapes and dtypes at submit time.
 */
#include <errno.h>
#include <math.h>
#include "cpu_op.h"
#include "kn_ops.h"

#define CPU_MAX_ROT	1024	/* kn_rope's n_rot limit */

/* ------------------------------------------------------------------ EMBED */

int accel_cpu_check_embed(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *w = &c->t[1], *ids = &c->t[2];

	if (!kn_type_can_dequantize(w->dtype))
		return -EOPNOTSUPP;
	if (!cpu_t_ok(w, w->dtype) || w->ne[2] != 1 || w->ne[3] != 1)
		return -EINVAL;
	if (!cpu_t_f32(o) || !cpu_t_i32(ids) || !cpu_t_2d(o, w->ne[0], ids->ne[0]) ||
	    cpu_t_rows(ids) != 1)
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_embed(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *w = &c->t[1];
	const int32_t *ids = accel_tensor_data(&c->t[2]);
	const int64_t n = c->t[2].ne[0];

	for (int64_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= w->ne[1])
			return -EINVAL;
	kn_embed(accel_tensor_data(&c->t[0]), accel_tensor_data(w), w->dtype, w->ne[0], ids, n,
		 ctx->ith, ctx->nth);
	return 0;
}

/* ---------------------------------------------------------------- RMSNORM */

int accel_cpu_check_rmsnorm(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *x = &c->t[1], *w = &c->t[2];

	if (!cpu_t_f32(o) || !cpu_t_f32(x) || !cpu_t_f32(w) || !cpu_t_same_shape(o, x) ||
	    w->ne[0] != x->ne[0] || cpu_t_rows(w) != 1)
		return -EINVAL;
	if (!(c->f[0] >= 0.0f) || !isfinite(c->f[0]))
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_rmsnorm(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	kn_rmsnorm(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
		   accel_tensor_data(&c->t[2]), c->t[1].ne[0], cpu_t_rows(&c->t[1]), c->f[0],
		   ctx->ith, ctx->nth);
	return 0;
}

/* ------------------------------------------------------------------- ROPE */

int accel_cpu_check_rope(const struct accel_cmd *c)
{
	const struct accel_tensor *x = &c->t[0], *pos = &c->t[1], *ff = &c->t[2];
	const int64_t n_rot = c->i[0], mode = c->i[1];

	if (!cpu_t_f32(x) || !cpu_t_i32(pos) || x->ne[3] != 1 || !cpu_t_2d(pos, x->ne[2], 1))
		return -EINVAL;
	if (n_rot <= 0 || n_rot > x->ne[0] || n_rot > CPU_MAX_ROT || (n_rot & 1) ||
	    (mode != 0 && mode != 2))
		return -EINVAL;
	if (!(c->f[0] > 0.0f) || !isfinite(c->f[0]) || !(c->f[1] > 0.0f) || !isfinite(c->f[1]))
		return -EINVAL;
	if (!cpu_t_unused(ff) && (!cpu_t_f32(ff) || !cpu_t_2d(ff, n_rot / 2, 1)))
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_rope(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *x = &c->t[0];

	kn_rope(accel_tensor_data(x), accel_tensor_data(&c->t[1]), x->ne[2], x->ne[1], x->ne[0],
		(int)c->i[0], (int)c->i[1], c->f[0], c->f[1],
		cpu_t_unused(&c->t[2]) ? NULL : accel_tensor_data(&c->t[2]), ctx->ith, ctx->nth);
	return 0;
}

/* ------------------------------------------------------------- SWIGLU, ADD */

int accel_cpu_check_swiglu(const struct accel_cmd *c)
{
	if (!cpu_t_f32(&c->t[0]) || !cpu_t_f32(&c->t[1]) || !cpu_t_f32(&c->t[2]) ||
	    !cpu_t_same_shape(&c->t[0], &c->t[1]) || !cpu_t_same_shape(&c->t[0], &c->t[2]))
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_swiglu(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const int64_t n = cpu_t_nel(&c->t[0]);

	kn_swiglu(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
		  accel_tensor_data(&c->t[2]), n, c->t[0].ne[0], ctx->ith, ctx->nth);
	return 0;
}

int accel_cpu_check_add(const struct accel_cmd *c)
{
	if (!cpu_t_f32(&c->t[0]) || !cpu_t_f32(&c->t[1]) || !cpu_t_f32(&c->t[2]) ||
	    !cpu_t_same_shape(&c->t[0], &c->t[1]) || !cpu_t_same_shape(&c->t[0], &c->t[2]))
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_add(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const int64_t n = cpu_t_nel(&c->t[0]);

	kn_add(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
	       accel_tensor_data(&c->t[2]), n, ctx->ith, ctx->nth);
	return 0;
}
