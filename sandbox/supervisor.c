/* The supervisor, agentd-sandbox's own process on the host: cgroups, the
 * clone into new namespaces, uid maps, then the deadline, output caps and
 * signals until init is gone; at the end, the report and the clean-up. */
#include "sandbox/internal.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/units.h"

/* After asking init to end everything, how long before it is SIGKILLed. */
#define SUPERVISOR_STOP_GRACE_MS 2000
/* How often the CPU time in the sandbox's cgroup is read (--cpu-seconds). */
#define SUPERVISOR_CPU_CHECK_MS 100

#define SUPERVISOR_NAMESPACES (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

/* Everything the supervisor holds; fds start at -1. */
struct supervisor {
	const struct options *opts; /* the command line */
	struct sandbox_run run;     /* the plan the children follow */
	struct sandbox_result res;  /* what will be reported */
	struct cgroup cgroup;       /* this sandbox's cgroups */
	int signal_fd;              /* SIGCHLD, SIGTERM, SIGINT, SIGHUP */
	int err_pipe[2];            /* set-up failures from init and the command */
	int sync_pipe[2];           /* "the maps are written" to init */
	int status_pipe[2];         /* the command's wait status from init */
	int filter_pipe[2];         /* the compiled seccomp filter, to init */
	int out_pipe[2];            /* the command's stdout, when capped or relayed */
	int errout_pipe[2];         /* the command's stderr, when capped or relayed */
	struct capture out;         /* capped or relayed stdout */
	struct capture errout;      /* capped or relayed stderr */
	bool json_shares[2];        /* the result goes where stdout [0] or stderr [1] goes */
	pid_t init_pid;             /* init, -1 before the clone, 0 once reaped */
	int init_status;            /* init's wait status once reaped */
	int32_t command_status;     /* the command's wait status, from init */
	bool have_command_status;   /* command_status arrived */
	struct errpipe_msg failure; /* a set-up or exec failure report */
	bool have_failure;          /* failure arrived */
	int64_t start_ms;           /* when the clone happened */
	int64_t deadline_ms;        /* when the wall-clock limit ends it; 0: none */
	int64_t hard_kill_ms;       /* when init gets SIGKILL after a SIGTERM; 0: none pending */
	int64_t cpu_check_ms;       /* when the cgroup's CPU time is read next; 0: never */
	bool cpu_exceeded;          /* --cpu-seconds ran out: the sandbox is being stopped */
};

static void supervisor_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A failure of the supervisor's own set-up steps (reported as 125). */
static void supervisor_setup_failed(struct supervisor *s, const char *text)
{
	if (s->have_failure)
		return;
	s->have_failure = true;
	s->failure.status = SANDBOX_EXIT_SETUP;
	snprintf(s->failure.text, sizeof(s->failure.text), "%s", text);
}

static void supervisor_kill_init(struct supervisor *s)
{
	if (s->init_pid > 0)
		kill(s->init_pid, SIGKILL);
}

/* Ends the sandbox early (timeout, stop request). Once the command runs,
 * init is asked to kill and reap everything (so that CPU time is counted),
 * with SIGKILL as the backstop; before that, SIGKILL at once. */
static void supervisor_stop(struct supervisor *s)
{
	if (s->init_pid <= 0)
		return;
	bool command_started = s->err_pipe[0] < 0 && !s->have_failure;
	if (!command_started || kill(s->init_pid, SIGTERM) < 0) {
		supervisor_kill_init(s);
		return;
	}
	s->hard_kill_ms = capture_now_ms() + SUPERVISOR_STOP_GRACE_MS;
}

/* Resolves the command's ids: any non-root ids when started as root,
 * otherwise the caller's own. Returns 0 or prints why and returns -1. */
static int supervisor_resolve_ids(struct supervisor *s)
{
	const struct sandbox_config *cfg = &s->opts->cfg;
	s->run.privileged = geteuid() == 0;
	if (s->run.privileged) {
		s->run.uid = cfg->uid == SANDBOX_ID_DEFAULT ? SANDBOX_NOBODY : cfg->uid;
		s->run.gid = cfg->gid == SANDBOX_ID_DEFAULT ? SANDBOX_NOBODY : cfg->gid;
		return 0;
	}
	s->run.uid = (uint32_t)geteuid();
	s->run.gid = (uint32_t)getegid();
	if (cfg->uid != SANDBOX_ID_DEFAULT && cfg->uid != s->run.uid) {
		fprintf(stderr, "agentd-sandbox: --uid %u: only root may run the sandbox as another user\n", cfg->uid);
		return -1;
	}
	if (cfg->gid != SANDBOX_ID_DEFAULT && cfg->gid != s->run.gid) {
		fprintf(stderr, "agentd-sandbox: --gid %u: only root may run the sandbox as another group\n", cfg->gid);
		return -1;
	}
	return 0;
}

