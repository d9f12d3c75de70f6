/* Internals of daemon/fleet/: the fleet, its slots and the agent state
 * machine, the workspace, prompts, the action parser and the control
 * directory. */
#ifndef AGENTD_FLEET_INTERNAL_H
#define AGENTD_FLEET_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "daemon/fleet/fleet.h"
#include "daemon/llm/llm.h"
#include "daemon/store/runs.h"
#include "proto/task.h"
#include "sandbox/sandbox.h"

struct agent;
struct proc;

struct fleet {
	uv_loop_t *loop;           /* the daemon's loop */
	struct store *store;       /* borrowed */
	struct llm *llm;           /* borrowed; NULL: idle */
	char *idle_reason;         /* why there is no model */
	struct fleet_options opts; /* copied (strings borrowed from the config) */
	char *tools_dir;           /* DATA/tools: submit and remember */
	char *git;                 /* the host's git, found in PATH at start-up */
	char *workspaces_dir;      /* DATA/workspaces */
	char *runs_dir;            /* DATA/runs */
	bool root;                 /* running as root: slots get their own uids */
	struct agent **slots;      /* opts.agents entries, NULL when free */
	unsigned busy;             /* slots in use */
	bool started;              /* fleet_start ran and interrupted runs are handled */
	bool stopping;             /* fleet_shutdown was called */
	bool disk_low;             /* free space below the minimum */
	uv_timer_t tick;           /* scheduling safety net and disk check */
	uv_idle_t kick;            /* schedules on the next loop iteration */
	bool kick_pending;         /* kick is armed */
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
	int handles_open; /* tick and kick, while closing */
	/* statistics */
	uint64_t runs_started;                  /* runs begun */
	uint64_t runs_ended[RUN_OUTCOME_COUNT]; /* runs ended, by outcome */
	uint64_t steps;                         /* steps taken by all agents */
	uint64_t overhead_ns;                   /* loop time spent in agent bookkeeping */
};

/* agent.c */
/* Starts an agent for task in slot (the task is copied). */
void agent_start(struct fleet *f, unsigned slot, const struct task *task);
void agent_cancel(struct agent *a);
/* Ends the agent's run as interrupted (shutdown). */
void agent_interrupt(struct agent *a);
const char *agent_task_id(const struct agent *a);
const char *agent_repo(const struct agent *a);
void agent_write_json(const struct agent *a, struct buf *out);

/* fleet.c */
/* The agent in slot is gone: the slot is free again. */
void fleet_slot_released(struct fleet *f, unsigned slot);
/* The uid/gid of slot's sandboxes (ours when not root). */
uint32_t fleet_slot_uid(const struct fleet *f, unsigned slot);

/* workspace.c */
typedef void (*workspace_ready_fn)(int status, const char *base_commit, const char *err, void *arg);
typedef void (*workspace_done_fn)(int status, uint64_t bytes, void *arg);
/* Makes dir a clone of repo at ref holding nothing past the base commit,
 * owned by uid/gid. ready gets the base commit. *proc is the running git
 * (for cancel) or NULL between steps. */
void workspace_create(struct fleet *f, const char *repo, const char *ref, const char *dir, uint32_t uid,
		      struct proc **proc, workspace_ready_fn ready, void *arg);
/* Walks dir with lstat off the loop thread; done gets its size in bytes,
 * stopping early past limit. */
void workspace_measure(struct fleet *f, const char *dir, uint64_t limit, workspace_done_fn done, void *arg);
/* Removes dir without following symlinks, off the loop thread. done may be
 * NULL. */
void workspace_remove(struct fleet *f, const char *dir, workspace_done_fn done, void *arg);

/* action.c */
/* Finds the fenced ```bash blocks in reply. Returns how many; with exactly
 * one, *command is a new string the caller frees. */
int action_parse(const char *reply, size_t len, char **command);

/* control.c */
#define CONTROL_NOTE_MAX 4096
#define CONTROL_NOTES_MAX 16
struct control_result {
	bool submitted;                 /* `submit` ran */
	char *notes[CONTROL_NOTES_MAX]; /* `remember` texts (owned) */
	size_t note_count;
	unsigned ignored; /* entries refused: links, non-files, too big, too many */
};
/* Makes a fresh control directory for one step, writable by uid. */
int control_prepare(const char *dir, uint32_t uid, char *err, size_t errlen);
/* Reads what the step's command left in dir, trusting nothing in it. */
void control_read(const char *dir, struct control_result *out);
void control_result_free(struct control_result *r);

/* prompt.c */
/* Renders the named prompt (daemon/fleet/prompts/NAME.txt) with {{key}}
 * replaced from keys/values (count pairs). Returns a new string. */
char *prompt_render(const char *name, const char *const *keys, const char *const *values, size_t count);
/* Writes the helper commands into dir (created 0755). */
int prompt_install_tools(const char *dir, char *err, size_t errlen);

#endif
