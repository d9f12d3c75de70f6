/* The fleet's life: cancel kills a running command at once, a daemon killed
 * during runs gives them back to the queue on restart, and a hundred tasks
 * run at once, each in its own workspace. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

#define BASH(cmd) "\"Next.\\n```bash\\n" cmd "\\n```\""

/* Waits until GET /v1/fleet shows the task's agent running a command. */
static void wait_acting(struct th_daemon *d, const char *id)
{
	long long deadline = th_now_ms() + 30000;
	for (;;) {
		cJSON *fleet = fs_get(d, "/v1/fleet");
		const cJSON *slot;
		bool acting = false;
		cJSON_ArrayForEach(slot, cJSON_GetObjectItem(fleet, "slots"))
		{
			if (strcmp(fs_str(slot, "task"), id) == 0 && strcmp(fs_str(slot, "phase"), "acting") == 0) {
				CHECK_CONTAINS(fs_str(slot, "command"), "sleep");
				acting = true;
			}
		}
		cJSON_Delete(fleet);
		if (acting)
			return;
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "the agent of %s never ran its command", id);
		th_sleep_ms(20);
	}
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
	char *slow = fs_script("{\"default\":[" BASH("sleep 300") "]}");
	struct th_daemon *d = fs_daemon(slow, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	wait_acting(d, id);
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	kill(d->pid, SIGKILL);
	CHECK_INT(th_daemon_wait(d, 5000), ==, 128 + SIGKILL);
	/* The sandbox died with its parent. */
	long long deadline = th_now_ms() + 5000;
	while (system("pgrep -a sleep | grep -q 'sleep 300'") == 0 && th_now_ms() < deadline)
		th_sleep_ms(50);
	CHECK_INT(system("pgrep -a sleep | grep -q 'sleep 300'"), !=, 0);
	char *fast = fs_script("{\"default\":[" BASH("touch fixed && submit") "]}");
	struct th_daemon *again = fs_daemon_in(data, fast, NULL);
	cJSON *task = fs_wait_state(again, id, "verifying,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "verifying");
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
	char *slow = fs_script("{\"default\":[" BASH("sleep 300") "]}");
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
	for (int i = 0; i < 100; i++)
		buf_printf(&json,
			   "%s{\"match\":\"task number %d.\",\"replies\":[" BASH(
				   "touch mark-%d && ls && touch fixed && submit") "]}",
			   i ? "," : "", i, i);
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
		cJSON *task = fs_wait_state(d, ids[i], "verifying,failed", 120000);
		CHECK_STR(fs_str(task, "state"), "verifying");
		cJSON_Delete(task);
		cJSON *events = fs_events(d, ids[i]);
		/* Each workspace holds its own mark and no other. */
		char want[64];
		snprintf(want, sizeof(want), "Makefile\nREADME\nmark-%d\n", i);
		const char *out = fs_str(fs_event(events, "step", 1), "output");
		if (!out || strncmp(out, want, strlen(want)) != 0)
			th_fail(__FILE__, __LINE__, "task %d saw: %s", i, out ? out : "(nothing)");
		cJSON_Delete(events);
		free(ids[i]);
	}
	/* They really ran side by side. */
	CHECK_INT(max_busy, >, 1);
	th_daemon_stop(d);
}
