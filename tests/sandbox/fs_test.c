/* Escape attempts through the file system: the host's secrets, writes to
 * the read-only root, planted symlinks, chroot tricks, mount, setuid, and
 * what /dev and --rootfs show. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

/* A temporary directory under parent (removed after the test), open to
 * everyone. */
static const char *fs_tempdir_in(const char *parent)
{
	const char *saved = getenv("TMPDIR");
	char *restore = saved ? xstrdup(saved) : NULL;
	setenv("TMPDIR", parent, 1);
	const char *dir = th_tempdir();
	if (restore) {
		setenv("TMPDIR", restore, 1);
		free(restore);
	} else {
		unsetenv("TMPDIR");
	}
	chmod(dir, 0777);
	return dir;
}

/* A directory the sandbox would see if nothing hid it (/var/tmp is part of
 * the read-only root, unlike /tmp), holding a readable file "secret". */
static const char *fs_visible_secret_dir(void)
{
	const char *dir = fs_tempdir_in("/var/tmp");
	chmod(dir, 0755);
	sbt_shared_file(dir, "secret", "the secret\n");
	return dir;
}

static bool fs_host_has_entries(const char *path)
{
	DIR *d = opendir(path);
	bool any = false;
	struct dirent *de;
	while (d && !any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	if (d)
		closedir(d);
	return any;
}

TEST(root_home_is_empty)
{
	char marker[64] = "";
	if (sbt_is_root() && !fs_host_has_entries("/root")) {
		snprintf(marker, sizeof(marker), "/root/.agentd-test-%d", (int)getpid());
		th_write_file(marker, "root's secret\n");
	}
	CHECK(!sbt_is_root() || fs_host_has_entries("/root"));
	struct sbt_result r;
	sbt_probe(&r, NULL, "list", "/root");
	if (marker[0])
		unlink(marker);
	CHECK_CONTAINS(r.out, "list: ok");
	CHECK(!strstr(r.out, "entry:"));
	sbt_result_free(&r);
}

TEST(run_home_and_var_run_are_empty)
{
	const char *dirs[] = {"/run", "/var/run", "/home"};
	for (size_t i = 0; i < 3; i++) {
		struct sbt_result r;
		sbt_probe(&r, NULL, "list", dirs[i]);
		CHECK_CONTAINS(r.out, "list: ok");
		if (strstr(r.out, "entry:"))
			th_fail(__FILE__, __LINE__, "%s is not empty inside: %s", dirs[i], r.out);
		sbt_result_free(&r);
	}
}

/* /etc/shadow is root's (mode 0640, group shadow): a sandbox mapped onto
 * host root, or keeping root's groups, would read it. */
TEST(etc_shadow_is_unreadable)
{
	struct stat st;
	CHECK(stat("/etc/shadow", &st) == 0);
	CHECK((st.st_mode & 0004) == 0);
	struct sbt_result r;
	sbt_probe(&r, NULL, "read", "/etc/shadow");
	CHECK_CONTAINS(r.out, "read: EACCES");
	CHECK(!strstr(r.out, "content:"));
	sbt_result_free(&r);
}

TEST(hidden_path_is_empty)
{
	const char *dir = fs_visible_secret_dir();
	char secret[300];
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	/* Visible without --hide: the attempt below would find it. */
	struct sbt_result r;
	sbt_probe(&r, NULL, "read", secret);
	CHECK_CONTAINS(r.out, "content: the secret");
	sbt_result_free(&r);

	const char *hide_dir[] = {"--hide", dir, NULL};
	sbt_probe(&r, hide_dir, "read", secret);
	CHECK_CONTAINS(r.out, "read: ENOENT");
	sbt_result_free(&r);
	sbt_probe(&r, hide_dir, "list", dir);
	CHECK(!strstr(r.out, "entry:"));
	sbt_result_free(&r);

	const char *hide_file[] = {"--hide", secret, NULL};
	sbt_probe(&r, hide_file, "read", secret);
	CHECK(!strstr(r.out, "the secret"));
	sbt_result_free(&r);
}

/* As root, the attempt goes into a directory under parent that the
 * sandbox's user may write on the host, so that only the read-only bind
 * stops it; otherwise straight into parent. */
static void fs_expect_write_refused(const char *parent)
{
	char path[400];
	if (sbt_is_root())
		snprintf(path, sizeof(path), "%s/agentd-escape-probe", fs_tempdir_in(parent));
	else
		snprintf(path, sizeof(path), "%s/agentd-escape-probe-%d", parent, (int)getpid());
	struct sbt_result r;
	sbt_probe(&r, NULL, "write", path);
	if (sbt_is_root())
		CHECK_CONTAINS(r.out, "write: EROFS");
	else
		CHECK(strstr(r.out, "write: EROFS") || strstr(r.out, "write: EACCES"));
	struct stat st;
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	sbt_result_free(&r);
}

TEST(write_to_usr_is_refused)
{
	fs_expect_write_refused("/usr/local");
}

TEST(write_to_etc_is_refused)
{
	fs_expect_write_refused("/etc");
}

/* The new root is a tmpfs of the sandbox's (its user owns it): only its
 * being read-only stops the write. */
TEST(write_to_root_directory_is_refused)
{
	struct sbt_result r;
	sbt_probe(&r, NULL, "write", "/agentd-escape-probe");
	CHECK_CONTAINS(r.out, "write: EROFS");
	sbt_result_free(&r);
	struct stat st;
	CHECK(stat("/agentd-escape-probe", &st) < 0 && errno == ENOENT);
}

/* Symlinks planted in the workspace resolve inside the sandbox, where the
 * host paths they name do not exist. */
TEST(symlink_in_workspace_does_not_reach_the_host)
{
	const char *ws = sbt_workspace();
	const char *secret = sbt_shared_file(sbt_shared_dir(), "secret", "host secret\n");
	char link[300], relative[600];
	snprintf(link, sizeof(link), "%s/absolute", ws);
	CHECK(symlink(secret, link) == 0);
	snprintf(relative, sizeof(relative), "../../../../../../..%s", secret);
	snprintf(link, sizeof(link), "%s/relative", ws);
	CHECK(symlink(relative, link) == 0);
	snprintf(link, sizeof(link), "%s/shadow", ws);
	CHECK(symlink("/etc/shadow", link) == 0);
	const char *flags[] = {"--workspace", ws, NULL};
	const char *missing[] = {"read: ENOENT", NULL}, *denied[] = {"read: EACCES", NULL};
	sbt_probe_expect(flags, "read", "/workspace/absolute", missing);
	sbt_probe_expect(flags, "read", "/workspace/relative", missing);
	sbt_probe_expect(flags, "read", "/workspace/shadow", denied);
}

TEST(chroot_escape_fails)
{
	/* Readable by anyone on the host: only the sandbox's root hides it. */
	const char *marker = sbt_shared_file(sbt_shared_dir(), "host-marker", "host\n");
	/* A missing directory fails the path walk first: only the filter
	 * answers EPERM there. */
	const char *expect[] = {"chroot-missing: EPERM", "chroot: EPERM", "marker: absent", "root-dotdot: same", NULL};
	sbt_probe_expect(NULL, "chroot", marker, expect);
}

TEST(mount_is_refused)
{
	/* A missing target fails the path walk first: only the filter answers
	 * EPERM there; on /tmp the missing capability does too. */
	const char *expect[] = {"mount-missing: EPERM",
				"mount: EPERM",
				"umount: EPERM",
				"fsopen: EPERM",
				"open_tree: EPERM",
				"pivot_root: EPERM",
				NULL};
	sbt_probe_expect(NULL, "mount", NULL, expect);
}

/* A setuid-root copy of the probe in the workspace: nosuid, no_new_privs
 * and the unmapped host root each keep its euid the sandbox's. */
TEST(setuid_binary_gains_nothing)
{
	if (!sbt_is_root()) {
		fprintf(stderr, "note: not root, cannot make a setuid-root binary; skipped\n");
		return;
	}
	const char *ws = sbt_workspace();
	char copy[300];
	snprintf(copy, sizeof(copy), "%s/suid-probe", ws);
	char *cmd = xasprintf("cp '%s' '%s'", sbt_probe_path(), copy);
	CHECK(system(cmd) == 0);
	free(cmd);
	CHECK(chown(copy, 0, 0) == 0);
	CHECK(chmod(copy, 04755) == 0);
	const char *args[] = {"--workspace", ws, "--", "/workspace/suid-probe", "ids", NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	char expect[64];
	snprintf(expect, sizeof(expect), "euid: %u\n", sbt_sandbox_uid());
	CHECK_CONTAINS(r.out, expect);
	sbt_result_free(&r);
}

TEST(dev_holds_only_the_basic_devices)
{
	struct sbt_result r;
	sbt_probe(&r, NULL, "list", "/dev");
	const char *allowed[] = {"null", "zero",  "full",   "random", "urandom", "tty",
				 "fd",   "stdin", "stdout", "stderr", "shm"};
	size_t entries = 0;
	for (const char *p = r.out; (p = strstr(p, "entry: ")); p++) {
		p += strlen("entry: ");
		size_t len = strcspn(p, "\n");
		bool known = false;
		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			known |= strlen(allowed[i]) == len && strncmp(allowed[i], p, len) == 0;
		if (!known)
			th_fail(__FILE__, __LINE__, "unexpected /dev entry: %.*s", (int)len, p);
		entries++;
	}
	CHECK_INT(entries, ==, sizeof(allowed) / sizeof(allowed[0]));
	sbt_result_free(&r);
	const char *devices[] = {"/dev/mem", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/ptmx"};
	const char *missing[] = {"read: ENOENT", NULL};
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		sbt_probe_expect(NULL, "read", devices[i], missing);
	/* The ones that are there work. */
	const char *written[] = {"write: ok", NULL}, *full[] = {"write: ENOSPC", NULL};
	sbt_probe_expect(NULL, "write", "/dev/null", written);
	sbt_probe_expect(NULL, "write", "/dev/full", full);
}

/* --rootfs: a root of our own making, with the host's /usr bound in. */
TEST(rootfs_replaces_the_host_root)
{
	const char *root = th_tempdir();
	chmod(root, 0755);
	char path[400];
	snprintf(path, sizeof(path), "%s/etc", root);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/rootfs-marker", root);
	th_write_file(path, "from the rootfs\n");
	/* Writable by anyone: only the read-only bind refuses the write. */
	chmod(path, 0666);
	snprintf(path, sizeof(path), "%s/usr", root);
	CHECK(mkdir(path, 0755) == 0);
	const char *flags[20] = {"--rootfs", root, "--ro-bind", "/usr", "/usr"};
	size_t n = 5;
	/* Merged /usr makes these symlinks; otherwise bind them too. */
	const char *top[] = {"bin", "lib", "lib64", "sbin"};
	for (size_t i = 0; i < 4; i++) {
		char host[64], target[256];
		snprintf(host, sizeof(host), "/%s", top[i]);
		snprintf(path, sizeof(path), "%s/%s", root, top[i]);
		ssize_t len = readlink(host, target, sizeof(target) - 1);
		struct stat st;
		if (len > 0) {
			target[len] = '\0';
			CHECK(symlink(target, path) == 0);
		} else if (stat(host, &st) == 0 && S_ISDIR(st.st_mode)) {
			CHECK(mkdir(path, 0755) == 0);
			flags[n++] = "--ro-bind";
			flags[n++] = xstrdup(host);
			flags[n++] = xstrdup(host);
		}
	}
	flags[n] = NULL;
	const char *found[] = {"content: from the rootfs", NULL}, *missing[] = {"read: ENOENT", NULL},
		   *refused[] = {"write: EROFS", NULL};
	sbt_probe_expect(flags, "read", "/etc/rootfs-marker", found);
	sbt_probe_expect(flags, "read", "/etc/passwd", missing);
	sbt_probe_expect(flags, "write", "/etc/rootfs-marker", refused);
}

/* The host's /sys shows its cgroup tree (the pids of every process on the
 * machine, what every other sandbox uses) and its network interfaces. The
 * sandbox's /sys is its own: no cgroups, no interface but its loopback. */
TEST(sys_shows_neither_host_cgroups_nor_host_interfaces)
{
	CHECK(fs_host_has_entries("/sys/class/net"));
	struct sbt_result r;
	sbt_probe(&r, NULL, "list", "/sys/fs/cgroup");
	if (strstr(r.out, "entry:"))
		th_fail(__FILE__, __LINE__, "the host's cgroups are visible inside:\n%s", r.out);
	sbt_result_free(&r);
	sbt_probe(&r, NULL, "list", "/sys/class/net");
	CHECK_CONTAINS(r.out, "list: ok");
	for (const char *p = r.out; (p = strstr(p, "entry: ")); p++) {
		if (strncmp(p, "entry: lo\n", 10) != 0)
			th_fail(__FILE__, __LINE__, "a host interface is visible inside:\n%s", r.out);
	}
	sbt_result_free(&r);
	/* Still a sysfs: programs that read the CPU list find it. */
	const char *cpus[] = {"content: 0", NULL};
	sbt_probe_expect(NULL, "read", "/sys/devices/system/cpu/online", cpus);
}

/* Mount points inside are made after the pivot, following symlinks as
 * they lead inside, and the workspace is the command's: a symlink it left
 * there to /proc/self/fd/N is, for init, a descriptor of its own. Init may
 * hold none that leads to the host by then, or the next sandbox's mount
 * point would be made in a host directory (here /var/tmp, which anyone
 * may write, behind the /var that init opened to bind it). */
TEST(planted_symlinks_do_not_reach_init_descriptors)
{
	const char *ws = sbt_workspace();
	char host_dir[300];
	snprintf(host_dir, sizeof(host_dir), "/var/tmp/agentd-escape-%d", (int)getpid());
	for (int fd = 3; fd < 64; fd++) {
		char link[300], target[64], dst[300];
		snprintf(link, sizeof(link), "%s/l%d", ws, fd);
		snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
		CHECK(symlink(target, link) == 0);
		snprintf(dst, sizeof(dst), "/workspace/l%d/tmp/agentd-escape-%d", fd, (int)getpid());
		const char *args[] = {"--workspace", ws, "--tmpfs", dst, "--", "/bin/true", NULL};
		struct sbt_result r;
		sbt_run(&r, args, 30000);
		sbt_result_free(&r);
		struct stat st;
		if (stat(host_dir, &st) == 0) {
			rmdir(host_dir);
			th_fail(__FILE__, __LINE__, "--tmpfs %s made %s on the host", dst, host_dir);
		}
	}
}
