/* SPDX-License-Identifier: MIT */
/*
 * Layer streaming under a memory budget. Placement splits the model into
 * units (each layer, and the output head) and decides from the budget which
 * stay resident and how many ring slots the others stream through; the
 * streamer reads a unit's aligned file range into its slot with the COPY
 * engine (io_uring, O_DIRECT) while the COMPUTE engine works on the unit
 * before it, the two ordered by fences only (the host never waits between
 * layers).
 */
#ifndef RT_STREAM_H
#define RT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

/**
 * struct rt_placement - what placement decided
 * @budget: the pinned-bytes cap for weights
 * @n_units: n_layer + 1 (the output head is the last unit)
 * @resident: per unit, true when it stays in memory
 * @unit_bytes: per unit, bytes of its 4 KiB-aligned file span
 * @n_slots: ring slots for streamed units (0 when everything is resident)
 * @slot_bytes: bytes per slot (the largest streamed unit)
 * @resident_bytes: bytes of resident units and small global tensors
 * @embed_resident: token_embd kept in memory (else its rows are read per token)
 * @embed_bytes: staging bytes for on-demand embedding rows
 * @min_budget: the smallest budget that can run this model (two slots)
 * @streamed_bytes_per_pass: bytes read per pass for the units' base (experts
 *	not counted: those depend on routing)
 * @unit_stream_bytes: per unit, bytes a streamed use reads: the whole span,
 *	or for a MoE layer its non-expert tensors (experts stream by expert)
 * @n_expert_entries: entries of the LRU expert cache (MoE streaming)
 * @expert_entry_bytes: bytes of one entry (one expert's gate, up, down)
 */
struct rt_placement {
	uint64_t budget;
	int n_units;
	bool *resident;
	uint64_t *unit_bytes;
	uint64_t *unit_stream_bytes;
	int n_expert_entries;
	uint64_t expert_entry_bytes;
	int n_slots;
	uint64_t slot_bytes;
	uint64_t resident_bytes;
	bool embed_resident;
	uint64_t embed_bytes;
	uint64_t min_budget;
	uint64_t streamed_bytes_per_pass;
};

/**
 * struct rt_stream_stats - counters since the model was loaded
 * @bytes_read: bytes streamed from the file
 * @loads: unit loads issued
 * @embed_tokens: tokens embedded from rows read on demand (the embedding
 *	not resident)
 * @embed_rows: rows those passes read: each distinct token of a pass once
 * @io_ns: time the COPY queue of unit loads was busy
 * @expert_io_ns: time the expert COPY queue was busy (MoE streaming); it runs
 *	concurrently with the unit loads, so the two are not added
 * @compute_ns: time the COMPUTE engine spent executing
 * @direct: loads went through O_DIRECT (false: buffered fallback)
 * @expert_hits, @expert_misses: MoE expert cache: routed experts found in
 *	it (read early by a prediction, or kept from an earlier use) and read
 *	after the routing (the COMPUTE engine waits for those)
 * @expert_predicted: (layer, expert) pairs predicted before their layer's
 *	routing ran, read early on a prefetch queue when not cached
 * @expert_pregated: of those, predicted by pre-gating: the layer before's
 *	normed hidden state routed through the layer's router (the next layer
 *	of one that streams); the others from the layer's previous routing
 * @expert_predict_hits: predictions the routing then chose
 * @expert_predict_missed: routed experts that were not predicted
 * @expert_prefetch_bytes: bytes read for predictions (included in @bytes_read)
 * @expert_wasted_bytes: prefetched bytes of predictions the routing did not
 *	choose, or evicted before their layer routed
 * @expert_cancelled_bytes: bytes of predictions dropped at the routing
 *	before they were read (not in @bytes_read)
 * @expert_pending: predictions whose layer has not routed yet (between
 *	passes: at most n_expert_used, the next pass's first streamed layer's,
 *	predicted at the end of the last one)
 * @expert_reserved: cache entries a miss could not take now (needed by the
 *	layer being computed, or holding a pending prediction): between passes
 *	at most @expert_pending
 * @expert_entries: entries of the cache
 * @expert_layers: MoE layer computations whose experts streamed
 * @expert_parts: the MOE_FFN commands those were split in: each group of
 *	experts computes once its own reads have landed, while later ones read
 * @expert_restored: dropped predictions whose entry went back to the
 *	expert they had evicted (none of their read had run)
 * @expert_useful_bytes: bytes of routed experts read by a prediction
 *	before their routing (closed windows of passes)
 * @expert_lost_bytes: bytes re-read of experts a prediction's read had
 *	evicted (closed windows of passes)
 * @expert_backoffs: windows whose lost bytes exceeded the useful ones,
 *	after which predictions went on without reads for a while
 * @expert_spec_off_passes: passes that predicted without reading
 */
