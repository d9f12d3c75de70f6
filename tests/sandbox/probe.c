/* sandbox-probe: one escape attempt per subcommand, made from inside the
 * sandbox; prints "what: ok" or "what: ERRNO_NAME" lines for the tests to
 * judge. Built without sanitizers: it runs inside. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *probe_self; /* argv[0], to start more probes */

/* Prints "what: ok" when rc >= 0, else "what: ERRNAME" from errno. */
static void probe_report(const char *what, long rc)
{
	if (rc >= 0)
		printf("%s: ok\n", what);
	else
		printf("%s: %s\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
	fflush(stdout);
}

/* args[0]: an IPv4 address, args[1]: a port. */
static struct sockaddr_in probe_inet_address(char **args)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(args[1]));
	inet_pton(AF_INET, args[0], &sin.sin_addr);
	return sin;
}

static int probe_tcp(char **args)
{
	struct sockaddr_in sin = probe_inet_address(args);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	probe_report("tcp", fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sin, sizeof(sin)));
	return 0;
}

static int probe_udp(char **args)
{
	struct sockaddr_in sin = probe_inet_address(args);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	const char msg[] = "escaped";
	probe_report("udp", fd < 0 ? -1 : sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&sin, sizeof(sin)));
	return 0;
}

static int probe_resolve(char **args)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	int rc = getaddrinfo(args[0], "53", &hints, &res);
	if (rc == 0) {
		printf("resolve: ok\n");
		freeaddrinfo(res);
	} else {
		printf("resolve: failed (%s)\n", gai_strerror(rc));
	}
	return 0;
}

static int probe_unix(char **args)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	socklen_t len;
	if (args[0][0] == '@') {
		/* An abstract name: scoped by the network namespace. */
		size_t n = strlen(args[0] + 1);
		memcpy(sun.sun_path + 1, args[0] + 1, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", args[0]);
		len = sizeof(sun);
	}
	probe_report("unix", fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sun, len));
	return 0;
}

/* Creates one socket of each family a build might meet, and of the ones
 * that reach past the network namespace or only add kernel surface. */
static int probe_sockets(char **args)
{
	(void)args;
	static const struct {
		const char *name; /* what the line says */
		int family;       /* AF_* */
		int type;         /* SOCK_* */
		int protocol;     /* 0 or the family's protocol */
	} sockets[] = {
		{"unix", AF_UNIX, SOCK_STREAM, 0},           {"inet", AF_INET, SOCK_STREAM, 0},
		{"inet6", AF_INET6, SOCK_DGRAM, 0},          {"netlink", AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */},
		{"vsock", AF_VSOCK, SOCK_STREAM, 0},         {"alg", AF_ALG, SOCK_SEQPACKET, 0},
		{"bluetooth", AF_BLUETOOTH, SOCK_STREAM, 0}, {"appletalk", AF_APPLETALK, SOCK_DGRAM, 0},
	};
	for (size_t i = 0; i < sizeof(sockets) / sizeof(sockets[0]); i++) {
		long fd = socket(sockets[i].family, sockets[i].type, sockets[i].protocol);
		probe_report(sockets[i].name, fd);
		if (fd >= 0)
			close((int)fd);
	}
	/* The kernel reads the family as an int: high bits must not help. */
	long fd = syscall(SYS_socket, (1ul << 32) | AF_VSOCK, SOCK_STREAM, 0);
	probe_report("vsock-high", fd);
	return 0;
}

static int probe_interfaces(char **args)
{
	(void)args;
	struct if_nameindex *ifs = if_nameindex();
	for (struct if_nameindex *i = ifs; i && i->if_index; i++)
		printf("interface: %s\n", i->if_name);
	if_freenameindex(ifs);
	return 0;
}

static int probe_read(char **args)
{
	int fd = open(args[0], O_RDONLY);
	char buf[256];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	probe_report("read", n);
	if (n > 0) {
		buf[n] = '\0';
		printf("content: %s\n", buf);
	}
	return 0;
}

