/* The forward pass against its judge: the engine's logits at every
 * position of a 300-token prompt under teacher forcing, beside the float64
 * reference (tests/engine/reference.c) on random llama and qwen2 models in
 * every weight type; results that do not depend on how the prompt is split
 * into passes; and the errors of contexts and decoding. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/reference.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

#define PROMPT_LEN 300
#define PROMPT_SEED 20240601u

/* Models whose logits are spread out enough to judge: norms about 1 and
 * matrices twice the writer's default range (the defaults make every logit
 * nearly equal). Larger weights make random models chaotic: float32
 * rounding and Q8_0's quantized activations then grow past the bounds in
 * an engine that computes exactly what llama.cpp computes (at four times
 * the range, a float64 reference that rounds its KV cache to f16 differs
 * from itself by 2e-3, and one that quantizes activations by 4e-2). */
#define SPREAD "--norm", "ones", "--weight-scale", "2"

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

static engine_ctx *new_ctx(const engine_model *m, uint32_t n_ctx, uint32_t n_batch, enum engine_kv_type kv)
{
	struct engine_ctx_options o = {.n_ctx = n_ctx, .n_batch = n_batch, .threads = 2, .kv_type = kv};
	engine_ctx *c = NULL;
	char err[1024] = "";
	int rc = engine_ctx_new(m, &o, &c, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "engine_ctx_new: %d: %s", rc, err);
	return c;
}

/* The engine's logits of every position of ids (a new array of
 * n * n_vocab), computed in one engine_decode call. */
static float *engine_logits(const engine_model *m, const engine_token *ids, size_t n, uint32_t n_batch,
			    enum engine_kv_type kv)
{
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_ctx *c = new_ctx(m, 512, n_batch, kv);
	float *logits = xcalloc(n * n_vocab, sizeof(float));
	int rc = engine_decode(c, ids, n, ENGINE_DECODE_ALL_LOGITS, logits);
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "engine_decode: %d", rc);
	CHECK_INT(engine_ctx_pos(c), ==, n);
	engine_ctx_free(c);
	return logits;
}

