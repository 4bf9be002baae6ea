// SPDX-License-Identifier: MIT
/*
 * The CUDA ops' context: the stream they queue on, a cuBLAS handle bound to
 * it, one device scratch buffer the ops share in stream order, and the
 * device error flag (indices out of range met by kernels).
 */
#include <stdlib.h>
#include "kn_cuda_internal.cuh"

int kn_cuda_ctx_create(struct kn_cuda_ctx **out, void *stream, size_t scratch_bytes)
{
	struct kn_cuda_ctx *c;

	if (!out)
		return -EINVAL;
	*out = NULL;
	c = (struct kn_cuda_ctx *)calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->stream = (cudaStream_t)stream;
	if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS)
		goto err_free;
	if (cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS)
		goto err_blas;
	/* FP32 GEMMs stay FP32 (no TF32): the F32-weight path is the accurate one */
	if (cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
		goto err_blas;
	if (cudaMalloc((void **)&c->err, sizeof(int)) != cudaSuccess)
		goto err_blas;
	if (cudaMemsetAsync(c->err, 0, sizeof(int), c->stream) != cudaSuccess)
		goto err_flag;
	if (scratch_bytes) {
		if (cudaMalloc(&c->scratch, scratch_bytes) != cudaSuccess)
			goto err_flag;
		c->scratch_size = scratch_bytes;
	}
	*out = c;
	return 0;

err_flag:
	cudaFree(c->err);
err_blas:
	cublasDestroy(c->blas);
err_free:
	free(c);
	return -EIO;
}

void kn_cuda_ctx_destroy(struct kn_cuda_ctx *c)
{
	if (!c)
		return;
	cudaStreamSynchronize(c->stream);
	cudaFree(c->scratch);
	cudaFree(c->err);
	cublasDestroy(c->blas);
	free(c);
}

size_t kn_cuda_ctx_scratch_size(const struct kn_cuda_ctx *c)
{
	return c ? c->scratch_size : 0;
}

int kn_cuda_ctx_sync(struct kn_cuda_ctx *c)
{
	int flag = 0;

	if (!c)
		return -EINVAL;
	if (cudaStreamSynchronize(c->stream) != cudaSuccess)
		return -EIO;
	if (cudaMemcpy(&flag, c->err, sizeof(flag), cudaMemcpyDeviceToHost) != cudaSuccess)
		return -EIO;
	if (flag) {
		if (cudaMemset(c->err, 0, sizeof(int)) != cudaSuccess)
			return -EIO;
		return -EINVAL;
	}
	return 0;
}
