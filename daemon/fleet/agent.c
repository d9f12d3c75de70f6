/* One agent run, as a state machine on the loop thread: workspace →
 * (prompt → reply → one bash command in the sandbox → observation)* →
 * changes check → record → clean up. Every wait is a callback; ending (by
 * an outcome, a cancel or a shutdown) interrupts whatever is outstanding
 * and resumes in that operation's completion. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/fleet/internal.h"
#include "daemon/ids.h"
#include "daemon/log.h"
#include "daemon/proc.h"
#include "daemon/repo.h"
#include "proto/json.h"

/* Memories put into a prompt at most. */
#define AGENT_MEMORIES_MAX 20
/* Identical command-and-output steps in a row that mean stuck. */
#define AGENT_STUCK_REPEATS 3
/* How often a paused agent looks at the free disk space again. */
#define AGENT_PAUSE_MS 1000
#define AGENT_ELIDED "[output elided to fit the model's context]"

enum agent_phase {
	AGENT_STARTING,  /* the run is being recorded */
	AGENT_BETWEEN,   /* between two waits: nothing outstanding */
	AGENT_PREPARING, /* the workspace is being made */
	AGENT_THINKING,  /* waiting for the model */
	AGENT_ACTING,    /* a command runs in the sandbox */
	AGENT_MEASURING, /* the workspace's size is being taken */
	AGENT_PAUSED,    /* waiting for free disk space */
	AGENT_CHECKING,  /* git status in a sandbox, at the end */
	AGENT_RECORDING, /* the run's end is being committed */
	AGENT_CLEANING,  /* the workspace is being removed */
};

static const char *const agent_phase_names[] = {
	"starting",  "between", "preparing", "thinking",  "acting",
	"measuring", "paused",  "checking",  "recording", "cleaning",
};

struct agent {
	struct fleet *fleet;           /* owner */
	unsigned slot;                 /* the slot it occupies */
	uint32_t uid;                  /* its sandboxes' uid and gid */
	struct task task;              /* a copy of the task */
	struct run_record run;         /* the run as recorded */
	enum agent_phase phase;        /* what it waits for */
	struct llm_conversation *conv; /* the conversation, once the workspace is ready */
	struct proc *proc;             /* git making the workspace, while it runs */
	sandbox *sb;                   /* the command's sandbox, while it runs */
	struct buf output;             /* the command's output */
	int streams_open;              /* command streams not at EOF yet */
	bool sb_exited;                /* the sandbox reported its result */
	struct sandbox_result result;  /* that result */
	uv_timer_t *pause_timer;       /* while paused */
	char *workspace;               /* DATA/workspaces/RUN */
	char *control_dir;             /* DATA/runs/RUN/control */
	char *reply;                   /* the reply this step acts on */
	char *command;                 /* the command this step runs */
	uint32_t reply_tokens_in;      /* prompt tokens of that reply */
	uint32_t reply_tokens_out;     /* tokens of that reply */
	uint64_t step_started_ns;      /* when the command started */
	uint64_t started_ns;           /* when the run started */
	uint64_t last_hash;            /* the last step's command and output */
	unsigned repeats;              /* steps in a row with that hash */
	bool cancel;                   /* the task was canceled */
	bool interrupt;                /* the daemon is stopping */
	bool ending;                   /* the run has an outcome; wrapping up */
	bool submitted;                /* `submit` ran */
	char *detail;                  /* about the outcome */
};

static void agent_step(struct agent *a);
static void agent_wrap_up(struct agent *a);

static int64_t agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *agent_task_id(const struct agent *a)
{
	return a->task.id;
}

const char *agent_repo(const struct agent *a)
{
	return a->task.repo_identity;
}

static void agent_free(struct agent *a)
{
	struct fleet *f = a->fleet;
	unsigned slot = a->slot;
	llm_conversation_free(a->conv);
	task_free_fields(&a->task);
	run_record_free(&a->run);
	buf_free(&a->output);
	free(a->workspace);
	free(a->control_dir);
	free(a->reply);
	free(a->command);
	free(a->detail);
	free(a);
	fleet_slot_released(f, slot);
}

/* Ends the run with outcome (the first outcome wins) and stops whatever
 * is outstanding; the wrap-up continues from its completion. */
