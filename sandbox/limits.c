/* The command's resource limits. RLIMIT_NPROC counts the processes of one
 * uid in one user namespace, and each sandbox has its own namespace, so it
 * is a per-sandbox process limit even where no pids cgroup can be made.
 * RLIMIT_CPU holds each process alone: init adds up the CPU time of all of
 * them for --cpu-seconds (and the supervisor reads a cgroup's count, which
 * also holds children the kernel reaped itself). */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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
	/* Whatever the caller may: no real-time scheduling (a real-time spinner
	 * per core would leave the host a few percent of its CPUs), and no
	 * priority above the one the command starts with. */
	limits_set(run, RLIMIT_RTPRIO, "RTPRIO", 0, 0);
	limits_set(run, RLIMIT_NICE, "NICE", 0, 0);
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

/* One process's own CPU time and that of the children it has reaped, in
 * clock ticks, from /proc/PID/stat; 0 when it is gone. */
static uint64_t limits_process_ticks(int proc_fd, const char *pid)
{
	char path[64], text[1024];
	snprintf(path, sizeof(path), "%s/stat", pid);
	int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	/* "pid (comm) state ppid ...": the name may hold anything, so the
	 * fields are counted from the last ')'; utime is the 14th field. */
	const char *p = strrchr(text, ')');
	unsigned long long utime, stime, cutime, cstime;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &utime, &stime,
			 &cutime, &cstime) != 4)
		return 0;
	return utime + stime + cutime + cstime;
}

uint64_t limits_cpu_used_ms(void)
{
	uint64_t ms = 0;
	struct rusage usage;
	if (getrusage(RUSAGE_CHILDREN, &usage) == 0)
		ms = (uint64_t)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 +
		     (uint64_t)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
	long ticks_per_second = sysconf(_SC_CLK_TCK);
	DIR *dir = opendir("/proc");
	if (!dir || ticks_per_second <= 0) {
		if (dir)
			closedir(dir);
		return ms;
	}
	uint64_t ticks = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		/* Init's own time is not the command's. */
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || strcmp(de->d_name, "1") == 0)
			continue;
		ticks += limits_process_ticks(dirfd(dir), de->d_name);
	}
	closedir(dir);
	return ms + ticks * 1000 / (uint64_t)ticks_per_second;
}
