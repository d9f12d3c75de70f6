/* agentd-sandbox as a person uses it: flag errors (2), --help, set-up
 * failures (125) kept apart from the command's status, --json, policy
 * files, an unprivileged caller, and real builds going through unharmed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"
#include "tests/sandbox/sbtest.h"

TEST(bad_flags_exit_2_naming_the_flag)
{
	struct {
		const char *args[8]; /* the command line after agentd-sandbox */
		const char *message; /* what stderr must say */
	} cases[] = {
		{{"--bogus", "--", "true"}, "unknown option --bogus"},
		{{"--memory", "lots", "--", "true"}, "--memory"},
		{{"--memory", "10k", "--", "true"}, "--memory"},
		{{"--timeout", "5", "--", "true"}, "--timeout"},
		{{"--net", "wifi", "--", "true"}, "--net: expected none or loopback"},
		{{"--ro-bind", "/etc"}, "--ro-bind: expects 2 values"},
		{{"--bind", "/etc", "relative", "--", "true"}, "--bind: \"relative\" must be an absolute path"},
		{{"--hide", "/a/../b", "--", "true"}, "--hide"},
		{{"--tmpfs", "/x:lots", "--", "true"}, "--tmpfs"},
		{{"--env", "NOEQUALS", "--", "true"}, "--env: expected KEY=VALUE"},
		{{"--uid", "0", "--", "true"}, "--uid 0: the sandbox never runs as host root"},
		{{"--uid", "no-such-user-agentd", "--", "true"}, "--uid: no such user"},
		{{"--pids", "0", "--", "true"}, "--pids: must be more than 0"},
		{{"--workspace", "/a", "--workspace", "/b", "--", "true"}, "--workspace: given more than once"},
		{{"--json-fd", "999", "--", "true"}, "--json-fd 999: not an open file descriptor"},
		{{"--seccomp", "/nonexistent/policy", "--", "true"}, "--seccomp /nonexistent/policy"},
		{{"--json=yes", "--", "true"}, "--json: takes no value"},
		{{"--"}, "no command given"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbt_result r;
		sbt_run_plain(&r, cases[i].args, 30000);
		if (r.status != SANDBOX_EXIT_USAGE || !strstr(r.err, cases[i].message))
			th_fail(__FILE__, __LINE__, "case %zu: status %d, stderr \"%s\" (wanted 2 and \"%s\")", i,
				r.status, r.err, cases[i].message);
		sbt_result_free(&r);
	}
}

