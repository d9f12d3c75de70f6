/* The KV cache's bookkeeping: admission and its errors, a system prompt
 * shared while one sequence computes it, a later turn's mid-block hit,
 * cancelled computers, LRU eviction, and randomized runs checked against a
 * model of what every block holds, with every invariant checked after
 * each operation. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/kvcache.h"
#include "tests/harness/harness.h"

#define BLOCK KVCACHE_BLOCK
#define MAX_LIVE 128

/* A random number generator of the test's own. */
static uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rand_below(uint64_t *state, uint32_t n)
{
	return (uint32_t)(test_rand(state) % n);
}

static void check_kc_at(const struct kvcache *kc, const char *file, int line)
{
	char err[256];
	if (kvcache_check(kc, err, sizeof(err)) != 0)
		th_fail(file, line, "kvcache_check: %s", err);
}

#define CHECK_KC(kc) check_kc_at((kc), __FILE__, __LINE__)

static struct kvcache_stats stats_of(const struct kvcache *kc)
{
	struct kvcache_stats st;
	kvcache_stats(kc, &st);
	return st;
}

/* Keys and values depend on every token before them: a position's content
 * is modelled as the hash of the token prefix that ends there (never 0). */
static uint64_t hash_next(uint64_t prev, engine_token t)
{
	uint64_t z = prev * 0x100000001b3ull + (uint64_t)(uint32_t)t + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull;
	return (z ^ (z >> 32)) | 1;
}

/* A sequence as the test's scheduler sees it. */
struct mseq {
	struct kvcache_seq *s;    /* the cache's sequence */
	engine_token *tokens;     /* prompt, then generated tokens (max_positions allocated) */
	uint64_t *hash;           /* hash[p]: of tokens[0..p] */
	uint32_t n_tokens;        /* tokens known so far */
	uint32_t n_prompt;        /* prompt tokens */
	uint32_t max_positions;   /* as admitted */
	uint32_t cached;          /* what admission shared */
	struct kvcache_copy copy; /* what admission asked to copy */
};

/* The cache with a model of the backend: what each block's positions hold
 * (0: nothing written yet), updated by the copies and computations the
 * cache asks for. */
struct model {
	struct kvcache *kc;          /* the cache under test */
	uint32_t n_blocks;           /* pool size */
	uint64_t (*held)[BLOCK];     /* per block and position: the prefix hash it holds */
	struct mseq *live[MAX_LIVE]; /* admitted sequences */
	uint32_t n_live;             /* entries of live */
	engine_token *last_tokens;   /* the last released sequence's valid tokens */
	uint32_t n_last;             /* their count */
};

static struct model *model_new(uint32_t n_blocks, bool prefix_cache)
{
	struct model *m = xcalloc(1, sizeof(*m));
	m->kc = kvcache_new(n_blocks, prefix_cache);
	m->n_blocks = n_blocks;
	m->held = xcalloc(n_blocks, sizeof(*m->held));
	return m;
}

static void mseq_free(struct mseq *q)
{
	free(q->tokens);
	free(q->hash);
	free(q);
}

static void model_free(struct model *m)
{
	for (uint32_t i = 0; i < m->n_live; i++)
		mseq_free(m->live[i]);
	kvcache_free(m->kc); /* frees the sequences still admitted */
	free(m->held);
	free(m->last_tokens);
	free(m);
}

static uint32_t valid_of(struct model *m, struct mseq *q)
{
	return kvcache_seq_valid(m->kc, q->s);
}

/* Every position the cache calls valid holds this sequence's prefix. */
static void verify_valid_at(struct model *m, struct mseq *q, const char *file, int line)
{
	uint32_t v = valid_of(m, q);
	const uint32_t *blocks = kvcache_seq_blocks(q->s);
	if (v > q->n_tokens)
		th_fail(file, line, "valid %u past the %u tokens known", v, q->n_tokens);
	for (uint32_t p = 0; p < v; p++) {
		uint32_t b = blocks[p / BLOCK];
		if (b >= m->n_blocks || m->held[b][p % BLOCK] != q->hash[p])
			th_fail(file, line, "position %u (block %u) does not hold the sequence's prefix (valid %u)", p,
				b, v);
	}
}

#define VERIFY_VALID(m, q) verify_valid_at((m), (q), __FILE__, __LINE__)

/* Admits prompt; on success applies the copy, checks what was shared and
 * adds the sequence to the live ones. */
static int model_admit(struct model *m, const engine_token *prompt, uint32_t n_prompt, uint32_t max_positions,
		       struct mseq **out)
{
	struct kvcache_seq *s = NULL;
	uint32_t cached = 12345;
	struct kvcache_copy copy = {7, 7, 7};
	int rc = kvcache_admit(m->kc, prompt, n_prompt, max_positions, &s, &cached, &copy);
	if (out)
		*out = NULL;
	if (rc != 0) {
		CHECK(s == NULL);
		return rc;
	}
	CHECK(s != NULL);
	CHECK_INT(m->n_live, <, MAX_LIVE);
	struct mseq *q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->tokens = xcalloc(max_positions, sizeof(*q->tokens));
	q->hash = xcalloc(max_positions, sizeof(*q->hash));
	memcpy(q->tokens, prompt, n_prompt * sizeof(*prompt));
	for (uint32_t p = 0; p < n_prompt; p++)
		q->hash[p] = hash_next(p ? q->hash[p - 1] : 0, prompt[p]);
	q->n_tokens = q->n_prompt = n_prompt;
	q->max_positions = max_positions;
	q->cached = cached;
	q->copy = copy;
	m->live[m->n_live++] = q;

