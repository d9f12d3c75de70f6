/* `agentd model bench --parallel N`: the serving engine (serve.c) under
 * load, driven from a libuv loop as the daemon drives it.
 *
 * Without --prefix-tokens: N sequences of -p random prompt tokens, each
 * generating -n tokens. Their prompts are computed first (one request of
 * one token each); then the N continuations run at once, and their -n
 * tokens each over the wall time of that phase is the aggregate decode
 * rate. With the prefix cache on, a continuation finds its prompt cached
 * and computes one prompt position; with it off, it computes the prompt
 * again inside the timed phase.
 *
 * With --prefix-tokens P --turns T: N agents share a P-token system prompt
 * and each runs T turns; a turn's prompt is the previous turn's prompt, its
 * reply and a new user message of --user-tokens tokens, submitted as soon
 * as the previous turn ends. Reports aggregate decode tokens/s, time to
 * first token and inter-token latency percentiles (per turn too), the
 * prefix-cache hit rate, and the ideal hit rate: the share of prompt
 * tokens that an earlier request had already computed. */
#include "daemon/engine/serve_bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/units.h"
#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_run.h"

#define SERVE_BENCH_MAX_PARALLEL 4096
#define SERVE_BENCH_MAX_TURNS 1000

struct serve_bench_args {
	const char *model;
	bool json, help, no_prefix_cache;
	struct engine_server_options so;
	uint32_t parallel, pp, tg, prefix, turns, user;
};

/* One request's life as the loop sees it. */
struct serve_bench_req {
	struct serve_bench *b;
	uint32_t agent, turn;
	uint64_t t_submit, t_last; /* uv_hrtime, ns */
	double ttft_ms;
	struct engine_tokens prompt; /* computed: prompt + reply but its last token */
	struct engine_tokens reply;
	uint32_t cached;
	bool done;
};

struct serve_bench {
	const struct serve_bench_args *a;
	uv_loop_t *loop;
	engine_server *server;
	uint32_t n_vocab;
	uint64_t rng;
	struct serve_bench_req *reqs; /* agents x turns (or parallel) */
	uint32_t n_reqs, outstanding;
	double *itl_ms; /* inter-token gaps */
	size_t n_itl, itl_cap;
	int failed;
	char error[256];
};

static void serve_bench_usage(FILE *out)
{
	fprintf(out,
		"usage: agentd model bench --model FILE --parallel N [-p N] [-n N] [serving options] [--json]\n"
		"       agentd model bench --model FILE --parallel N --prefix-tokens P --turns T [--user-tokens U]\n"
		"                          [-n N] [serving options] [--json]\n"
		"\n"
		"--parallel N alone: N sequences of -p prompt tokens (default 128) each generate -n tokens\n"
		"(default 64) at once; reports the aggregate decode tokens/s. With --prefix-tokens and --turns:\n"
		"N agents share a P-token system prompt and each runs T turns; a turn appends the previous reply\n"
		"and a user message of U tokens (default 100); reports aggregate decode tokens/s, time to first\n"
		"token and inter-token latency (p50/p99), and the prefix-cache hit rate beside the ideal one.\n"
		"\n"
		"serving options:\n"
		"  --threads N          compute threads (default: the CPUs this process may use)\n"
		"  --ctx-size N         most positions of one sequence (default: what the run needs)\n"
		"  --kv-memory BYTES    the KV pool, e.g. 2GiB (default 2GiB)\n"
		"  --kv-type f16|f32    KV cache element type (default f16)\n"
		"  --batch-tokens N     most tokens one step computes (default 512)\n"
		"  --max-sequences N    most sequences computing at once (default: N of --parallel, at most 128)\n"
		"  --no-prefix-cache    compute every prompt in full\n");
}

