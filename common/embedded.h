/* Files embedded into a binary at build time (scripts/embed.c writes the
 * arrays: migrations, prompts). */
#ifndef AGENTD_COMMON_EMBEDDED_H
#define AGENTD_COMMON_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name; /* base name, e.g. "0001_tasks.sql" */
	const char *data; /* contents, NUL-terminated */
	size_t size;      /* bytes in data, excluding the NUL */
};

#endif
