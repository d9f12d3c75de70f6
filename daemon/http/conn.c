/* One client connection: reads bytes into the parser, hands complete
 * requests to the router one at a time (pipelined requests wait their turn,
 * so answers leave in order), enforces the header/body/idle deadlines, and
 * closes gracefully (half-close, then drain) so that an early error answer
 * reaches a client that is still sending. */
#include "daemon/http/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/log.h"

static void conn_process(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_begin_linger(struct conn *c);

struct conn_write_req {
	uv_write_t req; /* libuv request */
	struct conn *c; /* writer */
	size_t len;     /* bytes in data */
	char data[];    /* copy of the bytes being written */
};

struct conn *conn_new(struct http_server *server, bool is_tcp)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->server = server;
	c->is_tcp = is_tcp;
	c->fresh = true;
	c->rbuf = xmalloc(CONN_READ_BUFFER);
	if (is_tcp)
		uv_tcp_init(server->loop, &c->io.tcp);
	else
		uv_pipe_init(server->loop, &c->io.pipe, 0);
	uv_timer_init(server->loop, &c->timer);
	c->io.handle.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	http_parser_init(&c->parser, &server->opts.limits);
	/* Link into the server's list. */
	c->next = server->conns;
	if (server->conns)
		server->conns->prev = c;
	server->conns = c;
	server->conn_count++;
	return c;
}

static void conn_handle_closed(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	if (--c->handles_open > 0)
		return;
	struct http_server *server = c->server;
	if (c->prev)
		c->prev->next = c->next;
	else
		server->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	server->conn_count--;
	http_parser_close(&c->parser);
	free(c->rbuf);
	free(c);
	server_conn_freed(server, NULL);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->res) {
		struct http_response *res = c->res;
		c->res = NULL;
		response_detach(res);
	}
	uv_close(&c->io.handle, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void conn_timer_cb(uv_timer_t *timer);

static void conn_set_timer(struct conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
}

/* Answers a request that could not be routed to a handler (a parse error
 * or a timeout) and closes the connection afterwards. */
static void conn_fail(struct conn *c, enum proto_error code, const char *message)
{
	uv_timer_stop(&c->timer);
	/* The parser is finished with this connection; the partial request
	 * goes with the response so that the log line can name it. */
	struct http_request *partial = c->parser.req;
	c->parser.req = NULL;
	struct http_response *res = response_new(c->server, c, NULL);
	res->req = partial;
	if (partial && partial->start_ns)
		res->start_ns = partial->start_ns;
	if (partial && partial->method_name)
		res->http10 = partial->version_minor == 0;
	res->close = true;
	c->state = CONN_HANDLING;
	c->res = res;
	http_response_error(res, code, "%s", message);
}

static void conn_timer_cb(uv_timer_t *timer)
{
	struct conn *c = timer->data;
	switch (c->state) {
	case CONN_IDLE:
		/* Nothing of a request arrived: close without a word. */
		conn_close(c);
		break;
	case CONN_HEAD:
	case CONN_BODY:
		c->server->connections_timed_out++;
		conn_fail(c, PROTO_ERR_REQUEST_TIMEOUT,
			  c->state == CONN_HEAD ? "request headers took too long to arrive"
						: "request body took too long to arrive");
		break;
	case CONN_LINGER: conn_close(c); break;
	case CONN_HANDLING: break;
	}
}

static void conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = handle->data;
	if (c->rpos == c->rlen) {
		c->rpos = 0;
		c->rlen = 0;
	} else if (c->rpos > 0 && c->rlen == CONN_READ_BUFFER) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	buf->base = c->rbuf + c->rlen;
	buf->len = CONN_READ_BUFFER - c->rlen;
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct conn *c = stream->data;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread != UV_EOF || c->state == CONN_LINGER) {
			conn_close(c);
			return;
		}
		c->peer_eof = true;
		uv_read_stop(&c->io.stream);
		c->reading = false;
		switch (c->state) {
		case CONN_HANDLING:
			/* A client may half-close after its last request and
			 * still read the answers; a streamed answer has nobody
			 * left to stream to. */
			if (c->res && c->res->started) {
				conn_close(c);
				return;
			}
			conn_process(c);
			break;
		case CONN_HEAD:
		case CONN_BODY:
			if (c->rpos < c->rlen)
				conn_process(c);
			if (!c->closing && (c->state == CONN_HEAD || c->state == CONN_BODY)) {
				log_event(LOG_LEVEL_DEBUG, "client disconnected mid-request", "peer", c->peer, NULL);
				conn_close(c);
			}
			break;
		default:
			if (c->rpos < c->rlen)
				conn_process(c);
			else
				conn_close(c);
			break;
		}
		return;
	}
	if (c->state == CONN_LINGER) {
		c->rpos = c->rlen = 0; /* discarded */
		return;
	}
	c->rlen += (size_t)nread;
	conn_process(c);
}

