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
#include "proto/verdict.h"
#include "sandbox/sandbox.h"

struct agent;
struct proc;

/* What a sandboxed command is for, to account for the time. */
enum fleet_use {
	FLEET_USE_STEP,     /* an agent's command */
	FLEET_USE_BASELINE, /* the tests on the untouched base */
	FLEET_USE_PATCH,    /* computing a run's patch */
	FLEET_USE_VERIFY,   /* git apply and the tests of a verification */
	FLEET_USE_COUNT
};

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
	char **resume_runs;        /* verifications a previous daemon left pending: runs */
	char **resume_tasks;       /* and their tasks */
	size_t resume_count;       /* entries left in both */
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
	uint64_t model_requests;                /* replies asked of the model */
	uint64_t model_ns;                      /* wall time waiting for them */
	uint64_t sandbox_runs[FLEET_USE_COUNT]; /* sandboxed commands, by use */
	uint64_t sandbox_ns[FLEET_USE_COUNT];   /* their wall time */
	uint64_t workspace_ns[3];               /* wall time making, measuring and removing trees */
	uint64_t verdicts[VERDICT_COUNT];       /* verifications ended, by verdict */
};

/* agent.c */
/* Starts an agent for task in slot (the task is copied). */
void agent_start(struct fleet *f, unsigned slot, const struct task *task);
void agent_cancel(struct agent *a);
/* Ends the agent's run as interrupted (shutdown). */
void agent_interrupt(struct agent *a);
const char *agent_task_id(const struct agent *a);
/* The run's start is not committed yet. */
bool agent_starting(const struct agent *a);
/* Verifies a run a previous daemon left unverified, in slot. */
void agent_resume_verification(struct fleet *f, unsigned slot, const struct task *task, const char *run_id);
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
/* Makes base_git a bare repository holding origin's ref (as branch agentd)
 * and its history, nothing else; ready gets the base commit. *proc is the
 * running git (for cancel), NULL between commands. */
void workspace_base(struct fleet *f, const char *origin, const char *ref, const char *base_git, struct proc **proc,
		    workspace_ready_fn ready, void *arg);
/* Makes dir a checkout of base_git's agentd branch, owned by uid/gid, with
 * no remote, tag or reflog; ready's commit is NULL. */
void workspace_checkout(struct fleet *f, const char *base_git, const char *dir, uint32_t uid, struct proc **proc,
			workspace_ready_fn ready, void *arg);
/* Walks dir with lstat off the loop thread; done gets its size in bytes,
 * stopping early past limit. */
void workspace_measure(struct fleet *f, const char *dir, uint64_t limit, workspace_done_fn done, void *arg);
/* Removes dir without following symlinks, off the loop thread. done may be
 * NULL. */
void workspace_remove(struct fleet *f, const char *dir, workspace_done_fn done, void *arg);

/* sbrun.c */
struct sbrun;
/* result and output are borrowed for the call; ms is the wall time. */
typedef void (*sbrun_done_fn)(const struct sandbox_result *result, const char *output, size_t len, uint64_t ms,
			      void *arg);
/* Runs cfg's command in a sandbox; done runs once after it is over. */
int sbrun_start(struct fleet *f, enum fleet_use use, const struct sandbox_config *cfg, sbrun_done_fn done, void *arg,
		struct sbrun **out, char *err, size_t errlen);
/* Kills the sandbox; done still runs. */
void sbrun_kill(struct sbrun *r);
/* The mounts every sandbox of the fleet gets: /tmp, and the daemon's data
 * directory, socket, the origin repository and the repo roots hidden.
 * Returns how many were written. */
size_t fleet_sandbox_mounts(const struct fleet *f, const char *origin, struct sandbox_mount *m, size_t cap);
/* A sandbox configuration for workspace as uid with the fleet's limits. */
void fleet_sandbox_config(const struct fleet *f, struct sandbox_config *cfg, const char *workspace, uint32_t uid,
			  struct sandbox_mount *mounts, size_t count);

/* verify.c */
struct verify_job;
struct verify_result {
	bool cannot_run;                    /* baseline: the test command could not run at all */
	bool passed;                        /* baseline: the tests passed */
	enum verdict verdict;               /* patch: the verdict */
	const char *reason;                 /* why not passed (static), or NULL */
	enum verdict_comparison comparison; /* patch: against the baseline */
	int exit_code;                      /* of the last test run, -1 unknown */
	uint64_t duration_ms;               /* of the last test run */
	unsigned repeats;                   /* test runs done */
	const char *output;                 /* tail of the last run's output (borrowed) */
};
typedef void (*verify_done_fn)(const struct verify_result *result, void *arg);
/* What to verify, and where: a fresh checkout of base_git in dir, owned by
 * uid, running test_command (strings borrowed until done). */
struct verify_spec {
	const char *base_git;     /* the run's base repository */
	const char *dir;          /* the fresh tree to make (removed afterwards) */
	const char *origin;       /* hidden from the sandbox */
	uint32_t uid;             /* the slot's uid */
	const char *test_command; /* the task's test */
	const char *patch_file;   /* the patch to apply (verification), or NULL (baseline) */
	unsigned repeats;         /* verification: test runs while they pass */
	int baseline_passed;      /* verification: 1, 0, or -1 unknown */
};
/* Starts a baseline (patch_file NULL) or a verification; done runs once. */
struct verify_job *verify_start(struct fleet *f, const struct verify_spec *spec, verify_done_fn done, void *arg);
/* Stops it: done runs with VERDICT_ERROR, reason "canceled". */
void verify_cancel(struct verify_job *job);

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
/* Reads one regular file of dir (no links followed, one link only) of at
 * most max bytes into *out (caller frees, NUL-terminated). Returns 0,
 * -EFBIG when larger, or another negative errno. */
int control_read_one(const char *dir, const char *name, size_t max, char **out, size_t *len);
void control_result_free(struct control_result *r);

/* prompt.c */
/* Renders the named prompt (daemon/fleet/prompts/NAME.txt) with {{key}}
 * replaced from keys/values (count pairs). Returns a new string. */
char *prompt_render(const char *name, const char *const *keys, const char *const *values, size_t count);
/* Writes the helper commands into dir (created 0755). */
int prompt_install_tools(const char *dir, char *err, size_t errlen);

#endif
