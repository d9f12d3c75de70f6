/* The forward pass against llama.cpp itself: on random llama and qwen2
 * models in every weight type, node-llama-cpp generates GEN_LEN tokens
 * greedily after a PROMPT_LEN-token prompt (tests/engine/judge/generate.mjs);
 * the engine then runs over the prompt and llama.cpp's tokens (teacher
 * forcing), and at every step where its own top-two margin is at least
 * MIN_MARGIN its top-1 token must be llama.cpp's: with the KV cache in F32
 * and in F16, the whole sequence in one call and token by token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

#define PROMPT_LEN 20
#define GEN_LEN 32
#define PROMPT_SEED 20240602u
/* Below this top-two logit margin the two engines may legitimately pick
 * different tokens (rounding differs: F16 KV cache, summation order). */
#define MIN_MARGIN 5e-2
/* Each engine configuration must be judged on at least this many steps, so
 * that a model with flat logits cannot pass by having nothing compared. */
#define MIN_COMPARED 12

/* Norms about 1 and matrices twice the writer's default range: logits
 * spread out, so most steps have a clear top-1. Wider matrices make the
 * models chaotic enough that Q8_0's quantized activations (llama.cpp and
 * the engine quantize the same way, but from inputs already a little apart:
 * llama.cpp rounds activations and the KV cache to F16) move logits by
 * more than MIN_MARGIN; at twice, sweeps of 14 seeds per case found no
 * disagreement. */
#define SPREAD "--norm", "ones", "--weight-scale", "2"
/* Sharper still, with attention sharpened too, for F16 and F32 weights. */
#define SHARP "--norm", "ones", "--weight-scale", "4", "--attn-scale", "3"

/* A prompt of n ids drawn from [0, n_vocab) by a fixed-seed generator
 * (splitmix64). */
static void prompt_ids(engine_token *ids, size_t n, uint32_t n_vocab, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++) {
		s += 0x9E3779B97F4A7C15ull;
		uint64_t z = s;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		ids[i] = (engine_token)(z % n_vocab);
	}
}

/* llama.cpp's GEN_LEN greedy tokens after prompt, into out, and its
 * log-probabilities of every step (GEN_LEN rows of n_vocab, NAN where the
 * probability underflowed) into logprobs. */
static void llama_generate(const char *model_path, const engine_token *prompt, uint32_t n_vocab, engine_token *out,
			   double *logprobs)
{
	char *script = xasprintf("%s/tests/engine/judge/generate.mjs", support_source_root());
	char *result = xasprintf("%s/llama.json", th_tempdir());
	char *ids = support_ids_text(prompt, PROMPT_LEN);
	char n_text[16];
	snprintf(n_text, sizeof(n_text), "%d", GEN_LEN);
	const char *argv[] = {"node", script,      "--model", model_path,   "--prompt", ids,    "--n",
			      n_text, "--threads", "2",       "--logprobs", "--out",    result, NULL};
	char *output;
	int status = support_run(argv, 120000, &output);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "generate.mjs failed (%d): %s", status, output);
	free(output);
	cJSON *json = support_read_json(result);
	cJSON *tokens = cJSON_GetObjectItemCaseSensitive(json, "tokens");
	CHECK(cJSON_IsArray(tokens));
	CHECK_INT(cJSON_GetArraySize(tokens), ==, GEN_LEN);
	for (int i = 0; i < GEN_LEN; i++) {
		cJSON *t = cJSON_GetArrayItem(tokens, i);
		CHECK(cJSON_IsNumber(t));
		CHECK(t->valuedouble >= 0 && t->valuedouble < n_vocab);
		out[i] = (engine_token)t->valuedouble;
	}
	cJSON *rows = cJSON_GetObjectItemCaseSensitive(json, "logprobs");
	CHECK(cJSON_IsArray(rows));
	CHECK_INT(cJSON_GetArraySize(rows), ==, GEN_LEN);
	for (int i = 0; i < GEN_LEN; i++) {
		cJSON *row = cJSON_GetArrayItem(rows, i);
		CHECK_INT(cJSON_GetArraySize(row), ==, n_vocab);
		double *l = logprobs + (size_t)i * n_vocab;
		cJSON *x;
		cJSON_ArrayForEach(x, row)
		{
			*l++ = cJSON_IsNumber(x) ? x->valuedouble : NAN;
		}
	}
	cJSON_Delete(json);
	free(ids);
	free(result);
	free(script);
}

