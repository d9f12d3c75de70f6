/* The end of an agent run: the patch (computed with git inside a sandbox:
 * the workspace's .git is the agent's to tamper with), the run's record,
 * the verification of the patch, and the clean-up. An agent resumed after
 * a restart comes here directly to verify a patch a previous daemon left
 * unverified. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/fleet/agent.h"
#include "daemon/log.h"
#include "daemon/store/tasks.h"
#include "daemon/store/verify.h"
#include "proto/json.h"

/* numstat's size at most (it names every changed file). */
#define FINISH_NUMSTAT_MAX (4u << 20)

static void finish_cleaned(int status, uint64_t bytes, void *arg)
{
	(void)status;
	(void)bytes;
	agent_free(arg);
}

/* Removes what the run left (unless --keep-workspaces); keep_run_dir keeps
 * the base repository and the patch for a verification still to come. */
static void finish_clean_up(struct agent *a, bool keep_run_dir)
{
	struct fleet *f = a->fleet;
	if (f->opts.keep_workspaces) {
		agent_free(a);
		return;
	}
	a->phase = AGENT_CLEANING;
	if (!keep_run_dir)
		workspace_remove(f, a->run_dir, NULL, NULL);
	workspace_remove(f, a->workspace, finish_cleaned, a);
}

static void finish_verification_recorded(int status, int64_t seq, const char *err, void *arg)
{
	(void)seq;
	struct agent *a = arg;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record a verification", "run", a->run.id, "error", err, NULL);
	finish_clean_up(a, false);
}

static void finish_verified(const struct verify_result *r, void *arg)
{
	struct agent *a = arg;
	a->verify = NULL;
	if (a->interrupt) {
		/* It runs again when the daemon starts next. */
		finish_clean_up(a, true);
		return;
	}
	struct verification v = {
		.pending = false,
		.verdict = r->verdict,
		.reason = a->cancel ? "canceled" : r->reason,
		.comparison = r->comparison,
		.exit_code = r->exit_code,
		.duration_ms = r->duration_ms,
		.repeats = r->repeats,
		.output = r->output,
		.diff_bytes = a->patch_bytes,
	};
	if (a->cancel)
		v.verdict = VERDICT_ERROR;
	a->fleet->verdicts[v.verdict]++;
	char repeats[16];
	snprintf(repeats, sizeof(repeats), "%u", r->repeats);
	log_event(LOG_LEVEL_INFO, "verified", "task", a->task.id, "run", a->run.id, "verdict", verdict_name(v.verdict),
		  "reason", v.reason ? v.reason : "", "repeats", repeats, NULL);
	a->phase = AGENT_RECORDING;
	store_verification_finish(a->fleet->store, a->task.id, a->run.id, &v, agent_now_ms(),
				  finish_verification_recorded, a);
}

/* Verifies the patch in run_dir/patch.diff against a fresh checkout. */
static void finish_verify(struct agent *a)
{
	if (a->cancel || a->interrupt) {
		finish_verified(
			&(struct verify_result){.verdict = VERDICT_ERROR, .reason = "canceled", .exit_code = -1}, a);
		return;
	}
	char *patch = xasprintf("%s/patch.diff", a->run_dir);
	char *dir = xasprintf("%s/verify", a->run_dir);
	struct verify_spec spec = {
		a->base_git,
		dir,
		a->task.repo_identity,
		a->uid,
		a->task.test_command,
		patch,
		(unsigned)(a->task.verify_repeats ? a->task.verify_repeats : 1),
		a->task.baseline_passed,
	};
	a->phase = AGENT_VERIFYING;
	a->verify = verify_start(a->fleet, &spec, finish_verified, a);
	free(patch);
	free(dir);
}

