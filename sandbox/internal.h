/* Internals of agentd-sandbox: the supervisor (on the host), the namespace
 * init (pid 1 inside: builds the root, reaps, reports) and the command
 * (drops everything, then execs). */
#ifndef AGENTD_SANDBOX_INTERNAL_H
#define AGENTD_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

/* Where the new root's host paths lead; the fixed hostname inside. */
#define SANDBOX_HOSTNAME "sandbox"
/* The command's PATH. */
#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- options.c: the command line ---- */

/* A parsed command line; cfg points into the arrays and into argv. */
struct options {
	struct sandbox_config cfg;                       /* the configuration */
	struct sandbox_mount mounts[SANDBOX_MAX_MOUNTS]; /* storage for cfg.mounts */
	const char *env[SANDBOX_MAX_ENV];                /* storage for cfg.env */
	int json_fd;                                     /* --json-fd, or 2 with --json; -1: none */
	bool json_fd_explicit;                           /* --json-fd: its peer closing means the caller is gone */
	bool help;                                       /* --help was given */
	bool version;                                    /* --version was given */
};

/* Parses argv into opts. Returns 0 or -EINVAL with a message naming the
 * flag in err. */
int options_parse(struct options *opts, int argc, char **argv, char *err, size_t errlen);
/* The --help text (a static string). */
const char *options_usage(void);

/* ---- policy.c: the seccomp filter ---- */

/* One denied system call. */
struct policy_rule {
	char name[32];   /* system call name, as libseccomp knows it */
	int errno_value; /* what the call returns (EPERM, ENOSYS, ...) */
};

/* The rules to load; built in the supervisor, loaded in the command. */
struct policy {
	bool builtin;              /* include the built-in rules (default, or "@default" in a file) */
	struct policy_rule *rules; /* rules from a file, owned */
	size_t rule_count;         /* entries in rules */
};

/* Builds the policy --seccomp asks for into *out, which the caller frees
 * with policy_free (NULL for "off"). Returns 0 or -EINVAL/-errno with a
 * message (file name and line) in err. */
int policy_new(const struct sandbox_config *cfg, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *policy);
/* Compiles the filter and writes the BPF program (struct sock_filter
 * instructions) to fd. Returns 0, or a negative errno with the failing
 * step in err. */
int policy_compile(const struct policy *policy, int fd, char *err, size_t errlen);

/* A compiled filter, as policy_compile wrote it. */
struct policy_program {
	void *insns;  /* struct sock_filter[], owned; NULL: no filter */
	size_t count; /* instructions */
};

/* Reads a compiled filter from fd until EOF. Returns 0 or a negative errno. */
int policy_program_read(struct policy_program *prog, int fd);
/* Installs it in the calling process (after PR_SET_NO_NEW_PRIVS). */
int policy_program_install(const struct policy_program *prog);

/* ---- the plan shared by the three processes ---- */

struct sandbox_run {
	const struct sandbox_config *cfg; /* what was asked for */
	const struct policy *policy;      /* seccomp rules; NULL: none */
	bool privileged;                  /* started as root: any uid map, cgroups */
	uint32_t uid;                     /* the command's uid, inside and on the host */
	uint32_t gid;                     /* the command's gid, inside and on the host */
	int err_fd;                       /* write end of the error pipe */
	int sync_fd;                      /* read end: a byte once the supervisor has written the maps */
	int status_fd;                    /* write end: init reports the command's wait status */
	int filter_fd;                    /* read end: the compiled seccomp filter; -1: none */
	int stdout_fd;                    /* the command's stdout (a capture pipe), -1: inherited */
	int stderr_fd;                    /* the command's stderr (a capture pipe), -1: inherited */
};

/* ---- errpipe.c: set-up failures from init and the command ---- */

/* One failure report; written in one write (atomic on a pipe). */
struct errpipe_msg {
	int32_t status;  /* exit status it stands for (125, 126, 127) */
	char text[1000]; /* "step: reason" */
};

/* Reports "step: strerror(err)" (err 0: step alone) and exits with
 * status. Only for init and the command before exec. */
__attribute__((noreturn, format(printf, 4, 5))) void errpipe_fail(int fd, int status, int err, const char *fmt, ...);
/* Reads one report: 1 when msg was filled, 0 at EOF, negative errno. */
int errpipe_read(int fd, struct errpipe_msg *msg);

/* ---- identity.c: uids, gids, capabilities ---- */

/* Supervisor: writes the uid and gid maps of pid's user namespace. Returns
 * 0 or a negative errno with the step in err. */
int identity_write_maps(const struct sandbox_run *run, pid_t pid, char *err, size_t errlen);
/* Init: creates files as the command's ids (the only ones mapped). */
void identity_use_fs_ids(const struct sandbox_run *run);
/* Command: becomes uid/gid with no supplementary groups, drops every
 * capability (effective, permitted, inheritable, ambient, bounding) and
 * locks it so. Exits through the error pipe on failure. */
