/* The serving engine through its public API on a libuv loop: batch
 * invariance, the prefix cache's exactness (mid-block hits, shared
 * prefixes extended differently, eviction), admission control on a full
 * pool, cancellation, stop strings, stats, submit errors, and 10,000 random
 * submits and cancels that must leave the pool whole. The judge is the
 * single-sequence engine_ctx path: the same model, one sequence at a time,
 * teacher-forced with the tokens the server produced. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

#define MAX_GEN 1024

/* A request as the test sees it. */
struct req {
	engine_request_id id;
	engine_token prompt[1024];
	size_t n_prompt;
	engine_token *toks; /* n_tok generated, grown as they come */
	size_t n_tok;
	float *logits; /* n_tok x n_vocab, with ENGINE_REQUEST_LOGITS */
	struct buf text;
	bool done, want_logits;
	int status;
	enum engine_finish finish;
	uint32_t cached;
	size_t result_tokens;
	char result_text[4096];
	/* Cancel another request when this one has produced this many tokens. */
	struct req *cancel_other;
	size_t cancel_at;
	bool cancel_self;
	struct t *t;
};

struct t {
	uv_loop_t loop;
	engine_model *m;
	engine_server *s;
	uint32_t n_vocab;
	size_t outstanding;
	uint32_t max_running;
	uint64_t rng;
};

static void t_rng_fill(struct t *t, engine_token *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		t->rng = t->rng * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = (engine_token)((t->rng >> 33) % t->n_vocab);
	}
}

static char *write_model(const char *type)
{
	const char *args[] = {"--n-embd", "64",  "--n-layer", "2",  "--n-head", "4",    "--n-head-kv",    "2",
			      "--n-ff",   "128", "--type",    type, "--norm",   "ones", "--weight-scale", "4",
			      "--seed",   "77",  NULL};
	return support_write_model(th_tempdir(), "serve.gguf", args);
}

/* The kv_memory of a pool of n blocks (f16) of the test model. */
static uint64_t pool_bytes(uint64_t n)
{
	char *path = write_model("f32");
	engine_model *m = support_open(path, NULL);
	const struct engine_hparams *hp = engine_model_hparams(m);
	uint64_t bytes = (uint64_t)hp->n_layer * 2 * 16 * hp->n_head_kv * hp->head_dim * 2 * n;
	engine_model_free(m);
	free(path);
	return bytes;
}

static void t_open(struct t *t, const char *type, const struct engine_server_options *o)
{
	memset(t, 0, sizeof(*t));
	char *path = write_model(type);
	t->m = support_open(path, NULL);
	free(path);
	t->n_vocab = engine_model_hparams(t->m)->n_vocab;
	t->rng = 12345;
	CHECK_INT(uv_loop_init(&t->loop), ==, 0);
	char err[512];
	int rc = engine_server_new(t->m, &t->loop, o, &t->s, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "engine_server_new: %s", err);
}

static void t_close(struct t *t)
{
	engine_server_free(t->s);
	/* on_done may have stopped the loop: run it until the server's
	 * handle is closed. */
	while (uv_loop_alive(&t->loop))
		uv_run(&t->loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&t->loop), ==, 0);
	engine_model_free(t->m);
}

static void on_token(void *user, engine_request_id id, engine_token token, const char *text, size_t len,
		     const float *logits)
{
	struct req *q = user;
	CHECK(!q->done);
	CHECK(id == q->id);
	CHECK(q->n_tok < MAX_GEN);
	q->toks = xrealloc(q->toks, (q->n_tok + 1) * sizeof(engine_token));
	q->toks[q->n_tok] = token;
	if (q->want_logits) {
		CHECK(logits != NULL);
		q->logits = xrealloc(q->logits, (q->n_tok + 1) * q->t->n_vocab * sizeof(float));
		memcpy(q->logits + q->n_tok * q->t->n_vocab, logits, q->t->n_vocab * sizeof(float));
	}
	q->n_tok++;
	buf_append(&q->text, text, len);
	struct engine_stats st;
	engine_server_stats(q->t->s, &st);
	if (st.running > q->t->max_running)
		q->t->max_running = st.running;
	if (q->cancel_other && q->n_tok == q->cancel_at)
		engine_cancel(q->t->s, q->cancel_other->id);
	if (q->cancel_self && q->n_tok == q->cancel_at)
		engine_cancel(q->t->s, q->id);
}