/* How one engine configuration computes the logits of the steps. */
struct parity_config {
	const char *label;      /* for messages */
	enum engine_kv_type kv; /* the KV cache's element type */
	bool token_by_token;    /* prompt in one call, then one token per call (generation's path) */
};

/* The engine's logits for every generation step (GEN_LEN rows of n_vocab):
 * row i is the distribution of the token after the prompt and llama's first
 * i tokens. */
static float *engine_steps(const engine_model *m, const struct parity_config *pc, const engine_token *seq)
{
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	struct engine_ctx_options o = {.n_ctx = 128, .threads = 2, .kv_type = pc->kv};
	engine_ctx *c = NULL;
	char err[1024] = "";
	int rc = engine_ctx_new(m, &o, &c, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "engine_ctx_new: %d: %s", rc, err);
	float *rows = xcalloc((size_t)GEN_LEN * n_vocab, sizeof(float));
	if (pc->token_by_token) {
		rc = engine_decode(c, seq, PROMPT_LEN, 0, rows);
		for (size_t i = 1; rc == 0 && i < GEN_LEN; i++)
			rc = engine_decode(c, &seq[PROMPT_LEN + i - 1], 1, 0, rows + i * n_vocab);
	} else {
		/* Every position's logits in one call; the steps are the last GEN_LEN. */
		size_t n = PROMPT_LEN + GEN_LEN - 1;
		float *all = xcalloc(n * n_vocab, sizeof(float));
		rc = engine_decode(c, seq, n, ENGINE_DECODE_ALL_LOGITS, all);
		memcpy(rows, all + (size_t)(PROMPT_LEN - 1) * n_vocab, (size_t)GEN_LEN * n_vocab * sizeof(float));
		free(all);
	}
	if (rc != 0)
		th_fail(__FILE__, __LINE__, "%s: engine_decode: %d", pc->label, rc);
	CHECK_INT(engine_ctx_pos(c), ==, PROMPT_LEN + GEN_LEN - 1);
	engine_ctx_free(c);
	return rows;
}

/* How far the engine's logits at one step are from llama.cpp's, up to the
 * constant that log-probabilities add: the relative L2 distance of both
 * with their means removed, over the tokens whose probability llama.cpp did
 * not round to zero. For the log only: llama.cpp's own rounding (F16
 * activations and KV cache) dominates it. */
static double centered_distance(const float *ours, const double *theirs, uint32_t n_vocab)
{
	double mean_ours = 0.0, mean_theirs = 0.0;
	size_t n = 0;
	for (uint32_t t = 0; t < n_vocab; t++) {
		if (isnan(theirs[t]))
			continue;
		mean_ours += ours[t];
		mean_theirs += theirs[t];
		n++;
	}
	mean_ours /= (double)n;
	mean_theirs /= (double)n;
	double d = 0.0, norm = 0.0;
	for (uint32_t t = 0; t < n_vocab; t++) {
		if (isnan(theirs[t]))
			continue;
		double a = ours[t] - mean_ours, b = theirs[t] - mean_theirs;
		d += (a - b) * (a - b);
		norm += b * b;
	}
	return sqrt(d / norm);
}

/* Judges one configuration: under teacher forcing the prefix of every step
 * is llama.cpp's, so each step with a clear margin is a fair comparison,
 * also after a step whose margin is too small (the steps before the first
 * such one are what free-running generation would compare). */
