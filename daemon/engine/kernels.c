/* Matmul and KV kernels for F32, F16, BF16 and Q8_0 weights, portable and
 * AVX2. A tile computes NR activation rows against NW weight rows with one
 * accumulator per output, stepping through the elements in order, so a
 * given output gets the same arithmetic in every tile shape: tiles only
 * decide how often a loaded weight vector is reused. Quantized types use
 * int8 dot products against activations quantized per block of 32. */
#include "daemon/engine/kernels.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "daemon/engine/dtype.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KERNELS_X86 1
#else
#define KERNELS_X86 0
#endif

/* How far ahead of each weight row the kernels prefetch, in bytes, and
 * into which cache (measured: T0 at 384 bytes beat 1-2 KiB and T1/NTA). */
#define KERNELS_PF_DIST 384
#define KERNELS_PF_HINT _MM_HINT_T0
#define QK8_0 32
/* A weight block as GGUF stores it: an f16 scale then 32 int8 values. */
#define Q8_0_BLOCK_BYTES 34
/* An activation block: a float scale then 32 int8 values. */
struct kernels_q8_act {
	float d;
	int8_t q[QK8_0];
};

/* ---- conversions ---- */

float kernels_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
	if (exp == 0) {
		if (mant == 0) {
			bits = sign;
		} else {
			/* Subnormal: normalise. */
			exp = 127 - 15 + 1;
			while (!(mant & 0x400)) {
				mant <<= 1;
				exp--;
			}
			bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
		}
	} else if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (mant << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

uint16_t kernels_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof(x));
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t abs = x & 0x7fffffffu;
	if (abs >= 0x7f800000u) /* inf or NaN */
		return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);
	if (abs >= 0x477ff000u) /* rounds to beyond the largest half */
		return sign | 0x7c00;
	if (abs < 0x38800000u) {
		/* Subnormal half (or zero): scale into an integer and round. */
		float a;
		memcpy(&a, &abs, sizeof(a));
		return sign | (uint16_t)lrintf(a * 16777216.0f); /* 2^24 */
	}
	/* Normal: round the 13 dropped bits to nearest even. */
	uint32_t mant = abs + 0xfffu + ((abs >> 13) & 1);
	return sign | (uint16_t)((mant - 0x38000000u) >> 13);
}

static float kernels_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static uint16_t kernels_load_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

void kernels_dequantize_row(uint32_t dtype, const void *src, float *dst, uint32_t n)
{
	const uint8_t *s = src;
	switch (dtype) {
	case DTYPE_F32: memcpy(dst, s, (size_t)n * sizeof(float)); break;
	case DTYPE_F16:
		for (uint32_t i = 0; i < n; i++)
			dst[i] = kernels_f16_to_f32(kernels_load_u16(s + 2 * i));
		break;
	case DTYPE_BF16:
		for (uint32_t i = 0; i < n; i++)
			dst[i] = kernels_bf16_to_f32(kernels_load_u16(s + 2 * i));
		break;
	case DTYPE_Q8_0:
		for (uint32_t b = 0; b < n / QK8_0; b++) {
			const uint8_t *blk = s + (size_t)b * Q8_0_BLOCK_BYTES;
			float d = kernels_f16_to_f32(kernels_load_u16(blk));
			for (int i = 0; i < QK8_0; i++)
				dst[b * QK8_0 + i] = d * (float)(int8_t)blk[2 + i];
		}
		break;
	default: memset(dst, 0, (size_t)n * sizeof(float)); break;
	}
}

/* ---- activations ---- */

static size_t kernels_f32_act_bytes(uint32_t n)
{
	return (size_t)n * sizeof(float);
}

static void kernels_f32_act_prepare(const float *x, uint32_t n, void *out)
{
	memcpy(out, x, (size_t)n * sizeof(float));
}

static size_t kernels_q8_act_bytes(uint32_t n)
{
	return (size_t)(n / QK8_0) * sizeof(struct kernels_q8_act);
}

/* Each block of 32 gets the scale amax/127 and values rounded to it. */
static void kernels_q8_act_prepare(const float *x, uint32_t n, void *out)
{
	struct kernels_q8_act *blocks = out;
	for (uint32_t b = 0; b < n / QK8_0; b++) {
		const float *v = x + (size_t)b * QK8_0;
		float amax = 0;
		for (int i = 0; i < QK8_0; i++) {
			float a = fabsf(v[i]);
			amax = a > amax ? a : amax;
		}
		float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0;
		blocks[b].d = d;
		/* Rounded half away from zero; |v * id| <= 127. */
		for (int i = 0; i < QK8_0; i++) {
			float s = v[i] * id;
			blocks[b].q[i] = (int8_t)(s >= 0 ? (int)(s + 0.5f) : -(int)(0.5f - s));
		}
	}
}

/* ---- portable kernels: 8 lanes per accumulator, like the AVX2 ones ---- */

#define LANES 8

static float kernels_lanes_sum(const float *acc)
{
	/* The same pairing as the AVX2 horizontal sum. */
	float a[4], b[2];
	for (int i = 0; i < 4; i++)
		a[i] = acc[i] + acc[i + 4];
	b[0] = a[0] + a[2];
	b[1] = a[1] + a[3];
	return b[0] + b[1];
}

typedef float (*kernels_elem_fn)(const uint8_t *row, uint32_t i);

static float kernels_elem_f32(const uint8_t *row, uint32_t i)
{
	float f;
	memcpy(&f, row + 4 * (size_t)i, sizeof(f));
	return f;
}

