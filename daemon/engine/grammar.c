/* Grammar-constrained sampling (grammar.h): a grammar compiled once against
 * a vocabulary (rules, atoms, a byte trie of the tokens), and per request a
 * state that accepts tokens and masks the logits of those that cannot come
 * next. The mask walks the trie with the parse state, pruning every
 * subtree whose prefix is already refused; where the state reads a run of
 * like characters alike (free text, say [^`]*), a chain of the states
 * after 1, 2, ... bytes of such characters (grammar_chain.h) lets whole
 * subtrees of tokens made only of them be accepted without a step per
 * byte. The state keeps its chain from mask to mask while the text follows
 * it. */
#include "daemon/engine/grammar.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/grammar_chain.h"
#include "daemon/engine/grammar_parse.h"
#include "daemon/engine/grammar_rules.h"
#include "daemon/engine/grammar_stacks.h"
#include "daemon/engine/grammar_trie.h"

/* When the mask keeps at most this many tokens, it sets every logit to
 * -inf and puts theirs back, rather than one by one those of the rest. */
#define GRAMMAR_FEW_KEPT 2048
/* Tokens left to spare before the mask forces the shortest way to finish. */
#define GRAMMAR_MARGIN 2
/* A subtree of at least this many tokens gets a chain of its own. */
#define GRAMMAR_CHAIN_MIN_TOKENS 256

struct engine_grammar {
	const engine_model *model;  /* borrowed */
	struct grammar_rules rules; /* the compiled rules */
	uint32_t n_vocab;           /* tokens (and logits) */
	char *pieces;               /* every token's bytes, back to back */
	uint32_t *piece_off;        /* token t's bytes are pieces[piece_off[t] .. piece_off[t + 1]) */
	struct grammar_trie trie;   /* the tokens with bytes, but for the end-of-turn ones */
	engine_token eot[3];        /* the end-of-turn tokens */
	uint32_t n_eot;             /* how many */
	engine_token *others;       /* the tokens not in the trie: no bytes, or an end of turn */
	uint32_t n_others;          /* how many */
};

/* A logit the mask keeps, while all the others are set to -inf. */
struct grammar_kept {
	engine_token id; /* the token */
	float logit;     /* its logit */
};

struct grammar_state {
	const engine_grammar *g;               /* borrowed */
	struct grammar_stacks *stacks;         /* owned: the state after the text so far */
	struct grammar_partial partial;        /* the text's unfinished last character */
	bool finished;                         /* an end-of-turn token was accepted */
	struct grammar_stacks_builder builder; /* scratch: advancing, and the mask's states */
	struct grammar_chain *chain;           /* owned: a chain anchored at stacks, or NULL */
	uint64_t *allowed;                     /* scratch: the mask's tokens, a bit each in trie order */
	struct grammar_kept *kept;             /* scratch: the logits of a few tokens the mask keeps */
};

/* Where the mask's walk is: the parse state at a trie node. */
struct grammar_pos {
	const struct grammar_stacks *s; /* the stacks */
	struct grammar_partial p;       /* with this character begun */
	uint32_t min;                   /* the fewest bytes that finish from here */
	struct grammar_chain *chain;    /* the chain in use (when on) */
	uint32_t cd;                    /* bytes since the chain's anchor */
	bool on;                        /* s is chain->q[cd] (p begun there) */
	bool fresh;                     /* s was just computed (no chain tried for it) */
	struct grammar_chain_step *via; /* off a chain: the step it remembers that led to s, or NULL */
};

struct grammar_walk {
	struct grammar_state *st; /* whose mask */
	const engine_grammar *g;  /* its grammar */
	bool forcing;             /* only the shortest ways to finish */
	uint32_t target;          /* forcing: the fewest bytes to finish at the start */
	uint32_t budget;          /* otherwise: the most bytes a token may leave to finish */
};

static bool grammar_is_eot(const engine_grammar *g, engine_token t)
{
	for (uint32_t i = 0; i < g->n_eot; i++)
		if (g->eot[i] == t)
			return true;
	return false;
}

