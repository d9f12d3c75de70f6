/* Response serialization: status line, headers, bodies (whole, chunked or
 * close-delimited), and the lifecycle of a response that may outlive its
 * connection. */
#include "daemon/http/response.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/http/internal.h"

struct http_response *response_new(struct http_server *server, struct conn *c, struct http_request *req)
{
	struct http_response *res = xcalloc(1, sizeof(*res));
	res->conn = c;
	res->server = server;
	res->req = req;
	res->start_ns = req && req->start_ns ? req->start_ns : uv_hrtime();
	res->route_slot = HTTP_ROUTE_SLOT_INVALID;
	if (req) {
		res->head = strcmp(req->method_name, "HEAD") == 0;
		res->http10 = req->version_minor == 0;
		res->close = !req->keep_alive;
	} else {
		res->close = true;
	}
	server->responses_live++;
	return res;
}

void response_detach(struct http_response *res)
{
	res->conn = NULL;
	res->aborted = true;
	if (res->abort_cb) {
		http_response_abort_fn cb = res->abort_cb;
		res->abort_cb = NULL;
		cb(res, res->abort_arg);
	}
}

struct http_request *http_response_request(struct http_response *res)
{
	return res->req;
}

static bool header_text_ok(const char *s)
{
	return strpbrk(s, "\r\n") == NULL && *s != '\0';
}

int http_response_header(struct http_response *res, const char *name, const char *value)
{
	if (res->started || !header_text_ok(name) || strpbrk(value, "\r\n"))
		return -EINVAL;
	buf_printf(&res->headers, "%s: %s\r\n", name, value);
	return 0;
}

/* Framing of a response body in response_format_head. */
#define RESPONSE_STREAMED (-1LL) /* chunked (or close-delimited for HTTP/1.0) */
#define RESPONSE_NO_BODY (-2LL)  /* 204 and friends: no framing headers at all */

/* Formats the status line and headers into out. content_length is the body
 * size, or RESPONSE_STREAMED / RESPONSE_NO_BODY. */
static void response_format_head(struct http_response *res, int status, const char *content_type,
				 long long content_length, struct buf *out)
{
	res->status = status;
	res->started = true;
	if (res->server->draining)
		res->close = true;
	buf_printf(out, "HTTP/1.1 %d %s\r\nServer: agentd\r\nDate: %s\r\n", status, proto_http_reason(status),
		   server_date(res->server));
	if (content_type)
		buf_printf(out, "Content-Type: %s\r\n", content_type);
	if (content_length >= 0) {
		buf_printf(out, "Content-Length: %lld\r\n", content_length);
	} else if (content_length == RESPONSE_STREAMED) {
		if (!res->http10) {
			res->chunked = true;
			buf_append_str(out, "Transfer-Encoding: chunked\r\n");
		} else {
			/* HTTP/1.0 has no chunked coding: the end of the body
			 * is the end of the connection. */
			res->close = true;
		}
	}
	if (res->close)
		buf_append_str(out, "Connection: close\r\n");
	else if (res->http10)
		buf_append_str(out, "Connection: keep-alive\r\n");
	if (res->headers.len)
		buf_append(out, res->headers.data, res->headers.len);
	buf_append_str(out, "\r\n");
}

/* The handler is done with res: account for it and free it. */
static void response_finish(struct http_response *res)
{
	server_record(res->server, res);
	if (res->conn)
		conn_response_done(res->conn, res);
	res->server->responses_live--;
	http_request_free(res->req);
	buf_free(&res->headers);
	free(res);
}

void http_response_send(struct http_response *res, int status, const char *content_type, const void *body, size_t len)
{
	if (res->started) {
		/* A programming error; end what was started rather than send
		 * a second head. */
		http_response_end(res);
		return;
	}
	if (!res->conn) {
		res->status = status;
		response_finish(res);
		return;
	}
	bool no_body = status == 204 || status == 304;
	struct buf out = BUF_INIT;
	buf_reserve(&out, len + res->headers.len + 256);
	response_format_head(res, status, content_type, no_body ? RESPONSE_NO_BODY : (long long)len, &out);
	/* Head and body leave in one write. */
	if (!res->head && !no_body) {
		buf_append(&out, body, len);
		res->body_bytes = len;
	}
	conn_write(res->conn, out.data, out.len);
	buf_free(&out);
	response_finish(res);
}

void http_response_json(struct http_response *res, int status, const cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	if (!text) {
		http_response_error(res, PROTO_ERR_INTERNAL, "out of memory rendering the response");
		return;
	}
	size_t len = strlen(text);
	/* A trailing newline makes `curl` output readable. */
	char *body = xmalloc(len + 2);
	memcpy(body, text, len);
	body[len] = '\n';
	body[len + 1] = '\0';
	cJSON_free(text);
	http_response_send(res, status, "application/json", body, len + 1);
	free(body);
}

void http_response_error(struct http_response *res, enum proto_error code, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	const struct proto_error_info *info = proto_error_info(code);
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", info->code);
	cJSON_AddStringToObject(err, "message", message);
	http_response_json(res, info->http_status, root);
	cJSON_Delete(root);
}

int http_response_start(struct http_response *res, int status, const char *content_type)
{
	if (res->started)
		return -EINVAL;
	if (!res->conn) {
		res->status = status;
		res->started = true;
		return -EPIPE;
	}
	struct buf out = BUF_INIT;
	response_format_head(res, status, content_type, RESPONSE_STREAMED, &out);
	int rc = conn_write(res->conn, out.data, out.len);
	buf_free(&out);
	return rc;
}

int http_response_write(struct http_response *res, const void *data, size_t len)
{
	if (!res->started)
		return -EINVAL;
	if (!res->conn)
		return -EPIPE;
	if (len == 0 || res->head)
		return 0;
	res->body_bytes += len;
	if (!res->chunked)
		return conn_write(res->conn, data, len);
	char size_line[24];
	int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
	struct buf out = BUF_INIT;
	buf_reserve(&out, (size_t)n + len + 2);
	buf_append(&out, size_line, (size_t)n);
	buf_append(&out, data, len);
	buf_append(&out, "\r\n", 2);
	int rc = conn_write(res->conn, out.data, out.len);
	buf_free(&out);
	return rc;
}

void http_response_end(struct http_response *res)
{
	if (!res->started) {
		http_response_send(res, 204, NULL, NULL, 0);
		return;
	}
	if (res->conn && res->chunked && !res->head)
		conn_write(res->conn, "0\r\n\r\n", 5);
	response_finish(res);
}

size_t http_response_queued_bytes(const struct http_response *res)
{
	return res->conn ? res->conn->write_queued : 0;
}

bool http_response_client_alive(const struct http_response *res)
{
	return res->conn != NULL;
}

void http_response_on_abort(struct http_response *res, http_response_abort_fn cb, void *arg)
{
	res->abort_cb = cb;
	res->abort_arg = arg;
}
