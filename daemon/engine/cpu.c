/* The CPU backend: the forward pass's operations spread over a thread
 * pool, with the SIMD kernels of kernels.c. Matmuls are blocked so that a
 * chunk of weight rows stays in cache while a block of activation rows
 * passes over it; every output is still computed by one kernel call in
 * the same order whatever the blocking. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/xalloc.h"
#include "daemon/engine/backend.h"
#include "daemon/engine/dtype.h"
#include "daemon/engine/kernels.h"
#include "daemon/engine/pool.h"

/* Activation rows per block, and weight rows per chunk, of a matmul. */
#define CPU_ACT_BLOCK 64
#define CPU_W_CHUNK 32

struct cpu_backend {
	struct backend base;
	struct pool *pool;
	enum kernels_level level;
	const struct kernels_kv *kv_ops;
	struct backend_kv_shape kv;
	uint8_t *k_cache, *v_cache; /* [layer][block][BACKEND_KV_BLOCK][n_head_kv*head_dim] */
	size_t kv_row_bytes;        /* one position's keys (or values) of one layer */
	size_t kv_block_bytes;      /* one block of one layer */
	size_t kv_bytes;            /* each of the two mappings */
	uint8_t *act;               /* prepared activations */
	size_t act_cap;
	float *scores;             /* attention scratch, scratch_per_thread per thread */
	size_t scratch_per_thread; /* floats: a KV head's query heads x (max_positions + 1) */
};

static struct cpu_backend *cpu_of(struct backend *be)
{
	return (struct cpu_backend *)be;
}

static bool cpu_supports(struct backend *be, uint32_t dtype)
{
	return kernels_for_type(dtype, cpu_of(be)->level) != NULL;
}

_Static_assert(BACKEND_KV_BLOCK == KERNELS_KV_BLOCK, "one block size");

static void cpu_kv_unmap(struct cpu_backend *c)
{
	if (c->k_cache)
		munmap(c->k_cache, c->kv_bytes);
	if (c->v_cache)
		munmap(c->v_cache, c->kv_bytes);
	c->k_cache = c->v_cache = NULL;
}

static int cpu_kv_alloc(struct backend *be, const struct backend_kv_shape *shape)
{
	struct cpu_backend *c = cpu_of(be);
	c->kv_ops = kernels_for_kv(shape->type, c->level);
	if (!c->kv_ops || shape->n_head_kv == 0 || shape->n_head % shape->n_head_kv != 0)
		return -EINVAL;
	c->kv = *shape;
	c->kv_row_bytes = (size_t)shape->n_head_kv * shape->head_dim * c->kv_ops->elem_bytes;
	c->kv_block_bytes = c->kv_row_bytes * BACKEND_KV_BLOCK;
	cpu_kv_unmap(c);
	free(c->scores);
	c->scores = NULL;
	/* Sizes come from options: overflow is an error, not a wrap. */
	size_t bytes;
	if (__builtin_mul_overflow(c->kv_block_bytes, (size_t)shape->n_blocks, &bytes) ||
	    __builtin_mul_overflow(bytes, (size_t)shape->n_layer, &bytes))
		return -ENOMEM;
	/* Mapped, not malloc'ed: a pool of gigabytes costs memory only as
	 * blocks are first written. */
	void *k = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *v = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c->k_cache = k == MAP_FAILED ? NULL : k;
	c->v_cache = v == MAP_FAILED ? NULL : v;
	c->kv_bytes = bytes ? bytes : 1;
	unsigned threads = pool_threads(c->pool);
	c->scratch_per_thread = (size_t)(shape->n_head / shape->n_head_kv) * ((size_t)shape->max_positions + 1);
	c->scores = malloc((size_t)threads * c->scratch_per_thread * sizeof(float));
	if (!c->k_cache || !c->v_cache || !c->scores)
		return -ENOMEM;
	return 0;
}

/* ---- matmul ---- */

struct cpu_matmul_work {
	const struct kernels_type *kt;
	const float *x;
	const uint8_t *act;
	size_t act_row_bytes;
	uint32_t nb;
	const struct backend_matmul *jobs;
	unsigned n_jobs;
	uint64_t total_rows;
};

