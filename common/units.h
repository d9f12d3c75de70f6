/* Sizes and durations as people write them in flags and config files:
 * sizes take an optional k/M/G/T suffix (powers of 1024, "1M", "512k"),
 * durations take a required ms/s/m/h unit ("30s", "250ms"). */
#ifndef AGENTD_COMMON_UNITS_H
#define AGENTD_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0, or -EINVAL (malformed) / -ERANGE (overflow) with a reason
 * for a human written into err (errlen bytes, always NUL-terminated). */
int units_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen);
int units_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen);
/* A plain non-negative decimal integer, no sign, no suffix. */
int units_parse_uint(const char *text, uint64_t *value, char *err, size_t errlen);

/* Formats into out (outlen bytes) the shortest exact spelling: 1048576 -> "1M",
 * 30000 -> "30s". Returns out. */
char *units_format_size(uint64_t bytes, char *out, size_t outlen);
char *units_format_duration(uint64_t ms, char *out, size_t outlen);

#endif
