/* The error-code catalog and HTTP reason phrases. */
#include "proto/errors.h"

#include <errno.h>
#include <string.h>

static const struct proto_error_info proto_errors[PROTO_ERR_COUNT] = {
	[PROTO_ERR_MALFORMED_REQUEST] = {"malformed_request", 400, "Bad Request"},
	[PROTO_ERR_INVALID_ARGUMENT] = {"invalid_argument", 400, "Bad Request"},
	[PROTO_ERR_UNAUTHENTICATED] = {"unauthenticated", 401, "Unauthorized"},
	[PROTO_ERR_PERMISSION_DENIED] = {"permission_denied", 403, "Forbidden"},
	[PROTO_ERR_NOT_FOUND] = {"not_found", 404, "Not Found"},
	[PROTO_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405, "Method Not Allowed"},
	[PROTO_ERR_REQUEST_TIMEOUT] = {"request_timeout", 408, "Request Timeout"},
	[PROTO_ERR_CONFLICT] = {"conflict", 409, "Conflict"},
	[PROTO_ERR_NO_PATCH] = {"no_patch", 409, "Conflict"},
	[PROTO_ERR_PAYLOAD_TOO_LARGE] = {"payload_too_large", 413, "Content Too Large"},
	[PROTO_ERR_URI_TOO_LONG] = {"uri_too_long", 414, "URI Too Long"},
	[PROTO_ERR_UNSUPPORTED_MEDIA_TYPE] = {"unsupported_media_type", 415, "Unsupported Media Type"},
	[PROTO_ERR_EXPECTATION_FAILED] = {"expectation_failed", 417, "Expectation Failed"},
	[PROTO_ERR_RATE_LIMITED] = {"rate_limited", 429, "Too Many Requests"},
	[PROTO_ERR_HEADERS_TOO_LARGE] = {"headers_too_large", 431, "Request Header Fields Too Large"},
	[PROTO_ERR_INTERNAL] = {"internal", 500, "Internal Server Error"},
	[PROTO_ERR_NOT_IMPLEMENTED] = {"not_implemented", 501, "Not Implemented"},
	[PROTO_ERR_UNAVAILABLE] = {"unavailable", 503, "Service Unavailable"},
	[PROTO_ERR_HTTP_VERSION] = {"http_version_not_supported", 505, "HTTP Version Not Supported"},
};

const struct proto_error_info *proto_error_info(enum proto_error err)
{
	if ((unsigned)err >= PROTO_ERR_COUNT)
		err = PROTO_ERR_INTERNAL;
	return &proto_errors[err];
}

int proto_error_from_code(const char *code, enum proto_error *err)
{
	for (unsigned i = 0; i < PROTO_ERR_COUNT; i++) {
		if (strcmp(proto_errors[i].code, code) == 0) {
			*err = (enum proto_error)i;
			return 0;
		}
	}
	return -ENOENT;
}

const char *proto_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	default: break;
	}
	for (unsigned i = 0; i < PROTO_ERR_COUNT; i++) {
		if (proto_errors[i].http_status == status)
			return proto_errors[i].reason;
	}
	return "Unknown";
}
