/* agentd --demo: the example repository bundled with agentd (a real bug and
 * a failing test) is committed into DATA_DIR/demo, one task is submitted
 * against it, and the agent's steps, the verdict and the patch are printed
 * on stdout as they happen; the daemon keeps serving. Without a model of
 * the user's, the agent is driven by a bundled script, and the demo says so. */
#ifndef AGENTD_DEMO_H
#define AGENTD_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "proto/task.h"

struct demo;
struct fleet;
struct store;

/* Before the loop runs: makes DATA_DIR/demo/leap-year a fresh git
 * repository holding the example, and, when bundled is true, writes the
 * bundled script; *llm_spec is then "scripted:PATH" (caller frees).
 * Returns 0 or a negative errno with err. */
int demo_prepare(const char *data_dir, bool bundled, char **llm_spec, char *err, size_t errlen);

/* Submits the demo's task and follows it, printing to out. model says what
 * drives the agent (for the screen). */
struct demo *demo_start(uv_loop_t *loop, struct store *store, struct fleet *fleet, const struct task_limits *limits,
			const char *data_dir, const char *socket_path, bool bundled, const char *model, FILE *out);
/* Stops following (shutdown); the demo is freed once its timer is closed. */
void demo_stop(struct demo *d);

#endif
