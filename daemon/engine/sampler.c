/* The sampler: turns one step's logits into the next token, with llama.cpp's
 * stages (repetition penalty, top-k, top-p, min-p, temperature) and a seeded
 * xoshiro256** generator of its own, so that a seed repeats a run. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/engine.h"

/* The penalty window is bounded so that a client's repeat_last_n cannot make
 * the ring an allocation of gigabytes; a million tokens exceeds any context. */
#define SAMPLER_MAX_HISTORY (1u << 20)

/* One token still in the running. */
struct sampler_candidate {
	float logit;     /* its logit, penalised */
	float weight;    /* its unnormalised probability at the stage at hand */
	engine_token id; /* the token */
};

struct engine_sampler {
	struct engine_sampler_params params; /* as given to engine_sampler_new */
	uint32_t n_vocab;                    /* tokens in the vocabulary */
	float *work;                         /* scratch, n_vocab logits with the penalty applied */
	struct sampler_candidate *cands;     /* scratch, n_vocab entries */
	engine_token *history;               /* ring of the last history_cap accepted tokens */
	uint32_t history_cap;                /* room in history: repeat_last_n, bounded */
	uint32_t history_len;                /* tokens in history */
	uint32_t history_next;               /* slot the next accepted token goes to */
	uint64_t rng[4];                     /* xoshiro256** state */
};

void engine_sampler_defaults(struct engine_sampler_params *p)
{
	p->temperature = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->repeat_last_n = 64;
	p->seed = 0;
}

static uint64_t sampler_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sampler_seed(engine_sampler *s)
{
	uint64_t x = s->params.seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = sampler_splitmix64(&x);
}

static uint64_t sampler_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* A uniform double in [0, 1), from the top 53 bits of xoshiro256**. */
static double sampler_uniform(engine_sampler *s)
{
	uint64_t *r = s->rng;
	uint64_t result = sampler_rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;
	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = sampler_rotl(r[3], 45);
	return (double)(result >> 11) * 0x1.0p-53;
}

engine_sampler *engine_sampler_new(const struct engine_sampler_params *p, uint32_t n_vocab)
{
	engine_sampler *s = xcalloc(1, sizeof(*s));
	s->params = *p;
	s->n_vocab = n_vocab;
	s->work = xmalloc((size_t)n_vocab * sizeof(*s->work));
	s->cands = xmalloc((size_t)n_vocab * sizeof(*s->cands));
	s->history_cap = p->repeat_last_n < SAMPLER_MAX_HISTORY ? p->repeat_last_n : SAMPLER_MAX_HISTORY;
	s->history = xmalloc((size_t)s->history_cap * sizeof(*s->history));
	sampler_seed(s);
	return s;
}

void engine_sampler_free(engine_sampler *s)
{
	if (!s)
		return;
	free(s->work);
	free(s->cands);
	free(s->history);
	free(s);
}

void engine_sampler_accept(engine_sampler *s, engine_token t)
{
	/* Tokens outside the vocabulary could not be penalised; they are not kept. */
	if (s->history_cap == 0 || t < 0 || (uint32_t)t >= s->n_vocab)
		return;
	s->history[s->history_next] = t;
	s->history_next = (s->history_next + 1) % s->history_cap;
	if (s->history_len < s->history_cap)
		s->history_len++;
}

void engine_sampler_reset(engine_sampler *s, bool reseed)
{
	s->history_len = 0;
	s->history_next = 0;
	if (reseed)
		sampler_seed(s);
}

/* The candidates' order: higher logit first, lower id on ties. Ids are
 * distinct, so this is a total order and every result is deterministic. */