static int probe_write(char **args)
{
	int fd = open(args[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	probe_report("write", fd < 0 ? -1 : write(fd, "escaped\n", 8));
	return 0;
}

static int probe_list(char **args)
{
	DIR *d = opendir(args[0]);
	probe_report("list", d ? 0 : -1);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			printf("entry: %s\n", de->d_name);
	}
	if (d)
		closedir(d);
	return 0;
}

static int probe_ptrace(char **args)
{
	(void)args;
	pid_t sibling = fork();
	if (sibling == 0) {
		pause();
		_exit(0);
	}
	probe_report("ptrace-attach", ptrace(PTRACE_ATTACH, sibling, NULL, NULL));
	probe_report("ptrace-seize", ptrace(PTRACE_SEIZE, sibling, NULL, NULL));
	char local[8], remote_buf[8] = "secret";
	struct iovec lv = {local, sizeof(local)}, rv = {remote_buf, sizeof(remote_buf)};
	probe_report("process_vm_readv", process_vm_readv(sibling, &lv, 1, &rv, 1, 0));
	kill(sibling, SIGKILL);
	waitpid(sibling, NULL, 0);
	return 0;
}

static int probe_mount(char **args)
{
	(void)args;
	/* A missing target fails the path walk before any capability check:
	 * only seccomp answers EPERM here. */
	probe_report("mount-missing", mount("none", "/nonexistent-agentd-probe", "tmpfs", 0, NULL));
	probe_report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
	probe_report("umount", umount2("/proc", MNT_DETACH));
	probe_report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
	probe_report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/tmp", 0x1 /* OPEN_TREE_CLONE */));
	probe_report("pivot_root", syscall(SYS_pivot_root, "/nonexistent-agentd-probe", "/nonexistent-agentd-probe"));
	return 0;
}

static int probe_userns(char **args)
{
	(void)args;
	long rc = unshare(CLONE_NEWUSER);
	probe_report("unshare-user", rc);
	if (rc == 0) {
		/* Inside a new user namespace, full capabilities: what could a
		 * new mount namespace do? */
		long m = unshare(CLONE_NEWNS);
		probe_report("nested-unshare-mount", m);
		if (m == 0)
			probe_report("nested-mount", mount("none", "/tmp", "tmpfs", 0, NULL));
	}
	probe_report("unshare-net", unshare(CLONE_NEWNET));
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	probe_report("clone-user", pid);
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} args3 = {0, 0, 0, 0, SIGCHLD, 0, 0, 0};
	pid = (pid_t)syscall(SYS_clone3, &args3, sizeof(args3));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	probe_report("clone3", pid);
	int fd = open("/proc/self/ns/net", O_RDONLY);
	probe_report("setns", fd < 0 ? -1 : setns(fd, 0));
	/* Plain fork and threads keep working. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	probe_report("fork", pid);
	return 0;
}

static int probe_chroot(char **args)
{
	probe_report("chroot-missing", chroot("/nonexistent-agentd-probe"));
	mkdir("/tmp/jail", 0755);
	long rc = chroot("/tmp/jail");
	probe_report("chroot", rc);
	/* The classic escape: chroot deeper, then walk up from a cwd that is
	 * outside the new root. */
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			break;
	chroot(".");
	struct stat st;
	printf("marker: %s\n", stat(args[0], &st) == 0 ? "visible" : "absent");
	struct stat root, up;
	if (stat("/", &root) == 0 && stat("/..", &up) == 0)
		printf("root-dotdot: %s\n",
		       root.st_ino == up.st_ino && root.st_dev == up.st_dev ? "same" : "different");
	return 0;
}

