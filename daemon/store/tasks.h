/* Task rows: creation (with idempotency keys), state transitions checked
 * against proto's table, reads and filtered, cursor-paginated lists. */
#ifndef AGENTD_STORE_TASKS_H
#define AGENTD_STORE_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/task.h"

struct store;

#define STORE_TASK_HASH_BYTES 32

enum store_create_result {
	STORE_TASK_CREATED,   /* a new task */
	STORE_TASK_REPLAYED,  /* the key was used before with the same body: that task */
	STORE_TASK_KEY_REUSED /* the key was used before with another body */
};

/* status is 0 or a negative errno (err says why); task is valid during the
 * call only (the stored task: the new one, or the replayed one). */
typedef void (*store_task_create_fn)(int status, enum store_create_result result, const struct task *task,
				     const char *err, void *arg);
/* status: 0; -ENOENT (no such task); -EPERM (the transition table forbids
 * it: task shows the current state); or another negative errno. */
typedef void (*store_task_update_fn)(int status, const struct task *task, const char *err, void *arg);

/* Inserts task (copied; id, state, times set by the caller). With a
 * non-NULL idempotency_key, hash identifies the request body. */
void store_tasks_create(struct store *s, const struct task *task, const char *idempotency_key,
			const unsigned char hash[STORE_TASK_HASH_BYTES], store_task_create_fn cb, void *arg);
/* Moves task id to state to (with reason, may be NULL) if allowed. */
void store_tasks_transition(struct store *s, const char *id, enum task_state to, const char *reason, int64_t now_ms,
			    store_task_update_fn cb, void *arg);

/* Reads one task (loop thread). Returns 0, -ENOENT, or -EIO with err. */
int store_tasks_get(struct store *s, const char *id, struct task *out, char *err, size_t errlen);

struct store_task_filter {
	bool has_state; /* filter on state */
	enum task_state state;
	const char *repo_identity; /* or NULL */
	const char *label;         /* or NULL */
	int64_t before_seq;        /* cursor: only tasks older than this (0: from the newest) */
	size_t limit;              /* page size */
};

/* Lists tasks newest first (loop thread). *tasks is an array the caller
 * frees with store_tasks_free_list; *next_seq is the cursor for the next
 * page, or 0 when this is the last one. */
int store_tasks_list(struct store *s, const struct store_task_filter *filter, struct task **tasks, size_t *count,
		     int64_t *next_seq, char *err, size_t errlen);
void store_tasks_free_list(struct task *tasks, size_t count);
/* Tasks in a state, as committed (loop thread). */
uint64_t store_tasks_count(const struct store *s, enum task_state state);
/* Creates submitted but not yet committed (loop thread). */
uint64_t store_tasks_pending_creates(const struct store *s);

#endif