static float kernels_elem_f16(const uint8_t *row, uint32_t i)
{
	return kernels_f16_to_f32(kernels_load_u16(row + 2 * (size_t)i));
}

static float kernels_elem_bf16(const uint8_t *row, uint32_t i)
{
	return kernels_bf16_to_f32(kernels_load_u16(row + 2 * (size_t)i));
}

static inline __attribute__((always_inline)) void kernels_float_matmul_portable(kernels_elem_fn elem, const uint8_t *w,
										size_t w_row_bytes, const uint8_t *act,
										size_t act_row_bytes, uint32_t n,
										uint32_t nr, uint32_t j0, uint32_t j1,
										float *out, size_t out_stride)
{
	uint32_t n8 = n - n % LANES;
	for (uint32_t j = j0; j < j1; j++) {
		const uint8_t *row = w + (size_t)j * w_row_bytes;
		for (uint32_t r = 0; r < nr; r++) {
			const float *x = (const float *)(act + (size_t)r * act_row_bytes);
			float acc[LANES] = {0};
			for (uint32_t k = 0; k < n8; k += LANES)
				for (int l = 0; l < LANES; l++)
					acc[l] += elem(row, k + (uint32_t)l) * x[k + (uint32_t)l];
			float s = kernels_lanes_sum(acc);
			for (uint32_t k = n8; k < n; k++)
				s += elem(row, k) * x[k];
			out[(size_t)r * out_stride + (j - j0)] = s;
		}
	}
}

static void kernels_f32_matmul_portable(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_portable(kernels_elem_f32, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

static void kernels_f16_matmul_portable(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_portable(kernels_elem_f16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

static void kernels_bf16_matmul_portable(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					 uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_portable(kernels_elem_bf16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

static void kernels_q8_matmul_portable(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
				       uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	uint32_t nb = n / QK8_0;
	for (uint32_t j = j0; j < j1; j++) {
		const uint8_t *row = w + (size_t)j * wrb;
		for (uint32_t r = 0; r < nr; r++) {
			const struct kernels_q8_act *a = (const struct kernels_q8_act *)(act + (size_t)r * arb);
			float acc[LANES] = {0};
			for (uint32_t b = 0; b < nb; b++) {
				const uint8_t *blk = row + (size_t)b * Q8_0_BLOCK_BYTES;
				float d = kernels_f16_to_f32(kernels_load_u16(blk)) * a[b].d;
				/* Lane l sums the products of elements 4l..4l+3, as
				 * the AVX2 kernel's 32-bit lanes do. */
				for (int l = 0; l < LANES; l++) {
					int32_t dot = 0;
					for (int i = 0; i < 4; i++)
						dot += (int32_t)(int8_t)blk[2 + 4 * l + i] * a[b].q[4 * l + i];
					acc[l] += d * (float)dot;
				}
			}
			out[(size_t)r * os + (j - j0)] = kernels_lanes_sum(acc);
		}
	}
}

static void kernels_kv_f32_store(void *dst, const float *src, uint32_t n)
{
	memcpy(dst, src, (size_t)n * sizeof(float));
}

static void kernels_kv_f16_store(void *dst, const float *src, uint32_t n)
{
	uint16_t *d = dst;
	for (uint32_t i = 0; i < n; i++)
		d[i] = kernels_f32_to_f16(src[i]);
}

/* Softmax of a head's scores in place (exponentials), returning their sum. */
static float kernels_softmax_exp(float *scores, uint32_t n)
{
	float max = -INFINITY;
	for (uint32_t j = 0; j < n; j++)
		max = scores[j] > max ? scores[j] : max;
	float sum = 0;
	for (uint32_t j = 0; j < n; j++) {
		scores[j] = expf(scores[j] - max);
		sum += scores[j];
	}
	return sum;
}

/* Position j's row in a paged cache (base is kv->k or kv->v). */
static inline const uint8_t *kernels_kv_at(const struct kernels_kv_pages *kv, const uint8_t *base, uint32_t j)
{
	return base + kv->blocks[j / KERNELS_KV_BLOCK] * kv->block_bytes + (j % KERNELS_KV_BLOCK) * kv->stride;
}

static inline __attribute__((always_inline)) void kernels_attend_portable(kernels_elem_fn elem, const float *q,
									  uint32_t g, uint32_t d,
									  const struct kernels_kv_pages *kv, uint32_t n,
									  float scale, float *scratch, float *out)
{
	uint32_t d8 = d - d % LANES;
	for (uint32_t t = 0; t < g; t++) {
		const float *qt = q + (size_t)t * d;
		for (uint32_t j = 0; j < n; j++) {
			const uint8_t *kr = kernels_kv_at(kv, kv->k, j);
			float acc[LANES] = {0};
			for (uint32_t i = 0; i < d8; i += LANES)
				for (int l = 0; l < LANES; l++)
					acc[l] += qt[i + (uint32_t)l] * elem(kr, i + (uint32_t)l);
			float s = kernels_lanes_sum(acc);
			for (uint32_t i = d8; i < d; i++)
				s += qt[i] * elem(kr, i);
			scratch[(size_t)t * n + j] = s * scale;
		}
		scratch[(size_t)g * n + t] = kernels_softmax_exp(scratch + (size_t)t * n, n);
	}
	memset(out, 0, (size_t)g * d * sizeof(float));
	for (uint32_t j = 0; j < n; j++) {
		const uint8_t *vr = kernels_kv_at(kv, kv->v, j);
		for (uint32_t t = 0; t < g; t++) {
			float e = scratch[(size_t)t * n + j];
			for (uint32_t i = 0; i < d; i++)
				out[(size_t)t * d + i] += e * elem(vr, i);
		}
	}
	for (uint32_t t = 0; t < g; t++) {
		float inv = 1.0f / scratch[(size_t)g * n + t];
		for (uint32_t i = 0; i < d; i++)
			out[(size_t)t * d + i] *= inv;
	}
}

static void kernels_kv_f32_attend(const float *q, uint32_t g, uint32_t d, const struct kernels_kv_pages *kv, uint32_t n,
				  float scale, float *scratch, float *out)
{
	kernels_attend_portable(kernels_elem_f32, q, g, d, kv, n, scale, scratch, out);
}

static void kernels_kv_f16_attend(const float *q, uint32_t g, uint32_t d, const struct kernels_kv_pages *kv, uint32_t n,
				  float scale, float *scratch, float *out)
{
	kernels_attend_portable(kernels_elem_f16, q, g, d, kv, n, scale, scratch, out);
}

/* ---- AVX2 ---- */

#if KERNELS_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

AVX2_INLINE float kernels_hsum(__m256 v)
{
	__m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	__m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
	b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
	return _mm_cvtss_f32(b);
}

enum kernels_float_kind { KF_F32, KF_F16, KF_BF16 };

AVX2_INLINE __m256 kernels_load8(enum kernels_float_kind kind, const uint8_t *row, uint32_t k)
{
	switch (kind) {
	case KF_F32: return _mm256_loadu_ps((const float *)(const void *)(row + 4 * (size_t)k));
	case KF_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * (size_t)k)));
	default: {
		__m256i h =
			_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * (size_t)k)));
		return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
	}
	}
}

