/* The forward pass of llama-family models (llama, qwen2: what differs is
 * in the model_arch table) over a backend, for a batch of rows that may
 * belong to different sequences of the paged KV cache; and the engine_ctx
 * API, one sequence whose cache is a pool of its own.
 *
 * A pass takes nb rows (token, position, block table): embeddings, then
 * per layer RMSNorm, the Q/K/V
 * projections (plus biases), RoPE, the new keys and values into the cache,
 * causal attention over the cache, the output projection and residual,
 * RMSNorm, SwiGLU feed-forward and residual; then the final norm and the
 * output head for the positions whose logits are wanted. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/engine/backend.h"
#include "daemon/engine/dtype.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/forward.h"
#include "daemon/engine/gguf.h"
#include "daemon/engine/kernels.h"
#include "daemon/engine/model.h"

#define FORWARD_DEFAULT_CTX 4096
#define FORWARD_DEFAULT_BATCH 512
/* Largest cache and batch accepted. */
#define FORWARD_MAX_CTX (1u << 20)
#define FORWARD_MAX_BATCH 8192

struct forward_layer {
	float *attn_norm, *ffn_norm;      /* n_embd */
	float *bq, *bk, *bv;              /* biases, or NULL */
	struct backend_weight wq, wk, wv; /* projections */
	struct backend_weight wo;         /* attention output */
	struct backend_weight gate, up, down;
};

struct forward {
	const engine_model *model;
	const struct engine_hparams *hp;
	const struct model_arch *arch;
	struct backend *be;
	uint32_t max_rows, max_positions, n_blocks;

	struct backend_weight embd, output;
	float *output_norm;
	double *rope_inv_freq; /* n_rot/2: base^(-2i/n_rot) / freq_factor_i */
	struct forward_layer *layers;

	/* Scratch, max_rows rows each. */
	float *x, *h, *q, *k, *v, *att, *tmp, *g, *u;
	float *rope_cos, *rope_sin; /* max_rows x n_rot/2 */
	uint32_t *slots, *n_pos;
	const uint32_t **tables;
};

struct engine_ctx {
	struct forward *f;
	uint32_t n_ctx, n_batch, pos;
	uint32_t *blocks;         /* the identity table: block i holds positions [16i, 16i+16) */
	struct forward_row *rows; /* n_batch */
	uint32_t *logit_rows;     /* n_batch */
};

int engine_kv_type_parse(const char *name, enum engine_kv_type *out)
{
	if (strcmp(name, "f16") == 0)
		*out = ENGINE_KV_F16;
	else if (strcmp(name, "f32") == 0)
		*out = ENGINE_KV_F32;
	else
		return -EINVAL;
	return 0;
}

