/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF). */
#ifndef AGENTD_COMMON_UTF8_H
#define AGENTD_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is valid UTF-8 without NUL bytes. On false, *bad_offset
 * (when not NULL) is the offset of the first invalid byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* The length of the longest prefix of s[0..len) that does not end inside a
 * multi-byte character. */
size_t utf8_complete_prefix(const char *s, size_t len);

#endif
