/* struct sandbox_config: its defaults, the checks agentd-sandbox applies to
 * it, and the command line that expresses it (the library's way of passing
 * a configuration to the executable). */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Largest value any size or count flag accepts (tmpfs, memory, output). */
#define CONFIG_MAX_BYTES (1ull << 40)
#define CONFIG_MAX_COUNT 1000000ull
#define CONFIG_MAX_TIMEOUT_MS (7ull * 24 * 3600 * 1000)

void sandbox_config_init(struct sandbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->net = SANDBOX_NET_NONE;
	cfg->uid = SANDBOX_ID_DEFAULT;
	cfg->gid = SANDBOX_ID_DEFAULT;
	cfg->seccomp = SANDBOX_SECCOMP_DEFAULT;
}

/* A path inside the sandbox: absolute, not "/", no "." or ".." component. */
static bool config_inside_path_ok(const char *path)
{
	if (!path || path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
	}
	return true;
}

static int config_fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -EINVAL;
}

static const char *config_mount_flag(enum sandbox_mount_kind kind)
{
	switch (kind) {
	case SANDBOX_MOUNT_RO_BIND: return "--ro-bind";
	case SANDBOX_MOUNT_BIND: return "--bind";
	case SANDBOX_MOUNT_TMPFS: return "--tmpfs";
	case SANDBOX_MOUNT_HIDE: return "--hide";
	}
	return "--?";
}

int sandbox_config_check(const struct sandbox_config *cfg, char *err, size_t errlen)
{
	if (cfg->workspace && !*cfg->workspace)
		return config_fail(err, errlen, "%s: empty path", "--workspace");
	if (cfg->rootfs && !*cfg->rootfs)
		return config_fail(err, errlen, "%s: empty path", "--rootfs");
	if (cfg->mount_count > SANDBOX_MAX_MOUNTS) {
		snprintf(err, errlen, "too many --bind/--ro-bind/--tmpfs/--hide (at most %d)", SANDBOX_MAX_MOUNTS);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->mount_count; i++) {
		const struct sandbox_mount *m = &cfg->mounts[i];
		const char *flag = config_mount_flag(m->kind);
		bool is_bind = m->kind == SANDBOX_MOUNT_RO_BIND || m->kind == SANDBOX_MOUNT_BIND;
		if (is_bind && (!m->src || !*m->src))
			return config_fail(err, errlen, "%s: empty source path", flag);
		if (!config_inside_path_ok(m->dst)) {
			snprintf(err, errlen, "%s: \"%s\" must be an absolute path other than / without . or ..", flag,
				 m->dst ? m->dst : "");
			return -EINVAL;
		}
		if (m->size_bytes > CONFIG_MAX_BYTES)
			return config_fail(err, errlen, "%s: size too large (at most 1T)", flag);
	}
	if (cfg->env_count > SANDBOX_MAX_ENV) {
		snprintf(err, errlen, "too many --env (at most %d)", SANDBOX_MAX_ENV);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->env_count; i++) {
		const char *eq = cfg->env[i] ? strchr(cfg->env[i], '=') : NULL;
		if (!eq || eq == cfg->env[i]) {
			snprintf(err, errlen, "--env: expected KEY=VALUE, got \"%s\"", cfg->env[i] ? cfg->env[i] : "");
			return -EINVAL;
		}
	}
	if (cfg->uid == 0)
		return config_fail(err, errlen, "%s 0: the sandbox never runs as host root", "--uid");
	if (cfg->gid == 0)
		return config_fail(err, errlen, "%s 0: the sandbox never runs as host root", "--gid");
	if (cfg->timeout_ms > CONFIG_MAX_TIMEOUT_MS)
		return config_fail(err, errlen, "%s: at most 7 days", "--timeout");
	if (cfg->memory_bytes > CONFIG_MAX_BYTES || (cfg->memory_bytes && cfg->memory_bytes < (1u << 20)))
		return config_fail(err, errlen, "%s: between 1M and 1T", "--memory");
	if (cfg->max_output_bytes > CONFIG_MAX_BYTES || (cfg->max_output_bytes && cfg->max_output_bytes < 2))
		return config_fail(err, errlen, "%s: between 2 and 1T", "--max-output");
	if (cfg->file_size_bytes > CONFIG_MAX_BYTES)
		return config_fail(err, errlen, "%s: at most 1T", "--file-size");
	if (cfg->pids > CONFIG_MAX_COUNT)
		return config_fail(err, errlen, "%s: at most 1000000", "--pids");
	if (cfg->cpu_seconds > CONFIG_MAX_COUNT)
		return config_fail(err, errlen, "%s: at most 1000000", "--cpu-seconds");
	if (cfg->nofile > CONFIG_MAX_COUNT)
		return config_fail(err, errlen, "%s: at most 1000000", "--nofile");
	if (cfg->nice > 19)
		return config_fail(err, errlen, "%s: from 1 to 19", "--nice");
	if (cfg->seccomp == SANDBOX_SECCOMP_FILE && (!cfg->seccomp_file || !*cfg->seccomp_file))
		return config_fail(err, errlen, "%s: empty file name", "--seccomp");
	size_t argc = 0;
	while (cfg->argv && cfg->argv[argc])
		argc++;
	if (argc == 0)
		return config_fail(err, errlen, "%s", "no command given (agentd-sandbox [OPTIONS] -- CMD [ARG...])");
	if (argc > SANDBOX_MAX_ARGS)
		return config_fail(err, errlen, "%s", "too many command arguments");
	return 0;
}

