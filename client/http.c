/* Blocking HTTP/1.1 requests for agentctl, with llhttp parsing answers. */
#include "client/http.h"

#include <errno.h>
#include <llhttp.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_S 60

int client_target_url(struct client_target *t, const char *url, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (strncmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "--url must look like http://HOST:PORT (https is not supported yet)");
		return -EINVAL;
	}
	const char *hostport = url + 7;
	size_t len = strcspn(hostport, "/");
	if (hostport[len] == '/' && hostport[len + 1] != '\0') {
		snprintf(err, errlen, "--url must not have a path: use http://HOST:PORT");
		return -EINVAL;
	}
	const char *colon = NULL;
	if (hostport[0] == '[') {
		const char *close = memchr(hostport, ']', len);
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "--url: expected http://[IPv6]:PORT");
			return -EINVAL;
		}
		snprintf(t->host, sizeof(t->host), "%.*s", (int)(close - hostport - 1), hostport + 1);
		colon = close + 1;
	} else {
		colon = memchr(hostport, ':', len);
		if (!colon) {
			snprintf(err, errlen, "--url needs a port: http://HOST:PORT");
			return -EINVAL;
		}
		snprintf(t->host, sizeof(t->host), "%.*s", (int)(colon - hostport), hostport);
	}
	size_t plen = len - (size_t)(colon + 1 - hostport);
	if (plen == 0 || plen >= sizeof(t->port) || strspn(colon + 1, "0123456789") < plen) {
		snprintf(err, errlen, "--url has an invalid port");
		return -EINVAL;
	}
	snprintf(t->port, sizeof(t->port), "%.*s", (int)plen, colon + 1);
	return 0;
}

static int client_connect(const struct client_target *t, char *err, size_t errlen)
{
	int fd = -1;
	if (t->socket_path) {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(t->socket_path) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "socket path %s is too long", t->socket_path);
			return -ENAMETOOLONG;
		}
		strcpy(sun.sun_path, t->socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot connect to agentd at %s: %s%s", t->socket_path, strerror(e),
				 e == ENOENT ? " (is agentd running? set --socket or AGENTD_SOCKET)" : "");
			if (fd >= 0)
				close(fd);
			return -e;
		}
	} else {
		struct addrinfo hints, *ai = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		int rc = getaddrinfo(t->host, t->port, &hints, &ai);
		if (rc != 0) {
			snprintf(err, errlen, "cannot resolve %s: %s", t->host, gai_strerror(rc));
			return -EHOSTUNREACH;
		}
		int e = ECONNREFUSED;
		for (struct addrinfo *a = ai; a; a = a->ai_next) {
			fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
			e = errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd < 0) {
			snprintf(err, errlen, "cannot connect to agentd at %s:%s: %s", t->host, t->port, strerror(e));
			return -e;
		}
	}
	struct timeval tv = {CLIENT_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

struct client_parse {
	struct client_response *r; /* being filled */
	struct buf field;          /* current header name */
	bool in_value;             /* last callback was a header value */
	bool done;                 /* message complete */
};

static int client_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct client_parse *p = ll->data;
	if (p->in_value)
		buf_reset(&p->field);
	p->in_value = false;
	buf_append(&p->field, at, len);
	return 0;
}

static int client_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct client_parse *p = ll->data;
	p->in_value = true;
	if (p->field.data && strcasecmp(p->field.data, "content-type") == 0) {
		size_t used = strlen(p->r->content_type);
		size_t room = sizeof(p->r->content_type) - 1 - used;
		size_t n = len < room ? len : room;
		memcpy(p->r->content_type + used, at, n);
		p->r->content_type[used + n] = '\0';
	}
	return 0;
}

static int client_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct client_parse *p = ll->data;
	buf_append(&p->r->body, at, len);
	return 0;
}

static int client_on_message_complete(llhttp_t *ll)
{
	struct client_parse *p = ll->data;
	if (ll->status_code >= 100 && ll->status_code < 200) {
		p->r->content_type[0] = '\0';
		return 0;
	}
	p->r->status = ll->status_code;
	p->done = true;
	return 0;
}

int client_http(const struct client_target *t, const char *method, const char *path, const char *body,
		const char *extra_header, struct client_response *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	int fd = client_connect(t, err, errlen);
	if (fd < 0)
		return fd;
	struct buf req = BUF_INIT;
	buf_printf(&req,
		   "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: agentctl\r\nAccept: application/json\r\n"
		   "Connection: close\r\n",
		   method, path, t->socket_path ? "agentd" : t->host);
	if (extra_header)
		buf_printf(&req, "%s\r\n", extra_header);
	if (body)
		buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
	else if (strcmp(method, "POST") == 0)
		buf_append_str(&req, "Content-Length: 0\r\n\r\n");
	else
		buf_append_str(&req, "\r\n");
	int rc = 0;
	size_t off = 0;
	while (off < req.len) {
		ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "sending the request failed: %s", strerror(errno));
			rc = -EIO;
			goto out;
		}
		off += (size_t)n;
	}
	llhttp_settings_t settings;
	llhttp_settings_init(&settings);
	settings.on_header_field = client_on_header_field;
	settings.on_header_value = client_on_header_value;
	settings.on_body = client_on_body;
	settings.on_message_complete = client_on_message_complete;
	llhttp_t ll;
	llhttp_init(&ll, HTTP_RESPONSE, &settings);
	struct client_parse p = {r, BUF_INIT, false, false};
	ll.data = &p;
	char chunk[16384];
	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "reading the answer failed: %s",
				 errno == EAGAIN ? "timed out" : strerror(errno));
			rc = -EIO;
			break;
		}
		if (n == 0) {
			llhttp_finish(&ll);
			break;
		}
		if (llhttp_execute(&ll, chunk, (size_t)n) != HPE_OK) {
			snprintf(err, errlen, "agentd sent a malformed answer: %s", llhttp_get_error_reason(&ll));
			rc = -EPROTO;
			break;
		}
		if (p.done)
			break;
	}
	if (rc == 0 && !p.done) {
		snprintf(err, errlen, "agentd closed the connection without an answer");
		rc = -EPROTO;
	}
	buf_free(&p.field);
out:
	buf_free(&req);
	close(fd);
	if (rc < 0)
		client_response_free(r);
	return rc;
}

void client_response_free(struct client_response *r)
{
	buf_free(&r->body);
}