	/* The last prompt position is always computed. */
	CHECK_INT(cached, <, n_prompt);
	const uint32_t *blocks = kvcache_seq_blocks(s);
	if (copy.n) {
		CHECK_INT(copy.n, <, BLOCK);
		CHECK_INT(cached % BLOCK, ==, copy.n);
		CHECK_INT(copy.dst, ==, blocks[cached / BLOCK]);
		CHECK_INT(copy.src, <, m->n_blocks);
		CHECK_INT(copy.src, !=, copy.dst);
		memcpy(m->held[copy.dst], m->held[copy.src], copy.n * sizeof(m->held[0][0]));
		CHECK_INT(valid_of(m, q), ==, cached);
	} else {
		CHECK_INT(cached % BLOCK, ==, 0);
	}
	CHECK_INT(valid_of(m, q), <=, cached);
	VERIFY_VALID(m, q);
	if (out)
		*out = q;
	return 0;
}

/* The backend computes positions [a, b) of q: nobody else may consider
 * them valid in the blocks they land in. */
static void model_write(struct model *m, struct mseq *q, uint32_t a, uint32_t b)
{
	const uint32_t *blocks = kvcache_seq_blocks(q->s);
	for (uint32_t p = a; p < b;) {
		uint32_t blk = blocks[p / BLOCK], off = p % BLOCK;
		for (uint32_t i = 0; i < m->n_live; i++) {
			struct mseq *t = m->live[i];
			if (t == q)
				continue;
			uint32_t tv = valid_of(m, t);
			const uint32_t *tb = kvcache_seq_blocks(t->s);
			for (uint32_t j = 0; j < KVCACHE_BLOCKS_FOR(tv); j++)
				if (tb[j] == blk && j * BLOCK + off < tv)
					th_fail(__FILE__, __LINE__,
						"writing block %u at %u, which another sequence reads", blk, off);
		}
		uint32_t stop = (p / BLOCK + 1) * BLOCK < b ? (p / BLOCK + 1) * BLOCK : b;
		for (; p < stop; p++)
			m->held[blk][p % BLOCK] = q->hash[p];
	}
}

/* One scheduler step for q: a prompt chunk of up to chunk positions, or
 * one generated token. Returns false when q may do nothing more (it is
 * waiting or full). */
static bool model_step(struct model *m, struct mseq *q, uint32_t chunk, uint64_t *rng)
{
	struct kvcache *kc = m->kc;
	uint32_t v = valid_of(m, q);
	VERIFY_VALID(m, q);
	uint32_t end;
	if (v < q->n_prompt) {
		end = v + chunk < q->n_prompt ? v + chunk : q->n_prompt;
	} else {
		if (v >= q->max_positions)
			return false;
		CHECK_INT(q->n_tokens, ==, v);
		engine_token t = (engine_token)rand_below(rng, 4);
		q->tokens[v] = t;
		q->hash[v] = hash_next(v ? q->hash[v - 1] : 0, t);
		q->n_tokens++;
		end = v + 1;
	}
	uint32_t c = kvcache_seq_claim(kc, q->s, end);
	CHECK_INT(c, <=, end);
	CHECK_INT(c, >=, v);
	if (c == v)
		return false;
	CHECK_INT(kvcache_seq_grow(kc, q->s, c), ==, 0);
	model_write(m, q, v, c);
	kvcache_seq_computed(kc, q->s, c);
	CHECK_INT(valid_of(m, q), ==, c);
	VERIFY_VALID(m, q);
	return true;
}

/* Steps q until it is waiting, full, or its valid reaches stop. */
static void model_run(struct model *m, struct mseq *q, uint32_t chunk, uint32_t stop)
{
	uint64_t rng = 1;
	while (valid_of(m, q) < stop && model_step(m, q, chunk, &rng))
		;
}

static void model_release(struct model *m, struct mseq *q, uint32_t n_valid)
{
	uint32_t i = 0;
	while (m->live[i] != q)
		i++;
	m->live[i] = m->live[--m->n_live];
	free(m->last_tokens);
	m->last_tokens = xcalloc(n_valid ? n_valid : 1, sizeof(*m->last_tokens));
	memcpy(m->last_tokens, q->tokens, n_valid * sizeof(*q->tokens));
	m->n_last = n_valid;
	kvcache_seq_release(m->kc, q->s, q->tokens, n_valid);
	mseq_free(q);
}

static void release_all(struct model *m)
{
	while (m->n_live) {
		struct mseq *q = m->live[m->n_live - 1];
		model_release(m, q, valid_of(m, q));
		CHECK_KC(m->kc);
	}
	struct kvcache_stats st = stats_of(m->kc);
	CHECK_INT(st.used, ==, 0);
	CHECK_INT(st.reserved, ==, 0);
	CHECK_INT(st.sequences, ==, 0);
	CHECK_INT(st.free + st.cached, ==, st.total);
}

static void fill_tokens(engine_token *t, uint32_t n, engine_token base)
{
	for (uint32_t i = 0; i < n; i++)
		t[i] = base + (engine_token)i;
}

