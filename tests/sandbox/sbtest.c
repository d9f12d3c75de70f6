/* Helpers for the sandbox tests (see sbtest.h). */
#include "tests/sandbox/sbtest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"

#define SBT_MAX_ARGS 96
#define SBT_MAX_SLEEPERS 16
#define SBT_MAX_PATHS 32

static pid_t sbt_sleepers[SBT_MAX_SLEEPERS];
static size_t sbt_sleeper_count;

const char *sbt_sandbox_path(void)
{
	return th_binary("AGENTD_SANDBOX");
}

const char *sbt_probe_path(void)
{
	return th_binary("SANDBOX_PROBE");
}

bool sbt_is_root(void)
{
	return geteuid() == 0;
}

uint32_t sbt_sandbox_uid(void)
{
	return sbt_is_root() ? SANDBOX_NOBODY : (uint32_t)getuid();
}

const char *sbt_workspace(void)
{
	const char *dir = th_tempdir();
	if (sbt_is_root() && chown(dir, SANDBOX_NOBODY, SANDBOX_NOBODY) < 0)
		th_fail(__FILE__, __LINE__, "chown %s: %s", dir, strerror(errno));
	return dir;
}

/* Copies of the binaries that nobody can read and run (the build tree may
 * sit in a directory only root can enter). */
static void sbt_nobody_copies(const char **sandbox_copy_out, const char **probe_copy_out)
{
	static char sandbox_copy[400], probe_copy[400];
	if (!sandbox_copy[0]) {
		const char *dir = th_tempdir();
		chmod(dir, 0755);
		snprintf(sandbox_copy, sizeof(sandbox_copy), "%s/agentd-sandbox", dir);
		snprintf(probe_copy, sizeof(probe_copy), "%s/sandbox-probe", dir);
		const char *pairs[2][2] = {{sbt_sandbox_path(), sandbox_copy}, {sbt_probe_path(), probe_copy}};
		for (int i = 0; i < 2; i++) {
			char *cmd = xasprintf("cp '%s' '%s' && chmod 0755 '%s'", pairs[i][0], pairs[i][1], pairs[i][1]);
			if (system(cmd) != 0)
				th_fail(__FILE__, __LINE__, "%s failed", cmd);
			free(cmd);
		}
	}
	*sandbox_copy_out = sandbox_copy;
	*probe_copy_out = probe_copy;
}

static char *sbt_slurp(const char *path)
{
	char *text = th_read_file(path);
	return text ? text : xstrdup("");
}

static void sbt_exec(const struct sbt_options *opts, const char *const *argv, const char *dir)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/stdout", dir);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	int err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	snprintf(path, sizeof(path), "%s/result.json", dir);
	int json = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int in = opts->stdin_fd >= 0 ? opts->stdin_fd : open("/dev/null", O_RDONLY);
	if (out < 0 || err < 0 || json < 0 || in < 0)
		_exit(120);
	if (opts->new_session) {
		setsid();
		ioctl(in, TIOCSCTTY, 0);
	}
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	dup2(json, 3);
	/* The test's death ends agentd-sandbox (and so the sandbox). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void sbt_run_argv(struct sbt_result *r, const struct sbt_options *opts, const char *const *argv, long timeout_ms)
{
	memset(r, 0, sizeof(*r));
	/* One directory for every run of the test: runs are sequential. */
	static const char *dir;
	if (!dir)
		dir = th_tempdir();
	long long start = th_now_ms();
	pid_t pid = fork();
	if (pid < 0)
		th_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0)
		sbt_exec(opts, argv, dir);
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (th_now_ms() - start > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			th_fail(__FILE__, __LINE__, "agentd-sandbox did not finish within %ldms", timeout_ms);
		}
		th_sleep_ms(2);
	}
	r->elapsed_ms = th_now_ms() - start;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	char path[400];
	snprintf(path, sizeof(path), "%s/stdout", dir);
	r->out = sbt_slurp(path);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	r->err = sbt_slurp(path);
	snprintf(path, sizeof(path), "%s/result.json", dir);
	char *json = sbt_slurp(path);
	char why[200];
	sandbox_result_init(&r->json);
	if (*json && sandbox_result_from_json(json, strlen(json), &r->json, why, sizeof(why)) == 0)
		r->has_json = true;
	free(json);
}