/* Rows [r0, r1) of the jobs' concatenated outputs. */
static void cpu_matmul_rows(const struct cpu_matmul_work *mw, uint64_t r0, uint64_t r1)
{
	for (uint32_t b0 = 0; b0 < mw->nb; b0 += CPU_ACT_BLOCK) {
		uint32_t b1 = mw->nb - b0 < CPU_ACT_BLOCK ? mw->nb : b0 + CPU_ACT_BLOCK;
		uint64_t base = 0;
		for (unsigned jb = 0; jb < mw->n_jobs; jb++) {
			const struct backend_weight *w = mw->jobs[jb].w;
			uint64_t lo = r0 > base ? r0 - base : 0, hi = r1 - base < w->n_out ? r1 - base : w->n_out;
			if (r1 > base && lo < hi) {
				for (uint32_t j0 = (uint32_t)lo; j0 < hi; j0 += CPU_W_CHUNK) {
					uint32_t j1 = hi - j0 < CPU_W_CHUNK ? (uint32_t)hi : j0 + CPU_W_CHUNK;
					for (uint32_t r = b0; r < b1; r += KERNELS_MAX_ROWS) {
						uint32_t nr = b1 - r < KERNELS_MAX_ROWS ? b1 - r : KERNELS_MAX_ROWS;
						mw->kt->matmul(w->data, w->row_bytes,
							       mw->act + (size_t)r * mw->act_row_bytes,
							       mw->act_row_bytes, w->n_in, nr, j0, j1,
							       mw->jobs[jb].out + (size_t)r * w->n_out + j0, w->n_out);
					}
				}
			}
			base += w->n_out;
		}
	}
}

static void cpu_matmul_worker(void *arg, unsigned worker, unsigned n_workers)
{
	const struct cpu_matmul_work *mw = arg;
	/* Shares in whole tiles of four rows. */
	uint64_t tiles = (mw->total_rows + 3) / 4;
	uint64_t t0 = tiles * worker / n_workers, t1 = tiles * (worker + 1) / n_workers;
	uint64_t r1 = t1 * 4 < mw->total_rows ? t1 * 4 : mw->total_rows;
	if (t0 * 4 < r1)
		cpu_matmul_rows(mw, t0 * 4, r1);
}

static void cpu_prepare_worker(void *arg, unsigned worker, unsigned n_workers)
{
	const struct cpu_matmul_work *mw = arg;
	uint32_t n = mw->jobs[0].w->n_in;
	for (uint32_t r = mw->nb * worker / n_workers; r < mw->nb * (worker + 1) / n_workers; r++)
		mw->kt->act_prepare(mw->x + (size_t)r * n, n, (uint8_t *)mw->act + (size_t)r * mw->act_row_bytes);
}

static void cpu_matmul_one_type(struct cpu_backend *c, const float *x, uint32_t nb, const struct backend_matmul *jobs,
				unsigned n_jobs)
{
	struct cpu_matmul_work mw = {
		.kt = kernels_for_type(jobs[0].w->type, c->level),
		.x = x,
		.nb = nb,
		.jobs = jobs,
		.n_jobs = n_jobs,
	};
	uint32_t n = jobs[0].w->n_in;
	for (unsigned i = 0; i < n_jobs; i++)
		mw.total_rows += jobs[i].w->n_out;
	if (mw.kt->act_is_f32) {
		mw.act = (const uint8_t *)x;
		mw.act_row_bytes = (size_t)n * sizeof(float);
	} else {
		mw.act_row_bytes = mw.kt->act_row_bytes(n);
		size_t need = mw.act_row_bytes * nb;
		if (need > c->act_cap) {
			free(c->act);
			c->act = xmalloc(need);
			c->act_cap = need;
		}
		mw.act = c->act;
		if (nb <= 16)
			for (uint32_t r = 0; r < nb; r++)
				mw.kt->act_prepare(x + (size_t)r * n, n, c->act + (size_t)r * mw.act_row_bytes);
		else
			pool_run(c->pool, cpu_prepare_worker, &mw);
	}
	pool_run(c->pool, cpu_matmul_worker, &mw);
}

static void cpu_matmul(struct backend *be, const float *x, uint32_t nb, const struct backend_matmul *jobs,
		       unsigned n_jobs)
{
	struct cpu_backend *c = cpu_of(be);
	/* Jobs of one weight type share one dispatch; others go alone. */
	bool same = true;
	for (unsigned i = 1; i < n_jobs; i++)
		same = same && jobs[i].w->type == jobs[0].w->type;
	if (same) {
		cpu_matmul_one_type(c, x, nb, jobs, n_jobs);
		return;
	}
	for (unsigned i = 0; i < n_jobs; i++)
		cpu_matmul_one_type(c, x, nb, &jobs[i], 1);
}

/* ---- the KV cache and attention ---- */

/* Block 0 of layer in cache. */
static uint8_t *cpu_kv_layer(struct cpu_backend *c, uint8_t *cache, uint32_t layer)
{
	return cache + (size_t)layer * c->kv.n_blocks * c->kv_block_bytes;
}

static void cpu_kv_store(struct backend *be, uint32_t layer, uint32_t nb, const float *k, const float *v,
			 const uint32_t *slots)
{
	struct cpu_backend *c = cpu_of(be);
	uint32_t width = c->kv.n_head_kv * c->kv.head_dim;
	uint8_t *kl = cpu_kv_layer(c, c->k_cache, layer), *vl = cpu_kv_layer(c, c->v_cache, layer);
	for (uint32_t i = 0; i < nb; i++) {
		size_t off = (size_t)slots[i] * c->kv_row_bytes;
		c->kv_ops->store(kl + off, k + (size_t)i * width, width);
		c->kv_ops->store(vl + off, v + (size_t)i * width, width);
	}
}

