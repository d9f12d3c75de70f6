/* Workspaces. A run first fetches the task's ref from the origin into a
 * bare base repository of its own (DATA/runs/RUN/base.git: the base commit
 * and its history, nothing after it); the agent's workspace and the fresh
 * trees of the baseline and the verification are checkouts of it (no other
 * branches, tags, remotes or reflog), owned by the slot's uid. git runs on
 * the host only on directories no agent has touched; afterwards a workspace
 * is hostile and every git command on it runs in a sandbox. Measuring and
 * removing walk the tree with lstat, off the loop thread. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tree.h"
#include "common/xalloc.h"
#include "daemon/fleet/internal.h"
#include "daemon/proc.h"

enum workspace_step {
	WS_BARE_INIT,  /* git init --bare base.git */
	WS_BARE_FETCH, /* git fetch ORIGIN REF:refs/heads/agentd */
	WS_BARE_BASE,  /* git rev-parse agentd */
	WS_CLONE,      /* git clone -b agentd base.git DIR */
	WS_UNREMOTE,   /* git remote remove origin */
	WS_CHOWN,      /* hand it to the slot's uid */
	WS_DONE,
};

struct workspace_job {
	struct fleet *fleet;
	char *repo; /* the origin, or the base repository */
	char *ref;  /* what to fetch from it */
	char *dir;  /* what to make */
	char *home; /* an empty HOME for git */
	uint32_t uid;
	enum workspace_step step;
	struct proc **proc; /* the caller's handle on the running git */
	char base[64];      /* the base commit */
	uv_work_t work;     /* the chown walk */
	int work_status;
	workspace_ready_fn ready;
	void *arg;
	uint64_t started_ns; /* for the fleet's accounting */
};

static void workspace_next(struct workspace_job *job);

static void workspace_finish(struct workspace_job *job, int status, const char *err)
{
	if (job->proc)
		*job->proc = NULL;
	job->fleet->workspace_ns[0] += uv_hrtime() - job->started_ns;
	job->ready(status, status == 0 ? job->base : NULL, err, job->arg);
	free(job->repo);
	free(job->ref);
	free(job->dir);
	free(job->home);
	free(job);
}

static void workspace_git_done(struct proc *p, int status, const char *output, size_t len, void *arg)
{
	(void)p;
	struct workspace_job *job = arg;
	if (job->proc)
		*job->proc = NULL;
	if (status != 0) {
		static const char *const what[] = {"git init", "git fetch", "git rev-parse", "git clone", "git remote"};
		char err[1024];
		size_t n = len > 600 ? 600 : len;
		while (n > 0 && (output[n - 1] == '\n' || output[n - 1] == '\r'))
			n--;
		snprintf(err, sizeof(err), "%s failed (status %d): %.*s", what[job->step], status, (int)n, output);
		workspace_finish(job, -EIO, err);
		return;
	}
	if (job->step == WS_BARE_BASE) {
		size_t n = strspn(output, "0123456789abcdef");
		if (n < 40 || n >= sizeof(job->base)) {
			workspace_finish(job, -EIO, "git rev-parse HEAD did not print a commit");
			return;
		}
		memcpy(job->base, output, n);
		job->base[n] = '\0';
	}
	job->step = job->step == WS_BARE_BASE ? WS_DONE : job->step + 1;
	if (job->step == WS_DONE) {
		workspace_finish(job, 0, NULL);
		return;
	}
	workspace_next(job);
}

/* nftw has no user pointer: the walk's state is per thread. */
static _Thread_local uint32_t workspace_chown_uid;
static _Thread_local int workspace_chown_error;

static int workspace_chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (lchown(path, workspace_chown_uid, workspace_chown_uid) < 0 && !workspace_chown_error)
		workspace_chown_error = errno;
	return 0;
}