static int probe_keyctl(char **args)
{
	(void)args;
	probe_report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	probe_report("add_key", syscall(SYS_add_key, "user", "agentd-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	probe_report("request_key", syscall(SYS_request_key, "user", "agentd-probe", NULL, 0));
	return 0;
}

static int probe_bpf(char **args)
{
	(void)args;
	struct bpf_insn prog[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = 2;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	probe_report("bpf-prog-load", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	probe_report("bpf-map-create", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
	return 0;
}

static int probe_perf(char **args)
{
	(void)args;
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	probe_report("perf_event_open", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
	return 0;
}

static int probe_userfaultfd(char **args)
{
	(void)args;
	probe_report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
	return 0;
}

static int probe_io_uring(char **args)
{
	(void)args;
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	probe_report("io_uring_setup", syscall(SYS_io_uring_setup, 4, &params));
	return 0;
}

static int probe_tiocsti(char **args)
{
	(void)args;
	char c = 'X';
	probe_report("tiocsti", ioctl(0, TIOCSTI, &c));
	/* The kernel reads the request as 32 bits: high bits must not help. */
	probe_report("tiocsti-high", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1ul << 32), &c));
	/* On a pipe the kernel answers ENOTTY; only the filter says EPERM. */
	int p[2];
	if (pipe(p) == 0)
		probe_report("tiocsti-pipe", ioctl(p[0], TIOCSTI, &c));
	char sub = 0;
	probe_report("tioclinux", ioctl(0, TIOCLINUX, &sub));
	return 0;
}

static int probe_abi32(char **args)
{
	(void)args;
	pid_t child = fork();
	if (child == 0) {
		long ret;
		/* getpid through the i386 entry point (nr 20 there). */
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
		printf("int80: %s (%ld)\n", ret == (long)getpid() ? "executed" : "refused", ret);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	if (WIFSIGNALED(st))
		printf("int80: refused (killed by signal %d)\n", WTERMSIG(st));
	long x32 = syscall(0x40000000L | SYS_getpid);
	printf("x32: %s\n", x32 == (long)getpid() ? "executed" : strerrorname_np(errno));
	return 0;
}

static int probe_personality(char **args)
{
	(void)args;
	probe_report("personality-query", personality(0xffffffff));
	probe_report("personality-set", personality(ADDR_NO_RANDOMIZE));
	probe_report("personality-high", syscall(SYS_personality, (1ul << 32) | ADDR_NO_RANDOMIZE));
	printf("personality-now: %#x\n", personality(0xffffffff));
	return 0;
}

static int probe_kill(char **args)
{
	probe_report("kill", kill((pid_t)atoi(args[0]), SIGKILL));
	/* Everything this probe may signal (never the caller or pid 1). */
	probe_report("kill-all", kill(-1, SIGKILL));
	return 0;
}

static int probe_procs(char **args)
{
	DIR *d = opendir("/proc");
	int count = 0;
	bool marker = false;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		count++;
		/* This probe and init carry the marker in their own command
		 * lines (agentd-sandbox's, for init): only others count. */
		int pid = atoi(de->d_name);
		if (pid == 1 || pid == (int)getpid())
			continue;
		char path[300], cmdline[4096];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, cmdline, sizeof(cmdline) - 1);
		if (fd >= 0)
			close(fd);
		for (ssize_t i = 0; i < n; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		if (n > 0) {
			cmdline[n] = '\0';
			if (strstr(cmdline, args[0]))
				marker = true;
		}
	}
	if (d)
		closedir(d);
	printf("procs: %d\nmarker: %s\n", count, marker ? "visible" : "absent");
	return 0;
}

static int probe_forkbomb(char **args)
{
	(void)args;
	int forks = 0;
	for (; forks < 100000; forks++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			pause();
			_exit(0);
		}
	}
	printf("forks: %d\nstopped: %s\n", forks, strerrorname_np(errno) ? strerrorname_np(errno) : "limit");
	fflush(stdout);
	return 0;
}

static int probe_hog(char **args)
{
	long mb = atol(args[0]);
	for (long i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("hog: ENOMEM after %ld MB\n", i);
			return 0;
		}
		memset(p, 1, 1 << 20);
	}
	printf("hog: ok\n");
	return 0;
}

static void probe_start_sleeper(const char *marker, bool new_session)
{
	if (new_session)
		setsid();
	execl(probe_self, probe_self, "sleeper", marker, (char *)NULL);
	_exit(127);
}

/* A spinning command with a double-forked child and a child in a session
 * of its own, all carrying marker in their command lines. */
static int probe_spin(char **args)
{
	if (fork() == 0)
		probe_start_sleeper(args[0], true);
	if (fork() == 0) {
		if (fork() == 0)
			probe_start_sleeper(args[0], false);
		_exit(0);
	}
	wait(NULL);
	printf("spinning\n");
	fflush(stdout);
	for (volatile unsigned long i = 0;; i++)
		;
	return 0;
}

/* Uses args[0] milliseconds of CPU time, then exits. */
static int probe_burn(char **args)
{
	long long want_ns = atoll(args[0]) * 1000000LL;
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		if ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec >= want_ns)
			break;
	}
	printf("burned %s ms\n", args[0]);
	return 0;
}