AVX2_INLINE float kernels_elem(enum kernels_float_kind kind, const uint8_t *row, uint32_t k)
{
	switch (kind) {
	case KF_F32: return kernels_elem_f32(row, k);
	case KF_F16: return _cvtsh_ss(kernels_load_u16(row + 2 * (size_t)k));
	default: return kernels_elem_bf16(row, k);
	}
}

/* Round to nearest even (an immediate operand, so a macro). */
#define KERNELS_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* The AVX2 quantizer of activations: the same scale as the portable one,
 * values rounded to nearest even. */
AVX2 static void kernels_q8_act_prepare_avx2(const float *x, uint32_t n, void *out)
{
	struct kernels_q8_act *blocks = out;
	const __m256 sign = _mm256_set1_ps(-0.0f);
	for (uint32_t b = 0; b < n / QK8_0; b++) {
		const float *v = x + (size_t)b * QK8_0;
		__m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16),
		       v3 = _mm256_loadu_ps(v + 24);
		__m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
					 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
		__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_movehdup_ps(h));
		float amax = _mm_cvtss_f32(h);
		float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0;
		blocks[b].d = d;
		__m256 mul = _mm256_set1_ps(id);
		__m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), KERNELS_ROUND));
		__m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), KERNELS_ROUND));
		__m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), KERNELS_ROUND));
		__m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), KERNELS_ROUND));
		/* Packing works within 128-bit lanes; the permute puts the
		 * 32 values back in order. */
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
		p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		_mm256_storeu_si256((__m256i *)(void *)blocks[b].q, p);
	}
}

/* NR activation rows x NW weight rows. */
AVX2_INLINE void kernels_float_tile(enum kernels_float_kind kind, int NR, int NW, const uint8_t *w, size_t wrb,
				    const uint8_t *act, size_t arb, uint32_t n, float *out, size_t os)
{
	__m256 acc[KERNELS_MAX_ROWS][4];
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++)
			acc[r][c] = _mm256_setzero_ps();
	uint32_t n8 = n - n % 8;
	for (uint32_t k = 0; k < n8; k += 8) {
		__m256 wv[4];
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			/* Weight rows are parallel streams; fetch ahead of them. */
			_mm_prefetch((const char *)(w + (size_t)c * wrb) + (kind == KF_F32 ? 4 : 2) * (size_t)k +
					     KERNELS_PF_DIST,
				     KERNELS_PF_HINT);
			wv[c] = kernels_load8(kind, w + (size_t)c * wrb, k);
		}
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++) {
			__m256 xv = _mm256_loadu_ps((const float *)(const void *)(act + (size_t)r * arb) + k);
#pragma GCC unroll 4
			for (int c = 0; c < NW; c++)
				acc[r][c] = _mm256_fmadd_ps(wv[c], xv, acc[r][c]);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++) {
		const float *x = (const float *)(const void *)(act + (size_t)r * arb);
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			float s = kernels_hsum(acc[r][c]);
			for (uint32_t k = n8; k < n; k++)
				s += kernels_elem(kind, w + (size_t)c * wrb, k) * x[k];
			out[(size_t)r * os + (size_t)c] = s;
		}
	}
}

/* Walks the weight rows in tiles. For one activation row (generation,
 * bound by memory) the rows go one at a time: one sequential stream is
 * what the hardware prefetchers follow best (measured: twice the tokens/s
 * of four interleaved rows). For more rows, weights loaded once serve
 * several activation rows. */
