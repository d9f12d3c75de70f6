/* The task object's JSON codec and submission validation. */
#include "proto/task.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "proto/json.h"

void task_free_fields(struct task *t)
{
	free(t->repo);
	free(t->repo_identity);
	free(t->ref);
	free(t->instruction);
	free(t->test_command);
	for (size_t i = 0; i < t->label_count; i++)
		free(t->labels[i]);
	free(t->labels);
	free(t->reason);
	memset(t, 0, sizeof(*t));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void task_copy(struct task *dst, const struct task *src)
{
	*dst = *src;
	dst->repo = dup_or_null(src->repo);
	dst->repo_identity = dup_or_null(src->repo_identity);
	dst->ref = dup_or_null(src->ref);
	dst->instruction = dup_or_null(src->instruction);
	dst->test_command = dup_or_null(src->test_command);
	dst->reason = dup_or_null(src->reason);
	dst->labels = src->label_count ? xcalloc(src->label_count, sizeof(char *)) : NULL;
	for (size_t i = 0; i < src->label_count; i++)
		dst->labels[i] = xstrdup(src->labels[i]);
}

void task_format_time(int64_t ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03dZ", base, (int)(ms % 1000));
}

int task_parse_time(const char *text, int64_t *ms)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int millis = 0;
	char z = 0;
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, &millis, &z) != 8 ||
	    z != 'Z' || strlen(text) != 24)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t secs = timegm(&tm);
	*ms = (int64_t)secs * 1000 + millis;
	return 0;
}

bool task_ref_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TASK_REF_MAX || s[0] == '-' || s[0] == '/' || s[n - 1] == '/' || s[n - 1] == '.')
		return false;
	if (strstr(s, "..") || strstr(s, "@{") || strstr(s, "//") || strstr(s, "/.") || s[0] == '.')
		return false;
	if (n >= 5 && strcmp(s + n - 5, ".lock") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || strchr("~^:?*[\\", c))
			return false;
	}
	return true;
}

bool task_label_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TASK_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("._:/+-", c) != NULL;
		if (!ok)
			return false;
	}
	return true;
}

void task_write_json(const struct task *t, struct buf *out)
{
	buf_append_char(out, '{');
	task_write_json_members(t, out);
	buf_append_char(out, '}');
}

void task_write_json_members(const struct task *t, struct buf *out)
{
	char when[40];
	buf_append_str(out, "\"id\":");
	json_write_string(out, t->id);
	buf_printf(out, ",\"state\":\"%s\",\"repo\":", task_state_name(t->state));
	json_write_string(out, t->repo ? t->repo : "");
	buf_append_str(out, ",\"repo_identity\":");
	json_write_string(out, t->repo_identity ? t->repo_identity : "");
	buf_append_str(out, ",\"ref\":");
	json_write_string(out, t->ref ? t->ref : "");
	buf_append_str(out, ",\"instruction\":");
	json_write_string(out, t->instruction ? t->instruction : "");
	buf_append_str(out, ",\"test_command\":");
	json_write_string(out, t->test_command ? t->test_command : "");
	buf_printf(out, ",\"priority\":%d,\"labels\":[", t->priority);
	for (size_t i = 0; i < t->label_count; i++) {
		if (i)
			buf_append_char(out, ',');
		json_write_string(out, t->labels[i]);
	}
	buf_printf(out,
		   "],\"attempts\":%d,\"verify_repeats\":%d,\"budget\":{\"max_steps\":%lld,\"max_tokens\":%lld,"
		   "\"max_seconds\":%lld},\"baseline_passed\":%s,\"chosen_run\":",
		   t->attempts, t->verify_repeats ? t->verify_repeats : 1, (long long)t->budget.max_steps,
		   (long long)t->budget.max_tokens, (long long)t->budget.max_seconds,
		   t->baseline_passed < 0 ? "null"
		   : t->baseline_passed   ? "true"
					  : "false");
	json_write_string_or_null(out, t->chosen_run[0] ? t->chosen_run : NULL);
	task_format_time(t->created_ms, when, sizeof(when));
	buf_printf(out, ",\"created_at\":\"%s\"", when);
	task_format_time(t->updated_ms, when, sizeof(when));
	buf_printf(out, ",\"updated_at\":\"%s\",\"reason\":", when);
	json_write_string_or_null(out, t->reason);
}

