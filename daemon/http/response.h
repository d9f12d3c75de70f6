/* Answering a request: whole responses (with a length), JSON and error
 * bodies, and streamed responses (chunked) for long-lived answers such as
 * Server-Sent Events. A response may be finished long after its handler
 * returned; if the client goes away first, writes become no-ops and the
 * abort callback tells the handler to stop. */
#ifndef AGENTD_HTTP_RESPONSE_H
#define AGENTD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "proto/errors.h"

struct http_response;
struct http_request;

typedef void (*http_response_abort_fn)(struct http_response *res, void *arg);

/* The request this response answers (owned by the response). */
struct http_request *http_response_request(struct http_response *res);
/* Adds a header to the response; only before it is sent or started. A name
 * or value holding CR or LF is refused (-EINVAL). */
int http_response_header(struct http_response *res, const char *name, const char *value);
/* Sends a whole response and finishes res (which is freed: do not use it). */
void http_response_send(struct http_response *res, int status, const char *content_type, const void *body, size_t len);
/* Sends json (not consumed) as application/json and finishes res. */
void http_response_json(struct http_response *res, int status, const cJSON *json);
/* Sends {"error":{"code":…,"message":…}} with the catalog's status and
 * finishes res. */
void http_response_error(struct http_response *res, enum proto_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Streaming: sends the status and headers now, the body in pieces
 * (chunked for HTTP/1.1, close-delimited for HTTP/1.0). Returns 0, or
 * -EPIPE when the client is gone. */
int http_response_start(struct http_response *res, int status, const char *content_type);
int http_response_write(struct http_response *res, const void *data, size_t len);
/* Ends a started response and finishes res (freed). */
void http_response_end(struct http_response *res);
/* Bytes written but not yet taken by the kernel (for backpressure). */
size_t http_response_queued_bytes(const struct http_response *res);
/* False once the client has disconnected. */
bool http_response_client_alive(const struct http_response *res);
/* cb runs (on the loop) if the client disconnects before res is finished;
 * the handler must still finish res afterwards. */
void http_response_on_abort(struct http_response *res, http_response_abort_fn cb, void *arg);

#endif
