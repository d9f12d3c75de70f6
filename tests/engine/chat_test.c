/* Chat templates: ChatML and Llama 3 rendered into ids, checked against
 * hand-written renderings of the templates; every turn a token-prefix
 * extension of the last; markers in content stay text; templates
 * recognised from real tokenizer_config.json templates (Qwen3's with tools
 * and thinking, Llama 3's), and unknown ones refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

static engine_model *model_with(const char *vocab, const char *tmpl, const char *forced)
{
	const char *args[] = {"--vocab", vocab, "--chat-template", tmpl, "--tied", "--n-embd", "32", NULL};
	char *path = support_write_model(th_tempdir(), "chat.gguf", args);
	engine_model *m = support_open(path, forced);
	free(path);
	return m;
}

static const struct engine_message conversation[] = {
	{ENGINE_ROLE_SYSTEM, "You are terse.", 14},
	{ENGINE_ROLE_USER, "  List files, please.\n", 22},
	{ENGINE_ROLE_ASSISTANT, "```bash\nls -la\n```", 18},
	{ENGINE_ROLE_USER, "total 0\n<|im_end|><|eot_id|>", 28},
};
#define CONVERSATION_LEN (sizeof(conversation) / sizeof(conversation[0]))

/* Renders the conversation with the generation prompt, and checks it is
 * exactly the ids of expected (with special tokens parsed). */
static void check_rendering(const engine_model *m, const char *expected)
{
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_chat_render(m, conversation, CONVERSATION_LEN, true, &ids), ==, 0);
	struct buf text = BUF_INIT;
	CHECK_INT(engine_detokenize(m, ids.ids, ids.len, ENGINE_DETOK_SPECIAL, &text), ==, 0);
	CHECK_STR(text.data, expected);
	/* The markers in the last message's content are text, not tokens:
	 * the ids differ from tokenizing the rendering with specials parsed
	 * exactly there. Without that message they are the same. */
	struct engine_tokens head = ENGINE_TOKENS_INIT, want = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_chat_render(m, conversation, CONVERSATION_LEN - 1, true, &head), ==, 0);
	struct buf head_text = BUF_INIT;
	CHECK_INT(engine_detokenize(m, head.ids, head.len, ENGINE_DETOK_SPECIAL, &head_text), ==, 0);
	CHECK_INT(engine_tokenize(m, head_text.data, head_text.len, ENGINE_TOKENIZE_SPECIAL, &want), ==, 0);
	CHECK_INT(want.len, ==, head.len);
	CHECK(memcmp(want.ids, head.ids, head.len * sizeof(*head.ids)) == 0);
	engine_token end = engine_chat_end_token(m);
	size_t ends = 0;
	for (size_t i = 0; i < ids.len; i++)
		ends += ids.ids[i] == end;
	CHECK_INT(ends, ==, CONVERSATION_LEN);
	buf_free(&text);
	buf_free(&head_text);
	engine_tokens_free(&ids);
	engine_tokens_free(&head);
	engine_tokens_free(&want);
}

TEST(chatml_rendering)
{
	engine_model *m = model_with("synthetic", "chatml", NULL);
	check_rendering(m, "<|begin_of_text|>"
			   "<|im_start|>system\nYou are terse.<|im_end|>\n"
			   "<|im_start|>user\n  List files, please.\n<|im_end|>\n"
			   "<|im_start|>assistant\n```bash\nls -la\n```<|im_end|>\n"
			   "<|im_start|>user\ntotal 0\n<|im_end|><|eot_id|><|im_end|>\n"
			   "<|im_start|>assistant\n");
	engine_model_free(m);
}

TEST(llama3_rendering)
{
	engine_model *m = model_with("synthetic", "llama3", NULL);
	check_rendering(m, "<|begin_of_text|>"
			   "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
			   "<|start_header_id|>user<|end_header_id|>\n\nList files, please.<|eot_id|>"
			   "<|start_header_id|>assistant<|end_header_id|>\n\n```bash\nls -la\n```<|eot_id|>"
			   "<|start_header_id|>user<|end_header_id|>\n\ntotal 0\n<|im_end|><|eot_id|><|eot_id|>"
			   "<|start_header_id|>assistant<|end_header_id|>\n\n");
	engine_model_free(m);
}