static int serve_bench_parse(int argc, char **argv, struct serve_bench_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->pp = 128;
	a->tg = 64;
	a->user = 100;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i];
		if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
			a->help = true;
			continue;
		}
		if (strcmp(f, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(f, "--no-prefix-cache") == 0) {
			a->so.no_prefix_cache = true;
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen,
				 strncmp(f, "-", 1) == 0 ? "%s needs a value (or is unknown)" : "unexpected '%s'", f);
			return -EINVAL;
		}
		const char *v = argv[++i];
		uint64_t u = 0;
		int rc = 0;
		if (strcmp(f, "--model") == 0) {
			a->model = v;
		} else if (strcmp(f, "--threads") == 0) {
			rc = engine_run_flag_uint(f, v, 1, ENGINE_MAX_THREADS, &u, err, errlen);
			a->so.threads = (unsigned)u;
		} else if (strcmp(f, "--ctx-size") == 0) {
			rc = engine_run_flag_uint(f, v, 2, 1u << 20, &u, err, errlen);
			a->so.ctx_size = (uint32_t)u;
		} else if (strcmp(f, "--kv-memory") == 0) {
			char why[128];
			if (units_parse_size(v, &u, why, sizeof(why)) < 0 || u == 0) {
				snprintf(err, errlen, "--kv-memory must be a size such as 512MiB or 2GiB, not '%s'", v);
				return -EINVAL;
			}
			a->so.kv_memory = u;
		} else if (strcmp(f, "--kv-type") == 0) {
			if (engine_kv_type_parse(v, &a->so.kv_type) < 0) {
				snprintf(err, errlen, "--kv-type must be f16 or f32, not '%s'", v);
				return -EINVAL;
			}
		} else if (strcmp(f, "--batch-tokens") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 8192, &u, err, errlen);
			a->so.batch_tokens = (uint32_t)u;
		} else if (strcmp(f, "--max-sequences") == 0) {
			rc = engine_run_flag_uint(f, v, 1, ENGINE_MAX_SEQUENCES, &u, err, errlen);
			a->so.max_sequences = (uint32_t)u;
		} else if (strcmp(f, "--parallel") == 0) {
			rc = engine_run_flag_uint(f, v, 1, SERVE_BENCH_MAX_PARALLEL, &u, err, errlen);
			a->parallel = (uint32_t)u;
		} else if (strcmp(f, "-p") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 1u << 16, &u, err, errlen);
			a->pp = (uint32_t)u;
		} else if (strcmp(f, "-n") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 1u << 16, &u, err, errlen);
			a->tg = (uint32_t)u;
		} else if (strcmp(f, "--prefix-tokens") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 1u << 16, &u, err, errlen);
			a->prefix = (uint32_t)u;
		} else if (strcmp(f, "--turns") == 0) {
			rc = engine_run_flag_uint(f, v, 1, SERVE_BENCH_MAX_TURNS, &u, err, errlen);
			a->turns = (uint32_t)u;
		} else if (strcmp(f, "--user-tokens") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 1u << 16, &u, err, errlen);
			a->user = (uint32_t)u;
		} else {
			snprintf(err, errlen, "unknown option '%s' for bench --parallel", f);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (a->help)
		return 0;
	if (!a->model) {
		snprintf(err, errlen, "--model FILE is required");
		return -EINVAL;
	}
	if (!a->parallel) {
		snprintf(err, errlen, "--parallel N is required");
		return -EINVAL;
	}
	if ((a->prefix != 0) != (a->turns != 0)) {
		snprintf(err, errlen, "--prefix-tokens and --turns go together");
		return -EINVAL;
	}
	if (a->so.max_sequences == 0)
		a->so.max_sequences =
			a->parallel < ENGINE_DEFAULT_MAX_SEQUENCES ? a->parallel : ENGINE_DEFAULT_MAX_SEQUENCES;
	/* Room for the longest sequence of the run. */
	uint64_t longest =
		a->turns ? (uint64_t)a->prefix + (uint64_t)a->turns * (a->user + a->tg) : (uint64_t)a->pp + a->tg + 1;
	if (longest > (1u << 20)) {
		snprintf(err, errlen, "the run's longest sequence (%" PRIu64 " positions) is too long", longest);
		return -EINVAL;
	}
	if (a->so.ctx_size == 0)
		a->so.ctx_size = (uint32_t)longest;
	else if (a->so.ctx_size < longest) {
		snprintf(err, errlen, "--ctx-size %u is shorter than the run's longest sequence (%" PRIu64 ")",
			 a->so.ctx_size, longest);
		return -EINVAL;
	}
	return 0;
}