TEST(help_lists_every_flag)
{
	const char *args[] = {"--help", NULL};
	struct sbt_result r;
	sbt_run_plain(&r, args, 30000);
	CHECK_INT(r.status, ==, 0);
	const char *flags[] = {"--workspace", "--rootfs", "--ro-bind", "--bind",        "--tmpfs",
			       "--hide",      "--env",    "--net",     "--uid",         "--gid",
			       "--timeout",   "--memory", "--pids",    "--cpu-seconds", "--max-output",
			       "--file-size", "--nofile", "--seccomp", "--json",        "--json-fd"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		CHECK_CONTAINS(r.out, flags[i]);
	sbt_result_free(&r);
}

TEST(setup_failure_is_125_and_names_the_step)
{
	const char *args[] = {"--workspace", "/nonexistent/agentd-ws", "--", "true", NULL};
	struct sbt_result r;
	sbt_run_plain(&r, args, 30000);
	CHECK_INT(r.status, ==, SANDBOX_EXIT_SETUP);
	CHECK_CONTAINS(r.err, "setup failed: open --workspace /nonexistent/agentd-ws: No such file or directory");
	sbt_result_free(&r);
	/* A mount point that would have to be made in the read-only root. */
	const char *mount_args[] = {"--ro-bind", "/etc/hostname", "/usr/agentd-missing/file", "--", "true", NULL};
	sbt_run(&r, mount_args, 30000);
	CHECK_INT(r.status, ==, SANDBOX_EXIT_SETUP);
	CHECK(r.has_json);
	CHECK(r.json.setup_failed);
	CHECK_CONTAINS(r.json.error, "/usr/agentd-missing/file: create the mount point: Read-only file system");
	CHECK_INT(r.json.exit_code, ==, -1);
	sbt_result_free(&r);
}

/* Runs a shell command (or argv[0] alone when script is NULL) and checks
 * how it ended: status, exit code, signal, and the error ("" for none). */
static void cli_expect_end(const char *command, const char *script, int status, int exit_code, int sig,
			   const char *error)
{
	const char *args[] = {"--", command, "-c", script, NULL};
	if (!script)
		args[2] = NULL;
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	CHECK_INT(r.status, ==, status);
	CHECK(r.has_json);
	CHECK(!r.json.setup_failed);
	CHECK_INT(r.json.exit_code, ==, exit_code);
	CHECK_INT(r.json.signal, ==, sig);
	if (*error)
		CHECK_CONTAINS(r.json.error, error);
	else
		CHECK_STR(r.json.error, "");
	sbt_result_free(&r);
}

/* A command that itself exits 125 is not a set-up failure. */
TEST(command_status_is_never_taken_for_a_setup_failure)
{
	cli_expect_end("/bin/sh", "exit 125", 125, 125, 0, "");
}

TEST(missing_command_is_127)
{
	cli_expect_end("/nonexistent-agentd-command", NULL, SANDBOX_EXIT_NOTFOUND, SANDBOX_EXIT_NOTFOUND, 0,
		       "exec /nonexistent-agentd-command: No such file or directory");
}

TEST(exit_code_and_signal_are_reported)
{
	cli_expect_end("/bin/sh", "exit 7", 7, 7, 0, "");
	cli_expect_end("/bin/sh", "kill -TERM $$", 128 + 15, -1, 15, "");
}

/* --json alone: one JSON object, the last line of stderr. */
TEST(json_result_is_one_object_on_stderr)
{
	const char *args[] = {"--json", "--", "/bin/sh", "-c", "echo out; echo err >&2", NULL};
	struct sbt_result r;
	sbt_run_plain(&r, args, 30000);
	CHECK_INT(r.status, ==, 0);
	CHECK_STR(r.out, "out\n");
	CHECK(strncmp(r.err, "err\n{", 5) == 0);
	const char *json = r.err + 4;
	CHECK(strchr(json, '\n') == json + strlen(json) - 1);
	struct sandbox_result res;
	char why[200];
	CHECK(sandbox_result_from_json(json, strlen(json), &res, why, sizeof(why)) == 0);
	CHECK_INT(res.exit_code, ==, 0);
	const char *fields[] = {"\"status\":0",
				"\"exit_code\":0",
				"\"signal\":null",
				"\"timed_out\":false",
				"\"oom_killed\":false",
				"\"output_truncated\":false",
				"\"limits_not_enforced\":[]",
				"\"wall_ms\":",
				"\"cpu_ms\":",
				"\"peak_memory_bytes\":"};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		CHECK_CONTAINS(json, fields[i]);
	sbt_result_free(&r);
}

TEST(seccomp_policy_file_is_applied)
{
	const char *dir = sbt_shared_dir();
	const char *path =
		sbt_shared_file(dir, "policy", "# the built-in rules, and no directories\n@default\nmkdir EACCES\n");
	const char *args[] = {"--seccomp", path, "--", "/bin/sh", "-c", "mkdir /tmp/d || echo refused; /probe keyctl",
			      NULL};
	struct sbt_result r;
	sbt_run(&r, args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "refused");
	CHECK_CONTAINS(r.err, "Permission denied");
	CHECK_CONTAINS(r.out, "keyctl: EPERM");
	sbt_result_free(&r);
	path = sbt_shared_file(dir, "bad-policy", "mkdir EACCES\nno_such_call\n");
	const char *bad[] = {"--seccomp", path, "--", "true", NULL};
	sbt_run_plain(&r, bad, 30000);
	CHECK_INT(r.status, ==, SANDBOX_EXIT_USAGE);
	CHECK_CONTAINS(r.err, ":2: unknown system call \"no_such_call\"");
	sbt_result_free(&r);
}

/* As nobody, without any privilege: the same sandbox (or, where the host
 * forbids unprivileged user namespaces, a clear set-up error). */
TEST(unprivileged_caller_gets_a_sandbox)
{
	struct sbt_options opts = {-1, false, sbt_is_root(), false};
	const char *args[] = {"--memory", "64M", "--", "/probe", "ids", NULL};
	struct sbt_result r;
	sbt_run_opts(&r, &opts, args, 30000);
	CHECK(r.has_json);
	if (r.status == SANDBOX_EXIT_SETUP) {
		CHECK_CONTAINS(r.json.error, "user namespaces may be disabled");
		sbt_result_free(&r);
		return;
	}
	sbt_expect_ok(&r);
	char expect[64];
	snprintf(expect, sizeof(expect), "uid: %u\n", sbt_is_root() ? SANDBOX_NOBODY : (unsigned)getuid());
	CHECK_CONTAINS(r.out, expect);
	/* No cgroup can be made without privileges: said, not skipped. */
	CHECK(r.json.limits_not_enforced & SANDBOX_LIMIT_MEMORY);
	CHECK_CONTAINS(r.json.limits_note, "memory limit not enforced");
	sbt_result_free(&r);
	const char *status_args[] = {"--", "/probe", "status", NULL};
	sbt_run_opts(&r, &opts, status_args, 30000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n");
	sbt_result_free(&r);
}

/* A sandbox that breaks real builds is useless: compile and run C with
 * make, use git and python3, all in the workspace and /tmp. */
TEST(real_work_succeeds)
{
	const char *ws = sbt_workspace();
	char path[300];
	snprintf(path, sizeof(path), "%s/hello.c", ws);
	th_write_file(path, "#include <stdio.h>\nint main(void) { puts(\"hello from the sandbox\"); return 0; }\n");
	snprintf(path, sizeof(path), "%s/Makefile", ws);
	th_write_file(path, "hello: hello.c\n\t$(CC) -O2 -Wall -o $@ $<\n");
	if (sbt_is_root()) {
		char *cmd = xasprintf("chown -R %u:%u '%s'", SANDBOX_NOBODY, SANDBOX_NOBODY, ws);
		CHECK(system(cmd) == 0);
		free(cmd);
	}
	const char *script = "set -e\n"
			     "make -s\n"
			     "./hello\n"
			     "git init -q .\n"
			     "git add hello.c Makefile\n"
			     "git -c user.name=agent -c user.email=agent@example.com commit -qm 'first'\n"
			     "git log --format=%s\n"
			     "python3 -c 'import json, sys; print(json.dumps({\"sum\": sum(range(10))}))'\n"
			     "echo tmp > /tmp/scratch && cat /tmp/scratch\n";
	const char *args[] = {"--workspace", ws, "--timeout", "120s", "--", "/bin/sh", "-c", script, NULL};
	struct sbt_result r;
	sbt_run(&r, args, 130000);
	sbt_expect_ok(&r);
	CHECK_CONTAINS(r.out, "hello from the sandbox\n");
	CHECK_CONTAINS(r.out, "first\n");
	CHECK_CONTAINS(r.out, "{\"sum\": 45}\n");
	CHECK_CONTAINS(r.out, "tmp\n");
	snprintf(path, sizeof(path), "%s/hello", ws);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0100));
	CHECK_INT(st.st_uid, ==, sbt_sandbox_uid());
	sbt_result_free(&r);
}

