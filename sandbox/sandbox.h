/* The sandbox library: what the daemon uses to run a command inside
 * agentd-sandbox (namespaces, a read-only root, seccomp, limits) from its
 * libuv loop without blocking, and the result agentd-sandbox reports. */
#ifndef AGENTD_SANDBOX_H
#define AGENTD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"

/* agentd-sandbox's own exit statuses; anything else is the command's
 * (its exit code, or 128 + the signal that ended it). */
#define SANDBOX_EXIT_USAGE 2      /* a bad flag or value */
#define SANDBOX_EXIT_TIMEOUT 124  /* the wall-clock limit ended the command */
#define SANDBOX_EXIT_SETUP 125    /* the sandbox could not be set up */
#define SANDBOX_EXIT_NOEXEC 126   /* the command exists but could not be executed */
#define SANDBOX_EXIT_NOTFOUND 127 /* the command was not found */

/* uid/gid not given: nobody/nogroup when started as root, else the caller's. */
#define SANDBOX_ID_DEFAULT UINT32_MAX
#define SANDBOX_NOBODY 65534
/* Bounds on what a caller may ask for (checked before use). */
#define SANDBOX_MAX_MOUNTS 128
#define SANDBOX_MAX_ENV 128
#define SANDBOX_MAX_ARGS 4096
/* /tmp's size when --tmpfs does not name /tmp. */
#define SANDBOX_DEFAULT_TMP_BYTES (512ull << 20)
/* RLIMIT_NOFILE when not given. */
#define SANDBOX_DEFAULT_NOFILE 1024

enum sandbox_mount_kind {
	SANDBOX_MOUNT_RO_BIND, /* --ro-bind SRC DST */
	SANDBOX_MOUNT_BIND,    /* --bind SRC DST (read-write) */
	SANDBOX_MOUNT_TMPFS,   /* --tmpfs DST[:SIZE] */
	SANDBOX_MOUNT_HIDE,    /* --hide PATH: an empty read-only tmpfs (or /dev/null) over it */
};

struct sandbox_mount {
	enum sandbox_mount_kind kind; /* what to mount */
	const char *src;              /* host path of a bind; NULL otherwise */
	const char *dst;              /* absolute path inside the sandbox */
	uint64_t size_bytes;          /* tmpfs size cap; 0: the default */
};

enum sandbox_net {
	SANDBOX_NET_NONE,     /* a network namespace with no interface up */
	SANDBOX_NET_LOOPBACK, /* the namespace's own loopback is up */
};

enum sandbox_seccomp {
	SANDBOX_SECCOMP_DEFAULT, /* the built-in policy (POLICY.md) */
	SANDBOX_SECCOMP_OFF,     /* no filter */
	SANDBOX_SECCOMP_FILE,    /* rules read from seccomp_file */
};

/* What to run and how. Every pointer is borrowed from the caller. */
struct sandbox_config {
	const char *workspace;              /* host directory bound read-write at /workspace; NULL: none */
	const char *rootfs;                 /* host directory that becomes / (read-only); NULL: host / */
	const struct sandbox_mount *mounts; /* extra binds and tmpfs in order, then hidden paths */
	size_t mount_count;                 /* entries in mounts */
	const char *const *env;             /* "KEY=VALUE" added to the clean environment */
	size_t env_count;                   /* entries in env */
	enum sandbox_net net;               /* network inside */
	uint32_t uid;                       /* host uid of the command when started as root */
	uint32_t gid;                       /* host gid of the command when started as root */
	uint64_t timeout_ms;                /* wall-clock limit; 0: none */
	uint64_t memory_bytes;              /* memory cgroup limit; 0: none */
	uint64_t pids;                      /* process limit (cgroup and RLIMIT_NPROC); 0: none */
	uint64_t cpu_seconds;               /* CPU time of everything inside together (and RLIMIT_CPU); 0: none */
	uint64_t max_output_bytes;          /* cap per output stream (head and tail kept); 0: none */
	uint64_t file_size_bytes;           /* RLIMIT_FSIZE; 0: none */
	uint64_t nofile;                    /* RLIMIT_NOFILE; 0: SANDBOX_DEFAULT_NOFILE */
	uint64_t nice;                      /* scheduling niceness of everything inside, 1..19; 0: unchanged */
	enum sandbox_seccomp seccomp;       /* which seccomp policy */
	const char *seccomp_file;           /* the rules, with SANDBOX_SECCOMP_FILE */
	const char *const *argv;            /* the command and its arguments, NULL-terminated */
};

/* Limits that can go unenforced where the host does not allow them. (The
 * process limit always holds: RLIMIT_NPROC backs the pids cgroup.) */
enum sandbox_limit {
	SANDBOX_LIMIT_MEMORY = 1 << 0, /* no memory cgroup could be made */
	SANDBOX_LIMIT_CPU = 1 << 1,    /* no cgroup counts CPU time: children the kernel reaps escape it */
};

