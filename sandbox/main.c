/* agentd-sandbox: runs one command in a sandbox and reports how it ended
 * (see --help, and POLICY.md for the seccomp rules). */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "build_config.h"

/* Descriptors 0-2 must exist, or the pipes made later would take their
 * numbers and be mistaken for stdio. */
static int main_ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int null = open("/dev/null", O_RDWR);
		if (null < 0)
			return -1;
		if (null != fd) {
			dup2(null, fd);
			close(null);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* Taken first: the parent-death signal is set only later, and a
	 * parent that dies in between shows as a different parent then. */
	pid_t parent = getppid();
	if (main_ensure_stdio() < 0)
		return SANDBOX_EXIT_SETUP;
	struct options opts;
	char err[512];
	if (options_parse(&opts, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd-sandbox: %s (see agentd-sandbox --help)\n", err);
		return SANDBOX_EXIT_USAGE;
	}
	if (opts.help) {
		fputs(options_usage(), stdout);
		return 0;
	}
	if (opts.version) {
		printf("agentd-sandbox %s\n", AGENTD_VERSION);
		return 0;
	}
	if (opts.json_fd >= 0 && fcntl(opts.json_fd, F_GETFD) < 0) {
		fprintf(stderr, "agentd-sandbox: --json-fd %d: not an open file descriptor\n", opts.json_fd);
		return SANDBOX_EXIT_USAGE;
	}
	/* Everything inside inherits it, and RLIMIT_NICE keeps it from
	 * climbing back. */
	errno = 0;
	int niceness = getpriority(PRIO_PROCESS, 0);
	if (opts.cfg.nice && errno == 0 && (int)opts.cfg.nice > niceness &&
	    setpriority(PRIO_PROCESS, 0, (int)opts.cfg.nice) < 0) {
		fprintf(stderr, "agentd-sandbox: --nice: %s\n", strerror(errno));
		return SANDBOX_EXIT_SETUP;
	}
	struct policy *policy = NULL;
	if (policy_new(&opts.cfg, &policy, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd-sandbox: %s\n", err);
		return SANDBOX_EXIT_USAGE;
	}
	int status = supervisor_run(&opts, policy, parent);
	policy_free(policy);
	return status;
}
