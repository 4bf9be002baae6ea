// SPDX-License-Identifier: MIT
/*
 * ACCEL_DUMP_DIR debug hook of the CPU executor: writes each COMPUTE
 * command's output tensor as raw bytes, numbered in execution order and named
 * after the command's intermediate (accel_cmd.name) or its op.
 * Debug aid only: failures to write are ignored.
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "cpu_dump.h"
#include "op_table.h"

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

/*
 * the file's tag: the command's intermediate name as llama.cpp forms it
 * ("attn_norm-3", "result_norm" for il < 0), else the op name; characters a
 * file name should not hold become '_'
 */
static void cpu_dump_tag(char *buf, size_t sz, const struct accel_cmd *c, const char *op_name)
{
	char il[16] = "";
	size_t i;

	if (!c->name || !*c->name) {
		snprintf(buf, sz, "%s", op_name);
		return;
	}
	if (c->il >= 0)
		snprintf(il, sizeof(il), "-%d", (int)c->il);
	for (i = 0; c->name[i] && i < sz - sizeof(il); i++) {
		const char ch = c->name[i];

		buf[i] = isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.' ? ch : '_';
	}
	snprintf(buf + i, sz - i, "%s", il);
}

static void cpu_dump_tensor(unsigned seq, const char *tag, const struct accel_tensor *t)
{
	char path[4096];
	uint64_t n = accel_tensor_bytes(t);
	const char *p = accel_tensor_data(t);
	int fd;

	if (!n || !p)
		return;
	snprintf(path, sizeof(path), "%s/%05u_%s_%lldx%lldx%lld.bin", cpu_dump_dir, seq, tag,
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
	const struct accel_op_desc *d = accel_op_desc(c->op);

	/* COMPUTE ops with an output: not NOP, not a COPY op */
	if (!d || c->op == ACCEL_OP_NOP || !(d->engines & ACCEL_OP_ENGINE(ACCEL_ENGINE_COMPUTE)))
		return;
	if (ctx->nth > 1)
		ctx->barrier(ctx);
	if (ctx->ith == 0) {
		char tag[128];

		cpu_dump_tag(tag, sizeof(tag), c, d->name);
		cpu_dump_tensor(atomic_fetch_add(&cpu_dump_seq, 1), tag, &c->t[0]);
	}
	if (ctx->nth > 1)
		ctx->barrier(ctx);
}
