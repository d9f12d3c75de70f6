/* /v1/tasks: submit (idempotent with Idempotency-Key), list with filters
 * and cursors, read one, cancel. */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/xalloc.h"
#include "daemon/api/api.h"
#include "daemon/http/parser.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"
#include "daemon/fleet/fleet.h"
#include "daemon/ids.h"
#include "daemon/log.h"
#include "daemon/store/runs.h"
#include "daemon/store/tasks.h"
#include "daemon/store/verify.h"
#include "proto/json.h"

#define API_TASKS_LIMIT_DEFAULT 50
#define API_TASKS_LIMIT_MAX 500
#define API_IDEMPOTENCY_KEY_MAX 255
/* How long a client should wait when the queue is full. */
#define API_QUEUE_FULL_RETRY_S "30"

/* Is the Content-Type application/json (parameters such as charset
 * allowed)? */
static bool api_tasks_is_json(const char *ct)
{
	if (!ct)
		return false;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int api_tasks_key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > API_IDEMPOTENCY_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e)
			return 0;
	}
	return 1;
}

static void api_tasks_send(struct http_response *res, int status, const struct task *t)
{
	struct buf out = BUF_INIT;
	task_write_json(t, &out);
	buf_append_char(&out, '\n');
	http_response_send(res, status, "application/json", out.data, out.len);
	buf_free(&out);
}

/* A request waiting for its commit. */
struct api_tasks_pending {
	struct http_response *res; /* the answer to give */
	struct api_context *ctx;   /* for the fleet */
};

static void api_tasks_created(int status, enum store_create_result result, const struct task *task, const char *err,
			      void *arg)
{
	struct api_tasks_pending *pending = arg;
	struct http_response *res = pending->res;
	struct api_context *ctx = pending->ctx;
	free(pending);
	if (status < 0) {
		log_event(LOG_LEVEL_ERROR, "cannot store a task", "error", err, NULL);
		http_response_error(res, PROTO_ERR_INTERNAL, "the task could not be stored: %s", err);
		return;
	}
	switch (result) {
	case STORE_TASK_CREATED: {
		char location[64];
		snprintf(location, sizeof(location), "/v1/tasks/%s", task->id);
		http_response_header(res, "Location", location);
		log_event(LOG_LEVEL_INFO, "task created", "task", task->id, "repo", task->repo_identity, NULL);
		api_tasks_send(res, 201, task);
		if (ctx->fleet)
			fleet_kick(ctx->fleet);
		break;
	}
	case STORE_TASK_REPLAYED:
		http_response_header(res, "Idempotent-Replayed", "true");
		api_tasks_send(res, 200, task);
		break;
	case STORE_TASK_KEY_REUSED:
		http_response_error(res, PROTO_ERR_CONFLICT,
				    "this Idempotency-Key was already used with a different request body");
		break;
	}
}