static void agent_end(struct agent *a, enum run_outcome outcome, const char *detail)
{
	if (a->ending)
		return;
	a->ending = true;
	a->run.outcome = outcome;
	a->detail = detail ? xstrdup(detail) : NULL;
	switch (a->phase) {
	case AGENT_PREPARING: proc_kill(a->proc); return;
	case AGENT_THINKING: llm_cancel(a->conv); return;
	case AGENT_ACTING: sandbox_kill(a->sb); return;
	case AGENT_PAUSED:
		uv_close((uv_handle_t *)a->pause_timer, (uv_close_cb)free);
		a->pause_timer = NULL;
		agent_wrap_up(a);
		return;
	case AGENT_BETWEEN:
		/* The caller goes on to wrap up. */
		return;
	case AGENT_STARTING:
	case AGENT_MEASURING:
	case AGENT_CHECKING:
	case AGENT_RECORDING:
	case AGENT_CLEANING:
		/* Their completions look at a->ending. */
		return;
	}
}

void agent_cancel(struct agent *a)
{
	a->cancel = true;
	agent_end(a, RUN_CANCELED, "the task was canceled");
}

void agent_interrupt(struct agent *a)
{
	a->interrupt = true;
	agent_end(a, RUN_INTERRUPTED, "the daemon stopped while the run was in progress");
}

/* ---- events ---- */

static void agent_event_recorded(int status, int64_t seq, const char *err, void *arg)
{
	(void)seq;
	(void)arg;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record an event", "error", err, NULL);
}

static void agent_record_event(struct agent *a, const char *kind, const struct buf *data,
			       const struct control_result *notes)
{
	struct run_progress progress = {a->run.steps, a->run.tokens_in, a->run.tokens_out};
	store_events_append(a->fleet->store, a->task.id, a->run.id, kind, data->data, &progress,
			    notes ? (const char *const *)notes->notes : NULL, notes ? notes->note_count : 0,
			    a->task.repo_identity, agent_now_ms(), agent_event_recorded, NULL);
}

/* ---- the end ---- */

static void agent_cleaned(int status, uint64_t bytes, void *arg)
{
	(void)status;
	(void)bytes;
	agent_free(arg);
}

static void agent_recorded(int status, const struct run_record *run, const char *err, void *arg)
{
	struct agent *a = arg;
	struct fleet *f = a->fleet;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record the end of a run", "run", run->id, "error", err, NULL);
	char steps[16];
	snprintf(steps, sizeof(steps), "%u", a->run.steps);
	log_event(LOG_LEVEL_INFO, "run ended", "task", a->task.id, "run", a->run.id, "outcome",
		  run_outcome_name(a->run.outcome), "steps", steps, NULL);
	f->runs_ended[a->run.outcome]++;
	if (f->opts.keep_workspaces) {
		agent_free(a);
		return;
	}
	a->phase = AGENT_CLEANING;
	char *run_dir = xasprintf("%s/%s", f->runs_dir, a->run.id);
	workspace_remove(f, run_dir, NULL, NULL);
	free(run_dir);
	workspace_remove(f, a->workspace, agent_cleaned, a);
}

/* Records the run's end and the task's next state. */
static void agent_record(struct agent *a)
{
	a->phase = AGENT_RECORDING;
	a->run.ended = true;
	a->run.ended_ms = agent_now_ms();
	a->run.detail = a->detail ? xstrdup(a->detail) : NULL;
	enum task_state to;
	const char *reason;
	if (a->run.outcome == RUN_INTERRUPTED) {
		to = TASK_QUEUED;
		reason = "interrupted";
	} else if (a->run.outcome != RUN_CANCELED && (a->run.outcome == RUN_SUBMITTED || a->run.changed == 1)) {
		/* Work is not thrown away because the agent forgot to submit. */
		to = TASK_VERIFYING;
		reason = NULL;
	} else {
		to = TASK_FAILED;
		reason = run_outcome_name(a->run.outcome);
	}
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"outcome\":\"%s\",\"detail\":", run_outcome_name(a->run.outcome));
	if (a->detail)
		json_write_string(&data, a->detail);
	else
		buf_append_str(&data, "null");
	buf_printf(&data,
		   ",\"steps\":%u,\"tokens_in\":%" PRIu64 ",\"tokens_out\":%" PRIu64 ",\"changed\":%s,"
		   "\"task_state\":\"%s\"}",
		   a->run.steps, a->run.tokens_in, a->run.tokens_out,
		   a->run.changed < 0 ? "null"
		   : a->run.changed   ? "true"
				      : "false",
		   task_state_name(to));
	store_runs_finish(a->fleet->store, &a->run, to, reason, data.data, agent_recorded, a);
	buf_free(&data);
}

