/* The response API that handlers use — streamed (chunked) bodies, answers
 * given later from a callback, clients that leave mid-stream, large bodies —
 * exercised by a small server built on daemon/http/ in a child process. */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/xalloc.h"
#include "daemon/http/internal.h"
#include "tests/harness/harness.h"

static struct http_server *test_server;
static int aborted_streams;

struct stream_job {
	uv_timer_t timer;
	struct http_response *res;
	int left;
	int sent;
};

static void stream_job_closed(uv_handle_t *h)
{
	free(h->data);
}

static void stream_tick(uv_timer_t *t)
{
	struct stream_job *job = t->data;
	if (job->left == 0) {
		http_response_end(job->res);
		uv_timer_stop(t);
		uv_close((uv_handle_t *)t, stream_job_closed);
		return;
	}
	char line[32];
	int n = snprintf(line, sizeof(line), "chunk %d\n", job->sent++);
	http_response_write(job->res, line, (size_t)n);
	job->left--;
}

/* GET /stream?n=N&delay_ms=D: N lines, one every D ms. */
static void route_stream(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)ctx;
	char v[16];
	int n = http_request_query(req, "n", v, sizeof(v)) > 0 ? atoi(v) : 3;
	int delay = http_request_query(req, "delay_ms", v, sizeof(v)) > 0 ? atoi(v) : 10;
	http_response_header(res, "Cache-Control", "no-cache");
	CHECK_INT(http_response_start(res, 200, "text/plain"), ==, 0);
	struct stream_job *job = xcalloc(1, sizeof(*job));
	job->res = res;
	job->left = n;
	uv_timer_init(test_server->loop, &job->timer);
	job->timer.data = job;
	stream_tick(&job->timer);
	uv_timer_start(&job->timer, stream_tick, (uint64_t)delay, (uint64_t)delay);
}

static void async_done(uv_timer_t *t)
{
	struct http_response *res = t->data;
	http_response_send(res, 200, "text/plain", "later\n", 6);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* GET /async: answered 100 ms after the handler returned. */
static void route_async(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	uv_timer_t *t = xmalloc(sizeof(*t));
	uv_timer_init(test_server->loop, t);
	t->data = res;
	uv_timer_start(t, async_done, 100, 0);
}

static void forever_aborted(struct http_response *res, void *arg)
{
	(void)arg;
	aborted_streams++;
	CHECK(!http_response_client_alive(res));
	CHECK_INT(http_response_write(res, "x", 1), ==, -EPIPE);
	http_response_end(res);
}

/* GET /forever: one line, then nothing until the client leaves. */
static void route_forever(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	http_response_on_abort(res, forever_aborted, NULL);
	http_response_start(res, 200, "text/event-stream");
	http_response_write(res, "data: hello\n\n", 13);
}

static void route_stats(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	char body[128];
	int n = snprintf(body, sizeof(body), "{\"aborted\":%d,\"live\":%zu}", aborted_streams,
			 test_server->responses_live);
	http_response_send(res, 200, "application/json", body, (size_t)n);
}

/* GET /big: 4 MiB in one response. */
static void route_big(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	size_t len = 4u << 20;
	char *body = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	http_response_send(res, 200, "application/octet-stream", body, len);
	free(body);
}

static void route_headers(struct http_request *req, struct http_response *res, void *ctx)
{
	(void)req;
	(void)ctx;
	int bad = http_response_header(res, "X-Evil", "a\r\nSet-Cookie: x=1");
	int bad_name = http_response_header(res, "X-Evil\r\nX", "v");
	int good = http_response_header(res, "X-Good", "fine");
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %d %d", bad, bad_name, good);
	http_response_send(res, 200, "text/plain", body, (size_t)n);
}

static void test_server_closed(struct http_server *server, void *arg)
{
	(void)server;
	uv_close((uv_handle_t *)arg, NULL);
}

static void on_sigterm(uv_signal_t *sig, int signum)
{
	(void)signum;
	http_server_shutdown(test_server, 1000, test_server_closed, sig);
}

/* Runs the test server in a child; returns its pid and its port. */
static pid_t start_test_server(int *port)
{
	int fds[2];
	CHECK_INT(pipe(fds), ==, 0);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		uv_loop_t loop;
		uv_loop_init(&loop);
		struct router *router = router_new();
		router_add(router, "GET", "/stream", route_stream, NULL);
		router_add(router, "GET", "/async", route_async, NULL);
		router_add(router, "GET", "/forever", route_forever, NULL);
		router_add(router, "GET", "/stats", route_stats, NULL);
		router_add(router, "GET", "/big", route_big, NULL);
		router_add(router, "GET", "/headers", route_headers, NULL);
		struct http_server_options opts;
		http_server_default_options(&opts);
		opts.log_requests = false;
		test_server = http_server_new(&loop, &opts, router);
		struct sockaddr_in sin;
		uv_ip4_addr("127.0.0.1", 0, &sin);
		char bound[64], err[256];
		if (http_server_listen_tcp(test_server, (struct sockaddr *)&sin, bound, sizeof(bound), err,
					   sizeof(err)) < 0)
			_exit(3);
		int p = atoi(strchr(bound, ':') + 1);
		if (write(fds[1], &p, sizeof(p)) != sizeof(p))
			_exit(3);
		close(fds[1]);
		uv_signal_t sig;
		uv_signal_init(&loop, &sig);
		uv_signal_start(&sig, on_sigterm, SIGTERM);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		http_server_free(test_server);
		router_free(router);
		_exit(0);
	}
	close(fds[1]);
	CHECK_INT(read(fds[0], port, sizeof(*port)), ==, sizeof(*port));
	close(fds[0]);
	return pid;
}

