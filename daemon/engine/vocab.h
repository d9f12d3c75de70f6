/* The vocabulary of a byte-level BPE tokenizer, loaded from a GGUF file's
 * tokenizer.ggml.* keys: token texts and types, merges ranked by position,
 * special token ids, and each token's bytes for detokenizing. */
#ifndef AGENTD_ENGINE_VOCAB_H
#define AGENTD_ENGINE_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/gguf.h"
#include "daemon/engine/pairmap.h"
#include "daemon/engine/pretok.h"
#include "daemon/engine/strmap.h"

/* Vocabularies larger than this are refused (ids must fit in 31 bits with
 * room to spare; the largest real ones hold about 260,000 tokens). */
#define VOCAB_MAX_TOKENS (1u << 24)

/* A token matched whole in the input before pre-tokenization. */
struct vocab_special {
	int32_t id;       /* the token */
	const char *text; /* its text, borrowed from the file */
	uint32_t len;     /* bytes of text (> 0) */
	bool control;     /* matched only when asked (control or unknown); user-defined ones always */
};

struct vocab {
	uint32_t n_tokens;              /* tokens */
	struct gguf_str *text;          /* token texts as stored, borrowed from the file; n_tokens */
	uint8_t *type;                  /* token types (enum engine_token_type); n_tokens */
	struct strmap by_text;          /* token text -> id */
	struct pairmap merges;          /* (left id, right id) -> rank << 32 | merged id */
	uint32_t n_merges;              /* merges in use */
	int32_t byte_token[256];        /* the token of each single byte */
	char *pieces;                   /* every token's detokenized bytes, concatenated */
	uint32_t *piece_off;            /* token i's bytes are pieces[piece_off[i] .. piece_off[i+1]) */
	struct vocab_special *specials; /* special tokens by first byte, then longest text first */
	uint32_t n_specials;            /* entries in specials */
	uint32_t special_bucket[257];   /* specials starting with byte b are [bucket[b], bucket[b + 1]) */
	enum pretok_kind pre;           /* pre-tokenizer */
	bool ignore_merges;             /* a word that is a whole token is taken as is (llama-bpe) */
	int32_t bos;                    /* -1 when none */
	int32_t eos;                    /* -1 when none */
	int32_t eot;                    /* end of turn, -1 when none */
	bool add_bos;                   /* prompts start with bos */
	uint32_t n_control;             /* control tokens */
	uint32_t n_user;                /* user-defined tokens */
};

/* Loads the vocabulary from g, which must outlive it. Refuses (with a
 * message naming the key) a tokenizer model other than "gpt2", an unknown
 * pre-tokenizer, and inconsistent arrays or ids. */
int vocab_load(struct vocab *v, const struct gguf *g, char *err, size_t errlen);
void vocab_close(struct vocab *v);
/* The id of the token whose stored text is text[0..len), or -1. */
int32_t vocab_find(const struct vocab *v, const char *text, size_t len);

#endif
