/* The float64 reference forward pass: the model exactly as llama.cpp
 * defines it, computed the slow, obvious way, so that the optimized engine
 * has something independent to be measured against. */
#include "tests/engine/reference.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/engine/gguf.h"

/* ggml's type ids for the weight types the reference reads. */
enum {
	REF_F32 = 0,
	REF_F16 = 1,
	REF_Q8_0 = 8,
	REF_BF16 = 30,
};

/* Q8_0: blocks of 32 weights, an f16 scale then 32 int8 quants. */
#define REF_Q8_0_BLOCK 32
#define REF_Q8_0_BYTES 34

/* One block's weights, dequantized. Matrices hold n_out rows of n_in. */
struct ref_layer {
	double *attn_norm; /* [n_embd] */
	double *wq;        /* [n_head * head_dim][n_embd] */
	double *wk;        /* [n_head_kv * head_dim][n_embd] */
	double *wv;        /* [n_head_kv * head_dim][n_embd] */
	double *wo;        /* [n_embd][n_head * head_dim] */
	double *bq;        /* [n_head * head_dim], NULL without biases */
	double *bk;        /* [n_head_kv * head_dim], NULL without biases */
	double *bv;        /* [n_head_kv * head_dim], NULL without biases */
	double *ffn_norm;  /* [n_embd] */
	double *ffn_gate;  /* [n_ff][n_embd] */
	double *ffn_up;    /* [n_ff][n_embd] */
	double *ffn_down;  /* [n_embd][n_ff] */
};

struct ref_model {
	struct ref_hparams hp;         /* sizes */
	double *token_embd;            /* [n_vocab][n_embd] */
	double *output_norm;           /* [n_embd] */
	double *output;                /* [n_vocab][n_embd]; token_embd when tied (not owned then) */
	double *rope_freqs;            /* [n_rot / 2] divisors of the angles, NULL when absent */
	struct ref_layer *layers;      /* [n_layer] */
	struct ref_attention_stats st; /* of the last ref_forward */
};

/* ---- dequantization ---- */

static double ref_half(uint16_t h)
{
	int sign = h >> 15;
	int exp = (h >> 10) & 0x1f;
	int mant = h & 0x3ff;
	double v;
	if (exp == 0)
		v = ldexp((double)mant, -24); /* subnormal */
	else if (exp == 31)
		v = mant ? NAN : INFINITY;
	else
		v = ldexp(1024.0 + mant, exp - 25);
	return sign ? -v : v;
}