/* The sandbox mounts every command of this agent gets: control and tools
 * directories, /tmp, and what must stay out of sight. */
static size_t agent_mounts(struct agent *a, struct sandbox_mount *m, size_t cap, bool with_control)
{
	struct fleet *f = a->fleet;
	size_t n = 0;
	if (with_control) {
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_BIND, a->control_dir, "/run/agentd", 0};
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_RO_BIND, f->tools_dir, "/run/agentd-tools", 0};
	}
	m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_TMPFS, NULL, "/tmp", f->opts.sandbox_tmp_bytes};
	m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.data_dir, 0};
	if (f->opts.socket_path)
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.socket_path, 0};
	if (a->task.repo_identity && a->task.repo_identity[0] == '/')
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, a->task.repo_identity, 0};
	for (size_t i = 0; f->opts.roots && i < f->opts.roots->count && n < cap; i++)
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.roots->paths[i], 0};
	return n;
}

static void agent_sandbox_config(struct agent *a, struct sandbox_config *cfg, struct sandbox_mount *mounts,
				 size_t count)
{
	struct fleet *f = a->fleet;
	sandbox_config_init(cfg);
	cfg->workspace = a->workspace;
	cfg->mounts = mounts;
	cfg->mount_count = count;
	cfg->net = SANDBOX_NET_NONE;
	cfg->uid = a->uid;
	cfg->gid = a->uid;
	cfg->memory_bytes = f->opts.sandbox_memory_bytes;
	cfg->pids = f->opts.sandbox_pids;
	cfg->file_size_bytes = f->opts.workspace_max_bytes;
}

static void agent_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	buf->base = xmalloc(suggested);
	buf->len = suggested;
}

static void agent_command_finished(struct agent *a);

static void agent_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct agent *a = stream->data;
	/* The sandbox caps the output already; this bounds memory should it
	 * not. */
	if (nread > 0 && a->output.len < 4 * a->fleet->opts.observation_max_bytes + 4096)
		buf_append(&a->output, buf->base, (size_t)nread);
	free(buf->base);
	if (nread < 0) {
		uv_read_stop(stream);
		if (--a->streams_open == 0 && a->sb_exited)
			agent_command_finished(a);
	}
}

static void agent_sandbox_exited(sandbox *sb, const struct sandbox_result *result, void *arg)
{
	(void)sb;
	struct agent *a = arg;
	a->result = *result;
	a->sb_exited = true;
	if (a->streams_open == 0)
		agent_command_finished(a);
}

/* Starts argv in a sandbox on the workspace; agent_command_finished runs
 * when it is over. Returns 0 or a negative errno with err. */
static int agent_spawn(struct agent *a, const char *const *argv, const char *const *env, size_t env_count,
		       bool with_control, uint64_t timeout_ms, char *err, size_t errlen)
{
	struct sandbox_mount mounts[32];
	size_t n = agent_mounts(a, mounts, 32, with_control);
	struct sandbox_config cfg;
	agent_sandbox_config(a, &cfg, mounts, n);
	cfg.argv = argv;
	cfg.env = env;
	cfg.env_count = env_count;
	cfg.timeout_ms = timeout_ms;
	cfg.max_output_bytes = a->fleet->opts.observation_max_bytes;
	struct sandbox_spawn_options opts = {a->fleet->opts.sandbox_binary, false, 1000};
	buf_reset(&a->output);
	a->sb_exited = false;
	sandbox_result_init(&a->result);
	int rc = sandbox_spawn(a->fleet->loop, &cfg, &opts, agent_sandbox_exited, a, &a->sb, err, errlen);
	if (rc < 0)
		return rc;
	a->streams_open = 2;
	sandbox_stdout(a->sb)->data = a;
	sandbox_stderr(a->sb)->data = a;
	uv_read_start(sandbox_stdout(a->sb), agent_alloc, agent_read);
	uv_read_start(sandbox_stderr(a->sb), agent_alloc, agent_read);
	a->step_started_ns = uv_hrtime();
	return 0;
}

/* Looks for changes in the workspace with git, inside a sandbox: the
 * workspace's .git is the agent's to tamper with. */
