/* agentd's configuration: one table of options, each settable as a flag
 * (`--key VALUE` or `--key=VALUE`) and as a `key = value` line of the file
 * that `--config FILE` names. Flags override the file; the file overrides
 * the defaults. */
#ifndef AGENTD_CONFIG_H
#define AGENTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/log.h"

/* A repeatable option's values, in the order given. */
struct config_list {
	char **items; /* owned strings */
	size_t count; /* number of items */
};

struct config {
	char *config_file;               /* the file given with --config, or NULL */
	char *listen;                    /* HOST:PORT for TCP, or NULL (unix socket only) */
	char *socket_path;               /* unix socket; NULL means DATA_DIR/agentd.sock */
	char *data_dir;                  /* where the database, sockets and workspaces live */
	uint64_t max_body_bytes;         /* largest request body accepted */
	uint64_t max_connections;        /* open connections beyond this are closed at once */
	enum log_level log_level;        /* lowest level written */
	bool log_level_set;              /* log-level was given (not the default) */
	char *log_file;                  /* NULL: stderr */
	uint64_t shutdown_timeout_ms;    /* grace period for in-flight requests on SIGTERM */
	uint64_t header_timeout_ms;      /* a request's line and headers must arrive within this */
	uint64_t body_timeout_ms;        /* a request's body must arrive within this */
	uint64_t idle_timeout_ms;        /* an idle keep-alive connection is closed after this */
	struct config_list repo_roots;   /* local repositories must lie under one of these (none: any) */
	uint64_t max_queued;             /* POST /v1/tasks answers 429 beyond this many queued tasks */
	uint64_t budget_steps;           /* default task budget: agent steps per run */
	uint64_t budget_steps_max;       /* ceiling a task may ask for */
	uint64_t budget_tokens;          /* default: generated tokens per run */
	uint64_t budget_tokens_max;      /* ceiling */
	uint64_t budget_time_ms;         /* default: wall-clock time per run */
	uint64_t budget_time_max_ms;     /* ceiling */
	char *llm;                       /* "scripted:FILE", or NULL */
	char *model;                     /* a GGUF file for the engine, or NULL */
	uint64_t engine_threads;         /* compute threads (0: the CPUs) */
	uint64_t engine_ctx_size;        /* positions per conversation (0: the model's, at most 4096) */
	uint64_t engine_kv_memory_bytes; /* the KV pool */
	char *engine_kv_type;            /* "f16" or "f32" */
	uint64_t engine_batch_tokens;    /* tokens per engine step */
	uint64_t engine_max_sequences;   /* conversations computed at once */
	uint64_t think_max_bytes;        /* the reply grammar: free text before the block */
	uint64_t block_max_bytes;        /* the reply grammar: the block */
	uint64_t agents;                 /* agent slots */
	uint64_t per_repo;               /* agents at once on one repository (0: no cap) */
	uint64_t sandbox_uid_base;       /* slot k runs as this + k (when root) */
	bool keep_workspaces;            /* leave workspaces after their runs */
	uint64_t workspace_max_bytes;    /* a run whose workspace grows past this ends (disk_quota) */
	uint64_t min_free_disk_bytes;    /* below this free space, agents pause and submits get 503 */
	uint64_t sandbox_memory_bytes;   /* per command */
	uint64_t sandbox_pids;           /* per command */
	uint64_t sandbox_nice;           /* niceness of agents' commands, tests and host git */
	uint64_t sandbox_tmp_bytes;      /* /tmp per command */
	uint64_t command_timeout_ms;     /* per command */
	uint64_t observation_max_bytes;  /* output an agent sees of one command */
	uint64_t reply_max_tokens;       /* tokens per model reply */
	char *sandbox_binary;            /* agentd-sandbox; NULL: next to agentd */
	uint64_t test_timeout_ms;        /* baseline and verification test runs */
	uint64_t patch_max_bytes;        /* larger patches are refused */
	bool demo;                       /* run the demo (daemon/demo.h) */
};

/* What config_parse_args found besides options. */
enum config_action {
	CONFIG_RUN,     /* parsed; go on */
	CONFIG_HELP,    /* --help was given */
	CONFIG_VERSION, /* --version was given */
};

/* Fills cfg with the defaults; release with config_free. */
void config_init(struct config *cfg);
void config_free(struct config *cfg);

/* Parses argv[0..argc) (options only, no program name): --config first, then
 * every other flag on top. Returns a config_action (>= 0), or a negative errno
 * with a message naming the flag, key or value in err. */
int config_parse_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Applies a config file; errors name FILE:LINE and the key. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
/* Sets one option by its key, as the file and the flags do. */
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Checks the options against each other once all are set. */
int config_validate(const struct config *cfg, char *err, size_t errlen);
/* Writes the option reference (flags, defaults, help) to out. */
void config_print_help(const char *program, void *out_file);
/* Resolves the effective socket path into out; returns 0 or -ENAMETOOLONG. */
int config_socket_path(const struct config *cfg, char *out, size_t outlen);

#endif
