/* The task API through a real agentd: submit, list, show, cancel,
 * pagination, filters, idempotency, the queue cap, durability. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"

/* A fresh git repository for tasks to point at. */
static char *make_repo(void)
{
	char *dir = xasprintf("%s/repo", th_tempdir());
	th_git_repo(dir);
	return dir;
}

static char *task_body(const char *repo, const char *extra)
{
	return xasprintf("{\"repo\":\"%s\",\"instruction\":\"make parse_date accept ISO weeks\","
			 "\"test_command\":\"make check\"%s%s}",
			 repo, extra ? "," : "", extra ? extra : "");
}

/* POSTs a task and returns the parsed answer; *status gets the HTTP status. */
static cJSON *submit(struct th_daemon *d, const char *body, const char *headers, int *status)
{
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, headers, &r);
	*status = r.status;
	cJSON *json = cJSON_Parse(r.body.data ? r.body.data : "");
	th_response_free(&r);
	if (!json)
		th_fail(__FILE__, __LINE__, "answer is not JSON");
	return json;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *submit_ok(struct th_daemon *d, const char *repo, const char *extra)
{
	char *body = task_body(repo, extra);
	int status;
	cJSON *json = submit(d, body, NULL, &status);
	free(body);
	CHECK_INT(status, ==, 201);
	char *id = xstrdup(str(json, "id"));
	cJSON_Delete(json);
	return id;
}

static cJSON *get_json(struct th_daemon *d, const char *path, int *status)
{
	struct th_response r;
	th_http(d, "GET", path, NULL, &r);
	*status = r.status;
	cJSON *json = cJSON_Parse(r.body.data ? r.body.data : "");
	th_response_free(&r);
	CHECK(json != NULL);
	return json;
}

TEST(submit_show_list_cancel)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char *body = task_body(repo, "\"ref\":\"main\",\"priority\":10,\"labels\":[\"backend\",\"p1\"],\"attempts\":3,"
				     "\"budget\":{\"max_steps\":12}");
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	free(body);
	CHECK_INT(r.status, ==, 201);
	cJSON *task = cJSON_Parse(r.body.data);
	const char *id = str(task, "id");
	CHECK(id && strncmp(id, "t_", 2) == 0 && strlen(id) == 28);
	char location[64];
	snprintf(location, sizeof(location), "/v1/tasks/%s", id);
	CHECK_STR(th_response_header(&r, "location"), location);
	th_response_free(&r);
	CHECK_STR(str(task, "state"), "queued");
	CHECK_STR(str(task, "repo"), repo);
	CHECK_STR(str(task, "repo_identity"), repo);
	CHECK_STR(str(task, "ref"), "main");
	CHECK_INT(cJSON_GetObjectItem(task, "priority")->valueint, ==, 10);
	CHECK_INT(cJSON_GetObjectItem(task, "attempts")->valueint, ==, 3);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(task, "budget"), "max_steps")->valueint, ==, 12);
	/* Unspecified budget fields get the daemon's defaults. */
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(task, "budget"), "max_tokens")->valueint, ==, 100000);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(task, "reason")));

	int status;
	cJSON *shown = get_json(d, location, &status);
	CHECK_INT(status, ==, 200);
	/* One task reads as it was created, with its runs (none yet). */
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(shown, "runs")));
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(shown, "runs")), ==, 0);
	cJSON_DeleteItemFromObject(shown, "runs");
	/* Neither a baseline nor a verdict before any agent ran. */
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(shown, "baseline")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(shown, "verdict")));
	cJSON_DeleteItemFromObject(shown, "baseline");
	cJSON_DeleteItemFromObject(shown, "verdict");
	char *a = cJSON_PrintUnformatted(task), *b = cJSON_PrintUnformatted(shown);
	CHECK_STR(a, b);
	free(a);
	free(b);
	cJSON_Delete(shown);

	cJSON *list = get_json(d, "/v1/tasks", &status);
	CHECK_INT(status, ==, 200);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(list, "tasks")), ==, 1);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(list, "next_cursor")));
	cJSON_Delete(list);

	char cancel[80];
	snprintf(cancel, sizeof(cancel), "/v1/tasks/%s/cancel", id);
	th_http(d, "POST", cancel, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_CONTAINS(r.body.data, "\"state\":\"canceled\"");
	CHECK_CONTAINS(r.body.data, "\"reason\":\"canceled\"");
	th_response_free(&r);
	/* From a terminal state: 409. */
	th_http(d, "POST", cancel, NULL, &r);
	CHECK_INT(r.status, ==, 409);
	CHECK_CONTAINS(r.body.data, "\"code\":\"conflict\"");
	th_response_free(&r);
	th_http(d, "GET", "/v1/tasks/t_00000000000000000000000000", NULL, &r);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	th_http(d, "GET", "/v1/tasks/not-an-id", NULL, &r);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	th_http(d, "POST", "/v1/tasks/t_00000000000000000000000000/cancel", NULL, &r);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	CHECK_INT(th_metric(d, "agentd_tasks{state=\"canceled\"}"), ==, 1);
	CHECK_INT(th_metric(d, "agentd_tasks{state=\"queued\"}"), ==, 0);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(repo);
}

