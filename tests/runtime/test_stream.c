// SPDX-License-Identifier: MIT
/*
 * Layer streaming: with budgets that force every layer (and the output head)
 * to stream, and with budgets that keep some resident, greedy ids and logits
 * are bit-identical to the resident run; the page cache is not filled by the
 * streamed reads (mincore, on a private copy of the model that no other
 * process reads and that this process owns, so its cache can be dropped
 * whatever prove -j runs beside it and whoever owns the original); a budget below two slots is refused with the
 * minimum; an injected I/O fault ends the run with an error, no hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_stream.h"
#include "rt_budget.h"
#include "tap.h"

#define N_GEN 12

static const int32_t prompt[] = { 1, 403, 407, 261, 378 };
#define N_PROMPT ((int)(sizeof(prompt) / sizeof(prompt[0])))

struct run {
	int32_t ids[N_GEN];
	float *logits;		/* [N_GEN][n_vocab]: the logits each id was taken from */
	int n_vocab;
};

static int greedy(struct rt_model *m, struct run *r)
{
	struct rt_session s;
	const float *lg;
	int ret;

	r->n_vocab = rt_model_hparams(m)->n_vocab;
	r->logits = malloc(sizeof(float) * N_GEN * r->n_vocab);
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed(&s, prompt, N_PROMPT, &lg);
	for (int i = 0; i < N_GEN && ret >= 0; i++) {
		memcpy(r->logits + (size_t)i * r->n_vocab, lg, sizeof(float) * r->n_vocab);
		r->ids[i] = rt_argmax(lg, r->n_vocab);
		if (i + 1 < N_GEN)
			ret = rt_session_feed(&s, &r->ids[i], 1, &lg);
	}
	rt_session_fini(&s);
	return ret < 0 ? ret : 0;
}

/* fraction of the file's tensor-data pages in the page cache */
static double cached_fraction(const char *path, uint64_t from)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	unsigned char *vec;
	void *p;
	size_t pages, first = from / 4096, n = 0;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return -1;
	pages = (sb.st_size + 4095) / 4096;
	p = mmap(NULL, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	vec = malloc(pages);
	if (p == MAP_FAILED || mincore(p, sb.st_size, vec) < 0) {
		close(fd);
		free(vec);
		return -1;
	}
	for (size_t i = first; i < pages; i++)
		n += vec[i] & 1;
	munmap(p, sb.st_size);
	free(vec);
	close(fd);
	return pages > first ? (double)n / (pages - first) : 0;
}

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/*
 * private_copy - copy @src into a new directory under $ACCEL_BUILD (the
 * build's filesystem, where O_DIRECT works; /tmp may be tmpfs) or /tmp;
 * @dst gets the copy's path. Returns 0 or -1.
 */
static int private_copy(const char *src, char *dst, size_t len)
{
	const char *b = getenv("ACCEL_BUILD");
	char dir[4096];
	size_t size;
	void *buf;
	int fd, ret = -1;

	snprintf(dir, sizeof(dir), "%s/test_stream.XXXXXX", b && *b ? b : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(dst, len, "%s/model.gguf", dir);
	buf = tap_slurp(src, &size);
	fd = buf ? open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600) : -1;
	if (fd >= 0) {
		ret = write(fd, buf, size) == (ssize_t)size && fsync(fd) == 0 ? 0 : -1;
		close(fd);
	}
	free(buf);
	if (ret) {
		unlink(dst);
		rmdir(dir);
	}
	return ret;
}

