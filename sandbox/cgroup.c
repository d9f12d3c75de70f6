/* Memory and pids limits and CPU accounting through cgroups v1 or v2, one
 * "agentd/sb-PID" per sandbox below the caller's own cgroup (so the host's
 * limits on the caller still apply); what cannot be set is reported, never
 * skipped. */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long removal waits for the kernel to let go of an emptied cgroup. */
#define CGROUP_REMOVE_TRIES 100
#define CGROUP_REMOVE_WAIT_NS 2000000L

/* True when the comma-separated list holds word. */
static bool cgroup_list_has(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void cgroup_unescape(char *s)
{
	char *out = s;
	for (char *in = s; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
		    in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/* Finds the mount of a hierarchy: fstype "cgroup" whose options hold
 * controller (v1), or fstype "cgroup2" (controller NULL). Fills the mount
 * point and the root of the mount within the hierarchy. */
static bool cgroup_find_mount(const char *controller, char *mnt, size_t mntlen, char *root, size_t rootlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent dev root mountpoint options [optional...] - fstype source superoptions */
		char *fields[6] = {NULL};
		char *save = NULL;
		char *tok = strtok_r(line, " \n", &save);
		for (int i = 0; tok && i < 5; i++, tok = strtok_r(NULL, " \n", &save))
			fields[i] = tok;
		while (tok && strcmp(tok, "-") != 0)
			tok = strtok_r(NULL, " \n", &save);
		char *fstype = tok ? strtok_r(NULL, " \n", &save) : NULL;
		char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
		char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (!fields[4] || !fstype)
			continue;
		if (controller ? (strcmp(fstype, "cgroup") == 0 && super && cgroup_list_has(super, controller))
			       : strcmp(fstype, "cgroup2") == 0) {
			cgroup_unescape(fields[3]);
			cgroup_unescape(fields[4]);
			snprintf(root, rootlen, "%s", fields[3]);
			snprintf(mnt, mntlen, "%s", fields[4]);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The caller's cgroup in the hierarchy of controller (v1), or in the
 * unified hierarchy (controller NULL), from /proc/self/cgroup. */
static bool cgroup_find_own(const char *controller, char *path, size_t pathlen)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *first = strchr(line, ':');
		char *second = first ? strchr(first + 1, ':') : NULL;
		if (!second)
			continue;
		*second = '\0';
		const char *controllers = first + 1;
		if (controller ? cgroup_list_has(controllers, controller) : (strcmp(line, "0") == 0 && !*controllers)) {
			snprintf(path, pathlen, "%s", second + 1);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* dir = the mount point plus own's place below the mount's root (a mount
 * of a subtree, a container's, shows own below its root). */
static void cgroup_join(const char *mnt, const char *root, const char *own, char *dir, size_t dirlen)
{
	size_t rootlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	const char *rel = strncmp(own, root, rootlen) == 0 ? own + rootlen : own;
	snprintf(dir, dirlen, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel);
}

/* cpuacct only counts: under v2 every cgroup counts its CPU time (cpu.stat),
 * with no controller to enable. */
static bool cgroup_is_accounting(const char *controller)
{
	return strcmp(controller, "cpuacct") == 0;
}

/* True when the v2 cgroup dir offers controller to its children's parent. */
static bool cgroup_v2_offers(const char *dir, const char *controller)
{
	char path[1200], controllers[512] = "";
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(controllers, sizeof(controllers), f))
			controllers[0] = '\0';
		fclose(f);
	}
	for (char *save = NULL, *tok = strtok_r(controllers, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (strcmp(tok, controller) == 0)
			return true;
	}
	return false;
}

/* Where controller's cgroups live: v1 first (a hybrid host keeps its
 * controllers there), then v2 when the unified hierarchy offers it. Fills
 * own (the caller's cgroup) and top (the hierarchy's root as mounted).
 * Returns the version, or 0 with the reason. */
static int cgroup_locate(const char *controller, char *own_dir, char *top_dir, size_t dirlen, char *why, size_t whylen)
{
	char root[1024], own[1024];
	int version = 0;
	if (cgroup_find_mount(controller, top_dir, dirlen, root, sizeof(root)))
		version = 1;
	else if (cgroup_find_mount(NULL, top_dir, dirlen, root, sizeof(root)))
		version = 2;
	if (!version) {
		snprintf(why, whylen, "no cgroup hierarchy has the %s controller", controller);
		return 0;
	}
	if (!cgroup_find_own(version == 1 ? controller : NULL, own, sizeof(own))) {
		snprintf(why, whylen, "no %s cgroup in /proc/self/cgroup", controller);
		return 0;
	}
	cgroup_join(top_dir, root, own, own_dir, dirlen);
	if (version == 2 && !cgroup_is_accounting(controller) && !cgroup_v2_offers(top_dir, controller)) {
		snprintf(why, whylen, "the %s controller is not available in %s", controller, top_dir);
		return 0;
	}
	return version;
}

static int cgroup_write(const char *dir, const char *file, const char *value)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, value, strlen(value));
	int rc = w < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Reads the number after "key " in a flat-keyed file, or a lone number
 * (key NULL). Returns 0 or a negative errno. */
static int cgroup_read_number(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	int rc = -ENOENT;
	size_t keylen = key ? strlen(key) : 0;
	while (fgets(line, sizeof(line), f)) {
		if (key && (strncmp(line, key, keylen) != 0 || line[keylen] != ' '))
			continue;
		*out = strtoull(line + keylen, NULL, 10);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

/* Removes sandbox cgroups whose supervisor is gone (SIGKILLed before it
 * could remove its own after the run). Busy or foreign ones stay. */
static void cgroup_collect_garbage(const char *parent)
{
	DIR *dir = opendir(parent);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir))) {
		char *end;
		if (strncmp(de->d_name, "sb-", 3) != 0)
			continue;
		long pid = strtol(de->d_name + 3, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char path[1200];
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		rmdir(path);
	}
	closedir(dir);
}

/* Makes "agentd/sb-PID" below base; v2 first enables the controller for
 * the children of base and of agentd. */
static int cgroup_make(const char *base, int version, const char *controller, char *dir, size_t dirlen, char *why,
		       size_t whylen)
{
	char parent[1100], enable[64];
	snprintf(parent, sizeof(parent), "%s/agentd", base);
	snprintf(enable, sizeof(enable), "+%s", controller);
	int rc;
	bool enable_below = version == 2 && !cgroup_is_accounting(controller);
	if (enable_below && (rc = cgroup_write(base, "cgroup.subtree_control", enable)) < 0) {
		snprintf(why, whylen, "cannot enable the %s controller below %s: %s%s", controller, base, strerror(-rc),
			 rc == -EBUSY ? " (that cgroup holds processes: run agentd in a delegated cgroup)" : "");
		return rc;
	}
	if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, whylen, "cannot create %s: %s", parent, strerror(errno));
		return rc;
	}
	if (enable_below && (rc = cgroup_write(parent, "cgroup.subtree_control", enable)) < 0) {
		snprintf(why, whylen, "cannot enable the %s controller below %s: %s", controller, parent,
			 strerror(-rc));
		return rc;
	}
	cgroup_collect_garbage(parent);
	snprintf(dir, dirlen, "%s/sb-%d", parent, (int)getpid());
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
		dir[0] = '\0';
		return rc;
	}
	return 0;
}

static void cgroup_note(char *note, size_t notelen, const char *limit, const char *why)
{
	size_t used = strlen(note);
	if (used < notelen)
		snprintf(note + used, notelen - used, "%s%s limit not enforced: %s", used ? "; " : "", limit, why);
}

/* Sets up one controller; returns its version, or 0 with the reason.
 * in_use is the directory the other controller uses ("" if none). */
static int cgroup_setup(const char *controller, char *dir, size_t dirlen, uint64_t limit, const char *in_use, char *why,
			size_t whylen)
{
	char own[1024], top[1024];
	int version = cgroup_locate(controller, own, top, sizeof(own), why, whylen);
	if (version == 0)
		return 0;
	/* A process is in one v2 cgroup only: the second controller goes
	 * where the first went ("BASE/agentd/sb-PID"). */
	if (version == 2 && in_use[0]) {
		char base[1024];
		snprintf(base, sizeof(base), "%s", in_use);
		for (int up = 0; up < 2; up++) {
			char *slash = strrchr(base, '/');
			if (slash)
				*slash = '\0';
		}
		snprintf(own, sizeof(own), "%s", base);
		snprintf(top, sizeof(top), "%s", base);
	}
	/* Below the caller's own cgroup first; failing that (cgroup v2 will
	 * not enable a controller below a cgroup that holds processes), at
	 * the top of the hierarchy, which root may always use. */
	if (cgroup_make(own, version, controller, dir, dirlen, why, whylen) < 0) {
		char first[512];
		snprintf(first, sizeof(first), "%s", why);
		if (strcmp(own, top) == 0 || cgroup_make(top, version, controller, dir, dirlen, why, whylen) < 0) {
			snprintf(why, whylen, "%s", first);
			return 0;
		}
	}
	if (cgroup_is_accounting(controller))
		return version;
	char value[32];
	snprintf(value, sizeof(value), "%llu", (unsigned long long)limit);
	const char *file = strcmp(controller, "pids") == 0 ? "pids.max"
			   : version == 1                  ? "memory.limit_in_bytes"
							   : "memory.max";
	int rc = cgroup_write(dir, file, value);
	if (rc < 0) {
		snprintf(why, whylen, "cannot write %s/%s: %s", dir, file, strerror(-rc));
		if (strcmp(dir, in_use) != 0)
			rmdir(dir);
		dir[0] = '\0';
		return 0;
	}
	/* Swap must not stretch the memory limit (absent without swap
	 * accounting, which is fine: then there is nothing to stretch). */
	if (strcmp(controller, "memory") == 0)
		cgroup_write(dir, version == 1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max",
			     version == 1 ? value : "0");
	return version;
}

void cgroup_create(struct cgroup *cg, const struct sandbox_config *cfg, unsigned *not_enforced, char *note,
		   size_t notelen)
{
	memset(cg, 0, sizeof(*cg));
	char why[512];
	if (cfg->memory_bytes) {
		cg->memory_version = cgroup_setup("memory", cg->memory_dir, sizeof(cg->memory_dir), cfg->memory_bytes,
						  "", why, sizeof(why));
		if (!cg->memory_version) {
			*not_enforced |= SANDBOX_LIMIT_MEMORY;
			cgroup_note(note, notelen, "memory", why);
		}
	}
	/* Without a pids cgroup, RLIMIT_NPROC still holds the limit. */
	if (cfg->pids)
		cg->pids_version = cgroup_setup("pids", cg->pids_dir, sizeof(cg->pids_dir), cfg->pids, cg->memory_dir,
						why, sizeof(why));
	/* Init counts the CPU time of the processes it sees, but not that of
	 * children the kernel reaped for a parent that ignores SIGCHLD: only
	 * a cgroup counts everything. */
	if (cfg->cpu_seconds) {
		const char *in_use = cg->memory_version == 2 ? cg->memory_dir
				     : cg->pids_version == 2 ? cg->pids_dir
							     : "";
		cg->cpu_version =
			cgroup_setup("cpuacct", cg->cpu_dir, sizeof(cg->cpu_dir), 0, in_use, why, sizeof(why));
		if (!cg->cpu_version) {
			*not_enforced |= SANDBOX_LIMIT_CPU;
			size_t len = strlen(why);
			snprintf(why + len, sizeof(why) - len,
				 " (the CPU time of children the kernel reaps itself goes uncounted)");
			cgroup_note(note, notelen, "cpu", why);
		}
	}
}

/* True when dirs[i] is one of the directories before it (under v2, the
 * controllers share one). */
static bool cgroup_dir_seen(const char *const *dirs, int i)
{
	for (int j = 0; j < i; j++) {
		if (strcmp(dirs[j], dirs[i]) == 0)
			return true;
	}
	return false;
}

int cgroup_attach(const struct cgroup *cg, pid_t pid, char *err, size_t errlen)
{
	char value[32];
	snprintf(value, sizeof(value), "%d", (int)pid);
	const char *dirs[3] = {cg->memory_dir, cg->pids_dir, cg->cpu_dir};
	for (int i = 0; i < 3; i++) {
		if (!dirs[i][0] || cgroup_dir_seen(dirs, i))
			continue;
		int rc = cgroup_write(dirs[i], "cgroup.procs", value);
		if (rc < 0) {
			snprintf(err, errlen, "move the sandbox into %s: %s", dirs[i], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

void cgroup_collect(const struct cgroup *cg, struct sandbox_result *res)
{
	if (!cg->memory_dir[0])
		return;
	uint64_t peak = 0, kills = 0;
	bool v1 = cg->memory_version == 1;
	if (cgroup_read_number(cg->memory_dir, v1 ? "memory.max_usage_in_bytes" : "memory.peak", NULL, &peak) == 0)
		res->peak_memory_bytes = (int64_t)peak;
	if (cgroup_read_number(cg->memory_dir, v1 ? "memory.oom_control" : "memory.events", "oom_kill", &kills) == 0 &&
	    kills > 0)
		res->oom_killed = true;
}

static void cgroup_remove_dir(const char *dir)
{
	struct timespec wait = {0, CGROUP_REMOVE_WAIT_NS};
	for (int i = 0; i < CGROUP_REMOVE_TRIES; i++) {
		if (rmdir(dir) == 0 || errno != EBUSY)
			return;
		nanosleep(&wait, NULL);
	}
}

int cgroup_cpu_used_ms(const struct cgroup *cg, uint64_t *ms)
{
	uint64_t used;
	int rc;
	if (!cg->cpu_dir[0])
		return -ENOENT;
	if (cg->cpu_version == 1) {
		if ((rc = cgroup_read_number(cg->cpu_dir, "cpuacct.usage", NULL, &used)) < 0)
			return rc;
		*ms = used / 1000000;
		return 0;
	}
	if ((rc = cgroup_read_number(cg->cpu_dir, "cpu.stat", "usage_usec", &used)) < 0)
		return rc;
	*ms = used / 1000;
	return 0;
}

void cgroup_remove(struct cgroup *cg)
{
	const char *dirs[3] = {cg->memory_dir, cg->pids_dir, cg->cpu_dir};
	for (int i = 0; i < 3; i++) {
		if (dirs[i][0] && !cgroup_dir_seen(dirs, i))
			cgroup_remove_dir(dirs[i]);
	}
	cg->memory_dir[0] = '\0';
	cg->pids_dir[0] = '\0';
	cg->cpu_dir[0] = '\0';
}
