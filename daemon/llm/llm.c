/* The conversation: messages with their token ids, and the life cycle of a
 * reply, on top of an implementation's llm_ops. */
#include "daemon/llm/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* The grammars the fleet may ask for. */
static const char *const llm_grammars[] = {"bash_block", NULL};

struct llm_message {
	enum llm_role role;       /* who said it */
	char *text;               /* owned, NUL-terminated */
	size_t len;               /* bytes in text */
	struct llm_tokens tokens; /* as the model sees it */
};

struct llm_conversation {
	struct llm *llm;              /* the model (borrowed) */
	void *state;                  /* the implementation's */
	struct llm_message *messages; /* count entries */
	size_t count;
	size_t cap;
	uint32_t token_count; /* sum over messages */
	bool replying;        /* a reply is in progress */
	llm_reply_fn cb;      /* its callback */
	void *cb_arg;
	uint64_t started_ns;    /* when it was asked for */
	uint32_t prompt_tokens; /* tokens when it was asked for (or as the engine counted them) */
	uint32_t reused_tokens; /* of those, the ones a cache supplied */
	double ttft_ms;         /* to the first token, when measured */
};

int llm_open(uv_loop_t *loop, const char *spec, const struct llm_options *opts, struct llm **out, char *err,
	     size_t errlen)
{
	*out = NULL;
	struct llm *llm = xcalloc(1, sizeof(*llm));
	llm->loop = loop;
	llm->spec = xstrdup(spec);
	llm->opts = *opts;
	int rc;
	if (strncmp(spec, "scripted:", 9) == 0 && spec[9] != '\0') {
		rc = llm_scripted_open(llm, spec + 9, err, errlen);
	} else if (strncmp(spec, "model:", 6) == 0 && spec[6] != '\0') {
		rc = llm_engine_open(llm, spec + 6, err, errlen);
	} else {
		snprintf(err, errlen, "--llm: '%s' is not a model (expected scripted:FILE)", spec);
		rc = -EINVAL;
	}
	if (rc < 0) {
		free(llm->spec);
		free(llm);
		return rc;
	}
	*out = llm;
	return 0;
}

void llm_close(struct llm *llm)
{
	if (!llm)
		return;
	llm->ops->close(llm);
	free(llm->spec);
	free(llm);
}

const char *llm_describe(const struct llm *llm)
{
	return llm->spec;
}

uint32_t llm_context_tokens(const struct llm *llm)
{
	return llm->context_tokens;
}

int llm_stats(struct llm *llm, struct engine_stats *out)
{
	return llm_engine_stats(llm, out);
}

const struct llm_tokens *llm_message_ids(const struct llm_conversation *c, size_t i)
{
	return &c->messages[i].tokens;
}

void llm_reply_set_usage(struct llm_conversation *c, uint32_t prompt_tokens, uint32_t reused_tokens, double ttft_ms)
{
	c->prompt_tokens = prompt_tokens;
	c->reused_tokens = reused_tokens;
	c->ttft_ms = ttft_ms;
}

struct llm_conversation *llm_conversation_new(struct llm *llm, const struct llm_run_info *info)
{
	struct llm_conversation *c = xcalloc(1, sizeof(*c));
	c->llm = llm;
	c->state = llm->ops->conversation_new(llm, info);
	return c;
}

static void llm_message_free(struct llm_message *m)
{
	free(m->text);
	free(m->tokens.ids);
}

void llm_conversation_free(struct llm_conversation *c)
{
	if (!c)
		return;
	if (c->replying) {
		/* Nobody is left to tell. */
		c->cb = NULL;
		c->llm->ops->cancel(c, c->state);
	}
	c->llm->ops->conversation_free(c->llm, c->state);
	for (size_t i = 0; i < c->count; i++)
		llm_message_free(&c->messages[i]);
	free(c->messages);
	free(c);
}

static int llm_push(struct llm_conversation *c, enum llm_role role, const char *text, size_t len,
		    const struct llm_tokens *ids)
{
	struct llm_message m;
	memset(&m, 0, sizeof(m));
	m.role = role;
	m.text = xstrndup(text, len);
	m.len = len;
	if (ids) {
		m.tokens.ids = xmalloc((ids->count ? ids->count : 1) * sizeof(uint32_t));
		memcpy(m.tokens.ids, ids->ids, ids->count * sizeof(uint32_t));
		m.tokens.count = ids->count;
	} else {
		int rc = c->llm->ops->encode(c->llm, role, text, len, &m.tokens);
		if (rc < 0) {
			llm_message_free(&m);
			return rc;
		}
	}
	if (c->count == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->messages = xrealloc(c->messages, c->cap * sizeof(*c->messages));
	}
	c->messages[c->count] = m;
	c->token_count += (uint32_t)m.tokens.count;
	return (int)c->count++;
}

