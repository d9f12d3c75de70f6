/* Resource attacks: a fork bomb, a memory hog, an infinite loop with
 * escaping children, an output flood, huge files in /tmp and in the
 * workspace, CPU burning. Each is contained and reported. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* The first number after "key: " in text, or -1. */
static long long limits_number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? atoll(p + strlen(key)) : -1;
}

TEST(fork_bomb_is_contained)
{
	const char *args[] = {"--pids", "64", "--timeout", "30s", "--", "/probe", "forkbomb", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 40000);
	sbt_expect_ok(&r);
	long long forks = limits_number_after(r.out, "forks: ");
	CHECK_INT(forks, >=, 1);
	CHECK_INT(forks, <, 64);
	CHECK_CONTAINS(r.out, "stopped: EAGAIN");
	CHECK(!r.json.timed_out);
	sbt_result_free(&r);
	/* The host can still fork. */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
}

/* Killed by the memory cgroup and reported as such; where no cgroup can be
 * made (unprivileged), the limit is reported as not enforced instead. As
 * root on a host with a cgroup v1 memory hierarchy, it must hold. */
TEST(memory_hog_is_killed_or_reported)
{
	const char *args[] = {"--memory", "64M", "--timeout", "60s", "--", "/probe", "hog", "1024", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 70000);
	CHECK(r.has_json);
	if (r.json.limits_not_enforced & SANDBOX_LIMIT_MEMORY) {
		CHECK_CONTAINS(r.json.limits_note, "memory limit not enforced: ");
		CHECK(!sbt_is_root() || access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) < 0);
		fprintf(stderr, "note: %s\n", r.json.limits_note);
	} else {
		CHECK(!strstr(r.out, "hog: ok"));
		CHECK(r.json.oom_killed);
		CHECK_INT(r.json.signal, ==, SIGKILL);
		CHECK_INT(r.status, ==, 128 + SIGKILL);
		CHECK_INT(r.json.peak_memory_bytes, >, 32 << 20);
		CHECK_INT(r.json.peak_memory_bytes, <=, 64 << 20);
	}
	sbt_result_free(&r);
}

/* A command that spins forever after starting a double-forked child and
 * a child in a session of its own: at the timeout, all of them die. */
