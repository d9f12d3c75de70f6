/* The sampler: greedy choice and its ties, distributions of each stage and
 * of their combination checked by chi-square against probabilities computed
 * plainly here, seeds and resets, the penalty window, NaN and infinite
 * logits, degenerate parameters, and top-k and top-p over large
 * vocabularies. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "tests/harness/harness.h"

#define DRAWS 20000
#define MAX_TOKENS 16

/* A random number generator of the test's own, for making up logits. */
static uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct engine_sampler_params params_plain(float temperature)
{
	struct engine_sampler_params p;
	engine_sampler_defaults(&p);
	p.temperature = temperature;
	p.top_k = 0;
	p.top_p = 1;
	p.min_p = 0;
	p.repeat_penalty = 1;
	p.seed = 42;
	return p;
}

/* Whether token a comes before token b: higher logit, then lower id. */
static bool ranks_before(const double *l, int a, int b)
{
	return l[a] > l[b] || (l[a] == l[b] && a < b);
}

/* The probability of each token, computed stage by stage in double, with
 * the penalty over the last repeat_last_n tokens of history. Fails the test
 * if a top-p or min-p cut falls so near a token that float rounding could
 * decide it. */
static void expected_probs(const float *logits, int n, const struct engine_sampler_params *p,
			   const engine_token *history, int n_history, double *prob)
{
	double l[MAX_TOKENS], softmax[MAX_TOKENS];
	bool keep[MAX_TOKENS], done[MAX_TOKENS] = {false};
	for (int i = 0; i < n; i++) {
		l[i] = logits[i];
		keep[i] = true;
	}
	int start = n_history > (int)p->repeat_last_n ? n_history - (int)p->repeat_last_n : 0;
	for (int h = start; h < n_history; h++) {
		int t = history[h];
		if (!done[t])
			l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
		done[t] = true;
	}
	/* order[r] is the token of rank r. */
	int order[MAX_TOKENS];
	for (int i = 0; i < n; i++) {
		int rank = 0;
		for (int j = 0; j < n; j++)
			rank += ranks_before(l, j, i);
		order[rank] = i;
		if (p->top_k > 0 && rank >= p->top_k)
			keep[i] = false;
	}
	double z = 0, max = -INFINITY;
	for (int i = 0; i < n; i++)
		if (keep[i]) {
			z += exp(l[i]);
			max = fmax(max, l[i]);
		}
	for (int i = 0; i < n; i++)
		softmax[i] = exp(l[i]) / z;
	if (p->top_p < 1) {
		double cum = 0;
		bool reached = false;
		for (int r = 0; r < n; r++) {
			int i = order[r];
			if (!keep[i])
				continue;
			if (reached) {
				keep[i] = false;
				continue;
			}
			cum += softmax[i];
			if (fabs(cum - p->top_p) < 1e-4)
				th_fail(__FILE__, __LINE__, "top_p %g is too near a cumulative probability", p->top_p);
			reached = cum >= p->top_p;
		}
	}
	if (p->min_p > 0)
		for (int i = 0; i < n; i++) {
			double ratio = exp(l[i] - max);
			if (fabs(ratio - p->min_p) < 1e-4)
				th_fail(__FILE__, __LINE__, "min_p %g is too near token %d's ratio", p->min_p, i);
			if (ratio < p->min_p)
				keep[i] = false;
		}
	z = 0;
	for (int i = 0; i < n; i++)
		if (keep[i])
			z += exp(l[i] / p->temperature);
	for (int i = 0; i < n; i++)
		prob[i] = keep[i] ? exp(l[i] / p->temperature) / z : 0;
}

/* Chi-square critical values at p = 0.001, by degrees of freedom. */
static const double chi2_critical[] = {0,      10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322,
				       26.124, 27.877, 29.588, 31.264, 32.909, 34.528, 36.123, 37.697};

/* Draws DRAWS tokens after accepting history, and compares the counts with
 * expected_probs: chi-square under the critical value, and never a token of
 * probability 0. */
