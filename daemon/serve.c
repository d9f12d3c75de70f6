/* Start-up (data directory, lock, listeners), the event loop, and the
 * orderly shutdown that SIGTERM and SIGINT begin. */
#include "daemon/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "build_config.h"
#include "common/xalloc.h"
#include "daemon/addr.h"
#include "daemon/api/api.h"
#include "daemon/config.h"
#include "daemon/demo.h"
#include "daemon/fleet/fleet.h"
#include "daemon/http/router.h"
#include "daemon/http/server.h"
#include "daemon/lag.h"
#include "daemon/llm/llm.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/repo.h"
#include "daemon/store/store.h"

struct serve {
	const struct config *cfg; /* borrowed */
	uv_loop_t loop;           /* the daemon's only event loop */
	uv_signal_t sigterm;      /* begins shutdown */
	uv_signal_t sigint;       /* begins shutdown */
	uv_signal_t sighup;       /* reopens the log file */
	struct metrics *metrics;  /* owned */
	struct router *router;    /* owned */
	struct http_server *http; /* owned */
	struct store *store;      /* owned */
	struct llm *llm;          /* owned; NULL without a model */
	struct fleet *fleet;      /* owned */
	struct demo *demo;        /* --demo: frees itself once stopped */
	char *demo_llm;           /* --demo without a model: the bundled script's spec */
	char *model_spec;         /* "model:FILE" for --model */
	struct lag *lag;          /* loop lag measurement */
	char *sandbox_binary;     /* agentd-sandbox's path */
	char *socket_path;        /* the unix socket's path */
	int stopping_parts;       /* of the HTTP server and the fleet, those still stopping */
	struct repo_roots roots;  /* resolved --repo-root directories */
	struct api_context api;   /* what handlers reach */
	int lock_fd;              /* DATA_DIR/agentd.lock, held for our lifetime */
	bool stopping;            /* a shutdown signal arrived */
	time_t started;           /* for agentd_start_time_seconds */
};

/* Creates dir and its parents (mode 0700 for what is created). */
static int serve_mkdirs(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "data directory path is too long");
		return -ENAMETOOLONG;
	}
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
			return -e;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	return 0;
}

/* One daemon per data directory: the lock is held until the process
 * exits, and the file names the holder. */
static int serve_lock(struct serve *s, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/agentd.lock", s->cfg->data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		if (n > 0)
			pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "another agentd (pid %s) is using data directory %s", n > 0 ? pid : "?",
			 s->cfg->data_dir);
		close(fd);
		return -EBUSY;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		int e = errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	s->lock_fd = fd;
	return 0;
}

/* Lets the process hold as many descriptors as the hard limit allows. */
static void serve_raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && cfg->max_connections + 64 > rl.rlim_cur) {
		char want[32], have[32];
		snprintf(want, sizeof(want), "%llu", (unsigned long long)cfg->max_connections);
		snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
		log_event(LOG_LEVEL_WARN, "max-connections is above the open-file limit", "max_connections", want,
			  "nofile", have, NULL);
	}
}

static void serve_collect_metrics(struct buf *out, void *arg)
{
	struct serve *s = arg;
	metrics_write_header(out, "agentd_build_info", "gauge", "The running agentd's version.");
	buf_printf(out, "agentd_build_info{version=\"%s\"} 1\n", AGENTD_VERSION);
	metrics_write_header(out, "agentd_start_time_seconds", "gauge", "When the daemon started (unix time).");
	buf_printf(out, "agentd_start_time_seconds %lld\n", (long long)s->started);
}

/* Once the HTTP server and the fleet have both stopped, nothing can start
 * a write: the store commits what is queued and closes. */
