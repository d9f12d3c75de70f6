/* ChatML and Llama 3 rendered into token ids. The markers are the special
 * tokens themselves, never parsed out of text, so that a message can only
 * ever be text; what lies between two markers is tokenized as one piece of
 * text, exactly as tokenizing the rendered template would. */
#include "daemon/engine/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "daemon/engine/tokenizer.h"

static const char *const chat_roles[] = {"system", "user", "assistant"};

/* The id of a template token the vocabulary must have. */
static int chat_token(const struct vocab *v, const char *text, const char *tmpl, int32_t *id, char *err, size_t errlen)
{
	*id = vocab_find(v, text, strlen(text));
	if (*id < 0) {
		snprintf(err, errlen, "the %s chat template needs the token %s, which the vocabulary lacks", tmpl,
			 text);
		return -EINVAL;
	}
	return 0;
}

static bool chat_contains(struct gguf_str s, const char *needle)
{
	size_t n = strlen(needle);
	if (s.len < n)
		return false;
	for (uint64_t i = 0; i + n <= s.len; i++)
		if (memcmp(s.ptr + i, needle, n) == 0)
			return true;
	return false;
}

int chat_init(struct chat *c, const struct gguf *g, const struct vocab *v, const char *forced, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (forced) {
		if (strcmp(forced, "chatml") == 0) {
			c->kind = CHAT_CHATML;
		} else if (strcmp(forced, "llama3") == 0) {
			c->kind = CHAT_LLAMA3;
		} else {
			snprintf(err, errlen, "unknown chat template '%s' (known: chatml, llama3)", forced);
			return -EINVAL;
		}
	} else {
		struct gguf_str tmpl;
		int rc = gguf_get_string(g, "tokenizer.chat_template", &tmpl, err, errlen);
		if (rc == -ENOENT) {
			c->kind = CHAT_NONE;
			c->bos = c->open = c->header_end = c->close = -1;
			return 0;
		}
		if (rc < 0)
			return rc;
		/* Qwen3's template has tool and thinking sections around plain
		 * ChatML turns; the turns are what we render. */
		if (chat_contains(tmpl, "<|im_start|>")) {
			c->kind = CHAT_CHATML;
		} else if (chat_contains(tmpl, "<|start_header_id|>")) {
			c->kind = CHAT_LLAMA3;
		} else {
			snprintf(err, errlen,
				 "tokenizer.chat_template is not a template agentd knows (ChatML or Llama 3); "
				 "name one with --chat-template chatml|llama3");
			return -ENOTSUP;
		}
		c->from_file = true;
	}
	int rc;
	c->header_end = -1;
	if (c->kind == CHAT_CHATML) {
		if ((rc = chat_token(v, "<|im_start|>", "chatml", &c->open, err, errlen)) < 0 ||
		    (rc = chat_token(v, "<|im_end|>", "chatml", &c->close, err, errlen)) < 0)
			return rc;
		c->bos = v->add_bos ? v->bos : -1;
	} else {
		if ((rc = chat_token(v, "<|start_header_id|>", "llama3", &c->open, err, errlen)) < 0 ||
		    (rc = chat_token(v, "<|end_header_id|>", "llama3", &c->header_end, err, errlen)) < 0 ||
		    (rc = chat_token(v, "<|eot_id|>", "llama3", &c->close, err, errlen)) < 0)
			return rc;
		/* The template itself opens with bos_token. */
		c->bos = v->bos >= 0 ? v->bos : vocab_find(v, "<|begin_of_text|>", strlen("<|begin_of_text|>"));
	}
	return 0;
}

const char *chat_name(const struct chat *c)
{
	switch (c->kind) {
	case CHAT_CHATML: return "chatml";
	case CHAT_LLAMA3: return "llama3";
	default: return "none";
	}
}

void chat_begin(const struct chat *c, struct engine_tokens *out)
{
	if (c->bos >= 0)
		engine_tokens_push(out, c->bos);
}

static bool chat_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Tokenizes head + body as one piece of text. */
static void chat_text(const struct vocab *v, const char *head, const char *body, size_t len, struct engine_tokens *out)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, head);
	buf_append(&b, body, len);
	tokenizer_encode(v, b.data, b.len, false, false, out);
	buf_free(&b);
}

void chat_append(const struct chat *c, const struct vocab *v, const struct engine_message *msg,
		 struct engine_tokens *out)
{
	const char *role = chat_roles[msg->role];
	const char *content = msg->content ? msg->content : "";
	size_t len = msg->content ? msg->len : 0;
	engine_tokens_push(out, c->open);
	if (c->kind == CHAT_CHATML) {
		struct buf head = BUF_INIT;
		buf_printf(&head, "%s\n", role);
		chat_text(v, head.data, content, len, out);
		buf_free(&head);
		chat_reply_end(c, v, out);
		return;
	}
	/* Llama 3's template trims the content. */
	while (len && chat_is_space(content[0])) {
		content++;
		len--;
	}
	while (len && chat_is_space(content[len - 1]))
		len--;
	tokenizer_encode(v, role, strlen(role), false, false, out);
	engine_tokens_push(out, c->header_end);
	chat_text(v, "\n\n", content, len, out);
	engine_tokens_push(out, c->close);
}

void chat_prompt(const struct chat *c, const struct vocab *v, struct engine_tokens *out)
{
	engine_tokens_push(out, c->open);
	if (c->kind == CHAT_CHATML) {
		tokenizer_encode(v, "assistant\n", strlen("assistant\n"), false, false, out);
		return;
	}
	tokenizer_encode(v, "assistant", strlen("assistant"), false, false, out);
	engine_tokens_push(out, c->header_end);
	tokenizer_encode(v, "\n\n", 2, false, false, out);
}

void chat_reply_end(const struct chat *c, const struct vocab *v, struct engine_tokens *out)
{
	engine_tokens_push(out, c->close);
	if (c->kind == CHAT_CHATML)
		tokenizer_encode(v, "\n", 1, false, false, out);
}
