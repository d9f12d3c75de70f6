/* The command's last steps before exec, in the child of init: its stdio,
 * default signals, a session of its own (no controlling terminal to push
 * input into), no privileges, rlimits, a clean environment, no stray file
 * descriptor, the seccomp filter. A failure here is reported over the
 * error pipe, never as the command's status. */
#include "sandbox/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/xalloc.h"

/* PATH, HOME, LANG, TERM and the --env entries. */
#define COMMAND_MAX_ENV (SANDBOX_MAX_ENV + 4)

/* Puts entry ("KEY=VALUE") into env, replacing an entry with the same key. */
static void command_env_set(char **env, size_t *count, char *entry)
{
	size_t key_len = (size_t)(strchr(entry, '=') - entry);
	for (size_t i = 0; i < *count; i++) {
		if (strncmp(env[i], entry, key_len + 1) == 0) {
			env[i] = entry;
			return;
		}
	}
	env[(*count)++] = entry;
}

/* The environment: nothing of the caller's but LANG and TERM. */
static char **command_environment(const struct sandbox_config *cfg)
{
	char **env = xcalloc(COMMAND_MAX_ENV + 1, sizeof(*env));
	size_t count = 0;
	const char *lang = getenv("LANG");
	const char *term = getenv("TERM");
	command_env_set(env, &count, xstrdup("PATH=" SANDBOX_PATH));
	command_env_set(env, &count, xstrdup("HOME=/tmp"));
	command_env_set(env, &count, xasprintf("LANG=%s", lang && *lang ? lang : "C.UTF-8"));
	if (term && *term)
		command_env_set(env, &count, xasprintf("TERM=%s", term));
	for (size_t i = 0; i < cfg->env_count; i++)
		command_env_set(env, &count, xstrdup(cfg->env[i]));
	env[count] = NULL;
	return env;
}

void command_exec(const struct sandbox_run *run)
{
	int efd = run->err_fd;
	close(run->status_fd);
	if (run->stdout_fd >= 0 && dup2(run->stdout_fd, STDOUT_FILENO) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "connect stdout");
	if (run->stderr_fd >= 0 && dup2(run->stderr_fd, STDERR_FILENO) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "connect stderr");
	/* Ignored signals and the mask survive exec: give the command the
	 * defaults (the supervisor ignores SIGPIPE). */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "setsid");
	identity_become(run);
	limits_apply(run);
	char **env = command_environment(run->cfg);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "set no_new_privs");
	/* Only 0, 1 and 2 cross the exec (the error pipe closes with it). */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "close inherited file descriptors");
	if (run->policy) {
		char why[256];
		if (policy_load(run->policy, why, sizeof(why)) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, 0, "%s", why);
	}
	/* execvp searches the PATH of the environment in force. */
	environ = env;
	const char *const *argv = run->cfg->argv;
	execvp(argv[0], (char *const *)argv);
	int err = errno;
	errpipe_fail(efd, err == ENOENT ? SANDBOX_EXIT_NOTFOUND : SANDBOX_EXIT_NOEXEC, err, "exec %s", argv[0]);
}