static void on_done(void *user, const struct engine_result *r)
{
	struct req *q = user;
	CHECK(!q->done);
	CHECK(r->id == q->id);
	q->done = true;
	q->status = r->status;
	q->finish = r->finish;
	q->cached = r->cached_tokens;
	q->result_tokens = r->n_tokens;
	/* The result holds exactly the tokens and text the callbacks saw. */
	CHECK_INT(r->n_tokens, ==, q->n_tok);
	for (size_t i = 0; i < r->n_tokens; i++)
		CHECK_INT(r->tokens[i], ==, q->toks[i]);
	CHECK_INT(r->text_len, ==, q->text.len);
	CHECK(r->text_len == 0 || memcmp(r->text, q->text.data, r->text_len) == 0);
	CHECK(r->text_len < sizeof(q->result_text));
	memcpy(q->result_text, r->text, r->text_len);
	q->result_text[r->text_len] = '\0';
	CHECK(r->error != NULL);
	q->t->outstanding--;
	if (q->t->outstanding == 0)
		uv_stop(&q->t->loop);
}

/* Submits q (greedy) with max_tokens and flags; fails the test on error. */
static void t_submit(struct t *t, struct req *q, uint32_t max_tokens, unsigned flags)
{
	q->t = t;
	q->want_logits = flags & ENGINE_REQUEST_LOGITS;
	buf_init(&q->text);
	struct engine_request r = {
		.prompt = q->prompt,
		.n_prompt = q->n_prompt,
		.max_tokens = max_tokens,
		.flags = flags,
		.on_token = on_token,
		.on_done = on_done,
		.user = q,
	};
	engine_sampler_defaults(&r.sampling);
	r.sampling.temperature = 0;
	char err[512];
	int rc = engine_submit(t->s, &r, &q->id, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "engine_submit: %s", err);
	t->outstanding++;
}

static void t_wait(struct t *t)
{
	if (t->outstanding)
		uv_run(&t->loop, UV_RUN_DEFAULT);
	CHECK_INT(t->outstanding, ==, 0);
}

static void req_free(struct req *q)
{
	free(q->toks);
	free(q->logits);
	buf_free(&q->text);
}

static double rel_l2(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - (double)b[i];
		num += d * d;
		den += (double)b[i] * (double)b[i];
	}
	return sqrt(num / (den > 0 ? den : 1));
}

/* The judge: q's prompt and then its tokens through a fresh engine_ctx;
 * every token's logits within tol of the served ones, and each token the
 * greedy choice wherever the top two are further apart than tol. Returns
 * the worst relative L2 error. */
