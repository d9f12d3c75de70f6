/* An agent run from its start through its steps: the run is recorded, the
 * base repository and the workspace are made, the baseline runs (once per
 * task), then prompt → reply → one bash command in the sandbox →
 * observation, until an outcome. Every wait is a callback; ending (by an
 * outcome, a cancel or a shutdown) interrupts whatever is outstanding and
 * finish.c takes over from that operation's completion. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/fleet/agent.h"
#include "daemon/ids.h"
#include "daemon/log.h"
#include "daemon/proc.h"
#include "daemon/store/verify.h"
#include "proto/json.h"

/* Memories put into a prompt at most. */
#define AGENT_MEMORIES_MAX 20
/* Identical command-and-output steps in a row that mean stuck. */
#define AGENT_STUCK_REPEATS 3
/* How often a paused agent looks at the free disk space again. */
#define AGENT_PAUSE_MS 1000
#define AGENT_ELIDED "[output elided to fit the model's context]"

const char *const agent_phase_names[] = {
	"starting",  "between", "preparing", "baseline",  "thinking",  "acting",
	"measuring", "paused",  "patching",  "recording", "verifying", "cleaning",
};

static void agent_step(struct agent *a);

int64_t agent_now_ms(void)
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

bool agent_starting(const struct agent *a)
{
	return a->phase == AGENT_STARTING;
}

void agent_free(struct agent *a)
{
	struct fleet *f = a->fleet;
	unsigned slot = a->slot;
	llm_conversation_free(a->conv);
	task_free_fields(&a->task);
	run_record_free(&a->run);
	free(a->run_dir);
	free(a->base_git);
	free(a->workspace);
	free(a->control_dir);
	free(a->reply);
	free(a->command);
	free(a->detail);
	free(a);
	fleet_slot_released(f, slot);
}

void agent_end(struct agent *a, enum run_outcome outcome, const char *detail)
{
	if (a->ending)
		return;
	a->ending = true;
	a->run.outcome = outcome;
	a->detail = detail ? xstrdup(detail) : NULL;
	switch (a->phase) {
	case AGENT_PREPARING: proc_kill(a->proc); return;
	case AGENT_BASELINE: verify_cancel(a->verify); return;
	case AGENT_THINKING: llm_cancel(a->conv); return;
	case AGENT_ACTING: sbrun_kill(a->run_cmd); return;
	case AGENT_PAUSED:
		uv_close((uv_handle_t *)a->pause_timer, (uv_close_cb)free);
		a->pause_timer = NULL;
		agent_wrap_up(a);
		return;
	case AGENT_BETWEEN:
	case AGENT_STARTING:
	case AGENT_MEASURING:
	case AGENT_PATCHING:
	case AGENT_RECORDING:
	case AGENT_VERIFYING:
	case AGENT_CLEANING:
		/* The caller, or the pending operation's completion, goes on. */
		return;
	}
}

void agent_cancel(struct agent *a)
{
	a->cancel = true;
	if (a->phase == AGENT_VERIFYING)
		verify_cancel(a->verify);
	agent_end(a, RUN_CANCELED, "the task was canceled");
}

void agent_interrupt(struct agent *a)
{
	a->interrupt = true;
	if (a->phase == AGENT_VERIFYING)
		verify_cancel(a->verify);
	agent_end(a, RUN_INTERRUPTED, "the daemon stopped while the run was in progress");
}

static void agent_event_recorded(int status, int64_t seq, const char *err, void *arg)
{
	(void)seq;
	(void)arg;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record an event", "error", err, NULL);
}

