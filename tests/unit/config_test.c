/* The option table through its two doors: flags and config files. */
#include <errno.h>
#include <stdlib.h>

#include "daemon/config.h"
#include "tests/harness/harness.h"

/* Parses a NULL-terminated flag list into cfg; returns the rc. */
static int parse(struct config *cfg, const char *const *flags, char *err, size_t errlen)
{
	int argc = 0;
	while (flags[argc])
		argc++;
	return config_parse_args(cfg, argc, (char **)flags, err, errlen);
}

TEST(defaults)
{
	struct config cfg;
	config_init(&cfg);
	CHECK_STR(cfg.data_dir, "/var/lib/agentd");
	CHECK(cfg.listen == NULL);
	CHECK(cfg.socket_path == NULL);
	CHECK_INT(cfg.max_body_bytes, ==, 1024 * 1024);
	CHECK_INT(cfg.max_connections, ==, 1024);
	CHECK_INT(cfg.shutdown_timeout_ms, ==, 10000);
	CHECK_INT(cfg.header_timeout_ms, ==, 10000);
	CHECK_INT(cfg.body_timeout_ms, ==, 30000);
	CHECK_INT(cfg.idle_timeout_ms, ==, 60000);
	CHECK_INT(cfg.log_level, ==, LOG_LEVEL_INFO);
	char path[256];
	CHECK_INT(config_socket_path(&cfg, path, sizeof(path)), ==, 0);
	CHECK_STR(path, "/var/lib/agentd/agentd.sock");
	config_free(&cfg);
}

TEST(flags_both_forms)
{
	struct config cfg;
	config_init(&cfg);
	char err[512];
	const char *flags[] = {"--max-body=512k", "--max-connections", "7",          "--idle-timeout",
			       "250ms",           "--log-level=debug", "--data-dir", "/tmp/x",
			       "--listen",        "127.0.0.1:9000",    NULL};
	CHECK_INT(parse(&cfg, flags, err, sizeof(err)), ==, CONFIG_RUN);
	CHECK_INT(cfg.max_body_bytes, ==, 512 * 1024);
	CHECK_INT(cfg.max_connections, ==, 7);
	CHECK_INT(cfg.idle_timeout_ms, ==, 250);
	CHECK_INT(cfg.log_level, ==, LOG_LEVEL_DEBUG);
	CHECK_STR(cfg.data_dir, "/tmp/x");
	CHECK_STR(cfg.listen, "127.0.0.1:9000");
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), ==, 0);
	config_free(&cfg);
}

TEST(flags_rejected_with_names)
{
	struct config cfg;
	char err[512];
	struct {
		const char *flags[4];
		const char *message;
	} cases[] = {
		{{"--max-body", "abc", NULL}, "--max-body: 'abc' is not a size"},
		{{"--max-body", "0", NULL}, "--max-body: '0' is out of range"},
		{{"--max-body", "2G", NULL}, "out of range (1..1G)"},
		{{"--max-connections", "-3", NULL}, "--max-connections: '-3' is not a non-negative integer"},
		{{"--idle-timeout", "10", NULL}, "--idle-timeout: duration '10' needs a unit"},
		{{"--log-level", "loud", NULL}, "--log-level: unknown level 'loud'"},
		{{"--no-such-thing", "1", NULL}, "unknown option '--no-such-thing'"},
		{{"--max-body", NULL}, "--max-body needs a value"},
		{{"serve-now", NULL}, "unexpected argument 'serve-now'"},
		{{"--data-dir=", NULL}, "data-dir: empty value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&cfg);
		err[0] = '\0';
		CHECK_INT(parse(&cfg, cases[i].flags, err, sizeof(err)), <, 0);
		CHECK_CONTAINS(err, cases[i].message);
		config_free(&cfg);
	}
}

TEST(help_and_version)
{
	struct config cfg;
	char err[256];
	config_init(&cfg);
	const char *help[] = {"--max-body", "bad", "--help", NULL};
	CHECK_INT(parse(&cfg, help, err, sizeof(err)), ==, CONFIG_HELP);
	const char *version[] = {"-V", NULL};
	CHECK_INT(parse(&cfg, version, err, sizeof(err)), ==, CONFIG_VERSION);
	config_free(&cfg);
}

TEST(file_and_precedence)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/agentd.conf", dir);
	th_write_file(path, "# agentd configuration\n"
			    "\n"
			    "  max-body = 64k   # trailing comment\n"
			    "max-connections=12\n"
			    "data-dir = \"/srv/agent data #1\"\n"
			    "log-level = warn\r\n"
			    "header-timeout = 2s\n");
	struct config cfg;
	config_init(&cfg);
	char err[512];
	const char *flags[] = {"--header-timeout", "3s", "--config", path, NULL};
	CHECK_INT(parse(&cfg, flags, err, sizeof(err)), ==, CONFIG_RUN);
	CHECK_INT(cfg.max_body_bytes, ==, 64 * 1024);
	CHECK_INT(cfg.max_connections, ==, 12);
	CHECK_STR(cfg.data_dir, "/srv/agent data #1");
	CHECK_INT(cfg.log_level, ==, LOG_LEVEL_WARN);
	/* The flag wins over the file, wherever it stands on the line. */
	CHECK_INT(cfg.header_timeout_ms, ==, 3000);
	CHECK_STR(cfg.config_file, path);
	config_free(&cfg);
}

