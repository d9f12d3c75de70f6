/* The tokenizer proper: splitting out special tokens, pre-tokenizing, and
 * the BPE merge loop (a heap of candidate merges ordered by rank, then by
 * position, over a linked list of symbols). */
#include "daemon/engine/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/bytelevel.h"
#include "daemon/engine/unicode.h"

/* One symbol of a word being merged: a token, linked to its neighbours. */
struct tokenizer_symbol {
	int32_t id;   /* token of the symbol; -1 once merged into its left neighbour */
	int32_t prev; /* index of the previous symbol, -1 at the start */
	int32_t next; /* index of the next symbol, -1 at the end */
};

/* A merge that was possible when pushed; checked again when popped. */
struct tokenizer_merge {
	uint32_t rank;    /* position in tokenizer.ggml.merges: lower merges first */
	int32_t left;     /* index of the left symbol: among equal ranks the leftmost merges first */
	int32_t left_id;  /* the left symbol's token when pushed */
	int32_t right_id; /* the right symbol's token when pushed */
	int32_t merged;   /* the token the merge makes */
};

/* Buffers reused across the words of one call. */
struct tokenizer_scratch {
	uint32_t *cps;                 /* code points of the fragment */
	size_t *offs;                  /* byte offset of each code point in text, plus the end */
	size_t *ends;                  /* word ends, in code points */
	size_t cp_cap;                 /* room in cps, offs and ends */
	char *clean;                   /* the fragment with invalid bytes replaced, when it has any */
	size_t clean_cap;              /* room in clean */
	struct tokenizer_symbol *syms; /* the symbols of a word */
	size_t sym_cap;                /* room in syms */
	struct tokenizer_merge *heap;  /* candidate merges, a binary min-heap */
	size_t heap_len;               /* entries in heap */
	size_t heap_cap;               /* room in heap */
	char *word;                    /* a word spelled in the byte-level alphabet */
	size_t word_cap;               /* room in word */
};

static bool tokenizer_merge_before(const struct tokenizer_merge *a, const struct tokenizer_merge *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void tokenizer_heap_push(struct tokenizer_scratch *s, struct tokenizer_merge m)
{
	if (s->heap_len == s->heap_cap) {
		s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
		s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
	}
	size_t i = s->heap_len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!tokenizer_merge_before(&m, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = m;
}

static struct tokenizer_merge tokenizer_heap_pop(struct tokenizer_scratch *s)
{
	struct tokenizer_merge top = s->heap[0];
	struct tokenizer_merge last = s->heap[--s->heap_len];
	size_t i = 0, n = s->heap_len;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && tokenizer_merge_before(&s->heap[child + 1], &s->heap[child]))
			child++;
		if (!tokenizer_merge_before(&s->heap[child], &last))
			break;
		s->heap[i] = s->heap[child];
		i = child;
	}
	if (n)
		s->heap[i] = last;
	return top;
}

/* Queues the merge of symbol left with its right neighbour, if any. */
static void tokenizer_try_pair(const struct vocab *v, struct tokenizer_scratch *s, int32_t left)
{
	if (left < 0)
		return;
	int32_t right = s->syms[left].next;
	if (right < 0)
		return;
	uint64_t value;
	if (!pairmap_get(&v->merges, (uint32_t)s->syms[left].id, (uint32_t)s->syms[right].id, &value))
		return;
	struct tokenizer_merge m = {(uint32_t)(value >> 32), left, s->syms[left].id, s->syms[right].id,
				    (int32_t)(uint32_t)value};
	tokenizer_heap_push(s, m);
}

/* The token whose text is the word spelled in the byte-level alphabet, or
 * -1. */
static int32_t tokenizer_whole_word(const struct vocab *v, struct tokenizer_scratch *s, const char *w, size_t n)
{
	if (n * 2 > s->word_cap) {
		s->word_cap = n * 2;
		s->word = xrealloc(s->word, s->word_cap);
	}
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += bytelevel_encode((uint8_t)w[i], s->word + len);
	return vocab_find(v, s->word, len);
}

