/* Escape attempts through the kernel's interfaces: ptrace, namespaces,
 * keyrings, bpf, perf, userfaultfd, io_uring, terminal injection, other
 * ABIs, personality, capabilities. The last test shows that the probe
 * does get through with --seccomp off, so that the ones before are not
 * passing for another reason. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

static void syscall_probe(struct sbt_result *r, const char *seccomp, const char *what)
{
	const char *args[] = {"--seccomp", seccomp, "--", "/probe", what, NULL};
	sbt_run(r, args, 30000);
	sbt_expect_ok(r);
}

TEST(ptrace_of_a_sibling_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "ptrace");
	CHECK_CONTAINS(r.out, "ptrace-attach: EPERM");
	CHECK_CONTAINS(r.out, "ptrace-seize: EPERM");
	CHECK_CONTAINS(r.out, "process_vm_readv: EPERM");
	sbt_result_free(&r);
}

TEST(new_user_namespace_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "userns");
	CHECK_CONTAINS(r.out, "unshare-user: EPERM");
	CHECK_CONTAINS(r.out, "unshare-net: EPERM");
	CHECK_CONTAINS(r.out, "clone-user: EPERM");
	CHECK_CONTAINS(r.out, "clone3: ENOSYS");
	CHECK_CONTAINS(r.out, "setns: EPERM");
	CHECK(!strstr(r.out, "nested-mount"));
	/* What the filter leaves alone still works. */
	CHECK_CONTAINS(r.out, "fork: ok");
	sbt_result_free(&r);
}

TEST(keyctl_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "keyctl");
	CHECK_CONTAINS(r.out, "keyctl: EPERM");
	CHECK_CONTAINS(r.out, "add_key: EPERM");
	CHECK_CONTAINS(r.out, "request_key: EPERM");
	sbt_result_free(&r);
}

TEST(bpf_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "bpf");
	CHECK_CONTAINS(r.out, "bpf-prog-load: EPERM");
	CHECK_CONTAINS(r.out, "bpf-map-create: EPERM");
	sbt_result_free(&r);
}

TEST(perf_event_open_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "perf");
	CHECK_CONTAINS(r.out, "perf_event_open: EPERM");
	sbt_result_free(&r);
}

TEST(userfaultfd_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "userfaultfd");
	CHECK_CONTAINS(r.out, "userfaultfd: EPERM");
	sbt_result_free(&r);
}

TEST(io_uring_setup_is_refused)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "io_uring");
	CHECK_CONTAINS(r.out, "io_uring_setup: EPERM");
	sbt_result_free(&r);
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
	syscall_probe(&r, "default", "abi32");
	CHECK_CONTAINS(r.out, "int80: refused");
	CHECK(!strstr(r.out, "executed"));
	CHECK_CONTAINS(r.out, "x32: ENOSYS");
	sbt_result_free(&r);
}

TEST(personality_cannot_change)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "personality");
	CHECK_CONTAINS(r.out, "personality-query: ok");
	CHECK_CONTAINS(r.out, "personality-set: EPERM");
	CHECK_CONTAINS(r.out, "personality-high: EPERM");
	CHECK_CONTAINS(r.out, "personality-now: 0\n");
	sbt_result_free(&r);
}

TEST(capabilities_are_all_dropped)
{
	struct sbt_result r;
	syscall_probe(&r, "default", "status");
	const char *sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	for (size_t i = 0; i < 5; i++) {
		char line[64];
		snprintf(line, sizeof(line), "%s:\t0000000000000000\n", sets[i]);
		CHECK_CONTAINS(r.out, line);
	}
	CHECK_CONTAINS(r.out, "NoNewPrivs:\t1\n");
	CHECK_CONTAINS(r.out, "Seccomp:\t2\n");
	sbt_result_free(&r);
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
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbt_result r;
		syscall_probe(&r, "off", cases[i].what);
		CHECK_CONTAINS(r.out, cases[i].expect);
		sbt_result_free(&r);
	}
}
