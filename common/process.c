/* posix_spawn with a pidfd watched by the loop. */
#include "common/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

extern char **environ;

struct process {
	uv_poll_t poll;          /* readable when the child has exited */
	int pidfd;               /* the child */
	pid_t pid;               /* 0 once reaped */
	process_exit_fn on_exit; /* NULL once detached */
	void *arg;
};

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

int process_spawn(uv_loop_t *loop, const struct process_options *o, process_exit_fn on_exit, void *arg,
		  struct process **out, pid_t *pid_out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	int rc = 0;
	for (int i = 0; i < o->nfds && rc == 0; i++) {
		if (o->fds[i] >= 0)
			rc = posix_spawn_file_actions_adddup2(&fa, o->fds[i], i);
		else if (i <= 2)
			rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
	}
	/* Descriptors another thread opened without CLOEXEC do not leak. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, o->nfds);
	if (rc == 0 && o->cwd)
		rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
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
		rc = posix_spawn(&pid, o->file, &fa, &attr, o->argv, o->envp ? o->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -e;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	struct process *c = xcalloc(1, sizeof(*c));
	c->pidfd = pidfd;
	c->pid = pid;
	c->on_exit = on_exit;
	c->arg = arg;
	uv_poll_init(loop, &c->poll, pidfd);
	c->poll.data = c;
	uv_poll_start(&c->poll, UV_READABLE, process_on_poll);
	if (out)
		*out = c;
	if (pid_out)
		*pid_out = pid;
	return 0;
}

int process_kill(struct process *c, int sig)
{
	if (!c || c->pid == 0)
		return -ESRCH;
	/* The pidfd cannot name a recycled pid, unlike kill(2). */
	if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
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
