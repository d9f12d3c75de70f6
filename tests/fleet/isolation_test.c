/* Agents that try to leave their sandbox: other workspaces, the origin
 * repository, git configuration that would run on the host, the network,
 * the daemon's own socket; and a workspace that holds nothing past its
 * base commit. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"

#define BASH(cmd) "\"Next.\\n```bash\\n" cmd "\\n```\""

/* Runs one agent with the given replies and returns the task's events
 * after its run ended. */
static cJSON *run_agent(struct th_daemon *d, const char *repo, const char *instruction, char **id_out)
{
	char *id = fs_submit(d, repo, instruction, NULL);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 60000);
	cJSON_Delete(task);
	cJSON *events = fs_events(d, id);
	if (id_out)
		*id_out = id;
	else
		free(id);
	return events;
}

TEST(attempts_to_leave_the_sandbox_fail_and_change_nothing)
{
	char *repo = fs_repo();
	char *marker = xasprintf("%s/host-marker", th_tempdir());
	/* A listener on the host's loopback that no agent may reach. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK_INT(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
	CHECK_INT(listen(lfd, 8), ==, 0);
	socklen_t len = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	int port = ntohs(sin.sin_port);
	char *json = xasprintf(
		"{\"default\":["
		/* 1: the daemon's data directory: other workspaces, the database */
		BASH("ls %s/workspaces; ls %s; cat %s/agentd.db | head -c 16; echo status=$?") ","
		/* 2: the origin repository */
		BASH("touch %s/pwned; echo x >> %s/README; ls %s; echo status=$?") ","
		/* 3: git settings that would run a program if the host ran git here */
		BASH("git config core.fsmonitor 'touch %s'; mkdir -p .git/hooks; "
		     "printf '#!/bin/sh\\\\ntouch %s\\\\n' > .git/hooks/post-checkout; "
		     "chmod +x .git/hooks/post-checkout; git config core.pager 'touch %s'; echo planted") ","
		/* 4: the network, and the daemon's socket */
		BASH("(echo hi > /dev/tcp/127.0.0.1/%d) 2>&1; echo tcp=$?; getent hosts example.com; echo dns=$?; "
		     "ls -l %s; echo sock=$?") "," BASH("touch fixed && submit") "]}",
		"DATA", "DATA", "DATA", repo, repo, repo, marker, marker, marker, port, "SOCK");
	char *data = xasprintf("%s/data", th_tempdir());
	struct buf b = BUF_INIT;
	for (const char *p = json; *p;) {
		if (strncmp(p, "DATA", 4) == 0) {
			buf_append_str(&b, data);
			p += 4;
		} else if (strncmp(p, "SOCK", 4) == 0) {
			buf_printf(&b, "%s/agentd.sock", data);
			p += 4;
		} else {
			buf_append_char(&b, *p++);
		}
	}
	char *script = fs_script(b.data);
	buf_free(&b);
	free(json);
	struct th_daemon *d = fs_daemon_in(data, script, NULL);
	char *readme_before = xasprintf("%s/README", repo);
	char *before = th_read_file(readme_before);
	cJSON *events = run_agent(d, repo, "try to escape", NULL);

	const char *out1 = fs_str(fs_event(events, "step", 1), "output");
	CHECK(strstr(out1, "SQLite format") == NULL);
	CHECK(strstr(out1, "r_0") == NULL); /* no workspace was listed */
	CHECK(strstr(out1, "agentd.lock") == NULL);
	const char *out2 = fs_str(fs_event(events, "step", 2), "output");
	CHECK(strstr(out2, "Makefile") == NULL); /* the origin is out of sight */
	char *pwned = xasprintf("%s/pwned", repo);
	CHECK_INT(access(pwned, F_OK), ==, -1);
	char *after = th_read_file(readme_before);
	CHECK_STR(after, before);
	CHECK_CONTAINS(fs_str(fs_event(events, "step", 3), "output"), "planted");
	const char *out4 = fs_str(fs_event(events, "step", 4), "output");
	CHECK(strstr(out4, "tcp=0") == NULL);
	CHECK(strstr(out4, "dns=0") == NULL);
	CHECK(strstr(out4, "sock=0") == NULL);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fs_event(events, "step", 5), "submitted")));
	/* Nothing reached the listener. */
	struct pollfd pfd = {lfd, POLLIN, 0};
	CHECK_INT(poll(&pfd, 1, 0), ==, 0);
	/* The daemon looked for changes and will verify inside sandboxes; the
	 * planted git settings never ran on the host. */
	CHECK_INT(access(marker, F_OK), ==, -1);
	cJSON_Delete(events);
	th_daemon_stop(d);
	CHECK_INT(access(marker, F_OK), ==, -1);
	close(lfd);
	free(before);
	free(after);
	free(readme_before);
	free(pwned);
	free(marker);
	free(data);
}

TEST(workspace_holds_nothing_past_the_base_commit)
{
	char *repo = fs_repo();
	/* Later history the agent must not see: a second commit on main, a
	 * branch and a tag beyond the base. */
	char *cmd = xasprintf("cd '%s' && base=$(git rev-parse HEAD) && echo later > later && git add later && "
			      "git -c user.name=t -c user.email=t@x commit -qm 'the answer' && "
			      "git branch solution && git tag v2 && echo $base > ../base",
			      repo);
	CHECK_INT(system(cmd), ==, 0);
	free(cmd);
	char *base_path = xasprintf("%s/../base", repo);
	char *base = th_read_file(base_path);
	base[40] = '\0';
	char *script = fs_script(
		"{\"default\":[" BASH("git log --all --format=%H; git tag; git branch -a; git remote -v; "
				      "git reflog; git stash list; ls") "," BASH("touch fixed && submit") "]}");
	struct th_daemon *d = fs_daemon(script, NULL);
	char *extra = xasprintf("\"ref\":\"%s\"", base);
	char *id = fs_submit(d, repo, "look at history", extra);
	cJSON *task = fs_wait_state(d, id, "awaiting_review,failed", 60000);
	CHECK_STR(fs_str(fs_last_run(task), "base_commit"), base);
	cJSON *events = fs_events(d, id);
	const char *out = fs_str(fs_event(events, "step", 1), "output");
	/* Exactly one commit (the base), one branch, no tag, no remote. */
	char *want = xasprintf("%s\n* agentd\nMakefile\nREADME\n", base);
	CHECK_STR(out, want);
	cJSON_Delete(events);
	cJSON_Delete(task);
	th_daemon_stop(d);
	free(want);
	free(extra);
	free(base);
	free(base_path);
	free(id);
}
