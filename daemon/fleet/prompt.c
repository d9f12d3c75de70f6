/* The agents' prompts and helper commands, embedded at build time from
 * daemon/fleet/prompts/ and daemon/fleet/tools/. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/embedded.h"
#include "common/xalloc.h"
#include "daemon/fleet/internal.h"

extern const struct embedded_file agentd_prompts[];
extern const size_t agentd_prompts_count;
extern const struct embedded_file agentd_tools[];
extern const size_t agentd_tools_count;

static const struct embedded_file *prompt_find(const char *name)
{
	char file[64];
	snprintf(file, sizeof(file), "%s.txt", name);
	for (size_t i = 0; i < agentd_prompts_count; i++) {
		if (strcmp(agentd_prompts[i].name, file) == 0)
			return &agentd_prompts[i];
	}
	return NULL;
}

char *prompt_render(const char *name, const char *const *keys, const char *const *values, size_t count)
{
	const struct embedded_file *f = prompt_find(name);
	if (!f)
		abort(); /* a prompt the build did not embed is a programming error */
	struct buf out = BUF_INIT;
	const char *p = f->data;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			buf_append_str(&out, p);
			break;
		}
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			buf_append_str(&out, p);
			break;
		}
		buf_append(&out, p, (size_t)(open - p));
		size_t klen = (size_t)(close - open - 2);
		bool found = false;
		for (size_t i = 0; i < count && !found; i++) {
			if (strlen(keys[i]) == klen && memcmp(keys[i], open + 2, klen) == 0) {
				buf_append_str(&out, values[i]);
				found = true;
			}
		}
		if (!found)
			buf_append(&out, open, (size_t)(close + 2 - open));
		p = close + 2;
	}
	return buf_steal(&out);
}

int prompt_install_tools(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	chmod(dir, 0755);
	for (size_t i = 0; i < agentd_tools_count; i++) {
		char path[4200], tmp[4300];
		snprintf(path, sizeof(path), "%s/%s", dir, agentd_tools[i].name);
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
		if (fd < 0 || write(fd, agentd_tools[i].data, agentd_tools[i].size) != (ssize_t)agentd_tools[i].size ||
		    fchmod(fd, 0755) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
			return -e;
		}
	}
	return 0;
}
