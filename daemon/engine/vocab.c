/* Loading a byte-level BPE vocabulary from GGUF metadata, checking every
 * array and id against the others before the tokenizer relies on them. */
#include "daemon/engine/vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/bytelevel.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/unicode.h"

static int vocab_check_model(const struct gguf *g, struct vocab *v, char *err, size_t errlen)
{
	struct gguf_str model, pre;
	int rc = gguf_get_string(g, "tokenizer.ggml.model", &model, err, errlen);
	if (rc < 0)
		return rc;
	if (!gguf_str_eq(model, "gpt2")) {
		snprintf(err, errlen, "tokenizer.ggml.model is '%.*s': only 'gpt2' (byte-level BPE) is supported%s",
			 (int)(model.len > 64 ? 64 : model.len), model.ptr,
			 gguf_str_eq(model, "llama") ? " (SentencePiece vocabularies are not supported yet)" : "");
		return -ENOTSUP;
	}
	rc = gguf_get_string(g, "tokenizer.ggml.pre", &pre, err, errlen);
	if (rc < 0)
		return rc;
	int kind = pretok_from_name(pre.ptr, (size_t)pre.len);
	if (kind < 0) {
		snprintf(err, errlen,
			 "tokenizer.ggml.pre is '%.*s': unknown pre-tokenizer (supported: gpt-2, llama-bpe, qwen2)",
			 (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
		return -ENOTSUP;
	}
	v->pre = (enum pretok_kind)kind;
	/* Llama 3's tokenizer takes a word that is itself a token as is,
	 * whatever the merges would make of it. */
	v->ignore_merges = v->pre == PRETOK_LLAMA3;
	v->add_bos = v->pre == PRETOK_LLAMA3;
	return 0;
}

static int vocab_load_tokens(const struct gguf *g, struct vocab *v, char *err, size_t errlen)
{
	const struct gguf_value *tokens, *types = NULL;
	int rc = gguf_get_array(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err, errlen);
	if (rc < 0)
		return rc;
	if (tokens->arr.n == 0 || tokens->arr.n > VOCAB_MAX_TOKENS) {
		snprintf(err, errlen, "tokenizer.ggml.tokens holds %llu tokens (must be 1 to %u)",
			 (unsigned long long)tokens->arr.n, VOCAB_MAX_TOKENS);
		return -EINVAL;
	}
	v->n_tokens = (uint32_t)tokens->arr.n;
	if (gguf_get(g, "tokenizer.ggml.token_type")) {
		rc = gguf_get_array(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, err, errlen);
		if (rc < 0)
			return rc;
		if (types->arr.n != tokens->arr.n) {
			snprintf(err, errlen, "tokenizer.ggml.token_type has %llu entries for %u tokens",
				 (unsigned long long)types->arr.n, v->n_tokens);
			return -EINVAL;
		}
	}
	v->text = xcalloc(v->n_tokens, sizeof(*v->text));
	v->type = xcalloc(v->n_tokens, 1);
	strmap_init(&v->by_text, v->n_tokens);
	uint64_t total = 0;
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		struct gguf_str t = tokens->arr.items[i].str;
		/* Offsets into the detokenized pieces are 32-bit. */
		total += t.len;
		if (total > UINT32_MAX) {
			snprintf(err, errlen, "tokenizer.ggml.tokens holds more than 4 GiB of text");
			return -EINVAL;
		}
		v->text[i] = t;
		int64_t type = types ? gguf_array_int(types, i) : ENGINE_TOKEN_NORMAL;
		v->type[i] = type >= 0 && type <= ENGINE_TOKEN_BYTE ? (uint8_t)type : ENGINE_TOKEN_UNDEFINED;
		/* An empty token can never be produced; leave it out of the index. */
		if (t.len == 0)
			continue;
		uint64_t other;
		if (strmap_get(&v->by_text, t.ptr, (size_t)t.len, &other)) {
			snprintf(err, errlen, "tokenizer.ggml.tokens has '%.*s' twice (ids %llu and %u)",
				 (int)(t.len > 64 ? 64 : t.len), t.ptr, (unsigned long long)other, i);
			return -EINVAL;
		}
		strmap_put(&v->by_text, t.ptr, (size_t)t.len, i);
	}
	for (unsigned b = 0; b < 256; b++) {
		char s[4];
		size_t n = bytelevel_encode((uint8_t)b, s);
		v->byte_token[b] = vocab_find(v, s, n);
		if (v->byte_token[b] < 0) {
			snprintf(err, errlen, "tokenizer.ggml.tokens has no token for the byte 0x%02X", b);
			return -EINVAL;
		}
	}
	return 0;
}

static int vocab_load_merges(const struct gguf *g, struct vocab *v, char *err, size_t errlen)
{
	const struct gguf_value *merges;
	int rc = gguf_get_array(g, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, err, errlen);
	if (rc < 0)
		return rc;
	if (merges->arr.n > UINT32_MAX / 2) {
		snprintf(err, errlen, "tokenizer.ggml.merges holds too many merges");
		return -EINVAL;
	}
	pairmap_init(&v->merges, (size_t)merges->arr.n);
	char *joined = NULL;
	size_t joined_cap = 0;
	for (uint64_t i = 0; i < merges->arr.n; i++) {
		struct gguf_str m = merges->arr.items[i].str;
		/* "left right": the separator is the first space after the first
		 * byte (a left part may itself be a space in other alphabets). */
		const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', (size_t)m.len - 1) : NULL;
		if (!sp) {
			snprintf(err, errlen, "tokenizer.ggml.merges[%llu] is not two tokens separated by a space",
				 (unsigned long long)i);
			free(joined);
			return -EINVAL;
		}
		size_t left_len = (size_t)(sp - m.ptr), right_len = (size_t)m.len - left_len - 1;
		int32_t left = vocab_find(v, m.ptr, left_len);
		int32_t right = vocab_find(v, sp + 1, right_len);
		if (left_len + right_len > joined_cap) {
			joined_cap = left_len + right_len;
			joined = xrealloc(joined, joined_cap);
		}
		memcpy(joined, m.ptr, left_len);
		memcpy(joined + left_len, sp + 1, right_len);
		int32_t merged = vocab_find(v, joined, left_len + right_len);
		/* A merge whose parts or result are not tokens can never apply to
		 * symbols that are tokens; it is ignored. An earlier merge of the
		 * same pair has the better rank and wins. */
		if (left < 0 || right < 0 || merged < 0)
			continue;
		if (pairmap_put(&v->merges, (uint32_t)left, (uint32_t)right, (uint64_t)i << 32 | (uint32_t)merged))
			v->n_merges++;
	}
	free(joined);
	return 0;
}

/* An optional token id key: -1 when absent, an error when out of range. */
static int vocab_special_id(const struct gguf *g, const struct vocab *v, const char *key, int32_t *id, char *err,
			    size_t errlen)
{
	*id = -1;
	if (!gguf_get(g, key))
		return 0;
	uint64_t value;
	int rc = gguf_get_uint(g, key, UINT32_MAX, &value, err, errlen);
	if (rc < 0)
		return rc;
	if (value >= v->n_tokens) {
		snprintf(err, errlen, "%s is %llu, past the vocabulary of %u tokens", key, (unsigned long long)value,
			 v->n_tokens);
		return -EINVAL;
	}
	*id = (int32_t)value;
	return 0;
}

static int vocab_load_specials(const struct gguf *g, struct vocab *v, char *err, size_t errlen)
{
	int rc;
	if ((rc = vocab_special_id(g, v, "tokenizer.ggml.bos_token_id", &v->bos, err, errlen)) < 0 ||
	    (rc = vocab_special_id(g, v, "tokenizer.ggml.eos_token_id", &v->eos, err, errlen)) < 0 ||
	    (rc = vocab_special_id(g, v, "tokenizer.ggml.eot_token_id", &v->eot, err, errlen)) < 0)
		return rc;
	if (gguf_get(g, "tokenizer.ggml.add_bos_token") &&
	    (rc = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err, errlen)) < 0)
		return rc;
	if (v->add_bos && v->bos < 0) {
		snprintf(err, errlen, "the tokenizer adds a BOS token but tokenizer.ggml.bos_token_id is missing");
		return -EINVAL;
	}
	/* Files often leave the end-of-turn token implicit; find it by name,
	 * as llama.cpp does, and treat it as a control token. */
	static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
						"<|endoftext|>"};
	for (size_t i = 0; v->eot < 0 && i < sizeof(eot_names) / sizeof(eot_names[0]); i++)
		v->eot = vocab_find(v, eot_names[i], strlen(eot_names[i]));
	if (v->eot >= 0 && v->type[v->eot] != ENGINE_TOKEN_CONTROL)
		v->type[v->eot] = ENGINE_TOKEN_CONTROL;
	return 0;
}

