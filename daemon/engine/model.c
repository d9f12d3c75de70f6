/* Architecture hyper-parameters from GGUF metadata, cross-checked against
 * the shapes of the tensors that a forward pass will read. */
#include "daemon/engine/model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct model_arch model_archs[] = {
	{"llama", false, MODEL_ROPE_ADJACENT},
	{"qwen2", true, MODEL_ROPE_NEOX},
};

const struct model_arch *model_arch_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(model_archs) / sizeof(model_archs[0]); i++)
		if (strlen(model_archs[i].name) == len && memcmp(model_archs[i].name, name, len) == 0)
			return &model_archs[i];
	return NULL;
}

/* Reads "<arch>.<suffix>" as an integer in [1, max]; when optional and
 * absent, *out keeps its default. */
static int model_uint(const struct gguf *g, const char *arch, const char *suffix, bool optional, uint32_t max,
		      uint32_t *out, char *err, size_t errlen)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (optional && !gguf_get(g, key))
		return 0;
	uint64_t v;
	int rc = gguf_get_uint(g, key, max, &v, err, errlen);
	if (rc < 0)
		return rc;
	if (v == 0) {
		snprintf(err, errlen, "metadata key %s is 0", key);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int model_float(const struct gguf *g, const char *arch, const char *suffix, bool optional, double *out,
		       char *err, size_t errlen)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (optional && !gguf_get(g, key))
		return 0;
	int rc = gguf_get_float(g, key, out, err, errlen);
	if (rc < 0)
		return rc;
	if (*out <= 0) {
		snprintf(err, errlen, "metadata key %s is %g, must be positive", key, *out);
		return -EINVAL;
	}
	return 0;
}

/* Checks that tensor name exists (unless optional) with exactly the
 * dimensions ne[0..n_dims); why says which keys set them. Returns 1 when
 * present, 0 when optional and absent, or a negative errno. */
static int model_tensor(const struct gguf *g, const char *name, bool optional, uint32_t n_dims, const uint64_t *ne,
			const char *why, char *err, size_t errlen)
{
	const struct gguf_tensor *t = gguf_find_tensor(g, name);
	if (!t) {
		if (optional)
			return 0;
		snprintf(err, errlen, "tensor %s is missing", name);
		return -ENOENT;
	}
	bool same = t->n_dims == n_dims;
	for (uint32_t d = 0; same && d < n_dims; d++)
		same = t->ne[d] == ne[d];
	if (!same) {
		char have[96] = "", want[96] = "";
		size_t a = 0, b = 0;
		for (uint32_t d = 0; d < t->n_dims; d++)
			a += (size_t)snprintf(have + a, sizeof(have) - a, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
		for (uint32_t d = 0; d < n_dims; d++)
			b += (size_t)snprintf(want + b, sizeof(want) - b, "%s%" PRIu64, d ? ", " : "", ne[d]);
		snprintf(err, errlen, "tensor %s has shape [%s], expected [%s] from %s", name, have, want, why);
		return -EINVAL;
	}
	return 1;
}

struct model_expect {
	const char *name; /* tensor name; %u is the layer */
	uint32_t n_dims;  /* 1 or 2 */
	uint64_t ne0;     /* expected ne[0] */
	uint64_t ne1;     /* expected ne[1] (2-d) */
	const char *why;  /* the keys that fix the shape, for messages */
	bool bias;        /* only for architectures with attention biases */
};

static int model_check_tensors(const struct gguf *g, const struct model_arch *arch, struct engine_hparams *hp,
			       char *err, size_t errlen)
{
	char why[256];
	uint64_t e = hp->n_embd, v = hp->n_vocab;
	uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
	snprintf(why, sizeof(why), "%s.embedding_length and the vocabulary size", arch->name);
	uint64_t ne[2] = {e, v};
	int rc = model_tensor(g, "token_embd.weight", false, 2, ne, why, err, errlen);
	if (rc < 0)
		return rc;
	rc = model_tensor(g, "output.weight", true, 2, ne, why, err, errlen);
	if (rc < 0)
		return rc;
	hp->tied_embeddings = rc == 0;
	snprintf(why, sizeof(why), "%s.embedding_length", arch->name);
	if ((rc = model_tensor(g, "output_norm.weight", false, 1, ne, why, err, errlen)) < 0)
		return rc;

	char why_q[256], why_kv[256], why_ff[256];
	snprintf(why_q, sizeof(why_q), "%s.embedding_length and %s.attention.head_count", arch->name, arch->name);
	snprintf(why_kv, sizeof(why_kv), "%s.embedding_length and %s.attention.head_count_kv", arch->name, arch->name);
	snprintf(why_ff, sizeof(why_ff), "%s.embedding_length and %s.feed_forward_length", arch->name, arch->name);
	const struct model_expect layer[] = {
		{"blk.%u.attn_norm.weight", 1, e, 0, why, false},
		{"blk.%u.attn_q.weight", 2, e, q, why_q, false},
		{"blk.%u.attn_k.weight", 2, e, kv, why_kv, false},
		{"blk.%u.attn_v.weight", 2, e, kv, why_kv, false},
		{"blk.%u.attn_output.weight", 2, q, e, why_q, false},
		{"blk.%u.attn_q.bias", 1, q, 0, why_q, true},
		{"blk.%u.attn_k.bias", 1, kv, 0, why_kv, true},
		{"blk.%u.attn_v.bias", 1, kv, 0, why_kv, true},
		{"blk.%u.ffn_norm.weight", 1, e, 0, why, false},
		{"blk.%u.ffn_gate.weight", 2, e, hp->n_ff, why_ff, false},
		{"blk.%u.ffn_up.weight", 2, e, hp->n_ff, why_ff, false},
		{"blk.%u.ffn_down.weight", 2, hp->n_ff, e, why_ff, false},
	};
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		for (size_t i = 0; i < sizeof(layer) / sizeof(layer[0]); i++) {
			if (layer[i].bias && !arch->qkv_bias)
				continue;
			char name[64];
			snprintf(name, sizeof(name), layer[i].name, l);
			uint64_t shape[2] = {layer[i].ne0, layer[i].ne1};
			if ((rc = model_tensor(g, name, false, layer[i].n_dims, shape, layer[i].why, err, errlen)) < 0)
				return rc;
		}
	}
	/* Llama 3.1's RoPE scaling factors, one per rotated pair. */
	uint64_t rope[1] = {hp->n_rot / 2};
	snprintf(why, sizeof(why), "%s.rope.dimension_count", arch->name);
	rc = model_tensor(g, "rope_freqs.weight", true, 1, rope, why, err, errlen);
	return rc < 0 ? rc : 0;
}