static double judge(struct t *t, const struct req *q, double tol)
{
	char err[512];
	engine_ctx *c;
	struct engine_ctx_options co = {.n_ctx = 2048, .threads = 1, .kv_type = ENGINE_KV_F16};
	if (engine_ctx_new(t->m, &co, &c, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "engine_ctx_new: %s", err);
	size_t V = t->n_vocab;
	float *ref = xmalloc(V * sizeof(float));
	double *dv = xmalloc(V * sizeof(double));
	double worst = 0;
	CHECK_INT(engine_decode(c, q->prompt, q->n_prompt, 0, ref), ==, 0);
	for (size_t i = 0; i < q->n_tok; i++) {
		double e = rel_l2(q->logits + i * V, ref, V);
		if (e > tol)
			th_fail(__FILE__, __LINE__, "request %llu token %zu: logits off by %.3g (relative L2)",
				(unsigned long long)q->id, i, e);
		worst = e > worst ? e : worst;
		for (size_t k = 0; k < V; k++)
			dv[k] = ref[k];
		double margin;
		size_t top = support_top_two(dv, V, &margin);
		if (margin > tol)
			CHECK_INT(q->toks[i], ==, (engine_token)top);
		if (i + 1 < q->n_tok)
			CHECK_INT(engine_decode(c, &q->toks[i], 1, 0, ref), ==, 0);
	}
	free(ref);
	free(dv);
	engine_ctx_free(c);
	return worst;
}

static void check_pool_whole(struct t *t, bool cache)
{
	struct engine_stats st;
	engine_server_stats(t->s, &st);
	CHECK_INT(st.running, ==, 0);
	CHECK_INT(st.queued, ==, 0);
	CHECK_INT(st.kv_blocks_used, ==, 0);
	CHECK_INT(st.kv_blocks_free + st.kv_blocks_cached, ==, st.kv_blocks_total);
	if (!cache)
		CHECK_INT(st.kv_blocks_cached, ==, 0);
}

TEST(batch_invariance)
{
	/* One target sequence alone, then in a batch of 32 with others of
	 * different lengths arriving together; no prefix cache, so every
	 * position is computed in each case. */
	struct engine_server_options o = {
		.threads = 2, .ctx_size = 512, .kv_memory = 64 << 20, .no_prefix_cache = true};
	struct t t;
	t_open(&t, "f32", &o);
	struct req *alone = xcalloc(1, sizeof(*alone));
	alone->n_prompt = 45;
	t_rng_fill(&t, alone->prompt, alone->n_prompt);
	t_submit(&t, alone, 24, ENGINE_REQUEST_LOGITS | ENGINE_REQUEST_IGNORE_EOS);
	t_wait(&t);
	CHECK_INT(alone->n_tok, ==, 24);

	struct req *batch = xcalloc(32, sizeof(*batch));
	for (int i = 0; i < 32; i++) {
		struct req *q = &batch[i];
		if (i == 17) {
			memcpy(q->prompt, alone->prompt, alone->n_prompt * sizeof(engine_token));
			q->n_prompt = alone->n_prompt;
		} else {
			q->n_prompt = 1 + (size_t)(i * 37 % 150);
			t_rng_fill(&t, q->prompt, q->n_prompt);
		}
		t_submit(&t, q, 24, ENGINE_REQUEST_LOGITS | ENGINE_REQUEST_IGNORE_EOS);
	}
	t_wait(&t);
	struct req *same = &batch[17];
	CHECK_INT(same->n_tok, ==, 24);
	double worst = 0;
	for (size_t i = 0; i < 24; i++) {
		double e = rel_l2(same->logits + i * t.n_vocab, alone->logits + i * t.n_vocab, t.n_vocab);
		worst = e > worst ? e : worst;
		CHECK(e <= 1e-4);
		CHECK_INT(same->toks[i], ==, alone->toks[i]);
	}
	printf("alone vs batch of 32: worst relative L2 %.3g\n", worst);
	/* And every member of the batch against the single-sequence judge. */
	double judged = judge(&t, alone, 1e-4);
	for (int i = 0; i < 32; i += 5)
		judged = fmax(judged, judge(&t, &batch[i], 1e-4));
	printf("served vs engine_ctx: worst relative L2 %.3g\n", judged);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	/* The batch really was batched: some step carried 32 or more rows. */
	uint64_t big = 0;
	for (int b = 5; b < ENGINE_STATS_BUCKETS; b++)
		big += st.batch_rows[b];
	CHECK(big > 0);
	check_pool_whole(&t, false);
	for (int i = 0; i < 32; i++)
		req_free(&batch[i]);
	req_free(alone);
	free(batch);
	free(alone);
	t_close(&t);
}

TEST(prefix_cache_exact)
{
	struct engine_server_options o = {.threads = 2, .ctx_size = 512, .kv_memory = 64 << 20};
	struct t t;
	t_open(&t, "f32", &o);
	unsigned fl = ENGINE_REQUEST_LOGITS | ENGINE_REQUEST_IGNORE_EOS;
	struct req *q = xcalloc(6, sizeof(*q));
	/* A: 40 prompt tokens, 8 generated. */
	q[0].n_prompt = 40;
	t_rng_fill(&t, q[0].prompt, 40);
	t_submit(&t, &q[0], 8, fl);
	t_wait(&t);
	CHECK_INT(q[0].cached, ==, 0);
	/* B: A's first 37 tokens and then others: a hit ending mid-block
	 * (two whole blocks and 5 positions copied). */
	memcpy(q[1].prompt, q[0].prompt, 37 * sizeof(engine_token));
	q[1].n_prompt = 60;
	t_rng_fill(&t, q[1].prompt + 37, 23);
	q[1].prompt[37] = (q[0].prompt[37] + 1) % (engine_token)t.n_vocab;
	t_submit(&t, &q[1], 8, fl);
	t_wait(&t);
	CHECK_INT(q[1].cached, ==, 37);
	/* C: A's next turn: its prompt, its reply, a new message. What A
	 * computed (40 + 7 positions) is reused. */
	memcpy(q[2].prompt, q[0].prompt, 40 * sizeof(engine_token));
	memcpy(q[2].prompt + 40, q[0].toks, 8 * sizeof(engine_token));
	q[2].n_prompt = 48 + 20;
	t_rng_fill(&t, q[2].prompt + 48, 20);
	t_submit(&t, &q[2], 8, fl);
	t_wait(&t);
	CHECK_INT(q[2].cached, ==, 47);
	/* D and E at once: both extend C's prompt (cached in part) and then
	 * differ from each other mid-block. */
	for (int i = 3; i < 5; i++) {
		memcpy(q[i].prompt, q[2].prompt, 50 * sizeof(engine_token));
		q[i].n_prompt = 90;
		t_rng_fill(&t, q[i].prompt + 50, 40);
	}
	t_submit(&t, &q[3], 8, fl);
	t_submit(&t, &q[4], 8, fl);
	t_wait(&t);
	CHECK_INT(q[3].cached, ==, 50);
	CHECK_INT(q[4].cached, ==, 50);
	/* F: the very prompt of D: all but its last position reused. */
	memcpy(q[5].prompt, q[3].prompt, 90 * sizeof(engine_token));
	q[5].n_prompt = 90;
	t_submit(&t, &q[5], 8, fl);
	t_wait(&t);
	CHECK_INT(q[5].cached, ==, 89);
	double worst = 0;
	for (int i = 0; i < 6; i++) {
		CHECK_INT(q[i].status, ==, 0);
		CHECK_INT(q[i].n_tok, ==, 8);
		worst = fmax(worst, judge(&t, &q[i], 1e-4));
	}
	for (int i = 0; i < 8; i++)
		CHECK_INT(q[5].toks[i], ==, q[3].toks[i]);
	printf("cached vs computed: worst relative L2 %.3g\n", worst);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK_INT(st.cached_tokens, ==, 37 + 47 + 50 + 50 + 89);
	CHECK_INT(st.prompt_tokens, ==, 40 + 60 + 68 + 90 + 90 + 90);
	CHECK(fabs(st.prefix_hit_rate - (double)st.cached_tokens / (double)st.prompt_tokens) < 1e-12);
	check_pool_whole(&t, true);
	for (int i = 0; i < 6; i++)
		req_free(&q[i]);
	free(q);
	t_close(&t);
}

TEST(prefix_shared_while_computing)
{
	/* 16 requests with one 200-token system prompt arrive together: the
	 * first computes it, the others wait for it and compute only their
	 * own tails. */
	struct engine_server_options o = {.threads = 2, .ctx_size = 512, .batch_tokens = 64, .kv_memory = 64 << 20};
	struct t t;
	t_open(&t, "f32", &o);
	engine_token system[200];
	t_rng_fill(&t, system, 200);
	struct req *q = xcalloc(16, sizeof(*q));
	for (int i = 0; i < 16; i++) {
		memcpy(q[i].prompt, system, sizeof(system));
		t_rng_fill(&t, q[i].prompt + 200, 10);
		q[i].n_prompt = 210;
		t_submit(&t, &q[i], 4, ENGINE_REQUEST_LOGITS | ENGINE_REQUEST_IGNORE_EOS);
	}
	t_wait(&t);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK_INT(q[0].cached, ==, 0);
	for (int i = 1; i < 16; i++)
		CHECK_INT(q[i].cached, ==, 192); /* the system prompt's whole blocks */
	/* Computed: 210 for the first, 18 for each other. */
	CHECK_INT(st.prefill_tokens, ==, 210 + 15 * 18);
	for (int i = 0; i < 16; i += 3)
		judge(&t, &q[i], 1e-4);
	check_pool_whole(&t, true);
	for (int i = 0; i < 16; i++)
		req_free(&q[i]);
	free(q);
	t_close(&t);
}

TEST(prefix_cache_eviction)
{
	/* A pool of 24 blocks and 40 requests over 4 shared prefixes, 3 at a
	 * time: cached blocks are evicted and reused all along, and every
	 * result still matches the judge. */
	struct engine_server_options o = {.threads = 2, .ctx_size = 256, .max_sequences = 3};
	struct t t;
	o.kv_memory = pool_bytes(24);
	t_open(&t, "f32", &o);
	engine_token prefixes[4][64];
	for (int p = 0; p < 4; p++)
		t_rng_fill(&t, prefixes[p], 64);
	struct req *q = xcalloc(40, sizeof(*q));
	for (int i = 0; i < 40; i++) {
		int p = (i * 7) % 4, keep = 20 + (i * 13) % 45;
		memcpy(q[i].prompt, prefixes[p], (size_t)keep * sizeof(engine_token));
		t_rng_fill(&t, q[i].prompt + keep, 30);
		q[i].n_prompt = (size_t)keep + 30;
		t_submit(&t, &q[i], 6, ENGINE_REQUEST_LOGITS | ENGINE_REQUEST_IGNORE_EOS);
	}
	t_wait(&t);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK(st.kv_evictions > 0);
	CHECK(st.cached_tokens > 0);
	CHECK_INT(t.max_running, <=, 3);
	double worst = 0;
	for (int i = 0; i < 40; i++) {
		CHECK_INT(q[i].status, ==, 0);
		worst = fmax(worst, judge(&t, &q[i], 1e-4));
	}
	printf("%llu evictions, %llu of %llu prompt tokens cached, worst relative L2 %.3g\n",
	       (unsigned long long)st.kv_evictions, (unsigned long long)st.cached_tokens,
	       (unsigned long long)st.prompt_tokens, worst);
	check_pool_whole(&t, true);
	for (int i = 0; i < 40; i++)
		req_free(&q[i]);
	free(q);
	t_close(&t);
}

TEST(pool_exhaustion)
{
	/* Each request needs 4 blocks (40 prompt + 24 generated positions);
	 * the pool has 80: 20 at once. 200 arrive together. */
	struct engine_server_options o = {.threads = 2, .ctx_size = 128, .no_prefix_cache = true};
	struct t t;
	o.kv_memory = pool_bytes(80);
	t_open(&t, "f32", &o);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK_INT(st.kv_blocks_total, ==, 80);
	/* A request larger than the pool fails at once, saying why. */
	struct req big = {0};
	big.n_prompt = 100;
	t_rng_fill(&t, big.prompt, 100);
	struct engine_request r = {.prompt = big.prompt, .n_prompt = 100, .max_tokens = 29, .on_done = on_done};
	engine_sampler_defaults(&r.sampling);
	char err[512] = "";
	engine_request_id id;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -E2BIG);
	CHECK_CONTAINS(err, "ctx-size 128");
	struct req *q = xcalloc(200, sizeof(*q));
	for (int i = 0; i < 200; i++) {
		q[i].n_prompt = 40;
		t_rng_fill(&t, q[i].prompt, 40);
		t_submit(&t, &q[i], 25, ENGINE_REQUEST_IGNORE_EOS);
	}
	t_wait(&t);
	for (int i = 0; i < 200; i++) {
		CHECK_INT(q[i].status, ==, 0);
		CHECK_INT(q[i].n_tok, ==, 25);
		CHECK_INT(q[i].finish, ==, ENGINE_FINISH_LENGTH);
	}
	CHECK_INT(t.max_running, <=, 20);
	CHECK_INT(t.max_running, >=, 10);
	engine_server_stats(t.s, &st);
	CHECK_INT(st.completed, ==, 200);
	CHECK_INT(st.kv_blocks_free, ==, 80);
	check_pool_whole(&t, false);
	for (int i = 0; i < 200; i++)
		req_free(&q[i]);
	free(q);
	t_close(&t);
}