TEST(no_cache_returns_everything)
{
	struct model *m = model_new(64, false);
	engine_token prompt[40];
	fill_tokens(prompt, 40, 100);
	struct mseq *a, *b;
	CHECK_INT(model_admit(m, prompt, 40, 60, &a), ==, 0);
	CHECK_INT(a->cached, ==, 0);
	CHECK_INT(a->copy.n, ==, 0);
	/* The prompt's blocks exist at once; the rest is reserved. */
	struct kvcache_stats st = stats_of(m->kc);
	CHECK_INT(st.used, ==, 3);
	CHECK_INT(st.reserved, ==, 1);
	CHECK_INT(st.free, ==, 61);
	CHECK_INT(st.cached, ==, 0);
	CHECK_INT(kvcache_seq_blocks(a->s)[0], ==, 0);
	CHECK_KC(m->kc);

	/* The same prompt again shares nothing without the prefix cache. */
	CHECK_INT(model_admit(m, prompt, 40, 40, &b), ==, 0);
	CHECK_INT(b->cached, ==, 0);
	CHECK_INT(b->copy.n, ==, 0);
	CHECK_INT(kvcache_seq_claim(m->kc, b->s, 40), ==, 40);

	model_run(m, a, 7, 60);
	CHECK_INT(valid_of(m, a), ==, 60);
	CHECK_INT(stats_of(m->kc).reserved, ==, 0);
	CHECK_INT(kvcache_seq_grow(m->kc, a->s, 61), ==, -ENOSPC);
	CHECK_INT(kvcache_seq_claim(m->kc, a->s, 70), ==, 60);
	model_run(m, b, 40, 40);
	CHECK_KC(m->kc);
	release_all(m);
	st = stats_of(m->kc);
	CHECK_INT(st.free, ==, 64);
	CHECK_INT(st.nodes, ==, 0);
	CHECK_INT(st.cached, ==, 0);
	CHECK_KC(m->kc);
	model_free(m);
}

TEST(admit_errors)
{
	struct model *m = model_new(8, true);
	struct kvcache *kc = m->kc;
	engine_token pa[20], pb[20], pc[5];
	fill_tokens(pa, 20, 1000);
	fill_tokens(pb, 20, 2000);
	fill_tokens(pc, 5, 3000);
	CHECK_INT(model_admit(m, pa, 0, 10, NULL), ==, -EINVAL);
	CHECK_INT(model_admit(m, pa, 20, 19, NULL), ==, -EINVAL);
	CHECK_INT(model_admit(m, pa, 20, 8 * BLOCK + 1, NULL), ==, -E2BIG);
	CHECK_INT(model_admit(m, pa, 20, UINT32_MAX, NULL), ==, -E2BIG);
	CHECK_KC(kc);

	/* A sequence the size of the pool fits. */
	struct mseq *a, *b, *c;
	CHECK_INT(model_admit(m, pa, 20, 8 * BLOCK, &a), ==, 0);
	model_release(m, a, 0);
	CHECK_INT(stats_of(kc).free, ==, 8);
	CHECK_INT(stats_of(kc).nodes, ==, 0);

	CHECK_INT(model_admit(m, pa, 20, 64, &a), ==, 0);
	CHECK_INT(model_admit(m, pb, 20, 64, &b), ==, 0);
	struct kvcache_stats before = stats_of(kc);
	CHECK_INT(before.used, ==, 4);
	CHECK_INT(before.reserved, ==, 4);
	CHECK_INT(model_admit(m, pc, 5, 5, &c), ==, -EAGAIN);
	struct kvcache_stats after = stats_of(kc);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	CHECK_KC(kc);
	/* Too big is told before "not now". */
	CHECK_INT(model_admit(m, pc, 5, 9 * BLOCK, NULL), ==, -E2BIG);
	/* Growing within the reservation never fails, past it is refused. */
	CHECK_INT(kvcache_seq_grow(kc, a->s, 64), ==, 0);
	CHECK_INT(kvcache_seq_grow(kc, a->s, 65), ==, -ENOSPC);
	CHECK_INT(stats_of(kc).reserved, ==, 2);

	/* a computed nothing: its node leaves the tree and its blocks return. */
	model_release(m, a, 0);
	CHECK_KC(kc);
	CHECK_INT(stats_of(kc).free, ==, 6);
	CHECK_INT(model_admit(m, pc, 5, 5, &c), ==, 0);
	CHECK_INT(model_admit(m, pc, 5, 5 * BLOCK, NULL), ==, -EAGAIN);
	release_all(m);
	CHECK_INT(stats_of(kc).free, ==, 8);
	model_free(m);
}

/* 100 requests with one 100-token system prompt: the first computes the
 * prefix, the others share it and wait for it. */