static void judge_config(const engine_model *m, const struct parity_config *pc, const engine_token *seq,
			 const engine_token *want, const double *logprobs)
{
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	float *rows = engine_steps(m, pc, seq);
	size_t compared = 0, skipped = 0, prefix = GEN_LEN;
	double smallest = INFINITY, farthest = 0.0;
	double *wide = xmalloc(n_vocab * sizeof(double));
	for (size_t i = 0; i < GEN_LEN; i++) {
		const float *l = rows + i * n_vocab;
		const double *theirs = logprobs + i * n_vocab;
		double distance = centered_distance(l, theirs, n_vocab);
		if (distance > farthest)
			farthest = distance;
		for (uint32_t t = 0; t < n_vocab; t++) {
			if (!isfinite(l[t]))
				th_fail(__FILE__, __LINE__, "%s: step %zu: logit %u is %f", pc->label, i, t, l[t]);
			wide[t] = l[t];
		}
		double margin;
		size_t top = support_top_two(wide, n_vocab, &margin);
		if (margin < MIN_MARGIN) {
			skipped++;
			if (prefix == GEN_LEN)
				prefix = i;
			continue;
		}
		if (margin < smallest)
			smallest = margin;
		compared++;
		if ((engine_token)top != want[i])
			th_fail(__FILE__, __LINE__,
				"%s: step %zu: the engine's top-1 is %zu (logit %.5f, margin %.5f over the second), "
				"llama.cpp generated %d (the engine's logit for it: %.5f; llama.cpp's "
				"log-probabilities: "
				"%.5f for its token, %.5f for the engine's; distance of the logits %.3e)",
				pc->label, i, top, l[top], margin, want[i], l[want[i]], theirs[want[i]], theirs[top],
				distance);
	}
	char first_low[32] = "none";
	if (prefix < GEN_LEN)
		snprintf(first_low, sizeof(first_low), "step %zu", prefix);
	fprintf(stderr,
		"%s: top-1 equal to llama.cpp's at %zu of %d steps (every step with a margin >= %.0e; the first "
		"below it: %s; smallest margin compared %.4f), %zu skipped; logits at most %.2e from llama.cpp's\n",
		pc->label, compared, GEN_LEN, MIN_MARGIN, first_low, smallest, skipped, farthest);
	CHECK_INT(compared, >=, MIN_COMPARED);
	free(wide);
	free(rows);
}

static void parity(const char *const *writer_args)
{
	char *path = support_write_model(th_tempdir(), "m.gguf", writer_args);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_token seq[PROMPT_LEN + GEN_LEN];
	prompt_ids(seq, PROMPT_LEN, n_vocab, PROMPT_SEED);
	engine_token *want = seq + PROMPT_LEN;
	double *logprobs = xcalloc((size_t)GEN_LEN * n_vocab, sizeof(double));
	llama_generate(path, seq, n_vocab, want, logprobs);
	char *text = support_ids_text(want, GEN_LEN);
	fprintf(stderr, "llama.cpp generated %s\n", text);
	free(text);

	static const struct parity_config configs[] = {
		{"kv f32, one call", ENGINE_KV_F32, false},
		{"kv f16, one call", ENGINE_KV_F16, false},
		{"kv f16, token by token", ENGINE_KV_F16, true},
	};
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
		judge_config(m, &configs[i], seq, want, logprobs);
	free(logprobs);
	engine_model_free(m);
	free(path);
}

#define LLAMA_SHAPE "--n-embd", "128", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "256", "--n-layer", "2"
#define QWEN2_SHAPE "--n-embd", "192", "--n-head", "6", "--n-head-kv", "2", "--n-ff", "384", "--n-layer", "3"

TEST(llama_f32)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f32", "--seed", "501", NULL};
	parity(args);
}

TEST(llama_f16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f16", "--seed", "502", NULL};
	parity(args);
}

TEST(llama_bf16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "bf16", "--seed", "503", NULL};
	parity(args);
}

TEST(llama_q8_0)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "q8_0", "--seed", "504", NULL};
	parity(args);
}

TEST(qwen2_f32)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f32", "--seed", "601", NULL};
	parity(args);
}

TEST(qwen2_f16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f16", "--seed", "602", NULL};
	parity(args);
}

TEST(qwen2_bf16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "bf16", "--seed", "603", NULL};
	parity(args);
}

TEST(qwen2_q8_0)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "q8_0", "--seed", "604", NULL};
	parity(args);
}

/* The parts llama.cpp reads from the file that the shapes above leave out:
 * rope_freqs, tied embeddings, one KV head shared by every query head,
 * head_dim 64, and attention sharp enough that positions matter. */
TEST(llama_rope_freqs_tied_sharp)
{
	const char *args[] = {"--arch", "llama",  "--n-embd", "256",       "--n-head", "4",   "--n-head-kv",
			      "1",      "--n-ff", "512",      "--n-layer", "2",        SHARP, "--rope-freqs",
			      "--tied", "--type", "f16",      "--seed",    "505",      NULL};
	parity(args);
}

TEST(qwen2_tied_sharp)
{
	const char *args[] = {"--arch", "qwen2",  "--n-embd", "256",       "--n-head", "4",   "--n-head-kv",
			      "2",      "--n-ff", "512",      "--n-layer", "3",        SHARP, "--tied",
			      "--type", "f32",    "--seed",   "605",       NULL};
	parity(args);
}
