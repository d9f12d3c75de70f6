/* The task JSON codec and submission validation (no daemon involved). */
#include <stdlib.h>

#include "common/xalloc.h"
#include "proto/json.h"
#include "proto/task.h"
#include "tests/harness/harness.h"

static const struct task_limits limits = {
	.defaults = {30, 100000, 1200},
	.ceilings = {200, 1000000, 7200},
};

/* Parses text as a submission; returns rc and fills field/err. */
static int submit(const char *text, struct task *t, char *field, char *err)
{
	cJSON *json = NULL;
	char perr[256];
	int rc = proto_json_parse(text, strlen(text), &json, perr, sizeof(perr));
	if (rc < 0) {
		strcpy(field, "body");
		snprintf(err, 512, "%s", perr);
		return rc;
	}
	rc = task_request_parse(json, &limits, t, field, 128, err, 512);
	cJSON_Delete(json);
	return rc;
}

TEST(codec_round_trip)
{
	struct task t;
	memset(&t, 0, sizeof(t));
	strcpy(t.id, "t_01m8js325jc4an3q5zv8qfsmcr");
	t.state = TASK_AWAITING_REVIEW;
	t.repo = xstrdup("/srv/repo");
	t.repo_identity = xstrdup("/srv/repo");
	t.ref = xstrdup("main");
	t.instruction = xstrdup("fix \"it\"\n\xe2\x9c\x93 \\ \x01\t");
	t.test_command = xstrdup("make check");
	t.priority = -7;
	t.label_count = 2;
	t.labels = xcalloc(2, sizeof(char *));
	t.labels[0] = xstrdup("a");
	t.labels[1] = xstrdup("team:infra");
	t.attempts = 3;
	t.budget = (struct task_budget){10, 2000, 300};
	t.created_ms = 1795926624434;
	t.updated_ms = 1795926624999;
	t.reason = xstrdup("why");
	struct buf out = BUF_INIT;
	task_write_json(&t, &out);
	char *text = buf_steal(&out);
	cJSON *json = cJSON_Parse(text);
	CHECK(json != NULL);
	CHECK_CONTAINS(text, "\"created_at\":\"2026-11-29T04:30:24.434Z\"");
	CHECK_CONTAINS(text, "\"state\":\"awaiting_review\"");
	/* Strings are escaped; UTF-8 passes through. */
	CHECK_CONTAINS(text, "\"instruction\":\"fix \\\"it\\\"\\n\xe2\x9c\x93 \\\\ \\u0001\\t\"");
	struct task back;
	char err[256];
	CHECK_INT(task_from_json(json, &back, err, sizeof(err)), ==, 0);
	CHECK_STR(back.id, t.id);
	CHECK_INT(back.state, ==, t.state);
	CHECK_STR(back.instruction, t.instruction);
	CHECK_STR(back.labels[1], "team:infra");
	CHECK_INT(back.label_count, ==, 2);
	CHECK_INT(back.priority, ==, -7);
	CHECK_INT(back.attempts, ==, 3);
	CHECK_INT(back.budget.max_tokens, ==, 2000);
	CHECK_INT(back.created_ms, ==, t.created_ms);
	CHECK_INT(back.updated_ms, ==, t.updated_ms);
	CHECK_STR(back.reason, "why");
	task_free_fields(&back);
	cJSON_Delete(json);
	free(text);
	task_free_fields(&t);
	/* Missing or malformed essentials are refused. */
	cJSON *bad = cJSON_Parse("{\"id\":\"t_x\",\"state\":\"sleeping\"}");
	CHECK_INT(task_from_json(bad, &back, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "state");
	cJSON_Delete(bad);
}

TEST(time_format)
{
	char out[40];
	task_format_time(0, out, sizeof(out));
	CHECK_STR(out, "1970-01-01T00:00:00.000Z");
	int64_t ms;
	CHECK_INT(task_parse_time("2026-11-29T04:30:24.434Z", &ms), ==, 0);
	CHECK_INT(ms, ==, 1795926624434);
	CHECK_INT(task_parse_time("2026-11-29 04:30:24", &ms), <, 0);
	CHECK_INT(task_parse_time("2026-11-29T04:30:24.434Zjunk", &ms), <, 0);
}

TEST(minimal_submission_gets_defaults)
{
	struct task t;
	char field[128], err[512];
	CHECK_INT(submit("{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\"}", &t, field, err), ==, 0);
	CHECK_STR(t.ref, "HEAD");
	CHECK_INT(t.priority, ==, 0);
	CHECK_INT(t.attempts, ==, 1);
	CHECK_INT(t.label_count, ==, 0);
	CHECK_INT(t.budget.max_steps, ==, 30);
	CHECK_INT(t.budget.max_tokens, ==, 100000);
	CHECK_INT(t.budget.max_seconds, ==, 1200);
	task_free_fields(&t);
	CHECK_INT(
		submit("{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_steps\":200}}",
		       &t, field, err),
		==, 0);
	CHECK_INT(t.budget.max_steps, ==, 200);
	CHECK_INT(t.budget.max_tokens, ==, 100000);
	task_free_fields(&t);
}

TEST(each_rule_names_its_field)
{
	struct {
		const char *body;
		const char *field;
		const char *message;
	} cases[] = {
		{"[]", "body", "must be a JSON object"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"colour\":1}", "colour",
		 "unknown field"},
		{"{\"instruction\":\"i\",\"test_command\":\"t\"}", "repo", "is required"},
		{"{\"repo\":\"/r\",\"test_command\":\"t\"}", "instruction", "is required"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\"}", "test_command", "is required"},
		{"{\"repo\":7,\"instruction\":\"i\",\"test_command\":\"t\"}", "repo", "must be a string"},
		{"{\"repo\":\"/r\",\"instruction\":\"\",\"test_command\":\"t\"}", "instruction", "must not be empty"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"\"}", "test_command", "must not be empty"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"priority\":101}", "priority",
		 "-100 to 100"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"priority\":-101}", "priority",
		 "-100 to 100"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"priority\":1.5}", "priority",
		 "integer"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"priority\":\"1\"}", "priority",
		 "integer"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"attempts\":0}", "attempts", "1 to 8"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"attempts\":9}", "attempts", "1 to 8"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"labels\":\"a\"}", "labels", "array"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"labels\":[\"a b\"]}", "labels",
		 "not a label"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"labels\":[\"a\",\"a\"]}", "labels",
		 "twice"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"labels\":[1]}", "labels", "strings"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":5}", "budget", "object"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_steps\":201}}",
		 "budget.max_steps", "1 to 200"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_tokens\":0}}",
		 "budget.max_tokens", "1 to 1000000"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_seconds\":7201}}",
		 "budget.max_seconds", "1 to 7200"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"budget\":{\"max_money\":1}}",
		 "budget.max_money", "unknown field"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"ref\":\"--upload-pack=x\"}", "ref",
		 "not a valid git ref"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"ref\":\"a..b\"}", "ref",
		 "not a valid git ref"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"repo\":\"/s\"}", "repo",
		 "more than once"},
		{"{\"repo\":\"/r\",\"instruction\":\"a\\u0000b\",\"test_command\":\"t\"}", "body", "NUL"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\"} x", "body", "trailing data"},
		{"{\"repo\":\"/r\",\"instruction\":\"i\",", "body", "not valid JSON"},
		{"{\"repo\":\"/r\",\"instruction\":\"\xff\",\"test_command\":\"t\"}", "body", "UTF-8"},
		{"{\"repo\":\"/r\",\"instruction\":\"\\ud800\",\"test_command\":\"t\"}", "body", "not valid JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct task t;
		char field[128] = "", err[512] = "";
		int rc = submit(cases[i].body, &t, field, err);
		if (rc == 0)
			th_fail(__FILE__, __LINE__, "accepted: %s", cases[i].body);
		if (strcmp(field, cases[i].field) != 0 || !strstr(err, cases[i].message))
			th_fail(__FILE__, __LINE__, "%s: field '%s' message '%s'", cases[i].body, field, err);
		task_free_fields(&t);
	}
}

TEST(size_limits_are_exact)
{
	struct task t;
	char field[128], err[512];
	struct buf b = BUF_INIT;
	buf_append_str(&b, "{\"repo\":\"/r\",\"test_command\":\"t\",\"instruction\":\"");
	for (int i = 0; i < TASK_INSTRUCTION_MAX; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\"}");
	CHECK_INT(submit(b.data, &t, field, err), ==, 0);
	CHECK_INT(strlen(t.instruction), ==, TASK_INSTRUCTION_MAX);
	task_free_fields(&t);
	buf_reset(&b);
	buf_append_str(&b, "{\"repo\":\"/r\",\"test_command\":\"t\",\"instruction\":\"");
	for (int i = 0; i <= TASK_INSTRUCTION_MAX; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\"}");
	CHECK_INT(submit(b.data, &t, field, err), <, 0);
	CHECK_STR(field, "instruction");
	CHECK_CONTAINS(err, "65537 bytes, more than the 65536 allowed");
	task_free_fields(&t);
	buf_reset(&b);
	buf_append_str(&b, "{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"");
	for (int i = 0; i <= TASK_TEST_COMMAND_MAX; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\"}");
	CHECK_INT(submit(b.data, &t, field, err), <, 0);
	CHECK_STR(field, "test_command");
	task_free_fields(&t);
	buf_reset(&b);
	buf_append_str(&b, "{\"repo\":\"/r\",\"instruction\":\"i\",\"test_command\":\"t\",\"labels\":[");
	for (int i = 0; i < 17; i++)
		buf_printf(&b, "%s\"l%d\"", i ? "," : "", i);
	buf_append_str(&b, "]}");
	CHECK_INT(submit(b.data, &t, field, err), <, 0);
	CHECK_CONTAINS(err, "17 labels, more than the 16 allowed");
	task_free_fields(&t);
	buf_free(&b);
	CHECK(task_label_valid("a"));
	char label[66];
	memset(label, 'l', 65);
	label[65] = '\0';
	CHECK(!task_label_valid(label));
	label[64] = '\0';
	CHECK(task_label_valid(label));
}

TEST(refs)
{
	const char *good[] = {"HEAD", "main", "feature/x-1", "v1.2.3", "0123456789abcdef0123456789abcdef01234567"};
	for (size_t i = 0; i < 5; i++)
		CHECK(task_ref_valid(good[i]));
	const char *bad[] = {"",     "-x",     "a b", "a..b", "a~1",  "a^",    "a:b",     "a?",   "a*", "a[",
			     "a\\b", "x.lock", "a/",  "/a",   "a//b", "@{-1}", ".hidden", "a/.b", "a.", "tab\there"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (task_ref_valid(bad[i]))
			th_fail(__FILE__, __LINE__, "ref '%s' accepted", bad[i]);
	}
}