void identity_become(const struct sandbox_run *run);

/* ---- limits.c: resource limits of the command ---- */

/* Sets the rlimits (CORE, RTPRIO and NICE 0, NOFILE, NPROC, FSIZE, CPU).
 * Exits through the error pipe on failure. */
void limits_apply(const struct sandbox_run *run);
/* Init, after the pivot: the CPU time used so far by everything in the
 * sandbox (what init has reaped, and every live process with the children
 * it has reaped), in milliseconds. */
uint64_t limits_cpu_used_ms(void);

/* ---- rootfs.c: the file system inside ---- */

/* Init: builds the new root (read-only binds, /workspace, /tmp, /dev,
 * /proc, /sys, masks, the caller's mounts), pivots into it and enters the
 * working directory. Exits through the error pipe on failure. */
void rootfs_enter(const struct sandbox_run *run);

/* ---- nsinit.c: pid 1 of the sandbox ---- */

/* The body of the process cloned into the new namespaces; never returns. */
__attribute__((noreturn)) void nsinit_main(const struct sandbox_run *run);

/* ---- command.c: the command's last steps ---- */

/* In the child of init (which shares init's memory until the exec):
 * drops privileges, applies limits, the clean environment and the seccomp
 * filter, and execs; never returns. */
__attribute__((noreturn)) void command_exec(const struct sandbox_run *run, const struct policy_program *filter);

/* ---- cgroup.c: memory and pids limits ---- */

/* One sandbox's cgroups: a directory per controller (v1), or one for both
 * (v2, or v1 with the controllers mounted together). */
struct cgroup {
	char memory_dir[512]; /* this sandbox's memory cgroup; "" when none */
	int memory_version;   /* 1 or 2; 0 when none */
	char pids_dir[512];   /* this sandbox's pids cgroup; "" when none */
	int pids_version;     /* 1 or 2; 0 when none */
	char cpu_dir[512];    /* the cgroup that counts its CPU time (cpuacct, or v2's own); "" when none */
	int cpu_version;      /* 1 or 2; 0 when none */
};

/* Makes the cgroups for the limits cfg asks for (memory, pids, and one that
 * counts CPU time for --cpu-seconds). A limit that cannot be
 * enforced is added to *not_enforced with its reason appended to note
 * (never an error: the run goes on and reports it). */
void cgroup_create(struct cgroup *cg, const struct sandbox_config *cfg, unsigned *not_enforced, char *note,
		   size_t notelen);
/* Moves pid into the cgroups. Returns 0 or a negative errno with err. */
int cgroup_attach(const struct cgroup *cg, pid_t pid, char *err, size_t errlen);
/* Reads the peak memory and whether the OOM killer acted into res. */
void cgroup_collect(const struct cgroup *cg, struct sandbox_result *res);
/* The CPU time everything in the sandbox has used so far. Returns 0, or
 * a negative errno (-ENOENT without a cgroup that counts it). */
int cgroup_cpu_used_ms(const struct cgroup *cg, uint64_t *ms);
/* Removes the directories (the sandbox must be empty). */
void cgroup_remove(struct cgroup *cg);

/* ---- capture.c: capped output ---- */

/* One output stream of the command, passed on with its middle cut once it
 * exceeds the cap. */
struct capture {
	int in_fd;           /* read end of the command's pipe; -1 after EOF */
	int out_fd;          /* where the kept bytes go */
	uint64_t head_max;   /* bytes passed on from the start */
	uint64_t tail_max;   /* bytes kept from the end */
	uint64_t total;      /* bytes the command wrote */
	char *tail;          /* ring of the last tail_max bytes past the head; NULL until needed */
	size_t tail_start;   /* oldest byte in tail */
	size_t tail_len;     /* bytes in tail */
	bool write_failed;   /* out_fd stopped taking bytes; the rest is counted and dropped */
	bool line_open;      /* the last byte passed on was not a newline */
	int64_t deadline_ms; /* monotonic time after which a stalled reader of out_fd is given up; 0: never */
};

/* max is the cap (head and tail get half each); 0: none, every byte is
 * passed on. */
void capture_init(struct capture *c, int in_fd, int out_fd, uint64_t max);
/* Milliseconds on the monotonic clock. */
int64_t capture_now_ms(void);
/* Reads what is available: returns bytes read, 0 at EOF, -errno (EAGAIN
 * when nothing was there). */
ssize_t capture_read(struct capture *c);
/* At EOF: writes the marker and the tail if anything was cut. Returns true
 * when something was cut. */
bool capture_finish(struct capture *c);
void capture_free(struct capture *c);

/* ---- supervisor.c: the process that stays outside ---- */

/* Runs the whole sandbox and returns agentd-sandbox's exit status. parent
 * is the caller's pid as agentd-sandbox first saw it. */
int supervisor_run(const struct options *opts, const struct policy *policy, pid_t parent);

#endif
