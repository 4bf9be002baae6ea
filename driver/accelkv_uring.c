// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: io_uring passthrough. LOAD/STORE move a file range to/from pool
 * pages with a kiocb over a bvec iterator (async direct I/O, as loop.c does);
 * SIGNAL adds a signalled point to a syncobj timeline. Payloads are copied
 * with READ_ONCE before validation; a request owns its file and pool refs.
 */
#include <linux/bvec.h>
#include <linux/cred.h>
#include <linux/dma-fence-chain.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <uapi/linux/fcntl.h>
#include <drm/drm_file.h>
#include <drm/drm_syncobj.h>

#include "accelkv.h"
#include "accelkv_check.h"
#include "accelkv_compat.h"
#include "accelkv_drv.h"
#include "accelkv_pool.h"
#include "accelkv_uring.h"

/*
 * Fault injection, as null_blk has: make every Nth LOAD/STORE that was
 * queued with IOCB_NOWAIT complete with -EAGAIN, so the resubmission path
 * runs in tests. 0 (the default) injects nothing; writable at run time.
 */
static unsigned int inject_eagain;
module_param(inject_eagain, uint, 0644);
MODULE_PARM_DESC(inject_eagain,
		 "Fail every Nth inline-queued LOAD/STORE with -EAGAIN once (testing; default 0: never)");

static atomic_t accelkv_inject_count = ATOMIC_INIT(0);

static bool accelkv_inject_eagain(void)
{
	unsigned int n = READ_ONCE(inject_eagain);

	return n && (unsigned int)atomic_inc_return(&accelkv_inject_count) % n == 0;
}

/* Blocking resubmissions: never from io_uring's task work (see task_done). */
static struct workqueue_struct *accelkv_xfer_wq;

/**
 * struct accelkv_xfer_req - one LOAD or STORE in flight
 * @iocb: the kiocb handed to read_iter/write_iter
 * @work: the blocking resubmission, on accelkv_xfer_wq
 * @ioucmd: the io_uring command to complete
 * @adev: the device (statistics)
 * @cred: the submitter's credentials, for a resubmission from a kworker
 * @file: the file read or written (reference held)
 * @pool: the pool (GEM reference held: the pages outlive the request)
 * @length: bytes asked
 * @file_offset: where in @file
 * @ret: result of the I/O, set by the completion
 * @load: LOAD (file -> pool) rather than STORE
 * @nowait: submitted inline with IOCB_NOWAIT; an -EAGAIN is retried
 * @direct: IOCB_DIRECT asked
 * @queued: @ret came from the kiocb completion (no fsnotify event yet)
 * @write_started: freeze protection held on the file's superblock, from
 *	the first submission of a STORE to a regular file until it is freed
 * @nr: entries in @bvec
 * @bvec: one entry per pool page touched
 */
struct accelkv_xfer_req {
	struct kiocb iocb;
	struct work_struct work;
	struct io_uring_cmd *ioucmd;
	struct accelkv_device *adev;
	const struct cred *cred;
	struct file *file;
	struct accelkv_pool *pool;
	u64 length;
	u64 file_offset;
	long ret;
	bool load;
	bool nowait;
	bool direct;
	bool queued;
	bool write_started;
	unsigned long nr;
	struct bio_vec bvec[];
};

struct accelkv_uring_pdu {
	struct accelkv_xfer_req *req;
};

static struct accelkv_uring_pdu *accelkv_pdu(struct io_uring_cmd *ioucmd)
{
	BUILD_BUG_ON(sizeof(struct accelkv_uring_pdu) > sizeof(ioucmd->pdu));
	return (struct accelkv_uring_pdu *)ioucmd->pdu;
}

/*
 * Freeze protection for a STORE to a regular file, as io_uring and aio take
 * it: held from submission to completion, which may run in another task,
 * so lockdep is told it was released here and acquired there.
 */
static bool accelkv_xfer_start_write(struct accelkv_xfer_req *req, bool nowait)
{
	struct inode *inode = file_inode(req->file);

	if (req->load || !S_ISREG(inode->i_mode))
		return true;
	if (nowait) {
		if (!sb_start_write_trylock(inode->i_sb))
			return false;
	} else {
		sb_start_write(inode->i_sb);
	}
	__sb_writers_release(inode->i_sb, SB_FREEZE_WRITE);
	req->write_started = true;
	return true;
}

static void accelkv_xfer_end_write(struct accelkv_xfer_req *req)
{
	struct super_block *sb = file_inode(req->file)->i_sb;

	if (!req->write_started)
		return;
	__sb_writers_acquired(sb, SB_FREEZE_WRITE);
	sb_end_write(sb);
	req->write_started = false;
}

