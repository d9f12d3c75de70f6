/* Open-addressing hash map from byte strings to 64-bit values: the token
 * table, the metadata keys and the tensor names of a GGUF file use it. */
#include "daemon/engine/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

uint32_t strmap_hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

void strmap_init(struct strmap *m, size_t expected)
{
	size_t cap = 16;
	/* Keep the load factor under one half so that probes stay short. */
	while (cap < expected * 2 + 2)
		cap *= 2;
	m->slots = xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	m->count = 0;
}

void strmap_close(struct strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

static void strmap_grow(struct strmap *m)
{
	struct strmap_slot *old = m->slots;
	size_t old_cap = m->cap;
	m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].key)
			continue;
		size_t j = old[i].hash & (m->cap - 1);
		while (m->slots[j].key)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old[i];
	}
	free(old);
}

bool strmap_put(struct strmap *m, const char *key, size_t len, uint64_t value)
{
	if ((m->count + 1) * 2 > m->cap)
		strmap_grow(m);
	uint32_t h = strmap_hash(key, len);
	size_t j = h & (m->cap - 1);
	while (m->slots[j].key) {
		struct strmap_slot *s = &m->slots[j];
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return false;
		j = (j + 1) & (m->cap - 1);
	}
	/* An empty key still needs a non-NULL pointer to mark the slot used. */
	m->slots[j].key = len ? key : "";
	m->slots[j].len = (uint32_t)len;
	m->slots[j].hash = h;
	m->slots[j].value = value;
	m->count++;
	return true;
}

bool strmap_get(const struct strmap *m, const char *key, size_t len, uint64_t *value)
{
	if (!m->cap)
		return false;
	uint32_t h = strmap_hash(key, len);
	size_t j = h & (m->cap - 1);
	while (m->slots[j].key) {
		const struct strmap_slot *s = &m->slots[j];
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
			if (value)
				*value = s->value;
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return false;
}
