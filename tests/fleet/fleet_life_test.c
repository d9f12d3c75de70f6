/* The fleet's life: cancel kills a running command at once, a daemon killed
 * during runs gives them back to the queue on restart, and a hundred tasks
 * run at once, each in its own workspace. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

#define BASH(cmd) "\"Next.\\n```bash\\n" cmd "\\n```\""

/* Waits until GET /v1/fleet shows the task's agent in phase. */
static void wait_phase(struct th_daemon *d, const char *id, const char *phase)
{
	long long deadline = th_now_ms() + 30000;
	for (;;) {
		cJSON *fleet = fs_get(d, "/v1/fleet");
		const cJSON *slot;
		bool there = false;
		cJSON_ArrayForEach(slot, cJSON_GetObjectItem(fleet, "slots"))
		{
			if (strcmp(fs_str(slot, "task"), id) == 0 && strcmp(fs_str(slot, "phase"), phase) == 0) {
				if (strcmp(phase, "acting") == 0)
					CHECK_CONTAINS(fs_str(slot, "command"), "sleep");
				there = true;
			}
		}
		cJSON_Delete(fleet);
		if (there)
			return;
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "the agent of %s never reached %s", id, phase);
		th_sleep_ms(20);
	}
}

/* Waits until GET /v1/fleet shows the task's agent running a command. */
static void wait_acting(struct th_daemon *d, const char *id)
{
	wait_phase(d, id, "acting");
}

/* Kills the daemon with SIGKILL and waits until no "sleep N" is left. */
static void kill_9(struct th_daemon *d, const char *sleep_cmd)
{
	kill(d->pid, SIGKILL);
	CHECK_INT(th_daemon_wait(d, 5000), ==, 128 + SIGKILL);
	char *probe = xasprintf("pgrep -a sleep | grep -qF '%s'", sleep_cmd);
	long long deadline = th_now_ms() + 5000;
	while (system(probe) == 0 && th_now_ms() < deadline)
		th_sleep_ms(50);
	CHECK_INT(system(probe), !=, 0);
	free(probe);
}

TEST(a_verification_cut_by_kill_9_runs_again_and_the_run_does_not)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	/* Slow once fixed: the verification, not the baseline. */
	char *id = fs_submit_test(d, repo, "fix it", "if [ -f fixed ]; then sleep 7.5; fi; make test", NULL);
	wait_phase(d, id, "verifying");
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	kill_9(d, "sleep 7.5");
	struct th_daemon *again = fs_daemon_in(data, script, NULL);
	cJSON *task = fs_wait_state(again, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	/* One run, its steps taken once; the verification ran to its end. */
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(task, "runs")), ==, 1);
	CHECK_STR(fs_str(fs_last_run(task), "outcome"), "submitted");
	CHECK_STR(fs_str(cJSON_GetObjectItem(task, "verdict"), "verdict"), "passed");
	cJSON *events = fs_events(again, id);
	CHECK(fs_event(events, "step", 1) != NULL);
	CHECK(fs_event(events, "step", 2) == NULL);
	CHECK(fs_event(events, "verified", 2) == NULL);
	cJSON_Delete(events);
	CHECK(th_metric(again, "agentd_fleet_model_requests_total") == 0);
	cJSON_Delete(task);
	th_daemon_stop(again);
	char *log = th_daemon_log(again);
	CHECK_CONTAINS(log, "resuming a verification");
	free(log);
	free(id);
}

TEST(a_baseline_cut_by_kill_9_runs_again_before_any_step)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	/* Slow until fixed: the baseline, not the verification. */
	char *id = fs_submit_test(d, repo, "fix it", "if [ ! -f fixed ]; then sleep 6.5; fi; make test", NULL);
	wait_phase(d, id, "baseline");
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	kill_9(d, "sleep 6.5");
	struct th_daemon *again = fs_daemon_in(data, script, NULL);
	cJSON *task = fs_wait_state(again, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(task, "baseline_passed")));
	const cJSON *runs = cJSON_GetObjectItem(task, "runs");
	CHECK_INT(cJSON_GetArraySize(runs), ==, 2);
	/* The interrupted run never got to a step. */
	CHECK_STR(fs_str(cJSON_GetArrayItem(runs, 0), "outcome"), "interrupted");
	CHECK_INT(fs_int(cJSON_GetArrayItem(runs, 0), "steps"), ==, 0);
	cJSON *events = fs_events(again, id);
	CHECK(fs_event(events, "baseline", 1) != NULL);
	CHECK(fs_event(events, "baseline", 2) == NULL);
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(again);
	free(id);
}

