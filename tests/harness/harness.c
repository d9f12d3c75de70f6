/* Test harness implementation: case registry and main, assertions, daemon
 * control, and an HTTP/1.1 client built on llhttp. */
#include "tests/harness/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/xalloc.h"

#define TH_MAX_TESTS 256
#define TH_MAX_DAEMONS 16
#define TH_MAX_TEMPDIRS 32

static struct {
	const char *name;
	th_test_fn fn;
} th_tests[TH_MAX_TESTS];
static size_t th_test_count;
static struct th_daemon *th_daemons[TH_MAX_DAEMONS];
static size_t th_daemon_count;
static char *th_tempdirs[TH_MAX_TEMPDIRS];
static size_t th_tempdir_count;
static bool th_failed;

void th_register(const char *name, th_test_fn fn)
{
	if (th_test_count == TH_MAX_TESTS)
		abort();
	th_tests[th_test_count].name = name;
	th_tests[th_test_count].fn = fn;
	th_test_count++;
}

long long th_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int th_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void th_cleanup(void)
{
	for (size_t i = 0; i < th_daemon_count; i++) {
		struct th_daemon *d = th_daemons[i];
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = 0;
		}
		if (th_failed) {
			char *log = th_read_file(d->log_path);
			fprintf(stderr, "---- agentd log (%s) ----\n%s---- end of log ----\n", d->log_path,
				log ? log : "(none)\n");
			free(log);
		}
	}
	if (getenv("TH_KEEP"))
		return;
	for (size_t i = 0; i < th_tempdir_count; i++)
		nftw(th_tempdirs[i], th_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void th_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	th_failed = true;
	exit(1);
}

const char *th_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/agentd-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(path))
		th_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	if (th_tempdir_count == TH_MAX_TEMPDIRS)
		th_fail(__FILE__, __LINE__, "too many temporary directories");
	th_tempdirs[th_tempdir_count++] = path;
	return path;
}

void th_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		th_fail(__FILE__, __LINE__, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

char *th_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	return buf_steal(&b);
}

const char *th_binary(const char *var)
{
	const char *p = getenv(var);
	if (!p || !*p)
		th_fail(__FILE__, __LINE__, "environment variable %s is not set (run the tests with meson test)", var);
	return p;
}

/* Reaps d if it has exited; returns true when it has. */
static bool th_daemon_reap(struct th_daemon *d, int options)
{
	if (d->pid <= 0)
		return true;
	int status;
	pid_t r = waitpid(d->pid, &status, options);
	if (r != d->pid)
		return false;
	d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	d->pid = 0;
	return true;
}

static pid_t th_spawn(const char *const *argv, const char *out_path)
{
	pid_t pid = fork();
	if (pid < 0)
		th_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* The daemon dies with the test, whatever kills the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, 0);
			close(devnull);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

struct th_daemon *th_daemon_start_in(const char *data_dir, bool tcp, const char *const *extra)
{
	if (th_daemon_count == TH_MAX_DAEMONS)
		th_fail(__FILE__, __LINE__, "too many daemons");
	struct th_daemon *d = xcalloc(1, sizeof(*d));
	th_daemons[th_daemon_count++] = d;
	snprintf(d->dir, sizeof(d->dir), "%s", th_tempdir());
	if (data_dir)
		snprintf(d->data_dir, sizeof(d->data_dir), "%s", data_dir);
	else
		snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
	snprintf(d->socket, sizeof(d->socket), "%s/agentd.sock", d->data_dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/agentd.stderr", d->dir);

	const char *argv[64];
	size_t n = 0;
	argv[n++] = th_binary("AGENTD");
	argv[n++] = "--data-dir";
	argv[n++] = d->data_dir;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	if (tcp) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
	}
	for (size_t i = 0; extra && extra[i]; i++) {
		if (n >= 62)
			th_fail(__FILE__, __LINE__, "too many daemon arguments");
		argv[n++] = extra[i];
		if (strcmp(extra[i], "--socket") == 0 && extra[i + 1])
			snprintf(d->socket, sizeof(d->socket), "%s", extra[i + 1]);
		/* With --log-file, the daemon's log is that file; its stderr
		 * goes next to it. */
		if (strcmp(extra[i], "--log-file") == 0 && extra[i + 1])
			snprintf(d->log_path, sizeof(d->log_path), "%s", extra[i + 1]);
	}
	argv[n] = NULL;
	char stderr_path[400];
	snprintf(stderr_path, sizeof(stderr_path), "%s/agentd.stderr", d->dir);
	d->pid = th_spawn(argv, stderr_path);

