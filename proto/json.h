/* Strict JSON input for the API: the body must be UTF-8, must not smuggle a
 * NUL byte into a string (cJSON would silently cut the string there), and
 * parse errors name the byte offset. */
#ifndef AGENTD_PROTO_JSON_H
#define AGENTD_PROTO_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/buf.h"

/* Parses body[0..len). Returns 0 with *out (caller frees with cJSON_Delete),
 * or -EINVAL with a message in err. */
int proto_json_parse(const char *body, size_t len, cJSON **out, char *err, size_t errlen);

/* Appends s as a JSON string literal (quoted, escaped; s must be UTF-8). */
void json_write_string(struct buf *out, const char *s);
/* The same, or null when s is NULL. */
void json_write_string_or_null(struct buf *out, const char *s);

#endif
