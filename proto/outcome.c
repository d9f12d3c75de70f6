/* The run outcome list. */
#include "proto/outcome.h"

#include <errno.h>
#include <string.h>

static const char *const run_outcome_names[RUN_OUTCOME_COUNT] = {
	[RUN_SUBMITTED] = "submitted",
	[RUN_BUDGET_STEPS] = "budget_steps",
	[RUN_BUDGET_TOKENS] = "budget_tokens",
	[RUN_BUDGET_TIME] = "budget_time",
	[RUN_STUCK] = "stuck",
	[RUN_LLM_ERROR] = "llm_error",
	[RUN_LLM_EXHAUSTED] = "llm_exhausted",
	[RUN_SANDBOX_ERROR] = "sandbox_error",
	[RUN_DISK_QUOTA] = "disk_quota",
	[RUN_SETUP_FAILED] = "setup_failed",
	[RUN_CANCELED] = "canceled",
	[RUN_INTERRUPTED] = "interrupted",
};

const char *run_outcome_name(enum run_outcome outcome)
{
	if ((unsigned)outcome >= RUN_OUTCOME_COUNT)
		return "unknown";
	return run_outcome_names[outcome];
}

int run_outcome_parse(const char *name, enum run_outcome *outcome)
{
	for (unsigned i = 0; i < RUN_OUTCOME_COUNT; i++) {
		if (strcmp(run_outcome_names[i], name) == 0) {
			*outcome = (enum run_outcome)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool run_outcome_keeps_work(enum run_outcome outcome)
{
	/* Work is not thrown away because an agent forgot to submit. */
	return outcome == RUN_SUBMITTED || outcome == RUN_BUDGET_STEPS || outcome == RUN_BUDGET_TOKENS ||
	       outcome == RUN_BUDGET_TIME || outcome == RUN_STUCK;
}