TEST(never_fits)
{
	struct engine_server_options o = {.threads = 1, .ctx_size = 4096, .kv_memory = 0};
	struct t t;
	o.kv_memory = pool_bytes(10);
	t_open(&t, "f32", &o);
	engine_token prompt[200];
	t_rng_fill(&t, prompt, 200);
	struct engine_request r = {.prompt = prompt, .n_prompt = 150, .max_tokens = 20, .on_done = on_done};
	engine_sampler_defaults(&r.sampling);
	char err[512] = "";
	engine_request_id id;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -E2BIG);
	CHECK_CONTAINS(err, "needs 11 KV blocks");
	CHECK_CONTAINS(err, "has 10");
	r.n_prompt = 0;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "empty");
	r.n_prompt = 10;
	prompt[3] = (engine_token)t.n_vocab;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "token 3");
	prompt[3] = 1;
	const char *stops[] = {""};
	r.stop = stops;
	r.n_stop = 1;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "stop string 0");
	r.n_stop = 0;
	r.on_done = NULL;
	CHECK_INT(engine_submit(t.s, &r, &id, err, sizeof(err)), ==, -EINVAL);
	/* The server still serves. */
	struct req ok = {0};
	ok.n_prompt = 30;
	t_rng_fill(&t, ok.prompt, 30);
	t_submit(&t, &ok, 5, ENGINE_REQUEST_IGNORE_EOS);
	t_wait(&t);
	CHECK_INT(ok.status, ==, 0);
	CHECK_INT(ok.n_tok, ==, 5);
	req_free(&ok);
	t_close(&t);
	/* Bad options. */
	struct engine_server_options bad = {.max_sequences = 64, .batch_tokens = 32};
	char *path = write_model("f32");
	engine_model *m = support_open(path, NULL);
	uv_loop_t loop;
	uv_loop_init(&loop);
	engine_server *s = NULL;
	CHECK_INT(engine_server_new(m, &loop, &bad, &s, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "batch-tokens");
	bad = (struct engine_server_options){.kv_memory = 1000};
	CHECK_INT(engine_server_new(m, &loop, &bad, &s, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "holds no KV block");
	CHECK(s == NULL);
	uv_loop_close(&loop);
	engine_model_free(m);
	free(path);
}

TEST(cancel_prefill_and_decode)
{
	/* X generates one token per step while Y's 960-token prompt goes in
	 * chunks of at most 16 rows: cancelling Y at X's third token catches
	 * it mid-prefill; Z cancels itself at its tenth token of 900,
	 * mid-decode. */
	struct engine_server_options o = {
		.threads = 2, .ctx_size = 1024, .batch_tokens = 16, .max_sequences = 4, .kv_memory = 64 << 20};
	struct t t;
	t_open(&t, "f32", &o);
	struct req *x = xcalloc(1, sizeof(*x)), *y = xcalloc(1, sizeof(*y)), *z = xcalloc(1, sizeof(*z));
	x->n_prompt = 8;
	t_rng_fill(&t, x->prompt, 8);
	y->n_prompt = 960;
	t_rng_fill(&t, y->prompt, 960);
	x->cancel_other = y;
	x->cancel_at = 3;
	t_submit(&t, x, 60, ENGINE_REQUEST_IGNORE_EOS);
	t_submit(&t, y, 10, ENGINE_REQUEST_IGNORE_EOS);
	t_wait(&t);
	CHECK_INT(y->status, ==, -ECANCELED);
	CHECK_INT(y->finish, ==, ENGINE_FINISH_CANCELLED);
	CHECK_INT(y->n_tok, ==, 0);
	CHECK_INT(x->status, ==, 0);
	CHECK_INT(x->n_tok, ==, 60);
	check_pool_whole(&t, true);
	/* Mid-decode. */
	z->n_prompt = 20;
	t_rng_fill(&t, z->prompt, 20);
	z->cancel_self = true;
	z->cancel_at = 10;
	t_submit(&t, z, 900, ENGINE_REQUEST_IGNORE_EOS);
	t_wait(&t);
	CHECK_INT(z->status, ==, -ECANCELED);
	CHECK(z->n_tok >= 10 && z->n_tok < 900);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK_INT(st.cancelled, ==, 2);
	check_pool_whole(&t, true);
	/* A queued request cancelled at once, and free with work in flight:
	 * every on_done still runs. */
	struct req w[3] = {0};
	for (int i = 0; i < 3; i++) {
		w[i].n_prompt = 300;
		t_rng_fill(&t, w[i].prompt, 300);
		t_submit(&t, &w[i], 50, ENGINE_REQUEST_IGNORE_EOS);
	}
	engine_cancel(t.s, w[2].id);
	engine_server_free(t.s);
	for (int i = 0; i < 3; i++) {
		CHECK(w[i].done);
		CHECK_INT(w[i].status, ==, -ECANCELED);
		req_free(&w[i]);
	}
	CHECK_INT(t.outstanding, ==, 0);
	while (uv_loop_alive(&t.loop))
		uv_run(&t.loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&t.loop), ==, 0);
	engine_model_free(t.m);
	req_free(x);
	req_free(y);
	req_free(z);
	free(x);
	free(y);
	free(z);
}