static void serve_part_stopped(struct serve *s)
{
	if (--s->stopping_parts > 0)
		return;
	store_close(s->store);
	s->store = NULL;
	lag_stop(s->lag);
	s->lag = NULL;
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void serve_http_closed(struct http_server *server, void *arg)
{
	(void)server;
	serve_part_stopped(arg);
}

static void serve_fleet_stopped(void *arg)
{
	serve_part_stopped(arg);
}

static void serve_on_signal(uv_signal_t *handle, int signum)
{
	struct serve *s = handle->data;
	if (signum == SIGHUP) {
		if (log_reopen() < 0)
			log_event(LOG_LEVEL_ERROR, "cannot reopen the log file", NULL);
		else
			log_event(LOG_LEVEL_INFO, "log file reopened", NULL);
		return;
	}
	if (s->stopping) {
		/* A second signal: do not wait for the grace period. */
		log_event(LOG_LEVEL_WARN, "second signal; closing every connection now", NULL);
		http_server_shutdown(s->http, 0, serve_http_closed, s);
		return;
	}
	s->stopping = true;
	demo_stop(s->demo);
	char grace[32];
	snprintf(grace, sizeof(grace), "%llu", (unsigned long long)s->cfg->shutdown_timeout_ms);
	log_event(LOG_LEVEL_INFO, "shutting down", "signal", strsignal(signum), "grace_ms", grace, NULL);
	/* Agents stop now (their runs are recorded as interrupted and their
	 * tasks queued again); requests in flight get the grace period. */
	s->stopping_parts = 2;
	fleet_shutdown(s->fleet, serve_fleet_stopped, s);
	http_server_shutdown(s->http, s->cfg->shutdown_timeout_ms, serve_http_closed, s);
}

/* agentd-sandbox: --sandbox-binary, else next to agentd (installed), else
 * where the build tree puts it. */
static char *serve_sandbox_binary(const struct config *cfg)
{
	if (cfg->sandbox_binary)
		return xstrdup(cfg->sandbox_binary);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *beside = xasprintf("%s/agentd-sandbox", self);
			if (access(beside, X_OK) == 0)
				return beside;
			free(beside);
			char *built = xasprintf("%s/../sandbox/agentd-sandbox", self);
			if (access(built, X_OK) == 0)
				return built;
			free(built);
		}
	}
	return xstrdup("agentd-sandbox");
}

static int serve_fleet(struct serve *s, char *err, size_t errlen)
{
	const struct config *cfg = s->cfg;
	char sock[512];
	config_socket_path(cfg, sock, sizeof(sock));
	s->sandbox_binary = serve_sandbox_binary(cfg);
	struct fleet_options fo = {
		.data_dir = cfg->data_dir,
		.socket_path = sock,
		.roots = &s->roots,
		.sandbox_binary = s->sandbox_binary,
		.agents = (unsigned)cfg->agents,
		.per_repo = (unsigned)cfg->per_repo,
		.uid_base = (uint32_t)cfg->sandbox_uid_base,
		.keep_workspaces = cfg->keep_workspaces,
		.workspace_max_bytes = cfg->workspace_max_bytes,
		.min_free_disk_bytes = cfg->min_free_disk_bytes,
		.sandbox_memory_bytes = cfg->sandbox_memory_bytes,
		.sandbox_pids = cfg->sandbox_pids,
		.sandbox_nice = cfg->sandbox_nice,
		.sandbox_tmp_bytes = cfg->sandbox_tmp_bytes,
		.command_timeout_ms = cfg->command_timeout_ms,
		.observation_max_bytes = cfg->observation_max_bytes,
		.reply_max_tokens = (uint32_t)cfg->reply_max_tokens,
		.test_timeout_ms = cfg->test_timeout_ms,
		.patch_max_bytes = cfg->patch_max_bytes,
	};
	/* fo.socket_path is copied by value into the fleet's options but points
	 * at this stack buffer: keep a heap copy alive with the serve. */
	s->socket_path = xstrdup(sock);
	fo.socket_path = s->socket_path;
	return fleet_new(&s->loop, s->store, s->llm,
			 "no model is configured: start agentd with --llm scripted:FILE (or --model FILE.gguf once the "
			 "engine is built in)",
			 &fo, &s->fleet, err, errlen);
}

