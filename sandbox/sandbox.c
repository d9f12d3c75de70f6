/* The sandbox library: starts agentd-sandbox with posix_spawn (namespaces
 * are set up in that fresh process, never the caller's; no fork copies the
 * caller's page tables), hands out the command's pipes, reads the JSON
 * result from fd 3, kills on request. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/process.h"
#include "common/xalloc.h"

/* The result is one small JSON object; more is a broken executable. */
#define SANDBOX_MAX_RESULT_BYTES 65536
#define SANDBOX_DEFAULT_GRACE_MS 5000
/* agentd-sandbox's descriptor for the result. */
#define SANDBOX_RESULT_FD 3

struct sandbox {
	uv_loop_t *loop;         /* the caller's loop */
	struct process *child;   /* agentd-sandbox, until its exit is seen */
	uv_pipe_t stdin_pipe;    /* the command's stdin, when asked for */
	uv_pipe_t stdout_pipe;   /* the command's stdout (the caller reads) */
	uv_pipe_t stderr_pipe;   /* the command's stderr (the caller reads) */
	uv_pipe_t result_pipe;   /* agentd-sandbox's JSON result */
	uv_timer_t timer;        /* SIGKILL when agentd-sandbox outlives its time */
	bool has_stdin;          /* stdin_pipe was initialized */
	bool stdin_closed;       /* stdin_pipe is closing */
	int open_handles;        /* handles not yet closed; the struct is freed at 0 */
	bool exited;             /* the exit callback ran */
	int64_t exit_status;     /* agentd-sandbox's exit status */
	int term_signal;         /* the signal that ended agentd-sandbox, 0 if none */
	bool result_done;        /* the result pipe reached EOF */
	struct buf result_json;  /* the result so far */
	bool result_too_big;     /* more than SANDBOX_MAX_RESULT_BYTES came */
	bool backstop_fired;     /* our timer sent SIGKILL */
	bool kill_requested;     /* sandbox_kill was called */
	bool timeout_backstop;   /* the timer is the timeout's backstop (not a kill's) */
	bool detached;           /* sandbox_free was called: no callback any more */
	bool reported;           /* on_exit has run */
	int spawn_error;         /* agentd-sandbox could not be started (errno) */
	uint64_t timeout_ms;     /* the configuration's timeout, 0: none */
	uint64_t grace_ms;       /* how long SIGTERM and the timeout get before SIGKILL */
	sandbox_exit_fn on_exit; /* the caller's callback */
	void *arg;               /* its argument */
};

static void sandbox_handle_closed(uv_handle_t *handle)
{
	sandbox *sb = handle->data;
	if (--sb->open_handles == 0) {
		buf_free(&sb->result_json);
		free(sb);
	}
}

static void sandbox_close_handle(sandbox *sb, uv_handle_t *handle)
{
	if (!uv_is_closing(handle)) {
		handle->data = sb;
		uv_close(handle, sandbox_handle_closed);
	}
}

/* Closes everything (what is closing already is left alone); the struct
 * goes with the last close callback. */
static void sandbox_close_all(sandbox *sb)
{
	/* Not exited yet (a failed start): it is reaped without us. */
	process_detach(sb->child);
	sb->child = NULL;
	if (sb->has_stdin)
		sandbox_close_handle(sb, (uv_handle_t *)&sb->stdin_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->stdout_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->stderr_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->result_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->timer);
}

/* The result when agentd-sandbox gave none (it was killed, or broken). */
static void sandbox_result_from_exit(const sandbox *sb, struct sandbox_result *res, const char *why)
{
	sandbox_result_init(res);
	if (sb->spawn_error) {
		res->status = PROCESS_SPAWN_FAILED;
		res->setup_failed = true;
		snprintf(res->error, sizeof(res->error), "cannot start agentd-sandbox: %s", strerror(sb->spawn_error));
	} else if (sb->term_signal) {
		res->status = 128 + sb->term_signal;
		res->signal = SIGKILL;
		snprintf(res->error, sizeof(res->error), "agentd-sandbox was killed by signal %d%s", sb->term_signal,
			 why ? why : "");
	} else {
		res->status = (int)sb->exit_status;
		res->setup_failed = true;
		snprintf(res->error, sizeof(res->error), "agentd-sandbox exited with status %d without a result%s",
			 (int)sb->exit_status, why ? why : "");
	}
	res->timed_out = sb->backstop_fired && sb->timeout_backstop;
	res->killed = sb->kill_requested;
}

