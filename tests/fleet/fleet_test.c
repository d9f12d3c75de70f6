/* Agents driven by the scripted model through the real daemon, sandbox and
 * HTTP API: the loop, corrections, timeouts, budgets, stuck, submit and
 * remember, delays and errors. */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

/* A reply that runs one command. */
#define BASH(cmd) "\"Next.\\n```bash\\n" cmd "\\n```\""

TEST(agent_edits_a_file_and_submits)
{
	char *repo = fs_repo();
	char *script =
		fs_script("{\"default\":[" BASH("cat Makefile") "," BASH("touch fixed && make test && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "make the tests pass", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	const cJSON *run = fs_last_run(task);
	CHECK_STR(fs_str(run, "outcome"), "submitted");
	CHECK_INT(fs_int(run, "attempt"), ==, 1);
	CHECK_INT(fs_int(run, "steps"), ==, 2);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "changed")));
	CHECK_INT(strlen(fs_str(run, "base_commit")), ==, 40);
	cJSON *events = fs_events(d, id);
	CHECK(fs_event(events, "run_started", 1) != NULL);
	const cJSON *s1 = fs_event(events, "step", 1);
	CHECK_STR(fs_str(s1, "command"), "cat Makefile");
	CHECK_INT(fs_int(s1, "exit_code"), ==, 0);
	CHECK_CONTAINS(fs_str(s1, "output"), "test -f fixed");
	CHECK_CONTAINS(fs_str(s1, "reply"), "```bash");
	CHECK_INT(fs_int(s1, "tokens_out"), >, 0);
	const cJSON *s2 = fs_event(events, "step", 2);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(s2, "submitted")));
	CHECK_CONTAINS(fs_str(s2, "output"), "submitted");
	const cJSON *end = fs_event(events, "run_ended", 1);
	CHECK_STR(fs_str(end, "outcome"), "submitted");
	/* The tests failed on the base and pass with the patch. */
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(fs_event(events, "baseline", 1), "passed")));
	const cJSON *verified = fs_event(events, "verified", 1);
	CHECK_STR(fs_str(verified, "verdict"), "passed");
	CHECK_STR(fs_str(verified, "comparison"), "fixed");
	CHECK_STR(fs_str(task, "chosen_run"), fs_str(run, "id"));
	cJSON_Delete(events);
	/* The origin repository is untouched. */
	char *fixed = xasprintf("%s/fixed", repo);
	CHECK_INT(access(fixed, F_OK), ==, -1);
	free(fixed);
	cJSON_Delete(task);
	/* And the workspace is gone. */
	char *ws = xasprintf("%s/workspaces", d->data_dir);
	char *cmd = xasprintf("test -z \"$(ls -A '%s')\"", ws);
	CHECK_INT(system(cmd), ==, 0);
	free(cmd);
	free(ws);
	th_daemon_stop(d);
	free(id);
}

TEST(reply_without_a_bash_block_gets_a_correction)
{
	char *repo = fs_repo();
	char *script = fs_script(
		"{\"default\":[\"I think I should look around first.\","
		"\"```bash\\necho one\\n```\\nand\\n```bash\\necho two\\n```\"," BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK_INT(fs_int(fs_last_run(task), "steps"), ==, 3);
	cJSON *events = fs_events(d, id);
	CHECK_CONTAINS(fs_str(fs_event(events, "step", 1), "error"), "0 bash blocks");
	CHECK_CONTAINS(fs_str(fs_event(events, "step", 2), "error"), "2 bash blocks");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fs_event(events, "step", 3), "submitted")));
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(hanging_command_is_killed_at_the_command_timeout)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("sleep 60") "," BASH("touch fixed && submit") "]}");
	const char *args[] = {"--command-timeout", "1s", NULL};
	struct th_daemon *d = fs_daemon(script, args);
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	cJSON *events = fs_events(d, id);
	const cJSON *s1 = fs_event(events, "step", 1);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(s1, "timed_out")));
	CHECK_INT(fs_int(s1, "duration_ms"), >=, 900);
	CHECK_INT(fs_int(s1, "duration_ms"), <, 10000);
	/* The agent went on. */
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fs_event(events, "step", 2), "submitted")));
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(agent_that_never_submits_is_ended_by_the_step_budget)
{
	char *repo = fs_repo();
	char *script = fs_script(
		"{\"tasks\":["
		"{\"match\":\"look only\",\"replies\":[" BASH("echo 1") "," BASH("echo 2") "," BASH("echo 3") "," BASH(
			"echo 4") "]},"
				  "{\"match\":\"edit\",\"replies\":[" BASH("echo 1") "," BASH("touch fixed") "," BASH(
					  "echo 3") "," BASH("echo 4") "]}]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *look = fs_submit(d, repo, "look only", "\"budget\":{\"max_steps\":3}");
	char *edit = fs_submit(d, repo, "edit without submitting", "\"budget\":{\"max_steps\":3}");
	cJSON *t1 = fs_wait_state(d, look, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(t1, "state"), "failed");
	CHECK_STR(fs_str(t1, "reason"), "budget_steps");
	CHECK_STR(fs_str(fs_last_run(t1), "outcome"), "budget_steps");
	CHECK_INT(fs_int(fs_last_run(t1), "steps"), ==, 3);
	/* Changes are not thrown away because the agent forgot to submit. */
	cJSON *t2 = fs_wait_state(d, edit, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(t2, "state"), "awaiting_review");
	CHECK_STR(fs_str(fs_last_run(t2), "outcome"), "budget_steps");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fs_last_run(t2), "changed")));
	cJSON_Delete(t1);
	cJSON_Delete(t2);
	th_daemon_stop(d);
	free(look);
	free(edit);
}