	long long deadline = th_now_ms() + 15000;
	for (;;) {
		char *log = th_read_file(d->log_path);
		if (log && strstr(log, "msg=ready")) {
			const char *tcp_line = strstr(log, "transport=tcp addr=");
			if (tcp_line) {
				const char *colon = strchr(tcp_line + strlen("transport=tcp addr="), ':');
				d->port = colon ? atoi(colon + 1) : 0;
			}
			free(log);
			break;
		}
		free(log);
		if (th_daemon_reap(d, WNOHANG))
			th_fail(__FILE__, __LINE__, "agentd exited with status %d before it was ready", d->exit_status);
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "agentd was not ready within 15s");
		th_sleep_ms(5);
	}
	if (tcp && d->port <= 0)
		th_fail(__FILE__, __LINE__, "agentd did not log its TCP port");
	return d;
}

struct th_daemon *th_daemon_start(const char *const *extra)
{
	return th_daemon_start_in(NULL, true, extra);
}

int th_daemon_wait(struct th_daemon *d, long timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	while (!th_daemon_reap(d, WNOHANG)) {
		if (th_now_ms() > deadline)
			return -1;
		th_sleep_ms(5);
	}
	return d->exit_status;
}

int th_daemon_signal_wait(struct th_daemon *d, int sig, long timeout_ms)
{
	if (d->pid > 0)
		kill(d->pid, sig);
	return th_daemon_wait(d, timeout_ms);
}

void th_daemon_stop(struct th_daemon *d)
{
	int status = th_daemon_signal_wait(d, SIGTERM, 15000);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "agentd did not stop cleanly on SIGTERM (status %d)", status);
}

char *th_daemon_log(struct th_daemon *d)
{
	char *log = th_read_file(d->log_path);
	return log ? log : xstrdup("");
}

int th_run_binary(const char *binary, const char *const *args, char **output, long timeout_ms)
{
	const char *dir = th_tempdir();
	char *out_path = xasprintf("%s/output", dir);
	const char *argv[64];
	size_t n = 0;
	argv[n++] = binary;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct th_daemon d;
	memset(&d, 0, sizeof(d));
	d.pid = th_spawn(argv, out_path);
	int status = th_daemon_wait(&d, timeout_ms);
	if (status < 0) {
		kill(d.pid, SIGKILL);
		waitpid(d.pid, NULL, 0);
		th_fail(__FILE__, __LINE__, "%s did not finish within %ldms", binary, timeout_ms);
	}
	char *out = th_read_file(out_path);
	free(out_path);
	if (output)
		*output = out ? out : xstrdup("");
	else
		free(out);
	return status;
}

int th_run_agentd(const char *const *args, char **output, long timeout_ms)
{
	return th_run_binary(th_binary("AGENTD"), args, output, timeout_ms);
}

