/* The test harness: a registry of test cases (one process per case, chosen
 * by name on the command line so that meson runs and times each alone),
 * assertions, a helper that runs a real agentd on an ephemeral port with a
 * temporary data directory, and a small HTTP client over real sockets. */
#ifndef AGENTD_TESTS_HARNESS_H
#define AGENTD_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "common/buf.h"

typedef void (*th_test_fn)(void);

void th_register(const char *name, th_test_fn fn);

/* Declares a test case; meson.build finds cases by lines starting "TEST(". */
#define TEST(name)                                                                                                     \
	static void test_##name(void);                                                                                 \
	__attribute__((constructor)) static void th_register_##name(void)                                              \
	{                                                                                                              \
		th_register(#name, test_##name);                                                                       \
	}                                                                                                              \
	static void test_##name(void)

/* Reports a failure (with the daemon logs of this test) and exits 1. */
void th_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			th_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                                        \
	} while (0)

#define CHECK_INT(a, op, b)                                                                                            \
	do {                                                                                                           \
		long long th_a_ = (long long)(a), th_b_ = (long long)(b);                                              \
		if (!(th_a_ op th_b_))                                                                                 \
			th_fail(__FILE__, __LINE__, "%s %s %s failed: %lld vs %lld", #a, #op, #b, th_a_, th_b_);       \
	} while (0)

#define CHECK_STR(a, b)                                                                                                \
	do {                                                                                                           \
		const char *th_a_ = (a), *th_b_ = (b);                                                                 \
		if (!th_a_ || !th_b_ || strcmp(th_a_, th_b_) != 0)                                                     \
			th_fail(__FILE__, __LINE__, "%s == %s failed: \"%s\" vs \"%s\"", #a, #b,                       \
				th_a_ ? th_a_ : "(null)", th_b_ ? th_b_ : "(null)");                                   \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                                                    \
	do {                                                                                                           \
		const char *th_h_ = (hay), *th_n_ = (needle);                                                          \
		if (!th_h_ || !strstr(th_h_, th_n_))                                                                   \
			th_fail(__FILE__, __LINE__, "expected %s to contain \"%s\"; it is: \"%.2000s\"", #hay, th_n_,  \
				th_h_ ? th_h_ : "(null)");                                                             \
	} while (0)

/* Milliseconds on a monotonic clock. */
long long th_now_ms(void);
void th_sleep_ms(long ms);
/* A fresh temporary directory (removed when the test ends); returns a
 * static-lifetime path owned by the harness. */
const char *th_tempdir(void);
/* Writes text to path; fails the test on error. */
void th_write_file(const char *path, const char *text);
/* Reads a whole file into a new string the caller frees, or NULL. */
char *th_read_file(const char *path);
/* Path of a built binary, from the environment variable var (set by meson). */
const char *th_binary(const char *var);

/* A running agentd. */
struct th_daemon {
	pid_t pid;          /* 0 once reaped */
	int exit_status;    /* exit code, or 128+signal, once reaped */
	char dir[256];      /* temporary directory of this daemon */
	char data_dir[300]; /* --data-dir */
	char socket[320];   /* unix socket path */
	char log_path[320]; /* stderr and stdout of the daemon */
	int port;           /* TCP port, 0 without --listen */
};

/* Starts agentd with --data-dir, --listen 127.0.0.1:0 and --log-level debug
 * plus extra arguments (NULL-terminated list, may be NULL), and waits until
 * it logs "ready". Fails the test if it does not. */
struct th_daemon *th_daemon_start(const char *const *extra);
/* Like th_daemon_start, but without a TCP listener, and with a given data
 * directory (NULL: a fresh one). */
struct th_daemon *th_daemon_start_in(const char *data_dir, bool tcp, const char *const *extra);
/* Sends sig and waits up to timeout_ms for the exit; returns the exit
 * status (exit code, or 128+signal), or -1 on timeout. */
int th_daemon_signal_wait(struct th_daemon *d, int sig, long timeout_ms);
/* Waits for the daemon to exit by itself; -1 on timeout. */
int th_daemon_wait(struct th_daemon *d, long timeout_ms);
/* SIGTERM and wait (fails the test if it does not exit 0). */
void th_daemon_stop(struct th_daemon *d);
/* The daemon's log so far (caller frees). */
char *th_daemon_log(struct th_daemon *d);

/* Runs binary with args (NULL-terminated) to completion; returns its exit
 * status with stdout+stderr in *output (caller frees). Fails the test after
 * timeout_ms. */
int th_run_binary(const char *binary, const char *const *args, char **output, long timeout_ms);
/* Makes dir a git repository with one commit (README). */
void th_git_repo(const char *dir);
/* Runs the agentd binary with args (NULL-terminated) to completion;
 * returns its exit status and puts stdout+stderr into *output (caller
 * frees). Fails the test after timeout_ms. */
int th_run_agentd(const char *const *args, char **output, long timeout_ms);

/* A client connection with a read buffer, so that pipelined responses can
 * be read one at a time. */
struct th_conn {
	int fd;     /* socket */
	char *buf;  /* received, not yet parsed */
	size_t len; /* bytes in buf */
	size_t cap; /* bytes allocated */
	bool eof;   /* the server closed the connection */
};

struct th_response {
	int status;         /* 0 when no response arrived */
	struct buf headers; /* "name: value\n" lines, names lower-cased */
	struct buf body;    /* de-chunked body */
	bool keep_alive;    /* llhttp's verdict */
};

struct th_conn *th_connect_tcp(int port);
struct th_conn *th_connect_unix(const char *path);
void th_conn_close(struct th_conn *c);
/* Sends all bytes; returns 0, or -errno (EPIPE, ECONNRESET) without failing. */
int th_conn_send(struct th_conn *c, const void *data, size_t len);
int th_conn_send_str(struct th_conn *c, const char *s);
/* Reads one response (head_request: it answers a HEAD). Returns 0, or -1 if
 * the connection closed or timeout_ms passed first. */
int th_conn_read_response(struct th_conn *c, struct th_response *r, bool head_request, long timeout_ms);
/* Reads whatever arrives within timeout_ms into out (appends); returns
 * bytes read, 0 on EOF. */
ssize_t th_conn_read_raw(struct th_conn *c, struct buf *out, long timeout_ms);
/* Reads until the received bytes contain needle, leaving them buffered for
 * th_conn_read_response; fails the test after timeout_ms or on EOF. Returns
 * the buffered bytes (borrowed, NUL-terminated). */
const char *th_conn_wait_for(struct th_conn *c, const char *needle, long timeout_ms);
/* True if the server closes the connection within timeout_ms (any data
 * that arrives first is appended to seen, which may be NULL). */
bool th_conn_wait_closed(struct th_conn *c, long timeout_ms, struct buf *seen);
void th_response_free(struct th_response *r);
/* A header's value (names are case-insensitive), into a static buffer; NULL
 * when absent. */
const char *th_response_header(const struct th_response *r, const char *name);

/* One request on a new TCP connection ("Connection: close"); body may be
 * NULL. Fails the test if no response arrives. */
void th_http(struct th_daemon *d, const char *method, const char *path, const char *body, struct th_response *r);
/* A request with a JSON body and optional extra header lines (each
 * "Name: value\r\n"), on a new TCP connection. */
void th_http_json(struct th_daemon *d, const char *method, const char *path, const char *body,
		  const char *extra_headers, struct th_response *r);
/* The same over the daemon's unix socket. */
void th_http_unix(struct th_daemon *d, const char *method, const char *path, const char *body, struct th_response *r);
/* A metric's value from GET /metrics: the line starting with series (name
 * and labels, exactly as rendered); -1 when absent. */
double th_metric(struct th_daemon *d, const char *series);

#endif
