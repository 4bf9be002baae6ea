// SPDX-License-Identifier: MIT
/*
 * The GPU backend's entry (libaccel-cuda.so.1, gpu_abi.h): opening a CUDA
 * device with its memory domain (cuda_domain.c: streams, copies, fence
 * bridges) and its kernel context (kernels/cuda), device memory, host
 * registration, stream order. The commands themselves run in gpu_exec.c.
 * Exports accel_gpu_entry and nothing else (libaccel-cuda.map); calls
 * libaccel only through the host table it is given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda_runtime_api.h>
#include "gpu_backend.h"

/* the kernels' shared scratch at open; gpu_exec.c grows it for an op that
 * needs more (a prefill GEMM's FP16 tiles) */
#define GPU_SCRATCH_INITIAL	(UINT64_C(64) << 20)

int gpu_cuda_err(int e)
{
	return accel_cuda_errno(e);
}

void gpu_log(struct accel_gpu *g, int level, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (!g->host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->host->log(level, msg);
}

static int gpu_open(const struct accel_gpu_host *host, int ordinal, struct accel_gpu **out,
		    char *why, size_t why_len)
{
	struct accel_gpu *g;
	cudaError_t e;
	int count = 0, ret;

	if (!host || host->abi_version != ACCEL_GPU_ABI_VERSION ||
	    host->size < sizeof(struct accel_gpu_host) || !host->fence_signal || !out) {
		snprintf(why, why_len, "libaccel and %s disagree on the ABI", ACCEL_GPU_LIB_NAME);
		return -EINVAL;
	}
	*out = NULL;
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count == 0) {
		snprintf(why, why_len, "no usable CUDA device (cudaGetDeviceCount: %s)",
			 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		cudaGetLastError();	/* clear the sticky error */
		return -ENODEV;
	}
	if (ordinal >= count) {
		snprintf(why, why_len, "CUDA device %d requested, %d present", ordinal, count);
		return -ENODEV;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->host = host;
	g->ordinal = ordinal;
	ret = accel_cuda_domain_open(ordinal, host->fence_signal, &g->dom);
	if (ret) {
		snprintf(why, why_len, "CUDA device %d: cannot create its streams: %s", ordinal,
			 strerror(-ret));
		goto err_free;
	}
	ret = kn_cuda_ctx_create(&g->kn, accel_cuda_domain_compute_stream(g->dom),
				 GPU_SCRATCH_INITIAL);
	if (ret) {
		snprintf(why, why_len, "CUDA device %d: cannot create the kernels' context "
			 "(cuBLAS, %llu MiB scratch): %s", ordinal,
			 (unsigned long long)(GPU_SCRATCH_INITIAL >> 20), strerror(-ret));
		goto err_dom;
	}
	*out = g;
	return 0;

err_dom:
	accel_cuda_domain_close(g->dom);
err_free:
	free(g);
	return ret;
}

static void gpu_close(struct accel_gpu *g)
{
	if (!g)
		return;
	cudaSetDevice(g->ordinal);
	gpu_graphs_destroy(g);
	kn_cuda_ctx_destroy(g->kn);	/* syncs its stream */
	accel_cuda_domain_close(g->dom);
	free(g);
}

static int gpu_info(struct accel_gpu *g, struct accel_gpu_info *info)
{
	struct cudaDeviceProp p;
	size_t free_b = 0, total_b = 0;
	int rt = 0, drv = 0, clk = 0, bus = 0, ret;

	ret = gpu_cuda_err(cudaSetDevice(g->ordinal));
	if (!ret)
		ret = gpu_cuda_err(cudaGetDeviceProperties(&p, g->ordinal));
	if (!ret)
		ret = gpu_cuda_err(cudaMemGetInfo(&free_b, &total_b));
	if (ret)
		return ret;
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%.*s", (int)sizeof(info->name) - 1, p.name);
	info->cc_major = (uint32_t)p.major;
	info->cc_minor = (uint32_t)p.minor;
	info->mem_total = total_b;
	info->mem_free = free_b;
	/* DDR: two transfers per clock (kHz) of a bus of @bus bits */
	if (cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, g->ordinal) == cudaSuccess &&
	    cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, g->ordinal) ==
		    cudaSuccess)
		info->mem_bw = 2ull * (uint64_t)clk * 1000ull * (uint64_t)bus / 8ull;
	cudaGetLastError();
	cudaRuntimeGetVersion(&rt);
	cudaDriverGetVersion(&drv);
	info->runtime_version = (uint32_t)rt;
	info->driver_version = (uint32_t)drv;
	return 0;
}

static int gpu_mem_alloc(struct accel_gpu *g, uint64_t size, void **dptr)
{
	int ret;

	if (!size || !dptr)
		return -EINVAL;
	*dptr = NULL;
	ret = gpu_cuda_err(cudaSetDevice(g->ordinal));
	return ret ? ret : gpu_cuda_err(cudaMalloc(dptr, size));
}

static void gpu_mem_free(struct accel_gpu *g, void *dptr)
{
	if (!dptr)
		return;
	/* any stream may still read or write it */
	cudaSetDevice(g->ordinal);
	cudaDeviceSynchronize();
	cudaFree(dptr);
}