static void remove_copy(const char *path)
{
	char dir[4200];

	unlink(path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

static void check_model_file(const char *rel, const char *path);

static void check_model(const char *rel)
{
	char path[4200];

	if (private_copy(tap_path(rel), path, sizeof(path))) {
		ok(0, "%s: a private copy for the page-cache check", rel);
		return;
	}
	check_model_file(rel, path);
	remove_copy(path);
}

static void check_model_file(const char *rel, const char *path)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 2 };
	struct rt_model *m = NULL;
	struct rt_placement pl;
	struct rt_stream_stats st;
	struct run ref, got;
	uint64_t minb;
	int same_ids, same_logits, ret, n_streamed = 0;
	uint64_t smallest = 0;

	if (!ok(rt_model_load(path, &mo, &m) == 0, "%s: resident load", rel)) {
		diag("%s", rt_last_error());
		return;
	}
	ok(greedy(m, &ref) == 0, "%s: resident greedy run", rel);
	rt_model_free(m);

	minb = rt_test_min_budget(path, &mo);
	if (!ok(minb > 0, "%s: a streaming budget exists (min %llu KiB)", rel,
		(unsigned long long)(minb >> 10)))
		return;
	/* below the minimum: one clear error naming it */
	mo.mem_budget = minb - (16 << 10);
	ret = rt_model_load(path, &mo, &m);
	ok(ret == -ENOMEM && strstr(rt_last_error(), "at least"),
	   "%s: budget below two slots refused: %s", rel, rt_last_error());

	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: minimum (all stream); pass 1: some layers resident too */
		mo.mem_budget = pass == 0 ? minb : minb + smallest;
		if (!ok(rt_model_load(path, &mo, &m) == 0, "%s: load with budget %llu KiB", rel,
			(unsigned long long)(mo.mem_budget >> 10)))
			return;
		ret = rt_stream_stats(m, &st, &pl);
		if (ret == -ENOENT && pass == 1) {
			/* tiny MoE files: two slots and a batch's experts already hold it all */
			skip(8, "%s: no budget between the streaming minimum and the whole model",
			     rel);
			rt_model_free(m);
			continue;
		}
		if (ret == 0)
			for (int u = 0; u < pl.n_units; u++) {
				n_streamed += !pl.resident[u];
				if (!smallest || pl.unit_bytes[u] < smallest)
					smallest = pl.unit_bytes[u];
			}
		ok(ret == 0 && (pass == 1 ? n_streamed < pl.n_units : n_streamed == pl.n_units),
		   "%s: %d of %d units stream through %d slots", rel, n_streamed, ret ? 0 : pl.n_units,
		   ret ? 0 : pl.n_slots);
		n_streamed = 0;
		/* only the generation's reads count: loading parsed the header */
		drop_cache(path);
		ok(greedy(m, &got) == 0, "%s: streamed greedy run", rel);
		same_ids = !memcmp(ref.ids, got.ids, sizeof(ref.ids));
		same_logits = !memcmp(ref.logits, got.logits, sizeof(float) * N_GEN * ref.n_vocab);
		ok(same_ids, "%s: streamed ids identical to resident", rel);
		ok(same_logits, "%s: streamed logits bit-identical to resident", rel);
		rt_stream_stats(m, &st, NULL);
		ok(st.bytes_read > 0 && st.loads > 0, "%s: %llu loads, %llu bytes streamed", rel,
		   (unsigned long long)st.loads, (unsigned long long)st.bytes_read);
		if (rt_model_hparams(m)->n_expert && pass == 0)
			ok(st.expert_misses > 0 && st.expert_hits + st.expert_misses >= (uint64_t)N_GEN,
			   "%s: experts stream by expert: %llu hits, %llu misses", rel,
			   (unsigned long long)st.expert_hits, (unsigned long long)st.expert_misses);
		/* the misses read while the experts already there compute: the
		 * bit-identical logits above came from MOE_FFN by parts */
		if (rt_model_hparams(m)->n_expert && pass == 0)
			ok(st.expert_parts > st.expert_layers,
			   "%s: experts compute by parts as their reads land: %llu parts in %llu "
			   "layers", rel, (unsigned long long)st.expert_parts,
			   (unsigned long long)st.expert_layers);
		if (st.direct) {
			double f = cached_fraction(path, rt_gguf_data_offset(rt_model_gguf(m)));

			ok(f >= 0 && f < 0.05, "%s: page cache holds %.1f%% of the tensor data after "
			   "streaming", rel, f * 100);
		} else {
			skip(1, "O_DIRECT refused on this filesystem: buffered fallback");
		}
		rt_model_free(m);
		free(got.logits);
	}

	/* an I/O fault in the middle of a run: an error, no hang, no leak */
	mo.mem_budget = minb;
	if (rt_model_load(path, &mo, &m) == 0) {
		struct rt_session s;
		const float *lg;

		rt_session_init(&s, m, 0);
		accel_queue_inject_fault(rt_model_copy_queue(m), 3, -EIO);
		ret = rt_session_feed(&s, prompt, N_PROMPT, &lg);
		for (int i = 0; i < 4 && ret >= 0; i++)
			ret = rt_session_feed(&s, &prompt[1], 1, &lg);
		ok(ret == -EIO, "%s: injected EIO ends the run: %s", rel, rt_last_error());
		rt_session_fini(&s);
		rt_model_free(m);
	}
	free(ref.logits);
}