TEST(cancel_kills_the_running_command_within_two_seconds)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("sleep 300") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	wait_acting(d, id);
	char path[96];
	snprintf(path, sizeof(path), "/v1/tasks/%s/cancel", id);
	long long t0 = th_now_ms();
	struct th_response r;
	th_http(d, "POST", path, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	/* The run is over (recorded) within two seconds. */
	for (;;) {
		snprintf(path, sizeof(path), "/v1/tasks/%s", id);
		cJSON *task = fs_get(d, path);
		const cJSON *run = fs_last_run(task);
		bool ended = strcmp(fs_str(run, "state"), "ended") == 0;
		if (ended) {
			CHECK_STR(fs_str(run, "outcome"), "canceled");
			CHECK_STR(fs_str(task, "state"), "canceled");
			cJSON_Delete(task);
			break;
		}
		cJSON_Delete(task);
		CHECK_INT(th_now_ms() - t0, <, 2000);
		th_sleep_ms(20);
	}
	CHECK_INT(th_now_ms() - t0, <, 2000);
	cJSON *events = fs_events(d, id);
	const cJSON *step = fs_event(events, "step", 1);
	CHECK(step != NULL);
	CHECK_INT(fs_int(step, "duration_ms"), <, 2000);
	cJSON_Delete(events);
	/* No sleep survives. */
	CHECK_INT(system("pgrep -x 'sleep' -a | grep -q 'sleep 300'"), !=, 0);
	th_daemon_stop(d);
	free(id);
}