static int gpu_host_register(struct accel_gpu *g, void *p, uint64_t len)
{
	int ret = gpu_cuda_err(cudaSetDevice(g->ordinal));

	return ret ? ret : accel_cuda_host_register(p, len);
}

static void gpu_host_unregister(struct accel_gpu *g, void *p)
{
	cudaSetDevice(g->ordinal);
	accel_cuda_host_unregister(p);
}

static int gpu_copy(struct accel_gpu *g, enum accel_gpu_stream st, void *dst, const void *src,
		    uint64_t len)
{
	struct accel_cuda_xfer x = { .dst = dst, .src = src, .len = len };
	struct cudaPointerAttributes a;

	if (cudaSetDevice(g->ordinal) != cudaSuccess)	/* per thread: the queue's */
		return -EIO;
	if (st == ACCEL_GPU_DOWNLOAD) {
		x.dir = ACCEL_CUDA_D2H;
	} else if (st == ACCEL_GPU_UPLOAD) {
		/* a device source: VRAM -> VRAM on the upload stream */
		x.dir = cudaPointerGetAttributes(&a, src) == cudaSuccess &&
				a.type == cudaMemoryTypeDevice ? ACCEL_CUDA_D2D : ACCEL_CUDA_H2D;
		cudaGetLastError();
	} else {
		return -EINVAL;
	}
	return accel_cuda_copy(g->dom, &x);
}

void *gpu_stream(struct accel_gpu *g, enum accel_gpu_stream st)
{
	switch (st) {
	case ACCEL_GPU_COMPUTE:
		return accel_cuda_domain_compute_stream(g->dom);
	case ACCEL_GPU_UPLOAD:
		return accel_cuda_domain_copy_stream(g->dom, 0);
	case ACCEL_GPU_DOWNLOAD:
		return accel_cuda_domain_copy_stream(g->dom, 1);
	default:
		return NULL;
	}
}

static int gpu_after(struct accel_gpu *g, enum accel_gpu_stream waiter,
		     enum accel_gpu_stream signaler)
{
	cudaStream_t w = gpu_stream(g, waiter), s = gpu_stream(g, signaler);
	cudaEvent_t ev;
	int ret;

	if (!w || !s)
		return -EINVAL;
	if (w == s)
		return 0;
	ret = gpu_cuda_err(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	if (ret)
		return ret;
	ret = gpu_cuda_err(cudaEventRecord(ev, s));
	if (!ret)
		ret = gpu_cuda_err(cudaStreamWaitEvent(w, ev, 0));
	cudaEventDestroy(ev);	/* released once the wait has used it */
	return ret;
}

struct gpu_sig {
	const struct accel_gpu_host *host;
	struct accel_fence *fence;
	uint64_t point;
};

/* CUDA's callback thread, once the stream gets here: no CUDA call allowed */
static void CUDART_CB gpu_sig_cb(void *arg)
{
	struct gpu_sig *s = arg;

	s->host->fence_signal(s->fence, s->point);
	free(s);
}

static int gpu_signal(struct accel_gpu *g, enum accel_gpu_stream st, struct accel_fence *fence,
		      uint64_t point)
{
	cudaStream_t s = gpu_stream(g, st);
	struct gpu_sig *sig;
	int ret;

	if (!s || !fence)
		return -EINVAL;
	sig = malloc(sizeof(*sig));
	if (!sig)
		return -ENOMEM;
	*sig = (struct gpu_sig){ .host = g->host, .fence = fence, .point = point };
	ret = gpu_cuda_err(cudaLaunchHostFunc(s, gpu_sig_cb, sig));
	if (ret)
		free(sig);
	return ret;
}

static int gpu_sync(struct accel_gpu *g, enum accel_gpu_stream st)
{
	cudaStream_t s = gpu_stream(g, st);
	int ret;

	if (!s || cudaSetDevice(g->ordinal) != cudaSuccess)
		return -EINVAL;
	if (st == ACCEL_GPU_COMPUTE)
		return kn_cuda_ctx_sync(g->kn);	/* also the kernels' error flag */
	ret = gpu_cuda_err(cudaStreamSynchronize(s));
	if (ret)
		gpu_log(g, ACCEL_LOG_ERROR, "stream %d: %s", (int)st,
			cudaGetErrorString(cudaGetLastError()));
	return ret;
}

static const struct accel_gpu_ops gpu_ops = {
	.abi_version = ACCEL_GPU_ABI_VERSION,
	.size = sizeof(struct accel_gpu_ops),
	.name = "cuda",
	.open = gpu_open,
	.close = gpu_close,
	.info = gpu_info,
	.mem_alloc = gpu_mem_alloc,
	.mem_free = gpu_mem_free,
	.host_register = gpu_host_register,
	.host_unregister = gpu_host_unregister,
	.copy = gpu_copy,
	.after = gpu_after,
	.signal = gpu_signal,
	.sync = gpu_sync,
	.check = gpu_exec_check,
	.exec = gpu_exec,
	.graph_begin = gpu_graph_begin,
	.graph_end = gpu_graph_end,
	.graph_launch = gpu_graph_launch,
};

__attribute__((visibility("default")))
const struct accel_gpu_ops *accel_gpu_entry(uint32_t abi_version)
{
	return abi_version == ACCEL_GPU_ABI_VERSION ? &gpu_ops : NULL;
}