/* an output head streamed in row chunks (as Llama 3's 128K vocab is) */
static void check_chunked_head(const char *rel)
{
	const char *path = tap_path(rel);
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 2, .head_chunks = 3 };
	struct rt_model *m;
	struct rt_placement pl;
	struct run ref, got;
	uint64_t minb;

	if (rt_model_load(path, &mo, &m))
		return;
	greedy(m, &ref);
	rt_model_free(m);
	minb = rt_test_min_budget(path, &mo);
	mo.mem_budget = minb;
	if (!ok(minb && rt_model_load(path, &mo, &m) == 0, "%s: load with a 3-chunk head", rel))
		return;
	ok(rt_stream_stats(m, NULL, &pl) == 0 && pl.n_units == rt_model_hparams(m)->n_layer + 3 &&
	   !pl.resident[pl.n_units - 1], "%s: the head streams as 3 units", rel);
	ok(greedy(m, &got) == 0 && !memcmp(ref.ids, got.ids, sizeof(ref.ids)) &&
	   !memcmp(ref.logits, got.logits, sizeof(float) * N_GEN * ref.n_vocab),
	   "%s: chunked head: ids and logits bit-identical to resident", rel);
	rt_model_free(m);
	/* several rows of logits at once go through the chunk-major buffer */
	mo.n_batch = 8;
	mo.mem_budget = 0;
	if (rt_model_load(path, &mo, &m) == 0) {
		float *all = malloc(sizeof(float) * rt_model_hparams(m)->n_vocab * N_PROMPT);
		float *all2 = malloc(sizeof(float) * rt_model_hparams(m)->n_vocab * N_PROMPT);
		struct rt_session s;

		rt_session_init(&s, m, 0);
		rt_session_feed_all_logits(&s, prompt, N_PROMPT, all);
		rt_session_fini(&s);
		rt_model_free(m);
		mo.mem_budget = rt_test_min_budget(path, &mo);
		if (rt_model_load(path, &mo, &m) == 0) {
			rt_session_init(&s, m, 0);
			ok(rt_session_feed_all_logits(&s, prompt, N_PROMPT, all2) == 0 &&
			   !memcmp(all, all2, sizeof(float) * rt_model_hparams(m)->n_vocab * N_PROMPT),
			   "%s: %d rows of logits through a chunked head are identical", rel, N_PROMPT);
			rt_session_fini(&s);
			rt_model_free(m);
		}
		free(all);
		free(all2);
	}
	free(ref.logits);
	free(got.logits);
}

/*
 * Placement over budgets from the streaming minimum up: it never leaves a
 * slot's or an expert entry's worth of the budget unused (slots are sized
 * for the units that stream, not for a largest unit that went resident),
 * stays within the budget, and never keeps a MoE layer resident while an
 * output head no larger than it streams (a head saves all its bytes every
 * pass, a MoE layer a token's experts of them).
 */
static void check_placement(const char *rel)
{
	const char *path = tap_path(rel);
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 2 };
	uint64_t minb = rt_test_min_budget(path, &mo);
	int plans = 0, bad = 0;
	char why[200] = "";

	/* 16 KiB steps up to the budget that holds it all */
	for (uint64_t b = minb; minb && b < minb + (64ULL << 20); b += 16 << 10) {
		struct rt_placement pl;
		struct rt_model *m;
		uint64_t used, left, slot = 0;
		int head, n_layer, cap;
		bool moe;

		mo.mem_budget = b;
		if (rt_model_load(path, &mo, &m))
			break;
		if (rt_stream_stats(m, NULL, &pl) < 0) {	/* all of it fits */
			rt_model_free(m);
			break;
		}
		plans++;
		n_layer = rt_model_hparams(m)->n_layer;
		moe = rt_model_hparams(m)->n_expert > 0;
		cap = n_layer * rt_model_hparams(m)->n_expert;
		head = pl.n_units - 1;
		for (int u = 0; u < pl.n_units; u++)
			if (!pl.resident[u] && pl.unit_stream_bytes[u] > slot)
				slot = pl.unit_stream_bytes[u];
		used = pl.resident_bytes + pl.n_slots * pl.slot_bytes + pl.embed_bytes +
		       (uint64_t)pl.n_expert_entries * pl.expert_entry_bytes;
		left = b - used;
		if (used > b || pl.slot_bytes != slot ||
		    (pl.n_slots == 2 && left >= pl.slot_bytes) ||
		    (pl.n_expert_entries < cap && left >= pl.expert_entry_bytes)) {
			bad++;
			snprintf(why, sizeof(why), "budget %llu: %llu used, %d slots of %llu (%llu "
				 "streamed), %d entries of %llu", (unsigned long long)b,
				 (unsigned long long)used, pl.n_slots, (unsigned long long)pl.slot_bytes,
				 (unsigned long long)slot, pl.n_expert_entries,
				 (unsigned long long)pl.expert_entry_bytes);
		}
		for (int u = 0; moe && u < n_layer; u++)
			if (pl.resident[u] && !pl.resident[head] &&
			    pl.unit_bytes[u] >= pl.unit_bytes[head]) {
				bad++;
				snprintf(why, sizeof(why), "budget %llu: layer %d resident, head streams",
					 (unsigned long long)b, u);
			}
		rt_model_free(m);
	}
	ok(plans > 0 && !bad, "%s: %d placements use the budget (%s)", rel, plans,
	   plans ? why : rt_last_error());
}

int main(void)
{
	/* the count is fixed by the committed models: an early return shows */
	plan(105 + 4);
	check_placement("tests/models/stories260K.gguf");
	check_placement("tests/models/random/small-random-q4_0.gguf");
	check_placement("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf");
	check_placement("tests/models/random/tiny-qwen3moe-random-q8_0.gguf");
	check_chunked_head("tests/models/random/tiny-llama-random-dense-f32.gguf");
	check_model("tests/models/stories260K.gguf");
	check_model("tests/models/random/tiny-llama-random-dense-f32.gguf");
	check_model("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf");
	check_model("tests/models/random/tiny-qwen3-random-f32.gguf");
	check_model("tests/models/random/tiny-qwen3moe-random-q8_0.gguf");
	return done_testing();
}
