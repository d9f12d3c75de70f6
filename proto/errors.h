/* The error-code catalog of the REST API: every error body agentd sends is
 * {"error":{"code":CODE,"message":...}} with CODE and its HTTP status taken
 * from this one table, which the daemon and agentctl share. */
#ifndef AGENTD_PROTO_ERRORS_H
#define AGENTD_PROTO_ERRORS_H

enum proto_error {
	PROTO_ERR_MALFORMED_REQUEST,      /* 400: the HTTP message itself is malformed */
	PROTO_ERR_INVALID_ARGUMENT,       /* 400: a field, parameter or body is invalid */
	PROTO_ERR_UNAUTHENTICATED,        /* 401 */
	PROTO_ERR_PERMISSION_DENIED,      /* 403 */
	PROTO_ERR_NOT_FOUND,              /* 404 */
	PROTO_ERR_METHOD_NOT_ALLOWED,     /* 405, with Allow */
	PROTO_ERR_REQUEST_TIMEOUT,        /* 408 */
	PROTO_ERR_CONFLICT,               /* 409 */
	PROTO_ERR_NO_PATCH,               /* 409: there is no patch (yet) */
	PROTO_ERR_PAYLOAD_TOO_LARGE,      /* 413 */
	PROTO_ERR_URI_TOO_LONG,           /* 414 */
	PROTO_ERR_UNSUPPORTED_MEDIA_TYPE, /* 415 */
	PROTO_ERR_EXPECTATION_FAILED,     /* 417 */
	PROTO_ERR_RATE_LIMITED,           /* 429, with Retry-After */
	PROTO_ERR_HEADERS_TOO_LARGE,      /* 431 */
	PROTO_ERR_INTERNAL,               /* 500 */
	PROTO_ERR_NOT_IMPLEMENTED,        /* 501 */
	PROTO_ERR_UNAVAILABLE,            /* 503, with Retry-After when it will pass */
	PROTO_ERR_HTTP_VERSION,           /* 505 */
	PROTO_ERR_COUNT
};

struct proto_error_info {
	const char *code;   /* stable machine-readable code, e.g. "not_found" */
	int http_status;    /* the status every response with this code has */
	const char *reason; /* the status line's reason phrase */
};

/* Returns a pointer into a static table (never NULL; out-of-range values map
 * to PROTO_ERR_INTERNAL). */
const struct proto_error_info *proto_error_info(enum proto_error err);
/* Looks a code string up; returns 0 and sets *err, or -ENOENT. */
int proto_error_from_code(const char *code, enum proto_error *err);
/* The reason phrase for any HTTP status agentd sends (static string). */
const char *proto_http_reason(int status);

#endif
