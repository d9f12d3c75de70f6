/* The CPU's arithmetic on weights: for each weight type, how activations
 * are prepared for it and the matrix product of a range of weight rows
 * with up to KERNELS_MAX_ROWS activation rows; plus the conversions and
 * dot products attention needs. Every kernel comes as an AVX2/FMA/F16C
 * version and an AVX-512/VNNI one, chosen by what the CPU has, and a
 * portable one.
 *
 * Results never depend on how many rows are computed together: each
 * output is accumulated in the same order, one SIMD accumulator per
 * output over the elements in order, summed across lanes the same way,
 * whichever tile it is part of. The serving code batches requests and
 * relies on that. */
#ifndef AGENTD_ENGINE_KERNELS_H
#define AGENTD_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Activation rows a matmul call takes at once. */
#define KERNELS_MAX_ROWS 4

/* out[r * out_stride + (j - j0)] = dot(weight row j, activation row r) for
 * r < nr and j0 <= j < j1. w is the matrix (rows of w_row_bytes), act the
 * prepared activation rows (act_row_bytes apart), n the row length in
 * elements. */
typedef void (*kernels_matmul_fn)(const uint8_t *w, size_t w_row_bytes, const uint8_t *act, size_t act_row_bytes,
				  uint32_t n, uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t out_stride);

struct kernels_type {
	uint32_t type;   /* dtype id of the weights */
	bool act_is_f32; /* activations are used as they are (f32 rows) */
	/* Bytes of a prepared activation row of n elements. */
	size_t (*act_row_bytes)(uint32_t n);
	/* Prepares n activations (e.g. quantizes them to int8 blocks). */
	void (*act_prepare)(const float *x, uint32_t n, void *out);
	kernels_matmul_fn matmul;
};

/* Positions per block of the paged KV cache. */
#define KERNELS_KV_BLOCK 16u

/* Where one sequence's keys and values of one KV head lie in a paged
 * cache: position j is in block blocks[j / KERNELS_KV_BLOCK], at
 * k (or v) + block * block_bytes + (j % KERNELS_KV_BLOCK) * stride. */
struct kernels_kv_pages {
	const uint8_t *k, *v;   /* the head's elements in block 0 */
	const uint32_t *blocks; /* block ids in position order */
	size_t block_bytes;     /* bytes from one block to the next */
	size_t stride;          /* bytes from one position to the next in a block */
};

/* The operations on KV-cache rows (f32 or f16 elements). */
struct kernels_kv {
	uint32_t type; /* DTYPE_F32 or DTYPE_F16 */
	size_t elem_bytes;
	void (*store)(void *dst, const float *src, uint32_t n);
	/* Causal attention of g query heads that share one KV head, over
	 * positions 0..n-1 of kv: q holds the g heads' queries (g*d floats);
	 * out gets g*d floats. Each head's scores are q.k * scale, softmaxed,
	 * and the values summed in position order. scratch holds g*(n+1)
	 * floats. */
	void (*attend)(const float *q, uint32_t g, uint32_t d, const struct kernels_kv_pages *kv, uint32_t n,
		       float scale, float *scratch, float *out);
};

/* The kernel sets, each needing more of the CPU than the one before. */
enum kernels_level {
	KERNELS_PORTABLE = 0, /* plain C */
	KERNELS_AVX2 = 1,     /* AVX2, FMA, F16C */
	KERNELS_AVX512 = 2,   /* and AVX-512 F/BW/DQ/VL with VNNI */
};

/* The best set this CPU runs. */
enum kernels_level kernels_detect(void);
/* "portable", "avx2" or "avx512" (static storage). */
const char *kernels_level_name(enum kernels_level level);
/* Parses a name of kernels_level_name; -EINVAL otherwise. */
int kernels_level_parse(const char *name, enum kernels_level *out);
/* The kernels of a set for weights of type dtype, or NULL when the CPU
 * backend cannot compute that type. Static storage. */
const struct kernels_type *kernels_for_type(uint32_t dtype, enum kernels_level level);
/* The KV-cache operations for DTYPE_F32 or DTYPE_F16 (else NULL). */
const struct kernels_kv *kernels_for_kv(uint32_t dtype, enum kernels_level level);
/* Converts n elements of a row of type dtype (one the kernels support) to
 * floats, exactly. */
void kernels_dequantize_row(uint32_t dtype, const void *src, float *dst, uint32_t n);
/* IEEE half <-> float, round to nearest even (exact one way). */
float kernels_f16_to_f32(uint16_t h);
uint16_t kernels_f32_to_f16(float f);

#endif