static void workspace_chown_work(uv_work_t *work)
{
	struct workspace_job *job = work->data;
	/* The reflog would show where the branch came from; it is not the
	 * agent's business. */
	char path[4200];
	snprintf(path, sizeof(path), "%s/.git/FETCH_HEAD", job->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.git/logs", job->dir);
	tree_remove(path);
	workspace_chown_uid = job->uid;
	workspace_chown_error = 0;
	if (nftw(job->dir, workspace_chown_entry, 32, FTW_PHYS | FTW_MOUNT) < 0)
		workspace_chown_error = errno;
	job->work_status = -workspace_chown_error;
}

static void workspace_chown_done(uv_work_t *work, int status)
{
	(void)status;
	struct workspace_job *job = work->data;
	if (job->work_status < 0) {
		char err[256];
		snprintf(err, sizeof(err), "cannot give the workspace to uid %u: %s", job->uid,
			 strerror(-job->work_status));
		workspace_finish(job, job->work_status, err);
		return;
	}
	workspace_finish(job, 0, NULL);
}

static void workspace_next(struct workspace_job *job)
{
	char *env_home = xasprintf("HOME=%s", job->home);
	const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
			     env_home,
			     "LC_ALL=C",
			     "GIT_CONFIG_NOSYSTEM=1",
			     "GIT_CONFIG_GLOBAL=/dev/null",
			     "GIT_TERMINAL_PROMPT=0",
			     "GIT_ASKPASS=/bin/false",
			     "SSH_ASKPASS=/bin/false",
			     NULL};
	const char *argv[16];
	size_t n = 0;
	argv[n++] = job->fleet->git;
	char *refspec = NULL;
	switch (job->step) {
	case WS_BARE_INIT:
		argv[n++] = "init";
		argv[n++] = "-q";
		argv[n++] = "--bare";
		argv[n++] = "--template=";
		argv[n++] = job->dir;
		break;
	case WS_BARE_FETCH:
		/* Only the ref and its ancestors arrive: no other branch, no
		 * tag, and nothing that came after the base. The origin is
		 * the user's repository, whoever owns it. */
		refspec = xasprintf("%s:refs/heads/agentd", job->ref);
		argv[n++] = "-C";
		argv[n++] = job->dir;
		argv[n++] = "-c";
		argv[n++] = "safe.directory=*";
		argv[n++] = "fetch";
		argv[n++] = "-q";
		argv[n++] = "--no-tags";
		argv[n++] = "--no-recurse-submodules";
		argv[n++] = "--";
		argv[n++] = job->repo;
		argv[n++] = refspec;
		break;
	case WS_BARE_BASE:
		argv[n++] = "-C";
		argv[n++] = job->dir;
		argv[n++] = "rev-parse";
		argv[n++] = "refs/heads/agentd";
		break;
	case WS_CLONE:
		/* A local clone of the base repository: the agent's branch
		 * and its history, with objects copied, not linked. */
		argv[n++] = "clone";
		argv[n++] = "-q";
		argv[n++] = "--no-hardlinks";
		argv[n++] = "--single-branch";
		argv[n++] = "--no-tags";
		argv[n++] = "--template=";
		argv[n++] = "-b";
		argv[n++] = job->ref;
		argv[n++] = "--";
		argv[n++] = job->repo;
		argv[n++] = job->dir;
		break;
	case WS_UNREMOTE:
		/* No remote: nothing points back at where the objects came
		 * from. */
		argv[n++] = "-C";
		argv[n++] = job->dir;
		argv[n++] = "remote";
		argv[n++] = "remove";
		argv[n++] = "origin";
		break;
	case WS_CHOWN: {
		free(env_home);
		job->work.data = job;
		uv_queue_work(job->fleet->loop, &job->work, workspace_chown_work, workspace_chown_done);
		return;
	}
	case WS_DONE: free(env_home); return;
	}
	argv[n] = NULL;
	char err[256];
	struct proc *p = NULL;
	int rc = proc_run(job->fleet->loop, argv, env, NULL, (int)job->fleet->opts.sandbox_nice, workspace_git_done,
			  job, &p, err, sizeof(err));
	free(env_home);
	free(refspec);
	if (rc < 0) {
		workspace_finish(job, rc, err);
		return;
	}
	if (job->proc)
		*job->proc = p;
}

