/* Building the vocabulary trie: sort the tokens' bytes, then walk them in
 * order keeping the path of open nodes, so that each new token shares the
 * nodes of its common prefix with the one before and adds the rest. */
#include "daemon/engine/grammar_trie.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/grammar_stacks.h"
#include "daemon/engine/unicode.h"

struct trie_item {
	const uint8_t *bytes; /* the token's bytes, borrowed */
	uint32_t len;         /* how many */
	engine_token id;      /* the token */
};

static int trie_item_cmp(const void *a, const void *b)
{
	const struct trie_item *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->bytes, y->bytes, n);
	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static uint32_t trie_common(const struct trie_item *a, const struct trie_item *b)
{
	uint32_t n = a->len < b->len ? a->len : b->len, i = 0;
	while (i < n && a->bytes[i] == b->bytes[i])
		i++;
	return i;
}

/* Where each token's characters start, and what follows each start: the
 * atoms of the characters after it, or that something after it is not a
 * whole valid character (but for the start of one at the very end). */
struct trie_chars {
	uint8_t *boundary; /* boundary[k]: the first k bytes are whole valid characters */
	uint32_t *from;    /* from[k]: where the character that the first k bytes end in (or after) starts */
	uint8_t *clean;    /* clean[k]: bytes k.. are whole valid characters too (or begin one, last) */
	uint64_t *atoms;   /* atoms[k]: the atoms of the characters from byte k on */
	bool partial;      /* the token ends inside a character */
};

static void trie_decode(struct trie_chars *c, const struct trie_item *it, const struct grammar_rules *rules)
{
	memset(c->boundary, 0, it->len + 1);
	memset(c->clean, 0, it->len + 1);
	c->partial = false;
	/* Forwards: the character starts of the valid prefix. */
	uint32_t k = 0;
	c->boundary[0] = 1;
	c->from[0] = 0;
	while (k < it->len) {
		size_t size;
		uint32_t cp = unicode_decode((const char *)it->bytes + k, it->len - k, &size);
		if (cp == UNICODE_REPLACEMENT && size == 1 && it->bytes[k] >= 0x80)
			break;
		for (uint32_t i = 1; i < size; i++)
			c->from[k + i] = k;
		k += (uint32_t)size;
		c->boundary[k] = 1;
		c->from[k] = k;
	}
	for (uint32_t i = k + 1; i <= it->len; i++)
		c->from[i] = k;
	if (!rules)
		return;
	/* The rest may be the start of a character: then its atoms are all
	 * those it could become. */
	uint64_t after = 0;
	if (k < it->len) {
		struct grammar_partial p = {0};
		for (uint32_t i = k; i < it->len; i++) {
			uint32_t cp;
			if (grammar_stacks_utf8(&p, it->bytes[i], &cp) != 0)
				return;
		}
		after = grammar_rules_atoms_between(rules, p.lo, p.hi);
		c->partial = true;
	}
	/* Backwards: the atoms from each start on. */
	c->clean[k] = 1;
	c->atoms[k] = after;
	for (uint32_t end = k; end > 0;) {
		uint32_t start = end - 1;
		while (!c->boundary[start])
			start--;
		size_t size;
		uint32_t cp = unicode_decode((const char *)it->bytes + start, it->len - start, &size);
		after |= 1ull << grammar_rules_atom(rules, cp);
		c->clean[start] = 1;
		c->atoms[start] = after;
		end = start;
	}
}

