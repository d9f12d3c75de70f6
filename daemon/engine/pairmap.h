/* A hash map from pairs of token ids to 64-bit values: BPE looks up the
 * merge of two adjacent symbols here. */
#ifndef AGENTD_ENGINE_PAIRMAP_H
#define AGENTD_ENGINE_PAIRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pairmap_slot {
	uint64_t key;   /* left << 32 | right; PAIRMAP_EMPTY when free */
	uint64_t value; /* the value stored under the pair */
};

struct pairmap {
	struct pairmap_slot *slots; /* owned; capacity is a power of two */
	size_t cap;                 /* number of slots */
	size_t count;               /* pairs stored */
};

void pairmap_init(struct pairmap *m, size_t expected);
void pairmap_close(struct pairmap *m);
/* Inserts (left, right); returns false, changing nothing, when present. */
bool pairmap_put(struct pairmap *m, uint32_t left, uint32_t right, uint64_t value);
bool pairmap_get(const struct pairmap *m, uint32_t left, uint32_t right, uint64_t *value);

#endif