static int vocab_compare_specials(const void *a, const void *b)
{
	const struct vocab_special *x = a, *y = b;
	unsigned char fx = (unsigned char)x->text[0], fy = (unsigned char)y->text[0];
	if (fx != fy)
		return fx < fy ? -1 : 1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Control, user-defined and unknown tokens are matched whole in the input
 * before pre-tokenization; they are bucketed by first byte, longest first,
 * so that the scan takes the longest match at each position. */
static void vocab_index_specials(struct vocab *v)
{
	v->specials = xcalloc(v->n_tokens, sizeof(*v->specials));
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		uint8_t t = v->type[i];
		if (t == ENGINE_TOKEN_CONTROL)
			v->n_control++;
		if (t == ENGINE_TOKEN_USER_DEFINED)
			v->n_user++;
		if (v->text[i].len == 0 ||
		    (t != ENGINE_TOKEN_CONTROL && t != ENGINE_TOKEN_USER_DEFINED && t != ENGINE_TOKEN_UNKNOWN))
			continue;
		struct vocab_special *s = &v->specials[v->n_specials++];
		s->id = (int32_t)i;
		s->text = v->text[i].ptr;
		s->len = (uint32_t)v->text[i].len;
		s->control = t != ENGINE_TOKEN_USER_DEFINED;
	}
	qsort(v->specials, v->n_specials, sizeof(*v->specials), vocab_compare_specials);
	uint32_t k = 0;
	for (unsigned b = 0; b < 256; b++) {
		v->special_bucket[b] = k;
		while (k < v->n_specials && (unsigned char)v->specials[k].text[0] == b)
			k++;
	}
	v->special_bucket[256] = k;
}