TEST(infinite_loop_is_killed_at_the_timeout_with_its_children)
{
	const char *marker = sbt_marker();
	const char *args[] = {"--timeout", "2s", "--", "/probe", "spin", marker, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	CHECK(r.has_json);
	CHECK(r.json.timed_out);
	CHECK_INT(r.status, ==, SANDBOX_EXIT_TIMEOUT);
	CHECK_INT(r.json.signal, ==, SIGKILL);
	CHECK_CONTAINS(r.out, "spinning");
	CHECK_INT(r.json.wall_ms, >=, 2000);
	CHECK_INT(r.elapsed_ms, <, 2000 + 8000);
	/* The spinner's CPU time is counted even though it was killed. */
	CHECK_INT(r.json.cpu_ms, >, 200);
	CHECK(sbt_wait_marker_gone(marker, 5000));
	sbt_result_free(&r);
}

TEST(output_flood_is_capped)
{
	const char *args[] = {"--max-output", "64k", "--", "/probe", "flood", "10000000", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	size_t len = strlen(r.out);
	CHECK_INT(len, <=, 65536 + 100);
	CHECK_INT(len, >=, 65536);
	CHECK(strncmp(r.out, "HEAD-MARK\n", 10) == 0);
	CHECK_CONTAINS(r.out, "\nTAIL-MARK\n");
	CHECK_CONTAINS(r.out, "bytes of output cut]");
	CHECK(r.json.output_truncated);
	CHECK_INT(r.json.stdout_bytes, >=, 10000000);
	sbt_result_free(&r);
}

TEST(output_below_the_cap_is_untouched)
{
	const char *args[] = {"--max-output", "64k", "--", "/probe", "flood", "1000", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_INT(strlen(r.out), ==, 10 + 1000 + 11);
	CHECK(!r.json.output_truncated);
	sbt_result_free(&r);
}

/* Runs args, which must succeed with a line holding stopped (the probe
 * ran into a limit) after at most max_after bytes or files. */
static void limits_expect_stopped(const char *const *args, const char *stopped, long long max_after)
{
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, stopped);
	CHECK_INT(limits_number_after(r.out, "after "), <=, max_after);
	sbt_result_free(&r);
}

TEST(huge_file_in_tmp_is_capped)
{
	const char *args[] = {"--tmpfs", "/tmp:8M", "--", "/probe", "fill", "/tmp/huge", "100", NULL};
	limits_expect_stopped(args, "fill: stopped ENOSPC", 8 << 20);
}

TEST(huge_file_in_workspace_is_capped)
{
	const char *ws = sbt_workspace();
	const char *args[] = {"--workspace", ws,     "--file-size",     "4M",  "--",
			      "/probe",      "fill", "/workspace/huge", "100", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "fill: stopped EFBIG");
	char path[300];
	snprintf(path, sizeof(path), "%s/huge", ws);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_size, <=, 4 << 20);
	sbt_result_free(&r);
}

TEST(cpu_time_limit_ends_a_spinner)
{
	const char *marker = sbt_marker();
	const char *args[] = {"--cpu-seconds", "1", "--timeout", "30s", "--", "/probe", "spin", marker, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 40000);
	CHECK(r.has_json);
	CHECK(!r.json.timed_out);
	CHECK(r.json.signal == SIGXCPU || r.json.signal == SIGKILL);
	CHECK_INT(r.status, ==, 128 + r.json.signal);
	CHECK(sbt_wait_marker_gone(marker, 5000));
	sbt_result_free(&r);
}

/* RLIMIT_CPU holds each process alone: commands that run one after the
 * other, each below the limit, would together use as much CPU as they
 * like. The limit is on everything inside together. */
TEST(cpu_time_limit_counts_every_process)
{
	const char *script = "for i in 1 2 3 4 5 6; do /probe burn 400; done; echo all burned";
	const char *args[] = {"--cpu-seconds", "1", "--timeout", "30s", "--", "/bin/sh", "-c", script, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 40000);
	CHECK(r.has_json);
	CHECK(!strstr(r.out, "all burned"));
	CHECK_CONTAINS(r.out, "burned 400 ms");
	CHECK(!r.json.timed_out);
	CHECK_INT(r.json.signal, ==, SIGXCPU);
	CHECK_INT(r.status, ==, 128 + SIGXCPU);
	CHECK_INT(r.json.cpu_ms, <, 1800);
	sbt_result_free(&r);
}

/* A tmpfs's size counts the bytes in its files, not its inodes, which
 * cost the kernel about 1k each: a million empty files in a 512M /tmp took
 * a gigabyte of memory no limit saw. The inode count follows the size. */
TEST(tmpfs_inode_count_is_capped)
{
	const char *tmp[] = {"--tmpfs", "/tmp:8M", "--", "/probe", "files", "/tmp", "20000", NULL};
	limits_expect_stopped(tmp, "files: stopped ENOSPC", (8 << 20) / 4096);
	const char *scratch[] = {"--tmpfs", "/scratch:8M", "--", "/probe", "files", "/scratch", "20000", NULL};
	limits_expect_stopped(scratch, "files: stopped ENOSPC", (8 << 20) / 4096);
}

/* The command inherits the caller's rlimits: one whose RLIMIT_RTPRIO or
 * RLIMIT_NICE allows more (set for an audio group, say) must not let it
 * spin at a real-time priority, or raise its own. (The test can only show
 * it where it may raise those limits itself: with CAP_SYS_RESOURCE.) */
TEST(realtime_priority_is_refused)
{
	struct rlimit rtprio = {50, 50}, nice = {30, 30};
	if (setrlimit(RLIMIT_RTPRIO, &rtprio) < 0 || setrlimit(RLIMIT_NICE, &nice) < 0)
		fprintf(stderr, "note: cannot raise RLIMIT_RTPRIO and RLIMIT_NICE here (%s): the caller's are 0\n",
			strerror(errno));
	const char *expect[] = {"sched-fifo: EPERM", "nice-up: EACCES", NULL};
	sbt_probe_expect(NULL, "sched", NULL, expect);
}

/* The wall-clock limit holds however the command keeps agentd-sandbox
 * busy: here its output pipe is never empty (four writers), and the
 * caller reads agentd-sandbox's output slowly but steadily, as a busy
 * loop does. Nothing may push the end past the limit by more than a
 * moment. */
TEST(timeout_holds_while_the_output_never_stops)
{
	int out[2];
	CHECK(pipe(out) == 0);
	long long start = th_now_ms();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(out[0]);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(null, 2);
		execl(sbt_sandbox_path(), sbt_sandbox_path(), "--timeout", "1s", "--max-output", "64M", "--", "/bin/sh",
		      "-c", "yes & yes & yes & yes & wait", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char buf[4096];
	while (read(out[0], buf, sizeof(buf)) > 0) {
		if (th_now_ms() - start > 20000) {
			kill(pid, SIGKILL);
			break;
		}
		th_sleep_ms(1);
	}
	close(out[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	long long elapsed = th_now_ms() - start;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == SANDBOX_EXIT_TIMEOUT);
	CHECK_INT(elapsed, <, 1000 + 1500);
}

/* Children of a parent that ignores SIGCHLD are reaped by the kernel, and
 * their CPU time is added to no one's: counting from the processes alone
 * misses it. Where a cgroup counts it, the limit holds and cpu_ms is all
 * of it; where none can be made, the limit says it is not enforced. */
TEST(cpu_time_limit_counts_processes_nobody_reaps)
{
	const char *args[] = {"--cpu-seconds", "1", "--", "/probe", "burn-unreaped", "6", "400", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 40000);
	CHECK(r.has_json);
	if (r.json.limits_not_enforced & SANDBOX_LIMIT_CPU) {
		CHECK_CONTAINS(r.json.limits_note, "cpu limit not enforced: ");
		CHECK(!sbt_is_root() || access("/sys/fs/cgroup/cpuacct/cpuacct.usage", F_OK) < 0);
		fprintf(stderr, "note: %s\n", r.json.limits_note);
	} else {
		CHECK(!strstr(r.out, "all burned"));
		CHECK_INT(r.json.signal, ==, SIGXCPU);
		CHECK_INT(r.status, ==, 128 + SIGXCPU);
		CHECK_INT(r.json.cpu_ms, >=, 900);
		CHECK_INT(r.json.cpu_ms, <, 1800);
	}
	sbt_result_free(&r);
}
