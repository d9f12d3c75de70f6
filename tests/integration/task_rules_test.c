/* One test per validation rule of POST /v1/tasks, through a real agentd:
 * each bad submission gets 400 invalid_argument naming its field, and
 * nothing is stored. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"

static char *repo_path;

static struct th_daemon *start(const char *const *args)
{
	repo_path = xasprintf("%s/repo", th_tempdir());
	th_git_repo(repo_path);
	return th_daemon_start(args);
}

/* Submits body (with REPO replaced by the fixture repository) and expects
 * a 400 naming field, with message in it. */
static void expect_invalid(struct th_daemon *d, const char *body, const char *field, const char *message)
{
	struct buf b = BUF_INIT;
	const char *at = strstr(body, "REPO");
	if (at) {
		buf_append(&b, body, (size_t)(at - body));
		buf_append_str(&b, repo_path);
		buf_append_str(&b, at + 4);
	} else {
		buf_append_str(&b, body);
	}
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", b.data, NULL, &r);
	if (r.status != 400)
		th_fail(__FILE__, __LINE__, "%s: status %d: %s", b.data, r.status, r.body.data);
	cJSON *json = cJSON_Parse(r.body.data);
	const cJSON *e = cJSON_GetObjectItem(json, "error");
	CHECK_STR(cJSON_GetObjectItem(e, "code")->valuestring, "invalid_argument");
	CHECK_STR(cJSON_GetObjectItem(e, "field")->valuestring, field);
	CHECK_CONTAINS(cJSON_GetObjectItem(e, "message")->valuestring, message);
	cJSON_Delete(json);
	th_response_free(&r);
	buf_free(&b);
	CHECK_INT(th_metric(d, "agentd_tasks{state=\"queued\"}"), ==, 0);
}

#define BASE "\"repo\":\"REPO\",\"instruction\":\"i\",\"test_command\":\"t\""

TEST(body_must_be_a_json_object)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{\"repo\":", "body", "not valid JSON");
	expect_invalid(d, "[1,2]", "body", "must be a JSON object");
	expect_invalid(d, "{" BASE "}{}", "body", "trailing data");
	th_daemon_stop(d);
}

TEST(unknown_field_is_named)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"colour\":\"blue\"}", "colour", "unknown field");
	expect_invalid(d, "{" BASE ",\"budget\":{\"max_cost\":1}}", "budget.max_cost", "unknown field");
	th_daemon_stop(d);
}

TEST(duplicate_field_is_refused)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"priority\":1,\"priority\":2}", "priority", "more than once");
	th_daemon_stop(d);
}

TEST(required_fields)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{\"instruction\":\"i\",\"test_command\":\"t\"}", "repo", "is required");
	expect_invalid(d, "{\"repo\":\"REPO\",\"test_command\":\"t\"}", "instruction", "is required");
	expect_invalid(d, "{\"repo\":\"REPO\",\"instruction\":\"i\"}", "test_command", "is required");
	th_daemon_stop(d);
}

TEST(instruction_size_and_encoding)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{\"repo\":\"REPO\",\"instruction\":\"\",\"test_command\":\"t\"}", "instruction",
		       "must not be empty");
	struct buf b = BUF_INIT;
	buf_append_str(&b, "{\"repo\":\"REPO\",\"test_command\":\"t\",\"instruction\":\"");
	for (int i = 0; i < 65537; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\"}");
	expect_invalid(d, b.data, "instruction", "more than the 65536 allowed");
	buf_free(&b);
	expect_invalid(d, "{\"repo\":\"REPO\",\"instruction\":\"a\\u0000b\",\"test_command\":\"t\"}", "body", "NUL");
	expect_invalid(d, "{\"repo\":\"REPO\",\"instruction\":\"\xc3\x28\",\"test_command\":\"t\"}", "body",
		       "not valid UTF-8");
	th_daemon_stop(d);
}

TEST(test_command_size)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{\"repo\":\"REPO\",\"instruction\":\"i\",\"test_command\":\"\"}", "test_command",
		       "must not be empty");
	struct buf b = BUF_INIT;
	buf_append_str(&b, "{\"repo\":\"REPO\",\"instruction\":\"i\",\"test_command\":\"");
	for (int i = 0; i < 4097; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\"}");
	expect_invalid(d, b.data, "test_command", "more than the 4096 allowed");
	buf_free(&b);
	th_daemon_stop(d);
}

