/* posix_spawn on the thread pool, with a pidfd watched by the loop. */
#include "common/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

extern char **environ;

struct process {
	uv_loop_t *loop;
	uv_work_t work;          /* the spawn, on the thread pool */
	uv_poll_t poll;          /* readable when the child has exited */
	int pidfd;               /* the child, once running */
	pid_t pid;               /* 0 until running, and once reaped */
	bool started;            /* the spawn is over (whichever way) */
	int spawn_error;         /* errno of a failed spawn */
	int pending_signal;      /* asked for before the child ran */
	process_exit_fn on_exit; /* NULL once detached */
	void *arg;
	/* The request, owned until the spawn is over. */
	char *file;
	char **argv;
	char **envp; /* NULL: ours */
	char *cwd;
	int fds[PROCESS_MAX_FDS];
	int nfds;
	int nice;
};

static char **process_copy_strings(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **copy = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(v[i]);
	return copy;
}

static void process_free_strings(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The request is not needed once the spawn is over. */
static void process_drop_request(struct process *c)
{
	free(c->file);
	process_free_strings(c->argv);
	process_free_strings(c->envp);
	free(c->cwd);
	c->file = c->cwd = NULL;
	c->argv = c->envp = NULL;
	for (int i = 0; i < c->nfds; i++) {
		if (c->fds[i] >= 0)
			close(c->fds[i]);
		c->fds[i] = -1;
	}
}

static void process_closed(uv_handle_t *handle)
{
	struct process *c = handle->data;
	close(c->pidfd);
	free(c);
}

static void process_on_poll(uv_poll_t *poll, int status, int events)
{
	(void)status;
	(void)events;
	struct process *c = poll->data;
	int wstatus = 0;
	pid_t r;
	do
		r = waitpid(c->pid, &wstatus, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return; /* not yet (a spurious wake-up) */
	c->pid = 0;
	uv_poll_stop(poll);
	int64_t code = r > 0 && WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0;
	int sig = r > 0 && WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
	if (c->on_exit)
		c->on_exit(c, code, sig, c->arg);
	uv_close((uv_handle_t *)poll, process_closed);
}

/* On a pool thread: the spawn itself, and the pidfd. */
static void process_work(uv_work_t *work)
{
	struct process *c = work->data;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	int rc = 0;
	for (int i = 0; i < c->nfds && rc == 0; i++) {
		if (c->fds[i] >= 0)
			rc = posix_spawn_file_actions_adddup2(&fa, c->fds[i], i);
		else if (i <= 2)
			rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
	}
	/* Descriptors another thread opened without CLOEXEC do not leak. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, c->nfds);
	if (rc == 0 && c->cwd)
		rc = posix_spawn_file_actions_addchdir_np(&fa, c->cwd);
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid = 0;
	if (rc == 0)
		rc = (strchr(c->file, '/') ? posix_spawn : posix_spawnp)(&pid, c->file, &fa, &attr, c->argv,
									 c->envp ? c->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	/* Our copies of the child's ends go now, not when the loop hears of
	 * it: a reader of the other end must see EOF when the child exits. */
	for (int i = 0; i < c->nfds; i++) {
		if (c->fds[i] >= 0)
			close(c->fds[i]);
		c->fds[i] = -1;
	}
	if (rc != 0) {
		c->spawn_error = rc;
		return;
	}
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		c->spawn_error = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	/* posix_spawn cannot set it; the child has only just begun. */
	errno = 0;
	int ours = getpriority(PRIO_PROCESS, 0);
	if (c->nice > 0 && errno == 0 && c->nice > ours)
		setpriority(PRIO_PROCESS, (id_t)pid, c->nice);
	c->pidfd = pidfd;
	c->pid = pid;
}

/* Back on the loop: watch the child, or report that it never ran. */
static void process_work_done(uv_work_t *work, int status)
{
	struct process *c = work->data;
	c->started = true;
	process_drop_request(c);
	if (status == UV_ECANCELED && !c->spawn_error && !c->pid)
		c->spawn_error = ECANCELED;
	if (c->spawn_error) {
		if (c->on_exit)
			c->on_exit(c, PROCESS_SPAWN_FAILED, 0, c->arg);
		free(c);
		return;
	}
	uv_poll_init(c->loop, &c->poll, c->pidfd);
	c->poll.data = c;
	uv_poll_start(&c->poll, UV_READABLE, process_on_poll);
	if (c->pending_signal)
		syscall(SYS_pidfd_send_signal, c->pidfd, c->pending_signal, NULL, 0);
}

int process_spawn(uv_loop_t *loop, const struct process_options *o, process_exit_fn on_exit, void *arg,
		  struct process **out)
{
	if (o->nfds < 3 || o->nfds > PROCESS_MAX_FDS)
		return -EINVAL;
	/* What can be known at once is said at once. */
	if (strchr(o->file, '/') && access(o->file, X_OK) < 0)
		return -errno;
	struct process *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->pidfd = -1;
	c->on_exit = on_exit;
	c->arg = arg;
	c->nfds = o->nfds;
	c->nice = o->nice;
	for (int i = 0; i < PROCESS_MAX_FDS; i++)
		c->fds[i] = -1;
	for (int i = 0; i < o->nfds; i++) {
		if (o->fds[i] < 0)
			continue;
		c->fds[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, PROCESS_MAX_FDS);
		if (c->fds[i] < 0) {
			int e = errno;
			process_drop_request(c);
			free(c);
			return -e;
		}
	}
	c->file = xstrdup(o->file);
	c->argv = process_copy_strings(o->argv);
	c->envp = process_copy_strings(o->envp);
	c->cwd = o->cwd ? xstrdup(o->cwd) : NULL;
	c->work.data = c;
	int rc = uv_queue_work(loop, &c->work, process_work, process_work_done);
	if (rc < 0) {
		process_drop_request(c);
		free(c);
		return rc;
	}
	if (out)
		*out = c;
	return 0;
}

int process_kill(struct process *c, int sig)
{
	if (!c)
		return -ESRCH;
	if (!c->started) {
		/* SIGKILL is not overridden by a gentler signal. */
		if (c->pending_signal != SIGKILL)
			c->pending_signal = sig;
		return 0;
	}
	if (c->pid == 0)
		return -ESRCH;
	/* The pidfd cannot name a recycled pid, unlike kill(2). */
	if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

pid_t process_pid(const struct process *c)
{
	/* Until the spawn is over, pid belongs to the pool thread. */
	return c && c->started ? c->pid : 0;
}

int process_spawn_error(const struct process *c)
{
	return c ? c->spawn_error : 0;
}

void process_detach(struct process *c)
{
	if (c)
		c->on_exit = NULL;
}

int process_pipe(int *parent_end, int *child_end, bool child_reads)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	*parent_end = child_reads ? fds[1] : fds[0];
	*child_end = child_reads ? fds[0] : fds[1];
	return 0;
}
