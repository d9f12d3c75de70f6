/* Baselines and verifications: a fresh checkout of the run's base
 * repository, the patch applied with git inside a sandbox (verification),
 * and the task's test command in a fresh sandbox, repeated while it passes
 * (to catch flaky tests). The agent's own test runs count for nothing. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/fleet/internal.h"
#include "daemon/log.h"
#include "daemon/proc.h"

/* Output kept of one test run (its tail goes into the verdict). */
#define VERIFY_OUTPUT_MAX (64u << 10)
#define VERIFY_TAIL_MAX 4096

struct verify_job {
	struct fleet *fleet;
	char *base_git, *dir, *origin, *test_command, *patch_file; /* copies of the spec's */
	uint32_t uid;
	unsigned repeats; /* test runs wanted while they pass */
	int baseline_passed;
	struct proc *proc;           /* the checkout's git, while it runs */
	struct sbrun *run;           /* the sandbox, while it runs */
	bool canceled;               /* verify_cancel was called */
	bool checked_out;            /* dir exists and must be removed */
	struct verify_result result; /* what done gets */
	char *output;                /* the tail of the last test run */
	verify_done_fn done;
	void *arg;
};

static void verify_removed(int status, uint64_t bytes, void *arg)
{
	(void)status;
	(void)bytes;
	struct verify_job *j = arg;
	j->result.output = j->output ? j->output : "";
	j->done(&j->result, j->arg);
	free(j->base_git);
	free(j->dir);
	free(j->origin);
	free(j->test_command);
	free(j->patch_file);
	free(j->output);
	free(j);
}

/* Ends the job with its result (set by the caller), cleaning up first. */
static void verify_finish(struct verify_job *j)
{
	j->run = NULL;
	j->proc = NULL;
	if (j->canceled) {
		j->result.verdict = VERDICT_ERROR;
		j->result.reason = "canceled";
	}
	if (j->checked_out)
		workspace_remove(j->fleet, j->dir, verify_removed, j);
	else
		verify_removed(0, 0, j);
}

static void verify_keep_tail(struct verify_job *j, const char *output, size_t len)
{
	free(j->output);
	size_t start = len > VERIFY_TAIL_MAX ? len - VERIFY_TAIL_MAX : 0;
	/* Not in the middle of a character. */
	while (start < len && (output[start] & 0xc0) == 0x80)
		start++;
	j->output = xstrndup(output + start, len - start);
}

static void verify_test(struct verify_job *j);

static void verify_tested(const struct sandbox_result *res, const char *output, size_t len, uint64_t ms, void *arg)
{
	struct verify_job *j = arg;
	j->run = NULL;
	verify_keep_tail(j, output, len);
	struct verify_result *r = &j->result;
	r->exit_code = res->exit_code;
	r->duration_ms = ms;
	if (j->canceled) {
		verify_finish(j);
		return;
	}
	if (!j->patch_file) {
		/* The baseline: could the test command run at all? */
		r->cannot_run = res->setup_failed || res->exit_code == 126 || res->exit_code == 127;
		r->passed = !res->timed_out && res->exit_code == 0 && !res->signal;
		r->repeats = 1;
		verify_finish(j);
		return;
	}
	bool passed = !res->setup_failed && !res->timed_out && !res->signal && res->exit_code == 0;
	if (res->setup_failed) {
		r->verdict = VERDICT_ERROR;
		r->reason = "sandbox_error";
	} else if (res->timed_out) {
		r->verdict = VERDICT_ERROR;
		r->reason = "timeout";
	} else if (!passed) {
		/* A repeat that fails after one that passed is flakiness. */
		r->verdict = r->repeats == 0 ? VERDICT_FAILED : VERDICT_FLAKY;
		r->reason = r->repeats == 0 ? "tests_failed" : "flaky";
	}
	r->repeats++;
	if (!passed) {
		if (r->verdict == VERDICT_FLAKY)
			r->comparison = j->baseline_passed == 1 ? COMPARISON_ALREADY_PASSING : COMPARISON_FIXED;
		verify_finish(j);
		return;
	}
	if (r->repeats < j->repeats) {
		verify_test(j);
		return;
	}
	r->verdict = VERDICT_PASSED;
	r->reason = NULL;
	r->comparison = j->baseline_passed == 1 ? COMPARISON_ALREADY_PASSING : COMPARISON_FIXED;
	verify_finish(j);
}

