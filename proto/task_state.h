/* Task states and the one table of legal transitions between them, shared by
 * the daemon and agentctl; no other code spells out the transitions. */
#ifndef AGENTD_PROTO_TASK_STATE_H
#define AGENTD_PROTO_TASK_STATE_H

#include <stdbool.h>

enum task_state {
	TASK_QUEUED,          /* waiting for a free agent slot */
	TASK_RUNNING,         /* agents are working on it */
	TASK_VERIFYING,       /* the patch's tests are running */
	TASK_AWAITING_REVIEW, /* a verified patch waits for a human */
	TASK_APPROVED,        /* terminal: the reviewer approved */
	TASK_REJECTED,        /* terminal: the reviewer rejected */
	TASK_FAILED,          /* terminal: no acceptable patch (reason says why) */
	TASK_CANCELED,        /* terminal: canceled through the API */
	TASK_STATE_COUNT
};

/* "queued", "running", … (static), or "unknown". */
const char *task_state_name(enum task_state state);
/* Returns 0 and sets *state, or -EINVAL for an unknown name. */
int task_state_parse(const char *name, enum task_state *state);
/* No transition leaves a terminal state. */
bool task_state_is_terminal(enum task_state state);
/* Whether the table allows from → to. */
bool task_state_can_move(enum task_state from, enum task_state to);
/* The names of every state, comma-separated (static), for messages. */
const char *task_state_list(void);

#endif