static void accelkv_xfer_req_free(struct accelkv_xfer_req *req)
{
	accelkv_xfer_end_write(req);
	put_cred(req->cred);
	fput(req->file);
	drm_gem_object_put(&req->pool->base);
	kvfree(req);
}

static void accelkv_xfer_complete(struct kiocb *iocb, long ret);

/* The CQE result of @req: no internal errno, no short count; bytes counted. */
static long accelkv_xfer_result(struct accelkv_xfer_req *req, long ret)
{
	ret = accelkv_check_xfer_result(ret, req->length);
	if (ret > 0)
		atomic64_add(ret, req->load ? &req->adev->load_bytes :
					      &req->adev->store_bytes);
	return ret;
}

/*
 * An IOCB_NOWAIT attempt that would have blocked, whole or in part: LOAD
 * and STORE are idempotent (STORE refuses O_APPEND files, where a replay
 * would append twice), so it is simply done again without NOWAIT.
 */
static bool accelkv_xfer_retry(const struct accelkv_xfer_req *req, long ret)
{
	return req->nowait &&
	       (ret == -EAGAIN || (ret >= 0 && (u64)ret < req->length));
}

/*
 * Start the I/O: -EIOCBQUEUED once queued (the completion then owns @req
 * and may already have run), else the synchronous result. LOAD goes through
 * vfs_iocb_iter_read(); STORE does what vfs_iocb_iter_write() does, but
 * keeps the freeze protection of @req (vfs_iocb_iter_write() takes its own
 * from 6.6 on, and would hold it past -EIOCBQUEUED only for its caller to
 * drop). Both run the LSM and fanotify permission checks (rw_verify_area)
 * and send fsnotify events for what completes here.
 */
static long accelkv_xfer_submit(struct accelkv_xfer_req *req)
{
	struct file *file = req->file;
	struct iov_iter iter;
	long ret;

	iov_iter_bvec(&iter, req->load ? ITER_DEST : ITER_SOURCE, req->bvec,
		      req->nr, req->length);
	init_sync_kiocb(&req->iocb, file);
	req->iocb.ki_pos = req->file_offset;
	req->iocb.ki_complete = accelkv_xfer_complete;
	if (req->direct)
		req->iocb.ki_flags |= IOCB_DIRECT;
	if (req->nowait)
		req->iocb.ki_flags |= IOCB_NOWAIT;
	if (req->load)
		return vfs_iocb_iter_read(file, &req->iocb, &iter);
	/* O_APPEND may have been set with fcntl() since accelkv_file_check() */
	if (!(file->f_mode & FMODE_CAN_WRITE) ||
	    (req->iocb.ki_flags & IOCB_APPEND))
		return -EINVAL;
	ret = rw_verify_area(WRITE, file, &req->iocb.ki_pos, req->length);
	if (ret < 0)
		return ret;
	req->iocb.ki_flags |= IOCB_WRITE;
	ret = file->f_op->write_iter(&req->iocb, &iter);
	if (ret > 0)
		fsnotify_modify(file);
	return ret;
}

static void accelkv_xfer_task_done(struct io_uring_cmd *ioucmd,
				   unsigned int issue_flags);

/* The blocking resubmission, in a kworker of accelkv_xfer_wq. */
static void accelkv_xfer_resubmit_work(struct work_struct *work)
{
	struct accelkv_xfer_req *req =
		container_of(work, struct accelkv_xfer_req, work);
	const struct cred *old;
	long ret;

	/* the permission hooks judge the submitter, as in an io-wq worker */
	old = override_creds(req->cred);
	ret = accelkv_xfer_submit(req);
	revert_creds(old);
	if (ret == -EIOCBQUEUED)
		return;
	/* the submission sent the fsnotify event, if any */
	req->ret = ret;
	req->queued = false;
	io_uring_cmd_complete_in_task(req->ioucmd, accelkv_xfer_task_done);
}

static void accelkv_xfer_task_done(struct io_uring_cmd *ioucmd,
				   unsigned int issue_flags)
{
	struct accelkv_xfer_req *req = accelkv_pdu(ioucmd)->req;
	long ret = req->ret;

	/*
	 * An inline IOCB_NOWAIT submission can still fail later with -EAGAIN
	 * (a multi-bio direct I/O, a busy queue): submit it again, blocking.
	 * Not here: this may be io_uring's fallback worker holding the ring
	 * lock, or the task may be exiting. A live task's request goes to a
	 * kworker; a dead task's is cancelled.
	 */
	if (accelkv_xfer_retry(req, ret)) {
		if (accelkv_uring_task_dead(issue_flags)) {
			ret = -ECANCELED;
		} else {
			req->nowait = false;
			atomic64_inc(&req->adev->xfer_resubmits);
			INIT_WORK(&req->work, accelkv_xfer_resubmit_work);
			queue_work(accelkv_xfer_wq, &req->work);
			return;
		}
	} else if (req->queued && ret > 0) {
		if (req->load)
			fsnotify_access(req->file);
		else
			fsnotify_modify(req->file);
	}
	ret = accelkv_xfer_result(req, ret);
	accelkv_xfer_req_free(req);
	io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
}

