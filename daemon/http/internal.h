/* Internals shared by the files of daemon/http/ (server, conn, response);
 * nothing outside daemon/http/ includes this header except its tests. */
#ifndef AGENTD_HTTP_INTERNAL_H
#define AGENTD_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "daemon/http/parser.h"
#include "daemon/http/response.h"
#include "daemon/http/router.h"
#include "daemon/http/server.h"
#include "daemon/metrics.h"

/* Bytes read from a socket at a time; the parser copies what it keeps. */
#define CONN_READ_BUFFER 16384
/* A client that pipelines without reading its answers stops being parsed
 * once this many response bytes wait in the kernel's and our queue. */
#define CONN_MAX_WRITE_BACKLOG (1u << 20)

/* Route slots for requests that matched no route. */
#define HTTP_ROUTE_SLOT_UNMATCHED 0 /* parsed, but no route (404/405) */
#define HTTP_ROUTE_SLOT_INVALID 1   /* refused before routing (4xx/5xx) */
#define HTTP_ROUTE_SLOT_FIRST 2     /* slot of the router's route 0 */

struct http_listener {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;                       /* the listening socket */
	struct http_server *server; /* owner */
	char *unlink_path;          /* unix socket file to remove on close, or NULL */
	bool is_tcp;                /* TCP (else unix) */
};

/* Requests counted by (route slot, method, status). */
struct http_counter {
	unsigned route_slot; /* HTTP_ROUTE_SLOT_* or HTTP_ROUTE_SLOT_FIRST + route index */
	const char *method;  /* static method name, "" when unknown */
	int status;          /* HTTP status sent */
	uint64_t count;      /* requests */
};

struct http_server {
	uv_loop_t *loop;                    /* not owned */
	struct http_server_options opts;    /* copied at creation */
	const struct router *router;        /* borrowed */
	struct http_listener *listeners[4]; /* listening sockets */
	size_t listener_count;              /* entries in listeners */
	size_t listeners_open;              /* listeners not yet closed */
	struct conn *conns;                 /* doubly-linked list of live connections */
	size_t conn_count;                  /* entries in conns (open connections) */
	size_t responses_live;              /* responses not yet finished */
	bool draining;                      /* shutdown began: no new requests */
	uv_timer_t grace_timer;             /* ends the shutdown grace period */
	bool grace_timer_active;            /* grace_timer was initialised */
	http_server_closed_fn closed_cb;    /* called once everything is closed */
	void *closed_arg;                   /* for closed_cb */
	bool closed_notified;               /* closed_cb was called */
	/* statistics */
	uint64_t connections_total;     /* accepted */
	uint64_t connections_rejected;  /* closed at once: over max_connections */
	uint64_t connections_timed_out; /* cut off by a timeout */
	struct http_counter *counters;  /* counter_count entries */
	size_t counter_count;
	size_t counter_cap;
	struct metrics_histogram *durations; /* per route slot */
	size_t duration_slots;               /* entries in durations */
	/* cached Date header value, refreshed once a second */
	char date[40];
	time_t date_time;
};

enum conn_state {
	CONN_IDLE,     /* between requests: no byte of the next one yet */
	CONN_HEAD,     /* reading the request line and headers */
	CONN_BODY,     /* reading the body */
	CONN_HANDLING, /* a handler owns the request; further input waits */
	CONN_LINGER,   /* final response sent: draining input until EOF */
};

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;                       /* the client socket */
	uv_timer_t timer;           /* the deadline of the current state */
	uv_shutdown_t shutdown_req; /* half-close before lingering */
	struct http_server *server; /* owner */
	struct conn *prev, *next;   /* server's list */
	struct http_parser parser;  /* request parser */
	enum conn_state state;      /* what the connection waits for */
	struct http_response *res;  /* the response in flight, or NULL */
	char *rbuf;                 /* CONN_READ_BUFFER bytes; [rpos, rlen) unparsed */
	size_t rlen;                /* bytes held in rbuf */
	size_t rpos;                /* bytes of rbuf already parsed */
	size_t write_queued;        /* bytes handed to uv_write, not yet written */
	int handles_open;           /* io and timer not yet closed */
	bool is_tcp;                /* TCP (else unix) */
	bool reading;               /* uv_read_start is active */
	bool peer_eof;              /* the client shut down its side */
	bool close_after;           /* close once the queued writes are flushed */
	bool closing;               /* uv_close was called */
	bool in_process;            /* conn_process is on the stack */
	bool fresh;                 /* no request served yet */
	char peer[64];              /* peer address for logs */
};

struct http_response {
	struct conn *conn;               /* NULL once the client is gone */
	struct http_server *server;      /* for statistics; outlives every response */
	struct http_request *req;        /* owned; NULL for a protocol error */
	unsigned route_slot;             /* for metrics */
	int status;                      /* status sent */
	bool head;                       /* HEAD: no body is sent */
	bool close;                      /* Connection: close */
	bool http10;                     /* the request was HTTP/1.0 */
	bool started;                    /* status line and headers are out */
	bool chunked;                    /* chunked body */
	bool aborted;                    /* the client went away before the end */
	uint64_t body_bytes;             /* body bytes sent */
	uint64_t start_ns;               /* when the request began (uv_hrtime) */
	struct buf headers;              /* extra header lines */
	http_response_abort_fn abort_cb; /* client gone */
	void *abort_arg;                 /* for abort_cb */
};

/* conn.c */
struct conn *conn_new(struct http_server *server, bool is_tcp);
/* Starts reading a connection accepted into c->io. */
void conn_start(struct conn *c);
void conn_close(struct conn *c);
/* Shutdown: closes c now if it is idle, else after its current request. */
void conn_drain(struct conn *c);
/* Queues bytes; returns 0, or -EPIPE when the connection is closing. */
int conn_write(struct conn *c, const char *data, size_t len);
/* A response was finished by its handler: go on with the next request. */
void conn_response_done(struct conn *c, struct http_response *res);

/* response.c */
struct http_response *response_new(struct http_server *server, struct conn *c, struct http_request *req);
/* The client went away: later writes are dropped, abort_cb runs. */
void response_detach(struct http_response *res);

/* server.c */
void server_conn_freed(struct http_server *server, struct conn *c);
/* Counts and logs a finished response. */
void server_record(struct http_server *server, const struct http_response *res);
/* The current Date header value. */
const char *server_date(struct http_server *server);
/* Routes and runs a request. */
void server_dispatch(struct http_server *server, struct http_response *res);

#endif
