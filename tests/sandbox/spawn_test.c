/* The sandbox library on a libuv loop, as the daemon uses it: spawn,
 * the command's pipes, the result, kill, timeout, free while running. Runs
 * under AddressSanitizer: nothing may leak, no zombie may remain. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* What one spawned sandbox produced. */
struct spawn_run {
	sandbox *sb;                  /* the handle */
	uv_stream_t *stdout_stream;   /* sandbox_stdout(sb) */
	struct buf out;               /* the command's stdout */
	struct buf err;               /* the command's stderr */
	int eofs;                     /* streams that reached EOF (of 2) */
	bool exited;                  /* on_exit ran */
	struct sandbox_result result; /* what on_exit got */
	long long exited_at_ms;       /* when */
};

static void spawn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	buf->base = malloc(suggested);
	buf->len = suggested;
}

static void spawn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct spawn_run *run = stream->data;
	struct buf *into = stream == run->stdout_stream ? &run->out : &run->err;
	if (nread > 0)
		buf_append(into, buf->base, (size_t)nread);
	else if (nread < 0) {
		uv_read_stop(stream);
		run->eofs++;
	}
	free(buf->base);
}

static void spawn_on_exit(sandbox *sb, const struct sandbox_result *result, void *arg)
{
	struct spawn_run *run = arg;
	CHECK(sb == run->sb);
	run->exited = true;
	run->result = *result;
	run->exited_at_ms = th_now_ms();
}

static const char *spawn_executable(void)
{
	return sbt_sandbox_path();
}

/* Spawns cfg (with the probe bound at /probe) and starts reading. */
static void spawn_start(uv_loop_t *loop, struct sandbox_config *cfg, struct sandbox_mount *mounts, size_t count,
			bool stdin_pipe, struct spawn_run *run)
{
	memset(run, 0, sizeof(*run));
	mounts[count] = (struct sandbox_mount){SANDBOX_MOUNT_RO_BIND, sbt_probe_path(), "/probe", 0};
	cfg->mounts = mounts;
	cfg->mount_count = count + 1;
	struct sandbox_spawn_options opts = {spawn_executable(), stdin_pipe, 1000};
	char err[256];
	int rc = sandbox_spawn(loop, cfg, &opts, spawn_on_exit, run, &run->sb, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "sandbox_spawn: %s", err);
	run->stdout_stream = sandbox_stdout(run->sb);
	sandbox_stdout(run->sb)->data = run;
	sandbox_stderr(run->sb)->data = run;
	CHECK(uv_read_start(sandbox_stdout(run->sb), spawn_alloc, spawn_read) == 0);
	CHECK(uv_read_start(sandbox_stderr(run->sb), spawn_alloc, spawn_read) == 0);
}

/* Runs the loop until the run has exited and both streams are at EOF. */
static void spawn_wait(uv_loop_t *loop, struct spawn_run *run, long timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	while (!run->exited || run->eofs < 2) {
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "the sandbox did not finish within %ldms", timeout_ms);
		uv_run(loop, UV_RUN_ONCE);
	}
}

/* Frees the sandbox and runs the loop until every handle is closed. */
static void spawn_finish(uv_loop_t *loop, struct spawn_run *run)
{
	sandbox_free(run->sb);
	run->sb = NULL;
	long long deadline = th_now_ms() + 20000;
	while (uv_run(loop, UV_RUN_NOWAIT) != 0) {
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "handles still open after sandbox_free");
		th_sleep_ms(1);
	}
	buf_free(&run->out);
	buf_free(&run->err);
	CHECK(uv_loop_close(loop) == 0);
}

/* Starts the probe's spinner (marker in its command line) with the given
 * timeout, and runs the loop until it says it spins. */
static void spawn_spinner(uv_loop_t *loop, struct spawn_run *run, const char *marker, uint64_t timeout_ms)
{
	uv_loop_init(loop);
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	const char *argv[] = {"/probe", "spin", marker, NULL};
	cfg.argv = argv;
	cfg.timeout_ms = timeout_ms;
	struct sandbox_mount mounts[1];
	spawn_start(loop, &cfg, mounts, 0, false, run);
	while (!run->out.data || !strstr(run->out.data, "spinning"))
		uv_run(loop, UV_RUN_ONCE);
}