/* May run in interrupt context: defer the rest to the submitter's task. */
static void accelkv_xfer_complete(struct kiocb *iocb, long ret)
{
	struct accelkv_xfer_req *req =
		container_of(iocb, struct accelkv_xfer_req, iocb);

	if (req->nowait && accelkv_inject_eagain())
		ret = -EAGAIN;
	req->ret = ret;
	req->queued = true;
	io_uring_cmd_complete_in_task(req->ioucmd, accelkv_xfer_task_done);
}

static void accelkv_xfer_snapshot(struct accelkv_uring_xfer *x,
				  const struct accelkv_uring_xfer *sqe)
{
	x->fd = READ_ONCE(sqe->fd);
	x->handle = READ_ONCE(sqe->handle);
	x->file_offset = READ_ONCE(sqe->file_offset);
	x->pool_offset = READ_ONCE(sqe->pool_offset);
	x->length = READ_ONCE(sqe->length);
	x->flags = READ_ONCE(sqe->flags);
	x->pad = READ_ONCE(sqe->pad);
	x->reserved[0] = READ_ONCE(sqe->reserved[0]);
	x->reserved[1] = READ_ONCE(sqe->reserved[1]);
}

/*
 * The file must be open for the direction (-EBADF), positional I/O must make
 * sense on it (-ESPIPE for pipes, sockets and other streams, as pread and
 * pwrite answer), and a STORE must not append: O_APPEND ignores the offset,
 * and a retried short STORE would append its start again (-EINVAL).
 */
static int accelkv_file_check(struct file *file, bool load)
{
	if (load) {
		if (!(file->f_mode & FMODE_READ) || !file->f_op->read_iter)
			return -EBADF;
		if (!(file->f_mode & FMODE_PREAD))
			return -ESPIPE;
		return 0;
	}
	if (!(file->f_mode & FMODE_WRITE) || !file->f_op->write_iter)
		return -EBADF;
	if (!(file->f_mode & FMODE_PWRITE))
		return -ESPIPE;
	if (file->f_flags & O_APPEND)
		return -EINVAL;
	return 0;
}

static long accelkv_uring_xfer(struct io_uring_cmd *ioucmd,
			       unsigned int issue_flags, bool load)
{
	struct drm_file *dfile = ioucmd->file->private_data;
	struct accelkv_uring_xfer x;
	struct accelkv_xfer_req *req;
	struct accelkv_pool *pool;
	unsigned long first, nr, i;
	struct file *file;
	u64 off, left;
	long ret;

	accelkv_xfer_snapshot(&x, accelkv_uring_payload(ioucmd));
	ret = accelkv_check_xfer(&x);
	if (ret)
		return ret;
	pool = accelkv_pool_lookup(dfile, x.handle);
	if (!pool)
		return -ENOENT;
	ret = accelkv_check_range(x.pool_offset, x.length, pool->base.size);
	if (ret)
		goto err_put_pool;
	file = fget(x.fd);
	if (!file) {
		ret = -EBADF;
		goto err_put_pool;
	}
	ret = accelkv_file_check(file, load);
	if (ret)
		goto err_fput;
	if ((x.flags & ACCELKV_XFER_DIRECT) &&
	    !(file->f_mode & FMODE_CAN_ODIRECT)) {
		ret = -EINVAL;
		goto err_fput;
	}
	/*
	 * Issued inline we must not block: only direct I/O on a file that
	 * honours IOCB_NOWAIT is tried here; anything else goes back to
	 * io_uring (-EAGAIN), which reissues it from a worker.
	 */
	if ((issue_flags & IO_URING_F_NONBLOCK) &&
	    (!((x.flags & ACCELKV_XFER_DIRECT) || (file->f_flags & O_DIRECT)) ||
	     !(file->f_mode & FMODE_NOWAIT))) {
		ret = -EAGAIN;
		goto err_fput;
	}

	/* in range (accelkv_check_range); clamped under speculation too */
	first = array_index_nospec(x.pool_offset >> PAGE_SHIFT, pool->npages);
	nr = ((x.pool_offset + x.length - 1) >> PAGE_SHIFT) - first + 1;
	req = kvzalloc(struct_size(req, bvec, nr), GFP_KERNEL_ACCOUNT);
	if (!req) {
		ret = -ENOMEM;
		goto err_fput;
	}
	off = offset_in_page(x.pool_offset);
	left = x.length;
	for (i = 0; i < nr; i++) {
		u32 len = min_t(u64, left, PAGE_SIZE - off);

		bvec_set_page(&req->bvec[i], pool->pages[first + i], len, off);
		left -= len;
		off = 0;
	}
	req->ioucmd = ioucmd;
	req->adev = to_accelkv_dev(dfile->minor->dev);
	req->cred = get_current_cred();
	req->file = file;
	req->pool = pool;
	req->length = x.length;
	req->file_offset = x.file_offset;
	req->load = load;
	req->nr = nr;
	req->direct = x.flags & ACCELKV_XFER_DIRECT;
	req->nowait = issue_flags & IO_URING_F_NONBLOCK;
	accelkv_pdu(ioucmd)->req = req;

	if (!accelkv_xfer_start_write(req, req->nowait)) {
		ret = -EAGAIN;	/* frozen: io_uring reissues it, blocking */
		goto err_free_req;
	}
	ret = accelkv_xfer_submit(req);
	/* Queued: the completion owns @req now, and may have run already. */
	if (ret == -EIOCBQUEUED)
		return ret;
	/* would have blocked inline: io_uring reissues it from a worker */
	if (accelkv_xfer_retry(req, ret))
		ret = -EAGAIN;
	else
		ret = accelkv_xfer_result(req, ret);
	accelkv_xfer_req_free(req);
	return ret;

err_free_req:
	accelkv_xfer_req_free(req);
	return ret;

err_fput:
	fput(file);
err_put_pool:
	drm_gem_object_put(&pool->base);
	return ret;
}

