/* The paged KV cache's bookkeeping (see kvcache.h): the pool's free list,
 * the sequences' block tables, and the prefix tree with its reference
 * counts, its list of evictable leaves and the admission reservations. */
#include "daemon/engine/kvcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* A node of the prefix tree: one block's tokens and the block computed for
 * them after its ancestors' tokens. Invariants (kvcache_check verifies
 * them): a partial node (fewer than KVCACHE_BLOCK tokens) is a ready leaf
 * that no sequence's path includes; a ready node's parent is ready; a node
 * that is not ready is referenced (its computer or its sharers hold it);
 * a node is on the LRU list exactly when it has no references and no
 * children; siblings never hold the same KVCACHE_BLOCK tokens. */
struct kvcache_node {
	engine_token tokens[KVCACHE_BLOCK];               /* the first n_tokens are this block's */
	uint32_t n_tokens;                                /* KVCACHE_BLOCK, or 1..15 for a partial leaf */
	uint32_t block;                                   /* the pool block holding their keys and values */
	struct kvcache_node *parent;                      /* NULL only for the root */
	struct kvcache_node *first_child;                 /* children, in a doubly linked list */
	struct kvcache_node *prev_sibling, *next_sibling; /* links of that list */
	uint32_t refs;                                    /* sequences whose path includes this node */
	bool ready;                                       /* its positions are computed */
	struct kvcache_seq *computer;                     /* writes it while not ready; NULL: orphaned */
	bool evictable;                                   /* on the LRU list */
	struct kvcache_node *lru_prev, *lru_next;         /* links of the LRU list */
};

/* An admitted sequence. Its path is the tree nodes it shares, from the
 * root down (prefix-closed): its block table starts with their blocks and
 * goes on with private blocks. */
struct kvcache_seq {
	engine_token *prompt;            /* owned copy of the prompt */
	uint32_t n_prompt;               /* prompt tokens */
	uint32_t max_positions;          /* positions it may ever hold */
	uint32_t max_blocks;             /* blocks for max_positions: what it reserved */
	uint32_t *blocks;                /* block table, max_blocks entries of which n_blocks exist */
	uint32_t n_blocks;               /* blocks allocated (path blocks included) */
	struct kvcache_node **path;      /* owned array of the nodes it references */
	uint32_t n_path;                 /* nodes on the path: block table entries [0, n_path) */
	uint32_t n_ready;                /* leading path nodes seen ready (they stay ready) */
	uint32_t own_valid;              /* [0, own_valid) valid through its own work: copied or computed */
	struct kvcache_seq *prev, *next; /* the cache's list of sequences */
};

struct kvcache {
	uint32_t n_blocks;             /* blocks in the pool */
	bool prefix_cache;             /* false: no tree, every block is private */
	uint32_t *free_blocks;         /* owned stack of free block ids */
	uint32_t n_free;               /* entries of free_blocks in use */
	uint32_t n_cached;             /* tree nodes without references */
	uint32_t reserved;             /* sum over sequences of max_blocks - n_blocks */
	uint32_t n_nodes;              /* tree nodes, the root not counted */
	uint32_t n_sequences;          /* admitted sequences */
	uint64_t evictions;            /* nodes evicted to free a block */
	struct kvcache_node root;      /* holds no block and no tokens; always ready */
	struct kvcache_node *lru_head; /* least recently used evictable leaf */
	struct kvcache_node *lru_tail; /* most recently used one */
	struct kvcache_seq *sequences; /* admitted sequences */
};