void th_git_repo(const char *dir)
{
	char *cmd = xasprintf("mkdir -p '%s' && cd '%s' && git init -q -b main . && echo hello > README && "
			      "git add README && git -c user.name=test -c user.email=test@localhost commit -qm init",
			      dir, dir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		th_fail(__FILE__, __LINE__, "could not create a git repository in %s", dir);
}

/* ---- client ---- */

static struct th_conn *th_conn_wrap(int fd)
{
	struct th_conn *c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	return c;
}

struct th_conn *th_connect_tcp(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		th_fail(__FILE__, __LINE__, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return th_conn_wrap(fd);
}

struct th_conn *th_connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		th_fail(__FILE__, __LINE__, "connect to %s: %s", path, strerror(errno));
	return th_conn_wrap(fd);
}

void th_conn_close(struct th_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

int th_conn_send(struct th_conn *c, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int th_conn_send_str(struct th_conn *c, const char *s)
{
	return th_conn_send(c, s, strlen(s));
}

/* Reads more bytes into c->buf; returns bytes read, 0 on EOF, -1 on
 * timeout or error. */
static ssize_t th_conn_fill(struct th_conn *c, long timeout_ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	int pr = poll(&pfd, 1, (int)timeout_ms);
	if (pr <= 0)
		return -1;
	if (c->cap - c->len < 65536) {
		c->cap = c->cap ? c->cap * 2 : 131072;
		c->buf = xrealloc(c->buf, c->cap);
	}
	ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
	if (n < 0 && errno == ECONNRESET)
		n = 0;
	if (n == 0)
		c->eof = true;
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

ssize_t th_conn_read_raw(struct th_conn *c, struct buf *out, long timeout_ms)
{
	if (c->len == 0) {
		ssize_t n = th_conn_fill(c, timeout_ms);
		if (n <= 0)
			return n;
	}
	size_t n = c->len;
	buf_append(out, c->buf, n);
	c->len = 0;
	return (ssize_t)n;
}

const char *th_conn_wait_for(struct th_conn *c, const char *needle, long timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	size_t nlen = strlen(needle);
	for (;;) {
		if (c->buf && memmem(c->buf, c->len, needle, nlen)) {
			c->buf[c->len] = '\0';
			return c->buf;
		}
		long left = (long)(deadline - th_now_ms());
		if (left <= 0 || c->eof || th_conn_fill(c, left) <= 0)
			th_fail(__FILE__, __LINE__, "\"%s\" did not arrive within %ldms", needle, timeout_ms);
	}
}

bool th_conn_wait_closed(struct th_conn *c, long timeout_ms, struct buf *seen)
{
	long long deadline = th_now_ms() + timeout_ms;
	for (;;) {
		if (c->len && seen)
			buf_append(seen, c->buf, c->len);
		c->len = 0;
		if (c->eof)
			return true;
		long left = (long)(deadline - th_now_ms());
		if (left <= 0)
			return false;
		if (th_conn_fill(c, left) < 0 && !c->eof)
			return false;
	}
}

struct th_parse {
	struct th_response *r; /* being filled */
	bool head_request;     /* no body follows */
	bool done;             /* message complete */
	bool in_value;         /* last header callback was a value */
};

static int th_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct th_parse *p = ll->data;
	if (p->in_value || p->r->headers.len == 0) {
		if (p->r->headers.len)
			buf_append_char(&p->r->headers, '\n');
		p->in_value = false;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = at[i];
		buf_append_char(&p->r->headers, (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch);
	}
	return 0;
}

static int th_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct th_parse *p = ll->data;
	if (!p->in_value)
		buf_append_str(&p->r->headers, ": ");
	p->in_value = true;
	buf_append(&p->r->headers, at, len);
	return 0;
}

static int th_on_headers_complete(llhttp_t *ll)
{
	struct th_parse *p = ll->data;
	p->r->status = ll->status_code;
	if (p->r->headers.len)
		buf_append_char(&p->r->headers, '\n');
	return p->head_request ? 1 : 0;
}

static int th_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct th_parse *p = ll->data;
	buf_append(&p->r->body, at, len);
	return 0;
}

static int th_on_message_complete(llhttp_t *ll)
{
	struct th_parse *p = ll->data;
	/* 1xx answers (100 Continue) are not the response. */
	if (ll->status_code >= 100 && ll->status_code < 200) {
		buf_reset(&p->r->headers);
		p->in_value = false;
		return 0;
	}
	p->done = true;
	p->r->keep_alive = llhttp_should_keep_alive(ll);
	return HPE_PAUSED;
}

int th_conn_read_response(struct th_conn *c, struct th_response *r, bool head_request, long timeout_ms)
{
	memset(r, 0, sizeof(*r));
	static llhttp_settings_t settings;
	llhttp_settings_init(&settings);
	settings.on_header_field = th_on_header_field;
	settings.on_header_value = th_on_header_value;
	settings.on_headers_complete = th_on_headers_complete;
	settings.on_body = th_on_body;
	settings.on_message_complete = th_on_message_complete;
	llhttp_t ll;
	llhttp_init(&ll, HTTP_RESPONSE, &settings);
	struct th_parse p = {r, head_request, false, false};
	ll.data = &p;
	long long deadline = th_now_ms() + timeout_ms;
	size_t parsed = 0;
	for (;;) {
		if (parsed < c->len) {
			llhttp_errno_t err = llhttp_execute(&ll, c->buf + parsed, c->len - parsed);
			if (err == HPE_PAUSED) {
				size_t used = (size_t)(llhttp_get_error_pos(&ll) - (c->buf + parsed));
				parsed += used;
				memmove(c->buf, c->buf + parsed, c->len - parsed);
				c->len -= parsed;
				return 0;
			}
			if (err != HPE_OK) {
				fprintf(stderr, "response parse error: %s\n", llhttp_get_error_reason(&ll));
				return -1;
			}
			parsed = c->len;
		}
		if (c->eof) {
			/* A close-delimited body ends here. */
			if (r->status && llhttp_finish(&ll) == HPE_OK && p.done) {
				c->len = 0;
				return 0;
			}
			if (r->status && p.done)
				return 0;
			return -1;
		}
		long left = (long)(deadline - th_now_ms());
		if (left <= 0)
			return -1;
		size_t before = c->len;
		ssize_t n = th_conn_fill(c, left);
		if (n < 0)
			return -1;
		(void)before;
	}
}

void th_response_free(struct th_response *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
}

const char *th_response_header(const struct th_response *r, const char *name)
{
	static char value[8192];
	if (!r->headers.data)
		return NULL;
	size_t nlen = strlen(name);
	const char *line = r->headers.data;
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (len > nlen + 1 && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (*v == ' ')
				v++;
			size_t vlen = (size_t)(line + len - v);
			if (vlen >= sizeof(value))
				vlen = sizeof(value) - 1;
			memcpy(value, v, vlen);
			value[vlen] = '\0';
			return value;
		}
		line += len + (eol ? 1 : 0);
	}
	return NULL;
}

static void th_http_on(struct th_conn *c, const char *method, const char *path, const char *body,
		       const char *extra_headers, struct th_response *r)
{
	struct buf req = BUF_INIT;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s", method, path,
		   extra_headers ? extra_headers : "");
	if (body)
		buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	buf_append_str(&req, "\r\n");
	if (body)
		buf_append_str(&req, body);
	if (th_conn_send(c, req.data, req.len) < 0)
		th_fail(__FILE__, __LINE__, "sending %s %s failed", method, path);
	buf_free(&req);
	if (th_conn_read_response(c, r, strcmp(method, "HEAD") == 0, 10000) < 0)
		th_fail(__FILE__, __LINE__, "no response to %s %s", method, path);
	th_conn_close(c);
}

