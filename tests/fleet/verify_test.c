/* Verification through the real daemon, sandbox, HTTP API and agentctl:
 * the baseline, verdicts (passed and fixed, failed, flaky, set-up failures
 * before any model call), patches, best of N and what an agent that edits
 * the tests gets. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

#define BASH(cmd) "\"Next.\\n```bash\\n" cmd "\\n```\""

/* The fix every passing script here makes. */
#define FIX "sed -i 's/1 - /1 + /' calc.sh"

static const char calc_buggy[] = "#!/bin/sh\n# add A B: prints A + B\necho $(($1 - $2))\n";
static const char calc_right[] = "#!/bin/sh\n# add A B: prints A + B\necho $(($1 + $2))\n";
static const char calc_test[] = "#!/bin/sh\n"
				"out=$(sh calc.sh 2 3)\n"
				"if [ \"$out\" = 5 ]; then echo ok; else echo \"expected 5, got $out\"; exit 1; fi\n";

/* A repository with calc.sh (buggy or not) and test.sh, its test. */
static char *calc_repo(bool buggy)
{
	char *stage = xasprintf("%s/stage-%d", th_tempdir(), buggy);
	char *cmd = xasprintf("mkdir -p '%s'", stage);
	CHECK_INT(system(cmd), ==, 0);
	free(cmd);
	char *path = xasprintf("%s/calc.sh", stage);
	th_write_file(path, buggy ? calc_buggy : calc_right);
	free(path);
	path = xasprintf("%s/test.sh", stage);
	th_write_file(path, calc_test);
	free(path);
	cmd = xasprintf("cp -a '%s'/. .", stage);
	char *repo = fs_repo_with(cmd);
	free(cmd);
	free(stage);
	return repo;
}

/* What `git diff` makes of shell_cmd run in a fresh clone of repo, with the
 * options agentd computes patches with. */
static char *expected_patch(const char *repo, const char *shell_cmd)
{
	char *dir = xasprintf("%s/expected", th_tempdir());
	char *out = xasprintf("%s/expected.diff", th_tempdir());
	char *cmd = xasprintf("rm -rf '%s' && git clone -q '%s' '%s' && cd '%s' && { %s; } && git add -A && "
			      "git diff --cached --no-color --no-ext-diff --no-renames HEAD > '%s'",
			      dir, repo, dir, dir, shell_cmd, out);
	CHECK_INT(system(cmd), ==, 0);
	char *text = th_read_file(out);
	free(cmd);
	free(out);
	free(dir);
	return text;
}

static char *get_text(struct th_daemon *d, const char *path, int *status, char *content_type, size_t ct_len)
{
	struct th_response r;
	th_http(d, "GET", path, NULL, &r);
	*status = r.status;
	if (content_type)
		snprintf(content_type, ct_len, "%s",
			 th_response_header(&r, "content-type") ? th_response_header(&r, "content-type") : "");
	char *body = xstrdup(r.body.data ? r.body.data : "");
	th_response_free(&r);
	return body;
}

static int agentctl(struct th_daemon *d, const char *const *args, char **output)
{
	const char *argv[16];
	size_t n = 0;
	argv[n++] = "--socket";
	argv[n++] = d->socket;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return th_run_binary(th_binary("AGENTCTL"), argv, output, 10000);
}

static const cJSON *verdict(const cJSON *task)
{
	const cJSON *v = cJSON_GetObjectItem(task, "verdict");
	CHECK(cJSON_IsObject(v));
	return v;
}

static const cJSON *run_of(const cJSON *task, int attempt)
{
	const cJSON *run;
	cJSON_ArrayForEach(run, cJSON_GetObjectItem(task, "runs"))
	{
		if (fs_int(run, "attempt") == attempt)
			return run;
	}
	th_fail(__FILE__, __LINE__, "no run of attempt %d", attempt);
}

