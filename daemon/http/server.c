/* Listeners, accepting, routing, request statistics and graceful shutdown
 * of the HTTP server. */
#include "daemon/http/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/log.h"

static void server_maybe_closed(struct http_server *server);

void http_server_default_options(struct http_server_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->limits.max_request_line = 8 * 1024;
	opts->limits.max_header_bytes = 16 * 1024;
	opts->limits.max_headers = 100;
	opts->limits.max_body_bytes = 1024 * 1024;
	opts->header_timeout_ms = 10 * 1000;
	opts->body_timeout_ms = 30 * 1000;
	opts->idle_timeout_ms = 60 * 1000;
	opts->linger_ms = 2000;
	opts->max_connections = 1024;
	opts->log_requests = true;
}

struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_options *opts,
				    const struct router *router)
{
	struct http_server *server = xcalloc(1, sizeof(*server));
	server->loop = loop;
	server->opts = *opts;
	server->router = router;
	server->duration_slots = HTTP_ROUTE_SLOT_FIRST + router_count(router);
	server->durations = xcalloc(server->duration_slots, sizeof(*server->durations));
	return server;
}

void http_server_free(struct http_server *server)
{
	if (!server)
		return;
	for (size_t i = 0; i < server->listener_count; i++)
		free(server->listeners[i]);
	free(server->counters);
	free(server->durations);
	free(server);
}

size_t http_server_connection_count(const struct http_server *server)
{
	return server->conn_count;
}

