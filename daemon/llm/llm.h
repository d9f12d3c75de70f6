/* The conversation interface agents use to reach a model. A conversation
 * keeps the token ids of every message (a reply keeps the ids that were
 * sampled, never a re-tokenization of its text), so each turn extends the
 * last one exactly and a prefix cache can reuse it. Replies are produced
 * asynchronously on the loop thread; errors are values. Implementations:
 * "scripted" (tests and the demo) and, later, the in-process engine. */
#ifndef AGENTD_LLM_LLM_H
#define AGENTD_LLM_LLM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "daemon/engine/engine.h"

struct llm;
struct llm_conversation;

enum llm_role {
	LLM_ROLE_SYSTEM,    /* rules and the task */
	LLM_ROLE_USER,      /* the instruction, observations, corrections */
	LLM_ROLE_ASSISTANT, /* the model's replies */
};

enum llm_finish {
	LLM_FINISH_STOP,      /* the model ended its turn, or a stop string came */
	LLM_FINISH_LENGTH,    /* max_tokens was reached */
	LLM_FINISH_EXHAUSTED, /* a script has no reply left */
	LLM_FINISH_ERROR,     /* it failed: error says why */
	LLM_FINISH_CANCELED,  /* llm_cancel */
};

/* Limits on one reply. */
struct llm_request {
	uint32_t max_tokens;     /* the reply's token budget */
	const char *const *stop; /* stop strings (NULL-terminated), or NULL */
	const char *grammar;     /* a grammar by name ("bash_block"), or NULL */
};

/* One reply, borrowed for the duration of the callback. */
struct llm_reply {
	enum llm_finish finish; /* why it ended */
	const char *text;       /* what the model said ("" unless STOP or LENGTH) */
	size_t len;             /* bytes in text */
	uint32_t tokens;        /* tokens generated */
	uint32_t prompt_tokens; /* tokens of the conversation the model read */
	uint32_t reused_tokens; /* of those, the ones a cache supplied */
	uint64_t elapsed_ms;    /* from llm_reply to this callback */
	double ttft_ms;         /* from llm_reply to the first token (0: not measured) */
	const char *error;      /* with LLM_FINISH_ERROR, the reason */
};

/* Who the conversation is for: scripts pick their replies by it. */
struct llm_run_info {
	const char *instruction; /* the task's instruction (borrowed for the call) */
	unsigned attempt;        /* the run's attempt number, from 1 */
};

struct llm_options {
	uint32_t reply_max_tokens;           /* ceiling on any reply (--reply-max-tokens) */
	uint32_t think_max_bytes;            /* the bash_block grammar: free text before the block */
	uint32_t block_max_bytes;            /* the bash_block grammar: the block's body */
	struct engine_server_options engine; /* the engine's serving options (model:) */
};

typedef void (*llm_reply_fn)(struct llm_conversation *c, const struct llm_reply *reply, void *arg);

/* Opens a model from a spec: "scripted:FILE" or "model:FILE.gguf" (the
 * in-process engine, loaded once and shared by every conversation). Returns 0 with *out (close with llm_close), or a
 * negative errno with a message naming what is wrong in err. */
int llm_open(uv_loop_t *loop, const char *spec, const struct llm_options *opts, struct llm **out, char *err,
	     size_t errlen);
/* Closes the model; every conversation must be freed first. NULL: no-op. */
void llm_close(struct llm *llm);
/* What was opened, e.g. "scripted:/path/replies.json" (static to llm). */
const char *llm_describe(const struct llm *llm);
/* The model's context size in tokens. */
uint32_t llm_context_tokens(const struct llm *llm);
/* The engine's stats into *out; -ENOTSUP for a model that is not the
 * engine (scripted). */
int llm_stats(struct llm *llm, struct engine_stats *out);

/* A new, empty conversation; free with llm_conversation_free (which
 * cancels a reply in progress without calling its callback). */
struct llm_conversation *llm_conversation_new(struct llm *llm, const struct llm_run_info *info);
void llm_conversation_free(struct llm_conversation *c);
/* Appends a message, tokenizing it once. Returns its index, or a negative
 * errno (-EBUSY while a reply is in progress). */
int llm_append(struct llm_conversation *c, enum llm_role role, const char *text, size_t len);
/* Replaces message i's text (the fleet elides old observations when the
 * context fills); the conversation is re-tokenized from there on. */
int llm_replace(struct llm_conversation *c, size_t i, const char *text, size_t len);
size_t llm_message_count(const struct llm_conversation *c);
enum llm_role llm_message_role(const struct llm_conversation *c, size_t i);
/* Message i's text (borrowed, NUL-terminated) and its tokens. */
const char *llm_message_text(const struct llm_conversation *c, size_t i);
uint32_t llm_message_tokens(const struct llm_conversation *c, size_t i);
/* Tokens the whole conversation holds. */
uint32_t llm_token_count(const struct llm_conversation *c);
/* Asks for the next assistant message. cb runs once, on the loop thread,
 * never from within this call; with STOP or LENGTH the reply has been
 * appended to the conversation first. Returns 0, -EBUSY while a reply is in
 * progress, or -EINVAL for an unknown grammar. */
int llm_reply(struct llm_conversation *c, const struct llm_request *req, llm_reply_fn cb, void *arg);
/* Ends the reply in progress: its callback runs with LLM_FINISH_CANCELED. */
void llm_cancel(struct llm_conversation *c);

#endif
