/* Registration of every REST route, and helpers the handlers share. */
#include "daemon/api/api.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/http/parser.h"
#include "daemon/http/response.h"

int api_register(struct router *router, struct api_context *ctx)
{
	int rc = api_health_register(router, ctx);
	if (rc == 0)
		rc = api_metrics_register(router, ctx);
	if (rc == 0)
		rc = api_tasks_register(router, ctx);
	if (rc == 0)
		rc = api_events_register(router, ctx);
	if (rc == 0)
		rc = api_fleet_register(router, ctx);
	return rc;
}

void api_invalid(struct http_response *res, const char *field, const char *message)
{
	const struct proto_error_info *info = proto_error_info(PROTO_ERR_INVALID_ARGUMENT);
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", info->code);
	cJSON_AddStringToObject(err, "message", message);
	cJSON_AddStringToObject(err, "field", field);
	http_response_json(res, info->http_status, root);
	cJSON_Delete(root);
}

int api_query_known(struct http_request *req, struct http_response *res, const char *const *known)
{
	const char *p = req->query;
	while (p && *p) {
		size_t pair = strcspn(p, "&");
		size_t key = strcspn(p, "=&");
		bool ok = false;
		for (size_t i = 0; known[i] && !ok; i++)
			ok = strlen(known[i]) == key && strncmp(p, known[i], key) == 0;
		if (!ok && key > 0) {
			char message[160];
			snprintf(message, sizeof(message), "unknown query parameter '%.*s'", (int)(key > 64 ? 64 : key),
				 p);
			api_invalid(res, "query", message);
			return -EINVAL;
		}
		p += pair;
		if (*p == '&')
			p++;
	}
	return 0;
}

int64_t api_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