/* The tokens' bytes, the end-of-turn ids, and the trie of the rest. */
static void grammar_vocab(engine_grammar *g, const engine_model *m)
{
	struct engine_vocab_info info;
	engine_model_vocab_info(m, &info);
	g->n_vocab = info.n_tokens;
	engine_token ends[3] = {info.eos, info.eot, engine_chat_end_token(m)};
	for (int i = 0; i < 3; i++)
		if (ends[i] >= 0 && (uint32_t)ends[i] < g->n_vocab && !grammar_is_eot(g, ends[i]))
			g->eot[g->n_eot++] = ends[i];
	struct buf b = BUF_INIT;
	g->piece_off = xmalloc(((size_t)g->n_vocab + 1) * sizeof(*g->piece_off));
	engine_token *ids = xmalloc(((size_t)g->n_vocab + 1) * sizeof(*ids));
	g->others = xmalloc(((size_t)g->n_vocab + 1) * sizeof(*g->others));
	uint32_t n = 0;
	for (uint32_t t = 0; t < g->n_vocab; t++) {
		g->piece_off[t] = (uint32_t)b.len;
		engine_token_piece(m, (engine_token)t, 0, &b);
		if (b.len > g->piece_off[t] && !grammar_is_eot(g, (engine_token)t))
			ids[n++] = (engine_token)t;
		else
			g->others[g->n_others++] = (engine_token)t;
	}
	g->piece_off[g->n_vocab] = (uint32_t)b.len;
	g->pieces = buf_steal(&b);
	grammar_trie_build(&g->trie, g->pieces, g->piece_off, ids, n, &g->rules);
	free(ids);
}

static int grammar_compile(const engine_model *m, const char *source, size_t len, const char *root, size_t max_len,
			   engine_grammar **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (len > max_len) {
		snprintf(err, errlen, "the grammar is %zu bytes, more than the %zu allowed", len, max_len);
		return -E2BIG;
	}
	const char *name = root ? root : "root";
	engine_grammar *g = xcalloc(1, sizeof(*g));
	g->model = m;
	struct grammar_parsed p;
	int rc = grammar_parse(source, len, &p, err, errlen);
	if (rc < 0)
		goto fail;
	int32_t start = grammar_parse_find(&p, name);
	if (start < 0) {
		grammar_parse_error(source, len, 0, err, errlen, "no rule named '%s'", name);
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = grammar_rules_compile(&g->rules, &p, (uint32_t)start, source, len, err, errlen)) < 0)
		goto fail;
	/* Expanding the root must stay within a state's limits. */
	struct grammar_stacks_builder b;
	grammar_stacks_init(&b, &g->rules);
	bool fits = grammar_stacks_start(&b) != NULL;
	grammar_stacks_close(&b);
	if (!fits) {
		grammar_parse_error(source, len, p.rules[start].offset, err, errlen,
				    "rule '%s' expands into more than %u stacks or a stack deeper than %u", name,
				    GRAMMAR_STACKS_MAX, GRAMMAR_STACKS_MAX_DEPTH);
		rc = -EINVAL;
		goto fail;
	}
	grammar_vocab(g, m);
	grammar_parse_free(&p);
	*out = g;
	return 0;
fail:
	grammar_parse_free(&p);
	engine_grammar_free(g);
	return rc;
}

int engine_grammar_new(const engine_model *m, const char *source, size_t len, const char *root, engine_grammar **out,
		       char *err, size_t errlen)
{
	return grammar_compile(m, source, len, root, GRAMMAR_MAX_SOURCE, out, err, errlen);
}

void engine_grammar_free(engine_grammar *g)
{
	if (!g)
		return;
	grammar_rules_free(&g->rules);
	grammar_trie_free(&g->trie);
	free(g->pieces);
	free(g->piece_off);
	free(g->others);
	free(g);
}

/* The agents' grammar counts bytes, not characters: tN is up to N bytes of
 * text, a character of L bytes leaving tN-L, so the bounds hold for any
 * text. The text's characters leave out the backtick, and the control
 * characters but tab, newline and carriage return. */