/* True when the result goes to the same file as the descriptor fd. */
static bool supervisor_json_goes_to(const struct supervisor *s, int fd)
{
	int json_fd = s->opts->json_fd;
	struct stat json_st, st;
	if (json_fd < 0)
		return false;
	if (json_fd == fd)
		return true;
	return fstat(json_fd, &json_st) == 0 && fstat(fd, &st) == 0 && json_st.st_dev == st.st_dev &&
	       json_st.st_ino == st.st_ino;
}

static int supervisor_make_pipes(struct supervisor *s)
{
	const struct sandbox_config *cfg = &s->opts->cfg;
	if (pipe2(s->err_pipe, O_CLOEXEC) < 0 || pipe2(s->sync_pipe, O_CLOEXEC) < 0 ||
	    pipe2(s->status_pipe, O_CLOEXEC) < 0 || (s->run.policy && pipe2(s->filter_pipe, O_CLOEXEC) < 0))
		return -errno;
	/* A stream is capped (--max-output), or relayed when the result goes
	 * to the same place: the result must start on a line of its own, and
	 * only what passes through here says whether the command left its
	 * last line open (text it leaves there would join the result's line). */
	int *pipes[2] = {s->out_pipe, s->errout_pipe};
	struct capture *caps[2] = {&s->out, &s->errout};
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? STDOUT_FILENO : STDERR_FILENO;
		s->json_shares[i] = supervisor_json_goes_to(s, fd);
		if (!cfg->max_output_bytes && !s->json_shares[i])
			continue;
		if (pipe2(pipes[i], O_CLOEXEC) < 0)
			return -errno;
		/* The read end belongs to the capture from here on. */
		capture_init(caps[i], pipes[i][0], fd, cfg->max_output_bytes);
		pipes[i][0] = -1;
	}
	s->run.err_fd = s->err_pipe[1];
	s->run.sync_fd = s->sync_pipe[0];
	s->run.status_fd = s->status_pipe[1];
	s->run.filter_fd = s->filter_pipe[0];
	s->run.stdout_fd = s->out_pipe[1];
	s->run.stderr_fd = s->errout_pipe[1];
	return 0;
}

/* Clones init and hands it its maps and cgroups. */
static void supervisor_start(struct supervisor *s)
{
	char why[600];
	s->start_ms = capture_now_ms();
	/* A raw clone: init continues here with a copy of this process, in
	 * its new namespaces (CLONE_NEWCGROUP follows once it is in its cgroup). */
	pid_t pid = (pid_t)syscall(SYS_clone, SUPERVISOR_NAMESPACES | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int err = errno;
		snprintf(why, sizeof(why), "create the namespaces (clone): %s%s", strerror(err),
			 err == EPERM || err == ENOSPC || err == EUSERS
				 ? " (user namespaces may be disabled: see sysctl kernel.unprivileged_userns_clone "
				   "and user.max_user_namespaces)"
				 : "");
		supervisor_setup_failed(s, why);
		return;
	}
	if (pid == 0) {
		close(s->signal_fd);
		close(s->err_pipe[0]);
		close(s->sync_pipe[1]);
		close(s->status_pipe[0]);
		if (s->filter_pipe[1] >= 0)
			close(s->filter_pipe[1]);
		if (s->out.in_fd >= 0)
			close(s->out.in_fd);
		if (s->errout.in_fd >= 0)
			close(s->errout.in_fd);
		nsinit_main(&s->run);
	}
	s->init_pid = pid;
	supervisor_close(&s->err_pipe[1]);
	supervisor_close(&s->sync_pipe[0]);
	supervisor_close(&s->status_pipe[1]);
	supervisor_close(&s->filter_pipe[0]);
	supervisor_close(&s->out_pipe[1]);
	supervisor_close(&s->errout_pipe[1]);
	if (identity_write_maps(&s->run, pid, why, sizeof(why)) < 0 ||
	    cgroup_attach(&s->cgroup, pid, why, sizeof(why)) < 0) {
		supervisor_setup_failed(s, why);
		supervisor_kill_init(s);
		return;
	}
	ssize_t w = write(s->sync_pipe[1], "", 1);
	supervisor_close(&s->sync_pipe[1]);
	if (w != 1) {
		snprintf(why, sizeof(why), "release init: %s", strerror(errno));
		supervisor_setup_failed(s, why);
		supervisor_kill_init(s);
		return;
	}
	/* While init builds the file system, on the other core. The program
	 * is far smaller than a pipe's buffer: this never waits for init. */
	if (s->run.policy) {
		int rc = policy_compile(s->run.policy, s->filter_pipe[1], why, sizeof(why));
		supervisor_close(&s->filter_pipe[1]);
		/* EPIPE: init is gone already, and its report says why. */
		if (rc < 0 && rc != -EPIPE) {
			supervisor_setup_failed(s, why);
			supervisor_kill_init(s);
			return;
		}
	}
	uint64_t timeout_ms = s->opts->cfg.timeout_ms;
	if (timeout_ms) {
		s->deadline_ms = s->start_ms + (int64_t)timeout_ms;
		s->out.deadline_ms = s->deadline_ms;
		s->errout.deadline_ms = s->deadline_ms;
	}
	if (s->opts->cfg.cpu_seconds && s->cgroup.cpu_dir[0])
		s->cpu_check_ms = s->start_ms + SUPERVISOR_CPU_CHECK_MS;
}

