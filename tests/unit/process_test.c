/* Children started with posix_spawn and watched through a pidfd. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "common/buf.h"
#include "common/process.h"
#include "tests/harness/harness.h"

struct outcome {
	bool exited;    /* on_exit ran */
	int64_t status; /* its exit status */
	int signal;     /* its signal */
};

static void on_exit_cb(struct process *p, int64_t status, int sig, void *arg)
{
	(void)p;
	struct outcome *o = arg;
	o->exited = true;
	o->status = status;
	o->signal = sig;
}

/* Runs sh -c script; returns its stdout and fills o. */
static char *run_sh(uv_loop_t *loop, const char *script, struct outcome *o, bool kill_it)
{
	int parent, child;
	CHECK_INT(process_pipe(&parent, &child, false), ==, 0);
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct process_options opts = {
		.file = "/bin/sh", .argv = argv, .envp = envp, .cwd = "/", .fds = {-1, child, child}, .nfds = 3};
	memset(o, 0, sizeof(*o));
	struct process *p = NULL;
	CHECK_INT(process_spawn(loop, &opts, on_exit_cb, o, &p), ==, 0);
	/* The spawn runs off the loop: the pid comes when the child runs. */
	CHECK_INT(process_pid(p), ==, 0);
	close(child);
	if (kill_it) {
		while (process_pid(p) == 0)
			uv_run(loop, UV_RUN_ONCE);
		CHECK_INT(process_kill(p, SIGKILL), ==, 0);
	}
	struct buf out = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	while ((n = read(parent, chunk, sizeof(chunk))) > 0)
		buf_append(&out, chunk, (size_t)n);
	close(parent);
	while (!o->exited)
		uv_run(loop, UV_RUN_ONCE);
	return buf_steal(&out);
}

TEST(exit_status_output_and_clean_start)
{
	signal(SIGPIPE, SIG_IGN); /* the child must not inherit this */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL); /* nor this */
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o;
	char *out = run_sh(&loop, "echo out; echo err >&2; pwd; echo $PATH; exit 3", &o, false);
	CHECK_STR(out, "out\nerr\n/\n/usr/bin:/bin\n");
	CHECK_INT(o.status, ==, 3);
	CHECK_INT(o.signal, ==, 0);
	free(out);
	/* Signal dispositions and the mask are reset. */
	out = run_sh(&loop, "grep -E '^Sig(Ign|Blk)' /proc/self/status", &o, false);
	CHECK_CONTAINS(out, "SigBlk:\t0000000000000000");
	/* Only glibc's own two real-time signals may stay ignored. */
	CHECK_CONTAINS(out, "SigIgn:\t000000018000000");
	free(out);
	out = run_sh(&loop, "kill -PIPE $$", &o, false);
	CHECK_INT(o.signal, ==, SIGPIPE);
	free(out);
	/* Only 0, 1 and 2 reach the child. */
	out = run_sh(&loop, "ls /proc/self/fd | sort -n | tr '\\n' ' '", &o, false);
	CHECK_STR(out, "0 1 2 3 ");
	free(out);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(kill_and_missing_executable)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o;
	char *out = run_sh(&loop, "exec sleep 30", &o, true);
	CHECK_INT(o.signal, ==, SIGKILL);
	free(out);
	char *argv[] = {"/nonexistent/prog", NULL};
	struct process_options opts = {.file = "/nonexistent/prog", .argv = argv, .fds = {-1, -1, -1}, .nfds = 3};
	CHECK_INT(process_spawn(&loop, &opts, on_exit_cb, &o, NULL), <, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}

static void on_exit_error(struct process *p, int64_t status, int sig, void *arg)
{
	struct outcome *o = arg;
	on_exit_cb(p, status, sig, arg);
	o->signal = sig ? sig : -process_spawn_error(p);
}

/* A name looked up in PATH that is not there is only known off the loop:
 * the exit says so. */
TEST(missing_program_in_path_is_reported_at_exit)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o = {0};
	char *argv[] = {"agentd-no-such-program", NULL};
	struct process_options opts = {.file = "agentd-no-such-program", .argv = argv, .fds = {-1, -1, -1}, .nfds = 3};
	struct process *p = NULL;
	CHECK_INT(process_spawn(&loop, &opts, on_exit_error, &o, &p), ==, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(o.exited);
	CHECK_INT(o.status, ==, PROCESS_SPAWN_FAILED);
	CHECK_INT(o.signal, ==, -ENOENT);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}

/* A kill asked for before the child runs is sent when it does. */
TEST(kill_before_the_child_runs)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o = {0};
	char *argv[] = {"/bin/sleep", "30", NULL};
	struct process_options opts = {.file = "/bin/sleep", .argv = argv, .fds = {-1, -1, -1}, .nfds = 3};
	struct process *p = NULL;
	long long t0 = th_now_ms();
	CHECK_INT(process_spawn(&loop, &opts, on_exit_cb, &o, &p), ==, 0);
	CHECK_INT(process_kill(p, SIGKILL), ==, 0);
	CHECK_INT(process_kill(p, SIGTERM), ==, 0); /* does not soften it */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(o.exited);
	CHECK_INT(o.signal, ==, SIGKILL);
	CHECK_INT(th_now_ms() - t0, <, 10000);
	CHECK_INT(uv_loop_close(&loop), ==, 0);
}
