// SPDX-License-Identifier: MIT
/*
 * COPY engine: READ_FILE / WRITE_FILE through io_uring (one ring per queue),
 * split into `chunk`-byte requests with up to `depth` in flight; short
 * transfers are continued, a read that meets EOF early fails with -EIO.
 * Consecutive READ_FILEs into disjoint bytes run as one group, their
 * requests in flight together (a batch's small reads wait once, not once
 * each, behind whatever the disk is already busy with), here or through
 * the driver's LOAD.
 * O_DIRECT works when the caller's fd has it and the ranges are aligned.
 * COPY is a memmove. If io_uring is unavailable, plain pread/pwrite. The
 * ops' submit-time checks are here too, reached through the op table.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_exec.h"
#include "futex.h"
#include "op_table.h"
#include "queue.h"

#define ACCEL_COPY_DEPTH	32
#define ACCEL_COPY_CHUNK	(1ULL << 20)

struct accel_copy_req {
	uint32_t xi;		/* the transfer of the group it belongs to */
	uint64_t pos;		/* byte of the transfer this request continues at */
	uint64_t len;		/* bytes left in this request */
};

struct accel_copy {
	struct io_uring ring;
	int has_ring;
	uint32_t depth;
	uint64_t chunk;
	struct accel_copy_req *reqs;	/* depth slots */
	uint32_t *free_slots;		/* stack of unused slots */
	uint64_t left[ACCEL_QUEUE_GROUP_MAX];	/* per transfer of a group: bytes not landed */
	int xerr[ACCEL_QUEUE_GROUP_MAX];	/* per transfer of a group: its error */
};

struct accel_xfer {
	int write;
	int fd;
	uint8_t *buf;
	uint64_t off;		/* file offset of buf[0] */
	uint64_t total;
};

static int accel_copy_init(struct accel_queue *q, const struct accel_queue_opts *o)
{
	struct accel_copy *c;
	int ret;

	if (o->depth > 4096 || (o->chunk && (o->chunk % 4096 || o->chunk > (1ULL << 30))))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->depth = o->depth ? o->depth : ACCEL_COPY_DEPTH;
	c->chunk = o->chunk ? o->chunk : ACCEL_COPY_CHUNK;
	c->reqs = calloc(c->depth, sizeof(*c->reqs));
	c->free_slots = calloc(c->depth, sizeof(*c->free_slots));
	if (!c->reqs || !c->free_slots) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = io_uring_queue_init(c->depth, &c->ring, 0);
	if (ret) {
		accel_warn("io_uring unavailable (%s): COPY queue uses pread/pwrite",
			   strerror(-ret));
	} else {
		c->has_ring = 1;
	}
	q->eng_priv = c;
	return 0;

err_free:
	free(c->free_slots);
	free(c->reqs);
	free(c);
	return ret;
}

static void accel_copy_fini(struct accel_queue *q)
{
	struct accel_copy *c = q->eng_priv;

	if (c->has_ring)
		io_uring_queue_exit(&c->ring);
	free(c->free_slots);
	free(c->reqs);
	free(c);
}

int accel_copy_check_read_file(const struct accel_cmd *cmd)
{
	if (!accel_tensor_bytes(&cmd->t[0]) || cmd->i[0] < 0 || cmd->i[0] > INT32_MAX ||
	    cmd->i[1] < 0)
		return -EINVAL;
	return 0;
}

int accel_copy_check_write_file(const struct accel_cmd *cmd)
{
	if (!accel_tensor_bytes(&cmd->t[1]) || cmd->i[0] < 0 || cmd->i[0] > INT32_MAX ||
	    cmd->i[1] < 0)
		return -EINVAL;
	return 0;
}

int accel_copy_check_copy(const struct accel_cmd *cmd)
{
	if (!accel_tensor_bytes(&cmd->t[0]) ||
	    accel_tensor_bytes(&cmd->t[0]) != accel_tensor_bytes(&cmd->t[1]))
		return -EINVAL;
	return 0;
}

/* the op table has the check of every op this engine runs (NOP: none) */
static int accel_copy_check(struct accel_queue *q, const struct accel_cmd *cmd)
{
	const struct accel_op_desc *d = accel_op_desc(cmd->op);

	(void)q;
	if (!d || !(d->engines & ACCEL_OP_ENGINE(ACCEL_ENGINE_COPY)))
		return -EINVAL;
	if (cmd->op == ACCEL_OP_UPLOAD || cmd->op == ACCEL_OP_DOWNLOAD)
		return -EOPNOTSUPP;	/* a GPU's COPY queue runs them (ACCEL_QUEUE_GPU) */
	return d->check ? d->check(cmd) : 0;
}

