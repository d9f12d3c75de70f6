/* The command's last steps before exec: stdio, default signals, its own
 * session, no privileges, rlimits, a clean environment, only fds 0-2, the
 * seccomp filter. Failures go over the error pipe. */
#include "sandbox/internal.h"

#include <errno.h>
#include <limits.h>
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

/* execve along the sandbox's PATH, as a shell would. Returns the errno
 * to report: the first other than ENOENT, or ENOENT. */
static int command_execvpe(const char *file, char *const *argv, char *const *env)
{
	if (strchr(file, '/')) {
		execve(file, argv, env);
		return errno;
	}
	int err = ENOENT;
	const char *dirs = SANDBOX_PATH;
	while (*dirs) {
		size_t len = strcspn(dirs, ":");
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%.*s/%s", (int)len, dirs, file) < sizeof(path)) {
			execve(path, argv, env);
			if (errno != ENOENT && errno != ENOTDIR && err == ENOENT)
				err = errno;
		}
		dirs += len + (dirs[len] == ':');
	}
	return err;
}

/* This process shares init's memory until it execs (init is suspended
 * meanwhile: CLONE_VM | CLONE_VFORK), which spares copying init's pages;
 * it changes nothing init relies on (no globals, environ included). */
void command_exec(const struct sandbox_run *run, const struct policy_program *filter)
{
	int efd = run->err_fd;
	close(run->status_fd);
	if (run->stdout_fd >= 0 && dup2(run->stdout_fd, STDOUT_FILENO) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "connect stdout");
	if (run->stderr_fd >= 0 && dup2(run->stderr_fd, STDERR_FILENO) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "connect stderr");
	/* Ignored signals and the mask survive exec: give the command the
	 * defaults (the supervisor ignores SIGPIPE, and so may its caller). */
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
	int rc;
	if (filter->insns && (rc = policy_program_install(filter)) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, -rc, "install the seccomp filter");
	const char *const *argv = run->cfg->argv;
	int err = command_execvpe(argv[0], (char *const *)argv, env);
	errpipe_fail(efd, err == ENOENT ? SANDBOX_EXIT_NOTFOUND : SANDBOX_EXIT_NOEXEC, err, "exec %s", argv[0]);
}
