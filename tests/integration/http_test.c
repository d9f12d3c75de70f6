/* agentd's HTTP surface through real sockets: routes, errors, keep-alive,
 * pipelining, HEAD, HTTP/1.0, 100-continue, chunked bodies, metrics. */
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>

#include "tests/harness/harness.h"

TEST(healthz_on_tcp_and_unix_socket)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_response r;
	th_http(d, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(r.body.data, "{\"status\":\"ok\"}\n");
	CHECK_STR(th_response_header(&r, "content-type"), "application/json");
	th_response_free(&r);
	th_http_unix(d, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(r.body.data, "{\"status\":\"ok\"}\n");
	th_response_free(&r);
	struct stat st;
	CHECK_INT(stat(d->socket, &st), ==, 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, ==, 0600);
	th_daemon_stop(d);
	/* The socket file goes away with the daemon. */
	CHECK_INT(stat(d->socket, &st), ==, -1);
}

TEST(errors_are_json_from_the_catalog)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_response r;
	th_http(d, "GET", "/no/such/thing", NULL, &r);
	CHECK_INT(r.status, ==, 404);
	CHECK_STR(th_response_header(&r, "content-type"), "application/json");
	CHECK_CONTAINS(r.body.data,
		       "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource: /no/such/thing\"}}");
	th_response_free(&r);
	th_http(d, "DELETE", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 405);
	CHECK_STR(th_response_header(&r, "allow"), "GET, HEAD");
	CHECK_CONTAINS(r.body.data, "\"code\":\"method_not_allowed\"");
	th_response_free(&r);
	th_http(d, "GET", "/healthz%zz", NULL, &r);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	th_daemon_stop(d);
}

TEST(head_has_headers_only)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, true, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(th_response_header(&r, "content-length"), "16");
	CHECK_INT(r.body.len, ==, 0);
	th_response_free(&r);
	/* Had a body been sent, it would be read here as a bad response. */
	th_conn_send_str(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(r.body.data, "{\"status\":\"ok\"}\n");
	th_response_free(&r);
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(thousand_requests_on_one_connection)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	for (int i = 0; i < 1000; i++) {
		CHECK_INT(th_conn_send_str(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), ==, 0);
		struct th_response r;
		CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
		CHECK_INT(r.status, ==, 200);
		CHECK(r.keep_alive);
		th_response_free(&r);
	}
	th_conn_close(c);
	CHECK_INT(th_metric(d, "agentd_http_connections_total"), ==, 2);
	CHECK_INT(th_metric(d, "agentd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"), ==,
		  1000);
	th_daemon_stop(d);
}

TEST(pipelined_requests_answered_in_order)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	/* Five requests in one write, one with a body and one chunked. */
	const char *batch =
		"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /missing-1 HTTP/1.1\r\nHost: t\r\n\r\n"
		"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
		"PUT /missing-2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	CHECK_INT(th_conn_send_str(c, batch), ==, 0);
	int expected[] = {200, 404, 405, 404, 200};
	for (int i = 0; i < 5; i++) {
		struct th_response r;
		CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
		CHECK_INT(r.status, ==, expected[i]);
		if (i == 1)
			CHECK_CONTAINS(r.body.data, "/missing-1");
		if (i == 3)
			CHECK_CONTAINS(r.body.data, "/missing-2");
		if (i == 4)
			CHECK_CONTAINS(r.body.data, "agentd_http_requests_total");
		th_response_free(&r);
	}
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(pipelined_then_half_close_still_answered)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	CHECK_INT(th_conn_send_str(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"),
		  ==, 0);
	shutdown(c->fd, SHUT_WR);
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	CHECK(th_conn_wait_closed(c, 5000, NULL));
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(http10_closes_unless_keep_alive)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "GET /healthz HTTP/1.0\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR(th_response_header(&r, "connection"), "close");
	th_response_free(&r);
	CHECK(th_conn_wait_closed(c, 5000, NULL));
	th_conn_close(c);

	c = th_connect_tcp(d->port);
	th_conn_send_str(c, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_STR(th_response_header(&r, "connection"), "keep-alive");
	th_response_free(&r);
	th_conn_send_str(c, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(expect_100_continue)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "POST /nope HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	CHECK_STR(th_conn_wait_for(c, "\r\n\r\n", 5000), "HTTP/1.1 100 Continue\r\n\r\n");
	th_conn_send_str(c, "body");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 404);
	th_response_free(&r);
	/* An unknown expectation is refused. */
	th_conn_send_str(c, "POST /nope HTTP/1.1\r\nHost: t\r\nExpect: telepathy\r\nContent-Length: 4\r\n\r\nbody");
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 417);
	CHECK_CONTAINS(r.body.data, "expectation_failed");
	th_response_free(&r);
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(metrics_count_routes_statuses_and_connections)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_response r;
	for (int i = 0; i < 3; i++) {
		th_http(d, "GET", "/healthz", NULL, &r);
		th_response_free(&r);
	}
	th_http(d, "GET", "/v1/whatever", NULL, &r);
	th_response_free(&r);
	th_http(d, "POST", "/healthz", "{}", &r);
	th_response_free(&r);
	struct th_conn *idle = th_connect_tcp(d->port);
	th_http_unix(d, "GET", "/metrics", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_CONTAINS(th_response_header(&r, "content-type"), "text/plain; version=0.0.4");
	const char *m = r.body.data;
	CHECK_CONTAINS(m, "# TYPE agentd_http_requests_total counter\n");
	CHECK_CONTAINS(m, "agentd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3\n");
	CHECK_CONTAINS(m, "agentd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n");
	CHECK_CONTAINS(m, "agentd_http_requests_total{route=\"unmatched\",method=\"POST\",status=\"405\"} 1\n");
	CHECK_CONTAINS(m, "# TYPE agentd_http_request_duration_seconds histogram\n");
	CHECK_CONTAINS(
		m, "agentd_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"+Inf\"} 3\n");
	CHECK_CONTAINS(m, "agentd_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 3\n");
	/* This request's connection and the idle one. */
	CHECK_CONTAINS(m, "agentd_http_connections_open 2\n");
	th_response_free(&r);
	th_conn_close(idle);
	th_daemon_stop(d);
}

TEST(request_log_lines_are_logfmt)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_response r;
	th_http(d, "GET", "/healthz?probe=1", NULL, &r);
	th_response_free(&r);
	th_http(d, "GET", "/a%20b\"c", NULL, &r);
	th_response_free(&r);
	th_daemon_stop(d);
	char *log = th_daemon_log(d);
	CHECK_CONTAINS(log, "level=info msg=request method=GET path=/healthz status=200 bytes=16 duration_ms=");
	/* The query string is not logged (it may carry secrets later). */
	CHECK(strstr(log, "probe=1") == NULL);
	CHECK_CONTAINS(log, "msg=request method=GET path=\"/a%20b\\\"c\" status=404");
	free(log);
}
