/* `agentd model generate|bench` through the real binary: the JSON they
 * print, greedy and seeded sampling, logits that do not depend on the
 * thread count, the batch size or (beyond rounding) the kernels, the chat
 * prompt, and bad usage exiting 2 with a message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

/* A small model whose logits spread (norm weights near one), of n_embd
 * and n_ff. */
static char *write_model_sized(const char *name, const char *type, const char *n_embd, const char *n_ff)
{
	const char *args[] = {"--n-embd",        n_embd,   "--n-layer", "2",  "--n-head", "4",    "--n-head-kv",    "2",
			      "--n-ff",          n_ff,     "--type",    type, "--norm",   "ones", "--weight-scale", "8",
			      "--chat-template", "chatml", NULL};
	return support_write_model(th_tempdir(), name, args);
}

static char *write_model(const char *name, const char *type)
{
	return write_model_sized(name, type, "64", "128");
}

/* Runs agentd with args; checks the exit status; returns the output. */
static char *run(const char *const *args, int status)
{
	char *out;
	int got = th_run_agentd(args, &out, 60000);
	if (got != status)
		th_fail(__FILE__, __LINE__, "agentd %s %s exited %d, expected %d: %s", args[0], args[1], got, status,
			out);
	return out;
}

static cJSON *run_json(const char *const *args)
{
	char *out = run(args, 0);
	cJSON *j = cJSON_Parse(out);
	if (!j)
		th_fail(__FILE__, __LINE__, "not JSON: %s", out);
	free(out);
	return j;
}

static char *ids_of(const cJSON *j, const char *key)
{
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, key));
	return s;
}

TEST(generate_json)
{
	char *path = write_model("m.gguf", "f16");
	const char *args[] = {"model",        "generate", "--model",       path, "--prompt", "The quick brown fox",
			      "--max-tokens", "12",       "--temperature", "0",  "--json",   NULL};
	cJSON *a = run_json(args), *b = run_json(args);
	const cJSON *prompt = cJSON_GetObjectItem(a, "prompt_tokens"), *tokens = cJSON_GetObjectItem(a, "tokens");
	CHECK(cJSON_GetArraySize(prompt) >= 3);
	CHECK_INT(cJSON_GetArraySize(tokens), ==, 12);
	CHECK(cJSON_IsString(cJSON_GetObjectItem(a, "text")));
	CHECK(cJSON_GetObjectItem(a, "prompt_tokens_per_s")->valuedouble > 0);
	CHECK(cJSON_GetObjectItem(a, "tokens_per_s")->valuedouble > 0);
	/* The prompt is the text tokenized with BOS; greedy repeats itself. */
	engine_model *m = support_open(path, NULL);
	struct engine_tokens want = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, "The quick brown fox", 19, ENGINE_TOKENIZE_ADD_BOS, &want), ==, 0);
	char *want_text = support_ids_text(want.ids, want.len), *got_text = ids_of(a, "prompt_tokens");
	CHECK_STR(got_text, want_text);
	char *ta = ids_of(a, "tokens"), *tb = ids_of(b, "tokens");
	CHECK_STR(ta, tb);
	/* The text is the tokens detokenized. */
	struct buf text = BUF_INIT;
	for (int i = 0; i < cJSON_GetArraySize(tokens); i++)
		CHECK_INT(engine_token_piece(m, cJSON_GetArrayItem(tokens, i)->valueint, 0, &text), ==, 0);
	buf_append_char(&text, 0);
	CHECK_INT(strlen(cJSON_GetObjectItem(a, "text")->valuestring), >, 0);
	engine_tokens_free(&want);
	buf_free(&text);
	free(want_text);
	free(got_text);
	free(ta);
	free(tb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	engine_model_free(m);
	free(path);
}

TEST(generate_seeds)
{
	char *path = write_model("m.gguf", "f32");
	const char *s1[] = {"model",         "generate", "--model", path, "--prompt", "hello", "--max-tokens", "24",
			    "--temperature", "1.5",      "--top-k", "0",  "--top-p",  "1",     "--min-p",      "0",
			    "--seed",        "7",        "--json",  NULL};
	const char *s2[] = {"model",         "generate", "--model", path, "--prompt", "hello", "--max-tokens", "24",
			    "--temperature", "1.5",      "--top-k", "0",  "--top-p",  "1",     "--min-p",      "0",
			    "--seed",        "8",        "--json",  NULL};
	cJSON *a = run_json(s1), *b = run_json(s1), *c = run_json(s2);
	char *ta = ids_of(a, "tokens"), *tb = ids_of(b, "tokens"), *tc = ids_of(c, "tokens");
	CHECK_STR(ta, tb);
	CHECK(strcmp(ta, tc) != 0);
	free(ta);
	free(tb);
	free(tc);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	free(path);
}