char *engine_grammar_agent_source(uint32_t think_max, uint32_t block_max)
{
	if (block_max == 0)
		block_max = 1;
	struct buf b = BUF_INIT;
	buf_printf(&b,
		   "# The agents' reply: up to %u bytes of text without a backtick (none, or\n"
		   "# ending with a newline), then one fenced bash block of 1 to %u bytes\n"
		   "# without a backtick, then the end of the turn. tN is up to N bytes of\n"
		   "# such text, cL one of its characters of L bytes.\n",
		   think_max, block_max);
	buf_append_str(&b, "root ::= think \"```bash\\n\" body \"\\n```\"\n");
	if (think_max == 0)
		buf_append_str(&b, "think ::= \"\"\n");
	else
		buf_printf(&b, "think ::= \"\" | t%u \"\\n\"\n", think_max - 1);
	buf_append_str(&b, "body ::=");
	for (uint32_t l = 1; l <= 4 && l <= block_max; l++)
		buf_printf(&b, "%s c%u t%u", l > 1 ? " |" : "", l, block_max - l);
	buf_append_str(&b, "\n"
			   "c1 ::= [\\t\\n\\r\\x20-\\x5F\\x61-\\x7E]\n"
			   "c2 ::= [\\u00A0-\\u07FF]\n"
			   "c3 ::= [\\u0800-\\uFFFF]\n"
			   "c4 ::= [^\\x00-\\uFFFF]\n");
	uint32_t most = block_max - 1;
	if (think_max > 0 && think_max - 1 > most)
		most = think_max - 1;
	for (uint32_t n = 0; n <= most; n++) {
		buf_printf(&b, "t%u ::= \"\"", n);
		for (uint32_t l = 1; l <= 4 && l <= n; l++)
			buf_printf(&b, " | c%u t%u", l, n - l);
		buf_append_char(&b, '\n');
	}
	return buf_steal(&b);
}

int engine_grammar_agent(const engine_model *m, uint32_t think_max, uint32_t block_max, engine_grammar **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	if (block_max == 0) {
		snprintf(err, errlen, "the bash block must be allowed at least 1 byte");
		return -EINVAL;
	}
	if (think_max > ENGINE_GRAMMAR_AGENT_MAX_BYTES || block_max > ENGINE_GRAMMAR_AGENT_MAX_BYTES) {
		snprintf(err, errlen, "the agents' grammar allows at most %u bytes of text and of block",
			 ENGINE_GRAMMAR_AGENT_MAX_BYTES);
		return -E2BIG;
	}
	char *source = engine_grammar_agent_source(think_max, block_max);
	int rc = grammar_compile(m, source, strlen(source), "root", SIZE_MAX, out, err, errlen);
	free(source);
	return rc;
}

struct grammar_state *grammar_state_new(const engine_grammar *g)
{
	struct grammar_state *st = xcalloc(1, sizeof(*st));
	st->g = g;
	grammar_stacks_init(&st->builder, &g->rules);
	const struct grammar_stacks *s = grammar_stacks_start(&st->builder);
	/* The compiler made sure the start fits; without it nothing would. */
	uint32_t none = 0;
	struct grammar_stacks empty = {0, GRAMMAR_INF, false, &none, &none};
	st->stacks = grammar_stacks_copy(s ? s : &empty);
	grammar_stacks_reset(&st->builder);
	return st;
}

struct grammar_state *grammar_state_clone(const struct grammar_state *st)
{
	struct grammar_state *c = xcalloc(1, sizeof(*c));
	c->g = st->g;
	grammar_stacks_init(&c->builder, &st->g->rules);
	c->stacks = grammar_stacks_copy(st->stacks);
	c->partial = st->partial;
	c->finished = st->finished;
	return c;
}

void grammar_state_free(struct grammar_state *st)
{
	if (!st)
		return;
	grammar_chain_free(st->chain);
	grammar_stacks_close(&st->builder);
	free(st->stacks);
	free(st->allowed);
	free(st->kept);
	free(st);
}

bool grammar_state_complete(const struct grammar_state *st)
{
	return st->partial.need == 0 && st->stacks->complete;
}

bool grammar_state_finished(const struct grammar_state *st)
{
	return st->finished;
}

