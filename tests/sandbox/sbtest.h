/* Helpers for the sandbox tests: runs of agentd-sandbox as an agent's
 * command is run (sandbox-probe at /probe, the JSON result on fd 3), and
 * real host-side targets (listeners, processes, files) to aim at. */
#ifndef AGENTD_TESTS_SANDBOX_SBTEST_H
#define AGENTD_TESTS_SANDBOX_SBTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

/* One finished run of agentd-sandbox. */
struct sbt_result {
	int status;                 /* exit code, or 128 + signal */
	char *out;                  /* its stdout, owned */
	char *err;                  /* its stderr, owned */
	bool has_json;              /* the --json-fd result was parsed */
	struct sandbox_result json; /* that result */
	long long elapsed_ms;       /* wall time of the run */
};

/* How to start it. */
struct sbt_options {
	int stdin_fd;     /* the sandbox's stdin; -1: /dev/null */
	bool new_session; /* setsid() first, and make stdin_fd the controlling terminal */
	bool as_nobody;   /* run as nobody through setpriv (from copies nobody can read) */
	bool no_probe;    /* do not bind sandbox-probe at /probe */
};

const char *sbt_sandbox_path(void);
const char *sbt_probe_path(void);
bool sbt_is_root(void);
/* The host uid the sandbox's command runs as (nobody as root). */
uint32_t sbt_sandbox_uid(void);
/* A fresh workspace the sandbox's user may write (removed after the test). */
const char *sbt_workspace(void);
/* Runs agentd-sandbox --json-fd 3 [--ro-bind PROBE /probe] ARGS... and
 * waits up to timeout_ms (the test fails beyond). */
void sbt_run(struct sbt_result *r, const char *const *args, long timeout_ms);
void sbt_run_opts(struct sbt_result *r, const struct sbt_options *opts, const char *const *args, long timeout_ms);
/* Runs agentd-sandbox with exactly args (no JSON, no probe). */
void sbt_run_plain(struct sbt_result *r, const char *const *args, long timeout_ms);
void sbt_result_free(struct sbt_result *r);
/* Fails the test unless the run ended with the command's exit 0. */
void sbt_expect_ok(const struct sbt_result *r);
/* Runs "/probe WHAT [ARG]" with flags (NULL-terminated, may be NULL)
 * before "--", and expects it to finish with exit 0. */
void sbt_probe(struct sbt_result *r, const char *const *flags, const char *what, const char *arg);
/* The same, then checks that its output holds every line of expect
 * (NULL-terminated). */
void sbt_probe_expect(const char *const *flags, const char *what, const char *arg, const char *const *expect);

/* A temporary directory (removed after the test) everyone may read. */
const char *sbt_shared_dir(void);
/* Writes text to dir/name, readable by everyone; returns the path (owned
 * by the helpers until the test ends). */
const char *sbt_shared_file(const char *dir, const char *name, const char *text);

/* A TCP or UDP socket bound to 127.0.0.1 on an ephemeral port (TCP
 * listening); the port goes to *port. */
int sbt_listen_inet(int type, int *port);
/* True if the listener has a connection (TCP) or a datagram (UDP) waiting. */
bool sbt_has_visitor(int fd);
/* A unix listener at path ('@' first: abstract). */
int sbt_listen_unix(const char *path);
/* Starts a host process (the probe's "sleeper") with marker in its
 * command line, as the sandbox's uid; returns its pid. */
pid_t sbt_start_sleeper(const char *marker);
/* True while pid exists and is not a zombie. */
bool sbt_alive(pid_t pid);
/* True if any host process's command line contains marker. */
bool sbt_marker_running(const char *marker);
/* How many live processes carry marker in their command lines. */
int sbt_marker_count(const char *marker);
/* Waits up to timeout_ms for no process to carry marker. */
bool sbt_wait_marker_gone(const char *marker, long timeout_ms);
/* SIGKILLs every process that carries marker (after a failed check, so
 * that nothing outlives the test). */
void sbt_kill_marker(const char *marker);
/* A marker unique to this test process. */
const char *sbt_marker(void);

#endif
