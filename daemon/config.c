/* The option table, and the flag and config-file parsers that fill
 * struct config from it. */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/units.h"
#include "common/xalloc.h"
#include "daemon/addr.h"

enum config_type {
	CONFIG_STRING,   /* char * */
	CONFIG_SIZE,     /* uint64_t bytes, k/M/G/T suffixes */
	CONFIG_DURATION, /* uint64_t milliseconds, ms/s/m/h units */
	CONFIG_UINT,     /* uint64_t */
	CONFIG_LOGLEVEL, /* enum log_level */
	CONFIG_LIST,     /* struct config_list, repeatable */
	CONFIG_BOOL,     /* bool; as a flag, --key alone means true */
};

struct config_option {
	const char *key; /* flag name without "--", and config-file key */
	enum config_type type;
	size_t offset;       /* where in struct config the value lives */
	const char *def;     /* default, as text (NULL: unset) */
	uint64_t min, max;   /* bounds for numeric types */
	const char *metavar; /* placeholder in --help */
	const char *help;    /* one line for --help */
};

#define OPT(field) offsetof(struct config, field)

static const struct config_option config_options[] = {
	{"data-dir", CONFIG_STRING, OPT(data_dir), "/var/lib/agentd", 0, 0, "DIR",
	 "data directory: database, socket, workspaces"},
	{"socket", CONFIG_STRING, OPT(socket_path), NULL, 0, 0, "PATH",
	 "unix socket path (default DATA_DIR/agentd.sock, mode 0600)"},
	{"listen", CONFIG_STRING, OPT(listen), NULL, 0, 0, "HOST:PORT",
	 "also listen on TCP (loopback only until authentication exists)"},
	{"max-body", CONFIG_SIZE, OPT(max_body_bytes), "1M", 1, (uint64_t)1 << 30, "SIZE",
	 "largest request body accepted (413 beyond)"},
	{"max-connections", CONFIG_UINT, OPT(max_connections), "1024", 1, 1000000, "N",
	 "open connections beyond this are closed at once"},
	{"header-timeout", CONFIG_DURATION, OPT(header_timeout_ms), "10s", 1, 24ull * 3600 * 1000, "DURATION",
	 "time allowed for a request line and headers (408 beyond)"},
	{"body-timeout", CONFIG_DURATION, OPT(body_timeout_ms), "30s", 1, 24ull * 3600 * 1000, "DURATION",
	 "time allowed for a request body (408 beyond)"},
	{"idle-timeout", CONFIG_DURATION, OPT(idle_timeout_ms), "60s", 1, 24ull * 3600 * 1000, "DURATION",
	 "idle keep-alive connections are closed after this"},
	{"shutdown-timeout", CONFIG_DURATION, OPT(shutdown_timeout_ms), "10s", 0, 24ull * 3600 * 1000, "DURATION",
	 "on SIGTERM, how long in-flight requests may take to finish"},
	{"repo-root", CONFIG_LIST, OPT(repo_roots), NULL, 0, 0, "DIR",
	 "local repositories must lie under DIR (none given: any readable repository)"},
	{"max-queued", CONFIG_UINT, OPT(max_queued), "10000", 1, 10000000, "N",
	 "POST /v1/tasks answers 429 beyond N queued tasks"},
	{"budget-steps", CONFIG_UINT, OPT(budget_steps), "30", 1, 1000000, "N", "default agent steps per run"},
	{"budget-steps-max", CONFIG_UINT, OPT(budget_steps_max), "200", 1, 1000000, "N",
	 "most steps a task may ask for"},
	{"budget-tokens", CONFIG_UINT, OPT(budget_tokens), "100000", 1, 1000000000, "N",
	 "default generated tokens per run"},
	{"budget-tokens-max", CONFIG_UINT, OPT(budget_tokens_max), "1000000", 1, 1000000000, "N",
	 "most tokens a task may ask for"},
	{"budget-time", CONFIG_DURATION, OPT(budget_time_ms), "20m", 1000, 7ull * 24 * 3600 * 1000, "DURATION",
	 "default wall-clock time per run"},
	{"budget-time-max", CONFIG_DURATION, OPT(budget_time_max_ms), "2h", 1000, 7ull * 24 * 3600 * 1000, "DURATION",
	 "most time a task may ask for"},
	{"llm", CONFIG_STRING, OPT(llm), NULL, 0, 0, "scripted:FILE", "the agents' model: replies scripted in FILE"},
	{"model", CONFIG_STRING, OPT(model), NULL, 0, 0, "FILE.gguf", "the agents' model: a GGUF file for the engine"},
	{"threads", CONFIG_UINT, OPT(engine_threads), "0", 0, 256, "N",
	 "the engine's compute threads (0: the CPUs agentd may run on)"},
	{"ctx-size", CONFIG_UINT, OPT(engine_ctx_size), "0", 0, 1u << 20, "N",
	 "most positions of one conversation in the engine (0: the model's, at most 4096)"},
	{"kv-memory", CONFIG_SIZE, OPT(engine_kv_memory_bytes), "2G", 1 << 20, 1ull << 44, "SIZE",
	 "the engine's KV cache pool; requests wait for room in it"},
	{"kv-type", CONFIG_STRING, OPT(engine_kv_type), "f16", 0, 0, "f16|f32", "the KV cache's element type"},
	{"batch-tokens", CONFIG_UINT, OPT(engine_batch_tokens), "512", 1, 8192, "N",
	 "most tokens one engine step computes (generation first, then prompt chunks)"},
	{"max-sequences", CONFIG_UINT, OPT(engine_max_sequences), "128", 1, 4096, "N",
	 "most conversations the engine computes at once (at most batch-tokens)"},
	{"think-max", CONFIG_UINT, OPT(think_max_bytes), "2048", 0, 32768, "BYTES",
	 "with --model, most bytes of free text before a reply's bash block (the grammar's bound)"},
	{"block-max", CONFIG_UINT, OPT(block_max_bytes), "4096", 1, 32768, "BYTES",
	 "with --model, most bytes of a reply's bash block"},
	{"agents", CONFIG_UINT, OPT(agents), "100", 1, 1000, "N", "agent slots: tasks that run at once"},
	{"per-repo", CONFIG_UINT, OPT(per_repo), "0", 0, 1000, "N",
	 "most agents on one repository at once (0: no cap)"},
	{"sandbox-uid-base", CONFIG_UINT, OPT(sandbox_uid_base), "200000", 1000, 4000000000ull, "UID",
	 "slot k's commands run as host uid/gid UID+k (when agentd runs as root)"},
	{"keep-workspaces", CONFIG_BOOL, OPT(keep_workspaces), "false", 0, 0, "",
	 "keep each run's workspace after it ends"},
	{"workspace-max", CONFIG_SIZE, OPT(workspace_max_bytes), "2G", 1 << 20, 1ull << 50, "SIZE",
	 "a run ends (disk_quota) when its workspace grows past SIZE"},
	{"min-free-disk", CONFIG_SIZE, OPT(min_free_disk_bytes), "2G", 0, 1ull << 50, "SIZE",
	 "below this free space in the data directory agents pause and submits get 503"},
	{"sandbox-memory", CONFIG_SIZE, OPT(sandbox_memory_bytes), "2G", 16 << 20, 1ull << 44, "SIZE",
	 "memory limit of each agent command"},
	{"sandbox-pids", CONFIG_UINT, OPT(sandbox_pids), "256", 8, 100000, "N", "process limit of each agent command"},
	{"sandbox-nice", CONFIG_UINT, OPT(sandbox_nice), "10", 0, 19, "N",
	 "niceness of agent commands, tests and git work (0: agentd's own), so that the daemon stays responsive"},
	{"sandbox-tmp", CONFIG_SIZE, OPT(sandbox_tmp_bytes), "1G", 1 << 20, 1ull << 44, "SIZE",
	 "size of /tmp for each agent command"},
	{"command-timeout", CONFIG_DURATION, OPT(command_timeout_ms), "120s", 100, 24ull * 3600 * 1000, "DURATION",
	 "an agent command is killed after this"},
	{"observation-max", CONFIG_SIZE, OPT(observation_max_bytes), "10k", 256, 16 << 20, "SIZE",
	 "output of one command shown to the agent (head and tail kept)"},
	{"reply-max-tokens", CONFIG_UINT, OPT(reply_max_tokens), "1024", 16, 65536, "N", "tokens per model reply"},
	{"test-timeout", CONFIG_DURATION, OPT(test_timeout_ms), "600s", 100, 24ull * 3600 * 1000, "DURATION",
	 "a baseline or verification test run is stopped after this"},
	{"patch-max", CONFIG_SIZE, OPT(patch_max_bytes), "1M", 1024, 1ull << 30, "SIZE",
	 "patches larger than this are refused"},
	{"sandbox-binary", CONFIG_STRING, OPT(sandbox_binary), NULL, 0, 0, "PATH",
	 "agentd-sandbox (default: next to agentd)"},
	{"demo", CONFIG_BOOL, OPT(demo), "false", 0, 0, "",
	 "run the demo: an agent fixes the bundled example (scripted unless --model or --llm is given); its "
	 "steps, verdict and patch are printed, then agentd keeps serving"},
	{"log-level", CONFIG_LOGLEVEL, OPT(log_level), "info", 0, 0, "LEVEL", "debug, info, warn or error"},
	{"log-file", CONFIG_STRING, OPT(log_file), NULL, 0, 0, "PATH",
	 "append logs to PATH instead of stderr (reopened on SIGHUP)"},
};

