/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * accelkv: the kernel ABI of the accelkv DRM accel/render driver.
 *
 * This header is the only thing the driver (driver/) shares with userspace.
 * libaccel's emulated device implements the same semantics in-process.
 *
 * Rules (Documentation/process/botching-up-ioctls.rst): only __u32/__u64/__s32/
 * __s64 fields, every struct a multiple of 8 bytes, pointers as __u64 "*_ptr"
 * with a count beside them, every flags field has a *_MASK the kernel checks,
 * pad and reserved fields must be zero (checked, -EINVAL otherwise).
 *
 * Errno table (every ioctl and uring_cmd):
 *   -EINVAL     a field out of range, unknown flag, non-zero pad/reserved,
 *               size or offset overflow, zero count or size
 *   -ENOENT     unknown pool handle, block id not owned by this file, or
 *               syncobj handle not found
 *   -ENOMEM     out of memory, out of free KV blocks, or the pinned-bytes cap
 *               (module parameter) reached
 *   -EPERM      RLIMIT_MEMLOCK would be exceeded (no CAP_IPC_LOCK)
 *   -EFAULT     a *_ptr could not be read or written
 *   -EOPNOTSUPP the pool was not created with the flag the call needs
 *               (e.g. KV calls on a pool without ACCELKV_POOL_KV)
 *   -EBADF      a file descriptor in a uring_cmd payload is not open
 *   -EOVERFLOW  KV_REF/KV_LOOKUP would take a block past its reference limit
 *               (2^31 - 1, lower with the kv_max_refs module parameter)
 *   -EIO        a LOAD/STORE read or wrote fewer bytes than asked
 *   -ESPIPE     a LOAD/STORE file without positional I/O (pipe, socket)
 *   -EINTR      a LOAD/STORE interrupted; -ECANCELED: its task exited
 *               before a retry (STORE to an O_APPEND file: -EINVAL)
 */
#ifndef _UAPI_ACCELKV_H_
#define _UAPI_ACCELKV_H_

#if defined(__KERNEL__)
#include <linux/types.h>
#include <drm/drm.h>
#elif defined(ACCELKV_NO_DRM_H)
#include <linux/types.h>
#include <linux/ioctl.h>
#define DRM_IOCTL_BASE		'd'
#define DRM_COMMAND_BASE	0x40
#define DRM_IOWR(nr, type)	_IOWR(DRM_IOCTL_BASE, nr, type)
#else
#include <drm.h>
#endif