static void agent_check_changes(struct agent *a)
{
	a->phase = AGENT_CHECKING;
	static const char *const argv[] = {"git",    "-c",          "core.fsmonitor=false",  "-c", "safe.directory=*",
					   "status", "--porcelain", "--untracked-files=all", NULL};
	static const char *const env[] = {"GIT_OPTIONAL_LOCKS=0"};
	char err[512];
	if (agent_spawn(a, argv, env, 1, false, 30000, err, sizeof(err)) < 0) {
		log_event(LOG_LEVEL_WARN, "cannot check a workspace for changes", "run", a->run.id, "error", err, NULL);
		agent_record(a);
	}
}

static void agent_wrap_up(struct agent *a)
{
	/* Without a workspace, or when the daemon is stopping (the task goes
	 * back to the queue anyway), there is nothing to look at. */
	if (a->run.base_commit && !a->interrupt)
		agent_check_changes(a);
	else
		agent_record(a);
}

/* ---- commands ---- */

static uint64_t agent_hash(const char *a, size_t alen, const char *b, size_t blen, int code)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < alen; i++)
		h = (h ^ (unsigned char)a[i]) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (size_t i = 0; i < blen; i++)
		h = (h ^ (unsigned char)b[i]) * 1099511628211ull;
	return (h ^ (uint64_t)(unsigned)code) * 1099511628211ull;
}

/* The first line of an observation: how the command ended. */
static void agent_status_line(const struct agent *a, uint64_t ms, char *out, size_t outlen)
{
	const struct sandbox_result *r = &a->result;
	double s = (double)ms / 1000.0;
	if (r->timed_out)
		snprintf(out, outlen, "The command was stopped after %.1fs: it took longer than the limit.", s);
	else if (r->oom_killed)
		snprintf(out, outlen, "The command ran out of memory and was killed (%.1fs).", s);
	else if (r->signal)
		snprintf(out, outlen, "The command was killed by signal %d (%.1fs).", r->signal, s);
	else
		snprintf(out, outlen, "Exit code %d (%.1fs).", r->exit_code, s);
}

static void agent_measured(int status, uint64_t bytes, void *arg);

/* The command of this step is over: record it and go on. */
static void agent_command_finished(struct agent *a)
{
	sandbox_free(a->sb);
	a->sb = NULL;
	if (a->phase == AGENT_CHECKING) {
		a->run.changed = a->result.exit_code == 0 ? a->output.len > 0 : -1;
		agent_record(a);
		return;
	}
	a->phase = AGENT_BETWEEN;
	uint64_t ms = (uv_hrtime() - a->step_started_ns) / 1000000;
	if (a->result.setup_failed) {
		agent_end(a, RUN_SANDBOX_ERROR, a->result.error);
		agent_wrap_up(a);
		return;
	}
	struct control_result control;
	control_read(a->control_dir, &control);
	a->run.steps++;
	a->fleet->steps++;
	if (control.submitted)
		a->submitted = true;
	const char *output = a->output.data ? a->output.data : "";
	/* The event. */
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"step\":%u,\"reply\":", a->run.steps);
	json_write_string(&data, a->reply ? a->reply : "");
	buf_append_str(&data, ",\"command\":");
	json_write_string(&data, a->command);
	buf_printf(&data,
		   ",\"exit_code\":%d,\"signal\":%d,\"timed_out\":%s,\"oom_killed\":%s,\"duration_ms\":%" PRIu64
		   ",\"output\":",
		   a->result.exit_code, a->result.signal, a->result.timed_out ? "true" : "false",
		   a->result.oom_killed ? "true" : "false", ms);
	json_write_string(&data, output);
	buf_printf(&data, ",\"output_truncated\":%s,\"tokens_in\":%u,\"tokens_out\":%u,\"submitted\":%s,\"notes\":[",
		   a->result.output_truncated ? "true" : "false", a->reply_tokens_in, a->reply_tokens_out,
		   control.submitted ? "true" : "false");
	for (size_t i = 0; i < control.note_count; i++) {
		if (i)
			buf_append_char(&data, ',');
		json_write_string(&data, control.notes[i]);
	}
	buf_printf(&data, "],\"ignored_control_entries\":%u}", control.ignored);
	agent_record_event(a, "step", &data, &control);
	buf_free(&data);
	control_result_free(&control);

	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	uint64_t hash = agent_hash(a->command, strlen(a->command), output, a->output.len, a->result.exit_code);
	a->repeats = hash == a->last_hash ? a->repeats + 1 : 1;
	a->last_hash = hash;
	if (a->repeats >= AGENT_STUCK_REPEATS) {
		agent_end(a, RUN_STUCK, "the same command gave the same output three times in a row");
		agent_wrap_up(a);
		return;
	}
	/* The observation becomes the next user message. */
	char status[160];
	agent_status_line(a, ms, status, sizeof(status));
	const char *keys[] = {"status", "output"};
	const char *values[] = {status, output};
	char *observation = prompt_render("observation", keys, values, 2);
	llm_append(a->conv, LLM_ROLE_USER, observation, strlen(observation));
	free(observation);
	a->phase = AGENT_MEASURING;
	workspace_measure(a->fleet, a->workspace, a->fleet->opts.workspace_max_bytes, agent_measured, a);
}

