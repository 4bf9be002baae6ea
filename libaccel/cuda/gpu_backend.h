/* SPDX-License-Identifier: MIT */
/*
 * The GPU backend's private state (libaccel-cuda.so.1): one struct
 * accel_gpu per opened device, shared by its files: gpu_backend.c (entry,
 * device, memory, streams), gpu_exec.c (the commands through kernels/cuda),
 * gpu_graph.c (decode captured and replayed as CUDA graphs).
 */
#ifndef ACCEL_GPU_BACKEND_H
#define ACCEL_GPU_BACKEND_H

#include <stdarg.h>
#include "cuda_domain.h"
#include "gpu_abi.h"
#include "kn_cuda.h"

#define GPU_MAX_GRAPHS	ACCEL_GPU_GRAPH_SLOTS

struct accel_gpu {
	const struct accel_gpu_host *host;
	int ordinal;
	struct accel_cuda_domain *dom;	/* streams, copies, fence bridges */
	struct kn_cuda_ctx *kn;		/* the kernels on the compute stream */
	int capturing;			/* slot + 1 while a graph is captured */
	void *graph[GPU_MAX_GRAPHS];	/* cudaGraphExec_t per slot, NULL: none */
};

/* cudaError_t -> -errno */
int gpu_cuda_err(int e);
void gpu_log(struct accel_gpu *g, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* the cudaStream_t of @st */
void *gpu_stream(struct accel_gpu *g, enum accel_gpu_stream st);

/* gpu_exec.c */
int gpu_exec_check(struct accel_gpu *g, const struct accel_cmd *cmd);
int gpu_exec(struct accel_gpu *g, const struct accel_cmd *cmd,
	     const struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS]);

/* gpu_graph.c */
int gpu_graph_begin(struct accel_gpu *g, uint32_t slot);
int gpu_graph_end(struct accel_gpu *g, uint32_t slot);
int gpu_graph_launch(struct accel_gpu *g, uint32_t slot);
void gpu_graphs_destroy(struct accel_gpu *g);

#endif /* ACCEL_GPU_BACKEND_H */
