/* The sandbox's file system: a tmpfs root of read-only binds of the root's
 * top level, /workspace, /tmp, a minimal /dev, a fresh /proc and /sys,
 * entered with pivot_root, then the caller's mounts and the masks. */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Where the new root is assembled: the host's /tmp, covered by a tmpfs in
 * the sandbox's own mount namespace (the host never sees it). */
#define ROOTFS_STAGE "/tmp"
/* The most top-level entries a root file system may have. */
#define ROOTFS_MAX_ENTRIES 256
/* Sizes of the tmpfs that only hold directories, symlinks and empty files. */
#define ROOTFS_SMALL_TMPFS "size=64k,nr_inodes=1024"
/* Inodes of /tmp and --tmpfs: one per this many bytes of size, and at least
 * the minimum. */
#define ROOTFS_TMPFS_BYTES_PER_INODE 4096
#define ROOTFS_TMPFS_MIN_INODES 1024

/* The device nodes inside; nothing else from the host's /dev. */
static const char *const rootfs_devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
/* Symlinks in /dev that programs expect (/dev/shm: POSIX shared memory
 * lands in /tmp, inside its size cap). */
static const char *const rootfs_dev_links[][2] = {
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"shm", "/tmp"},
};
/* Top-level directories replaced by empty ones: sockets live under /run
 * (a network namespace does not stop path-based unix sockets), secrets
 * under /root and /home. */
static const char *const rootfs_masked[] = {"run", "root", "home"};
/* Top-level names the sandbox provides itself. */
static const char *const rootfs_own[] = {"proc", "sys", "dev", "tmp", "workspace"};
/* Deeper paths masked by default, after the pivot. */
static const char *const rootfs_masked_deep[] = {"/var/run"};

/* One top-level entry of the root file system. */
struct rootfs_entry {
	char name[NAME_MAX + 1]; /* its name */
	mode_t type;             /* S_IFDIR, S_IFLNK, S_IFREG, ... */
	int fd;                  /* O_PATH descriptor (not for symlinks); -1 otherwise */
	char *link;              /* symlink target, owned; NULL otherwise */
	bool masked;             /* one of rootfs_masked: becomes an empty directory */
};

/* Everything opened while paths still mean what they mean on the host. */
struct rootfs_sources {
	struct rootfs_entry entries[ROOTFS_MAX_ENTRIES];                    /* top level of the root file system */
	size_t entry_count;                                                 /* entries in use */
	int workspace_fd;                                                   /* --workspace, -1 without */
	int device_fds[sizeof(rootfs_devices) / sizeof(rootfs_devices[0])]; /* host device nodes */
	int mount_trees[SANDBOX_MAX_MOUNTS]; /* detached copies of bind sources, -1 for others */
};

static bool rootfs_name_in(const char *name, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

#define ROOTFS_IN(name, list) rootfs_name_in(name, list, sizeof(list) / sizeof(list[0]))

/* Binds the file or directory behind fd onto target. */
static int rootfs_bind_fd(int fd, const char *target, unsigned long flags)
{
	char source[64];
	snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
	return mount(source, target, NULL, MS_BIND | flags, NULL);
}

/* Sets mount attributes on target (and every mount below it). */
static int rootfs_setattr(const char *target, uint64_t attrs, bool recursive)
{
	struct mount_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = attrs;
	return mount_setattr(AT_FDCWD, target, recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr));
}

static void rootfs_read_top_level(const struct sandbox_run *run, struct rootfs_sources *src, int root_fd)
{
	int efd = run->err_fd;
	const char *root_name = run->cfg->rootfs ? run->cfg->rootfs : "/";
	int dir_fd = dup(root_fd);
	DIR *dir = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
	if (!dir)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "read the root directory %s", root_name);
	struct dirent *de;
	while ((errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || ROOTFS_IN(name, rootfs_own))
			continue;
		if (src->entry_count == ROOTFS_MAX_ENTRIES)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, 0, "root directory %s: more than %d entries", root_name,
				     ROOTFS_MAX_ENTRIES);
		struct rootfs_entry *e = &src->entries[src->entry_count++];
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->fd = -1;
		e->link = NULL;
		e->masked = ROOTFS_IN(name, rootfs_masked);
		if (e->masked)
			continue;
		struct stat st;
		if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "stat %s in %s", name, root_name);
		e->type = st.st_mode & S_IFMT;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(root_fd, name, target, sizeof(target) - 1);
			if (n < 0)
				errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "readlink %s in %s", name, root_name);
			target[n] = '\0';
			e->link = xstrdup(target);
			continue;
		}
		e->fd = openat(root_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (e->fd < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "open %s in %s", name, root_name);
	}
	if (errno)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "read the root directory %s", root_name);
	closedir(dir);
}

