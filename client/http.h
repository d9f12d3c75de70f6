/* agentctl's HTTP client: one request per connection, over the daemon's
 * unix socket or TCP, blocking, with a timeout. */
#ifndef AGENTD_CLIENT_HTTP_H
#define AGENTD_CLIENT_HTTP_H

#include <stddef.h>

#include "common/buf.h"

/* Where the daemon is. */
struct client_target {
	const char *socket_path; /* unix socket, or NULL */
	char host[256];          /* TCP host when socket_path is NULL */
	char port[8];            /* TCP port */
};

struct client_response {
	int status;             /* HTTP status */
	struct buf body;        /* response body */
	char content_type[128]; /* Content-Type, or "" */
};

/* Parses "http://HOST:PORT[/]" into t. Returns 0 or -EINVAL with err. */
int client_target_url(struct client_target *t, const char *url, char *err, size_t errlen);
/* Sends one request (body may be NULL; extra_header is a full
 * "Name: value" line or NULL) and reads the whole response into r (free
 * with client_response_free). Returns 0, or a negative errno with err
 * saying why the daemon could not be reached. */
int client_http(const struct client_target *t, const char *method, const char *path, const char *body,
		const char *extra_header, struct client_response *r, char *err, size_t errlen);
void client_response_free(struct client_response *r);

#endif