static uint32_t blocks_for(uint64_t positions)
{
	return (uint32_t)((positions + KVCACHE_BLOCK - 1) / KVCACHE_BLOCK);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

struct kvcache *kvcache_new(uint32_t n_blocks, bool prefix_cache)
{
	struct kvcache *kc = xcalloc(1, sizeof(*kc));
	kc->n_blocks = n_blocks;
	kc->prefix_cache = prefix_cache;
	kc->free_blocks = xcalloc(n_blocks ? n_blocks : 1, sizeof(*kc->free_blocks));
	/* Pushed in reverse so that block 0 is handed out first. */
	for (uint32_t i = 0; i < n_blocks; i++)
		kc->free_blocks[i] = n_blocks - 1 - i;
	kc->n_free = n_blocks;
	kc->root.ready = true;
	kc->root.block = UINT32_MAX;
	return kc;
}

static void seq_destroy(struct kvcache_seq *s)
{
	free(s->prompt);
	free(s->blocks);
	free(s->path);
	free(s);
}

void kvcache_free(struct kvcache *kc)
{
	if (!kc)
		return;
	while (kc->sequences) {
		struct kvcache_seq *s = kc->sequences;
		kc->sequences = s->next;
		seq_destroy(s);
	}
	/* Post-order without recursion: the tree may be as deep as a context
	 * is long. A node is always its parent's first child when freed. */
	struct kvcache_node *n = &kc->root;
	while (n) {
		if (n->first_child) {
			n = n->first_child;
			continue;
		}
		struct kvcache_node *parent = n->parent;
		if (!parent)
			break;
		parent->first_child = n->next_sibling;
		free(n);
		n = parent;
	}
	free(kc->free_blocks);
	free(kc);
}

/* The LRU list of evictable leaves: the head goes first. */

static void lru_unlink(struct kvcache *kc, struct kvcache_node *n)
{
	if (!n->evictable)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		kc->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		kc->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
	n->evictable = false;
}

/* Puts n on the list if it just became an unreferenced leaf: at the tail
 * when it was just used, at the head when it became a leaf because its
 * last child was evicted (that child was the coldest node, and a parent
 * is used whenever its child is, so the parent is colder still). */
static void lru_add_if_evictable(struct kvcache *kc, struct kvcache_node *n, bool cold)
{
	if (n == &kc->root || n->evictable || n->refs || n->first_child)
		return;
	n->evictable = true;
	if (cold) {
		n->lru_prev = NULL;
		n->lru_next = kc->lru_head;
		if (kc->lru_head)
			kc->lru_head->lru_prev = n;
		else
			kc->lru_tail = n;
		kc->lru_head = n;
	} else {
		n->lru_next = NULL;
		n->lru_prev = kc->lru_tail;
		if (kc->lru_tail)
			kc->lru_tail->lru_next = n;
		else
			kc->lru_head = n;
		kc->lru_tail = n;
	}
}

/* Moves an evictable node to the tail: it was just used. */
static void lru_touch(struct kvcache *kc, struct kvcache_node *n)
{
	if (!n->evictable)
		return;
	lru_unlink(kc, n);
	lru_add_if_evictable(kc, n, false);
}

static void node_ref(struct kvcache *kc, struct kvcache_node *n)
{
	if (n->refs++ == 0) {
		kc->n_cached--;
		lru_unlink(kc, n);
	}
}

static void node_unref(struct kvcache *kc, struct kvcache_node *n)
{
	if (--n->refs == 0) {
		kc->n_cached++;
		lru_add_if_evictable(kc, n, false);
	}
}

/* Adds a child of parent holding tokens[0..n_tokens) in block. With a
 * computer it is un-ready and referenced by it; without, it is ready and
 * unreferenced (cached). */
static struct kvcache_node *node_add(struct kvcache *kc, struct kvcache_node *parent, const engine_token *tokens,
				     uint32_t n_tokens, uint32_t block, struct kvcache_seq *computer)
{
	struct kvcache_node *n = xcalloc(1, sizeof(*n));
	memcpy(n->tokens, tokens, n_tokens * sizeof(*tokens));
	n->n_tokens = n_tokens;
	n->block = block;
	n->parent = parent;
	n->next_sibling = parent->first_child;
	if (parent->first_child)
		parent->first_child->prev_sibling = n;
	parent->first_child = n;
	lru_unlink(kc, parent);
	kc->n_nodes++;
	if (computer) {
		n->refs = 1;
		n->computer = computer;
	} else {
		n->ready = true;
		kc->n_cached++;
		lru_add_if_evictable(kc, n, false);
	}
	return n;
}

static void block_put(struct kvcache *kc, uint32_t block)
{
	kc->free_blocks[kc->n_free++] = block;
}

/* Removes leaf n from the tree and frees its block; its parent, if that
 * leaves it an unreferenced leaf, joins the LRU list (cold: at the head). */
static void node_destroy(struct kvcache *kc, struct kvcache_node *n, bool cold)
{
	struct kvcache_node *parent = n->parent;
	lru_unlink(kc, n);
	if (n->refs == 0)
		kc->n_cached--;
	if (n->prev_sibling)
		n->prev_sibling->next_sibling = n->next_sibling;
	else
		parent->first_child = n->next_sibling;
	if (n->next_sibling)
		n->next_sibling->prev_sibling = n->prev_sibling;
	block_put(kc, n->block);
	free(n);
	kc->n_nodes--;
	lru_add_if_evictable(kc, parent, cold);
}

/* Removes top and everything below it, leaves first, without recursion. */
static void subtree_destroy(struct kvcache *kc, struct kvcache_node *top)
{
	struct kvcache_node *n = top;
	for (;;) {
		while (n->first_child)
			n = n->first_child;
		struct kvcache_node *parent = n->parent;
		bool last = n == top;
		node_destroy(kc, n, false);
		if (last)
			return;
		n = parent;
	}
}

/* A block off the free list, or else the block of the least recently used
 * evictable leaf. Reservations guarantee one of the two exists: free +
 * cached >= reserved, and every unreferenced node's subtree is
 * unreferenced, so when cached > 0 some unreferenced node is a leaf. */
static uint32_t block_take(struct kvcache *kc)
{
	if (!kc->n_free) {
		struct kvcache_node *victim = kc->lru_head;
		if (!victim)
			abort(); /* the reservations were broken: a bug here */
		node_destroy(kc, victim, true);
		kc->evictions++;
	}
	return kc->free_blocks[--kc->n_free];
}

static bool tokens_equal(const engine_token *a, const engine_token *b, uint32_t n)
{
	return memcmp(a, b, n * sizeof(*a)) == 0;
}

/* The child of parent holding exactly these KVCACHE_BLOCK tokens. */
static struct kvcache_node *find_full_child(const struct kvcache_node *parent, const engine_token *tokens)
{
	for (struct kvcache_node *c = parent->first_child; c; c = c->next_sibling)
		if (c->n_tokens == KVCACHE_BLOCK && tokens_equal(c->tokens, tokens, KVCACHE_BLOCK))
			return c;
	return NULL;
}

/* A child of parent that makes a new node holding tokens[0..n) redundant:
 * one with the same KVCACHE_BLOCK tokens when n is a whole block, else a
 * ready one whose tokens start with these. */
static struct kvcache_node *find_cover(const struct kvcache_node *parent, const engine_token *tokens, uint32_t n)
{
	if (n == KVCACHE_BLOCK)
		return find_full_child(parent, tokens);
	for (struct kvcache_node *c = parent->first_child; c; c = c->next_sibling)
		if (c->ready && c->n_tokens >= n && tokens_equal(c->tokens, tokens, n))
			return c;
	return NULL;
}

/* Drops the partial leaves beside ready node n whose tokens n's tokens
 * start with: whatever would hit them hits n as well, so they only hold a
 * block. Unreferenced partial leaves are the only kind there is outside
 * kvcache_admit. */
static void drop_covered_leaves(struct kvcache *kc, struct kvcache_node *n)
{
	struct kvcache_node *c = n->parent->first_child;
	while (c) {
		struct kvcache_node *next = c->next_sibling;
		if (c != n && c->n_tokens < n->n_tokens && !c->refs && !c->first_child &&
		    tokens_equal(c->tokens, n->tokens, c->n_tokens))
			node_destroy(kc, c, false);
		c = next;
	}
}

static void node_set_ready(struct kvcache *kc, struct kvcache_node *n)
{
	n->ready = true;
	n->computer = NULL;
	drop_covered_leaves(kc, n);
}

/* What a prompt finds in the tree. */
struct kvcache_match {
	uint32_t n_nodes;              /* whole nodes shared, written to the path */
	uint32_t n_unreferenced;       /* of those, the ones without references (cached) */
	struct kvcache_node *copy_src; /* the ready node a mid-block hit copies from, or NULL */
	uint32_t copy_n;               /* positions copied from it */
};

/* Finds the longest prefix of prompt[0..n_prompt-1) in the tree: whole
 * nodes (ready or not) into path, then the ready child sharing the most
 * leading tokens with what follows. */
static void match_prefix(const struct kvcache *kc, const engine_token *prompt, uint32_t n_prompt,
			 struct kvcache_node **path, struct kvcache_match *m)
{
	uint32_t limit = n_prompt - 1, pos = 0;
	const struct kvcache_node *node = &kc->root;
	memset(m, 0, sizeof(*m));
	while (limit - pos >= KVCACHE_BLOCK) {
		struct kvcache_node *child = find_full_child(node, prompt + pos);
		if (!child)
			break;
		path[m->n_nodes++] = child;
		m->n_unreferenced += child->refs == 0;
		node = child;
		pos += KVCACHE_BLOCK;
	}
	/* Fewer than KVCACHE_BLOCK tokens may follow, or a whole block that no
	 * child holds: either way the best hit ends mid-block. */
	uint32_t rest = min_u32(limit - pos, KVCACHE_BLOCK);
	for (struct kvcache_node *c = node->first_child; c && rest; c = c->next_sibling) {
		if (!c->ready)
			continue;
		uint32_t n = min_u32(rest, c->n_tokens), k = 0;
		while (k < n && c->tokens[k] == prompt[pos + k])
			k++;
		if (k > m->copy_n) {
			m->copy_src = c;
			m->copy_n = k;
		}
	}
}

int kvcache_admit(struct kvcache *kc, const engine_token *prompt, uint32_t n_prompt, uint32_t max_positions,
		  struct kvcache_seq **out, uint32_t *cached, struct kvcache_copy *copy)
{
	*out = NULL;
	*cached = 0;
	*copy = (struct kvcache_copy){0, 0, 0};
	if (n_prompt == 0 || max_positions < n_prompt)
		return -EINVAL;
	uint32_t max_blocks = blocks_for(max_positions);
	if (max_blocks > kc->n_blocks)
		return -E2BIG;

	uint32_t prompt_blocks = blocks_for(n_prompt);
	struct kvcache_node **path = xcalloc(prompt_blocks, sizeof(*path));
	struct kvcache_match m = {0, 0, NULL, 0};
	if (kc->prefix_cache)
		match_prefix(kc, prompt, n_prompt, path, &m);
	/* What admission takes from free + cached - reserved: the blocks it
	 * allocates and reserves, and the cached nodes it starts to reference. */
	uint64_t avail = (uint64_t)kc->n_free + kc->n_cached - kc->reserved;
	uint64_t need = (uint64_t)max_blocks - m.n_nodes + m.n_unreferenced;
	/* An unreferenced copy source is held while the prompt's blocks are
	 * taken, so that they cannot evict it: if they need its block, go
	 * without the copy. */
	uint64_t taken_now = (uint64_t)prompt_blocks - m.n_nodes + m.n_unreferenced;
	if (m.copy_src && m.copy_src->refs == 0 && taken_now + 1 > (uint64_t)kc->n_free + kc->n_cached) {
		m.copy_src = NULL;
		m.copy_n = 0;
	}
	if (need > avail) {
		free(path);
		return -EAGAIN;
	}

	struct kvcache_seq *s = xcalloc(1, sizeof(*s));
	s->prompt = xmalloc((size_t)n_prompt * sizeof(*prompt));
	memcpy(s->prompt, prompt, (size_t)n_prompt * sizeof(*prompt));
	s->n_prompt = n_prompt;
	s->max_positions = max_positions;
	s->max_blocks = max_blocks;
	s->blocks = xcalloc(max_blocks, sizeof(*s->blocks));
	s->path = path;
	for (uint32_t i = 0; i < m.n_nodes; i++) {
		node_ref(kc, path[i]);
		s->blocks[i] = path[i]->block;
	}
	s->n_path = m.n_nodes;
	if (m.copy_src)
		node_ref(kc, m.copy_src);

	/* The prompt's whole blocks past the shared ones become nodes this
	 * sequence computes, unless the tree holds that block already (only
	 * the last prompt block can be so: the match stops short of the last
	 * position). From the first block that stays private on, all do. */
	struct kvcache_node *parent = m.n_nodes ? path[m.n_nodes - 1] : &kc->root;
	bool grow_tree = kc->prefix_cache;
	for (uint32_t i = m.n_nodes; i < prompt_blocks; i++) {
		uint32_t b = block_take(kc);
		const engine_token *t = prompt + (size_t)i * KVCACHE_BLOCK;
		s->blocks[i] = b;
		if (grow_tree && (uint64_t)(i + 1) * KVCACHE_BLOCK <= n_prompt && !find_full_child(parent, t)) {
			parent = node_add(kc, parent, t, KVCACHE_BLOCK, b, s);
			path[s->n_path++] = parent;
		} else {
			grow_tree = false;
		}
	}
	s->n_blocks = prompt_blocks;
	kc->reserved += max_blocks - prompt_blocks;

	/* A copy source is ready and a child of the last shared node, so the
	 * shared nodes are all ready and the copied positions are valid from
	 * the start. */
	if (m.copy_src) {
		*copy = (struct kvcache_copy){m.copy_src->block, s->blocks[m.n_nodes], m.copy_n};
		s->own_valid = m.n_nodes * KVCACHE_BLOCK + m.copy_n;
		node_unref(kc, m.copy_src);
	}
	s->next = kc->sequences;
	if (kc->sequences)
		kc->sequences->prev = s;
	kc->sequences = s;
	kc->n_sequences++;
	*out = s;
	*cached = m.n_nodes * KVCACHE_BLOCK + m.copy_n;
	return 0;
}

const uint32_t *kvcache_seq_blocks(const struct kvcache_seq *s)
{
	return s->blocks;
}

/* Ready nodes stay ready while referenced and what the sequence computed
 * stays valid, so valid only grows: the walk resumes where it stopped. A
 * sequence never computes past a path node that is not ready unless it
 * computes that node, so own_valid beyond the ready nodes is contiguous
 * with them. */
static uint32_t seq_valid(struct kvcache_seq *s)
{
	while (s->n_ready < s->n_path && s->path[s->n_ready]->ready)
		s->n_ready++;
	uint32_t v = s->n_ready * KVCACHE_BLOCK;
	return v > s->own_valid ? v : s->own_valid;
}

uint32_t kvcache_seq_valid(struct kvcache *kc, struct kvcache_seq *s)
{
	(void)kc;
	return seq_valid(s);
}

uint32_t kvcache_seq_claim(struct kvcache *kc, struct kvcache_seq *s, uint32_t end)
{
	(void)kc;
	end = min_u32(end, s->max_positions);
	uint32_t v = seq_valid(s);
	if (end <= v)
		return end;
	for (uint32_t i = v / KVCACHE_BLOCK; i < s->n_path && (uint64_t)i * KVCACHE_BLOCK < end; i++) {
		struct kvcache_node *n = s->path[i];
		if (n->ready)
			continue;
		if (n->computer && n->computer != s)
			return i * KVCACHE_BLOCK > v ? i * KVCACHE_BLOCK : v;
		n->computer = s;
	}
	return end;
}

void kvcache_seq_computed(struct kvcache *kc, struct kvcache_seq *s, uint32_t end)
{
	/* Positions without a block, or past a node the sequence does not
	 * compute, cannot have been computed: a caller that passes them went
	 * past what claim allowed, and they are not counted. */
	end = min_u32(end, s->max_positions);
	if ((uint64_t)s->n_blocks * KVCACHE_BLOCK < end)
		end = s->n_blocks * KVCACHE_BLOCK;
	uint32_t v = seq_valid(s);
	if (end <= v)
		return;
	for (uint32_t i = v / KVCACHE_BLOCK; i < s->n_path && (uint64_t)i * KVCACHE_BLOCK < end; i++) {
		struct kvcache_node *n = s->path[i];
		if (n->ready)
			continue;
		if (n->computer != s) {
			end = i * KVCACHE_BLOCK;
			break;
		}
		if ((uint64_t)(i + 1) * KVCACHE_BLOCK <= end)
			node_set_ready(kc, n);
	}
	if (end > s->own_valid)
		s->own_valid = end;
}

int kvcache_seq_grow(struct kvcache *kc, struct kvcache_seq *s, uint32_t positions)
{
	if (positions > s->max_positions)
		return -ENOSPC;
	uint32_t need = blocks_for(positions);
	while (s->n_blocks < need) {
		s->blocks[s->n_blocks++] = block_take(kc);
		kc->reserved--;
	}
	return 0;
}

void kvcache_seq_release(struct kvcache *kc, struct kvcache_seq *s, const engine_token *tokens, uint32_t n_valid)
{
	if (!s)
		return;
	n_valid = min_u32(n_valid, seq_valid(s));
	/* Tokens that are not the prompt would file blocks under the wrong
	 * tokens: keep nothing then. */
	if (n_valid && (!tokens || !tokens_equal(tokens, s->prompt, min_u32(n_valid, s->n_prompt))))
		n_valid = 0;
	struct kvcache_node *parent = s->n_path ? s->path[s->n_path - 1] : &kc->root;
	/* Blocks join the tree below the path only if its last node is ready:
	 * nothing past a node that is not ready can be valid, and such a node
	 * may leave the tree just below. */
	bool insert = kc->prefix_cache && parent->ready;

	for (uint32_t i = 0; i < s->n_path; i++) {
		struct kvcache_node *n = s->path[i];
		if (n->computer == s)
			n->computer = NULL;
		node_unref(kc, n);
	}
	/* Un-ready nodes nobody references any more are given up, with what is
	 * below them (un-ready and unreferenced too: paths are prefix-closed). */
	for (uint32_t i = 0; i < s->n_path; i++)
		if (!s->path[i]->ready && s->path[i]->refs == 0) {
			subtree_destroy(kc, s->path[i]);
			break;
		}

	for (uint32_t i = s->n_path; i < s->n_blocks; i++) {
		uint32_t b = s->blocks[i];
		uint64_t start = (uint64_t)i * KVCACHE_BLOCK;
		if (!insert || start >= n_valid) {
			block_put(kc, b);
			continue;
		}
		uint32_t n_tokens = min_u32(KVCACHE_BLOCK, (uint32_t)(n_valid - start));
		const engine_token *t = tokens + start;
		struct kvcache_node *twin = find_cover(parent, t, n_tokens);
		if (twin) {
			/* The tree has these keys and values already: go on below
			 * the twin if it is ready (it is then the same block). */
			block_put(kc, b);
			lru_touch(kc, twin);
			if (n_tokens < KVCACHE_BLOCK || !twin->ready)
				insert = false;
			parent = twin;
			continue;
		}
		parent = node_add(kc, parent, t, n_tokens, b, NULL);
		drop_covered_leaves(kc, parent);
		if (n_tokens < KVCACHE_BLOCK)
			insert = false;
	}
	kc->reserved -= s->max_blocks - s->n_blocks;

	if (s->prev)
		s->prev->next = s->next;
	else
		kc->sequences = s->next;
	if (s->next)
		s->next->prev = s->prev;
	kc->n_sequences--;
	seq_destroy(s);
}

void kvcache_stats(const struct kvcache *kc, struct kvcache_stats *out)
{
	out->total = kc->n_blocks;
	out->free = kc->n_free;
	out->cached = kc->n_cached;
	out->used = kc->n_blocks - kc->n_free - kc->n_cached;
	out->reserved = kc->reserved;
	out->nodes = kc->n_nodes;
	out->sequences = kc->n_sequences;
	out->evictions = kc->evictions;
}

/* The next node of a pre-order walk of the tree, or NULL at the end. */
static const struct kvcache_node *tree_next(const struct kvcache *kc, const struct kvcache_node *n)
{
	if (n->first_child)
		return n->first_child;
	while (n != &kc->root && !n->next_sibling)
		n = n->parent;
	return n == &kc->root ? NULL : n->next_sibling;
}

#define CHECK_FAIL(...)                                                                                                \
	do {                                                                                                           \
		snprintf(err, errlen, __VA_ARGS__);                                                                    \
		rc = -EFAULT;                                                                                          \
		goto out;                                                                                              \
	} while (0)

int kvcache_check(const struct kvcache *kc, char *err, size_t errlen)
{
	int rc = 0;
	uint32_t total = kc->n_blocks;
	/* What holds each block: the free list (kc), a node, or a sequence. */
	const void **owner = xcalloc(total ? total : 1, sizeof(*owner));
	/* References counted from the sequences' paths, by the node's block. */
	uint32_t *refs = xcalloc(total ? total : 1, sizeof(*refs));

	if (kc->n_free > total)
		CHECK_FAIL("%u free blocks in a pool of %u", kc->n_free, total);
	for (uint32_t i = 0; i < kc->n_free; i++) {
		uint32_t b = kc->free_blocks[i];
		if (b >= total || owner[b])
			CHECK_FAIL("free list entry %u: block %u out of range or twice", i, b);
		owner[b] = kc;
	}

	const struct kvcache_node *root = &kc->root;
	if (root->parent || !root->ready || root->refs || root->evictable || root->computer)
		CHECK_FAIL("root node damaged");
	uint32_t nodes = 0, cached = 0, referenced = 0, evictable = 0, computing = 0;
	for (const struct kvcache_node *n = tree_next(kc, root); n; n = tree_next(kc, n)) {
		const struct kvcache_node *p = n->parent;
		if (++nodes > kc->n_nodes)
			CHECK_FAIL("more nodes in the tree than the %u counted", kc->n_nodes);
		if (n->block >= total || owner[n->block])
			CHECK_FAIL("node block %u out of range or held twice", n->block);
		owner[n->block] = n;
		if (n->n_tokens < 1 || n->n_tokens > KVCACHE_BLOCK)
			CHECK_FAIL("node of block %u holds %u tokens", n->block, n->n_tokens);
		if (n->n_tokens < KVCACHE_BLOCK && (n->first_child || !n->ready))
			CHECK_FAIL("partial node of block %u has children or is not ready", n->block);
		if (n->ready && !p->ready)
			CHECK_FAIL("ready node of block %u below an un-ready one", n->block);
		if (n->ready && n->computer)
			CHECK_FAIL("ready node of block %u has a computer", n->block);
		if (!n->ready && !n->refs)
			CHECK_FAIL("un-ready node of block %u has no references", n->block);
		if (n->evictable != (!n->refs && !n->first_child))
			CHECK_FAIL("node of block %u: evictable %d with %u refs", n->block, n->evictable, n->refs);
		if (n->prev_sibling ? n->prev_sibling->next_sibling != n : p->first_child != n)
			CHECK_FAIL("node of block %u: sibling links broken", n->block);
		for (const struct kvcache_node *c = n->first_child; c; c = c->next_sibling)
			if (c->parent != n)
				CHECK_FAIL("child of block %u names another parent", c->block);
		for (const struct kvcache_node *c = n->next_sibling; c; c = c->next_sibling)
			if (c->n_tokens == KVCACHE_BLOCK && n->n_tokens == KVCACHE_BLOCK &&
			    tokens_equal(c->tokens, n->tokens, KVCACHE_BLOCK))
				CHECK_FAIL("siblings of blocks %u and %u hold the same tokens", n->block, c->block);
		cached += n->refs == 0;
		referenced += n->refs > 0;
		evictable += n->evictable;
		computing += n->computer != NULL;
	}
	if (nodes != kc->n_nodes)
		CHECK_FAIL("%u nodes in the tree, %u counted", nodes, kc->n_nodes);
	if (!kc->prefix_cache && nodes)
		CHECK_FAIL("%u nodes without the prefix cache", nodes);

	uint32_t listed = 0;
	for (const struct kvcache_node *n = kc->lru_head; n; n = n->lru_next) {
		if (++listed > evictable)
			CHECK_FAIL("LRU list longer than the %u evictable nodes", evictable);
		if (!n->evictable || n->block >= total || owner[n->block] != n)
			CHECK_FAIL("LRU list holds a node not marked evictable or not in the tree");
		if (n->lru_prev ? n->lru_prev->lru_next != n : kc->lru_head != n)
			CHECK_FAIL("LRU links broken at block %u", n->block);
		if (!n->lru_next && kc->lru_tail != n)
			CHECK_FAIL("LRU tail is wrong");
	}
	if (listed != evictable)
		CHECK_FAIL("LRU list holds %u nodes, %u are evictable", listed, evictable);

	uint32_t privates = 0, sequences = 0, computed_by_seqs = 0;
	uint64_t reserved = 0;
	for (const struct kvcache_seq *s = kc->sequences; s; s = s->next) {
		if (++sequences > kc->n_sequences)
			CHECK_FAIL("more sequences listed than the %u counted", kc->n_sequences);
		if (s->next && s->next->prev != s)
			CHECK_FAIL("sequence links broken");
		if (s->max_blocks != blocks_for(s->max_positions) || s->n_blocks > s->max_blocks ||
		    s->n_blocks < blocks_for(s->n_prompt) || s->n_path > s->n_blocks)
			CHECK_FAIL("sequence with %u/%u blocks, %u path nodes, %u prompt tokens", s->n_blocks,
				   s->max_blocks, s->n_path, s->n_prompt);
		if ((uint64_t)s->own_valid > (uint64_t)s->n_blocks * KVCACHE_BLOCK || s->n_ready > s->n_path)
			CHECK_FAIL("sequence valid past its blocks");
		for (uint32_t i = 0; i < s->n_path; i++) {
			const struct kvcache_node *n = s->path[i];
			if (n->block >= total || owner[n->block] != n)
				CHECK_FAIL("path node %u of a sequence is not in the tree", i);
			if (n->parent != (i ? s->path[i - 1] : root))
				CHECK_FAIL("path node %u of a sequence is not below the one before", i);
			if (s->blocks[i] != n->block)
				CHECK_FAIL("block table entry %u is not its path node's block", i);
			if (n->n_tokens != KVCACHE_BLOCK || (uint64_t)(i + 1) * KVCACHE_BLOCK > s->n_prompt ||
			    !tokens_equal(n->tokens, s->prompt + (size_t)i * KVCACHE_BLOCK, KVCACHE_BLOCK))
				CHECK_FAIL("path node %u does not hold the prompt's block", i);
			if (i < s->n_ready && !n->ready)
				CHECK_FAIL("path node %u was seen ready and is not", i);
			refs[n->block]++;
			computed_by_seqs += n->computer == s;
		}
		for (uint32_t i = s->n_path; i < s->n_blocks; i++) {
			uint32_t b = s->blocks[i];
			if (b >= total || owner[b])
				CHECK_FAIL("private block %u out of range or held twice", b);
			owner[b] = s;
			privates++;
		}
		reserved += s->max_blocks - s->n_blocks;
	}
	if (sequences != kc->n_sequences)
		CHECK_FAIL("%u sequences listed, %u counted", sequences, kc->n_sequences);
	/* Every computer is a live sequence that has the node on its path. */
	if (computing != computed_by_seqs)
		CHECK_FAIL("%u nodes have a computer, %u of them on their computer's path", computing,
			   computed_by_seqs);
	for (const struct kvcache_node *n = tree_next(kc, root); n; n = tree_next(kc, n))
		if (n->refs != refs[n->block])
			CHECK_FAIL("node of block %u has %u refs, the paths hold %u", n->block, n->refs,
				   refs[n->block]);

	if (cached != kc->n_cached)
		CHECK_FAIL("%u unreferenced nodes, %u counted as cached", cached, kc->n_cached);
	if ((uint64_t)kc->n_free + cached + privates + referenced != total)
		CHECK_FAIL("free %u + cached %u + private %u + referenced %u != %u", kc->n_free, cached, privates,
			   referenced, total);
	if (reserved != kc->reserved)
		CHECK_FAIL("reservations sum to %llu, %u counted", (unsigned long long)reserved, kc->reserved);
	if (reserved > (uint64_t)kc->n_free + cached)
		CHECK_FAIL("reserved %u > free %u + cached %u", kc->reserved, kc->n_free, cached);
out:
	free(owner);
	free(refs);
	return rc;
}
