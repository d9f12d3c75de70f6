/* Slots and the scheduler: the highest-priority, then oldest, queued task
 * goes to a free slot, within the per-repository cap; cancel reaches the
 * running agent; shutdown interrupts every run so that its task is queued
 * again. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/fleet/internal.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/store/runs.h"
#include "daemon/store/tasks.h"
#include "daemon/store/verify.h"
#include "proto/json.h"

#define FLEET_TICK_MS 1000

static void fleet_schedule(struct fleet *f);

uint32_t fleet_slot_uid(const struct fleet *f, unsigned slot)
{
	return f->root ? f->opts.uid_base + slot : (uint32_t)getuid();
}

static int fleet_mkdir(const char *path, mode_t mode, char *err, size_t errlen)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
		return -e;
	}
	/* Sandbox users must reach their workspaces and control directories
	 * through these (but list nothing else). */
	chmod(path, mode);
	return 0;
}

/* Finds an executable in PATH (workspaces are made with the host's git). */
static char *fleet_which(const char *name)
{
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *found = NULL;
	for (char *dir = strtok(copy, ":"); dir && !found; dir = strtok(NULL, ":")) {
		char *candidate = xasprintf("%s/%s", dir, name);
		if (dir[0] == '/' && access(candidate, X_OK) == 0)
			found = candidate;
		else
			free(candidate);
	}
	free(copy);
	return found;
}

int fleet_new(uv_loop_t *loop, struct store *store, struct llm *llm, const char *idle_reason,
	      const struct fleet_options *opts, struct fleet **out, char *err, size_t errlen)
{
	*out = NULL;
	struct fleet *f = xcalloc(1, sizeof(*f));
	f->loop = loop;
	f->store = store;
	f->llm = llm;
	f->idle_reason = idle_reason ? xstrdup(idle_reason) : NULL;
	f->opts = *opts;
	f->root = geteuid() == 0;
	f->tools_dir = xasprintf("%s/tools", opts->data_dir);
	f->workspaces_dir = xasprintf("%s/workspaces", opts->data_dir);
	f->runs_dir = xasprintf("%s/runs", opts->data_dir);
	f->slots = xcalloc(opts->agents, sizeof(*f->slots));
	char *home = xasprintf("%s/.home", f->runs_dir);
	f->git = fleet_which("git");
	int rc = 0;
	if (!f->git && llm) {
		snprintf(err, errlen, "git is not installed (it is needed to make the agents' workspaces)");
		rc = -ENOENT;
	}
	if (rc == 0)
		rc = fleet_mkdir(f->workspaces_dir, 0711, err, errlen);
	if (rc == 0)
		rc = fleet_mkdir(f->runs_dir, 0711, err, errlen);
	if (rc == 0)
		rc = fleet_mkdir(home, 0700, err, errlen);
	if (rc == 0)
		rc = prompt_install_tools(f->tools_dir, err, errlen);
	free(home);
	/* The data directory itself is 0700; sandbox users get through it to
	 * the three directories above, and only to them. */
	if (rc == 0 && f->root)
		chmod(opts->data_dir, 0711);
	if (rc < 0) {
		fleet_free(f);
		return rc;
	}
	uv_timer_init(loop, &f->tick);
	f->tick.data = f;
	f->handles_open = 1;
	if (!f->root)
		log_event(LOG_LEVEL_WARN,
			  "agentd is not running as root: every agent's commands run as agentd's own user, so agents "
			  "are separated from each other only by the sandbox's masks",
			  NULL);
	*out = f;
	return 0;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	free(f->idle_reason);
	free(f->tools_dir);
	free(f->git);
	for (size_t i = 0; i < f->resume_count; i++) {
		free(f->resume_runs[i]);
		free(f->resume_tasks[i]);
	}
	free(f->resume_runs);
	free(f->resume_tasks);
	free(f->workspaces_dir);
	free(f->runs_dir);
	free(f->slots);
	free(f);
}