TEST(pagination_is_stable_while_tasks_arrive)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char *ids[120];
	for (int i = 0; i < 120; i++)
		ids[i] = submit_ok(d, repo, NULL);
	int seen[120] = {0};
	char path[128] = "/v1/tasks?limit=25";
	char prev[64] = "~";
	int pages = 0;
	for (;;) {
		int status;
		cJSON *page = get_json(d, path, &status);
		CHECK_INT(status, ==, 200);
		const cJSON *t;
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(page, "tasks"))
		{
			const char *id = str(t, "id");
			/* Newest first, never a repeat. */
			CHECK_INT(strcmp(id, prev), <, 0);
			snprintf(prev, sizeof(prev), "%s", id);
			for (int i = 0; i < 120; i++)
				if (strcmp(ids[i], id) == 0)
					seen[i]++;
		}
		pages++;
		/* New tasks arrive between pages. */
		for (int k = 0; k < 10; k++)
			free(submit_ok(d, repo, NULL));
		const char *next = str(page, "next_cursor");
		if (!next) {
			cJSON_Delete(page);
			break;
		}
		snprintf(path, sizeof(path), "/v1/tasks?limit=25&cursor=%s", next);
		cJSON_Delete(page);
	}
	CHECK_INT(pages, ==, 5);
	for (int i = 0; i < 120; i++) {
		CHECK_INT(seen[i], ==, 1);
		free(ids[i]);
	}
	th_daemon_stop(d);
	free(repo);
}

TEST(list_filters)
{
	char *repo_a = make_repo();
	char *repo_b = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	for (int i = 0; i < 6; i++) {
		char *id = submit_ok(d, i % 2 ? repo_a : repo_b, i % 3 == 0 ? "\"labels\":[\"red\"]" : NULL);
		if (i == 5) {
			char cancel[80];
			snprintf(cancel, sizeof(cancel), "/v1/tasks/%s/cancel", id);
			struct th_response r;
			th_http(d, "POST", cancel, NULL, &r);
			CHECK_INT(r.status, ==, 200);
			th_response_free(&r);
		}
		free(id);
	}
	struct {
		const char *query;
		int count;
	} cases[] = {
		{"/v1/tasks?state=queued", 5},
		{"/v1/tasks?state=canceled", 1},
		{"/v1/tasks?state=running", 0},
		{"/v1/tasks?label=red", 2},
		{"/v1/tasks?label=blue", 0},
		{"/v1/tasks?limit=2", 2},
		{"/v1/tasks?label=red&state=queued", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;
		cJSON *page = get_json(d, cases[i].query, &status);
		CHECK_INT(status, ==, 200);
		if (cJSON_GetArraySize(cJSON_GetObjectItem(page, "tasks")) != cases[i].count)
			th_fail(__FILE__, __LINE__, "%s: %d tasks", cases[i].query,
				cJSON_GetArraySize(cJSON_GetObjectItem(page, "tasks")));
		cJSON_Delete(page);
	}
	/* repo matches by identity: a path with a trailing slash or `..` is the
	 * same repository. */
	char *q = xasprintf("/v1/tasks?repo=%s/../repo/", repo_a);
	int status;
	cJSON *page = get_json(d, q, &status);
	CHECK_INT(status, ==, 200);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "tasks")), ==, 3);
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(page, "tasks")) CHECK_STR(str(t, "repo_identity"), repo_a);
	cJSON_Delete(page);
	free(q);
	const char *bad[][2] = {
		{"/v1/tasks?state=sleeping", "state"}, {"/v1/tasks?limit=0", "limit"},
		{"/v1/tasks?limit=501", "limit"},      {"/v1/tasks?limit=x", "limit"},
		{"/v1/tasks?cursor=zzz", "cursor"},    {"/v1/tasks?label=a%20b", "label"},
		{"/v1/tasks?colour=red", "query"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		page = get_json(d, bad[i][0], &status);
		CHECK_INT(status, ==, 400);
		const cJSON *e = cJSON_GetObjectItem(page, "error");
		CHECK_STR(str(e, "code"), "invalid_argument");
		CHECK_STR(str(e, "field"), bad[i][1]);
		cJSON_Delete(page);
	}
	th_daemon_stop(d);
	free(repo_a);
	free(repo_b);
}