static size_t argmax_float(const float *v, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* One judged configuration. */
struct forward_case {
	const char *const *args; /* writer arguments */
	enum engine_kv_type kv;  /* the engine's KV cache */
	double max_rel_l2;       /* bound on ||engine - ref|| / ||ref|| at every position */
	double top1_margin;      /* top-1 must agree where the reference's top-two margin exceeds this */
	double min_top1_share;   /* positions whose margin is clear enough, at least this share */
	double min_attn_peak;    /* 0, or a bound on the reference's mean largest attention weight */
};

/* The reference must itself be a demanding judge: logits spread out and
 * changing from position to position, so that an engine that ignored the
 * context (or most of the model) could not pass. */
static void check_reference_not_degenerate(const double *ref, size_t n, uint32_t n_vocab)
{
	double spread = 0.0;
	size_t distinct = 0;
	unsigned char *seen = xcalloc(n_vocab, 1);
	for (size_t p = 0; p < n; p++) {
		const double *l = ref + p * n_vocab;
		double mean = 0.0, var = 0.0, margin;
		for (uint32_t t = 0; t < n_vocab; t++)
			mean += l[t];
		mean /= n_vocab;
		for (uint32_t t = 0; t < n_vocab; t++)
			var += (l[t] - mean) * (l[t] - mean);
		spread += sqrt(var / n_vocab);
		size_t top = support_top_two(l, n_vocab, &margin);
		if (!seen[top]++)
			distinct++;
	}
	free(seen);
	spread /= (double)n;
	/* Neighbouring positions must differ too: the mean relative distance
	 * between the logits of positions p and p + 1. */
	double change = 0.0;
	for (size_t p = 0; p + 1 < n; p++) {
		double d = 0.0, b = 0.0;
		for (uint32_t t = 0; t < n_vocab; t++) {
			double x = ref[(p + 1) * n_vocab + t] - ref[p * n_vocab + t];
			d += x * x;
			b += ref[p * n_vocab + t] * ref[p * n_vocab + t];
		}
		change += sqrt(d / b);
	}
	change /= (double)(n - 1);
	fprintf(stderr, "reference: logit spread %.3f, %zu distinct top tokens, neighbours differ by %.3f\n", spread,
		distinct, change);
	CHECK(spread > 0.3);
	CHECK_INT(distinct, >=, n / 10);
	CHECK(change > 0.3);
}

static void judge(const char *label, const struct forward_case *fc)
{
	char *path = support_write_model(th_tempdir(), "m.gguf", fc->args);
	struct ref_model *ref = NULL;
	char err[1024] = "";
	if (ref_open(path, &ref, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "reference: %s", err);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = ref_n_vocab(ref);
	CHECK_INT(engine_model_hparams(m)->n_vocab, ==, n_vocab);

	engine_token ids[PROMPT_LEN];
	prompt_ids(ids, PROMPT_LEN, n_vocab, PROMPT_SEED);
	double *want = xcalloc((size_t)PROMPT_LEN * n_vocab, sizeof(double));
	CHECK_INT(ref_forward(ref, ids, PROMPT_LEN, want), ==, 0);
	check_reference_not_degenerate(want, PROMPT_LEN, n_vocab);
	struct ref_attention_stats st;
	ref_attention_stats(ref, &st);
	fprintf(stderr, "reference: mean largest attention weight %.3f (uniform attention: %.3f)\n", st.max_weight_mean,
		st.uniform_weight_mean);
	if (fc->min_attn_peak > 0.0)
		CHECK(st.max_weight_mean >= fc->min_attn_peak);

	float *got = engine_logits(m, ids, PROMPT_LEN, 0, fc->kv);
	double worst = 0.0, sum = 0.0;
	size_t worst_pos = 0, compared = 0, disagree = 0, first_disagree = 0;
	for (size_t p = 0; p < PROMPT_LEN; p++) {
		const double *b = want + p * n_vocab;
		const float *a = got + p * n_vocab;
		double d = 0.0, bn = 0.0;
		for (uint32_t t = 0; t < n_vocab; t++) {
			if (!isfinite(a[t]))
				th_fail(__FILE__, __LINE__, "%s: logit %u at position %zu is %f", label, t, p, a[t]);
			d += (a[t] - b[t]) * (a[t] - b[t]);
			bn += b[t] * b[t];
		}
		double rel = sqrt(d / bn);
		sum += rel;
		if (rel > worst) {
			worst = rel;
			worst_pos = p;
		}
		double margin;
		size_t want_top = support_top_two(b, n_vocab, &margin);
		if (margin > fc->top1_margin) {
			compared++;
			if (argmax_float(a, n_vocab) != want_top && disagree++ == 0)
				first_disagree = p;
		}
	}
	fprintf(stderr,
		"%s: relative L2 error max %.3e (position %zu), mean %.3e, bound %.0e; top-1 compared at %zu of %d "
		"positions, %zu disagree\n",
		label, worst, worst_pos, sum / PROMPT_LEN, fc->max_rel_l2, compared, PROMPT_LEN, disagree);
	if (worst >= fc->max_rel_l2)
		th_fail(__FILE__, __LINE__, "%s: relative L2 error %.3e at position %zu (mean %.3e) exceeds %.0e",
			label, worst, worst_pos, sum / PROMPT_LEN, fc->max_rel_l2);
	if (disagree)
		th_fail(__FILE__, __LINE__, "%s: top-1 differs from the reference at %zu positions, first %zu", label,
			disagree, first_disagree);
	/* A comparison that compares nothing proves nothing. */
	CHECK(compared >= fc->min_top1_share * PROMPT_LEN);
	free(got);
	free(want);
	engine_model_free(m);
	ref_free(ref);
	free(path);
}

/* ---- every architecture and weight type, exact keys and values ---- */

#define LLAMA_SHAPE "--n-embd", "64", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "128", "--n-layer", "2"
#define QWEN2_SHAPE "--n-embd", "128", "--n-head", "8", "--n-head-kv", "2", "--n-ff", "256", "--n-layer", "3"

TEST(llama_f32)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f32", "--seed", "101", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("llama f32", &fc);
}

TEST(llama_f16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f16", "--seed", "102", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("llama f16", &fc);
}

TEST(llama_bf16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "bf16", "--seed", "103", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("llama bf16", &fc);
}

TEST(llama_q8_0)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "q8_0", "--seed", "104", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 3e-2, 5e-2, 0.5, 0};
	judge("llama q8_0", &fc);
}