static void fleet_check_disk(struct fleet *f)
{
	struct statvfs st;
	if (statvfs(f->opts.data_dir, &st) < 0)
		return;
	uint64_t free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	bool low = free_bytes < f->opts.min_free_disk_bytes;
	if (low != f->disk_low) {
		char have[32];
		snprintf(have, sizeof(have), "%" PRIu64, free_bytes);
		log_event(low ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
			  low ? "free disk space is below --min-free-disk: agents pause, submissions get 503"
			      : "free disk space is back above --min-free-disk",
			  "free_bytes", have, NULL);
	}
	f->disk_low = low;
}

static void fleet_on_tick(uv_timer_t *timer)
{
	struct fleet *f = timer->data;
	fleet_check_disk(f);
	fleet_schedule(f);
}

static void fleet_interrupted(int status, uint64_t count, const char *err, void *arg)
{
	struct fleet *f = arg;
	if (status < 0) {
		log_event(LOG_LEVEL_ERROR, "cannot mark interrupted runs", "error", err, NULL);
	} else if (count) {
		char n[32];
		snprintf(n, sizeof(n), "%" PRIu64, count);
		log_event(LOG_LEVEL_WARN,
			  "runs left running by the last daemon were interrupted; their tasks are queued again", "runs",
			  n, NULL);
	}
	if (f->stopping)
		return;
	store_verifications_pending(f->store, &f->resume_runs, &f->resume_tasks, &f->resume_count);
	f->started = true;
	fleet_check_disk(f);
	uv_timer_start(&f->tick, fleet_on_tick, FLEET_TICK_MS, FLEET_TICK_MS);
	fleet_schedule(f);
}

void fleet_start(struct fleet *f)
{
	if (!f->llm)
		log_event(LOG_LEVEL_WARN, "no model: tasks stay queued", "reason", f->idle_reason, NULL);
	/* Only a daemon that died with runs in flight leaves work here. */
	uint64_t running = 0;
	char err[256];
	if (store_runs_count_running(f->store, &running, err, sizeof(err)) == 0 && running == 0)
		fleet_interrupted(0, 0, NULL, f);
	else
		store_runs_interrupt_all(f->store, (int64_t)time(NULL) * 1000, fleet_interrupted, f);
}

void fleet_kick(struct fleet *f)
{
	fleet_schedule(f);
}

/* Gives free slots to verifications a previous daemon left pending first:
 * their runs are over and only their verdict is missing. */
static void fleet_resume_verifications(struct fleet *f)
{
	while (f->resume_count > 0 && f->busy < f->opts.agents) {
		size_t k = --f->resume_count;
		struct task t;
		char err[256];
		if (store_tasks_get(f->store, f->resume_tasks[k], &t, err, sizeof(err)) == 0) {
			unsigned slot = 0;
			while (f->slots[slot])
				slot++;
			f->busy++;
			agent_resume_verification(f, slot, &t, f->resume_runs[k]);
			task_free_fields(&t);
		}
		free(f->resume_runs[k]);
		free(f->resume_tasks[k]);
	}
}

static void fleet_schedule(struct fleet *f)
{
	if (!f->started || f->stopping || f->disk_low)
		return;
	fleet_resume_verifications(f);
	if (!f->llm)
		return;
	while (f->busy < f->opts.agents) {
		/* Tasks already given to an agent still look queued until their
		 * start is committed, and repositories at their cap are full. */
		const char *exclude[2 * 1000 + 1];
		size_t n_exclude = 0, n_full = 0;
		const char *full[1000];
		for (unsigned i = 0; i < f->opts.agents; i++) {
			if (!f->slots[i])
				continue;
			if (agent_starting(f->slots[i]))
				exclude[n_exclude++] = agent_task_id(f->slots[i]);
			if (!f->opts.per_repo)
				continue;
			unsigned same = 0;
			for (unsigned j = 0; j < f->opts.agents; j++)
				same += f->slots[j] && strcmp(agent_repo(f->slots[j]), agent_repo(f->slots[i])) == 0;
			if (same >= f->opts.per_repo)
				full[n_full++] = agent_repo(f->slots[i]);
		}
		struct task t;
		char err[256];
		int rc = store_tasks_next_queued(f->store, full, n_full, exclude, n_exclude, &t, err, sizeof(err));
		if (rc == -ENOENT)
			return;
		if (rc < 0) {
			log_event(LOG_LEVEL_ERROR, "cannot read the queue", "error", err, NULL);
			return;
		}
		unsigned slot = 0;
		while (f->slots[slot])
			slot++;
		f->busy++;
		agent_start(f, slot, &t);
		task_free_fields(&t);
	}
}