void agent_record_event(struct agent *a, const char *kind, const struct buf *data, const struct control_result *notes)
{
	struct run_progress progress = {a->run.steps, a->run.tokens_in, a->run.tokens_out};
	store_events_append(a->fleet->store, a->task.id, a->run.id, kind, data->data, &progress,
			    notes ? (const char *const *)notes->notes : NULL, notes ? notes->note_count : 0,
			    a->task.repo_identity, agent_now_ms(), agent_event_recorded, NULL);
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
static void agent_status_line(const struct sandbox_result *r, uint64_t ms, char *out, size_t outlen)
{
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

/* The command of this step is over: record it and go on. */
static void agent_command_done(const struct sandbox_result *res, const char *output, size_t len, uint64_t ms, void *arg)
{
	struct agent *a = arg;
	a->run_cmd = NULL;
	a->phase = AGENT_BETWEEN;
	if (res->setup_failed) {
		agent_end(a, RUN_SANDBOX_ERROR, res->error);
		agent_wrap_up(a);
		return;
	}
	struct control_result control;
	control_read(a->control_dir, &control);
	a->run.steps++;
	a->fleet->steps++;
	if (control.submitted)
		a->submitted = true;
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"step\":%u,\"reply\":", a->run.steps);
	json_write_string(&data, a->reply ? a->reply : "");
	buf_append_str(&data, ",\"command\":");
	json_write_string(&data, a->command);
	buf_printf(&data,
		   ",\"exit_code\":%d,\"signal\":%d,\"timed_out\":%s,\"oom_killed\":%s,\"duration_ms\":%" PRIu64
		   ",\"output\":",
		   res->exit_code, res->signal, res->timed_out ? "true" : "false", res->oom_killed ? "true" : "false",
		   ms);
	json_write_string(&data, output);
	buf_printf(&data,
		   ",\"output_truncated\":%s,\"tokens_in\":%u,\"tokens_reused\":%u,\"tokens_out\":%u,\"ttft_ms\":%.1f,"
		   "\"submitted\":%s,\"notes\":[",
		   res->output_truncated ? "true" : "false", a->reply_tokens_in, a->reply_tokens_reused,
		   a->reply_tokens_out, a->reply_ttft_ms, control.submitted ? "true" : "false");
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
	uint64_t hash = agent_hash(a->command, strlen(a->command), output, len, res->exit_code);
	a->repeats = hash == a->last_hash ? a->repeats + 1 : 1;
	a->last_hash = hash;
	if (a->repeats >= AGENT_STUCK_REPEATS) {
		agent_end(a, RUN_STUCK, "the same command gave the same output three times in a row");
		agent_wrap_up(a);
		return;
	}
	/* The observation becomes the next user message. */
	char status[160];
	agent_status_line(res, ms, status, sizeof(status));
	const char *keys[] = {"status", "output"};
	const char *values[] = {status, output};
	char *observation = prompt_render("observation", keys, values, 2);
	llm_append(a->conv, LLM_ROLE_USER, observation, strlen(observation));
	free(observation);
	a->phase = AGENT_MEASURING;
	workspace_measure(a->fleet, a->workspace, a->fleet->opts.workspace_max_bytes, agent_measured, a);
}

static void agent_run_command(struct agent *a)
{
	char err[512];
	if (control_prepare(a->control_dir, a->uid, err, sizeof(err)) < 0) {
		agent_end(a, RUN_SANDBOX_ERROR, err);
		agent_wrap_up(a);
		return;
	}
	struct sandbox_mount mounts[40];
	size_t n = 0;
	mounts[n++] = (struct sandbox_mount){SANDBOX_MOUNT_BIND, a->control_dir, "/run/agentd", 0};
	mounts[n++] = (struct sandbox_mount){SANDBOX_MOUNT_RO_BIND, a->fleet->tools_dir, "/run/agentd-tools", 0};
	n += fleet_sandbox_mounts(a->fleet, a->task.repo_identity, mounts + n, 40 - n);
	struct sandbox_config cfg;
	fleet_sandbox_config(a->fleet, &cfg, a->workspace, a->uid, mounts, n);
	/* stderr joins stdout so that the agent sees them in order. */
	char *script = xasprintf("exec 2>&1\n%s", a->command);
	const char *argv[] = {"/bin/bash", "-c", script, NULL};
	static const char *const env[] = {"PATH=/run/agentd-tools:/usr/local/bin:/usr/bin:/bin", "PAGER=cat",
					  "GIT_PAGER=cat", "TERM=dumb"};
	cfg.argv = argv;
	cfg.env = env;
	cfg.env_count = 4;
	cfg.timeout_ms = a->fleet->opts.command_timeout_ms;
	cfg.max_output_bytes = a->fleet->opts.observation_max_bytes;
	a->phase = AGENT_ACTING;
	int rc = sbrun_start(a->fleet, FLEET_USE_STEP, &cfg, agent_command_done, a, &a->run_cmd, err, sizeof(err));
	free(script);
	if (rc < 0) {
		a->phase = AGENT_BETWEEN;
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
	a->fleet->model_ns += uv_hrtime() - a->asked_ns;
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
	a->reply_tokens_reused = reply->reused_tokens;
	a->reply_ttft_ms = reply->ttft_ms;
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
			   ",\"error\":\"the reply had %d bash blocks, not one\",\"tokens_in\":%u,\"tokens_reused\":%u,"
			   "\"tokens_out\":%u,\"ttft_ms\":%.1f}",
			   blocks, a->reply_tokens_in, a->reply_tokens_reused, a->reply_tokens_out, a->reply_ttft_ms);
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
	if (a->run.steps >= (uint64_t)b->max_steps)
		agent_end(a, RUN_BUDGET_STEPS, NULL);
	else if (a->run.tokens_out >= (uint64_t)b->max_tokens)
		agent_end(a, RUN_BUDGET_TOKENS, NULL);
	else if (elapsed_s >= (uint64_t)b->max_seconds)
		agent_end(a, RUN_BUDGET_TIME, NULL);
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
	a->asked_ns = uv_hrtime();
	a->fleet->model_requests++;
	int rc = llm_reply(a->conv, &req, agent_replied, a);
	if (rc < 0) {
		a->phase = AGENT_BETWEEN;
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

static void agent_begin(struct agent *a)
{
	agent_open_conversation(a);
	agent_step(a);
}

static void agent_baseline_recorded(int status, int64_t seq, const char *err, void *arg)
{
	(void)seq;
	struct agent *a = arg;
	a->phase = AGENT_BETWEEN;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record a baseline", "task", a->task.id, "error", err, NULL);
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	agent_begin(a);
}

static void agent_baseline_done(const struct verify_result *r, void *arg)
{
	struct agent *a = arg;
	a->verify = NULL;
	a->phase = AGENT_BETWEEN;
	if (a->ending) {
		agent_wrap_up(a);
		return;
	}
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"passed\":%s,\"exit_code\":%d,\"duration_ms\":%" PRIu64 ",\"output\":",
		   r->passed ? "true" : "false", r->exit_code, r->duration_ms);
	json_write_string(&data, r->output);
	buf_append_char(&data, '}');
	agent_record_event(a, "baseline", &data, NULL);
	if (r->cannot_run) {
		/* Fails fast, before any model token is spent. */
		char *detail =
			xasprintf("the test command cannot run (exit code %d): %.2000s", r->exit_code, r->output);
		agent_end(a, RUN_SETUP_FAILED, detail);
		free(detail);
		buf_free(&data);
		agent_wrap_up(a);
		return;
	}
	a->task.baseline_passed = r->passed;
	a->phase = AGENT_RECORDING;
	store_baseline_record(a->fleet->store, a->task.id, r->passed, data.data, agent_baseline_recorded, a);
	buf_free(&data);
}

static void agent_workspace_ready(int status, const char *commit, const char *err, void *arg)
{
	(void)commit;
	struct agent *a = arg;
	a->phase = AGENT_BETWEEN;
	if (status == 0)
		a->workspace_made = true;
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
	if (a->task.baseline_passed >= 0) {
		agent_begin(a);
		return;
	}
	/* The task's first run: its tests on the untouched base, in a tree of
	 * their own. */
	char *dir = xasprintf("%s/baseline", a->run_dir);
	struct verify_spec spec = {a->base_git, dir, a->task.repo_identity, a->uid, a->task.test_command, NULL, 1, -1};
	a->phase = AGENT_BASELINE;
	a->verify = verify_start(a->fleet, &spec, agent_baseline_done, a);
	free(dir);
}

static void agent_base_ready(int status, const char *base_commit, const char *err, void *arg)
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
		log_event(LOG_LEVEL_WARN, "cannot fetch the task's ref", "task", a->task.id, "error", err, NULL);
		agent_end(a, RUN_SETUP_FAILED, err);
		agent_wrap_up(a);
		return;
	}
	a->phase = AGENT_PREPARING;
	workspace_checkout(a->fleet, a->base_git, a->workspace, a->uid, &a->proc, agent_workspace_ready, a);
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
	if (mkdir(a->run_dir, 0711) < 0 && errno != EEXIST)
		log_event(LOG_LEVEL_WARN, "cannot make a run directory", "path", a->run_dir, "error", strerror(errno),
			  NULL);
	a->phase = AGENT_PREPARING;
	workspace_base(a->fleet, a->task.repo, a->task.ref, a->base_git, &a->proc, agent_base_ready, a);
}