AVX2_INLINE void kernels_float_matmul_avx2(enum kernels_float_kind kind, const uint8_t *w, size_t wrb,
					   const uint8_t *act, size_t arb, uint32_t n, uint32_t nr, uint32_t j0,
					   uint32_t j1, float *out, size_t os)
{
	uint32_t j = j0;
#define KERNELS_FLOAT_CASE(NR, NW)                                                                                     \
	for (; j + NW <= j1; j += NW)                                                                                  \
		kernels_float_tile(kind, NR, NW, w + (size_t)j * wrb, wrb, act, arb, n, out + (j - j0), os);           \
	for (; j < j1; j++)                                                                                            \
		kernels_float_tile(kind, NR, 1, w + (size_t)j * wrb, wrb, act, arb, n, out + (j - j0), os);
	switch (nr) {
	case 1: KERNELS_FLOAT_CASE(1, 1) break;
	case 2: KERNELS_FLOAT_CASE(2, 3) break;
	case 3: KERNELS_FLOAT_CASE(3, 3) break;
	default: KERNELS_FLOAT_CASE(4, 2) break;
	}
#undef KERNELS_FLOAT_CASE
}

AVX2 static void kernels_f32_matmul_avx2(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					 uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx2(KF_F32, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

AVX2 static void kernels_f16_matmul_avx2(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					 uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx2(KF_F16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

AVX2 static void kernels_bf16_matmul_avx2(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					  uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx2(KF_BF16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

/* Q8_0 x Q8_0: the int8 products of a block summed exactly (the sign
 * trick keeps maddubs from saturating: |w| * sign(a, w)), then scaled by
 * both block scales into the output's float accumulator. */
AVX2_INLINE void kernels_q8_tile(int NR, int NW, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb,
				 uint32_t nb, float *out, size_t os)
{
	__m256 acc[KERNELS_MAX_ROWS][4];
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++)
			acc[r][c] = _mm256_setzero_ps();
	const __m256i ones = _mm256_set1_epi16(1);
	for (uint32_t b = 0; b < nb; b++) {
		__m256i wq[4], wabs[4];
		float wd[4];
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			const uint8_t *blk = w + (size_t)c * wrb + (size_t)b * Q8_0_BLOCK_BYTES;
			/* The rows are read in parallel streams of 34-byte steps,
			 * which the hardware prefetchers follow poorly. */
			_mm_prefetch((const char *)blk + KERNELS_PF_DIST, KERNELS_PF_HINT);
			wd[c] = _cvtsh_ss(kernels_load_u16(blk));
			wq[c] = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 2));
			wabs[c] = _mm256_sign_epi8(wq[c], wq[c]);
		}
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++) {
			const struct kernels_q8_act *a =
				(const struct kernels_q8_act *)(const void *)(act + (size_t)r * arb) + b;
			__m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a->q);
#pragma GCC unroll 4
			for (int c = 0; c < NW; c++) {
				__m256i prod = _mm256_maddubs_epi16(wabs[c], _mm256_sign_epi8(aq, wq[c]));
				__m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(wd[c] * a->d), dot, acc[r][c]);
			}
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++)
			out[(size_t)r * os + (size_t)c] = kernels_hsum(acc[r][c]);
}

AVX2 static void kernels_q8_matmul_avx2(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	uint32_t nb = n / QK8_0, j = j0;
#define KERNELS_Q8_CASE(NR, NW)                                                                                        \
	for (; j + NW <= j1; j += NW)                                                                                  \
		kernels_q8_tile(NR, NW, w + (size_t)j * wrb, wrb, act, arb, nb, out + (j - j0), os);                   \
	for (; j < j1; j++)                                                                                            \
		kernels_q8_tile(NR, 1, w + (size_t)j * wrb, wrb, act, arb, nb, out + (j - j0), os);
	switch (nr) {
	case 1: KERNELS_Q8_CASE(1, 1) break;
	case 2: KERNELS_Q8_CASE(2, 2) break;
	case 3: KERNELS_Q8_CASE(3, 2) break;
	default: KERNELS_Q8_CASE(4, 2) break;
	}
#undef KERNELS_Q8_CASE
}

AVX2 static void kernels_kv_f16_store_avx2(void *dst, const float *src, uint32_t n)
{
	uint16_t *d = dst;
	uint32_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(void *)(d + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		d[i] = kernels_f32_to_f16(src[i]);
}

/* e^x for x <= 0, 8 at a time: x = n ln2 + r with |r| <= ln2/2, e^r by a
 * degree-6 polynomial (Cephes' expf coefficients), times 2^n built in the
 * exponent bits. Below -87 the result is 0. */
AVX2_INLINE __m256 kernels_exp_avx2(__m256 x)
{
	const __m256 lo = _mm256_set1_ps(-87.0f);
	__m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
	x = _mm256_max_ps(x, lo);
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), KERNELS_ROUND);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(pow2)));
}

/* kernels_softmax_exp with vectors: the maximum, the exponentials and
 * their sum (lanes, then across them, then the tail). */
AVX2_INLINE float kernels_softmax_exp_avx2(float *scores, uint32_t n)
{
	uint32_t n8 = n - n % 8;
	__m256 mv = _mm256_set1_ps(-INFINITY);
	for (uint32_t j = 0; j < n8; j += 8)
		mv = _mm256_max_ps(mv, _mm256_loadu_ps(scores + j));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_movehdup_ps(h));
	float max = _mm_cvtss_f32(h);
	for (uint32_t j = n8; j < n; j++)
		max = scores[j] > max ? scores[j] : max;
	__m256 maxv = _mm256_set1_ps(max), sumv = _mm256_setzero_ps();
	for (uint32_t j = 0; j < n8; j += 8) {
		__m256 e = kernels_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(scores + j), maxv));
		_mm256_storeu_ps(scores + j, e);
		sumv = _mm256_add_ps(sumv, e);
	}
	float sum = kernels_hsum(sumv);
	for (uint32_t j = n8; j < n; j++) {
		scores[j] = expf(scores[j] - max);
		sum += scores[j];
	}
	return sum;
}

