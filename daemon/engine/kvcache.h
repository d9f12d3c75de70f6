/* The paged KV cache's bookkeeping: which block of the pool holds which
 * positions of which sequence, and the prefix cache. No arithmetic happens
 * here; the backend owns the blocks' memory and kvcache hands out block
 * ids. Used by the serving thread alone (not thread-safe).
 *
 * The pool has n_blocks blocks of KVCACHE_BLOCK positions. A block is
 * free, private to one sequence, or a node of the prefix tree.
 *
 * The prefix tree is a radix tree over blocks of tokens: a node holds the
 * tokens of one block (KVCACHE_BLOCK of them; a leaf may hold fewer: the
 * tail of a finished sequence) and the block whose keys and values were
 * computed for exactly those tokens after exactly its ancestors' tokens.
 * Sequences that share a prefix share its nodes' blocks (reference
 * counted). A node is ready once its positions are computed; until then
 * it has a computer, the sequence that writes it, and sequences that
 * matched it wait for it instead of computing it again. Unreferenced
 * nodes stay cached until an allocation needs their block: the least
 * recently used leaf goes first.
 *
 * Admission reserves every block a sequence may ever need (its prompt and
 * its max tokens), so a sequence that was admitted never waits for a
 * block: kvcache_seq_grow cannot fail within max_positions. Blocks are
 * counted as
 *   free + cached (in the tree, unreferenced) + used == n_blocks
 * and a sequence is admitted when its need fits in
 *   free + cached - reserved (blocks promised to admitted sequences and
 *   not allocated yet). */
#ifndef AGENTD_ENGINE_KVCACHE_H
#define AGENTD_ENGINE_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/backend.h"
#include "daemon/engine/engine.h"

/* Positions per block: the backend's pool geometry. */
#define KVCACHE_BLOCK BACKEND_KV_BLOCK

struct kvcache;
struct kvcache_seq;

/* Positions that need blocks, in blocks (rounded up). */
#define KVCACHE_BLOCKS_FOR(positions) (((positions) + KVCACHE_BLOCK - 1) / KVCACHE_BLOCK)

/* A pool of n_blocks blocks; with prefix_cache false nothing is shared or
 * kept once a sequence is released. Free with kvcache_free (sequences
 * still admitted are freed with it). */
struct kvcache *kvcache_new(uint32_t n_blocks, bool prefix_cache);
void kvcache_free(struct kvcache *kc);

/* Copy on write: the first n positions of block src are the keys and
 * values the new block dst starts with; the caller copies them (on the
 * backend) before the next kvcache call that allocates. */
struct kvcache_copy {
	uint32_t src, dst, n; /* n == 0: nothing to copy */
};

/* Admits a sequence whose prompt is prompt[0..n_prompt) (copied) and that
 * may hold up to max_positions positions (>= n_prompt). The longest prefix
 * of prompt[0..n_prompt-1) found in the tree is shared (the last prompt
 * position is always computed, since its logits are wanted): whole nodes,
 * ready or not, then, when the prompt goes on to share k more tokens with
 * a ready node's first tokens without matching it whole (a hit that ends
 * mid-block), a new block that starts as a copy of those k positions
 * (*copy says which). Blocks for the rest of the prompt are allocated at
 * once; the prompt's whole blocks past the shared prefix become un-ready
 * nodes this sequence computes, so that requests arriving meanwhile share
 * them. Returns 0 with *out; -EAGAIN when the blocks cannot be reserved
 * now (nothing changed: try again after a release); -E2BIG when
 * max_positions needs more blocks than the pool has (it never fits);
 * -EINVAL when n_prompt is 0 or max_positions < n_prompt. *cached gets
 * the positions shared (whole nodes plus the copied k). */
int kvcache_admit(struct kvcache *kc, const engine_token *prompt, uint32_t n_prompt, uint32_t max_positions,
		  struct kvcache_seq **out, uint32_t *cached, struct kvcache_copy *copy);

/* The sequence's block table: entry i holds positions [16i, 16i+16).
 * Valid until the next kvcache call on this sequence; entries exist for
 * the blocks allocated so far. */
const uint32_t *kvcache_seq_blocks(const struct kvcache_seq *s);

/* Positions [0, result) hold valid keys and values for this sequence: what
 * it computed (kvcache_seq_computed) and copied, extended over the shared
 * nodes that follow and are ready. */
uint32_t kvcache_seq_valid(struct kvcache *kc, struct kvcache_seq *s);

/* The end of the span [valid, result) this sequence may compute now,
 * result <= end: positions past its shared nodes are its own; a shared
 * node that is not ready is computed by this sequence when no other live
 * sequence computes it (it claims it), else the span stops there (result
 * == valid means: wait for the other sequence). */
uint32_t kvcache_seq_claim(struct kvcache *kc, struct kvcache_seq *s, uint32_t end);

/* The sequence computed positions [valid, end) (end <= what claim
 * allowed): nodes it computes that lie wholly below end become ready. */
void kvcache_seq_computed(struct kvcache *kc, struct kvcache_seq *s, uint32_t end);

/* Makes sure blocks exist for positions [0, positions), allocating from
 * the sequence's reservation. Returns 0, or -ENOSPC when positions exceeds
 * the max_positions it was admitted with. */
int kvcache_seq_grow(struct kvcache *kc, struct kvcache_seq *s, uint32_t positions);

/* Ends the sequence and frees s. tokens[0..n_valid) are its tokens whose
 * keys and values are valid (the prompt and the generated tokens that were
 * computed; n_valid <= kvcache_seq_valid). With the prefix cache on, its
 * blocks holding those positions join the tree (a whole block as a node,
 * the tail as a leaf of fewer tokens; a block whose node already exists
 * is freed); nodes it was to compute and did not finish are given up: they
 * stay for the sequences that share them (one of which will claim them)
 * or leave the tree when none does. Its unused reservation returns. */
void kvcache_seq_release(struct kvcache *kc, struct kvcache_seq *s, const engine_token *tokens, uint32_t n_valid);

struct kvcache_stats {
	uint32_t total;    /* blocks in the pool */
	uint32_t free;     /* on the free list */
	uint32_t cached;   /* in the tree, referenced by no sequence (evictable) */
	uint32_t used;     /* referenced by a sequence (private or shared) */
	uint32_t reserved; /* promised to admitted sequences, not allocated yet */
	uint32_t nodes;    /* nodes in the tree */
	uint32_t sequences;
	uint64_t evictions;
};

void kvcache_stats(const struct kvcache *kc, struct kvcache_stats *out);

/* Checks every invariant (counts, refcounts, tree links, reservations) and
 * returns 0, or -EFAULT after writing what is wrong to err. For tests. */
int kvcache_check(const struct kvcache *kc, char *err, size_t errlen);

#endif
