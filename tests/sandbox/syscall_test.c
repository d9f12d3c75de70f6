/* Escape attempts through the kernel's interfaces, each refused by the
 * seccomp filter; the last test shows that they do get through with
 * --seccomp off, so that the others pass for the right reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* Runs the probe under the default filter and checks its lines. */
#define SYSCALL_EXPECT(what, ...)                                                                                      \
	do {                                                                                                           \
		const char *syscall_expect_[] = {__VA_ARGS__, NULL};                                                   \
		sbt_probe_expect(NULL, what, NULL, syscall_expect_);                                                   \
	} while (0)

TEST(ptrace_of_a_sibling_is_refused)
{
	SYSCALL_EXPECT("ptrace", "ptrace-attach: EPERM", "ptrace-seize: EPERM", "process_vm_readv: EPERM");
}

TEST(new_user_namespace_is_refused)
{
	/* What the filter leaves alone (fork) still works. */
	SYSCALL_EXPECT("userns", "unshare-user: EPERM", "unshare-net: EPERM", "clone-user: EPERM", "clone3: ENOSYS",
		       "setns: EPERM", "fork: ok");
}

TEST(keyctl_is_refused)
{
	SYSCALL_EXPECT("keyctl", "keyctl: EPERM", "add_key: EPERM", "request_key: EPERM");
}

/* (Where kernel.unprivileged_bpf_disabled is set, the kernel refuses too.) */
TEST(bpf_is_refused)
{
	SYSCALL_EXPECT("bpf", "bpf-prog-load: EPERM", "bpf-map-create: EPERM");
}

TEST(perf_event_open_is_refused)
{
	SYSCALL_EXPECT("perf", "perf_event_open: EPERM");
}

TEST(userfaultfd_is_refused)
{
	SYSCALL_EXPECT("userfaultfd", "userfaultfd: EPERM");
}

TEST(io_uring_setup_is_refused)
{
	SYSCALL_EXPECT("io_uring", "io_uring_setup: EPERM");
}

/* The sandbox's stdin is a terminal that is the controlling terminal of
 * agentd-sandbox's session: pushing characters into it would type into
 * the person's shell. Nothing may arrive. */
TEST(tiocsti_cannot_inject_input)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(master >= 0);
	CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
	const char *name = ptsname(master);
	CHECK(name != NULL);
	int slave = open(name, O_RDWR | O_NOCTTY);
	CHECK(slave >= 0);
	struct termios tio;
	CHECK(tcgetattr(slave, &tio) == 0);
	cfmakeraw(&tio);
	CHECK(tcsetattr(slave, TCSANOW, &tio) == 0);
	struct sbt_options opts = {slave, true, false, false};
	const char *args[] = {"--", "/probe", "tiocsti", NULL};
	struct sbt_result r;
	sbt_run_opts(&r, &opts, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "tiocsti: EPERM");
	CHECK_CONTAINS(r.out, "tiocsti-high: EPERM");
	/* On a pipe the kernel would say ENOTTY: EPERM is the filter's. */
	CHECK_CONTAINS(r.out, "tiocsti-pipe: EPERM");
	CHECK_CONTAINS(r.out, "tioclinux: EPERM");
	int flags = fcntl(slave, F_GETFL);
	fcntl(slave, F_SETFL, flags | O_NONBLOCK);
	char buf[16];
	ssize_t n = read(slave, buf, sizeof(buf));
	CHECK(n < 0 && errno == EAGAIN);
	sbt_result_free(&r);
	close(slave);
	close(master);
}

/* System calls through the i386 entry point (int $0x80) and x32 numbers
 * never run (ENOSYS from the filter, or a fault where the kernel has no
 * such entry point at all). */
TEST(system_calls_of_other_abis_do_not_run)
{
	struct sbt_result r;
	sbt_probe(&r, NULL, "abi32", NULL);
	CHECK_CONTAINS(r.out, "int80: refused");
	CHECK(!strstr(r.out, "executed"));
	CHECK_CONTAINS(r.out, "x32: ENOSYS");
	sbt_result_free(&r);
}

TEST(personality_cannot_change)
{
	SYSCALL_EXPECT("personality", "personality-query: ok", "personality-set: EPERM", "personality-high: EPERM",
		       "personality-now: 0\n");
}

TEST(capabilities_are_all_dropped)
{
	SYSCALL_EXPECT("status", "CapInh:\t0000000000000000\n", "CapPrm:\t0000000000000000\n",
		       "CapEff:\t0000000000000000\n", "CapBnd:\t0000000000000000\n", "CapAmb:\t0000000000000000\n",
		       "NoNewPrivs:\t1\n", "Seccomp:\t2\n");
}

/* The attempts above are real: without the filter they get through. */
TEST(without_the_filter_the_probes_get_through)
{
	struct {
		const char *what;   /* probe */
		const char *expect; /* what it says without the filter */
	} cases[] = {
		{"ptrace", "ptrace-attach: ok"},        {"keyctl", "keyctl: ok"},
		{"perf", "perf_event_open: ok"},        {"userfaultfd", "userfaultfd: ok"},
		{"io_uring", "io_uring_setup: ok"},     {"userns", "unshare-user: ok"},
		{"personality", "personality-set: ok"}, {"tiocsti", "tiocsti-pipe: ENOTTY"},
	};
	const char *off[] = {"--seccomp", "off", NULL};
	/* Above 2 (Debian's default is 3), the kernel refuses perf itself. */
	char *paranoid = th_read_file("/proc/sys/kernel/perf_event_paranoid");
	bool perf_open = paranoid && atoi(paranoid) <= 2;
	free(paranoid);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].what, "perf") == 0 && !perf_open)
			continue;
		const char *expect[] = {cases[i].expect, NULL};
		sbt_probe_expect(off, cases[i].what, NULL, expect);
	}
}