static float *read_logits(const char *path, int *n)
{
	cJSON *j = support_read_json(path);
	CHECK(cJSON_IsArray(j));
	*n = cJSON_GetArraySize(j);
	float *v = xmalloc((size_t)*n * sizeof(float));
	for (int i = 0; i < *n; i++)
		v[i] = (float)cJSON_GetArrayItem(j, i)->valuedouble;
	cJSON_Delete(j);
	return v;
}

/* Dumps the logits after the prompt with extra flags (NULL-terminated);
 * returns the dump's text. */
static char *dump(const char *model, const char *type, const char *const *extra)
{
	static int count;
	char *file = xasprintf("%s/logits-%s-%d.json", th_tempdir(), type, count++);
	const char *args[24] = {
		"model",         "generate",
		"--model",       model,
		"--prompt",      "a longer prompt, so that several passes of a small batch are needed to read it all",
		"--max-tokens",  "1",
		"--kv-type",     "f32",
		"--dump-logits", file};
	size_t n = 12;
	for (size_t i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	free(run(args, 0));
	return file;
}

static double rel_l2(const float *a, const float *b, int n)
{
	double num = 0, den = 0;
	for (int i = 0; i < n; i++) {
		num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		den += (double)b[i] * b[i];
	}
	return sqrt(num / den);
}

/* Whether this CPU runs the kernel set (agentd refuses a set it lacks). */
static bool kernels_available(const char *model, const char *set)
{
	setenv("AGENTD_KERNELS", set, 1);
	const char *args[] = {"model", "generate", "--model", model, "--prompt", "x", "--max-tokens", "1", NULL};
	char *out;
	int status = th_run_agentd(args, &out, 60000);
	unsetenv("AGENTD_KERNELS");
	if (status != 0)
		CHECK_CONTAINS(out, "this CPU runs");
	free(out);
	return status == 0;
}

/* For each kernel set the CPU runs: the same logits whatever the thread
 * count or batch size (bit for bit); and every set within rounding of the
 * best one. */
static void check_invariance(const char *type, const char *n_embd, const char *n_ff, double tolerance)
{
	char *name = xasprintf("%s.gguf", type);
	char *path = write_model_sized(name, type, n_embd, n_ff);
	const char *t1[] = {"--threads", "1", NULL}, *t3[] = {"--threads", "3", "--batch", "5", NULL},
		   *b1[] = {"--threads", "2", "--batch", "1", NULL};
	static const char *const sets[] = {"", "avx2", "portable"};
	float *best = NULL;
	int n_best = 0;
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		if (sets[s][0] && !kernels_available(path, sets[s]))
			continue;
		if (sets[s][0])
			setenv("AGENTD_KERNELS", sets[s], 1);
		char *base = dump(path, type, t1), *f3 = dump(path, type, t3), *f1 = dump(path, type, b1);
		unsetenv("AGENTD_KERNELS");
		char *want = th_read_file(base), *got3 = th_read_file(f3), *got1 = th_read_file(f1);
		CHECK_STR(got3, want);
		CHECK_STR(got1, want);
		int n;
		float *logits = read_logits(base, &n);
		if (!best) {
			best = logits;
			n_best = n;
		} else {
			CHECK_INT(n, ==, n_best);
			double err = rel_l2(logits, best, n);
			fprintf(stderr, "%s: the %s kernels differ from the best set by %.3g (relative L2)\n", type,
				sets[s], err);
			CHECK(err < tolerance);
			free(logits);
		}
		free(want);
		free(got3);
		free(got1);
		free(base);
		free(f3);
		free(f1);
	}
	free(best);
	free(path);
	free(name);
}

TEST(logits_invariant_f32)
{
	check_invariance("f32", "64", "128", 1e-5);
}

TEST(logits_invariant_f16)
{
	check_invariance("f16", "64", "128", 1e-5);
}

TEST(logits_invariant_bf16)
{
	check_invariance("bf16", "64", "128", 1e-5);
}

TEST(logits_invariant_q8_0)
{
	check_invariance("q8_0", "64", "128", 1e-4);
}

/* Odd sizes: three and five Q8_0 blocks per row (the AVX-512 kernel takes
 * blocks in pairs) and heads of 24 dimensions (not whole vectors). */
