/* The vocabulary as a byte trie for grammar.c: every token's bytes on a
 * path from the root, nodes in depth-first order so that a subtree is a
 * range of nodes and its tokens a range of the sorted token list, and per
 * node what the mask needs to accept a whole subtree at once (its depth,
 * and the character classes, as atoms, that its tokens go on with). */
#ifndef AGENTD_ENGINE_GRAMMAR_TRIE_H
#define AGENTD_ENGINE_GRAMMAR_TRIE_H

#include <stdint.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/grammar_rules.h"

/* The node's prefix is whole, valid UTF-8 characters. */
#define GRAMMAR_TRIE_BOUNDARY 1u
/* A node whose tokens all go on with whole, valid characters (from the
 * start of the character the node is inside, if it is), but for, at the
 * end, the start of one (valid so far). */
#define GRAMMAR_TRIE_CLEAN 2u
/* A CLEAN node some of whose tokens end inside a character. */
#define GRAMMAR_TRIE_PARTIAL 4u

struct grammar_trie {
	uint32_t n_nodes;    /* nodes; node 0 is the root (the empty prefix) */
	uint8_t *byte;       /* the byte on the edge into each node */
	uint8_t *flags;      /* GRAMMAR_TRIE_* of each node */
	uint32_t *size;      /* nodes in each node's subtree, itself included: [n, n + size[n]) */
	uint32_t *depth;     /* bytes of each node's prefix */
	uint32_t *max_depth; /* bytes of the longest token in each node's subtree */
	uint32_t *tok_lo;    /* a node's subtree holds tokens order[tok_lo[n] .. tok_hi[n]) */
	uint32_t *tok_hi;    /* (see tok_lo) */
	uint32_t *n_end;     /* the first n_end[n] of those are exactly the node's prefix */
	uint64_t *sub_atoms; /* at CLEAN nodes: the atoms of the characters its tokens go on with, the
			      * one the node is inside included (for a character a token only
			      * begins, every atom it could still become) */
	engine_token *order; /* the tokens, sorted by their bytes */
	uint32_t n_order;    /* tokens in order */
};

/* Builds the trie of tokens ids[0..n) whose bytes are
 * pieces[piece_off[id] .. piece_off[id + 1]) (each at least one byte).
 * rules (borrowed for the call) gives the atoms; when it is NULL or has
 * none, no node is CLEAN. Free with grammar_trie_free. */
void grammar_trie_build(struct grammar_trie *t, const char *pieces, const uint32_t *piece_off, const engine_token *ids,
			uint32_t n, const struct grammar_rules *rules);
void grammar_trie_free(struct grammar_trie *t);

#endif