/* accel_copy_fault - 0 to go on, or the error an injected fault gives */
static int accel_copy_fault(struct accel_queue *q)
{
	int f = accel_queue_take_fault(q);

	return f == 1 ? -EIO : f;	/* a short read at EOF ends as -EIO */
}

static int accel_copy_sync(struct accel_queue *q, struct accel_copy *c, const struct accel_xfer *x)
{
	uint64_t pos = 0;

	while (pos < x->total) {
		uint64_t len = x->total - pos < c->chunk ? x->total - pos : c->chunk;
		int ret = accel_copy_fault(q);

		if (ret)
			return ret;
		while (len) {
			ssize_t r = x->write ? pwrite(x->fd, x->buf + pos, len, (off_t)(x->off + pos))
					     : pread(x->fd, x->buf + pos, len, (off_t)(x->off + pos));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -EIO;
			pos += (uint64_t)r;
			len -= (uint64_t)r;
		}
	}
	return 0;
}

static void accel_copy_prep(struct accel_copy *c, const struct accel_xfer *xs, uint32_t slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);	/* depth slots <= ring */
	struct accel_copy_req *r = &c->reqs[slot];
	const struct accel_xfer *x = &xs[r->xi];

	if (x->write)
		io_uring_prep_write(sqe, x->fd, x->buf + r->pos, (unsigned)r->len, x->off + r->pos);
	else
		io_uring_prep_read(sqe, x->fd, x->buf + r->pos, (unsigned)r->len, x->off + r->pos);
	io_uring_sqe_set_data64(sqe, slot);
}

/*
 * The @n transfers of a group (one for a lone command), their requests
 * issued in command order and up to depth in flight together. The group's
 * error is that of the first transfer that failed, in command order; after
 * an error nothing more is issued. With q->t_done, each transfer's end.
 */
static int accel_copy_uring(struct accel_queue *q, struct accel_copy *c,
			    const struct accel_xfer *xs, uint32_t n)
{
	uint64_t next = 0;
	uint32_t nfree = c->depth, inflight = 0, xi = 0;
	int err = 0, ret;

	for (uint32_t i = 0; i < c->depth; i++)
		c->free_slots[i] = i;
	for (uint32_t i = 0; i < n; i++) {
		c->left[i] = xs[i].total;
		c->xerr[i] = 0;
		if (!xs[i].total && q->t_done)
			q->t_done[i] = accel_now_ns();
	}
	while (xi < n && next >= xs[xi].total) {	/* empty transfers: nothing to issue */
		xi++;
		next = 0;
	}
	while (inflight || (!err && xi < n)) {
		struct io_uring_cqe *cqe;
		struct accel_copy_req *r;
		uint32_t slot;
		int res;

		while (!err && nfree && xi < n) {
			uint64_t len = xs[xi].total - next < c->chunk ? xs[xi].total - next : c->chunk;

			err = accel_copy_fault(q);
			if (err) {
				c->xerr[xi] = err;
				break;
			}
			slot = c->free_slots[--nfree];
			c->reqs[slot].xi = xi;
			c->reqs[slot].pos = next;
			c->reqs[slot].len = len;
			accel_copy_prep(c, xs, slot);
			inflight++;
			next += len;
			while (xi < n && next >= xs[xi].total) {
				xi++;
				next = 0;
			}
		}
		if (!inflight)
			break;
		ret = io_uring_submit_and_wait(&c->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			/* nothing we can reap reliably: give up on the ring's state */
			return ret;
		}
		ret = io_uring_wait_cqe(&c->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret)
			return ret;
		slot = (uint32_t)io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&c->ring, cqe);
		r = &c->reqs[slot];
		if (res == -EAGAIN || res == -EINTR) {
			if (!err) {
				accel_copy_prep(c, xs, slot);
				continue;
			}
		} else if (res < 0) {
			err = err ? err : res;
			c->xerr[r->xi] = c->xerr[r->xi] ? c->xerr[r->xi] : res;
		} else if (res == 0) {
			err = err ? err : -EIO;	/* EOF before the length */
			c->xerr[r->xi] = c->xerr[r->xi] ? c->xerr[r->xi] : -EIO;
		} else if ((uint64_t)res < r->len) {
			r->pos += (uint64_t)res;
			r->len -= (uint64_t)res;
			c->left[r->xi] -= (uint64_t)res;
			if (!err) {
				accel_copy_prep(c, xs, slot);	/* continue the short one */
				continue;
			}
		} else {
			c->left[r->xi] -= r->len;
			if (!c->left[r->xi] && q->t_done)
				q->t_done[r->xi] = accel_now_ns();
		}
		inflight--;
		c->free_slots[nfree++] = slot;
	}
	for (uint32_t i = 0; err && i < n; i++)
		if (c->xerr[i])
			return c->xerr[i];
	return err;
}

