/* The gpt-2, llama-bpe and qwen2 pre-tokenizers as hand-written scanners:
 * each step tries the regex's alternatives in order at the current position
 * and takes the first that matches, as a backtracking regex engine would. */
#include "daemon/engine/pretok.h"

#include <stdbool.h>
#include <string.h>

#include "daemon/engine/unicode.h"

/* Flags of cps[i], or 0 past the end (the end matches no class). */
static unsigned pretok_class(const uint32_t *cps, size_t n, size_t i)
{
	return i < n ? unicode_flags(cps[i]) | 0x80u : 0;
}

#define PRETOK_IN_TEXT 0x80u
/* A code point that is not a letter, number or space ([^\s\p{L}\p{N}]). */
#define PRETOK_OTHER(f) (((f)&PRETOK_IN_TEXT) && !((f) & (UNICODE_LETTER | UNICODE_NUMBER | UNICODE_SPACE)))

static uint32_t pretok_lower_ascii(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Length of the contraction ('s 't 're 've 'm 'll 'd) at i, or 0. */
static size_t pretok_contraction(const uint32_t *cps, size_t n, size_t i, bool any_case)
{
	if (cps[i] != '\'' || i + 1 >= n)
		return 0;
	uint32_t a = any_case ? pretok_lower_ascii(cps[i + 1]) : cps[i + 1];
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (i + 2 >= n)
		return 0;
	uint32_t b = any_case ? pretok_lower_ascii(cps[i + 2]) : cps[i + 2];
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* Length of the white space alternatives at i, for \s+(?!\S)|\s+: a run of
 * spaces followed by more text gives back its last space (which then leads
 * the next word), except a run of one. With newlines_first, the run first
 * tries \s*[\r\n]+, which ends after the run's last \r or \n. */
static size_t pretok_spaces(const uint32_t *cps, size_t n, size_t i, bool newlines_first)
{
	size_t k = 0, last_newline = 0;
	while (i + k < n && (unicode_flags(cps[i + k]) & UNICODE_SPACE)) {
		if (cps[i + k] == '\r' || cps[i + k] == '\n')
			last_newline = k + 1;
		k++;
	}
	if (newlines_first && last_newline)
		return last_newline;
	if (k > 1 && i + k < n)
		return k - 1;
	return k;
}

static size_t pretok_step_gpt2(const uint32_t *cps, size_t n, size_t i)
{
	size_t len = pretok_contraction(cps, n, i, false);
	if (len)
		return len;
	/* " ?X+" for X in letters, numbers, others: the optional space is
	 * taken when the class run starts right after it. */
	size_t start = cps[i] == ' ' ? i + 1 : i;
	unsigned f = pretok_class(cps, n, start);
	size_t j = start;
	if (f & UNICODE_LETTER) {
		while (pretok_class(cps, n, j) & UNICODE_LETTER)
			j++;
		return j - i;
	}
	if (f & UNICODE_NUMBER) {
		while (pretok_class(cps, n, j) & UNICODE_NUMBER)
			j++;
		return j - i;
	}
	if (PRETOK_OTHER(f)) {
		while (PRETOK_OTHER(pretok_class(cps, n, j)))
			j++;
		return j - i;
	}
	len = pretok_spaces(cps, n, i, false);
	return len ? len : 1;
}

static size_t pretok_step_llama3(const uint32_t *cps, size_t n, size_t i, size_t max_digits)
{
	size_t len = pretok_contraction(cps, n, i, true);
	if (len)
		return len;
	uint32_t c = cps[i];
	unsigned f = pretok_class(cps, n, i);
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (c != '\r' && c != '\n' && !(f & UNICODE_NUMBER)) {
		if ((f & UNICODE_LETTER) || (pretok_class(cps, n, i + 1) & UNICODE_LETTER)) {
			size_t j = i + 1;
			while (pretok_class(cps, n, j) & UNICODE_LETTER)
				j++;
			return j - i;
		}
	}
	/* \p{N}{1,max_digits} */
	if (f & UNICODE_NUMBER) {
		size_t j = i + 1;
		while (j - i < max_digits && (pretok_class(cps, n, j) & UNICODE_NUMBER))
			j++;
		return j - i;
	}
	/* ?[^\s\p{L}\p{N}]+[\r\n]* */
	size_t start = c == ' ' ? i + 1 : i;
	if (PRETOK_OTHER(pretok_class(cps, n, start))) {
		size_t j = start;
		while (PRETOK_OTHER(pretok_class(cps, n, j)))
			j++;
		while (j < n && (cps[j] == '\r' || cps[j] == '\n'))
			j++;
		return j - i;
	}
	len = pretok_spaces(cps, n, i, true);
	return len ? len : 1;
}

size_t pretok_split(enum pretok_kind kind, const uint32_t *cps, size_t n, size_t *ends)
{
	size_t words = 0;
	for (size_t i = 0; i < n;) {
		size_t len;
		switch (kind) {
		case PRETOK_LLAMA3: len = pretok_step_llama3(cps, n, i, 3); break;
		case PRETOK_QWEN2: len = pretok_step_llama3(cps, n, i, 1); break;
		default: len = pretok_step_gpt2(cps, n, i); break;
		}
		i += len;
		ends[words++] = i;
	}
	return words;
}

static const struct {
	const char *name;      /* tokenizer.ggml.pre */
	enum pretok_kind kind; /* the rules it names */
} pretok_names[] = {
	{"gpt-2", PRETOK_GPT2},      {"llama-bpe", PRETOK_LLAMA3}, {"llama3", PRETOK_LLAMA3},
	{"llama-v3", PRETOK_LLAMA3}, {"qwen2", PRETOK_QWEN2},
};

int pretok_from_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(pretok_names) / sizeof(pretok_names[0]); i++)
		if (strlen(pretok_names[i].name) == len && memcmp(pretok_names[i].name, name, len) == 0)
			return (int)pretok_names[i].kind;
	return -1;
}

const char *pretok_name(enum pretok_kind kind)
{
	switch (kind) {
	case PRETOK_LLAMA3: return "llama-bpe";
	case PRETOK_QWEN2: return "qwen2";
	default: return "gpt-2";
	}
}