TEST(file_errors_name_line_and_key)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	struct {
		const char *text;
		const char *message;
	} cases[] = {
		{"max-body = 1M\nmax-bodyy = 2M\n", ":2: unknown option 'max-bodyy'"},
		{"# ok\nmax-body = lots\n", ":2: max-body: 'lots' is not a size"},
		{"idle-timeout\n", ":1: expected 'key = value'"},
		{"= 5\n", ":1: missing key"},
		{"data-dir = \"/unterminated\n", ":1: data-dir: unterminated"},
		{"config = /etc/other.conf\n", ":1: 'config' cannot be set inside a config file"},
		{"listen = \n", ":1: listen: empty value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_write_file(path, cases[i].text);
		struct config cfg;
		config_init(&cfg);
		char err[512] = "";
		const char *flags[] = {"--config", path, NULL};
		CHECK_INT(parse(&cfg, flags, err, sizeof(err)), <, 0);
		CHECK_CONTAINS(err, path);
		CHECK_CONTAINS(err, cases[i].message);
		config_free(&cfg);
	}
	struct config cfg;
	config_init(&cfg);
	char err[512];
	const char *missing[] = {"--config", "/nonexistent/agentd.conf", NULL};
	CHECK_INT(parse(&cfg, missing, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "cannot read config file /nonexistent/agentd.conf");
	config_free(&cfg);
}

TEST(long_line_rejected)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/long.conf", dir);
	char *text = malloc(10000);
	memcpy(text, "data-dir = /", 12);
	memset(text + 12, 'a', 9000);
	strcpy(text + 9012, "\n");
	th_write_file(path, text);
	free(text);
	struct config cfg;
	config_init(&cfg);
	char err[512];
	const char *flags[] = {"--config", path, NULL};
	CHECK_INT(parse(&cfg, flags, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, ":1: line is longer than");
	config_free(&cfg);
}

TEST(validate_listen_and_socket)
{
	struct {
		const char *listen;
		int ok;
		const char *message;
	} cases[] = {
		{"127.0.0.1:8080", 1, NULL},
		{"127.1.2.3:0", 1, NULL},
		{"localhost:8080", 1, NULL},
		{"[::1]:8080", 1, NULL},
		{"0.0.0.0:8080", 0, "refusing to listen on '0.0.0.0:8080'"},
		{"192.168.1.1:80", 0, "only loopback addresses"},
		{"[::]:8080", 0, "refusing"},
		{"127.0.0.1", 0, "expected HOST:PORT"},
		{"127.0.0.1:99999", 0, "invalid port"},
		{"example.com:80", 0, "invalid host"},
		{"::1:80", 0, "brackets"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		config_init(&cfg);
		char err[512] = "";
		const char *flags[] = {"--listen", cases[i].listen, NULL};
		CHECK_INT(parse(&cfg, flags, err, sizeof(err)), ==, CONFIG_RUN);
		int rc = config_validate(&cfg, err, sizeof(err));
		if (cases[i].ok) {
			CHECK_INT(rc, ==, 0);
		} else {
			CHECK_INT(rc, <, 0);
			CHECK_CONTAINS(err, cases[i].message);
		}
		config_free(&cfg);
	}
	struct config cfg;
	config_init(&cfg);
	char longdir[200];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	char err[512];
	CHECK_INT(config_set(&cfg, "data-dir", longdir, err, sizeof(err)), ==, 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "longer than a unix socket allows");
	config_free(&cfg);
}

TEST(engine_keys)
{
	struct config cfg;
	config_init(&cfg);
	char err[512] = "";
	const char *flags[] = {"--threads", "3",   "--ctx-size",     "8192", "--kv-memory",     "512M",
			       "--kv-type", "f32", "--batch-tokens", "256",  "--max-sequences", "64",
			       NULL};
	CHECK_INT(parse(&cfg, flags, err, sizeof(err)), ==, CONFIG_RUN);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), ==, 0);
	CHECK_INT(cfg.engine_threads, ==, 3);
	CHECK_INT(cfg.engine_ctx_size, ==, 8192);
	CHECK_INT(cfg.engine_kv_memory_bytes, ==, 512ull << 20);
	CHECK_STR(cfg.engine_kv_type, "f32");
	CHECK_INT(cfg.engine_batch_tokens, ==, 256);
	CHECK_INT(cfg.engine_max_sequences, ==, 64);
	config_free(&cfg);
	struct {
		const char *flags[5];
		const char *message;
	} cases[] = {
		{{"--kv-type", "f64", NULL}, "kv-type: 'f64' is not f16 or f32"},
		{{"--batch-tokens", "64", "--max-sequences", "100", NULL}, "batch-tokens: 64 is below max-sequences"},
		{{"--ctx-size", "1", NULL}, "ctx-size: 1 leaves no room"},
		{{"--threads", "1000", NULL}, "out of range"},
		{{"--kv-memory", "1k", NULL}, "out of range"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&cfg);
		err[0] = '\0';
		int rc = parse(&cfg, cases[i].flags, err, sizeof(err));
		if (rc == CONFIG_RUN)
			rc = config_validate(&cfg, err, sizeof(err));
		CHECK_INT(rc, <, 0);
		CHECK_CONTAINS(err, cases[i].message);
		config_free(&cfg);
	}
}