void grammar_trie_build(struct grammar_trie *t, const char *pieces, const uint32_t *piece_off, const engine_token *ids,
			uint32_t n, const struct grammar_rules *rules)
{
	if (rules && rules->n_atoms == 0)
		rules = NULL;
	memset(t, 0, sizeof(*t));
	struct trie_item *items = xmalloc((n ? n : 1) * sizeof(*items));
	uint32_t longest = 0;
	for (uint32_t i = 0; i < n; i++) {
		items[i].bytes = (const uint8_t *)pieces + piece_off[ids[i]];
		items[i].len = piece_off[ids[i] + 1] - piece_off[ids[i]];
		items[i].id = ids[i];
		if (items[i].len > longest)
			longest = items[i].len;
	}
	qsort(items, n, sizeof(*items), trie_item_cmp);
	/* Nodes: the root, and each token's bytes past what it shares with
	 * the token before. */
	uint32_t nodes = 1;
	for (uint32_t i = 0; i < n; i++)
		nodes += items[i].len - (i ? trie_common(&items[i - 1], &items[i]) : 0);
	t->n_nodes = nodes;
	t->byte = xcalloc(nodes, 1);
	t->flags = xcalloc(nodes, 1);
	t->size = xcalloc(nodes, sizeof(uint32_t));
	t->depth = xcalloc(nodes, sizeof(uint32_t));
	t->max_depth = xcalloc(nodes, sizeof(uint32_t));
	t->tok_lo = xcalloc(nodes, sizeof(uint32_t));
	t->tok_hi = xcalloc(nodes, sizeof(uint32_t));
	t->n_end = xcalloc(nodes, sizeof(uint32_t));
	t->sub_atoms = xcalloc(nodes, sizeof(uint64_t));
	t->order = xmalloc((n ? n : 1) * sizeof(*t->order));
	t->n_order = n;

	uint32_t *path = xmalloc((longest + 1) * sizeof(*path)); /* path[d]: the open node of depth d */
	struct trie_chars chars = {xmalloc(longest + 1), xmalloc((longest + 1) * sizeof(uint32_t)),
				   xmalloc(longest + 1), xmalloc((longest + 1) * sizeof(uint64_t)), false};
	uint32_t next = 1, open = 0; /* open: depth of the deepest open node */
	path[0] = 0;
	t->flags[0] = GRAMMAR_TRIE_BOUNDARY | (rules ? GRAMMAR_TRIE_CLEAN : 0);
	for (uint32_t i = 0; i < n; i++) {
		const struct trie_item *it = &items[i];
		t->order[i] = it->id;
		uint32_t common = i ? trie_common(&items[i - 1], it) : 0;
		for (; open > common; open--) {
			uint32_t node = path[open];
			t->size[node] = next - node;
			t->tok_hi[node] = i;
		}
		trie_decode(&chars, it, rules);
		for (uint32_t d = common + 1; d <= it->len; d++) {
			uint32_t node = next++;
			t->byte[node] = it->bytes[d - 1];
			t->depth[node] = d;
			t->tok_lo[node] = i;
			t->flags[node] =
				(chars.boundary[d] ? GRAMMAR_TRIE_BOUNDARY : 0) | (rules ? GRAMMAR_TRIE_CLEAN : 0);
			path[d] = node;
		}
		open = it->len;
		t->n_end[path[it->len]]++;
		for (uint32_t d = 0; d <= it->len; d++) {
			uint32_t node = path[d];
			if (t->max_depth[node] < it->len)
				t->max_depth[node] = it->len;
			if (!(t->flags[node] & GRAMMAR_TRIE_CLEAN))
				continue;
			if (chars.clean[chars.from[d]]) {
				t->sub_atoms[node] |= chars.atoms[chars.from[d]];
				if (chars.partial)
					t->flags[node] |= GRAMMAR_TRIE_PARTIAL;
			} else {
				t->flags[node] &= (uint8_t)~GRAMMAR_TRIE_CLEAN;
			}
		}
	}
	for (;; open--) {
		uint32_t node = path[open];
		t->size[node] = next - node;
		t->tok_hi[node] = n;
		if (open == 0)
			break;
	}
	free(path);
	free(chars.boundary);
	free(chars.from);
	free(chars.clean);
	free(chars.atoms);
	free(items);
}

void grammar_trie_free(struct grammar_trie *t)
{
	free(t->byte);
	free(t->flags);
	free(t->size);
	free(t->depth);
	free(t->max_depth);
	free(t->tok_lo);
	free(t->tok_hi);
	free(t->n_end);
	free(t->sub_atoms);
	free(t->order);
	memset(t, 0, sizeof(*t));
}
