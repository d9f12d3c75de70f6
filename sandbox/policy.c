/* The seccomp policy (libseccomp), a deny list whose every rule POLICY.md
 * explains: compiled by the supervisor while init builds the sandbox,
 * installed by the command right before exec. */
#include "sandbox/internal.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/xalloc.h"

#define POLICY_MAX_RULES 1024
#define POLICY_MAX_LINE 256

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* The unconditional rules of the default policy. */
static const struct policy_rule policy_builtin[] = {
	/* Reaching into other processes. */
	{"ptrace", EPERM},
	{"process_vm_readv", EPERM},
	{"process_vm_writev", EPERM},
	{"process_madvise", EPERM},
	{"pidfd_getfd", EPERM},
	{"kcmp", EPERM},
	/* Changing what the file system looks like. */
	{"mount", EPERM},
	{"umount2", EPERM},
	{"pivot_root", EPERM},
	{"chroot", EPERM},
	{"fsopen", EPERM},
	{"fsconfig", EPERM},
	{"fsmount", EPERM},
	{"fspick", EPERM},
	{"move_mount", EPERM},
	{"open_tree", EPERM},
	{"mount_setattr", EPERM},
	/* Joining namespaces; clone3's flags live in memory seccomp cannot
	 * read, so it reports ENOSYS and libc falls back to clone. */
	{"setns", EPERM},
	{"clone3", ENOSYS},
	/* Kernel surfaces with a history of privilege escalations. */
	{"bpf", EPERM},
	{"perf_event_open", EPERM},
	{"userfaultfd", EPERM},
	{"io_uring_setup", EPERM},
	{"io_uring_enter", EPERM},
	{"io_uring_register", EPERM},
	{"keyctl", EPERM},
	{"add_key", EPERM},
	{"request_key", EPERM},
	/* Whole-machine operations. */
	{"kexec_load", EPERM},
	{"kexec_file_load", EPERM},
	{"init_module", EPERM},
	{"finit_module", EPERM},
	{"delete_module", EPERM},
	{"reboot", EPERM},
	{"swapon", EPERM},
	{"swapoff", EPERM},
	{"settimeofday", EPERM},
	{"clock_settime", EPERM},
	{"adjtimex", EPERM},
	{"clock_adjtime", EPERM},
	{"acct", EPERM},
	{"quotactl", EPERM},
	{"quotactl_fd", EPERM},
	{"iopl", EPERM},
	{"ioperm", EPERM},
	{"uselib", EPERM},
	{"lookup_dcookie", EPERM},
	/* File handles bypass the path walk (and with it every bind and mask). */
	{"open_by_handle_at", EPERM},
	{"name_to_handle_at", EPERM},
};

#define POLICY_BUILTIN_COUNT (sizeof(policy_builtin) / sizeof(policy_builtin[0]))

/* Namespace flags that unshare and clone may not carry. */
static const unsigned long policy_namespace_flags[] = {
	CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME,
};

/* The socket families a build or a test suite uses: local sockets, IP on
 * the namespace's own loopback, and netlink (getaddrinfo and ip ask the
 * kernel about interfaces through it). Every other family is refused:
 * vsock reaches the hypervisor and the other guests whatever the network
 * namespace, and the rest is kernel code no build needs. */
static const int policy_socket_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

/* ioctls that push input into a terminal (TIOCSTI) or drive the console
 * (TIOCLINUX): compared on the low 32 bits, as the kernel reads them. */
static const unsigned long policy_denied_ioctls[] = {TIOCSTI, TIOCLINUX};

/* Errno names a policy file may use. */
static int policy_errno_from_name(const char *name)
{
	for (int e = 1; e < 4096; e++) {
		const char *known = strerrorname_np(e);
		if (known && strcmp(known, name) == 0)
			return e;
	}
	char *end;
	long n = strtol(name, &end, 10);
	if (*name && !*end && n > 0 && n < 4096)
		return (int)n;
	return -1;
}

/* True when a policy file already has a rule for name: its rule wins over
 * the built-in one. */
