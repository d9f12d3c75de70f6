/* Escape attempts on processes and identity: killing or seeing host
 * processes, host IPC objects, the hostname, the uid, file descriptors and
 * environment variables leaking in, and a sandbox outliving its parent. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* The victim runs as the sandbox's own host uid, so only the pid
 * namespace stands between them. */
TEST(host_process_cannot_be_killed)
{
	const char *marker = sbt_marker();
	pid_t victim = sbt_start_sleeper(marker);
	CHECK(sbt_alive(victim));
	char pid_text[16];
	snprintf(pid_text, sizeof(pid_text), "%d", (int)victim);
	struct sbt_result r;
	sbt_probe(&r, NULL, "kill", pid_text);
	CHECK_CONTAINS(r.out, "kill: ESRCH");
	/* kill(-1) reaches every process the caller may signal. */
	CHECK_CONTAINS(r.out, "kill-all:");
	th_sleep_ms(100);
	CHECK(sbt_alive(victim));
	sbt_result_free(&r);
}

TEST(host_processes_are_invisible)
{
	const char *marker = sbt_marker();
	pid_t victim = sbt_start_sleeper(marker);
	CHECK(sbt_alive(victim));
	struct sbt_result r;
	sbt_probe(&r, NULL, "procs", marker);
	CHECK_CONTAINS(r.out, "marker: absent");
	/* init and the probe. */
	int procs = -1;
	const char *line = strstr(r.out, "procs: ");
	if (line)
		procs = atoi(line + strlen("procs: "));
	CHECK_INT(procs, >=, 2);
	CHECK_INT(procs, <=, 3);
	sbt_result_free(&r);
	const char *init[] = {"content: ", "agentd-sandbox", NULL};
	sbt_probe_expect(NULL, "read", "/proc/1/cmdline", init);
}

TEST(hostname_is_not_the_hosts)
{
	char host[256];
	CHECK(gethostname(host, sizeof(host)) == 0);
	struct sbt_result r;
	sbt_probe(&r, NULL, "hostname", NULL);
	CHECK_CONTAINS(r.out, "hostname: sandbox\n");
	if (strcmp(host, "sandbox") != 0) {
		char line[300];
		snprintf(line, sizeof(line), "hostname: %s\n", host);
		CHECK(!strstr(r.out, line));
	}
	CHECK_CONTAINS(r.out, "sethostname: EPERM");
	sbt_result_free(&r);
	CHECK(gethostname(host, sizeof(host)) == 0);
	CHECK(strcmp(host, "escaped") != 0);
}

TEST(host_ipc_objects_are_invisible)
{
	key_t key = (key_t)(0x5a000000 | (getpid() & 0xffffff));
	int shm = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666);
	int msg = msgget(key, IPC_CREAT | IPC_EXCL | 0666);
	CHECK(shm >= 0 && msg >= 0);
	char key_text[32];
	snprintf(key_text, sizeof(key_text), "%d", (int)key);
	struct sbt_result r;
	sbt_probe(&r, NULL, "ipc", key_text);
	shmctl(shm, IPC_RMID, NULL);
	msgctl(msg, IPC_RMID, NULL);
	CHECK_CONTAINS(r.out, "shmget: ENOENT\nmsgget: ENOENT\n");
	sbt_result_free(&r);
}

/* A descriptor the caller forgot to mark close-on-exec (here: one to a
 * secret file) must not reach the command; nor may the result descriptor. */
TEST(leaked_descriptor_is_not_inherited)
{
	int fd = open(sbt_shared_file(th_tempdir(), "secret", "secret\n"), O_RDONLY);
	CHECK(fd >= 0);
	CHECK(dup2(fd, 77) == 77);
	struct sbt_result r;
	sbt_probe(&r, NULL, "fds", NULL);
	close(77);
	close(fd);
	CHECK(!strstr(r.out, "fd: 77"));
	CHECK(!strstr(r.out, "secret"));
	size_t count = 0;
	for (const char *p = r.out; (p = strstr(p, "fd: ")); p++)
		count++;
	CHECK_INT(count, ==, 3);
	CHECK_CONTAINS(r.out, "fd: 0 ");
	CHECK_CONTAINS(r.out, "fd: 1 ");
	CHECK_CONTAINS(r.out, "fd: 2 ");
	sbt_result_free(&r);
}