/* Runs args[0] children one after the other, each burning args[1] ms of
 * CPU time, with SIGCHLD ignored: the kernel reaps them itself, and their
 * time is added to no parent's. */
static int probe_burn_unreaped(char **args)
{
	signal(SIGCHLD, SIG_IGN);
	int children = atoi(args[0]);
	for (int i = 0; i < children; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *burn_args[] = {args[1], NULL};
			probe_burn(burn_args);
			_exit(0);
		}
		/* Returns once the child is gone (ECHILD: nothing to reap). */
		while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	printf("all burned\n");
	return 0;
}

static int probe_sleeper(char **args)
{
	(void)args;
	for (;;)
		pause();
	return 0;
}

/* Leaves sleepers behind and exits at once. */
static int probe_background(char **args)
{
	if (fork() == 0)
		probe_start_sleeper(args[0], true);
	printf("left behind\n");
	return 0;
}

static int probe_flood(char **args)
{
	long long bytes = atoll(args[0]);
	char buf[65536];
	memset(buf, 'x', sizeof(buf));
	fputs("HEAD-MARK\n", stdout);
	for (long long done = 0; done < bytes; done += (long long)sizeof(buf))
		fwrite(buf, 1, bytes - done < (long long)sizeof(buf) ? (size_t)(bytes - done) : sizeof(buf), stdout);
	fputs("\nTAIL-MARK\n", stdout);
	return 0;
}

static int probe_fill(char **args)
{
	signal(SIGXFSZ, SIG_IGN);
	long mb = atol(args[1]);
	int fd = open(args[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		probe_report("fill-open", -1);
		return 0;
	}
	static char chunk[1 << 20];
	memset(chunk, 'z', sizeof(chunk));
	long long written = 0;
	for (long i = 0; i < mb; i++) {
		ssize_t n = write(fd, chunk, sizeof(chunk));
		if (n < 0) {
			printf("fill: stopped %s after %lld bytes\n", strerrorname_np(errno), written);
			return 0;
		}
		written += n;
		if (n < (ssize_t)sizeof(chunk)) {
			n = write(fd, chunk, sizeof(chunk));
			printf("fill: stopped %s after %lld bytes\n", n < 0 ? strerrorname_np(errno) : "short",
			       written);
			return 0;
		}
	}
	printf("fill: ok %lld bytes\n", written);
	return 0;
}

/* Creates up to args[1] empty files in args[0]. */
static int probe_files(char **args)
{
	long max = atol(args[1]);
	for (long i = 0; i < max; i++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/f%ld", args[0], i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			printf("files: stopped %s after %ld\n", strerrorname_np(errno), i);
			return 0;
		}
		close(fd);
	}
	printf("files: ok %ld\n", max);
	return 0;
}

/* Real-time scheduling and a higher priority: a real-time spinner on
 * every core leaves the host a few percent of its CPUs. */
static int probe_sched(char **args)
{
	(void)args;
	struct sched_param param = {.sched_priority = 1};
	probe_report("sched-fifo", sched_setscheduler(0, SCHED_FIFO, &param));
	probe_report("nice-up", setpriority(PRIO_PROCESS, 0, -5));
	return 0;
}

