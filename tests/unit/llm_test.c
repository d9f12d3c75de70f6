/* The conversation interface with the scripted model. */
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

#include "common/xalloc.h"
#include "daemon/llm/llm.h"
#include "tests/harness/harness.h"

static char *script(const char *json)
{
	char *path = xasprintf("%s/script.json", th_tempdir());
	th_write_file(path, json);
	return path;
}

struct got {
	int calls;              /* callbacks */
	enum llm_finish finish; /* last finish */
	char text[256];         /* last text */
	uint32_t tokens;        /* last token count */
	uint32_t prompt_tokens;
	uint64_t elapsed_ms;
	char error[128];
};

static void on_reply(struct llm_conversation *c, const struct llm_reply *r, void *arg)
{
	(void)c;
	struct got *g = arg;
	g->calls++;
	g->finish = r->finish;
	snprintf(g->text, sizeof(g->text), "%.*s", (int)r->len, r->text);
	g->tokens = r->tokens;
	g->prompt_tokens = r->prompt_tokens;
	g->elapsed_ms = r->elapsed_ms;
	snprintf(g->error, sizeof(g->error), "%s", r->error ? r->error : "");
}

static struct llm *open_script(uv_loop_t *loop, const char *json)
{
	char *path = script(json);
	char *spec = xasprintf("scripted:%s", path);
	struct llm_options opts = {.reply_max_tokens = 1024};
	struct llm *llm;
	char err[512];
	if (llm_open(loop, spec, &opts, &llm, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "%s", err);
	free(spec);
	free(path);
	return llm;
}

/* Asks for one reply and runs the loop until it arrives. */
static void reply(uv_loop_t *loop, struct llm_conversation *c, const struct llm_request *req, struct got *g)
{
	int before = g->calls;
	CHECK_INT(llm_reply(c, req, on_reply, g), ==, 0);
	/* Never from within llm_reply. */
	CHECK_INT(g->calls, ==, before);
	while (g->calls == before)
		uv_run(loop, UV_RUN_ONCE);
}

static const char *script_text =
	"{\"tasks\":["
	"{\"match\":\"ISO week\",\"attempt\":2,\"replies\":[\"second attempt\"]},"
	"{\"match\":\"ISO week\",\"replies\":[\"12345678\",{\"text\":\"slow\",\"delay_ms\":150},"
	"{\"error\":\"model on fire\"}]}"
	"],\"default\":[\"fallback\"]}";

TEST(replies_follow_the_script)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct llm *llm = open_script(&loop, script_text);
	CHECK_INT(llm_context_tokens(llm), ==, 32768);
	struct llm_run_info info = {"make parse_date accept ISO week dates", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	CHECK_INT(llm_append(c, LLM_ROLE_SYSTEM, "rules!", 6), ==, 0);
	CHECK_INT(llm_append(c, LLM_ROLE_USER, "a task of 17 bytes", 18), ==, 1);
	/* One token per 4 bytes, rounded up. */
	CHECK_INT(llm_token_count(c), ==, 2 + 5);
	struct llm_request req = {100, NULL, "bash_block"};
	struct got g;
	memset(&g, 0, sizeof(g));
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_STOP);
	CHECK_STR(g.text, "12345678");
	CHECK_INT(g.tokens, ==, 2);
	CHECK_INT(g.prompt_tokens, ==, 7);
	/* The reply joined the conversation with its tokens. */
	CHECK_INT(llm_message_count(c), ==, 3);
	CHECK_INT(llm_message_role(c, 2), ==, LLM_ROLE_ASSISTANT);
	CHECK_STR(llm_message_text(c, 2), "12345678");
	CHECK_INT(llm_token_count(c), ==, 9);
	llm_append(c, LLM_ROLE_USER, "ok", 2);
	reply(&loop, c, &req, &g);
	CHECK_STR(g.text, "slow");
	CHECK_INT(g.elapsed_ms, >=, 140);
	llm_append(c, LLM_ROLE_USER, "again", 5);
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_ERROR);
	CHECK_STR(g.error, "model on fire");
	CHECK_INT(llm_message_count(c), ==, 6); /* an error adds nothing */
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_EXHAUSTED);
	llm_conversation_free(c);

	/* The attempt number picks its entry; no match uses the default. */
	struct llm_run_info second = {"ISO week again", 2};
	c = llm_conversation_new(llm, &second);
	reply(&loop, c, &req, &g);
	CHECK_STR(g.text, "second attempt");
	llm_conversation_free(c);
	struct llm_run_info other = {"something else", 1};
	c = llm_conversation_new(llm, &other);
	reply(&loop, c, &req, &g);
	CHECK_STR(g.text, "fallback");
	llm_conversation_free(c);
	llm_close(llm);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(no_entry_and_no_default_is_exhausted)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct llm *llm = open_script(&loop, "{\"tasks\":[{\"match\":\"x\",\"replies\":[\"a\"]}]}");
	struct llm_run_info info = {"nothing matches", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	struct llm_request req = {100, NULL, NULL};
	struct got g;
	memset(&g, 0, sizeof(g));
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_EXHAUSTED);
	llm_conversation_free(c);
	llm_close(llm);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

