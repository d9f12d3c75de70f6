/* Helpers for the fleet's tests: a fixture repository with a failing
 * test, a scripted model, a daemon that runs agents, and waiting for a task
 * to reach a state. */
#ifndef AGENTD_TESTS_FLEET_SUPPORT_H
#define AGENTD_TESTS_FLEET_SUPPORT_H

#include <cjson/cJSON.h>

#include "tests/harness/harness.h"

/* A git repository whose `make test` fails until a file named "fixed"
 * exists; returns its path (kept by the support code for the whole test). */
char *fs_repo(void);
/* A git repository whose files the shell commands files_cmd make (run in
 * it, before the one commit); returns its path (kept). */
char *fs_repo_with(const char *files_cmd);
/* Writes a scripted model's JSON to a file and returns its path (kept). */
char *fs_script(const char *json);
/* Starts agentd with --llm scripted:SCRIPT and extra args (NULL-terminated). */
struct th_daemon *fs_daemon(const char *script, const char *const *extra);
struct th_daemon *fs_daemon_in(const char *data_dir, const char *script, const char *const *extra);
/* Submits a task; returns its id (caller frees). extra is more JSON members
 * or NULL. */
char *fs_submit(struct th_daemon *d, const char *repo, const char *instruction, const char *extra);
/* The same with a test command of its own (JSON-escaped already). */
char *fs_submit_test(struct th_daemon *d, const char *repo, const char *instruction, const char *test,
		     const char *extra);
/* GET path as JSON (caller frees with cJSON_Delete); fails the test unless 200. */
cJSON *fs_get(struct th_daemon *d, const char *path);
/* Waits until the task's state is one of states (comma-separated); returns
 * the task (with runs). Fails the test after timeout_ms. */
cJSON *fs_wait_state(struct th_daemon *d, const char *id, const char *states, long timeout_ms);
/* The task's events (all of them). */
cJSON *fs_events(struct th_daemon *d, const char *id);
/* The data object of the n-th event of kind (1-based), or NULL. */
const cJSON *fs_event(const cJSON *events, const char *kind, int n);
/* A string member, or NULL. */
const char *fs_str(const cJSON *o, const char *name);
/* An integer member (fails the test when absent). */
long long fs_int(const cJSON *o, const char *name);
/* The last run of a task object. */
const cJSON *fs_last_run(const cJSON *task);

#endif