static bool sampler_before(const struct sampler_candidate *a, const struct sampler_candidate *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void sampler_swap(struct sampler_candidate *a, struct sampler_candidate *b)
{
	struct sampler_candidate t = *a;
	*a = *b;
	*b = t;
}

/* Partitions c[lo..hi) around a median-of-three pivot, and returns where
 * the pivot lands: the candidates before it precede it, those after follow. */
static size_t sampler_partition(struct sampler_candidate *c, size_t lo, size_t hi)
{
	size_t mid = lo + (hi - lo) / 2, last = hi - 1;
	if (sampler_before(&c[mid], &c[lo]))
		sampler_swap(&c[mid], &c[lo]);
	if (sampler_before(&c[last], &c[lo]))
		sampler_swap(&c[last], &c[lo]);
	if (sampler_before(&c[mid], &c[last]))
		sampler_swap(&c[mid], &c[last]);
	size_t store = lo;
	for (size_t i = lo; i < last; i++)
		if (sampler_before(&c[i], &c[last]))
			sampler_swap(&c[i], &c[store++]);
	sampler_swap(&c[store], &c[last]);
	return store;
}

/* Top-p as a quickselect by weight, in expected O(n) rather than a sort:
 * moves to c[0..m) the fewest first candidates whose weights reach target,
 * and returns m, at least 1 (n if rounding leaves the target unreached). */
static size_t sampler_nucleus(struct sampler_candidate *c, size_t n, double target)
{
	/* Invariants: c[0..lo) precede c[lo..n) and weigh less than target;
	 * c[0..hi) weigh at least target (or hi == n). */
	size_t lo = 0, hi = n;
	double before = 0;
	while (hi - lo > 1) {
		size_t store = sampler_partition(c, lo, hi);
		double left = before;
		for (size_t i = lo; i < store; i++)
			left += c[i].weight;
		if (left >= target) {
			hi = store;
		} else if (left + c[store].weight >= target) {
			return store + 1;
		} else {
			before = left + c[store].weight;
			lo = store + 1;
		}
	}
	return lo < n ? lo + 1 : n;
}

/* The repetition penalty on s->work, a copy of logits, once for each
 * distinct token of the window. A token whose logit still equals the
 * original is either not yet penalised or unchanged by the penalty, and in
 * both cases penalising it (again) is right. */
static void sampler_penalise(engine_sampler *s, const float *logits)
{
	float penalty = s->params.repeat_penalty;
	if (!(penalty > 0) || penalty == 1 || !isfinite(penalty))
		return;
	for (uint32_t i = 0; i < s->history_len; i++) {
		engine_token t = s->history[i];
		float *l = &s->work[t];
		if (*l == logits[t])
			*l = *l > 0 ? *l / penalty : *l * penalty;
	}
}

/* Gathers the first k of the n_vocab tokens of work (NaN and -inf never)
 * into c, as a heap whose root is the last of them; returns how many. A
 * token joins only if it beats the root: having a higher id, it loses ties. */
static size_t sampler_top_k(const float *work, size_t n_vocab, size_t k, struct sampler_candidate *c)
{
	size_t len = 0;
	float threshold = -INFINITY;
	for (size_t i = 0; i < n_vocab; i++) {
		if (!(work[i] > threshold))
			continue;
		struct sampler_candidate x = {work[i], 0, (engine_token)i};
		size_t at;
		if (len < k) {
			/* Sift up from the end. */
			for (at = len++; at > 0 && sampler_before(&c[(at - 1) / 2], &x); at = (at - 1) / 2)
				c[at] = c[(at - 1) / 2];
		} else {
			/* Replace the root and sift down. */
			for (at = 0;;) {
				size_t child = 2 * at + 1;
				if (child >= len)
					break;
				if (child + 1 < len && sampler_before(&c[child], &c[child + 1]))
					child++;
				if (!sampler_before(&x, &c[child]))
					break;
				c[at] = c[child];
				at = child;
			}
		}
		c[at] = x;
		if (len == k)
			threshold = c[0].logit;
	}
	return len;
}

engine_token engine_sampler_sample(engine_sampler *s, const float *logits)
{
	const struct engine_sampler_params *p = &s->params;
	struct sampler_candidate *c = s->cands;
	float *work = s->work;
	size_t n_vocab = s->n_vocab;
	memcpy(work, logits, n_vocab * sizeof(*work));
	sampler_penalise(s, logits);

	if (!(p->temperature > 0)) {
		/* Greedy: the first highest logit, never NaN; token 0 when none. */
		size_t best = 0;
		float best_logit = -INFINITY;
		for (size_t i = 0; i < n_vocab; i++)
			if (work[i] > best_logit) {
				best = i;
				best_logit = work[i];
			}
		return (engine_token)best;
	}

	/* The candidates: the top k, or every possible token. */
	size_t n = 0;
	if (p->top_k > 0 && (size_t)p->top_k < n_vocab) {
		n = sampler_top_k(work, n_vocab, (size_t)p->top_k, c);
	} else {
		for (size_t i = 0; i < n_vocab; i++)
			if (work[i] > -INFINITY)
				c[n++] = (struct sampler_candidate){work[i], 0, (engine_token)i};
	}
	if (n == 0)
		return 0;
	float max = c[0].logit;
	for (size_t i = 1; i < n; i++)
		if (c[i].logit > max)
			max = c[i].logit;
	/* If some logits are +inf, only they remain, as equals, since nothing
	 * else can have a share of the probability. */
	if (max == INFINITY) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (c[i].logit == INFINITY)
				c[m++] = (struct sampler_candidate){0, 0, c[i].id};
		n = m;
		max = 0;
	}

	/* Top-p over the softmax of the logits as they are. */
	if (p->top_p < 1) {
		double sum = 0;
		for (size_t i = 0; i < n; i++) {
			c[i].weight = expf(c[i].logit - max);
			sum += c[i].weight;
		}
		/* Candidates lighter than (1 - top_p) * sum / n weigh less than
		 * (1 - top_p) * sum together, so the nucleus lies among the rest:
		 * dropping them first spares the quickselect most of its work. */
		double top_p = p->top_p > 0 ? p->top_p : 0;
		float light = (float)((1 - top_p) * sum / (double)n);
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (c[i].weight >= light)
				c[m++] = c[i];
		n = sampler_nucleus(c, m, top_p * sum);
	}

	/* Min-p: p / p_max >= min_p is logit >= max + log(min_p). The top
	 * candidates always pass, so at least one remains. */
	if (p->min_p > 0) {
		float min_logit = p->min_p >= 1 ? max : max + logf(p->min_p);
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (c[i].logit >= min_logit)
				c[m++] = c[i];
		n = m;
	}

	/* Temperature, softmax and the draw. The top candidates weigh 1, so the
	 * sum is at least 1. */
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		c[i].weight = expf((float)(((double)c[i].logit - max) / p->temperature));
		sum += c[i].weight;
	}
	double target = sampler_uniform(s) * sum;
	double cum = 0;
	for (size_t i = 0; i < n; i++) {
		cum += c[i].weight;
		if (target < cum)
			return c[i].id;
	}
	/* Rounding can leave the target at the very end. */
	return c[n - 1].id;
}