TEST(shared_system_prompt)
{
	enum { N = 100, PREFIX = 100, TAIL = 20, LEN = PREFIX + TAIL, MAX = LEN + 20 };
	struct model *m = model_new(320, true);
	struct kvcache *kc = m->kc;
	static engine_token prompts[N + 1][LEN];
	struct mseq *q[N + 1];
	for (int i = 0; i <= N; i++) {
		fill_tokens(prompts[i], PREFIX, 1000);
		fill_tokens(prompts[i] + PREFIX, TAIL, 5000 + 100 * i);
	}
	CHECK_INT(model_admit(m, prompts[0], LEN, MAX, &q[0]), ==, 0);
	CHECK_INT(q[0]->cached, ==, 0);
	for (int i = 1; i < N; i++) {
		CHECK_INT(model_admit(m, prompts[i], LEN, MAX, &q[i]), ==, 0);
		/* Whole blocks only: the mid-block part is in a node nobody
		 * computed yet. */
		CHECK_INT(q[i]->cached, ==, PREFIX / BLOCK * BLOCK);
		CHECK_INT(q[i]->copy.n, ==, 0);
		CHECK(memcmp(kvcache_seq_blocks(q[i]->s), kvcache_seq_blocks(q[0]->s),
			     PREFIX / BLOCK * sizeof(uint32_t)) == 0);
		CHECK_INT(valid_of(m, q[i]), ==, 0);
		CHECK_INT(kvcache_seq_claim(kc, q[i]->s, LEN), ==, 0);
	}
	CHECK_KC(kc);
	struct kvcache_stats st = stats_of(kc);
	/* Sequence 0 made nodes of its 7 whole prompt blocks, each other one a
	 * node of its 7th block and a private 8th. */
	CHECK_INT(st.nodes, ==, 7 + (N - 1));
	CHECK_INT(st.used, ==, 8 + 2 * (N - 1));
	CHECK_INT(st.reserved, ==, N);
	/* Reporting what claim did not allow is not counted. */
	kvcache_seq_computed(kc, q[1]->s, LEN);
	CHECK_INT(valid_of(m, q[1]), ==, 0);

	/* A first chunk makes three nodes ready. */
	CHECK_INT(kvcache_seq_claim(kc, q[0]->s, 50), ==, 50);
	CHECK_INT(kvcache_seq_grow(kc, q[0]->s, 50), ==, 0);
	model_write(m, q[0], 0, 50);
	kvcache_seq_computed(kc, q[0]->s, 50);
	CHECK_INT(valid_of(m, q[0]), ==, 50);
	for (int i = 1; i < N; i++) {
		CHECK_INT(valid_of(m, q[i]), ==, 48);
		CHECK_INT(kvcache_seq_claim(kc, q[i]->s, LEN), ==, 48);
		VERIFY_VALID(m, q[i]);
	}
	model_run(m, q[0], LEN, LEN);
	CHECK_INT(valid_of(m, q[0]), ==, LEN);
	for (int i = 1; i < N; i++) {
		CHECK_INT(valid_of(m, q[i]), ==, PREFIX / BLOCK * BLOCK);
		CHECK_INT(kvcache_seq_claim(kc, q[i]->s, LEN), ==, LEN);
		model_run(m, q[i], 13, LEN + 3);
		CHECK_INT(valid_of(m, q[i]), ==, LEN + 3);
	}
	CHECK_KC(kc);

	/* A late arrival whose tail starts like sequence 1's copies the
	 * prefix's last 4 tokens and those 3 from sequence 1's block. */
	memcpy(prompts[N] + PREFIX, prompts[1] + PREFIX, 3 * sizeof(engine_token));
	CHECK_INT(model_admit(m, prompts[N], LEN, MAX, &q[N]), ==, 0);
	CHECK_INT(q[N]->cached, ==, PREFIX + 3);
	CHECK_INT(q[N]->copy.n, ==, PREFIX % BLOCK + 3);
	CHECK_INT(q[N]->copy.src, ==, kvcache_seq_blocks(q[1]->s)[PREFIX / BLOCK]);
	model_run(m, q[N], LEN, LEN);
	CHECK_KC(kc);

	/* The first sequence leaves; the others keep the prefix. */
	model_release(m, q[0], valid_of(m, q[0]));
	CHECK_KC(kc);
	st = stats_of(kc);
	CHECK_INT(st.cached, ==, 2); /* its own 7th block node and the private 8th block, now a node */
	release_all(m);
	CHECK_KC(kc);
	model_free(m);
}

/* A conversation's next turn: the previous prompt and reply are cached,
 * the reply's last partial block as a leaf the new prompt copies from. */
TEST(next_turn_copies_partial_leaf)
{
	struct model *m = model_new(64, true);
	struct kvcache *kc = m->kc;
	engine_token p1[40];
	fill_tokens(p1, 40, 100);
	struct mseq *s1, *s2;
	CHECK_INT(model_admit(m, p1, 40, 80, &s1), ==, 0);
	model_run(m, s1, 40, 61);
	CHECK_INT(valid_of(m, s1), ==, 61);
	uint32_t s1_blocks[4];
	memcpy(s1_blocks, kvcache_seq_blocks(s1->s), sizeof(s1_blocks));
	CHECK_INT(stats_of(kc).nodes, ==, 2);
	model_release(m, s1, 61);
	CHECK_KC(kc);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 4); /* two prompt blocks, one whole reply block, 13 tokens of a leaf */
	CHECK_INT(st.cached, ==, 4);
	CHECK_INT(st.used, ==, 0);

	engine_token p2[71];
	memcpy(p2, m->last_tokens, 61 * sizeof(engine_token));
	fill_tokens(p2 + 61, 10, 7000);
	CHECK_INT(model_admit(m, p2, 71, 100, &s2), ==, 0);
	CHECK_INT(s2->cached, ==, 61);
	CHECK_INT(s2->copy.n, ==, 13);
	CHECK_INT(s2->copy.src, ==, s1_blocks[3]);
	CHECK_INT(s2->copy.dst, ==, kvcache_seq_blocks(s2->s)[3]);
	CHECK(memcmp(kvcache_seq_blocks(s2->s), s1_blocks, 3 * sizeof(uint32_t)) == 0);
	CHECK_INT(valid_of(m, s2), ==, 61);
	/* Its block 3 is whole prompt: a node it computes. */
	CHECK_INT(stats_of(kc).nodes, ==, 5);
	CHECK_INT(kvcache_seq_claim(kc, s2->s, 71), ==, 71);
	model_run(m, s2, 100, 71);
	/* Now ready, that node covers the 13-token leaf, which goes. */
	CHECK_INT(stats_of(kc).nodes, ==, 4);
	CHECK_KC(kc);
	model_run(m, s2, 1, 90);
	model_release(m, s2, 90);
	CHECK_KC(kc);
	st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 6); /* 4 whole blocks of s2's prompt, block 4 whole, 10 tokens of block 5 */
	CHECK_INT(st.cached + st.free, ==, 64);

	/* The third turn finds all 90. */
	engine_token p3[95];
	memcpy(p3, m->last_tokens, 90 * sizeof(engine_token));
	fill_tokens(p3 + 90, 5, 9000);
	struct mseq *s3;
	CHECK_INT(model_admit(m, p3, 95, 95, &s3), ==, 0);
	CHECK_INT(s3->cached, ==, 90);
	CHECK_INT(s3->copy.n, ==, 10);
	model_run(m, s3, 100, 95);
	release_all(m);
	CHECK_KC(kc);
	model_free(m);
}

