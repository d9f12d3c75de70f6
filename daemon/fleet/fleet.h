/* The fleet: agent slots, the scheduler that gives queued tasks to free
 * slots, and the agents themselves (state machines on the loop thread). */
#ifndef AGENTD_FLEET_FLEET_H
#define AGENTD_FLEET_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"

struct fleet;
struct store;
struct llm;
struct repo_roots;

struct fleet_options {
	const char *data_dir;           /* workspaces, run directories, tools */
	const char *socket_path;        /* hidden from agents */
	const struct repo_roots *roots; /* hidden from agents */
	const char *sandbox_binary;     /* agentd-sandbox */
	unsigned agents;                /* slots */
	unsigned per_repo;              /* agents per repository at once (0: no cap) */
	uint32_t uid_base;              /* slot k runs as uid_base + k (root only) */
	bool keep_workspaces;           /* leave workspaces after runs */
	uint64_t workspace_max_bytes;   /* disk_quota beyond this */
	uint64_t min_free_disk_bytes;   /* agents pause below this */
	uint64_t sandbox_memory_bytes;  /* per command */
	uint64_t sandbox_pids;          /* per command */
	uint64_t sandbox_nice;          /* niceness of sandboxes and host git (0: agentd's own) */
	uint64_t sandbox_tmp_bytes;     /* per command */
	uint64_t command_timeout_ms;    /* per command */
	uint64_t observation_max_bytes; /* output shown to the agent per command */
	uint32_t reply_max_tokens;      /* per reply */
	uint64_t test_timeout_ms;       /* baseline and verification test runs */
	uint64_t patch_max_bytes;       /* larger patches are refused */
};

/* llm may be NULL: then tasks stay queued, and idle_reason says why (in
 * the log and in GET /v1/fleet). The store and llm are borrowed. Returns 0
 * or a negative errno with err. */
int fleet_new(uv_loop_t *loop, struct store *store, struct llm *llm, const char *idle_reason,
	      const struct fleet_options *opts, struct fleet **out, char *err, size_t errlen);
/* Ends runs a previous daemon left running (interrupted, tasks re-queued),
 * then starts scheduling. */
void fleet_start(struct fleet *f);
/* A task may be waiting (one was submitted or re-queued). */
void fleet_kick(struct fleet *f);
/* The task was canceled: its agent stops at once (its command is killed). */
void fleet_task_canceled(struct fleet *f, const char *task_id);
/* Free space in the data directory is below --min-free-disk. */
bool fleet_disk_low(const struct fleet *f);
/* GET /v1/fleet's body. */
void fleet_write_json(struct fleet *f, struct buf *out);
/* Metrics collector; fleet is a struct fleet *. */
void fleet_collect_metrics(struct buf *out, void *fleet);
/* Stops every agent: runs end as interrupted and their tasks go back to the
 * queue; done(arg) runs once all is recorded and cleaned up. */
void fleet_shutdown(struct fleet *f, void (*done)(void *arg), void *arg);
/* Frees a fleet whose shutdown has completed (or that never started). */
void fleet_free(struct fleet *f);

#endif