TEST(runs_interrupted_by_kill_9_run_again_after_restart)
{
	char *repo = fs_repo();
	char *slow = fs_script("{\"default\":[" BASH("sleep 301") "]}");
	struct th_daemon *d = fs_daemon(slow, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	wait_acting(d, id);
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	kill(d->pid, SIGKILL);
	CHECK_INT(th_daemon_wait(d, 5000), ==, 128 + SIGKILL);
	/* The sandbox died with its parent. */
	long long deadline = th_now_ms() + 5000;
	while (system("pgrep -a sleep | grep -q 'sleep 301'") == 0 && th_now_ms() < deadline)
		th_sleep_ms(50);
	CHECK_INT(system("pgrep -a sleep | grep -q 'sleep 301'"), !=, 0);
	char *fast = fs_script("{\"default\":[" BASH("touch fixed && submit") "]}");
	struct th_daemon *again = fs_daemon_in(data, fast, NULL);
	cJSON *task = fs_wait_state(again, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	const cJSON *runs = cJSON_GetObjectItem(task, "runs");
	CHECK_INT(cJSON_GetArraySize(runs), ==, 2);
	const cJSON *first = cJSON_GetArrayItem(runs, 0);
	CHECK_STR(fs_str(first, "outcome"), "interrupted");
	/* A run restarted after a crash keeps its attempt number. */
	CHECK_INT(fs_int(first, "attempt"), ==, 1);
	CHECK_INT(fs_int(cJSON_GetArrayItem(runs, 1), "attempt"), ==, 1);
	CHECK_STR(fs_str(cJSON_GetArrayItem(runs, 1), "outcome"), "submitted");
	cJSON_Delete(task);
	th_daemon_stop(again);
	char *log = th_daemon_log(again);
	CHECK_CONTAINS(log, "their tasks are queued again");
	free(log);
	free(id);
}

TEST(sigterm_gives_running_tasks_back_to_the_queue)
{
	char *repo = fs_repo();
	char *slow = fs_script("{\"default\":[" BASH("sleep 302") "]}");
	struct th_daemon *d = fs_daemon(slow, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	wait_acting(d, id);
	long long t0 = th_now_ms();
	CHECK_INT(th_daemon_signal_wait(d, SIGTERM, 10000), ==, 0);
	CHECK_INT(th_now_ms() - t0, <, 5000);
	struct th_daemon *again = th_daemon_start_in(d->data_dir, true, NULL);
	char path[96];
	snprintf(path, sizeof(path), "/v1/tasks/%s", id);
	cJSON *task = fs_get(again, path);
	CHECK_STR(fs_str(task, "state"), "queued");
	CHECK_STR(fs_str(fs_last_run(task), "outcome"), "interrupted");
	cJSON_Delete(task);
	th_daemon_stop(again);
	free(id);
}

TEST(hundred_tasks_at_once_each_in_its_own_workspace)
{
	char *repo = fs_repo();
	struct buf json = BUF_INIT;
	buf_append_str(&json, "{\"tasks\":[");
	/* Even tasks fix the tests, odd ones do not. */
	for (int i = 0; i < 100; i++)
		buf_printf(&json,
			   "%s{\"match\":\"task number %d.\",\"replies\":[" BASH(
				   "touch mark-%d && ls && %s && submit") "]}",
			   i ? "," : "", i, i, i % 2 ? "true" : "touch fixed");
	buf_append_str(&json, "]}");
	char *script = fs_script(json.data);
	buf_free(&json);
	const char *args[] = {"--agents", "100", "--log-level", "info", NULL};
	struct th_daemon *d = fs_daemon(script, args);
	char *ids[100];
	for (int i = 0; i < 100; i++) {
		char instruction[64];
		snprintf(instruction, sizeof(instruction), "task number %d.", i);
		ids[i] = fs_submit(d, repo, instruction, NULL);
	}
	int max_busy = 0;
	for (int i = 0; i < 100; i++) {
		cJSON *fleet = fs_get(d, "/v1/fleet");
		if (fs_int(fleet, "busy") > max_busy)
			max_busy = (int)fs_int(fleet, "busy");
		cJSON_Delete(fleet);
		cJSON *task = fs_wait_state(d, ids[i], "awaiting_review,failed", 120000);
		const cJSON *v = cJSON_GetObjectItem(fs_last_run(task), "verification");
		if (cJSON_GetArraySize(cJSON_GetObjectItem(task, "runs")) != 1) {
			char *text = cJSON_Print(task);
			th_fail(__FILE__, __LINE__, "task %d ran more than once: %s", i, text);
		}
		if (i % 2 == 0) {
			CHECK_STR(fs_str(task, "state"), "awaiting_review");
			CHECK_STR(fs_str(v, "verdict"), "passed");
			CHECK_STR(fs_str(v, "comparison"), "fixed");
		} else {
			CHECK_STR(fs_str(task, "state"), "failed");
			CHECK_STR(fs_str(task, "reason"), "tests_failed");
			CHECK_STR(fs_str(v, "verdict"), "failed");
		}
		cJSON_Delete(task);
		cJSON *events = fs_events(d, ids[i]);
		/* Each workspace holds its own mark and no other. */
		char want[64];
		snprintf(want, sizeof(want), "Makefile\nREADME\nmark-%d\n", i);
		/* Verified once. */
		if (!fs_event(events, "verified", 1) || fs_event(events, "verified", 2)) {
			char *text = cJSON_Print(events);
			th_fail(__FILE__, __LINE__, "task %d was not verified exactly once: %s", i, text);
		}
		const char *out = fs_str(fs_event(events, "step", 1), "output");
		if (!out || strncmp(out, want, strlen(want)) != 0)
			th_fail(__FILE__, __LINE__, "task %d saw: %s", i, out ? out : "(nothing)");
		cJSON_Delete(events);
		free(ids[i]);
	}
	/* They really ran side by side. */
	CHECK_INT(max_busy, >, 1);
	CHECK_INT((int)th_metric(d, "agentd_fleet_verifications_total{verdict=\"passed\"}"), ==, 50);
	CHECK_INT((int)th_metric(d, "agentd_fleet_verifications_total{verdict=\"failed\"}"), ==, 50);
	th_daemon_stop(d);
}
