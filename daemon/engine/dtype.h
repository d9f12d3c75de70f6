/* The tensor element types of GGUF files (ggml's type ids): names, block
 * sizes and bytes per block. Every id that ggml has assigned is known, so a
 * file of any quantization is read and described correctly; ids that were
 * retired or never assigned are refused. */
#ifndef AGENTD_ENGINE_DTYPE_H
#define AGENTD_ENGINE_DTYPE_H

#include <stdbool.h>
#include <stdint.h>

enum dtype_id {
	DTYPE_F32 = 0,
	DTYPE_F16 = 1,
	DTYPE_Q4_0 = 2,
	DTYPE_Q4_1 = 3,
	DTYPE_Q5_0 = 6,
	DTYPE_Q5_1 = 7,
	DTYPE_Q8_0 = 8,
	DTYPE_Q8_1 = 9,
	DTYPE_Q2_K = 10,
	DTYPE_Q3_K = 11,
	DTYPE_Q4_K = 12,
	DTYPE_Q5_K = 13,
	DTYPE_Q6_K = 14,
	DTYPE_Q8_K = 15,
	DTYPE_IQ2_XXS = 16,
	DTYPE_IQ2_XS = 17,
	DTYPE_IQ3_XXS = 18,
	DTYPE_IQ1_S = 19,
	DTYPE_IQ4_NL = 20,
	DTYPE_IQ3_S = 21,
	DTYPE_IQ2_S = 22,
	DTYPE_IQ4_XS = 23,
	DTYPE_I8 = 24,
	DTYPE_I16 = 25,
	DTYPE_I32 = 26,
	DTYPE_I64 = 27,
	DTYPE_F64 = 28,
	DTYPE_IQ1_M = 29,
	DTYPE_BF16 = 30,
	DTYPE_TQ1_0 = 34,
	DTYPE_TQ2_0 = 35,
	DTYPE_MXFP4 = 39,
	DTYPE_ID_LIMIT = 40, /* one past the largest id known */
};

struct dtype_info {
	const char *name;     /* lower-case, as llama.cpp prints it ("q4_K") */
	uint32_t block_elems; /* elements per block (1 for plain types) */
	uint32_t block_bytes; /* bytes per block */
};

/* The description of type id (static storage), or NULL when the id is not
 * a type (retired or never assigned). */
const struct dtype_info *dtype_get(uint32_t id);
/* Bytes of a row of n elements of type id into *bytes; -EINVAL when id is
 * unknown or n is not a whole number of blocks, -EOVERFLOW when too big. */
int dtype_row_bytes(uint32_t id, uint64_t n, uint64_t *bytes);

#endif