#define CONFIG_OPTION_COUNT (sizeof(config_options) / sizeof(config_options[0]))

static const struct config_option *config_find(const char *key)
{
	for (size_t i = 0; i < CONFIG_OPTION_COUNT; i++) {
		if (strcmp(config_options[i].key, key) == 0)
			return &config_options[i];
	}
	return NULL;
}

static int config_apply(struct config *cfg, const struct config_option *opt, const char *value, char *err,
			size_t errlen)
{
	void *field = (char *)cfg + opt->offset;
	char why[256];
	uint64_t v = 0;
	int rc = 0;

	switch (opt->type) {
	case CONFIG_STRING: {
		if (*value == '\0') {
			snprintf(err, errlen, "%s: empty value", opt->key);
			return -EINVAL;
		}
		char **s = field;
		free(*s);
		*s = xstrdup(value);
		return 0;
	}
	case CONFIG_LIST: {
		if (*value == '\0') {
			snprintf(err, errlen, "%s: empty value", opt->key);
			return -EINVAL;
		}
		struct config_list *list = field;
		list->items = xrealloc(list->items, (list->count + 1) * sizeof(char *));
		list->items[list->count++] = xstrdup(value);
		return 0;
	}
	case CONFIG_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
		    strcmp(value, "1") == 0) {
			*(bool *)field = true;
		} else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "off") == 0 ||
			   strcmp(value, "0") == 0) {
			*(bool *)field = false;
		} else {
			snprintf(err, errlen, "%s: '%s' is not true or false", opt->key, value);
			return -EINVAL;
		}
		return 0;
	case CONFIG_LOGLEVEL:
		if (log_level_parse(value, field) < 0) {
			snprintf(err, errlen, "%s: unknown level '%s' (use debug, info, warn or error)", opt->key,
				 value);
			return -EINVAL;
		}
		cfg->log_level_set = true;
		return 0;
	case CONFIG_SIZE: rc = units_parse_size(value, &v, why, sizeof(why)); break;
	case CONFIG_DURATION: rc = units_parse_duration(value, &v, why, sizeof(why)); break;
	case CONFIG_UINT: rc = units_parse_uint(value, &v, why, sizeof(why)); break;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", opt->key, why);
		return rc;
	}
	if (v < opt->min || v > opt->max) {
		char lo[32], hi[32];
		if (opt->type == CONFIG_SIZE) {
			units_format_size(opt->min, lo, sizeof(lo));
			units_format_size(opt->max, hi, sizeof(hi));
		} else if (opt->type == CONFIG_DURATION) {
			units_format_duration(opt->min, lo, sizeof(lo));
			units_format_duration(opt->max, hi, sizeof(hi));
		} else {
			snprintf(lo, sizeof(lo), "%llu", (unsigned long long)opt->min);
			snprintf(hi, sizeof(hi), "%llu", (unsigned long long)opt->max);
		}
		snprintf(err, errlen, "%s: '%s' is out of range (%s..%s)", opt->key, value, lo, hi);
		return -ERANGE;
	}
	*(uint64_t *)field = v;
	return 0;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	char err[256];
	for (size_t i = 0; i < CONFIG_OPTION_COUNT; i++) {
		if (config_options[i].def &&
		    config_apply(cfg, &config_options[i], config_options[i].def, err, sizeof(err)) < 0)
			abort(); /* a default that does not parse is a programming error */
	}
	cfg->log_level_set = false;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_OPTION_COUNT; i++) {
		void *field = (char *)cfg + config_options[i].offset;
		if (config_options[i].type == CONFIG_STRING) {
			free(*(char **)field);
		} else if (config_options[i].type == CONFIG_LIST) {
			struct config_list *list = field;
			for (size_t j = 0; j < list->count; j++)
				free(list->items[j]);
			free(list->items);
		}
	}
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}