/* Reports once both the exit and the end of the result have been seen. */
static void sandbox_maybe_finish(sandbox *sb)
{
	if (!sb->exited || !sb->result_done || sb->reported)
		return;
	sb->reported = true;
	uv_timer_stop(&sb->timer);
	struct sandbox_result res;
	char why[256] = "";
	if (sb->result_too_big || sb->result_json.len == 0 ||
	    sandbox_result_from_json(sb->result_json.data, sb->result_json.len, &res, why, sizeof(why)) < 0) {
		char detail[300] = "";
		if (why[0])
			snprintf(detail, sizeof(detail), " (%s)", why);
		sandbox_result_from_exit(sb, &res, detail);
	}
	if (!sb->detached && sb->on_exit)
		sb->on_exit(sb, &res, sb->arg);
	else
		sandbox_close_all(sb);
}

static void sandbox_exit_cb(struct process *child, int64_t exit_status, int term_signal, void *arg)
{
	sandbox *sb = arg;
	sb->spawn_error = process_spawn_error(child);
	sb->child = NULL; /* freed after this returns */
	sb->exited = true;
	sb->exit_status = exit_status;
	sb->term_signal = term_signal;
	sandbox_maybe_finish(sb);
}

static void sandbox_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	static char scratch[4096];
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

static void sandbox_result_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	sandbox *sb = stream->data;
	if (nread > 0) {
		if (sb->result_json.len + (size_t)nread > SANDBOX_MAX_RESULT_BYTES)
			sb->result_too_big = true;
		else
			buf_append(&sb->result_json, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	uv_read_stop(stream);
	sb->result_done = true;
	sandbox_maybe_finish(sb);
}

static void sandbox_timer_cb(uv_timer_t *timer)
{
	sandbox *sb = timer->data;
	if (sb->exited)
		return;
	sb->backstop_fired = true;
	process_kill(sb->child, SIGKILL);
}

static int sandbox_fail(char *err, size_t errlen, int rc, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, uv_strerror(rc));
	return rc;
}

int sandbox_spawn(uv_loop_t *loop, const struct sandbox_config *cfg, const struct sandbox_spawn_options *opts,
		  sandbox_exit_fn on_exit, void *arg, sandbox **out, char *err, size_t errlen)
{
	*out = NULL;
	int rc = sandbox_config_check(cfg, err, errlen);
	if (rc < 0)
		return rc;
	struct sandbox_spawn_options defaults = {NULL, false, 0};
	if (!opts)
		opts = &defaults;
	sandbox *sb = xcalloc(1, sizeof(*sb));
	sb->loop = loop;
	sb->on_exit = on_exit;
	sb->arg = arg;
	sb->timeout_ms = cfg->timeout_ms;
	sb->grace_ms = opts->kill_grace_ms ? opts->kill_grace_ms : SANDBOX_DEFAULT_GRACE_MS;
	buf_init(&sb->result_json);
	/* Every handle is initialized before anything can fail, so that one
	 * close path serves every outcome. */
	sb->has_stdin = opts->stdin_pipe;
	if (sb->has_stdin)
		uv_pipe_init(loop, &sb->stdin_pipe, 0);
	uv_pipe_init(loop, &sb->stdout_pipe, 0);
	uv_pipe_init(loop, &sb->stderr_pipe, 0);
	uv_pipe_init(loop, &sb->result_pipe, 0);
	uv_timer_init(loop, &sb->timer);
	sb->open_handles = 4 + (sb->has_stdin ? 1 : 0);
	sb->stdin_pipe.data = sb->stdout_pipe.data = sb->stderr_pipe.data = sb->result_pipe.data = sb;
	sb->timer.data = sb;

	/* The pipes: the child's ends go to fds 0 (or /dev/null), 1, 2 and
	 * 3; ours are opened as the loop's streams. */
	uv_pipe_t *ours[4] = {sb->has_stdin ? &sb->stdin_pipe : NULL, &sb->stdout_pipe, &sb->stderr_pipe,
			      &sb->result_pipe};
	int child_fds[4] = {-1, -1, -1, -1};
	for (int i = 0; i < 4; i++) {
		int parent = -1;
		if (!ours[i])
			continue;
		if ((rc = process_pipe(&parent, &child_fds[i], i == 0)) < 0 ||
		    (rc = uv_pipe_open(ours[i], parent)) < 0) {
			if (parent >= 0)
				close(parent);
			sandbox_fail(err, errlen, rc, "make the sandbox's pipes");
			goto fail;
		}
	}
	const char *executable = opts->executable ? opts->executable : "agentd-sandbox";
	char **argv = sandbox_config_argv(cfg, executable, SANDBOX_RESULT_FD);
	struct process_options po = {
		.file = executable,
		.argv = argv,
		.fds = {child_fds[0], child_fds[1], child_fds[2], child_fds[3]},
		.nfds = 4,
	};
	rc = process_spawn(loop, &po, sandbox_exit_cb, sb, &sb->child);
	sandbox_config_argv_free(argv);
	if (rc < 0) {
		sandbox_fail(err, errlen, rc, executable);
		goto fail;
	}
	for (int i = 0; i < 4; i++) {
		if (child_fds[i] >= 0)
			close(child_fds[i]);
		child_fds[i] = -1;
	}
	if ((rc = uv_read_start((uv_stream_t *)&sb->result_pipe, sandbox_alloc_cb, sandbox_result_read_cb)) < 0) {
		sandbox_fail(err, errlen, rc, "read the result");
		process_kill(sb->child, SIGKILL);
		goto fail;
	}
	/* agentd-sandbox enforces the timeout itself; this is the backstop
	 * should it ever not. */
	if (sb->timeout_ms) {
		sb->timeout_backstop = true;
		uv_timer_start(&sb->timer, sandbox_timer_cb, sb->timeout_ms + sb->grace_ms, 0);
	}
	*out = sb;
	return 0;
fail:
	for (int i = 0; i < 4; i++) {
		if (child_fds[i] >= 0)
			close(child_fds[i]);
	}
	/* A child that was spawned must see its exit before the rest is
	 * closed: let the exit close everything. */
	if (sb->child && !sb->exited) {
		sb->detached = true;
		sb->result_done = true;
		uv_read_stop((uv_stream_t *)&sb->result_pipe);
		return rc;
	}
	sandbox_close_all(sb);
	return rc;
}