static void stop_test_server(pid_t pid)
{
	kill(pid, SIGTERM);
	int status;
	CHECK_INT(waitpid(pid, &status, 0), ==, pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), ==, 0);
}

TEST(chunked_stream_arrives_piece_by_piece)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	long long t0 = th_now_ms();
	th_conn_send_str(c, "GET /stream?n=3&delay_ms=600 HTTP/1.1\r\nHost: t\r\n\r\n");
	const char *first = th_conn_wait_for(c, "chunk 0\n", 5000);
	/* The first piece is out long before the stream ends. */
	CHECK_INT(th_now_ms() - t0, <, 500);
	CHECK_CONTAINS(first, "Transfer-Encoding: chunked\r\n");
	CHECK_CONTAINS(first, "Cache-Control: no-cache\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(th_now_ms() - t0, >=, 1150);
	CHECK_STR(r.body.data, "chunk 0\nchunk 1\nchunk 2\n");
	th_response_free(&r);
	/* The connection is reusable after a chunked response. */
	th_conn_send_str(c, "GET /stream?n=2&delay_ms=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_STR(r.body.data, "chunk 0\nchunk 1\n");
	th_response_free(&r);
	th_conn_close(c);
	stop_test_server(pid);
}

TEST(http10_stream_is_close_delimited)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /stream?n=2&delay_ms=5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK(th_response_header(&r, "transfer-encoding") == NULL);
	CHECK_STR(th_response_header(&r, "connection"), "close");
	CHECK_STR(r.body.data, "chunk 0\nchunk 1\n");
	th_response_free(&r);
	th_conn_close(c);
	stop_test_server(pid);
}

TEST(late_answers_keep_pipeline_order)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /async HTTP/1.1\r\nHost: t\r\n\r\nGET /stats HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_STR(r.body.data, "later\n");
	th_response_free(&r);
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_CONTAINS(r.body.data, "\"aborted\":0");
	th_response_free(&r);
	th_conn_close(c);
	stop_test_server(pid);
}

TEST(client_leaving_mid_stream_aborts_it)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	th_conn_wait_for(c, "data: hello", 5000);
	th_conn_close(c);
	long long deadline = th_now_ms() + 5000;
	struct th_response r;
	memset(&r, 0, sizeof(r));
	while (th_now_ms() < deadline) {
		struct th_conn *s = th_connect_tcp(port);
		th_conn_send_str(s, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n");
		CHECK_INT(th_conn_read_response(s, &r, false, 5000), ==, 0);
		th_conn_close(s);
		if (strstr(r.body.data, "\"aborted\":1"))
			break;
		th_response_free(&r);
		th_sleep_ms(20);
	}
	/* Aborted once, and the aborted response was released: only the
	 * /stats response itself is live. */
	CHECK_STR(r.body.data, "{\"aborted\":1,\"live\":1}");
	th_response_free(&r);
	stop_test_server(pid);
}

TEST(large_response_is_delivered_whole)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /stats HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 10000), ==, 0);
	CHECK_INT(r.body.len, ==, 4u << 20);
	for (size_t i = 0; i < r.body.len; i += 4099)
		CHECK_INT(r.body.data[i], ==, 'a' + i % 26);
	th_response_free(&r);
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_conn_close(c);
	stop_test_server(pid);
}

TEST(header_injection_is_refused)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /headers HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_STR(r.body.data, "-22 -22 0");
	CHECK_STR(th_response_header(&r, "x-good"), "fine");
	CHECK(th_response_header(&r, "set-cookie") == NULL);
	CHECK(th_response_header(&r, "x-evil") == NULL);
	th_response_free(&r);
	th_conn_close(c);
	stop_test_server(pid);
}

TEST(shutdown_waits_for_a_stream_then_closes_it)
{
	int port;
	pid_t pid = start_test_server(&port);
	struct th_conn *c = th_connect_tcp(port);
	th_conn_send_str(c, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	th_conn_wait_for(c, "data: hello", 5000);
	long long t0 = th_now_ms();
	/* The grace period (1s) ends the stream; the server exits 0. */
	stop_test_server(pid);
	long long took = th_now_ms() - t0;
	CHECK_INT(took, >=, 900);
	CHECK_INT(took, <, 4000);
	CHECK(th_conn_wait_closed(c, 2000, NULL));
	th_conn_close(c);
}