TEST(stop_strings)
{
	struct engine_server_options o = {.threads = 1, .ctx_size = 256, .kv_memory = 64 << 20};
	struct t t;
	t_open(&t, "f32", &o);
	struct req a = {0};
	a.n_prompt = 12;
	t_rng_fill(&t, a.prompt, 12);
	t_submit(&t, &a, 40, ENGINE_REQUEST_IGNORE_EOS);
	t_wait(&t);
	/* A stop string from the middle of the greedy text: the same run
	 * stops there, its text cut before it, and the pieces the callbacks
	 * released add up to that text exactly. */
	size_t len = strlen(a.result_text);
	CHECK(len >= 12);
	char stop[5];
	memcpy(stop, a.result_text + len / 2, 4);
	stop[4] = '\0';
	const char *at = strstr(a.result_text, stop);
	CHECK(at != NULL);
	struct req b = {0};
	memcpy(b.prompt, a.prompt, sizeof(a.prompt));
	b.n_prompt = 12;
	b.t = &t;
	buf_init(&b.text);
	const char *stops[] = {"never appears \x01", stop};
	struct engine_request r = {.prompt = b.prompt,
				   .n_prompt = 12,
				   .max_tokens = 40,
				   .stop = stops,
				   .n_stop = 2,
				   .flags = ENGINE_REQUEST_IGNORE_EOS,
				   .on_token = on_token,
				   .on_done = on_done,
				   .user = &b};
	engine_sampler_defaults(&r.sampling);
	r.sampling.temperature = 0;
	char err[256];
	CHECK_INT(engine_submit(t.s, &r, &b.id, err, sizeof(err)), ==, 0);
	t.outstanding++;
	t_wait(&t);
	CHECK_INT(b.finish, ==, ENGINE_FINISH_STOP);
	CHECK_INT(strlen(b.result_text), ==, (size_t)(at - a.result_text));
	CHECK(strncmp(b.result_text, a.result_text, strlen(b.result_text)) == 0);
	CHECK(b.n_tok < a.n_tok);
	req_free(&a);
	req_free(&b);
	t_close(&t);
}

