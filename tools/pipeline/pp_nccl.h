/* SPDX-License-Identifier: MIT */
/*
 * NCCL between the pipeline's GPU ranks (pp_nccl.c): hidden states go rank
 * to rank with ncclSend/ncclRecv on a CUDA stream while the message that
 * describes them (ids, positions) still goes over MPI. Compiled in where
 * nccl.h is found (ACCEL_HAVE_NCCL, headers only); libnccl.so.2 and
 * libcudart.so are dlopen'ed when a GPU run opens it, so a CPU-only machine
 * never needs either. Selected only when the CUDA backend runs the stages
 * (pp_load's @gpu); CPU runs never open it.
 *
 * UNTESTED: no machine this was written on has two GPUs (NCCL refuses two
 * ranks on one GPU), and the runtime does not yet run pipeline stages on a
 * GPU, so no caller selects it today. It compiles in `make` where nccl.h is.
 */
#ifndef ACCEL_PP_NCCL_H
#define ACCEL_PP_NCCL_H

#include <stdbool.h>
#include <stddef.h>

struct pp_nccl;

/** pp_nccl_built - true where nccl.h was found at build time */
bool pp_nccl_built(void);
/**
 * pp_nccl_open - load NCCL and the CUDA runtime, pick GPU @device, and
 * build the communicator of the MPI job (rank 0's unique id broadcast over
 * MPI_COMM_WORLD: every rank must call it). @max_floats: the largest
 * hidden state (n_batch x dim). -ENOTSUP where it was not built, -ENOENT
 * where the libraries are missing, -EIO when NCCL or CUDA fails (error set).
 */
int pp_nccl_open(int rank, int size, int device, size_t max_floats, struct pp_nccl **out);
void pp_nccl_close(struct pp_nccl *c);
/** pp_nccl_send - @n floats at host address @x to rank @peer (staged through
 *  the device buffer; returns when the transfer is done) */
int pp_nccl_send(struct pp_nccl *c, const float *x, size_t n, int peer);
/** pp_nccl_recv - @n floats from rank @peer into host memory @x */
int pp_nccl_recv(struct pp_nccl *c, float *x, size_t n, int peer);

#endif /* ACCEL_PP_NCCL_H */
