/* Building, extending and shifting chains (grammar_chain.h). A state's
 * stacks each take some atoms; its "signature" for an atom is the set of
 * stacks that take it, and atoms of one signature lead to one state. */
#include "daemon/engine/grammar_chain.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Slots of q: the deepest run, and the longest character past it. */
#define CHAIN_SLOTS (GRAMMAR_CHAIN_MAX_DEPTH + 4)
/* Most copies of states a state's chain holds, with the steps it
 * remembers and the chains nested in them (each counted as full). */
#define CHAIN_MAX_HELD (1u << 16)

/* Which stacks of s take each atom: bit i of sig[a] for stack i (s has at
 * most 64 stacks). */
static void chain_signatures(const struct grammar_rules *r, const struct grammar_stacks *s, uint64_t *sig)
{
	memset(sig, 0, r->n_atoms * sizeof(*sig));
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t from = s->start[i], len = s->start[i + 1] - from;
		if (len == 0)
			continue;
		uint64_t atoms = r->classes[r->elems[s->frames[from + len - 1]].arg].atoms;
		for (; atoms; atoms &= atoms - 1)
			sig[__builtin_ctzll(atoms)] |= 1ull << i;
	}
}

/* The atoms of group whose signature (nonzero) covers most characters. */
static uint64_t chain_largest(const struct grammar_rules *r, const uint64_t *sig, uint64_t group)
{
	uint64_t best = 0, best_size = 0;
	for (uint64_t rest = group; rest; rest &= rest - 1) {
		uint64_t want = sig[__builtin_ctzll(rest)], same = 0, size = 0;
		if (want == 0)
			continue;
		for (uint64_t g = group; g; g &= g - 1)
			if (sig[__builtin_ctzll(g)] == want) {
				same |= g & -g;
				size += r->atom_size[__builtin_ctzll(g)];
			}
		if (size > best_size) {
			best_size = size;
			best = same;
		}
	}
	return best;
}

uint64_t grammar_chain_choose(const struct grammar_rules *r, const struct grammar_stacks *s, uint64_t *group)
{
	uint64_t by_len[5] = {0};
	if (r->n_atoms == 0 || s->n > 64)
		return 0;
	uint64_t sig[GRAMMAR_MAX_ATOMS];
	chain_signatures(r, s, sig);
	for (uint32_t a = 0; a < r->n_atoms; a++)
		if (r->atom_size[a])
			by_len[r->atom_len[a]] |= 1ull << a;
	uint64_t atoms = 0;
	for (uint32_t len = 1; len <= 4; len++)
		atoms |= by_len[len] = chain_largest(r, sig, by_len[len]);
	if (group)
		memcpy(group, by_len, sizeof(by_len));
	return atoms;
}

struct grammar_chain *grammar_chain_new(struct grammar_stacks_builder *b, const struct grammar_stacks *s, bool owned)
{
	uint64_t group[5];
	uint64_t atoms = grammar_chain_choose(b->rules, s, group);
	if (!atoms)
		return NULL;
	struct grammar_chain *c;
	if (owned) {
		c = xcalloc(1, sizeof(*c));
		c->q = xcalloc(CHAIN_SLOTS, sizeof(*c->q));
		c->q[0] = grammar_stacks_copy(s);
	} else {
		c = grammar_stacks_alloc(b, sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->q = grammar_stacks_alloc(b, CHAIN_SLOTS * sizeof(*c->q));
		memset(c->q, 0, CHAIN_SLOTS * sizeof(*c->q));
		c->q[0] = s;
	}
	c->owned = owned;
	c->count = &c->held;
	c->limit = UINT32_MAX;
	c->atoms = atoms;
	memcpy(c->group, group, sizeof(group));
	c->max_min = s->min_bytes;
	return c;
}

static uint32_t chain_step_free(struct grammar_chain_step *e);

/* Frees the steps of t (and theirs); returns the copies they held. */
static uint32_t chain_steps_free(struct grammar_chain_steps *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->slot[i])
			n += chain_step_free(t->slot[i]);
	free(t->slot);
	memset(t, 0, sizeof(*t));
	return n;
}

/* Frees an owned chain; returns the copies it held (its own, counted as
 * full, and its steps'). */
