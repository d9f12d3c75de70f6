/* Starting child processes from a libuv loop without fork: posix_spawn
 * (clone with CLONE_VM | CLONE_VFORK in glibc) does not copy the parent's
 * page tables, which makes it many times cheaper than uv_spawn's fork in a
 * daemon that spawns a process per agent step. The exit is watched through
 * a pidfd on the loop. */
#ifndef AGENTD_COMMON_PROCESS_H
#define AGENTD_COMMON_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define PROCESS_MAX_FDS 8

struct process;

struct process_options {
	const char *file;         /* absolute path of the executable */
	char *const *argv;        /* NULL-terminated */
	char *const *envp;        /* NULL-terminated; NULL: this process's environment */
	const char *cwd;          /* working directory; NULL: ours */
	int fds[PROCESS_MAX_FDS]; /* the child's fd i is a copy of fds[i]; -1: /dev/null (0-2) or closed */
	int nfds;                 /* entries used in fds (at least 3) */
};

/* exit_status is the exit code, term_signal the signal (0 if none). */
typedef void (*process_exit_fn)(struct process *child, int64_t exit_status, int term_signal, void *arg);

/* Starts the child. Signals are reset to their defaults and unblocked in
 * it; every descriptor but fds[] is closed (the caller's are CLOEXEC).
 * on_exit runs once on the loop after the child has exited and been
 * reaped; the spawn_child is freed after it returns. Returns 0 with *pid,
 * or a negative errno. */
int process_spawn(uv_loop_t *loop, const struct process_options *opts, process_exit_fn on_exit, void *arg,
		  struct process **out, pid_t *pid);
/* Sends sig to the child if it has not been reaped yet (0 or -ESRCH). */
int process_kill(struct process *child, int sig);
/* No callback any more; the child is still reaped when it exits. */
void process_detach(struct process *child);
/* Opens a pipe for a child: *parent_end (O_CLOEXEC, for the loop) and
 * *child_end (O_CLOEXEC too: process_spawn copies it into place). Returns 0
 * or a negative errno. */
int process_pipe(int *parent_end, int *child_end, bool child_reads);

#endif
