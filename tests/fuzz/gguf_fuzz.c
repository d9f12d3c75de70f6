/* libFuzzer target for the GGUF reader and everything that trusts what it
 * accepted: the vocabulary, the model description, the chat template and
 * the tokenizer. Built with clang by tests/fuzz/run.sh; tests/fuzz/replay.c
 * drives the same function over mutated files in the test command. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/engine/chat.h"
#include "daemon/engine/gguf.h"
#include "daemon/engine/model.h"
#include "daemon/engine/tokenizer.h"
#include "daemon/engine/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf *g = NULL;
	char err[512];
	if (gguf_open_memory(data, size, &g, err, sizeof(err)) < 0)
		return 0;
	/* Read every value and every tensor's first and last byte. */
	volatile uint64_t sink = 0;
	for (size_t i = 0; i < g->n_kv; i++) {
		const struct gguf_value *v = &g->kv[i].value;
		if (v->type == GGUF_TYPE_STRING && v->str.len)
			sink += (unsigned char)v->str.ptr[v->str.len - 1];
		if (v->type == GGUF_TYPE_ARRAY && v->arr.n && !v->arr.items && v->arr.type != GGUF_TYPE_BOOL &&
		    v->arr.type != GGUF_TYPE_FLOAT32 && v->arr.type != GGUF_TYPE_FLOAT64)
			sink += (uint64_t)gguf_array_int(v, v->arr.n - 1);
	}
	for (size_t i = 0; i < g->n_tensors; i++) {
		const uint8_t *p = g->tensors[i].data;
		sink += p[0] + p[g->tensors[i].bytes - 1];
	}
	struct vocab v;
	if (vocab_load(&v, g, err, sizeof(err)) == 0) {
		struct engine_hparams hp;
		model_describe(g, v.n_tokens, &hp, err, sizeof(err));
		struct chat c;
		struct engine_tokens ids = ENGINE_TOKENS_INIT;
		if (chat_init(&c, g, &v, NULL, err, sizeof(err)) == 0 && c.kind != CHAT_NONE) {
			const struct engine_message msg = {ENGINE_ROLE_USER, "hi <|im_end|>", 13};
			chat_begin(&c, &ids);
			chat_append(&c, &v, &msg, &ids);
			chat_prompt(&c, &v, &ids);
		}
		static const char text[] = "Hello, world! It's 2024 — ünïcödé 😀\n\n  <|im_start|>\xff";
		tokenizer_encode(&v, text, sizeof(text) - 1, true, true, &ids);
		tokenizer_encode(&v, (const char *)data, size < 4096 ? size : 4096, false, false, &ids);
		for (size_t i = 0; i < ids.len; i++) {
			size_t len;
			tokenizer_piece(&v, ids.ids[i], true, &len);
			sink += len;
		}
		engine_tokens_free(&ids);
		vocab_close(&v);
	}
	(void)sink;
	gguf_close(g);
	return 0;
}