void fleet_slot_released(struct fleet *f, unsigned slot)
{
	f->slots[slot] = NULL;
	f->busy--;
	if (f->stopping) {
		if (f->busy == 0 && f->handles_open == 0 && f->shutdown_done) {
			void (*done)(void *) = f->shutdown_done;
			f->shutdown_done = NULL;
			done(f->shutdown_arg);
		}
		return;
	}
	fleet_schedule(f);
}

void fleet_task_canceled(struct fleet *f, const char *task_id)
{
	for (unsigned i = 0; i < f->opts.agents; i++) {
		if (f->slots[i] && strcmp(agent_task_id(f->slots[i]), task_id) == 0)
			agent_cancel(f->slots[i]);
	}
}

bool fleet_disk_low(const struct fleet *f)
{
	return f->disk_low;
}

static void fleet_tick_closed(uv_handle_t *handle)
{
	struct fleet *f = handle->data;
	f->handles_open = 0;
	if (f->busy == 0 && f->shutdown_done) {
		void (*done)(void *) = f->shutdown_done;
		f->shutdown_done = NULL;
		done(f->shutdown_arg);
	}
}

void fleet_shutdown(struct fleet *f, void (*done)(void *arg), void *arg)
{
	if (f->stopping)
		return;
	f->stopping = true;
	f->shutdown_done = done;
	f->shutdown_arg = arg;
	for (unsigned i = 0; i < f->opts.agents; i++) {
		if (f->slots[i])
			agent_interrupt(f->slots[i]);
	}
	uv_close((uv_handle_t *)&f->tick, fleet_tick_closed);
}

void fleet_write_json(struct fleet *f, struct buf *out)
{
	buf_append_str(out, "{\"model\":");
	json_write_string_or_null(out, f->llm ? llm_describe(f->llm) : NULL);
	buf_append_str(out, ",\"idle_reason\":");
	json_write_string_or_null(out, f->llm ? NULL : f->idle_reason);
	buf_printf(out,
		   ",\"agents\":%u,\"per_repo\":%u,\"busy\":%u,\"queue_depth\":%" PRIu64
		   ",\"paused\":%s,\"runs_started\":%" PRIu64 ",\"steps\":%" PRIu64 ",",
		   f->opts.agents, f->opts.per_repo, f->busy, store_tasks_count(f->store, TASK_QUEUED),
		   f->disk_low ? "true" : "false", f->runs_started, f->steps);
	struct engine_stats es;
	if (f->llm && llm_stats(f->llm, &es) == 0) {
		buf_printf(out,
			   "\"engine\":{\"threads\":%u,\"ctx_size\":%u,\"batch_tokens\":%u,\"max_sequences\":%u,"
			   "\"running\":%u,\"queued\":%u,\"waiting_memory\":%u,\"requests\":%" PRIu64
			   ",\"completed\":%" PRIu64 ",\"cancelled\":%" PRIu64 ",\"failed\":%" PRIu64
			   ",\"prompt_tokens\":%" PRIu64 ",\"cached_tokens\":%" PRIu64
			   ",\"prefix_hit_rate\":%.4f,\"prefill_tokens\":%" PRIu64 ",\"decode_tokens\":%" PRIu64
			   ",\"prefill_tokens_per_s\":%.1f,\"decode_tokens_per_s\":%.1f,\"forward_seconds\":%.3f,"
			   "\"grammar_masks\":%" PRIu64 ",\"grammar_seconds\":%.3f,\"steps\":%" PRIu64
			   ",\"kv_blocks\":{\"total\":%u,\"used\":%u,\"free\":%u,\"cached\":%u,\"positions\":%u,"
			   "\"evictions\":%" PRIu64 "},\"batch_rows\":[",
			   es.threads, es.ctx_size, es.batch_tokens, es.max_sequences, es.running, es.queued,
			   es.waiting_memory, es.submitted, es.completed, es.cancelled, es.failed, es.prompt_tokens,
			   es.cached_tokens, es.prefix_hit_rate, es.prefill_tokens, es.decode_tokens,
			   es.prefill_tokens_per_s, es.decode_tokens_per_s, es.forward_seconds, es.grammar_masks,
			   es.grammar_seconds, es.steps, es.kv_blocks_total, es.kv_blocks_used, es.kv_blocks_free,
			   es.kv_blocks_cached, es.kv_block_positions, es.kv_evictions);
		for (int i = 0; i < ENGINE_STATS_BUCKETS; i++)
			buf_printf(out, "%s%" PRIu64, i ? "," : "", es.batch_rows[i]);
		buf_append_str(out, "]},");
	}
	buf_append_str(out, "\"slots\":[");
	bool first = true;
	for (unsigned i = 0; i < f->opts.agents; i++) {
		if (!f->slots[i])
			continue;
		if (!first)
			buf_append_char(out, ',');
		first = false;
		agent_write_json(f->slots[i], out);
	}
	buf_append_str(out, "]}\n");
}