static double ref_bf16(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static uint16_t ref_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* Dequantizes n elements of type from data into out. */
static void ref_dequantize(uint32_t type, const uint8_t *data, uint64_t n, double *out)
{
	switch (type) {
	case REF_F32:
		for (uint64_t i = 0; i < n; i++) {
			float f;
			memcpy(&f, data + 4 * i, sizeof(f));
			out[i] = f;
		}
		break;
	case REF_F16:
		for (uint64_t i = 0; i < n; i++)
			out[i] = ref_half(ref_u16(data + 2 * i));
		break;
	case REF_BF16:
		for (uint64_t i = 0; i < n; i++)
			out[i] = ref_bf16(ref_u16(data + 2 * i));
		break;
	case REF_Q8_0:
		for (uint64_t b = 0; b < n / REF_Q8_0_BLOCK; b++) {
			const uint8_t *blk = data + b * REF_Q8_0_BYTES;
			double d = ref_half(ref_u16(blk));
			for (int i = 0; i < REF_Q8_0_BLOCK; i++)
				out[b * REF_Q8_0_BLOCK + i] = d * (int8_t)blk[2 + i];
		}
		break;
	}
}

static const char *ref_type_name(uint32_t type)
{
	switch (type) {
	case REF_F32: return "f32";
	case REF_F16: return "f16";
	case REF_BF16: return "bf16";
	case REF_Q8_0: return "q8_0";
	}
	return NULL;
}

/* ---- loading ---- */

/* The tensor called name, checked to have shape [n_in] (n_out == 0) or
 * [n_in, n_out], dequantized into a new array in *out (NULL when absent and
 * optional). */
static int ref_tensor(const struct gguf *g, const char *name, uint64_t n_in, uint64_t n_out, bool optional,
		      double **out, char *err, size_t errlen)
{
	*out = NULL;
	const struct gguf_tensor *t = gguf_find_tensor(g, name);
	if (!t) {
		if (optional)
			return 0;
		snprintf(err, errlen, "reference: tensor %s is missing", name);
		return -EINVAL;
	}
	uint32_t dims = n_out ? 2 : 1;
	if (t->n_dims != dims || t->ne[0] != n_in || (n_out && t->ne[1] != n_out)) {
		snprintf(err, errlen, "reference: tensor %s has %u dims [%llu, %llu], expected [%llu, %llu]", name,
			 t->n_dims, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
			 (unsigned long long)n_in, (unsigned long long)(n_out ? n_out : 1));
		return -EINVAL;
	}
	if (!ref_type_name(t->type)) {
		snprintf(err, errlen, "reference: tensor %s has type %u, not f32, f16, bf16 or q8_0", name, t->type);
		return -ENOTSUP;
	}
	if (t->type == REF_Q8_0 && n_in % REF_Q8_0_BLOCK != 0) {
		snprintf(err, errlen, "reference: tensor %s: rows of %llu are not whole q8_0 blocks", name,
			 (unsigned long long)n_in);
		return -EINVAL;
	}
	uint64_t n = t->n_elems;
	if (n > (SIZE_MAX / sizeof(double)) || !(*out = malloc(n * sizeof(double)))) {
		snprintf(err, errlen, "reference: no memory for tensor %s", name);
		return -ENOMEM;
	}
	ref_dequantize(t->type, t->data, n, *out);
	return 0;
}

static int ref_key_uint(const struct gguf *g, const char *arch, const char *suffix, bool optional, uint32_t *out,
			char *err, size_t errlen)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	uint64_t v;
	int rc = gguf_get_uint(g, key, 1u << 20, &v, err, errlen);
	if (rc == -ENOENT && optional)
		return 0;
	if (rc < 0)
		return rc;
	*out = (uint32_t)v;
	return 0;
}

static int ref_key_float(const struct gguf *g, const char *arch, const char *suffix, bool optional, double *out,
			 char *err, size_t errlen)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	int rc = gguf_get_float(g, key, out, err, errlen);
	if (rc == -ENOENT && optional)
		return 0;
	return rc;
}

static int ref_read_hparams(const struct gguf *g, struct ref_hparams *hp, char *err, size_t errlen)
{
	struct gguf_str arch;
	int rc = gguf_get_string(g, "general.architecture", &arch, err, errlen);
	if (rc < 0)
		return rc;
	if (gguf_str_eq(arch, "llama")) {
		snprintf(hp->arch, sizeof(hp->arch), "llama");
		hp->neox = 0;
	} else if (gguf_str_eq(arch, "qwen2")) {
		snprintf(hp->arch, sizeof(hp->arch), "qwen2");
		hp->neox = 1;
	} else {
		snprintf(err, errlen, "reference: architecture %.*s is not llama or qwen2", (int)arch.len, arch.ptr);
		return -ENOTSUP;
	}
	const char *a = hp->arch;
	if ((rc = ref_key_uint(g, a, "embedding_length", false, &hp->n_embd, err, errlen)) < 0 ||
	    (rc = ref_key_uint(g, a, "block_count", false, &hp->n_layer, err, errlen)) < 0 ||
	    (rc = ref_key_uint(g, a, "feed_forward_length", false, &hp->n_ff, err, errlen)) < 0 ||
	    (rc = ref_key_uint(g, a, "attention.head_count", false, &hp->n_head, err, errlen)) < 0)
		return rc;
	if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 || hp->n_head == 0) {
		snprintf(err, errlen, "reference: a size is 0");
		return -EINVAL;
	}
	hp->n_head_kv = hp->n_head;
	hp->head_dim = hp->n_embd / hp->n_head;
	hp->rope_freq_base = 10000.0;
	if ((rc = ref_key_uint(g, a, "attention.head_count_kv", true, &hp->n_head_kv, err, errlen)) < 0 ||
	    (rc = ref_key_uint(g, a, "attention.key_length", true, &hp->head_dim, err, errlen)) < 0)
		return rc;
	hp->n_rot = hp->head_dim;
	if ((rc = ref_key_uint(g, a, "rope.dimension_count", true, &hp->n_rot, err, errlen)) < 0 ||
	    (rc = ref_key_float(g, a, "rope.freq_base", true, &hp->rope_freq_base, err, errlen)) < 0 ||
	    (rc = ref_key_float(g, a, "attention.layer_norm_rms_epsilon", false, &hp->rms_eps, err, errlen)) < 0)
		return rc;
	if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0 || hp->head_dim == 0 || hp->n_rot % 2 != 0 ||
	    hp->n_rot > hp->head_dim) {
		snprintf(err, errlen, "reference: bad head sizes (heads %u/%u, head_dim %u, n_rot %u)", hp->n_head,
			 hp->n_head_kv, hp->head_dim, hp->n_rot);
		return -EINVAL;
	}
	const struct gguf_tensor *embd = gguf_find_tensor(g, "token_embd.weight");
	if (!embd || embd->n_dims != 2) {
		snprintf(err, errlen, "reference: tensor token_embd.weight is missing or not a matrix");
		return -EINVAL;
	}
	if (embd->ne[1] == 0 || embd->ne[1] > (1u << 24)) {
		snprintf(err, errlen, "reference: token_embd.weight has %llu rows", (unsigned long long)embd->ne[1]);
		return -EINVAL;
	}
	hp->n_vocab = (uint32_t)embd->ne[1];
	hp->tied = gguf_find_tensor(g, "output.weight") == NULL;
	hp->rope_freqs = gguf_find_tensor(g, "rope_freqs.weight") != NULL;
	return 0;
}

