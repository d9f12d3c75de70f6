/* logfmt logging to stderr or a file. */
#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path; /* owned; NULL when logging to stderr */

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name, enum log_level *level)
{
	for (unsigned i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LEVEL_ERROR)
		return "unknown";
	return log_level_names[level];
}

int log_open(enum log_level level, const char *path, char *err, size_t errlen)
{
	log_min_level = level;
	if (!path || !*path)
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(e));
		return -e;
	}
	log_close();
	log_fd = fd;
	log_path = strdup(path);
	return 0;
}

int log_reopen(void)
{
	if (!log_path)
		return 0;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* dup2 swaps the file under the same descriptor number, so a thread
	 * writing concurrently writes to either the old or the new file. */
	dup3(fd, log_fd, O_CLOEXEC);
	close(fd);
	return 0;
}

void log_close(void)
{
	if (log_path) {
		close(log_fd);
		free(log_path);
		log_path = NULL;
	}
	log_fd = STDERR_FILENO;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min_level;
}

static void log_put(struct log_line *line, const char *s, size_t n)
{
	/* Leave room for the truncation mark and the newline. */
	size_t room = sizeof(line->text) - 8 - line->len;
	if (n > room)
		n = room;
	memcpy(line->text + line->len, s, n);
	line->len += n;
}

static void log_key(struct log_line *line, const char *key)
{
	log_put(line, " ", 1);
	log_put(line, key, strlen(key));
	log_put(line, "=", 1);
}

/* Appends a value, quoted and escaped when it holds anything but plain
 * printable characters, so that a request path can never forge a field. */
static void log_value(struct log_line *line, const char *v, size_t n)
{
	bool quote = n == 0;
	for (size_t i = 0; i < n && !quote; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			quote = true;
	}
	if (!quote) {
		log_put(line, v, n);
		return;
	}
	log_put(line, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_put(line, esc, 2);
		} else if (c == '\n') {
			log_put(line, "\\n", 2);
		} else if (c < ' ' || c == 0x7f) {
			int k = snprintf(esc, sizeof(esc), "\\x%02x", c);
			log_put(line, esc, (size_t)k);
		} else {
			log_put(line, (const char *)&v[i], 1);
		}
	}
	log_put(line, "\"", 1);
}

void log_begin(struct log_line *line, enum log_level level, const char *msg)
{
	line->level = level;
	line->enabled = log_enabled(level);
	line->len = 0;
	if (!line->enabled)
		return;
	/* The date and time to the second change rarely: format them once a
	 * second (per thread) and add the milliseconds. */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[32];
	static _Thread_local size_t cached_len;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&tv.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = tv.tv_sec;
	}
	char ts[40];
	memcpy(ts, cached, cached_len);
	snprintf(ts + cached_len, sizeof(ts) - cached_len, ".%03dZ", (int)(tv.tv_usec / 1000));
	log_put(line, "ts=", 3);
	log_put(line, ts, strlen(ts));
	log_key(line, "level");
	log_put(line, log_level_name(level), strlen(log_level_name(level)));
	log_key(line, "msg");
	log_value(line, msg, strlen(msg));
}

void log_strn(struct log_line *line, const char *key, const char *value, size_t len)
{
	if (!line->enabled)
		return;
	log_key(line, key);
	log_value(line, value ? value : "", value ? len : 0);
}

void log_str(struct log_line *line, const char *key, const char *value)
{
	log_strn(line, key, value, value ? strlen(value) : 0);
}

void log_int(struct log_line *line, const char *key, int64_t value)
{
	if (!line->enabled)
		return;
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, value);
	log_key(line, key);
	log_put(line, tmp, (size_t)n);
}

void log_uint(struct log_line *line, const char *key, uint64_t value)
{
	if (!line->enabled)
		return;
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, value);
	log_key(line, key);
	log_put(line, tmp, (size_t)n);
}

void log_ms(struct log_line *line, const char *key, double ms)
{
	if (!line->enabled)
		return;
	char tmp[48];
	int n = snprintf(tmp, sizeof(tmp), "%.3f", ms);
	log_key(line, key);
	log_put(line, tmp, (size_t)n);
}

void log_end(struct log_line *line)
{
	if (!line->enabled)
		return;
	if (line->len >= sizeof(line->text) - 8) {
		memcpy(line->text + line->len, "\xe2\x80\xa6", 3); /* "…" */
		line->len += 3;
	}
	line->text[line->len++] = '\n';
	ssize_t off = 0;
	while ((size_t)off < line->len) {
		ssize_t w = write(log_fd, line->text + off, line->len - (size_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
}

void log_event(enum log_level level, const char *msg, ...)
{
	if (!log_enabled(level))
		return;
	struct log_line line;
	log_begin(&line, level, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		log_str(&line, key, value);
	}
	va_end(ap);
	log_end(&line);
}
