/* The task state machine as a table. */
#include "proto/task_state.h"

#include <errno.h>
#include <string.h>

static const char *const task_state_names[TASK_STATE_COUNT] = {
	[TASK_QUEUED] = "queued",       [TASK_RUNNING] = "running",
	[TASK_VERIFYING] = "verifying", [TASK_AWAITING_REVIEW] = "awaiting_review",
	[TASK_APPROVED] = "approved",   [TASK_REJECTED] = "rejected",
	[TASK_FAILED] = "failed",       [TASK_CANCELED] = "canceled",
};

/* task_state_moves[from][to]: the legal transitions. running → queued is a
 * run interrupted by a restart; awaiting_review → queued is a reviewer's
 * request for changes. Every non-terminal state can be canceled. */
static const bool task_state_moves[TASK_STATE_COUNT][TASK_STATE_COUNT] = {
	[TASK_QUEUED] = {[TASK_RUNNING] = true, [TASK_FAILED] = true, [TASK_CANCELED] = true},
	[TASK_RUNNING] = {[TASK_QUEUED] = true, [TASK_VERIFYING] = true, [TASK_FAILED] = true, [TASK_CANCELED] = true},
	[TASK_VERIFYING] =
		{[TASK_QUEUED] = true, [TASK_AWAITING_REVIEW] = true, [TASK_FAILED] = true, [TASK_CANCELED] = true},
	[TASK_AWAITING_REVIEW] =
		{[TASK_QUEUED] = true, [TASK_APPROVED] = true, [TASK_REJECTED] = true, [TASK_CANCELED] = true},
};

const char *task_state_name(enum task_state state)
{
	if ((unsigned)state >= TASK_STATE_COUNT)
		return "unknown";
	return task_state_names[state];
}

int task_state_parse(const char *name, enum task_state *state)
{
	for (unsigned i = 0; i < TASK_STATE_COUNT; i++) {
		if (strcmp(task_state_names[i], name) == 0) {
			*state = (enum task_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool task_state_is_terminal(enum task_state state)
{
	if ((unsigned)state >= TASK_STATE_COUNT)
		return false;
	for (unsigned to = 0; to < TASK_STATE_COUNT; to++) {
		if (task_state_moves[state][to])
			return false;
	}
	return true;
}

bool task_state_can_move(enum task_state from, enum task_state to)
{
	if ((unsigned)from >= TASK_STATE_COUNT || (unsigned)to >= TASK_STATE_COUNT)
		return false;
	return task_state_moves[from][to];
}

const char *task_state_list(void)
{
	static char list[160];
	if (!list[0]) {
		for (unsigned i = 0; i < TASK_STATE_COUNT; i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, task_state_names[i]);
		}
	}
	return list;
}