static void agent_measured(int status, uint64_t bytes, void *arg)
{
	struct agent *a = arg;
	a->phase = AGENT_BETWEEN;
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	if (status == 0 && bytes > a->fleet->opts.workspace_max_bytes) {
		agent_end(a, RUN_DISK_QUOTA, "the workspace grew past --workspace-max");
		agent_wrap_up(a);
		return;
	}
	if (a->submitted) {
		agent_end(a, RUN_SUBMITTED, NULL);
		agent_wrap_up(a);
		return;
	}
	agent_step(a);
}

static void agent_run_command(struct agent *a)
{
	char err[512];
	if (control_prepare(a->control_dir, a->uid, err, sizeof(err)) < 0) {
		agent_end(a, RUN_SANDBOX_ERROR, err);
		agent_wrap_up(a);
		return;
	}
	/* stderr joins stdout so that the agent sees them in order. */
	char *script = xasprintf("exec 2>&1\n%s", a->command);
	const char *argv[] = {"/bin/bash", "-c", script, NULL};
	static const char *const env[] = {"PATH=/run/agentd-tools:/usr/local/bin:/usr/bin:/bin", "PAGER=cat",
					  "GIT_PAGER=cat", "TERM=dumb"};
	a->phase = AGENT_ACTING;
	int rc = agent_spawn(a, argv, env, 4, true, a->fleet->opts.command_timeout_ms, err, sizeof(err));
	free(script);
	if (rc < 0) {
		agent_end(a, RUN_SANDBOX_ERROR, err);
		agent_wrap_up(a);
	}
}

/* ---- the model ---- */

static void agent_replied(struct llm_conversation *c, const struct llm_reply *reply, void *arg)
{
	(void)c;
	struct agent *a = arg;
	a->phase = AGENT_BETWEEN;
	a->run.tokens_in += reply->prompt_tokens;
	a->run.tokens_out += reply->tokens;
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	switch (reply->finish) {
	case LLM_FINISH_CANCELED:
		agent_end(a, RUN_CANCELED, NULL);
		agent_wrap_up(a);
		return;
	case LLM_FINISH_ERROR:
		agent_end(a, RUN_LLM_ERROR, reply->error);
		agent_wrap_up(a);
		return;
	case LLM_FINISH_EXHAUSTED:
		agent_end(a, RUN_LLM_EXHAUSTED, reply->error);
		agent_wrap_up(a);
		return;
	case LLM_FINISH_STOP:
	case LLM_FINISH_LENGTH: break;
	}
	free(a->reply);
	free(a->command);
	a->command = NULL;
	a->reply = xstrndup(reply->text, reply->len);
	a->reply_tokens_in = reply->prompt_tokens;
	a->reply_tokens_out = reply->tokens;
	char *command = NULL;
	int blocks = action_parse(reply->text, reply->len, &command);
	if (blocks != 1) {
		/* A malformed reply costs a step and gets a correction. */
		a->run.steps++;
		a->fleet->steps++;
		char count[16];
		snprintf(count, sizeof(count), "%d", blocks);
		const char *keys[] = {"count"};
		const char *values[] = {count};
		char *correction = prompt_render("correction", keys, values, 1);
		llm_append(a->conv, LLM_ROLE_USER, correction, strlen(correction));
		free(correction);
		struct buf data = BUF_INIT;
		buf_printf(&data, "{\"step\":%u,\"reply\":", a->run.steps);
		json_write_string(&data, a->reply);
		buf_printf(&data,
			   ",\"error\":\"the reply had %d bash blocks, not one\",\"tokens_in\":%u,\"tokens_out\":%u}",
			   blocks, a->reply_tokens_in, a->reply_tokens_out);
		agent_record_event(a, "step", &data, NULL);
		buf_free(&data);
		agent_step(a);
		return;
	}
	a->command = command;
	agent_run_command(a);
}

