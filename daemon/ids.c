/* Id generation: 48 bits of milliseconds and 80 random bits, written in
 * Crockford's base32 (lower case), like a ULID. */
#include "daemon/ids.h"

#include <errno.h>
#include <string.h>

#include <openssl/rand.h>

static const char ids_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

static int64_t ids_last_ms = -1;
static unsigned char ids_last_random[10];

int ids_new(char kind, int64_t now_ms, char *out, size_t outlen)
{
	if (outlen < IDS_LEN + 1)
		return -ENOSPC;
	unsigned char random[10];
	if (now_ms <= ids_last_ms) {
		/* Same millisecond (or the clock went back): keep the last
		 * time and count up from the last random part, so ids stay
		 * strictly increasing. */
		now_ms = ids_last_ms;
		memcpy(random, ids_last_random, sizeof(random));
		int i = 9;
		while (i >= 0 && ++random[i] == 0)
			i--;
		if (i < 0) {
			now_ms++;
			if (RAND_bytes(random, sizeof(random)) != 1)
				return -EIO;
		}
	} else if (RAND_bytes(random, sizeof(random)) != 1) {
		return -EIO;
	}
	ids_last_ms = now_ms;
	memcpy(ids_last_random, random, sizeof(random));

	/* 128 bits: 48 of time, 80 of randomness; 26 characters of 5 bits
	 * hold 130, so the first character carries 3. */
	unsigned char bytes[16];
	uint64_t t = (uint64_t)now_ms & 0xffffffffffffull;
	for (int i = 0; i < 6; i++)
		bytes[i] = (unsigned char)(t >> (40 - 8 * i));
	memcpy(bytes + 6, random, 10);
	out[0] = kind;
	out[1] = '_';
	for (int c = 0; c < 26; c++) {
		int bit = c * 5 - 2; /* position of this character's first bit */
		unsigned v = 0;
		for (int b = 0; b < 5; b++, bit++) {
			unsigned one = bit < 0 ? 0 : (bytes[bit / 8] >> (7 - bit % 8)) & 1;
			v = (v << 1) | one;
		}
		out[2 + c] = ids_alphabet[v];
	}
	out[IDS_LEN] = '\0';
	return 0;
}

int ids_valid(char kind, const char *s)
{
	if (strlen(s) != IDS_LEN || s[0] != kind || s[1] != '_')
		return 0;
	for (int i = 2; i < IDS_LEN; i++) {
		if (!strchr(ids_alphabet, s[i]) || s[i] == '\0')
			return 0;
	}
	return 1;
}