AVX2_INLINE void kernels_attend_avx2(enum kernels_float_kind kind, const float *q, uint32_t g, uint32_t d,
				     const struct kernels_kv_pages *kv, uint32_t n, float scale, float *scratch,
				     float *out)
{
	uint32_t d8 = d - d % 8;
	for (uint32_t t = 0; t < g; t++) {
		const float *qt = q + (size_t)t * d;
		for (uint32_t j = 0; j < n; j++) {
			const uint8_t *kr = kernels_kv_at(kv, kv->k, j);
			__m256 acc = _mm256_setzero_ps();
			for (uint32_t i = 0; i < d8; i += 8)
				acc = _mm256_fmadd_ps(_mm256_loadu_ps(qt + i), kernels_load8(kind, kr, i), acc);
			float s = kernels_hsum(acc);
			for (uint32_t i = d8; i < d; i++)
				s += qt[i] * kernels_elem(kind, kr, i);
			scratch[(size_t)t * n + j] = s * scale;
		}
		scratch[(size_t)g * n + t] = kernels_softmax_exp_avx2(scratch + (size_t)t * n, n);
	}
	/* The values: each head's output in registers, 64 dimensions at a
	 * time, positions in order (the same arithmetic as one accumulator
	 * per element). */
	for (uint32_t t = 0; t < g; t++) {
		const float *e = scratch + (size_t)t * n;
		float *o = out + (size_t)t * d;
		for (uint32_t i0 = 0; i0 < d8; i0 += 64) {
			uint32_t width = d8 - i0 < 64 ? d8 - i0 : 64;
			__m256 acc[8];
#pragma GCC unroll 8
			for (int q8 = 0; q8 < 8; q8++)
				acc[q8] = _mm256_setzero_ps();
			if (width == 64) {
				for (uint32_t j = 0; j < n; j++) {
					const uint8_t *vr = kernels_kv_at(kv, kv->v, j);
					__m256 ej = _mm256_set1_ps(e[j]);
#pragma GCC unroll 8
					for (int q8 = 0; q8 < 8; q8++)
						acc[q8] = _mm256_fmadd_ps(
							ej, kernels_load8(kind, vr, i0 + 8 * (uint32_t)q8), acc[q8]);
				}
			} else {
				for (uint32_t j = 0; j < n; j++) {
					const uint8_t *vr = kernels_kv_at(kv, kv->v, j);
					__m256 ej = _mm256_set1_ps(e[j]);
					for (uint32_t q8 = 0; q8 < width / 8; q8++)
						acc[q8] = _mm256_fmadd_ps(ej, kernels_load8(kind, vr, i0 + 8 * q8),
									  acc[q8]);
				}
			}
			for (uint32_t q8 = 0; q8 < width / 8; q8++)
				_mm256_storeu_ps(o + i0 + 8 * q8, acc[q8]);
		}
		for (uint32_t i = d8; i < d; i++) {
			float acc = 0;
			for (uint32_t j = 0; j < n; j++)
				acc = fmaf(e[j], kernels_elem(kind, kernels_kv_at(kv, kv->v, j), i), acc);
			o[i] = acc;
		}
	}
	for (uint32_t t = 0; t < g; t++) {
		float inv = 1.0f / scratch[(size_t)g * n + t];
		for (uint32_t i = 0; i < d; i++)
			out[(size_t)t * d + i] *= inv;
	}
}

/* The same attention for G query heads (a constant, so that the heads'
 * accumulators stay in registers), reading each position's keys and
 * values once for all G heads instead of once per head. Every head's
 * arithmetic is the per-head kernel's, in the same order, so the results
 * are identical. */
AVX2_INLINE void kernels_attend_group_avx2(enum kernels_float_kind kind, const int G, const float *q, uint32_t d,
					   const struct kernels_kv_pages *kv, uint32_t n, float scale, float *scratch,
					   float *out)
{
	uint32_t d8 = d - d % 8;
	for (uint32_t j = 0; j < n; j++) {
		const uint8_t *kr = kernels_kv_at(kv, kv->k, j);
		__m256 acc[8];
#pragma GCC unroll 8
		for (int t = 0; t < G; t++)
			acc[t] = _mm256_setzero_ps();
		for (uint32_t i = 0; i < d8; i += 8) {
			__m256 k8 = kernels_load8(kind, kr, i);
#pragma GCC unroll 8
			for (int t = 0; t < G; t++)
				acc[t] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)t * d + i), k8, acc[t]);
		}