static void check_distribution(const char *what, const float *logits, int n, const struct engine_sampler_params *p,
			       const engine_token *history, int n_history)
{
	double prob[MAX_TOKENS];
	expected_probs(logits, n, p, history, n_history, prob);
	engine_sampler *s = engine_sampler_new(p, (uint32_t)n);
	for (int h = 0; h < n_history; h++)
		engine_sampler_accept(s, history[h]);
	long count[MAX_TOKENS] = {0};
	for (int d = 0; d < DRAWS; d++) {
		engine_token t = engine_sampler_sample(s, logits);
		if (t < 0 || t >= n)
			th_fail(__FILE__, __LINE__, "%s: token %d is out of range", what, t);
		count[t]++;
	}
	engine_sampler_free(s);
	double chi2 = 0;
	int cells = 0;
	for (int i = 0; i < n; i++) {
		if (prob[i] == 0) {
			if (count[i] != 0)
				th_fail(__FILE__, __LINE__, "%s: token %d has probability 0 but was drawn %ld times",
					what, i, count[i]);
			continue;
		}
		double e = DRAWS * prob[i];
		chi2 += (count[i] - e) * (count[i] - e) / e;
		cells++;
	}
	CHECK(cells >= 2);
	if (chi2 > chi2_critical[cells - 1])
		th_fail(__FILE__, __LINE__, "%s: chi-square %.2f over %.3f with %d degrees of freedom", what, chi2,
			chi2_critical[cells - 1], cells - 1);
}

static const float logits_a[8] = {1.0f, 2.5f, -0.5f, 0.3f, 2.0f, -1.2f, 1.7f, 0.0f};
/* Tokens 3 and 4 tie. */
static const float logits_b[10] = {0.2f, -1.0f, 3.1f, 1.4f, 1.4f, 0.8f, -2.5f, 2.2f, 0.0f, -0.3f};

TEST(greedy)
{
	struct engine_sampler_params p = params_plain(0);
	p.repeat_penalty = 2;
	/* Tokens 1 and 3 tie for the highest logit. */
	const float logits[5] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f};
	float copy[5];
	memcpy(copy, logits, sizeof(copy));
	engine_sampler *s = engine_sampler_new(&p, 5);
	for (int i = 0; i < 10; i++)
		CHECK_INT(engine_sampler_sample(s, logits), ==, 1);
	CHECK(memcmp(copy, logits, sizeof(copy)) == 0);
	/* The penalty halves token 1, so its twin wins; then both, so 4 wins. */
	engine_sampler_accept(s, 1);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 3);
	engine_sampler_accept(s, 3);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 4);
	/* Negative logits are multiplied: -1 -> -2 makes token 1 lose to 2. */
	const float negative[5] = {-2.0f, -1.0f, -1.5f, -3.0f, -4.0f};
	engine_sampler_reset(s, false);
	engine_sampler_accept(s, 1);
	CHECK_INT(engine_sampler_sample(s, negative), ==, 2);
	engine_sampler_free(s);

	/* A negative temperature is greedy too, and ignores the other stages. */
	p = params_plain(-1);
	p.top_k = 1;
	p.top_p = 0;
	s = engine_sampler_new(&p, 8);
	for (int i = 0; i < 10; i++)
		CHECK_INT(engine_sampler_sample(s, logits_a), ==, 1);
	engine_sampler_free(s);
}

TEST(distributions)
{
	struct engine_sampler_params p = params_plain(1);
	check_distribution("temperature 1", logits_a, 8, &p, NULL, 0);
	p.temperature = 0.5f;
	check_distribution("temperature 0.5", logits_a, 8, &p, NULL, 0);
	p.temperature = 2;
	check_distribution("temperature 2", logits_a, 8, &p, NULL, 0);

	/* top_k 3 keeps 2, 7 and 3 but not its twin 4. */
	p = params_plain(1);
	p.top_k = 3;
	check_distribution("top_k 3", logits_b, 10, &p, NULL, 0);
	p.top_k = 4;
	check_distribution("top_k 4", logits_b, 10, &p, NULL, 0);

	/* The cuts use the softmax before temperature: at 2 or 3 they would keep more. */
	p = params_plain(1);
	p.top_p = 0.7f;
	check_distribution("top_p 0.7", logits_a, 8, &p, NULL, 0);
	p.temperature = 2;
	check_distribution("top_p 0.7, temperature 2", logits_a, 8, &p, NULL, 0);
	p = params_plain(1);
	p.min_p = 0.2f;
	check_distribution("min_p 0.2", logits_a, 8, &p, NULL, 0);
	p.temperature = 3;
	check_distribution("min_p 0.2, temperature 3", logits_a, 8, &p, NULL, 0);

	/* Token 1 twice (penalised once), a negative logit, and one outside the window. */
	const engine_token history[] = {4, 1, 2, 1, 6};
	p = params_plain(1);
	p.repeat_penalty = 1.5f;
	check_distribution("repeat_penalty 1.5", logits_a, 8, &p, history, 5);
	p.repeat_last_n = 4;
	check_distribution("repeat_penalty 1.5, last 4", logits_a, 8, &p, history, 5);

	/* Everything at once: the penalty moves token 2 below 7 before top-k. */
	const engine_token history_b[] = {2, 3, 9};
	p = params_plain(1.5f);
	p.repeat_penalty = 1.5f;
	p.top_k = 6;
	p.top_p = 0.9f;
	p.min_p = 0.1f;
	p.seed = 7;
	check_distribution("combination", logits_b, 10, &p, history_b, 3);
}