static engine_token serve_bench_token(struct serve_bench *b)
{
	b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
	return (engine_token)((b->rng >> 33) % b->n_vocab);
}

static void serve_bench_fill(struct serve_bench *b, struct engine_tokens *t, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		engine_tokens_push(t, serve_bench_token(b));
}

static void serve_bench_on_token(void *user, engine_request_id id, engine_token token, const char *text, size_t len,
				 const float *logits)
{
	(void)id;
	(void)token;
	(void)text;
	(void)len;
	(void)logits;
	struct serve_bench_req *q = user;
	struct serve_bench *b = q->b;
	uint64_t now = uv_hrtime();
	if (q->t_last == 0) {
		q->ttft_ms = (double)(now - q->t_submit) / 1e6;
	} else {
		if (b->n_itl == b->itl_cap) {
			b->itl_cap = b->itl_cap ? 2 * b->itl_cap : 4096;
			b->itl_ms = xrealloc(b->itl_ms, b->itl_cap * sizeof(double));
		}
		b->itl_ms[b->n_itl++] = (double)(now - q->t_last) / 1e6;
	}
	q->t_last = now;
}

static int serve_bench_submit(struct serve_bench *b, struct serve_bench_req *q, uint32_t max_tokens);

static void serve_bench_on_done(void *user, const struct engine_result *r)
{
	struct serve_bench_req *q = user;
	struct serve_bench *b = q->b;
	q->done = true;
	q->cached = r->cached_tokens;
	for (size_t i = 0; i < r->n_tokens; i++)
		engine_tokens_push(&q->reply, r->tokens[i]);
	if (r->status < 0 && !b->failed) {
		b->failed = r->status;
		snprintf(b->error, sizeof(b->error), "request failed: %s", r->error);
	}
	b->outstanding--;
	/* The agent's next turn: this prompt, the reply, a new user message. */
	if (b->a->turns && q->turn + 1 < b->a->turns && !b->failed) {
		struct serve_bench_req *next = q + 1;
		for (size_t i = 0; i < q->prompt.len; i++)
			engine_tokens_push(&next->prompt, q->prompt.ids[i]);
		for (size_t i = 0; i < q->reply.len; i++)
			engine_tokens_push(&next->prompt, q->reply.ids[i]);
		serve_bench_fill(b, &next->prompt, b->a->user);
		if (serve_bench_submit(b, next, b->a->tg) < 0)
			b->failed = -EINVAL;
	}
	if (b->outstanding == 0 || b->failed)
		uv_stop(b->loop);
}

static int serve_bench_submit(struct serve_bench *b, struct serve_bench_req *q, uint32_t max_tokens)
{
	struct engine_request r = {
		.prompt = q->prompt.ids,
		.n_prompt = q->prompt.len,
		.max_tokens = max_tokens,
		.flags = ENGINE_REQUEST_IGNORE_EOS,
		.on_token = serve_bench_on_token,
		.on_done = serve_bench_on_done,
		.user = q,
	};
	engine_sampler_defaults(&r.sampling);
	r.sampling.temperature = 0;
	q->b = b;
	q->t_submit = uv_hrtime();
	q->t_last = 0;
	q->done = false;
	engine_request_id id;
	int rc = engine_submit(b->server, &r, &id, b->error, sizeof(b->error));
	if (rc < 0) {
		b->failed = rc;
		return rc;
	}
	b->outstanding++;
	return 0;
}

/* Runs the loop until every submitted request is done; seconds taken. */
static double serve_bench_wait(struct serve_bench *b)
{
	uint64_t t0 = uv_hrtime();
	if (b->outstanding)
		uv_run(b->loop, UV_RUN_DEFAULT);
	return (double)(uv_hrtime() - t0) / 1e9;
}

static int serve_bench_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return a < c ? -1 : a > c;
}

/* The p-th percentile of v[0..n) (sorted in place); 0 when empty. */
static double serve_bench_pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), serve_bench_cmp);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* For each request, in submission order, the longest prefix of its prompt
 * that an earlier request computed (its prompt and reply but the reply's
 * last token): prompt tokens a perfect cache would reuse. */