TEST(repeating_the_same_command_ends_as_stuck)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH("echo same") "," BASH("echo same") "," BASH(
		"echo same") "," BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "failed");
	CHECK_STR(fs_str(task, "reason"), "stuck");
	CHECK_INT(fs_int(fs_last_run(task), "steps"), ==, 3);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(failing_tests_do_not_submit)
{
	char *repo = fs_repo();
	/* After the one reply the script is used up. */
	char *script = fs_script("{\"default\":[" BASH("make test && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "failed");
	CHECK_STR(fs_str(task, "reason"), "llm_exhausted");
	cJSON *events = fs_events(d, id);
	const cJSON *s1 = fs_event(events, "step", 1);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(s1, "submitted")));
	CHECK_CONTAINS(fs_str(s1, "output"), "not fixed");
	CHECK_INT(fs_int(s1, "exit_code"), !=, 0);
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(remember_keeps_a_note_and_ignores_planted_entries)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[" BASH(
		"remember 'run the tests with make test' && ln -s /etc/passwd /run/agentd/note-5 && "
		"head -c 100000 /dev/zero > /run/agentd/note-6 && mkdir /run/agentd/note-7 && "
		"ln -s /etc/hostname /run/agentd/submit.x") "," BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	cJSON *events = fs_events(d, id);
	const cJSON *s1 = fs_event(events, "step", 1);
	const cJSON *notes = cJSON_GetObjectItem(s1, "notes");
	CHECK_INT(cJSON_GetArraySize(notes), ==, 1);
	CHECK_STR(cJSON_GetArrayItem(notes, 0)->valuestring, "run the tests with make test");
	CHECK_INT(fs_int(s1, "ignored_control_entries"), ==, 4);
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	/* The note is a memory of the repository, written by an agent. */
	char *path = xasprintf("%s/agentd.db", d->data_dir);
	sqlite3 *db;
	CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
	sqlite3_stmt *stmt;
	CHECK_INT(sqlite3_prepare_v2(db, "SELECT scope, text, source, trust FROM memories", -1, &stmt, NULL), ==,
		  SQLITE_OK);
	CHECK_INT(sqlite3_step(stmt), ==, SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(stmt, 0), repo);
	CHECK_STR((const char *)sqlite3_column_text(stmt, 1), "run the tests with make test");
	CHECK_STR((const char *)sqlite3_column_text(stmt, 2), id);
	CHECK_STR((const char *)sqlite3_column_text(stmt, 3), "agent");
	CHECK_INT(sqlite3_step(stmt), ==, SQLITE_DONE);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(path);
	free(id);
}

TEST(scripted_delay_and_error)
{
	char *repo = fs_repo();
	char *script = fs_script("{\"default\":[{\"text\":\"```bash\\necho hi\\n```\",\"delay_ms\":400},"
				 "{\"error\":\"the model is overloaded\"}]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	long long t0 = th_now_ms();
	char *id = fs_submit(d, repo, "fix it", NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 30000);
	CHECK_INT(th_now_ms() - t0, >=, 400);
	CHECK_STR(fs_str(task, "state"), "failed");
	CHECK_STR(fs_str(task, "reason"), "llm_error");
	CHECK_STR(fs_str(fs_last_run(task), "detail"), "the model is overloaded");
	cJSON *events = fs_events(d, id);
	CHECK_STR(fs_str(fs_event(events, "step", 1), "output"), "hi\n");
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(id);
}

TEST(without_a_model_tasks_stay_queued_and_the_fleet_says_why)
{
	char *repo = fs_repo();
	const char *args[] = {"--sandbox-binary", th_binary("AGENTD_SANDBOX"), NULL};
	struct th_daemon *d = th_daemon_start(args);
	char *id = fs_submit(d, repo, "fix it", NULL);
	th_sleep_ms(1500);
	cJSON *task = fs_wait_state(d, id, "queued", 1000);
	cJSON_Delete(task);
	cJSON *fleet = fs_get(d, "/v1/fleet");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(fleet, "model")));
	CHECK_CONTAINS(fs_str(fleet, "idle_reason"), "--llm scripted:FILE");
	CHECK_INT(fs_int(fleet, "queue_depth"), ==, 1);
	CHECK_INT(fs_int(fleet, "busy"), ==, 0);
	cJSON_Delete(fleet);
	th_daemon_stop(d);
	char *log = th_daemon_log(d);
	CHECK_CONTAINS(log, "no model: tasks stay queued");
	free(log);
	free(id);
}

TEST(malformed_script_stops_the_daemon_at_start)
{
	char *script = fs_script("{\"default\":[{\"txt\":\"typo\"}]}");
	char *llm = xasprintf("scripted:%s", script);
	char *data = xasprintf("%s/data", th_tempdir());
	const char *args[] = {"--data-dir", data, "--llm", llm, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 1);
	CHECK_CONTAINS(out, "default[0]: unknown or mistyped field 'txt'");
	free(out);
	const char *model[] = {"--data-dir", data, "--model", "/models/x.gguf", NULL};
	CHECK_INT(th_run_agentd(model, &out, 10000), ==, 1);
	CHECK_CONTAINS(out, "--model /models/x.gguf");
	free(out);
	free(llm);
	free(data);
}
