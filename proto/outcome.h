/* Why a run ended: one list, shared by the daemon (which records it) and
 * agentctl (which shows it). */
#ifndef AGENTD_PROTO_OUTCOME_H
#define AGENTD_PROTO_OUTCOME_H

#include <stdbool.h>

enum run_outcome {
	RUN_SUBMITTED,     /* the agent ran `submit` */
	RUN_BUDGET_STEPS,  /* the step budget ran out */
	RUN_BUDGET_TOKENS, /* the token budget ran out */
	RUN_BUDGET_TIME,   /* the time budget ran out */
	RUN_STUCK,         /* the same command with the same output three times in a row */
	RUN_LLM_ERROR,     /* the model failed */
	RUN_LLM_EXHAUSTED, /* a scripted model had no reply left */
	RUN_SANDBOX_ERROR, /* a command's sandbox could not be set up */
	RUN_DISK_QUOTA,    /* the workspace grew past --workspace-max */
	RUN_SETUP_FAILED,  /* the workspace could not be made */
	RUN_CANCELED,      /* the task was canceled */
	RUN_INTERRUPTED,   /* the daemon stopped while it ran */
	RUN_OUTCOME_COUNT
};

/* "submitted", "budget_steps", … (static), or "unknown". */
const char *run_outcome_name(enum run_outcome outcome);
/* Returns 0 and sets *outcome, or -EINVAL. */
int run_outcome_parse(const char *name, enum run_outcome *outcome);
/* Outcomes whose run may still have left work worth verifying. */
bool run_outcome_keeps_work(enum run_outcome outcome);

#endif
