/* Every limit of the HTTP server through real sockets: its status, that the
 * connection is closed after it, and that the daemon keeps serving. */
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tests/harness/harness.h"

/* Sends raw bytes on a new connection, reads one response, and checks
 * that the server closes the connection afterwards. */
static void expect_refusal(struct th_daemon *d, const char *raw, size_t len, int status, const char *code)
{
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send(c, raw, len);
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, status);
	CHECK_STR(th_response_header(&r, "connection"), "close");
	CHECK_STR(th_response_header(&r, "content-type"), "application/json");
	char want[128];
	snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
	CHECK_CONTAINS(r.body.data, want);
	th_response_free(&r);
	CHECK(th_conn_wait_closed(c, 5000, NULL));
	th_conn_close(c);
}

static void expect_still_serving(struct th_daemon *d)
{
	struct th_response r;
	th_http(d, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
}

TEST(request_line_over_8k_is_414)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "GET /");
	for (int i = 0; i < 9000; i++)
		buf_append_char(&b, 'a');
	buf_append_str(&b, " HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_refusal(d, b.data, b.len, 414, "uri_too_long");
	buf_free(&b);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(header_section_over_16k_is_431)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 40; i++) {
		buf_printf(&b, "X-Filler-%d: ", i);
		for (int j = 0; j < 500; j++)
			buf_append_char(&b, 'v');
		buf_append_str(&b, "\r\n");
	}
	buf_append_str(&b, "\r\n");
	expect_refusal(d, b.data, b.len, 431, "headers_too_large");
	buf_free(&b);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(more_than_100_headers_is_431)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "X-%d: v\r\n", i);
	buf_append_str(&b, "\r\n");
	expect_refusal(d, b.data, b.len, 431, "headers_too_large");
	/* Exactly 100 (Host included) is fine. */
	buf_reset(&b);
	buf_append_str(&b, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
	for (int i = 0; i < 98; i++)
		buf_printf(&b, "X-%d: v\r\n", i);
	buf_append_str(&b, "\r\n");
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send(c, b.data, b.len);
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_conn_close(c);
	buf_free(&b);
	th_daemon_stop(d);
}

