/* The REST API: handlers that turn HTTP requests into calls on the daemon's
 * subsystems and their results into JSON. */
#ifndef AGENTD_API_API_H
#define AGENTD_API_API_H

struct router;
struct metrics;

/* What the handlers reach; every pointer is borrowed from serve and
 * outlives the router. */
struct api_context {
	struct metrics *metrics; /* GET /metrics */
};

/* Registers every route; returns 0 or -EINVAL on a programming error. */
int api_register(struct router *router, struct api_context *ctx);

/* Per-resource registration (one file each). */
int api_health_register(struct router *router, struct api_context *ctx);
int api_metrics_register(struct router *router, struct api_context *ctx);

#endif
