/* Who the sandbox runs as: exactly one uid and gid mapped, the command's,
 * to themselves on the host (never host root, whose files would then be
 * readable through any read-only bind), and no capability in any set. */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Highest capability number any kernel may know; the bounding-set loop
 * stops at the first the running kernel rejects. */
#define IDENTITY_CAP_MAX 63

static int identity_write_file(pid_t pid, const char *name, const char *text, char *err, size_t errlen)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	if (w < 0)
		rc = -errno;
	else if ((size_t)w != len)
		rc = -EIO;
	close(fd);
	if (rc == 0)
		return 0;
fail:
	snprintf(err, errlen, "write %s (\"%.*s\"): %s", name, (int)strcspn(text, "\n"), text, strerror(-rc));
	return rc;
}

int identity_write_maps(const struct sandbox_run *run, pid_t pid, char *err, size_t errlen)
{
	char map[64];
	int rc;
	/* Without CAP_SETGID on the host, the kernel only takes a gid map once
	 * setgroups(2) is switched off for the namespace. */
	if (!run->privileged && (rc = identity_write_file(pid, "setgroups", "deny", err, errlen)) < 0)
		return rc;
	snprintf(map, sizeof(map), "%u %u 1\n", run->uid, run->uid);
	if ((rc = identity_write_file(pid, "uid_map", map, err, errlen)) < 0)
		return rc;
	snprintf(map, sizeof(map), "%u %u 1\n", run->gid, run->gid);
	return identity_write_file(pid, "gid_map", map, err, errlen);
}

void identity_use_fs_ids(const struct sandbox_run *run)
{
	/* setfsuid reports the previous id, never an error: check by asking. */
	setfsgid(run->gid);
	setfsuid(run->uid);
	if ((uint32_t)setfsgid((gid_t)-1) != run->gid || (uint32_t)setfsuid((uid_t)-1) != run->uid)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, EPERM, "setfsuid %u/setfsgid %u", run->uid, run->gid);
}

void identity_become(const struct sandbox_run *run)
{
	int fd = run->err_fd;
	/* Supplementary groups (root's own, say) must not follow the command
	 * in. Unprivileged, setgroups is denied and the caller's are kept:
	 * they are the caller's own rights, mapped to nobody inside. */
	if (run->privileged && setgroups(0, NULL) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "setgroups");
	if (setresgid(run->gid, run->gid, run->gid) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "setresgid %u", run->gid);
	/* The bounding set caps what any later exec (file capabilities
	 * included) could grant; dropping it needs CAP_SETPCAP, so it goes
	 * before the uid change and the capset below. */
	for (int cap = 0; cap <= IDENTITY_CAP_MAX; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "drop capability %d from the bounding set", cap);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "clear ambient capabilities");
	unsigned long securebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
				   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
				   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, securebits, 0, 0, 0) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "lock securebits");
	if (setresuid(run->uid, run->uid, run->uid) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "setresuid %u", run->uid);
	struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &header, data) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "drop capabilities (capset)");
	/* Trust, but verify: nothing may be left in any set. */
	if (syscall(SYS_capget, &header, data) < 0)
		errpipe_fail(fd, SANDBOX_EXIT_SETUP, errno, "capget");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			errpipe_fail(fd, SANDBOX_EXIT_SETUP, 0, "drop capabilities: some are left");
	}
}
