/* GET /metrics: the Prometheus text exposition of every collector. */
#include "daemon/api/api.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"
#include "daemon/metrics.h"

static void api_metrics_get(struct http_request *req, struct http_response *res, void *arg)
{
	(void)req;
	struct api_context *ctx = arg;
	struct buf out = BUF_INIT;
	metrics_render(ctx->metrics, &out);
	http_response_send(res, 200, "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "", out.len);
	buf_free(&out);
}

int api_metrics_register(struct router *router, struct api_context *ctx)
{
	return router_add(router, "GET", "/metrics", api_metrics_get, ctx);
}