#pragma GCC unroll 8
		for (int t = 0; t < G; t++) {
			float sc = kernels_hsum(acc[t]);
			for (uint32_t i = d8; i < d; i++)
				sc += q[(size_t)t * d + i] * kernels_elem(kind, kr, i);
			scratch[(size_t)t * n + j] = sc * scale;
		}
	}
	for (int t = 0; t < G; t++)
		scratch[(size_t)G * n + (uint32_t)t] = kernels_softmax_exp_avx2(scratch + (size_t)t * n, n);
	/* The values, 16 dimensions of every head at a time. */
	for (uint32_t i0 = 0; i0 + 16 <= d8; i0 += 16) {
		__m256 acc[8][2];
#pragma GCC unroll 8
		for (int t = 0; t < G; t++)
			acc[t][0] = acc[t][1] = _mm256_setzero_ps();
		for (uint32_t j = 0; j < n; j++) {
			const uint8_t *vr = kernels_kv_at(kv, kv->v, j);
			__m256 v0 = kernels_load8(kind, vr, i0), v1 = kernels_load8(kind, vr, i0 + 8);
#pragma GCC unroll 8
			for (int t = 0; t < G; t++) {
				__m256 e = _mm256_set1_ps(scratch[(size_t)t * n + j]);
				acc[t][0] = _mm256_fmadd_ps(e, v0, acc[t][0]);
				acc[t][1] = _mm256_fmadd_ps(e, v1, acc[t][1]);
			}
		}
#pragma GCC unroll 8
		for (int t = 0; t < G; t++) {
			_mm256_storeu_ps(out + (size_t)t * d + i0, acc[t][0]);
			_mm256_storeu_ps(out + (size_t)t * d + i0 + 8, acc[t][1]);
		}
	}
	for (int t = 0; t < G; t++) {
		const float *e = scratch + (size_t)t * n;
		float *o = out + (size_t)t * d;
		for (uint32_t i = d8 - d8 % 16; i < d8; i += 8) {
			__m256 a = _mm256_setzero_ps();
			for (uint32_t j = 0; j < n; j++)
				a = _mm256_fmadd_ps(_mm256_set1_ps(e[j]),
						    kernels_load8(kind, kernels_kv_at(kv, kv->v, j), i), a);
			_mm256_storeu_ps(o + i, a);
		}
		for (uint32_t i = d8; i < d; i++) {
			float a = 0;
			for (uint32_t j = 0; j < n; j++)
				a = fmaf(e[j], kernels_elem(kind, kernels_kv_at(kv, kv->v, j), i), a);
			o[i] = a;
		}
		float inv = 1.0f / scratch[(size_t)G * n + (uint32_t)t];
		for (uint32_t i = 0; i < d; i++)
			o[i] *= inv;
	}
}

/* Groups of up to 8 heads go through the grouped kernel. */
AVX2_INLINE void kernels_attend_dispatch_avx2(enum kernels_float_kind kind, const float *q, uint32_t g, uint32_t d,
					      const struct kernels_kv_pages *kv, uint32_t n, float scale,
					      float *scratch, float *out)
{
	switch (g) {
	case 1: kernels_attend_group_avx2(kind, 1, q, d, kv, n, scale, scratch, out); break;
	case 2: kernels_attend_group_avx2(kind, 2, q, d, kv, n, scale, scratch, out); break;
	case 3: kernels_attend_group_avx2(kind, 3, q, d, kv, n, scale, scratch, out); break;
	case 4: kernels_attend_group_avx2(kind, 4, q, d, kv, n, scale, scratch, out); break;
	case 5: kernels_attend_group_avx2(kind, 5, q, d, kv, n, scale, scratch, out); break;
	case 6: kernels_attend_group_avx2(kind, 6, q, d, kv, n, scale, scratch, out); break;
	case 7: kernels_attend_group_avx2(kind, 7, q, d, kv, n, scale, scratch, out); break;
	case 8: kernels_attend_group_avx2(kind, 8, q, d, kv, n, scale, scratch, out); break;
	default: kernels_attend_avx2(kind, q, g, d, kv, n, scale, scratch, out); break;
	}
}

AVX2 static void kernels_kv_f32_attend_avx2(const float *q, uint32_t g, uint32_t d, const struct kernels_kv_pages *kv,
					    uint32_t n, float scale, float *scratch, float *out)
{
	kernels_attend_dispatch_avx2(KF_F32, q, g, d, kv, n, scale, scratch, out);
}

AVX2 static void kernels_kv_f16_attend_avx2(const float *q, uint32_t g, uint32_t d, const struct kernels_kv_pages *kv,
					    uint32_t n, float scale, float *scratch, float *out)
{
	kernels_attend_dispatch_avx2(KF_F16, q, g, d, kv, n, scale, scratch, out);
}

/* ---- AVX-512 (F, BW, DQ, VL, VNNI) ---- */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define AVX512_INLINE                                                                                                  \
	static inline                                                                                                  \
		__attribute__((always_inline, target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))

AVX512_INLINE __m512 kernels_load16(enum kernels_float_kind kind, const uint8_t *row, uint32_t k)
{
	switch (kind) {
	case KF_F32: return _mm512_loadu_ps((const float *)(const void *)(row + 4 * (size_t)k));
	case KF_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(row + 2 * (size_t)k)));
	default: {
		__m512i h =
			_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(row + 2 * (size_t)k)));
		return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
	}
	}
}