static int probe_ids(char **args)
{
	(void)args;
	gid_t groups[64];
	int n = getgroups(64, groups);
	printf("uid: %d\neuid: %d\ngid: %d\negid: %d\ngroups:", (int)getuid(), (int)geteuid(), (int)getgid(),
	       (int)getegid());
	for (int i = 0; i < n; i++)
		printf(" %d", (int)groups[i]);
	printf("\n");
	return 0;
}

static int probe_status(char **args)
{
	(void)args;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Cap", 3) == 0 || strncmp(line, "NoNewPrivs", 10) == 0 ||
		    strncmp(line, "Seccomp:", 8) == 0)
			fputs(line, stdout);
	}
	if (f)
		fclose(f);
	return 0;
}

static int probe_fds(char **args)
{
	(void)args;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		char path[300], target[512];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("fd: %s -> %s\n", de->d_name, target);
	}
	if (d)
		closedir(d);
	return 0;
}

static int probe_hostname(char **args)
{
	(void)args;
	struct utsname u;
	uname(&u);
	printf("hostname: %s\n", u.nodename);
	probe_report("sethostname", sethostname("escaped", 7));
	return 0;
}

static int probe_ipc(char **args)
{
	key_t key = (key_t)atoi(args[0]);
	probe_report("shmget", shmget(key, 0, 0));
	probe_report("msgget", msgget(key, 0));
	return 0;
}

static int probe_env(char **args)
{
	(void)args;
	extern char **environ;
	for (char **e = environ; *e; e++)
		printf("env: %s\n", *e);
	return 0;
}

static const struct {
	const char *name; /* subcommand */
	int nargs;        /* arguments it takes */
	int (*fn)(char **args);
} probe_commands[] = {
	{"tcp", 2, probe_tcp},
	{"udp", 2, probe_udp},
	{"resolve", 1, probe_resolve},
	{"unix", 1, probe_unix},
	{"sockets", 0, probe_sockets},
	{"interfaces", 0, probe_interfaces},
	{"read", 1, probe_read},
	{"write", 1, probe_write},
	{"list", 1, probe_list},
	{"ptrace", 0, probe_ptrace},
	{"mount", 0, probe_mount},
	{"userns", 0, probe_userns},
	{"chroot", 1, probe_chroot},
	{"keyctl", 0, probe_keyctl},
	{"bpf", 0, probe_bpf},
	{"perf", 0, probe_perf},
	{"userfaultfd", 0, probe_userfaultfd},
	{"io_uring", 0, probe_io_uring},
	{"tiocsti", 0, probe_tiocsti},
	{"abi32", 0, probe_abi32},
	{"personality", 0, probe_personality},
	{"kill", 1, probe_kill},
	{"procs", 1, probe_procs},
	{"forkbomb", 0, probe_forkbomb},
	{"hog", 1, probe_hog},
	{"spin", 1, probe_spin},
	{"sleeper", 1, probe_sleeper},
	{"burn", 1, probe_burn},
	{"burn-unreaped", 2, probe_burn_unreaped},
	{"background", 1, probe_background},
	{"flood", 1, probe_flood},
	{"fill", 2, probe_fill},
	{"files", 2, probe_files},
	{"sched", 0, probe_sched},
	{"ids", 0, probe_ids},
	{"status", 0, probe_status},
	{"fds", 0, probe_fds},
	{"hostname", 0, probe_hostname},
	{"ipc", 1, probe_ipc},
	{"env", 0, probe_env},
};

int main(int argc, char **argv)
{
	probe_self = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc >= 2 && i < sizeof(probe_commands) / sizeof(probe_commands[0]); i++) {
		if (strcmp(argv[1], probe_commands[i].name) == 0) {
			if (argc - 2 != probe_commands[i].nargs) {
				fprintf(stderr, "sandbox-probe %s: expects %d arguments\n", argv[1],
					probe_commands[i].nargs);
				return 2;
			}
			return probe_commands[i].fn(&argv[2]);
		}
	}
	fprintf(stderr, "usage: sandbox-probe COMMAND [ARGS]\n");
	return 2;
}
