/* SPDX-License-Identifier: MIT */
/*
 * libaccel: a transformer-ASIC-like device in userspace. Pools of pinned
 * memory, KV blocks with a prefix index, timeline fences, and command queues
 * on COPY and COMPUTE engines. Runs on the accelkv driver or, where no module
 * is loaded (or ACCEL_DEVICE=emu), on an in-process emulation with the same
 * semantics.
 *
 * Conventions: opaque handles; every call returns 0 (or a count) on success
 * and a negative errno on failure, and never exits; destructors accept NULL;
 * option structs carry their size (ACCEL_OPTS) so they can grow.
 */
#ifndef ACCEL_H
#define ACCEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct accel_device;
struct accel_pool;
struct accel_fence;
struct accel_queue;
struct accel_cmd;

/* ------------------------------------------------------------------ logging */

enum accel_log_level {
	ACCEL_LOG_ERROR = 0,
	ACCEL_LOG_WARN  = 1,
	ACCEL_LOG_INFO  = 2,
	ACCEL_LOG_DEBUG = 3,
};

/**
 * accel_log_fn - receives every message of the library (one line, no '\n').
 * The default prints ERROR and WARN to stderr; set NULL to silence.
 */
typedef void (*accel_log_fn)(enum accel_log_level level, const char *msg, void *ctx);
void accel_set_log(accel_log_fn fn, void *ctx);

/**
 * ACCEL_OPTS - declare an options struct with its size set and the rest zero:
 *   struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = 1 << 20);
 * The library rejects (-EINVAL) an opts whose unknown trailing bytes are set.
 */
#define ACCEL_OPTS(type, ...) ((struct type){ .sz = sizeof(struct type), __VA_ARGS__ })

/* ------------------------------------------------------------------- device */

/* Capability bits: the same values as ACCELKV_CAP_* in uapi/accelkv.h. */
#define ACCEL_CAP_POOL			(1ULL << 0)
#define ACCEL_CAP_KV_BLOCKS		(1ULL << 1)
#define ACCEL_CAP_PREFIX_INDEX		(1ULL << 2)
#define ACCEL_CAP_SYNCOBJ_TIMELINE	(1ULL << 3)
#define ACCEL_CAP_PRIME			(1ULL << 4)
#define ACCEL_CAP_URING_LOAD		(1ULL << 5)
#define ACCEL_CAP_URING_STORE		(1ULL << 6)
#define ACCEL_CAP_URING_SIGNAL		(1ULL << 7)
#define ACCEL_CAP_HUGEPAGE		(1ULL << 8)
#define ACCEL_CAP_CROSS_PROCESS		(1ULL << 9)
#define ACCEL_CAP_PAGE_BLOCKS		(1ULL << 10)	/* KV block sizes: any multiple of 4096 */
#define ACCEL_CAP_GPU			(1ULL << 11) /* a GPU is attached (accel_gpu_attach) */
#define ACCEL_CAP_KV_PEEK_EVICT		(1ULL << 12) /* accel_kv_peek_evict answers */

/**
 * struct accel_device_info - what accel_device_info() reports
 * @backend: "emu" or "kernel"
 * @node: device node path ("" for emu)
 * @caps: ACCEL_CAP_* bits
 * @api_version: ACCELKV_API_VERSION of the backend
 * @max_pool_size: largest pool, bytes
 * @pinned_bytes: bytes pinned now by this device (kernel: all files)
 * @pinned_limit: cap on pinned bytes (0 = none besides RLIMIT_MEMLOCK)
 * @memlock_limit: RLIMIT_MEMLOCK of the process (UINT64_MAX = unlimited)
 * @cpu_threads: default COMPUTE thread count
 */
struct accel_device_info {
	char backend[16];
	char node[64];
	uint64_t caps;
	uint32_t api_version;
	uint32_t cpu_threads;
	uint64_t max_pool_size;
	uint64_t pinned_bytes;
	uint64_t pinned_limit;
	uint64_t memlock_limit;
};

/**
 * struct accel_device_stats - counters over all pools of the device
 */
