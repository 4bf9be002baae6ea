// SPDX-License-Identifier: MIT
/*
 * ACCEL_DUMP_DIR debug hook of the CPU executor: writes each COMPUTE
 * command's output tensor(s) as raw bytes, numbered in execution order.
 * Debug aid only: failures to write are ignored.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "cpu_dump.h"

static const char *cpu_dump_dir;
static pthread_once_t cpu_dump_once = PTHREAD_ONCE_INIT;
static atomic_uint cpu_dump_seq;

static void cpu_dump_init(void)
{
	const char *d = getenv("ACCEL_DUMP_DIR");

	cpu_dump_dir = d && *d ? d : NULL;
}

bool accel_cpu_dump_enabled(void)
{
	pthread_once(&cpu_dump_once, cpu_dump_init);
	return cpu_dump_dir != NULL;
}

static const char *cpu_dump_name(uint32_t op)
{
	static const char *const names[ACCEL_OP_COUNT] = {
		[ACCEL_OP_EMBED] = "embed", [ACCEL_OP_RMSNORM] = "rmsnorm",
		[ACCEL_OP_MATMUL] = "matmul", [ACCEL_OP_ROPE] = "rope",
		[ACCEL_OP_ATTN_PREFILL] = "attn_prefill", [ACCEL_OP_ATTN_DECODE] = "attn_decode",
		[ACCEL_OP_SWIGLU] = "swiglu", [ACCEL_OP_ADD] = "add",
		[ACCEL_OP_MOE_ROUTE] = "moe_route", [ACCEL_OP_MOE_FFN] = "moe_ffn",
		[ACCEL_OP_LOGITS] = "logits",
	};

	return op < ACCEL_OP_COUNT && names[op] ? names[op] : "op";
}

static void cpu_dump_tensor(unsigned seq, const char *name, const struct accel_tensor *t)
{
	char path[4096];
	uint64_t n = accel_tensor_bytes(t);
	const char *p = accel_tensor_data(t);
	int fd;

	if (!n || !p)
		return;
	snprintf(path, sizeof(path), "%s/%05u_%s_%lldx%lldx%lld.bin", cpu_dump_dir, seq, name,
		 (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			break;
		p += w;
		n -= (uint64_t)w;
	}
	close(fd);
}

void accel_cpu_dump(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	if (c->op == ACCEL_OP_NOP || c->op >= ACCEL_OP_COUNT || c->op < ACCEL_OP_EMBED)
		return;
	if (ctx->nth > 1)
		ctx->barrier(ctx);
	if (ctx->ith == 0)
		cpu_dump_tensor(atomic_fetch_add(&cpu_dump_seq, 1), cpu_dump_name(c->op), &c->t[0]);
	if (ctx->nth > 1)
		ctx->barrier(ctx);
}