static void conn_update_reading(struct conn *c)
{
	if (c->closing || c->peer_eof)
		return;
	/* Keep reading while there is room: during a handler this notices a
	 * client that hangs up, and queues its pipelined requests. */
	bool want = c->rlen - c->rpos < CONN_READ_BUFFER;
	if (want && !c->reading) {
		if (uv_read_start(&c->io.stream, conn_alloc_cb, conn_read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop(&c->io.stream);
		c->reading = false;
	}
}

void conn_start(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (c->is_tcp && uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) == 0) {
		char host[64] = "?";
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		else if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s", host);
		uv_tcp_nodelay(&c->io.tcp, 1);
	} else {
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
	c->state = CONN_IDLE;
	/* A new connection has header-timeout to send its first request. */
	conn_set_timer(c, c->server->opts.header_timeout_ms);
	conn_update_reading(c);
}

void conn_drain(struct conn *c)
{
	if (c->state == CONN_IDLE && c->rpos == c->rlen)
		conn_close(c);
	/* Otherwise the request in progress finishes and its response says
	 * Connection: close (server->draining). */
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct conn_write_req *w = (struct conn_write_req *)req;
	struct conn *c = w->c;
	c->write_queued -= w->len;
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->write_queued == 0 && c->close_after) {
		conn_begin_linger(c);
		return;
	}
	if (c->write_queued < CONN_MAX_WRITE_BACKLOG / 2)
		conn_process(c);
}

int conn_write(struct conn *c, const char *data, size_t len)
{
	if (c->closing || c->state == CONN_LINGER)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (c->write_queued == 0) {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		int n = uv_try_write(&c->io.stream, &b, 1);
		if (n == (int)len)
			return 0;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			conn_close(c);
			return -EPIPE;
		}
	}
	struct conn_write_req *w = xmalloc(sizeof(*w) + len);
	w->c = c;
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	int rc = uv_write(&w->req, &c->io.stream, &b, 1, conn_write_cb);
	if (rc < 0) {
		free(w);
		conn_close(c);
		return -EPIPE;
	}
	c->write_queued += len;
	return 0;
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	struct conn *c = req->data;
	if (c->closing)
		return;
	if (c->peer_eof)
		conn_close(c);
}

/* The final response is out: half-close, then read and discard what the
 * client still sends until it closes or linger_ms passes. Closing at once
 * with unread input would make the kernel send a reset, which can destroy
 * the answer before the client reads it. */
static void conn_begin_linger(struct conn *c)
{
	if (c->state == CONN_LINGER || c->closing)
		return;
	c->state = CONN_LINGER;
	c->rpos = c->rlen = 0;
	if (c->peer_eof) {
		conn_close(c);
		return;
	}
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, &c->io.stream, conn_shutdown_cb) < 0) {
		conn_close(c);
		return;
	}
	conn_set_timer(c, c->server->opts.linger_ms);
	conn_update_reading(c);
}

void conn_response_done(struct conn *c, struct http_response *res)
{
	if (c->res != res)
		return;
	c->res = NULL;
	c->fresh = false;
	if (res->close || c->server->draining) {
		c->close_after = true;
		if (c->write_queued == 0)
			conn_begin_linger(c);
		return;
	}
	c->state = CONN_IDLE;
	if (c->peer_eof && c->rpos == c->rlen) {
		/* Everything the client sent has been answered; close once the
		 * answers are written. */
		c->close_after = true;
		if (c->write_queued == 0)
			conn_begin_linger(c);
		return;
	}
	conn_set_timer(c, c->server->opts.idle_timeout_ms);
	if (!c->in_process)
		conn_process(c);
}

static void conn_dispatch(struct conn *c, struct http_request *req)
{
	uv_timer_stop(&c->timer);
	c->state = CONN_HANDLING;
	struct http_response *res = response_new(c->server, c, req);
	c->res = res;
	server_dispatch(c->server, res);
}

/* Parses what has been read, one request at a time. */
static void conn_process(struct conn *c)
{
	if (c->in_process)
		return;
	c->in_process = true;
	while (!c->closing && !c->close_after && c->rpos < c->rlen &&
	       (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY) &&
	       c->write_queued < CONN_MAX_WRITE_BACKLOG) {
		if (c->state == CONN_IDLE && c->server->draining) {
			conn_close(c);
			break;
		}
		size_t used = 0;
		enum http_parse_event ev = http_parser_feed(&c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
		c->rpos += used;
		if (c->state == CONN_IDLE && http_parser_started(&c->parser)) {
			c->state = CONN_HEAD;
			c->parser.req->start_ns = uv_hrtime();
			conn_set_timer(c, c->server->opts.header_timeout_ms);
		}
		switch (ev) {
		case HTTP_PARSE_NEED_MORE: break;
		case HTTP_PARSE_HEADERS_DONE: {
			c->state = CONN_BODY;
			conn_set_timer(c, c->server->opts.body_timeout_ms);
			struct http_request *req = http_parser_current(&c->parser);
			if (req && req->expect_continue && req->version_minor >= 1) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				conn_write(c, cont, sizeof(cont) - 1);
			}
			break;
		}
		case HTTP_PARSE_MESSAGE_DONE: conn_dispatch(c, http_parser_take_request(&c->parser)); break;
		case HTTP_PARSE_ERROR:
			c->rpos = c->rlen;
			conn_fail(c, c->parser.error_code, c->parser.error_message);
			break;
		}
	}
	if (!c->closing && c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	c->in_process = false;
	if (!c->closing && c->peer_eof && c->state == CONN_IDLE && c->rpos == c->rlen && !c->close_after &&
	    c->write_queued == 0)
		conn_close(c);
	else
		conn_update_reading(c);
}
