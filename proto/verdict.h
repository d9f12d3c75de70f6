/* Verification verdicts and how they rank when a task's best run is
 * chosen for review. */
#ifndef AGENTD_PROTO_VERDICT_H
#define AGENTD_PROTO_VERDICT_H

#include <stdbool.h>

enum verdict {
	VERDICT_PASSED, /* the tests pass with the patch (every repeat) */
	VERDICT_FAILED, /* they fail, or there is nothing to test (reason says) */
	VERDICT_ERROR,  /* the verification itself could not run (reason says) */
	VERDICT_FLAKY,  /* some repeats passed, some failed */
	VERDICT_COUNT
};

/* Whether the baseline (the untouched base) passed. */
enum verdict_comparison {
	COMPARISON_NONE,            /* not a passing verdict */
	COMPARISON_FIXED,           /* failed before, passes after */
	COMPARISON_ALREADY_PASSING, /* passed before too */
};

const char *verdict_name(enum verdict v);
int verdict_parse(const char *name, enum verdict *v);
const char *verdict_comparison_name(enum verdict_comparison c);
int verdict_comparison_parse(const char *name, enum verdict_comparison *c);
/* Reviewable verdicts rank: passed and fixed, then passed and already
 * passing, then flaky; lower is better, -1 is not reviewable. */
int verdict_rank(enum verdict v, enum verdict_comparison c);

#endif