TEST(spawn_runs_a_command_and_reports_its_result)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	const char *ws = sbt_workspace();
	const char *env[] = {"GREETING=hello"};
	const char *argv[] = {"/bin/sh", "-c",
			      "echo $GREETING > /workspace/note; cat /workspace/note; echo oops >&2; exit 3", NULL};
	cfg.workspace = ws;
	cfg.env = env;
	cfg.env_count = 1;
	cfg.argv = argv;
	cfg.timeout_ms = 30000;
	struct sandbox_mount mounts[1];
	struct spawn_run run;
	spawn_start(&loop, &cfg, mounts, 0, false, &run);
	spawn_wait(&loop, &run, 30000);
	CHECK_INT(run.result.exit_code, ==, 3);
	CHECK_INT(run.result.status, ==, 3);
	CHECK(!run.result.setup_failed && !run.result.timed_out && !run.result.killed);
	CHECK_STR(run.out.data, "hello\n");
	CHECK_STR(run.err.data, "oops\n");
	spawn_finish(&loop, &run);
}

TEST(spawn_reports_a_setup_failure)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	const char *argv[] = {"/bin/true", NULL};
	cfg.workspace = "/nonexistent/agentd-workspace";
	cfg.argv = argv;
	struct sandbox_mount mounts[1];
	struct spawn_run run;
	spawn_start(&loop, &cfg, mounts, 0, false, &run);
	spawn_wait(&loop, &run, 30000);
	CHECK(run.result.setup_failed);
	CHECK_INT(run.result.status, ==, SANDBOX_EXIT_SETUP);
	CHECK_CONTAINS(run.result.error, "open --workspace /nonexistent/agentd-workspace");
	spawn_finish(&loop, &run);
}

static void spawn_kill_cb(uv_timer_t *timer)
{
	struct spawn_run *run = timer->data;
	CHECK(sandbox_kill(run->sb) == 0);
}

TEST(spawn_kill_stops_the_whole_sandbox)
{
	uv_loop_t loop;
	struct spawn_run run;
	const char *marker = sbt_marker();
	spawn_spinner(&loop, &run, marker, 0);
	uv_timer_t timer;
	uv_timer_init(&loop, &timer);
	timer.data = &run;
	long long killed_at = th_now_ms();
	uv_timer_start(&timer, spawn_kill_cb, 0, 0);
	spawn_wait(&loop, &run, 30000);
	uv_close((uv_handle_t *)&timer, NULL);
	CHECK(run.result.killed);
	CHECK_INT(run.result.signal, ==, SIGKILL);
	CHECK_INT(run.exited_at_ms - killed_at, <, 5000);
	CHECK(sbt_wait_marker_gone(marker, 5000));
	CHECK_INT(sandbox_kill(run.sb), ==, -ESRCH);
	spawn_finish(&loop, &run);
}

TEST(spawn_timeout_is_reported)
{
	uv_loop_t loop;
	struct spawn_run run;
	const char *marker = sbt_marker();
	spawn_spinner(&loop, &run, marker, 1000);
	spawn_wait(&loop, &run, 30000);
	CHECK(run.result.timed_out);
	CHECK_INT(run.result.status, ==, SANDBOX_EXIT_TIMEOUT);
	CHECK_INT(run.result.wall_ms, >=, 1000);
	CHECK(sbt_wait_marker_gone(marker, 5000));
	spawn_finish(&loop, &run);
}

/* The daemon gives up on a running sandbox: everything inside dies and
 * agentd-sandbox is reaped (no zombie), with no callback. */
TEST(spawn_free_while_running_leaves_nothing)
{
	uv_loop_t loop;
	struct spawn_run run;
	const char *marker = sbt_marker();
	spawn_spinner(&loop, &run, marker, 0);
	/* Running (the spinner has written its marker): the pid is known. */
	pid_t pid = sandbox_pid(run.sb);
	CHECK(pid > 0);
	spawn_finish(&loop, &run);
	CHECK(!run.exited);
	CHECK(sbt_wait_marker_gone(marker, 5000));
	CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static void spawn_write_cb(uv_write_t *req, int status)
{
	CHECK_INT(status, ==, 0);
	sandbox_close_stdin(req->data);
}

TEST(spawn_stdin_pipe_reaches_the_command)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	const char *argv[] = {"/bin/cat", NULL};
	cfg.argv = argv;
	struct sandbox_mount mounts[1];
	struct spawn_run run;
	spawn_start(&loop, &cfg, mounts, 0, true, &run);
	CHECK(sandbox_stdin(run.sb) != NULL);
	uv_write_t req;
	req.data = run.sb;
	uv_buf_t data = uv_buf_init((char *)"through the pipe\n", 17);
	CHECK(uv_write(&req, sandbox_stdin(run.sb), &data, 1, spawn_write_cb) == 0);
	spawn_wait(&loop, &run, 30000);
	CHECK(sandbox_stdin(run.sb) == NULL);
	CHECK_INT(run.result.exit_code, ==, 0);
	CHECK_STR(run.out.data, "through the pipe\n");
	spawn_finish(&loop, &run);
}

