/* Parsing and formatting of sizes and durations. */
#include "common/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Reads the leading decimal digits of text into *value; returns the number of
 * digits, 0 when there are none, or -ERANGE when the number overflows. */
static int units_read_digits(const char *text, uint64_t *value)
{
	uint64_t v = 0;
	int n = 0;
	while (text[n] >= '0' && text[n] <= '9') {
		unsigned d = (unsigned)(text[n] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
		n++;
	}
	*value = v;
	return n;
}

int units_parse_uint(const char *text, uint64_t *value, char *err, size_t errlen)
{
	int n = units_read_digits(text, value);
	if (n == -ERANGE) {
		snprintf(err, errlen, "'%s' is too large", text);
		return -ERANGE;
	}
	if (n == 0 || text[n] != '\0') {
		snprintf(err, errlen, "'%s' is not a non-negative integer", text);
		return -EINVAL;
	}
	return 0;
}

int units_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen)
{
	uint64_t v;
	int n = units_read_digits(text, &v);
	if (n == -ERANGE) {
		snprintf(err, errlen, "size '%s' is too large", text);
		return -ERANGE;
	}
	if (n == 0) {
		snprintf(err, errlen,
			 "'%s' is not a size (expected a number with an optional k, M, G or T suffix, e.g. 512k or 1M)",
			 text);
		return -EINVAL;
	}
	const char *suffix = text + n;
	unsigned shift = 0;
	switch (*suffix) {
	case 'k':
	case 'K':
		shift = 10;
		suffix++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		suffix++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		suffix++;
		break;
	case 't':
	case 'T':
		shift = 40;
		suffix++;
		break;
	default: break;
	}
	/* "1MB", "1MiB" and "100B" are common spellings of the same thing. */
	if (shift != 0 && strcmp(suffix, "iB") == 0)
		suffix += 2;
	else if (strcmp(suffix, "B") == 0)
		suffix += 1;
	if (*suffix != '\0') {
		snprintf(err, errlen, "'%s' has an unknown size suffix (use k, M, G or T, e.g. 512k or 1M)", text);
		return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		snprintf(err, errlen, "size '%s' is too large", text);
		return -ERANGE;
	}
	*bytes = v << shift;
	return 0;
}

int units_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen)
{
	uint64_t v;
	int n = units_read_digits(text, &v);
	if (n == -ERANGE) {
		snprintf(err, errlen, "duration '%s' is too large", text);
		return -ERANGE;
	}
	if (n == 0) {
		snprintf(err, errlen, "'%s' is not a duration (expected a number with a unit: ms, s, m or h, e.g. 30s)",
			 text);
		return -EINVAL;
	}
	const char *unit = text + n;
	uint64_t scale;
	if (strcmp(unit, "ms") == 0)
		scale = 1;
	else if (strcmp(unit, "s") == 0)
		scale = 1000;
	else if (strcmp(unit, "m") == 0)
		scale = 60 * 1000;
	else if (strcmp(unit, "h") == 0)
		scale = 60 * 60 * 1000;
	else if (*unit == '\0') {
		snprintf(err, errlen, "duration '%s' needs a unit: ms, s, m or h (e.g. %ss)", text, text);
		return -EINVAL;
	} else {
		snprintf(err, errlen, "duration '%s' has an unknown unit (use ms, s, m or h)", text);
		return -EINVAL;
	}
	if (v > UINT64_MAX / scale) {
		snprintf(err, errlen, "duration '%s' is too large", text);
		return -ERANGE;
	}
	*ms = v * scale;
	return 0;
}

char *units_format_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char suffixes[] = "kMGT";
	unsigned i = 0;
	uint64_t v = bytes;
	while (v && v % 1024 == 0 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, outlen, "%" PRIu64, v);
	else
		snprintf(out, outlen, "%" PRIu64 "%c", v, suffixes[i - 1]);
	return out;
}

char *units_format_duration(uint64_t ms, char *out, size_t outlen)
{
	if (ms && ms % (60 * 60 * 1000) == 0)
		snprintf(out, outlen, "%" PRIu64 "h", ms / (60 * 60 * 1000));
	else if (ms && ms % (60 * 1000) == 0)
		snprintf(out, outlen, "%" PRIu64 "m", ms / (60 * 1000));
	else if (ms && ms % 1000 == 0)
		snprintf(out, outlen, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(out, outlen, "%" PRIu64 "ms", ms);
	return out;
}
