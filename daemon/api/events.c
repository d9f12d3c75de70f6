/* GET /v1/tasks/{id}/events: a task's transcript, one event per step (and
 * per run start and end), in order, from ?after=SEQ, optionally one run's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api/api.h"
#include "daemon/http/parser.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"
#include "daemon/ids.h"
#include "daemon/store/runs.h"
#include "daemon/store/tasks.h"
#include "proto/json.h"

#define API_EVENTS_LIMIT_DEFAULT 100
#define API_EVENTS_LIMIT_MAX 1000

static int api_events_number(struct http_request *req, struct http_response *res, const char *name, int64_t lo,
			     int64_t hi, int64_t *out)
{
	char value[32];
	int rc = http_request_query(req, name, value, sizeof(value));
	if (rc == -ENOENT)
		return 0;
	char *end = NULL;
	long long v = rc >= 0 ? strtoll(value, &end, 10) : 0;
	if (rc < 0 || value[0] == '\0' || *end || v < lo || v > hi) {
		char message[128];
		snprintf(message, sizeof(message), "%s must be an integer from %lld to %lld", name, (long long)lo,
			 (long long)hi);
		api_invalid(res, name, message);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void api_events_list(struct http_request *req, struct http_response *res, void *arg)
{
	struct api_context *ctx = arg;
	static const char *const known[] = {"after", "run", "limit", NULL};
	if (api_query_known(req, res, known) < 0)
		return;
	const char *id = http_request_param(req, "id");
	char err[256];
	struct task t;
	int rc = ids_valid('t', id) ? store_tasks_get(ctx->store, id, &t, err, sizeof(err)) : -ENOENT;
	if (rc == -ENOENT) {
		http_response_error(res, PROTO_ERR_NOT_FOUND, "no task %.40s", id);
		return;
	}
	if (rc < 0) {
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot read task %s: %s", id, err);
		return;
	}
	task_free_fields(&t);
	int64_t after = 0, limit = API_EVENTS_LIMIT_DEFAULT;
	if (api_events_number(req, res, "after", 0, INT64_MAX, &after) < 0 ||
	    api_events_number(req, res, "limit", 1, API_EVENTS_LIMIT_MAX, &limit) < 0)
		return;
	char run[TASK_ID_MAX];
	const char *run_id = NULL;
	if (http_request_query(req, "run", run, sizeof(run)) >= 0) {
		if (!ids_valid('r', run)) {
			api_invalid(res, "run", "not a run id");
			return;
		}
		run_id = run;
	}
	struct store_event *events;
	size_t count;
	if (store_events_list(ctx->store, id, after, run_id, (size_t)limit, &events, &count, err, sizeof(err)) < 0) {
		http_response_error(res, PROTO_ERR_INTERNAL, "cannot read the events of %s: %s", id, err);
		return;
	}
	struct buf out = BUF_INIT;
	buf_append_str(&out, "{\"events\":[");
	int64_t last = after;
	for (size_t i = 0; i < count; i++) {
		char when[40];
		task_format_time(events[i].created_ms, when, sizeof(when));
		buf_printf(&out, "%s{\"seq\":%" PRId64 ",\"run\":", i ? "," : "", events[i].seq);
		json_write_string(&out, events[i].run_id);
		buf_append_str(&out, ",\"kind\":");
		json_write_string(&out, events[i].kind);
		/* data is JSON the daemon wrote itself. */
		buf_printf(&out, ",\"created_at\":\"%s\",\"data\":%s}", when, events[i].data);
		last = events[i].seq;
	}
	buf_printf(&out, "],\"next_after\":%" PRId64 "}\n", last);
	store_events_free_list(events, count);
	http_response_send(res, 200, "application/json", out.data, out.len);
	buf_free(&out);
}

int api_events_register(struct router *router, struct api_context *ctx)
{
	return router_add(router, "GET", "/v1/tasks/{id}/events", api_events_list, ctx);
}
