/* Runs and their events: a run starts (the task becomes running), each
 * step appends an event (notes the agent remembered go into memories in the
 * same transaction), and the run ends (the task moves on). */
#ifndef AGENTD_STORE_RUNS_H
#define AGENTD_STORE_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/outcome.h"
#include "proto/task.h"

struct store;

struct run_record {
	char id[TASK_ID_MAX];      /* "r_…" */
	char task_id[TASK_ID_MAX]; /* its task */
	unsigned attempt;          /* from 1; set by store_runs_start */
	int slot;                  /* the fleet slot */
	bool ended;                /* false while it runs */
	enum run_outcome outcome;  /* why it ended (when ended) */
	char *detail;              /* a message about the outcome, or NULL */
	char *base_commit;         /* the workspace's starting commit, or NULL */
	uint32_t steps;            /* steps taken */
	uint64_t tokens_in;        /* prompt tokens read */
	uint64_t tokens_out;       /* tokens generated */
	int changed;               /* 1/0: the workspace had changes at the end; -1 unknown */
	int64_t started_ms;
	int64_t ended_ms;
};

/* A run's counters so far. */
struct run_progress {
	uint32_t steps;      /* steps taken */
	uint64_t tokens_in;  /* prompt tokens read */
	uint64_t tokens_out; /* tokens generated */
};

struct store_event {
	int64_t seq; /* per task */
	char run_id[TASK_ID_MAX];
	char *kind; /* owned */
	char *data; /* owned JSON object text */
	int64_t created_ms;
};

/* status 0 or a negative errno: -EPERM when the task was not queued any
 * more (start) ; run is the record as stored (attempt filled). */
typedef void (*store_run_fn)(int status, const struct run_record *run, const char *err, void *arg);
typedef void (*store_event_fn)(int status, int64_t seq, const char *err, void *arg);
typedef void (*store_count_fn)(int status, uint64_t count, const char *err, void *arg);

void run_record_free(struct run_record *run);
/* Appends the API's JSON form of a run. */
void run_record_write_json(const struct run_record *run, struct buf *out);
/* The same members without the enclosing braces. */
void run_record_write_json_members(const struct run_record *run, struct buf *out);

/* Inserts the run, moves its task queued → running (another attempt of a
 * running task starts too) and appends a run_started event, in one
 * transaction. The attempt number is one more
 * than the task's runs that were not interrupted (a run restarted after a
 * crash keeps its number). */
void store_runs_start(struct store *s, const struct run_record *run, int64_t now_ms, store_run_fn cb, void *arg);
/* Appends an event (progress, when not NULL, updates the run's counters);
 * notes (note_count strings) go into memories for scope with the run's task
 * as source and trust "agent". cb may be NULL. */
void store_events_append(struct store *s, const char *task_id, const char *run_id, const char *kind, const char *data,
			 const struct run_progress *progress, const char *const *notes, size_t note_count,
			 const char *scope, int64_t now_ms, store_event_fn cb, void *arg);
/* At start-up: runs left running are ended as interrupted and their tasks
 * re-queued; cb gets how many. */
void store_runs_interrupt_all(struct store *s, int64_t now_ms, store_count_fn cb, void *arg);

/* Runs recorded as running (loop thread). */
int store_runs_count_running(struct store *s, uint64_t *count, char *err, size_t errlen);

/* Reads (loop thread). Lists are arrays the caller frees with the matching
 * _free_list. */
int store_runs_list(struct store *s, const char *task_id, struct run_record **runs, size_t *count, char *err,
		    size_t errlen);
void store_runs_free_list(struct run_record *runs, size_t count);
int store_events_list(struct store *s, const char *task_id, int64_t after_seq, const char *run_id, size_t limit,
		      struct store_event **events, size_t *count, char *err, size_t errlen);
void store_events_free_list(struct store_event *events, size_t count);
/* The memories of a scope, oldest first (up to limit texts, caller frees
 * each and the array). */
int store_memories_texts(struct store *s, const char *scope, size_t limit, char ***texts, size_t *count, char *err,
			 size_t errlen);

/* The task to run next: highest priority, then oldest, among the queued
 * and the running ones with attempts left (once their baseline is known),
 * whose
 * repository is not in full_repos and which is not in exclude (tasks being
 * started). Returns 0, -ENOENT when none, or -EIO. */
int store_tasks_next_queued(struct store *s, const char *const *full_repos, size_t full_count,
			    const char *const *exclude, size_t exclude_count, struct task *out, char *err,
			    size_t errlen);

#endif
