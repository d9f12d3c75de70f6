/* The router: method + path pattern ("/v1/tasks/{id}/events") → handler.
 * A path that matches no pattern is 404; a path that matches under other
 * methods only is 405 with the Allow header listing them. */
#ifndef AGENTD_HTTP_ROUTER_H
#define AGENTD_HTTP_ROUTER_H

#include <stddef.h>

struct http_request;
struct http_response;

/* A handler answers through res, now or later (from a callback on the loop);
 * it must finish res exactly once (http_response_send or _end). req lives
 * as long as res. */
typedef void (*http_handler_fn)(struct http_request *req, struct http_response *res, void *ctx);

struct router;

struct route {
	const char *method;  /* "GET", "POST", … (static) */
	const char *pattern; /* "/v1/tasks/{id}" (static) */
	http_handler_fn handler;
	void *ctx;      /* passed to handler; not owned */
	unsigned index; /* position in registration order (metrics) */
};

enum router_result {
	ROUTER_MATCH,              /* route set, params filled */
	ROUTER_NOT_FOUND,          /* no pattern matches the path */
	ROUTER_METHOD_NOT_ALLOWED, /* allow holds the methods that would match */
	ROUTER_BAD_PATH,           /* a path parameter has a bad %-escape */
};

struct router *router_new(void);
void router_free(struct router *router);
/* Registers a route; method and pattern must be static strings. Returns 0,
 * or -EINVAL for a malformed pattern or a duplicate. */
int router_add(struct router *router, const char *method, const char *pattern, http_handler_fn handler, void *ctx);
/* Matches req's method and path. On ROUTER_MATCH, *route points into the
 * router and req->params holds the decoded parameters. On
 * ROUTER_METHOD_NOT_ALLOWED, allow (allowlen bytes) lists the methods, e.g.
 * "GET, HEAD", and *route is a route of that path. HEAD matches GET
 * routes. */
enum router_result router_match(const struct router *router, struct http_request *req, const struct route **route,
				char *allow, size_t allowlen);
size_t router_count(const struct router *router);
/* The i-th route in registration order (borrowed), or NULL. */
const struct route *router_get(const struct router *router, size_t i);

#endif
