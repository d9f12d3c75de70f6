/* ggml's tensor types: the table of block sizes that tells how many bytes a
 * tensor of a given shape occupies, for every type a GGUF file may hold. */
#include "daemon/engine/dtype.h"

#include <errno.h>
#include <stddef.h>

/* Block layouts (bytes) follow ggml's block structs: e.g. Q4_K is two f16
 * scales, 12 bytes of 6-bit sub-scales and 128 bytes of 4-bit quants per 256
 * weights. Gaps are retired ids (Q4_2, Q4_3, the interleaved Q4_0_x_y and
 * IQ4_NL_x_y repackings), which files must not contain. */
static const struct dtype_info dtype_table[DTYPE_ID_LIMIT] = {
	[DTYPE_F32] = {"f32", 1, 4},
	[DTYPE_F16] = {"f16", 1, 2},
	[DTYPE_Q4_0] = {"q4_0", 32, 18},
	[DTYPE_Q4_1] = {"q4_1", 32, 20},
	[DTYPE_Q5_0] = {"q5_0", 32, 22},
	[DTYPE_Q5_1] = {"q5_1", 32, 24},
	[DTYPE_Q8_0] = {"q8_0", 32, 34},
	[DTYPE_Q8_1] = {"q8_1", 32, 36},
	[DTYPE_Q2_K] = {"q2_K", 256, 84},
	[DTYPE_Q3_K] = {"q3_K", 256, 110},
	[DTYPE_Q4_K] = {"q4_K", 256, 144},
	[DTYPE_Q5_K] = {"q5_K", 256, 176},
	[DTYPE_Q6_K] = {"q6_K", 256, 210},
	[DTYPE_Q8_K] = {"q8_K", 256, 292},
	[DTYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
	[DTYPE_IQ2_XS] = {"iq2_xs", 256, 74},
	[DTYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
	[DTYPE_IQ1_S] = {"iq1_s", 256, 50},
	[DTYPE_IQ4_NL] = {"iq4_nl", 32, 18},
	[DTYPE_IQ3_S] = {"iq3_s", 256, 110},
	[DTYPE_IQ2_S] = {"iq2_s", 256, 82},
	[DTYPE_IQ4_XS] = {"iq4_xs", 256, 136},
	[DTYPE_I8] = {"i8", 1, 1},
	[DTYPE_I16] = {"i16", 1, 2},
	[DTYPE_I32] = {"i32", 1, 4},
	[DTYPE_I64] = {"i64", 1, 8},
	[DTYPE_F64] = {"f64", 1, 8},
	[DTYPE_IQ1_M] = {"iq1_m", 256, 56},
	[DTYPE_BF16] = {"bf16", 1, 2},
	[DTYPE_TQ1_0] = {"tq1_0", 256, 54},
	[DTYPE_TQ2_0] = {"tq2_0", 256, 66},
	[DTYPE_MXFP4] = {"mxfp4", 32, 17},
};

const struct dtype_info *dtype_get(uint32_t id)
{
	if (id >= DTYPE_ID_LIMIT || !dtype_table[id].name)
		return NULL;
	return &dtype_table[id];
}

int dtype_row_bytes(uint32_t id, uint64_t n, uint64_t *bytes)
{
	const struct dtype_info *t = dtype_get(id);
	if (!t || n % t->block_elems != 0)
		return -EINVAL;
	uint64_t blocks = n / t->block_elems;
	if (blocks > UINT64_MAX / t->block_bytes)
		return -EOVERFLOW;
	*bytes = blocks * t->block_bytes;
	return 0;
}
