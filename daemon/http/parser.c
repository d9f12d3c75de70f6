/* llhttp callbacks that build struct http_request and enforce the limits
 * of struct http_limits while the bytes arrive, so that an oversized request
 * is refused before it is read in full. */
#include "daemon/http/parser.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"

/* "HTTP/1.1" plus the two spaces of the request line. */
#define HTTP_VERSION_LINE_BYTES 10

static struct http_parser *parser_of(llhttp_t *ll)
{
	return ll->data;
}

/* Records the first error; returns the value llhttp callbacks use to stop. */
static int parser_fail(struct http_parser *p, enum proto_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int parser_fail(struct http_parser *p, enum proto_error code, const char *fmt, ...)
{
	if (p->error_status == 0) {
		p->error_code = code;
		p->error_status = proto_error_info(code)->http_status;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->error_message, sizeof(p->error_message), fmt, ap);
		va_end(ap);
	}
	return HPE_USER;
}

static int on_message_begin(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	if (!p->req)
		p->req = xcalloc(1, sizeof(*p->req));
	p->line_bytes = 0;
	p->header_bytes = 0;
	p->in_field = false;
	p->headers_done = false;
	return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = parser_of(ll);
	p->req->method_name = llhttp_method_name((llhttp_method_t)ll->method);
	size_t method_len = strlen(p->req->method_name);
	p->line_bytes = method_len + p->req->url_buf.len + len + HTTP_VERSION_LINE_BYTES;
	if (p->line_bytes > p->limits->max_request_line)
		return parser_fail(p, PROTO_ERR_URI_TOO_LONG, "request line is longer than %zu bytes",
				   p->limits->max_request_line);
	buf_append(&p->req->url_buf, at, len);
	return 0;
}

static int on_version_complete(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	if (ll->http_major != 1)
		return parser_fail(p, PROTO_ERR_HTTP_VERSION, "HTTP/%u.%u is not supported; use HTTP/1.1",
				   ll->http_major, ll->http_minor);
	return 0;
}

/* Counts header-section bytes; trailers of a chunked body count too. */
static int parser_count_header_bytes(struct http_parser *p, size_t len)
{
	p->header_bytes += len;
	if (p->header_bytes > p->limits->max_header_bytes)
		return parser_fail(p, PROTO_ERR_HEADERS_TOO_LARGE, "header section is larger than %zu bytes",
				   p->limits->max_header_bytes);
	return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = parser_of(ll);
	struct http_request *req = p->req;
	if (!p->in_field) {
		/* A new header field starts; ": " and CRLF count toward the size. */
		if (parser_count_header_bytes(p, 4))
			return HPE_USER;
		p->in_field = true;
		if (p->headers_done)
			return 0;
		if (req->header_count >= p->limits->max_headers)
			return parser_fail(p, PROTO_ERR_HEADERS_TOO_LARGE, "more than %zu header fields",
					   p->limits->max_headers);
		if (req->header_count == req->header_cap) {
			req->header_cap = req->header_cap ? req->header_cap * 2 : 16;
			req->headers = xrealloc(req->headers, req->header_cap * sizeof(*req->headers));
		}
		/* Offsets live in the pointer fields' places until the section
		 * is complete, because header_buf may move as it grows. */
		struct http_header *h = &req->headers[req->header_count++];
		memset(h, 0, sizeof(*h));
		h->name = (const char *)(uintptr_t)req->header_buf.len;
	}
	if (parser_count_header_bytes(p, len))
		return HPE_USER;
	if (!p->headers_done)
		buf_append(&req->header_buf, at, len);
	return 0;
}