TEST(seeds_and_reset)
{
	enum { n = 50, len = 1000 };
	float logits[n];
	for (int i = 0; i < n; i++)
		logits[i] = (float)(i % 7) * 0.3f;
	struct engine_sampler_params p = params_plain(1);
	engine_sampler *a = engine_sampler_new(&p, n), *b = engine_sampler_new(&p, n);
	p.seed = 43;
	engine_sampler *other = engine_sampler_new(&p, n);
	engine_token first[len], second[len];
	int differences = 0;
	for (int i = 0; i < len; i++) {
		first[i] = engine_sampler_sample(a, logits);
		CHECK_INT(engine_sampler_sample(b, logits), ==, first[i]);
		differences += engine_sampler_sample(other, logits) != first[i];
	}
	CHECK_INT(differences, >, len / 2);

	/* reset(true) restarts the sequence. */
	engine_sampler_reset(a, true);
	for (int i = 0; i < len; i++)
		CHECK_INT(engine_sampler_sample(a, logits), ==, first[i]);

	/* reset(false) continues it: a matches b, which never reset. */
	engine_sampler_reset(a, false);
	differences = 0;
	for (int i = 0; i < len; i++) {
		second[i] = engine_sampler_sample(a, logits);
		CHECK_INT(engine_sampler_sample(b, logits), ==, second[i]);
		differences += second[i] != first[i];
	}
	CHECK_INT(differences, >, len / 2);
	engine_sampler_free(a);
	engine_sampler_free(b);
	engine_sampler_free(other);

	/* Both resets clear the penalty history. */
	p = params_plain(0);
	p.repeat_penalty = 100;
	const float greedy[3] = {1.0f, 3.0f, 2.0f};
	engine_sampler *s = engine_sampler_new(&p, 3);
	for (int reseed = 0; reseed < 2; reseed++) {
		engine_sampler_accept(s, 1);
		CHECK_INT(engine_sampler_sample(s, greedy), ==, 2);
		engine_sampler_reset(s, reseed);
		CHECK_INT(engine_sampler_sample(s, greedy), ==, 1);
	}
	engine_sampler_free(s);
}

TEST(penalty_window)
{
	enum { n = 20, window = 5 };
	float logits[n];
	for (int i = 0; i < n; i++)
		logits[i] = (float)(n - i); /* token 0 is best */
	struct engine_sampler_params p = params_plain(0);
	p.repeat_penalty = 100;
	p.repeat_last_n = window;
	engine_sampler *s = engine_sampler_new(&p, n);
	/* Only the last five count: token 0 returns once five others follow it. */
	engine_sampler_accept(s, 0);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 1);
	for (engine_token t = 1; t <= 4; t++) {
		engine_sampler_accept(s, t);
		CHECK_INT(engine_sampler_sample(s, logits), ==, t + 1);
	}
	engine_sampler_accept(s, 5);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 0);

	/* Random tokens, wrapping the ring many times, against a plain window. */
	engine_sampler_reset(s, false);
	engine_token accepted[600];
	uint64_t state = 1;
	for (int step = 0; step < 600; step++) {
		accepted[step] = (engine_token)(test_rand(&state) % 8);
		engine_sampler_accept(s, accepted[step]);
		bool recent[n] = {false};
		for (int h = step; h >= 0 && h > step - window; h--)
			recent[accepted[h]] = true;
		engine_token expected = 0;
		while (recent[expected])
			expected++;
		CHECK_INT(engine_sampler_sample(s, logits), ==, expected);
	}
	engine_sampler_free(s);

	/* Repeats in the window penalise once: 10 / 2 still beats 4. */
	p.repeat_penalty = 2;
	p.repeat_last_n = 3;
	const float three[3] = {10.0f, 4.0f, 3.0f};
	s = engine_sampler_new(&p, 3);
	for (int i = 0; i < 3; i++)
		engine_sampler_accept(s, 0);
	CHECK_INT(engine_sampler_sample(s, three), ==, 0);
	engine_sampler_free(s);
}

