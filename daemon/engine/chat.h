/* Chat templates: ChatML (Qwen) and Llama 3, recognised from the markers in
 * tokenizer.chat_template (or named with --chat-template), rendered
 * straight into token ids one message at a time. */
#ifndef AGENTD_ENGINE_CHAT_H
#define AGENTD_ENGINE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/gguf.h"
#include "daemon/engine/vocab.h"

enum chat_kind {
	CHAT_NONE,   /* the file has no template (a base model): no chat */
	CHAT_CHATML, /* <|im_start|>role\ncontent<|im_end|>\n */
	CHAT_LLAMA3, /* <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> */
};

struct chat {
	enum chat_kind kind; /* the template */
	bool from_file;      /* recognised from tokenizer.chat_template */
	int32_t bos;         /* what opens a conversation, -1 for nothing */
	int32_t open;        /* <|im_start|> or <|start_header_id|> */
	int32_t header_end;  /* <|end_header_id|> (Llama 3), -1 for ChatML */
	int32_t close;       /* <|im_end|> or <|eot_id|>: ends a turn */
};

/* Picks the template: forced ("chatml" or "llama3") when not NULL, else the
 * one whose markers tokenizer.chat_template holds; CHAT_NONE when the file
 * has no template. An unknown template, or a vocabulary without the
 * template's tokens, is an error. */
int chat_init(struct chat *c, const struct gguf *g, const struct vocab *v, const char *forced, char *err,
	      size_t errlen);
/* "chatml", "llama3" or "none". The functions below need a template. */
const char *chat_name(const struct chat *c);
void chat_begin(const struct chat *c, struct engine_tokens *out);
void chat_append(const struct chat *c, const struct vocab *v, const struct engine_message *msg,
		 struct engine_tokens *out);
void chat_prompt(const struct chat *c, const struct vocab *v, struct engine_tokens *out);
void chat_reply_end(const struct chat *c, const struct vocab *v, struct engine_tokens *out);

#endif
