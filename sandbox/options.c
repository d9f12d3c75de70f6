/* agentd-sandbox's command line: "--flag VALUE" or "--flag=VALUE", then
 * "--" (or the first word that is not a flag) and the command. Every bad
 * flag or value gets a message naming it (exit 2 in main). */
#include "sandbox/internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"

enum options_flag {
	OPT_WORKSPACE,
	OPT_ROOTFS,
	OPT_RO_BIND,
	OPT_BIND,
	OPT_TMPFS,
	OPT_HIDE,
	OPT_ENV,
	OPT_NET,
	OPT_UID,
	OPT_GID,
	OPT_TIMEOUT,
	OPT_MEMORY,
	OPT_PIDS,
	OPT_CPU_SECONDS,
	OPT_MAX_OUTPUT,
	OPT_FILE_SIZE,
	OPT_NOFILE,
	OPT_NICE,
	OPT_SECCOMP,
	OPT_JSON,
	OPT_JSON_FD,
	OPT_HELP,
	OPT_VERSION,
	OPT_COUNT,
};

static const struct {
	const char *name; /* with the leading "--" */
	int values;       /* how many arguments follow */
	bool repeatable;  /* may be given more than once */
} options_table[OPT_COUNT] = {
	[OPT_WORKSPACE] = {"--workspace", 1, false},
	[OPT_ROOTFS] = {"--rootfs", 1, false},
	[OPT_RO_BIND] = {"--ro-bind", 2, true},
	[OPT_BIND] = {"--bind", 2, true},
	[OPT_TMPFS] = {"--tmpfs", 1, true},
	[OPT_HIDE] = {"--hide", 1, true},
	[OPT_ENV] = {"--env", 1, true},
	[OPT_NET] = {"--net", 1, false},
	[OPT_UID] = {"--uid", 1, false},
	[OPT_GID] = {"--gid", 1, false},
	[OPT_TIMEOUT] = {"--timeout", 1, false},
	[OPT_MEMORY] = {"--memory", 1, false},
	[OPT_PIDS] = {"--pids", 1, false},
	[OPT_CPU_SECONDS] = {"--cpu-seconds", 1, false},
	[OPT_MAX_OUTPUT] = {"--max-output", 1, false},
	[OPT_FILE_SIZE] = {"--file-size", 1, false},
	[OPT_NOFILE] = {"--nofile", 1, false},
	[OPT_NICE] = {"--nice", 1, false},
	[OPT_SECCOMP] = {"--seccomp", 1, false},
	[OPT_JSON] = {"--json", 0, false},
	[OPT_JSON_FD] = {"--json-fd", 1, false},
	[OPT_HELP] = {"--help", 0, false},
	[OPT_VERSION] = {"--version", 0, false},
};

static const char options_help[] =
	"Usage: agentd-sandbox [OPTIONS] -- CMD [ARG...]\n"
	"\n"
	"Runs CMD in new user, mount, pid, network, IPC, UTS and cgroup namespaces, as an\n"
	"unprivileged user with no capabilities, under a seccomp filter, in a read-only\n"
	"copy of / with the workspace writable at /workspace, a fresh /tmp, a minimal /dev\n"
	"and a fresh /proc and /sys; /run, /var/run, /root and /home are empty.\n"
	"\n"
	"File system:\n"
	"  --workspace DIR        bind DIR read-write at /workspace (the working directory;\n"
	"                         without it the command starts in /tmp)\n"
	"  --rootfs DIR           use DIR instead of the host's / (read-only)\n"
	"  --ro-bind SRC DST      bind host SRC read-only at DST (repeatable)\n"
	"  --bind SRC DST         bind host SRC read-write at DST (repeatable)\n"
	"  --tmpfs DST[:SIZE]     a tmpfs at DST (default size 512M, with one inode per 4k\n"
	"                         of it; /tmp is one already)\n"
	"  --hide PATH            cover PATH with an empty read-only tmpfs (repeatable;\n"
	"                         applied after every bind)\n"
	"Environment and identity:\n"
	"  --env KEY=VALUE        add to the environment (which is only PATH, HOME=/tmp,\n"
	"                         LANG and TERM otherwise; repeatable)\n"
	"  --net none|loopback    no network (default), or only the sandbox's own loopback\n"
	"  --uid UID, --gid GID   host user and group to run as when started as root\n"
	"                         (default nobody/nogroup; never 0). Unprivileged, the\n"
	"                         caller's own.\n"
	"Limits:\n"
	"  --timeout DURATION     wall-clock limit (ms, s, m, h): everything inside is killed\n"
	"  --memory SIZE          memory limit through a cgroup (k, M, G)\n"
	"  --pids N               at most N processes and threads (cgroup and RLIMIT_NPROC)\n"
	"  --cpu-seconds N        CPU time of everything inside together (counted by a\n"
	"                         cgroup, or reported as not enforced): once it is used\n"
	"                         up, everything is killed and the command reported as\n"
	"                         ended by SIGXCPU (RLIMIT_CPU also stops each process)\n"
	"  --max-output SIZE      keep the first and last SIZE/2 bytes of stdout and of\n"
	"                         stderr, with a marker saying how much was cut\n"
	"  --file-size SIZE       largest file the command may write (RLIMIT_FSIZE)\n"
	"  --nofile N             open file limit (default 1024)\n"
	"  --nice N               run everything inside at niceness N (1..19): below\n"
	"                         the caller's priority, never above it\n"
	"  --seccomp default|off|FILE\n"
	"                         the system call policy (FILE: \"SYSCALL [ERRNO]\" lines,\n"
	"                         \"@default\" for the built-in rules; see POLICY.md)\n"
	"Reporting:\n"
	"  --json                 write the result as one JSON object on stderr at the end,\n"
	"                         on a line of its own (the command's stderr then passes\n"
	"                         through agentd-sandbox)\n"
	"  --json-fd FD           write it to file descriptor FD instead\n"
	"  --help, --version\n"
	"\n"
	"Exit status: the command's, or 128+N when signal N ended it; 124 when the\n"
	"timeout did; 125 when the sandbox could not be set up (the message names the\n"
	"step); 126/127 when the command could not be executed or found; 2 for a bad\n"
	"flag.\n";