/* One run of the test command in a fresh sandbox. */
static void verify_test(struct verify_job *j)
{
	struct sandbox_mount mounts[40];
	size_t n = fleet_sandbox_mounts(j->fleet, j->origin, mounts, 40);
	struct sandbox_config cfg;
	fleet_sandbox_config(j->fleet, &cfg, j->dir, j->uid, mounts, n);
	char *script = xasprintf("exec 2>&1\n%s", j->test_command);
	const char *argv[] = {"/bin/bash", "-c", script, NULL};
	static const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "PAGER=cat", "GIT_PAGER=cat",
					  "TERM=dumb"};
	cfg.argv = argv;
	cfg.env = env;
	cfg.env_count = 4;
	cfg.timeout_ms = j->fleet->opts.test_timeout_ms;
	cfg.max_output_bytes = VERIFY_OUTPUT_MAX;
	char err[512];
	int rc = sbrun_start(j->fleet, j->patch_file ? FLEET_USE_VERIFY : FLEET_USE_BASELINE, &cfg, verify_tested, j,
			     &j->run, err, sizeof(err));
	free(script);
	if (rc < 0) {
		log_event(LOG_LEVEL_WARN, "cannot start a test run", "error", err, NULL);
		j->result.cannot_run = true;
		j->result.verdict = VERDICT_ERROR;
		j->result.reason = "sandbox_error";
		verify_finish(j);
	}
}

static void verify_applied(const struct sandbox_result *res, const char *output, size_t len, uint64_t ms, void *arg)
{
	struct verify_job *j = arg;
	j->run = NULL;
	if (j->canceled) {
		verify_finish(j);
		return;
	}
	if (res->setup_failed || res->exit_code != 0) {
		verify_keep_tail(j, output, len);
		j->result.verdict = VERDICT_ERROR;
		j->result.reason = res->setup_failed ? "sandbox_error" : "patch_does_not_apply";
		j->result.exit_code = res->exit_code;
		j->result.duration_ms = ms;
		verify_finish(j);
		return;
	}
	verify_test(j);
}

/* git apply runs inside the sandbox too: the patch is the agent's. */
static void verify_apply(struct verify_job *j)
{
	struct sandbox_mount mounts[40];
	size_t n = 0;
	mounts[n++] = (struct sandbox_mount){SANDBOX_MOUNT_RO_BIND, j->patch_file, "/run/agentd/patch.diff", 0};
	n += fleet_sandbox_mounts(j->fleet, j->origin, mounts + n, 40 - n);
	struct sandbox_config cfg;
	fleet_sandbox_config(j->fleet, &cfg, j->dir, j->uid, mounts, n);
	static const char *const argv[] = {"git",
					   "-c",
					   "core.fsmonitor=false",
					   "-c",
					   "core.hooksPath=/dev/null",
					   "apply",
					   "--whitespace=nowarn",
					   "/run/agentd/patch.diff",
					   NULL};
	cfg.argv = argv;
	cfg.timeout_ms = 60000;
	cfg.max_output_bytes = VERIFY_TAIL_MAX;
	char err[512];
	if (sbrun_start(j->fleet, FLEET_USE_VERIFY, &cfg, verify_applied, j, &j->run, err, sizeof(err)) < 0) {
		log_event(LOG_LEVEL_WARN, "cannot start git apply", "error", err, NULL);
		j->result.verdict = VERDICT_ERROR;
		j->result.reason = "sandbox_error";
		verify_finish(j);
	}
}

static void verify_checked_out(int status, const char *commit, const char *err, void *arg)
{
	(void)commit;
	struct verify_job *j = arg;
	j->proc = NULL;
	j->checked_out = true;
	if (j->canceled) {
		verify_finish(j);
		return;
	}
	if (status < 0) {
		log_event(LOG_LEVEL_WARN, "cannot make a tree to verify in", "error", err, NULL);
		j->result.cannot_run = false;
		j->result.verdict = VERDICT_ERROR;
		j->result.reason = "setup_error";
		verify_finish(j);
		return;
	}
	if (j->patch_file)
		verify_apply(j);
	else
		verify_test(j);
}

static void verify_cleared(int status, uint64_t bytes, void *arg)
{
	(void)status;
	(void)bytes;
	struct verify_job *j = arg;
	if (j->canceled) {
		verify_finish(j);
		return;
	}
	workspace_checkout(j->fleet, j->base_git, j->dir, j->uid, &j->proc, verify_checked_out, j);
}

struct verify_job *verify_start(struct fleet *f, const struct verify_spec *spec, verify_done_fn done, void *arg)
{
	struct verify_job *j = xcalloc(1, sizeof(*j));
	j->fleet = f;
	j->base_git = xstrdup(spec->base_git);
	j->dir = xstrdup(spec->dir);
	j->origin = spec->origin ? xstrdup(spec->origin) : NULL;
	j->test_command = xstrdup(spec->test_command);
	j->patch_file = spec->patch_file ? xstrdup(spec->patch_file) : NULL;
	j->uid = spec->uid;
	j->repeats = spec->repeats ? spec->repeats : 1;
	j->baseline_passed = spec->baseline_passed;
	j->result.exit_code = -1;
	j->done = done;
	j->arg = arg;
	/* A daemon that died during a verification left its tree. */
	workspace_remove(f, j->dir, verify_cleared, j);
	return j;
}

void verify_cancel(struct verify_job *j)
{
	if (!j || j->canceled)
		return;
	j->canceled = true;
	if (j->proc)
		proc_kill(j->proc);
	if (j->run)
		sbrun_kill(j->run);
}