static void tokenizer_bpe_word(const struct vocab *v, struct tokenizer_scratch *s, const char *w, size_t n,
			       struct engine_tokens *out)
{
	if (n == 1) {
		engine_tokens_push(out, v->byte_token[(uint8_t)w[0]]);
		return;
	}
	if (v->ignore_merges) {
		int32_t id = tokenizer_whole_word(v, s, w, n);
		if (id >= 0) {
			engine_tokens_push(out, id);
			return;
		}
	}
	if (n > s->sym_cap) {
		s->sym_cap = n;
		s->syms = xrealloc(s->syms, n * sizeof(*s->syms));
	}
	for (size_t i = 0; i < n; i++) {
		s->syms[i].id = v->byte_token[(uint8_t)w[i]];
		s->syms[i].prev = (int32_t)i - 1;
		s->syms[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	s->heap_len = 0;
	for (size_t i = 0; i + 1 < n; i++)
		tokenizer_try_pair(v, s, (int32_t)i);
	while (s->heap_len) {
		struct tokenizer_merge m = tokenizer_heap_pop(s);
		struct tokenizer_symbol *left = &s->syms[m.left];
		/* Stale: one side has changed since the merge was queued. */
		if (left->id != m.left_id || left->next < 0 || s->syms[left->next].id != m.right_id)
			continue;
		struct tokenizer_symbol *right = &s->syms[left->next];
		left->id = m.merged;
		left->next = right->next;
		if (right->next >= 0)
			s->syms[right->next].prev = m.left;
		right->id = -1;
		tokenizer_try_pair(v, s, left->prev);
		tokenizer_try_pair(v, s, m.left);
	}
	for (int32_t i = 0; i >= 0; i = s->syms[i].next)
		engine_tokens_push(out, s->syms[i].id);
}

static void tokenizer_reserve(struct tokenizer_scratch *s, size_t n)
{
	if (n + 1 <= s->cp_cap)
		return;
	s->cp_cap = n + 1;
	s->cps = xrealloc(s->cps, s->cp_cap * sizeof(*s->cps));
	s->offs = xrealloc(s->offs, s->cp_cap * sizeof(*s->offs));
	s->ends = xrealloc(s->ends, s->cp_cap * sizeof(*s->ends));
}

/* Tokenizes text that holds no special token. */
static void tokenizer_fragment(const struct vocab *v, struct tokenizer_scratch *s, const char *text, size_t len,
			       struct engine_tokens *out)
{
	if (len == 0)
		return;
	tokenizer_reserve(s, len);
	/* Decode; a fragment with invalid bytes is rewritten with U+FFFD in
	 * their place, so that the words are the bytes of valid UTF-8. */
	size_t n = 0, at = 0;
	bool valid = true;
	while (at < len) {
		size_t size;
		uint32_t cp = unicode_decode(text + at, len - at, &size);
		if (cp == UNICODE_REPLACEMENT && size == 1)
			valid = false;
		s->offs[n] = at;
		s->cps[n++] = cp;
		at += size;
	}
	const char *bytes = text;
	if (!valid) {
		if (n * 4 > s->clean_cap) {
			s->clean_cap = n * 4;
			s->clean = xrealloc(s->clean, s->clean_cap);
		}
		at = 0;
		for (size_t i = 0; i < n; i++) {
			s->offs[i] = at;
			at += unicode_encode(s->cps[i], s->clean + at);
		}
		bytes = s->clean;
	}
	s->offs[n] = at;
	size_t words = pretok_split(v->pre, s->cps, n, s->ends);
	size_t start = 0;
	for (size_t i = 0; i < words; i++) {
		size_t end = s->ends[i];
		tokenizer_bpe_word(v, s, bytes + s->offs[start], s->offs[end] - s->offs[start], out);
		start = end;
	}
}

void tokenizer_encode(const struct vocab *v, const char *text, size_t len, bool parse_special, bool add_bos,
		      struct engine_tokens *out)
{
	struct tokenizer_scratch s;
	memset(&s, 0, sizeof(s));
	if (add_bos && v->add_bos && v->bos >= 0)
		engine_tokens_push(out, v->bos);
	size_t frag = 0;
	for (size_t i = 0; i < len;) {
		unsigned char b = (unsigned char)text[i];
		const struct vocab_special *hit = NULL;
		for (uint32_t k = v->special_bucket[b]; k < v->special_bucket[b + 1]; k++) {
			const struct vocab_special *sp = &v->specials[k];
			if ((!sp->control || parse_special) && sp->len <= len - i &&
			    memcmp(text + i, sp->text, sp->len) == 0) {
				hit = sp;
				break;
			}
		}
		if (!hit) {
			i++;
			continue;
		}
		tokenizer_fragment(v, &s, text + frag, i - frag, out);
		engine_tokens_push(out, hit->id);
		i += hit->len;
		frag = i;
	}
	tokenizer_fragment(v, &s, text + frag, len - frag, out);
	free(s.cps);
	free(s.offs);
	free(s.ends);
	free(s.clean);
	free(s.syms);
	free(s.heap);
	free(s.word);
}

const char *tokenizer_piece(const struct vocab *v, int32_t id, bool special, size_t *len)
{
	uint8_t t = v->type[id];
	bool text = t == ENGINE_TOKEN_NORMAL || t == ENGINE_TOKEN_BYTE || t == ENGINE_TOKEN_USER_DEFINED;
	if (!text && !special) {
		*len = 0;
		return "";
	}
	*len = v->piece_off[id + 1] - v->piece_off[id];
	return v->pieces + v->piece_off[id];
}
