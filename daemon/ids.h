/* Public ids: time-ordered (they sort in creation order), unguessable (80
 * random bits from OpenSSL's CSPRNG) and URL-safe. */
#ifndef AGENTD_IDS_H
#define AGENTD_IDS_H

#include <stddef.h>
#include <stdint.h>

#define IDS_LEN 28 /* "t_" + 26 characters */

/* Writes a new id with the given one-letter kind prefix ('t' for tasks)
 * into out (at least IDS_LEN + 1 bytes). Each id is greater than the last
 * one this process made, even if the clock steps back. Returns 0, or -EIO
 * if the random generator fails. Loop thread only. */
int ids_new(char kind, int64_t now_ms, char *out, size_t outlen);
/* True when s has the shape of an id of the given kind. */
int ids_valid(char kind, const char *s);

#endif