static void supervisor_on_signals(struct supervisor *s)
{
	struct signalfd_siginfo info;
	while (read(s->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo != SIGCHLD && !s->res.killed && s->init_pid > 0 && !s->have_command_status) {
			s->res.killed = true;
			supervisor_stop(s);
		}
	}
	int status;
	if (s->init_pid > 0 && waitpid(s->init_pid, &status, WNOHANG) == s->init_pid) {
		s->init_pid = 0;
		s->init_status = status;
	}
}

static void supervisor_on_error_pipe(struct supervisor *s)
{
	struct errpipe_msg msg;
	int rc = errpipe_read(s->err_pipe[0], &msg);
	if (rc == 1) {
		if (!s->have_failure) {
			s->failure = msg;
			s->have_failure = true;
		}
		return;
	}
	supervisor_close(&s->err_pipe[0]);
}

static void supervisor_on_status_pipe(struct supervisor *s)
{
	int32_t status;
	ssize_t n = read(s->status_pipe[0], &status, sizeof(status));
	if (n < 0 && errno == EINTR)
		return;
	if (n == (ssize_t)sizeof(status)) {
		s->command_status = status;
		s->have_command_status = true;
		return;
	}
	supervisor_close(&s->status_pipe[0]);
}

/* True while the command runs and nothing has stopped it yet. */
static bool supervisor_running(const struct supervisor *s)
{
	return s->init_pid > 0 && !s->res.timed_out && !s->res.killed && !s->cpu_exceeded && !s->have_command_status;
}

/* When the clock next has something to say (0: never): the SIGKILL after
 * a stop, or else the deadline and the next look at the CPU time. */
static int64_t supervisor_next_wake(const struct supervisor *s)
{
	if (s->hard_kill_ms && s->init_pid > 0)
		return s->hard_kill_ms;
	if (!supervisor_running(s))
		return 0;
	int64_t wake = s->deadline_ms;
	if (s->cpu_check_ms && (!wake || s->cpu_check_ms < wake))
		wake = s->cpu_check_ms;
	return wake;
}

/* Acts on what is due: the SIGKILL after a stop, the deadline, the CPU
 * time of everything inside (the cgroup counts even what init cannot see). */
static void supervisor_on_clock(struct supervisor *s)
{
	int64_t now = capture_now_ms();
	if (s->hard_kill_ms && s->init_pid > 0) {
		if (now >= s->hard_kill_ms) {
			s->hard_kill_ms = 0;
			supervisor_kill_init(s);
		}
		return;
	}
	if (!supervisor_running(s))
		return;
	if (s->deadline_ms && now >= s->deadline_ms) {
		s->res.timed_out = true;
		supervisor_stop(s);
		return;
	}
	uint64_t used_ms;
	if (s->cpu_check_ms && now >= s->cpu_check_ms) {
		s->cpu_check_ms = now + SUPERVISOR_CPU_CHECK_MS;
		if (cgroup_cpu_used_ms(&s->cgroup, &used_ms) == 0 && used_ms >= s->opts->cfg.cpu_seconds * 1000) {
			s->cpu_exceeded = true;
			supervisor_stop(s);
		}
	}
}

/* Watches the error pipe (set-up failures), the status pipe (the
 * command's wait status), the output pipes, the deadline and signals
 * (SIGTERM, which the parent's death also sends, stops everything) until
 * init is reaped and every pipe is at EOF. Init's death takes the rest of
 * the sandbox with it, so the pipes follow at once. */
