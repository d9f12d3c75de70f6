/* Open-addressing hash map keyed by a pair of 32-bit token ids. */
#include "daemon/engine/pairmap.h"

#include <stdlib.h>

#include "common/xalloc.h"

#define PAIRMAP_EMPTY UINT64_MAX

static size_t pairmap_slot_of(uint64_t key, size_t cap)
{
	/* A 64-bit mix (from splitmix64) so that nearby ids spread out. */
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ull;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebull;
	key ^= key >> 31;
	return (size_t)key & (cap - 1);
}

void pairmap_init(struct pairmap *m, size_t expected)
{
	size_t cap = 16;
	while (cap < expected * 2 + 2)
		cap *= 2;
	m->slots = xmalloc(cap * sizeof(*m->slots));
	for (size_t i = 0; i < cap; i++)
		m->slots[i].key = PAIRMAP_EMPTY;
	m->cap = cap;
	m->count = 0;
}

void pairmap_close(struct pairmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

static void pairmap_grow(struct pairmap *m)
{
	struct pairmap old = *m;
	pairmap_init(m, old.cap);
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key != PAIRMAP_EMPTY)
			pairmap_put(m, (uint32_t)(old.slots[i].key >> 32), (uint32_t)old.slots[i].key,
				    old.slots[i].value);
	free(old.slots);
}

bool pairmap_put(struct pairmap *m, uint32_t left, uint32_t right, uint64_t value)
{
	if ((m->count + 1) * 2 > m->cap)
		pairmap_grow(m);
	uint64_t key = (uint64_t)left << 32 | right;
	size_t j = pairmap_slot_of(key, m->cap);
	while (m->slots[j].key != PAIRMAP_EMPTY) {
		if (m->slots[j].key == key)
			return false;
		j = (j + 1) & (m->cap - 1);
	}
	m->slots[j].key = key;
	m->slots[j].value = value;
	m->count++;
	return true;
}

bool pairmap_get(const struct pairmap *m, uint32_t left, uint32_t right, uint64_t *value)
{
	uint64_t key = (uint64_t)left << 32 | right;
	size_t j = pairmap_slot_of(key, m->cap);
	while (m->slots[j].key != PAIRMAP_EMPTY) {
		if (m->slots[j].key == key) {
			*value = m->slots[j].value;
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return false;
}
