// SPDX-License-Identifier: MIT
/*
 * accel-serve under mpirun: the layers split over the ranks (the pipeline
 * of tools/pipeline/pp.h). Rank 0 serves HTTP and runs the scheduler; each
 * step's forward pass goes through every rank's layers (the scheduler's
 * forward hook, micro-batched by sequence) and its logits come back. The
 * other ranks run their layers for each step until rank 0 ends. A rank that
 * dies or hangs ends the job: mpirun takes the others down, and rank 0's
 * wait for a step's logits times out (--pp-timeout) with one line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pp.h"
#include "rt_error.h"
#include "rt_model.h"
#include "serve.h"

#ifndef ACCEL_HAVE_MPI

int serve_pp_load(struct serve_opts *o, const struct rt_model_opts *mo, struct rt_model **m)
{
	fprintf(stderr, "accel-serve: started by mpirun (OMPI_COMM_WORLD_SIZE is set), but this "
		"build has no MPI: install libopenmpi-dev and rebuild\n");
	return -ENOTSUP;
}

void serve_pp_end(void)
{
}

#else

static struct pp pp;
static bool pp_on;

static int forward(void *arg, const struct rt_batch *b, const float **out)
{
	return pp_forward(arg, b, out);
}

int serve_pp_load(struct serve_opts *o, const struct rt_model_opts *mo, struct rt_model **m)
{
	int ret;

	*m = NULL;
	if ((ret = pp_init(&pp, "accel-serve", o->pp_timeout)) < 0) {
		fprintf(stderr, "accel-serve: %s\n", rt_last_error());
		return ret;
	}
	if (pp.size == 1) {	/* one rank: the ordinary server */
		MPI_Finalize();
		return 0;
	}
	if (pp.provided < MPI_THREAD_SERIALIZED) {
		/* the engine thread, not the main one, runs the steps */
		if (pp.rank == 0)
			fprintf(stderr, "accel-serve: under mpirun: this MPI gives no thread support "
				"(MPI_THREAD_SERIALIZED at least is needed)\n");
		MPI_Finalize();
		return -ENOTSUP;
	}
	if (o->kv_unified || o->kv_cache_dir || o->kv_blocks) {
		/* the KV of the later ranks' layers lives there: this rank's
		 * scheduler can neither share, store nor swap it */
		if (pp.rank == 0)
			fprintf(stderr, "accel-serve: under mpirun: no %s (each rank keeps the KV of "
				"its layers; no prefix cache, disk tier or swap)\n",
				o->kv_unified ? "--kv-unified" : o->kv_cache_dir ? "--kv-cache-dir"
									   : "--kv-blocks");
		MPI_Finalize();
		return -EINVAL;
	}
	pp.gpu = o->gpu;	/* each rank's layers on its GPU (mo carries --vram-budget) */
	if ((ret = pp_load(&pp, o->model, mo, o->mem_budget, o->verbose)) < 0)
		return ret;
	pp_on = true;
	if (pp.rank != 0) {
		sigset_t sigs;

		/* mpirun's SIGTERM ends a worker (only rank 0 drains) */
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGINT);
		sigaddset(&sigs, SIGTERM);
		pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
		pp.idle_ok = true;	/* a server waits for requests as long as it likes */
		pp_worker(&pp);
		pp_report(&pp, -1);
		pp_fini(&pp);
		return 1;
	}
	o->forward = forward;
	o->forward_arg = &pp;
	*m = pp.m;
	return 0;
}

void serve_pp_end(void)
{
	if (!pp_on)
		return;
	pp_end(&pp);
	pp_report(&pp, -1);
	pp_fini(&pp);	/* frees rank 0's model too */
	pp_on = false;
}

#endif /* ACCEL_HAVE_MPI */