int grammar_state_accept(struct grammar_state *st, engine_token t)
{
	const engine_grammar *g = st->g;
	if (st->finished || t < 0 || (uint32_t)t >= g->n_vocab)
		return -EINVAL;
	if (grammar_is_eot(g, t)) {
		if (!grammar_state_complete(st))
			return -EINVAL;
		st->finished = true;
		return 0;
	}
	uint32_t from = g->piece_off[t], to = g->piece_off[t + 1];
	if (from == to)
		return -EINVAL;
	grammar_stacks_reset(&st->builder);
	const struct grammar_stacks *s = st->stacks;
	struct grammar_partial p = st->partial;
	/* Whether the token is whole characters of the state's chain. */
	bool along = st->chain && p.need == 0;
	for (uint32_t i = from; i < to; i++) {
		uint32_t cp;
		int rc = grammar_stacks_utf8(&p, (uint8_t)g->pieces[i], &cp);
		if (rc < 0)
			return -EINVAL;
		if (rc == 0) {
			if (grammar_stacks_min(&g->rules, s, &p) == GRAMMAR_INF)
				return -EINVAL;
			continue;
		}
		along = along && (st->chain->atoms >> grammar_rules_atom(&g->rules, cp) & 1);
		if (!(s = grammar_stacks_advance(&st->builder, s, cp)))
			return -EINVAL;
	}
	if (s != st->stacks) {
		struct grammar_stacks *copy = grammar_stacks_copy(s);
		free(st->stacks);
		st->stacks = copy;
	}
	st->partial = p;
	grammar_stacks_reset(&st->builder);
	/* The chain follows the text while the text follows it, and while
	 * a new one would not take more characters. */
	uint32_t d = to - from;
	if (along && p.need == 0 && d <= grammar_chain_reach(st->chain) && st->chain->q[d] &&
	    grammar_stacks_equal(st->chain->q[d], st->stacks) &&
	    !(grammar_chain_choose(&g->rules, st->stacks, NULL) & ~st->chain->atoms)) {
		grammar_chain_shift(st->chain, d);
	} else {
		grammar_chain_free(st->chain);
		st->chain = NULL;
	}
	return 0;
}

/* The position after byte from at; false when the byte cannot come. */
static bool grammar_walk_step(struct grammar_walk *w, const struct grammar_pos *at, uint8_t byte,
			      struct grammar_pos *next)
{
	const struct grammar_rules *r = &w->g->rules;
	*next = *at;
	next->fresh = false;
	uint32_t cp;
	int rc = grammar_stacks_utf8(&next->p, byte, &cp);
	if (rc < 0)
		return false;
	if (rc == 0) {
		next->min = grammar_stacks_min(r, at->s, &next->p);
		return next->min != GRAMMAR_INF;
	}
	const struct grammar_stacks *s;
	if (at->on) {
		struct grammar_chain *c = at->chain;
		uint32_t d = at->cd + next->p.len;
		if (d <= grammar_chain_reach(c) && c->q[d] && (c->atoms >> grammar_rules_atom(r, cp) & 1)) {
			next->s = c->q[d];
			next->cd = d;
			next->min = next->s->min_bytes;
			next->via = NULL;
			return true;
		}
		/* Off the chain from q[cd]: a step the chain may remember. */
		s = grammar_chain_exit(c, &w->st->builder, at->cd, cp, &next->via);
	} else if (at->via) {
		s = grammar_chain_step_on(at->chain, &w->st->builder, at->via, cp, &next->via);
	} else {
		s = grammar_stacks_advance(&w->st->builder, at->s, cp);
		next->via = NULL;
	}
	if (!s)
		return false;
	next->s = s;
	next->on = false;
	next->fresh = true;
	next->min = s->min_bytes;
	return true;
}

static bool grammar_walk_keeps(const struct grammar_walk *w, uint32_t min, uint32_t depth)
{
	if (w->forcing)
		return min != GRAMMAR_INF && (uint64_t)min + depth == w->target;
	return min <= w->budget;
}

