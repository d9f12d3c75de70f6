/* Advancing parse states: match the character against every stack's top,
 * move each that matches past it, and expand what is then on top (end of
 * an alternative: pop; reference: one stack per alternative of the rule)
 * until every top is a class again. A reference that ends its alternative
 * is not kept below (tail calls), so right recursion runs in constant
 * depth; the left-recursion check at compile time makes expanding finite. */
#include "daemon/engine/grammar_stacks.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Expansions one advance may take, and how deeply they may branch. */
#define STACKS_MAX_STEPS (1u << 16)
#define STACKS_MAX_LEVEL 512
/* Bytes of the first arena block, and of the largest: each new block
 * doubles the last, so that a state that advances little costs little. */
#define STACKS_BLOCK_FIRST (2u << 10)
#define STACKS_BLOCK_MAX (64u << 10)

struct grammar_block {
	struct grammar_block *next; /* the next block in the chain */
	size_t cap;                 /* bytes of data */
	size_t used;                /* bytes of data in use */
	uint64_t data[];            /* the memory handed out */
};

void grammar_stacks_init(struct grammar_stacks_builder *b, const struct grammar_rules *rules)
{
	memset(b, 0, sizeof(*b));
	b->rules = rules;
}

void grammar_stacks_close(struct grammar_stacks_builder *b)
{
	free(b->work);
	free(b->frames);
	free(b->start);
	free(b->hash);
	free(b->order);
	free(b->table);
	for (struct grammar_block *blk = b->head, *next; blk; blk = next) {
		next = blk->next;
		free(blk);
	}
	memset(b, 0, sizeof(*b));
}

void *grammar_stacks_alloc(struct grammar_stacks_builder *b, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if (b->cur && b->cur->cap - b->cur->used >= size) {
		void *p = (char *)b->cur->data + b->cur->used;
		b->cur->used += size;
		return p;
	}
	/* The next block that is big enough, or a new one after the current. */
	struct grammar_block *blk = b->cur ? b->cur->next : b->head;
	while (blk && blk->cap < size)
		blk = blk->next;
	if (!blk) {
		size_t cap = b->cur ? b->cur->cap * 2 : STACKS_BLOCK_FIRST;
		if (cap > STACKS_BLOCK_MAX)
			cap = STACKS_BLOCK_MAX;
		if (cap < size)
			cap = size;
		blk = xmalloc(sizeof(*blk) + cap);
		blk->cap = cap;
		if (b->cur) {
			blk->next = b->cur->next;
			b->cur->next = blk;
		} else {
			blk->next = b->head;
			b->head = blk;
		}
	}
	blk->used = size;
	b->cur = blk;
	return blk->data;
}

struct grammar_stacks_mark grammar_stacks_mark(const struct grammar_stacks_builder *b)
{
	struct grammar_stacks_mark m = {b->cur, b->cur ? b->cur->used : 0};
	return m;
}

void grammar_stacks_release(struct grammar_stacks_builder *b, struct grammar_stacks_mark m)
{
	b->cur = m.block;
	if (b->cur)
		b->cur->used = m.used;
}

void grammar_stacks_reset(struct grammar_stacks_builder *b)
{
	b->cur = NULL;
}

static void stacks_work(struct grammar_stacks_builder *b, size_t need)
{
	if (need <= b->cap_work)
		return;
	while (b->cap_work < need)
		b->cap_work = b->cap_work ? b->cap_work * 2 : 256;
	b->work = xrealloc(b->work, b->cap_work * sizeof(*b->work));
}

/* Room for one stack more (and its table slot); the arrays start small,
 * so that a state costs little until it needs more. */
static void stacks_room(struct grammar_stacks_builder *b)
{
	if (b->n + 1 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->start = xrealloc(b->start, (b->cap + 1) * sizeof(*b->start));
		b->hash = xrealloc(b->hash, b->cap * sizeof(*b->hash));
		b->order = xrealloc(b->order, b->cap * sizeof(*b->order));
	}
	if ((b->n + 1) * 2 <= b->table_cap)
		return;
	free(b->table);
	b->table_cap = b->table_cap ? b->table_cap * 2 : 32;
	b->table = xcalloc(b->table_cap, sizeof(*b->table));
	b->generation = 1;
	uint32_t mask = b->table_cap - 1;
	for (uint32_t j = 0; j < b->n; j++) {
		uint32_t slot = b->hash[j] & mask;
		while (b->table[slot])
			slot = (slot + 1) & mask;
		b->table[slot] = (uint64_t)b->generation << 32 | j;
	}
}