static int serve_start(struct serve *s, char *err, size_t errlen)
{
	const struct config *cfg = s->cfg;
	int rc = serve_mkdirs(cfg->data_dir, err, errlen);
	if (rc == 0)
		rc = serve_lock(s, err, errlen);
	if (rc < 0)
		return rc;
	serve_raise_nofile(cfg);
	rc = repo_roots_init(&s->roots, cfg->repo_roots.items, cfg->repo_roots.count, err, errlen);
	if (rc < 0)
		return rc;
	char db[4200];
	snprintf(db, sizeof(db), "%s/agentd.db", cfg->data_dir);
	rc = store_open(&s->loop, db, &s->store, err, errlen);
	if (rc < 0)
		return rc;

	const char *llm_spec = cfg->llm;
	if (cfg->demo) {
		rc = demo_prepare(cfg->data_dir, !cfg->llm && !cfg->model, &s->demo_llm, err, errlen);
		if (rc < 0)
			return rc;
		if (s->demo_llm)
			llm_spec = s->demo_llm;
	}
	if (!llm_spec && cfg->model) {
		s->model_spec = xasprintf("model:%s", cfg->model);
		llm_spec = s->model_spec;
	}
	if (llm_spec) {
		struct llm_options lopts = {
			.reply_max_tokens = (uint32_t)cfg->reply_max_tokens,
			.think_max_bytes = (uint32_t)cfg->think_max_bytes,
			.block_max_bytes = (uint32_t)cfg->block_max_bytes,
			.engine =
				{
					.threads = (unsigned)cfg->engine_threads,
					.ctx_size = (uint32_t)cfg->engine_ctx_size,
					.kv_memory = cfg->engine_kv_memory_bytes,
					.kv_type =
						strcmp(cfg->engine_kv_type, "f32") == 0 ? ENGINE_KV_F32 : ENGINE_KV_F16,
					.batch_tokens = (uint32_t)cfg->engine_batch_tokens,
					.max_sequences = (uint32_t)cfg->engine_max_sequences,
				},
		};
		rc = llm_open(&s->loop, llm_spec, &lopts, &s->llm, err, errlen);
		if (rc < 0)
			return rc;
	}
	rc = serve_fleet(s, err, errlen);
	if (rc < 0)
		return rc;

	s->metrics = metrics_new();
	s->router = router_new();
	s->api.metrics = s->metrics;
	s->api.store = s->store;
	s->api.fleet = s->fleet;
	s->api.roots = &s->roots;
	s->api.max_queued = cfg->max_queued;
	s->api.task_limits.defaults.max_steps = (int64_t)cfg->budget_steps;
	s->api.task_limits.defaults.max_tokens = (int64_t)cfg->budget_tokens;
	s->api.task_limits.defaults.max_seconds = (int64_t)(cfg->budget_time_ms / 1000);
	s->api.task_limits.ceilings.max_steps = (int64_t)cfg->budget_steps_max;
	s->api.task_limits.ceilings.max_tokens = (int64_t)cfg->budget_tokens_max;
	s->api.task_limits.ceilings.max_seconds = (int64_t)(cfg->budget_time_max_ms / 1000);
	if (api_register(s->router, &s->api) < 0) {
		snprintf(err, errlen, "cannot register the API routes");
		return -EINVAL;
	}
	struct http_server_options opts;
	http_server_default_options(&opts);
	opts.limits.max_body_bytes = cfg->max_body_bytes;
	opts.max_connections = cfg->max_connections;
	opts.header_timeout_ms = cfg->header_timeout_ms;
	opts.body_timeout_ms = cfg->body_timeout_ms;
	opts.idle_timeout_ms = cfg->idle_timeout_ms;
	s->http = http_server_new(&s->loop, &opts, s->router);
	metrics_register(s->metrics, serve_collect_metrics, s);
	metrics_register(s->metrics, http_server_collect_metrics, s->http);
	metrics_register(s->metrics, store_collect_metrics, s->store);
	metrics_register(s->metrics, fleet_collect_metrics, s->fleet);
	s->lag = lag_start(&s->loop);
	metrics_register(s->metrics, lag_collect_metrics, s->lag);

	char sock[512];
	config_socket_path(cfg, sock, sizeof(sock));
	rc = http_server_listen_unix(s->http, sock, 0600, err, errlen);
	if (rc < 0)
		return rc;
	log_event(LOG_LEVEL_INFO, "listening", "transport", "unix", "path", sock, NULL);
	if (cfg->listen) {
		struct sockaddr_storage ss;
		rc = addr_parse(cfg->listen, &ss, err, errlen);
		if (rc < 0)
			return rc;
		char bound[96];
		rc = http_server_listen_tcp(s->http, (struct sockaddr *)&ss, bound, sizeof(bound), err, errlen);
		if (rc < 0)
			return rc;
		log_event(LOG_LEVEL_WARN, "TCP listener has no authentication: anyone who can reach it controls agentd",
			  "addr", bound, NULL);
		log_event(LOG_LEVEL_INFO, "listening", "transport", "tcp", "addr", bound, NULL);
	}

	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	uv_signal_init(&s->loop, &s->sighup);
	s->sigterm.data = s->sigint.data = s->sighup.data = s;
	uv_signal_start(&s->sigterm, serve_on_signal, SIGTERM);
	uv_signal_start(&s->sigint, serve_on_signal, SIGINT);
	uv_signal_start(&s->sighup, serve_on_signal, SIGHUP);
	return 0;
}

