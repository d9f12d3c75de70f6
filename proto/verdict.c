/* Verdict names and ranking. */
#include "proto/verdict.h"

#include <errno.h>
#include <string.h>

static const char *const verdict_names[VERDICT_COUNT] = {"passed", "failed", "error", "flaky"};
static const char *const comparison_names[] = {"none", "fixed", "already_passing"};

const char *verdict_name(enum verdict v)
{
	return (unsigned)v < VERDICT_COUNT ? verdict_names[v] : "unknown";
}

int verdict_parse(const char *name, enum verdict *v)
{
	for (unsigned i = 0; i < VERDICT_COUNT; i++) {
		if (strcmp(name, verdict_names[i]) == 0) {
			*v = (enum verdict)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *verdict_comparison_name(enum verdict_comparison c)
{
	return (unsigned)c <= COMPARISON_ALREADY_PASSING ? comparison_names[c] : "unknown";
}

int verdict_comparison_parse(const char *name, enum verdict_comparison *c)
{
	for (unsigned i = 0; i <= COMPARISON_ALREADY_PASSING; i++) {
		if (strcmp(name, comparison_names[i]) == 0) {
			*c = (enum verdict_comparison)i;
			return 0;
		}
	}
	return -EINVAL;
}

int verdict_rank(enum verdict v, enum verdict_comparison c)
{
	if (v == VERDICT_PASSED)
		return c == COMPARISON_ALREADY_PASSING ? 1 : 0;
	if (v == VERDICT_FLAKY)
		return 2;
	return -1;
}
