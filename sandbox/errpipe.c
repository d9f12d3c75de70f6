/* The error pipe: init and the command report a failed set-up step or exec
 * to the supervisor, never to be mistaken for the command's exit status.
 * EOF without a report means the command was executed. */
#include "sandbox/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void errpipe_fail(int fd, int status, int err, const char *fmt, ...)
{
	struct errpipe_msg msg;
	memset(&msg, 0, sizeof(msg));
	msg.status = status;
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(msg.text, sizeof(msg.text), fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if (err && (size_t)len < sizeof(msg.text))
		snprintf(msg.text + len, sizeof(msg.text) - (size_t)len, ": %s", strerror(err));
	/* One write below PIPE_BUF arrives whole or not at all. */
	ssize_t w;
	do {
		w = write(fd, &msg, sizeof(msg));
	} while (w < 0 && errno == EINTR);
	_exit(status);
}

int errpipe_read(int fd, struct errpipe_msg *msg)
{
	size_t got = 0;
	while (got < sizeof(*msg)) {
		ssize_t n = read(fd, (char *)msg + got, sizeof(*msg) - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(*msg))
		return got == 0 ? 0 : -EPROTO;
	msg->text[sizeof(msg->text) - 1] = '\0';
	return 1;
}