uv_stream_t *sandbox_stdin(sandbox *sb)
{
	return sb->has_stdin && !sb->stdin_closed ? (uv_stream_t *)&sb->stdin_pipe : NULL;
}

uv_stream_t *sandbox_stdout(sandbox *sb)
{
	return (uv_stream_t *)&sb->stdout_pipe;
}

uv_stream_t *sandbox_stderr(sandbox *sb)
{
	return (uv_stream_t *)&sb->stderr_pipe;
}

void sandbox_close_stdin(sandbox *sb)
{
	if (!sb->has_stdin || sb->stdin_closed)
		return;
	sb->stdin_closed = true;
	sandbox_close_handle(sb, (uv_handle_t *)&sb->stdin_pipe);
}

int sandbox_pid(const sandbox *sb)
{
	return process_pid(sb->child);
}

int sandbox_kill(sandbox *sb)
{
	if (sb->exited)
		return -ESRCH;
	sb->kill_requested = true;
	int rc = process_kill(sb->child, SIGTERM);
	if (rc < 0)
		return rc;
	sb->timeout_backstop = false;
	uv_timer_start(&sb->timer, sandbox_timer_cb, sb->grace_ms, 0);
	return 0;
}

void sandbox_free(sandbox *sb)
{
	if (!sb)
		return;
	sb->detached = true;
	/* The caller hears nothing more from the command's streams. */
	if (sb->has_stdin)
		sandbox_close_handle(sb, (uv_handle_t *)&sb->stdin_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->stdout_pipe);
	sandbox_close_handle(sb, (uv_handle_t *)&sb->stderr_pipe);
	if (sb->reported || (sb->exited && sb->result_done)) {
		sandbox_close_all(sb);
		return;
	}
	/* Still running: stop it (SIGTERM lets agentd-sandbox remove its
	 * cgroups; SIGKILL follows after the grace period) and close
	 * everything once its exit is seen. The result no longer matters. */
	if (!sb->exited && process_kill(sb->child, SIGTERM) == 0) {
		sb->timeout_backstop = false;
		uv_timer_start(&sb->timer, sandbox_timer_cb, sb->grace_ms, 0);
	}
	if (!sb->result_done) {
		uv_read_stop((uv_stream_t *)&sb->result_pipe);
		sb->result_done = true;
	}
	sandbox_maybe_finish(sb);
}