struct accel_device_stats {
	uint32_t pools;
	uint32_t queues;
	uint64_t pinned_bytes;
	uint64_t blocks_total;
	uint64_t blocks_used;
	uint64_t blocks_cached;
	uint64_t blocks_free;
	uint64_t prefix_queries;
	uint64_t prefix_hits;
	uint64_t fences;
};

/**
 * accel_device_open - open a device.
 * @path: NULL to choose by $ACCEL_DEVICE ("emu", or a node path) and else the
 *	first accelkv node found through libdrm, falling back to "emu";
 *	"emu" for the emulated device; or a node path such as /dev/accel/accel0.
 * @out: receives the device.
 * Returns 0, -ENODEV when @path names a node that is not accelkv, or -errno.
 */
int accel_device_open(const char *path, struct accel_device **out);
void accel_device_close(struct accel_device *dev);
int accel_device_info(struct accel_device *dev, struct accel_device_info *info);
int accel_device_stats(struct accel_device *dev, struct accel_device_stats *stats);

/* -------------------------------------------------------------------- pools */

#define ACCEL_POOL_HUGEPAGE	(1U << 0)  /* huge pages where the machine allows */
#define ACCEL_POOL_KV		(1U << 1)  /* KV block allocator over the pool */
/*
 * ACCEL_POOL_PAGEABLE: if pinning is refused (RLIMIT_MEMLOCK), keep the pool
 * pageable and log a warning instead of failing. Emulated device only; the
 * kernel backend always pins.
 */
#define ACCEL_POOL_PAGEABLE	(1U << 2)
/*
 * ACCEL_POOL_PRIVATE: this process's memory only: accel_pool_export() refuses
 * the pool (-EOPNOTSUPP). With ACCEL_POOL_HUGEPAGE it lets the emulated
 * device back the pool with anonymous memory, which gets transparent huge
 * pages where shared memory gets none (the default shmem_enabled "never").
 * The kernel backend's pools are the driver's memory either way.
 */
#define ACCEL_POOL_PRIVATE	(1U << 3)
#define ACCEL_POOL_FLAGS_MASK	(ACCEL_POOL_HUGEPAGE | ACCEL_POOL_KV | ACCEL_POOL_PAGEABLE | \
				 ACCEL_POOL_PRIVATE)

/**
 * struct accel_pool_opts - pool creation options
 * @sz: sizeof(struct accel_pool_opts) (use ACCEL_OPTS)
 * @size: bytes, > 0; rounded up to the page size
 * @block_size: KV block bytes with ACCEL_POOL_KV, else 0: a multiple of 4096
 *	(the emulation and drivers with ACCEL_CAP_PAGE_BLOCKS), a power of two
 *	>= 4096 on older drivers
 * @flags: ACCEL_POOL_*
 */
struct accel_pool_opts {
	size_t sz;
	uint64_t size;
	uint32_t block_size;
	uint32_t flags;
};

/**
 * struct accel_pool_info - describe a pool (fields as drm_accelkv_pool_info)
 */
struct accel_pool_info {
	uint64_t size;
	uint32_t block_size;
	uint32_t num_blocks;
	uint32_t flags;		/* HUGEPAGE only if obtained; PINNED if pinned */
	uint32_t blocks_used;
	uint32_t blocks_cached;
	uint32_t blocks_free;
	uint64_t prefix_queries;
	uint64_t prefix_hits;
};
#define ACCEL_POOL_INFO_PINNED	(1U << 16)

/**
 * accel_pool_create - allocate a pool of pinned memory, mapped in the process.
 * Errors: -EINVAL (bad size, block size or flags), -EPERM or -ENOMEM when
 * RLIMIT_MEMLOCK refuses to pin (logged with the limit), -ENOMEM.
 */
int accel_pool_create(struct accel_device *dev, const struct accel_pool_opts *opts,
		      struct accel_pool **out);