#if defined(__cplusplus)
extern "C" {
#endif

/** ACCELKV_DRIVER_NAME - DRM_IOCTL_VERSION name of the driver */
#define ACCELKV_DRIVER_NAME "accelkv"

#define DRM_ACCELKV_GET_PARAM		0x00
#define DRM_ACCELKV_POOL_CREATE		0x01
#define DRM_ACCELKV_POOL_INFO		0x02
#define DRM_ACCELKV_POOL_DESTROY	0x03
#define DRM_ACCELKV_KV_ALLOC		0x04
#define DRM_ACCELKV_KV_FREE		0x05
#define DRM_ACCELKV_KV_REF		0x06
#define DRM_ACCELKV_KV_PUBLISH		0x07
#define DRM_ACCELKV_KV_LOOKUP		0x08
#define DRM_ACCELKV_KV_PEEK_EVICT	0x09

#define DRM_IOCTL_ACCELKV_GET_PARAM \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_GET_PARAM, struct drm_accelkv_get_param)
#define DRM_IOCTL_ACCELKV_POOL_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_POOL_CREATE, struct drm_accelkv_pool_create)
#define DRM_IOCTL_ACCELKV_POOL_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_POOL_INFO, struct drm_accelkv_pool_info)
#define DRM_IOCTL_ACCELKV_POOL_DESTROY \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_POOL_DESTROY, struct drm_accelkv_pool_destroy)
#define DRM_IOCTL_ACCELKV_KV_ALLOC \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_ALLOC, struct drm_accelkv_kv_blocks)
#define DRM_IOCTL_ACCELKV_KV_FREE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_FREE, struct drm_accelkv_kv_blocks)
#define DRM_IOCTL_ACCELKV_KV_REF \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_REF, struct drm_accelkv_kv_blocks)
#define DRM_IOCTL_ACCELKV_KV_PUBLISH \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_PUBLISH, struct drm_accelkv_kv_publish)
#define DRM_IOCTL_ACCELKV_KV_LOOKUP \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_LOOKUP, struct drm_accelkv_kv_lookup)
#define DRM_IOCTL_ACCELKV_KV_PEEK_EVICT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_ACCELKV_KV_PEEK_EVICT, struct drm_accelkv_kv_peek_evict)

/* ------------------------------------------------------------------ params */

/**
 * enum drm_accelkv_param - what DRM_IOCTL_ACCELKV_GET_PARAM can query
 * @ACCELKV_PARAM_CAPABILITIES: bitmask of ACCELKV_CAP_*
 * @ACCELKV_PARAM_API_VERSION: ACCELKV_API_VERSION of the implementation
 * @ACCELKV_PARAM_MAX_POOL_SIZE: largest pool size in bytes
 * @ACCELKV_PARAM_PINNED_BYTES: bytes pinned now by all pools of the device
 * @ACCELKV_PARAM_PINNED_LIMIT: cap on pinned bytes (module parameter), bytes
 * @ACCELKV_PARAM_MIN_BLOCK_SIZE: smallest KV block size in bytes
 * @ACCELKV_PARAM_MAX_KV_BLOCKS: most KV blocks in one pool
 * @ACCELKV_PARAM_COUNT: number of parameters (not a parameter: -EINVAL)
 */
enum drm_accelkv_param {
	ACCELKV_PARAM_CAPABILITIES	= 0,
	ACCELKV_PARAM_API_VERSION	= 1,
	ACCELKV_PARAM_MAX_POOL_SIZE	= 2,
	ACCELKV_PARAM_PINNED_BYTES	= 3,
	ACCELKV_PARAM_PINNED_LIMIT	= 4,
	ACCELKV_PARAM_MIN_BLOCK_SIZE	= 5,
	ACCELKV_PARAM_MAX_KV_BLOCKS	= 6,
	ACCELKV_PARAM_COUNT		= 7,
};

/**
 * ACCELKV_API_VERSION - bumped on every compatible uapi addition; test the
 * ACCELKV_CAP_* bit of a feature, not this number (2: KV_PEEK_EVICT)
 */
#define ACCELKV_API_VERSION	2

#define ACCELKV_CAP_POOL		(1ULL << 0) /* pools: create/info/destroy/mmap */
#define ACCELKV_CAP_KV_BLOCKS		(1ULL << 1) /* KV block allocator */
#define ACCELKV_CAP_PREFIX_INDEX	(1ULL << 2) /* KV publish/lookup */
#define ACCELKV_CAP_SYNCOBJ_TIMELINE	(1ULL << 3) /* fences are timeline syncobjs */
#define ACCELKV_CAP_PRIME		(1ULL << 4) /* pool export/import as dma-buf */
#define ACCELKV_CAP_URING_LOAD		(1ULL << 5) /* uring_cmd LOAD */
#define ACCELKV_CAP_URING_STORE		(1ULL << 6) /* uring_cmd STORE */
#define ACCELKV_CAP_URING_SIGNAL	(1ULL << 7) /* uring_cmd SIGNAL */
#define ACCELKV_CAP_HUGEPAGE		(1ULL << 8) /* ACCELKV_POOL_HUGEPAGE honoured */
#define ACCELKV_CAP_CROSS_PROCESS	(1ULL << 9) /* KV state shared across processes */
#define ACCELKV_CAP_PAGE_BLOCKS		(1ULL << 10) /* KV block_size: any multiple of 4096 */
/* bit 11 is libaccel's ACCEL_CAP_GPU (a GPU attached in userspace): never a driver's */
#define ACCELKV_CAP_KV_PEEK_EVICT	(1ULL << 12) /* DRM_IOCTL_ACCELKV_KV_PEEK_EVICT */

/**
 * struct drm_accelkv_get_param - query one device parameter
 * @param: In. One of enum drm_accelkv_param.
 * @pad: In. Must be zero.
 * @value: Out. The parameter's value.
 */
struct drm_accelkv_get_param {
	__u32 param;
	__u32 pad;
	__u64 value;
};

/* ------------------------------------------------------------------- pools */

/**
 * ACCELKV_POOL_HUGEPAGE - back the pool with 2 MiB pages where available
 *
 * Where they were obtained (POOL_INFO says so), a mapping whose address and
 * pool offset are 2 MiB-aligned is mapped with one 2 MiB page table entry
 * per 2 MiB (/proc/self/smaps counts it as ShmemPmdMapped); mmap picks the
 * address, so reserve a larger range and map at a boundary inside it.
 */
#define ACCELKV_POOL_HUGEPAGE	(1U << 0)
/** ACCELKV_POOL_KV - the pool holds KV blocks: enables the block allocator */
#define ACCELKV_POOL_KV		(1U << 1)
#define ACCELKV_POOL_FLAGS_MASK	(ACCELKV_POOL_HUGEPAGE | ACCELKV_POOL_KV)

/**
 * ACCELKV_MIN_BLOCK_SIZE - smallest KV block size, bytes (one 4 KiB page); every
 * KV block size is a multiple of it
 */
#define ACCELKV_MIN_BLOCK_SIZE	4096U
/** ACCELKV_MAX_KV_BLOCKS - most blocks a pool may hold */
#define ACCELKV_MAX_KV_BLOCKS	(1U << 20)

/**
 * struct drm_accelkv_pool_create - create a pool of pinned host memory
 * @size: In. Pool size in bytes; non-zero, a multiple of 4096 and of
 *	@block_size, at most ACCELKV_PARAM_MAX_POOL_SIZE.
 * @block_size: In. KV block size in bytes when ACCELKV_POOL_KV is set: a
 *	non-zero multiple of ACCELKV_MIN_BLOCK_SIZE (4096), else 0 (the pool is
 *	one block). Drivers without ACCELKV_CAP_PAGE_BLOCKS accept only powers
 *	of two; every power of two >= 4096 is still accepted. Why 4096 and not
 *	one byte: block i starts at i * @block_size in the mapping and in the
 *	LOAD/STORE ranges of a block, and O_DIRECT needs buffer addresses,
 *	file offsets and lengths aligned to the file's logical block size (512
 *	or 4096 bytes on the disks this is for); a multiple of 4096 keeps every
 *	block of every pool aligned for any of them, and wastes less than one
 *	page per block (a 16-token block of a 30-layer F16 cache is 90 pages
 *	exactly, where a power of two stored 720 KiB of F32 in 1 MiB).
 * @flags: In. ACCELKV_POOL_* flags.
 * @handle: Out. GEM handle of the pool, valid in this file only.
 * @pad: In. Must be zero.
 * @mmap_offset: Out. Offset to pass to mmap() on the device file.
 * @reserved: In. Must be zero.
 *
 * The pages are allocated zeroed and pinned, charged to the caller's
 * RLIMIT_MEMLOCK (-EPERM beyond it) and to the device cap (-ENOMEM), and
 * to the caller's memory cgroup. A mapping keeps the pool (pinned and
 * charged) until it is unmapped. MADV_DONTNEED on a mapping refaults the
 * same pages; MADV_REMOVE is refused (EOPNOTSUPP): nothing takes a page
 * from a pool while it lives.
 */
struct drm_accelkv_pool_create {
	__u64 size;
	__u32 block_size;
	__u32 flags;
	__u32 handle;
	__u32 pad;
	__u64 mmap_offset;
	__u64 reserved;
};

/**
 * struct drm_accelkv_pool_info - describe a pool
 * @handle: In. Pool handle.
 * @flags: Out. ACCELKV_POOL_* flags, plus ACCELKV_POOL_HUGEPAGE only when huge
 *	pages were actually obtained.
 * @size: Out. Size in bytes.
 * @block_size: Out. Block size in bytes (0 for a non-KV pool).
 * @num_blocks: Out. Number of KV blocks (0 for a non-KV pool).
 * @mmap_offset: Out. Offset to pass to mmap() on the device file.
 * @blocks_used: Out. Blocks with a reference held by any file.
 * @blocks_cached: Out. Published blocks with no reference, kept for reuse.
 * @prefix_hits: Out. Blocks found by KV_LOOKUP since the pool was created.
 * @prefix_queries: Out. Hashes asked by KV_LOOKUP since the pool was created.
 * @reserved: In. Must be zero.
 */
struct drm_accelkv_pool_info {
	__u32 handle;
	__u32 flags;
	__u64 size;
	__u32 block_size;
	__u32 num_blocks;
	__u64 mmap_offset;
	__u32 blocks_used;
	__u32 blocks_cached;
	__u64 prefix_hits;
	__u64 prefix_queries;
	__u64 reserved;
};

/**
 * struct drm_accelkv_pool_destroy - drop this file's handle of a pool
 * @handle: In. Pool handle.
 * @pad: In. Must be zero.
 *
 * Releases the KV block references this file holds in the pool. The memory
 * lives on while mapped, exported or held by another file.
 */
struct drm_accelkv_pool_destroy {
	__u32 handle;
	__u32 pad;
};

/* -------------------------------------------------------------- KV blocks */

/**
 * struct drm_accelkv_kv_blocks - allocate, free or reference KV blocks
 * @handle: In. Pool handle (a pool created with ACCELKV_POOL_KV).
 * @count: In. Number of block ids in @blocks_ptr, 1..ACCELKV_MAX_KV_BLOCKS.
 * @blocks_ptr: In (FREE, REF) or Out (ALLOC). Userspace pointer to @count
 *	__u32 block ids. Block b lives at byte b * block_size of the pool.
 * @flags: In. Must be zero (no flags defined).
 * @pad: In. Must be zero.
 *
 * ALLOC takes @count blocks, each with one reference owned by the calling
 * file, evicting least-recently-freed published blocks when no free block is
 * left; all or nothing (-ENOMEM). FREE drops one reference per listed block;
 * REF takes one more. FREE and REF check every id first (-ENOENT when the
 * file holds no reference on one) and then apply all of them. A block whose
 * last reference goes stays in the prefix index if published (LRU), else it
 * returns to the free list.
 */
struct drm_accelkv_kv_blocks {
	__u32 handle;
	__u32 count;
	__u64 blocks_ptr;
	__u32 flags;
	__u32 pad;
};

/**
 * struct drm_accelkv_kv_publish - enter blocks into the prefix index
 * @handle: In. Pool handle.
 * @count: In. Number of entries in @blocks_ptr and @hashes_ptr.
 * @blocks_ptr: In. Pointer to @count __u32 block ids the file holds.
 * @hashes_ptr: In. Pointer to @count __u64 hashes; hash i names the tokens of
 *	block i chained with the hash of the block before it (its prefix).
 * @published: Out. Entries entered; an entry whose hash is already indexed
 *	(to another block) is skipped, the first block keeps the hash.
 * @flags: In. Must be zero.
 *
 * A block published once cannot be republished under another hash (-EINVAL).
 */
struct drm_accelkv_kv_publish {
	__u32 handle;
	__u32 count;
	__u64 blocks_ptr;
	__u64 hashes_ptr;
	__u32 published;
	__u32 flags;
};

/**
 * struct drm_accelkv_kv_lookup - find the longest cached prefix
 * @handle: In. Pool handle.
 * @count: In. Number of hashes in @hashes_ptr, in prefix order.
 * @hashes_ptr: In. Pointer to @count __u64 chained block hashes.
 * @blocks_ptr: Out. Pointer to room for @count __u32 block ids.
 * @found: Out. Length of the longest run of leading hashes found; the first
 *	@found ids of @blocks_ptr are valid and each carries one new reference
 *	owned by the calling file.
 * @flags: In. Must be zero.
 */
struct drm_accelkv_kv_lookup {
	__u32 handle;
	__u32 count;
	__u64 hashes_ptr;
	__u64 blocks_ptr;
	__u32 found;
	__u32 flags;
};

/**
 * struct drm_accelkv_kv_peek_evict - the blocks an ALLOC would evict now
 * @handle: In. Pool handle (a pool created with ACCELKV_POOL_KV).
 * @count: In. The number of blocks the caller is about to allocate,
 *	1..the pool's num_blocks (-EINVAL beyond it).
 * @blocks_ptr: Out. Pointer to room for @count __u32 block ids.
 * @hashes_ptr: Out. Pointer to room for @count __u64 hashes.
 * @found: Out. Entries written to @blocks_ptr and @hashes_ptr: the
 *	published blocks without a reference that KV_ALLOC of @count would
 *	evict, in the order it would evict them (least recently released
 *	first), each with the hash it is published under; max(0, @count -
 *	free blocks) of them, at most the cached ones. 0 when free blocks
 *	suffice.
 * @flags: In. Must be zero.
 *
 * Changes nothing and takes no reference: a disk tier writes these blocks
 * to files (STORE) before it allocates, so the prefix survives eviction.
 * Another file sharing the pool may allocate between this call and the
 * caller's ALLOC, so the answer is a hint, exact where one file owns the
 * pool. Any file holding the pool may ask: the hashes name prefixes whose
 * blocks it can already map and look up. Requires ACCELKV_CAP_KV_PEEK_EVICT.
 */
struct drm_accelkv_kv_peek_evict {
	__u32 handle;
	__u32 count;
	__u64 blocks_ptr;
	__u64 hashes_ptr;
	__u32 found;
	__u32 flags;
};

/* ------------------------------------------------------------- uring_cmd */

/*
 * io_uring passthrough: IORING_OP_URING_CMD on the device file, with
 * IORING_SETUP_SQE128 (the payload needs more than 16 bytes). sqe->cmd_op is
 * one of ACCELKV_URING_CMD_*, the payload sits in sqe->cmd. The CQE res is
 * the number of bytes moved (LOAD/STORE), 0 (SIGNAL) or a negative errno.
 */
#define ACCELKV_URING_CMD_LOAD		0x01
#define ACCELKV_URING_CMD_STORE		0x02
#define ACCELKV_URING_CMD_SIGNAL	0x03

/** ACCELKV_XFER_DIRECT - require direct I/O (fail with -EINVAL if refused) */
#define ACCELKV_XFER_DIRECT	(1U << 0)
#define ACCELKV_XFER_FLAGS_MASK	(ACCELKV_XFER_DIRECT)

/**
 * struct accelkv_uring_xfer - LOAD (file -> pool) or STORE (pool -> file)
 * @fd: In. File descriptor of the file to read or write.
 * @handle: In. Pool handle.
 * @file_offset: In. Byte offset in the file.
 * @pool_offset: In. Byte offset in the pool; @pool_offset + @length must not
 *	exceed the pool size.
 * @length: In. Bytes to move, 1..ACCELKV_XFER_MAX. With direct I/O, the
 *	offsets and length must be multiples of the file's logical block size.
 * @flags: In. ACCELKV_XFER_* flags.
 * @pad: In. Must be zero.
 * @reserved: In. Must be zero.
 */
struct accelkv_uring_xfer {
	__s32 fd;
	__u32 handle;
	__u64 file_offset;
	__u64 pool_offset;
	__u64 length;
	__u32 flags;
	__u32 pad;
	__u64 reserved[2];
};

/** ACCELKV_XFER_MAX - largest LOAD/STORE length, bytes */
#define ACCELKV_XFER_MAX	(1ULL << 30)

/**
 * struct accelkv_uring_signal - signal a syncobj timeline point
 * @syncobj: In. DRM syncobj handle (created with DRM_IOCTL_SYNCOBJ_CREATE).
 * @flags: In. Must be zero.
 * @point: In. Timeline point to signal, > 0.
 * @reserved: In. Must be zero.
 *
 * Submit it linked (IOSQE_IO_LINK) after LOADs to signal once they complete.
 */
struct accelkv_uring_signal {
	__u32 syncobj;
	__u32 flags;
	__u64 point;
	__u64 reserved;
};

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_ACCELKV_H_ */