/* Keeps the tokens order[lo .. hi). */
static void grammar_walk_mark(struct grammar_walk *w, uint32_t lo, uint32_t hi)
{
	uint64_t *bits = w->st->allowed;
	for (; lo < hi && (lo & 63); lo++)
		bits[lo >> 6] |= 1ull << (lo & 63);
	for (; lo + 64 <= hi; lo += 64)
		bits[lo >> 6] = ~0ull;
	for (; lo < hi; lo++)
		bits[lo >> 6] |= 1ull << (lo & 63);
}

/* Takes back the tokens order[lo .. hi). */
static void grammar_walk_unmark(struct grammar_walk *w, uint32_t lo, uint32_t hi)
{
	uint64_t *bits = w->st->allowed;
	for (; lo < hi && (lo & 63); lo++)
		bits[lo >> 6] &= ~(1ull << (lo & 63));
	for (; lo + 64 <= hi; lo += 64)
		bits[lo >> 6] = 0;
	for (; lo < hi; lo++)
		bits[lo >> 6] &= ~(1ull << (lo & 63));
}

/* Marks the tokens of node's subtree that can come from at. */
static void grammar_walk_node(struct grammar_walk *w, uint32_t node, const struct grammar_pos *at)
{
	const struct grammar_trie *t = &w->g->trie;
	uint32_t k = t->depth[node];
	if (t->n_end[node] && grammar_walk_keeps(w, at->min, k))
		grammar_walk_mark(w, t->tok_lo[node], t->tok_lo[node] + t->n_end[node]);
	/* A byte lowers the bytes needed to finish by one at most. */
	if (!w->forcing && (uint64_t)at->min > (uint64_t)w->budget + (t->max_depth[node] - k))
		return;
	struct grammar_pos here = *at;
	uint64_t bulk = 0; /* the subtree is taken, but for children to walk: the chain's atoms */
	if (!w->forcing) {
		uint32_t depth = t->max_depth[node] - k;
		if (here.fresh && here.p.need == 0 && t->tok_hi[node] - t->tok_lo[node] >= GRAMMAR_CHAIN_MIN_TOKENS) {
			/* The root's chain is the state's, kept across tokens, and
			 * so is one from a step off it that the chain remembers
			 * (to a few levels); another lives as long as the walk
			 * below the node. */
			struct grammar_chain *c = NULL;
			if (node == 0) {
				if (!w->st->chain)
					w->st->chain = grammar_chain_new(&w->st->builder, here.s, true);
				c = w->st->chain;
			} else {
				if (here.via)
					c = grammar_chain_new_at(here.chain, &w->st->builder, here.via);
				if (!c)
					c = grammar_chain_new(&w->st->builder, here.s, false);
			}
			if (c) {
				grammar_chain_extend(c, &w->st->builder, depth);
				here.chain = c;
				here.cd = 0;
				here.on = true;
			}
			here.fresh = false;
		}
		/* Every token below goes on with characters of the chain (from
		 * the start of the one begun, if any, which is where the chain
		 * stands), no deeper than it answers for: all of them are
		 * taken. A token that ends inside a character is taken as well:
		 * whatever that character becomes is one of the chain's, so
		 * some stack takes it, and the text can finish in 3 bytes more
		 * than from where the character ends (hence the 3s). */
		const struct grammar_chain *c = here.chain;
		uint32_t inside = t->flags[node] & GRAMMAR_TRIE_PARTIAL ? 3 : 0;
		uint32_t begun = here.p.need ? (uint32_t)(here.p.len - here.p.need) : 0;
		if (here.on && (t->flags[node] & GRAMMAR_TRIE_CLEAN) &&
		    here.cd + begun + depth + inside <= grammar_chain_reach(c) &&
		    (uint64_t)c->max_min + inside <= w->budget) {
			bool all = !(t->sub_atoms[node] & ~c->atoms);
			if (all || here.p.need == 0)
				grammar_walk_mark(w, t->tok_lo[node], t->tok_hi[node]);
			if (all)
				return;
			/* Some go on with other characters too: take back those
			 * of each child that is not one of the chain's characters
			 * followed by more of them, and walk it. */
			if (here.p.need == 0)
				bulk = c->atoms;
		}
	}
	const uint8_t *ascii_atom = w->g->rules.ascii_atom;
	for (uint32_t child = node + 1, end = node + t->size[node]; child < end; child += t->size[child]) {
		if (bulk) {
			uint8_t b = t->byte[child];
			if (b < 0x80 && (bulk >> ascii_atom[b] & 1) && (t->flags[child] & GRAMMAR_TRIE_CLEAN) &&
			    !(t->sub_atoms[child] & ~bulk))
				continue;
			grammar_walk_unmark(w, t->tok_lo[child], t->tok_hi[child]);
		}
		struct grammar_stacks_mark m = grammar_stacks_mark(&w->st->builder);
		struct grammar_pos next;
		if (grammar_walk_step(w, &here, t->byte[child], &next) &&
		    (!w->forcing || (uint64_t)next.min + k + 1 == w->target))
			grammar_walk_node(w, child, &next);
		grammar_stacks_release(&w->st->builder, m);
	}
}