static void ref_layer_free(struct ref_layer *l)
{
	free(l->attn_norm);
	free(l->wq);
	free(l->wk);
	free(l->wv);
	free(l->wo);
	free(l->bq);
	free(l->bk);
	free(l->bv);
	free(l->ffn_norm);
	free(l->ffn_gate);
	free(l->ffn_up);
	free(l->ffn_down);
}

static int ref_load_layer(const struct gguf *g, const struct ref_hparams *hp, uint32_t il, struct ref_layer *l,
			  char *err, size_t errlen)
{
	uint64_t E = hp->n_embd, F = hp->n_ff;
	uint64_t Q = (uint64_t)hp->n_head * hp->head_dim, KV = (uint64_t)hp->n_head_kv * hp->head_dim;
	/* qwen2 has q, k and v biases; llama.cpp reads them for llama too when a
	 * file has them. */
	bool bias_optional = !hp->neox;
	char name[96];
	int rc;
#define REF_LOAD(field, suffix, n_in, n_out, optional)                                                                 \
	do {                                                                                                           \
		snprintf(name, sizeof(name), "blk.%u.%s", il, suffix);                                                 \
		if ((rc = ref_tensor(g, name, n_in, n_out, optional, &l->field, err, errlen)) < 0)                     \
			return rc;                                                                                     \
	} while (0)
	REF_LOAD(attn_norm, "attn_norm.weight", E, 0, false);
	REF_LOAD(wq, "attn_q.weight", E, Q, false);
	REF_LOAD(wk, "attn_k.weight", E, KV, false);
	REF_LOAD(wv, "attn_v.weight", E, KV, false);
	REF_LOAD(wo, "attn_output.weight", Q, E, false);
	REF_LOAD(bq, "attn_q.bias", Q, 0, bias_optional);
	REF_LOAD(bk, "attn_k.bias", KV, 0, bias_optional);
	REF_LOAD(bv, "attn_v.bias", KV, 0, bias_optional);
	REF_LOAD(ffn_norm, "ffn_norm.weight", E, 0, false);
	REF_LOAD(ffn_gate, "ffn_gate.weight", E, F, false);
	REF_LOAD(ffn_up, "ffn_up.weight", E, F, false);
	REF_LOAD(ffn_down, "ffn_down.weight", F, E, false);
#undef REF_LOAD
	return 0;
}

