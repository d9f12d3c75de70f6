/* GPT-2's bytes_to_unicode table, computed rather than listed. */
#include "daemon/engine/bytelevel.h"

#include "daemon/engine/unicode.h"

/* Printable bytes keep their code point: '!'..'~', U+00A1..U+00AC and
 * U+00AE..U+00FF. The other 68 bytes, in increasing order, take U+0100,
 * U+0101, ...: 0x00-0x20 (33 bytes), 0x7F-0xA0 (34 bytes), then 0xAD. */
static int bytelevel_printable(unsigned b)
{
	return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bytelevel_char(uint8_t b)
{
	if (bytelevel_printable(b))
		return b;
	if (b <= 0x20)
		return 0x100 + b;
	if (b >= 0x7F && b <= 0xA0)
		return 0x100 + 33 + (b - 0x7F);
	return 0x100 + 67; /* 0xAD */
}

int bytelevel_byte(uint32_t cp)
{
	if (cp < 0x100)
		return bytelevel_printable(cp) ? (int)cp : -1;
	uint32_t n = cp - 0x100;
	if (n < 33)
		return (int)n;
	if (n < 67)
		return (int)(0x7F + n - 33);
	if (n == 67)
		return 0xAD;
	return -1;
}

size_t bytelevel_encode(uint8_t b, char *out)
{
	return unicode_encode(bytelevel_char(b), out);
}
