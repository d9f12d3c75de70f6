/* The request parser: llhttp plus agentd's limits, turning bytes into
 * struct http_request without doing any I/O, so that tests and fuzz targets
 * can drive it from a buffer. */
#ifndef AGENTD_HTTP_PARSER_H
#define AGENTD_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include <llhttp.h>

#include "common/buf.h"
#include "proto/errors.h"

/* Sizes a client controls, with the answer each one gets. */
struct http_limits {
	size_t max_request_line; /* method + target + version; 414 beyond */
	size_t max_header_bytes; /* the whole header section; 431 beyond */
	size_t max_headers;      /* number of header fields; 431 beyond */
	size_t max_body_bytes;   /* decoded body; 413 beyond */
};

#define HTTP_MAX_PARAMS 8

struct http_header {
	const char *name;  /* NUL-terminated, as sent (compare case-insensitively) */
	const char *value; /* NUL-terminated, surrounding whitespace removed */
	size_t name_len;   /* bytes in name */
	size_t value_len;  /* bytes in value */
};

/* A path parameter the router extracted, percent-decoded. */
struct http_param {
	const char *name; /* the {name} of the route pattern (static) */
	char *value;      /* owned by the request */
};

struct http_request {
	int method;                                /* llhttp_method_t */
	const char *method_name;                   /* static, e.g. "GET" */
	char *target;                              /* the raw request-target, NUL-terminated */
	char *path;                                /* target before '?' (not decoded; owned) */
	char *query;                               /* target after '?', or NULL (points into target) */
	unsigned version_major;                    /* 1 */
	unsigned version_minor;                    /* 0 or 1 */
	struct http_header *headers;               /* header_count entries, valid once complete */
	size_t header_count;                       /* number of headers */
	char *body;                                /* decoded body, NUL-terminated (never NULL once complete) */
	size_t body_len;                           /* bytes in body */
	bool keep_alive;                           /* the connection may carry another request */
	bool expect_continue;                      /* "Expect: 100-continue" was sent */
	bool chunked;                              /* the body used chunked transfer coding */
	struct http_param params[HTTP_MAX_PARAMS]; /* filled by the router */
	size_t param_count;                        /* entries used in params */
	const void *route;                         /* the route that matched, or NULL */
	unsigned long long start_ns;               /* when the first byte arrived (uv_hrtime) */
	/* storage */
	struct buf url_buf;    /* the target as received */
	struct buf header_buf; /* "name\0value\0" for every header */
	struct buf body_buf;   /* the body as received */
	size_t header_cap;     /* entries allocated in headers */
};

/* What http_parser_feed stopped at. */
enum http_parse_event {
	HTTP_PARSE_NEED_MORE,    /* all input consumed, the message is not complete */
	HTTP_PARSE_HEADERS_DONE, /* the header section is complete (the body may follow) */
	HTTP_PARSE_MESSAGE_DONE, /* a whole request is ready: take it */
	HTTP_PARSE_ERROR,        /* malformed or over a limit: answer and close */
};

struct http_parser {
	llhttp_t llhttp;                  /* the underlying parser */
	const struct http_limits *limits; /* not owned; outlives the parser */
	struct http_request *req;         /* being built; owned until taken */
	size_t line_bytes;                /* request-line bytes seen so far */
	size_t header_bytes;              /* header-section bytes seen so far */
	bool in_field;                    /* the last header callback was a field name */
	bool headers_done;                /* past the header section (trailers are skipped) */
	bool paused;                      /* llhttp is paused and must be resumed */
	bool message_done;                /* a complete request waits to be taken */
	int error_status;                 /* HTTP status to answer with, after an error */
	enum proto_error error_code;      /* catalog code to answer with */
	char error_message[160];          /* why, for the client */
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits);
/* Releases the request being built, if any. */
void http_parser_close(struct http_parser *p);
/* Parses up to len bytes; *consumed says how many were used. Feeding stops
 * after HEADERS_DONE and after MESSAGE_DONE, so the caller sees every event
 * and pipelined input stays with the caller until it asks for more. */
enum http_parse_event http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *consumed);
/* True once any byte of the current message has arrived. */
bool http_parser_started(const struct http_parser *p);
/* Takes the completed request; the caller owns it (http_request_free). */
struct http_request *http_parser_take_request(struct http_parser *p);
/* The request whose headers are complete but whose body may still arrive,
 * or NULL; it stays owned by the parser. */
struct http_request *http_parser_current(struct http_parser *p);

void http_request_free(struct http_request *req);
/* Case-insensitive lookup; returns the first value or NULL. The string
 * belongs to the request. */
const char *http_request_header(const struct http_request *req, const char *name);
/* A path parameter by name, or NULL. */
const char *http_request_param(const struct http_request *req, const char *name);
/* Decodes query parameter name into out (outlen bytes). Returns the decoded
 * length, -ENOENT when absent, -EINVAL when malformed, -ENAMETOOLONG when it
 * does not fit. */
int http_request_query(const struct http_request *req, const char *name, char *out, size_t outlen);
/* Percent-decodes s[0..len) into out (at least len+1 bytes); '+' is kept.
 * Returns the decoded length, or -EINVAL for a bad escape or a NUL byte. */
int http_percent_decode(const char *s, size_t len, char *out);

#endif