/* Normal tokens spell bytes in the byte-level alphabet; other tokens are
 * their text as is. A character outside the alphabet is kept as UTF-8. */
static void vocab_build_pieces(struct vocab *v)
{
	size_t total = 0;
	for (uint32_t i = 0; i < v->n_tokens; i++)
		total += (size_t)v->text[i].len;
	v->pieces = xmalloc(total ? total : 1);
	v->piece_off = xmalloc(((size_t)v->n_tokens + 1) * sizeof(*v->piece_off));
	size_t at = 0;
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		v->piece_off[i] = (uint32_t)at;
		const char *t = v->text[i].ptr;
		size_t len = (size_t)v->text[i].len;
		if (v->type[i] != ENGINE_TOKEN_NORMAL && v->type[i] != ENGINE_TOKEN_BYTE) {
			memcpy(v->pieces + at, t, len);
			at += len;
			continue;
		}
		for (size_t j = 0; j < len;) {
			size_t size;
			uint32_t cp = unicode_decode(t + j, len - j, &size);
			int b = cp == UNICODE_REPLACEMENT && size == 1 ? -1 : bytelevel_byte(cp);
			if (b >= 0) {
				v->pieces[at++] = (char)b;
			} else {
				memcpy(v->pieces + at, t + j, size);
				at += size;
			}
			j += size;
		}
	}
	v->piece_off[v->n_tokens] = (uint32_t)at;
}

int vocab_load(struct vocab *v, const struct gguf *g, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->bos = v->eos = v->eot = -1;
	int rc;
	if ((rc = vocab_check_model(g, v, err, errlen)) < 0 || (rc = vocab_load_tokens(g, v, err, errlen)) < 0 ||
	    (rc = vocab_load_merges(g, v, err, errlen)) < 0 || (rc = vocab_load_specials(g, v, err, errlen)) < 0) {
		vocab_close(v);
		return rc;
	}
	vocab_index_specials(v);
	vocab_build_pieces(v);
	return 0;
}

void vocab_close(struct vocab *v)
{
	free(v->text);
	free(v->type);
	strmap_close(&v->by_text);
	if (v->merges.slots)
		pairmap_close(&v->merges);
	free(v->pieces);
	free(v->piece_off);
	free(v->specials);
	memset(v, 0, sizeof(*v));
}

int32_t vocab_find(const struct vocab *v, const char *text, size_t len)
{
	uint64_t id;
	if (!strmap_get(&v->by_text, text, len, &id))
		return -1;
	return (int32_t)id;
}