static void serve_close_walk(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
}

int serve_run(const struct config *cfg)
{
	char err[1024] = "";
	/* The demo speaks on stdout; the log says only what goes wrong unless
	 * a level was asked for. */
	enum log_level level = cfg->demo && !cfg->log_level_set ? LOG_LEVEL_WARN : cfg->log_level;
	int rc = log_open(level, cfg->log_file, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "agentd: %s\n", err);
		return 1;
	}
	/* Writes to a vanished client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* glibc gives memory back to the kernel whenever the top of the heap
	 * is 128 KiB free, and takes it again moments later: with a hundred
	 * agents that churn showed as a tenth of agentd's CPU time (each
	 * shrink is a TLB shoot-down on every CPU the threads ran on). Keep a
	 * few MiB. */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	mallopt(M_TOP_PAD, 1 << 20);

	struct serve s;
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.lock_fd = -1;
	s.started = time(NULL);
	uv_loop_init(&s.loop);

	int status = 0;
	rc = serve_start(&s, err, sizeof(err));
	if (rc < 0) {
		log_event(LOG_LEVEL_ERROR, "start-up failed", "error", err, NULL);
		status = 1;
		if (s.http)
			http_server_shutdown(s.http, 0, NULL, NULL);
		store_close(s.store);
		s.store = NULL;
		lag_stop(s.lag);
		s.lag = NULL;
		llm_close(s.llm);
		s.llm = NULL;
		uv_walk(&s.loop, serve_close_walk, NULL);
	} else {
		log_event(LOG_LEVEL_INFO, "ready", "version", AGENTD_VERSION, "data_dir", cfg->data_dir, "model",
			  s.llm ? llm_describe(s.llm) : "none", NULL);
		fleet_start(s.fleet);
		if (cfg->demo) {
			char sock[512];
			config_socket_path(cfg, sock, sizeof(sock));
			s.demo = demo_start(&s.loop, s.store, s.fleet, &s.api.task_limits, cfg->data_dir, sock,
					    s.demo_llm != NULL, s.llm ? llm_describe(s.llm) : "none", stdout);
		}
	}
	uv_run(&s.loop, UV_RUN_DEFAULT);
	/* The model may own handles that do not keep the loop alive (the
	 * engine's, while it is idle): it closes them itself, first. */
	llm_close(s.llm);
	s.llm = NULL;
	/* Anything still open (there should be nothing) is closed here so
	 * that uv_loop_close succeeds. */
	uv_walk(&s.loop, serve_close_walk, NULL);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&s.loop) != 0)
		log_event(LOG_LEVEL_WARN, "event loop closed with handles still open", NULL);
	http_server_free(s.http);
	fleet_free(s.fleet);
	free(s.sandbox_binary);
	free(s.demo_llm);
	free(s.model_spec);
	free(s.socket_path);
	router_free(s.router);
	metrics_free(s.metrics);
	repo_roots_free(&s.roots);
	if (status == 0)
		log_event(LOG_LEVEL_INFO, "stopped", NULL);
	if (s.lock_fd >= 0)
		close(s.lock_fd);
	log_close();
	return status;
}