static void workspace_start(struct fleet *f, enum workspace_step first, const char *repo, const char *ref,
			    const char *dir, uint32_t uid, struct proc **proc, workspace_ready_fn ready, void *arg)
{
	struct workspace_job *job = xcalloc(1, sizeof(*job));
	job->fleet = f;
	job->step = first;
	job->repo = xstrdup(repo);
	job->ref = xstrdup(ref);
	job->dir = xstrdup(dir);
	job->home = xasprintf("%s/.home", f->runs_dir);
	job->uid = uid;
	job->proc = proc;
	job->ready = ready;
	job->arg = arg;
	job->started_ns = uv_hrtime();
	workspace_next(job);
}

void workspace_base(struct fleet *f, const char *origin, const char *ref, const char *base_git, struct proc **proc,
		    workspace_ready_fn ready, void *arg)
{
	workspace_start(f, WS_BARE_INIT, origin, ref, base_git, 0, proc, ready, arg);
}

void workspace_checkout(struct fleet *f, const char *base_git, const char *dir, uint32_t uid, struct proc **proc,
			workspace_ready_fn ready, void *arg)
{
	workspace_start(f, WS_CLONE, base_git, "agentd", dir, uid, proc, ready, arg);
}

/* ---- measure and remove ---- */

struct workspace_walk {
	uv_work_t work; /* the thread-pool job */
	char *dir;
	uint64_t limit; /* measure: stop past this */
	bool remove;    /* remove instead of measure */
	uint64_t bytes; /* measured */
	int status;
	workspace_done_fn done;
	void *arg;
	struct fleet *fleet; /* for its accounting */
	uint64_t started_ns;
};

static _Thread_local uint64_t workspace_walk_bytes;
static _Thread_local uint64_t workspace_walk_limit;

static int workspace_measure_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	workspace_walk_bytes += (uint64_t)st->st_blocks * 512;
	return workspace_walk_bytes > workspace_walk_limit ? 1 : 0;
}

static void workspace_walk_work(uv_work_t *work)
{
	struct workspace_walk *w = work->data;
	if (w->remove) {
		w->status = tree_remove(w->dir);
		return;
	}
	workspace_walk_bytes = 0;
	workspace_walk_limit = w->limit;
	w->status = nftw(w->dir, workspace_measure_entry, 32, FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
	w->bytes = workspace_walk_bytes;
}

static void workspace_walk_done(uv_work_t *work, int status)
{
	(void)status;
	struct workspace_walk *w = work->data;
	w->fleet->workspace_ns[w->remove ? 2 : 1] += uv_hrtime() - w->started_ns;
	if (w->done)
		w->done(w->status, w->bytes, w->arg);
	free(w->dir);
	free(w);
}

static void workspace_walk(struct fleet *f, const char *dir, uint64_t limit, bool remove, workspace_done_fn done,
			   void *arg)
{
	struct workspace_walk *w = xcalloc(1, sizeof(*w));
	w->work.data = w;
	w->dir = xstrdup(dir);
	w->limit = limit;
	w->remove = remove;
	w->done = done;
	w->arg = arg;
	w->fleet = f;
	w->started_ns = uv_hrtime();
	uv_queue_work(f->loop, &w->work, workspace_walk_work, workspace_walk_done);
}

void workspace_measure(struct fleet *f, const char *dir, uint64_t limit, workspace_done_fn done, void *arg)
{
	workspace_walk(f, dir, limit, false, done, arg);
}

void workspace_remove(struct fleet *f, const char *dir, workspace_done_fn done, void *arg)
{
	workspace_walk(f, dir, 0, true, done, arg);
}