/* The CPUs this process may run on. */
static unsigned forward_default_threads(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static int forward_unsupported(const struct gguf_tensor *t, char *err, size_t errlen)
{
	const struct dtype_info *info = dtype_get(t->type);
	snprintf(err, errlen,
		 "tensor %s has type %s, which the CPU backend cannot compute yet (it computes f32, f16, bf16 and "
		 "q8_0)",
		 t->name, info ? info->name : "unknown");
	return -ENOTSUP;
}

/* A matrix the backend multiplies by. */
static int forward_weight(struct forward *c, const char *name, struct backend_weight *w, char *err, size_t errlen)
{
	const struct gguf_tensor *t = gguf_find_tensor(engine_model_gguf(c->model), name);
	if (!t) {
		snprintf(err, errlen, "tensor %s is missing", name);
		return -ENOENT;
	}
	if (!c->be->ops->supports(c->be, t->type))
		return forward_unsupported(t, err, errlen);
	w->name = t->name;
	w->data = t->data;
	w->type = t->type;
	w->n_in = (uint32_t)t->ne[0];
	w->n_out = (uint32_t)t->ne[1];
	w->row_bytes = (size_t)(t->bytes / t->ne[1]);
	return 0;
}

/* A vector, read into floats (NULL and 0 when optional and absent). */
static int forward_vector(struct forward *c, const char *name, bool optional, float **out, char *err, size_t errlen)
{
	*out = NULL;
	const struct gguf_tensor *t = gguf_find_tensor(engine_model_gguf(c->model), name);
	if (!t) {
		if (optional)
			return 0;
		snprintf(err, errlen, "tensor %s is missing", name);
		return -ENOENT;
	}
	if (!kernels_for_type(t->type, KERNELS_PORTABLE))
		return forward_unsupported(t, err, errlen);
	*out = xmalloc((size_t)t->n_elems * sizeof(float));
	kernels_dequantize_row(t->type, t->data, *out, (uint32_t)t->n_elems);
	return 0;
}

static int forward_load(struct forward *c, char *err, size_t errlen)
{
	const struct engine_hparams *hp = c->hp;
	int rc;
	if ((rc = forward_weight(c, "token_embd.weight", &c->embd, err, errlen)) < 0)
		return rc;
	if (hp->tied_embeddings)
		c->output = c->embd;
	else if ((rc = forward_weight(c, "output.weight", &c->output, err, errlen)) < 0)
		return rc;
	if ((rc = forward_vector(c, "output_norm.weight", false, &c->output_norm, err, errlen)) < 0)
		return rc;
	float *freq_factors = NULL;
	if ((rc = forward_vector(c, "rope_freqs.weight", true, &freq_factors, err, errlen)) < 0)
		return rc;
	c->rope_inv_freq = xcalloc(hp->n_rot / 2, sizeof(double));
	for (uint32_t i = 0; i < hp->n_rot / 2; i++)
		c->rope_inv_freq[i] =
			pow(hp->rope_freq_base, -2.0 * i / hp->n_rot) / (freq_factors ? freq_factors[i] : 1.0);
	free(freq_factors);

	c->layers = xcalloc(hp->n_layer, sizeof(*c->layers));
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		struct forward_layer *L = &c->layers[l];
		char name[96];
#define FORWARD_NAME(suffix) (snprintf(name, sizeof(name), "blk.%u." suffix, l), name)
		if ((rc = forward_vector(c, FORWARD_NAME("attn_norm.weight"), false, &L->attn_norm, err, errlen)) < 0 ||
		    (rc = forward_vector(c, FORWARD_NAME("ffn_norm.weight"), false, &L->ffn_norm, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("attn_q.weight"), &L->wq, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("attn_k.weight"), &L->wk, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("attn_v.weight"), &L->wv, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("attn_output.weight"), &L->wo, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("ffn_gate.weight"), &L->gate, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("ffn_up.weight"), &L->up, err, errlen)) < 0 ||
		    (rc = forward_weight(c, FORWARD_NAME("ffn_down.weight"), &L->down, err, errlen)) < 0)
			return rc;
		if (c->arch->qkv_bias &&
		    ((rc = forward_vector(c, FORWARD_NAME("attn_q.bias"), false, &L->bq, err, errlen)) < 0 ||
		     (rc = forward_vector(c, FORWARD_NAME("attn_k.bias"), false, &L->bk, err, errlen)) < 0 ||
		     (rc = forward_vector(c, FORWARD_NAME("attn_v.bias"), false, &L->bv, err, errlen)) < 0))
			return rc;
#undef FORWARD_NAME
	}
	return 0;
}

/* AGENTD_KERNELS picks a lesser kernel set (for tests and comparisons). */
static int forward_kernels(enum kernels_level *level, char *err, size_t errlen)
{
	enum kernels_level best = kernels_detect(), asked;
	const char *kernels = getenv("AGENTD_KERNELS");
	*level = best;
	if (!kernels || !kernels[0])
		return 0;
	if (kernels_level_parse(kernels, &asked) < 0 || asked > best) {
		snprintf(err, errlen, "AGENTD_KERNELS is '%.32s': this CPU runs portable%s%s", kernels,
			 best >= KERNELS_AVX2 ? ", avx2" : "", best >= KERNELS_AVX512 ? ", avx512" : "");
		return -EINVAL;
	}
	*level = asked;
	return 0;
}

