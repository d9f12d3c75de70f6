/* The engine model: conversations rendered with the model's chat template
 * and computed by the in-process serving engine (daemon/engine/engine.h).
 * Every message is tokenized once, as the template renders it; a reply
 * keeps the ids that were sampled; so each turn's prompt is the previous
 * turn's prompt and reply plus what is new, and the engine's prefix cache
 * computes only that. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "daemon/llm/internal.h"

struct llm_engine {
	engine_model *model;
	engine_server *server;
	engine_grammar *agent_grammar; /* "bash_block" */
	uint64_t seed;                 /* the next conversation's sampling seed */
};

/* One conversation. */
struct llm_engine_run {
	struct llm *llm;
	struct llm_conversation *conv; /* while a reply is in progress */
	engine_request_id id;
	bool pending; /* the engine has a request of this run */
	bool freed;   /* the conversation is gone: free at the request's end */
	uint64_t seed;
	struct engine_tokens prompt_header; /* the assistant header the reply follows */
};

static struct llm_engine *llm_engine_of(struct llm *llm)
{
	return llm->impl;
}

static enum engine_role llm_engine_role(enum llm_role role)
{
	return role == LLM_ROLE_SYSTEM ? ENGINE_ROLE_SYSTEM
	       : role == LLM_ROLE_USER ? ENGINE_ROLE_USER
				       : ENGINE_ROLE_ASSISTANT;
}