int ref_open(const char *path, struct ref_model **out, char *err, size_t errlen)
{
	struct gguf *g = NULL;
	struct ref_model *m = NULL;
	*out = NULL;
	int rc = gguf_open(path, &g, err, errlen);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	if (!(m = calloc(1, sizeof(*m))))
		goto fail;
	if ((rc = ref_read_hparams(g, &m->hp, err, errlen)) < 0)
		goto fail;
	const struct ref_hparams *hp = &m->hp;
	if (!(m->layers = calloc(hp->n_layer, sizeof(*m->layers))))
		goto fail;
	if ((rc = ref_tensor(g, "token_embd.weight", hp->n_embd, hp->n_vocab, false, &m->token_embd, err, errlen)) <
		    0 ||
	    (rc = ref_tensor(g, "output_norm.weight", hp->n_embd, 0, false, &m->output_norm, err, errlen)) < 0 ||
	    (rc = ref_tensor(g, "output.weight", hp->n_embd, hp->n_vocab, true, &m->output, err, errlen)) < 0 ||
	    (rc = ref_tensor(g, "rope_freqs.weight", hp->n_rot / 2, 0, true, &m->rope_freqs, err, errlen)) < 0)
		goto fail;
	for (uint32_t il = 0; il < hp->n_layer; il++)
		if ((rc = ref_load_layer(g, hp, il, &m->layers[il], err, errlen)) < 0)
			goto fail;
	gguf_close(g);
	*out = m;
	return 0;
fail:
	ref_free(m);
	gguf_close(g);
	return rc;
}

void ref_free(struct ref_model *m)
{
	if (!m)
		return;
	for (uint32_t il = 0; m->layers && il < m->hp.n_layer; il++)
		ref_layer_free(&m->layers[il]);
	free(m->layers);
	free(m->token_embd);
	free(m->output_norm);
	free(m->output);
	free(m->rope_freqs);
	free(m);
}

const struct ref_hparams *ref_hparams(const struct ref_model *m)
{
	return &m->hp;
}

uint32_t ref_n_vocab(const struct ref_model *m)
{
	return m->hp.n_vocab;
}

void ref_attention_stats(const struct ref_model *m, struct ref_attention_stats *out)
{
	*out = m->st;
}

/* ---- the forward pass ---- */