int forward_new(const engine_model *m, const struct forward_options *o, struct forward **out, char *err, size_t errlen)
{
	*out = NULL;
	const struct engine_hparams *hp = engine_model_hparams(m);
	unsigned threads = o->threads ? o->threads : forward_default_threads();
	if (o->max_rows == 0 || o->max_rows > FORWARD_MAX_BATCH || o->max_positions == 0 ||
	    o->max_positions > FORWARD_MAX_CTX || o->n_blocks == 0 || threads > ENGINE_MAX_THREADS ||
	    (o->kv_type != ENGINE_KV_F16 && o->kv_type != ENGINE_KV_F32)) {
		snprintf(err, errlen,
			 "engine options out of range (positions per sequence 1..%u, rows per pass 1..%u, threads <= "
			 "%u)",
			 FORWARD_MAX_CTX, FORWARD_MAX_BATCH, ENGINE_MAX_THREADS);
		return -EINVAL;
	}
	struct forward *c = xcalloc(1, sizeof(*c));
	c->model = m;
	c->hp = hp;
	c->arch = model_arch_find(hp->arch, strlen(hp->arch));
	c->max_rows = o->max_rows;
	c->max_positions = o->max_positions;
	c->n_blocks = o->n_blocks;
	enum kernels_level level;
	int rc = forward_kernels(&level, err, errlen);
	if (rc < 0)
		goto fail;
	rc = cpu_backend_new(threads, (int)level, &c->be);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start %u compute threads: %s", threads, strerror(-rc));
		goto fail;
	}
	if ((rc = forward_load(c, err, errlen)) < 0)
		goto fail;
	struct backend_kv_shape shape = {
		.n_layer = hp->n_layer,
		.n_blocks = c->n_blocks,
		.n_head_kv = hp->n_head_kv,
		.head_dim = hp->head_dim,
		.n_head = hp->n_head,
		.max_positions = c->max_positions,
		.type = o->kv_type == ENGINE_KV_F32 ? DTYPE_F32 : DTYPE_F16,
	};
	if ((rc = c->be->ops->kv_alloc(c->be, &shape)) < 0) {
		snprintf(err, errlen, "cannot allocate a KV cache of %u blocks of %u positions", c->n_blocks,
			 BACKEND_KV_BLOCK);
		goto fail;
	}
	/* Scratch sizes follow options a client may set: allocation failure
	 * is an error, not an abort. */
	size_t nb = c->max_rows, qw = (size_t)hp->n_head * hp->head_dim, kvw = (size_t)hp->n_head_kv * hp->head_dim;
	size_t half = hp->n_rot / 2 + 1;
	c->x = malloc(nb * hp->n_embd * sizeof(float));
	c->h = malloc(nb * (hp->n_embd > qw ? hp->n_embd : qw) * sizeof(float));
	c->q = malloc(nb * qw * sizeof(float));
	c->k = malloc(nb * kvw * sizeof(float));
	c->v = malloc(nb * kvw * sizeof(float));
	c->att = malloc(nb * qw * sizeof(float));
	c->tmp = malloc(nb * hp->n_embd * sizeof(float));
	c->g = malloc(nb * hp->n_ff * sizeof(float));
	c->u = malloc(nb * hp->n_ff * sizeof(float));
	c->rope_cos = malloc(nb * half * sizeof(float));
	c->rope_sin = malloc(nb * half * sizeof(float));
	c->slots = malloc(nb * sizeof(uint32_t));
	c->n_pos = malloc(nb * sizeof(uint32_t));
	c->tables = malloc(nb * sizeof(*c->tables));
	if (!c->x || !c->h || !c->q || !c->k || !c->v || !c->att || !c->tmp || !c->g || !c->u || !c->rope_cos ||
	    !c->rope_sin || !c->slots || !c->n_pos || !c->tables) {
		snprintf(err, errlen, "cannot allocate the scratch space of %u rows per pass", c->max_rows);
		rc = -ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	forward_free(c);
	return rc;
}

void forward_free(struct forward *c)
{
	if (!c)
		return;
	if (c->be)
		c->be->ops->free(c->be);
	if (c->layers) {
		for (uint32_t l = 0; l < c->hp->n_layer; l++) {
			struct forward_layer *L = &c->layers[l];
			free(L->attn_norm);
			free(L->ffn_norm);
			free(L->bq);
			free(L->bk);
			free(L->bv);
		}
		free(c->layers);
	}
	free(c->output_norm);
	free(c->rope_inv_freq);
	free(c->x);
	free(c->h);
	free(c->q);
	free(c->k);
	free(c->v);
	free(c->att);
	free(c->tmp);
	free(c->g);
	free(c->u);
	free(c->rope_cos);
	free(c->rope_sin);
	free(c->slots);
	free(c->n_pos);
	free(c->tables);
	free(c);
}

unsigned forward_threads(const struct forward *f)
{
	return cpu_backend_threads(f->be);
}

void forward_kv_copy(struct forward *f, uint32_t dst, uint32_t src, uint32_t n)
{
	if (n > 0)
		f->be->ops->kv_copy(f->be, dst, src, n);
}

/* ---- engine_ctx: one sequence ---- */