static void stacks_begin(struct grammar_stacks_builder *b)
{
	b->n = 0;
	b->n_frames = 0;
	b->steps = 0;
	b->overflow = false;
	stacks_room(b);
	b->start[0] = 0;
	if (++b->generation == 0) {
		memset(b->table, 0, b->table_cap * sizeof(*b->table));
		b->generation = 1;
	}
}

/* Adds the stack work[base .. base + len) unless it is there already.
 * There is always room for one more (stacks_room after each). */
static void stacks_emit(struct grammar_stacks_builder *b, size_t base, uint32_t len)
{
	const uint32_t *f = b->work + base;
	uint32_t h = 2166136261u ^ len;
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ f[i]) * 16777619u;
	uint32_t mask = b->table_cap - 1, slot = h & mask;
	for (; (uint32_t)(b->table[slot] >> 32) == b->generation; slot = (slot + 1) & mask) {
		uint32_t j = (uint32_t)b->table[slot];
		uint32_t from = b->start[j], n = b->start[j + 1] - from;
		if (b->hash[j] == h && n == len && (len == 0 || memcmp(b->frames + from, f, len * sizeof(*f)) == 0))
			return;
	}
	if (b->n == GRAMMAR_STACKS_MAX) {
		b->overflow = true;
		return;
	}
	if (b->n_frames + len > b->cap_frames) {
		while (b->n_frames + len > b->cap_frames)
			b->cap_frames = b->cap_frames ? b->cap_frames * 2 : 256;
		b->frames = xrealloc(b->frames, b->cap_frames * sizeof(*b->frames));
	}
	if (len > 0)
		memcpy(b->frames + b->n_frames, f, len * sizeof(*f));
	b->n_frames += len;
	b->hash[b->n] = h;
	b->table[slot] = (uint64_t)b->generation << 32 | b->n;
	b->start[++b->n] = (uint32_t)b->n_frames;
	stacks_room(b);
}

/* Expands the stack work[base .. base + len) until its top is a class
 * (or it is empty), emitting each stack that results. Copies for the
 * branches go above base + len, so base's own frames stay intact. */
static void stacks_settle(struct grammar_stacks_builder *b, size_t base, uint32_t len, unsigned level)
{
	const struct grammar_rules *r = b->rules;
	for (;;) {
		if (b->overflow)
			return;
		if (++b->steps > STACKS_MAX_STEPS || level > STACKS_MAX_LEVEL || len > GRAMMAR_STACKS_MAX_DEPTH) {
			b->overflow = true;
			return;
		}
		if (len == 0) {
			stacks_emit(b, base, 0);
			return;
		}
		uint32_t at = b->work[base + len - 1];
		struct grammar_elem e = r->elems[at];
		if (e.type == GRAMMAR_ELEM_END || e.type == GRAMMAR_ELEM_ALT) {
			len--;
			continue;
		}
		if (e.type == GRAMMAR_ELEM_CLASS) {
			stacks_emit(b, base, len);
			return;
		}
		uint32_t after = r->elems[at + 1].type;
		if (after == GRAMMAR_ELEM_END || after == GRAMMAR_ELEM_ALT)
			len--;
		else
			b->work[base + len - 1] = at + 1;
		uint32_t first = r->alt_first[e.arg], last = r->alt_first[e.arg + 1];
		if (first == last)
			return;
		for (uint32_t k = first; k + 1 < last; k++) {
			size_t copy = base + len + 1;
			stacks_work(b, copy + len + 1);
			memcpy(b->work + copy, b->work + base, len * sizeof(*b->work));
			b->work[copy + len] = r->alts[k];
			stacks_settle(b, copy, len + 1, level + 1);
		}
		stacks_work(b, base + len + 1);
		b->work[base + len] = r->alts[last - 1];
		len++;
	}
}