const char *options_usage(void)
{
	return options_help;
}

static int options_fail(char *err, size_t errlen, const char *flag, const char *why)
{
	snprintf(err, errlen, "%s: %s", flag, why);
	return -EINVAL;
}

/* A user or group: a number, or a name from the system's databases. */
static int options_parse_id(const char *text, bool user, uint32_t *out, char *why, size_t whylen)
{
	uint64_t n;
	if (units_parse_uint(text, &n, why, whylen) == 0) {
		if (n >= UINT32_MAX) {
			snprintf(why, whylen, "out of range");
			return -ERANGE;
		}
		*out = (uint32_t)n;
		return 0;
	}
	if (user) {
		struct passwd *pw = getpwnam(text);
		if (pw) {
			*out = (uint32_t)pw->pw_uid;
			return 0;
		}
	} else {
		struct group *gr = getgrnam(text);
		if (gr) {
			*out = (uint32_t)gr->gr_gid;
			return 0;
		}
	}
	snprintf(why, whylen, "no such %s \"%s\"", user ? "user" : "group", text);
	return -EINVAL;
}

/* "DST" or "DST:SIZE" (the last colon, when what follows is a size). */
static int options_parse_tmpfs(const char *text, struct sandbox_mount *m, char *why, size_t whylen)
{
	m->kind = SANDBOX_MOUNT_TMPFS;
	m->dst = text;
	m->size_bytes = 0;
	const char *colon = strrchr(text, ':');
	if (!colon)
		return 0;
	uint64_t size;
	if (units_parse_size(colon + 1, &size, why, whylen) < 0)
		return -EINVAL;
	if (size < 4096) {
		snprintf(why, whylen, "size %s is below 4k", colon + 1);
		return -EINVAL;
	}
	/* The destination is the part before the colon: it lives in the
	 * argument string, cut there. */
	((char *)colon)[0] = '\0';
	m->size_bytes = size;
	return 0;
}

/* The field of a limit flag (--memory, --pids, ...). */
static uint64_t *options_limit(struct sandbox_config *cfg, enum options_flag flag)
{
	switch (flag) {
	case OPT_MEMORY: return &cfg->memory_bytes;
	case OPT_MAX_OUTPUT: return &cfg->max_output_bytes;
	case OPT_FILE_SIZE: return &cfg->file_size_bytes;
	case OPT_PIDS: return &cfg->pids;
	case OPT_CPU_SECONDS: return &cfg->cpu_seconds;
	case OPT_NICE: return &cfg->nice;
	default: return &cfg->nofile;
	}
}

