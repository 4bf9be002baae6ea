/* SPDX-License-Identifier: MIT */
/*
 * libaccel's memory domains on a CUDA GPU: VRAM pools next to the pinned
 * host pools, host pools registered with the CUDA driver, the COPY engine's
 * host <-> VRAM transfers on streams of their own, and fences bridged between
 * CUDA events and libaccel timeline points. Built only by `make cuda`
 * and into the GPU backend libaccel dlopens on --gpu (libaccel-cuda.so.1,
 * gpu_backend.c), its only user. It calls nothing of libaccel: fences are
 * signalled through the callback given at open (the backend may live in a
 * program that links libaccel statically). Plain C over the CUDA runtime
 * API; streams are passed as void * so this header needs no CUDA header.
 */
#ifndef ACCEL_CUDA_DOMAIN_H
#define ACCEL_CUDA_DOMAIN_H

#include <stdint.h>
#include "accel.h"

struct accel_cuda_domain;

/* struct accel_vram_pool - device memory carved like a host pool */
struct accel_vram_pool {
	struct accel_cuda_domain *dom;
	void *base;		/* device address of byte 0 */
	uint64_t size;
	uint32_t block_size;	/* 0: not block-structured (weights); else KV blocks */
	uint32_t num_blocks;
};

enum accel_cuda_dir {
	ACCEL_CUDA_H2D,		/* host pool -> VRAM, on the upload stream */
	ACCEL_CUDA_D2H,		/* VRAM -> host pool (KV offload), on the download stream */
	ACCEL_CUDA_D2D,		/* VRAM -> VRAM, on the upload stream */
};

/**
 * struct accel_cuda_xfer - one COPY between domains; a host timeline point it
 * depends on (the NVMe read that filled the host slot) is waited for by the
 * submitting queue's thread before the copy is queued
 * @after_compute: the copy also waits for the GPU work queued so far on the
 *	compute stream (a VRAM slot is refilled only once its layer has run):
 *	an event, no host round trip
 * @signal, @signal_point: optional: signalled when the bytes have landed
 */
struct accel_cuda_xfer {
	enum accel_cuda_dir dir;
	void *dst;
	const void *src;
	uint64_t len;
	int after_compute;
	struct accel_fence *signal;
	uint64_t signal_point;
};

/* signals a libaccel timeline point: accel_fence_signal, lent by libaccel */
typedef int (*accel_cuda_signal_fn)(struct accel_fence *fence, uint64_t point);

/** accel_cuda_domain_open - GPU @device: a compute stream and two copy
 *  streams; @signal is what fence bridges call */
int accel_cuda_domain_open(int device, accel_cuda_signal_fn signal,
			   struct accel_cuda_domain **out);
void accel_cuda_domain_close(struct accel_cuda_domain *dom);
/** the cudaStream_t the COMPUTE backend queues kernels on */
void *accel_cuda_domain_compute_stream(struct accel_cuda_domain *dom);
/** the cudaStream_t of host -> VRAM copies (0) or VRAM -> host ones (1) */
void *accel_cuda_domain_copy_stream(struct accel_cuda_domain *dom, int download);

int accel_vram_pool_create(struct accel_cuda_domain *dom, uint64_t size, uint32_t block_size,
			   struct accel_vram_pool **out);
void accel_vram_pool_destroy(struct accel_vram_pool *pool);

/**
 * accel_cuda_host_register - pin @len bytes at @p (a host pool's mapping) for
 * the GPU's DMA (cudaHostRegister, portable to every context). The emulated
 * pools (memfd) and the driver's GEM mappings (vm_insert_pages: normal pages)
 * both accept it; the driver's pools are pinned already, the registration
 * only maps them.
 */
/* accel_cuda_errno - a cudaError_t as -errno (0 for cudaSuccess); the one mapping
 * both the domain and the backend use */
int accel_cuda_errno(int err);
int accel_cuda_host_register(void *p, uint64_t len);
int accel_cuda_host_unregister(void *p);

/** accel_cuda_copy - queue @x; 0 or -errno (-EINVAL: a host side not registered) */
int accel_cuda_copy(struct accel_cuda_domain *dom, const struct accel_cuda_xfer *x);
/** accel_cuda_compute_wait_copies - the compute stream waits for every copy
 *  queued so far (a layer's kernels after its weights' upload) */
int accel_cuda_compute_wait_copies(struct accel_cuda_domain *dom);
/** accel_cuda_compute_signal - @fence reaches @point once the compute stream's
 *  work queued so far has finished (a token's logits are ready) */
int accel_cuda_compute_signal(struct accel_cuda_domain *dom, struct accel_fence *fence,
			      uint64_t point);

#endif /* ACCEL_CUDA_DOMAIN_H */