static void api_tasks_create(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	char err[512], field[128];
	if (!api_tasks_is_json(http_request_header(req, "content-type"))) {
		http_response_error(res, PROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
		return;
	}
	const char *key = http_request_header(req, "idempotency-key");
	if (key && !api_tasks_key_valid(key)) {
		api_invalid(res, "Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters");
		return;
	}
	cJSON *body = NULL;
	if (proto_json_parse(req->body, req->body_len, &body, err, sizeof(err)) < 0) {
		api_invalid(res, "body", err);
		return;
	}
	struct task t;
	int rc = task_request_parse(body, &ctx->task_limits, &t, field, sizeof(field), err, sizeof(err));
	cJSON_Delete(body);
	if (rc < 0) {
		api_invalid(res, field, err);
		task_free_fields(&t);
		return;
	}
	if (repo_check(t.repo, ctx->roots, &t.repo_identity, err, sizeof(err)) < 0) {
		api_invalid(res, "repo", err);
		task_free_fields(&t);
		return;
	}
	if (ctx->fleet && fleet_disk_low(ctx->fleet)) {
		http_response_header(res, "Retry-After", API_QUEUE_FULL_RETRY_S);
		http_response_error(res, PROTO_ERR_UNAVAILABLE,
				    "the data directory is low on free disk space; retry later");
		task_free_fields(&t);
		return;
	}
	uint64_t queued = store_tasks_count(ctx->store, TASK_QUEUED) + store_tasks_pending_creates(ctx->store);
	if (queued >= ctx->max_queued) {
		http_response_header(res, "Retry-After", API_QUEUE_FULL_RETRY_S);
		http_response_error(res, PROTO_ERR_RATE_LIMITED, "the queue is full (%" PRIu64 " tasks); retry later",
				    queued);
		task_free_fields(&t);
		return;
	}
	int64_t now = api_now_ms();
	if (ids_new('t', now, t.id, sizeof(t.id)) < 0) {
		http_response_error(res, PROTO_ERR_INTERNAL, "the random number generator failed");
		task_free_fields(&t);
		return;
	}
	t.state = TASK_QUEUED;
	t.created_ms = t.updated_ms = now;
	unsigned char hash[STORE_TASK_HASH_BYTES];
	unsigned int hash_len = 0;
	EVP_Digest(req->body, req->body_len, hash, &hash_len, EVP_sha256(), NULL);
	struct api_tasks_pending *pending = xcalloc(1, sizeof(*pending));
	pending->res = res;
	pending->ctx = ctx;
	store_tasks_create(ctx->store, &t, key, hash, api_tasks_created, pending);
	task_free_fields(&t);
}

static void api_tasks_list(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	static const char *const known[] = {"state", "label", "repo", "limit", "cursor", NULL};
	if (api_query_known(req, res, known) < 0)
		return;
	struct store_task_filter f;
	memset(&f, 0, sizeof(f));
	f.limit = API_TASKS_LIMIT_DEFAULT;
	char value[TASK_REPO_MAX + 1], label[TASK_LABEL_MAX + 1], message[256];
	char *repo_identity = NULL;
	if (http_request_query(req, "state", value, sizeof(value)) >= 0) {
		if (task_state_parse(value, &f.state) < 0) {
			snprintf(message, sizeof(message), "unknown state '%.40s' (one of: %s)", value,
				 task_state_list());
			api_invalid(res, "state", message);
			return;
		}
		f.has_state = true;
	}
	int rc = http_request_query(req, "label", label, sizeof(label));
	if (rc >= 0 || rc == -ENAMETOOLONG || rc == -EINVAL) {
		if (rc < 0 || !task_label_valid(label)) {
			api_invalid(res, "label", "not a label (1 to 64 characters of A-Z a-z 0-9 . _ : / + -)");
			return;
		}
		f.label = label;
	}
	if (http_request_query(req, "limit", value, sizeof(value)) >= 0) {
		char *end;
		long n = strtol(value, &end, 10);
		if (*value == '\0' || *end || n < 1 || n > API_TASKS_LIMIT_MAX) {
			snprintf(message, sizeof(message), "limit must be an integer from 1 to %d",
				 API_TASKS_LIMIT_MAX);
			api_invalid(res, "limit", message);
			return;
		}
		f.limit = (size_t)n;
	}
	if (http_request_query(req, "cursor", value, sizeof(value)) >= 0) {
		char *end;
		long long seq = value[0] == 'c' ? strtoll(value + 1, &end, 10) : 0;
		if (seq <= 0 || *end) {
			api_invalid(res, "cursor",
				    "malformed cursor (pass next_cursor from the previous page as it is)");
			return;
		}
		f.before_seq = seq;
	}
	rc = http_request_query(req, "repo", value, sizeof(value));
	if (rc >= 0) {
		repo_identity = repo_filter_identity(value);
		f.repo_identity = repo_identity;
	} else if (rc != -ENOENT) {
		api_invalid(res, "repo", "malformed or too long");
		return;
	}
	struct task *tasks;
	size_t count;
	int64_t next;
	char err[256];
	rc = store_tasks_list(ctx->store, &f, &tasks, &count, &next, err, sizeof(err));
	free(repo_identity);
	if (rc < 0) {
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot list tasks: %s", err);
		return;
	}
	struct buf out = BUF_INIT;
	buf_append_str(&out, "{\"tasks\":[");
	for (size_t i = 0; i < count; i++) {
		if (i)
			buf_append_char(&out, ',');
		task_write_json(&tasks[i], &out);
	}
	if (next > 0)
		buf_printf(&out, "],\"next_cursor\":\"c%" PRId64 "\"}\n", next);
	else
		buf_append_str(&out, "],\"next_cursor\":null}\n");
	store_tasks_free_list(tasks, count);
	http_response_send(res, 200, "application/json", out.data, out.len);
	buf_free(&out);
}

static void api_tasks_get(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	const char *id = http_request_param(req, "id");
	if (!ids_valid('t', id)) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "no task %.40s", id);
		return;
	}
	struct task t;
	char err[256];
	int rc = store_tasks_get(ctx->store, id, &t, err, sizeof(err));
	if (rc == -ENOENT) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "no task %s", id);
		return;
	}
	if (rc < 0) {
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot read task %s: %s", id, err);
		return;
	}
	struct run_record *runs = NULL;
	size_t count = 0;
	if (store_runs_list(ctx->store, id, &runs, &count, err, sizeof(err)) < 0) {
		task_free_fields(&t);
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot read the runs of %s: %s", id, err);
		return;
	}
	struct buf out = BUF_INIT;
	buf_append_char(&out, '{');
	task_write_json_members(&t, &out);
	/* The baseline, the chosen run's verdict, and every run's outcome,
	 * patch and verification. */
	char *baseline = store_baseline_json(ctx->store, id);
	buf_printf(&out, ",\"baseline\":%s", baseline ? baseline : "null");
	free(baseline);
	char *chosen = t.chosen_run[0] ? store_verification_json(ctx->store, t.chosen_run) : NULL;
	buf_printf(&out, ",\"verdict\":%s,\"runs\":[", chosen ? chosen : "null");
	free(chosen);
	for (size_t i = 0; i < count; i++) {
		buf_append_str(&out, i ? ",{" : "{");
		run_record_write_json_members(&runs[i], &out);
		unsigned files = 0, insertions = 0, deletions = 0;
		size_t bytes = 0;
		if (store_patch_stat(ctx->store, runs[i].id, &files, &insertions, &deletions, &bytes) == 0)
			buf_printf(&out, ",\"patch\":{\"files\":%u,\"insertions\":%u,\"deletions\":%u,\"bytes\":%zu}",
				   files, insertions, deletions, bytes);
		else
			buf_append_str(&out, ",\"patch\":null");
		char *verification = store_verification_json(ctx->store, runs[i].id);
		buf_printf(&out, ",\"verification\":%s}", verification ? verification : "null");
		free(verification);
	}
	buf_append_str(&out, "]}\n");
	http_response_send(res, 200, "application/json", out.data, out.len);
	buf_free(&out);
	store_runs_free_list(runs, count);
	task_free_fields(&t);
}

