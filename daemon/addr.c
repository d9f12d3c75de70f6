/* Parsing and formatting of TCP listen addresses. */
#include "daemon/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"

int addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t errlen)
{
	char host[64];
	const char *port_text;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "'%s' is not an address (expected [IPv6]:PORT)", text);
			return -EINVAL;
		}
		size_t n = (size_t)(close - text - 1);
		if (n == 0 || n >= sizeof(host)) {
			snprintf(err, errlen, "'%s' is not an address (bad IPv6 host)", text);
			return -EINVAL;
		}
		memcpy(host, text + 1, n);
		host[n] = '\0';
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || colon == text) {
			snprintf(err, errlen, "'%s' is not an address (expected HOST:PORT, e.g. 127.0.0.1:8080)", text);
			return -EINVAL;
		}
		size_t n = (size_t)(colon - text);
		if (n >= sizeof(host) || memchr(text, ':', n)) {
			snprintf(err, errlen, "'%s' is not an address (write IPv6 hosts in brackets: [::1]:8080)",
				 text);
			return -EINVAL;
		}
		memcpy(host, text, n);
		host[n] = '\0';
		port_text = colon + 1;
	}
	uint64_t port;
	char why[128];
	if (units_parse_uint(port_text, &port, why, sizeof(why)) < 0 || port > 65535) {
		snprintf(err, errlen, "'%s' has an invalid port '%s' (0..65535)", text, port_text);
		return -EINVAL;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *in4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	snprintf(err, errlen, "'%s' has an invalid host '%s' (a numeric IPv4 or IPv6 address, or localhost)", text,
		 host);
	return -EINVAL;
}

bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		/* ::ffff:127.x.y.z is IPv4 loopback too. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

char *addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "unix");
	}
	return out;
}