TEST(body_over_max_body_is_413_before_it_is_sent)
{
	const char *args[] = {"--max-body", "1k", NULL};
	struct th_daemon *d = th_daemon_start(args);
	/* Only the head goes out: the answer must not wait for 1 MiB. */
	const char *head = "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n";
	long long t0 = th_now_ms();
	expect_refusal(d, head, strlen(head), 413, "payload_too_large");
	CHECK_INT(th_now_ms() - t0, <, 3000);
	/* A client that keeps sending after the 413 still gets the answer. */
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, head);
	char chunk[16384];
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 8; i++)
		th_conn_send(c, chunk, sizeof(chunk));
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 413);
	th_response_free(&r);
	th_conn_close(c);
	/* At the limit, the body is read and the request routed. */
	char body[1025];
	memset(body, 'b', 1024);
	body[1024] = '\0';
	th_http(d, "POST", "/healthz", body, &r);
	CHECK_INT(r.status, ==, 405);
	th_response_free(&r);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(chunked_body_over_max_body_is_413)
{
	const char *args[] = {"--max-body", "1k", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		buf_append_str(&b, "100\r\n");
		for (int j = 0; j < 256; j++)
			buf_append_char(&b, 'z');
		buf_append_str(&b, "\r\n");
	}
	buf_append_str(&b, "1\r\nz\r\n0\r\n\r\n");
	expect_refusal(d, b.data, b.len, 413, "payload_too_large");
	buf_free(&b);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(malformed_request_is_400_and_daemon_survives)
{
	struct th_daemon *d = th_daemon_start(NULL);
	const char *bad[] = {
		"HELLO WORLD\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: t\r\nNo-Colon\r\n\r\n",
		"GET /healthz HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refusal(d, bad[i], strlen(bad[i]), 400, "malformed_request");
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(unsupported_http_version_is_505)
{
	struct th_daemon *d = th_daemon_start(NULL);
	const char *v2 = "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n";
	expect_refusal(d, v2, strlen(v2), 505, "http_version_not_supported");
	const char *v3 = "GET /healthz HTTP/3.0\r\nHost: t\r\n\r\n";
	expect_refusal(d, v3, strlen(v3), 505, "http_version_not_supported");
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(content_length_with_transfer_encoding_is_400)
{
	struct th_daemon *d = th_daemon_start(NULL);
	/* The classic CL.TE smuggling shape: if the second request were
	 * answered, a front proxy and agentd would disagree on framing. */
	const char *smuggle =
		"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, smuggle);
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 400);
	CHECK_CONTAINS(r.body.data, "Content-Length");
	CHECK_CONTAINS(r.body.data, "Transfer-Encoding");
	th_response_free(&r);
	struct buf rest = BUF_INIT;
	CHECK(th_conn_wait_closed(c, 5000, &rest));
	CHECK_INT(rest.len, ==, 0);
	buf_free(&rest);
	th_conn_close(c);
	/* The other order of the headers too. */
	const char *te_cl =
		"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n";
	expect_refusal(d, te_cl, strlen(te_cl), 400, "malformed_request");
	expect_still_serving(d);
	CHECK_INT(th_metric(d, "agentd_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"), ==, -1);
	th_daemon_stop(d);
}

TEST(slow_headers_get_408)
{
	const char *args[] = {"--header-timeout", "300ms", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "GET /healthz HTTP/1.1\r\nHo");
	long long t0 = th_now_ms();
	/* Trickling bytes does not extend the deadline. */
	for (int i = 0; i < 3; i++) {
		th_sleep_ms(100);
		th_conn_send_str(c, "o");
	}
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	long long took = th_now_ms() - t0;
	CHECK_INT(r.status, ==, 408);
	CHECK_CONTAINS(r.body.data, "request_timeout");
	CHECK_INT(took, >=, 250);
	CHECK_INT(took, <, 3000);
	th_response_free(&r);
	CHECK(th_conn_wait_closed(c, 5000, NULL));
	th_conn_close(c);
	CHECK_INT(th_metric(d, "agentd_http_connections_timed_out_total"), ==, 1);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(slow_body_gets_408)
{
	const char *args[] = {"--body-timeout", "300ms", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a little");
	long long t0 = th_now_ms();
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 408);
	CHECK_CONTAINS(r.body.data, "body took too long");
	CHECK_INT(th_now_ms() - t0, <, 3000);
	th_response_free(&r);
	CHECK(th_conn_wait_closed(c, 5000, NULL));
	th_conn_close(c);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(silent_connection_is_closed_without_answer)
{
	const char *args[] = {"--header-timeout", "300ms", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *c = th_connect_tcp(d->port);
	struct buf seen = BUF_INIT;
	CHECK(th_conn_wait_closed(c, 5000, &seen));
	CHECK_INT(seen.len, ==, 0);
	buf_free(&seen);
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(idle_keepalive_connection_is_closed)
{
	const char *args[] = {"--idle-timeout", "300ms", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	long long t0 = th_now_ms();
	struct buf seen = BUF_INIT;
	CHECK(th_conn_wait_closed(c, 5000, &seen));
	CHECK_INT(seen.len, ==, 0);
	CHECK_INT(th_now_ms() - t0, >=, 250);
	buf_free(&seen);
	th_conn_close(c);
	th_daemon_stop(d);
}

TEST(connections_over_the_cap_are_closed_at_once)
{
	const char *args[] = {"--max-connections", "4", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *held[4];
	for (int i = 0; i < 4; i++) {
		held[i] = th_connect_tcp(d->port);
		/* Served: the connection is really open on the daemon's side. */
		th_conn_send_str(held[i], "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
		struct th_response r;
		CHECK_INT(th_conn_read_response(held[i], &r, false, 5000), ==, 0);
		CHECK_INT(r.status, ==, 200);
		th_response_free(&r);
	}
	struct th_conn *extra = th_connect_tcp(d->port);
	long long t0 = th_now_ms();
	CHECK(th_conn_wait_closed(extra, 3000, NULL));
	CHECK_INT(th_now_ms() - t0, <, 1000);
	th_conn_close(extra);
	/* A slot frees up when a held connection closes. Until the daemon has
	 * seen the close, attempts are still refused (and counted). */
	th_conn_close(held[0]);
	long long deadline = th_now_ms() + 5000;
	int status = 0, refused = 0;
	while (status != 200 && th_now_ms() < deadline) {
		struct th_conn *c = th_connect_tcp(d->port);
		th_conn_send_str(c, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
		struct th_response r;
		if (th_conn_read_response(c, &r, false, 2000) == 0) {
			status = r.status;
			if (status == 200) {
				char want[80];
				snprintf(want, sizeof(want), "agentd_http_connections_rejected_total %d\n",
					 1 + refused);
				CHECK_CONTAINS(r.body.data, want);
			}
			th_response_free(&r);
		} else {
			refused++;
		}
		th_conn_close(c);
		if (status != 200)
			th_sleep_ms(20);
	}
	CHECK_INT(status, ==, 200);
	for (int i = 1; i < 4; i++)
		th_conn_close(held[i]);
	th_daemon_stop(d);
}

TEST(client_disconnecting_mid_request_is_harmless)
{
	struct th_daemon *d = th_daemon_start(NULL);
	const char *partials[] = {
		"GET /heal",
		"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Half: ",
		"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nsome of the body",
		"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
	};
	for (size_t i = 0; i < sizeof(partials) / sizeof(partials[0]); i++) {
		struct th_conn *c = th_connect_tcp(d->port);
		th_conn_send_str(c, partials[i]);
		th_sleep_ms(20);
		th_conn_close(c);
	}
	/* A reset instead of a close. */
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc");
	struct linger lg = {1, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	th_conn_close(c);
	/* Every one of those connections is gone on the daemon's side. */
	long long deadline = th_now_ms() + 5000;
	double open = -1;
	while (th_now_ms() < deadline) {
		open = th_metric(d, "agentd_http_connections_open");
		if (open == 1)
			break;
		th_sleep_ms(20);
	}
	CHECK_INT(open, ==, 1);
	expect_still_serving(d);
	th_daemon_stop(d);
}

TEST(pipelining_client_that_never_reads_does_not_block_others)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	int small = 4096;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* Pipeline /metrics requests without reading; the daemon stops parsing
	 * once its backlog is full, so our sends eventually block. */
	struct buf many = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_append_str(&many, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	struct timeval tv = {2, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 50; i++) {
		if (th_conn_send(c, many.data, many.len) < 0)
			break;
	}
	buf_free(&many);
	/* Meanwhile everyone else is served. */
	expect_still_serving(d);
	th_conn_close(c);
	expect_still_serving(d);
	th_daemon_stop(d);
}