static void cpu_kv_copy(struct backend *be, uint32_t dst, uint32_t src, uint32_t n)
{
	struct cpu_backend *c = cpu_of(be);
	for (uint32_t l = 0; l < c->kv.n_layer; l++) {
		uint8_t *kl = cpu_kv_layer(c, c->k_cache, l), *vl = cpu_kv_layer(c, c->v_cache, l);
		memcpy(kl + (size_t)dst * c->kv_block_bytes, kl + (size_t)src * c->kv_block_bytes, n * c->kv_row_bytes);
		memcpy(vl + (size_t)dst * c->kv_block_bytes, vl + (size_t)src * c->kv_block_bytes, n * c->kv_row_bytes);
	}
}

struct cpu_attention_work {
	struct cpu_backend *c;
	const struct backend_attention *a;
};

static void cpu_attention_worker(void *arg, unsigned worker, unsigned n_workers)
{
	const struct cpu_attention_work *w = arg;
	const struct backend_attention *a = w->a;
	struct cpu_backend *c = w->c;
	uint32_t d = a->head_dim, group = a->n_head / a->n_head_kv;
	float *scratch = c->scores + (size_t)worker * c->scratch_per_thread;
	const uint8_t *kl = cpu_kv_layer(c, c->k_cache, a->layer), *vl = cpu_kv_layer(c, c->v_cache, a->layer);
	/* Units are (row, KV head) pairs: the query heads that share a KV
	 * head read its keys and values together. Rows see different numbers
	 * of positions, so units are dealt out round-robin. */
	uint64_t units = (uint64_t)a->nb * a->n_head_kv;
	for (uint64_t u = worker; u < units; u += n_workers) {
		uint32_t i = (uint32_t)(u / a->n_head_kv), kvh = (uint32_t)(u % a->n_head_kv);
		size_t off = (size_t)i * a->n_head * d + (size_t)kvh * group * d;
		size_t head_off = (size_t)kvh * d * c->kv_ops->elem_bytes;
		struct kernels_kv_pages pages = {
			.k = kl + head_off,
			.v = vl + head_off,
			.blocks = a->tables[i],
			.block_bytes = c->kv_block_bytes,
			.stride = c->kv_row_bytes,
		};
		c->kv_ops->attend(a->q + off, group, d, &pages, a->n_pos[i], a->scale, scratch, a->out + off);
	}
}

static void cpu_attention(struct backend *be, const struct backend_attention *a)
{
	struct cpu_backend *c = cpu_of(be);
	struct cpu_attention_work w = {c, a};
	pool_run(c->pool, cpu_attention_worker, &w);
}

/* ---- SwiGLU ---- */

struct cpu_swiglu_work {
	float *g;
	const float *u;
	uint64_t n;
};

static void cpu_swiglu_worker(void *arg, unsigned worker, unsigned n_workers)
{
	const struct cpu_swiglu_work *w = arg;
	for (uint64_t i = w->n * worker / n_workers; i < w->n * (worker + 1) / n_workers; i++) {
		float g = w->g[i];
		w->g[i] = g / (1.0f + expf(-g)) * w->u[i];
	}
}

static void cpu_swiglu(struct backend *be, float *g, const float *u, uint32_t nb, uint32_t n)
{
	struct cpu_swiglu_work w = {g, u, (uint64_t)nb * n};
	if (nb == 1)
		cpu_swiglu_worker(&w, 0, 1);
	else
		pool_run(cpu_of(be)->pool, cpu_swiglu_worker, &w);
}

static void cpu_free(struct backend *be)
{
	struct cpu_backend *c = cpu_of(be);
	if (!c)
		return;
	pool_free(c->pool);
	cpu_kv_unmap(c);
	free(c->act);
	free(c->scores);
	free(c);
}

static const struct backend_ops cpu_ops = {
	.name = "cpu",
	.supports = cpu_supports,
	.kv_alloc = cpu_kv_alloc,
	.matmul = cpu_matmul,
	.kv_store = cpu_kv_store,
	.kv_copy = cpu_kv_copy,
	.attention = cpu_attention,
	.swiglu = cpu_swiglu,
	.free = cpu_free,
};

int cpu_backend_new(unsigned threads, int level, struct backend **out)
{
	*out = NULL;
	struct cpu_backend *c = xcalloc(1, sizeof(*c));
	c->base.ops = &cpu_ops;
	c->level = (enum kernels_level)level;
	int rc = pool_new(threads, &c->pool);
	if (rc < 0) {
		free(c);
		return rc;
	}
	*out = &c->base;
	return 0;
}

unsigned cpu_backend_threads(const struct backend *be)
{
	return pool_threads(((const struct cpu_backend *)be)->pool);
}