/* Like kernels_float_tile with 16 lanes. */
AVX512_INLINE void kernels_float_tile512(enum kernels_float_kind kind, int NR, int NW, const uint8_t *w, size_t wrb,
					 const uint8_t *act, size_t arb, uint32_t n, float *out, size_t os)
{
	__m512 acc[KERNELS_MAX_ROWS][4];
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++)
			acc[r][c] = _mm512_setzero_ps();
	uint32_t n16 = n - n % 16;
	for (uint32_t k = 0; k < n16; k += 16) {
		__m512 wv[4];
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			_mm_prefetch((const char *)(w + (size_t)c * wrb) + (kind == KF_F32 ? 4 : 2) * (size_t)k +
					     KERNELS_PF_DIST,
				     KERNELS_PF_HINT);
			wv[c] = kernels_load16(kind, w + (size_t)c * wrb, k);
		}
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++) {
			__m512 xv = _mm512_loadu_ps((const float *)(const void *)(act + (size_t)r * arb) + k);
#pragma GCC unroll 4
			for (int c = 0; c < NW; c++)
				acc[r][c] = _mm512_fmadd_ps(wv[c], xv, acc[r][c]);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++) {
		const float *x = (const float *)(const void *)(act + (size_t)r * arb);
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			float s = _mm512_reduce_add_ps(acc[r][c]);
			for (uint32_t k = n16; k < n; k++)
				s += kernels_elem(kind, w + (size_t)c * wrb, k) * x[k];
			out[(size_t)r * os + (size_t)c] = s;
		}
	}
}

AVX512_INLINE void kernels_float_matmul_avx512(enum kernels_float_kind kind, const uint8_t *w, size_t wrb,
					       const uint8_t *act, size_t arb, uint32_t n, uint32_t nr, uint32_t j0,
					       uint32_t j1, float *out, size_t os)
{
	uint32_t j = j0;
#define KERNELS_FLOAT512_CASE(NR, NW)                                                                                  \
	for (; j + NW <= j1; j += NW)                                                                                  \
		kernels_float_tile512(kind, NR, NW, w + (size_t)j * wrb, wrb, act, arb, n, out + (j - j0), os);        \
	for (; j < j1; j++)                                                                                            \
		kernels_float_tile512(kind, NR, 1, w + (size_t)j * wrb, wrb, act, arb, n, out + (j - j0), os);
	switch (nr) {
	case 1: KERNELS_FLOAT512_CASE(1, 1) break;
	case 2: KERNELS_FLOAT512_CASE(2, 4) break;
	case 3: KERNELS_FLOAT512_CASE(3, 4) break;
	default: KERNELS_FLOAT512_CASE(4, 4) break;
	}
#undef KERNELS_FLOAT512_CASE
}

AVX512 static void kernels_f32_matmul_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					     uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx512(KF_F32, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

AVX512 static void kernels_f16_matmul_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					     uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx512(KF_F16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

AVX512 static void kernels_bf16_matmul_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					      uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	kernels_float_matmul_avx512(KF_BF16, w, wrb, act, arb, n, nr, j0, j1, out, os);
}

/* Two consecutive 32-byte runs, src and src + stride, as one vector. */
AVX512_INLINE __m512i kernels_load_pair(const uint8_t *src, size_t stride)
{
	__m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)src);
	__m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(src + stride));
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Q8_0 two blocks at a time: |w| (unsigned) times a with w's sign,
 * summed in fours by VNNI into 32-bit lanes, then scaled (block b in the
 * low eight lanes, b+1 in the high) into 16 float lanes. An odd last
 * block goes through an 8-lane accumulator added at the end. */
AVX512_INLINE void kernels_q8_tile512(int NR, int NW, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb,
				      uint32_t nb, float *out, size_t os)
{
	__m512 acc[KERNELS_MAX_ROWS][4];
	__m256 tail[KERNELS_MAX_ROWS][4];
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			acc[r][c] = _mm512_setzero_ps();
			tail[r][c] = _mm256_setzero_ps();
		}
	const size_t ab = sizeof(struct kernels_q8_act);
	uint32_t nb2 = nb - nb % 2;
	for (uint32_t b = 0; b < nb2; b += 2) {
		__m512i wabs[4];
		__mmask64 wneg[4];
		__m512 wd[4];
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			const uint8_t *blk = w + (size_t)c * wrb + (size_t)b * Q8_0_BLOCK_BYTES;
			_mm_prefetch((const char *)blk + KERNELS_PF_DIST, KERNELS_PF_HINT);
			__m512i q = kernels_load_pair(blk + 2, Q8_0_BLOCK_BYTES);
			wneg[c] = _mm512_movepi8_mask(q);
			wabs[c] = _mm512_abs_epi8(q);
			__m256 d0 = _mm256_set1_ps(_cvtsh_ss(kernels_load_u16(blk)));
			__m256 d1 = _mm256_set1_ps(_cvtsh_ss(kernels_load_u16(blk + Q8_0_BLOCK_BYTES)));
			wd[c] = _mm512_insertf32x8(_mm512_castps256_ps512(d0), d1, 1);
		}
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++) {
			const struct kernels_q8_act *a =
				(const struct kernels_q8_act *)(const void *)(act + (size_t)r * arb) + b;
			__m512i aq = kernels_load_pair((const uint8_t *)a->q, ab);
			__m512 ad = _mm512_insertf32x8(_mm512_set1_ps(a[0].d), _mm256_set1_ps(a[1].d), 1);
#pragma GCC unroll 4
			for (int c = 0; c < NW; c++) {
				__m512i signed_a = _mm512_mask_sub_epi8(aq, wneg[c], _mm512_setzero_si512(), aq);
				__m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs[c], signed_a);
				acc[r][c] =
					_mm512_fmadd_ps(_mm512_mul_ps(wd[c], ad), _mm512_cvtepi32_ps(dot), acc[r][c]);
			}
		}
	}
	if (nb2 < nb) {
		const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++) {
			const uint8_t *blk = w + (size_t)c * wrb + (size_t)nb2 * Q8_0_BLOCK_BYTES;
			float wd1 = _cvtsh_ss(kernels_load_u16(blk));
			__m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 2));
			__m256i wab = _mm256_sign_epi8(wq, wq);
