/* Host child processes run from the loop without blocking (the git commands
 * that make a workspace from a trusted origin repository): argv in, exit
 * status and captured output (stdout and stderr together, capped) out. */
#ifndef AGENTD_PROC_H
#define AGENTD_PROC_H

#include <stddef.h>
#include <uv.h>

struct proc;

/* status: the exit code, 128 + signal, or a negative errno when it could not
 * start (output then says why); output is borrowed for the call. */
typedef void (*proc_done_fn)(struct proc *p, int status, const char *output, size_t len, void *arg);

/* Starts argv (argv[0] an absolute path) with env (NULL-terminated
 * "K=V", replacing the environment) in cwd (NULL: ours), at niceness nice
 * (0: ours). done runs once,
 * on the loop, after the process has exited and its output is read; the
 * proc is freed after done returns. Returns 0 or a negative errno with err. */
int proc_run(uv_loop_t *loop, const char *const *argv, const char *const *env, const char *cwd, int nice,
	     proc_done_fn done, void *arg, struct proc **out, char *err, size_t errlen);
/* Kills the process (SIGKILL); done still runs. */
void proc_kill(struct proc *p);

#endif