/* Reads an integer field that must lie in [lo, hi]. */
static int json_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out)
{
	if (!cJSON_IsNumber(item))
		return -EINVAL;
	double d = item->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
		return -ERANGE;
	*out = (int64_t)d;
	return 0;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

int task_from_json(const cJSON *json, struct task *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *id = json_str(json, "id");
	const char *state = json_str(json, "state");
	const char *created = json_str(json, "created_at");
	const char *updated = json_str(json, "updated_at");
	if (!cJSON_IsObject(json) || !id || strlen(id) >= TASK_ID_MAX) {
		snprintf(err, errlen, "task: missing or bad 'id'");
		return -EINVAL;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	if (!state || task_state_parse(state, &out->state) < 0) {
		snprintf(err, errlen, "task %s: bad 'state'", id);
		return -EINVAL;
	}
	if (!created || task_parse_time(created, &out->created_ms) < 0 || !updated ||
	    task_parse_time(updated, &out->updated_ms) < 0) {
		snprintf(err, errlen, "task %s: bad 'created_at' or 'updated_at'", id);
		return -EINVAL;
	}
	out->repo = dup_or_null(json_str(json, "repo"));
	out->repo_identity = dup_or_null(json_str(json, "repo_identity"));
	out->ref = dup_or_null(json_str(json, "ref"));
	out->instruction = dup_or_null(json_str(json, "instruction"));
	out->test_command = dup_or_null(json_str(json, "test_command"));
	out->reason = dup_or_null(json_str(json, "reason"));
	int64_t v;
	if (json_int(cJSON_GetObjectItemCaseSensitive(json, "priority"), INT32_MIN, INT32_MAX, &v) == 0)
		out->priority = (int)v;
	if (json_int(cJSON_GetObjectItemCaseSensitive(json, "attempts"), 0, INT32_MAX, &v) == 0)
		out->attempts = (int)v;
	if (json_int(cJSON_GetObjectItemCaseSensitive(json, "verify_repeats"), 0, INT32_MAX, &v) == 0)
		out->verify_repeats = (int)v;
	const cJSON *baseline = cJSON_GetObjectItemCaseSensitive(json, "baseline_passed");
	out->baseline_passed = cJSON_IsBool(baseline) ? cJSON_IsTrue(baseline) : -1;
	const char *chosen = json_str(json, "chosen_run");
	snprintf(out->chosen_run, sizeof(out->chosen_run), "%s", chosen ? chosen : "");
	const cJSON *budget = cJSON_GetObjectItemCaseSensitive(json, "budget");
	json_int(cJSON_GetObjectItemCaseSensitive(budget, "max_steps"), 0, INT64_MAX / 2, &out->budget.max_steps);
	json_int(cJSON_GetObjectItemCaseSensitive(budget, "max_tokens"), 0, INT64_MAX / 2, &out->budget.max_tokens);
	json_int(cJSON_GetObjectItemCaseSensitive(budget, "max_seconds"), 0, INT64_MAX / 2, &out->budget.max_seconds);
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(json, "labels");
	int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : 0;
	if (n > 0) {
		out->labels = xcalloc((size_t)n, sizeof(char *));
		const cJSON *l;
		cJSON_ArrayForEach(l, labels)
		{
			if (cJSON_IsString(l))
				out->labels[out->label_count++] = xstrdup(l->valuestring);
		}
	}
	return 0;
}

/* Fills field/err and returns -EINVAL. */
static int request_fail(char *field, size_t fieldlen, const char *name, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int request_fail(char *field, size_t fieldlen, const char *name, char *err, size_t errlen, const char *fmt, ...)
{
	snprintf(field, fieldlen, "%s", name);
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", name, why);
	return -EINVAL;
}

/* A required or optional text field: valid UTF-8, no NUL, length bounds. */
static int request_text(const cJSON *item, const char *name, size_t min, size_t max, char **out, char *field,
			size_t fieldlen, char *err, size_t errlen)
{
	if (!cJSON_IsString(item))
		return request_fail(field, fieldlen, name, err, errlen, "must be a string");
	size_t len = strlen(item->valuestring);
	if (len < min)
		return request_fail(field, fieldlen, name, err, errlen, "must not be empty");
	if (len > max)
		return request_fail(field, fieldlen, name, err, errlen, "is %zu bytes, more than the %zu allowed", len,
				    max);
	if (!utf8_valid(item->valuestring, len, NULL))
		return request_fail(field, fieldlen, name, err, errlen, "is not valid UTF-8");
	*out = xstrdup(item->valuestring);
	return 0;
}

/* Refuses a second occurrence of any key in object o. */
static int request_no_duplicates(const cJSON *o, const char *prefix, char *field, size_t fieldlen, char *err,
				 size_t errlen)
{
	for (const cJSON *a = o->child; a; a = a->next) {
		for (const cJSON *b = a->next; b; b = b->next) {
			if (strcmp(a->string, b->string) == 0) {
				char name[128];
				snprintf(name, sizeof(name), "%s%s", prefix, a->string);
				return request_fail(field, fieldlen, name, err, errlen, "appears more than once");
			}
		}
	}
	return 0;
}

static int request_budget(const cJSON *item, const struct task_limits *limits, struct task_budget *out, char *field,
			  size_t fieldlen, char *err, size_t errlen)
{
	*out = limits->defaults;
	if (!item)
		return 0;
	if (!cJSON_IsObject(item))
		return request_fail(field, fieldlen, "budget", err, errlen,
				    "must be an object with max_steps, max_tokens and/or max_seconds");
	int rc = request_no_duplicates(item, "budget.", field, fieldlen, err, errlen);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		int64_t *dst;
		int64_t ceiling;
		if (strcmp(c->string, "max_steps") == 0)
			dst = &out->max_steps, ceiling = limits->ceilings.max_steps;
		else if (strcmp(c->string, "max_tokens") == 0)
			dst = &out->max_tokens, ceiling = limits->ceilings.max_tokens;
		else if (strcmp(c->string, "max_seconds") == 0)
			dst = &out->max_seconds, ceiling = limits->ceilings.max_seconds;
		else {
			char name[128];
			snprintf(name, sizeof(name), "budget.%.100s", c->string);
			return request_fail(field, fieldlen, name, err, errlen,
					    "unknown field (budget has max_steps, max_tokens, max_seconds)");
		}
		char name[64];
		snprintf(name, sizeof(name), "budget.%s", c->string);
		int64_t v;
		rc = json_int(c, 1, ceiling, &v);
		if (rc == -EINVAL)
			return request_fail(field, fieldlen, name, err, errlen, "must be an integer");
		if (rc == -ERANGE)
			return request_fail(field, fieldlen, name, err, errlen,
					    "must be an integer from 1 to %lld (this daemon's ceiling)",
					    (long long)ceiling);
		*dst = v;
	}
	return 0;
}

static int request_labels(const cJSON *item, struct task *out, char *field, size_t fieldlen, char *err, size_t errlen)
{
	if (!cJSON_IsArray(item))
		return request_fail(field, fieldlen, "labels", err, errlen, "must be an array of strings");
	int n = cJSON_GetArraySize(item);
	if (n > TASK_LABELS_MAX)
		return request_fail(field, fieldlen, "labels", err, errlen, "has %d labels, more than the %d allowed",
				    n, TASK_LABELS_MAX);
	out->labels = n ? xcalloc((size_t)n, sizeof(char *)) : NULL;
	const cJSON *l;
	cJSON_ArrayForEach(l, item)
	{
		if (!cJSON_IsString(l))
			return request_fail(field, fieldlen, "labels", err, errlen, "must be an array of strings");
		if (!task_label_valid(l->valuestring))
			return request_fail(field, fieldlen, "labels", err, errlen,
					    "'%.80s' is not a label (1 to %d characters of A-Z a-z 0-9 . _ : / + -)",
					    l->valuestring, TASK_LABEL_MAX);
		for (size_t i = 0; i < out->label_count; i++) {
			if (strcmp(out->labels[i], l->valuestring) == 0)
				return request_fail(field, fieldlen, "labels", err, errlen, "'%s' is listed twice",
						    l->valuestring);
		}
		out->labels[out->label_count++] = xstrdup(l->valuestring);
	}
	return 0;
}

int task_request_parse(const cJSON *body, const struct task_limits *limits, struct task *out, char *field,
		       size_t fieldlen, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->attempts = 1;
	out->verify_repeats = 1;
	out->baseline_passed = -1;
	out->budget = limits->defaults;
	field[0] = '\0';
	if (!cJSON_IsObject(body))
		return request_fail(field, fieldlen, "body", err, errlen, "must be a JSON object");
	int rc = request_no_duplicates(body, "", field, fieldlen, err, errlen);
	if (rc)
		return rc;
	static const char *const known[] = {"repo",   "ref",      "instruction", "test_command",  "priority",
					    "labels", "attempts", "budget",      "verify_repeats"};
	for (const cJSON *c = body->child; c; c = c->next) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(c->string, known[i]) == 0;
		if (!ok) {
			char name[128];
			snprintf(name, sizeof(name), "%.100s", c->string);
			return request_fail(field, fieldlen, name, err, errlen, "unknown field");
		}
	}
	const cJSON *item;
	if (!(item = cJSON_GetObjectItemCaseSensitive(body, "repo")))
		return request_fail(field, fieldlen, "repo", err, errlen, "is required");
	if ((rc = request_text(item, "repo", 1, TASK_REPO_MAX, &out->repo, field, fieldlen, err, errlen)))
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(body, "ref");
	if (!item || cJSON_IsNull(item))
		out->ref = xstrdup("HEAD");
	else if ((rc = request_text(item, "ref", 1, TASK_REF_MAX, &out->ref, field, fieldlen, err, errlen)))
		return rc;
	else if (!task_ref_valid(out->ref))
		return request_fail(field, fieldlen, "ref", err, errlen,
				    "'%.80s' is not a valid git ref (branch, tag, commit or HEAD)", out->ref);
	if (!(item = cJSON_GetObjectItemCaseSensitive(body, "instruction")))
		return request_fail(field, fieldlen, "instruction", err, errlen, "is required");
	if ((rc = request_text(item, "instruction", 1, TASK_INSTRUCTION_MAX, &out->instruction, field, fieldlen, err,
			       errlen)))
		return rc;
	if (!(item = cJSON_GetObjectItemCaseSensitive(body, "test_command")))
		return request_fail(field, fieldlen, "test_command", err, errlen, "is required");
	if ((rc = request_text(item, "test_command", 1, TASK_TEST_COMMAND_MAX, &out->test_command, field, fieldlen, err,
			       errlen)))
		return rc;
	int64_t v;
	if ((item = cJSON_GetObjectItemCaseSensitive(body, "priority"))) {
		if (json_int(item, TASK_PRIORITY_MIN, TASK_PRIORITY_MAX, &v) < 0)
			return request_fail(field, fieldlen, "priority", err, errlen,
					    "must be an integer from %d to %d", TASK_PRIORITY_MIN, TASK_PRIORITY_MAX);
		out->priority = (int)v;
	}
	if ((item = cJSON_GetObjectItemCaseSensitive(body, "attempts"))) {
		if (json_int(item, 1, TASK_ATTEMPTS_MAX, &v) < 0)
			return request_fail(field, fieldlen, "attempts", err, errlen, "must be an integer from 1 to %d",
					    TASK_ATTEMPTS_MAX);
		out->attempts = (int)v;
	}
	if ((item = cJSON_GetObjectItemCaseSensitive(body, "verify_repeats"))) {
		if (json_int(item, 1, TASK_VERIFY_REPEATS_MAX, &v) < 0)
			return request_fail(field, fieldlen, "verify_repeats", err, errlen,
					    "must be an integer from 1 to %d", TASK_VERIFY_REPEATS_MAX);
		out->verify_repeats = (int)v;
	}
	if ((item = cJSON_GetObjectItemCaseSensitive(body, "labels")) &&
	    (rc = request_labels(item, out, field, fieldlen, err, errlen)))
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(body, "budget");
	return request_budget(item, limits, &out->budget, field, fieldlen, err, errlen);
}