TEST(logits_invariant_q8_0_odd_blocks)
{
	check_invariance("q8_0", "96", "160", 1e-4);
}

TEST(logits_invariant_f16_odd_heads)
{
	check_invariance("f16", "96", "160", 1e-5);
}

TEST(generate_chat)
{
	char *path = write_model("m.gguf", "f16");
	const char *args[] = {"model",        "generate", "--model",       path, "--prompt", "hi", "--chat",
			      "--max-tokens", "3",        "--temperature", "0",  "--json",   NULL};
	cJSON *j = run_json(args);
	engine_model *m = support_open(path, NULL);
	const char *rendered = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
	struct engine_tokens want = ENGINE_TOKENS_INIT;
	/* The model asks for BOS (add_bos_token), so the conversation opens with it. */
	CHECK_INT(engine_tokenize(m, rendered, strlen(rendered), ENGINE_TOKENIZE_SPECIAL | ENGINE_TOKENIZE_ADD_BOS,
				  &want),
		  ==, 0);
	char *want_text = support_ids_text(want.ids, want.len), *got = ids_of(j, "prompt_tokens");
	CHECK_STR(got, want_text);
	engine_tokens_free(&want);
	free(want_text);
	free(got);
	cJSON_Delete(j);
	engine_model_free(m);
	free(path);
}

TEST(bench_json)
{
	char *path = write_model("m.gguf", "q8_0");
	const char *args[] = {"model", "bench", "--model",  path, "-p",     "32",
			      "-n",    "8",     "--repeat", "3",  "--json", NULL};
	cJSON *j = run_json(args);
	CHECK(cJSON_GetObjectItem(j, "pp_tokens_per_s")->valuedouble > 0);
	CHECK(cJSON_GetObjectItem(j, "tg_tokens_per_s")->valuedouble > 0);
	CHECK(cJSON_GetObjectItem(j, "pp_spread")->valuedouble >= 0);
	CHECK(cJSON_GetObjectItem(j, "tg_spread")->valuedouble >= 0);
	CHECK_INT(cJSON_GetObjectItem(j, "repeat")->valueint, ==, 3);
	cJSON_Delete(j);
	const char *text[] = {"model", "bench", "--model", path, "-p", "16", "-n", "0", "--repeat", "1", NULL};
	char *out = run(text, 0);
	CHECK_CONTAINS(out, "pp16");
	CHECK(strstr(out, "tg0") == NULL);
	free(out);
	free(path);
}

TEST(bench_parallel_json)
{
	/* The serving engine through the CLI: N sequences at once, and the
	 * agent simulation with the prefix cache on and off. */
	char *path = write_model("m.gguf", "f32");
	const char *args[] = {"model", "bench", "--model", path,        "--parallel", "6",      "-p",
			      "40",    "-n",    "5",       "--threads", "2",          "--json", NULL};
	cJSON *j = run_json(args);
	CHECK(cJSON_GetObjectItem(j, "aggregate_tg_tokens_per_s")->valuedouble > 0);
	CHECK(cJSON_GetObjectItem(j, "ttft_ms_p50")->valuedouble > 0);
	CHECK_INT(cJSON_GetObjectItem(j, "parallel")->valueint, ==, 6);
	/* Six prompts in one step, then six continuations of one row each. */
	CHECK_INT(cJSON_GetObjectItem(j, "kv_blocks_used")->valueint, ==, 0);
	cJSON_Delete(j);

	const char *sim[] = {"model",   "bench", "--model",       path, "--parallel", "5", "--prefix-tokens", "64",
			     "--turns", "3",     "--user-tokens", "10", "-n",         "6", "--json",          NULL};
	j = run_json(sim);
	double hit = cJSON_GetObjectItem(j, "prefix_hit_rate")->valuedouble;
	double ideal = cJSON_GetObjectItem(j, "prefix_hit_rate_ideal")->valuedouble;
	/* Turn 1: four of five reuse the 64 shared tokens; turns 2 and 3
	 * reuse the whole previous turn (its prompt and its reply but the
	 * last token). */
	double expect = (4.0 * 64 + 5 * (74 + 5) + 5 * (74 + 16 + 5)) / (5.0 * 74 + 5 * 90 + 5 * 106);
	CHECK(fabs(ideal - expect) < 1e-4);
	CHECK(hit >= 0.95 * ideal);
	CHECK(hit <= ideal + 1e-4);
	/* Nothing is evicted here, so every reusable token is reused. */
	CHECK_INT(cJSON_GetObjectItem(j, "prompt_tokens")->valueint, ==, 1350);
	CHECK_INT(cJSON_GetObjectItem(j, "cached_tokens")->valueint, ==, 1126);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "ttft_ms_p50_by_turn")), ==, 3);
	CHECK(cJSON_GetObjectItem(j, "itl_ms_p99")->valuedouble > 0);
	cJSON_Delete(j);
	const char *off[] = {
		"model",   "bench", "--model",       path, "--parallel", "5", "--prefix-tokens",   "64",
		"--turns", "3",     "--user-tokens", "10", "-n",         "6", "--no-prefix-cache", "--json",
		NULL};
	j = run_json(off);
	CHECK(cJSON_GetObjectItem(j, "prefix_hit_rate")->valuedouble == 0);
	CHECK(fabs(cJSON_GetObjectItem(j, "prefix_hit_rate_ideal")->valuedouble - expect) < 1e-4);
	CHECK_INT(cJSON_GetObjectItem(j, "cached_tokens")->valueint, ==, 0);
	cJSON_Delete(j);
	free(path);
}

