/* Engine test helpers: child processes for the node tools, JSON files,
 * model files. */
#include "tests/engine/support.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "tests/harness/harness.h"

extern char **environ;

const char *support_source_root(void)
{
	const char *root = getenv("AGENTD_SOURCE_ROOT");
	if (!root)
		th_fail(__FILE__, __LINE__, "AGENTD_SOURCE_ROOT is not set");
	return root;
}

int support_run(const char *const *argv, long timeout_ms, char **output)
{
	char *out_path = xasprintf("%s/run-output", th_tempdir());
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		th_fail(__FILE__, __LINE__, "cannot run %s: %s", argv[0], strerror(rc));
	long long deadline = th_now_ms() + timeout_ms;
	int status = -1;
	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			break;
		if (th_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			th_fail(__FILE__, __LINE__, "%s did not finish within %ld ms", argv[0], timeout_ms);
		}
		th_sleep_ms(20);
	}
	char *out = th_read_file(out_path);
	free(out_path);
	if (output)
		*output = out ? out : xstrdup("");
	else
		free(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *support_write_model(const char *dir, const char *name, const char *const *args)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *writer = xasprintf("%s/tests/tools/gguf_writer.mjs", support_source_root());
	const char *argv[64];
	size_t n = 0;
	argv[n++] = "node";
	argv[n++] = writer;
	argv[n++] = "--out";
	argv[n++] = path;
	for (size_t i = 0; args && args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char *output;
	int status = support_run(argv, 120000, &output);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "gguf_writer failed (%d): %s", status, output);
	free(output);
	free(writer);
	return path;
}

cJSON *support_read_json(const char *path)
{
	char *text = th_read_file(path);
	if (!text)
		th_fail(__FILE__, __LINE__, "cannot read %s", path);
	cJSON *json = cJSON_Parse(text);
	free(text);
	if (!json)
		th_fail(__FILE__, __LINE__, "%s is not JSON", path);
	return json;
}

engine_model *support_open(const char *path, const char *chat_template)
{
	struct engine_model_options opts = {chat_template};
	engine_model *m = NULL;
	char err[1024];
	if (engine_model_open(path, &opts, &m, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "cannot open %s: %s", path, err);
	return m;
}

void support_refused(const char *const *args, const char *needle)
{
	char *path = support_write_model(th_tempdir(), "bad.gguf", args);
	engine_model *m = NULL;
	char err[1024] = "";
	if (engine_model_open(path, NULL, &m, err, sizeof(err)) >= 0)
		th_fail(__FILE__, __LINE__, "a model that should fail with \"%s\" opened", needle);
	CHECK_CONTAINS(err, needle);
	CHECK_CONTAINS(err, path);
	free(path);
}

char *support_ids_text(const engine_token *ids, size_t n)
{
	struct buf b = BUF_INIT;
	buf_append_char(&b, '[');
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%d", i ? "," : "", ids[i]);
	buf_append_char(&b, ']');
	return buf_steal(&b);
}

char *support_escape(const char *text, size_t len)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len && b.len < 600; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n')
			buf_append_str(&b, "\\n");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_append_char(&b, (char)c);
	}
	if (!b.data)
		buf_append_str(&b, "");
	return buf_steal(&b);
}

size_t support_top_two(const double *v, size_t n, double *margin)
{
	size_t best = 0;
	double second = -INFINITY;
	for (size_t i = 1; i < n; i++) {
		if (v[i] > v[best]) {
			second = v[best];
			best = i;
		} else if (v[i] > second) {
			second = v[i];
		}
	}
	*margin = v[best] - second;
	return best;
}