TEST(idempotency_key_replays_and_conflicts)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char *body = task_body(repo, NULL);
	int status;
	cJSON *first = submit(d, body, "Idempotency-Key: deploy-42\r\n", &status);
	CHECK_INT(status, ==, 201);
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, "Idempotency-Key: deploy-42\r\n", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(th_response_header(&r, "idempotent-replayed"), "true");
	cJSON *again = cJSON_Parse(r.body.data);
	CHECK_STR(str(again, "id"), str(first, "id"));
	th_response_free(&r);
	cJSON_Delete(again);
	char *other = task_body(repo, "\"priority\":5");
	cJSON *conflict = submit(d, other, "Idempotency-Key: deploy-42\r\n", &status);
	CHECK_INT(status, ==, 409);
	CHECK_STR(str(cJSON_GetObjectItem(conflict, "error"), "code"), "conflict");
	cJSON_Delete(conflict);
	cJSON *bad = submit(d, body, "Idempotency-Key: \x01\r\n", &status);
	CHECK_INT(status, ==, 400);
	cJSON_Delete(bad);
	/* Keys survive a restart. */
	th_daemon_stop(d);
	struct th_daemon *d2 = th_daemon_start_in(d->data_dir, true, NULL);
	again = submit(d2, body, "Idempotency-Key: deploy-42\r\n", &status);
	CHECK_INT(status, ==, 200);
	CHECK_STR(str(again, "id"), str(first, "id"));
	cJSON_Delete(again);
	int s2;
	cJSON *list = get_json(d2, "/v1/tasks", &s2);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(list, "tasks")), ==, 1);
	cJSON_Delete(list);
	cJSON_Delete(first);
	free(body);
	free(other);
	th_daemon_stop(d2);
	free(repo);
}

TEST(queue_cap_answers_429_with_retry_after)
{
	char *repo = make_repo();
	const char *args[] = {"--max-queued", "3", NULL};
	struct th_daemon *d = th_daemon_start(args);
	char *ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = submit_ok(d, repo, NULL);
	char *body = task_body(repo, NULL);
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	CHECK_INT(r.status, ==, 429);
	CHECK(th_response_header(&r, "retry-after") != NULL);
	CHECK_CONTAINS(r.body.data, "\"code\":\"rate_limited\"");
	th_response_free(&r);
	/* Canceling one frees a place. */
	char cancel[80];
	snprintf(cancel, sizeof(cancel), "/v1/tasks/%s/cancel", ids[0]);
	th_http(d, "POST", cancel, NULL, &r);
	th_response_free(&r);
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	CHECK_INT(r.status, ==, 201);
	th_response_free(&r);
	for (int i = 0; i < 3; i++)
		free(ids[i]);
	free(body);
	th_daemon_stop(d);
	free(repo);
}

