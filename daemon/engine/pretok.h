/* Pre-tokenizers: split text into the words that BPE then merges within,
 * following the rules that tokenizer.ggml.pre names. Each is written out by
 * hand (no regex engine) to the exact semantics of its regex:
 *   gpt-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama-bpe  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2      the same as llama-bpe with \p{N} instead of \p{N}{1,3} */
#ifndef AGENTD_ENGINE_PRETOK_H
#define AGENTD_ENGINE_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum pretok_kind {
	PRETOK_GPT2,
	PRETOK_LLAMA3,
	PRETOK_QWEN2,
};

/* The kind tokenizer.ggml.pre names (len bytes at name); -1 if unknown. */
int pretok_from_name(const char *name, size_t len);
/* The canonical name of a kind ("gpt-2", "llama-bpe", "qwen2"). */
const char *pretok_name(enum pretok_kind kind);
/* Splits the n code points cps[] into words: writes the end index of each
 * word (exclusive, ascending, the last is n) into ends[] (room for n) and
 * returns the number of words. */
size_t pretok_split(enum pretok_kind kind, const uint32_t *cps, size_t n, size_t *ends);

#endif