static void llm_engine_copy(const struct engine_tokens *in, struct llm_tokens *out)
{
	out->ids = xmalloc((in->len ? in->len : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < in->len; i++)
		out->ids[i] = (uint32_t)in->ids[i];
	out->count = in->len;
}

static int llm_engine_encode(struct llm *llm, enum llm_role role, const char *text, size_t len, struct llm_tokens *out)
{
	struct engine_tokens t = ENGINE_TOKENS_INIT;
	struct engine_message m = {llm_engine_role(role), text, len};
	int rc = engine_chat_append(llm_engine_of(llm)->model, &m, &t);
	if (rc == 0)
		llm_engine_copy(&t, out);
	engine_tokens_free(&t);
	return rc;
}

static void *llm_engine_conversation_new(struct llm *llm, const struct llm_run_info *info)
{
	(void)info;
	struct llm_engine_run *r = xcalloc(1, sizeof(*r));
	r->llm = llm;
	r->seed = llm_engine_of(llm)->seed++;
	return r;
}

static void llm_engine_run_free(struct llm_engine_run *r)
{
	engine_tokens_free(&r->prompt_header);
	free(r);
}

static void llm_engine_conversation_free(struct llm *llm, void *state)
{
	(void)llm;
	struct llm_engine_run *r = state;
	/* A cancelled request still ends with its on_done, which owns r
	 * then. */
	if (r->pending)
		r->freed = true;
	else
		llm_engine_run_free(r);
}

static void llm_engine_on_done(void *user, const struct engine_result *res)
{
	struct llm_engine_run *r = user;
	struct llm_conversation *c = r->conv;
	r->conv = NULL;
	r->pending = false;
	if (r->freed) {
		llm_engine_run_free(r);
		return;
	}
	if (!c)
		return;
	struct llm_engine *e = llm_engine_of(r->llm);
	if (res->status == -ECANCELED) {
		llm_reply_done(c, LLM_FINISH_CANCELED, NULL, 0, NULL, NULL);
		return;
	}
	if (res->status < 0) {
		llm_reply_done(c, LLM_FINISH_ERROR, NULL, 0, NULL, res->error);
		return;
	}
	/* The reply as the next prompt will hold it: the assistant header,
	 * the sampled ids, and what closes a reply (its end-of-turn token
	 * when the model did not sample one). */
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	for (size_t i = 0; i < r->prompt_header.len; i++)
		engine_tokens_push(&ids, r->prompt_header.ids[i]);
	for (size_t i = 0; i < res->n_tokens; i++)
		engine_tokens_push(&ids, res->tokens[i]);
	struct engine_tokens end = ENGINE_TOKENS_INIT;
	engine_chat_append_reply_end(e->model, &end);
	size_t skip = res->finish == ENGINE_FINISH_EOS && end.len && res->n_tokens &&
				      res->tokens[res->n_tokens - 1] == end.ids[0]
			      ? 1
			      : 0;
	for (size_t i = skip; i < end.len; i++)
		engine_tokens_push(&ids, end.ids[i]);
	engine_tokens_free(&end);
	struct llm_tokens lt;
	llm_engine_copy(&ids, &lt);
	engine_tokens_free(&ids);
	llm_reply_set_usage(c, res->prompt_tokens, res->cached_tokens, res->ttft_ms);
	llm_reply_done(c, res->finish == ENGINE_FINISH_LENGTH ? LLM_FINISH_LENGTH : LLM_FINISH_STOP, res->text,
		       res->text_len, &lt, NULL);
	free(lt.ids);
}

static int llm_engine_start(struct llm_conversation *c, void *state, const struct llm_request *req)
{
	struct llm_engine_run *r = state;
	struct llm *llm = r->llm;
	struct llm_engine *e = llm_engine_of(llm);
	struct engine_tokens prompt = ENGINE_TOKENS_INIT;
	int rc = engine_chat_begin(e->model, &prompt);
	for (size_t i = 0; rc == 0 && i < llm_message_count(c); i++) {
		const struct llm_tokens *m = llm_message_ids(c, i);
		for (size_t k = 0; k < m->count; k++)
			engine_tokens_push(&prompt, (engine_token)m->ids[k]);
	}
	engine_tokens_free(&r->prompt_header);
	if (rc == 0)
		rc = engine_chat_append_prompt(e->model, &r->prompt_header);
	for (size_t i = 0; rc == 0 && i < r->prompt_header.len; i++)
		engine_tokens_push(&prompt, r->prompt_header.ids[i]);
	if (rc < 0) {
		engine_tokens_free(&prompt);
		return rc;
	}
	size_t n_stop = 0;
	while (req->stop && req->stop[n_stop])
		n_stop++;
	/* The reply gets what the context leaves, up to its budget. */
	uint32_t room = prompt.len < llm->context_tokens ? llm->context_tokens - (uint32_t)prompt.len : 0;
	struct engine_request q = {
		.prompt = prompt.ids,
		.n_prompt = prompt.len,
		.max_tokens = req->max_tokens && req->max_tokens < room ? req->max_tokens : room,
		.stop = req->stop,
		.n_stop = n_stop,
		.grammar = req->grammar ? e->agent_grammar : NULL,
		.on_done = llm_engine_on_done,
		.user = r,
	};
	engine_sampler_defaults(&q.sampling);
	q.sampling.seed = r->seed;
	char err[256];
	if (room == 0) {
		engine_tokens_free(&prompt);
		return -E2BIG;
	}
	r->conv = c;
	rc = engine_submit(e->server, &q, &r->id, err, sizeof(err));
	engine_tokens_free(&prompt);
	if (rc < 0)
		r->conv = NULL;
	else
		r->pending = true;
	return rc;
}

static void llm_engine_cancel(struct llm_conversation *c, void *state)
{
	struct llm_engine_run *r = state;
	struct llm_engine *e = llm_engine_of(r->llm);
	if (!r->conv)
		return;
	/* The contract: the callback runs before this returns, and nothing
	 * of the request touches c afterwards (its on_done finds no
	 * conversation). */
	r->conv = NULL;
	engine_cancel(e->server, r->id);
	llm_reply_done(c, LLM_FINISH_CANCELED, NULL, 0, NULL, NULL);
}

static void llm_engine_close(struct llm *llm)
{
	struct llm_engine *e = llm_engine_of(llm);
	engine_server_free(e->server);
	engine_grammar_free(e->agent_grammar);
	engine_model_free(e->model);
	free(e);
}

static const struct llm_ops llm_engine_ops = {
	.name = "engine",
	.encode = llm_engine_encode,
	.conversation_new = llm_engine_conversation_new,
	.conversation_free = llm_engine_conversation_free,
	.start = llm_engine_start,
	.cancel = llm_engine_cancel,
	.close = llm_engine_close,
};

int llm_engine_open(struct llm *llm, const char *path, char *err, size_t errlen)
{
	struct llm_engine *e = xcalloc(1, sizeof(*e));
	char why[1024];
	int rc = engine_model_open(path, NULL, &e->model, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "--model %s: %s", path, why);
		goto fail;
	}
	struct engine_tokens probe = ENGINE_TOKENS_INIT;
	rc = engine_chat_begin(e->model, &probe);
	engine_tokens_free(&probe);
	if (rc < 0) {
		snprintf(err, errlen, "--model %s: the model has no chat template agentd knows (ChatML or Llama 3)",
			 path);
		goto fail;
	}
	rc = engine_grammar_agent(e->model, llm->opts.think_max_bytes, llm->opts.block_max_bytes, &e->agent_grammar,
				  why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "--model %s: the agents' grammar: %s", path, why);
		goto fail;
	}
	rc = engine_server_new(e->model, llm->loop, &llm->opts.engine, &e->server, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "--model %s: %s", path, why);
		goto fail;
	}
	struct engine_stats st;
	engine_server_stats(e->server, &st);
	llm->context_tokens = st.ctx_size;
	llm->ops = &llm_engine_ops;
	llm->impl = e;
	return 0;
fail:
	engine_grammar_free(e->agent_grammar);
	engine_model_free(e->model);
	free(e);
	return rc;
}

int llm_engine_stats(struct llm *llm, struct engine_stats *out)
{
	if (llm->ops != &llm_engine_ops)
		return -ENOTSUP;
	engine_server_stats(llm_engine_of(llm)->server, out);
	return 0;
}