/* 10,000 random submits and cancels, the loop turning between them. */
TEST(random_submit_cancel)
{
	struct engine_server_options o = {.threads = 2, .ctx_size = 128, .max_sequences = 16, .batch_tokens = 48};
	struct t t;
	o.kv_memory = pool_bytes(40);
	t_open(&t, "f32", &o);
	engine_token prefixes[3][48];
	for (int p = 0; p < 3; p++)
		t_rng_fill(&t, prefixes[p], 48);
	enum { N = 10000 };
	struct req *q = xcalloc(N, sizeof(*q));
	uint64_t rng = 99;
	size_t submitted = 0, cancels = 0;
	for (int op = 0; op < N; op++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t r = (uint32_t)(rng >> 33);
		if (r % 3 == 0 && submitted > 0) {
			/* Cancel a recent request, done or not. */
			size_t k = submitted - 1 - (r / 3) % (submitted < 20 ? submitted : 20);
			engine_cancel(t.s, q[k].id);
			cancels++;
		} else {
			struct req *x = &q[submitted++];
			size_t keep = (r / 7) % 49;
			memcpy(x->prompt, prefixes[(r / 11) % 3], keep * sizeof(engine_token));
			x->n_prompt = keep + 1 + (r / 13) % 16;
			t_rng_fill(&t, x->prompt + keep, x->n_prompt - keep);
			t_submit(&t, x, 1 + (r / 17) % 4, ENGINE_REQUEST_IGNORE_EOS);
		}
		uv_run(&t.loop, (r / 19) % 4 == 0 && t.outstanding ? UV_RUN_ONCE : UV_RUN_NOWAIT);
	}
	t_wait(&t);
	size_t cancelled = 0, completed = 0;
	for (size_t i = 0; i < submitted; i++) {
		CHECK(q[i].done);
		if (q[i].status == -ECANCELED)
			cancelled++;
		else if (q[i].status == 0)
			completed++;
		req_free(&q[i]);
	}
	CHECK_INT(cancelled + completed, ==, submitted);
	CHECK(cancelled > 0);
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK_INT(st.cancelled, ==, cancelled);
	printf("%zu submitted, %zu cancel calls, %zu cancelled, %llu evictions\n", submitted, cancels, cancelled,
	       (unsigned long long)st.kv_evictions);
	check_pool_whole(&t, true);
	free(q);
	t_close(&t);
}