static bool policy_file_has(const struct policy *policy, const char *name)
{
	for (size_t i = 0; i < policy->rule_count; i++) {
		if (strcmp(policy->rules[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Parses one line of a policy file into policy. */
static int policy_parse_line(struct policy *policy, char *line, char *err, size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *save = NULL;
	char *name = strtok_r(line, " \t\r\n", &save);
	if (!name)
		return 0;
	char *errno_name = strtok_r(NULL, " \t\r\n", &save);
	if (strtok_r(NULL, " \t\r\n", &save)) {
		snprintf(err, errlen, "expected \"SYSCALL [ERRNO]\"");
		return -EINVAL;
	}
	if (strcmp(name, "@default") == 0) {
		if (errno_name) {
			snprintf(err, errlen, "@default takes no errno");
			return -EINVAL;
		}
		policy->builtin = true;
		return 0;
	}
	if (strlen(name) >= sizeof(policy->rules[0].name) || seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR) {
		snprintf(err, errlen, "unknown system call \"%s\"", name);
		return -EINVAL;
	}
	if (policy_file_has(policy, name)) {
		snprintf(err, errlen, "a second rule for \"%s\"", name);
		return -EINVAL;
	}
	int errno_value = errno_name ? policy_errno_from_name(errno_name) : EPERM;
	if (errno_value < 0) {
		snprintf(err, errlen, "unknown errno \"%s\"", errno_name);
		return -EINVAL;
	}
	if (policy->rule_count == POLICY_MAX_RULES) {
		snprintf(err, errlen, "more than %d rules", POLICY_MAX_RULES);
		return -EINVAL;
	}
	struct policy_rule *rule = &policy->rules[policy->rule_count++];
	snprintf(rule->name, sizeof(rule->name), "%s", name);
	rule->errno_value = errno_value;
	return 0;
}

/* Reads a policy file: "SYSCALL [ERRNO]" lines, "@default" for the
 * built-in rules, '#' comments. */
static int policy_read_file(struct policy *policy, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int rc = -errno;
		snprintf(err, errlen, "--seccomp %s: %s", path, strerror(errno));
		return rc;
	}
	policy->rules = xcalloc(POLICY_MAX_RULES, sizeof(*policy->rules));
	char line[POLICY_MAX_LINE + 2];
	char why[200];
	int rc = 0;
	for (unsigned lineno = 1; fgets(line, sizeof(line), f); lineno++) {
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "--seccomp %s:%u: line longer than %d bytes", path, lineno,
				 POLICY_MAX_LINE);
			rc = -EINVAL;
			break;
		}
		if ((rc = policy_parse_line(policy, line, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "--seccomp %s:%u: %s", path, lineno, why);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "--seccomp %s: read error", path);
	}
	fclose(f);
	return rc;
}

int policy_new(const struct sandbox_config *cfg, struct policy **out, char *err, size_t errlen)
{
	*out = NULL;
	if (cfg->seccomp == SANDBOX_SECCOMP_OFF)
		return 0;
	struct policy *policy = xcalloc(1, sizeof(*policy));
	if (cfg->seccomp == SANDBOX_SECCOMP_DEFAULT) {
		policy->builtin = true;
	} else {
		int rc = policy_read_file(policy, cfg->seccomp_file, err, errlen);
		if (rc < 0) {
			policy_free(policy);
			return rc;
		}
	}
	*out = policy;
	return 0;
}

void policy_free(struct policy *policy)
{
	if (!policy)
		return;
	free(policy->rules);
	free(policy);
}

/* Adds "name fails with errno_value"; names that do not exist on this
 * architecture are skipped (libseccomp resolves them to negative numbers). */
static int policy_add(scmp_filter_ctx ctx, const char *name, int errno_value, unsigned count,
		      const struct scmp_arg_cmp *cmp, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		snprintf(err, errlen, "seccomp: unknown system call %s", name);
		return -EINVAL;
	}
	if (nr < 0)
		return 0;
	int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((unsigned)errno_value), nr, count, cmp);
	if (rc < 0)
		snprintf(err, errlen, "seccomp: rule for %s: %s", name, strerror(-rc));
	return rc;
}

/* socket: EPERM for every family but policy_socket_families. The kernel
 * reads the family as an int: each known family is compared on its low 32
 * bits, and anything from AF_MAX up (a family of a newer kernel, or a
 * number with high bits set) is refused as a whole. */
static int policy_add_socket_families(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	int rc;
	for (int family = 0; family < AF_MAX; family++) {
		bool allowed = false;
		for (size_t i = 0; i < sizeof(policy_socket_families) / sizeof(policy_socket_families[0]); i++)
			allowed |= policy_socket_families[i] == family;
		if (allowed)
			continue;
		struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)family);
		if ((rc = policy_add(ctx, "socket", EPERM, 1, &cmp, err, errlen)) < 0)
			return rc;
	}
	struct scmp_arg_cmp beyond = SCMP_A0(SCMP_CMP_GE, AF_MAX);
	return policy_add(ctx, "socket", EPERM, 1, &beyond, err, errlen);
}