TEST(partial_leaf_extended_two_ways)
{
	struct model *m = model_new(64, true);
	struct kvcache *kc = m->kc;
	engine_token p1[40];
	fill_tokens(p1, 40, 100);
	struct mseq *s1, *s2, *s3, *s4;
	CHECK_INT(model_admit(m, p1, 40, 80, &s1), ==, 0);
	model_run(m, s1, 40, 61);
	uint32_t leaf_block = kvcache_seq_blocks(s1->s)[3];
	model_release(m, s1, 61);
	engine_token t[61], pa[71], pb[71], pc[71];
	memcpy(t, m->last_tokens, sizeof(t));
	memcpy(pa, t, sizeof(t));
	memcpy(pb, t, sizeof(t));
	memcpy(pc, t, sizeof(t));
	fill_tokens(pa + 61, 10, 7000);
	fill_tokens(pb + 61, 10, 8000);
	fill_tokens(pc + 61, 10, 9000);

	/* Both copy the same 13 positions into blocks of their own. */
	CHECK_INT(model_admit(m, pa, 71, 71, &s2), ==, 0);
	CHECK_INT(model_admit(m, pb, 71, 71, &s3), ==, 0);
	CHECK_INT(s2->copy.src, ==, leaf_block);
	CHECK_INT(s3->copy.src, ==, leaf_block);
	CHECK_INT(s2->copy.n, ==, 13);
	CHECK_INT(s3->copy.n, ==, 13);
	CHECK_INT(s2->copy.dst, !=, s3->copy.dst);
	CHECK_INT(s2->cached, ==, 61);
	CHECK_INT(s3->cached, ==, 61);
	CHECK_KC(kc);
	model_run(m, s2, 5, 71);
	model_run(m, s3, 5, 71);
	CHECK_KC(kc);

	/* The leaf went when the first node covering it became ready; a third
	 * extension copies from one of the two ready nodes. */
	CHECK_INT(model_admit(m, pc, 71, 71, &s4), ==, 0);
	CHECK_INT(s4->cached, ==, 61);
	CHECK_INT(s4->copy.n, ==, 13);
	CHECK(s4->copy.src == kvcache_seq_blocks(s2->s)[3] || s4->copy.src == kvcache_seq_blocks(s3->s)[3]);
	model_run(m, s4, 71, 71);
	release_all(m);
	CHECK_KC(kc);
	model_free(m);
}

/* The sequence computing a shared prefix is cancelled: a sharer takes the
 * nodes over. */
TEST(cancelled_computer_sharer_takes_over)
{
	struct model *m = model_new(64, true);
	struct kvcache *kc = m->kc;
	engine_token p[70];
	fill_tokens(p, 70, 100);
	struct mseq *s1, *s2, *s3;
	CHECK_INT(model_admit(m, p, 70, 80, &s1), ==, 0);
	CHECK_INT(model_admit(m, p, 70, 80, &s2), ==, 0);
	CHECK_INT(s2->cached, ==, 64);
	CHECK_INT(stats_of(kc).nodes, ==, 4);
	CHECK_INT(kvcache_seq_claim(kc, s1->s, 20), ==, 20);
	CHECK_INT(kvcache_seq_grow(kc, s1->s, 20), ==, 0);
	model_write(m, s1, 0, 20);
	kvcache_seq_computed(kc, s1->s, 20);
	CHECK_INT(valid_of(m, s2), ==, 16);
	CHECK_INT(kvcache_seq_claim(kc, s2->s, 70), ==, 16);

	model_release(m, s1, 20);
	CHECK_KC(kc);
	CHECK_INT(stats_of(kc).nodes, ==, 4);
	CHECK_INT(valid_of(m, s2), ==, 16);
	CHECK_INT(kvcache_seq_claim(kc, s2->s, 40), ==, 40);
	/* Once claimed, the nodes are s2's: a newcomer waits for s2. */
	CHECK_INT(model_admit(m, p, 70, 80, &s3), ==, 0);
	CHECK_INT(s3->cached, ==, 64);
	CHECK_INT(kvcache_seq_claim(kc, s3->s, 70), ==, 16);
	model_run(m, s2, 30, 70);
	CHECK_INT(valid_of(m, s2), ==, 70);
	CHECK_INT(valid_of(m, s3), ==, 64);
	CHECK_INT(kvcache_seq_claim(kc, s3->s, 70), ==, 70);
	model_run(m, s3, 30, 70);
	CHECK_KC(kc);
	release_all(m);
	CHECK_KC(kc);
	model_free(m);
}

