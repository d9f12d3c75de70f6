/* agentctl against a live agentd: every command, --json, exit codes. */
#include <stdarg.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"

static struct th_daemon *daemon_for_ctl;

/* Runs agentctl --socket SOCKET args... (NULL-terminated); returns the exit
 * status. */
static int ctl(char **out, ...)
{
	const char *args[24];
	size_t n = 0;
	args[n++] = "--socket";
	args[n++] = daemon_for_ctl->socket;
	va_list ap;
	va_start(ap, out);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 23)
		args[n++] = a;
	va_end(ap);
	args[n] = NULL;
	return th_run_binary(th_binary("AGENTCTL"), args, out, 10000);
}

#define CTL(out, ...) ctl(out, __VA_ARGS__, NULL)

TEST(submit_list_show_cancel)
{
	char *repo = xasprintf("%s/repo", th_tempdir());
	th_git_repo(repo);
	daemon_for_ctl = th_daemon_start_in(NULL, false, NULL);
	char *out;
	CHECK_INT(CTL(&out, "submit", "--repo", repo, "--instruction", "make parse_date accept ISO weeks", "--test",
		      "make check", "--label=backend"),
		  ==, 0);
	/* "ID queued" */
	CHECK_CONTAINS(out, " queued\n");
	char id[64];
	CHECK_INT(sscanf(out, "%63s", id), ==, 1);
	free(out);

	CHECK_INT(CTL(&out, "list"), ==, 0);
	CHECK_CONTAINS(out, "ID ");
	CHECK_CONTAINS(out, "STATE");
	CHECK_CONTAINS(out, id);
	CHECK_CONTAINS(out, "make parse_date accept ISO weeks");
	free(out);

	CHECK_INT(CTL(&out, "list", "--json", "--label", "backend"), ==, 0);
	cJSON *json = cJSON_Parse(out);
	CHECK(json != NULL);
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "tasks"), 0), "id")->valuestring,
		  id);
	cJSON_Delete(json);
	free(out);

	CHECK_INT(CTL(&out, "show", id), ==, 0);
	CHECK_CONTAINS(out, "state:        queued");
	CHECK_CONTAINS(out, "test:         make check");
	CHECK_CONTAINS(out, "labels:       backend");
	free(out);

	CHECK_INT(CTL(&out, "show", id, "--json"), ==, 0);
	json = cJSON_Parse(out);
	CHECK_STR(cJSON_GetObjectItem(json, "state")->valuestring, "queued");
	cJSON_Delete(json);
	free(out);

	CHECK_INT(CTL(&out, "cancel", id), ==, 0);
	CHECK_CONTAINS(out, " canceled\n");
	free(out);
	/* The server says no: exit 1 and its message. */
	CHECK_INT(CTL(&out, "cancel", id), ==, 1);
	CHECK_CONTAINS(out, "cannot become canceled (conflict, HTTP 409)");
	free(out);
	CHECK_INT(CTL(&out, "list", "--state", "canceled"), ==, 0);
	CHECK_CONTAINS(out, id);
	free(out);
	th_daemon_stop(daemon_for_ctl);
	free(repo);
}

TEST(server_refusals_exit_1)
{
	daemon_for_ctl = th_daemon_start_in(NULL, false, NULL);
	char *out;
	CHECK_INT(CTL(&out, "submit", "--repo", "/nonexistent", "--instruction", "x", "--test", "y"), ==, 1);
	CHECK_CONTAINS(out, "agentctl: repo: /nonexistent");
	CHECK_CONTAINS(out, "(invalid_argument, HTTP 400)");
	free(out);
	CHECK_INT(CTL(&out, "show", "t_00000000000000000000000000"), ==, 1);
	CHECK_CONTAINS(out, "not_found");
	free(out);
	CHECK_INT(CTL(&out, "list", "--state", "dreaming"), ==, 1);
	CHECK_CONTAINS(out, "unknown state 'dreaming'");
	free(out);
	th_daemon_stop(daemon_for_ctl);
	/* No daemon: exit 1 with a hint. */
	CHECK_INT(CTL(&out, "list"), ==, 1);
	CHECK_CONTAINS(out, "cannot connect to agentd at");
	free(out);
}

