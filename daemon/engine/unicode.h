/* Unicode for the tokenizer: strict UTF-8 decoding (every byte that does
 * not start a valid sequence reads as U+FFFD, as llama.cpp does), encoding,
 * and the code point classes the pre-tokenizers test: letters (\p{L}),
 * numbers (\p{N}) and white space (Unicode's White_Space property, which is
 * what \s means to llama.cpp and to the Rust tokenizers). */
#ifndef AGENTD_ENGINE_UNICODE_H
#define AGENTD_ENGINE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define UNICODE_LETTER 1u
#define UNICODE_NUMBER 2u
#define UNICODE_SPACE 4u
#define UNICODE_REPLACEMENT 0xFFFDu

/* One run of code points with the same class flags (unicode_data.c). */
struct unicode_range {
	uint32_t start; /* first code point of the run */
	uint8_t flags;  /* UNICODE_* bits of every code point in it */
};

extern const struct unicode_range unicode_ranges[];
extern const unsigned unicode_range_count;

/* The UNICODE_* flags of code point cp (0 beyond U+10FFFF). */
unsigned unicode_flags(uint32_t cp);
/* Decodes the code point at s (len > 0 bytes left) and sets *size to the
 * bytes it took. Overlong forms, surrogates, values past U+10FFFF, stray
 * continuation bytes and truncated sequences give U+FFFD with *size 1. */
uint32_t unicode_decode(const char *s, size_t len, size_t *size);
/* Writes cp as UTF-8 into out (4 bytes of room); returns the length. */
size_t unicode_encode(uint32_t cp, char *out);
/* How many bytes at the end of s (len bytes) form an incomplete but so far
 * valid UTF-8 sequence that more bytes could complete (0 to 3). */
size_t unicode_incomplete_tail(const char *s, size_t len);

#endif