TEST(qwen2_f32)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f32", "--seed", "201", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("qwen2 f32", &fc);
}

TEST(qwen2_f16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f16", "--seed", "202", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("qwen2 f16", &fc);
}

TEST(qwen2_bf16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "bf16", "--seed", "203", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("qwen2 bf16", &fc);
}

TEST(qwen2_q8_0)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "q8_0", "--seed", "204", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 3e-2, 5e-2, 0.5, 0};
	judge("qwen2 q8_0", &fc);
}

/* ---- an F16 KV cache ---- */

TEST(llama_f32_kv_f16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f32", "--seed", "111", NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("llama f32, kv f16", &fc);
}

TEST(llama_f16_kv_f16)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f16", "--seed", "112", NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("llama f16, kv f16", &fc);
}

TEST(qwen2_f32_kv_f16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f32", "--seed", "211", NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("qwen2 f32, kv f16", &fc);
}

TEST(qwen2_f16_kv_f16)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f16", "--seed", "212", NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("qwen2 f16, kv f16", &fc);
}

/* ---- the variants: rope_freqs, tied output, one KV head, sharp attention ---- */

/* rope_freqs.weight divides each rotation's angle (llama 3.1's long-context
 * factors); llama.cpp reads it for llama only. */
TEST(llama_rope_freqs)
{
	const char *args[] = {"--arch", "llama",        LLAMA_SHAPE, SPREAD, "--type",
			      "f32",    "--rope-freqs", "--seed",    "121",  NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("llama rope_freqs", &fc);
}

TEST(llama_tied)
{
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f16", "--tied", "--seed", "122", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("llama tied", &fc);
}

TEST(qwen2_tied)
{
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f32", "--tied", "--seed", "221", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("qwen2 tied", &fc);
}

/* Every query head shares one KV head; heads of 32 dimensions. */
TEST(llama_one_kv_head)
{
	const char *args[] = {"--arch",      "llama",  "--n-embd", "128",    "--n-head",  "4",
			      "--n-head-kv", "1",      "--n-ff",   "256",    "--n-layer", "3",
			      SPREAD,        "--type", "f32",      "--seed", "123",       NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("llama one kv head", &fc);
}

/* Sizes that are not multiples of a vector's width (rows of 72 and 200,
 * heads of 18), so kernels' tails are judged too. */
TEST(llama_odd_sizes_f16)
{
	const char *args[] = {"--arch",      "llama",  "--n-embd", "72",     "--n-head",  "4",
			      "--n-head-kv", "2",      "--n-ff",   "200",    "--n-layer", "2",
			      SPREAD,        "--type", "f16",      "--seed", "124",       NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("llama odd sizes f16", &fc);
}

TEST(qwen2_odd_sizes_bf16)
{
	const char *args[] = {"--arch",      "qwen2",  "--n-embd", "72",     "--n-head",  "4",
			      "--n-head-kv", "2",      "--n-ff",   "200",    "--n-layer", "2",
			      SPREAD,        "--type", "bf16",     "--seed", "224",       NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("qwen2 odd sizes bf16", &fc);
}

TEST(llama_odd_sizes_f32)
{
	const char *args[] = {"--arch",      "llama",  "--n-embd", "72",     "--n-head",  "4",
			      "--n-head-kv", "2",      "--n-ff",   "200",    "--n-layer", "2",
			      SPREAD,        "--type", "f32",      "--seed", "125",       NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("llama odd sizes f32", &fc);
}

/* attn_q and attn_k scaled up: each head gives on average half its weight
 * to one position (uniform attention would give 1/(p+1)), so a wrong
 * rotation, position or mask changes the logits a lot. Sharper attention
 * makes the model ill-conditioned (scores of tens amplify float32 rounding
 * past 1e-5, and an F16 cache's rounding past 2e-3), so these run with an
 * F32 cache and a moderate scale. */
TEST(llama_sharp_attention)
{
	const char *args[] = {"--arch", "llama",  "--n-embd", "128",       "--n-head", "4",    "--n-head-kv",
			      "2",      "--n-ff", "256",      "--n-layer", "2",        SPREAD, "--attn-scale",
			      "3",      "--type", "f32",      "--seed",    "131",      NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0.4};
	judge("llama sharp attention", &fc);
}

TEST(qwen2_sharp_attention)
{
	const char *args[] = {"--arch", "qwen2",  "--n-embd", "128",       "--n-head", "4",    "--n-head-kv",
			      "2",      "--n-ff", "256",      "--n-layer", "2",        SPREAD, "--attn-scale",
			      "3",      "--type", "f32",      "--seed",    "231",      NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0.4};
	judge("qwen2 sharp attention", &fc);
}

/* ---- the portable kernels (AGENTD_KERNELS=portable), judged the same ---- */

TEST(portable_llama_f16_kv_f16)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "f16", "--seed", "141", NULL};
	struct forward_case fc = {args, ENGINE_KV_F16, 2e-3, 1e-3, 0.9, 0};
	judge("portable llama f16, kv f16", &fc);
}

TEST(portable_llama_q8_0)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	const char *args[] = {"--arch", "llama", LLAMA_SHAPE, SPREAD, "--type", "q8_0", "--seed", "142", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 3e-2, 5e-2, 0.5, 0};
	judge("portable llama q8_0", &fc);
}

TEST(portable_qwen2_f32)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "f32", "--seed", "241", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 1e-5, 1e-3, 0.9, 0};
	judge("portable qwen2 f32", &fc);
}