/* Writes the patch where the verification sandbox can read it. */
static int finish_write_patch(struct agent *a, const char *diff, size_t len)
{
	char *path = xasprintf("%s/patch.diff", a->run_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int rc = fd < 0 ? -errno : 0;
	if (fd >= 0 && (write(fd, diff, len) != (ssize_t)len || close(fd) < 0))
		rc = -EIO;
	free(path);
	return rc;
}

static void finish_recorded(int status, const struct run_record *run, const char *err, void *arg)
{
	struct agent *a = arg;
	struct fleet *f = a->fleet;
	a->phase = AGENT_BETWEEN;
	if (status < 0)
		log_event(LOG_LEVEL_ERROR, "cannot record the end of a run", "run", run->id, "error", err, NULL);
	char steps[16];
	snprintf(steps, sizeof(steps), "%u", a->run.steps);
	log_event(LOG_LEVEL_INFO, "run ended", "task", a->task.id, "run", a->run.id, "outcome",
		  run_outcome_name(a->run.outcome), "steps", steps, NULL);
	f->runs_ended[a->run.outcome]++;
	if (status == 0 && a->patch_bytes && !a->interrupt && !a->cancel) {
		finish_verify(a);
		return;
	}
	finish_clean_up(a, false);
}

/* Records the run's end, with its patch and the verification it needs. */
static void finish_record(struct agent *a, const char *diff, size_t diff_len, unsigned files, unsigned insertions,
			  unsigned deletions, const char *refused)
{
	a->phase = AGENT_RECORDING;
	a->run.ended = true;
	a->run.ended_ms = agent_now_ms();
	a->run.detail = a->detail ? xstrdup(a->detail) : NULL;
	struct run_patch patch = {diff, files, insertions, deletions};
	struct verification v;
	memset(&v, 0, sizeof(v));
	v.exit_code = -1;
	const struct verification *vp = NULL;
	bool has_patch = diff && diff_len > 0;
	a->patch_bytes = 0;
	if (refused) {
		/* A binary or oversized patch is refused with a reason. */
		v.verdict = VERDICT_FAILED;
		v.reason = refused;
		vp = &v;
	} else if (has_patch && a->run.outcome != RUN_CANCELED && a->run.outcome != RUN_INTERRUPTED) {
		if (finish_write_patch(a, diff, diff_len) < 0) {
			v.verdict = VERDICT_ERROR;
			v.reason = "setup_error";
		} else {
			v.pending = true;
			a->patch_bytes = diff_len;
		}
		v.diff_bytes = diff_len;
		vp = &v;
	} else if (a->run.outcome == RUN_SUBMITTED && a->run.changed == 0) {
		v.verdict = VERDICT_FAILED;
		v.reason = "empty_patch";
		vp = &v;
	}
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"outcome\":\"%s\",\"detail\":", run_outcome_name(a->run.outcome));
	json_write_string_or_null(&data, a->detail);
	buf_printf(&data,
		   ",\"steps\":%u,\"tokens_in\":%" PRIu64 ",\"tokens_out\":%" PRIu64 ",\"changed\":%s,\"patch\":",
		   a->run.steps, a->run.tokens_in, a->run.tokens_out,
		   a->run.changed < 0 ? "null"
		   : a->run.changed   ? "true"
				      : "false");
	if (has_patch)
		buf_printf(&data, "{\"files\":%u,\"insertions\":%u,\"deletions\":%u,\"bytes\":%zu}", files, insertions,
			   deletions, diff_len);
	else
		buf_append_str(&data, "null");
	buf_printf(&data, ",\"verification\":%s}",
		   !vp                                                ? "null"
		   : v.pending                                        ? "\"pending\""
		   : v.reason && strcmp(v.reason, "empty_patch") == 0 ? "\"empty_patch\""
								      : "\"refused\"");
	store_runs_finish_verified(a->fleet->store, &a->run, has_patch && !refused ? &patch : NULL, vp, data.data,
				   finish_recorded, a);
	buf_free(&data);
}

/* Counts numstat -z entries: "added\tdeleted\tpath\0"; binary files have
 * "-" for both counts. */
static bool finish_numstat(const char *text, size_t len, unsigned *files, unsigned *insertions, unsigned *deletions)
{
	bool binary = false;
	*files = *insertions = *deletions = 0;
	size_t i = 0;
	while (i < len) {
		const char *entry = text + i;
		size_t n = strnlen(entry, len - i);
		if (n > 0) {
			(*files)++;
			if (entry[0] == '-')
				binary = true;
			else {
				char *end;
				*insertions += (unsigned)strtoul(entry, &end, 10);
				if (*end == '\t')
					*deletions += (unsigned)strtoul(end + 1, NULL, 10);
			}
		}
		i += n + 1;
	}
	return binary;
}

