/* The agent: one run of one task, a state machine on the loop thread.
 * agent.c takes it from its start through the steps; finish.c from its
 * outcome through the patch, the verification and the clean-up. */
#ifndef AGENTD_FLEET_AGENT_H
#define AGENTD_FLEET_AGENT_H

#include "daemon/fleet/internal.h"

enum agent_phase {
	AGENT_STARTING,  /* the run is being recorded */
	AGENT_BETWEEN,   /* between two waits: nothing outstanding */
	AGENT_PREPARING, /* the base repository and the workspace are being made */
	AGENT_BASELINE,  /* the tests run on the untouched base */
	AGENT_THINKING,  /* waiting for the model */
	AGENT_ACTING,    /* a command runs in the sandbox */
	AGENT_MEASURING, /* the workspace's size is being taken */
	AGENT_PAUSED,    /* waiting for free disk space */
	AGENT_PATCHING,  /* the patch is computed in a sandbox, at the end */
	AGENT_RECORDING, /* the run's end is being committed */
	AGENT_VERIFYING, /* the patch is being verified */
	AGENT_CLEANING,  /* the workspace is being removed */
};

struct agent {
	struct fleet *fleet;           /* owner */
	unsigned slot;                 /* the slot it occupies */
	uint32_t uid;                  /* its sandboxes' uid and gid */
	struct task task;              /* a copy of the task */
	struct run_record run;         /* the run as recorded */
	enum agent_phase phase;        /* what it waits for */
	bool resume;                   /* only verifies a run a previous daemon left pending */
	struct llm_conversation *conv; /* the conversation, once the workspace is ready */
	struct proc *proc;             /* git making the base or the workspace, while it runs */
	uint64_t asked_ns;             /* when the model was asked for the pending reply */
	struct sbrun *run_cmd;         /* the command's sandbox, while it runs */
	struct verify_job *verify;     /* the baseline or the verification, while it runs */
	uv_timer_t *pause_timer;       /* while paused */
	char *run_dir;                 /* DATA/runs/RUN: base.git, control, patch, verification tree */
	char *base_git;                /* DATA/runs/RUN/base.git */
	char *workspace;               /* DATA/workspaces/RUN */
	char *control_dir;             /* DATA/runs/RUN/control */
	char *reply;                   /* the reply this step acts on */
	char *command;                 /* the command this step runs */
	uint32_t reply_tokens_in;      /* prompt tokens of that reply */
	uint32_t reply_tokens_out;     /* tokens of that reply */
	uint32_t reply_tokens_reused;  /* of tokens_in, those the prefix cache supplied */
	double reply_ttft_ms;          /* time to the reply's first token (0: not measured) */
	uint64_t started_ns;           /* when the run started */
	uint64_t last_hash;            /* the last step's command and output */
	unsigned repeats;              /* steps in a row with that hash */
	bool cancel;                   /* the task was canceled */
	bool interrupt;                /* the daemon is stopping */
	bool ending;                   /* the run has an outcome; wrapping up */
	bool submitted;                /* `submit` ran */
	bool workspace_made;           /* the workspace exists */
	char *detail;                  /* about the outcome */
	uint64_t patch_bytes;          /* the patch's size, for ranking */
};

extern const char *const agent_phase_names[];

int64_t agent_now_ms(void);
/* Ends the run with outcome (the first wins) and stops what is outstanding;
 * the wrap-up continues from that operation's completion. */
void agent_end(struct agent *a, enum run_outcome outcome, const char *detail);
/* Frees the agent and its slot. */
void agent_free(struct agent *a);
void agent_record_event(struct agent *a, const char *kind, const struct buf *data, const struct control_result *notes);

/* finish.c */
/* Goes on from an ended run: patch, record, verify, clean up. */
void agent_wrap_up(struct agent *a);

#endif