int engine_ctx_new(const engine_model *m, const struct engine_ctx_options *opts, engine_ctx **out, char *err,
		   size_t errlen)
{
	*out = NULL;
	struct engine_ctx_options o = {0};
	if (opts)
		o = *opts;
	const struct engine_hparams *hp = engine_model_hparams(m);
	if (o.n_ctx == 0)
		o.n_ctx = hp->n_ctx_train < FORWARD_DEFAULT_CTX ? hp->n_ctx_train : FORWARD_DEFAULT_CTX;
	if (o.n_batch == 0)
		o.n_batch = FORWARD_DEFAULT_BATCH;
	if (o.n_ctx > FORWARD_MAX_CTX || o.n_batch > FORWARD_MAX_BATCH || o.threads > ENGINE_MAX_THREADS ||
	    (o.kv_type != ENGINE_KV_F16 && o.kv_type != ENGINE_KV_F32)) {
		snprintf(err, errlen, "context options out of range (n_ctx <= %u, n_batch <= %u, threads <= %u)",
			 FORWARD_MAX_CTX, FORWARD_MAX_BATCH, ENGINE_MAX_THREADS);
		return -EINVAL;
	}
	if (o.n_batch > o.n_ctx)
		o.n_batch = o.n_ctx;
	uint32_t n_blocks = (o.n_ctx + BACKEND_KV_BLOCK - 1) / BACKEND_KV_BLOCK;
	struct forward_options fo = {
		.max_rows = o.n_batch,
		.max_positions = o.n_ctx,
		.n_blocks = n_blocks,
		.threads = o.threads,
		.kv_type = o.kv_type,
	};
	engine_ctx *c = xcalloc(1, sizeof(*c));
	int rc = forward_new(m, &fo, &c->f, err, errlen);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->n_ctx = o.n_ctx;
	c->n_batch = o.n_batch;
	c->blocks = xmalloc(n_blocks * sizeof(uint32_t));
	for (uint32_t i = 0; i < n_blocks; i++)
		c->blocks[i] = i;
	c->rows = xmalloc(c->n_batch * sizeof(*c->rows));
	c->logit_rows = xmalloc(c->n_batch * sizeof(uint32_t));
	*out = c;
	return 0;
}

void engine_ctx_free(engine_ctx *c)
{
	if (!c)
		return;
	forward_free(c->f);
	free(c->blocks);
	free(c->rows);
	free(c->logit_rows);
	free(c);
}

uint32_t engine_ctx_pos(const engine_ctx *c)
{
	return c->pos;
}

uint32_t engine_ctx_size(const engine_ctx *c)
{
	return c->n_ctx;
}

void engine_ctx_truncate(engine_ctx *c, uint32_t pos)
{
	if (pos < c->pos)
		c->pos = pos;
}

unsigned engine_ctx_threads(const engine_ctx *c)
{
	return forward_threads(c->f);
}

/* ---- the pass ---- */

/* out = x / sqrt(mean(x^2) + eps) * w, per row; the sum of squares in
 * double, as llama.cpp keeps it. */
static void forward_rms_norm(const float *x, const float *w, uint32_t nb, uint32_t n, float eps, float *out)
{
	for (uint32_t r = 0; r < nb; r++) {
		const float *xr = x + (size_t)r * n;
		float *o = out + (size_t)r * n;
		double sum = 0;
		for (uint32_t i = 0; i < n; i++)
			sum += (double)(xr[i] * xr[i]);
		float scale = 1.0f / sqrtf((float)(sum / n) + eps);
		for (uint32_t i = 0; i < n; i++)
			o[i] = xr[i] * scale * w[i];
	}
}

static void forward_add_bias(float *x, const float *bias, uint32_t nb, uint32_t n)
{
	for (uint32_t r = 0; r < nb; r++)
		for (uint32_t i = 0; i < n; i++)
			x[(size_t)r * n + i] += bias[i];
}

/* Rotates the first n_rot dimensions of each head of nb rows of n_heads
 * heads, with the pass's cos/sin table. */
static void forward_rope(const struct forward *c, float *x, uint32_t nb, uint32_t n_heads)
{
	uint32_t d = c->hp->head_dim, half = c->hp->n_rot / 2;
	bool neox = c->arch->rope_style == MODEL_ROPE_NEOX;
	for (uint32_t r = 0; r < nb; r++) {
		const float *cs = c->rope_cos + (size_t)r * half, *sn = c->rope_sin + (size_t)r * half;
		for (uint32_t h = 0; h < n_heads; h++) {
			float *v = x + ((size_t)r * n_heads + h) * d;
			for (uint32_t i = 0; i < half; i++) {
				uint32_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
				float x0 = v[a], x1 = v[b];
				v[a] = x0 * cs[i] - x1 * sn[i];
				v[b] = x0 * sn[i] + x1 * cs[i];
			}
		}
	}
}