void fleet_collect_metrics(struct buf *out, void *arg)
{
	struct fleet *f = arg;
	metrics_write_header(out, "agentd_fleet_slots", "gauge", "Agent slots.");
	buf_printf(out, "agentd_fleet_slots %u\n", f->opts.agents);
	metrics_write_header(out, "agentd_fleet_busy", "gauge", "Agent slots in use.");
	buf_printf(out, "agentd_fleet_busy %u\n", f->busy);
	metrics_write_header(out, "agentd_fleet_paused", "gauge", "1 while agents pause for free disk space.");
	buf_printf(out, "agentd_fleet_paused %d\n", f->disk_low ? 1 : 0);
	metrics_write_header(out, "agentd_fleet_steps_total", "counter", "Steps taken by agents.");
	buf_printf(out, "agentd_fleet_steps_total %" PRIu64 "\n", f->steps);
	metrics_write_header(out, "agentd_fleet_runs_started_total", "counter", "Runs started.");
	buf_printf(out, "agentd_fleet_runs_started_total %" PRIu64 "\n", f->runs_started);
	metrics_write_header(out, "agentd_fleet_runs_ended_total", "counter", "Runs ended, by outcome.");
	for (unsigned i = 0; i < RUN_OUTCOME_COUNT; i++)
		buf_printf(out, "agentd_fleet_runs_ended_total{outcome=\"%s\"} %" PRIu64 "\n",
			   run_outcome_name((enum run_outcome)i), f->runs_ended[i]);
	metrics_write_header(out, "agentd_fleet_verifications_total", "counter", "Verifications ended, by verdict.");
	for (unsigned i = 0; i < VERDICT_COUNT; i++)
		buf_printf(out, "agentd_fleet_verifications_total{verdict=\"%s\"} %" PRIu64 "\n",
			   verdict_name((enum verdict)i), f->verdicts[i]);
	struct engine_stats es;
	if (f->llm && llm_stats(f->llm, &es) == 0) {
		metrics_write_header(out, "agentd_engine_tokens_total", "counter", "Positions the engine computed.");
		buf_printf(out, "agentd_engine_tokens_total{phase=\"prefill\"} %" PRIu64 "\n", es.prefill_tokens);
		buf_printf(out, "agentd_engine_tokens_total{phase=\"decode\"} %" PRIu64 "\n", es.decode_tokens);
		metrics_write_header(out, "agentd_engine_tokens_per_second", "gauge",
				     "Tokens per second of the engine's steps, by phase.");
		buf_printf(out, "agentd_engine_tokens_per_second{phase=\"prefill\"} %.1f\n", es.prefill_tokens_per_s);
		buf_printf(out, "agentd_engine_tokens_per_second{phase=\"decode\"} %.1f\n", es.decode_tokens_per_s);
		metrics_write_header(out, "agentd_engine_prompt_tokens_total", "counter",
				     "Prompt tokens of the requests admitted.");
		buf_printf(out, "agentd_engine_prompt_tokens_total %" PRIu64 "\n", es.prompt_tokens);
		metrics_write_header(out, "agentd_engine_cached_tokens_total", "counter",
				     "Prompt tokens the prefix cache supplied.");
		buf_printf(out, "agentd_engine_cached_tokens_total %" PRIu64 "\n", es.cached_tokens);
		metrics_write_header(out, "agentd_engine_kv_blocks", "gauge", "KV cache blocks, by state.");
		buf_printf(out, "agentd_engine_kv_blocks{state=\"used\"} %u\n", es.kv_blocks_used);
		buf_printf(out, "agentd_engine_kv_blocks{state=\"free\"} %u\n", es.kv_blocks_free);
		buf_printf(out, "agentd_engine_kv_blocks{state=\"cached\"} %u\n", es.kv_blocks_cached);
		metrics_write_header(out, "agentd_engine_sequences", "gauge", "Requests running and queued.");
		buf_printf(out, "agentd_engine_sequences{state=\"running\"} %u\n", es.running);
		buf_printf(out, "agentd_engine_sequences{state=\"queued\"} %u\n", es.queued);
		metrics_write_header(out, "agentd_engine_steps_total", "counter", "Engine steps, by rows computed.");
		for (int i = 0; i < ENGINE_STATS_BUCKETS; i++)
			buf_printf(out, "agentd_engine_steps_total{rows=\"%u-%u\"} %" PRIu64 "\n", 1u << i,
				   (2u << i) - 1, es.batch_rows[i]);
	}
	metrics_write_header(out, "agentd_fleet_model_requests_total", "counter", "Replies asked of the model.");
	buf_printf(out, "agentd_fleet_model_requests_total %" PRIu64 "\n", f->model_requests);
	metrics_write_header(out, "agentd_fleet_model_seconds_total", "counter",
			     "Wall time agents spent waiting for the model.");
	buf_printf(out, "agentd_fleet_model_seconds_total %.6f\n", (double)f->model_ns / 1e9);
	static const char *const uses[FLEET_USE_COUNT] = {"step", "baseline", "patch", "verify"};
	metrics_write_header(out, "agentd_fleet_sandbox_runs_total", "counter", "Sandboxed commands, by use.");
	for (unsigned i = 0; i < FLEET_USE_COUNT; i++)
		buf_printf(out, "agentd_fleet_sandbox_runs_total{use=\"%s\"} %" PRIu64 "\n", uses[i],
			   f->sandbox_runs[i]);
	metrics_write_header(out, "agentd_fleet_sandbox_seconds_total", "counter",
			     "Wall time of sandboxed commands (spawn to exit), by use.");
	for (unsigned i = 0; i < FLEET_USE_COUNT; i++)
		buf_printf(out, "agentd_fleet_sandbox_seconds_total{use=\"%s\"} %.6f\n", uses[i],
			   (double)f->sandbox_ns[i] / 1e9);
	metrics_write_header(out, "agentd_fleet_workspace_seconds_total", "counter",
			     "Wall time making (git), measuring and removing repositories and trees on the host.");
	static const char *const ops[3] = {"make", "measure", "remove"};
	for (unsigned i = 0; i < 3; i++)
		buf_printf(out, "agentd_fleet_workspace_seconds_total{op=\"%s\"} %.6f\n", ops[i],
			   (double)f->workspace_ns[i] / 1e9);
}
