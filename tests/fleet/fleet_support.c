/* Helpers for the fleet's tests. */
#include "tests/fleet/fleet_support.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Paths handed out, kept for the life of the test. */
static char *fs_kept[64];
static size_t fs_kept_count;

static char *fs_keep(char *path)
{
	if (fs_kept_count < sizeof(fs_kept) / sizeof(fs_kept[0]))
		fs_kept[fs_kept_count++] = path;
	return path;
}

char *fs_repo_with(const char *files_cmd)
{
	static int made;
	char *dir = xasprintf("%s/origin%s%.0d", th_tempdir(), made ? "-" : "", made);
	made++;
	char *cmd = xasprintf("mkdir -p '%s' && cd '%s' && git init -q -b main . && { %s; } && git add . && "
			      "git -c user.name=test -c user.email=test@localhost commit -qm 'the base'",
			      dir, dir, files_cmd);
	if (system(cmd) != 0)
		th_fail(__FILE__, __LINE__, "cannot make the fixture repository");
	free(cmd);
	return fs_keep(dir);
}

char *fs_repo(void)
{
	return fs_repo_with("printf 'test:\\n\\t@test -f fixed || (echo \"not fixed\"; exit 1)\\n' > Makefile && "
			    "echo 'a fixture' > README");
}

char *fs_script(const char *json)
{
	char *path = xasprintf("%s/script.json", th_tempdir());
	th_write_file(path, json);
	return fs_keep(path);
}

struct th_daemon *fs_daemon_in(const char *data_dir, const char *script, const char *const *extra)
{
	const char *args[32];
	size_t n = 0;
	char *llm = xasprintf("scripted:%s", script);
	args[n++] = "--llm";
	args[n++] = llm;
	args[n++] = "--sandbox-binary";
	args[n++] = th_binary("AGENTD_SANDBOX");
	args[n++] = "--min-free-disk";
	args[n++] = "0";
	args[n++] = "--sandbox-memory";
	args[n++] = "512M";
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	struct th_daemon *d = th_daemon_start_in(data_dir, true, args);
	/* llm stays referenced by nothing after start. */
	free(llm);
	return d;
}

struct th_daemon *fs_daemon(const char *script, const char *const *extra)
{
	return fs_daemon_in(NULL, script, extra);
}

char *fs_submit(struct th_daemon *d, const char *repo, const char *instruction, const char *extra)
{
	return fs_submit_test(d, repo, instruction, "make test", extra);
}

char *fs_submit_test(struct th_daemon *d, const char *repo, const char *instruction, const char *test,
		     const char *extra)
{
	char *body = xasprintf("{\"repo\":\"%s\",\"instruction\":\"%s\",\"test_command\":\"%s\"%s%s}", repo,
			       instruction, test, extra ? "," : "", extra ? extra : "");
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	free(body);
	if (r.status != 201)
		th_fail(__FILE__, __LINE__, "submit: %d %s", r.status, r.body.data);
	cJSON *json = cJSON_Parse(r.body.data);
	char *id = xstrdup(cJSON_GetObjectItem(json, "id")->valuestring);
	cJSON_Delete(json);
	th_response_free(&r);
	return id;
}

cJSON *fs_get(struct th_daemon *d, const char *path)
{
	struct th_response r;
	th_http(d, "GET", path, NULL, &r);
	if (r.status != 200)
		th_fail(__FILE__, __LINE__, "GET %s: %d %s", path, r.status, r.body.data);
	cJSON *json = cJSON_Parse(r.body.data);
	th_response_free(&r);
	CHECK(json != NULL);
	return json;
}

cJSON *fs_wait_state(struct th_daemon *d, const char *id, const char *states, long timeout_ms)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/tasks/%s", id);
	long long deadline = th_now_ms() + timeout_ms;
	for (;;) {
		cJSON *task = fs_get(d, path);
		const char *state = fs_str(task, "state");
		char padded[256];
		snprintf(padded, sizeof(padded), ",%s,", states);
		char needle[64];
		snprintf(needle, sizeof(needle), ",%s,", state);
		if (strstr(padded, needle))
			return task;
		if (th_now_ms() > deadline) {
			char *text = cJSON_Print(task);
			th_fail(__FILE__, __LINE__, "task %s did not reach %s in %ldms; it is: %s", id, states,
				timeout_ms, text);
		}
		cJSON_Delete(task);
		th_sleep_ms(50);
	}
}

cJSON *fs_events(struct th_daemon *d, const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tasks/%s/events?limit=1000", id);
	return fs_get(d, path);
}

const cJSON *fs_event(const cJSON *events, const char *kind, int n)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(events, "events"))
	{
		if (strcmp(fs_str(e, "kind"), kind) == 0 && --n == 0)
			return cJSON_GetObjectItem(e, "data");
	}
	return NULL;
}

const char *fs_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long fs_int(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);
	if (!cJSON_IsNumber(v))
		th_fail(__FILE__, __LINE__, "no number '%s'", name);
	return (long long)v->valuedouble;
}

const cJSON *fs_last_run(const cJSON *task)
{
	const cJSON *runs = cJSON_GetObjectItem(task, "runs");
	int n = cJSON_GetArraySize(runs);
	CHECK(n > 0);
	return cJSON_GetArrayItem(runs, n - 1);
}
