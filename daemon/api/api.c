/* Registration of every REST route. */
#include "daemon/api/api.h"

int api_register(struct router *router, struct api_context *ctx)
{
	int rc = api_health_register(router, ctx);
	if (rc == 0)
		rc = api_metrics_register(router, ctx);
	return rc;
}