TEST(environment_is_clean)
{
	setenv("AGENTD_TEST_SECRET", "hunter2", 1);
	const char *args[] = {"--env", "GREETING=hello", "--", "/probe", "env", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK(!strstr(r.out, "hunter2"));
	CHECK_CONTAINS(r.out, "env: GREETING=hello\n");
	CHECK_CONTAINS(r.out, "env: HOME=/tmp\n");
	CHECK_CONTAINS(r.out, "env: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
	CHECK_CONTAINS(r.out, "env: LANG=");
	const char *allowed[] = {"GREETING=", "HOME=", "PATH=", "LANG=", "TERM="};
	for (const char *p = r.out; (p = strstr(p, "env: ")); p++) {
		bool known = false;
		for (size_t i = 0; i < 5; i++)
			known |= strncmp(p + 5, allowed[i], strlen(allowed[i])) == 0;
		if (!known)
			th_fail(__FILE__, __LINE__, "unexpected variable: %.*s", (int)strcspn(p, "\n"), p);
	}
	sbt_result_free(&r);
}

/* Only one id is mapped: the command's. Host root does not exist inside. */
TEST(command_runs_as_an_unprivileged_mapped_user)
{
	struct sbt_result r;
	sbt_probe(&r, NULL, "ids", NULL);
	char expect[64];
	snprintf(expect, sizeof(expect), "uid: %u\neuid: %u\n", sbt_sandbox_uid(), sbt_sandbox_uid());
	CHECK_CONTAINS(r.out, expect);
	CHECK(!strstr(r.out, "uid: 0\n"));
	if (sbt_is_root())
		CHECK_CONTAINS(r.out, "groups:\n");
	sbt_result_free(&r);
	sbt_probe(&r, NULL, "read", "/proc/self/uid_map");
	snprintf(expect, sizeof(expect), "%u", sbt_sandbox_uid());
	CHECK_CONTAINS(r.out, expect);
	CHECK(!strstr(r.out, " 0 "));
	sbt_result_free(&r);
}

/* Execs agentd-sandbox with the probe's spinner (marker in its command
 * line), its stdin and stdout on /dev/null; never returns. */
static void process_exec_spinner(const char *marker)
{
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(null, 1);
	execl(sbt_sandbox_path(), sbt_sandbox_path(), "--ro-bind", sbt_probe_path(), "/probe", "--", "/probe", "spin",
	      marker, (char *)NULL);
	_exit(127);
}

/* Waits until agentd-sandbox, init (a clone of it), the spinner and its
 * two sleepers all carry the marker. */
static void process_wait_for_spinner(const char *marker)
{
	long long deadline = th_now_ms() + 20000;
	while (sbt_marker_count(marker) < 5) {
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "the sandbox did not start (%d processes)",
				sbt_marker_count(marker));
		th_sleep_ms(20);
	}
}

/* The parent of agentd-sandbox is SIGKILLed while the command spins with
 * a double-forked child and one in its own session: all of it goes. */
TEST(sandbox_does_not_outlive_a_killed_parent)
{
	const char *marker = sbt_marker();
	pid_t parent = fork();
	CHECK(parent >= 0);
	if (parent == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fork() == 0)
			process_exec_spinner(marker);
		for (;;)
			pause();
	}
	process_wait_for_spinner(marker);
	kill(parent, SIGKILL);
	waitpid(parent, NULL, 0);
	if (!sbt_wait_marker_gone(marker, 15000))
		th_fail(__FILE__, __LINE__, "processes of the sandbox survived their parent's death");
}

/* The sandbox ends when the command does: what it left behind is killed. */
TEST(background_processes_end_with_the_command)
{
	const char *marker = sbt_marker();
	struct sbt_result r;
	sbt_probe(&r, NULL, "background", marker);
	CHECK_CONTAINS(r.out, "left behind");
	CHECK(sbt_wait_marker_gone(marker, 5000));
	sbt_result_free(&r);
}

/* agentd-sandbox itself is SIGKILLed (the library's last resort when it
 * does not stop in time; the OOM killer's choice): it has no chance to
 * stop anything, and the kernel's parent-death signal must end init and
 * with it everything inside. */
TEST(sandbox_does_not_outlive_a_killed_supervisor)
{
	const char *marker = sbt_marker();
	pid_t supervisor = fork();
	CHECK(supervisor >= 0);
	if (supervisor == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		process_exec_spinner(marker);
	}
	process_wait_for_spinner(marker);
	kill(supervisor, SIGKILL);
	waitpid(supervisor, NULL, 0);
	if (!sbt_wait_marker_gone(marker, 5000)) {
		int left = sbt_marker_count(marker);
		sbt_kill_marker(marker);
		th_fail(__FILE__, __LINE__, "%d processes of the sandbox survived agentd-sandbox's death", left);
	}
}

/* The caller dies while agentd-sandbox is still reading its flags (here:
 * waiting on a --seccomp file that is a FIFO), before it has set its
 * parent-death signal: the signal will never come, and the sandbox must
 * not start at all. */
TEST(sandbox_does_not_start_after_its_parent_died)
{
	const char *marker = sbt_marker();
	char fifo[300];
	snprintf(fifo, sizeof(fifo), "%s/policy", th_tempdir());
	CHECK(mkfifo(fifo, 0644) == 0);
	pid_t parent = fork();
	CHECK(parent >= 0);
	if (parent == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fork() == 0) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			execl(sbt_sandbox_path(), sbt_sandbox_path(), "--seccomp", fifo, "--ro-bind", sbt_probe_path(),
			      "/probe", "--", "/probe", "spin", marker, (char *)NULL);
			_exit(127);
		}
		for (;;)
			pause();
	}
	/* The FIFO opens for writing once agentd-sandbox has it open for
	 * reading: then it is well into main, and waits for the policy. */
	long long deadline = th_now_ms() + 20000;
	int fd;
	while ((fd = open(fifo, O_WRONLY | O_NONBLOCK)) < 0) {
		if (th_now_ms() > deadline)
			th_fail(__FILE__, __LINE__, "agentd-sandbox did not start");
		th_sleep_ms(10);
	}
	kill(parent, SIGKILL);
	waitpid(parent, NULL, 0);
	/* The policy lets it go on. */
	CHECK(write(fd, "@default\n", 9) == 9);
	close(fd);
	if (!sbt_wait_marker_gone(marker, 3000)) {
		int left = sbt_marker_count(marker);
		sbt_kill_marker(marker);
		th_fail(__FILE__, __LINE__, "%d processes of a sandbox started after its parent's death", left);
	}
}
