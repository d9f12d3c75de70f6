/* The request parser driven from buffers: framing, limits, and the
 * statuses each malformed or oversized request gets. */
#include <errno.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "daemon/http/parser.h"
#include "tests/harness/harness.h"

static const struct http_limits limits = {
	.max_request_line = 8192,
	.max_header_bytes = 16384,
	.max_headers = 100,
	.max_body_bytes = 1024,
};

/* Feeds text in pieces of chunk bytes (0: all at once) until a request is
 * complete or an error occurs. Returns the request (caller frees) or NULL
 * with *status set to the error status. *used_total is the bytes consumed. */
static struct http_request *parse_in_chunks(struct http_parser *p, const char *text, size_t len, size_t chunk,
					    int *status, size_t *used_total)
{
	size_t off = 0;
	*status = 0;
	while (off < len) {
		size_t n = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
		size_t used = 0;
		enum http_parse_event ev = http_parser_feed(p, text + off, n, &used);
		off += used;
		if (ev == HTTP_PARSE_MESSAGE_DONE) {
			*used_total = off;
			return http_parser_take_request(p);
		}
		if (ev == HTTP_PARSE_ERROR) {
			*status = p->error_status;
			*used_total = off;
			return NULL;
		}
		if (ev == HTTP_PARSE_NEED_MORE && used != n)
			th_fail(__FILE__, __LINE__, "NEED_MORE but only %zu of %zu bytes used", used, n);
	}
	/* A paused parser may complete with no more input (bodyless). */
	size_t used = 0;
	if (http_parser_feed(p, "", 0, &used) == HTTP_PARSE_MESSAGE_DONE) {
		*used_total = off;
		return http_parser_take_request(p);
	}
	*used_total = off;
	return NULL;
}

static int status_of(const char *text)
{
	struct http_parser p;
	http_parser_init(&p, &limits);
	int status;
	size_t used;
	struct http_request *req = parse_in_chunks(&p, text, strlen(text), 0, &status, &used);
	http_request_free(req);
	http_parser_close(&p);
	return req ? 200 : status;
}

TEST(simple_get_any_split)
{
	const char *text = "GET /v1/tasks/abc%20d?state=queued&label=a+b&x=%2F HTTP/1.1\r\n"
			   "Host: example\r\n"
			   "X-Spaced:   padded value  \t\r\n"
			   "Empty:\r\n"
			   "\r\n";
	size_t chunks[] = {0, 1, 2, 3, 7, 13};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct http_parser p;
		http_parser_init(&p, &limits);
		int status;
		size_t used;
		struct http_request *req = parse_in_chunks(&p, text, strlen(text), chunks[i], &status, &used);
		CHECK(req != NULL);
		CHECK_INT(used, ==, strlen(text));
		CHECK_STR(req->method_name, "GET");
		CHECK_STR(req->target, "/v1/tasks/abc%20d?state=queued&label=a+b&x=%2F");
		CHECK_STR(req->path, "/v1/tasks/abc%20d");
		CHECK_STR(req->query, "state=queued&label=a+b&x=%2F");
		CHECK_INT(req->version_major, ==, 1);
		CHECK_INT(req->version_minor, ==, 1);
		CHECK_INT(req->header_count, ==, 3);
		CHECK_STR(http_request_header(req, "host"), "example");
		CHECK_STR(http_request_header(req, "x-spaced"), "padded value");
		CHECK_STR(http_request_header(req, "EMPTY"), "");
		CHECK(http_request_header(req, "missing") == NULL);
		CHECK(req->keep_alive);
		CHECK_INT(req->body_len, ==, 0);
		char value[64];
		CHECK_INT(http_request_query(req, "state", value, sizeof(value)), ==, 6);
		CHECK_STR(value, "queued");
		CHECK_INT(http_request_query(req, "label", value, sizeof(value)), ==, 3);
		CHECK_STR(value, "a b");
		CHECK_INT(http_request_query(req, "x", value, sizeof(value)), ==, 1);
		CHECK_STR(value, "/");
		CHECK_INT(http_request_query(req, "nope", value, sizeof(value)), ==, -ENOENT);
		CHECK_INT(http_request_query(req, "state", value, 4), ==, -ENAMETOOLONG);
		http_request_free(req);
		http_parser_close(&p);
	}
}

