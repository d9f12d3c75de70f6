/* A grammar's parse state as a set of stacks (the configurations of a
 * pushdown automaton, as in llama.cpp's grammar sampler): each stack holds
 * element positions, the bottom first, and its top is the character class
 * to match next; a stack that has emptied means the root rule is done. A
 * builder advances a set over one character into canonical form (sorted,
 * without duplicates), so that equal states compare equal; the states it
 * makes live in its arena, which is released in stack order. */
#ifndef AGENTD_ENGINE_GRAMMAR_STACKS_H
#define AGENTD_ENGINE_GRAMMAR_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/grammar_rules.h"

/* Limits on one state, so that no grammar makes a state grow without
 * bound: a character that would exceed them is refused. */
#define GRAMMAR_STACKS_MAX 1024       /* stacks in a state */
#define GRAMMAR_STACKS_MAX_DEPTH 1024 /* frames in a stack */

struct grammar_stacks {
	uint32_t n;         /* stacks */
	uint32_t min_bytes; /* the fewest bytes that finish one of them */
	bool complete;      /* one of them is empty: what was read is a whole string */
	uint32_t *start;    /* stack i is frames[start[i] .. start[i + 1]) */
	uint32_t *frames;   /* element positions; a stack's top (its last) is always a CLASS */
};

/* A character begun but not finished (need > 0), or none (need == 0). */
struct grammar_partial {
	uint32_t value; /* its bits so far, in place */
	uint32_t lo;    /* the code points it can still become: lo .. hi */
	uint32_t hi;    /* (see lo) */
	uint8_t need;   /* continuation bytes still to come */
	uint8_t len;    /* its length in bytes */
	uint8_t lead;   /* its first byte */
};

struct grammar_block;

struct grammar_stacks_builder {
	const struct grammar_rules *rules; /* borrowed */
	uint32_t *work;                    /* stacks being expanded */
	size_t cap_work;                   /* room in work */
	uint32_t *frames;                  /* the stacks made, back to back */
	size_t n_frames;                   /* frames in use */
	size_t cap_frames;                 /* room in frames */
	uint32_t *start;                   /* where each stack made starts (n + 1) */
	uint32_t *hash;                    /* each stack's hash */
	uint32_t *order;                   /* scratch for sorting */
	uint32_t n;                        /* stacks made */
	uint32_t cap;                      /* room for stacks in start (less one), hash and order */
	uint64_t *table;                   /* dedupe: generation << 32 | stack; at most half full */
	uint32_t table_cap;                /* slots in table, a power of two */
	uint32_t generation;               /* the table's entries of this one are live */
	uint32_t steps;                    /* expansions in this advance */
	bool overflow;                     /* a limit was hit */
	struct grammar_block *head;        /* the arena's blocks */
	struct grammar_block *cur;         /* the block allocations come from (NULL: none yet) */
};

/* A point in the arena to release back to. */
struct grammar_stacks_mark {
	struct grammar_block *block; /* the current block then */
	size_t used;                 /* its bytes in use then */
};

void grammar_stacks_init(struct grammar_stacks_builder *b, const struct grammar_rules *rules);
void grammar_stacks_close(struct grammar_stacks_builder *b);
/* The state at the start of the root rule, in b's arena; NULL when it
 * exceeds the limits. */
const struct grammar_stacks *grammar_stacks_start(struct grammar_stacks_builder *b);
/* The state after character cp from s, in b's arena; NULL when no stack
 * takes cp (or the result exceeds the limits). */
const struct grammar_stacks *grammar_stacks_advance(struct grammar_stacks_builder *b, const struct grammar_stacks *s,
						    uint32_t cp);
/* size bytes (8-aligned) from b's arena. */
void *grammar_stacks_alloc(struct grammar_stacks_builder *b, size_t size);
struct grammar_stacks_mark grammar_stacks_mark(const struct grammar_stacks_builder *b);
/* Frees everything allocated since m. */
void grammar_stacks_release(struct grammar_stacks_builder *b, struct grammar_stacks_mark m);
/* Empties the arena. */
void grammar_stacks_reset(struct grammar_stacks_builder *b);

/* Feeds one byte to p: 1 when it completes a character (*cp, p back to
 * none), 0 when the character goes on, -1 when the byte cannot come here
 * in valid UTF-8 (p unchanged). */
int grammar_stacks_utf8(struct grammar_partial *p, uint8_t byte, uint32_t *cp);
/* The fewest bytes that finish s with p begun (s's own with none);
 * GRAMMAR_INF when no stack can take p's character. */
uint32_t grammar_stacks_min(const struct grammar_rules *r, const struct grammar_stacks *s,
			    const struct grammar_partial *p);
bool grammar_stacks_equal(const struct grammar_stacks *a, const struct grammar_stacks *b);
/* A copy of s in one allocation the caller frees. */
struct grammar_stacks *grammar_stacks_copy(const struct grammar_stacks *s);

#endif