/* Sets to -inf the logits of the tokens the walk did not keep (those of
 * the end of the turn too, unless end). */
static void grammar_apply(struct grammar_state *st, float *logits, uint32_t kept, bool end)
{
	const engine_grammar *g = st->g;
	const struct grammar_trie *t = &g->trie;
	size_t words = (t->n_order + 63) / 64;
	if (kept <= GRAMMAR_FEW_KEPT) {
		if (!st->kept)
			st->kept = xmalloc((GRAMMAR_FEW_KEPT + 3) * sizeof(*st->kept));
		uint32_t n = 0;
		for (size_t i = 0; i < words; i++)
			for (uint64_t bits = st->allowed[i]; bits; bits &= bits - 1) {
				engine_token id = t->order[i * 64 + (size_t)__builtin_ctzll(bits)];
				st->kept[n++] = (struct grammar_kept){id, logits[id]};
			}
		for (uint32_t i = 0; end && i < g->n_eot; i++)
			st->kept[n++] = (struct grammar_kept){g->eot[i], logits[g->eot[i]]};
		for (uint32_t i = 0; i < g->n_vocab; i++)
			logits[i] = -INFINITY;
		for (uint32_t i = 0; i < n; i++)
			logits[st->kept[i].id] = st->kept[i].logit;
		return;
	}
	for (size_t i = 0; i < words; i++) {
		uint64_t bits = st->allowed[i];
		if (bits == ~0ull)
			continue;
		size_t base = i * 64;
		for (uint32_t j = 0; j < 64 && base + j < t->n_order; j++)
			if (!(bits >> j & 1))
				logits[t->order[base + j]] = -INFINITY;
	}
	for (uint32_t i = 0; i < g->n_others; i++)
		if (!end || !grammar_is_eot(g, g->others[i]))
			logits[g->others[i]] = -INFINITY;
}

void grammar_state_mask(struct grammar_state *st, float *logits, uint32_t tokens_left)
{
	const engine_grammar *g = st->g;
	size_t words = (g->trie.n_order + 63) / 64;
	if (!st->allowed)
		st->allowed = xmalloc((words + 1) * sizeof(*st->allowed));
	memset(st->allowed, 0, words * sizeof(*st->allowed));
	if (!st->finished) {
		uint32_t min = grammar_stacks_min(&g->rules, st->stacks, &st->partial);
		if (tokens_left == 0)
			tokens_left = 1;
		/* After this token, one more ends the turn: what it leaves to
		 * finish must fit in the tokens between, a byte a token. */
		struct grammar_walk w = {st, g, (uint64_t)tokens_left <= (uint64_t)min + GRAMMAR_MARGIN, min,
					 tokens_left >= 2 ? tokens_left - 2 : 0};
		struct grammar_pos root = {st->stacks, st->partial, min, NULL, 0, false, st->partial.need == 0, NULL};
		grammar_stacks_reset(&st->builder);
		grammar_walk_node(&w, 0, &root);
		grammar_stacks_reset(&st->builder);
	}
	uint32_t kept = 0;
	for (size_t i = 0; i < words; i++)
		kept += (uint32_t)__builtin_popcountll(st->allowed[i]);
	/* The end of the turn when the text is whole, or when nothing else
	 * can come (a budget already too small to finish in). */
	grammar_apply(st, logits, kept, grammar_state_complete(st) || kept == 0);
}
