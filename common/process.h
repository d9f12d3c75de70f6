/* Starting child processes from a libuv loop without blocking it.
 *
 * posix_spawn (clone with CLONE_VM | CLONE_VFORK in glibc) does not copy
 * the parent's page tables, which makes it many times cheaper than
 * uv_spawn's fork in a daemon that spawns a process per agent step. But
 * the calling thread still waits until the child has called exec, and on a
 * busy machine that wait is long (tens of milliseconds, more at times):
 * the spawn therefore runs on libuv's thread pool, and the loop hears of
 * the child when it is running. The exit is watched through a pidfd. */
#ifndef AGENTD_COMMON_PROCESS_H
#define AGENTD_COMMON_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define PROCESS_MAX_FDS 8
/* The exit status reported when the child could not be started. */
#define PROCESS_SPAWN_FAILED 127

struct process;

struct process_options {
	const char *file;         /* the executable: a path, or a name looked up in PATH */
	char *const *argv;        /* NULL-terminated */
	char *const *envp;        /* NULL-terminated; NULL: this process's environment */
	const char *cwd;          /* working directory; NULL: ours */
	int fds[PROCESS_MAX_FDS]; /* the child's fd i is a copy of fds[i]; -1: /dev/null (0-2) or closed */
	int nfds;                 /* entries used in fds (at least 3) */
	int nice;                 /* niceness to give the child (above ours only); 0: ours */
};

/* exit_status is the exit code, term_signal the signal (0 if none). When
 * the child could not be started at all, exit_status is
 * PROCESS_SPAWN_FAILED and process_spawn_error says why. */
typedef void (*process_exit_fn)(struct process *child, int64_t exit_status, int term_signal, void *arg);

/* Starts the child; everything in opts is copied (the caller may close its
 * fds[] at once). Signals are reset to their defaults and unblocked in it;
 * every descriptor but fds[] is closed. on_exit runs once on the loop after
 * the child has exited and been reaped (or failed to start); the process is
 * freed after it returns. Returns 0, or a negative errno when the request
 * is wrong at once (an executable path that is not there). */
int process_spawn(uv_loop_t *loop, const struct process_options *opts, process_exit_fn on_exit, void *arg,
		  struct process **out);
/* Sends sig to the child (0 or -ESRCH once reaped). Before the child runs,
 * the signal is kept and sent as soon as it does. */
int process_kill(struct process *child, int sig);
/* The child's pid: 0 until it runs, and once it is reaped. */
pid_t process_pid(const struct process *child);
/* Why the start failed (an errno), or 0; meaningful in on_exit. */
int process_spawn_error(const struct process *child);
/* No callback any more; the child is still reaped when it exits. */
void process_detach(struct process *child);
/* Opens a pipe for a child: *parent_end (O_CLOEXEC, for the loop) and
 * *child_end (O_CLOEXEC too: process_spawn copies it into place). Returns 0
 * or a negative errno. */
int process_pipe(int *parent_end, int *child_end, bool child_reads);

#endif