int llm_append(struct llm_conversation *c, enum llm_role role, const char *text, size_t len)
{
	if (c->replying)
		return -EBUSY;
	return llm_push(c, role, text, len, NULL);
}

int llm_replace(struct llm_conversation *c, size_t i, const char *text, size_t len)
{
	if (c->replying)
		return -EBUSY;
	if (i >= c->count)
		return -EINVAL;
	struct llm_message *m = &c->messages[i];
	struct llm_tokens tokens = {NULL, 0};
	int rc = c->llm->ops->encode(c->llm, m->role, text, len, &tokens);
	if (rc < 0)
		return rc;
	c->token_count -= (uint32_t)m->tokens.count;
	llm_message_free(m);
	m->text = xstrndup(text, len);
	m->len = len;
	m->tokens = tokens;
	c->token_count += (uint32_t)tokens.count;
	return 0;
}

size_t llm_message_count(const struct llm_conversation *c)
{
	return c->count;
}

enum llm_role llm_message_role(const struct llm_conversation *c, size_t i)
{
	return i < c->count ? c->messages[i].role : LLM_ROLE_USER;
}

const char *llm_message_text(const struct llm_conversation *c, size_t i)
{
	return i < c->count ? c->messages[i].text : NULL;
}

uint32_t llm_message_tokens(const struct llm_conversation *c, size_t i)
{
	return i < c->count ? (uint32_t)c->messages[i].tokens.count : 0;
}

uint32_t llm_token_count(const struct llm_conversation *c)
{
	return c->token_count;
}

int llm_reply(struct llm_conversation *c, const struct llm_request *req, llm_reply_fn cb, void *arg)
{
	if (c->replying)
		return -EBUSY;
	if (req->grammar) {
		bool known = false;
		for (size_t i = 0; llm_grammars[i] && !known; i++)
			known = strcmp(llm_grammars[i], req->grammar) == 0;
		if (!known)
			return -EINVAL;
	}
	struct llm_request capped = *req;
	uint32_t ceiling = c->llm->opts.reply_max_tokens;
	if (ceiling && (capped.max_tokens == 0 || capped.max_tokens > ceiling))
		capped.max_tokens = ceiling;
	c->replying = true;
	c->cb = cb;
	c->cb_arg = arg;
	c->started_ns = uv_hrtime();
	c->prompt_tokens = c->token_count;
	c->reused_tokens = 0;
	c->ttft_ms = 0;
	int rc = c->llm->ops->start(c, c->state, &capped);
	if (rc < 0)
		c->replying = false;
	return rc;
}

void llm_cancel(struct llm_conversation *c)
{
	if (c->replying)
		c->llm->ops->cancel(c, c->state);
}

void llm_reply_done(struct llm_conversation *c, enum llm_finish finish, const char *text, size_t len,
		    const struct llm_tokens *ids, const char *error)
{
	if (!c->replying)
		return;
	c->replying = false;
	struct llm_reply reply;
	memset(&reply, 0, sizeof(reply));
	reply.finish = finish;
	reply.text = "";
	reply.prompt_tokens = c->prompt_tokens;
	reply.reused_tokens = c->reused_tokens;
	reply.ttft_ms = c->ttft_ms;
	reply.elapsed_ms = (uv_hrtime() - c->started_ns) / 1000000;
	reply.error = error;
	if (finish == LLM_FINISH_STOP || finish == LLM_FINISH_LENGTH) {
		int index = llm_push(c, LLM_ROLE_ASSISTANT, text, len, ids);
		if (index < 0) {
			reply.finish = LLM_FINISH_ERROR;
			reply.error = "the reply could not be tokenized";
		} else {
			const struct llm_message *m = &c->messages[index];
			reply.text = m->text;
			reply.len = m->len;
			reply.tokens = (uint32_t)m->tokens.count;
		}
	}
	llm_reply_fn cb = c->cb;
	c->cb = NULL;
	/* The callback may free c: nothing touches it afterwards. */
	if (cb)
		cb(c, &reply, c->cb_arg);
}