/* What happened to one command. */
struct sandbox_result {
	int status;                   /* agentd-sandbox's exit status (SANDBOX_EXIT_* or the command's) */
	int exit_code;                /* the command's exit code; -1 when it did not exit by itself */
	int signal;                   /* the signal that ended the command; 0 when none */
	bool setup_failed;            /* the sandbox could not be set up (status 125); see error */
	bool timed_out;               /* the wall-clock limit ended it */
	bool oom_killed;              /* the memory limit ended something in it */
	bool killed;                  /* stopped on request (SIGTERM to agentd-sandbox, sandbox_kill) */
	bool output_truncated;        /* --max-output cut stdout or stderr */
	unsigned limits_not_enforced; /* enum sandbox_limit bits */
	uint64_t wall_ms;             /* from the start of the sandbox to its end */
	uint64_t cpu_ms;              /* user + system time of everything that ran inside */
	int64_t peak_memory_bytes;    /* memory cgroup peak, or largest process's RSS; -1: unknown */
	uint64_t stdout_bytes;        /* bytes the command wrote to stdout (before the cap) */
	uint64_t stderr_bytes;        /* bytes the command wrote to stderr (before the cap) */
	char error[512];              /* setup or exec failure, naming the step; "" when none */
	char limits_note[512];        /* why each unenforced limit is not enforced; "" when none */
};

/* Defaults: no workspace, host root, no network, no limits. */
void sandbox_config_init(struct sandbox_config *cfg);
/* Checks what agentd-sandbox would refuse (exit 2): absolute paths,
 * "KEY=VALUE" forms, bounds. Returns 0 or -EINVAL with a reason in err. */
int sandbox_config_check(const struct sandbox_config *cfg, char *err, size_t errlen);
/* The agentd-sandbox command line for cfg, starting with executable and
 * ending with the command; json_fd >= 0 adds "--json-fd N". Returns a
 * NULL-terminated array the caller frees with sandbox_config_argv_free. */
char **sandbox_config_argv(const struct sandbox_config *cfg, const char *executable, int json_fd);
void sandbox_config_argv_free(char **argv);

/* Names of the limit bits, e.g. "memory" (static strings). */
const char *sandbox_limit_name(enum sandbox_limit limit);
/* Empties a result: no exit code, no signal, unknown peak memory. */
void sandbox_result_init(struct sandbox_result *res);
/* One JSON object, appended to out. */
void sandbox_result_to_json(const struct sandbox_result *res, struct buf *out);
/* Fills res from agentd-sandbox's JSON. Returns 0 or -EINVAL with err. */
int sandbox_result_from_json(const char *json, size_t len, struct sandbox_result *res, char *err, size_t errlen);

/* A running sandbox, owned by the library until sandbox_free. */
typedef struct sandbox sandbox;

/* Called once, on the loop thread, after agentd-sandbox has exited and its
 * result has been read. The command's stdout and stderr may still hold
 * unread bytes: read them until EOF (and read them all along: a command
 * whose pipes are full waits). result is borrowed for the call; sb may be
 * freed in it. */
typedef void (*sandbox_exit_fn)(sandbox *sb, const struct sandbox_result *result, void *arg);

struct sandbox_spawn_options {
	const char *executable; /* path of agentd-sandbox; NULL: "agentd-sandbox" on PATH */
	bool stdin_pipe;        /* give the command a stdin pipe; otherwise /dev/null */
	uint64_t kill_grace_ms; /* after the timeout or sandbox_kill, wait this long before SIGKILL; 0: 5s */
};

/* Starts agentd-sandbox with cfg as a child of the loop's process and
 * returns at once. cfg is only read during the call. *out is owned by the
 * caller, who releases it with sandbox_free (after on_exit, or before,
 * which kills the sandbox). opts may be NULL. Returns 0, or a negative
 * errno with a reason in err. */
int sandbox_spawn(uv_loop_t *loop, const struct sandbox_config *cfg, const struct sandbox_spawn_options *opts,
		  sandbox_exit_fn on_exit, void *arg, sandbox **out, char *err, size_t errlen);
/* The command's streams, owned by the sandbox (never uv_close them): read
 * stdout and stderr with uv_read_start, write stdin with uv_write. stdin is
 * NULL without stdin_pipe or after sandbox_close_stdin. */
uv_stream_t *sandbox_stdin(sandbox *sb);
uv_stream_t *sandbox_stdout(sandbox *sb);
uv_stream_t *sandbox_stderr(sandbox *sb);
/* Closes the command's stdin (it reads EOF). */
void sandbox_close_stdin(sandbox *sb);
/* The pid of agentd-sandbox: 0 until it runs (it is started off the loop)
 * and once it has exited. */
int sandbox_pid(const sandbox *sb);
/* Stops the whole sandbox: agentd-sandbox kills everything inside, reports
 * "killed" and exits; SIGKILL follows after the grace period. Returns 0, or
 * -ESRCH once it has exited. */
int sandbox_kill(sandbox *sb);
/* Releases the sandbox; one still running is killed first, and on_exit is
 * not called any more. NULL is a no-op. */
void sandbox_free(sandbox *sb);

#endif