TEST(percent_decoding)
{
	char out[32];
	CHECK_INT(http_percent_decode("a%41b", 5, out), ==, 3);
	CHECK_STR(out, "aAb");
	CHECK_INT(http_percent_decode("a+b", 3, out), ==, 3);
	CHECK_STR(out, "a+b");
	CHECK_INT(http_percent_decode("%4", 2, out), ==, -EINVAL);
	CHECK_INT(http_percent_decode("%zz", 3, out), ==, -EINVAL);
	CHECK_INT(http_percent_decode("a%00b", 5, out), ==, -EINVAL);
	CHECK_INT(http_percent_decode("%", 1, out), ==, -EINVAL);
}

TEST(pipelined_requests_split_exactly)
{
	const char *first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	const char *second = "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	char *both = xasprintf("%s%s", first, second);
	struct http_parser p;
	http_parser_init(&p, &limits);
	size_t len = strlen(both), off = 0, used = 0;
	CHECK_INT(http_parser_feed(&p, both, len, &used), ==, HTTP_PARSE_HEADERS_DONE);
	off += used;
	CHECK_INT(http_parser_feed(&p, both + off, len - off, &used), ==, HTTP_PARSE_MESSAGE_DONE);
	off += used;
	CHECK_INT(off, ==, strlen(first));
	struct http_request *a = http_parser_take_request(&p);
	CHECK_STR(a->path, "/a");
	CHECK_INT(a->body_len, ==, 5);
	CHECK_STR(a->body, "hello");
	CHECK(a->keep_alive);
	CHECK_INT(http_parser_feed(&p, both + off, len - off, &used), ==, HTTP_PARSE_MESSAGE_DONE);
	off += used;
	CHECK_INT(off, ==, len);
	struct http_request *b = http_parser_take_request(&p);
	CHECK_STR(b->path, "/b");
	CHECK(!b->keep_alive);
	http_request_free(a);
	http_request_free(b);
	http_parser_close(&p);
	free(both);
}

TEST(chunked_body_with_trailers)
{
	const char *text = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
	size_t chunks[] = {0, 1, 5};
	for (size_t i = 0; i < 3; i++) {
		struct http_parser p;
		http_parser_init(&p, &limits);
		int status;
		size_t used;
		struct http_request *req = parse_in_chunks(&p, text, strlen(text), chunks[i], &status, &used);
		CHECK(req != NULL);
		CHECK(req->chunked);
		CHECK_INT(req->body_len, ==, 11);
		CHECK_STR(req->body, "hello world");
		/* Trailers are not headers. */
		CHECK(http_request_header(req, "x-trailer") == NULL);
		http_request_free(req);
		http_parser_close(&p);
	}
}

TEST(request_line_limit)
{
	/* "GET " + target + " HTTP/1.1" must fit in 8192 bytes. */
	size_t target_len = 8192 - strlen("GET") - 10;
	char *target = malloc(target_len + 2);
	target[0] = '/';
	memset(target + 1, 'a', target_len);
	target[target_len] = '\0';
	char *ok = xasprintf("GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
	CHECK_INT(status_of(ok), ==, 200);
	target[target_len] = 'a';
	target[target_len + 1] = '\0';
	char *too_long = xasprintf("GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
	CHECK_INT(status_of(too_long), ==, 414);
	free(ok);
	free(too_long);
	free(target);
}

TEST(header_limits)
{
	struct buf b = BUF_INIT;
	/* 100 fields, Host included: accepted. */
	buf_append_str(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 1; i < 100; i++)
		buf_printf(&b, "X-H%d: v\r\n", i);
	buf_append_str(&b, "\r\n");
	CHECK_INT(status_of(b.data), ==, 200);
	/* 101 fields: 431. */
	buf_reset(&b);
	buf_append_str(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 1; i < 101; i++)
		buf_printf(&b, "X-H%d: v\r\n", i);
	buf_append_str(&b, "\r\n");
	CHECK_INT(status_of(b.data), ==, 431);
	/* One 17 KiB header: 431. */
	buf_reset(&b);
	buf_append_str(&b, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	for (int i = 0; i < 17 * 1024; i++)
		buf_append_char(&b, 'v');
	buf_append_str(&b, "\r\n\r\n");
	CHECK_INT(status_of(b.data), ==, 431);
	/* 15 KiB of headers: fine. */
	buf_reset(&b);
	buf_append_str(&b, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	for (int i = 0; i < 15 * 1024; i++)
		buf_append_char(&b, 'v');
	buf_append_str(&b, "\r\n\r\n");
	CHECK_INT(status_of(b.data), ==, 200);
	buf_free(&b);
}

TEST(body_limits)
{
	/* Refused at the headers: no body byte needs to arrive. */
	struct http_parser p;
	http_parser_init(&p, &limits);
	const char *head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n";
	size_t used;
	CHECK_INT(http_parser_feed(&p, head, strlen(head), &used), ==, HTTP_PARSE_ERROR);
	CHECK_INT(p.error_status, ==, 413);
	CHECK_CONTAINS(p.error_message, "larger than 1024 bytes");
	http_parser_close(&p);

	struct buf b = BUF_INIT;
	buf_append_str(&b, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n");
	for (int i = 0; i < 1024; i++)
		buf_append_char(&b, 'x');
	CHECK_INT(status_of(b.data), ==, 200);

	/* Chunked: counted as the chunks arrive. */
	buf_reset(&b);
	buf_append_str(&b, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		buf_append_str(&b, "200\r\n");
		for (int j = 0; j < 0x200; j++)
			buf_append_char(&b, 'y');
		buf_append_str(&b, "\r\n");
	}
	buf_append_str(&b, "0\r\n\r\n");
	CHECK_INT(status_of(b.data), ==, 413);
	buf_free(&b);
}

TEST(smuggling_and_framing_errors)
{
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: "
			    "chunked\r\n\r\n0\r\n\r\n"),
		  ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: "
			    "5\r\n\r\n0\r\n\r\n"),
		  ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), ==,
		  400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), ==, 400);
}

