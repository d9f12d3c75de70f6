/* GET /healthz: liveness. It answers as long as the event loop runs. */
#include <string.h>

#include "daemon/api/api.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"

static void api_health_get(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	static const char body[] = "{\"status\":\"ok\"}\n";
	http_response_send(res, 200, "application/json", body, sizeof(body) - 1);
}

int api_health_register(struct router *router, struct api_context *ctx)
{
	return router_add(router, "GET", "/healthz", api_health_get, ctx);
}