TEST(spawn_refuses_a_bad_configuration_and_a_missing_executable)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	const char *argv[] = {"/bin/true", NULL};
	struct sandbox_mount mounts[] = {{SANDBOX_MOUNT_TMPFS, NULL, "relative/path", 0}};
	cfg.argv = argv;
	cfg.mounts = mounts;
	cfg.mount_count = 1;
	sandbox *sb = NULL;
	char err[256];
	CHECK_INT(sandbox_spawn(&loop, &cfg, NULL, spawn_on_exit, NULL, &sb, err, sizeof(err)), ==, -EINVAL);
	CHECK(sb == NULL);
	CHECK_CONTAINS(err, "--tmpfs: \"relative/path\" must be an absolute path");
	cfg.mount_count = 0;
	struct sandbox_spawn_options opts = {"/nonexistent/agentd-sandbox", false, 0};
	CHECK_INT(sandbox_spawn(&loop, &cfg, &opts, spawn_on_exit, NULL, &sb, err, sizeof(err)), ==, UV_ENOENT);
	CHECK(sb == NULL);
	CHECK_CONTAINS(err, "/nonexistent/agentd-sandbox");
	while (uv_run(&loop, UV_RUN_NOWAIT) != 0)
		;
	CHECK(uv_loop_close(&loop) == 0);
}

/* The command line the library builds for a full configuration. */
TEST(config_becomes_the_documented_flags)
{
	struct sandbox_config cfg;
	sandbox_config_init(&cfg);
	struct sandbox_mount mounts[] = {
		{SANDBOX_MOUNT_RO_BIND, "/src", "/dst", 0},
		{SANDBOX_MOUNT_BIND, "/rw", "/data", 0},
		{SANDBOX_MOUNT_TMPFS, NULL, "/scratch", 1048576},
		{SANDBOX_MOUNT_HIDE, NULL, "/var/lib/agentd", 0},
	};
	const char *env[] = {"A=1"};
	const char *argv[] = {"make", "test", NULL};
	cfg.workspace = "/ws";
	cfg.mounts = mounts;
	cfg.mount_count = 4;
	cfg.env = env;
	cfg.env_count = 1;
	cfg.net = SANDBOX_NET_LOOPBACK;
	cfg.uid = 1234;
	cfg.gid = 1235;
	cfg.timeout_ms = 1500;
	cfg.memory_bytes = 1 << 30;
	cfg.pids = 100;
	cfg.max_output_bytes = 65536;
	cfg.seccomp = SANDBOX_SECCOMP_OFF;
	cfg.argv = argv;
	char err[128];
	CHECK(sandbox_config_check(&cfg, err, sizeof(err)) == 0);
	char **built = sandbox_config_argv(&cfg, "agentd-sandbox", 3);
	struct buf joined = BUF_INIT;
	for (size_t i = 0; built[i]; i++)
		buf_printf(&joined, "%s%s", i ? " " : "", built[i]);
	CHECK_STR(joined.data, "agentd-sandbox --workspace /ws --ro-bind /src /dst --bind /rw /data --tmpfs "
			       "/scratch:1048576 --hide /var/lib/agentd --env A=1 --net loopback --uid 1234 --gid 1235 "
			       "--timeout 1500ms --memory 1073741824 --pids 100 --max-output 65536 --seccomp off "
			       "--json-fd 3 -- make test");
	buf_free(&joined);
	sandbox_config_argv_free(built);
}

/* A result is exactly one object: anything after it (a second object a
 * command got in somehow) makes it no result at all. */
TEST(result_with_more_after_the_object_is_refused)
{
	struct sandbox_result res;
	char why[200];
	const char *one = "{\"status\":3,\"exit_code\":3}\n";
	CHECK(sandbox_result_from_json(one, strlen(one), &res, why, sizeof(why)) == 0);
	CHECK_INT(res.exit_code, ==, 3);
	const char *two = "{\"status\":0,\"exit_code\":0}{\"status\":3,\"exit_code\":3}\n";
	CHECK_INT(sandbox_result_from_json(two, strlen(two), &res, why, sizeof(why)), ==, -EINVAL);
	CHECK_CONTAINS(why, "after the object");
	const char *garbage = "{\"status\":0,\"exit_code\":0} trailing";
	CHECK_INT(sandbox_result_from_json(garbage, strlen(garbage), &res, why, sizeof(why)), ==, -EINVAL);
}
