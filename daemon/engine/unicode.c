/* UTF-8 decoding and code point classes for the pre-tokenizers; the class
 * table itself is generated into unicode_data.c. */
#include "daemon/engine/unicode.h"

/* ASCII is most of what agents read and write: classify it by table. */
static unsigned unicode_ascii_flags(uint32_t cp)
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
		return UNICODE_LETTER;
	if (cp >= '0' && cp <= '9')
		return UNICODE_NUMBER;
	if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
		return UNICODE_SPACE;
	return 0;
}

unsigned unicode_flags(uint32_t cp)
{
	if (cp < 0x80)
		return unicode_ascii_flags(cp);
	if (cp > 0x10FFFF)
		return 0;
	/* The last range starting at or before cp. */
	unsigned lo = 0, hi = unicode_range_count;
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;
		if (unicode_ranges[mid].start <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return unicode_ranges[lo].flags;
}

/* Length of the sequence lead byte b announces, 0 when b cannot lead. */
static size_t unicode_lead_length(unsigned char b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF)
		return 3;
	if (b >= 0xF0 && b <= 0xF4)
		return 4;
	return 0;
}

/* Valid range of the second byte after lead b (RFC 3629's table), which
 * excludes overlong forms, surrogates and code points past U+10FFFF. */
static int unicode_second_ok(unsigned char lead, unsigned char b)
{
	switch (lead) {
	case 0xE0: return b >= 0xA0 && b <= 0xBF;
	case 0xED: return b >= 0x80 && b <= 0x9F;
	case 0xF0: return b >= 0x90 && b <= 0xBF;
	case 0xF4: return b >= 0x80 && b <= 0x8F;
	default: return b >= 0x80 && b <= 0xBF;
	}
}

uint32_t unicode_decode(const char *s, size_t len, size_t *size)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = unicode_lead_length(u[0]);
	*size = 1;
	if (n == 1)
		return u[0];
	if (n == 0 || len < n || !unicode_second_ok(u[0], u[1]))
		return UNICODE_REPLACEMENT;
	for (size_t i = 2; i < n; i++)
		if ((u[i] & 0xC0) != 0x80)
			return UNICODE_REPLACEMENT;
	uint32_t cp = u[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (u[i] & 0x3F);
	*size = n;
	return cp;
}

size_t unicode_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t unicode_incomplete_tail(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	/* Look back at most three bytes for the lead byte of a sequence. */
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char b = u[len - back];
		if ((b & 0xC0) == 0x80)
			continue;
		size_t need = unicode_lead_length(b);
		if (need <= back)
			return 0;
		if (back >= 2 && !unicode_second_ok(b, u[len - back + 1]))
			return 0;
		return back;
	}
	return 0;
}