/* the transfer READ_FILE / WRITE_FILE @cmd describes */
static void accel_copy_xfer(const struct accel_cmd *cmd, struct accel_xfer *x)
{
	const struct accel_tensor *t = &cmd->t[cmd->op == ACCEL_OP_READ_FILE ? 0 : 1];

	x->write = cmd->op == ACCEL_OP_WRITE_FILE;
	x->fd = (int)cmd->i[0];
	x->off = (uint64_t)cmd->i[1];
	x->buf = accel_tensor_data(t);
	x->total = accel_tensor_bytes(t);
}

/*
 * How many commands from @cmds[0] run as one group: consecutive READ_FILEs
 * whose destinations are pairwise disjoint, so that no order among them
 * can be seen (reads leave the files as they are). An injected fault
 * counts requests in command order, as one at a time does.
 */
static uint32_t accel_copy_group(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_copy *c = q->eng_priv;
	uint32_t k = 0;

	if (!c->has_ring)
		return 1;
	while (k < n && k < ACCEL_QUEUE_GROUP_MAX && cmds[k].op == ACCEL_OP_READ_FILE) {
		const uint8_t *b = accel_tensor_data(&cmds[k].t[0]);
		uint64_t len = accel_tensor_bytes(&cmds[k].t[0]);
		uint32_t j;

		for (j = 0; j < k; j++) {
			const uint8_t *o = accel_tensor_data(&cmds[j].t[0]);

			if (b < o + accel_tensor_bytes(&cmds[j].t[0]) && o < b + len)
				break;
		}
		if (j < k)
			break;
		k++;
	}
	return k ? k : 1;
}

/* the device moves the @n transfers itself (the driver's LOAD/STORE), or
 * -EOPNOTSUPP: it cannot, or a fault is injected (faults are ours to take) */
static int accel_copy_backend(struct accel_queue *q, const struct accel_xfer *xs, uint32_t n)
{
	struct accel_file_seg seg[ACCEL_FILE_SEG_MAX];

	if (!q->dev->ops->file_xfer || atomic_load(&q->fault_nth) || n > ACCEL_FILE_SEG_MAX)
		return -EOPNOTSUPP;
	for (uint32_t i = 0; i < n; i++)
		seg[i] = (struct accel_file_seg){ xs[i].fd, xs[i].buf, xs[i].off, xs[i].total };
	return q->dev->ops->file_xfer(q->dev, xs[0].write, seg, n, n > 1 ? q->t_done : NULL);
}

static int accel_copy_exec(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_copy *c = q->eng_priv;
	struct accel_xfer xs[ACCEL_QUEUE_GROUP_MAX];

	for (uint32_t i = 0, k; i < n; i += k) {
		const struct accel_cmd *cmd = &cmds[i];
		int ret = 0;

		k = accel_copy_group(q, cmd, n - i);
		if (k > 1) {
			for (uint32_t j = 0; j < k; j++)
				accel_copy_xfer(&cmd[j], &xs[j]);
			ret = accel_copy_backend(q, xs, k);
			if (ret == -EOPNOTSUPP)
				ret = accel_copy_uring(q, c, xs, k);
			if (ret)
				return ret;
			continue;
		}
		switch (cmd->op) {
		case ACCEL_OP_NOP:
			continue;
		case ACCEL_OP_COPY:
			memmove(accel_tensor_data(&cmd->t[0]), accel_tensor_data(&cmd->t[1]),
				accel_tensor_bytes(&cmd->t[0]));
			continue;
		case ACCEL_OP_READ_FILE:
		case ACCEL_OP_WRITE_FILE:
			accel_copy_xfer(cmd, &xs[0]);
			ret = accel_copy_backend(q, xs, 1);
			if (ret == -EOPNOTSUPP)
				ret = c->has_ring ? accel_copy_uring(q, c, xs, 1) :
						    accel_copy_sync(q, c, &xs[0]);
			break;
		default:
			ret = -EINVAL;
		}
		if (ret)
			return ret;
	}
	return 0;
}

const struct accel_engine_ops accel_engine_copy = {
	.name = "copy",
	.engine = ACCEL_ENGINE_COPY,
	.init = accel_copy_init,
	.fini = accel_copy_fini,
	.check = accel_copy_check,
	.exec = accel_copy_exec,
	.group = accel_copy_group,
};
