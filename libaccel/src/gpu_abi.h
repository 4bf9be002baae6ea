/* SPDX-License-Identifier: MIT */
/*
 * The C ABI between libaccel (gpu.c, engine_gpu.c) and a GPU backend in its
 * own shared object (libaccel/cuda/ -> libaccel-cuda.so.1), loaded with
 * dlopen on --gpu, as ggml loads a backend per library: CPU-only builds and
 * machines never need CUDA. Both sides compile this header; nothing else is
 * shared. The backend calls libaccel only through struct accel_gpu_host (it
 * may be loaded into a program that links libaccel statically, whose
 * symbols a dlopen'ed object cannot see).
 *
 * Versioning: the file name carries ACCEL_GPU_ABI_VERSION (libaccel-cuda.so.1)
 * and the entry point is asked for that version; each table starts with its
 * version and size, so a later minor addition appends members and a reader
 * checks @size before using them. A change to any existing member bumps the
 * version (and the file name).
 */
#ifndef ACCEL_GPU_ABI_H
#define ACCEL_GPU_ABI_H

#include <stddef.h>
#include <stdint.h>
#include "accel.h"

#define ACCEL_GPU_ABI_VERSION	1
#define ACCEL_GPU_LIB_NAME	"libaccel-cuda.so.1"
/* const struct accel_gpu_ops *accel_gpu_entry(uint32_t abi_version):
 * the only symbol the object exports; NULL for a version it does not speak */
#define ACCEL_GPU_ENTRY		"accel_gpu_entry"

struct accel_gpu;	/* the backend's state for one device */

/* graph slots a backend keeps per device (graph_begin's @slot < this) */
#define ACCEL_GPU_GRAPH_SLOTS	8

/* the streams of a device, in the backend: kernels, host->device, device->host */
enum accel_gpu_stream {
	ACCEL_GPU_COMPUTE = 0,
	ACCEL_GPU_UPLOAD = 1,
	ACCEL_GPU_DOWNLOAD = 2,
	ACCEL_GPU_NSTREAMS
};

/**
 * struct accel_gpu_host - what libaccel lends the backend
 * @abi_version: ACCEL_GPU_ABI_VERSION
 * @size: sizeof(struct accel_gpu_host)
 * @log: one line, enum accel_log_level (libaccel's log callback)
 * @fence_signal: accel_fence_signal; the backend calls it from CUDA's host
 *	callback thread when a stream reaches a point (no CUDA call inside)
 */
struct accel_gpu_host {
	uint32_t abi_version;
	uint32_t size;
	void (*log)(int level, const char *msg);
	int (*fence_signal)(struct accel_fence *fence, uint64_t point);
};

/**
 * struct accel_gpu_info - one GPU, as the backend reports it
 * @name: the device's name ("NVIDIA H100 80GB HBM3")
 * @cc_major, @cc_minor: compute capability
 * @mem_total, @mem_free: device memory, bytes
 * @mem_bw: peak memory bandwidth, bytes/s (0 if unknown)
 * @runtime_version, @driver_version: CUDA's numbers (13000 = 13.0)
 */
struct accel_gpu_info {
	char name[96];
	uint32_t cc_major, cc_minor;
	uint64_t mem_total, mem_free;
	uint64_t mem_bw;
	uint32_t runtime_version, driver_version;
};

/**
 * struct accel_gpu_buf - where one tensor of a command lies on the device
 * @ptr: device address of the tensor's byte 0 (NULL: tensor unused)
 * @base: device address of byte 0 of its pool (the KV cache of attention,
 *	MoE expert tables: offsets relative to the pool)
 * @pool_size: bytes of that pool
 * @block_size: the pool's KV block size (0: not a KV pool)
 */
struct accel_gpu_buf {
	void *ptr;
	void *base;
	uint64_t pool_size;
	uint64_t block_size;
};

/**
 * struct accel_gpu_ops - the backend. Every function returns 0 or -errno
 * (-ENODEV no device, -ENOMEM, -EINVAL, -EOPNOTSUPP an op or type the
 * backend lacks, -EIO a CUDA failure). Work is queued on a stream and
 * returns at once unless the function says it waits.
 * @open: the GPU @ordinal; on failure one line (no newline) in @why
 * @close: waits for every stream, frees what open made
 * @mem_alloc / @mem_free: device memory (a VRAM pool)
 * @host_register / @host_unregister: pin a host range for DMA
 *	(cudaHostRegister, portable) / undo it
 * @copy: @len bytes on @stream (UPLOAD: host->device or device->device,
 *	DOWNLOAD: device->host); a host side must be registered (-EINVAL)
 * @after: stream @waiter waits for the work queued so far on @signaler (an
 *	event, no host round trip)
 * @signal: @fence reaches @point once the work queued so far on @stream is
 *	done (a host callback)
 * @sync: wait for @stream; reports (and clears) the device's error flag
 * @check: can the backend run @cmd (after the op table's checks)?
 * @exec: queue @cmd on the compute stream; @bufs[i] says where t[i] lies
 * @graph_begin / @graph_end: capture what @exec queues from begin to end as
 *	graph @slot (< ACCEL_GPU_GRAPH_SLOTS; decode: one per step shape;
 *	capture runs nothing, and a failed capture leaves the slot as it was)
 *	/ @graph_launch replays it; the tensors' contents (positions, block tables) may change between
 *	launches, their addresses may not. The backend may drop its graphs (its
 *	scratch grew): a launch of an emptied slot fails with -EINVAL and runs
 *	nothing. Optional: NULL, or -EOPNOTSUPP.
 */
struct accel_gpu_ops {
	uint32_t abi_version;
	uint32_t size;
	const char *name;
	int (*open)(const struct accel_gpu_host *host, int ordinal, struct accel_gpu **out,
		    char *why, size_t why_len);
	void (*close)(struct accel_gpu *gpu);
	int (*info)(struct accel_gpu *gpu, struct accel_gpu_info *info);
	int (*mem_alloc)(struct accel_gpu *gpu, uint64_t size, void **dptr);
	void (*mem_free)(struct accel_gpu *gpu, void *dptr);
	int (*host_register)(struct accel_gpu *gpu, void *p, uint64_t len);
	void (*host_unregister)(struct accel_gpu *gpu, void *p);
	int (*copy)(struct accel_gpu *gpu, enum accel_gpu_stream stream, void *dst,
		    const void *src, uint64_t len);
	int (*after)(struct accel_gpu *gpu, enum accel_gpu_stream waiter,
		     enum accel_gpu_stream signaler);
	int (*signal)(struct accel_gpu *gpu, enum accel_gpu_stream stream,
		      struct accel_fence *fence, uint64_t point);
	int (*sync)(struct accel_gpu *gpu, enum accel_gpu_stream stream);
	int (*check)(struct accel_gpu *gpu, const struct accel_cmd *cmd);
	int (*exec)(struct accel_gpu *gpu, const struct accel_cmd *cmd,
		    const struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS]);
	int (*graph_begin)(struct accel_gpu *gpu, uint32_t slot);
	int (*graph_end)(struct accel_gpu *gpu, uint32_t slot);
	int (*graph_launch)(struct accel_gpu *gpu, uint32_t slot);
};

typedef const struct accel_gpu_ops *(*accel_gpu_entry_fn)(uint32_t abi_version);

#endif /* ACCEL_GPU_ABI_H */
