// SPDX-License-Identifier: MIT
/*
 * pp_nccl.h: NCCL send/recv of hidden states between GPU ranks, through
 * functions looked up with dlsym (no link-time CUDA or NCCL dependency).
 * UNTESTED on any GPU (see pp_nccl.h): it compiles, and is never opened by a
 * CPU run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pp_nccl.h"
#include "rt_error.h"

#if !defined(ACCEL_HAVE_NCCL) || !defined(ACCEL_HAVE_MPI)

bool pp_nccl_built(void)
{
	return false;
}

int pp_nccl_open(int rank, int size, int device, size_t max_floats, struct pp_nccl **out)
{
	return rt_set_error(-ENOTSUP, "NCCL: not built in (nccl.h was not found at build time)");
}

void pp_nccl_close(struct pp_nccl *c)
{
}

int pp_nccl_send(struct pp_nccl *c, const float *x, size_t n, int peer)
{
	return -ENOTSUP;
}

int pp_nccl_recv(struct pp_nccl *c, float *x, size_t n, int peer)
{
	return -ENOTSUP;
}

#else

#include <dlfcn.h>
#include <mpi.h>
#include <nccl.h>

/* the CUDA runtime and NCCL entry points used here, by dlsym */
struct pp_nccl {
	void *cudart, *nccl;
	cudaError_t (*set_device)(int);
	cudaError_t (*malloc_)(void **, size_t);
	cudaError_t (*free_)(void *);
	cudaError_t (*memcpy_async)(void *, const void *, size_t, enum cudaMemcpyKind, cudaStream_t);
	cudaError_t (*stream_create)(cudaStream_t *);
	cudaError_t (*stream_destroy)(cudaStream_t);
	cudaError_t (*stream_sync)(cudaStream_t);
	const char *(*cuda_err)(cudaError_t);
	ncclResult_t (*get_unique_id)(ncclUniqueId *);
	ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
	ncclResult_t (*comm_destroy)(ncclComm_t);
	ncclResult_t (*send)(const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
	ncclResult_t (*recv)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
	const char *(*nccl_err)(ncclResult_t);
	ncclComm_t comm;
	cudaStream_t stream;
	bool have_stream;
	float *dbuf;			/* the device staging buffer */
	size_t max_floats;
};

bool pp_nccl_built(void)
{
	return true;
}

static void *sym(void *lib, const char *name, int *missing)
{
	void *f = dlsym(lib, name);

	*missing |= !f;
	return f;
}

static int load(struct pp_nccl *c)
{
	static const char *const cudart[] = { "libcudart.so", "libcudart.so.13", "libcudart.so.12" };
	int missing = 0;

	for (size_t i = 0; i < sizeof(cudart) / sizeof(cudart[0]) && !c->cudart; i++)
		c->cudart = dlopen(cudart[i], RTLD_NOW | RTLD_LOCAL);
	c->nccl = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!c->cudart || !c->nccl)
		return rt_set_error(-ENOENT, "NCCL: cannot load %s", !c->cudart ? "libcudart.so"
									      : "libnccl.so.2");
	*(void **)&c->set_device = sym(c->cudart, "cudaSetDevice", &missing);
	*(void **)&c->malloc_ = sym(c->cudart, "cudaMalloc", &missing);
	*(void **)&c->free_ = sym(c->cudart, "cudaFree", &missing);
	*(void **)&c->memcpy_async = sym(c->cudart, "cudaMemcpyAsync", &missing);
	*(void **)&c->stream_create = sym(c->cudart, "cudaStreamCreate", &missing);
	*(void **)&c->stream_destroy = sym(c->cudart, "cudaStreamDestroy", &missing);
	*(void **)&c->stream_sync = sym(c->cudart, "cudaStreamSynchronize", &missing);
	*(void **)&c->cuda_err = sym(c->cudart, "cudaGetErrorString", &missing);
	*(void **)&c->get_unique_id = sym(c->nccl, "ncclGetUniqueId", &missing);
	*(void **)&c->comm_init_rank = sym(c->nccl, "ncclCommInitRank", &missing);
	*(void **)&c->comm_destroy = sym(c->nccl, "ncclCommDestroy", &missing);
	*(void **)&c->send = sym(c->nccl, "ncclSend", &missing);
	*(void **)&c->recv = sym(c->nccl, "ncclRecv", &missing);
	*(void **)&c->nccl_err = sym(c->nccl, "ncclGetErrorString", &missing);
	return missing ? rt_set_error(-ENOENT, "NCCL: a CUDA or NCCL entry point is missing") : 0;
}

static int cuda_fail(struct pp_nccl *c, cudaError_t e, const char *what)
{
	return rt_set_error(-EIO, "NCCL: %s: %s", what, c->cuda_err(e));
}