/* Opens every host path the sandbox will show, in the host's view. */
static void rootfs_open_sources(const struct sandbox_run *run, struct rootfs_sources *src)
{
	const struct sandbox_config *cfg = run->cfg;
	int efd = run->err_fd;
	const char *root_name = cfg->rootfs ? cfg->rootfs : "/";
	int root_fd = open(root_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "open --rootfs %s", root_name);
	rootfs_read_top_level(run, src, root_fd);
	close(root_fd);
	src->workspace_fd = -1;
	if (cfg->workspace) {
		src->workspace_fd = open(cfg->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (src->workspace_fd < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "open --workspace %s", cfg->workspace);
	}
	for (size_t i = 0; i < sizeof(rootfs_devices) / sizeof(rootfs_devices[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/dev/%s", rootfs_devices[i]);
		src->device_fds[i] = open(path, O_PATH | O_CLOEXEC);
		if (src->device_fds[i] < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "open %s", path);
	}
	/* The caller's bind sources are attached after the pivot, when the
	 * host's mounts are gone: copy them now, detached. */
	for (size_t i = 0; i < cfg->mount_count; i++) {
		const struct sandbox_mount *m = &cfg->mounts[i];
		src->mount_trees[i] = -1;
		if (m->kind != SANDBOX_MOUNT_BIND && m->kind != SANDBOX_MOUNT_RO_BIND)
			continue;
		const char *flag = m->kind == SANDBOX_MOUNT_BIND ? "--bind" : "--ro-bind";
		src->mount_trees[i] = open_tree(AT_FDCWD, m->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (src->mount_trees[i] < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "open %s source %s", flag, m->src);
		uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
		if (m->kind == SANDBOX_MOUNT_RO_BIND)
			attrs |= MOUNT_ATTR_RDONLY;
		struct mount_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.attr_set = attrs;
		if (mount_setattr(src->mount_trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "%s %s: set mount flags", flag, m->src);
	}
}

/* Closes what the stage was built from: the host's top level, the
 * workspace and the devices, as they are on the host. */
static void rootfs_close_stage_sources(struct rootfs_sources *src)
{
	for (size_t i = 0; i < src->entry_count; i++) {
		if (src->entries[i].fd >= 0)
			close(src->entries[i].fd);
		src->entries[i].fd = -1;
		free(src->entries[i].link);
		src->entries[i].link = NULL;
	}
	if (src->workspace_fd >= 0)
		close(src->workspace_fd);
	src->workspace_fd = -1;
	for (size_t i = 0; i < sizeof(rootfs_devices) / sizeof(rootfs_devices[0]); i++)
		close(src->device_fds[i]);
}

/* Closes the descriptors of the bind sources' detached copies. */
static void rootfs_close_mount_trees(const struct sandbox_run *run, struct rootfs_sources *src)
{
	for (size_t i = 0; i < run->cfg->mount_count; i++) {
		if (src->mount_trees[i] >= 0)
			close(src->mount_trees[i]);
	}
}

/* Creates an empty file as a mount point. */
static int rootfs_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* The root file system's top level, in the stage (the current directory). */
static void rootfs_build_top_level(const struct sandbox_run *run, const struct rootfs_sources *src)
{
	int efd = run->err_fd;
	for (size_t i = 0; i < src->entry_count; i++) {
		const struct rootfs_entry *e = &src->entries[i];
		if (e->masked) {
			if (mkdir(e->name, 0755) < 0)
				errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "mkdir /%s", e->name);
			continue;
		}
		if (e->link) {
			if (symlink(e->link, e->name) < 0)
				errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "symlink /%s", e->name);
			continue;
		}
		bool is_dir = e->type == S_IFDIR;
		if ((is_dir ? mkdir(e->name, 0755) : rootfs_touch(e->name)) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "create the mount point /%s", e->name);
		if (rootfs_bind_fd(e->fd, e->name, is_dir ? MS_REC : 0) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "bind /%s", e->name);
		if (rootfs_setattr(e->name, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "make /%s read-only", e->name);
	}
}

static void rootfs_build_dev(const struct sandbox_run *run, const struct rootfs_sources *src)
{
	int efd = run->err_fd;
	if (mkdir("dev", 0755) < 0 ||
	    mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755," ROOTFS_SMALL_TMPFS) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "mount tmpfs on /dev");
	for (size_t i = 0; i < sizeof(rootfs_devices) / sizeof(rootfs_devices[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "dev/%s", rootfs_devices[i]);
		if (rootfs_touch(path) < 0 || rootfs_bind_fd(src->device_fds[i], path, 0) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "bind /%s", path);
	}
	for (size_t i = 0; i < sizeof(rootfs_dev_links) / sizeof(rootfs_dev_links[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "dev/%s", rootfs_dev_links[i][0]);
		if (symlink(rootfs_dev_links[i][1], path) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "symlink /%s", path);
	}
	/* The directory only: the device binds below stay as they are. */
	if (rootfs_setattr("dev", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "make /dev read-only");
}

/* The size of a tmpfs: its own, or /tmp's default. */
static uint64_t rootfs_tmpfs_size(uint64_t size_bytes)
{
	return size_bytes ? size_bytes : SANDBOX_DEFAULT_TMP_BYTES;
}

/* The size the caller gave /tmp with --tmpfs /tmp:SIZE, or the default. */
static uint64_t rootfs_tmp_size(const struct sandbox_config *cfg)
{
	uint64_t size = SANDBOX_DEFAULT_TMP_BYTES;
	for (size_t i = 0; i < cfg->mount_count; i++) {
		if (cfg->mounts[i].kind == SANDBOX_MOUNT_TMPFS && strcmp(cfg->mounts[i].dst, "/tmp") == 0)
			size = rootfs_tmpfs_size(cfg->mounts[i].size_bytes);
	}
	return size;
}

static void rootfs_mount_tmpfs(const struct sandbox_run *run, const char *path, uint64_t size_bytes)
{
	/* The size counts the bytes in files, not inodes, which cost the
	 * kernel about 1k each and would otherwise go up to half the machine's
	 * pages: one inode per ROOTFS_TMPFS_BYTES_PER_INODE keeps what empty
	 * files can take to a quarter of the size. */
	uint64_t inodes = size_bytes / ROOTFS_TMPFS_BYTES_PER_INODE;
	if (inodes < ROOTFS_TMPFS_MIN_INODES)
		inodes = ROOTFS_TMPFS_MIN_INODES;
	char options[96];
	snprintf(options, sizeof(options), "mode=1777,size=%llu,nr_inodes=%llu", (unsigned long long)size_bytes,
		 (unsigned long long)inodes);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "mount tmpfs on %s", path);
}

/* A sysfs of the sandbox's own, read-only: the host's would show its whole
 * cgroup tree (the pid of every process on the machine, what every other
 * sandbox uses) and its network interfaces; a new one shows only the
 * network namespace's loopback and has no cgroup mounted. Like /proc, the
 * kernel allows it only while the host's is still visible. Where it does
 * not, /sys stays an empty directory. */
static void rootfs_build_sys(const struct sandbox_run *run)
{
	if (mkdir("sys", 0755) < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "mkdir /sys");
	(void)mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Everything that lives in the stage before the pivot. */
static void rootfs_build_stage(const struct sandbox_run *run, const struct rootfs_sources *src)
{
	int efd = run->err_fd;
	if (mount("tmpfs", ROOTFS_STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755," ROOTFS_SMALL_TMPFS) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "mount the new root (tmpfs on %s)", ROOTFS_STAGE);
	if (chdir(ROOTFS_STAGE) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "chdir to the new root");
	rootfs_build_top_level(run, src);
	rootfs_build_dev(run, src);
	/* A proc of the new pid namespace; the kernel allows it only while
	 * the host's proc is still visible in this mount namespace. */
	if (mkdir("proc", 0755) < 0 || mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "mount /proc");
	rootfs_build_sys(run);
	if (mkdir("tmp", 0755) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "mkdir /tmp");
	rootfs_mount_tmpfs(run, "tmp", rootfs_tmp_size(run->cfg));
	if (src->workspace_fd >= 0) {
		if (mkdir("workspace", 0755) < 0 || rootfs_bind_fd(src->workspace_fd, "workspace", MS_REC) < 0 ||
		    rootfs_setattr("workspace", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "bind --workspace %s at /workspace",
				     run->cfg->workspace);
	}
}

/* Creates path's missing parents and path itself (a directory, or an empty
 * file) inside the new root; they can only appear where a tmpfs of the
 * sandbox is still writable. Returns 0 or -1 with errno. */
static int rootfs_make_mount_point(const char *path, bool dir)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (dir != (bool)S_ISDIR(st.st_mode)) {
			errno = dir ? ENOTDIR : EISDIR;
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", path);
	for (char *slash = strchr(parent + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			return -1;
		*slash = '/';
	}
	return dir ? mkdir(path, 0755) : rootfs_touch(path);
}

/* Covers path with an empty read-only tmpfs (or /dev/null for a file). A
 * path that does not exist is hidden already. */
static void rootfs_hide(const struct sandbox_run *run, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return;
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "hide %s", path);
	}
	int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
					     "mode=0755," ROOTFS_SMALL_TMPFS)
				     : mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (rc < 0)
		errpipe_fail(run->err_fd, SANDBOX_EXIT_SETUP, errno, "hide %s", path);
}

/* The default deep masks: hidden unless they lead into a masked top-level
 * directory already (Debian's /var/run is a symlink to /run). */
static void rootfs_hide_defaults(const struct sandbox_run *run)
{
	for (size_t i = 0; i < sizeof(rootfs_masked_deep) / sizeof(rootfs_masked_deep[0]); i++) {
		char real[PATH_MAX];
		if (!realpath(rootfs_masked_deep[i], real))
			continue;
		if (real[0] == '/' && ROOTFS_IN(real + 1, rootfs_masked))
			continue;
		rootfs_hide(run, real);
	}
}

/* The caller's binds and tmpfs, in order, then the hidden paths. */
static void rootfs_apply_mounts(const struct sandbox_run *run, const struct rootfs_sources *src)
{
	const struct sandbox_config *cfg = run->cfg;
	int efd = run->err_fd;
	for (size_t i = 0; i < cfg->mount_count; i++) {
		const struct sandbox_mount *m = &cfg->mounts[i];
		if (m->kind == SANDBOX_MOUNT_HIDE || (m->kind == SANDBOX_MOUNT_TMPFS && strcmp(m->dst, "/tmp") == 0))
			continue;
		if (m->kind == SANDBOX_MOUNT_TMPFS) {
			if (rootfs_make_mount_point(m->dst, true) < 0)
				errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "--tmpfs %s: create the mount point",
					     m->dst);
			rootfs_mount_tmpfs(run, m->dst, rootfs_tmpfs_size(m->size_bytes));
			continue;
		}
		const char *flag = m->kind == SANDBOX_MOUNT_BIND ? "--bind" : "--ro-bind";
		struct stat st;
		if (fstat(src->mount_trees[i], &st) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "%s %s: stat", flag, m->src);
		if (rootfs_make_mount_point(m->dst, S_ISDIR(st.st_mode)) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "%s %s %s: create the mount point", flag, m->src,
				     m->dst);
		if (move_mount(src->mount_trees[i], "", AT_FDCWD, m->dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "%s %s %s", flag, m->src, m->dst);
	}
	for (size_t i = 0; i < cfg->mount_count; i++) {
		if (cfg->mounts[i].kind == SANDBOX_MOUNT_HIDE)
			rootfs_hide(run, cfg->mounts[i].dst);
	}
}

/* Every host path is opened before anything is mounted over it, and binds
 * come from those descriptors ("/proc/self/fd/N", or a detached copy of the
 * mount tree made with open_tree for what is attached after the pivot), so
 * what a host path means is decided once, in the host's view. Paths inside
 * are resolved after the pivot, so that their symlinks lead where they
 * lead inside. Masked top-level directories become empty directories of
 * the root tmpfs, which is read-only in the end. */
void rootfs_enter(const struct sandbox_run *run)
{
	int efd = run->err_fd;
	struct rootfs_sources *src = xcalloc(1, sizeof(*src));
	/* Nothing done here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "make the mounts private");
	rootfs_open_sources(run, src);
	identity_use_fs_ids(run);
	rootfs_build_stage(run, src);
	/* Paths inside are resolved from here on, through symlinks the command
	 * may have left in the workspace; one to /proc/self/fd/N is one of
	 * init's descriptors: none may lead to the host any more. (The bind
	 * sources' copies stay open: what they hold is shown inside anyway.) */
	rootfs_close_stage_sources(src);
	/* pivot_root(".", ".") stacks the old root on the new one; detaching
	 * it leaves the new root alone, with no way back. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "detach the old root");
	if (chdir("/") < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "chdir /");
	rootfs_hide_defaults(run);
	rootfs_apply_mounts(run, src);
	if (rootfs_setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "make / read-only");
	const char *cwd = run->cfg->workspace ? "/workspace" : "/tmp";
	if (chdir(cwd) < 0)
		errpipe_fail(efd, SANDBOX_EXIT_SETUP, errno, "chdir %s", cwd);
	rootfs_close_mount_trees(run, src);
	free(src);
}