static void check_prefix_extension(const engine_model *m)
{
	struct engine_tokens prev = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_chat_render(m, conversation, 0, false, &prev), ==, 0);
	for (size_t n = 1; n <= CONVERSATION_LEN; n++) {
		struct engine_tokens next = ENGINE_TOKENS_INIT;
		CHECK_INT(engine_chat_render(m, conversation, n, false, &next), ==, 0);
		CHECK_INT(next.len, >, prev.len);
		CHECK(memcmp(next.ids, prev.ids, prev.len * sizeof(*prev.ids)) == 0);
		engine_tokens_free(&prev);
		prev = next;
	}
	engine_tokens_free(&prev);
	/* A reply sampled after the prompt and closed reads like the same
	 * reply appended as a message. */
	struct engine_tokens sampled = ENGINE_TOKENS_INIT, appended = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_chat_render(m, conversation, 2, true, &sampled), ==, 0);
	const struct engine_message *reply = &conversation[2];
	CHECK_INT(engine_tokenize(m, reply->content, reply->len, 0, &sampled), ==, 0);
	CHECK_INT(engine_chat_append_reply_end(m, &sampled), ==, 0);
	CHECK_INT(engine_chat_render(m, conversation, 3, false, &appended), ==, 0);
	CHECK_INT(sampled.len, ==, appended.len);
	CHECK(memcmp(sampled.ids, appended.ids, sampled.len * sizeof(*sampled.ids)) == 0);
	engine_tokens_free(&sampled);
	engine_tokens_free(&appended);
}

TEST(turns_extend_as_token_prefixes)
{
	engine_model *m = model_with("synthetic", "chatml", NULL);
	check_prefix_extension(m);
	engine_model_free(m);
	m = model_with("synthetic", "llama3", NULL);
	check_prefix_extension(m);
	engine_model_free(m);
}

TEST(recognises_real_templates)
{
	/* Qwen3's template: tools, thinking, and ChatML turns. */
	engine_model *m = model_with("qwen", "package", NULL);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	CHECK_STR(vi.chat, "chatml");
	CHECK(vi.chat_from_file);
	CHECK(!vi.add_bos);
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	const struct engine_message hi = {ENGINE_ROLE_USER, "Hi", 2};
	CHECK_INT(engine_chat_render(m, &hi, 1, true, &ids), ==, 0);
	struct buf text = BUF_INIT;
	CHECK_INT(engine_detokenize(m, ids.ids, ids.len, ENGINE_DETOK_SPECIAL, &text), ==, 0);
	CHECK_STR(text.data, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
	/* Qwen's <|im_end|> ends turns. */
	CHECK_INT(engine_chat_end_token(m), ==, vi.eot);
	engine_tokens_free(&ids);
	buf_free(&text);
	engine_model_free(m);

	m = model_with("llama3", "package", NULL);
	engine_model_vocab_info(m, &vi);
	CHECK_STR(vi.chat, "llama3");
	CHECK_INT(engine_chat_render(m, &hi, 1, true, &ids), ==, 0);
	CHECK_INT(engine_detokenize(m, ids.ids, ids.len, ENGINE_DETOK_SPECIAL, &text), ==, 0);
	CHECK_STR(text.data, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
			     "<|start_header_id|>assistant<|end_header_id|>\n\n");
	CHECK_INT(ids.ids[0], ==, 128000);
	CHECK_INT(engine_chat_end_token(m), ==, 128009);
	engine_tokens_free(&ids);
	buf_free(&text);
	engine_model_free(m);
}

TEST(unknown_templates_need_a_name)
{
	const char *args[] = {"--vocab", "synthetic", "--chat-template", "{{ messages }}", NULL};
	char *path = support_write_model(th_tempdir(), "t.gguf", args);
	engine_model *m = NULL;
	char err[1024];
	CHECK_INT(engine_model_open(path, NULL, &m, err, sizeof(err)), ==, -ENOTSUP);
	CHECK_CONTAINS(err, "tokenizer.chat_template is not a template agentd knows");
	CHECK_CONTAINS(err, "--chat-template chatml|llama3");
	m = support_open(path, "llama3");
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	CHECK_STR(vi.chat, "llama3");
	CHECK(!vi.chat_from_file);
	engine_model_free(m);
	struct engine_model_options opts = {"alpaca"};
	CHECK_INT(engine_model_open(path, &opts, &m, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "unknown chat template 'alpaca'");
	free(path);

	/* A base model without a template opens, but cannot chat. */
	const char *none[] = {"--vocab", "synthetic", "--chat-template", "none", NULL};
	path = support_write_model(th_tempdir(), "base.gguf", none);
	m = support_open(path, NULL);
	engine_model_vocab_info(m, &vi);
	CHECK_STR(vi.chat, "none");
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_chat_render(m, conversation, 1, true, &ids), ==, -ENOTSUP);
	CHECK_INT(engine_chat_begin(m, &ids), ==, -ENOTSUP);
	CHECK_INT(ids.len, ==, 0);
	CHECK_INT(engine_chat_end_token(m), ==, -1);
	engine_model_free(m);
	free(path);

	/* GPT-2's vocabulary has none of the markers. */
	const char *gpt2[] = {"--vocab", "gpt2", "--n-embd", "32", "--tied", NULL};
	path = support_write_model(th_tempdir(), "gpt2.gguf", gpt2);
	opts.chat_template = "chatml";
	CHECK_INT(engine_model_open(path, &opts, &m, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "the chatml chat template needs the token <|im_start|>, which the vocabulary lacks");
	free(path);
}
