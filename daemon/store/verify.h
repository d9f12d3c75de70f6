/* Baselines, patches and verifications, and the rule that settles a task
 * once all of its runs are over: review with the best patch, or failed. */
#ifndef AGENTD_STORE_VERIFY_H
#define AGENTD_STORE_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/store/runs.h"
#include "proto/verdict.h"

struct store;

/* A run's patch. */
struct run_patch {
	const char *diff;    /* against the base commit, new files included */
	unsigned files;      /* files changed */
	unsigned insertions; /* lines added */
	unsigned deletions;  /* lines removed */
};

/* A verification's result (or, with pending, its start). */
struct verification {
	bool pending;                       /* the tests are yet to run */
	enum verdict verdict;               /* when not pending */
	const char *reason;                 /* why not passed, or NULL */
	enum verdict_comparison comparison; /* passed and flaky only */
	int exit_code;                      /* of the last test run, -1 unknown */
	uint64_t duration_ms;               /* of the last test run */
	unsigned repeats;                   /* test runs done */
	const char *output;                 /* tail of the last test run's output, or NULL */
	uint64_t diff_bytes;                /* the patch's size (ties go to the smaller) */
};

/* Records the task's baseline (passed: the tests pass on the untouched
 * base; details: a JSON object). */
void store_baseline_record(struct store *s, const char *task_id, bool passed, const char *details, store_event_fn cb,
			   void *arg);
/* Ends a run (store_runs_finish's work) with its patch (or NULL) and its
 * verification (or NULL when there is nothing to verify), then settles the
 * task. */
void store_runs_finish_verified(struct store *s, const struct run_record *run, const struct run_patch *patch,
				const struct verification *verification, const char *data, store_run_fn cb, void *arg);
/* Records a verification's result and settles the task. */
void store_verification_finish(struct store *s, const char *task_id, const char *run_id, const struct verification *v,
			       int64_t now_ms, store_event_fn cb, void *arg);

/* Reads (loop thread). */
/* The patch of run_id, a run of task_id: 0 with *diff (caller frees), or
 * -ENOENT (no such run of that task, or no patch). */
int store_patch_get(struct store *s, const char *task_id, const char *run_id, char **diff);
/* Its size and counts, without the diff: 0, or -ENOENT. */
int store_patch_stat(struct store *s, const char *run_id, unsigned *files, unsigned *insertions, unsigned *deletions,
		     size_t *bytes);
/* A run's verification as JSON (caller frees), or NULL when it has none. */
char *store_verification_json(struct store *s, const char *run_id);
/* A task's baseline details (JSON, caller frees), or NULL. */
char *store_baseline_json(struct store *s, const char *task_id);
/* Verifications left pending by a daemon that stopped: their run ids and
 * task ids (caller frees both arrays and their strings). */
int store_verifications_pending(struct store *s, char ***run_ids, char ***task_ids, size_t *count);

#endif
