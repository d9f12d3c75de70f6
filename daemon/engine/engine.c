/* The engine's public face (engine.h): opening a model file, and the
 * tokenizer, detokenizer and chat template behind the model handle. */
#include "daemon/engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/chat.h"
#include "daemon/engine/dtype.h"
#include "daemon/engine/gguf.h"
#include "daemon/engine/model.h"
#include "daemon/engine/tokenizer.h"
#include "daemon/engine/unicode.h"
#include "daemon/engine/vocab.h"

struct engine_model {
	struct gguf *gguf;        /* the mapped file; everything below borrows from it */
	struct engine_hparams hp; /* architecture and sizes */
	struct vocab vocab;       /* tokenizer tables */
	struct chat chat;         /* chat template */
};

void engine_tokens_push(struct engine_tokens *t, engine_token id)
{
	if (t->len == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->ids = xrealloc(t->ids, t->cap * sizeof(*t->ids));
	}
	t->ids[t->len++] = id;
}

void engine_tokens_free(struct engine_tokens *t)
{
	free(t->ids);
	t->ids = NULL;
	t->len = t->cap = 0;
}

int engine_model_open(const char *path, const struct engine_model_options *opts, engine_model **out, char *err,
		      size_t errlen)
{
	*out = NULL;
	engine_model *m = xcalloc(1, sizeof(*m));
	char msg[512];
	bool vocab_loaded = false;
	int rc = gguf_open(path, &m->gguf, err, errlen);
	if (rc < 0)
		goto fail;
	rc = vocab_load(&m->vocab, m->gguf, msg, sizeof(msg));
	if (rc < 0)
		goto fail_msg;
	vocab_loaded = true;
	rc = model_describe(m->gguf, m->vocab.n_tokens, &m->hp, msg, sizeof(msg));
	if (rc < 0)
		goto fail_msg;
	rc = chat_init(&m->chat, m->gguf, &m->vocab, opts ? opts->chat_template : NULL, msg, sizeof(msg));
	if (rc < 0)
		goto fail_msg;
	*out = m;
	return 0;
fail_msg:
	snprintf(err, errlen, "%s: %s", path, msg);
fail:
	if (vocab_loaded)
		vocab_close(&m->vocab);
	gguf_close(m->gguf);
	free(m);
	return rc;
}

void engine_model_free(engine_model *m)
{
	if (!m)
		return;
	vocab_close(&m->vocab);
	gguf_close(m->gguf);
	free(m);
}

const struct engine_hparams *engine_model_hparams(const engine_model *m)
{
	return &m->hp;
}

const struct gguf *engine_model_gguf(const engine_model *m)
{
	return m->gguf;
}

size_t engine_model_type_usage(const engine_model *m, struct engine_type_usage *out, size_t cap)
{
	size_t n = 0;
	for (uint32_t type = 0; type < DTYPE_ID_LIMIT; type++) {
		struct engine_type_usage u = {NULL, 0, 0, 0};
		for (size_t i = 0; i < m->gguf->n_tensors; i++) {
			const struct gguf_tensor *t = &m->gguf->tensors[i];
			if (t->type != type)
				continue;
			u.tensors++;
			u.bytes += t->bytes;
			u.elements += t->n_elems;
		}
		if (!u.tensors)
			continue;
		u.type = dtype_get(type)->name;
		if (n < cap)
			out[n] = u;
		n++;
	}
	return n;
}

void engine_model_file_info(const engine_model *m, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv,
			    uint64_t *file_bytes)
{
	*version = m->gguf->version;
	*n_tensors = m->gguf->n_tensors;
	*n_kv = m->gguf->n_kv;
	*file_bytes = m->gguf->size;
}

char *engine_model_meta_string(const engine_model *m, const char *key)
{
	const struct gguf_value *v = gguf_get(m->gguf, key);
	if (!v || v->type != GGUF_TYPE_STRING)
		return NULL;
	return xstrndup(v->str.ptr, (size_t)v->str.len);
}

void engine_model_vocab_info(const engine_model *m, struct engine_vocab_info *out)
{
	const struct vocab *v = &m->vocab;
	out->model = "gpt2";
	out->pre = pretok_name(v->pre);
	out->n_tokens = v->n_tokens;
	out->n_merges = v->n_merges;
	out->n_control = v->n_control;
	out->n_user = v->n_user;
	out->bos = v->bos;
	out->eos = v->eos;
	out->eot = v->eot;
	out->add_bos = v->add_bos;
	out->chat = chat_name(&m->chat);
	out->chat_from_file = m->chat.from_file;
}