void accel_pool_destroy(struct accel_pool *pool);
/** accel_pool_ptr - the CPU address of byte 0 of the pool's mapping */
void *accel_pool_ptr(struct accel_pool *pool);
uint64_t accel_pool_size(const struct accel_pool *pool);
int accel_pool_info(struct accel_pool *pool, struct accel_pool_info *info);
/**
 * accel_pool_export - export as a file descriptor (a dma-buf on the kernel
 * backend, a memfd on the emulated one) that accel_pool_import() in any
 * process turns back into a pool sharing the same memory. The caller owns *fd.
 * -EOPNOTSUPP for an ACCEL_POOL_PRIVATE pool.
 */
int accel_pool_export(struct accel_pool *pool, int *fd);
int accel_pool_import(struct accel_device *dev, int fd, struct accel_pool **out);

/* ---------------------------------------------------------------- KV blocks */

/**
 * accel_kv_alloc - take @count blocks, one reference each, all or nothing.
 * Free blocks go first, then cached (published, unreferenced) blocks in LRU
 * order, leaving the prefix index. -ENOMEM when not enough are left.
 */
int accel_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks);
/** accel_kv_free - drop one reference per block; -ENOENT if one is not held */
int accel_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
/** accel_kv_ref - take one more reference per block (share it) */
int accel_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
/**
 * accel_kv_publish - index held blocks by their chained hashes.
 * Returns the number of entries entered (an already indexed hash is skipped).
 */
int accel_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
		     const uint64_t *hashes);
/**
 * accel_kv_lookup - the longest run of leading @hashes in the index.
 * Returns the run length n >= 0; blocks[0..n) hold the block ids, each with a
 * new reference owned by the caller.
 */
int accel_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
		    uint32_t *blocks);
/**
 * accel_kv_peek_evict - the published blocks without a reference that
 * accel_kv_alloc(@count) would evict now, in its order (least recently
 * released first), with their hashes; nothing changes. Returns how many
 * (0 when free blocks suffice), -EINVAL (also for @count beyond the pool),
 * or -EOPNOTSUPP where the device cannot tell (a module without
 * ACCEL_CAP_KV_PEEK_EVICT). Another owner of the pool may allocate between
 * this call and yours: a hint for a disk tier that saves blocks before they
 * go, exact where one thread owns the pool.
 */
int accel_kv_peek_evict(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
			uint64_t *hashes);
/**
 * accel_kv_hash - the chained hash of a block: @tokens of the block with the
 * hash of the previous block (@prev, 0 for the first block). 64-bit,
 * deterministic across processes and machines.
 */
uint64_t accel_kv_hash(uint64_t prev, const int32_t *tokens, uint32_t count);
/** accel_kv_block_ptr - CPU address of block @block (no reference check) */
void *accel_kv_block_ptr(struct accel_pool *pool, uint32_t block);

/* ------------------------------------------------------------------- fences */

/**
 * Timeline fences: a 64-bit counter that only grows. Waiting for point p
 * returns once the counter is >= p. Kernel backend: DRM syncobj timelines.
 */
int accel_fence_create(struct accel_device *dev, struct accel_fence **out);
void accel_fence_destroy(struct accel_fence *fence);
/** accel_fence_signal - move the counter to @point; -EINVAL if @point <= it */
int accel_fence_signal(struct accel_fence *fence, uint64_t point);
/**
 * accel_fence_wait - wait until the counter reaches @point.
 * @timeout_ns: relative; 0 polls, < 0 waits forever. -ETIME on timeout.
 */
int accel_fence_wait(struct accel_fence *fence, uint64_t point, int64_t timeout_ns);
int accel_fence_query(struct accel_fence *fence, uint64_t *value);

/* ---------------------------------------------------------- queues, engines */

enum accel_engine {
	ACCEL_ENGINE_COPY    = 0,	/* io_uring: file <-> pool, memory copies */
	ACCEL_ENGINE_COMPUTE = 1,	/* CPU thread pool over kernels/cpu */
};

