// SPDX-License-Identifier: MIT
/*
 * Memory domains on a CUDA GPU (cuda_domain.h): VRAM pools, registered host
 * pools, host <-> VRAM copies on their own streams and the fence bridges.
 *
 * Streams: compute (the kernels), upload (H2D and D2D) and download (D2H),
 * all non-blocking, so a layer's weights stream into a VRAM slot while the
 * previous layer computes and a preempted sequence's KV blocks go out at the
 * same time: the three stages of DESIGN.md's streaming (NVMe -> pinned slot
 * -> VRAM slot -> compute) each overlap the others.
 *
 * Fences, both directions:
 *  - GPU -> timeline: cudaLaunchHostFunc after the work signals the point
 *    (the callback makes no CUDA call, as CUDA requires).
 *  - timeline -> GPU: the submitting queue's thread waits for the point
 *    before it queues the copy (libaccel's queues run on their own threads,
 *    so this blocks a queue, never the caller). A wait inside the stream
 *    (cuStreamWaitValue64 on the emulated timeline's registered word) would
 *    spare that thread; it needs the driver API and the fence's address.
 *  - GPU -> GPU: events recorded on one stream, waited on another.
 */
#include <errno.h>
#include <stdlib.h>
#include <cuda_runtime_api.h>
#include "cuda_domain.h"

struct accel_cuda_domain {
	int device;
	accel_cuda_signal_fn signal;
	cudaStream_t compute, upload, download;
};

int accel_cuda_errno(int err)
{
	switch ((cudaError_t)err) {
	case cudaSuccess:
		return 0;
	case cudaErrorMemoryAllocation:
		return -ENOMEM;
	case cudaErrorInvalidValue:
	case cudaErrorInvalidDevice:
		return -EINVAL;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
		return -ENODEV;
	case cudaErrorHostMemoryAlreadyRegistered:
		return -EEXIST;
	case cudaErrorHostMemoryNotRegistered:
		return -ENOENT;
	default:
		return -EIO;
	}
}

static int accel_cuda_err(cudaError_t e)
{
	return accel_cuda_errno(e);
}

int accel_cuda_domain_open(int device, accel_cuda_signal_fn signal,
			   struct accel_cuda_domain **out)
{
	struct accel_cuda_domain *d;
	int ret;

	if (!out || device < 0 || !signal)
		return -EINVAL;
	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->device = device;
	d->signal = signal;
	ret = accel_cuda_err(cudaSetDevice(device));
	if (ret)
		goto err_free;
	ret = accel_cuda_err(cudaStreamCreateWithFlags(&d->compute, cudaStreamNonBlocking));
	if (ret)
		goto err_free;
	ret = accel_cuda_err(cudaStreamCreateWithFlags(&d->upload, cudaStreamNonBlocking));
	if (ret)
		goto err_compute;
	ret = accel_cuda_err(cudaStreamCreateWithFlags(&d->download, cudaStreamNonBlocking));
	if (ret)
		goto err_upload;
	*out = d;
	return 0;

err_upload:
	cudaStreamDestroy(d->upload);
err_compute:
	cudaStreamDestroy(d->compute);
err_free:
	free(d);
	return ret;
}

void accel_cuda_domain_close(struct accel_cuda_domain *d)
{
	if (!d)
		return;
	cudaSetDevice(d->device);
	cudaStreamSynchronize(d->download);
	cudaStreamSynchronize(d->upload);
	cudaStreamSynchronize(d->compute);
	cudaStreamDestroy(d->download);
	cudaStreamDestroy(d->upload);
	cudaStreamDestroy(d->compute);
	free(d);
}

void *accel_cuda_domain_compute_stream(struct accel_cuda_domain *d)
{
	return d ? (void *)d->compute : NULL;
}

int accel_vram_pool_create(struct accel_cuda_domain *d, uint64_t size, uint32_t block_size,
			   struct accel_vram_pool **out)
{
	struct accel_vram_pool *p;
	int ret;

	if (!d || !out || !size || (block_size && (size % block_size || size / block_size > UINT32_MAX)))
		return -EINVAL;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = accel_cuda_err(cudaSetDevice(d->device));
	if (!ret)
		ret = accel_cuda_err(cudaMalloc(&p->base, size));
	if (ret) {
		free(p);
		return ret;
	}
	p->dom = d;
	p->size = size;
	p->block_size = block_size;
	p->num_blocks = block_size ? (uint32_t)(size / block_size) : 0;
	*out = p;
	return 0;
}

void accel_vram_pool_destroy(struct accel_vram_pool *p)
{
	if (!p)
		return;
	/* every stream of the domain may still read or write it */
	cudaSetDevice(p->dom->device);
	cudaDeviceSynchronize();
	cudaFree(p->base);
	free(p);
}