/* RFC 9110 token characters: what a header field name may hold. */
static bool is_token_char(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	if (p->headers_done)
		return 0;
	struct http_request *req = p->req;
	struct http_header *h = &req->headers[req->header_count - 1];
	size_t start = (size_t)(uintptr_t)h->name;
	h->name_len = req->header_buf.len - start;
	/* llhttp lets some non-token bytes through in names; a name like
	 * "Content-Length " must never be read two ways. */
	if (h->name_len == 0)
		return parser_fail(p, PROTO_ERR_MALFORMED_REQUEST, "empty header field name");
	for (size_t i = 0; i < h->name_len; i++) {
		if (!is_token_char((unsigned char)req->header_buf.data[start + i]))
			return parser_fail(p, PROTO_ERR_MALFORMED_REQUEST, "invalid character in header field name");
	}
	buf_append_char(&req->header_buf, '\0');
	h->value = (const char *)(uintptr_t)req->header_buf.len;
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = parser_of(ll);
	p->in_field = false;
	if (parser_count_header_bytes(p, len))
		return HPE_USER;
	if (!p->headers_done)
		buf_append(&p->req->header_buf, at, len);
	return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	p->in_field = false;
	if (p->headers_done)
		return 0;
	struct http_request *req = p->req;
	struct http_header *h = &req->headers[req->header_count - 1];
	size_t start = (size_t)(uintptr_t)h->value;
	/* llhttp drops leading whitespace; trailing whitespace is ours to drop. */
	while (req->header_buf.len > start && (req->header_buf.data[req->header_buf.len - 1] == ' ' ||
					       req->header_buf.data[req->header_buf.len - 1] == '\t'))
		req->header_buf.len--;
	h->value_len = req->header_buf.len - start;
	buf_append_char(&req->header_buf, '\0');
	return 0;
}

/* Splits the target into path and query; only origin-form is accepted. */
static int parser_split_target(struct http_parser *p)
{
	struct http_request *req = p->req;
	req->target = req->url_buf.data ? req->url_buf.data : (char *)"";
	if (req->target[0] != '/')
		return parser_fail(p, PROTO_ERR_MALFORMED_REQUEST, "request target must start with '/'");
	char *q = strchr(req->target, '?');
	size_t path_len = q ? (size_t)(q - req->target) : strlen(req->target);
	req->path = xstrndup(req->target, path_len);
	req->query = q ? q + 1 : NULL;
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	struct http_request *req = p->req;
	p->headers_done = true;
	for (size_t i = 0; i < req->header_count; i++) {
		struct http_header *h = &req->headers[i];
		h->name = req->header_buf.data + (size_t)(uintptr_t)h->name;
		h->value = req->header_buf.data + (size_t)(uintptr_t)h->value;
	}
	req->method = ll->method;
	req->method_name = llhttp_method_name((llhttp_method_t)ll->method);
	req->version_major = ll->http_major;
	req->version_minor = ll->http_minor;
	if (parser_split_target(p))
		return HPE_USER;

	/* Request smuggling: a message with both framings is refused outright
	 * rather than guessing which one a proxy in front of us used. */
	if ((ll->flags & F_CONTENT_LENGTH) && (ll->flags & F_TRANSFER_ENCODING))
		return parser_fail(p, PROTO_ERR_MALFORMED_REQUEST,
				   "both Content-Length and Transfer-Encoding are present");
	size_t hosts = 0;
	for (size_t i = 0; i < req->header_count; i++) {
		const struct http_header *h = &req->headers[i];
		if (strcasecmp(h->name, "host") == 0)
			hosts++;
		else if (strcasecmp(h->name, "expect") == 0) {
			if (strcasecmp(h->value, "100-continue") != 0)
				return parser_fail(p, PROTO_ERR_EXPECTATION_FAILED, "unsupported expectation '%.64s'",
						   h->value);
			req->expect_continue = true;
		}
	}
	if (hosts > 1 || (hosts == 0 && ll->http_minor >= 1))
		return parser_fail(p, PROTO_ERR_MALFORMED_REQUEST, "HTTP/1.1 requests need exactly one Host header");
	if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->limits->max_body_bytes)
		return parser_fail(p, PROTO_ERR_PAYLOAD_TOO_LARGE, "request body is larger than %zu bytes",
				   p->limits->max_body_bytes);
	req->chunked = (ll->flags & F_CHUNKED) != 0;
	req->keep_alive = llhttp_should_keep_alive(ll);
	/* When a body follows, pause so that the caller can act between
	 * headers and body (timers, 100 Continue) before any body byte is
	 * read; a request without one completes in the same call. */
	bool has_body = req->chunked || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
	if (!has_body)
		req->expect_continue = false;
	return has_body ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = parser_of(ll);
	struct http_request *req = p->req;
	if (len > p->limits->max_body_bytes - req->body_buf.len)
		return parser_fail(p, PROTO_ERR_PAYLOAD_TOO_LARGE, "request body is larger than %zu bytes",
				   p->limits->max_body_bytes);
	buf_append(&req->body_buf, at, len);
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct http_parser *p = parser_of(ll);
	struct http_request *req = p->req;
	if (!req->body_buf.data)
		buf_append(&req->body_buf, "", 0);
	req->body = req->body_buf.data;
	req->body_len = req->body_buf.len;
	req->keep_alive = llhttp_should_keep_alive(ll);
	p->message_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_version_complete = on_version_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = limits;
	llhttp_init(&p->llhttp, HTTP_REQUEST, &parser_settings);
	p->llhttp.data = p;
}

