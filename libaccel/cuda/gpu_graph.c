// SPDX-License-Identifier: MIT
/*
 * Decode as CUDA graphs: the commands a step queues between graph_begin and
 * graph_end are captured from the compute stream (stream capture, so the
 * kernels and cuBLAS calls are recorded, not run) and instantiated into the
 * slot's executable graph; graph_launch replays it. What changes from step
 * to step (token ids, positions, block tables, sequence ids) lives in device
 * buffers the captured kernels read, so a replay needs no re-capture as long
 * as the addresses and shapes stay: the caller keeps one slot per step shape.
 */
#include <errno.h>
#include <cuda_runtime_api.h>
#include "gpu_backend.h"

int gpu_graph_begin(struct accel_gpu *g, uint32_t slot)
{
	int ret;

	if (slot >= GPU_MAX_GRAPHS || g->capturing)
		return -EINVAL;
	ret = gpu_cuda_err(cudaSetDevice(g->ordinal));
	if (ret)
		return ret;
	/* thread-local: only this thread's CUDA calls join the capture */
	ret = gpu_cuda_err(cudaStreamBeginCapture(gpu_stream(g, ACCEL_GPU_COMPUTE),
						  cudaStreamCaptureModeThreadLocal));
	if (!ret)
		g->capturing = (int)slot + 1;
	return ret;
}

int gpu_graph_end(struct accel_gpu *g, uint32_t slot)
{
	cudaGraph_t graph = NULL;
	cudaGraphExec_t exec = NULL;
	int ret;

	if (slot >= GPU_MAX_GRAPHS || g->capturing != (int)slot + 1)
		return -EINVAL;
	g->capturing = 0;
	ret = gpu_cuda_err(cudaStreamEndCapture(gpu_stream(g, ACCEL_GPU_COMPUTE), &graph));
	if (ret)
		return ret;
	ret = gpu_cuda_err(cudaGraphInstantiate(&exec, graph, 0));
	cudaGraphDestroy(graph);
	if (ret)
		return ret;
	if (g->graph[slot])
		cudaGraphExecDestroy((cudaGraphExec_t)g->graph[slot]);
	g->graph[slot] = exec;
	return 0;
}

int gpu_graph_launch(struct accel_gpu *g, uint32_t slot)
{
	if (slot >= GPU_MAX_GRAPHS || !g->graph[slot] || g->capturing)
		return -EINVAL;
	return gpu_cuda_err(cudaGraphLaunch((cudaGraphExec_t)g->graph[slot],
					    gpu_stream(g, ACCEL_GPU_COMPUTE)));
}

void gpu_graphs_destroy(struct accel_gpu *g)
{
	for (int i = 0; i < GPU_MAX_GRAPHS; i++) {
		if (g->graph[i])
			cudaGraphExecDestroy((cudaGraphExec_t)g->graph[i]);
		g->graph[i] = NULL;
	}
}
