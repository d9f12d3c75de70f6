/* The daemon's life: start-up checks and exit codes, one daemon per data
 * directory, SIGTERM with requests in flight, restart after a crash. */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "tests/harness/harness.h"

TEST(sigterm_lets_the_request_in_flight_finish)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *c = th_connect_tcp(d->port);
	/* Half a request: in flight from the daemon's point of view. */
	th_conn_send_str(c, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf ");
	th_sleep_ms(100);
	kill(d->pid, SIGTERM);
	th_sleep_ms(300);
	/* Still waiting for us, but no longer accepting. */
	CHECK_INT(th_daemon_wait(d, 0), ==, -1);
	th_conn_send_str(c, "done!");
	struct th_response r;
	CHECK_INT(th_conn_read_response(c, &r, false, 5000), ==, 0);
	CHECK_INT(r.status, ==, 405);
	CHECK_STR(th_response_header(&r, "connection"), "close");
	th_response_free(&r);
	th_conn_close(c);
	CHECK_INT(th_daemon_wait(d, 5000), ==, 0);
	char *log = th_daemon_log(d);
	CHECK_CONTAINS(log, "msg=\"shutting down\"");
	CHECK_CONTAINS(log, "msg=stopped");
	free(log);
}

TEST(sigterm_closes_idle_connections_and_stops_accepting)
{
	struct th_daemon *d = th_daemon_start(NULL);
	struct th_conn *idle = th_connect_tcp(d->port);
	th_conn_send_str(idle, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	struct th_response r;
	CHECK_INT(th_conn_read_response(idle, &r, false, 5000), ==, 0);
	th_response_free(&r);
	long long t0 = th_now_ms();
	CHECK_INT(th_daemon_signal_wait(d, SIGTERM, 5000), ==, 0);
	CHECK_INT(th_now_ms() - t0, <, 2000);
	CHECK(th_conn_wait_closed(idle, 2000, NULL));
	th_conn_close(idle);
	struct stat st;
	CHECK_INT(stat(d->socket, &st), ==, -1);
}

TEST(shutdown_timeout_bounds_a_stuck_request)
{
	const char *args[] = {"--shutdown-timeout", "300ms", NULL};
	struct th_daemon *d = th_daemon_start(args);
	struct th_conn *c = th_connect_tcp(d->port);
	th_conn_send_str(c, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nnever");
	th_sleep_ms(100);
	long long t0 = th_now_ms();
	CHECK_INT(th_daemon_signal_wait(d, SIGTERM, 5000), ==, 0);
	long long took = th_now_ms() - t0;
	CHECK_INT(took, >=, 250);
	CHECK_INT(took, <, 3000);
	th_conn_close(c);
}

TEST(sigint_stops_too)
{
	struct th_daemon *d = th_daemon_start(NULL);
	CHECK_INT(th_daemon_signal_wait(d, SIGINT, 5000), ==, 0);
}

TEST(bad_flags_exit_2_naming_them)
{
	struct {
		const char *args[6];
		const char *message;
	} cases[] = {
		{{"--max-body", "lots", NULL}, "agentd: --max-body: 'lots' is not a size"},
		{{"--bogus", "1", NULL}, "agentd: unknown option '--bogus'"},
		{{"serve", "--header-timeout", "5", NULL}, "--header-timeout: duration '5' needs a unit"},
		{{"--listen", "0.0.0.0:8080", NULL}, "refusing to listen on '0.0.0.0:8080'"},
		{{"--listen", "10.1.2.3:80", NULL}, "only loopback addresses"},
		{{"frobnicate", NULL}, "agentd: unknown command 'frobnicate'"},
		{{"--config", "/nonexistent.conf", NULL}, "cannot read config file /nonexistent.conf"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out;
		int status = th_run_agentd(cases[i].args, &out, 10000);
		CHECK_INT(status, ==, 2);
		CHECK_CONTAINS(out, cases[i].message);
		free(out);
	}
}

TEST(bad_config_file_exits_2_naming_line_and_key)
{
	const char *dir = th_tempdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/agentd.conf", dir);
	th_write_file(path, "# fine\nmax-body = 2M\nidle-timeout = forever\n");
	const char *args[] = {"--config", path, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 2);
	CHECK_CONTAINS(out, ":3: idle-timeout: 'forever' is not a duration");
	free(out);
}

TEST(config_file_is_used)
{
	const char *dir = th_tempdir();
	char path[512], data[512];
	snprintf(path, sizeof(path), "%s/agentd.conf", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	char *text;
	if (asprintf(&text, "data-dir = %s\nmax-body = 1k\nlisten = 127.0.0.1:0\n", data) < 0)
		abort();
	th_write_file(path, text);
	free(text);
	const char *args[] = {"--config", path, NULL};
	struct th_daemon *d = th_daemon_start_in(data, false, args);
	CHECK_INT(d->port, >, 0);
	struct th_response r;
	char body[2048];
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	th_http(d, "POST", "/healthz", body, &r);
	CHECK_INT(r.status, ==, 413);
	th_response_free(&r);
	th_daemon_stop(d);
}

TEST(help_and_version)
{
	const char *help[] = {"--help", NULL};
	char *out;
	CHECK_INT(th_run_agentd(help, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "usage: agentd");
	CHECK_CONTAINS(out, "--max-body SIZE");
	CHECK_CONTAINS(out, "--shutdown-timeout DURATION");
	free(out);
	const char *serve_help[] = {"serve", "--help", NULL};
	CHECK_INT(th_run_agentd(serve_help, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "--listen HOST:PORT");
	free(out);
	const char *version[] = {"--version", NULL};
	CHECK_INT(th_run_agentd(version, &out, 10000), ==, 0);
	CHECK_CONTAINS(out, "agentd 0.");
	free(out);
}

TEST(tcp_listener_warns_it_is_unauthenticated)
{
	struct th_daemon *d = th_daemon_start(NULL);
	th_daemon_stop(d);
	char *log = th_daemon_log(d);
	CHECK_CONTAINS(log, "level=warn msg=\"TCP listener has no authentication");
	free(log);
	/* Without --listen there is no TCP listener and no warning. */
	struct th_daemon *u = th_daemon_start_in(NULL, false, NULL);
	CHECK_INT(u->port, ==, 0);
	struct th_response r;
	th_http_unix(u, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_daemon_stop(u);
	log = th_daemon_log(u);
	CHECK(strstr(log, "transport=tcp") == NULL);
	CHECK(strstr(log, "no authentication") == NULL);
	free(log);
}

TEST(one_daemon_per_data_directory)
{
	struct th_daemon *d = th_daemon_start(NULL);
	const char *args[] = {"--data-dir", d->data_dir, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 1);
	CHECK_CONTAINS(out, "another agentd (pid ");
	free(out);
	/* The first one is unharmed, socket included. */
	struct th_response r;
	th_http_unix(d, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_daemon_stop(d);
}

TEST(restart_after_kill_9_replaces_stale_socket)
{
	struct th_daemon *d = th_daemon_start_in(NULL, false, NULL);
	CHECK_INT(th_daemon_signal_wait(d, SIGKILL, 5000), ==, 128 + SIGKILL);
	struct stat st;
	CHECK_INT(stat(d->socket, &st), ==, 0); /* left behind */
	struct th_daemon *again = th_daemon_start_in(d->data_dir, false, NULL);
	struct th_response r;
	th_http_unix(again, "GET", "/healthz", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	th_response_free(&r);
	th_daemon_stop(again);
}

TEST(socket_path_that_is_not_a_socket_is_refused)
{
	const char *dir = th_tempdir();
	char data[512], sock[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(sock, sizeof(sock), "%s/precious-file", dir);
	th_write_file(sock, "do not delete me\n");
	const char *args[] = {"--data-dir", data, "--socket", sock, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 1);
	CHECK_CONTAINS(out, "is not a socket; refusing to replace it");
	free(out);
	char *kept = th_read_file(sock);
	CHECK_STR(kept, "do not delete me\n");
	free(kept);
}

TEST(log_file_option_and_reopen_on_sighup)
{
	const char *dir = th_tempdir();
	char logf[512], rotated[512];
	snprintf(logf, sizeof(logf), "%s/agentd.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/agentd.log.1", dir);
	const char *args[] = {"--log-file", logf, NULL};
	struct th_daemon *d = th_daemon_start_in(NULL, true, args);
	struct th_response r;
	th_http(d, "GET", "/healthz?before", NULL, &r);
	th_response_free(&r);
	CHECK_INT(rename(logf, rotated), ==, 0);
	kill(d->pid, SIGHUP);
	/* The reopen is logged into the new file. */
	long long deadline = th_now_ms() + 5000;
	char *now = NULL;
	while (th_now_ms() < deadline) {
		free(now);
		now = th_read_file(logf);
		if (now && strstr(now, "log file reopened"))
			break;
		th_sleep_ms(10);
	}
	CHECK_CONTAINS(now, "log file reopened");
	free(now);
	th_http(d, "GET", "/nope", NULL, &r);
	th_response_free(&r);
	th_daemon_stop(d);
	char *old = th_read_file(rotated);
	CHECK_CONTAINS(old, "msg=ready");
	CHECK_CONTAINS(old, "path=/healthz status=200");
	CHECK(strstr(old, "/nope") == NULL);
	free(old);
	now = th_read_file(logf);
	CHECK_CONTAINS(now, "path=/nope status=404");
	CHECK_CONTAINS(now, "msg=stopped");
	free(now);
}

TEST(database_from_a_newer_agentd_is_refused)
{
	struct th_daemon *d = th_daemon_start_in(NULL, false, NULL);
	th_daemon_stop(d);
	char *path = xasprintf("%s/agentd.db", d->data_dir);
	sqlite3 *db;
	CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
	free(path);
	const char *args[] = {"--data-dir", d->data_dir, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 10000), ==, 1);
	CHECK_CONTAINS(out, "schema version is 999, newer than this agentd knows");
	free(out);
}