TEST(portable_qwen2_bf16)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	const char *args[] = {"--arch", "qwen2", QWEN2_SHAPE, SPREAD, "--type", "bf16", "--seed", "242", NULL};
	struct forward_case fc = {args, ENGINE_KV_F32, 2e-3, 1e-3, 0.9, 0};
	judge("portable qwen2 bf16", &fc);
}

/* ---- the same results however the prompt is split ---- */

/* Logits of ids decoded in calls of the sizes in calls (a zero-terminated
 * list), then one token per call for the rest (last logits only), with
 * n_batch; a new array of n * n_vocab. */
static float *split_logits(const engine_model *m, const engine_token *ids, size_t n, uint32_t n_batch,
			   enum engine_kv_type kv, const size_t *calls)
{
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_ctx *c = new_ctx(m, 512, n_batch, kv);
	float *logits = xcalloc(n * n_vocab, sizeof(float));
	size_t done = 0;
	for (size_t i = 0; calls[i] && done < n; i++) {
		size_t len = calls[i] < n - done ? calls[i] : n - done;
		CHECK_INT(engine_decode(c, ids + done, len, ENGINE_DECODE_ALL_LOGITS, logits + done * n_vocab), ==, 0);
		done += len;
	}
	for (; done < n; done++)
		CHECK_INT(engine_decode(c, ids + done, 1, 0, logits + done * n_vocab), ==, 0);
	CHECK_INT(engine_ctx_pos(c), ==, n);
	engine_ctx_free(c);
	return logits;
}

static void check_same(const char *label, const float *a, const float *b, size_t n, uint32_t n_vocab)
{
	for (size_t p = 0; p < n; p++)
		if (memcmp(a + p * n_vocab, b + p * n_vocab, n_vocab * sizeof(float)) != 0)
			th_fail(__FILE__, __LINE__, "%s: logits at position %zu differ from one pass of %zu", label, p,
				n);
}