static void forward_residual(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

void forward_batch(struct forward *c, const struct forward_row *rows, uint32_t nb, const uint32_t *logit_rows,
		   uint32_t n_logits, float *logits)
{
	const struct engine_hparams *hp = c->hp;
	struct backend *be = c->be;
	uint32_t E = hp->n_embd, half = hp->n_rot / 2;
	uint32_t qw = hp->n_head * hp->head_dim, kvw = hp->n_head_kv * hp->head_dim;
	float eps = (float)hp->rms_eps;

	for (uint32_t r = 0; r < nb; r++) {
		const struct forward_row *row = &rows[r];
		kernels_dequantize_row(c->embd.type, c->embd.data + (size_t)row->id * c->embd.row_bytes,
				       c->x + (size_t)r * E, E);
		for (uint32_t i = 0; i < half; i++) {
			double theta = (double)row->pos * c->rope_inv_freq[i];
			c->rope_cos[(size_t)r * half + i] = (float)cos(theta);
			c->rope_sin[(size_t)r * half + i] = (float)sin(theta);
		}
		c->slots[r] = row->blocks[row->pos / BACKEND_KV_BLOCK] * BACKEND_KV_BLOCK + row->pos % BACKEND_KV_BLOCK;
		c->n_pos[r] = row->pos + 1;
		c->tables[r] = row->blocks;
	}

	for (uint32_t l = 0; l < hp->n_layer; l++) {
		const struct forward_layer *L = &c->layers[l];
		forward_rms_norm(c->x, L->attn_norm, nb, E, eps, c->h);
		struct backend_matmul qkv[3] = {{&L->wq, c->q}, {&L->wk, c->k}, {&L->wv, c->v}};
		be->ops->matmul(be, c->h, nb, qkv, 3);
		if (L->bq) {
			forward_add_bias(c->q, L->bq, nb, qw);
			forward_add_bias(c->k, L->bk, nb, kvw);
			forward_add_bias(c->v, L->bv, nb, kvw);
		}
		forward_rope(c, c->q, nb, hp->n_head);
		forward_rope(c, c->k, nb, hp->n_head_kv);
		be->ops->kv_store(be, l, nb, c->k, c->v, c->slots);
		struct backend_attention a = {
			.layer = l,
			.nb = nb,
			.n_head = hp->n_head,
			.n_head_kv = hp->n_head_kv,
			.head_dim = hp->head_dim,
			.scale = 1.0f / sqrtf((float)hp->head_dim),
			.q = c->q,
			.tables = c->tables,
			.n_pos = c->n_pos,
			.out = c->att,
		};
		be->ops->attention(be, &a);
		struct backend_matmul o = {&L->wo, c->tmp};
		be->ops->matmul(be, c->att, nb, &o, 1);
		forward_residual(c->x, c->tmp, (size_t)nb * E);

		forward_rms_norm(c->x, L->ffn_norm, nb, E, eps, c->h);
		struct backend_matmul gu[2] = {{&L->gate, c->g}, {&L->up, c->u}};
		be->ops->matmul(be, c->h, nb, gu, 2);
		be->ops->swiglu(be, c->g, c->u, nb, hp->n_ff);
		struct backend_matmul down = {&L->down, c->tmp};
		be->ops->matmul(be, c->g, nb, &down, 1);
		forward_residual(c->x, c->tmp, (size_t)nb * E);
	}
	if (n_logits == 0)
		return;
	for (uint32_t i = 0; i < n_logits; i++)
		forward_rms_norm(c->x + (size_t)logit_rows[i] * E, c->output_norm, 1, E, eps, c->h + (size_t)i * E);
	struct backend_matmul head = {&c->output, logits};
	be->ops->matmul(be, c->h, n_logits, &head, 1);
}

int engine_decode(engine_ctx *c, const engine_token *ids, size_t n, unsigned flags, float *logits)
{
	if (n == 0)
		return 0;
	if (n > c->n_ctx - c->pos)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= c->f->hp->n_vocab)
			return -EINVAL;
	bool all = flags & ENGINE_DECODE_ALL_LOGITS;
	size_t V = c->f->hp->n_vocab;
	for (size_t done = 0; done < n;) {
		uint32_t nb = n - done < c->n_batch ? (uint32_t)(n - done) : c->n_batch;
		bool last = done + nb == n;
		for (uint32_t r = 0; r < nb; r++)
			c->rows[r] = (struct forward_row){ids[done + r], c->pos + r, c->blocks};
		float *out = NULL;
		uint32_t n_logits = 0;
		if (logits && all) {
			out = logits + done * V;
			for (uint32_t r = 0; r < nb; r++)
				c->logit_rows[n_logits++] = r;
		} else if (logits && last) {
			out = logits;
			c->logit_rows[n_logits++] = nb - 1;
		}
		forward_batch(c->f, c->rows, nb, c->logit_rows, n_logits, out);
		c->pos += nb;
		done += nb;
	}
	return 0;
}
