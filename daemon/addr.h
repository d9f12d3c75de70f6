/* Socket addresses as written in flags: HOST:PORT, [IPv6]:PORT. */
#ifndef AGENTD_ADDR_H
#define AGENTD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parses "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" (numeric
 * addresses and "localhost" only: no DNS at start-up). Port 0 asks the kernel
 * for a free port. Returns 0, or -EINVAL with a reason in err. */
int addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t errlen);
bool addr_is_loopback(const struct sockaddr *sa);
/* Formats sa as HOST:PORT (brackets for IPv6) into out; returns out. */
char *addr_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif
