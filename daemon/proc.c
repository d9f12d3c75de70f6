/* uv_spawn with output capture. */
#include "daemon/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"

/* Output kept from one process; the rest is counted and dropped. */
#define PROC_OUTPUT_MAX (64u << 10)

struct proc {
	uv_process_t process; /* the child */
	uv_pipe_t out;        /* its stdout */
	uv_pipe_t err;        /* its stderr (kept in the same buffer) */
	struct buf output;    /* what it said, up to PROC_OUTPUT_MAX */
	int status;           /* exit status once known */
	bool exited;          /* the exit callback ran */
	int open_streams;     /* pipes not at their end yet */
	int closing;          /* handles whose close is pending */
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
	free(p);
}

static void proc_maybe_done(struct proc *p)
{
	if (!p->exited || p->open_streams > 0)
		return;
	p->closing = 3;
	uv_close((uv_handle_t *)&p->process, proc_closed);
	uv_close((uv_handle_t *)&p->out, proc_closed);
	uv_close((uv_handle_t *)&p->err, proc_closed);
}

static void proc_on_exit(uv_process_t *process, int64_t exit_status, int term_signal)
{
	struct proc *p = process->data;
	p->status = term_signal ? 128 + term_signal : (int)exit_status;
	p->exited = true;
	proc_maybe_done(p);
}

static void proc_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	buf->base = xmalloc(suggested);
	buf->len = suggested;
}

static void proc_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct proc *p = stream->data;
	if (nread > 0 && p->output.len < PROC_OUTPUT_MAX) {
		size_t room = PROC_OUTPUT_MAX - p->output.len;
		buf_append(&p->output, buf->base, (size_t)nread < room ? (size_t)nread : room);
	}
	free(buf->base);
	if (nread < 0) {
		uv_read_stop(stream);
		p->open_streams--;
		proc_maybe_done(p);
	}
}

int proc_run(uv_loop_t *loop, const char *const *argv, const char *const *env, const char *cwd, proc_done_fn done,
	     void *arg, struct proc **out, char *err, size_t errlen)
{
	struct proc *p = xcalloc(1, sizeof(*p));
	p->done = done;
	p->arg = arg;
	uv_pipe_init(loop, &p->out, 0);
	uv_pipe_init(loop, &p->err, 0);
	p->out.data = p;
	p->err.data = p;
	p->process.data = p;
	uv_stdio_container_t stdio[3];
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&p->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&p->err;
	uv_process_options_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.file = argv[0];
	opts.args = (char **)argv;
	opts.env = (char **)env;
	opts.cwd = cwd;
	opts.exit_cb = proc_on_exit;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	int rc = uv_spawn(loop, &p->process, &opts);
	if (rc < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], uv_strerror(rc));
		/* Both handles were initialised and must be closed; nobody is
		 * told (the caller has the error). */
		p->done = NULL;
		p->closing = 3;
		uv_close((uv_handle_t *)&p->process, proc_closed);
		uv_close((uv_handle_t *)&p->out, proc_closed);
		uv_close((uv_handle_t *)&p->err, proc_closed);
		return rc;
	}
	p->open_streams = 2;
	uv_read_start((uv_stream_t *)&p->out, proc_alloc, proc_on_read);
	uv_read_start((uv_stream_t *)&p->err, proc_alloc, proc_on_read);
	if (out)
		*out = p;
	return 0;
}

void proc_kill(struct proc *p)
{
	if (p && !p->exited)
		uv_process_kill(&p->process, SIGKILL);
}