static void batch_invariance(const char *arch, const char *type, enum engine_kv_type kv)
{
	const char *args[] = {"--arch", arch, SPREAD, "--type", type, "--seed", "301", NULL};
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_token ids[PROMPT_LEN];
	prompt_ids(ids, PROMPT_LEN, n_vocab, PROMPT_SEED);
	float *whole = engine_logits(m, ids, PROMPT_LEN, PROMPT_LEN, kv);
	static const uint32_t batches[] = {64, 7, 1};
	static const size_t one_call[] = {PROMPT_LEN, 0};
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		float *got = split_logits(m, ids, PROMPT_LEN, batches[i], kv, one_call);
		char label[128];
		snprintf(label, sizeof(label), "%s %s kv %s, n_batch %u", arch, type,
			 kv == ENGINE_KV_F16 ? "f16" : "f32", batches[i]);
		check_same(label, got, whole, PROMPT_LEN, n_vocab);
		free(got);
	}
	/* Calls of uneven sizes, then one token per call (last logits only). */
	static const size_t uneven[] = {1, 2, 100, 37, 64, 5, 0};
	float *got = split_logits(m, ids, PROMPT_LEN, 0, kv, uneven);
	check_same("uneven calls, then one token per call", got, whole, PROMPT_LEN, n_vocab);
	free(got);
	free(whole);
	engine_model_free(m);
	free(path);
}

/* One case per model, so that each runs alone and briefly (a pass per
 * token is hundreds of passes). Each KV cache type appears with each
 * architecture. */
TEST(batch_invariance_llama_f32)
{
	batch_invariance("llama", "f32", ENGINE_KV_F32);
}

TEST(batch_invariance_llama_f16)
{
	batch_invariance("llama", "f16", ENGINE_KV_F16);
}

TEST(batch_invariance_llama_bf16)
{
	batch_invariance("llama", "bf16", ENGINE_KV_F16);
}

TEST(batch_invariance_llama_q8_0)
{
	batch_invariance("llama", "q8_0", ENGINE_KV_F16);
}

TEST(batch_invariance_qwen2_f32)
{
	batch_invariance("qwen2", "f32", ENGINE_KV_F16);
}

TEST(batch_invariance_qwen2_f16)
{
	batch_invariance("qwen2", "f16", ENGINE_KV_F32);
}

TEST(batch_invariance_qwen2_bf16)
{
	batch_invariance("qwen2", "bf16", ENGINE_KV_F32);
}

TEST(batch_invariance_qwen2_q8_0)
{
	batch_invariance("qwen2", "q8_0", ENGINE_KV_F32);
}

TEST(portable_batch_invariance_llama_q8_0)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	batch_invariance("llama", "q8_0", ENGINE_KV_F16);
}

TEST(portable_batch_invariance_qwen2_f16)
{
	setenv("AGENTD_KERNELS", "portable", 1);
	batch_invariance("qwen2", "f16", ENGINE_KV_F16);
}

/* Forgetting positions and computing them again gives the same logits. */
TEST(truncate_and_recompute)
{
	const char *args[] = {"--arch", "qwen2", SPREAD, "--type", "f16", "--seed", "302", NULL};
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_token ids[PROMPT_LEN];
	prompt_ids(ids, PROMPT_LEN, n_vocab, PROMPT_SEED);
	float *whole = engine_logits(m, ids, PROMPT_LEN, 0, ENGINE_KV_F16);
	engine_ctx *c = new_ctx(m, 512, 0, ENGINE_KV_F16);
	float *got = xcalloc((size_t)PROMPT_LEN * n_vocab, sizeof(float));
	/* Something else first, then back to position 100 and the prompt. */
	engine_token other[150];
	prompt_ids(other, 150, n_vocab, PROMPT_SEED + 1);
	CHECK_INT(engine_decode(c, ids, 100, ENGINE_DECODE_ALL_LOGITS, got), ==, 0);
	CHECK_INT(engine_decode(c, other, 150, 0, NULL), ==, 0);
	CHECK_INT(engine_ctx_pos(c), ==, 250);
	engine_ctx_truncate(c, 100);
	CHECK_INT(engine_ctx_pos(c), ==, 100);
	CHECK_INT(engine_decode(c, ids + 100, PROMPT_LEN - 100, ENGINE_DECODE_ALL_LOGITS, got + 100 * n_vocab), ==, 0);
	check_same("truncated and recomputed", got, whole, PROMPT_LEN, n_vocab);
	free(got);
	free(whole);
	engine_ctx_free(c);
	engine_model_free(m);
	free(path);
}

/* ---- refusals and errors ---- */