void *accel_cuda_domain_copy_stream(struct accel_cuda_domain *d, int download)
{
	return d ? (void *)(download ? d->download : d->upload) : NULL;
}

int accel_cuda_host_register(void *p, uint64_t len)
{
	if (!p || !len)
		return -EINVAL;
	return accel_cuda_err(cudaHostRegister(p, len, cudaHostRegisterPortable));
}

int accel_cuda_host_unregister(void *p)
{
	if (!p)
		return -EINVAL;
	return accel_cuda_err(cudaHostUnregister(p));
}

/* a host side must lie in registered (pinned) memory: else the copy would be
 * staged through a driver bounce buffer, synchronously */
static int accel_cuda_host_ok(const void *p, uint64_t len)
{
	struct cudaPointerAttributes a;

	if (cudaPointerGetAttributes(&a, p) != cudaSuccess || a.type != cudaMemoryTypeHost)
		return 0;
	return cudaPointerGetAttributes(&a, (const char *)p + len - 1) == cudaSuccess &&
	       a.type == cudaMemoryTypeHost;
}

struct accel_cuda_sig {
	accel_cuda_signal_fn signal;
	struct accel_fence *fence;
	uint64_t point;
};

/* runs on CUDA's callback thread once the stream reaches it: no CUDA calls.
 * A signal fails only for a point below the timeline's value, which the
 * queues' in-order points exclude. */
static void CUDART_CB accel_cuda_sig_cb(void *arg)
{
	struct accel_cuda_sig *s = arg;

	s->signal(s->fence, s->point);
	free(s);
}

static int accel_cuda_signal_on(struct accel_cuda_domain *d, cudaStream_t st,
				struct accel_fence *fence, uint64_t point)
{
	struct accel_cuda_sig *s = malloc(sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->signal = d->signal;
	s->fence = fence;
	s->point = point;
	ret = accel_cuda_err(cudaLaunchHostFunc(st, accel_cuda_sig_cb, s));
	if (ret)
		free(s);
	return ret;
}

/* @waiter waits on the GPU for the work queued on @signaler so far */
static int accel_cuda_stream_after(cudaStream_t waiter, cudaStream_t signaler)
{
	cudaEvent_t ev;
	int ret = accel_cuda_err(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));

	if (ret)
		return ret;
	ret = accel_cuda_err(cudaEventRecord(ev, signaler));
	if (!ret)
		ret = accel_cuda_err(cudaStreamWaitEvent(waiter, ev, 0));
	cudaEventDestroy(ev);	/* released once the wait is done with it */
	return ret;
}

int accel_cuda_copy(struct accel_cuda_domain *d, const struct accel_cuda_xfer *x)
{
	enum cudaMemcpyKind kind;
	cudaStream_t st;
	int ret;

	if (!d || !x || !x->dst || !x->src || !x->len)
		return -EINVAL;
	switch (x->dir) {
	case ACCEL_CUDA_H2D:
		kind = cudaMemcpyHostToDevice;
		st = d->upload;
		if (!accel_cuda_host_ok(x->src, x->len))
			return -EINVAL;
		break;
	case ACCEL_CUDA_D2H:
		kind = cudaMemcpyDeviceToHost;
		st = d->download;
		if (!accel_cuda_host_ok(x->dst, x->len))
			return -EINVAL;
		break;
	case ACCEL_CUDA_D2D:
		kind = cudaMemcpyDeviceToDevice;
		st = d->upload;
		break;
	default:
		return -EINVAL;
	}
	ret = accel_cuda_err(cudaSetDevice(d->device));
	if (ret)
		return ret;
	if (x->after_compute) {
		ret = accel_cuda_stream_after(st, d->compute);
		if (ret)
			return ret;
	}
	ret = accel_cuda_err(cudaMemcpyAsync(x->dst, x->src, x->len, kind, st));
	if (!ret && x->signal)
		ret = accel_cuda_signal_on(d, st, x->signal, x->signal_point);
	return ret;
}

int accel_cuda_compute_wait_copies(struct accel_cuda_domain *d)
{
	int ret;

	if (!d)
		return -EINVAL;
	ret = accel_cuda_stream_after(d->compute, d->upload);
	if (!ret)
		ret = accel_cuda_stream_after(d->compute, d->download);
	return ret;
}

int accel_cuda_compute_signal(struct accel_cuda_domain *d, struct accel_fence *fence,
			      uint64_t point)
{
	if (!d || !fence)
		return -EINVAL;
	return accel_cuda_signal_on(d, d->compute, fence, point);
}
