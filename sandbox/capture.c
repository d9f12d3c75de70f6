/* Capped output (--max-output): the first half of the cap is passed on as
 * it arrives, the last half is kept in a ring and written at EOF after a
 * marker saying how many bytes were cut in between. Without a cap, a
 * stream is only relayed (to know where its last line ends). */
#include "sandbox/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Writes are split so that a blocking pipe never blocks past a poll. */
#define CAPTURE_CHUNK 4096
/* How long past the deadline a reader that takes nothing is waited for. */
#define CAPTURE_STALL_MS 2000

int64_t capture_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void capture_init(struct capture *c, int in_fd, int out_fd, uint64_t max)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->head_max = max ? max / 2 : UINT64_MAX;
	c->tail_max = max - max / 2;
}

/* Passes bytes on. A reader that is gone, or that takes nothing until
 * CAPTURE_STALL_MS past the deadline, makes the rest be dropped, so that a
 * stalled reader never keeps the sandbox alive past its limit for long. */
static void capture_write(struct capture *c, const char *data, size_t len)
{
	while (len > 0 && !c->write_failed) {
		int wait_ms = -1;
		if (c->deadline_ms) {
			int64_t left = c->deadline_ms + CAPTURE_STALL_MS - capture_now_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		struct pollfd pfd = {c->out_fd, POLLOUT, 0};
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0 || (pfd.revents & (POLLERR | POLLNVAL))) {
			c->write_failed = true;
			return;
		}
		size_t n = len < CAPTURE_CHUNK ? len : CAPTURE_CHUNK;
		ssize_t w = write(c->out_fd, data, n);
		if (w <= 0) {
			if (w < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			c->write_failed = true;
			return;
		}
		c->line_open = data[w - 1] != '\n';
		data += w;
		len -= (size_t)w;
	}
}

/* Keeps bytes in the tail ring, overwriting the oldest. */
static void capture_keep_tail(struct capture *c, const char *data, size_t len)
{
	if (c->tail_max == 0)
		return;
	if (!c->tail)
		c->tail = xmalloc(c->tail_max);
	size_t cap = c->tail_max;
	if (len >= cap) {
		memcpy(c->tail, data + len - cap, cap);
		c->tail_start = 0;
		c->tail_len = cap;
		return;
	}
	for (size_t done = 0; done < len;) {
		size_t end = (c->tail_start + c->tail_len) % cap;
		size_t room = cap - end;
		size_t n = len - done < room ? len - done : room;
		memcpy(c->tail + end, data + done, n);
		done += n;
		c->tail_len += n;
		if (c->tail_len > cap) {
			c->tail_start = (c->tail_start + c->tail_len - cap) % cap;
			c->tail_len = cap;
		}
	}
}

ssize_t capture_read(struct capture *c)
{
	char buf[65536];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	size_t len = (size_t)n;
	const char *p = buf;
	if (c->total < c->head_max) {
		uint64_t room = c->head_max - c->total;
		size_t head = len < room ? len : (size_t)room;
		capture_write(c, p, head);
		p += head;
		len -= head;
		c->total += head;
	}
	if (len) {
		capture_keep_tail(c, p, len);
		c->total += len;
	}
	return n;
}

bool capture_finish(struct capture *c)
{
	uint64_t past_head = c->total > c->head_max ? c->total - c->head_max : 0;
	bool cut = past_head > c->tail_len;
	if (cut) {
		char marker[128];
		int len = snprintf(marker, sizeof(marker), "\n[agentd-sandbox: %llu bytes of output cut]\n",
				   (unsigned long long)(past_head - c->tail_len));
		capture_write(c, marker, (size_t)len);
	}
	if (c->tail_len) {
		size_t first = c->tail_max - c->tail_start;
		if (first > c->tail_len)
			first = c->tail_len;
		capture_write(c, c->tail + c->tail_start, first);
		capture_write(c, c->tail, c->tail_len - first);
	}
	return cut;
}

void capture_free(struct capture *c)
{
	free(c->tail);
	c->tail = NULL;
}
