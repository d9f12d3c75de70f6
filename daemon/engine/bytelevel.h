/* GPT-2's byte-level alphabet: each of the 256 byte values stands for one
 * printable code point (printable Latin-1 bytes for themselves, the others
 * for U+0100 onwards), so that token texts never hold raw control bytes. */
#ifndef AGENTD_ENGINE_BYTELEVEL_H
#define AGENTD_ENGINE_BYTELEVEL_H

#include <stddef.h>
#include <stdint.h>

/* The code point byte b stands for. */
uint32_t bytelevel_char(uint8_t b);
/* The byte code point cp stands for, or -1 when cp is not in the alphabet. */
int bytelevel_byte(uint32_t cp);
/* Writes the UTF-8 of byte b's code point into out (room for 2); returns
 * its length. */
size_t bytelevel_encode(uint8_t b, char *out);

#endif