static uint32_t chain_free(struct grammar_chain *c)
{
	if (!c || !c->owned)
		return 0;
	for (uint32_t d = 0; d < CHAIN_SLOTS; d++)
		free((void *)c->q[d]);
	uint32_t n = CHAIN_SLOTS + chain_steps_free(&c->exits);
	free(c->q);
	free(c);
	return n;
}

/* Frees step e, the steps on from it and its chain; returns the copies
 * they held. */
static uint32_t chain_step_free(struct grammar_chain_step *e)
{
	uint32_t n = 1 + chain_steps_free(&e->next) + chain_free(e->chain);
	free((void *)e->s);
	free(e);
	return n;
}

void grammar_chain_free(struct grammar_chain *c)
{
	chain_free(c);
}

struct grammar_chain *grammar_chain_new_at(struct grammar_chain *parent, struct grammar_stacks_builder *b,
					   struct grammar_chain_step *e)
{
	if (e->chain)
		return e->chain;
	if (!parent->owned || parent->level + 1 >= GRAMMAR_CHAIN_MAX_LEVEL || !e->s ||
	    *parent->count + CHAIN_SLOTS > CHAIN_MAX_HELD)
		return NULL;
	struct grammar_chain *c = grammar_chain_new(b, e->s, true);
	if (!c)
		return NULL;
	c->level = parent->level + 1;
	c->count = parent->count;
	*c->count += CHAIN_SLOTS;
	e->chain = c;
	return c;
}

static void chain_steps_put(struct grammar_chain_steps *t, struct grammar_chain_step *e)
{
	uint32_t mask = t->cap - 1, slot = e->key * 2654435761u & mask;
	while (t->slot[slot])
		slot = (slot + 1) & mask;
	t->slot[slot] = e;
	t->n++;
}

/* Moves the steps of t into a table of cap slots, keeping those keyed at
 * or past depth shift (as from depth - shift) when shift is not 0. Returns
 * how many steps were freed. */
static uint32_t chain_steps_rebuild(struct grammar_chain_steps *t, uint32_t cap, uint32_t shift)
{
	struct grammar_chain_steps old = *t;
	t->slot = xcalloc(cap, sizeof(*t->slot));
	t->cap = cap;
	t->n = 0;
	uint32_t freed = 0;
	for (uint32_t i = 0; i < old.cap; i++) {
		struct grammar_chain_step *e = old.slot[i];
		if (!e)
			continue;
		if ((e->key - 1) >> 6 >= shift) {
			e->key -= shift << 6;
			chain_steps_put(t, e);
		} else {
			freed += chain_step_free(e);
		}
	}
	free(old.slot);
	return freed;
}

/* The step keyed key in t, remembered (from state `from`, over cp) if it
 * is not; NULL when c remembers enough already (the state is then made in
 * b's arena, into *made). */
static struct grammar_chain_step *chain_steps_get(struct grammar_chain *c, struct grammar_chain_steps *t,
						  struct grammar_stacks_builder *b, uint32_t key,
						  const struct grammar_stacks *from, uint32_t cp,
						  const struct grammar_stacks **made)
{
	uint32_t mask = t->cap - 1;
	for (uint32_t slot = key * 2654435761u & mask; t->cap && t->slot[slot]; slot = (slot + 1) & mask)
		if (t->slot[slot]->key == key)
			return t->slot[slot];
	if (*c->count >= CHAIN_MAX_HELD) {
		*made = grammar_stacks_advance(b, from, cp);
		return NULL;
	}
	if ((t->n + 1) * 2 > t->cap)
		chain_steps_rebuild(t, t->cap ? t->cap * 2 : 8, 0);
	struct grammar_stacks_mark m = grammar_stacks_mark(b);
	const struct grammar_stacks *next = grammar_stacks_advance(b, from, cp);
	struct grammar_chain_step *e = xcalloc(1, sizeof(*e));
	e->key = key;
	e->s = next ? grammar_stacks_copy(next) : NULL;
	grammar_stacks_release(b, m);
	chain_steps_put(t, e);
	(*c->count)++;
	return e;
}

