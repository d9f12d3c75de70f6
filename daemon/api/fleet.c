/* GET /v1/fleet: the agent slots, what each busy one is doing, the queue. */
#include "daemon/api/api.h"
#include "daemon/fleet/fleet.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"

static void api_fleet_get(struct http_request *req, struct http_response *res, void *arg)
{
	(void)req;
	struct api_context *ctx = arg;
	if (!ctx->fleet) {
		http_response_error(res, PROTO_ERR_UNAVAILABLE, "the fleet is not running");
		return;
	}
	struct buf out = BUF_INIT;
	fleet_write_json(ctx->fleet, &out);
	http_response_send(res, 200, "application/json", out.data, out.len);
	buf_free(&out);
}

int api_fleet_register(struct router *router, struct api_context *ctx)
{
	return router_add(router, "GET", "/v1/fleet", api_fleet_get, ctx);
}