static void refused_type(const char *const *args, const char *tensor, const char *type)
{
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	engine_model *m = support_open(path, NULL);
	struct engine_ctx_options o = {.n_ctx = 64, .threads = 1, .kv_type = ENGINE_KV_F32};
	engine_ctx *c = NULL;
	char err[1024] = "";
	CHECK_INT(engine_ctx_new(m, &o, &c, err, sizeof(err)), ==, -ENOTSUP);
	CHECK(c == NULL);
	fprintf(stderr, "refused: %s\n", err);
	CHECK_CONTAINS(err, tensor);
	CHECK_CONTAINS(err, type);
	engine_model_free(m);
	free(path);
}

TEST(refuses_unsupported_types)
{
	const char *q4[] = {"--type", "q4_0", NULL};
	refused_type(q4, ".weight", "q4_0");
	/* Only the embedding (which is also the output) is of another type. */
	const char *q5[] = {"--type", "f16", "--embd-type", "q5_0", "--tied", NULL};
	refused_type(q5, "token_embd.weight", "q5_0");
}

TEST(decode_past_n_ctx)
{
	const char *args[] = {SPREAD, "--type", "f32", "--seed", "303", NULL};
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_token ids[32];
	prompt_ids(ids, 32, n_vocab, PROMPT_SEED);
	engine_ctx *c = new_ctx(m, 16, 4, ENGINE_KV_F32);
	CHECK_INT(engine_ctx_size(c), ==, 16);
	float *logits = xcalloc((size_t)32 * n_vocab, sizeof(float));
	CHECK_INT(engine_decode(c, ids, 17, ENGINE_DECODE_ALL_LOGITS, logits), ==, -ENOSPC);
	CHECK_INT(engine_ctx_pos(c), ==, 0);
	CHECK_INT(engine_decode(c, ids, 10, 0, logits), ==, 0);
	/* Nothing is computed when the positions would not fit. */
	CHECK_INT(engine_decode(c, ids + 10, 7, ENGINE_DECODE_ALL_LOGITS, logits), ==, -ENOSPC);
	CHECK_INT(engine_ctx_pos(c), ==, 10);
	CHECK_INT(engine_decode(c, ids + 10, 6, 0, logits), ==, 0);
	CHECK_INT(engine_ctx_pos(c), ==, 16);
	CHECK_INT(engine_decode(c, ids + 16, 1, 0, logits), ==, -ENOSPC);
	CHECK_INT(engine_ctx_pos(c), ==, 16);
	/* The full cache still computed the same as a bigger one. */
	float *whole = engine_logits(m, ids, 16, 0, ENGINE_KV_F32);
	engine_ctx_truncate(c, 0);
	CHECK_INT(engine_decode(c, ids, 16, ENGINE_DECODE_ALL_LOGITS, logits), ==, 0);
	check_same("a cache of 16", logits, whole, 16, n_vocab);
	free(whole);
	free(logits);
	engine_ctx_free(c);
	engine_model_free(m);
	free(path);
}

TEST(decode_bad_token)
{
	const char *args[] = {SPREAD, "--type", "f32", "--seed", "304", NULL};
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	engine_model *m = support_open(path, NULL);
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	engine_ctx *c = new_ctx(m, 64, 0, ENGINE_KV_F32);
	float *logits = xcalloc((size_t)8 * n_vocab, sizeof(float));
	engine_token past = (engine_token)n_vocab, negative = -1;
	CHECK_INT(engine_decode(c, &past, 1, 0, logits), ==, -EINVAL);
	CHECK_INT(engine_decode(c, &negative, 1, 0, logits), ==, -EINVAL);
	CHECK_INT(engine_ctx_pos(c), ==, 0);
	engine_token mixed[4] = {1, 2, (engine_token)n_vocab + 5, 3};
	CHECK_INT(engine_decode(c, mixed, 4, ENGINE_DECODE_ALL_LOGITS, logits), ==, -EINVAL);
	engine_token last = (engine_token)n_vocab - 1;
	engine_ctx_truncate(c, 0);
	CHECK_INT(engine_decode(c, &last, 1, 0, logits), ==, 0);
	CHECK_INT(engine_ctx_pos(c), ==, 1);
	free(logits);
	engine_ctx_free(c);
	engine_model_free(m);
	free(path);
}