void th_http(struct th_daemon *d, const char *method, const char *path, const char *body, struct th_response *r)
{
	th_http_on(th_connect_tcp(d->port), method, path, body, NULL, r);
}

void th_http_json(struct th_daemon *d, const char *method, const char *path, const char *body,
		  const char *extra_headers, struct th_response *r)
{
	th_http_on(th_connect_tcp(d->port), method, path, body, extra_headers, r);
}

void th_http_unix(struct th_daemon *d, const char *method, const char *path, const char *body, struct th_response *r)
{
	th_http_on(th_connect_unix(d->socket), method, path, body, NULL, r);
}

double th_metric(struct th_daemon *d, const char *series)
{
	struct th_response r;
	th_http_unix(d, "GET", "/metrics", NULL, &r);
	double value = -1;
	size_t slen = strlen(series);
	const char *line = r.body.data ? r.body.data : "";
	while (*line) {
		const char *eol = strchr(line, '\n');
		if (strncmp(line, series, slen) == 0 && line[slen] == ' ') {
			value = strtod(line + slen + 1, NULL);
			break;
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	th_response_free(&r);
	return value;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < th_test_count; i++)
			printf("%s\n", th_tests[i].name);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s TEST | --list\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(th_cleanup);
	for (size_t i = 0; i < th_test_count; i++) {
		if (strcmp(th_tests[i].name, argv[1]) == 0) {
			th_tests[i].fn();
			printf("ok %s\n", argv[1]);
			return 0;
		}
	}
	fprintf(stderr, "no test named '%s'\n", argv[1]);
	return 2;
}