struct rt_stream_stats {
	uint64_t bytes_read;
	uint64_t loads;
	uint64_t embed_tokens;
	uint64_t embed_rows;
	uint64_t io_ns;
	uint64_t expert_io_ns;
	uint64_t compute_ns;
	bool direct;
	uint64_t expert_hits;
	uint64_t expert_misses;
	uint64_t expert_predicted;
	uint64_t expert_pregated;
	uint64_t expert_predict_hits;
	uint64_t expert_predict_missed;
	uint64_t expert_prefetch_bytes;
	uint64_t expert_wasted_bytes;
	uint64_t expert_cancelled_bytes;
	int expert_pending;
	int expert_reserved;
	int expert_entries;
	uint64_t expert_layers;
	uint64_t expert_parts;
	uint64_t expert_restored;
	uint64_t expert_useful_bytes;
	uint64_t expert_lost_bytes;
	uint64_t expert_backoffs;
	uint64_t expert_spec_off_passes;
};

/**
 * struct rt_vram_stats - the VRAM tier (--vram-budget) and its counters
 * @budget: the VRAM bytes it was given (KV cache, activations, weights)
 * @n_units: units (layers, output head chunks) this model runs
 * @n_resident: of those, uploaded once and kept in VRAM
 * @resident_bytes: their bytes
 * @n_slots: VRAM slots the others cross PCIe into every pass (0: none)
 * @slot_bytes: bytes per slot
 * @streamed_bytes_per_pass: bytes uploaded per pass for the units
 * @uploaded_bytes, @uploads: host -> VRAM uploads since load (units,
 *	globals at setup, embedding rows)
 * @upload_ns: time the upload queue was busy
 * @expert_entries: entries of the VRAM expert cache (MoE layers streamed
 *	by expert; 0: none), in front of the host's
 * @expert_hits, @expert_misses: routed experts found in it / uploaded from
 *	the host's cache
 */
struct rt_vram_stats {
	uint64_t budget;
	int n_units, n_resident;
	uint64_t resident_bytes;
	int n_slots;
	uint64_t slot_bytes;
	uint64_t streamed_bytes_per_pass;
	uint64_t uploaded_bytes, uploads;
	uint64_t upload_ns;
	int expert_entries;
	uint64_t expert_hits, expert_misses;
};

struct rt_model;
/** rt_vram_stats - the VRAM tier of a --vram-budget model (-ENOENT: none) */
int rt_vram_stats(const struct rt_model *m, struct rt_vram_stats *st);
/** rt_placement_describe - where the weights went, as accel-run -v and
 *  accel-serve -v print it: @host the host tier (or the whole model in VRAM),
 *  @vram the VRAM tier or "" (no newline, no prefix); @mem_budget: one was
 *  given (an all-resident line says it fits) */
int rt_placement_describe(const struct rt_model *m, bool mem_budget, char *host, size_t host_len,
			  char *vram, size_t vram_len);
/** rt_stream_stats - counters and the placement of a streaming model
 *  (-ENOENT when everything is resident); @pl's arrays stay the model's */
int rt_stream_stats(const struct rt_model *m, struct rt_stream_stats *st, struct rt_placement *pl);
/** the COPY queue of embedding rows read on demand, or NULL where the
 *  embedding is resident or nothing streams (fault injection in tests) */
struct accel_queue;
struct accel_queue *rt_stream_embed_queue(const struct rt_model *m);

#endif /* RT_STREAM_H */
