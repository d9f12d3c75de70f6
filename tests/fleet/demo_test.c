/* agentd --demo end to end: the bundled example, the bundled script, the
 * steps, the verdict and the patch on screen, and the daemon still serving. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

/* Waits until the daemon's output holds needle; returns the output. */
static char *wait_output(struct th_daemon *d, const char *needle, long timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	for (;;) {
		char *out = th_daemon_log(d);
		if (strstr(out, needle))
			return out;
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "no '%s' in the demo's output:\n%s", needle, out);
		free(out);
		th_sleep_ms(50);
	}
}

static struct th_daemon *start_demo(const char *data_dir)
{
	const char *args[] = {"--demo",
			      "--sandbox-binary",
			      th_binary("AGENTD_SANDBOX"),
			      "--min-free-disk",
			      "0",
			      "--log-level",
			      "info",
			      NULL};
	return th_daemon_start_in(data_dir, true, args);
}

TEST(demo_fixes_the_bundled_example_and_keeps_serving)
{
	struct th_daemon *d = start_demo(NULL);
	char *out = wait_output(d, "agentd keeps serving", 60000);
	/* It says plainly that a script plays the model, first and last. */
	CHECK_CONTAINS(out, "THE MODEL IN THIS DEMO IS A SCRIPT, NOT A LANGUAGE MODEL");
	CHECK_CONTAINS(out, "not a language model's");
	/* The baseline fails, the steps show as they ran, the verdict. */
	CHECK_CONTAINS(out, "Baseline: the tests on the untouched code, in a sandbox: they fail (exit 1");
	CHECK_CONTAINS(out, "| FAIL  1900: expected common, got leap");
	CHECK_CONTAINS(out, "step 1  the model: I'll start by reading the code and its test.");
	CHECK_CONTAINS(out, "$ cat leap.sh test.sh");
	CHECK_CONTAINS(out, "| ok    2100 is common");
	CHECK_CONTAINS(out, "-- submitted");
	CHECK_CONTAINS(out, "Verified: passed (fixed)");
	CHECK_CONTAINS(out, "the task is awaiting_review");
	CHECK_CONTAINS(out,
		       "+if [ $((year % 4)) -eq 0 ] && { [ $((year % 100)) -ne 0 ] || [ $((year % 400)) -eq 0 ]; }; "
		       "then");
	free(out);

	/* The task is a real one, through the API. */
	cJSON *list = fs_get(d, "/v1/tasks?label=demo");
	cJSON *tasks = cJSON_GetObjectItem(list, "tasks");
	CHECK_INT(cJSON_GetArraySize(tasks), ==, 1);
	const cJSON *task = cJSON_GetArrayItem(tasks, 0);
	CHECK_STR(fs_str(task, "state"), "awaiting_review");
	CHECK_STR(fs_str(task, "test_command"), "sh test.sh");
	char path[160];
	snprintf(path, sizeof(path), "/v1/tasks/%s/patch", fs_str(task, "id"));
	struct th_response r;
	th_http(d, "GET", path, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	/* The patch fixes a fresh copy of the example in the source tree. */
	char *copy = xasprintf("%s/copy", th_tempdir());
	char *patch = xasprintf("%s/demo.diff", th_tempdir());
	th_write_file(patch, r.body.data);
	th_response_free(&r);
	const char *root = getenv("AGENTD_SOURCE_ROOT");
	CHECK(root != NULL);
	char *cmd = xasprintf("cp -r '%s/examples/leap-year' '%s' && cd '%s' && ! sh test.sh >/dev/null && "
			      "git apply '%s' && sh test.sh >/dev/null",
			      root, copy, copy, patch);
	CHECK_INT(system(cmd), ==, 0);
	free(cmd);
	free(patch);
	free(copy);
	cJSON_Delete(list);

	/* A second demo in the same data directory starts from a fresh copy. */
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	th_daemon_stop(d);
	struct th_daemon *again = start_demo(data);
	out = wait_output(again, "agentd keeps serving", 60000);
	CHECK_CONTAINS(out, "Verified: passed (fixed)");
	free(out);
	list = fs_get(again, "/v1/tasks?label=demo&state=awaiting_review");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(list, "tasks")), ==, 2);
	cJSON_Delete(list);
	th_daemon_stop(again);
}

TEST(demo_with_a_model_of_ones_own_does_not_claim_the_script)
{
	char *script = fs_script("{\"default\":[\"Done.\\n```bash\\nsubmit\\n```\"]}");
	char *llm = xasprintf("scripted:%s", script);
	const char *args[] = {
		"--demo",      "--llm", llm, "--sandbox-binary", th_binary("AGENTD_SANDBOX"), "--min-free-disk", "0",
		"--log-level", "info",  NULL};
	struct th_daemon *d = th_daemon_start_in(NULL, true, args);
	char *out = wait_output(d, "agentd keeps serving", 60000);
	CHECK(strstr(out, "NOT A LANGUAGE MODEL") == NULL);
	CHECK_CONTAINS(out, "The agent's model: scripted");
	/* Submitting nothing is an empty patch: failed, and said so. */
	CHECK_CONTAINS(out, "Verified: failed (empty_patch)");
	CHECK_CONTAINS(out, "the task is failed (empty_patch)");
	free(out);
	free(llm);
	th_daemon_stop(d);
}
