/* Route table with literal and {parameter} path segments. Routes are few
 * (tens), so matching is a linear scan over pre-split patterns. */
#include "daemon/http/router.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/http/parser.h"

#define ROUTER_MAX_SEGMENTS 16

struct router_entry {
	struct route route;                        /* what a match returns */
	const char *segments[ROUTER_MAX_SEGMENTS]; /* literal text, or the param name */
	size_t seg_len[ROUTER_MAX_SEGMENTS];       /* bytes in segments[i] */
	bool is_param[ROUTER_MAX_SEGMENTS];        /* segments[i] is a {param} */
	char *param_names[ROUTER_MAX_SEGMENTS];    /* owned NUL-terminated names */
	size_t segment_count;
};

struct router {
	struct router_entry *entries; /* count entries */
	size_t count;
};

struct router *router_new(void)
{
	return xcalloc(1, sizeof(struct router));
}

void router_free(struct router *router)
{
	if (!router)
		return;
	for (size_t i = 0; i < router->count; i++) {
		for (size_t j = 0; j < router->entries[i].segment_count; j++)
			free(router->entries[i].param_names[j]);
	}
	free(router->entries);
	free(router);
}

/* Splits a pattern into entry's segments; returns -EINVAL when malformed. */
static int router_compile(struct router_entry *e, const char *pattern)
{
	if (pattern[0] != '/')
		return -EINVAL;
	const char *p = pattern + 1;
	size_t params = 0;
	e->segment_count = 0;
	if (*p == '\0')
		return 0; /* "/" has no segments */
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || e->segment_count == ROUTER_MAX_SEGMENTS)
			return -EINVAL;
		size_t k = e->segment_count++;
		if (p[0] == '{') {
			if (len < 3 || p[len - 1] != '}' || ++params > HTTP_MAX_PARAMS)
				return -EINVAL;
			e->is_param[k] = true;
			e->param_names[k] = xstrndup(p + 1, len - 2);
			e->segments[k] = e->param_names[k];
			e->seg_len[k] = len - 2;
		} else {
			e->segments[k] = p;
			e->seg_len[k] = len;
		}
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int router_add(struct router *router, const char *method, const char *pattern, http_handler_fn handler, void *ctx)
{
	for (size_t i = 0; i < router->count; i++) {
		if (strcmp(router->entries[i].route.method, method) == 0 &&
		    strcmp(router->entries[i].route.pattern, pattern) == 0)
			return -EINVAL;
	}
	struct router_entry e;
	memset(&e, 0, sizeof(e));
	if (router_compile(&e, pattern) < 0) {
		for (size_t j = 0; j < ROUTER_MAX_SEGMENTS; j++)
			free(e.param_names[j]);
		return -EINVAL;
	}
	e.route.method = method;
	e.route.pattern = pattern;
	e.route.handler = handler;
	e.route.ctx = ctx;
	e.route.index = (unsigned)router->count;
	router->entries = xrealloc(router->entries, (router->count + 1) * sizeof(*router->entries));
	router->entries[router->count++] = e;
	/* Entries moved: param segments point at their own names again. */
	for (size_t i = 0; i < router->count; i++) {
		struct router_entry *r = &router->entries[i];
		for (size_t j = 0; j < r->segment_count; j++) {
			if (r->is_param[j])
				r->segments[j] = r->param_names[j];
		}
		r->route.index = (unsigned)i;
	}
	return 0;
}

/* Does path (split into segs) match entry e? */
static bool router_entry_matches(const struct router_entry *e, const char *const *segs, const size_t *lens, size_t n)
{
	if (e->segment_count != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (e->is_param[i]) {
			if (lens[i] == 0)
				return false; /* a parameter is never empty */
			continue;
		}
		if (e->seg_len[i] != lens[i] || memcmp(e->segments[i], segs[i], lens[i]) != 0)
			return false;
	}
	return true;
}

static void router_allow_add(char *allow, size_t allowlen, const char *method)
{
	if (strstr(allow, method))
		return;
	size_t used = strlen(allow);
	size_t need = strlen(method) + (used ? 2 : 0);
	if (used + need + 1 > allowlen)
		return;
	if (used)
		strcat(allow, ", ");
	strcat(allow, method);
}

enum router_result router_match(const struct router *router, struct http_request *req, const struct route **route,
				char *allow, size_t allowlen)
{
	const char *segs[ROUTER_MAX_SEGMENTS];
	size_t lens[ROUTER_MAX_SEGMENTS];
	size_t n = 0;
	*route = NULL;
	if (allowlen)
		allow[0] = '\0';
	const char *p = req->path + 1;
	if (*p) {
		for (;;) {
			const char *slash = strchr(p, '/');
			size_t len = slash ? (size_t)(slash - p) : strlen(p);
			if (n == ROUTER_MAX_SEGMENTS)
				return ROUTER_NOT_FOUND;
			segs[n] = p;
			lens[n] = len;
			n++;
			if (!slash)
				break;
			p = slash + 1;
		}
	}
	bool head = strcmp(req->method_name, "HEAD") == 0;
	const struct router_entry *found = NULL;
	const struct router_entry *first = NULL;
	for (size_t i = 0; i < router->count; i++) {
		const struct router_entry *e = &router->entries[i];
		if (!router_entry_matches(e, segs, lens, n))
			continue;
		if (!first)
			first = e;
		router_allow_add(allow, allowlen, e->route.method);
		if (strcmp(e->route.method, "GET") == 0)
			router_allow_add(allow, allowlen, "HEAD");
		if (!found &&
		    (strcmp(e->route.method, req->method_name) == 0 || (head && strcmp(e->route.method, "GET") == 0)))
			found = e;
	}
	if (!first)
		return ROUTER_NOT_FOUND;
	if (!found) {
		/* The caller labels the answer with the path's pattern. */
		*route = &first->route;
		return ROUTER_METHOD_NOT_ALLOWED;
	}
	req->param_count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!found->is_param[i])
			continue;
		char *value = xmalloc(lens[i] + 1);
		int rc = http_percent_decode(segs[i], lens[i], value);
		if (rc <= 0) {
			free(value);
			return rc == 0 ? ROUTER_NOT_FOUND : ROUTER_BAD_PATH;
		}
		req->params[req->param_count].name = found->param_names[i];
		req->params[req->param_count].value = value;
		req->param_count++;
	}
	*route = &found->route;
	req->route = &found->route;
	return ROUTER_MATCH;
}

size_t router_count(const struct router *router)
{
	return router->count;
}

const struct route *router_get(const struct router *router, size_t i)
{
	return i < router->count ? &router->entries[i].route : NULL;
}