static uint64_t serve_bench_ideal(const struct serve_bench *b, const uint32_t *order, uint32_t n)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct engine_tokens *p = &b->reqs[order[i]].prompt;
		size_t best = 0;
		for (uint32_t j = 0; j < i; j++) {
			const struct serve_bench_req *e = &b->reqs[order[j]];
			size_t computed = e->prompt.len + (e->reply.len ? e->reply.len - 1 : 0);
			size_t k = 0;
			while (k < p->len && k < computed &&
			       p->ids[k] == (k < e->prompt.len ? e->prompt.ids[k] : e->reply.ids[k - e->prompt.len]))
				k++;
			best = k > best ? k : best;
		}
		total += best;
	}
	return total;
}

static void serve_bench_print_stats(const struct engine_stats *st, bool json)
{
	if (json) {
		printf(",\"kv_blocks_total\":%u,\"kv_blocks_used\":%u,\"kv_blocks_cached\":%u,\"kv_evictions\":%" PRIu64
		       ",\"steps\":%" PRIu64 ",\"engine_prefill_tokens_per_s\":%.1f,\"engine_decode_tokens_per_s\":%.1f"
		       ",\"batch_rows\":[",
		       st->kv_blocks_total, st->kv_blocks_used, st->kv_blocks_cached, st->kv_evictions, st->steps,
		       st->prefill_tokens_per_s, st->decode_tokens_per_s);
		for (int i = 0; i < ENGINE_STATS_BUCKETS; i++)
			printf("%s%" PRIu64, i ? "," : "", st->batch_rows[i]);
		printf("]");
		return;
	}
	printf("engine: %" PRIu64 " steps, prefill %.1f tokens/s, decode %.1f tokens/s (the steps' time shared by "
	       "rows)\n",
	       st->steps, st->prefill_tokens_per_s, st->decode_tokens_per_s);
	printf("KV blocks: %u total, %u cached, %" PRIu64 " evicted; steps by rows:", st->kv_blocks_total,
	       st->kv_blocks_cached, st->kv_evictions);
	for (int i = 0; i < ENGINE_STATS_BUCKETS; i++)
		if (st->batch_rows[i])
			printf(" %u-%u:%" PRIu64, 1u << i, (2u << i) - 1, st->batch_rows[i]);
	printf("\n");
}

/* N sequences: prompts first, then N continuations at once. */
static int serve_bench_parallel(struct serve_bench *b)
{
	const struct serve_bench_args *a = b->a;
	for (uint32_t i = 0; i < a->parallel; i++) {
		serve_bench_fill(b, &b->reqs[i].prompt, a->pp);
		if (serve_bench_submit(b, &b->reqs[i], 1) < 0)
			return -1;
	}
	double prefill_s = serve_bench_wait(b);
	if (b->failed)
		return -1;
	for (uint32_t i = 0; i < a->parallel; i++) {
		struct serve_bench_req *q = &b->reqs[i];
		engine_tokens_push(&q->prompt, q->reply.ids[0]);
		q->reply.len = 0;
	}
	b->n_itl = 0;
	for (uint32_t i = 0; i < a->parallel; i++)
		if (serve_bench_submit(b, &b->reqs[i], a->tg) < 0)
			return -1;
	double tg_s = serve_bench_wait(b);
	if (b->failed)
		return -1;
	double *ttft = xmalloc(a->parallel * sizeof(double));
	for (uint32_t i = 0; i < a->parallel; i++)
		ttft[i] = b->reqs[i].ttft_ms;
	double tg_rate = (double)a->parallel * a->tg / tg_s, pp_rate = (double)a->parallel * a->pp / prefill_s;
	double ttft50 = serve_bench_pct(ttft, a->parallel, 50), ttft99 = serve_bench_pct(ttft, a->parallel, 99);
	double itl50 = serve_bench_pct(b->itl_ms, b->n_itl, 50), itl99 = serve_bench_pct(b->itl_ms, b->n_itl, 99);
	free(ttft);
	struct engine_stats st;
	engine_server_stats(b->server, &st);
	if (a->json) {
		printf("{\"parallel\":%u,\"p\":%u,\"n\":%u,\"threads\":%u,\"prefix_cache\":%s,"
		       "\"aggregate_tg_tokens_per_s\":%.3f,\"prefill_tokens_per_s\":%.3f,\"tg_seconds\":%.3f,"
		       "\"ttft_ms_p50\":%.3f,\"ttft_ms_p99\":%.3f,\"itl_ms_p50\":%.3f,\"itl_ms_p99\":%.3f",
		       a->parallel, a->pp, a->tg, st.threads, a->so.no_prefix_cache ? "false" : "true", tg_rate,
		       pp_rate, tg_s, ttft50, ttft99, itl50, itl99);
		serve_bench_print_stats(&st, true);
		printf("}\n");
	} else {
		printf("%u sequences x (%u prompt + %u generated), %u threads, prefix cache %s\n", a->parallel, a->pp,
		       a->tg, st.threads, a->so.no_prefix_cache ? "off" : "on");
		printf("prompts: %.1f tokens/s; generation: %.1f tokens/s aggregate (%.2f s)\n", pp_rate, tg_rate,
		       tg_s);
		printf("time to first token p50 %.1f ms, p99 %.1f ms; inter-token p50 %.2f ms, p99 %.2f ms\n", ttft50,
		       ttft99, itl50, itl99);
		serve_bench_print_stats(&st, false);
	}
	return 0;
}

