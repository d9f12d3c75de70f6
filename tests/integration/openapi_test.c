/* proto/openapi.yaml and the router agree: every route served is
 * documented, and every documented route is served. */
#include <stdlib.h>

#include "common/xalloc.h"
#include "daemon/api/api.h"
#include "daemon/http/router.h"
#include "tests/harness/harness.h"

TEST(every_route_is_documented_and_vice_versa)
{
	char *yaml = th_read_file(th_binary("OPENAPI_YAML"));
	CHECK(yaml != NULL);
	/* Collect "METHOD path" pairs from the paths section: a path is a
	 * two-space-indented key starting with '/', a method a four-space-
	 * indented key. */
	char documented[64][128];
	int ndoc = 0;
	char path[100] = "";
	bool in_paths = false;
	for (char *line = strtok(yaml, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "paths:", 6) == 0) {
			in_paths = true;
			continue;
		}
		if (line[0] != ' ' && line[0] != '\0')
			in_paths = false;
		if (!in_paths)
			continue;
		if (strncmp(line, "  /", 3) == 0) {
			snprintf(path, sizeof(path), "%s", line + 2);
			path[strcspn(path, ":")] = '\0';
		} else if (strncmp(line, "    ", 4) == 0 && line[4] != ' ') {
			static const char *const methods[] = {"get", "post", "put", "delete", "patch"};
			for (size_t m = 0; m < 5; m++) {
				size_t n = strlen(methods[m]);
				if (strncmp(line + 4, methods[m], n) == 0 && line[4 + n] == ':') {
					char upper[8];
					for (size_t k = 0; k <= n; k++)
						upper[k] = (char)(methods[m][k] >= 'a' ? methods[m][k] - 32
										       : methods[m][k]);
					snprintf(documented[ndoc++], 128, "%s %s", upper, path);
				}
			}
		}
	}
	free(yaml);
	CHECK_INT(ndoc, >=, 6);
	struct router *router = router_new();
	struct api_context ctx;
	memset(&ctx, 0, sizeof(ctx));
	CHECK_INT(api_register(router, &ctx), ==, 0);
	int matched = 0;
	for (size_t i = 0; i < router_count(router); i++) {
		const struct route *r = router_get(router, i);
		char served[128];
		snprintf(served, sizeof(served), "%s %s", r->method, r->pattern);
		bool found = false;
		for (int k = 0; k < ndoc; k++)
			found = found || strcmp(documented[k], served) == 0;
		if (!found)
			th_fail(__FILE__, __LINE__, "route %s is not in proto/openapi.yaml", served);
		matched++;
	}
	if (matched != ndoc)
		th_fail(__FILE__, __LINE__, "proto/openapi.yaml documents %d routes, the router serves %d", ndoc,
			matched);
	router_free(router);
}
