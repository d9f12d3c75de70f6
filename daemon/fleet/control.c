/* The per-step control directory: `submit` and `remember` write into it
 * from inside the sandbox, and the daemon reads it when the command ends.
 * The agent controls its contents, so every entry is opened without
 * following links, must be a regular file with one link, and is read up to
 * a cap; everything else is ignored and counted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "daemon/fleet/internal.h"

/* Empties the directory dfd without following links: it is flat, so
 * anything that is not a file or an empty directory is unlinked. Returns
 * 0, or -ENOTEMPTY when something could not be removed. */
static int control_clear(int dfd)
{
	int copy = dup(dfd);
	DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
	if (!d) {
		if (copy >= 0)
			close(copy);
		return -ENOTEMPTY;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, e->d_name, 0) < 0 && (errno != EISDIR || unlinkat(dfd, e->d_name, AT_REMOVEDIR) < 0))
			rc = -ENOTEMPTY;
	}
	closedir(d);
	return rc;
}

/* The directory is kept from step to step (emptied, its owner and mode
 * set again): making a directory costs more than emptying one. Only the
 * daemon reaches its parent, so it stays a directory. */
int control_prepare(const char *dir, uint32_t uid, char *err, size_t errlen)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = dfd < 0 ? -errno : 0;
	if (rc == 0 && (fchown(dfd, uid, uid) < 0 || fchmod(dfd, 0700) < 0))
		rc = -errno;
	if (rc == 0)
		rc = control_clear(dfd);
	if (dfd >= 0)
		close(dfd);
	if (rc < 0)
		snprintf(err, errlen, "cannot prepare the control directory %s: %s", dir, strerror(-rc));
	return rc;
}

/* Reads one entry; returns a new string or NULL when it is refused. */
static char *control_read_file(int dfd, const char *name, size_t max)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size < 0 ||
	    (uint64_t)st.st_size > max) {
		close(fd);
		return NULL;
	}
	char *text = xmalloc(max + 1);
	ssize_t n = read(fd, text, max + 1);
	close(fd);
	if (n < 0 || (size_t)n > max) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

void control_read(const char *dir, struct control_result *out)
{
	memset(out, 0, sizeof(*out));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	int scan = dup(dfd);
	DIR *d = scan >= 0 ? fdopendir(scan) : NULL;
	if (!d) {
		if (scan >= 0)
			close(scan);
		close(dfd);
		return;
	}
	/* Notes in name order, so that "note-0".."note-15" keep theirs. */
	struct dirent **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (count == 4 * CONTROL_NOTES_MAX) {
			out->ignored++;
			continue;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[count] = xmalloc(sizeof(struct dirent));
		memcpy(names[count], e, sizeof(struct dirent));
		count++;
	}
	closedir(d);
	for (size_t i = 0; i < count; i++) {
		for (size_t j = i + 1; j < count; j++) {
			if (strverscmp(names[j]->d_name, names[i]->d_name) < 0) {
				struct dirent *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
		}
	}
	for (size_t i = 0; i < count; i++) {
		const char *name = names[i]->d_name;
		if (strcmp(name, "submit") == 0) {
			struct stat st;
			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
				out->submitted = true;
			else
				out->ignored++;
		} else if (strncmp(name, "note-", 5) == 0 && out->note_count < CONTROL_NOTES_MAX) {
			char *text = control_read_file(dfd, name, CONTROL_NOTE_MAX);
			if (text && text[0] && utf8_valid(text, strlen(text), NULL))
				out->notes[out->note_count++] = text;
			else {
				free(text);
				out->ignored++;
			}
		} else {
			out->ignored++;
		}
		free(names[i]);
	}
	free(names);
	close(dfd);
}

int control_read_one(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
		rc = -EINVAL;
	else if ((uint64_t)st.st_size > max)
		rc = -EFBIG;
	char *text = NULL;
	ssize_t n = 0;
	if (rc == 0) {
		text = xmalloc(max + 1);
		n = read(fd, text, max + 1);
		if (n < 0)
			rc = -errno;
		else if ((size_t)n > max)
			rc = -EFBIG;
	}
	close(fd);
	if (rc < 0) {
		free(text);
		return rc;
	}
	text[n] = '\0';
	*out = text;
	*len = (size_t)n;
	return 0;
}

void control_result_free(struct control_result *r)
{
	for (size_t i = 0; i < r->note_count; i++)
		free(r->notes[i]);
	r->note_count = 0;
}