TEST(priority_range)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"priority\":101}", "priority", "from -100 to 100");
	expect_invalid(d, "{" BASE ",\"priority\":-101}", "priority", "from -100 to 100");
	expect_invalid(d, "{" BASE ",\"priority\":2.5}", "priority", "integer");
	expect_invalid(d, "{" BASE ",\"priority\":\"high\"}", "priority", "integer");
	th_daemon_stop(d);
}

TEST(labels_rules)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"labels\":\"a\"}", "labels", "array of strings");
	expect_invalid(d, "{" BASE ",\"labels\":[\"has space\"]}", "labels", "not a label");
	expect_invalid(d, "{" BASE ",\"labels\":[\"a\",\"a\"]}", "labels", "listed twice");
	expect_invalid(d,
		       "{" BASE
		       ",\"labels\":[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\","
		       "\"12\",\"13\",\"14\",\"15\",\"16\"]}",
		       "labels", "17 labels, more than the 16 allowed");
	expect_invalid(d,
		       "{" BASE ",\"labels\":[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]}",
		       "labels", "not a label");
	th_daemon_stop(d);
}

TEST(attempts_range)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"attempts\":0}", "attempts", "from 1 to 8");
	expect_invalid(d, "{" BASE ",\"attempts\":9}", "attempts", "from 1 to 8");
	th_daemon_stop(d);
}

TEST(budget_ceilings_come_from_the_daemon)
{
	const char *args[] = {"--budget-steps-max",
			      "50",
			      "--budget-tokens-max",
			      "5000",
			      "--budget-time-max",
			      "10m",
			      "--budget-steps",
			      "20",
			      "--budget-tokens",
			      "4000",
			      "--budget-time",
			      "5m",
			      NULL};
	struct th_daemon *d = start(args);
	expect_invalid(d, "{" BASE ",\"budget\":{\"max_steps\":51}}", "budget.max_steps", "from 1 to 50");
	expect_invalid(d, "{" BASE ",\"budget\":{\"max_tokens\":5001}}", "budget.max_tokens", "from 1 to 5000");
	expect_invalid(d, "{" BASE ",\"budget\":{\"max_seconds\":601}}", "budget.max_seconds", "from 1 to 600");
	expect_invalid(d, "{" BASE ",\"budget\":{\"max_steps\":0}}", "budget.max_steps", "from 1 to 50");
	expect_invalid(d, "{" BASE ",\"budget\":[]}", "budget", "must be an object");
	/* At the ceiling is fine, and the defaults fill the rest. */
	char *body = xasprintf(
		"{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_steps\":50}}",
		repo_path);
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	CHECK_INT(r.status, ==, 201);
	CHECK_CONTAINS(r.body.data, "\"budget\":{\"max_steps\":50,\"max_tokens\":4000,\"max_seconds\":300}");
	th_response_free(&r);
	free(body);
	th_daemon_stop(d);
}

TEST(ref_must_be_a_safe_git_ref)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{" BASE ",\"ref\":\"--upload-pack=touch /tmp/pwned\"}", "ref", "not a valid git ref");
	expect_invalid(d, "{" BASE ",\"ref\":\"main..evil\"}", "ref", "not a valid git ref");
	expect_invalid(d, "{" BASE ",\"ref\":\"\"}", "ref", "must not be empty");
	th_daemon_stop(d);
}

TEST(local_repo_must_exist_and_be_git)
{
	struct th_daemon *d = start(NULL);
	expect_invalid(d, "{\"repo\":\"/nonexistent/repo\",\"instruction\":\"i\",\"test_command\":\"t\"}", "repo",
		       "No such file or directory");
	char *plain = xasprintf("%s/plain", th_tempdir());
	CHECK_INT(mkdir(plain, 0755), ==, 0);
	char *body = xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", plain);
	expect_invalid(d, body, "repo", "is not a git repository");
	free(body);
	body = xasprintf("{\"repo\":\"file://%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", plain);
	expect_invalid(d, body, "repo", "is not a git repository");
	free(body);
	free(plain);
	expect_invalid(d, "{\"repo\":\"relative/path\",\"instruction\":\"i\",\"test_command\":\"t\"}", "repo",
		       "must be an absolute path");
	expect_invalid(d, "{\"repo\":\"ftp://host/x.git\",\"instruction\":\"i\",\"test_command\":\"t\"}", "repo",
		       "must be an absolute path");
	th_daemon_stop(d);
}