/* Counts the draws of each token over 2000 samples. */
static void count_draws(const struct engine_sampler_params *p, const float *logits, int n, long *count)
{
	engine_sampler *s = engine_sampler_new(p, (uint32_t)n);
	memset(count, 0, (size_t)n * sizeof(*count));
	for (int i = 0; i < 2000; i++) {
		engine_token t = engine_sampler_sample(s, logits);
		CHECK(t >= 0 && t < n);
		count[t]++;
	}
	engine_sampler_free(s);
}

TEST(nan_and_inf)
{
	const float inf = INFINITY;
	long count[5];
	struct engine_sampler_params p = params_plain(0);
	const float mixed[5] = {NAN, -inf, 1.0f, NAN, 0.5f};
	count_draws(&p, mixed, 5, count);
	CHECK_INT(count[2], ==, 2000);
	p = params_plain(1);
	count_draws(&p, mixed, 5, count);
	CHECK(count[0] == 0 && count[1] == 0 && count[3] == 0 && count[2] > 0 && count[4] > 0);

	/* Nothing possible: token 0, greedy or not. */
	const float none[5] = {-inf, NAN, -inf, NAN, -inf};
	for (int greedy = 0; greedy < 2; greedy++) {
		p = params_plain(greedy ? 0 : 1);
		count_draws(&p, none, 5, count);
		CHECK_INT(count[0], ==, 2000);
	}

	/* +inf takes all the probability, shared between its tokens. */
	const float infinite[5] = {0.0f, inf, 5.0f, inf, NAN};
	p = params_plain(1);
	p.min_p = 0.1f;
	count_draws(&p, infinite, 5, count);
	CHECK(count[1] + count[3] == 2000 && count[1] > 800 && count[3] > 800);
}

TEST(degenerate_params)
{
	long count[5];
	const float logits[5] = {2.0f, 1.0f, 2.0f, 0.0f, 1.5f};
	struct engine_sampler_params p = params_plain(1);
	p.top_k = 100;
	count_draws(&p, logits, 5, count);
	for (int i = 0; i < 5; i++)
		CHECK_INT(count[i], >, 0);

	/* top_p <= 0 and top_k 1 keep one token: the first highest. */
	p = params_plain(1);
	p.top_p = 0;
	count_draws(&p, logits, 5, count);
	CHECK_INT(count[0], ==, 2000);
	p.top_p = -1;
	count_draws(&p, logits, 5, count);
	CHECK_INT(count[0], ==, 2000);
	p = params_plain(1);
	p.top_k = 1;
	count_draws(&p, logits, 5, count);
	CHECK_INT(count[0], ==, 2000);

	/* min_p >= 1 keeps the tokens of highest probability. */
	for (float min_p = 1; min_p <= 5; min_p += 4) {
		p = params_plain(1);
		p.min_p = min_p;
		count_draws(&p, logits, 5, count);
		CHECK(count[0] + count[2] == 2000 && count[0] > 800 && count[2] > 800);
	}

	/* Extreme temperatures: uniform, and the first highest. */
	p = params_plain(1e30f);
	count_draws(&p, logits, 5, count);
	for (int i = 0; i < 5; i++)
		CHECK_INT(count[i], >, 300);
	p = params_plain(1e-30f);
	count_draws(&p, logits, 5, count);
	CHECK(count[0] + count[2] == 2000);

	/* One token; no window; tokens outside the vocabulary accepted. */
	p = params_plain(1);
	p.repeat_penalty = 3;
	p.repeat_last_n = 0;
	engine_sampler *s = engine_sampler_new(&p, 1);
	engine_sampler_accept(s, 0);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 0);
	engine_sampler_free(s);
	p.repeat_last_n = 4;
	p.temperature = 0;
	s = engine_sampler_new(&p, 5);
	engine_sampler_accept(s, -1);
	engine_sampler_accept(s, 5);
	engine_sampler_accept(s, 1 << 30);
	CHECK_INT(engine_sampler_sample(s, logits), ==, 0);
	engine_sampler_free(s);
	engine_sampler_free(NULL);
}