/* Makes room in the context by eliding the oldest observations (never the
 * system prompt or the task). Returns false when nothing is left to elide. */
static bool agent_fit_context(struct agent *a, uint32_t reply_tokens)
{
	uint32_t context = llm_context_tokens(a->fleet->llm);
	size_t n = llm_message_count(a->conv);
	for (size_t i = 2; i < n && llm_token_count(a->conv) + reply_tokens > context; i++) {
		if (llm_message_role(a->conv, i) != LLM_ROLE_USER ||
		    strcmp(llm_message_text(a->conv, i), AGENT_ELIDED) == 0)
			continue;
		llm_replace(a->conv, i, AGENT_ELIDED, strlen(AGENT_ELIDED));
	}
	return llm_token_count(a->conv) + reply_tokens <= context;
}

static void agent_pause_over(uv_timer_t *timer)
{
	struct agent *a = timer->data;
	uv_close((uv_handle_t *)timer, (uv_close_cb)free);
	a->pause_timer = NULL;
	a->phase = AGENT_BETWEEN;
	agent_step(a);
}

static void agent_step(struct agent *a)
{
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	const struct task_budget *b = &a->task.budget;
	uint64_t elapsed_s = (uv_hrtime() - a->started_ns) / 1000000000ull;
	if (a->run.steps >= (uint64_t)b->max_steps) {
		agent_end(a, RUN_BUDGET_STEPS, NULL);
	} else if (a->run.tokens_out >= (uint64_t)b->max_tokens) {
		agent_end(a, RUN_BUDGET_TOKENS, NULL);
	} else if (elapsed_s >= (uint64_t)b->max_seconds) {
		agent_end(a, RUN_BUDGET_TIME, NULL);
	}
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	if (a->fleet->disk_low) {
		a->phase = AGENT_PAUSED;
		a->pause_timer = xmalloc(sizeof(*a->pause_timer));
		uv_timer_init(a->fleet->loop, a->pause_timer);
		a->pause_timer->data = a;
		uv_timer_start(a->pause_timer, agent_pause_over, AGENT_PAUSE_MS, 0);
		return;
	}
	uint64_t left = (uint64_t)b->max_tokens - a->run.tokens_out;
	uint32_t max_tokens = a->fleet->opts.reply_max_tokens;
	if (left < max_tokens)
		max_tokens = (uint32_t)left;
	if (!agent_fit_context(a, max_tokens)) {
		agent_end(a, RUN_LLM_ERROR, "the conversation no longer fits the model's context");
		agent_wrap_up(a);
		return;
	}
	struct llm_request req = {max_tokens, NULL, "bash_block"};
	a->phase = AGENT_THINKING;
	int rc = llm_reply(a->conv, &req, agent_replied, a);
	if (rc < 0) {
		agent_end(a, RUN_LLM_ERROR, strerror(-rc));
		agent_wrap_up(a);
	}
}

/* ---- start ---- */

/* The conversation's first two messages: the rules, then the task (with
 * the repository's memories). */
static void agent_open_conversation(struct agent *a)
{
	struct llm_run_info info = {a->task.instruction, a->run.attempt};
	a->conv = llm_conversation_new(a->fleet->llm, &info);
	char timeout[32];
	uint64_t t = a->fleet->opts.command_timeout_ms;
	if (t % 1000 == 0)
		snprintf(timeout, sizeof(timeout), "%" PRIu64 " seconds", t / 1000);
	else
		snprintf(timeout, sizeof(timeout), "%" PRIu64 " ms", t);
	const char *skeys[] = {"test_command", "command_timeout"};
	const char *svalues[] = {a->task.test_command, timeout};
	char *system = prompt_render("system", skeys, svalues, 2);
	llm_append(a->conv, LLM_ROLE_SYSTEM, system, strlen(system));
	free(system);
	char **texts = NULL;
	size_t count = 0;
	char err[256];
	struct buf notes = BUF_INIT;
	if (store_memories_texts(a->fleet->store, a->task.repo_identity, AGENT_MEMORIES_MAX, &texts, &count, err,
				 sizeof(err)) == 0) {
		for (size_t i = 0; i < count; i++) {
			buf_printf(&notes, "- %s\n", texts[i]);
			free(texts[i]);
		}
		free(texts);
	}
	char *memories = NULL;
	if (notes.len) {
		const char *mkeys[] = {"notes"};
		const char *mvalues[] = {notes.data};
		char *rendered = prompt_render("memories", mkeys, mvalues, 1);
		memories = xasprintf("%s\n", rendered);
		free(rendered);
	}
	buf_free(&notes);
	const char *tkeys[] = {"memories", "instruction"};
	const char *tvalues[] = {memories ? memories : "", a->task.instruction};
	char *task = prompt_render("task", tkeys, tvalues, 2);
	llm_append(a->conv, LLM_ROLE_USER, task, strlen(task));
	free(task);
	free(memories);
}