/* The agent simulation. */
static int serve_bench_agents(struct serve_bench *b)
{
	const struct serve_bench_args *a = b->a;
	struct engine_tokens system = ENGINE_TOKENS_INIT;
	serve_bench_fill(b, &system, a->prefix);
	uint64_t t0 = uv_hrtime();
	for (uint32_t i = 0; i < a->parallel; i++) {
		struct serve_bench_req *q = &b->reqs[(size_t)i * a->turns];
		for (size_t k = 0; k < system.len; k++)
			engine_tokens_push(&q->prompt, system.ids[k]);
		serve_bench_fill(b, &q->prompt, a->user);
		if (serve_bench_submit(b, q, a->tg) < 0)
			break;
	}
	engine_tokens_free(&system);
	serve_bench_wait(b);
	double wall = (double)(uv_hrtime() - t0) / 1e9;
	if (b->failed)
		return -1;
	uint32_t n = b->n_reqs;
	uint32_t *order = xmalloc(n * sizeof(uint32_t));
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	/* Submission order. */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && b->reqs[order[j]].t_submit < b->reqs[order[j - 1]].t_submit; j--) {
			uint32_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	uint64_t prompt = 0, cached = 0, generated = 0;
	for (uint32_t i = 0; i < n; i++) {
		prompt += b->reqs[i].prompt.len;
		cached += b->reqs[i].cached;
		generated += b->reqs[i].reply.len;
	}
	uint64_t ideal = serve_bench_ideal(b, order, n);
	free(order);
	double *ttft = xmalloc(n * sizeof(double)), *turn = xmalloc(a->parallel * sizeof(double));
	for (uint32_t i = 0; i < n; i++)
		ttft[i] = b->reqs[i].ttft_ms;
	double *turn50 = xcalloc(a->turns, sizeof(double));
	for (uint32_t t = 0; t < a->turns; t++) {
		for (uint32_t i = 0; i < a->parallel; i++)
			turn[i] = b->reqs[(size_t)i * a->turns + t].ttft_ms;
		turn50[t] = serve_bench_pct(turn, a->parallel, 50);
	}
	double ttft50 = serve_bench_pct(ttft, n, 50), ttft99 = serve_bench_pct(ttft, n, 99);
	double itl50 = serve_bench_pct(b->itl_ms, b->n_itl, 50), itl99 = serve_bench_pct(b->itl_ms, b->n_itl, 99);
	double hit = prompt ? (double)cached / (double)prompt : 0,
	       ideal_rate = prompt ? (double)ideal / (double)prompt : 0;
	double tg_rate = (double)generated / wall;
	struct engine_stats st;
	engine_server_stats(b->server, &st);
	if (a->json) {
		printf("{\"parallel\":%u,\"prefix_tokens\":%u,\"turns\":%u,\"user_tokens\":%u,\"n\":%u,\"threads\":%u,"
		       "\"prefix_cache\":%s,\"wall_seconds\":%.3f,\"aggregate_tg_tokens_per_s\":%.3f,"
		       "\"prompt_tokens\":%" PRIu64 ",\"cached_tokens\":%" PRIu64 ",\"prefix_hit_rate\":%.5f,"
		       "\"prefix_hit_rate_ideal\":%.5f,\"ttft_ms_p50\":%.3f,\"ttft_ms_p99\":%.3f,\"itl_ms_p50\":%.3f,"
		       "\"itl_ms_p99\":%.3f,\"ttft_ms_p50_by_turn\":[",
		       a->parallel, a->prefix, a->turns, a->user, a->tg, st.threads,
		       a->so.no_prefix_cache ? "false" : "true", wall, tg_rate, prompt, cached, hit, ideal_rate, ttft50,
		       ttft99, itl50, itl99);
		for (uint32_t t = 0; t < a->turns; t++)
			printf("%s%.3f", t ? "," : "", turn50[t]);
		printf("]");
		serve_bench_print_stats(&st, true);
		printf("}\n");
	} else {
		printf("%u agents x %u turns: %u-token shared prefix, %u-token user messages, %u-token replies; %u "
		       "threads, prefix cache %s\n",
		       a->parallel, a->turns, a->prefix, a->user, a->tg, st.threads,
		       a->so.no_prefix_cache ? "off" : "on");
		printf("%.2f s; generation %.1f tokens/s aggregate\n", wall, tg_rate);
		printf("prefix cache: %" PRIu64 " of %" PRIu64 " prompt tokens reused (%.2f%%; ideal %.2f%%)\n", cached,
		       prompt, 100 * hit, 100 * ideal_rate);
		printf("time to first token p50 %.1f ms, p99 %.1f ms; inter-token p50 %.2f ms, p99 %.2f ms\n", ttft50,
		       ttft99, itl50, itl99);
		printf("time to first token p50 by turn:");
		for (uint32_t t = 0; t < a->turns; t++)
			printf(" %.1f", turn50[t]);
		printf(" ms\n");
		serve_bench_print_stats(&st, false);
	}
	free(ttft);
	free(turn);
	free(turn50);
	return 0;
}

