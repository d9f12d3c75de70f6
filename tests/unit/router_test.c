/* Route matching: literals, parameters, 404, 405 with Allow. */
#include <errno.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "daemon/http/parser.h"
#include "daemon/http/router.h"
#include "tests/harness/harness.h"

static void handler_a(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)res;
	(void)ctx;
}

static void handler_b(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)res;
	(void)ctx;
}

static struct http_request *request(const char *method, const char *path)
{
	struct http_request *req = xcalloc(1, sizeof(*req));
	req->method_name = method;
	req->path = xstrdup(path);
	return req;
}

static struct router *make_router(void)
{
	struct router *r = router_new();
	CHECK_INT(router_add(r, "GET", "/healthz", handler_a, NULL), ==, 0);
	CHECK_INT(router_add(r, "GET", "/v1/tasks", handler_a, NULL), ==, 0);
	CHECK_INT(router_add(r, "POST", "/v1/tasks", handler_b, NULL), ==, 0);
	CHECK_INT(router_add(r, "GET", "/v1/tasks/{id}", handler_a, NULL), ==, 0);
	CHECK_INT(router_add(r, "POST", "/v1/tasks/{id}/cancel", handler_b, NULL), ==, 0);
	CHECK_INT(router_add(r, "GET", "/v1/tasks/{id}/runs/{run}/patch", handler_a, NULL), ==, 0);
	CHECK_INT(router_add(r, "DELETE", "/v1/memories/{id}", handler_b, NULL), ==, 0);
	return r;
}

TEST(literal_and_params)
{
	struct router *r = make_router();
	const struct route *route;
	char allow[64];
	struct http_request *req = request("GET", "/v1/tasks/t%2D1/runs/3/patch");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_MATCH);
	CHECK_STR(route->pattern, "/v1/tasks/{id}/runs/{run}/patch");
	CHECK_STR(http_request_param(req, "id"), "t-1");
	CHECK_STR(http_request_param(req, "run"), "3");
	CHECK(http_request_param(req, "nope") == NULL);
	http_request_free(req);

	req = request("POST", "/v1/tasks");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_MATCH);
	CHECK(route->handler == handler_b);
	CHECK_INT(route->index, ==, 2);
	http_request_free(req);

	req = request("HEAD", "/healthz");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_MATCH);
	CHECK_STR(route->pattern, "/healthz");
	http_request_free(req);
	router_free(r);
}

TEST(not_found_and_method_not_allowed)
{
	struct router *r = make_router();
	const struct route *route;
	char allow[64];
	const char *missing[] = {"/",         "/healthz/", "/v1/tasks/",       "/v1/tasks/x/y",
				 "/V1/tasks", "//healthz", "/v1/tasks//cancel"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		struct http_request *req = request("GET", missing[i]);
		int rc = router_match(r, req, &route, allow, sizeof(allow));
		if (rc != ROUTER_NOT_FOUND)
			th_fail(__FILE__, __LINE__, "%s: expected not found, got %d", missing[i], rc);
		http_request_free(req);
	}
	struct http_request *req = request("DELETE", "/v1/tasks");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_METHOD_NOT_ALLOWED);
	CHECK_STR(allow, "GET, HEAD, POST");
	http_request_free(req);
	req = request("GET", "/v1/memories/7");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_METHOD_NOT_ALLOWED);
	CHECK_STR(allow, "DELETE");
	http_request_free(req);
	req = request("GET", "/v1/tasks/%zz");
	CHECK_INT(router_match(r, req, &route, allow, sizeof(allow)), ==, ROUTER_BAD_PATH);
	http_request_free(req);
	router_free(r);
}

TEST(bad_patterns_rejected)
{
	struct router *r = router_new();
	CHECK_INT(router_add(r, "GET", "healthz", handler_a, NULL), ==, -EINVAL);
	CHECK_INT(router_add(r, "GET", "/a//b", handler_a, NULL), ==, -EINVAL);
	CHECK_INT(router_add(r, "GET", "/a/{}", handler_a, NULL), ==, -EINVAL);
	CHECK_INT(router_add(r, "GET", "/a/{x", handler_a, NULL), ==, -EINVAL);
	CHECK_INT(router_add(r, "GET", "/a/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", handler_a, NULL), ==, -EINVAL);
	CHECK_INT(router_add(r, "GET", "/a", handler_a, NULL), ==, 0);
	CHECK_INT(router_add(r, "GET", "/a", handler_b, NULL), ==, -EINVAL);
	CHECK_INT(router_count(r), ==, 1);
	router_free(r);
}