/* The first k tokens in (logit descending, id ascending) order, into top. */
static void top_tokens(const float *logits, long n, int k, engine_token *top)
{
	int len = 0;
	for (long i = 0; i < n; i++) {
		if (len == k && logits[i] <= logits[top[k - 1]])
			continue;
		int at = len < k ? len++ : k - 1;
		while (at > 0 && logits[i] > logits[top[at - 1]]) {
			top[at] = top[at - 1];
			at--;
		}
		top[at] = (engine_token)i;
	}
}

/* Where t is among top's k tokens; k when it is not. */
static int position(const engine_token *top, int k, engine_token t)
{
	int at = 0;
	while (at < k && top[at] != t)
		at++;
	return at;
}

TEST(large_vocab_top_k)
{
	enum { n = 151936, k = 40 };
	float *logits = xmalloc(n * sizeof(*logits)), *copy = xmalloc(n * sizeof(*copy));
	struct engine_sampler_params p = params_plain(1);
	p.top_k = k;
	struct engine_sampler_params defaults;
	engine_sampler_defaults(&defaults);
	engine_sampler *plain = engine_sampler_new(&p, n), *usual = engine_sampler_new(&defaults, n);
	uint64_t state = 9;
	long seen[k] = {0};
	engine_token top[k];
	for (int round = 0; round < 20; round++) {
		for (long i = 0; i < n; i++)
			logits[i] = (float)(test_rand(&state) >> 40) * 0x1.0p-24f * 10.0f;
		memcpy(copy, logits, n * sizeof(*logits));
		top_tokens(logits, n, k, top);
		for (int d = 0; d < 50; d++) {
			int at = position(top, k, engine_sampler_sample(plain, logits));
			CHECK_INT(at, <, k);
			seen[at]++;
			CHECK_INT(position(top, k, engine_sampler_sample(usual, logits)), <, k);
		}
		CHECK(memcmp(copy, logits, n * sizeof(*logits)) == 0);
	}
	/* The 40 are nearly equal, so each is drawn now and then. */
	for (int r = 0; r < k; r++)
		CHECK_INT(seen[r], >, 0);
	engine_sampler_free(plain);
	engine_sampler_free(usual);
	free(logits);
	free(copy);
}

/* How many tokens come before token t in (logit descending, id ascending). */
static long rank_of(const float *logits, long n, engine_token t)
{
	long rank = 0;
	for (long i = 0; i < n; i++)
		rank += logits[i] > logits[t] || (logits[i] == logits[t] && i < t);
	return rank;
}

TEST(large_nucleus_top_p)
{
	/* Token of rank r has logit -r/200, so top_p 0.9 keeps the first 461
	 * (1 - e^{-m/200} >= 0.9), several times the sampler's first sort. */
	enum { n = 4096 };
	float logits[n];
	int perm[n];
	for (int i = 0; i < n; i++)
		perm[i] = i;
	uint64_t state = 5;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(test_rand(&state) % (uint64_t)(i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int r = 0; r < n; r++)
		logits[perm[r]] = -(float)r / 200;
	double z = 0, cum = 0;
	for (int r = 0; r < n; r++)
		z += exp(-(double)r / 200);
	int nucleus = 0;
	while (cum < 0.9)
		cum += exp(-(double)nucleus++ / 200) / z;
	CHECK_INT(nucleus, ==, 461);

	struct engine_sampler_params p = params_plain(1);
	p.top_p = 0.9f;
	engine_sampler *s = engine_sampler_new(&p, n);
	long highest = 0;
	for (int d = 0; d < 5000; d++) {
		long rank = rank_of(logits, n, engine_sampler_sample(s, logits));
		CHECK_INT(rank, <, nucleus);
		if (rank > highest)
			highest = rank;
	}
	CHECK_INT(highest, >, 400);
	engine_sampler_free(s);
}