/* A growable argv under construction. */
struct config_argv {
	char **items; /* owned strings, NULL-terminated once finished */
	size_t len;   /* items in use */
	size_t cap;   /* items allocated */
};

static void config_argv_push(struct config_argv *a, char *owned)
{
	if (a->len + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->items = xrealloc(a->items, a->cap * sizeof(*a->items));
	}
	a->items[a->len++] = owned;
	a->items[a->len] = NULL;
}

static void config_argv_flag(struct config_argv *a, const char *flag, const char *value)
{
	config_argv_push(a, xstrdup(flag));
	config_argv_push(a, xstrdup(value));
}

static void config_argv_number(struct config_argv *a, const char *flag, uint64_t value, const char *unit)
{
	config_argv_push(a, xstrdup(flag));
	config_argv_push(a, xasprintf("%" PRIu64 "%s", value, unit));
}

char **sandbox_config_argv(const struct sandbox_config *cfg, const char *executable, int json_fd)
{
	struct config_argv a = {NULL, 0, 0};
	config_argv_push(&a, xstrdup(executable));
	if (cfg->workspace)
		config_argv_flag(&a, "--workspace", cfg->workspace);
	if (cfg->rootfs)
		config_argv_flag(&a, "--rootfs", cfg->rootfs);
	for (size_t i = 0; i < cfg->mount_count; i++) {
		const struct sandbox_mount *m = &cfg->mounts[i];
		config_argv_push(&a, xstrdup(config_mount_flag(m->kind)));
		if (m->kind == SANDBOX_MOUNT_RO_BIND || m->kind == SANDBOX_MOUNT_BIND)
			config_argv_push(&a, xstrdup(m->src));
		if (m->kind == SANDBOX_MOUNT_TMPFS && m->size_bytes)
			config_argv_push(&a, xasprintf("%s:%" PRIu64, m->dst, m->size_bytes));
		else
			config_argv_push(&a, xstrdup(m->dst));
	}
	for (size_t i = 0; i < cfg->env_count; i++)
		config_argv_flag(&a, "--env", cfg->env[i]);
	if (cfg->net == SANDBOX_NET_LOOPBACK)
		config_argv_flag(&a, "--net", "loopback");
	if (cfg->uid != SANDBOX_ID_DEFAULT)
		config_argv_number(&a, "--uid", cfg->uid, "");
	if (cfg->gid != SANDBOX_ID_DEFAULT)
		config_argv_number(&a, "--gid", cfg->gid, "");
	if (cfg->timeout_ms)
		config_argv_number(&a, "--timeout", cfg->timeout_ms, "ms");
	if (cfg->memory_bytes)
		config_argv_number(&a, "--memory", cfg->memory_bytes, "");
	if (cfg->pids)
		config_argv_number(&a, "--pids", cfg->pids, "");
	if (cfg->cpu_seconds)
		config_argv_number(&a, "--cpu-seconds", cfg->cpu_seconds, "");
	if (cfg->max_output_bytes)
		config_argv_number(&a, "--max-output", cfg->max_output_bytes, "");
	if (cfg->file_size_bytes)
		config_argv_number(&a, "--file-size", cfg->file_size_bytes, "");
	if (cfg->nofile)
		config_argv_number(&a, "--nofile", cfg->nofile, "");
	if (cfg->nice)
		config_argv_number(&a, "--nice", cfg->nice, "");
	if (cfg->seccomp == SANDBOX_SECCOMP_OFF)
		config_argv_flag(&a, "--seccomp", "off");
	else if (cfg->seccomp == SANDBOX_SECCOMP_FILE) {
		/* "./off" keeps a file named like a keyword a file. */
		config_argv_push(&a, xstrdup("--seccomp"));
		config_argv_push(&a, xasprintf("%s%s", cfg->seccomp_file[0] == '/' ? "" : "./", cfg->seccomp_file));
	}
	if (json_fd >= 0)
		config_argv_number(&a, "--json-fd", (uint64_t)json_fd, "");
	config_argv_push(&a, xstrdup("--"));
	for (size_t i = 0; cfg->argv && cfg->argv[i]; i++)
		config_argv_push(&a, xstrdup(cfg->argv[i]));
	return a.items;
}

void sandbox_config_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}
