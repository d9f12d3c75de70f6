/* The judge of the engine's forward pass: a naive float64 forward pass for
 * llama and qwen2 models, written plainly (after llama2.c) and sharing no
 * code with daemon/engine/ beyond the GGUF parser. Every weight is
 * dequantized into doubles once, at open. */
#ifndef AGENTD_TESTS_ENGINE_REFERENCE_H
#define AGENTD_TESTS_ENGINE_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

struct ref_model;

/* What the reference read from the file, for tests that build on it. */
struct ref_hparams {
	char arch[16];         /* "llama" or "qwen2" */
	uint32_t n_embd;       /* embedding length */
	uint32_t n_layer;      /* blocks */
	uint32_t n_ff;         /* feed-forward length */
	uint32_t n_head;       /* query heads */
	uint32_t n_head_kv;    /* key/value heads */
	uint32_t head_dim;     /* dimensions per head */
	uint32_t n_rot;        /* RoPE dimensions per head */
	uint32_t n_vocab;      /* rows of token_embd */
	double rope_freq_base; /* RoPE theta */
	double rms_eps;        /* RMSNorm epsilon */
	int neox;              /* 1: rotate (x[i], x[i + n_rot/2]) (qwen2); 0: adjacent pairs (llama) */
	int tied;              /* no output.weight: the head is token_embd */
	int rope_freqs;        /* rope_freqs.weight is present */
};

/* How peaked attention was over the last ref_forward: the mean, over every
 * layer, head and position p >= 1, of the largest attention weight, beside
 * the same mean for uniform attention (the mean of 1 / (p + 1)). */
struct ref_attention_stats {
	double max_weight_mean;     /* 1 when every head attends to one position */
	double uniform_weight_mean; /* what uniform attention would give */
	uint64_t rows;              /* (layer, head, position) rows averaged */
};

/* Reads the GGUF file at path and dequantizes its weights (F32, F16, BF16
 * and Q8_0). On success *out is a new model the caller frees with
 * ref_free; on failure returns a negative errno with a message in err. */
int ref_open(const char *path, struct ref_model **out, char *err, size_t errlen);
void ref_free(struct ref_model *m);

/* Borrowed from m. */
const struct ref_hparams *ref_hparams(const struct ref_model *m);
uint32_t ref_n_vocab(const struct ref_model *m);

/* Teacher forcing: runs ids[0..n) at positions 0..n-1 and writes the
 * logits of every position into logits (n * n_vocab, position-major).
 * Returns 0, or -EINVAL on an id outside the vocabulary. */
int ref_forward(struct ref_model *m, const int32_t *ids, size_t n, double *logits);

/* Attention statistics of the last ref_forward. */
void ref_attention_stats(const struct ref_model *m, struct ref_attention_stats *out);

#endif
