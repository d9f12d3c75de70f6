/* agentd's HTTP/1.1 server: listeners on TCP and unix sockets, connections
 * with keep-alive and pipelining, limits and timeouts, graceful shutdown.
 * Everything runs on one libuv loop thread. */
#ifndef AGENTD_HTTP_SERVER_H
#define AGENTD_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/buf.h"
#include "daemon/http/parser.h"

struct router;
struct http_server;

struct http_server_options {
	struct http_limits limits;  /* request sizes */
	uint64_t header_timeout_ms; /* request line + headers must arrive within this */
	uint64_t body_timeout_ms;   /* the body must arrive within this after the headers */
	uint64_t idle_timeout_ms;   /* keep-alive connections idle this long are closed */
	uint64_t linger_ms;         /* after a final response, how long unread input is drained */
	size_t max_connections;     /* connections beyond this are closed at once */
	bool log_requests;          /* one info line per request */
};

typedef void (*http_server_closed_fn)(struct http_server *server, void *arg);

/* Fills opts with agentd's defaults (limits of DESIGN.md). */
void http_server_default_options(struct http_server_options *opts);
/* The router is borrowed and must outlive the server. */
struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_options *opts,
				    const struct router *router);
/* Binds and listens; the bound address (port 0 resolved) is written into
 * bound. Returns 0 or a negative errno with err filled in. */
int http_server_listen_tcp(struct http_server *server, const struct sockaddr *addr, char *bound, size_t boundlen,
			   char *err, size_t errlen);
/* Binds a unix socket at path with the given mode (e.g. 0600), replacing a
 * stale socket file; the file is removed when the listener closes. */
int http_server_listen_unix(struct http_server *server, const char *path, unsigned mode, char *err, size_t errlen);
/* Stops accepting, closes idle connections, lets requests in flight finish
 * within grace_ms, then closes everything; calls cb once every handle is
 * closed. Called again, it ends the grace period at once (cb stays the
 * first call's). */
void http_server_shutdown(struct http_server *server, uint64_t grace_ms, http_server_closed_fn cb, void *arg);
/* Frees a server whose shutdown has completed (or that never listened). */
void http_server_free(struct http_server *server);
size_t http_server_connection_count(const struct http_server *server);
/* A metrics collector (metrics_register) for requests and connections;
 * server is a struct http_server *. */
void http_server_collect_metrics(struct buf *out, void *server);

#endif