int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct config_option *opt = config_find(key);
	if (!opt) {
		snprintf(err, errlen, "unknown option '%s' (see --help)", key);
		return -EINVAL;
	}
	return config_apply(cfg, opt, value, err, errlen);
}

/* The config-file grammar: `key = value` per line; blank lines and lines
 * starting with `#` are ignored, and ` #` starts a trailing comment; a value
 * may be double-quoted to keep spaces or `#`. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(e));
		return -e;
	}
	char line[4096];
	unsigned lineno = 0;
	int rc = 0;
	char why[512];
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, errlen, "%s:%u: line is longer than %zu bytes", path, lineno, sizeof(line) - 2);
			rc = -EINVAL;
			goto out;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || isspace((unsigned char)line[len - 1])))
			line[--len] = '\0';
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		char *eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value', got '%s'", path, lineno, p);
			rc = -EINVAL;
			goto out;
		}
		char *key_end = eq;
		while (key_end > p && isspace((unsigned char)key_end[-1]))
			key_end--;
		*key_end = '\0';
		char *value = eq + 1;
		while (isspace((unsigned char)*value))
			value++;
		if (*p == '\0') {
			snprintf(err, errlen, "%s:%u: missing key before '='", path, lineno);
			rc = -EINVAL;
			goto out;
		}
		if (*value == '"') {
			char *close = strchr(value + 1, '"');
			char *rest = close ? close + 1 : NULL;
			while (rest && isspace((unsigned char)*rest))
				rest++;
			if (!close || (*rest != '\0' && *rest != '#')) {
				snprintf(err, errlen, "%s:%u: %s: unterminated or malformed quoted value", path, lineno,
					 p);
				rc = -EINVAL;
				goto out;
			}
			*close = '\0';
			value++;
		} else {
			for (char *c = value; *c; c++) {
				if (*c == '#' && c > value && isspace((unsigned char)c[-1])) {
					*c = '\0';
					break;
				}
			}
			size_t vlen = strlen(value);
			while (vlen && isspace((unsigned char)value[vlen - 1]))
				value[--vlen] = '\0';
		}
		if (strcmp(p, "config") == 0) {
			snprintf(err, errlen, "%s:%u: 'config' cannot be set inside a config file", path, lineno);
			rc = -EINVAL;
			goto out;
		}
		rc = config_set(cfg, p, value, why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read config file %s", path);
		rc = -EIO;
	}
out:
	fclose(f);
	return rc;
}

/* Splits "--key=value" / "--key value"; returns the number of argv entries
 * used (1 or 2), or a negative errno. key is written into keybuf. */