static int options_apply(struct options *opts, enum options_flag flag, char **values, char *err, size_t errlen)
{
	struct sandbox_config *cfg = &opts->cfg;
	const char *name = options_table[flag].name;
	const char *v = values[0];
	char why[256];
	uint64_t n = 0;
	int rc = 0;
	switch (flag) {
	case OPT_WORKSPACE: cfg->workspace = v; break;
	case OPT_ROOTFS: cfg->rootfs = v; break;
	case OPT_RO_BIND:
	case OPT_BIND:
	case OPT_TMPFS:
	case OPT_HIDE: {
		if (cfg->mount_count == SANDBOX_MAX_MOUNTS)
			return options_fail(err, errlen, name, "too many mounts");
		struct sandbox_mount *m = &opts->mounts[cfg->mount_count];
		memset(m, 0, sizeof(*m));
		if (flag == OPT_TMPFS) {
			if (options_parse_tmpfs((char *)v, m, why, sizeof(why)) < 0)
				return options_fail(err, errlen, name, why);
		} else if (flag == OPT_HIDE) {
			m->kind = SANDBOX_MOUNT_HIDE;
			m->dst = v;
		} else {
			m->kind = flag == OPT_BIND ? SANDBOX_MOUNT_BIND : SANDBOX_MOUNT_RO_BIND;
			m->src = v;
			m->dst = values[1];
		}
		cfg->mount_count++;
		break;
	}
	case OPT_ENV:
		if (cfg->env_count == SANDBOX_MAX_ENV)
			return options_fail(err, errlen, name, "too many variables");
		opts->env[cfg->env_count++] = v;
		break;
	case OPT_NET:
		if (strcmp(v, "none") == 0)
			cfg->net = SANDBOX_NET_NONE;
		else if (strcmp(v, "loopback") == 0)
			cfg->net = SANDBOX_NET_LOOPBACK;
		else
			return options_fail(err, errlen, name, "expected none or loopback");
		break;
	case OPT_UID:
	case OPT_GID:
		rc = options_parse_id(v, flag == OPT_UID, flag == OPT_UID ? &cfg->uid : &cfg->gid, why, sizeof(why));
		break;
	case OPT_TIMEOUT:
		rc = units_parse_duration(v, &cfg->timeout_ms, why, sizeof(why));
		if (rc == 0 && cfg->timeout_ms == 0)
			return options_fail(err, errlen, name, "must be more than 0");
		break;
	case OPT_MEMORY:
	case OPT_MAX_OUTPUT:
	case OPT_FILE_SIZE:
	case OPT_PIDS:
	case OPT_CPU_SECONDS:
	case OPT_NICE:
	case OPT_NOFILE: {
		bool is_size = flag == OPT_MEMORY || flag == OPT_MAX_OUTPUT || flag == OPT_FILE_SIZE;
		rc = is_size ? units_parse_size(v, &n, why, sizeof(why)) : units_parse_uint(v, &n, why, sizeof(why));
		/* 0 is "none" in the configuration, never a limit one may ask for. */
		if (rc == 0 && n == 0)
			return options_fail(err, errlen, name, "must be more than 0");
		if (rc == 0 && flag == OPT_NICE && n > 19)
			return options_fail(err, errlen, name, "expected 1 to 19");
		*options_limit(cfg, flag) = n;
		break;
	}
	case OPT_SECCOMP:
		if (strcmp(v, "default") == 0) {
			cfg->seccomp = SANDBOX_SECCOMP_DEFAULT;
		} else if (strcmp(v, "off") == 0) {
			cfg->seccomp = SANDBOX_SECCOMP_OFF;
		} else {
			cfg->seccomp = SANDBOX_SECCOMP_FILE;
			cfg->seccomp_file = v;
		}
		break;
	case OPT_JSON:
		if (opts->json_fd < 0)
			opts->json_fd = 2;
		break;
	case OPT_JSON_FD:
		rc = units_parse_uint(v, &n, why, sizeof(why));
		if (rc == 0 && (n < 1 || n > 1023))
			return options_fail(err, errlen, name, "expected a file descriptor number from 1 to 1023");
		opts->json_fd = (int)n;
		opts->json_fd_explicit = true;
		break;
	case OPT_HELP: opts->help = true; break;
	case OPT_VERSION: opts->version = true; break;
	case OPT_COUNT: break;
	}
	if (rc < 0)
		return options_fail(err, errlen, name, why);
	return 0;
}

int options_parse(struct options *opts, int argc, char **argv, char *err, size_t errlen)
{
	memset(opts, 0, sizeof(*opts));
	sandbox_config_init(&opts->cfg);
	opts->cfg.mounts = opts->mounts;
	opts->cfg.env = opts->env;
	opts->json_fd = -1;
	bool seen[OPT_COUNT] = {false};
	int i = 1;
	while (i < argc) {
		char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (strncmp(arg, "--", 2) != 0)
			break;
		/* "--flag=value" for flags that take one value. */
		char *eq = strchr(arg, '=');
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		int flag = -1;
		for (int f = 0; f < OPT_COUNT; f++) {
			if (strlen(options_table[f].name) == name_len &&
			    strncmp(options_table[f].name, arg, name_len) == 0)
				flag = f;
		}
		if (flag < 0) {
			snprintf(err, errlen, "unknown option %.*s", (int)name_len, arg);
			return -EINVAL;
		}
		const char *name = options_table[flag].name;
		int nvalues = options_table[flag].values;
		if (seen[flag] && !options_table[flag].repeatable)
			return options_fail(err, errlen, name, "given more than once");
		seen[flag] = true;
		char *values[2] = {NULL, NULL};
		if (eq) {
			if (nvalues != 1)
				return options_fail(err, errlen, name,
						    nvalues ? "takes two values: --flag SRC DST" : "takes no value");
			values[0] = eq + 1;
			i++;
		} else {
			if (nvalues > argc - i - 1) {
				snprintf(err, errlen, "%s: expects %d value%s", name, nvalues, nvalues > 1 ? "s" : "");
				return -EINVAL;
			}
			for (int k = 0; k < nvalues; k++)
				values[k] = argv[i + 1 + k];
			i += 1 + nvalues;
		}
		int rc = options_apply(opts, (enum options_flag)flag, values, err, errlen);
		if (rc < 0)
			return rc;
	}
	opts->cfg.argv = (const char *const *)&argv[i];
	if (opts->help || opts->version)
		return 0;
	return sandbox_config_check(&opts->cfg, err, errlen);
}
