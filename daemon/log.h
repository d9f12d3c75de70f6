/* Structured logging in logfmt: one line per event, `ts=… level=… msg=…`
 * followed by key=value pairs, each line written with a single write(2) so
 * that lines from several threads never interleave. */
#ifndef AGENTD_LOG_H
#define AGENTD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* The longest line written; longer values are cut and marked with "…". */
#define LOG_LINE_MAX 4096

struct log_line {
	char text[LOG_LINE_MAX]; /* the line being built */
	size_t len;              /* bytes used in text */
	enum log_level level;    /* level of this line */
	bool enabled;            /* false: the level is filtered out, calls are no-ops */
};

/* Sends lines at or above level to path (opened for append, created 0640),
 * or to stderr when path is NULL. Returns 0 or -errno with err filled in. */
int log_open(enum log_level level, const char *path, char *err, size_t errlen);
/* Reopens the log file (after rotation); a no-op for stderr. */
int log_reopen(void);
void log_close(void);
bool log_enabled(enum log_level level);
/* Returns 0 and sets *level, or -EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* Builds one line: log_begin, then any number of fields, then log_end. */
void log_begin(struct log_line *line, enum log_level level, const char *msg);
void log_str(struct log_line *line, const char *key, const char *value);
void log_strn(struct log_line *line, const char *key, const char *value, size_t len);
void log_int(struct log_line *line, const char *key, int64_t value);
void log_uint(struct log_line *line, const char *key, uint64_t value);
void log_ms(struct log_line *line, const char *key, double ms);
void log_end(struct log_line *line);

/* One-shot helper: key/value string pairs terminated by NULL. */
void log_event(enum log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