TEST(urls_with_credentials_are_refused)
{
	struct th_daemon *d = start(NULL);
	const char *bad[] = {
		"https://user:secret@example.com/org/repo.git",
		"https://ghp_token@example.com/org/repo.git",
		"ssh://git:pw@example.com/org/repo.git",
		"git://anon@example.com/org/repo.git",
	};
	for (size_t i = 0; i < 4; i++) {
		char *body = xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", bad[i]);
		expect_invalid(d, body, "repo", "credentials");
		free(body);
	}
	expect_invalid(
		d,
		"{\"repo\":\"https://example.com/org/repo.git?token=x\",\"instruction\":\"i\",\"test_command\":\"t\"}",
		"repo", "query");
	th_daemon_stop(d);
	/* The secret never reached the log either. */
	char *log = th_daemon_log(d);
	CHECK(strstr(log, "secret") == NULL);
	CHECK(strstr(log, "ghp_token") == NULL);
	free(log);
}

TEST(url_identity_drops_user_and_dot_git)
{
	struct th_daemon *d = start(NULL);
	struct {
		const char *repo;
		const char *identity;
	} cases[] = {
		{"https://Example.COM/Org/Repo.git", "https://example.com/Org/Repo"},
		{"https://example.com/org/repo/", "https://example.com/org/repo"},
		{"ssh://git@example.com:2222/org/repo.git", "ssh://example.com:2222/org/repo"},
		{"git://example.com/org/repo", "git://example.com/org/repo"},
	};
	for (size_t i = 0; i < 4; i++) {
		char *body = xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", cases[i].repo);
		struct th_response r;
		th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
		CHECK_INT(r.status, ==, 201);
		cJSON *json = cJSON_Parse(r.body.data);
		CHECK_STR(cJSON_GetObjectItem(json, "repo_identity")->valuestring, cases[i].identity);
		CHECK_STR(cJSON_GetObjectItem(json, "repo")->valuestring, cases[i].repo);
		cJSON_Delete(json);
		th_response_free(&r);
		free(body);
	}
	th_daemon_stop(d);
}

TEST(repo_roots_refuse_dotdot_and_symlink_escapes)
{
	const char *dir = th_tempdir();
	char *root = xasprintf("%s/root", dir);
	char *inside = xasprintf("%s/root/project", dir);
	char *outside = xasprintf("%s/outside", dir);
	th_git_repo(inside);
	th_git_repo(outside);
	char *link = xasprintf("%s/root/sneaky", dir);
	CHECK_INT(symlink(outside, link), ==, 0);
	const char *args[] = {"--repo-root", root, NULL};
	repo_path = inside;
	struct th_daemon *d = th_daemon_start(args);
	char *body = xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", inside);
	struct th_response r;
	th_http_json(d, "POST", "/v1/tasks", body, NULL, &r);
	CHECK_INT(r.status, ==, 201);
	th_response_free(&r);
	free(body);
	char *escapes[] = {
		xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", outside),
		xasprintf("{\"repo\":\"%s/../outside\",\"instruction\":\"i\",\"test_command\":\"t\"}", root),
		xasprintf("{\"repo\":\"%s/project/../../outside\",\"instruction\":\"i\",\"test_command\":\"t\"}", root),
		xasprintf("{\"repo\":\"%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", link),
		xasprintf("{\"repo\":\"file://%s\",\"instruction\":\"i\",\"test_command\":\"t\"}", link),
	};
	for (size_t i = 0; i < 5; i++) {
		th_http_json(d, "POST", "/v1/tasks", escapes[i], NULL, &r);
		if (r.status != 400 || !strstr(r.body.data, "outside every --repo-root"))
			th_fail(__FILE__, __LINE__, "%s: %d %s", escapes[i], r.status, r.body.data);
		th_response_free(&r);
		free(escapes[i]);
	}
	CHECK_INT(th_metric(d, "agentd_tasks{state=\"queued\"}"), ==, 1);
	th_daemon_stop(d);
	/* A root that does not exist stops the daemon at start. */
	char *unused = xasprintf("%s/unused", th_tempdir());
	const char *bad[] = {"--data-dir", unused, "--repo-root", "/nonexistent-root", NULL};
	char *out;
	CHECK_INT(th_run_agentd(bad, &out, 10000), ==, 2);
	free(unused);
	CHECK_CONTAINS(out, "repo-root: '/nonexistent-root' is not an existing directory");
	free(out);
	free(root);
	free(outside);
	free(link);
}