/* Replies under the agents' grammar through the server: every one ends with
 * the end of turn within its budget, as free text then exactly one bash
 * block, however the random model's logits fall. */
TEST(grammar_constrained_replies)
{
	struct engine_server_options o = {.threads = 2, .ctx_size = 256, .kv_memory = 64 << 20};
	struct t t;
	t_open(&t, "f32", &o);
	char err[512];
	engine_grammar *g = NULL;
	if (engine_grammar_agent(t.m, 30, 20, &g, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "engine_grammar_agent: %s", err);
	enum { N = 40 };
	struct req *q = xcalloc(N, sizeof(*q));
	for (int i = 0; i < N; i++) {
		q[i].n_prompt = 10 + (size_t)i % 7;
		t_rng_fill(&t, q[i].prompt, q[i].n_prompt);
		q[i].t = &t;
		buf_init(&q[i].text);
		struct engine_request r = {
			.prompt = q[i].prompt,
			.n_prompt = q[i].n_prompt,
			.max_tokens = 24 + (uint32_t)(i % 4) * 12,
			.grammar = g,
			.on_token = on_token,
			.on_done = on_done,
			.user = &q[i],
		};
		engine_sampler_defaults(&r.sampling);
		r.sampling.seed = (uint64_t)i;
		CHECK_INT(engine_submit(t.s, &r, &q[i].id, err, sizeof(err)), ==, 0);
		t.outstanding++;
	}
	t_wait(&t);
	for (int i = 0; i < N; i++) {
		CHECK_INT(q[i].status, ==, 0);
		CHECK_INT(q[i].finish, ==, ENGINE_FINISH_EOS);
		CHECK(q[i].n_tok <= 24 + (size_t)(i % 4) * 12);
		/* Free text without a backtick (empty or ending in a newline),
		 * then one fenced block of 1..20 bytes. */
		const char *text = q[i].result_text, *fence = strstr(text, "```bash\n");
		CHECK(fence != NULL);
		CHECK(fence == text || fence[-1] == '\n');
		CHECK((size_t)(fence - text) <= 30);
		for (const char *p = text; p < fence; p++)
			CHECK(*p != '`');
		const char *body = fence + 8, *end = strstr(body, "\n```");
		CHECK(end != NULL && end > body && end - body <= 20);
		CHECK_STR(end, "\n```");
		req_free(&q[i]);
	}
	struct engine_stats st;
	engine_server_stats(t.s, &st);
	CHECK(st.grammar_masks > 0);
	printf("%llu masks, %.1f us each; forward passes %.1f ms in all\n", (unsigned long long)st.grammar_masks,
	       st.grammar_seconds * 1e6 / (double)st.grammar_masks, st.forward_seconds * 1e3);
	free(q);
	t_close(&t);
	engine_grammar_free(g);
}