static int accelkv_uring_signal(struct io_uring_cmd *ioucmd)
{
	const struct accelkv_uring_signal *sqe = accelkv_uring_payload(ioucmd);
	struct drm_file *dfile = ioucmd->file->private_data;
	struct accelkv_uring_signal s;
	struct dma_fence_chain *chain;
	struct drm_syncobj *syncobj;
	struct dma_fence *fence;
	int ret;

	s.syncobj = READ_ONCE(sqe->syncobj);
	s.flags = READ_ONCE(sqe->flags);
	s.point = READ_ONCE(sqe->point);
	s.reserved = READ_ONCE(sqe->reserved);
	ret = accelkv_check_signal(&s);
	if (ret)
		return ret;
	syncobj = drm_syncobj_find(dfile, s.syncobj);
	if (!syncobj)
		return -ENOENT;
	chain = dma_fence_chain_alloc();
	if (!chain) {
		drm_syncobj_put(syncobj);
		return -ENOMEM;
	}
	fence = dma_fence_get_stub();
	drm_syncobj_add_point(syncobj, chain, fence, s.point);
	dma_fence_put(fence);
	drm_syncobj_put(syncobj);
	return 0;
}

int accelkv_uring_init(void)
{
	accelkv_xfer_wq = alloc_workqueue("accelkv_xfer", WQ_UNBOUND, 0);
	return accelkv_xfer_wq ? 0 : -ENOMEM;
}

/* After the device is gone: no request is left to queue work. */
void accelkv_uring_fini(void)
{
	destroy_workqueue(accelkv_xfer_wq);
}

int accelkv_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	long ret;

	/* both payloads fit the 80-byte command area of a 128-byte SQE */
	BUILD_BUG_ON(sizeof(struct accelkv_uring_xfer) > 80);
	BUILD_BUG_ON(sizeof(struct accelkv_uring_signal) > 80);
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	switch (ioucmd->cmd_op) {
	case ACCELKV_URING_CMD_LOAD:
	case ACCELKV_URING_CMD_STORE:
		ret = accelkv_uring_xfer(ioucmd, issue_flags,
					 ioucmd->cmd_op == ACCELKV_URING_CMD_LOAD);
		/*
		 * A byte count is delivered through io_uring_cmd_done(): a
		 * positive return is not a completion on every kernel (6.1's
		 * io-wq path drops it), so only errors are returned directly.
		 */
		if (ret < 0)
			return ret;	/* -EIOCBQUEUED, -EAGAIN or an error */
		io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
		return -EIOCBQUEUED;
	case ACCELKV_URING_CMD_SIGNAL:
		return accelkv_uring_signal(ioucmd);
	default:
		return -EINVAL;
	}
}
