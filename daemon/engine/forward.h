/* The forward pass over a batch of rows from any number of sequences of
 * one paged KV cache (forward.c). The serving scheduler (serve.c) and
 * engine_ctx are its callers. */
#ifndef AGENTD_ENGINE_FORWARD_H
#define AGENTD_ENGINE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"

struct forward;

struct forward_options {
	uint32_t max_rows;           /* most rows one pass takes */
	uint32_t max_positions;      /* most positions one sequence holds */
	uint32_t n_blocks;           /* blocks of the KV pool (16 positions each) */
	unsigned threads;            /* compute threads, the caller's included; 0: the CPUs */
	enum engine_kv_type kv_type; /* the cache's element type */
};

/* Prepares m's weights for the backend (m is borrowed and must outlive
 * the result), starts the compute threads and allocates the KV pool and
 * the scratch space. Returns 0 with *out (free with forward_free), or a
 * negative errno with a message in err: -EINVAL (options), -ENOTSUP (a
 * tensor type the backend cannot compute), -ENOMEM. */
int forward_new(const engine_model *m, const struct forward_options *o, struct forward **out, char *err, size_t errlen);
void forward_free(struct forward *f);
unsigned forward_threads(const struct forward *f);

/* One row of a pass: token id at position pos of the sequence whose block
 * table is blocks (borrowed; an entry for every block up to pos). */
struct forward_row {
	engine_token id; /* checked by the caller: < n_vocab */
	uint32_t pos;
	const uint32_t *blocks;
};

/* Computes rows[0..nb) (nb <= max_rows; a sequence's rows in position
 * order), writing their keys and values into the cache first, so each row
 * attends to its sequence's positions 0..pos. logits receives n_vocab
 * floats for each of logit_rows[0..n_logits), in that order. A row's
 * results do not depend on the other rows of the pass. */
void forward_batch(struct forward *f, const struct forward_row *rows, uint32_t nb, const uint32_t *logit_rows,
		   uint32_t n_logits, float *logits);

/* Copies the first n positions of block src to block dst. */
void forward_kv_copy(struct forward *f, uint32_t dst, uint32_t src, uint32_t n);

#endif