void http_parser_close(struct http_parser *p)
{
	http_request_free(p->req);
	p->req = NULL;
}

bool http_parser_started(const struct http_parser *p)
{
	return p->req != NULL;
}

struct http_request *http_parser_current(struct http_parser *p)
{
	return p->headers_done ? p->req : NULL;
}

struct http_request *http_parser_take_request(struct http_parser *p)
{
	if (!p->message_done)
		return NULL;
	struct http_request *req = p->req;
	p->req = NULL;
	p->message_done = false;
	p->headers_done = false;
	return req;
}

/* Turns an llhttp error into a status for the client. */
static void parser_map_llhttp_error(struct http_parser *p, llhttp_errno_t err)
{
	if (p->error_status)
		return;
	const char *reason = llhttp_get_error_reason(&p->llhttp);
	if (!reason)
		reason = llhttp_errno_name(err);
	if (err == HPE_INVALID_VERSION && strcmp(reason, "Invalid HTTP version") == 0)
		parser_fail(p, PROTO_ERR_HTTP_VERSION, "HTTP version not supported; use HTTP/1.1");
	else
		parser_fail(p, PROTO_ERR_MALFORMED_REQUEST, "malformed request: %s", reason);
}

enum http_parse_event http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *consumed)
{
	*consumed = 0;
	if (p->error_status)
		return HTTP_PARSE_ERROR;
	if (p->message_done)
		return HTTP_PARSE_MESSAGE_DONE;
	if (p->paused) {
		p->paused = false;
		llhttp_resume(&p->llhttp);
	}
	const char *start = data;
	size_t remaining = len;
	while (remaining > 0) {
		llhttp_errno_t err = llhttp_execute(&p->llhttp, start, remaining);
		const char *pos = llhttp_get_error_pos(&p->llhttp);
		switch (err) {
		case HPE_OK: *consumed = len; return HTTP_PARSE_NEED_MORE;
		case HPE_PAUSED:
			p->paused = true;
			*consumed = (size_t)(pos - data);
			return p->message_done ? HTTP_PARSE_MESSAGE_DONE : HTTP_PARSE_HEADERS_DONE;
		case HPE_PAUSED_UPGRADE:
			/* An Upgrade or CONNECT request was answered like any
			 * other (agentd never switches protocols); the bytes that
			 * follow are parsed as the next request. */
			llhttp_resume_after_upgrade(&p->llhttp);
			remaining -= (size_t)(pos - start);
			start = pos;
			if (p->message_done) {
				*consumed = (size_t)(pos - data);
				return HTTP_PARSE_MESSAGE_DONE;
			}
			break;
		default:
			parser_map_llhttp_error(p, err);
			*consumed = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;
			return HTTP_PARSE_ERROR;
		}
	}
	*consumed = len;
	return HTTP_PARSE_NEED_MORE;
}

void http_request_free(struct http_request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < req->param_count; i++)
		free(req->params[i].value);
	buf_free(&req->url_buf);
	buf_free(&req->header_buf);
	buf_free(&req->body_buf);
	free(req->headers);
	free(req->path);
	free(req);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->header_count; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	}
	return NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->param_count; i++) {
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	}
	return NULL;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX escapes (and '+' as a space when plus_is_space). */
static int percent_decode(const char *s, size_t len, char *out, bool plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -EINVAL;
			int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0')
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int http_percent_decode(const char *s, size_t len, char *out)
{
	return percent_decode(s, len, out, false);
}

int http_request_query(const struct http_request *req, const char *name, char *out, size_t outlen)
{
	if (!req->query)
		return -ENOENT;
	size_t name_len = strlen(name);
	const char *p = req->query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t pair_len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', pair_len);
		size_t key_len = eq ? (size_t)(eq - p) : pair_len;
		if (key_len == name_len && memcmp(p, name, name_len) == 0) {
			const char *v = eq ? eq + 1 : p + pair_len;
			size_t vlen = eq ? pair_len - key_len - 1 : 0;
			if (vlen + 1 > outlen)
				return -ENAMETOOLONG;
			return percent_decode(v, vlen, out, true);
		}
		p += pair_len;
		if (*p == '&')
			p++;
	}
	return -ENOENT;
}