static void agent_workspace_ready(int status, const char *base_commit, const char *err, void *arg)
{
	struct agent *a = arg;
	a->phase = AGENT_BETWEEN;
	if (status == 0)
		a->run.base_commit = xstrdup(base_commit);
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	if (status < 0) {
		log_event(LOG_LEVEL_WARN, "cannot make a workspace", "task", a->task.id, "error", err, NULL);
		agent_end(a, RUN_SETUP_FAILED, err);
		agent_wrap_up(a);
		return;
	}
	agent_open_conversation(a);
	agent_step(a);
}

static void agent_started(int status, const struct run_record *run, const char *err, void *arg)
{
	struct agent *a = arg;
	if (status < 0) {
		/* Canceled (or gone) between the pick and the start: the slot
		 * is free again and nothing ran. */
		if (status != -EPERM)
			log_event(LOG_LEVEL_ERROR, "cannot start a run", "task", a->task.id, "error", err, NULL);
		agent_free(a);
		return;
	}
	a->run.attempt = run->attempt;
	a->phase = AGENT_BETWEEN;
	a->fleet->runs_started++;
	char attempt[16];
	snprintf(attempt, sizeof(attempt), "%u", a->run.attempt);
	log_event(LOG_LEVEL_INFO, "run started", "task", a->task.id, "run", a->run.id, "attempt", attempt, NULL);
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	a->phase = AGENT_PREPARING;
	char *run_dir = xasprintf("%s/%s", a->fleet->runs_dir, a->run.id);
	if (mkdir(run_dir, 0755) < 0 && errno != EEXIST)
		log_event(LOG_LEVEL_WARN, "cannot make a run directory", "path", run_dir, "error", strerror(errno),
			  NULL);
	free(run_dir);
	workspace_create(a->fleet, a->task.repo, a->task.ref, a->workspace, a->uid, &a->proc, agent_workspace_ready, a);
}

void agent_start(struct fleet *f, unsigned slot, const struct task *task)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	a->fleet = f;
	a->slot = slot;
	a->uid = fleet_slot_uid(f, slot);
	task_copy(&a->task, task);
	a->phase = AGENT_STARTING;
	a->started_ns = uv_hrtime();
	a->run.changed = -1;
	a->run.slot = (int)slot;
	snprintf(a->run.task_id, sizeof(a->run.task_id), "%s", task->id);
	a->run.started_ms = agent_now_ms();
	if (ids_new('r', a->run.started_ms, a->run.id, sizeof(a->run.id)) < 0) {
		log_event(LOG_LEVEL_ERROR, "the random number generator failed", NULL);
		agent_free(a);
		return;
	}
	a->workspace = xasprintf("%s/%s", f->workspaces_dir, a->run.id);
	a->control_dir = xasprintf("%s/%s/control", f->runs_dir, a->run.id);
	f->slots[slot] = a;
	store_runs_start(f->store, &a->run, a->run.started_ms, agent_started, a);
}

void agent_write_json(const struct agent *a, struct buf *out)
{
	buf_printf(out,
		   "{\"slot\":%u,\"task\":\"%s\",\"run\":\"%s\",\"attempt\":%u,\"phase\":\"%s\",\"step\":%u,"
		   "\"elapsed_ms\":%" PRIu64 ",\"command\":",
		   a->slot, a->task.id, a->run.id, a->run.attempt, agent_phase_names[a->phase], a->run.steps,
		   (uv_hrtime() - a->started_ns) / 1000000);
	if (a->phase == AGENT_ACTING && a->command)
		json_write_string(out, a->command);
	else
		buf_append_str(out, "null");
	buf_append_char(out, '}');
}
