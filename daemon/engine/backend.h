/* What a compute backend provides to the forward pass (daemon/engine/
 * forward.c): a handful of operations over rows of activations, the
 * weights as the file stores them, and a KV cache the backend owns. The
 * CPU backend (cpu.c) is the first; a GPU backend implements the same
 * table over device memory (it uploads a weight the first time it sees
 * it, and keeps activations and the cache on the device).
 *
 * Activations are row-major floats: nb rows (one per position of the
 * pass) of a layer's width. Every operation computes each row exactly as
 * it would alone, so results do not depend on how positions are batched. */
#ifndef AGENTD_ENGINE_BACKEND_H
#define AGENTD_ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A weight matrix as stored: n_out rows of n_in elements of type. */
struct backend_weight {
	const char *name;     /* the tensor's name (borrowed) */
	const uint8_t *data;  /* borrowed from the model's mapping */
	uint32_t type;        /* dtype id */
	uint32_t n_in, n_out; /* row length, rows */
	size_t row_bytes;     /* bytes per row */
};

/* One product of a matmul call: out (nb rows of w->n_out) = x W^T. */
struct backend_matmul {
	const struct backend_weight *w;
	float *out;
};

/* Attention for one layer over the paged cache: query row i belongs to a
 * sequence whose block table is tables[i] and sees its positions
 * 0..n_pos[i]-1 (causal: n_pos[i] is the row's position + 1). */
struct backend_attention {
	uint32_t layer;
	uint32_t nb;
	uint32_t n_head, n_head_kv, head_dim;
	float scale;                   /* 1/sqrt(head_dim) */
	const float *q;                /* nb rows of n_head*head_dim */
	const uint32_t *const *tables; /* nb block tables */
	const uint32_t *n_pos;         /* nb position counts */
	float *out;                    /* nb rows of n_head*head_dim */
};

/* KV cache geometry: a pool of n_blocks blocks of BACKEND_KV_BLOCK
 * positions (every layer's keys and values for those positions). */
#define BACKEND_KV_BLOCK 16u
struct backend_kv_shape {
	uint32_t n_layer, n_blocks, n_head_kv, head_dim;
	uint32_t n_head;        /* query heads (a multiple of n_head_kv) */
	uint32_t max_positions; /* most positions one sequence holds */
	uint32_t type;          /* DTYPE_F32 or DTYPE_F16 */
};

struct backend;

struct backend_ops {
	const char *name;
	/* Whether matrices of dtype can be multiplied (1-d tensors are read
	 * as floats by the forward pass). */
	bool (*supports)(struct backend *be, uint32_t dtype);
	/* Allocates the KV cache's pool; 0, -EINVAL or -ENOMEM. */
	int (*kv_alloc)(struct backend *be, const struct backend_kv_shape *shape);
	/* Every product of jobs[0..n_jobs) (all over the same x: nb rows of
	 * jobs[0].w->n_in), in one dispatch. */
	void (*matmul)(struct backend *be, const float *x, uint32_t nb, const struct backend_matmul *jobs,
		       unsigned n_jobs);
	/* Writes k and v rows (nb rows of n_head_kv*head_dim) into the cache
	 * of layer; row i goes to slot slots[i] (block * BACKEND_KV_BLOCK +
	 * position in the block). */
	void (*kv_store)(struct backend *be, uint32_t layer, uint32_t nb, const float *k, const float *v,
			 const uint32_t *slots);
	/* Copies the first n positions of block src, every layer's keys and
	 * values, to block dst (copy on write of a shared block). */
	void (*kv_copy)(struct backend *be, uint32_t dst, uint32_t src, uint32_t n);
	void (*attention)(struct backend *be, const struct backend_attention *a);
	/* g[i] = silu(g[i]) * u[i] over nb rows of n. */
	void (*swiglu)(struct backend *be, float *g, const float *u, uint32_t nb, uint32_t n);
	void (*free)(struct backend *be);
};

struct backend {
	const struct backend_ops *ops;
};

/* The CPU backend with threads compute threads and the kernel set level
 * (an enum kernels_level the CPU runs). Returns 0 with *out, or a negative
 * errno. */
int cpu_backend_new(unsigned threads, int level, struct backend **out);
/* Its thread count. */
unsigned cpu_backend_threads(const struct backend *be);

#endif