static int config_split_flag(int argc, char **argv, int i, char *keybuf, size_t keylen, const char **value, char *err,
			     size_t errlen)
{
	const char *arg = argv[i];
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		snprintf(err, errlen, "unexpected argument '%s' (options look like --key VALUE; see --help)", arg);
		return -EINVAL;
	}
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	if (n >= keylen) {
		snprintf(err, errlen, "unknown option '%.*s' (see --help)", 64, arg);
		return -EINVAL;
	}
	memcpy(keybuf, name, n);
	keybuf[n] = '\0';
	if (eq) {
		*value = eq + 1;
		return 1;
	}
	const struct config_option *opt = config_find(keybuf);
	if (opt && opt->type == CONFIG_BOOL) {
		*value = "true";
		return 1;
	}
	if (i + 1 >= argc) {
		snprintf(err, errlen, "--%s needs a value", keybuf);
		return -EINVAL;
	}
	*value = argv[i + 1];
	return 2;
}

int config_parse_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	char key[64];
	char why[512];
	const char *value;
	/* --help and --version win over everything; --config is read before
	 * the other flags so that flags override the file. */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return CONFIG_HELP;
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
			return CONFIG_VERSION;
	}
	for (int i = 0; i < argc;) {
		int used = config_split_flag(argc, argv, i, key, sizeof(key), &value, err, errlen);
		if (used < 0)
			return used;
		if (strcmp(key, "config") == 0) {
			if (cfg->config_file) {
				snprintf(err, errlen, "--config given twice");
				return -EINVAL;
			}
			cfg->config_file = xstrdup(value);
			int rc = config_load_file(cfg, value, err, errlen);
			if (rc < 0)
				return rc;
		}
		i += used;
	}
	for (int i = 0; i < argc;) {
		int used = config_split_flag(argc, argv, i, key, sizeof(key), &value, err, errlen);
		if (used < 0)
			return used;
		if (strcmp(key, "config") != 0) {
			const struct config_option *opt = config_find(key);
			if (!opt) {
				snprintf(err, errlen, "unknown option '--%s' (see --help)", key);
				return -EINVAL;
			}
			int rc = config_apply(cfg, opt, value, why, sizeof(why));
			if (rc < 0) {
				snprintf(err, errlen, "--%s", why);
				return rc;
			}
		}
		i += used;
	}
	return CONFIG_RUN;
}

