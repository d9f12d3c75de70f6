/* struct sandbox_result and its JSON form: agentd-sandbox writes one object
 * (--json, --json-fd), the library reads it back. */
#include "sandbox/sandbox.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
	enum sandbox_limit limit; /* the bit */
	const char *name;         /* its name in JSON and messages */
} result_limits[] = {
	{SANDBOX_LIMIT_MEMORY, "memory"},
	{SANDBOX_LIMIT_CPU, "cpu"},
};

#define RESULT_LIMIT_COUNT (sizeof(result_limits) / sizeof(result_limits[0]))

const char *sandbox_limit_name(enum sandbox_limit limit)
{
	for (size_t i = 0; i < RESULT_LIMIT_COUNT; i++) {
		if (result_limits[i].limit == limit)
			return result_limits[i].name;
	}
	return "unknown";
}

void sandbox_result_init(struct sandbox_result *res)
{
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	res->peak_memory_bytes = -1;
}

static void result_add_string_or_null(cJSON *obj, const char *key, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

void sandbox_result_to_json(const struct sandbox_result *res, struct buf *out)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddNumberToObject(obj, "status", res->status);
	if (res->exit_code >= 0)
		cJSON_AddNumberToObject(obj, "exit_code", res->exit_code);
	else
		cJSON_AddNullToObject(obj, "exit_code");
	if (res->signal > 0) {
		cJSON_AddNumberToObject(obj, "signal", res->signal);
		const char *abbrev = sigabbrev_np(res->signal);
		char name[32];
		snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "?");
		cJSON_AddStringToObject(obj, "signal_name", name);
	} else {
		cJSON_AddNullToObject(obj, "signal");
		cJSON_AddNullToObject(obj, "signal_name");
	}
	cJSON_AddBoolToObject(obj, "setup_failed", res->setup_failed);
	cJSON_AddBoolToObject(obj, "timed_out", res->timed_out);
	cJSON_AddBoolToObject(obj, "oom_killed", res->oom_killed);
	cJSON_AddBoolToObject(obj, "killed", res->killed);
	cJSON_AddBoolToObject(obj, "output_truncated", res->output_truncated);
	cJSON_AddNumberToObject(obj, "stdout_bytes", (double)res->stdout_bytes);
	cJSON_AddNumberToObject(obj, "stderr_bytes", (double)res->stderr_bytes);
	cJSON *limits = cJSON_AddArrayToObject(obj, "limits_not_enforced");
	for (size_t i = 0; i < RESULT_LIMIT_COUNT; i++) {
		if (res->limits_not_enforced & result_limits[i].limit)
			cJSON_AddItemToArray(limits, cJSON_CreateString(result_limits[i].name));
	}
	result_add_string_or_null(obj, "limits_note", res->limits_note);
	cJSON_AddNumberToObject(obj, "wall_ms", (double)res->wall_ms);
	cJSON_AddNumberToObject(obj, "cpu_ms", (double)res->cpu_ms);
	if (res->peak_memory_bytes >= 0)
		cJSON_AddNumberToObject(obj, "peak_memory_bytes", (double)res->peak_memory_bytes);
	else
		cJSON_AddNullToObject(obj, "peak_memory_bytes");
	result_add_string_or_null(obj, "error", res->error);
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (text)
		buf_append_str(out, text);
	cJSON_free(text);
}

/* A non-negative integer member; absent or null leaves *out alone. */
static int result_get_uint(const cJSON *obj, const char *key, uint64_t *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!item || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 9007199254740992.0 ||
	    floor(item->valuedouble) != item->valuedouble)
		return -EINVAL;
	*out = (uint64_t)item->valuedouble;
	return 0;
}

static bool result_get_bool(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static void result_get_string(const cJSON *obj, const char *key, char *out, size_t outlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsString(item) && item->valuestring)
		snprintf(out, outlen, "%s", item->valuestring);
}

int sandbox_result_from_json(const char *json, size_t len, struct sandbox_result *res, char *err, size_t errlen)
{
	sandbox_result_init(res);
	/* cJSON stops after the first value: whatever follows it must be
	 * space, or a second object could stand in for the real one. */
	const char *end = NULL;
	cJSON *obj = cJSON_ParseWithLengthOpts(json, len, &end, false);
	int rc = -EINVAL;
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "agentd-sandbox's result is not a JSON object");
		goto out;
	}
	for (; end && end < json + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			snprintf(err, errlen, "agentd-sandbox's result has more after the object");
			goto out;
		}
	}
	uint64_t status = 0, exit_code = UINT64_MAX, sig = 0, peak = UINT64_MAX;
	if (result_get_uint(obj, "status", &status) < 0 || status > 255 ||
	    result_get_uint(obj, "exit_code", &exit_code) < 0 || (exit_code != UINT64_MAX && exit_code > 255) ||
	    result_get_uint(obj, "signal", &sig) < 0 || sig > 64 ||
	    result_get_uint(obj, "peak_memory_bytes", &peak) < 0 ||
	    result_get_uint(obj, "stdout_bytes", &res->stdout_bytes) < 0 ||
	    result_get_uint(obj, "stderr_bytes", &res->stderr_bytes) < 0 ||
	    result_get_uint(obj, "wall_ms", &res->wall_ms) < 0 || result_get_uint(obj, "cpu_ms", &res->cpu_ms) < 0) {
		snprintf(err, errlen, "agentd-sandbox's result has a malformed number");
		goto out;
	}
	res->status = (int)status;
	res->exit_code = exit_code == UINT64_MAX ? -1 : (int)exit_code;
	res->signal = (int)sig;
	res->peak_memory_bytes = peak == UINT64_MAX ? -1 : (int64_t)peak;
	res->setup_failed = result_get_bool(obj, "setup_failed");
	res->timed_out = result_get_bool(obj, "timed_out");
	res->oom_killed = result_get_bool(obj, "oom_killed");
	res->killed = result_get_bool(obj, "killed");
	res->output_truncated = result_get_bool(obj, "output_truncated");
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(obj, "limits_not_enforced");
	const cJSON *name;
	cJSON_ArrayForEach(name, limits)
	{
		for (size_t i = 0; i < RESULT_LIMIT_COUNT; i++) {
			if (cJSON_IsString(name) && strcmp(name->valuestring, result_limits[i].name) == 0)
				res->limits_not_enforced |= (unsigned)result_limits[i].limit;
		}
	}
	result_get_string(obj, "limits_note", res->limits_note, sizeof(res->limits_note));
	result_get_string(obj, "error", res->error, sizeof(res->error));
	rc = 0;
out:
	cJSON_Delete(obj);
	return rc;
}
