/* Pid 1 of the sandbox: sets up the namespaces' contents, starts the
 * command, reaps orphans, and when the command exits kills what is left,
 * reports the command's status and exits. */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* SIGTERM from the supervisor (timeout, stop request) ends everything
 * inside; doing it in the handler leaves no window in which the signal is
 * seen but the command keeps running. */
static void nsinit_on_term(int sig)
{
	(void)sig;
	kill(-1, SIGKILL);
}

/* How often init adds up the CPU time used inside (--cpu-seconds). */
#define NSINIT_CPU_CHECK_MS 100

/* SIGALRM only interrupts init's wait, so that it counts the CPU time. */
static void nsinit_on_alarm(int sig)
{
	(void)sig;
}

/* Interrupts init's wait every NSINIT_CPU_CHECK_MS (no SA_RESTART). */
static void nsinit_watch_cpu(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nsinit_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every = {{0, NSINIT_CPU_CHECK_MS * 1000}, {0, NSINIT_CPU_CHECK_MS * 1000}};
	setitimer(ITIMER_REAL, &every, NULL);
}

/* Brings the namespace's own loopback interface up (--net loopback). */
static void nsinit_loopback_up(const struct sandbox_run *run)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "bring up lo (socket)");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "bring up lo (SIOCGIFFLAGS)");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "bring up lo (SIOCSIFFLAGS)");
	close(fd);
}

/* Taking the command's file system ids (rootfs_enter) is a change of
 * credentials, and the kernel clears the parent-death signal on every such
 * change (and resets the dumpable flag): without this, a SIGKILLed
 * supervisor would leave the sandbox running with no limit on its time.
 * The supervisor may have died before the signal was set again; then its
 * end of the status pipe is closed already. */
static void nsinit_rearm_parent_death(const struct sandbox_run *run)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "set the parent-death signal again");
	struct pollfd pfd = {run->status_fd, 0, 0};
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
		_exit(SANDBOX_EXIT_SETUP);
}

/* The command's stack while it shares init's memory. */
#define NSINIT_COMMAND_STACK (256 * 1024)

/* Everything the command's process needs, in init's memory. */
struct nsinit_command {
	const struct sandbox_run *run; /* the plan */
	struct policy_program filter;  /* the compiled seccomp filter */
};

static int nsinit_command_main(void *arg)
{
	struct nsinit_command *cmd = arg;
	command_exec(cmd->run, &cmd->filter);
}

/* Starts the command in a process that shares init's memory until it
 * execs, init waiting meanwhile (posix_spawn's way): nothing of init's is
 * copied, which is most of the cost of a fork. */
static pid_t nsinit_spawn_command(struct nsinit_command *cmd)
{
	char *stack = mmap(NULL, NSINIT_COMMAND_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			   -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	/* A guard page below the stack. */
	mprotect(stack, 4096, PROT_NONE);
	pid_t pid = clone(nsinit_command_main, stack + NSINIT_COMMAND_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, cmd);
	int err = errno;
	munmap(stack, NSINIT_COMMAND_STACK);
	errno = err;
	return pid;
}

/* Init holds nothing of the outside world once the command runs. */
static void nsinit_detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		dup3(fd, i, O_CLOEXEC);
	close(fd);
}

void nsinit_main(const struct sandbox_run *run)
{
	int efd = run->err_fd;
	/* The supervisor's death, however it happens, ends the sandbox. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "set the parent-death signal");
	char byte;
	ssize_t n;
	do {
		n = read(run->sync_fd, &byte, 1);
	} while (n < 0 && errno == EINTR);
	/* No byte: the supervisor failed (and says why) or is gone. */
	if (n != 1)
		_exit(SANDBOX_EXIT_SETUP);
	close(run->sync_fd);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Init keeps capabilities in the namespace: the command, running as
	 * the same host uid when unprivileged, must not be able to inspect it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "make init non-dumpable");
	/* Now that the supervisor has put us in the sandbox's cgroups, a
	 * cgroup namespace rooted there hides the host's hierarchy. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "unshare the cgroup namespace");
	if (sethostname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0 || setdomainname("(none)", 6) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "set the hostname");
	if (run->cfg->net == SANDBOX_NET_LOOPBACK)
		nsinit_loopback_up(run);
	rootfs_enter(run);
	nsinit_rearm_parent_death(run);
	/* The supervisor compiles the seccomp filter meanwhile. */
	struct nsinit_command cmd = {run, {NULL, 0}};
	if (run->filter_fd >= 0) {
		int rc = policy_program_read(&cmd.filter, run->filter_fd);
		/* Nothing came: the supervisor failed, and says why. */
		if (rc < 0)
			_exit(SANDBOX_EXIT_SETUP);
		close(run->filter_fd);
	}

	/* Pid 1 only receives the signals it handles. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nsinit_on_term;
	sigaction(SIGTERM, &sa, NULL);

	pid_t command = nsinit_spawn_command(&cmd);
	if (command < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "start the command");
	/* The error pipe reaches EOF once the command has executed. */
	close(efd);
	if (run->stdout_fd >= 0)
		close(run->stdout_fd);
	if (run->stderr_fd >= 0)
		close(run->stderr_fd);
	nsinit_detach_stdio();
	/* Nor any other descriptor but the one it reports on. */
	if (run->status_fd > 3)
		close_range(3, (unsigned)run->status_fd - 1, 0);
	close_range((unsigned)run->status_fd + 1, ~0U, 0);

	/* RLIMIT_CPU stops each process at the limit; the sandbox as a whole
	 * is stopped here once all of it together has used that much. */
	uint64_t cpu_limit_ms = run->cfg->cpu_seconds * 1000;
	bool cpu_exceeded = false;
	if (cpu_limit_ms)
		nsinit_watch_cpu();
	int32_t status = 0;
	bool have_status = false;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, __WALL);
		if (pid < 0 && errno == EINTR) {
			if (cpu_limit_ms && !cpu_exceeded && limits_cpu_used_ms() >= cpu_limit_ms) {
				cpu_exceeded = true;
				kill(-1, SIGKILL);
			}
			continue;
		}
		if (pid < 0)
			break;
		if (pid == command) {
			status = st;
			have_status = true;
			break;
		}
	}
	/* Reported as RLIMIT_CPU reports one process it stops. */
	if (cpu_exceeded)
		status = SIGXCPU;
	/* The sandbox ends with the command: whatever it left behind dies
	 * now, and is reaped here so that its CPU time is counted (the kernel
	 * would otherwise discard it with the namespace). */
	kill(-1, SIGKILL);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, __WALL);
		if (pid < 0 && errno != EINTR)
			break;
	}
	if (have_status) {
		ssize_t w;
		do {
			w = write(run->status_fd, &status, sizeof(status));
		} while (w < 0 && errno == EINTR);
	}
	_exit(0);
}