/* GET /v1/tasks/{id}/patch and /v1/tasks/{id}/runs/{run}/patch. */
static void api_tasks_patch(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	const char *id = http_request_param(req, "id");
	const char *run = http_request_param(req, "run");
	struct task t;
	char err[256];
	if (!ids_valid('t', id) || store_tasks_get(ctx->store, id, &t, err, sizeof(err)) < 0) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "no task %.40s", id);
		return;
	}
	char run_id[TASK_ID_MAX];
	snprintf(run_id, sizeof(run_id), "%s", run ? run : t.chosen_run);
	if (run) {
		/* The run must be one of this task's. */
		struct run_record *runs;
		size_t count;
		bool found = false;
		if (store_runs_list(ctx->store, id, &runs, &count, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < count; i++)
				found = found || strcmp(runs[i].id, run) == 0;
			store_runs_free_list(runs, count);
		}
		if (!found) {
			task_free_fields(&t);
			http_response_error(res, PROTO_ERR_NOT_FOUND, "task %s has no run %.40s", id, run);
			return;
		}
	}
	task_free_fields(&t);
	char *diff = NULL;
	if (!run_id[0] || store_patch_get(ctx->store, id, run_id, &diff) < 0) {
		http_response_error(res, PROTO_ERR_NO_PATCH,
				    run ? "run %s has no patch" : "task %s has no patch for review (yet)",
				    run ? run : id);
		return;
	}
	http_response_send(res, 200, "text/x-diff; charset=utf-8", diff, strlen(diff));
	free(diff);
}

static void api_tasks_canceled(int status, const struct task *task, const char *err, void *arg)
{
	struct api_tasks_pending *pending = arg;
	struct http_response *res = pending->res;
	struct api_context *ctx = pending->ctx;
	free(pending);
	if (status == 0) {
		log_event(LOG_LEVEL_INFO, "task canceled", "task", task->id, NULL);
		/* Its agent, if any, stops now: the cancel is committed. */
		if (ctx->fleet)
			fleet_task_canceled(ctx->fleet, task->id);
		api_tasks_send(res, 200, task);
	} else if (status == -ENOENT) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "%s", err);
	} else if (status == -EPERM) {
		http_response_error(res, PROTO_ERR_CONFLICT, "%s", err);
	} else {
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot cancel: %s", err);
	}
}

static void api_tasks_cancel(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	const char *id = http_request_param(req, "id");
	if (!ids_valid('t', id)) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "no task %.40s", id);
		return;
	}
	struct api_tasks_pending *pending = xcalloc(1, sizeof(*pending));
	pending->res = res;
	pending->ctx = ctx;
	store_tasks_transition(ctx->store, id, TASK_CANCELED, "canceled", api_now_ms(), api_tasks_canceled, pending);
}

int api_tasks_register(struct router *router, struct api_context *ctx)
{
	int rc = router_add(router, "POST", "/v1/tasks", api_tasks_create, ctx);
	if (rc == 0)
		rc = router_add(router, "GET", "/v1/tasks", api_tasks_list, ctx);
	if (rc == 0)
		rc = router_add(router, "GET", "/v1/tasks/{id}", api_tasks_get, ctx);
	if (rc == 0)
		rc = router_add(router, "POST", "/v1/tasks/{id}/cancel", api_tasks_cancel, ctx);
	if (rc == 0)
		rc = router_add(router, "GET", "/v1/tasks/{id}/patch", api_tasks_patch, ctx);
	if (rc == 0)
		rc = router_add(router, "GET", "/v1/tasks/{id}/runs/{run}/patch", api_tasks_patch, ctx);
	return rc;
}