void sbt_run_opts(struct sbt_result *r, const struct sbt_options *opts, const char *const *args, long timeout_ms)
{
	const char *argv[SBT_MAX_ARGS];
	size_t n = 0;
	const char *sandbox_bin = sbt_sandbox_path(), *probe = sbt_probe_path();
	if (opts->as_nobody) {
		sbt_nobody_copies(&sandbox_bin, &probe);
		argv[n++] = "/usr/bin/setpriv";
		argv[n++] = "--reuid=65534";
		argv[n++] = "--regid=65534";
		argv[n++] = "--clear-groups";
	}
	argv[n++] = sandbox_bin;
	argv[n++] = "--json-fd";
	argv[n++] = "3";
	if (!opts->no_probe) {
		argv[n++] = "--ro-bind";
		argv[n++] = probe;
		argv[n++] = "/probe";
	}
	for (size_t i = 0; args[i]; i++) {
		if (n + 1 >= SBT_MAX_ARGS)
			th_fail(__FILE__, __LINE__, "too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	sbt_run_argv(r, opts, argv, timeout_ms);
}

void sbt_run(struct sbt_result *r, const char *const *args, long timeout_ms)
{
	struct sbt_options opts = {-1, false, false, false};
	sbt_run_opts(r, &opts, args, timeout_ms);
}

void sbt_run_plain(struct sbt_result *r, const char *const *args, long timeout_ms)
{
	const char *argv[SBT_MAX_ARGS];
	size_t n = 0;
	argv[n++] = sbt_sandbox_path();
	for (size_t i = 0; args[i] && n + 1 < SBT_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct sbt_options opts = {-1, false, false, true};
	sbt_run_argv(r, &opts, argv, timeout_ms);
}

void sbt_result_free(struct sbt_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void sbt_expect_ok(const struct sbt_result *r)
{
	if (r->status != 0 || !r->has_json || r->json.exit_code != 0)
		th_fail(__FILE__, __LINE__, "the command failed (status %d, error \"%s\")\nstdout:\n%s\nstderr:\n%s",
			r->status, r->json.error, r->out, r->err);
}

void sbt_probe(struct sbt_result *r, const char *const *flags, const char *what, const char *arg)
{
	const char *args[SBT_MAX_ARGS];
	size_t n = 0;
	for (size_t i = 0; flags && flags[i]; i++) {
		if (n + 5 >= SBT_MAX_ARGS)
			th_fail(__FILE__, __LINE__, "too many flags");
		args[n++] = flags[i];
	}
	args[n++] = "--";
	args[n++] = "/probe";
	args[n++] = what;
	if (arg)
		args[n++] = arg;
	args[n] = NULL;
	sbt_run(r, args, 30000);
	sbt_expect_ok(r);
}

void sbt_probe_expect(const char *const *flags, const char *what, const char *arg, const char *const *expect)
{
	struct sbt_result r;
	sbt_probe(&r, flags, what, arg);
	for (size_t i = 0; expect[i]; i++) {
		if (!strstr(r.out, expect[i]))
			th_fail(__FILE__, __LINE__, "probe %s: expected \"%s\" in its output:\n%s", what, expect[i],
				r.out);
	}
	sbt_result_free(&r);
}

const char *sbt_shared_dir(void)
{
	const char *dir = th_tempdir();
	chmod(dir, 0755);
	return dir;
}

static char *sbt_paths[SBT_MAX_PATHS];
static size_t sbt_path_count;

static void sbt_free_paths(void)
{
	for (size_t i = 0; i < sbt_path_count; i++)
		free(sbt_paths[i]);
}

const char *sbt_shared_file(const char *dir, const char *name, const char *text)
{
	if (sbt_path_count == SBT_MAX_PATHS)
		th_fail(__FILE__, __LINE__, "too many files");
	if (sbt_path_count == 0)
		atexit(sbt_free_paths);
	char *path = xasprintf("%s/%s", dir, name);
	th_write_file(path, text);
	chmod(path, 0644);
	sbt_paths[sbt_path_count++] = path;
	return path;
}

int sbt_listen_inet(int type, int *port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0) || getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		th_fail(__FILE__, __LINE__, "listen on 127.0.0.1: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

bool sbt_has_visitor(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	return poll(&pfd, 1, 200) > 0;
}

int sbt_listen_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	socklen_t len = sizeof(sun);
	if (path[0] == '@') {
		size_t n = strlen(path + 1);
		memcpy(sun.sun_path + 1, path + 1, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		unlink(path);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 16) < 0)
		th_fail(__FILE__, __LINE__, "listen on %s: %s", path, strerror(errno));
	if (path[0] != '@')
		chmod(path, 0777);
	return fd;
}

static void sbt_kill_sleepers(void)
{
	for (size_t i = 0; i < sbt_sleeper_count; i++) {
		kill(sbt_sleepers[i], SIGKILL);
		waitpid(sbt_sleepers[i], NULL, 0);
	}
}

pid_t sbt_start_sleeper(const char *marker)
{
	if (sbt_sleeper_count == SBT_MAX_SLEEPERS)
		th_fail(__FILE__, __LINE__, "too many sleepers");
	if (sbt_sleeper_count == 0)
		atexit(sbt_kill_sleepers);
	const char *probe = sbt_probe_path();
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (sbt_is_root() && (setgid(SANDBOX_NOBODY) < 0 || setuid(SANDBOX_NOBODY) < 0))
			_exit(121);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		execl(probe, probe, "sleeper", marker, (char *)NULL);
		_exit(127);
	}
	sbt_sleepers[sbt_sleeper_count++] = pid;
	/* Until it has executed, its command line is the test's. */
	for (int i = 0; i < 2000 && !sbt_marker_running(marker); i++)
		th_sleep_ms(1);
	return pid;
}

bool sbt_alive(pid_t pid)
{
	char path[64], state = '?';
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	/* "pid (comm) S ...": the state follows the last ')'. */
	char line[512];
	if (fgets(line, sizeof(line), f)) {
		char *paren = strrchr(line, ')');
		if (paren && paren[1] == ' ')
			state = paren[2];
	}
	fclose(f);
	return state != 'Z' && state != 'X' && state != '?';
}

/* Calls fn on every live process whose command line contains marker;
 * returns how many there were. */
static int sbt_marker_each(const char *marker, void (*fn)(pid_t pid))
{
	DIR *d = opendir("/proc");
	int found = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[300], cmdline[4096];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, cmdline, sizeof(cmdline) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		cmdline[n] = '\0';
		pid_t pid = (pid_t)atoi(de->d_name);
		if (strstr(cmdline, marker) && sbt_alive(pid)) {
			found++;
			if (fn)
				fn(pid);
		}
	}
	if (d)
		closedir(d);
	return found;
}

int sbt_marker_count(const char *marker)
{
	return sbt_marker_each(marker, NULL);
}

static void sbt_kill_pid(pid_t pid)
{
	kill(pid, SIGKILL);
}

void sbt_kill_marker(const char *marker)
{
	sbt_marker_each(marker, sbt_kill_pid);
}

bool sbt_marker_running(const char *marker)
{
	return sbt_marker_count(marker) > 0;
}

bool sbt_wait_marker_gone(const char *marker, long timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	while (sbt_marker_running(marker)) {
		if (th_now_ms() > deadline)
			return false;
		th_sleep_ms(10);
	}
	return true;
}

const char *sbt_marker(void)
{
	static char marker[64];
	static int counter;
	snprintf(marker, sizeof(marker), "agentd-marker-%d-%d", (int)getpid(), ++counter);
	return marker;
}