TEST(usage_errors)
{
	char *path = write_model("m.gguf", "f16");
	const char *q4_args[] = {"--type", "q4_0", NULL};
	char *q4 = support_write_model(th_tempdir(), "q4.gguf", q4_args);
	static const struct {
		const char *args[14]; /* after "model"; "M" is the model, "Q" the q4_0 one */
		const char *message;
	} bad[] = {
		{{"generate", "--model", "M", NULL}, "generate needs --prompt TEXT"},
		{{"generate", "--prompt", "x", NULL}, "--model FILE is required"},
		{{"generate", "--model", "M", "--prompt", "x", "--max-tokens", "ten", NULL}, "--max-tokens must be"},
		{{"generate", "--model", "M", "--prompt", "x", "--temperature", "-1", NULL}, "--temperature must be"},
		{{"generate", "--model", "M", "--prompt", "x", "--top-p", "2", NULL}, "--top-p must be"},
		{{"generate", "--model", "M", "--prompt", "x", "--kv-type", "q4", NULL},
		 "--kv-type must be f16 or f32"},
		{{"generate", "--model", "M", "--prompt", "x", "--threads", "0", NULL}, "--threads must be"},
		{{"generate", "--model", "M", "--prompt", "x", "-p", "3", NULL}, "unknown option '-p' for generate"},
		{{"generate", "--model", "M", "--prompt", "x", "--ctx", "4", "--max-tokens", "8", NULL},
		 "the context holds 4"},
		{{"generate", "--model", "Q", "--prompt", "x", NULL}, "has type q4_0, which the CPU backend cannot"},
		{{"bench", "--model", "M", "-p", "0", "-n", "0", NULL}, "nothing to measure"},
		{{"bench", "--model", "M", "--repeat", "0", NULL}, "--repeat must be"},
		{{"bench", "--model", "M", "--prompt", "x", NULL}, "unknown option '--prompt' for bench"},
		{{"bench", "--model", "M", "--parallel", "0", NULL}, "--parallel must be"},
		{{"bench", "--model", "M", "--parallel", "2", "--turns", "3", NULL}, "go together"},
		{{"bench", "--model", "M", "--parallel", "2", "--kv-memory", "lots", NULL}, "--kv-memory must be"},
		{{"bench", "--model", "M", "--parallel", "2", "--kv-memory", "1k", NULL}, "holds no KV block"},
		{{"bench", "--model", "M", "--parallel", "2", "--batch-tokens", "4", "--max-sequences", "8", NULL},
		 "batch-tokens (4) must be at least max-sequences (8)"},
		{{"bench", "--model", "M", "--parallel", "2", "--ctx-size", "10", NULL}, "shorter than the run's"},
		{{"bench", "--model", "M", "--parallel", "2", "--repeat", "3", NULL},
		 "unknown option '--repeat' for bench --parallel"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[16] = {"model"};
		for (size_t k = 0; bad[i].args[k]; k++)
			argv[k + 1] = strcmp(bad[i].args[k], "M") == 0   ? path
				      : strcmp(bad[i].args[k], "Q") == 0 ? q4
									 : bad[i].args[k];
		char *out = run(argv, 2);
		CHECK_CONTAINS(out, bad[i].message);
		free(out);
	}
	const char *help[] = {"model", "generate", "--help", NULL};
	char *out = run(help, 0);
	CHECK_CONTAINS(out, "--dump-logits FILE");
	free(out);
	free(q4);
	free(path);
}