#pragma GCC unroll 4
			for (int r = 0; r < NR; r++) {
				const struct kernels_q8_act *a =
					(const struct kernels_q8_act *)(const void *)(act + (size_t)r * arb) + nb2;
				__m256i aq = _mm256_loadu_si256((const __m256i *)(const void *)a->q);
				__m256i prod = _mm256_maddubs_epi16(wab, _mm256_sign_epi8(aq, wq));
				__m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
				tail[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(wd1 * a->d), dot, tail[r][c]);
			}
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
		for (int c = 0; c < NW; c++)
			out[(size_t)r * os + (size_t)c] = _mm512_reduce_add_ps(acc[r][c]) + kernels_hsum(tail[r][c]);
}

AVX512 static void kernels_q8_matmul_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, uint32_t n,
					    uint32_t nr, uint32_t j0, uint32_t j1, float *out, size_t os)
{
	uint32_t nb = n / QK8_0, j = j0;
#define KERNELS_Q8_512_CASE(NR, NW)                                                                                    \
	for (; j + NW <= j1; j += NW)                                                                                  \
		kernels_q8_tile512(NR, NW, w + (size_t)j * wrb, wrb, act, arb, nb, out + (j - j0), os);                \
	for (; j < j1; j++)                                                                                            \
		kernels_q8_tile512(NR, 1, w + (size_t)j * wrb, wrb, act, arb, nb, out + (j - j0), os);
	switch (nr) {
	case 1: KERNELS_Q8_512_CASE(1, 1) break;
	case 2: KERNELS_Q8_512_CASE(2, 4) break;
	case 3: KERNELS_Q8_512_CASE(3, 4) break;
	default: KERNELS_Q8_512_CASE(4, 4) break;
	}
#undef KERNELS_Q8_512_CASE
}
#endif

/* ---- tables ---- */

static const struct kernels_type kernels_portable[] = {
	{DTYPE_F32, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f32_matmul_portable},
	{DTYPE_F16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f16_matmul_portable},
	{DTYPE_BF16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_bf16_matmul_portable},
	{DTYPE_Q8_0, false, kernels_q8_act_bytes, kernels_q8_act_prepare, kernels_q8_matmul_portable},
};

static const struct kernels_kv kernels_kv_portable[] = {
	{DTYPE_F32, 4, kernels_kv_f32_store, kernels_kv_f32_attend},
	{DTYPE_F16, 2, kernels_kv_f16_store, kernels_kv_f16_attend},
};

#if KERNELS_X86
static const struct kernels_type kernels_avx2[] = {
	{DTYPE_F32, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f32_matmul_avx2},
	{DTYPE_F16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f16_matmul_avx2},
	{DTYPE_BF16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_bf16_matmul_avx2},
	{DTYPE_Q8_0, false, kernels_q8_act_bytes, kernels_q8_act_prepare_avx2, kernels_q8_matmul_avx2},
};

static const struct kernels_type kernels_avx512[] = {
	{DTYPE_F32, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f32_matmul_avx512},
	{DTYPE_F16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_f16_matmul_avx512},
	{DTYPE_BF16, true, kernels_f32_act_bytes, kernels_f32_act_prepare, kernels_bf16_matmul_avx512},
	{DTYPE_Q8_0, false, kernels_q8_act_bytes, kernels_q8_act_prepare_avx2, kernels_q8_matmul_avx512},
};

static const struct kernels_kv kernels_kv_avx2[] = {
	{DTYPE_F32, 4, kernels_kv_f32_store, kernels_kv_f32_attend_avx2},
	{DTYPE_F16, 2, kernels_kv_f16_store_avx2, kernels_kv_f16_attend_avx2},
};
#endif

enum kernels_level kernels_detect(void)
{
#if KERNELS_X86
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("f16c"))
		return KERNELS_PORTABLE;
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512vnni"))
		return KERNELS_AVX512;
	return KERNELS_AVX2;
#else
	return KERNELS_PORTABLE;
#endif
}

static const char *const kernels_level_names[] = {"portable", "avx2", "avx512"};

const char *kernels_level_name(enum kernels_level level)
{
	return kernels_level_names[level];
}

int kernels_level_parse(const char *name, enum kernels_level *out)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, kernels_level_names[i]) == 0) {
			*out = (enum kernels_level)i;
			return 0;
		}
	return -EINVAL;
}

const struct kernels_type *kernels_for_type(uint32_t dtype, enum kernels_level level)
{
	const struct kernels_type *table = kernels_portable;
#if KERNELS_X86
	if (level == KERNELS_AVX2)
		table = kernels_avx2;
	else if (level == KERNELS_AVX512)
		table = kernels_avx512;
#else
	(void)level;
#endif
	for (size_t i = 0; i < sizeof(kernels_portable) / sizeof(kernels_portable[0]); i++)
		if (table[i].type == dtype)
			return &table[i];
	return NULL;
}

/* Attention's row operations are short (a head's dimensions); the AVX2
 * ones serve the AVX-512 set too. */
const struct kernels_kv *kernels_for_kv(uint32_t dtype, enum kernels_level level)
{
	const struct kernels_kv *table = kernels_kv_portable;
#if KERNELS_X86
	if (level != KERNELS_PORTABLE)
		table = kernels_kv_avx2;
#else
	(void)level;
#endif
	for (size_t i = 0; i < 2; i++)
		if (table[i].type == dtype)
			return &table[i];
	return NULL;
}