/* this rank's half: the libraries, the GPU, a stream, the staging buffer */
static int open_local(struct pp_nccl *c, int device)
{
	cudaError_t e;
	int ret;

	if ((ret = load(c)) < 0)
		return ret;
	if ((e = c->set_device(device)) != cudaSuccess)
		return cuda_fail(c, e, "cudaSetDevice");
	if ((e = c->stream_create(&c->stream)) != cudaSuccess)
		return cuda_fail(c, e, "cudaStreamCreate");
	c->have_stream = true;
	if ((e = c->malloc_((void **)&c->dbuf, sizeof(float) * c->max_floats)) != cudaSuccess)
		return cuda_fail(c, e, "cudaMalloc");
	return 0;
}

static void free_local(struct pp_nccl *c)
{
	if (c->dbuf)
		c->free_(c->dbuf);
	if (c->have_stream)
		c->stream_destroy(c->stream);
	if (c->nccl)
		dlclose(c->nccl);
	if (c->cudart)
		dlclose(c->cudart);
	free(c);
}

int pp_nccl_open(int rank, int size, int device, size_t max_floats, struct pp_nccl **out)
{
	struct pp_nccl *c = calloc(1, sizeof(*c));
	struct {
		ncclUniqueId id;
		int ok;
	} b;
	int ret, mine, all = 0;

	if (!c)
		return -ENOMEM;
	c->max_floats = max_floats;
	ret = open_local(c, device);
	/* every rank learns whether every rank can go on: none waits alone */
	mine = ret == 0;
	MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (!all) {
		if (ret == 0)
			ret = rt_set_error(-EIO, "NCCL: another rank could not open it");
		free_local(c);
		return ret;
	}
	memset(&b, 0, sizeof(b));
	if (rank == 0) {
		ncclResult_t r = c->get_unique_id(&b.id);

		b.ok = r == ncclSuccess;
		if (!b.ok)
			ret = rt_set_error(-EIO, "NCCL: ncclGetUniqueId: %s", c->nccl_err(r));
	}
	MPI_Bcast(&b, sizeof(b), MPI_BYTE, 0, MPI_COMM_WORLD);
	if (!b.ok) {
		if (rank != 0)
			ret = rt_set_error(-EIO, "NCCL: rank 0 could not make the communicator's id");
		free_local(c);
		return ret;
	}
	{
		ncclResult_t r = c->comm_init_rank(&c->comm, size, b.id, rank);

		if (r != ncclSuccess) {
			ret = rt_set_error(-EIO, "NCCL: ncclCommInitRank: %s", c->nccl_err(r));
			free_local(c);
			return ret;
		}
	}
	*out = c;
	return 0;
}

void pp_nccl_close(struct pp_nccl *c)
{
	if (!c)
		return;
	c->comm_destroy(c->comm);
	free_local(c);
}

int pp_nccl_send(struct pp_nccl *c, const float *x, size_t n, int peer)
{
	cudaError_t e;
	ncclResult_t r;

	if (n > c->max_floats)
		return rt_set_error(-EINVAL, "NCCL: %zu floats, the buffer holds %zu", n, c->max_floats);
	e = c->memcpy_async(c->dbuf, x, sizeof(float) * n, cudaMemcpyHostToDevice, c->stream);
	if (e != cudaSuccess)
		return cuda_fail(c, e, "cudaMemcpyAsync");
	if ((r = c->send(c->dbuf, n, ncclFloat32, peer, c->comm, c->stream)) != ncclSuccess)
		return rt_set_error(-EIO, "NCCL: ncclSend to rank %d: %s", peer, c->nccl_err(r));
	e = c->stream_sync(c->stream);
	return e == cudaSuccess ? 0 : cuda_fail(c, e, "ncclSend");
}

int pp_nccl_recv(struct pp_nccl *c, float *x, size_t n, int peer)
{
	cudaError_t e;
	ncclResult_t r;

	if (n > c->max_floats)
		return rt_set_error(-EINVAL, "NCCL: %zu floats, the buffer holds %zu", n, c->max_floats);
	if ((r = c->recv(c->dbuf, n, ncclFloat32, peer, c->comm, c->stream)) != ncclSuccess)
		return rt_set_error(-EIO, "NCCL: ncclRecv from rank %d: %s", peer, c->nccl_err(r));
	e = c->memcpy_async(x, c->dbuf, sizeof(float) * n, cudaMemcpyDeviceToHost, c->stream);
	if (e != cudaSuccess)
		return cuda_fail(c, e, "cudaMemcpyAsync");
	e = c->stream_sync(c->stream);
	return e == cudaSuccess ? 0 : cuda_fail(c, e, "ncclRecv");
}

#endif /* ACCEL_HAVE_NCCL && ACCEL_HAVE_MPI */