static int policy_add_builtin(const struct policy *policy, scmp_filter_ctx ctx, char *err, size_t errlen)
{
	int rc;
	for (size_t i = 0; i < POLICY_BUILTIN_COUNT; i++) {
		if (policy_file_has(policy, policy_builtin[i].name))
			continue;
		rc = policy_add(ctx, policy_builtin[i].name, policy_builtin[i].errno_value, 0, NULL, err, errlen);
		if (rc < 0)
			return rc;
	}
	/* unshare and clone: refused when any namespace flag is set. One rule
	 * per flag, since rules on one call are alternatives. */
	for (size_t i = 0; i < sizeof(policy_namespace_flags) / sizeof(policy_namespace_flags[0]); i++) {
		struct scmp_arg_cmp cmp =
			SCMP_A0(SCMP_CMP_MASKED_EQ, policy_namespace_flags[i], policy_namespace_flags[i]);
		if (!policy_file_has(policy, "unshare") &&
		    (rc = policy_add(ctx, "unshare", EPERM, 1, &cmp, err, errlen)) < 0)
			return rc;
		if (!policy_file_has(policy, "clone") &&
		    (rc = policy_add(ctx, "clone", EPERM, 1, &cmp, err, errlen)) < 0)
			return rc;
	}
	if (!policy_file_has(policy, "socket") && (rc = policy_add_socket_families(ctx, err, errlen)) < 0)
		return rc;
	/* The kernel reads an ioctl request as 32 bits: compare only those,
	 * or TIOCSTI | 1 << 32 would slip through. */
	for (size_t i = 0; i < sizeof(policy_denied_ioctls) / sizeof(policy_denied_ioctls[0]); i++) {
		struct scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, policy_denied_ioctls[i]);
		if (!policy_file_has(policy, "ioctl") &&
		    (rc = policy_add(ctx, "ioctl", EPERM, 1, &cmp, err, errlen)) < 0)
			return rc;
	}
	/* personality: only the query (0xffffffff) is allowed; any change
	 * (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...) fails. */
	struct scmp_arg_cmp query = SCMP_A0(SCMP_CMP_NE, 0xffffffffu);
	if (policy_file_has(policy, "personality"))
		return 0;
	return policy_add(ctx, "personality", EPERM, 1, &query, err, errlen);
}

int policy_compile(const struct policy *policy, int fd, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	/* Only the native ABI is in the filter; calls through any other one
	 * (int $0x80, x32) take this action. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS))) < 0) {
		snprintf(err, errlen, "seccomp: bad-architecture action: %s", strerror(-rc));
		goto out;
	}
	/* Errors of the system (EPIPE from a reader gone) as they are. */
	seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	for (size_t i = 0; i < policy->rule_count; i++) {
		rc = policy_add(ctx, policy->rules[i].name, policy->rules[i].errno_value, 0, NULL, err, errlen);
		if (rc < 0)
			goto out;
	}
	if (policy->builtin && (rc = policy_add_builtin(policy, ctx, err, errlen)) < 0)
		goto out;
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
		snprintf(err, errlen, "seccomp: export the filter: %s", strerror(-rc));
out:
	seccomp_release(ctx);
	return rc;
}

/* The kernel's limit on one filter. */
#define POLICY_MAX_INSNS 4096

int policy_program_read(struct policy_program *prog, int fd)
{
	/* One instruction of room past the limit tells "too long" apart. */
	size_t cap = (POLICY_MAX_INSNS + 1) * sizeof(struct sock_filter), len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			free(buf);
			return -E2BIG;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > POLICY_MAX_INSNS) {
		free(buf);
		return -EPROTO;
	}
	prog->insns = buf;
	prog->count = len / sizeof(struct sock_filter);
	return 0;
}

int policy_program_install(const struct policy_program *prog)
{
	struct sock_fprog fprog = {(unsigned short)prog->count, prog->insns};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
		return -errno;
	return 0;
}