int engine_tokenize(const engine_model *m, const char *text, size_t len, unsigned flags, struct engine_tokens *out)
{
	if (len > ENGINE_TOKENIZE_MAX_BYTES)
		return -E2BIG;
	tokenizer_encode(&m->vocab, text, len, flags & ENGINE_TOKENIZE_SPECIAL, flags & ENGINE_TOKENIZE_ADD_BOS, out);
	return 0;
}

int engine_token_piece(const engine_model *m, engine_token id, unsigned flags, struct buf *out)
{
	if (id < 0 || (uint32_t)id >= m->vocab.n_tokens)
		return -EINVAL;
	size_t len;
	const char *piece = tokenizer_piece(&m->vocab, id, flags & ENGINE_DETOK_SPECIAL, &len);
	buf_append(out, piece, len);
	return 0;
}

int engine_detokenize(const engine_model *m, const engine_token *ids, size_t n, unsigned flags, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		int rc = engine_token_piece(m, ids[i], flags, out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct engine_detok {
	const engine_model *model; /* borrowed */
	unsigned flags;            /* ENGINE_DETOK_* */
	char held[4];              /* the start of a character not yet complete */
	size_t n_held;             /* bytes in held (0 to 3) */
};

engine_detok *engine_detok_new(const engine_model *m, unsigned flags)
{
	engine_detok *d = xcalloc(1, sizeof(*d));
	d->model = m;
	d->flags = flags;
	return d;
}

void engine_detok_free(engine_detok *d)
{
	free(d);
}

/* Appends bytes as valid UTF-8: each byte that does not begin a valid
 * sequence becomes U+FFFD. */
static void engine_append_valid(struct buf *out, const char *s, size_t len)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	for (size_t i = 0; i < len;) {
		size_t size;
		uint32_t cp = unicode_decode(s + i, len - i, &size);
		if (cp == UNICODE_REPLACEMENT && size == 1)
			buf_append(out, replacement, 3);
		else
			buf_append(out, s + i, size);
		i += size;
	}
}

int engine_detok_push(engine_detok *d, engine_token id, struct buf *out)
{
	if (id < 0 || (uint32_t)id >= d->model->vocab.n_tokens)
		return -EINVAL;
	size_t len;
	const char *piece = tokenizer_piece(&d->model->vocab, id, d->flags & ENGINE_DETOK_SPECIAL, &len);
	if (len == 0)
		return 0;
	/* Held bytes and the new piece form one run; everything up to a
	 * trailing unfinished character is ready. */
	struct buf run = BUF_INIT;
	buf_append(&run, d->held, d->n_held);
	buf_append(&run, piece, len);
	size_t tail = unicode_incomplete_tail(run.data, run.len);
	engine_append_valid(out, run.data, run.len - tail);
	memcpy(d->held, run.data + run.len - tail, tail);
	d->n_held = tail;
	buf_free(&run);
	return 0;
}

void engine_detok_flush(engine_detok *d, struct buf *out)
{
	engine_append_valid(out, d->held, d->n_held);
	d->n_held = 0;
}

int engine_chat_begin(const engine_model *m, struct engine_tokens *out)
{
	if (m->chat.kind == CHAT_NONE)
		return -ENOTSUP;
	chat_begin(&m->chat, out);
	return 0;
}

int engine_chat_append(const engine_model *m, const struct engine_message *msg, struct engine_tokens *out)
{
	if (m->chat.kind == CHAT_NONE)
		return -ENOTSUP;
	chat_append(&m->chat, &m->vocab, msg, out);
	return 0;
}

int engine_chat_append_prompt(const engine_model *m, struct engine_tokens *out)
{
	if (m->chat.kind == CHAT_NONE)
		return -ENOTSUP;
	chat_prompt(&m->chat, &m->vocab, out);
	return 0;
}

int engine_chat_append_reply_end(const engine_model *m, struct engine_tokens *out)
{
	if (m->chat.kind == CHAT_NONE)
		return -ENOTSUP;
	chat_reply_end(&m->chat, &m->vocab, out);
	return 0;
}

engine_token engine_chat_end_token(const engine_model *m)
{
	return m->chat.close;
}

int engine_chat_render(const engine_model *m, const struct engine_message *msgs, size_t n, bool add_prompt,
		       struct engine_tokens *out)
{
	if (m->chat.kind == CHAT_NONE)
		return -ENOTSUP;
	chat_begin(&m->chat, out);
	for (size_t i = 0; i < n; i++)
		chat_append(&m->chat, &m->vocab, &msgs[i], out);
	if (add_prompt)
		chat_prompt(&m->chat, &m->vocab, out);
	return 0;
}
