// SPDX-License-Identifier: MIT
/*
 * The prefix cache's disk tier: DIR/<chained hash>.kv holds one KV block, a
 * 4 KiB header (magic, version, model fingerprint, the block's hash, its
 * size, a checksum of its bytes) then the block's bytes, page-aligned for
 * O_DIRECT. Files are written beside their name and renamed into place, so a
 * reader never sees half of one; the block's bytes move through the COPY
 * engine (io_uring, or the driver's LOAD/STORE). A file is used only when
 * its size, header, fingerprint and checksum all agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "serve/kvdisk.h"

#define KVD_MAGIC	0x314b5644564b4341ULL	/* "ACKVDVK1" */
#define KVD_VERSION	2	/* 2: keys salted with arithmetic classes (prefix.h) */
#define KVD_HDR		4096

struct kvd_header {
	uint64_t magic;
	uint32_t version;
	uint32_t block_tokens;
	uint64_t fingerprint;
	uint64_t hash;
	uint64_t block_bytes;
	uint64_t checksum;
};

struct rt_kvdisk {
	struct rt_model *m;
	char *dir;
	uint64_t fingerprint;
	void *hdr;		/* KVD_HDR bytes, aligned for O_DIRECT */
	uint32_t *ids;		/* [n_blocks]: blocks eviction would take */
	uint64_t *hashes;	/* and their keys */
	uint64_t n_stored;	/* files written */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* a checksum of the block: 64-bit words, multiply-xorshift mixed */
static uint64_t checksum(const void *p, uint64_t n)
{
	const uint64_t *w = p;
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;

	for (uint64_t i = 0; i < n / 8; i++) {
		h ^= w[i] + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdULL;
	}
	return h ^ (h >> 33);
}

/* what must match for a block to be this model's: shape, numbers, the file */
static uint64_t fingerprint(const struct rt_model *m)
{
	const struct rt_hparams *hp = &m->hp;
	const int32_t ints[] = { hp->n_vocab, hp->dim, hp->n_layer, hp->n_head, hp->n_kv_head,
				 hp->head_dim, hp->ff, hp->ff_exp, hp->n_expert, hp->n_rot,
				 hp->rope_mode, (int32_t)m->kv->block_tokens,
				 (int32_t)m->kv->k_dtype, (int32_t)m->kv->v_dtype, m->kv->flash };
	const float fl[] = { hp->rope_base, hp->rope_scale, hp->rms_eps };
	const char *path = rt_gguf_path(m->gguf);
	uint64_t h = 0xcbf29ce484222325ULL, size = 0;
	struct stat st;

	if (path && stat(path, &st) == 0)
		size = (uint64_t)st.st_size;
	h = fnv(h, hp->arch_name, strnlen(hp->arch_name, sizeof(hp->arch_name)));
	h = fnv(h, hp->name, strnlen(hp->name, sizeof(hp->name)));
	h = fnv(h, ints, sizeof(ints));
	h = fnv(h, fl, sizeof(fl));
	h = fnv(h, &m->kv->block_bytes, sizeof(m->kv->block_bytes));
	return fnv(h, &size, sizeof(size));
}

int rt_kvdisk_open(struct rt_model *m, const char *dir, struct rt_kvdisk **out)
{
	struct rt_kvdisk *d;
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rt_set_error(-errno, "%s: %s", dir, strerror(errno));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rt_set_error(-ENOTDIR, "%s: not a directory", dir);
	d = calloc(1, sizeof(*d));
	if (!d || !(d->dir = strdup(dir)) || posix_memalign(&d->hdr, 4096, KVD_HDR)) {
		if (d)
			free(d->dir);
		free(d);
		return -ENOMEM;
	}
	d->m = m;
	d->fingerprint = fingerprint(m);
	d->ids = malloc(sizeof(*d->ids) * m->kv->n_blocks);
	d->hashes = malloc(sizeof(*d->hashes) * m->kv->n_blocks);
	if (!d->ids || !d->hashes) {
		rt_kvdisk_close(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void rt_kvdisk_close(struct rt_kvdisk *d)
{
	if (!d)
		return;
	free(d->ids);
	free(d->hashes);
	free(d->hdr);
	free(d->dir);
	free(d);
}

static void block_path(const struct rt_kvdisk *d, uint64_t hash, char *buf, size_t len)
{
	/* the model in the name too: two models never share a file */
	snprintf(buf, len, "%s/%016llx-%016llx.kv", d->dir, (unsigned long long)d->fingerprint,
		 (unsigned long long)hash);
}

/* the block's bytes to or from @fd at KVD_HDR, on the COPY engine */
static int xfer(struct rt_kvdisk *d, uint32_t block, int fd, bool write)
{
	struct rt_model *m = d->m;
	struct accel_tensor t = accel_tensor_make(m->kv->pool, (uint64_t)block * m->kv->block_bytes,
						  ACCEL_DTYPE_I8, (int64_t)m->kv->block_bytes, 1, 1, 1);
	struct accel_fence_point sig = { m->fence, ++m->fence_point };
	struct accel_cmd cmd;
	int ret;

	if (write)
		accel_cmd_prep_write_file(&cmd, t, fd, KVD_HDR);
	else
		accel_cmd_prep_read_file(&cmd, t, fd, KVD_HDR);
	ret = accel_queue_submit(m->copy, &cmd, 1, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_clear_error(m->copy);
	return ret;
}

static int open_file(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0644);

	if (fd < 0 && errno == EINVAL)	/* tmpfs: no O_DIRECT */
		fd = open(path, flags | O_CLOEXEC, 0644);
	return fd;
}

static int store_one(struct rt_kvdisk *d, uint32_t block, uint64_t hash)
{
	struct rt_kvcache *kv = d->m->kv;
	struct kvd_header *h = d->hdr;
	char path[4096], tmp[4200];
	int fd, ret;

	block_path(d, hash, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0)
		return -errno;
	/* on a GPU the block's bytes are in VRAM: down first (checksum, write) */
	ret = rt_model_gpu_kv_sync(d->m, &block, 1, false);
	if (ret < 0) {
		close(fd);
		unlink(tmp);
		return ret;
	}
	memset(d->hdr, 0, KVD_HDR);
	*h = (struct kvd_header){ .magic = KVD_MAGIC, .version = KVD_VERSION,
				  .block_tokens = kv->block_tokens, .fingerprint = d->fingerprint,
				  .hash = hash, .block_bytes = kv->block_bytes,
				  .checksum = checksum(accel_kv_block_ptr(kv->pool, block),
						       kv->block_bytes) };
	ret = pwrite(fd, d->hdr, KVD_HDR, 0) == KVD_HDR ? 0 : (errno ? -errno : -EIO);
	if (!ret)
		ret = xfer(d, block, fd, true);
	close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	else
		d->n_stored++;
	return ret < 0 ? ret : 1;
}

int rt_kvdisk_store(struct rt_kvdisk *d, int seq, const uint64_t *h, int from, int n_blk)
{
	struct rt_kvcache *kv = d->m->kv;
	int ret = 0, n = 0;

	if (n_blk > kv->n_alloc[seq])
		n_blk = kv->n_alloc[seq];
	for (int b = from; b < n_blk && ret >= 0; b++) {
		ret = store_one(d, kv->table[(size_t)seq * kv->max_blocks + b], h[b]);
		n += ret > 0;
	}
	return ret < 0 ? ret : n;
}

/* block @hash from its file into @block; false when absent or unsound */
static bool load_one(struct rt_kvdisk *d, uint32_t block, uint64_t hash)
{
	struct rt_kvcache *kv = d->m->kv;
	const struct kvd_header *h = d->hdr;
	char path[4096];
	struct stat st;
	bool good = false;
	int fd;

	block_path(d, hash, path, sizeof(path));
	fd = open_file(path, O_RDONLY);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == KVD_HDR + kv->block_bytes &&
	    pread(fd, d->hdr, KVD_HDR, 0) == KVD_HDR && h->magic == KVD_MAGIC &&
	    h->version == KVD_VERSION && h->fingerprint == d->fingerprint && h->hash == hash &&
	    h->block_tokens == kv->block_tokens && h->block_bytes == kv->block_bytes) {
		uint64_t want = h->checksum;

		good = xfer(d, block, fd, false) == 0 &&
		       checksum(accel_kv_block_ptr(kv->pool, block), kv->block_bytes) == want &&
		       rt_model_gpu_kv_sync(d->m, &block, 1, true) == 0;	/* up to VRAM */
	}
	close(fd);
	/* truncated or corrupt: never used, and gone so a sound copy can replace it */
	if (!good)
		unlink(path);
	return good;
}

int rt_kvdisk_load(struct rt_kvdisk *d, int seq, const uint64_t *h, int have, int max_blk)
{
	struct rt_kvcache *kv = d->m->kv;
	int b;

	for (b = have; b < max_blk; b++) {
		/* a block for position b's range (what it evicts saved first),
		 * then its bytes from the file */
		rt_kvdisk_evicting(d, 1);
		if (rt_kvcache_reserve(kv, seq, (b + 1) * (int)kv->block_tokens) < 0 ||
		    !load_one(d, kv->table[(size_t)seq * kv->max_blocks + b], h[b]))
			break;
	}
	return b;
}

/* the cached blocks an allocation of @n would evict, each to its file */
static int save(struct rt_kvdisk *d, uint32_t n)
{
	int found, ret = 0, wrote = 0;

	if (n > d->m->kv->n_blocks)
		n = d->m->kv->n_blocks;
	found = accel_kv_peek_evict(d->m->kv->pool, n, d->ids, d->hashes);
	if (found < 0)
		return found;
	for (int i = 0; i < found && ret >= 0; i++) {
		ret = store_one(d, d->ids[i], d->hashes[i]);
		wrote += ret > 0;
	}
	return ret < 0 ? ret : wrote;
}

int rt_kvdisk_evicting(struct rt_kvdisk *d, int n)
{
	return n > 0 ? save(d, (uint32_t)n) : 0;
}

int rt_kvdisk_flush(struct rt_kvdisk *d)
{
	return save(d, d->m->kv->n_blocks);
}

uint64_t rt_kvdisk_stored(const struct rt_kvdisk *d)
{
	return d ? d->n_stored : 0;
}
