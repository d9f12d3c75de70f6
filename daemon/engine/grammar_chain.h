/* Chains for the grammar's mask: from an anchor state, the states after
 * runs of "like" characters, those that every stack of each state along
 * the run takes alike (free text, say [^`]* or a bounded run of it): q[d]
 * is the state after any such run of d bytes. With it, the mask accepts a
 * whole subtree of tokens made only of such characters without a step per
 * byte. Each step of a chain is checked as it is built: from q[d], all the
 * chain's characters of one length have the same effect, and runs of one
 * length in bytes reach the same state. A chain kept across tokens (the
 * state's own, "owned") is shifted along as the text follows it, so it is
 * rebuilt only when the text leaves it; it also remembers the steps off it
 * (a newline, a backtick, after any run) and on from those, so that tokens
 * that leave the run are not advanced over again at every mask. */
#ifndef AGENTD_ENGINE_GRAMMAR_CHAIN_H
#define AGENTD_ENGINE_GRAMMAR_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/engine/grammar_stacks.h"

/* The deepest a chain goes, in bytes; longer tokens are walked. */
#define GRAMMAR_CHAIN_MAX_DEPTH 256

/* Owned chains nest (a remembered step off one may have a chain of its
 * own) up to this deep; deeper ones live in the arena. */
#define GRAMMAR_CHAIN_MAX_LEVEL 3

struct grammar_chain_step;

/* Remembered steps, by key (open addressing); entries owned. */
struct grammar_chain_steps {
	struct grammar_chain_step **slot; /* cap slots, NULL where empty */
	uint32_t cap;                     /* a power of two, or 0 */
	uint32_t n;                       /* entries */
};

/* A step remembered by an owned chain: off the chain from q[d] over a
 * character of an atom that is not the chain's, or on from another such
 * step's state over any character. What is remembered lives as long as
 * the chain (or, after a shift, as long as the depth it hangs from). */
struct grammar_chain_step {
	uint32_t key;                    /* (d << 6 | atom) + 1 off q[d]; atom + 1 on from a step */
	const struct grammar_stacks *s;  /* the state after it (owned), or NULL: no stack takes it */
	struct grammar_chain *chain;     /* owned: a chain anchored at s (made when wanted), or NULL */
	struct grammar_chain_steps next; /* the steps on from s */
};

struct grammar_chain {
	const struct grammar_stacks **q;  /* q[d]: the state after d bytes of the chain's characters (NULL: none) */
	uint32_t done;                    /* the steps from q[0 .. done) are checked */
	uint32_t limit;                   /* a check failed: no further than q[limit] (UINT32_MAX: none did) */
	uint32_t max_min;                 /* the most bytes any q[0 .. reach] needs to finish */
	uint64_t atoms;                   /* the chain's characters (they only ever shrink) */
	uint64_t group[5];                /* of those, the atoms of each length in bytes */
	bool owned;                       /* q and its states are the chain's, else b's arena's */
	uint32_t level;                   /* owned: 0 for a state's own chain, 1 + its step's chain's */
	struct grammar_chain_steps exits; /* owned chains: the steps off it */
	uint32_t held;                    /* a state's own chain: the copies held under it (bounded) */
	uint32_t *count;                  /* owned: the held of the state's own chain it is under */
};

/* The characters (atoms) a chain anchored at s would take: for each length
 * in bytes, the atoms of one signature that hold most characters, into
 * group[1..4] when group is not NULL (group[0] is 0). 0 when s has none. */
uint64_t grammar_chain_choose(const struct grammar_rules *r, const struct grammar_stacks *s, uint64_t *group);
/* A chain anchored at s, or NULL when s has no characters to chain. An
 * owned chain copies its states (free it with grammar_chain_free); else
 * the chain and its states live in b's arena. */
struct grammar_chain *grammar_chain_new(struct grammar_stacks_builder *b, const struct grammar_stacks *s, bool owned);
void grammar_chain_free(struct grammar_chain *c);
/* The owned chain kept at step e (remembered by owned chain parent),
 * anchored at its state: made when there is none yet; NULL when chains
 * nest too deeply there or parent's state's chain holds enough. */
struct grammar_chain *grammar_chain_new_at(struct grammar_chain *parent, struct grammar_stacks_builder *b,
					   struct grammar_chain_step *e);
/* Checks steps until the chain answers for runs of depth bytes (or a check
 * fails, or GRAMMAR_CHAIN_MAX_DEPTH). */
void grammar_chain_extend(struct grammar_chain *c, struct grammar_stacks_builder *b, uint32_t depth);
/* How deep a run the chain answers for: every run of the chain's
 * characters of at most this many bytes ends in the q[] of its length. */
uint32_t grammar_chain_reach(const struct grammar_chain *c);
/* The state after character cp from q[d] (d <= reach), for a character
 * that is not the chain's: remembered by an owned chain (which keeps it,
 * and sets *kept to the step: a chain anchored at its state may be kept
 * there, and steps on from it), else made in b's arena (*kept NULL). NULL
 * when no stack takes cp. */
const struct grammar_stacks *grammar_chain_exit(struct grammar_chain *c, struct grammar_stacks_builder *b, uint32_t d,
						uint32_t cp, struct grammar_chain_step **kept);
/* The state after character cp from the state of step `from` (remembered
 * by owned chain c), remembered the same way. */
const struct grammar_stacks *grammar_chain_step_on(struct grammar_chain *c, struct grammar_stacks_builder *b,
						   struct grammar_chain_step *from, uint32_t cp,
						   struct grammar_chain_step **kept);
/* Re-anchors an owned chain at q[d] (d <= reach). */
void grammar_chain_shift(struct grammar_chain *c, uint32_t d);

#endif