/* The computer is cancelled and nobody shares its nodes: they leave. */
TEST(cancelled_computer_alone_nodes_leave)
{
	struct model *m = model_new(64, true);
	struct kvcache *kc = m->kc;
	engine_token p[70];
	fill_tokens(p, 70, 100);
	struct mseq *s1;
	CHECK_INT(model_admit(m, p, 70, 80, &s1), ==, 0);
	model_release(m, s1, 0);
	CHECK_KC(kc);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 0);
	CHECK_INT(st.free, ==, 64);

	CHECK_INT(model_admit(m, p, 70, 80, &s1), ==, 0);
	model_run(m, s1, 40, 40);
	CHECK_INT(valid_of(m, s1), ==, 40);
	/* Claims a node it half computed, then gives it up. */
	model_release(m, s1, 40);
	CHECK_KC(kc);
	st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 2);
	CHECK_INT(st.cached, ==, 2);
	CHECK_INT(st.free, ==, 62);
	CHECK_INT(model_admit(m, p, 70, 80, &s1), ==, 0);
	CHECK_INT(s1->cached, ==, 32);
	CHECK_INT(valid_of(m, s1), ==, 32);
	model_run(m, s1, 70, 70);
	release_all(m);
	CHECK_KC(kc);
	model_free(m);
}

/* Releases keep only what was valid and only under the prompt's own
 * tokens. */
TEST(release_keeps_only_valid_prompt_tokens)
{
	struct model *m = model_new(64, true);
	struct kvcache *kc = m->kc;
	engine_token p[40];
	fill_tokens(p, 40, 100);
	struct mseq *s;
	CHECK_INT(model_admit(m, p, 40, 64, &s), ==, 0);
	model_run(m, s, 64, 50);
	/* A caller claiming more than valid gets valid. */
	kvcache_seq_release(kc, s->s, s->tokens, 1000);
	s->s = NULL;
	m->live[--m->n_live] = NULL;
	mseq_free(s);
	CHECK_KC(kc);
	CHECK_INT(stats_of(kc).nodes, ==, 4); /* 16 + 16 + 16 + a 2-token leaf */

	CHECK_INT(model_admit(m, p, 40, 64, &s), ==, 0);
	CHECK_INT(s->cached, ==, 39);
	model_run(m, s, 64, 60);
	/* Tokens that are not its prompt: nothing new is kept. */
	s->tokens[35]++;
	kvcache_seq_release(kc, s->s, s->tokens, 60);
	m->live[--m->n_live] = NULL;
	mseq_free(s);
	CHECK_KC(kc);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 4);
	CHECK_INT(st.cached, ==, 4);
	CHECK_INT(st.free, ==, 60);
	model_free(m);
}

/* A prompt that is exactly whole blocks, already cached whole: the last
 * block is copied but cannot be shared (its last position is computed
 * again) and is not added twice. */
TEST(prompt_of_whole_cached_blocks)
{
	struct model *m = model_new(16, true);
	struct kvcache *kc = m->kc;
	engine_token p[32];
	fill_tokens(p, 32, 100);
	struct mseq *s;
	CHECK_INT(model_admit(m, p, 32, 32, &s), ==, 0);
	uint32_t first[2];
	memcpy(first, kvcache_seq_blocks(s->s), sizeof(first));
	model_run(m, s, 32, 32);
	model_release(m, s, 32);
	CHECK_INT(stats_of(kc).nodes, ==, 2);
	CHECK_INT(model_admit(m, p, 32, 32, &s), ==, 0);
	CHECK_INT(s->cached, ==, 31);
	CHECK_INT(s->copy.n, ==, 15);
	CHECK_INT(s->copy.src, ==, first[1]);
	CHECK_INT(kvcache_seq_blocks(s->s)[0], ==, first[0]);
	CHECK_INT(stats_of(kc).nodes, ==, 2);
	CHECK_INT(kvcache_seq_claim(kc, s->s, 32), ==, 32);
	model_run(m, s, 32, 32);
	model_release(m, s, 32);
	CHECK_KC(kc);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.nodes, ==, 2);
	CHECK_INT(st.free, ==, 14);
	model_free(m);
}

/* Admits p (32 tokens), computes it and releases it: two cached nodes. */
static void cache_prompt(struct model *m, engine_token base)
{
	engine_token p[32];
	fill_tokens(p, 32, base);
	struct mseq *s;
	CHECK_INT(model_admit(m, p, 32, 32, &s), ==, 0);
	model_run(m, s, 32, 32);
	model_release(m, s, 32);
	CHECK_KC(m->kc);
}

/* What a probe with p (32 tokens from base) finds cached; the probe
 * computes nothing, so it leaves only its effect on the LRU order. */
static uint32_t cached_of(struct model *m, engine_token base)
{
	engine_token p[32];
	fill_tokens(p, 32, base);
	struct kvcache_seq *s;
	struct kvcache_copy copy;
	uint32_t cached;
	CHECK_INT(kvcache_admit(m->kc, p, 32, 32, &s, &cached, &copy), ==, 0);
	kvcache_seq_release(m->kc, s, p, 0);
	CHECK_KC(m->kc);
	return cached;
}

