/* One command in a sandbox with its output captured: stdout and stderr
 * appended as they come (the sandbox caps them), done once after the
 * sandbox has exited and both streams are at their end. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/fleet/internal.h"
#include "daemon/repo.h"

struct sbrun {
	struct fleet *fleet;          /* for the executable's path */
	sandbox *sb;                  /* the sandbox, until done */
	struct buf output;            /* what the command printed */
	size_t output_max;            /* bytes kept at most */
	int streams_open;             /* streams not at their end */
	bool exited;                  /* the sandbox reported */
	struct sandbox_result result; /* its report */
	uint64_t started_ns;          /* for the duration */
	enum fleet_use use;           /* what it is for */
	sbrun_done_fn done;
	void *arg;
};

static void sbrun_finish(struct sbrun *r)
{
	sandbox_free(r->sb);
	r->sb = NULL;
	uint64_t ns = uv_hrtime() - r->started_ns;
	uint64_t ms = ns / 1000000;
	r->fleet->sandbox_runs[r->use]++;
	r->fleet->sandbox_ns[r->use] += ns;
	r->done(&r->result, r->output.data ? r->output.data : "", r->output.len, ms, r->arg);
	buf_free(&r->output);
	free(r);
}

/* Reads land in one buffer of the loop thread: each is copied out before
 * the next (no allocation per read). */
static void sbrun_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	static char scratch[64 << 10];
	buf->base = scratch;
	buf->len = sizeof(scratch);
}

static void sbrun_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct sbrun *r = stream->data;
	if (nread > 0 && r->output.len < r->output_max) {
		size_t room = r->output_max - r->output.len;
		buf_append(&r->output, buf->base, (size_t)nread < room ? (size_t)nread : room);
	}
	if (nread < 0) {
		uv_read_stop(stream);
		if (--r->streams_open == 0 && r->exited)
			sbrun_finish(r);
	}
}

static void sbrun_exited(sandbox *sb, const struct sandbox_result *result, void *arg)
{
	(void)sb;
	struct sbrun *r = arg;
	r->result = *result;
	r->exited = true;
	if (r->streams_open == 0)
		sbrun_finish(r);
}

int sbrun_start(struct fleet *f, enum fleet_use use, const struct sandbox_config *cfg, sbrun_done_fn done, void *arg,
		struct sbrun **out, char *err, size_t errlen)
{
	struct sbrun *r = xcalloc(1, sizeof(*r));
	r->fleet = f;
	r->use = use;
	/* Spawning counts as the sandbox's time. */
	r->started_ns = uv_hrtime();
	r->done = done;
	r->arg = arg;
	/* The sandbox keeps head and tail of each stream; this bounds what
	 * this side keeps should it not. */
	r->output_max = cfg->max_output_bytes ? 2 * cfg->max_output_bytes + 4096 : 1u << 20;
	sandbox_result_init(&r->result);
	struct sandbox_spawn_options opts = {f->opts.sandbox_binary, false, 1000};
	int rc = sandbox_spawn(f->loop, cfg, &opts, sbrun_exited, r, &r->sb, err, errlen);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->streams_open = 2;
	sandbox_stdout(r->sb)->data = r;
	sandbox_stderr(r->sb)->data = r;
	uv_read_start(sandbox_stdout(r->sb), sbrun_alloc, sbrun_read);
	uv_read_start(sandbox_stderr(r->sb), sbrun_alloc, sbrun_read);
	if (out)
		*out = r;
	return 0;
}

void sbrun_kill(struct sbrun *r)
{
	if (r && r->sb)
		sandbox_kill(r->sb);
}

size_t fleet_sandbox_mounts(const struct fleet *f, const char *origin, struct sandbox_mount *m, size_t cap)
{
	size_t n = 0;
	m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_TMPFS, NULL, "/tmp", f->opts.sandbox_tmp_bytes};
	m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.data_dir, 0};
	if (f->opts.socket_path)
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.socket_path, 0};
	if (origin && origin[0] == '/')
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, origin, 0};
	for (size_t i = 0; f->opts.roots && i < f->opts.roots->count && n < cap; i++)
		m[n++] = (struct sandbox_mount){SANDBOX_MOUNT_HIDE, NULL, f->opts.roots->paths[i], 0};
	return n;
}

void fleet_sandbox_config(const struct fleet *f, struct sandbox_config *cfg, const char *workspace, uint32_t uid,
			  struct sandbox_mount *mounts, size_t count)
{
	sandbox_config_init(cfg);
	cfg->workspace = workspace;
	cfg->mounts = mounts;
	cfg->mount_count = count;
	cfg->net = SANDBOX_NET_NONE;
	cfg->uid = uid;
	cfg->gid = uid;
	cfg->memory_bytes = f->opts.sandbox_memory_bytes;
	cfg->pids = f->opts.sandbox_pids;
	cfg->nice = f->opts.sandbox_nice;
	cfg->file_size_bytes = f->opts.workspace_max_bytes;
}