TEST(usage_errors_exit_2)
{
	daemon_for_ctl = th_daemon_start_in(NULL, false, NULL);
	double writes_before = th_metric(daemon_for_ctl, "agentd_store_writes_total");
	char *out;
	CHECK_INT(CTL(&out, "frobnicate"), ==, 2);
	CHECK_CONTAINS(out, "unknown command 'frobnicate'");
	free(out);
	CHECK_INT(CTL(&out, "submit", "--repo", "/x"), ==, 2);
	CHECK_CONTAINS(out, "are required");
	free(out);
	CHECK_INT(CTL(&out, "submit", "--repo", "/x", "--instruction", "i", "--test", "t", "--priority", "high"), ==,
		  2);
	CHECK_CONTAINS(out, "--priority must be an integer");
	free(out);
	CHECK_INT(CTL(&out, "list", "--bogus", "1"), ==, 2);
	CHECK_CONTAINS(out, "unknown option --bogus");
	free(out);
	CHECK_INT(CTL(&out, "show"), ==, 2);
	CHECK_CONTAINS(out, "expected one TASK_ID");
	free(out);
	CHECK_INT(CTL(&out, "show", "../../etc"), ==, 2);
	free(out);
	CHECK_INT(CTL(&out, "submit", "--max-time", "forever", "--repo", "/x", "--instruction", "i", "--test", "t"), ==,
		  2);
	CHECK_CONTAINS(out, "--max-time");
	free(out);
	const char *url_args[] = {"--url", "https://x:1", "list", NULL};
	CHECK_INT(th_run_binary(th_binary("AGENTCTL"), url_args, &out, 10000), ==, 2);
	CHECK_CONTAINS(out, "https is not supported");
	free(out);
	/* Nothing reached the daemon. */
	CHECK_INT(th_metric(daemon_for_ctl, "agentd_store_writes_total"), ==, writes_before);
	th_daemon_stop(daemon_for_ctl);
}

TEST(help_on_every_command)
{
	daemon_for_ctl = th_daemon_start_in(NULL, false, NULL);
	const char *commands[] = {"submit", "list", "show", "cancel"};
	for (size_t i = 0; i < 4; i++) {
		char *out;
		CHECK_INT(CTL(&out, commands[i], "--help"), ==, 0);
		CHECK_CONTAINS(out, "usage: agentctl");
		CHECK_CONTAINS(out, commands[i]);
		free(out);
		CHECK_INT(CTL(&out, "help", commands[i]), ==, 0);
		CHECK_CONTAINS(out, commands[i]);
		free(out);
	}
	char *out;
	CHECK_INT(CTL(&out, "help"), ==, 0);
	CHECK_CONTAINS(out, "commands:");
	free(out);
	th_daemon_stop(daemon_for_ctl);
}

TEST(url_and_environment_reach_the_daemon)
{
	char *repo = xasprintf("%s/repo", th_tempdir());
	th_git_repo(repo);
	struct th_daemon *d = th_daemon_start(NULL);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", d->port);
	const char *args[] = {"--url", url,          "submit", "--repo",     repo, "--instruction", "x", "--test",
			      "true",  "--priority", "-5",     "--attempts", "2",  "--max-steps",   "7", "--max-time",
			      "90s",   "--json",     NULL};
	char *out;
	CHECK_INT(th_run_binary(th_binary("AGENTCTL"), args, &out, 10000), ==, 0);
	cJSON *json = cJSON_Parse(out);
	CHECK(json != NULL);
	CHECK_INT(cJSON_GetObjectItem(json, "priority")->valueint, ==, -5);
	CHECK_INT(cJSON_GetObjectItem(json, "attempts")->valueint, ==, 2);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "budget"), "max_steps")->valueint, ==, 7);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "budget"), "max_seconds")->valueint, ==, 90);
	cJSON_Delete(json);
	free(out);
	setenv("AGENTD_SOCKET", d->socket, 1);
	const char *env_args[] = {"list", NULL};
	CHECK_INT(th_run_binary(th_binary("AGENTCTL"), env_args, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "queued");
	free(out);
	th_daemon_stop(d);
	free(repo);
}