TEST(eviction_is_lru)
{
	struct model *m = model_new(8, true);
	struct kvcache *kc = m->kc;
	enum { A = 1000, B = 2000, C = 3000, D = 4000, E = 5000, F = 6000 };
	cache_prompt(m, A);
	cache_prompt(m, B);
	cache_prompt(m, C);
	cache_prompt(m, D);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.cached, ==, 8);
	CHECK_INT(st.free, ==, 0);
	CHECK_INT(st.evictions, ==, 0);

	/* A again: shares A's first block, copies 15 positions of its second
	 * (held while blocks are taken, so not evicted); the block for the
	 * copy comes from the coldest leaf, B's second. */
	engine_token pa[32];
	fill_tokens(pa, 32, A);
	struct mseq *s;
	CHECK_INT(model_admit(m, pa, 32, 32, &s), ==, 0);
	CHECK_INT(s->cached, ==, 31);
	CHECK_INT(stats_of(kc).evictions, ==, 1);
	model_run(m, s, 32, 32);
	model_release(m, s, 32);
	CHECK_KC(kc);
	/* B's first block became a leaf when its child went, colder than any:
	 * the order is B0 C1 D1 A1. E takes the free block and B0. */
	cache_prompt(m, E);
	CHECK_INT(stats_of(kc).evictions, ==, 2);
	/* F takes C1 and then C0, which became the coldest leaf. */
	cache_prompt(m, F);
	CHECK_INT(stats_of(kc).evictions, ==, 4);
	CHECK_KC(kc);
	/* D1 A1 E1 F1: a probe of D holds D1, so A1 goes, and A0 is next. */
	CHECK_INT(cached_of(m, D), ==, 31);
	CHECK_INT(stats_of(kc).evictions, ==, 5);
	CHECK_INT(cached_of(m, E), ==, 31);
	CHECK_INT(cached_of(m, F), ==, 31);
	/* Probing A uses A0 (A0 D1 E1 F1 becomes D1 E1 F1 A0); a new prompt
	 * then takes the free block and D1. */
	CHECK_INT(cached_of(m, A), ==, 16);
	CHECK_INT(stats_of(kc).evictions, ==, 5);
	CHECK_INT(cached_of(m, B), ==, 0);
	CHECK_INT(stats_of(kc).evictions, ==, 6);
	CHECK_INT(cached_of(m, C), ==, 0);
	CHECK_INT(cached_of(m, D), ==, 16);
	CHECK_INT(cached_of(m, A), ==, 16);
	CHECK_INT(stats_of(kc).evictions, ==, 6);
	CHECK_KC(kc);
	model_free(m);
}

/* The copy source is held while the prompt's blocks are taken; when they
 * need its block, admission goes without the copy rather than fail. */
TEST(copy_source_held_only_when_it_fits)
{
	struct model *m = model_new(2, true);
	cache_prompt(m, 1000);
	engine_token p[32];
	fill_tokens(p, 32, 1000);
	struct mseq *s;
	CHECK_INT(model_admit(m, p, 32, 32, &s), ==, 0);
	CHECK_INT(s->cached, ==, 16);
	CHECK_INT(s->copy.n, ==, 0);
	CHECK_INT(stats_of(m->kc).evictions, ==, 1);
	model_run(m, s, 32, 32);
	release_all(m);
	CHECK_KC(m->kc);
	model_free(m);

	m = model_new(3, true);
	cache_prompt(m, 1000);
	CHECK_INT(model_admit(m, p, 32, 32, &s), ==, 0);
	CHECK_INT(s->cached, ==, 31);
	CHECK_INT(s->copy.n, ==, 15);
	CHECK_INT(stats_of(m->kc).evictions, ==, 0);
	model_run(m, s, 32, 32);
	release_all(m);
	CHECK_KC(m->kc);
	model_free(m);
}

/* A released block that the tree holds already counts as a use of that
 * node: it moves to the LRU list's tail. */
TEST(released_twin_is_recently_used)
{
	struct model *m = model_new(6, true);
	struct kvcache *kc = m->kc;
	cache_prompt(m, 1000);
	cache_prompt(m, 2000);
	engine_token pa[32], px[48];
	fill_tokens(pa, 32, 1000);
	fill_tokens(px, 48, 9000);
	struct mseq *a, *x;
	CHECK_INT(model_admit(m, pa, 32, 32, &a), ==, 0);
	CHECK_INT(a->copy.n, ==, 15);
	/* C evicts B's second block; then A's release touches A's second. */
	cache_prompt(m, 3000);
	CHECK_INT(stats_of(kc).evictions, ==, 1);
	model_run(m, a, 32, 32);
	model_release(m, a, 32);
	/* X takes the free block, B's first and C's second: not A's. */
	CHECK_INT(model_admit(m, px, 48, 48, &x), ==, 0);
	CHECK_INT(stats_of(kc).evictions, ==, 3);
	model_release(m, x, 0);
	CHECK_KC(kc);
	CHECK_INT(cached_of(m, 1000), ==, 31);
	CHECK_INT(cached_of(m, 3000), ==, 16);
	CHECK_INT(cached_of(m, 2000), ==, 0);
	model_free(m);
}

/* Many releases through a small pool: blocks are evicted and reused, and
 * what is shared always holds the prompt's own prefix (the model checks
 * every valid position at every step). */