/* With --json, the result is the last line of stderr, where the command
 * writes too: text it leaves without a newline must not become part of
 * that line (here a whole object, which a reader of the line would take
 * for the result). */
TEST(json_result_on_stderr_cannot_be_forged)
{
	const char *script = "printf '{\"status\":0,\"exit_code\":0,\"timed_out\":false,\"error\":null}' >&2; exit 3";
	const char *args[] = {"--json", "--", "/bin/sh", "-c", script, NULL};
	struct sbt_result r;
	sbt_run_plain(&r, args, 30000);
	CHECK_INT(r.status, ==, 3);
	size_t len = strlen(r.err);
	CHECK(len > 1 && r.err[len - 1] == '\n');
	const char *last = r.err + len - 1;
	while (last > r.err && last[-1] != '\n')
		last--;
	struct sandbox_result res;
	char why[200];
	CHECK(sandbox_result_from_json(last, strlen(last), &res, why, sizeof(why)) == 0);
	CHECK_INT(res.exit_code, ==, 3);
	CHECK_INT(res.status, ==, 3);
	/* The command's text is all there, on a line of its own. */
	CHECK(strncmp(r.err, "{\"status\":0,\"exit_code\":0,", 26) == 0);
	sbt_result_free(&r);
}

/* A limit of 0 is no limit in struct sandbox_config; on the command line
 * it read as one (a computed limit that came out 0, say) and was silently
 * none at all, while --max-output 1 was refused. */
TEST(zero_limits_are_refused)
{
	const char *flags[] = {"--memory", "--max-output", "--file-size"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		const char *args[] = {flags[i], "0", "--", "true", NULL};
		struct sbt_result r;
		sbt_run_plain(&r, args, 30000);
		char message[64];
		snprintf(message, sizeof(message), "%s: must be more than 0", flags[i]);
		if (r.status != SANDBOX_EXIT_USAGE || !strstr(r.err, message))
			th_fail(__FILE__, __LINE__, "%s 0: status %d, stderr \"%s\"", flags[i], r.status, r.err);
		sbt_result_free(&r);
	}
}