static int stacks_cmp(const void *x, const void *y, void *ctx)
{
	const struct grammar_stacks_builder *b = ctx;
	uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
	uint32_t li = b->start[i + 1] - b->start[i], lj = b->start[j + 1] - b->start[j];
	if (li != lj)
		return li < lj ? -1 : 1;
	if (li == 0)
		return 0;
	return memcmp(b->frames + b->start[i], b->frames + b->start[j], li * sizeof(*b->frames));
}

/* The stacks made, sorted into a state in the arena. */
static const struct grammar_stacks *stacks_finish(struct grammar_stacks_builder *b)
{
	if (b->overflow || b->n == 0)
		return NULL;
	const struct grammar_rules *r = b->rules;
	for (uint32_t i = 0; i < b->n; i++)
		b->order[i] = i;
	if (b->n > 16) {
		qsort_r(b->order, b->n, sizeof(*b->order), stacks_cmp, b);
	} else {
		for (uint32_t i = 1; i < b->n; i++) {
			uint32_t x = b->order[i], j = i;
			for (; j > 0 && stacks_cmp(&b->order[j - 1], &x, b) > 0; j--)
				b->order[j] = b->order[j - 1];
			b->order[j] = x;
		}
	}
	size_t size = sizeof(struct grammar_stacks) + (b->n + 1 + b->n_frames) * sizeof(uint32_t);
	struct grammar_stacks *s = grammar_stacks_alloc(b, size);
	s->n = b->n;
	s->start = (uint32_t *)(s + 1);
	s->frames = s->start + b->n + 1;
	s->min_bytes = GRAMMAR_INF;
	s->complete = false;
	uint32_t at = 0;
	for (uint32_t k = 0; k < b->n; k++) {
		uint32_t i = b->order[k], from = b->start[i], len = b->start[i + 1] - from;
		s->start[k] = at;
		uint64_t min = 0;
		for (uint32_t j = 0; j < len; j++) {
			s->frames[at + j] = b->frames[from + j];
			min += r->rest_min[b->frames[from + j]];
		}
		at += len;
		if (len == 0)
			s->complete = true;
		if (min < s->min_bytes)
			s->min_bytes = min > GRAMMAR_LEN_CAP ? GRAMMAR_LEN_CAP : (uint32_t)min;
	}
	s->start[b->n] = at;
	return s;
}

const struct grammar_stacks *grammar_stacks_start(struct grammar_stacks_builder *b)
{
	const struct grammar_rules *r = b->rules;
	stacks_begin(b);
	stacks_work(b, 1);
	b->work[0] = 0;
	for (uint32_t k = r->alt_first[r->root]; k < r->alt_first[r->root + 1]; k++) {
		b->work[0] = r->alts[k];
		stacks_settle(b, 0, 1, 0);
	}
	return stacks_finish(b);
}

static bool stacks_class_has(const struct grammar_rules *r, uint32_t cls, uint32_t cp)
{
	const struct grammar_cls *c = &r->classes[cls];
	if (cp < 128)
		return c->ascii[cp >> 6] >> (cp & 63) & 1;
	const struct grammar_range *g = r->ranges + c->first;
	uint32_t lo = 0, hi = c->count; /* the first range ending at or after cp */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g[mid].hi < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->count && g[lo].lo <= cp;
}

/* Whether class cls holds a code point in lo .. hi. */
static bool stacks_class_meets(const struct grammar_rules *r, uint32_t cls, uint32_t lo, uint32_t hi)
{
	const struct grammar_cls *c = &r->classes[cls];
	const struct grammar_range *g = r->ranges + c->first;
	uint32_t a = 0, z = c->count;
	while (a < z) {
		uint32_t mid = a + (z - a) / 2;
		if (g[mid].hi < lo)
			a = mid + 1;
		else
			z = mid;
	}
	return a < c->count && g[a].lo <= hi;
}

const struct grammar_stacks *grammar_stacks_advance(struct grammar_stacks_builder *b, const struct grammar_stacks *s,
						    uint32_t cp)
{
	const struct grammar_rules *r = b->rules;
	stacks_begin(b);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t from = s->start[i], len = s->start[i + 1] - from;
		if (len == 0)
			continue;
		uint32_t top = s->frames[from + len - 1];
		if (!stacks_class_has(r, r->elems[top].arg, cp))
			continue;
		stacks_work(b, len);
		memcpy(b->work, s->frames + from, len * sizeof(*b->work));
		b->work[len - 1] = top + 1;
		stacks_settle(b, 0, len, 0);
	}
	return stacks_finish(b);
}

