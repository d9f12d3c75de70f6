/* A hash map from byte strings to 64-bit values, with open addressing.
 * Keys are borrowed: the map stores pointers, so each key's bytes must
 * outlive the map (the engine keys it with GGUF strings in the mapping). */
#ifndef AGENTD_ENGINE_STRMAP_H
#define AGENTD_ENGINE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	const char *key; /* borrowed; NULL marks an empty slot */
	uint32_t len;    /* key length in bytes */
	uint32_t hash;   /* low bits of the key's hash, to skip most compares */
	uint64_t value;  /* the value stored under key */
};

struct strmap {
	struct strmap_slot *slots; /* owned; capacity is a power of two */
	size_t cap;                /* number of slots */
	size_t count;              /* keys stored */
};

/* Makes an empty map sized for about expected keys. */
void strmap_init(struct strmap *m, size_t expected);
void strmap_close(struct strmap *m);
/* Inserts key; returns false (and changes nothing) when it is present.
 * The key's bytes are borrowed, see above. */
bool strmap_put(struct strmap *m, const char *key, size_t len, uint64_t value);
/* Finds key; returns false when absent. */
bool strmap_get(const struct strmap *m, const char *key, size_t len, uint64_t *value);
/* The 32-bit FNV-1a hash the map uses. */
uint32_t strmap_hash(const char *key, size_t len);

#endif