int config_socket_path(const struct config *cfg, char *out, size_t outlen)
{
	int n;
	if (cfg->socket_path)
		n = snprintf(out, outlen, "%s", cfg->socket_path);
	else
		n = snprintf(out, outlen, "%s/agentd.sock", cfg->data_dir);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	char why[256];
	char path[512];
	/* sun_path holds 108 bytes including the NUL. */
	if (config_socket_path(cfg, path, sizeof(path)) < 0 || strlen(path) > 107) {
		snprintf(err, errlen, "socket: path '%s' is longer than a unix socket allows (107 bytes); set --socket",
			 cfg->socket_path ? cfg->socket_path : "DATA_DIR/agentd.sock");
		return -ENAMETOOLONG;
	}
	struct {
		const char *name;
		uint64_t value, ceiling;
	} budgets[] = {
		{"budget-steps", cfg->budget_steps, cfg->budget_steps_max},
		{"budget-tokens", cfg->budget_tokens, cfg->budget_tokens_max},
		{"budget-time", cfg->budget_time_ms, cfg->budget_time_max_ms},
	};
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		if (budgets[i].value > budgets[i].ceiling) {
			snprintf(err, errlen, "%s: the default is above %s-max", budgets[i].name, budgets[i].name);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->repo_roots.count; i++) {
		struct stat st;
		if (stat(cfg->repo_roots.items[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "repo-root: '%s' is not an existing directory", cfg->repo_roots.items[i]);
			return -ENOENT;
		}
	}
	if (cfg->budget_time_ms % 1000 || cfg->budget_time_max_ms % 1000) {
		snprintf(err, errlen, "budget-time: use whole seconds");
		return -EINVAL;
	}
	if (strcmp(cfg->engine_kv_type, "f16") != 0 && strcmp(cfg->engine_kv_type, "f32") != 0) {
		snprintf(err, errlen, "kv-type: '%s' is not f16 or f32", cfg->engine_kv_type);
		return -EINVAL;
	}
	if (cfg->engine_batch_tokens < cfg->engine_max_sequences) {
		snprintf(err, errlen,
			 "batch-tokens: %llu is below max-sequences (%llu): every generating conversation takes a "
			 "token of each step",
			 (unsigned long long)cfg->engine_batch_tokens, (unsigned long long)cfg->engine_max_sequences);
		return -EINVAL;
	}
	if (cfg->engine_ctx_size == 1) {
		snprintf(err, errlen, "ctx-size: 1 leaves no room for a reply (0 is the model's)");
		return -EINVAL;
	}
	if (cfg->llm && cfg->model) {
		snprintf(err, errlen, "llm, model: give one of --llm and --model, not both");
		return -EINVAL;
	}
	if (cfg->llm && strncmp(cfg->llm, "scripted:", 9) != 0) {
		snprintf(err, errlen, "llm: '%s' is not a model (expected scripted:FILE)", cfg->llm);
		return -EINVAL;
	}
	if (cfg->listen) {
		struct sockaddr_storage ss;
		if (addr_parse(cfg->listen, &ss, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "listen: %s", why);
			return -EINVAL;
		}
		if (!addr_is_loopback((struct sockaddr *)&ss)) {
			snprintf(err, errlen,
				 "listen: refusing to listen on '%s': TCP connections are not authenticated yet, "
				 "so only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed",
				 cfg->listen);
			return -EPERM;
		}
	}
	return 0;
}

void config_print_help(const char *program, void *out_file)
{
	FILE *out = out_file;
	fprintf(out,
		"usage: %s [serve] [OPTIONS]\n"
		"       %s --help | --version\n"
		"\n"
		"Runs the agentd daemon in the foreground. Every option is also a key of\n"
		"the file given with --config (`key = value` lines, # comments); flags\n"
		"override the file. Sizes take k/M/G suffixes (512k, 1M); durations take\n"
		"ms/s/m/h (250ms, 30s).\n"
		"\n"
		"options:\n"
		"  --config FILE                read options from FILE\n",
		program, program);
	for (size_t i = 0; i < CONFIG_OPTION_COUNT; i++) {
		const struct config_option *o = &config_options[i];
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s%s%s", o->key, o->metavar[0] ? " " : "", o->metavar);
		fprintf(out, "  %-28s %s", flag, o->help);
		if (o->def)
			fprintf(out, " [%s]", o->def);
		if (o->type == CONFIG_LIST)
			fprintf(out, " (repeatable)");
		fputc('\n', out);
	}
	fprintf(out, "  -h, --help                   show this help\n"
		     "  -V, --version                show the version\n");
}
