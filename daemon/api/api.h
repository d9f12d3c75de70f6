/* The REST API: handlers that turn HTTP requests into calls on the daemon's
 * subsystems and their results into JSON. */
#ifndef AGENTD_API_API_H
#define AGENTD_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/repo.h"
#include "proto/task.h"

struct router;
struct metrics;
struct store;
struct fleet;
struct http_request;
struct http_response;

/* What the handlers reach; every pointer is borrowed from serve and
 * outlives the router. */
struct api_context {
	struct metrics *metrics;        /* GET /metrics */
	struct store *store;            /* tasks */
	const struct repo_roots *roots; /* where local repositories may be */
	struct task_limits task_limits; /* budget defaults and ceilings */
	uint64_t max_queued;            /* 429 beyond this many queued tasks */
	struct fleet *fleet;            /* the agents; NULL in tests that have none */
};

/* Registers every route; returns 0 or -EINVAL on a programming error. */
int api_register(struct router *router, struct api_context *ctx);

/* Per-resource registration (one file each). */
int api_health_register(struct router *router, struct api_context *ctx);
int api_metrics_register(struct router *router, struct api_context *ctx);
int api_tasks_register(struct router *router, struct api_context *ctx);
int api_events_register(struct router *router, struct api_context *ctx);
int api_fleet_register(struct router *router, struct api_context *ctx);

/* Answers 400 invalid_argument naming field (also as "field" in the error
 * object). */
void api_invalid(struct http_response *res, const char *field, const char *message);
/* Checks that every query parameter is one of known (NULL-terminated);
 * otherwise answers 400 and returns -EINVAL. */
int api_query_known(struct http_request *req, struct http_response *res, const char *const *known);
/* Wall-clock time in milliseconds since the epoch. */
int64_t api_now_ms(void);

#endif