TEST(malformed_and_versions)
{
	CHECK_INT(status_of("HELLO\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTX/1.1\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), ==, 505);
	CHECK_INT(status_of("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), ==, 505);
	CHECK_INT(status_of("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), ==, 505);
	CHECK_INT(status_of("GET / HTTP/1.0\r\n\r\n"), ==, 200); /* HTTP/1.0 needs no Host */
	CHECK_INT(status_of("GET / HTTP/1.1\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n"), ==, 400);
	CHECK_INT(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
			    "b\r\n\r\n"),
		  ==, 400);
	CHECK_INT(status_of("POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx"), ==, 417);
}

TEST(expect_continue_and_keepalive_flags)
{
	struct http_parser p;
	http_parser_init(&p, &limits);
	const char *head = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
	size_t used;
	CHECK_INT(http_parser_feed(&p, head, strlen(head), &used), ==, HTTP_PARSE_HEADERS_DONE);
	CHECK_INT(used, ==, strlen(head));
	struct http_request *cur = http_parser_current(&p);
	CHECK(cur != NULL);
	CHECK(cur->expect_continue);
	CHECK_INT(http_parser_feed(&p, "ok", 2, &used), ==, HTTP_PARSE_MESSAGE_DONE);
	struct http_request *req = http_parser_take_request(&p);
	CHECK_STR(req->body, "ok");
	http_request_free(req);
	http_parser_close(&p);

	http_parser_init(&p, &limits);
	const char *old = "GET / HTTP/1.0\r\n\r\n";
	CHECK_INT(http_parser_feed(&p, old, strlen(old), &used), ==, HTTP_PARSE_MESSAGE_DONE);
	req = http_parser_take_request(&p);
	CHECK(!req->keep_alive);
	http_request_free(req);
	http_parser_close(&p);
	/* (A connection is closed after a request that is not keep-alive.) */
	http_parser_init(&p, &limits);
	const char *old_ka = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	CHECK_INT(http_parser_feed(&p, old_ka, strlen(old_ka), &used), ==, HTTP_PARSE_MESSAGE_DONE);
	req = http_parser_take_request(&p);
	CHECK(req->keep_alive);
	http_request_free(req);
	http_parser_close(&p);
}

TEST(upgrade_is_answered_as_plain_request)
{
	const char *text = "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
			   "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_parser p;
	http_parser_init(&p, &limits);
	size_t len = strlen(text), off = 0, used;
	CHECK_INT(http_parser_feed(&p, text, len, &used), ==, HTTP_PARSE_MESSAGE_DONE);
	off += used;
	struct http_request *a = http_parser_take_request(&p);
	CHECK_STR(a->path, "/a");
	CHECK_INT(http_parser_feed(&p, text + off, len - off, &used), ==, HTTP_PARSE_MESSAGE_DONE);
	struct http_request *b = http_parser_take_request(&p);
	CHECK(b != NULL);
	CHECK_STR(b->path, "/b");
	http_request_free(a);
	http_request_free(b);
	http_parser_close(&p);
}

TEST(error_is_sticky)
{
	struct http_parser p;
	http_parser_init(&p, &limits);
	size_t used;
	CHECK_INT(http_parser_feed(&p, "BAD\r\n", 5, &used), ==, HTTP_PARSE_ERROR);
	CHECK_INT(http_parser_feed(&p, "GET / HTTP/1.1\r\n", 16, &used), ==, HTTP_PARSE_ERROR);
	CHECK_INT(used, ==, 0);
	http_parser_close(&p);
}