int grammar_stacks_utf8(struct grammar_partial *p, uint8_t byte, uint32_t *cp)
{
	if (p->need == 0) {
		if (byte < 0x80) {
			*cp = byte;
			p->len = 1;
			return 1;
		}
		unsigned n = byte >= 0xC2 && byte <= 0xDF   ? 2
			     : byte >= 0xE0 && byte <= 0xEF ? 3
			     : byte >= 0xF0 && byte <= 0xF4 ? 4
							    : 0;
		if (n == 0)
			return -1;
		p->lead = byte;
		p->len = (uint8_t)n;
		p->need = (uint8_t)(n - 1);
		p->value = (uint32_t)(byte & (0x7F >> n)) << (6 * (n - 1));
		p->lo = p->value;
		p->hi = p->value | ((1u << (6 * (n - 1))) - 1);
		/* RFC 3629: no overlong forms, surrogates, or code points past U+10FFFF. */
		if (byte == 0xE0)
			p->lo = 0x800;
		else if (byte == 0xED)
			p->hi = 0xD7FF;
		else if (byte == 0xF0)
			p->lo = 0x10000;
		else if (byte == 0xF4)
			p->hi = 0x10FFFF;
		return 0;
	}
	if ((byte & 0xC0) != 0x80)
		return -1;
	if (p->need == p->len - 1) {
		uint8_t lo = 0x80, hi = 0xBF;
		switch (p->lead) {
		case 0xE0: lo = 0xA0; break;
		case 0xED: hi = 0x9F; break;
		case 0xF0: lo = 0x90; break;
		case 0xF4: hi = 0x8F; break;
		default: break;
		}
		if (byte < lo || byte > hi)
			return -1;
	}
	p->need--;
	p->value |= (uint32_t)(byte & 0x3F) << (6 * p->need);
	if (p->need == 0) {
		*cp = p->value;
		return 1;
	}
	p->lo = p->value;
	p->hi = p->value | ((1u << (6 * p->need)) - 1);
	return 0;
}

uint32_t grammar_stacks_min(const struct grammar_rules *r, const struct grammar_stacks *s,
			    const struct grammar_partial *p)
{
	if (p->need == 0)
		return s->min_bytes;
	uint64_t best = GRAMMAR_INF;
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t from = s->start[i], len = s->start[i + 1] - from;
		if (len == 0)
			continue;
		uint32_t top = s->frames[from + len - 1];
		if (!stacks_class_meets(r, r->elems[top].arg, p->lo, p->hi))
			continue;
		uint64_t m = (uint64_t)p->need + r->rest_min[top + 1];
		for (uint32_t j = 0; j + 1 < len; j++)
			m += r->rest_min[s->frames[from + j]];
		if (m < best)
			best = m;
	}
	if (best == GRAMMAR_INF)
		return GRAMMAR_INF;
	return best > GRAMMAR_LEN_CAP ? GRAMMAR_LEN_CAP : (uint32_t)best;
}

bool grammar_stacks_equal(const struct grammar_stacks *a, const struct grammar_stacks *b)
{
	return a->n == b->n && memcmp(a->start, b->start, (a->n + 1) * sizeof(*a->start)) == 0 &&
	       memcmp(a->frames, b->frames, a->start[a->n] * sizeof(*a->frames)) == 0;
}

struct grammar_stacks *grammar_stacks_copy(const struct grammar_stacks *s)
{
	size_t size = sizeof(*s) + (s->n + 1 + s->start[s->n]) * sizeof(uint32_t);
	struct grammar_stacks *c = xmalloc(size);
	*c = *s;
	c->start = (uint32_t *)(c + 1);
	c->frames = c->start + s->n + 1;
	memcpy(c->start, s->start, (s->n + 1) * sizeof(*s->start));
	memcpy(c->frames, s->frames, s->start[s->n] * sizeof(*s->frames));
	return c;
}
