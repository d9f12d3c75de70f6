/* Strict JSON parsing on top of cJSON. */
#include "proto/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

int proto_json_parse(const char *body, size_t len, cJSON **out, char *err, size_t errlen)
{
	*out = NULL;
	size_t bad;
	if (!utf8_valid(body, len, &bad)) {
		snprintf(err, errlen, "body is not valid UTF-8 (byte %zu)", bad);
		return -EINVAL;
	}
	/* A backslash can only stand inside a string in valid JSON, so a scan
	 * of the raw text finds every \u0000 escape. */
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && i + 5 < len && memcmp(body + i + 2, "0000", 4) == 0) {
			snprintf(err, errlen, "strings must not contain NUL characters (\\u0000 at byte %zu)", i);
			return -EINVAL;
		}
		i++; /* skip the escaped character */
	}
	const char *end = NULL;
	cJSON *json = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!json) {
		size_t at = end && end >= body ? (size_t)(end - body) : 0;
		snprintf(err, errlen, "body is not valid JSON (near byte %zu)", at);
		return -EINVAL;
	}
	/* Anything after the value but whitespace is an error. */
	for (const char *p = end; p && p < body + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(json);
			snprintf(err, errlen, "body has trailing data after the JSON value (byte %zu)",
				 (size_t)(p - body));
			return -EINVAL;
		}
	}
	*out = json;
	return 0;
}

void json_write_string(struct buf *out, const char *s)
{
	buf_append_char(out, '"');
	const char *run = s;
	for (const char *c = s;; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch != '\0' && ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		buf_append(out, run, (size_t)(c - run));
		if (ch == '\0')
			break;
		switch (ch) {
		case '"': buf_append_str(out, "\\\""); break;
		case '\\': buf_append_str(out, "\\\\"); break;
		case '\n': buf_append_str(out, "\\n"); break;
		case '\r': buf_append_str(out, "\\r"); break;
		case '\t': buf_append_str(out, "\\t"); break;
		default: buf_printf(out, "\\u%04x", ch); break;
		}
		run = c + 1;
	}
	buf_append_char(out, '"');
}

void json_write_string_or_null(struct buf *out, const char *s)
{
	if (s)
		json_write_string(out, s);
	else
		buf_append_str(out, "null");
}