static void supervisor_wait(struct supervisor *s)
{
	int lifeline = s->opts->json_fd_explicit ? s->opts->json_fd : -1;
	while (s->init_pid > 0 || s->err_pipe[0] >= 0 || s->status_pipe[0] >= 0 || s->out.in_fd >= 0 ||
	       s->errout.in_fd >= 0) {
		struct pollfd pfd[6];
		int n = 0;
		pfd[n++] = (struct pollfd){s->signal_fd, POLLIN, 0};
		int *fds[4] = {&s->err_pipe[0], &s->status_pipe[0], &s->out.in_fd, &s->errout.in_fd};
		for (int i = 0; i < 4; i++)
			pfd[n++] = (struct pollfd){*fds[i], POLLIN, 0};
		/* The caller's end of the result socket closing means the caller
		 * is gone: it covers a death before the parent-death signal was set. */
		pfd[n++] = (struct pollfd){s->init_pid > 0 ? lifeline : -1, 0, 0};
		int64_t wake_ms = supervisor_next_wake(s);
		int timeout = -1;
		if (wake_ms) {
			int64_t left = wake_ms - capture_now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int pr = poll(pfd, (nfds_t)n, timeout);
		if (pr < 0 && errno != EINTR)
			break;
		/* The clock decides, not poll: a command that keeps its output
		 * pipes from ever being empty would otherwise never time out. */
		if (wake_ms)
			supervisor_on_clock(s);
		if (pr <= 0)
			continue;
		if (pfd[0].revents)
			supervisor_on_signals(s);
		if (pfd[1].revents)
			supervisor_on_error_pipe(s);
		if (pfd[2].revents)
			supervisor_on_status_pipe(s);
		struct capture *caps[2] = {&s->out, &s->errout};
		for (int i = 0; i < 2; i++) {
			if (!pfd[3 + i].revents)
				continue;
			ssize_t got = capture_read(caps[i]);
			if (got == 0 || (got < 0 && got != -EAGAIN))
				supervisor_close(&caps[i]->in_fd);
		}
		if (pfd[5].revents & (POLLHUP | POLLERR) && !s->res.killed && !s->have_command_status) {
			s->res.killed = true;
			supervisor_stop(s);
		}
	}
}

/* Fills the result from what was observed. */
static void supervisor_conclude(struct supervisor *s)
{
	struct sandbox_result *res = &s->res;
	const struct sandbox_config *cfg = &s->opts->cfg;
	cgroup_collect(&s->cgroup, res);
	struct rusage usage;
	if (getrusage(RUSAGE_CHILDREN, &usage) == 0) {
		res->cpu_ms = (uint64_t)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 +
			      (uint64_t)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
		/* Without a memory cgroup: the largest single process. */
		if (res->peak_memory_bytes < 0 && s->start_ms)
			res->peak_memory_bytes = (int64_t)usage.ru_maxrss * 1024;
	}
	/* The cgroup also counts what the kernel reaped for a parent that
	 * ignores SIGCHLD, which no rusage holds. */
	uint64_t cgroup_cpu_ms;
	if (cgroup_cpu_used_ms(&s->cgroup, &cgroup_cpu_ms) == 0 && cgroup_cpu_ms > res->cpu_ms)
		res->cpu_ms = cgroup_cpu_ms;
	if (s->start_ms)
		res->wall_ms = (uint64_t)(capture_now_ms() - s->start_ms);
	if (cfg->max_output_bytes) {
		res->output_truncated = capture_finish(&s->out) | capture_finish(&s->errout);
		res->stdout_bytes = s->out.total;
		res->stderr_bytes = s->errout.total;
	}
	if (s->have_failure) {
		snprintf(res->error, sizeof(res->error), "%s", s->failure.text);
		res->status = s->failure.status;
		res->setup_failed = s->failure.status == SANDBOX_EXIT_SETUP;
		if (!res->setup_failed)
			res->exit_code = s->failure.status;
		return;
	}
	if (s->have_command_status) {
		int st = s->command_status;
		if (WIFEXITED(st)) {
			res->exit_code = WEXITSTATUS(st);
			res->status = res->exit_code;
		} else {
			res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
			res->status = 128 + res->signal;
		}
	} else if (!res->timed_out && !res->killed && WIFEXITED(s->init_status) &&
		   WEXITSTATUS(s->init_status) == SANDBOX_EXIT_SETUP) {
		res->setup_failed = true;
		res->status = SANDBOX_EXIT_SETUP;
		snprintf(res->error, sizeof(res->error), "init failed before the command started");
		return;
	} else {
		/* Init was killed (limit, request, out of memory): so was the command. */
		res->signal = SIGKILL;
		res->status = 128 + SIGKILL;
	}
	/* Reported as RLIMIT_CPU reports one process it stops (as init does). */
	if (s->cpu_exceeded) {
		res->exit_code = -1;
		res->signal = SIGXCPU;
		res->status = 128 + SIGXCPU;
	}
	if (res->timed_out)
		res->status = SANDBOX_EXIT_TIMEOUT;
}

/* Without --json: one line on stderr for what the exit status alone does
 * not say. */
static void supervisor_tell(const struct supervisor *s)
{
	const struct sandbox_result *res = &s->res;
	char text[32];
	if (res->setup_failed)
		fprintf(stderr, "agentd-sandbox: setup failed: %s\n", res->error);
	else if (res->error[0])
		fprintf(stderr, "agentd-sandbox: %s\n", res->error);
	if (res->timed_out)
		fprintf(stderr, "agentd-sandbox: timed out after %s; everything inside was killed\n",
			units_format_duration(s->opts->cfg.timeout_ms, text, sizeof(text)));
	if (res->oom_killed)
		fprintf(stderr, "agentd-sandbox: out of memory (limit %s)\n",
			units_format_size(s->opts->cfg.memory_bytes, text, sizeof(text)));
	if (res->killed)
		fprintf(stderr, "agentd-sandbox: stopped on request; everything inside was killed\n");
}

static void supervisor_report(const struct supervisor *s)
{
	if (s->opts->json_fd < 0) {
		supervisor_tell(s);
		return;
	}
	struct buf json = BUF_INIT;
	if ((s->json_shares[0] && s->out.line_open) || (s->json_shares[1] && s->errout.line_open))
		buf_append_char(&json, '\n');
	sandbox_result_to_json(&s->res, &json);
	buf_append_char(&json, '\n');
	const char *p = json.data;
	size_t left = json.len;
	while (left > 0) {
		ssize_t w = write(s->opts->json_fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	buf_free(&json);
}

int supervisor_run(const struct options *opts, const struct policy *policy, pid_t parent)
{
	struct supervisor s;
	memset(&s, 0, sizeof(s));
	s.opts = opts;
	s.run.cfg = &opts->cfg;
	s.run.policy = policy;
	sandbox_result_init(&s.res);
	s.signal_fd = -1;
	int *fds[] = {s.err_pipe, s.sync_pipe, s.status_pipe, s.filter_pipe, s.out_pipe, s.errout_pipe};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fds[i][0] = fds[i][1] = -1;
	s.out.in_fd = s.errout.in_fd = -1;
	s.init_pid = -1;
	if (supervisor_resolve_ids(&s) < 0)
		return SANDBOX_EXIT_USAGE;

	/* Signals arrive through a descriptor; init and the command unblock
	 * them. SIGTERM is also what the death of our parent sends. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	char why[600];
	s.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.signal_fd < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0) {
		snprintf(why, sizeof(why), "watch signals: %s", strerror(errno));
		supervisor_setup_failed(&s, why);
		goto out;
	}
	/* A caller that died before the signal was set never sends it: it is
	 * gone already, and nothing may start. */
	if (getppid() != parent) {
		s.res.killed = true;
		goto out;
	}
	if (opts->cfg.memory_bytes || opts->cfg.pids || opts->cfg.cpu_seconds) {
		cgroup_create(&s.cgroup, &opts->cfg, &s.res.limits_not_enforced, s.res.limits_note,
			      sizeof(s.res.limits_note));
		if (s.res.limits_not_enforced && opts->json_fd < 0)
			fprintf(stderr, "agentd-sandbox: warning: %s\n", s.res.limits_note);
	}
	int rc = supervisor_make_pipes(&s);
	if (rc < 0) {
		snprintf(why, sizeof(why), "create pipes: %s", strerror(-rc));
		supervisor_setup_failed(&s, why);
		goto out;
	}
	supervisor_start(&s);
	/* Without init (the clone failed) there is nothing to wait for. */
	if (s.init_pid > 0)
		supervisor_wait(&s);
out:
	/* Reap init if the loop never did (an early failure). */
	if (s.init_pid > 0) {
		supervisor_kill_init(&s);
		waitpid(s.init_pid, &s.init_status, 0);
		s.init_pid = 0;
	}
	supervisor_conclude(&s);
	cgroup_remove(&s.cgroup);
	supervisor_report(&s);
	supervisor_close(&s.out.in_fd);
	supervisor_close(&s.errout.in_fd);
	capture_free(&s.out);
	capture_free(&s.errout);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		supervisor_close(&fds[i][0]);
		supervisor_close(&fds[i][1]);
	}
	supervisor_close(&s.signal_fd);
	return s.res.status;
}