TEST(acknowledged_tasks_survive_kill_9)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char data[300];
	snprintf(data, sizeof(data), "%s", d->data_dir);
	char *ids[15];
	int n = 0;
	for (int round = 0; round < 3; round++) {
		/* Kill the instant the last 201 arrives. */
		for (int i = 0; i < 5; i++)
			ids[n++] = submit_ok(d, repo, NULL);
		kill(d->pid, SIGKILL);
		CHECK_INT(th_daemon_wait(d, 5000), ==, 128 + SIGKILL);
		d = th_daemon_start_in(data, true, NULL);
		for (int i = 0; i < n; i++) {
			char path[64];
			snprintf(path, sizeof(path), "/v1/tasks/%s", ids[i]);
			struct th_response r;
			th_http(d, "GET", path, NULL, &r);
			CHECK_INT(r.status, ==, 200);
			th_response_free(&r);
		}
	}
	CHECK_INT(th_metric(d, "agentd_tasks{state=\"queued\"}"), ==, 15);
	for (int i = 0; i < n; i++)
		free(ids[i]);
	th_daemon_stop(d);
	free(repo);
}

struct client_job {
	struct th_daemon *d;
	const char *repo;
	int count;
	char *ids[16];
	int created;
};

static void *client_main(void *arg)
{
	struct client_job *job = arg;
	struct th_conn *c = th_connect_tcp(job->d->port);
	char *body = task_body(job->repo, NULL);
	for (int i = 0; i < job->count; i++) {
		char req[1024];
		snprintf(req, sizeof(req),
			 "POST /v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: "
			 "%zu\r\n\r\n",
			 strlen(body));
		th_conn_send_str(c, req);
		th_conn_send_str(c, body);
		struct th_response r;
		if (th_conn_read_response(c, &r, false, 20000) == 0 && r.status == 201) {
			cJSON *json = cJSON_Parse(r.body.data);
			job->ids[job->created++] = xstrdup(str(json, "id"));
			cJSON_Delete(json);
		}
		th_response_free(&r);
	}
	free(body);
	th_conn_close(c);
	return NULL;
}

TEST(sixteen_concurrent_clients_submit_200_tasks)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	double writes_before = th_metric(d, "agentd_store_writes_total");
	struct client_job jobs[16];
	pthread_t threads[16];
	for (int i = 0; i < 16; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].d = d;
		jobs[i].repo = repo;
		jobs[i].count = i < 8 ? 12 : 13;
		pthread_create(&threads[i], NULL, client_main, &jobs[i]);
	}
	int created = 0;
	for (int i = 0; i < 16; i++) {
		pthread_join(threads[i], NULL);
		created += jobs[i].created;
	}
	CHECK_INT(created, ==, 200);
	/* Every acknowledged task exists exactly once. */
	int found[16][16];
	memset(found, 0, sizeof(found));
	int total = 0;
	char path[128] = "/v1/tasks?limit=500";
	int status;
	cJSON *page = get_json(d, path, &status);
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(page, "tasks"))
	{
		total++;
		for (int i = 0; i < 16; i++)
			for (int k = 0; k < jobs[i].created; k++)
				if (strcmp(jobs[i].ids[k], str(t, "id")) == 0)
					found[i][k]++;
	}
	cJSON_Delete(page);
	CHECK_INT(total, ==, 200);
	for (int i = 0; i < 16; i++)
		for (int k = 0; k < jobs[i].created; k++) {
			CHECK_INT(found[i][k], ==, 1);
			free(jobs[i].ids[k]);
		}
	/* Group commit: fewer transactions than tasks. */
	double commits = th_metric(d, "agentd_store_commits_total");
	double writes = th_metric(d, "agentd_store_writes_total");
	CHECK_INT(writes - writes_before, ==, 200);
	CHECK_INT(commits, <, writes);
	th_daemon_stop(d);
	free(repo);
}

TEST(content_type_must_be_json)
{
	char *repo = make_repo();
	struct th_daemon *d = th_daemon_start(NULL);
	char *body = task_body(repo, NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	char head[256];
	snprintf(head, sizeof(head),
		 "POST /v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 strlen(body));
	th_conn_send_str(c, head);
	th_conn_send_str(c, body);
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 415);
	CHECK_CONTAINS(r.body.data, "unsupported_media_type");
	th_response_free(&r);
	/* charset parameters are fine. */
	snprintf(head, sizeof(head),
		 "POST /v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json; charset=utf-8\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 strlen(body));
	th_conn_send_str(c, head);
	th_conn_send_str(c, body);
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 201);
	th_response_free(&r);
	th_conn_close(c);
	free(body);
	th_daemon_stop(d);
	free(repo);
}
