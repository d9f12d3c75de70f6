/* The contract between llm.c (messages, token ids, the reply life cycle)
 * and an implementation (tokenization and generation). */
#ifndef AGENTD_LLM_INTERNAL_H
#define AGENTD_LLM_INTERNAL_H

#include <stdbool.h>

#include "daemon/llm/llm.h"

/* Token ids of one message as the model sees it (template included). */
struct llm_tokens {
	uint32_t *ids; /* owned */
	size_t count;  /* ids in use */
};

struct llm_ops {
	const char *name; /* "scripted" */
	/* Tokenizes a message into out (empty on entry). */
	int (*encode)(struct llm *llm, enum llm_role role, const char *text, size_t len, struct llm_tokens *out);
	/* Per-conversation state; may return NULL for none. */
	void *(*conversation_new)(struct llm *llm, const struct llm_run_info *info);
	void (*conversation_free)(struct llm *llm, void *state);
	/* Starts generating; the implementation calls llm_reply_done later
	 * (never from within start). */
	int (*start)(struct llm_conversation *c, void *state, const struct llm_request *req);
	/* Stops generating and calls llm_reply_done with LLM_FINISH_CANCELED
	 * before returning; nothing of the reply may touch c afterwards. */
	void (*cancel)(struct llm_conversation *c, void *state);
	void (*close)(struct llm *llm);
};

struct llm {
	const struct llm_ops *ops; /* the implementation */
	uv_loop_t *loop;           /* the daemon's loop */
	char *spec;                /* as opened */
	uint32_t context_tokens;   /* the model's context size */
	struct llm_options opts;   /* limits from the config */
	void *impl;                /* the implementation's state */
};

/* Reports the end of a reply. text/len/tokens describe the reply on STOP
 * and LENGTH (ids: the sampled token ids, or NULL to have them computed with
 * encode); error on ERROR. */
void llm_reply_done(struct llm_conversation *c, enum llm_finish finish, const char *text, size_t len,
		    const struct llm_tokens *ids, const char *error);

/* Message i's token ids (borrowed). */
const struct llm_tokens *llm_message_ids(const struct llm_conversation *c, size_t i);
/* What the engine measured of the reply in progress: its prompt's tokens,
 * the ones its cache supplied, and the time to the first token. */
void llm_reply_set_usage(struct llm_conversation *c, uint32_t prompt_tokens, uint32_t reused_tokens, double ttft_ms);

/* scripted.c */
int llm_scripted_open(struct llm *llm, const char *path, char *err, size_t errlen);
/* engine.c */
int llm_engine_open(struct llm *llm, const char *path, char *err, size_t errlen);
int llm_engine_stats(struct llm *llm, struct engine_stats *out);

#endif