TEST(limits_stop_strings_and_grammar_names)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct llm *llm =
		open_script(&loop, "{\"default\":[\"abcdefghijklmnopqrstuvwxyz\",\"keep this STOP drop this\","
				   "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"]}");
	struct llm_run_info info = {"t", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	struct llm_request req = {3, NULL, NULL};
	struct got g;
	memset(&g, 0, sizeof(g));
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_LENGTH);
	CHECK_STR(g.text, "abcdefghijkl");
	const char *stops[] = {"STOP", NULL};
	struct llm_request stop_req = {100, stops, NULL};
	reply(&loop, c, &stop_req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_STOP);
	CHECK_STR(g.text, "keep this ");
	/* A cut never splits a character: 5 x 2 bytes, 2 tokens = 8 bytes. */
	struct llm_request two = {2, NULL, NULL};
	reply(&loop, c, &two, &g);
	CHECK_STR(g.text, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	struct llm_request bad = {100, NULL, "python_block"};
	CHECK_INT(llm_reply(c, &bad, on_reply, &g), ==, -EINVAL);
	llm_conversation_free(c);
	llm_close(llm);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

TEST(reply_max_tokens_caps_every_request)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *path = script("{\"default\":[\"0123456789012345678901234567890123456789\"]}");
	char *spec = xasprintf("scripted:%s", path);
	struct llm_options opts = {.reply_max_tokens = 4};
	struct llm *llm;
	char err[256];
	CHECK_INT(llm_open(&loop, spec, &opts, &llm, err, sizeof(err)), ==, 0);
	struct llm_run_info info = {"t", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	struct llm_request req = {1000, NULL, NULL};
	struct got g;
	memset(&g, 0, sizeof(g));
	reply(&loop, c, &req, &g);
	CHECK_INT(g.finish, ==, LLM_FINISH_LENGTH);
	CHECK_INT(g.tokens, ==, 4);
	llm_conversation_free(c);
	llm_close(llm);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(spec);
	free(path);
}

TEST(cancel_and_busy)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct llm *llm = open_script(&loop, "{\"default\":[{\"text\":\"late\",\"delay_ms\":5000},\"next\"]}");
	struct llm_run_info info = {"t", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	struct llm_request req = {100, NULL, NULL};
	struct got g;
	memset(&g, 0, sizeof(g));
	CHECK_INT(llm_reply(c, &req, on_reply, &g), ==, 0);
	CHECK_INT(llm_reply(c, &req, on_reply, &g), ==, -EBUSY);
	CHECK_INT(llm_append(c, LLM_ROLE_USER, "x", 1), ==, -EBUSY);
	long long t0 = th_now_ms();
	llm_cancel(c);
	CHECK_INT(g.calls, ==, 1);
	CHECK_INT(g.finish, ==, LLM_FINISH_CANCELED);
	CHECK_INT(llm_message_count(c), ==, 0);
	/* The canceled reply was not used up. */
	struct llm_request quick = {100, NULL, NULL};
	CHECK_INT(llm_reply(c, &quick, on_reply, &g), ==, 0);
	llm_conversation_free(c); /* pending: no callback, no leak */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(g.calls, ==, 1);
	CHECK_INT(th_now_ms() - t0, <, 1000);
	llm_close(llm);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(replace_retokenizes)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct llm *llm = open_script(&loop, "{\"default\":[]}");
	struct llm_run_info info = {"t", 1};
	struct llm_conversation *c = llm_conversation_new(llm, &info);
	char big[4000];
	memset(big, 'o', sizeof(big));
	llm_append(c, LLM_ROLE_USER, big, sizeof(big));
	CHECK_INT(llm_token_count(c), ==, 1000);
	CHECK_INT(llm_replace(c, 0, "[elided]", 8), ==, 0);
	CHECK_INT(llm_token_count(c), ==, 2);
	CHECK_INT(llm_message_tokens(c, 0), ==, 2);
	CHECK_STR(llm_message_text(c, 0), "[elided]");
	CHECK_INT(llm_replace(c, 5, "x", 1), ==, -EINVAL);
	llm_conversation_free(c);
	llm_close(llm);
	uv_loop_close(&loop);
}

TEST(malformed_scripts_are_refused_with_the_place)
{
	struct {
		const char *json;
		const char *message;
	} cases[] = {
		{"[1]", "top level: must be an object"},
		{"{\"task\":[]}", "unknown field 'task'"},
		{"{\"tasks\":{}}", "tasks: must be an array"},
		{"{\"tasks\":[{\"replies\":[]}]}", "tasks[0]: needs a match string"},
		{"{\"tasks\":[{\"match\":\"a\",\"replies\":\"x\"}]}", "tasks[0].replies: must be an array"},
		{"{\"tasks\":[{\"match\":\"a\",\"attempt\":0,\"replies\":[]}]}", "attempt must be an integer"},
		{"{\"tasks\":[{\"match\":\"a\",\"replies\":[],\"x\":1}]}", "unknown or mistyped field 'x'"},
		{"{\"default\":[5]}", "default[0]: must be a string or an object"},
		{"{\"default\":[{\"delay_ms\":5}]}", "default[0]: needs exactly one of text and error"},
		{"{\"default\":[{\"text\":\"a\",\"error\":\"b\"}]}", "needs exactly one of text and error"},
		{"{\"default\":[{\"text\":\"a\",\"delay_ms\":-1}]}", "delay_ms must be an integer"},
		{"{\"default\":[{\"text\":\"a\",\"colour\":1}]}", "unknown or mistyped field 'colour'"},
		{"{\"default\":[\"a\",}", "not valid JSON"},
	};
	uv_loop_t loop;
	uv_loop_init(&loop);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = script(cases[i].json);
		char *spec = xasprintf("scripted:%s", path);
		struct llm_options opts = {.reply_max_tokens = 1024};
		struct llm *llm = NULL;
		char err[512] = "";
		CHECK_INT(llm_open(&loop, spec, &opts, &llm, err, sizeof(err)), <, 0);
		CHECK(llm == NULL);
		CHECK_CONTAINS(err, path);
		CHECK_CONTAINS(err, cases[i].message);
		free(spec);
		free(path);
	}
	struct llm_options opts = {.reply_max_tokens = 1024};
	struct llm *llm = NULL;
	char err[512];
	CHECK_INT(llm_open(&loop, "scripted:/nonexistent.json", &opts, &llm, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "No such file");
	CHECK_INT(llm_open(&loop, "gpt:5", &opts, &llm, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "expected scripted:FILE");
	CHECK_INT(llm_open(&loop, "model:/x.gguf", &opts, &llm, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "--model /x.gguf");
	CHECK(llm == NULL);
	uv_loop_close(&loop);
}