TEST(eviction_under_pressure_reuses_blocks_safely)
{
	struct model *m = model_new(24, true);
	uint64_t rng = 7;
	engine_token p[80];
	for (int round = 0; round < 400; round++) {
		/* Eight families of prompts that share their first 20 to 50
		 * tokens, with tails that sometimes agree for a while. */
		uint32_t family = rand_below(&rng, 8), n = 20 + rand_below(&rng, 60);
		uint32_t shared = 20 + family * 4;
		for (uint32_t i = 0; i < n; i++)
			p[i] = i < shared ? (engine_token)(family * 1000 + i) : (engine_token)rand_below(&rng, 3);
		struct mseq *s;
		int rc = model_admit(m, p, n, n + 8, &s);
		CHECK_INT(rc, ==, 0);
		CHECK_KC(m->kc);
		model_run(m, s, 1 + rand_below(&rng, 40), n + rand_below(&rng, 9));
		model_release(m, s, valid_of(m, s));
		CHECK_KC(m->kc);
	}
	struct kvcache_stats st = stats_of(m->kc);
	CHECK_INT(st.evictions, >, 100);
	CHECK_INT(st.free + st.cached, ==, 24);
	model_free(m);
}

/* Random prompts drawn from shared prefixes and earlier conversations;
 * random steps, releases and cancels, with every invariant checked after
 * each operation. */
static void stress(bool prefix_cache, int ops, uint64_t seed)
{
	enum { POOL = 96, MAXP = 200 };
	struct model *m = model_new(POOL, prefix_cache);
	struct kvcache *kc = m->kc;
	uint64_t rng = seed;
	static const uint32_t prefix_len[4] = {20, 37, 64, 100};
	uint32_t generation[4] = {0, 0, 0, 0};
	engine_token prompt[MAXP + 40];
	int admitted = 0, refused = 0, too_big = 0, hits = 0;
	for (int op = 0; op < ops; op++) {
		uint32_t r = rand_below(&rng, 100);
		if (r < 25 && m->n_live < 24) {
			uint32_t n;
			if (rand_below(&rng, 4) == 0 && m->n_last) {
				/* The next turn of a conversation. */
				n = m->n_last < MAXP ? m->n_last : MAXP;
				memcpy(prompt, m->last_tokens, n * sizeof(engine_token));
				for (uint32_t i = 0, more = 1 + rand_below(&rng, 20); i < more && n < MAXP; i++)
					prompt[n++] = (engine_token)(500 + rand_below(&rng, 50));
			} else {
				/* A family's prefix changes now and then, so that new
				 * prefixes are shared while their computer is at work. */
				uint32_t f = rand_below(&rng, 4);
				if (rand_below(&rng, 30) == 0)
					generation[f]++;
				n = prefix_len[f];
				for (uint32_t i = 0; i < n; i++)
					prompt[i] = (engine_token)(100000 * (f + 1) + 1000 * generation[f] + i);
				for (uint32_t i = 0, tail = rand_below(&rng, 41); i < tail; i++)
					prompt[n++] =
						(engine_token)(rand_below(&rng, 2) ? rand_below(&rng, 3)
										   : 100 + rand_below(&rng, 1000));
			}
			uint32_t max = n + rand_below(&rng, 33);
			if (rand_below(&rng, 200) == 0)
				max = POOL * BLOCK + 1;
			struct kvcache_stats before = stats_of(kc);
			struct mseq *q;
			int rc = model_admit(m, prompt, n, max, &q);
			if (rc == -EAGAIN) {
				struct kvcache_stats after = stats_of(kc);
				CHECK(memcmp(&before, &after, sizeof(before)) == 0);
				/* With nobody admitted everything is free or evictable. */
				CHECK_INT(m->n_live, >, 0);
				refused++;
			} else if (rc == -E2BIG) {
				CHECK_INT(max, >, POOL * BLOCK);
				too_big++;
			} else {
				CHECK_INT(rc, ==, 0);
				admitted++;
				hits += q->cached > 0;
			}
		} else if (r < 88 && m->n_live) {
			struct mseq *q = m->live[rand_below(&rng, m->n_live)];
			if (!model_step(m, q, 1 + rand_below(&rng, 48), &rng) && valid_of(m, q) >= q->max_positions)
				model_release(m, q, valid_of(m, q));
		} else if (m->n_live) {
			struct mseq *q = m->live[rand_below(&rng, m->n_live)];
			uint32_t v = valid_of(m, q);
			/* A finished request, or one cancelled part way. */
			model_release(m, q, rand_below(&rng, 2) ? v : rand_below(&rng, v + 1));
		}
		CHECK_KC(kc);
		if (op % 500 == 0)
			for (uint32_t i = 0; i < m->n_live; i++)
				VERIFY_VALID(m, m->live[i]);
	}
	CHECK_INT(admitted, >, ops / 10);
	CHECK_INT(refused, >, 0);
	CHECK_INT(too_big, >, 0);
	if (prefix_cache)
		CHECK_INT(hits, >, admitted / 4);
	else
		CHECK_INT(hits, ==, 0);
	release_all(m);
	CHECK_KC(kc);
	if (!prefix_cache)
		CHECK_INT(stats_of(kc).free, ==, POOL);

	/* The whole pool for one sequence: every cached block is evicted. */
	engine_token one = 1;
	struct mseq *q;
	CHECK_INT(model_admit(m, &one, 1, POOL * BLOCK, &q), ==, 0);
	CHECK_INT(kvcache_seq_grow(kc, q->s, POOL * BLOCK), ==, 0);
	struct kvcache_stats st = stats_of(kc);
	CHECK_INT(st.used, ==, POOL);
	CHECK_INT(st.free + st.cached + st.reserved, ==, 0);
	CHECK_KC(kc);
	/* And kvcache_free frees a sequence still admitted. */
	model_free(m);
}

TEST(stress_random)
{
	stress(true, 20000, 42);
}

TEST(stress_random_no_prefix_cache)
{
	stress(false, 5000, 43);
}
