/* `agentd model info|tokenize` through the real binary: output, --json,
 * flags, and bad usage or bad files exiting 2 with a message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

static char *model_path(void)
{
	const char *args[] = {"--vocab", "synthetic", "--chat-template", "chatml", "--name", "tiny test", NULL};
	return support_write_model(th_tempdir(), "m.gguf", args);
}

TEST(help_and_usage_errors)
{
	char *out;
	const char *help[] = {"model", "--help", NULL};
	CHECK_INT(th_run_agentd(help, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "usage: agentd model info --model FILE");
	free(out);
	const char *help2[] = {"help", "model", NULL};
	CHECK_INT(th_run_agentd(help2, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "agentd model tokenize");
	free(out);
	const char *top[] = {"--help", NULL};
	CHECK_INT(th_run_agentd(top, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "model      work on GGUF model files");
	free(out);

	static const struct {
		const char *args[8]; /* after "model" */
		const char *message; /* expected in the output */
	} bad[] = {
		{{NULL}, "a command is required: info, tokenize, generate or bench"},
		{{"load", "--model", "x", NULL}, "unknown command 'load'"},
		{{"info", NULL}, "--model FILE is required"},
		{{"info", "--model", "x", "--bogus", NULL}, "unknown option '--bogus'"},
		{{"tokenize", "--model", "x", "--text", NULL}, "--text needs a value"},
		{{"tokenize", "--model", "x", NULL}, "tokenize needs exactly one of --text TEXT and --file FILE"},
		{{"info", "--model", "x", "--special", NULL}, "belong to tokenize"},
		{{"info", "--model", "x", "--chat-template", "vicuna", NULL},
		 "--chat-template must be chatml or llama3"},
		{{"info", "--model", "/nonexistent.gguf", NULL}, "cannot open /nonexistent.gguf"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[10] = {"model"};
		for (size_t k = 0; bad[i].args[k]; k++)
			argv[k + 1] = bad[i].args[k];
		CHECK_INT(th_run_agentd(argv, &out, 10000), ==, 2);
		CHECK_CONTAINS(out, bad[i].message);
		free(out);
	}
}

TEST(corrupt_files_exit_2_with_the_validators_message)
{
	char *path = model_path();
	/* Cut the file in the middle of its tensor data. */
	CHECK_INT(truncate(path, 200000), ==, 0);
	char *out;
	const char *args[] = {"model", "info", "--model", path, NULL};
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 2);
	CHECK_CONTAINS(out, "agentd model: ");
	CHECK_CONTAINS(out, "runs past the end of the file");
	free(out);
	char *bad = xasprintf("%s/bad.gguf", th_tempdir());
	th_write_file(bad, "GGUF\x03\x00\x00\x00");
	const char *args2[] = {"model", "tokenize", "--model", bad, "--text", "hi", NULL};
	CHECK_INT(th_run_agentd(args2, &out, 10000), ==, 2);
	CHECK_CONTAINS(out, "file is truncated: version at offset 4");
	free(out);
	free(bad);
	free(path);
}

TEST(info_text_and_json)
{
	char *path = model_path();
	char *out;
	const char *text[] = {"model", "info", "--model", path, NULL};
	CHECK_INT(th_run_agentd(text, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "architecture:  llama");
	CHECK_CONTAINS(out, "name:          tiny test");
	CHECK_CONTAINS(out, "heads:         4 (kv 2, head size 16)");
	CHECK_CONTAINS(out, "pre-tokenizer llama-bpe");
	CHECK_CONTAINS(out, "chat template: chatml (from the file)");
	free(out);
	const char *json[] = {"model", "info", "--model", path, "--json", "--chat-template", "llama3", NULL};
	CHECK_INT(th_run_agentd(json, &out, 10000), ==, 0);
	cJSON *j = cJSON_Parse(out);
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetObjectItem(j, "architecture")->valuestring, "llama");
	CHECK_STR(cJSON_GetObjectItem(j, "name")->valuestring, "tiny test");
	CHECK_INT(cJSON_GetObjectItem(j, "gguf_version")->valueint, ==, 3);
	const cJSON *h = cJSON_GetObjectItem(j, "hparams");
	CHECK_INT(cJSON_GetObjectItem(h, "embedding_length")->valueint, ==, 64);
	CHECK_INT(cJSON_GetObjectItem(h, "block_count")->valueint, ==, 2);
	CHECK_INT(cJSON_GetObjectItem(h, "head_count_kv")->valueint, ==, 2);
	CHECK(cJSON_GetObjectItem(h, "rms_epsilon")->valuedouble > 0);
	const cJSON *types = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tensors"), "types");
	CHECK_INT(cJSON_GetArraySize(types), ==, 2);
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 1), "type")->valuestring, "f16");
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 1), "tensors")->valueint, ==, 16);
	const cJSON *v = cJSON_GetObjectItem(j, "vocab");
	CHECK_STR(cJSON_GetObjectItem(v, "pre")->valuestring, "llama-bpe");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(v, "add_bos")));
	const cJSON *c = cJSON_GetObjectItem(j, "chat_template");
	CHECK_STR(cJSON_GetObjectItem(c, "name")->valuestring, "llama3");
	CHECK_STR(cJSON_GetObjectItem(c, "source")->valuestring, "--chat-template");
	cJSON_Delete(j);
	free(out);
	free(path);
}

/* Checks that out is ids followed by a newline. */
static void check_line(const char *out, const char *ids)
{
	char *line = xasprintf("%s\n", ids);
	CHECK_STR(out, line);
	free(line);
}

TEST(tokenize_prints_ids)
{
	char *path = model_path();
	engine_model *m = support_open(path, NULL);
	const char *text = "Hello <|im_start|> world";
	struct engine_tokens plain = ENGINE_TOKENS_INIT, special = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, text, strlen(text), 0, &plain), ==, 0);
	CHECK_INT(engine_tokenize(m, text, strlen(text), ENGINE_TOKENIZE_SPECIAL | ENGINE_TOKENIZE_ADD_BOS, &special),
		  ==, 0);
	char *want_plain = support_ids_text(plain.ids, plain.len);
	char *want_special = support_ids_text(special.ids, special.len);
	char *out;
	const char *a1[] = {"model", "tokenize", "--model", path, "--text", text, NULL};
	CHECK_INT(th_run_agentd(a1, &out, 10000), ==, 0);
	check_line(out, want_plain);
	free(out);
	const char *a2[] = {"model", "tokenize",  "--model",   path,     "--text",
			    text,    "--special", "--add-bos", "--json", NULL};
	CHECK_INT(th_run_agentd(a2, &out, 10000), ==, 0);
	check_line(out, want_special);
	free(out);
	/* --file reads any bytes. */
	char *file = xasprintf("%s/text.bin", th_tempdir());
	th_write_file(file, "a\xff");
	const char *a3[] = {"model", "tokenize", "--model", path, "--file", file, NULL};
	CHECK_INT(th_run_agentd(a3, &out, 10000), ==, 0);
	struct engine_tokens bad = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, "a\xff", 2, 0, &bad), ==, 0);
	char *want_bad = support_ids_text(bad.ids, bad.len);
	check_line(out, want_bad);
	free(out);
	const char *a4[] = {"model", "tokenize", "--model", path, "--text", "", NULL};
	CHECK_INT(th_run_agentd(a4, &out, 10000), ==, 0);
	CHECK_STR(out, "[]\n");
	free(out);
	engine_tokens_free(&plain);
	engine_tokens_free(&special);
	engine_tokens_free(&bad);
	free(want_plain);
	free(want_special);
	free(want_bad);
	free(file);
	engine_model_free(m);
	free(path);
}