const struct grammar_stacks *grammar_chain_exit(struct grammar_chain *c, struct grammar_stacks_builder *b, uint32_t d,
						uint32_t cp, struct grammar_chain_step **kept)
{
	*kept = NULL;
	if (!c->owned)
		return grammar_stacks_advance(b, c->q[d], cp);
	const struct grammar_stacks *made = NULL;
	uint32_t key = (d << 6 | grammar_rules_atom(b->rules, cp)) + 1;
	*kept = chain_steps_get(c, &c->exits, b, key, c->q[d], cp, &made);
	return *kept ? (*kept)->s : made;
}

const struct grammar_stacks *grammar_chain_step_on(struct grammar_chain *c, struct grammar_stacks_builder *b,
						   struct grammar_chain_step *from, uint32_t cp,
						   struct grammar_chain_step **kept)
{
	const struct grammar_stacks *made = NULL;
	uint32_t key = grammar_rules_atom(b->rules, cp) + 1;
	*kept = chain_steps_get(c, &from->next, b, key, from->s, cp, &made);
	return *kept ? (*kept)->s : made;
}

uint32_t grammar_chain_reach(const struct grammar_chain *c)
{
	return c->done < c->limit ? c->done : c->limit;
}

/* Checks the steps from q[d]; lowers the limit when one fails. */
static void chain_step(struct grammar_chain *c, struct grammar_stacks_builder *b, uint32_t d)
{
	const struct grammar_rules *r = b->rules;
	const struct grammar_stacks *q = c->q[d];
	if (!q)
		return;
	if (q->n > 64) {
		c->limit = d;
		return;
	}
	uint64_t sig[GRAMMAR_MAX_ATOMS];
	chain_signatures(r, q, sig);
	for (uint32_t len = 1; len <= 4; len++) {
		if (!c->group[len])
			continue;
		/* Atoms that q tells apart leave the chain (the steps checked
		 * before hold for what remains); none taken ends it here. */
		uint64_t keep = chain_largest(r, sig, c->group[len]);
		if (!keep) {
			c->limit = d;
			return;
		}
		c->atoms &= ~(c->group[len] & ~keep);
		c->group[len] = keep;
		uint32_t rep = r->atom_rep[__builtin_ctzll(keep)];
		struct grammar_stacks_mark m = grammar_stacks_mark(b);
		const struct grammar_stacks *next = grammar_stacks_advance(b, q, rep);
		if (!next) {
			c->limit = d;
			return;
		}
		const struct grammar_stacks **slot = &c->q[d + len];
		if (!*slot) {
			*slot = c->owned ? grammar_stacks_copy(next) : next;
			if (c->owned)
				grammar_stacks_release(b, m);
		} else {
			/* Two runs of this length disagree: stop short of it. */
			if (!grammar_stacks_equal(*slot, next) && d + len - 1 < c->limit)
				c->limit = d + len - 1;
			grammar_stacks_release(b, m);
		}
	}
}

void grammar_chain_extend(struct grammar_chain *c, struct grammar_stacks_builder *b, uint32_t depth)
{
	if (depth > GRAMMAR_CHAIN_MAX_DEPTH)
		depth = GRAMMAR_CHAIN_MAX_DEPTH;
	while (c->done < depth && c->done < c->limit)
		chain_step(c, b, c->done++);
	uint32_t reach = grammar_chain_reach(c);
	c->max_min = 0;
	for (uint32_t d = 0; d <= reach; d++)
		if (c->q[d] && c->q[d]->min_bytes > c->max_min)
			c->max_min = c->q[d]->min_bytes;
}

void grammar_chain_shift(struct grammar_chain *c, uint32_t d)
{
	if (d == 0)
		return;
	for (uint32_t i = 0; i < d; i++)
		free((void *)c->q[i]);
	memmove(c->q, c->q + d, (CHAIN_SLOTS - d) * sizeof(*c->q));
	memset(c->q + CHAIN_SLOTS - d, 0, d * sizeof(*c->q));
	if (c->exits.cap)
		*c->count -= chain_steps_rebuild(&c->exits, c->exits.cap, d);
	c->done -= d;
	if (c->limit != UINT32_MAX)
		c->limit -= d;
}
