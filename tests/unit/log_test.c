/* logfmt lines: a value from a client can never forge a field or a line. */
#include <stdlib.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tests/harness/harness.h"

TEST(escaping_and_levels)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/log", dir);
	char err[256];
	CHECK_INT(log_open(LOG_LEVEL_INFO, path, err, sizeof(err)), ==, 0);
	log_event(LOG_LEVEL_DEBUG, "hidden", "k", "v", NULL);
	struct log_line line;
	log_begin(&line, LOG_LEVEL_INFO, "request");
	log_str(&line, "path", "/a b\"c\\d\ne=f");
	log_str(&line, "plain", "/healthz");
	log_str(&line, "empty", "");
	log_int(&line, "status", -404);
	log_uint(&line, "bytes", 18446744073709551615ull);
	log_ms(&line, "duration_ms", 1.5);
	log_str(&line, "ctl", "\x01\x7f");
	log_end(&line);
	log_close();
	char *text = th_read_file(path);
	CHECK(text != NULL);
	CHECK(strstr(text, "hidden") == NULL);
	CHECK_CONTAINS(text, " level=info msg=request ");
	CHECK_CONTAINS(text, " path=\"/a b\\\"c\\\\d\\ne=f\"");
	CHECK_CONTAINS(text, " plain=/healthz ");
	CHECK_CONTAINS(text, " empty=\"\" ");
	CHECK_CONTAINS(text, " status=-404 ");
	CHECK_CONTAINS(text, " bytes=18446744073709551615 ");
	CHECK_CONTAINS(text, " duration_ms=1.500");
	CHECK_CONTAINS(text, " ctl=\"\\x01\\x7f\"\n");
	CHECK(strncmp(text, "ts=", 3) == 0);
	/* Exactly one line. */
	CHECK(strchr(text, '\n') == text + strlen(text) - 1);
	free(text);
}

TEST(long_lines_are_cut_not_overflowed)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/log", dir);
	char err[256];
	CHECK_INT(log_open(LOG_LEVEL_DEBUG, path, err, sizeof(err)), ==, 0);
	char *big = malloc(20000);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	log_event(LOG_LEVEL_WARN, "big", "value", big, "after", "y", NULL);
	log_close();
	free(big);
	char *text = th_read_file(path);
	CHECK(text != NULL);
	CHECK_INT(strlen(text), <=, LOG_LINE_MAX);
	CHECK_CONTAINS(text, "\xe2\x80\xa6\n");
	free(text);
	CHECK_INT(log_open(LOG_LEVEL_INFO, "/nonexistent-dir/log", err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "cannot open log file /nonexistent-dir/log");
}
