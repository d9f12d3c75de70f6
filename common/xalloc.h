/* Allocation helpers for small internal allocations: they abort on failure.
 * Sizes that come from requests must be bounded first and use plain malloc. */
#ifndef AGENTD_COMMON_XALLOC_H
#define AGENTD_COMMON_XALLOC_H

#include <stddef.h>

/* Each returns memory the caller owns and frees with free(). */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* printf into a new string the caller owns. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