TEST(a_fix_passes_as_fixed_and_the_patch_is_exactly_the_fix)
{
	char *repo = calc_repo(true);
	char *script = fs_script("{\"default\":[" BASH("cat calc.sh") "," BASH(FIX " && sh test.sh && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit_test(d, repo, "make calc.sh add", "sh test.sh", NULL);
	char path[160];
	snprintf(path, sizeof(path), "/v1/tasks/%s/patch", id);
	/* Nothing to review yet. */
	int status;
	char *early = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 409);
	CHECK_CONTAINS(early, "\"no_patch\"");
	free(early);

	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	const cJSON *baseline = cJSON_GetObjectItem(task, "baseline");
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(baseline, "passed")));
	CHECK_INT(fs_int(baseline, "exit_code"), ==, 1);
	CHECK_CONTAINS(fs_str(baseline, "output"), "expected 5, got -1");
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(task, "baseline_passed")));
	const cJSON *v = verdict(task);
	CHECK_STR(fs_str(v, "state"), "done");
	CHECK_STR(fs_str(v, "verdict"), "passed");
	CHECK_STR(fs_str(v, "comparison"), "fixed");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(v, "reason")));
	CHECK_INT(fs_int(v, "exit_code"), ==, 0);
	CHECK_INT(fs_int(v, "repeats"), ==, 1);
	CHECK_CONTAINS(fs_str(v, "output"), "ok");
	const cJSON *run = fs_last_run(task);
	CHECK_STR(fs_str(task, "chosen_run"), fs_str(run, "id"));
	const cJSON *stat = cJSON_GetObjectItem(run, "patch");
	CHECK_INT(fs_int(stat, "files"), ==, 1);
	CHECK_INT(fs_int(stat, "insertions"), ==, 1);
	CHECK_INT(fs_int(stat, "deletions"), ==, 1);

	/* The patch is exactly the fix, whichever way it is fetched. */
	char *want = expected_patch(repo, FIX);
	char ct[128];
	char *patch = get_text(d, path, &status, ct, sizeof(ct));
	CHECK_INT(status, ==, 200);
	CHECK_CONTAINS(ct, "text/x-diff");
	CHECK_STR(patch, want);
	CHECK_INT(fs_int(stat, "bytes"), ==, (long long)strlen(want));
	char run_path[200];
	snprintf(run_path, sizeof(run_path), "/v1/tasks/%s/runs/%s/patch", id, fs_str(run, "id"));
	char *by_run = get_text(d, run_path, &status, NULL, 0);
	CHECK_INT(status, ==, 200);
	CHECK_STR(by_run, want);
	char *out;
	CHECK_INT(agentctl(d, (const char *[]){"patch", id, NULL}, &out), ==, 0);
	CHECK_STR(out, want);
	free(out);
	CHECK_INT(agentctl(d, (const char *[]){"patch", id, "--run", fs_str(run, "id"), NULL}, &out), ==, 0);
	CHECK_STR(out, want);
	free(out);
	CHECK_INT(agentctl(d, (const char *[]){"show", id, NULL}, &out), ==, 0);
	CHECK_CONTAINS(out, "verdict:      passed (fixed)");
	CHECK_CONTAINS(out, "1 file changed, 1 insertion(+), 1 deletion(-)");
	CHECK_CONTAINS(out, "baseline:     tests failed on the base commit (exit 1");
	free(out);
	/* The origin itself is untouched. */
	char *calc = xasprintf("%s/calc.sh", repo);
	char *text = th_read_file(calc);
	CHECK_STR(text, calc_buggy);
	free(text);
	free(calc);
	CHECK(th_metric(d, "agentd_fleet_verifications_total{verdict=\"passed\"}") == 1);
	CHECK(th_metric(d, "agentd_fleet_sandbox_runs_total{use=\"verify\"}") == 2); /* git apply, the tests */
	CHECK(th_metric(d, "agentd_fleet_sandbox_runs_total{use=\"baseline\"}") == 1);
	free(want);
	free(patch);
	free(by_run);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(a_change_that_breaks_the_tests_fails)
{
	char *repo = calc_repo(false);
	char *script = fs_script("{\"default\":[" BASH("sed -i 's/1 + /1 * /' calc.sh && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit_test(d, repo, "refactor calc.sh", "sh test.sh", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "failed");
	CHECK_STR(fs_str(task, "reason"), "tests_failed");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(task, "baseline_passed")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(task, "verdict")));
	const cJSON *run = fs_last_run(task);
	const cJSON *v = cJSON_GetObjectItem(run, "verification");
	CHECK_STR(fs_str(v, "verdict"), "failed");
	CHECK_STR(fs_str(v, "reason"), "tests_failed");
	CHECK_INT(fs_int(v, "exit_code"), ==, 1);
	CHECK_CONTAINS(fs_str(v, "output"), "expected 5, got 6");
	/* No patch is up for review, but the run's own stays available. */
	char path[200];
	snprintf(path, sizeof(path), "/v1/tasks/%s/patch", id);
	int status;
	char *body = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 409);
	CHECK_CONTAINS(body, "no_patch");
	free(body);
	char *out;
	CHECK_INT(agentctl(d, (const char *[]){"patch", id, NULL}, &out), ==, 1);
	CHECK_CONTAINS(out, "no_patch");
	free(out);
	snprintf(path, sizeof(path), "/v1/tasks/%s/runs/%s/patch", id, fs_str(run, "id"));
	body = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 200);
	CHECK_CONTAINS(body, "+echo $(($1 * $2))");
	free(body);
	/* A run of another task, or no run at all, is not found. */
	snprintf(path, sizeof(path), "/v1/tasks/%s/runs/r_00000000000000000000000000/patch", id);
	body = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 404);
	free(body);
	CHECK_INT(agentctl(d, (const char *[]){"show", id, NULL}, &out), ==, 0);
	CHECK_CONTAINS(out, "failed (tests_failed)");
	free(out);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(a_test_command_that_cannot_run_fails_before_any_model_call)
{
	char *repo = calc_repo(true);
	char *script = fs_script("{\"default\":[" BASH(FIX " && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit_test(d, repo, "make calc.sh add", "no-such-test-tool --all", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "failed");
	CHECK_STR(fs_str(task, "reason"), "setup_failed");
	const cJSON *run = fs_last_run(task);
	CHECK_STR(fs_str(run, "outcome"), "setup_failed");
	CHECK_CONTAINS(fs_str(run, "detail"), "no-such-test-tool");
	CHECK_CONTAINS(fs_str(run, "detail"), "not found");
	CHECK_INT(fs_int(run, "steps"), ==, 0);
	CHECK_INT(fs_int(run, "tokens_in"), ==, 0);
	cJSON *events = fs_events(d, id);
	CHECK_INT(fs_int(fs_event(events, "baseline", 1), "exit_code"), ==, 127);
	CHECK(fs_event(events, "step", 1) == NULL);
	cJSON_Delete(events);
	CHECK(th_metric(d, "agentd_fleet_model_requests_total") == 0);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(a_budget_that_runs_out_after_the_fix_still_yields_a_verified_patch)
{
	char *repo = calc_repo(true);
	char *script = fs_script("{\"default\":[" BASH(FIX) "," BASH("cat calc.sh") "," BASH("submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit_test(d, repo, "make calc.sh add", "sh test.sh", "\"budget\":{\"max_steps\":2}");
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK_STR(fs_str(fs_last_run(task), "outcome"), "budget_steps");
	CHECK_STR(fs_str(verdict(task), "verdict"), "passed");
	CHECK_STR(fs_str(verdict(task), "comparison"), "fixed");
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(best_of_three_goes_to_review_with_the_smallest_passing_patch)
{
	char *repo = calc_repo(true);
	/* Attempt 1 changes nothing that matters, 2 fixes it with an extra
	 * line, 3 fixes it alone. */
#define ATTEMPT(n, cmd) "{\"match\":\"add\",\"attempt\":" #n ",\"replies\":[" BASH(cmd) "]}"
	char *script = fs_script("{\"tasks\":[" ATTEMPT(1, "echo 'looked at it' > notes.txt && submit") "," ATTEMPT(
		2, FIX " && echo '# fixed' >> calc.sh && submit") "," ATTEMPT(3, FIX " && submit") "]}");
#undef ATTEMPT
	const char *args[] = {"--agents", "3", NULL};
	struct th_daemon *d = fs_daemon(script, args);
	char *id = fs_submit_test(d, repo, "make calc.sh add", "sh test.sh", "\"attempts\":3");
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 60000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(task, "runs")), ==, 3);
	const cJSON *r1 = run_of(task, 1), *r2 = run_of(task, 2), *r3 = run_of(task, 3);
	CHECK_STR(fs_str(cJSON_GetObjectItem(r1, "verification"), "verdict"), "failed");
	CHECK_STR(fs_str(cJSON_GetObjectItem(r1, "verification"), "reason"), "tests_failed");
	CHECK_STR(fs_str(cJSON_GetObjectItem(r2, "verification"), "verdict"), "passed");
	CHECK_STR(fs_str(cJSON_GetObjectItem(r3, "verification"), "verdict"), "passed");
	/* Both passed and fixed; the smaller diff wins. */
	CHECK_STR(fs_str(task, "chosen_run"), fs_str(r3, "id"));
	CHECK_STR(fs_str(verdict(task), "comparison"), "fixed");
	char path[160];
	snprintf(path, sizeof(path), "/v1/tasks/%s/patch", id);
	int status;
	char *patch = get_text(d, path, &status, NULL, 0);
	char *want = expected_patch(repo, FIX);
	CHECK_STR(patch, want);
	free(patch);
	free(want);
	/* Every run's patch stays available. */
	snprintf(path, sizeof(path), "/v1/tasks/%s/runs/%s/patch", id, fs_str(r2, "id"));
	patch = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 200);
	CHECK_CONTAINS(patch, "+# fixed");
	free(patch);
	snprintf(path, sizeof(path), "/v1/tasks/%s/runs/%s/patch", id, fs_str(r1, "id"));
	patch = get_text(d, path, &status, NULL, 0);
	CHECK_INT(status, ==, 200);
	CHECK_CONTAINS(patch, "+++ b/notes.txt");
	free(patch);
	char *out;
	CHECK_INT(agentctl(d, (const char *[]){"show", id, NULL}, &out), ==, 0);
	CHECK_CONTAINS(out, "(chosen)");
	CHECK_CONTAINS(out, "failed (tests_failed)");
	CHECK_CONTAINS(out, fs_str(r1, "id"));
	CHECK_CONTAINS(out, fs_str(r2, "id"));
	free(out);
	/* The task went running → verifying → awaiting_review, never back. */
	cJSON *events = fs_events(d, id);
	bool seen_verifying = false;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(events, "events"))
	{
		const char *state = fs_str(cJSON_GetObjectItem(e, "data"), "task_state");
		if (!state)
			continue;
		if (strcmp(state, "verifying") == 0)
			seen_verifying = true;
		else if (seen_verifying)
			CHECK(strcmp(state, "running") != 0);
	}
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(a_flaky_test_is_caught_by_repeated_verification)
{
	/* The test passes every other run once fixed. */
	char *flaky = fs_repo_with("printf 'test:\\n\\t@test -f fixed\\n"
				   "\\t@if [ -f .ran ]; then rm .ran; echo flake; exit 1; else touch .ran; fi\\n' "
				   "> Makefile && echo 'flaky' > README");
	char *steady = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *a = fs_submit(d, flaky, "fix the flaky one", "\"verify_repeats\":3");
	char *b = fs_submit(d, steady, "fix the steady one", "\"verify_repeats\":3");
	cJSON *ta = fs_wait_state(d, a, "awaiting_review,failed", 30000);
	cJSON *tb = fs_wait_state(d, b, "awaiting_review,failed", 30000);
	/* Flaky goes to review, marked as such. */
	CHECK_STR(fs_str(ta, "state"), "awaiting_review");
	CHECK_INT(fs_int(ta, "verify_repeats"), ==, 3);
	CHECK_STR(fs_str(verdict(ta), "verdict"), "flaky");
	CHECK_INT(fs_int(verdict(ta), "repeats"), ==, 2);
	CHECK_CONTAINS(fs_str(verdict(ta), "output"), "flake");
	CHECK_STR(fs_str(tb, "state"), "awaiting_review");
	CHECK_STR(fs_str(verdict(tb), "verdict"), "passed");
	CHECK_INT(fs_int(verdict(tb), "repeats"), ==, 3);
	char *out;
	CHECK_INT(agentctl(d, (const char *[]){"show", a, NULL}, &out), ==, 0);
	CHECK_CONTAINS(out, "verdict:      flaky");
	free(out);
	cJSON_Delete(ta);
	cJSON_Delete(tb);
	th_daemon_stop(d);
	free(a);
	free(b);
}

TEST(an_agent_that_edits_the_test_is_verified_against_its_own_patch)
{
	/* Protecting the tests from the agent is not done yet: what is
	 * verified is the patch the agent made, test edits included, and the
	 * patch shows them to the reviewer. */
	char *repo = calc_repo(true);
	char *script = fs_script("{\"default\":[" BASH("echo 'exit 0' > test.sh && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit_test(d, repo, "make calc.sh add", "sh test.sh", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK_STR(fs_str(verdict(task), "verdict"), "passed");
	char path[160];
	snprintf(path, sizeof(path), "/v1/tasks/%s/patch", id);
	int status;
	char *patch = get_text(d, path, &status, NULL, 0);
	CHECK_CONTAINS(patch, "+++ b/test.sh");
	CHECK_CONTAINS(patch, "+exit 0");
	CHECK(strstr(patch, "b/calc.sh") == NULL);
	free(patch);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(agentctl_submit_takes_verify_repeats_and_checks_it)
{
	char *repo = fs_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char *out;
	CHECK_INT(agentctl(d,
			   (const char *[]){"submit", "--repo", repo, "--instruction", "x", "--test", "make test",
					    "--verify-repeats", "6", NULL},
			   &out),
		  ==, 2);
	CHECK_CONTAINS(out, "--verify-repeats must be an integer from 1 to 5");
	free(out);
	CHECK_INT(agentctl(d,
			   (const char *[]){"--json", "submit", "--repo", repo, "--instruction", "x", "--test",
					    "make test", "--verify-repeats", "4", NULL},
			   &out),
		  ==, 0);
	CHECK_CONTAINS(out, "\"verify_repeats\":4");
	free(out);
	/* And the API refuses what agentctl would. */
	struct th_response r;
	char *body =
		xasprintf("{\"repo\":\"%s\",\"instruction\":\"x\",\"test_command\":\"t\",\"verify_repeats\":0}", repo);
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	CHECK_INT(r.status, ==, 400);
	CHECK_CONTAINS(r.body.data, "verify_repeats");
	th_response_free(&r);
	free(body);
	CHECK_INT(agentctl(d, (const char *[]){"patch", NULL}, &out), ==, 2);
	CHECK_CONTAINS(out, "expected one TASK_ID");
	free(out);
	CHECK_INT(agentctl(d, (const char *[]){"patch", "t_x", "--run", "../etc", NULL}, &out), ==, 2);
	CHECK_CONTAINS(out, "not a run id");
	free(out);
	th_daemon_stop(d);
}

TEST(oversized_and_binary_patches_are_refused_and_slow_tests_time_out)
{
	char *repo = fs_repo();
	char *script =
		fs_script(
			"{\"tasks\":["
			"{\"match\":\"big\",\"replies\":[" BASH("head -c 3000 /dev/zero | tr '\\\\0' x > fixed && "
								"submit") "]},"
									  "{\"match\":\"binary\",\"replies\":[" BASH(
										  "printf 'a\\\\000b' > fixed && "
										  "submit") "]},"
											    "{\"match\":\"slow\","
											    "\"replies\":[" BASH(
												    "echo slow > fixed "
												    "&& submit") "]}]"
														 "}");
	const char *args[] = {"--patch-max", "2k", "--test-timeout", "1s", NULL};
	struct th_daemon *d = fs_daemon(script, args);
	char *big = fs_submit(d, repo, "a big change", NULL);
	char *binary = fs_submit(d, repo, "a binary change", NULL);
	/* Slow once fixed: the verification, not the baseline. */
	char *slow = fs_submit_test(d, repo, "a slow test",
				    "if grep -q slow fixed 2>/dev/null; then sleep 31.5; fi; make test", NULL);
	cJSON *tb = fs_wait_state(d, big, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(tb, "state"), "failed");
	CHECK_STR(fs_str(tb, "reason"), "patch_too_large");
	CHECK_STR(fs_str(cJSON_GetObjectItem(fs_last_run(tb), "verification"), "verdict"), "failed");
	cJSON *tn = fs_wait_state(d, binary, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(tn, "state"), "failed");
	CHECK_STR(fs_str(tn, "reason"), "binary_patch");
	long long t0 = th_now_ms();
	cJSON *ts = fs_wait_state(d, slow, "awaiting_review,failed", 30000);
	CHECK_INT(th_now_ms() - t0, <, 20000);
	CHECK_STR(fs_str(ts, "state"), "failed");
	CHECK_STR(fs_str(ts, "reason"), "timeout");
	const cJSON *v = cJSON_GetObjectItem(fs_last_run(ts), "verification");
	CHECK_STR(fs_str(v, "verdict"), "error");
	CHECK_INT(fs_int(v, "duration_ms"), >=, 900);
	/* Refused patches are not kept for review. */
	char path[200];
	snprintf(path, sizeof(path), "/v1/tasks/%s/runs/%s/patch", big, fs_str(fs_last_run(tb), "id"));
	struct th_response r;
	th_http(d, "GET", path, NULL, &r);
	CHECK_INT(r.status, ==, 409);
	th_response_free(&r);
	CHECK_INT(system("pgrep -a sleep | grep -qF 'sleep 31.5'"), !=, 0);
	cJSON_Delete(tb);
	cJSON_Delete(tn);
	cJSON_Delete(ts);
	th_daemon_stop(d);
	free(big);
	free(binary);
	free(slow);
}