static void finish_patched(const struct sandbox_result *res, const char *output, size_t len, uint64_t ms, void *arg)
{
	(void)output;
	(void)len;
	(void)ms;
	struct agent *a = arg;
	a->run_cmd = NULL;
	char *numstat = NULL, *diff = NULL;
	size_t numstat_len = 0, diff_len = 0;
	const char *refused = NULL;
	unsigned files = 0, insertions = 0, deletions = 0;
	if (res->setup_failed || res->exit_code != 0 ||
	    control_read_one(a->control_dir, "numstat", FINISH_NUMSTAT_MAX, &numstat, &numstat_len) < 0) {
		/* git could not tell (the agent may have broken .git). */
		a->run.changed = -1;
		if (a->run.outcome == RUN_SUBMITTED)
			refused = "patch_unavailable";
	} else {
		bool binary = finish_numstat(numstat, numstat_len, &files, &insertions, &deletions);
		int rc = control_read_one(a->control_dir, "patch", a->fleet->opts.patch_max_bytes, &diff, &diff_len);
		a->run.changed = files > 0 || diff_len > 0;
		if (binary)
			refused = "binary_patch";
		else if (rc == -EFBIG)
			refused = "patch_too_large";
		else if (rc < 0)
			refused = "patch_unavailable";
	}
	finish_record(a, diff, diff_len, files, insertions, deletions, refused);
	free(numstat);
	free(diff);
}

/* The patch: every change in the workspace against the base, new files
 * included, computed by git inside a sandbox with the settings that shape
 * a diff forced to their defaults. */
static void finish_make_patch(struct agent *a)
{
	char err[512];
	if (control_prepare(a->control_dir, a->uid, err, sizeof(err)) < 0) {
		log_event(LOG_LEVEL_WARN, "cannot compute a patch", "run", a->run.id, "error", err, NULL);
		finish_record(a, NULL, 0, 0, 0, 0, a->run.outcome == RUN_SUBMITTED ? "patch_unavailable" : NULL);
		return;
	}
	struct sandbox_mount mounts[40];
	size_t n = 0;
	mounts[n++] = (struct sandbox_mount){SANDBOX_MOUNT_BIND, a->control_dir, "/run/agentd", 0};
	n += fleet_sandbox_mounts(a->fleet, a->task.repo_identity, mounts + n, 40 - n);
	struct sandbox_config cfg;
	fleet_sandbox_config(a->fleet, &cfg, a->workspace, a->uid, mounts, n);
	char *script = xasprintf(
		"set -e\n"
		"g() { git -c core.fsmonitor=false -c core.hooksPath=/dev/null -c diff.noprefix=false "
		"-c diff.mnemonicPrefix=false -c diff.relative=false -c core.quotePath=true -c diff.renames=false "
		"\"$@\"; }\n"
		"g add -A -- . >/dev/null\n"
		"g diff --cached --numstat -z --no-renames %s > /run/agentd/numstat\n"
		"g diff --cached --no-color --no-ext-diff --no-textconv --no-renames %s > /run/agentd/patch\n",
		a->run.base_commit, a->run.base_commit);
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	static const char *const env[] = {"GIT_CONFIG_NOSYSTEM=1", "GIT_OPTIONAL_LOCKS=0"};
	cfg.argv = argv;
	cfg.env = env;
	cfg.env_count = 2;
	cfg.timeout_ms = 120000;
	cfg.max_output_bytes = 4096;
	a->phase = AGENT_PATCHING;
	int rc = sbrun_start(a->fleet, FLEET_USE_PATCH, &cfg, finish_patched, a, &a->run_cmd, err, sizeof(err));
	free(script);
	if (rc < 0) {
		log_event(LOG_LEVEL_WARN, "cannot compute a patch", "run", a->run.id, "error", err, NULL);
		finish_record(a, NULL, 0, 0, 0, 0, a->run.outcome == RUN_SUBMITTED ? "patch_unavailable" : NULL);
	}
}

/* A resumed verification: the patch comes from the store. */
static void finish_resume(struct agent *a)
{
	char *diff = NULL;
	int rc = store_patch_get(a->fleet->store, a->task.id, a->run.id, &diff);
	if (rc == 0 && access(a->base_git, F_OK) == 0 && finish_write_patch(a, diff, strlen(diff)) == 0) {
		a->patch_bytes = strlen(diff);
		free(diff);
		log_event(LOG_LEVEL_INFO, "resuming a verification", "task", a->task.id, "run", a->run.id, NULL);
		finish_verify(a);
		return;
	}
	free(diff);
	struct verify_result r = {.verdict = VERDICT_ERROR, .reason = "cannot_resume", .exit_code = -1};
	finish_verified(&r, a);
}

void agent_wrap_up(struct agent *a)
{
	if (a->resume) {
		finish_resume(a);
		return;
	}
	/* A workspace worth looking at: it exists, and the task is not going
	 * away (canceled) or back to the queue (the daemon is stopping). */
	if (a->run.base_commit && a->workspace_made && !a->interrupt && a->run.outcome != RUN_CANCELED)
		finish_make_patch(a);
	else
		finish_record(a, NULL, 0, 0, 0, 0, NULL);
}
