/* The action format: a reply holds exactly one fenced ```bash block. */
#include <string.h>

#include "common/xalloc.h"
#include "daemon/fleet/internal.h"

/* Finds the next line that opens a ```bash fence at or after p; returns
 * the start of the block's first line, or NULL. */
static const char *action_open(const char *p, const char *end)
{
	while (p < end) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		if (!line_end)
			return NULL;
		const char *q = p;
		while (q < line_end && (*q == ' ' || *q == '\t'))
			q++;
		size_t n = (size_t)(line_end - q);
		while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\r'))
			n--;
		if ((n == 7 && memcmp(q, "```bash", 7) == 0) || (n == 5 && memcmp(q, "```sh", 5) == 0))
			return line_end + 1;
		p = line_end + 1;
	}
	return NULL;
}

/* The line that closes a fence opened before p: "```" alone. Returns its
 * start, or NULL. */
static const char *action_close(const char *p, const char *end)
{
	while (p < end) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		const char *stop = line_end ? line_end : end;
		const char *q = p;
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		size_t n = (size_t)(stop - q);
		while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\r'))
			n--;
		if (n == 3 && memcmp(q, "```", 3) == 0)
			return p;
		if (!line_end)
			return NULL;
		p = line_end + 1;
	}
	return NULL;
}

int action_parse(const char *reply, size_t len, char **command)
{
	*command = NULL;
	const char *end = reply + len;
	const char *p = reply;
	int count = 0;
	const char *first = NULL, *first_end = NULL;
	while ((p = action_open(p, end))) {
		const char *close = action_close(p, end);
		if (!close)
			break; /* an unclosed block does not count */
		if (count++ == 0) {
			first = p;
			first_end = close;
		}
		const char *after = memchr(close, '\n', (size_t)(end - close));
		p = after ? after + 1 : end;
	}
	if (count == 1) {
		size_t n = (size_t)(first_end - first);
		while (n > 0 && (first[n - 1] == '\n' || first[n - 1] == '\r'))
			n--;
		*command = xstrndup(first, n);
	}
	return count;
}