/* out = x / sqrt(mean(x^2) + eps) * w */
static void ref_rmsnorm(double *out, const double *x, const double *w, uint32_t n, double eps)
{
	double ss = 0.0;
	for (uint32_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	double scale = 1.0 / sqrt(ss / n + eps);
	for (uint32_t i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

/* y[j] = sum_i W[j][i] x[i] (+ b[j]); W holds n_out rows of n_in. */
static void ref_matvec(double *y, const double *w, const double *b, const double *x, uint64_t n_in, uint64_t n_out)
{
	for (uint64_t j = 0; j < n_out; j++) {
		const double *row = w + j * n_in;
		double s = 0.0;
		for (uint64_t i = 0; i < n_in; i++)
			s += row[i] * x[i];
		y[j] = b ? s + b[j] : s;
	}
}

/* Rotates the first n_rot dimensions of each of n_heads heads of v at
 * position pos: llama's adjacent pairs (v[2i], v[2i+1]) or NeoX's halves
 * (v[i], v[i + n_rot/2]), by pos * base^(-2i/n_rot) / freq_factor[i]. */
static void ref_rope(const struct ref_model *m, double *v, uint32_t n_heads, uint32_t pos)
{
	const struct ref_hparams *hp = &m->hp;
	uint32_t half = hp->n_rot / 2;
	for (uint32_t h = 0; h < n_heads; h++) {
		double *head = v + (size_t)h * hp->head_dim;
		for (uint32_t i = 0; i < half; i++) {
			double theta = pos * pow(hp->rope_freq_base, -2.0 * i / hp->n_rot);
			if (m->rope_freqs)
				theta /= m->rope_freqs[i];
			double c = cos(theta), s = sin(theta);
			uint32_t a = hp->neox ? i : 2 * i;
			uint32_t b = hp->neox ? i + half : 2 * i + 1;
			double x0 = head[a], x1 = head[b];
			head[a] = x0 * c - x1 * s;
			head[b] = x0 * s + x1 * c;
		}
	}
}

static double ref_silu(double x)
{
	return x / (1.0 + exp(-x));
}

int ref_forward(struct ref_model *m, const int32_t *ids, size_t n, double *logits)
{
	const struct ref_hparams *hp = &m->hp;
	for (size_t p = 0; p < n; p++)
		if (ids[p] < 0 || (uint32_t)ids[p] >= hp->n_vocab)
			return -EINVAL;
	uint32_t E = hp->n_embd, F = hp->n_ff, D = hp->head_dim;
	uint32_t Q = hp->n_head * D, KV = hp->n_head_kv * D;
	uint32_t group = hp->n_head / hp->n_head_kv;
	double *x = calloc(E, sizeof(double));
	double *h = calloc(E, sizeof(double));
	double *tmp = calloc(E, sizeof(double));
	double *q = calloc(Q, sizeof(double));
	double *att = calloc(Q, sizeof(double));
	double *gate = calloc(F, sizeof(double));
	double *up = calloc(F, sizeof(double));
	double *scores = calloc(n ? n : 1, sizeof(double));
	/* The cache: keys and values of every layer and position. */
	double *kcache = calloc((size_t)hp->n_layer * n * KV + 1, sizeof(double));
	double *vcache = calloc((size_t)hp->n_layer * n * KV + 1, sizeof(double));
	if (!x || !h || !tmp || !q || !att || !gate || !up || !scores || !kcache || !vcache)
		abort();
	memset(&m->st, 0, sizeof(m->st));
	double max_sum = 0.0, uniform_sum = 0.0;
	const double *head_w = m->output ? m->output : m->token_embd;

	for (size_t p = 0; p < n; p++) {
		memcpy(x, m->token_embd + (size_t)ids[p] * E, E * sizeof(double));
		for (uint32_t il = 0; il < hp->n_layer; il++) {
			const struct ref_layer *l = &m->layers[il];
			double *k = kcache + ((size_t)il * n + p) * KV;
			double *v = vcache + ((size_t)il * n + p) * KV;
			ref_rmsnorm(h, x, l->attn_norm, E, hp->rms_eps);
			ref_matvec(q, l->wq, l->bq, h, E, Q);
			ref_matvec(k, l->wk, l->bk, h, E, KV);
			ref_matvec(v, l->wv, l->bv, h, E, KV);
			ref_rope(m, q, hp->n_head, (uint32_t)p);
			ref_rope(m, k, hp->n_head_kv, (uint32_t)p);
			for (uint32_t hd = 0; hd < hp->n_head; hd++) {
				const double *qh = q + (size_t)hd * D;
				uint32_t kvh = hd / group;
				double top = -INFINITY;
				for (size_t t = 0; t <= p; t++) {
					const double *kt = kcache + ((size_t)il * n + t) * KV + (size_t)kvh * D;
					double s = 0.0;
					for (uint32_t i = 0; i < D; i++)
						s += qh[i] * kt[i];
					scores[t] = s / sqrt((double)D);
					if (scores[t] > top)
						top = scores[t];
				}
				double sum = 0.0;
				for (size_t t = 0; t <= p; t++) {
					scores[t] = exp(scores[t] - top);
					sum += scores[t];
				}
				double *out = att + (size_t)hd * D;
				memset(out, 0, D * sizeof(double));
				double biggest = 0.0;
				for (size_t t = 0; t <= p; t++) {
					double w = scores[t] / sum;
					if (w > biggest)
						biggest = w;
					const double *vt = vcache + ((size_t)il * n + t) * KV + (size_t)kvh * D;
					for (uint32_t i = 0; i < D; i++)
						out[i] += w * vt[i];
				}
				if (p >= 1) {
					max_sum += biggest;
					uniform_sum += 1.0 / (double)(p + 1);
					m->st.rows++;
				}
			}
			ref_matvec(tmp, l->wo, NULL, att, Q, E);
			for (uint32_t i = 0; i < E; i++)
				x[i] += tmp[i];
			ref_rmsnorm(h, x, l->ffn_norm, E, hp->rms_eps);
			ref_matvec(gate, l->ffn_gate, NULL, h, E, F);
			ref_matvec(up, l->ffn_up, NULL, h, E, F);
			for (uint32_t i = 0; i < F; i++)
				gate[i] = ref_silu(gate[i]) * up[i];
			ref_matvec(tmp, l->ffn_down, NULL, gate, F, E);
			for (uint32_t i = 0; i < E; i++)
				x[i] += tmp[i];
		}
		ref_rmsnorm(h, x, m->output_norm, E, hp->rms_eps);
		ref_matvec(logits + p * hp->n_vocab, head_w, NULL, h, E, hp->n_vocab);
	}
	if (m->st.rows) {
		m->st.max_weight_mean = max_sum / (double)m->st.rows;
		m->st.uniform_weight_mean = uniform_sum / (double)m->st.rows;
	}
	free(x);
	free(h);
	free(tmp);
	free(q);
	free(att);
	free(gate);
	free(up);
	free(scores);
	free(kcache);
	free(vcache);
	return 0;
}
