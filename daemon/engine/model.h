/* A model's description: its architecture, the hyper-parameters from the
 * <arch>.* metadata keys, and the tensors the architecture needs, each
 * checked against the shape the hyper-parameters imply. */
#ifndef AGENTD_ENGINE_MODEL_H
#define AGENTD_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/gguf.h"

/* What sets one architecture apart; a new one is a new table entry. */
/* How RoPE pairs the dimensions it rotates. */
enum model_rope_style {
	MODEL_ROPE_ADJACENT, /* (x[2i], x[2i+1]): llama.cpp's "normal" mode */
	MODEL_ROPE_NEOX,     /* (x[i], x[i + n_rot/2]) */
};

struct model_arch {
	const char *name;                 /* general.architecture */
	bool qkv_bias;                    /* attn_q/k/v carry biases */
	enum model_rope_style rope_style; /* the rotation's pairing */
};

/* The architecture that general.architecture names, or NULL. */
const struct model_arch *model_arch_find(const char *name, size_t len);

/* Reads the hyper-parameters of g into *hp and checks every tensor the
 * architecture needs (names and shapes). n_tokens is the vocabulary's token
 * count. Errors name the key or tensor at fault. */
/* The mapped file behind an opened model (borrowed from m). */
const struct gguf *engine_model_gguf(const engine_model *m);

int model_describe(const struct gguf *g, uint32_t n_tokens, struct engine_hparams *hp, char *err, size_t errlen);

#endif