/* The parts every agent has. */
static struct agent *agent_new(struct fleet *f, unsigned slot, const struct task *task, const char *run_id)
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
	snprintf(a->run.id, sizeof(a->run.id), "%s", run_id);
	a->run_dir = xasprintf("%s/%s", f->runs_dir, run_id);
	a->base_git = xasprintf("%s/base.git", a->run_dir);
	a->workspace = xasprintf("%s/%s", f->workspaces_dir, run_id);
	a->control_dir = xasprintf("%s/control", a->run_dir);
	f->slots[slot] = a;
	return a;
}

void agent_start(struct fleet *f, unsigned slot, const struct task *task)
{
	char id[TASK_ID_MAX];
	int64_t now = agent_now_ms();
	if (ids_new('r', now, id, sizeof(id)) < 0) {
		log_event(LOG_LEVEL_ERROR, "the random number generator failed", NULL);
		fleet_slot_released(f, slot);
		return;
	}
	struct agent *a = agent_new(f, slot, task, id);
	a->run.started_ms = now;
	store_runs_start(f->store, &a->run, now, agent_started, a);
}

void agent_write_json(const struct agent *a, struct buf *out)
{
	buf_printf(out,
		   "{\"slot\":%u,\"task\":\"%s\",\"run\":\"%s\",\"attempt\":%u,\"phase\":\"%s\",\"step\":%u,"
		   "\"elapsed_ms\":%" PRIu64 ",\"command\":",
		   a->slot, a->task.id, a->run.id, a->run.attempt, agent_phase_names[a->phase], a->run.steps,
		   (uv_hrtime() - a->started_ns) / 1000000);
	json_write_string_or_null(out, a->phase == AGENT_ACTING ? a->command : NULL);
	buf_append_char(out, '}');
}

/* A verification a previous daemon left pending: an agent that only
 * verifies (the run itself is not repeated). */
void agent_resume_verification(struct fleet *f, unsigned slot, const struct task *task, const char *run_id)
{
	struct agent *a = agent_new(f, slot, task, run_id);
	a->resume = true;
	a->phase = AGENT_BETWEEN;
	a->ending = true;
	agent_wrap_up(a);
}