/**
 * struct accel_queue_opts - queue creation options
 * @sz: sizeof (ACCEL_OPTS)
 * @engine: enum accel_engine
 * @threads: COMPUTE: worker threads (0 = accel_device_info.cpu_threads; at
 *	most ACCEL_QUEUE_MAX_THREADS, else -EINVAL)
 * @depth: COPY: io_uring requests in flight (0 = 32)
 * @chunk: COPY: bytes per read/write request (0 = 1 MiB)
 * @flags: ACCEL_QUEUE_GPU: the engine of the attached GPU (accel_gpu_attach;
 *	-ENODEV without one): COMPUTE runs the commands on the GPU over the VRAM
 *	twins of their pools (accel_pool_gpu_mirror; a tensor in a pool without
 *	one, or at a host address, is refused at submit), COPY runs UPLOAD and
 *	DOWNLOAD only. A submission signals once the GPU has finished it.
 */
#define ACCEL_QUEUE_GPU		(1U << 0)
#define ACCEL_QUEUE_FLAGS_MASK	ACCEL_QUEUE_GPU
#define ACCEL_QUEUE_MAX_THREADS 256

struct accel_queue_opts {
	size_t sz;
	uint32_t engine;
	uint32_t threads;
	uint32_t depth;
	uint32_t flags;
	uint64_t chunk;
};

/** struct accel_fence_point - one point of one fence */
struct accel_fence_point {
	struct accel_fence *fence;
	uint64_t point;
};

int accel_queue_create(struct accel_device *dev, const struct accel_queue_opts *opts,
		       struct accel_queue **out);
/** accel_queue_destroy - waits for submitted work, then frees the queue */
void accel_queue_destroy(struct accel_queue *queue);
/**
 * accel_queue_submit - run @count commands in order once every @waits point
 * is reached, then signal @signal (may be NULL). Submissions on one queue run
 * in submission order. The commands are copied; the call returns at once.
 * Validation errors (-EINVAL: bad opcode, wrong engine, tensor outside its
 * pool) are returned here and nothing runs. An error while executing stops
 * the rest of that submission, is kept as the queue's error, and @signal is
 * still signalled so no waiter hangs.
 */
int accel_queue_submit(struct accel_queue *queue, const struct accel_cmd *cmds,
		       uint32_t count, const struct accel_fence_point *waits,
		       uint32_t nwaits, const struct accel_fence_point *signal);
/**
 * accel_queue_submit_run - accel_queue_submit(), then wait until @signal
 * (required) is reached. Where the queue is idle (nothing queued or
 * running), every @waits point is already reached and the engine allows it
 * (COMPUTE on the CPU), the commands run on the calling thread instead of
 * the queue's: no hand-off to that thread and back, which costs a decode
 * step of a small model more than its own work on a busy machine. Either
 * way they run after every earlier submission of @queue, signal @signal,
 * count in accel_queue_stats() and set the sticky error as a submission
 * does. Returns 0 once @signal is reached, a validation error as
 * accel_queue_submit() (nothing ran), or the fence wait's error.
 */
int accel_queue_submit_run(struct accel_queue *queue, const struct accel_cmd *cmds,
			   uint32_t count, const struct accel_fence_point *waits,
			   uint32_t nwaits, const struct accel_fence_point *signal);
/**
 * accel_queue_cancel - drop the submissions of @queue whose commands have not
 * started: the one waiting on its fence points (it still waits for them) and
 * every one queued behind it (they wait for nothing). A dropped submission
 * runs none of its commands and still signals its point, in submission
 * order, so a timeline never passes a point that is still running. The ones
 * dropped are always the last ones submitted: the count returned (>= 0; or
 * -EINVAL) says how many. For speculative work (reads of predicted MoE
 * experts) that a later decision makes useless.
 */
int accel_queue_cancel(struct accel_queue *queue);
/** accel_queue_wait_idle - wait for all submitted work; returns the queue error */
int accel_queue_wait_idle(struct accel_queue *queue);
/** accel_queue_error - first execution error (sticky), 0 if none */
int accel_queue_error(struct accel_queue *queue);
/** accel_queue_clear_error - reset the sticky error (returns the old one) */
int accel_queue_clear_error(struct accel_queue *queue);

/**
 * struct accel_queue_stats - counters since the queue was created
 * @submissions: submissions finished
 * @commands: commands executed
 * @busy_ns: time spent executing commands (not waiting on fences)
 */
struct accel_queue_stats {
	uint64_t submissions;
	uint64_t commands;
	uint64_t busy_ns;
};
int accel_queue_stats(struct accel_queue *queue, struct accel_queue_stats *stats);