int serve_bench_run(int argc, char **argv)
{
	struct serve_bench_args a;
	char err[512];
	if (serve_bench_parse(argc, argv, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		serve_bench_usage(stderr);
		return 2;
	}
	if (a.help) {
		serve_bench_usage(stdout);
		return 0;
	}
	engine_model *m;
	if (engine_model_open(a.model, NULL, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		return 2;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct serve_bench b = {.a = &a, .loop = &loop, .rng = 0x9e3779b97f4a7c15ull};
	b.n_vocab = engine_model_hparams(m)->n_vocab;
	int status = 0;
	int rc = engine_server_new(m, &loop, &a.so, &b.server, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "agentd model: %s: %s\n", a.model, err);
		status = rc == -ENOMEM ? 1 : 2;
		goto out;
	}
	b.n_reqs = a.parallel * (a.turns ? a.turns : 1);
	b.reqs = xcalloc(b.n_reqs, sizeof(*b.reqs));
	for (uint32_t i = 0; i < b.n_reqs; i++) {
		b.reqs[i].agent = a.turns ? i / a.turns : i;
		b.reqs[i].turn = a.turns ? i % a.turns : 0;
	}
	rc = a.turns ? serve_bench_agents(&b) : serve_bench_parallel(&b);
	if (rc < 0) {
		fprintf(stderr, "agentd model: the benchmark failed: %s\n", b.error);
		status = 1;
	}
	engine_server_free(b.server);
	/* Until the server's handle is closed (a stop may be pending). */
	while (uv_loop_alive(&loop))
		uv_run(&loop, UV_RUN_DEFAULT);
out:
	for (uint32_t i = 0; i < b.n_reqs; i++) {
		engine_tokens_free(&b.reqs[i].prompt);
		engine_tokens_free(&b.reqs[i].reply);
	}
	free(b.reqs);
	free(b.itl_ms);
	uv_loop_close(&loop);
	engine_model_free(m);
	return status;
}
