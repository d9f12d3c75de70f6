/* Escape attempts through the network: the host's loopback (TCP, UDP,
 * DNS), unix sockets by path and abstract name. Each listener is real and
 * must see nothing. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* Attempt what (tcp or udp) at a real listener on the host's loopback:
 * the attempt fails, and nothing reaches the listener. */
static void net_expect_unreachable(int type, const char *what, const char *expect)
{
	int port;
	int fd = sbt_listen_inet(type, &port);
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", port);
	const char *args[] = {"--", "/probe", what, "127.0.0.1", port_text, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, expect);
	CHECK(!sbt_has_visitor(fd));
	sbt_result_free(&r);
	close(fd);
}

TEST(tcp_to_host_loopback_is_unreachable)
{
	net_expect_unreachable(SOCK_STREAM, "tcp", "tcp: E");
}

TEST(udp_to_host_loopback_is_unreachable)
{
	net_expect_unreachable(SOCK_DGRAM, "udp", "udp: E");
}

/* The resolver is pointed at a name server the test runs on the host's
 * loopback (as root, port 53 can be ours): the query must not reach it. */
TEST(dns_does_not_reach_a_host_resolver)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(53);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool listening = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (!listening)
		fprintf(stderr, "note: cannot listen on 127.0.0.1:53 (%s); checking resolution alone\n",
			strerror(errno));
	const char *conf = sbt_shared_file(sbt_shared_dir(), "resolv.conf",
					   "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
	const char *args[] = {"--ro-bind", conf,      "/etc/resolv.conf",          "--",
			      "/probe",    "resolve", "agentd-escape.example.com", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "resolve: failed");
	if (listening)
		CHECK(!sbt_has_visitor(fd));
	sbt_result_free(&r);
	if (fd >= 0)
		close(fd);
}

/* A network namespace does not stop a unix socket reached by path: the
 * daemon's own socket and the system bus live under /run, which is empty. */
TEST(unix_socket_under_run_is_out_of_sight)
{
	if (!sbt_is_root()) {
		fprintf(stderr, "note: not root, /run is not writable; checking that /run is empty instead\n");
		struct sbt_result r;
		sbt_probe(&r, NULL, "list", "/run");
		CHECK(!strstr(r.out, "entry:"));
		sbt_result_free(&r);
		return;
	}
	char path[108];
	snprintf(path, sizeof(path), "/run/agentd-test-%d.sock", (int)getpid());
	int fd = sbt_listen_unix(path);
	const char *args[] = {"--", "/probe", "unix", path, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	unlink(path);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "unix: ENOENT");
	CHECK(!sbt_has_visitor(fd));
	sbt_result_free(&r);
	close(fd);
}

TEST(abstract_unix_socket_is_unreachable)
{
	char name[108];
	snprintf(name, sizeof(name), "@agentd-test-%d", (int)getpid());
	int fd = sbt_listen_unix(name);
	const char *args[] = {"--", "/probe", "unix", name, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "unix: ECONNREFUSED");
	CHECK(!sbt_has_visitor(fd));
	sbt_result_free(&r);
	close(fd);
}

TEST(only_a_loopback_interface_exists)
{
	struct sbt_result r;
	sbt_probe(&r, NULL, "interfaces", NULL);
	CHECK_CONTAINS(r.out, "interface: lo\n");
	CHECK(strstr(r.out, "interface:") == strstr(r.out, "interface: lo\n"));
	CHECK(!strstr(strstr(r.out, "interface: lo\n") + 1, "interface:"));
	sbt_result_free(&r);
}

/* --net loopback: the sandbox's own loopback is up (a refused connection,
 * not an unreachable network), and it is not the host's. */
TEST(loopback_mode_is_private)
{
	int port;
	int fd = sbt_listen_inet(SOCK_STREAM, &port);
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%d", port);
	const char *args[] = {"--net", "loopback", "--", "/probe", "tcp", "127.0.0.1", port_text, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "tcp: ECONNREFUSED");
	CHECK(!sbt_has_visitor(fd));
	sbt_result_free(&r);
	close(fd);
}

/* A network namespace does not hold vsock (before Linux 7.0): a vsock
 * socket reaches the hypervisor and the other guests of a virtual machine
 * from any namespace. Families a build never uses fail with EPERM from the
 * filter (a kernel without the family would say EAFNOSUPPORT); the ones it
 * does use keep working. */
TEST(socket_families_past_the_namespace_are_refused)
{
	const char *expect[] = {"unix: ok",          "inet: ok",   "inet6: ok",        "netlink: ok",
				"vsock: EPERM",      "alg: EPERM", "bluetooth: EPERM", "appletalk: EPERM",
				"vsock-high: EPERM", NULL};
	sbt_probe_expect(NULL, "sockets", NULL, expect);
	/* Where this machine has vsock, it is the filter that refuses it. */
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "note: no vsock on this machine (%s)\n", strerror(errno));
		return;
	}
	close(fd);
	const char *off[] = {"--seccomp", "off", NULL};
	const char *open_expect[] = {"vsock: ok", NULL};
	sbt_probe_expect(off, "sockets", NULL, open_expect);
}