/* ------------------------------------------------------------------ tracing */

/*
 * Every command of every queue as a span: start and end on the
 * accel_trace_now_ns() clock, queue, op, the intermediate it produces and its
 * layer, bytes (moved by a transfer, written by an op), the fence points its
 * submission waited on and signalled; fence waits as spans of their own.
 * Written as trace-event JSON (chrome://tracing, Perfetto). Process-wide;
 * ACCEL_TRACE=FILE traces from the first device opened to the last closed.
 */
/** accel_trace_start - start recording; @path: the JSON file accel_trace_stop
 *  writes (created now, so a bad path fails here), NULL: in memory only.
 *  -EBUSY when already recording */
int accel_trace_start(const char *path);
/** accel_trace_stop - stop, write the file (when a path was given), forget
 *  the spans; -ENODATA when not recording */
int accel_trace_stop(void);
/** accel_trace_now_ns - the spans' clock (CLOCK_MONOTONIC, ns) */
uint64_t accel_trace_now_ns(void);
/** accel_trace_mark - an instant event named @name (a static string) at
 *  the returned accel_trace_now_ns() time */
uint64_t accel_trace_mark(const char *name);
/**
 * accel_trace_busy - time in [@t0, @t1) when at least one queue of @engine
 * ran a command: the union of their spans, so it never exceeds t1 - t0
 * (two COPY queues reading at once count once). -ENODATA when not recording.
 */
int accel_trace_busy(uint32_t engine, uint64_t t0, uint64_t t1, uint64_t *busy_ns);

/* Test hook (COPY engine, null_blk style): fail the @nth next file request
 * (1 = the next one) with @err (-EIO), or shorten it (err = 0: short read). */
int accel_queue_inject_fault(struct accel_queue *queue, uint32_t nth, int err);

/* ------------------------------------------------------ ops and dtypes */

/**
 * accel_op_name - the name of an opcode
 * @op: enum accel_op (accel_cmd.h)
 *
 * Return: the op's lower-case name ("matmul", "attn_decode", "read_file"),
 * static storage; NULL if @op is not an opcode (>= ACCEL_OP_COUNT).
 */
const char *accel_op_name(uint32_t op);

/*
 * dtypes (enum accel_dtype, accel_cmd.h) are ggml's type numbers with ggml's
 * block layouts: a row of ne0 elements is ne0 / block_size blocks of
 * block_bytes each. Every function answers 0 / NULL / false for a number
 * that is no dtype.
 */

/**
 * accel_dtype_row_size - bytes of a row of @ne0 elements of @dtype
 *
 * Return: the size in bytes; 0 if @dtype is unknown or @ne0 is negative or
 * not a whole number of blocks (accel_dtype_block_size()).
 */
uint64_t accel_dtype_row_size(uint32_t dtype, int64_t ne0);
/** accel_dtype_block_size - elements per block (1 for F32, 32 for Q4_0, 256 for Q4_K); 0 if unknown */
uint32_t accel_dtype_block_size(uint32_t dtype);
/** accel_dtype_block_bytes - bytes per block (4 for F32, 18 for Q4_0, 144 for Q4_K); 0 if unknown */
uint32_t accel_dtype_block_bytes(uint32_t dtype);
/**
 * accel_dtype_name - ggml's name of @dtype: "f32", "q4_0", "q4_K", "bf16", ...
 *
 * Return: static storage; NULL if @dtype is unknown.
 */
const char *accel_dtype_name(uint32_t dtype);
/** accel_dtype_can_matmul - MATMUL, LOGITS and MOE_FFN accept @dtype as weight type */
bool accel_dtype_can_matmul(uint32_t dtype);
/** accel_dtype_can_dequantize - EMBED accepts @dtype as table type (it can be read as F32) */
bool accel_dtype_can_dequantize(uint32_t dtype);

/* --------------------------------------------------------------------- GPU */

