// SPDX-License-Identifier: MIT
/*
 * The model on a GPU (rt_model_opts.gpu): attach the GPU to the model's
 * device through libaccel (accel_gpu_attach loads the CUDA backend; the
 * runtime never sees CUDA) and say in one line why when it cannot. The
 * placement of the weights, KV cache and activations in VRAM builds on it.
 */
#include <errno.h>
#include <string.h>
#include "model/model.h"
#include "rt_error.h"

int rt_model_gpu_attach(struct rt_model *m, const struct rt_model_opts *opts)
{
	char why[400];
	int ret;

	if (opts->gpu_device < 0)
		return rt_set_error(-EINVAL, "--gpu: GPU %d: no such ordinal", opts->gpu_device);
	ret = accel_gpu_attach(m->dev, opts->gpu_device, why, sizeof(why));
	if (ret < 0)
		return rt_set_error(ret, "--gpu: %s", why[0] ? why : strerror(-ret));
	/* the layer loop does not run on the GPU yet (Documentation/cuda.rst):
	 * refuse rather than run on the CPU under a GPU flag */
	return rt_set_error(-EOPNOTSUPP, "--gpu: the forward pass on the GPU is not wired into "
			    "the runtime yet (see Documentation/cuda.rst)");
}
