/* Host processes with output capture. */
#include "daemon/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/process.h"
#include "common/xalloc.h"

/* Output kept from one process; the rest is counted and dropped. */
#define PROC_OUTPUT_MAX (64u << 10)

struct proc {
	struct process *child; /* the process, until it is reaped */
	uv_pipe_t out;         /* its stdout */
	uv_pipe_t err;         /* its stderr (kept in the same buffer) */
	struct buf output;     /* what it said, up to PROC_OUTPUT_MAX */
	int status;            /* exit status once known */
	bool exited;           /* the exit callback ran */
	int open_streams;      /* pipes not at their end yet */
	int closing;           /* handles whose close is pending */
	char *name;            /* argv[0], for errors */
	proc_done_fn done;
	void *arg;
};

static void proc_closed(uv_handle_t *handle)
{
	struct proc *p = handle->data;
	if (--p->closing > 0)
		return;
	if (p->done)
		p->done(p, p->status, p->output.data ? p->output.data : "", p->output.len, p->arg);
	buf_free(&p->output);
	free(p->name);
	free(p);
}

static void proc_maybe_done(struct proc *p)
{
	if (!p->exited || p->open_streams > 0)
		return;
	p->closing = 2;
	uv_close((uv_handle_t *)&p->out, proc_closed);
	uv_close((uv_handle_t *)&p->err, proc_closed);
}

static void proc_on_exit(struct process *child, int64_t exit_status, int term_signal, void *arg)
{
	struct proc *p = arg;
	p->child = NULL;
	p->status = term_signal ? 128 + term_signal : (int)exit_status;
	if (process_spawn_error(child)) {
		/* It never ran: say why, as the process would have. */
		const char *why = strerror(process_spawn_error(child));
		buf_printf(&p->output, "cannot run %s: %s\n", p->name, why);
		p->status = -process_spawn_error(child);
	}
	p->exited = true;
	proc_maybe_done(p);
}

/* Reads land in one buffer of the loop thread: each is copied out before
 * the next (no allocation per read). */
static void proc_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	static char scratch[64 << 10];
	buf->base = scratch;
	buf->len = sizeof(scratch);
}

static void proc_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct proc *p = stream->data;
	if (nread > 0 && p->output.len < PROC_OUTPUT_MAX) {
		size_t room = PROC_OUTPUT_MAX - p->output.len;
		buf_append(&p->output, buf->base, (size_t)nread < room ? (size_t)nread : room);
	}
	if (nread < 0) {
		uv_read_stop(stream);
		p->open_streams--;
		proc_maybe_done(p);
	}
}

int proc_run(uv_loop_t *loop, const char *const *argv, const char *const *env, const char *cwd, int nice,
	     proc_done_fn done, void *arg, struct proc **out, char *err, size_t errlen)
{
	int out_parent = -1, out_child = -1, err_parent = -1, err_child = -1;
	int rc = process_pipe(&out_parent, &out_child, false);
	if (rc == 0)
		rc = process_pipe(&err_parent, &err_child, false);
	if (rc < 0) {
		snprintf(err, errlen, "cannot make pipes for %s: %s", argv[0], strerror(-rc));
		goto fail;
	}
	struct proc *p = xcalloc(1, sizeof(*p));
	p->done = done;
	p->arg = arg;
	p->name = xstrdup(argv[0]);
	struct process_options so = {
		.file = argv[0],
		.argv = (char *const *)argv,
		.envp = (char *const *)env,
		.cwd = cwd,
		.fds = {-1, out_child, err_child},
		.nfds = 3,
		.nice = nice,
	};
	rc = process_spawn(loop, &so, proc_on_exit, p, &p->child);
	close(out_child);
	close(err_child);
	out_child = err_child = -1;
	if (rc < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
		free(p->name);
		free(p);
		goto fail;
	}
	uv_pipe_init(loop, &p->out, 0);
	uv_pipe_init(loop, &p->err, 0);
	p->out.data = p;
	p->err.data = p;
	uv_pipe_open(&p->out, out_parent);
	uv_pipe_open(&p->err, err_parent);
	p->open_streams = 2;
	uv_read_start((uv_stream_t *)&p->out, proc_alloc, proc_on_read);
	uv_read_start((uv_stream_t *)&p->err, proc_alloc, proc_on_read);
	if (out)
		*out = p;
	return 0;
fail:
	if (out_parent >= 0)
		close(out_parent);
	if (out_child >= 0)
		close(out_child);
	if (err_parent >= 0)
		close(err_parent);
	if (err_child >= 0)
		close(err_child);
	return rc;
}

void proc_kill(struct proc *p)
{
	if (p && p->child)
		process_kill(p->child, SIGKILL);
}