/**
 * accel_gpu_attach - attach CUDA GPU @ordinal to @dev
 * @dev: an open device (its pools stay host pools; VRAM pools and the GPU's
 *	engines come with the GPU)
 * @ordinal: the GPU's CUDA ordinal (0: the first)
 * @why: on failure, one line saying why (may be NULL)
 * @why_len: bytes at @why
 *
 * The GPU backend is a shared object of its own, libaccel-cuda.so.1, loaded
 * with dlopen on the first call: $ACCEL_GPU_LIB if set, else beside the code
 * holding libaccel or in its ../lib, else the dynamic linker's path. Programs
 * that never call this never load CUDA.
 *
 * Return: 0; -ENOENT the backend is not found; -ELIBBAD it does not load (its
 * CUDA libraries are missing) or speaks another ABI; -ENODEV no usable CUDA
 * device (none, no driver, or @ordinal beyond them); -EBUSY one is attached
 * already; -EINVAL; -ENOMEM.
 */
int accel_gpu_attach(struct accel_device *dev, int ordinal, char *why, size_t why_len);

/**
 * struct accel_gpu_props - the attached GPU
 * @name: "NVIDIA H100 80GB HBM3"
 * @lib: the backend object loaded (a path, or the bare name the linker found)
 * @ordinal: CUDA ordinal
 * @cc_major, @cc_minor: compute capability (9, 0 for sm_90)
 * @mem_total, @mem_free: device memory now, bytes
 * @mem_bw: peak memory bandwidth, bytes/s (0 if unknown)
 * @runtime_version, @driver_version: CUDA's numbers (13000 for 13.0)
 */
struct accel_gpu_props {
	char name[96];
	char lib[512];
	uint32_t ordinal;
	uint32_t cc_major, cc_minor;
	uint32_t runtime_version, driver_version;
	uint32_t pad;
	uint64_t mem_total, mem_free, mem_bw;
};

/** accel_gpu_props - what the attached GPU is; -ENODEV if none is attached */
int accel_gpu_props(struct accel_device *dev, struct accel_gpu_props *props);

/**
 * accel_pool_gpu_mirror - give @pool a twin in the attached GPU's memory
 * @pool: a host pool (KV pools included: their allocator and prefix index
 *	stay on the host, their blocks' bytes live in the twin)
 *
 * The twin has the pool's size; a command on a GPU queue that names the
 * pool reads and writes the twin at the same offset, and the host mapping is
 * registered for DMA (UPLOAD and DOWNLOAD move bytes between the two). The
 * twin lives until the pool is destroyed.
 *
 * Return: 0; -ENODEV no GPU is attached; -EEXIST it has one already;
 * -ENOMEM the GPU's memory is short; -EIO.
 */
int accel_pool_gpu_mirror(struct accel_pool *pool);

/**
 * accel_pool_gpu_register - register @pool's host mapping with the attached
 * GPU for DMA, without a twin: the source of UPLOADs into other pools' VRAM
 * (accel_cmd_prep_upload_to: a layer from a host slot into a VRAM slot).
 * Undone when the pool is destroyed; a second call does nothing.
 *
 * Return: 0; -ENODEV no GPU is attached; -EINVAL a pool without a host
 * mapping; -ENOMEM, -EIO.
 */
int accel_pool_gpu_register(struct accel_pool *pool);

/**
 * accel_pool_create_vram - a pool in the attached GPU's memory only
 * @dev: a device with a GPU attached (accel_gpu_attach)
 * @size: bytes (rounded up to 4 KiB)
 * @out: the pool
 *
 * No host mapping (accel_pool_ptr returns NULL) and no backend pool: only
 * commands on GPU queues may name it (others are refused at submit), its
 * bytes arrive by UPLOAD into it (accel_cmd_prep_upload_to). Not a KV pool;
 * accel_pool_info and accel_pool_export refuse it. Contents are undefined
 * until written. Freed by accel_pool_destroy or at device close.
 *
 * Return: 0; -ENODEV no GPU is attached; -ENOMEM the GPU's memory is short;
 * -EINVAL.
 */
int accel_pool_create_vram(struct accel_device *dev, uint64_t size, struct accel_pool **out);

#ifdef __cplusplus
}
#endif

#include "accel_cmd.h"

#endif /* ACCEL_H */