int model_describe(const struct gguf *g, uint32_t n_tokens, struct engine_hparams *hp, char *err, size_t errlen)
{
	memset(hp, 0, sizeof(*hp));
	struct gguf_str name;
	int rc = gguf_get_string(g, "general.architecture", &name, err, errlen);
	if (rc < 0)
		return rc;
	const struct model_arch *arch = model_arch_find(name.ptr, (size_t)name.len);
	if (!arch) {
		snprintf(err, errlen, "general.architecture is '%.*s': supported architectures are llama and qwen2",
			 (int)(name.len > 64 ? 64 : name.len), name.ptr);
		return -ENOTSUP;
	}
	hp->arch = arch->name;
	hp->qkv_bias = arch->qkv_bias;
	const char *a = arch->name;
	/* Sizes are bounded so that products of two fit in 64 bits easily and
	 * every count fits the int32 arithmetic kernels use. */
	const uint32_t big = 1u << 24;
	if ((rc = model_uint(g, a, "context_length", false, UINT32_MAX, &hp->n_ctx_train, err, errlen)) < 0 ||
	    (rc = model_uint(g, a, "embedding_length", false, big, &hp->n_embd, err, errlen)) < 0 ||
	    (rc = model_uint(g, a, "block_count", false, 4096, &hp->n_layer, err, errlen)) < 0 ||
	    (rc = model_uint(g, a, "feed_forward_length", false, big, &hp->n_ff, err, errlen)) < 0 ||
	    (rc = model_uint(g, a, "attention.head_count", false, 4096, &hp->n_head, err, errlen)) < 0)
		return rc;
	hp->n_head_kv = hp->n_head;
	if ((rc = model_uint(g, a, "attention.head_count_kv", true, 4096, &hp->n_head_kv, err, errlen)) < 0)
		return rc;
	if (hp->n_head % hp->n_head_kv != 0) {
		snprintf(err, errlen,
			 "%s.attention.head_count (%u) is not a multiple of %s.attention.head_count_kv (%u)", a,
			 hp->n_head, a, hp->n_head_kv);
		return -EINVAL;
	}
	char key_length[128];
	snprintf(key_length, sizeof(key_length), "%s.attention.key_length", a);
	if (hp->n_embd % hp->n_head != 0 && !gguf_get(g, key_length)) {
		snprintf(err, errlen, "%s.embedding_length (%u) is not a multiple of %s.attention.head_count (%u)", a,
			 hp->n_embd, a, hp->n_head);
		return -EINVAL;
	}
	hp->head_dim = hp->n_embd / hp->n_head;
	if ((rc = model_uint(g, a, "attention.key_length", true, 65536, &hp->head_dim, err, errlen)) < 0)
		return rc;
	uint32_t value_length = hp->head_dim;
	if ((rc = model_uint(g, a, "attention.value_length", true, 65536, &value_length, err, errlen)) < 0)
		return rc;
	if (value_length != hp->head_dim) {
		snprintf(err, errlen, "%s.attention.value_length (%u) differs from the key length (%u)", a,
			 value_length, hp->head_dim);
		return -EINVAL;
	}
	hp->n_rot = hp->head_dim;
	if ((rc = model_uint(g, a, "rope.dimension_count", true, 65536, &hp->n_rot, err, errlen)) < 0)
		return rc;
	if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0) {
		snprintf(err, errlen, "%s.rope.dimension_count (%u) must be even and at most the head size (%u)", a,
			 hp->n_rot, hp->head_dim);
		return -EINVAL;
	}
	hp->rope_freq_base = 10000.0;
	if ((rc = model_float(g, a, "rope.freq_base", true, &hp->rope_freq_base, err, errlen)) < 0 ||
	    (rc = model_float(g, a, "attention.layer_norm_rms_epsilon", false, &hp->rms_eps, err, errlen)) < 0)
		return rc;
	hp->n_vocab = n_tokens;
	uint32_t vocab_size = n_tokens;
	if ((rc = model_uint(g, a, "vocab_size", true, UINT32_MAX, &vocab_size, err, errlen)) < 0)
		return rc;
	if (vocab_size != n_tokens) {
		snprintf(err, errlen, "%s.vocab_size is %u but tokenizer.ggml.tokens holds %u tokens", a, vocab_size,
			 n_tokens);
		return -EINVAL;
	}
	return model_check_tensors(g, arch, hp, err, errlen);
}