const char *server_date(struct http_server *server)
{
	time_t now = time(NULL);
	if (now != server->date_time) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(server->date, sizeof(server->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		server->date_time = now;
	}
	return server->date;
}

static void server_on_connection(uv_stream_t *listener_stream, int status)
{
	struct http_listener *l = listener_stream->data;
	struct http_server *server = l->server;
	if (status < 0) {
		log_event(LOG_LEVEL_WARN, "accept failed", "error", uv_strerror(status), NULL);
		return;
	}
	struct conn *c = conn_new(server, l->is_tcp);
	if (uv_accept(listener_stream, &c->io.stream) < 0) {
		conn_close(c);
		return;
	}
	/* conn_new counted c already. */
	if (server->draining || server->conn_count > server->opts.max_connections) {
		server->connections_rejected++;
		conn_close(c);
		return;
	}
	server->connections_total++;
	conn_start(c);
}

static struct http_listener *server_add_listener(struct http_server *server, bool is_tcp, char *err, size_t errlen)
{
	if (server->listener_count == sizeof(server->listeners) / sizeof(server->listeners[0])) {
		snprintf(err, errlen, "too many listeners");
		return NULL;
	}
	struct http_listener *l = xcalloc(1, sizeof(*l));
	l->server = server;
	l->is_tcp = is_tcp;
	if (is_tcp)
		uv_tcp_init(server->loop, &l->io.tcp);
	else
		uv_pipe_init(server->loop, &l->io.pipe, 0);
	l->io.handle.data = l;
	server->listeners[server->listener_count++] = l;
	server->listeners_open++;
	return l;
}

static void server_listener_closed(uv_handle_t *handle)
{
	struct http_listener *l = handle->data;
	struct http_server *server = l->server;
	if (l->unlink_path) {
		unlink(l->unlink_path);
		free(l->unlink_path);
		l->unlink_path = NULL;
	}
	server->listeners_open--;
	server_maybe_closed(server);
}

int http_server_listen_tcp(struct http_server *server, const struct sockaddr *addr, char *bound, size_t boundlen,
			   char *err, size_t errlen)
{
	struct http_listener *l = server_add_listener(server, true, err, errlen);
	if (!l)
		return -EINVAL;
	int rc = uv_tcp_bind(&l->io.tcp, addr, 0);
	if (rc == 0)
		rc = uv_listen(&l->io.stream, 511, server_on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on TCP: %s", uv_strerror(rc));
		uv_close(&l->io.handle, server_listener_closed);
		return rc;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&ss, &len);
	char host[64] = "?";
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		snprintf(bound, boundlen, "[%s]:%u", host, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		snprintf(bound, boundlen, "%s:%u", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return 0;
}

int http_server_listen_unix(struct http_server *server, const char *path, unsigned mode, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket; refusing to replace it", path);
			return -EEXIST;
		}
		/* The caller holds the data directory's lock, so a socket file
		 * here is left over from a daemon that died. */
		unlink(path);
	}
	struct http_listener *l = server_add_listener(server, false, err, errlen);
	if (!l)
		return -EINVAL;
	/* The socket is created with the umask applied, so it is never
	 * reachable with wider permissions than mode, even briefly. */
	mode_t old = umask(~mode & 0777);
	int rc = uv_pipe_bind(&l->io.pipe, path);
	umask(old);
	if (rc == 0) {
		l->unlink_path = xstrdup(path);
		chmod(path, mode);
		rc = uv_listen(&l->io.stream, 511, server_on_connection);
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on unix socket %s: %s", path, uv_strerror(rc));
		uv_close(&l->io.handle, server_listener_closed);
		return rc;
	}
	return 0;
}

static void server_grace_timer_closed(uv_handle_t *handle)
{
	struct http_server *server = handle->data;
	server->grace_timer_active = false;
	if (!server->closed_notified && server->closed_cb) {
		server->closed_notified = true;
		server->closed_cb(server, server->closed_arg);
	}
}

/* Calls closed_cb once shutdown has begun and every handle is closed. */
static void server_maybe_closed(struct http_server *server)
{
	if (!server->draining || server->conn_count > 0 || server->listeners_open > 0)
		return;
	if (server->grace_timer_active) {
		if (!uv_is_closing((uv_handle_t *)&server->grace_timer))
			uv_close((uv_handle_t *)&server->grace_timer, server_grace_timer_closed);
		return;
	}
	if (!server->closed_notified && server->closed_cb) {
		server->closed_notified = true;
		server->closed_cb(server, server->closed_arg);
	}
}

void server_conn_freed(struct http_server *server, struct conn *c)
{
	(void)c;
	server_maybe_closed(server);
}

static void server_grace_expired(uv_timer_t *timer)
{
	struct http_server *server = timer->data;
	if (server->conn_count > 0)
		log_event(LOG_LEVEL_WARN, "shutdown grace period over; closing connections", NULL);
	for (struct conn *c = server->conns; c; c = c->next)
		conn_close(c);
}

void http_server_shutdown(struct http_server *server, uint64_t grace_ms, http_server_closed_fn cb, void *arg)
{
	if (server->draining) {
		/* Asked again: the grace period is over now. */
		if (server->grace_timer_active)
			server_grace_expired(&server->grace_timer);
		return;
	}
	server->draining = true;
	server->closed_cb = cb;
	server->closed_arg = arg;
	for (size_t i = 0; i < server->listener_count; i++) {
		struct http_listener *l = server->listeners[i];
		if (!uv_is_closing(&l->io.handle))
			uv_close(&l->io.handle, server_listener_closed);
	}
	struct conn *next;
	for (struct conn *c = server->conns; c; c = next) {
		next = c->next;
		conn_drain(c);
	}
	uv_timer_init(server->loop, &server->grace_timer);
	server->grace_timer.data = server;
	server->grace_timer_active = true;
	uv_timer_start(&server->grace_timer, server_grace_expired, grace_ms, 0);
	server_maybe_closed(server);
}

void server_dispatch(struct http_server *server, struct http_response *res)
{
	struct http_request *req = res->req;
	const struct route *route = NULL;
	char allow[128];
	res->route_slot = HTTP_ROUTE_SLOT_UNMATCHED;
	switch (router_match(server->router, req, &route, allow, sizeof(allow))) {
	case ROUTER_MATCH:
		res->route_slot = HTTP_ROUTE_SLOT_FIRST + route->index;
		route->handler(req, res, route->ctx);
		return;
	case ROUTER_METHOD_NOT_ALLOWED:
		http_response_header(res, "Allow", allow);
		http_response_error(res, PROTO_ERR_METHOD_NOT_ALLOWED, "%s is not allowed on %s (allowed: %s)",
				    req->method_name, req->path, allow);
		return;
	case ROUTER_BAD_PATH:
		http_response_error(res, PROTO_ERR_MALFORMED_REQUEST, "malformed percent-escape in the path");
		return;
	case ROUTER_NOT_FOUND: http_response_error(res, PROTO_ERR_NOT_FOUND, "no such resource: %s", req->path); return;
	}
}

static struct http_counter *server_counter(struct http_server *server, unsigned slot, const char *method, int status)
{
	for (size_t i = 0; i < server->counter_count; i++) {
		struct http_counter *k = &server->counters[i];
		if (k->route_slot == slot && k->status == status && k->method == method)
			return k;
	}
	if (server->counter_count == server->counter_cap) {
		server->counter_cap = server->counter_cap ? server->counter_cap * 2 : 32;
		server->counters = xrealloc(server->counters, server->counter_cap * sizeof(*server->counters));
	}
	struct http_counter *k = &server->counters[server->counter_count++];
	k->route_slot = slot;
	k->method = method;
	k->status = status;
	k->count = 0;
	return k;
}

/* llhttp's method names are static strings, so counters compare them by
 * pointer; a request refused before its method was known counts as "". */
void server_record(struct http_server *server, const struct http_response *res)
{
	const struct http_request *req = res->req;
	const char *method = req && req->method_name ? req->method_name : "";
	unsigned slot = res->route_slot < server->duration_slots ? res->route_slot : HTTP_ROUTE_SLOT_INVALID;
	uint64_t elapsed_ns = uv_hrtime() - res->start_ns;
	server_counter(server, slot, method, res->status)->count++;
	metrics_histogram_observe(&server->durations[slot], (double)elapsed_ns / 1e9);
	if (!server->opts.log_requests || !log_enabled(LOG_LEVEL_INFO))
		return;
	struct log_line line;
	log_begin(&line, LOG_LEVEL_INFO, "request");
	log_str(&line, "method", method[0] ? method : "-");
	if (req && req->path)
		log_str(&line, "path", req->path);
	else if (req && req->url_buf.len)
		log_strn(&line, "path", req->url_buf.data, strcspn(req->url_buf.data, "?"));
	else
		log_str(&line, "path", "-");
	log_int(&line, "status", res->status);
	log_uint(&line, "bytes", res->body_bytes);
	log_ms(&line, "duration_ms", (double)elapsed_ns / 1e6);
	if (res->conn)
		log_str(&line, "peer", res->conn->peer);
	if (res->aborted)
		log_str(&line, "client", "gone");
	log_end(&line);
}

static const char *server_slot_label(const struct http_server *server, unsigned slot)
{
	if (slot == HTTP_ROUTE_SLOT_UNMATCHED)
		return "unmatched";
	if (slot == HTTP_ROUTE_SLOT_INVALID)
		return "invalid";
	const struct route *r = router_get(server->router, slot - HTTP_ROUTE_SLOT_FIRST);
	return r ? r->pattern : "unknown";
}

void http_server_collect_metrics(struct buf *out, void *arg)
{
	struct http_server *server = arg;
	metrics_write_header(out, "agentd_http_requests_total", "counter",
			     "HTTP requests answered, by route pattern, method and status.");
	for (size_t i = 0; i < server->counter_count; i++) {
		const struct http_counter *k = &server->counters[i];
		buf_append_str(out, "agentd_http_requests_total{route=\"");
		metrics_write_label_value(out, server_slot_label(server, k->route_slot));
		buf_append_str(out, "\",method=\"");
		metrics_write_label_value(out, k->method);
		buf_printf(out, "\",status=\"%d\"} %llu\n", k->status, (unsigned long long)k->count);
	}
	metrics_write_header(out, "agentd_http_request_duration_seconds", "histogram",
			     "Time from a request's first byte to its last response byte queued.");
	for (unsigned slot = 0; slot < server->duration_slots; slot++) {
		if (server->durations[slot].count == 0)
			continue;
		/* Routes sharing a pattern (GET and POST /v1/tasks) are told
		 * apart by method. */
		struct buf labels = BUF_INIT;
		buf_append_str(&labels, "route=\"");
		metrics_write_label_value(&labels, server_slot_label(server, slot));
		buf_append_str(&labels, "\"");
		const struct route *r =
			slot >= HTTP_ROUTE_SLOT_FIRST ? router_get(server->router, slot - HTTP_ROUTE_SLOT_FIRST) : NULL;
		if (r)
			buf_printf(&labels, ",method=\"%s\"", r->method);
		metrics_histogram_write(out, "agentd_http_request_duration_seconds", labels.data,
					&server->durations[slot]);
		buf_free(&labels);
	}
	metrics_write_header(out, "agentd_http_connections_open", "gauge", "Open client connections.");
	buf_printf(out, "agentd_http_connections_open %zu\n", server->conn_count);
	metrics_write_header(out, "agentd_http_connections_total", "counter", "Client connections accepted.");
	buf_printf(out, "agentd_http_connections_total %llu\n", (unsigned long long)server->connections_total);
	metrics_write_header(out, "agentd_http_connections_rejected_total", "counter",
			     "Connections closed at once because --max-connections were open.");
	buf_printf(out, "agentd_http_connections_rejected_total %llu\n",
		   (unsigned long long)server->connections_rejected);
	metrics_write_header(out, "agentd_http_connections_timed_out_total", "counter",
			     "Connections cut off because a request arrived too slowly.");
	buf_printf(out, "agentd_http_connections_timed_out_total %llu\n",
		   (unsigned long long)server->connections_timed_out);
}
