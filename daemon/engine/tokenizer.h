/* Byte-level BPE tokenization: special tokens matched whole, then the
 * pre-tokenizer's words, each merged by rank from its bytes. */
#ifndef AGENTD_ENGINE_TOKENIZER_H
#define AGENTD_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/vocab.h"

/* Appends the ids of text (len bytes; invalid UTF-8 reads as U+FFFD per
 * byte) to out. parse_special: control tokens' text is matched too
 * (user-defined tokens always are). add_bos: start with BOS when the
 * vocabulary asks for it. */
void tokenizer_encode(const struct vocab *v, const char *text, size_t len, bool parse_special, bool add_bos,
		      struct engine_tokens *out);
/* The bytes of token id (id < n_tokens), borrowed from v; *len gets their
 * length. Control and other non-text tokens give nothing unless special. */
const char *tokenizer_piece(const struct vocab *v, int32_t id, bool special, size_t *len);

#endif
