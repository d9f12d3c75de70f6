/* The command's resource limits. RLIMIT_NPROC counts the processes of one
 * uid in one user namespace, and each sandbox has its own namespace, so it
 * is a per-sandbox process limit even where no pids cgroup can be made. */
#include "sandbox/internal.h"

#include <errno.h>
#include <sys/resource.h>

static void limits_set(const struct sandbox_run *run, int resource, const char *name, rlim_t soft, rlim_t hard)
{
	struct rlimit cur;
	if (getrlimit(resource, &cur) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "getrlimit %s", name);
	/* Limits only go down: raising a hard limit needs a capability the
	 * sandbox does not have, and is never what was asked for. */
	if (cur.rlim_max != RLIM_INFINITY && (hard == RLIM_INFINITY || hard > cur.rlim_max))
		hard = cur.rlim_max;
	if (soft > hard)
		soft = hard;
	struct rlimit lim = {soft, hard};
	if (setrlimit(resource, &lim) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "setrlimit %s", name);
}

void limits_apply(const struct sandbox_run *run)
{
	const struct sandbox_config *cfg = run->cfg;
	limits_set(run, RLIMIT_CORE, "CORE", 0, 0);
	rlim_t nofile = cfg->nofile ? (rlim_t)cfg->nofile : SANDBOX_DEFAULT_NOFILE;
	limits_set(run, RLIMIT_NOFILE, "NOFILE", nofile, nofile);
	if (cfg->pids)
		limits_set(run, RLIMIT_NPROC, "NPROC", (rlim_t)cfg->pids, (rlim_t)cfg->pids);
	if (cfg->file_size_bytes)
		limits_set(run, RLIMIT_FSIZE, "FSIZE", (rlim_t)cfg->file_size_bytes, (rlim_t)cfg->file_size_bytes);
	/* SIGXCPU at the soft limit, SIGKILL a second later. */
	if (cfg->cpu_seconds)
		limits_set(run, RLIMIT_CPU, "CPU", (rlim_t)cfg->cpu_seconds, (rlim_t)cfg->cpu_seconds + 1);
}
