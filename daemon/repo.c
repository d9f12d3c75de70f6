/* Validation and normalization of task repositories. */
#include "daemon/repo.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

int repo_roots_init(struct repo_roots *roots, char *const *configured, size_t count, char *err, size_t errlen)
{
	roots->paths = count ? xcalloc(count, sizeof(char *)) : NULL;
	roots->count = 0;
	for (size_t i = 0; i < count; i++) {
		char *real = realpath(configured[i], NULL);
		struct stat st;
		if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "repo-root: '%s' is not an existing directory", configured[i]);
			free(real);
			repo_roots_free(roots);
			return -ENOENT;
		}
		roots->paths[roots->count++] = real;
	}
	return 0;
}

void repo_roots_free(struct repo_roots *roots)
{
	for (size_t i = 0; i < roots->count; i++)
		free(roots->paths[i]);
	free(roots->paths);
	roots->paths = NULL;
	roots->count = 0;
}

static bool path_is(const char *dir, const char *name, mode_t type)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	struct stat st;
	return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* A work tree (with .git, a directory or a gitdir file) or a bare
 * repository (HEAD, objects/, refs/). */
static bool repo_looks_like_git(const char *dir)
{
	if (path_is(dir, ".git", S_IFDIR) || path_is(dir, ".git", S_IFREG))
		return true;
	return path_is(dir, "HEAD", S_IFREG) && path_is(dir, "objects", S_IFDIR) && path_is(dir, "refs", S_IFDIR);
}

static int repo_check_local(const char *path, const struct repo_roots *roots, char **identity, char *err, size_t errlen)
{
	char *real = realpath(path, NULL);
	if (!real) {
		int e = errno;
		snprintf(err, errlen, "repo: %s: %s", path, strerror(e));
		return -ENOENT;
	}
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "repo: %s is not a directory", path);
		free(real);
		return -ENOENT;
	}
	if (roots->count) {
		bool inside = false;
		for (size_t i = 0; i < roots->count && !inside; i++) {
			size_t n = strlen(roots->paths[i]);
			inside = strncmp(real, roots->paths[i], n) == 0 &&
				 (real[n] == '/' || real[n] == '\0' || strcmp(roots->paths[i], "/") == 0);
		}
		if (!inside) {
			/* Name the resolved path: it shows the symlink or `..`
			 * that led out. */
			snprintf(err, errlen, "repo: %s (%s) is outside every --repo-root", path, real);
			free(real);
			return -EPERM;
		}
	}
	if (access(real, R_OK | X_OK) < 0) {
		snprintf(err, errlen, "repo: %s is not readable by agentd", path);
		free(real);
		return -ENOENT;
	}
	if (!repo_looks_like_git(real)) {
		snprintf(err, errlen, "repo: %s is not a git repository", path);
		free(real);
		return -ENOENT;
	}
	*identity = real;
	return 0;
}

/* Parses scheme://[user@]host[:port]/path for the remote schemes; writes
 * the identity: the URL without user, trailing slashes and ".git". */
static int repo_check_url(const char *repo, const char *scheme, char **identity, char *err, size_t errlen)
{
	const char *auth = repo + strlen(scheme) + 3;
	const char *slash = strchr(auth, '/');
	if (!slash || slash == auth) {
		snprintf(err, errlen, "repo: '%s' has no host or no path", repo);
		return -EINVAL;
	}
	for (const char *c = repo; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '\\') {
			snprintf(err, errlen, "repo: URLs must not contain spaces, control characters or backslashes");
			return -EINVAL;
		}
		if (*c == '?' || *c == '#') {
			snprintf(err, errlen,
				 "repo: URLs must not have a query or fragment (they can carry credentials)");
			return -EINVAL;
		}
	}
	const char *at = memchr(auth, '@', (size_t)(slash - auth));
	const char *host = auth;
	if (at) {
		/* A user name is how ssh says who logs in; anything more (a
		 * password, or a token in the user part of an https URL) is a
		 * credential, and credentials never go into the database. */
		bool password = memchr(auth, ':', (size_t)(at - auth)) != NULL;
		if (strcmp(scheme, "ssh") != 0 || password) {
			snprintf(err, errlen,
				 "repo: URLs with credentials are refused; configure git credentials for "
				 "agentd instead");
			return -EINVAL;
		}
		host = at + 1;
	}
	size_t host_len = (size_t)(slash - host);
	if (host_len == 0) {
		snprintf(err, errlen, "repo: '%s' has no host", repo);
		return -EINVAL;
	}
	for (size_t i = 0; i < host_len; i++) {
		char c = host[i];
		if (!isalnum((unsigned char)c) && !strchr(".-:[]_", c)) {
			snprintf(err, errlen, "repo: '%s' has an invalid host", repo);
			return -EINVAL;
		}
	}
	size_t path_len = strlen(slash);
	while (path_len > 1 && slash[path_len - 1] == '/')
		path_len--;
	if (path_len > 4 && memcmp(slash + path_len - 4, ".git", 4) == 0)
		path_len -= 4;
	while (path_len > 1 && slash[path_len - 1] == '/')
		path_len--;
	if (path_len <= 1) {
		snprintf(err, errlen, "repo: '%s' has no repository path", repo);
		return -EINVAL;
	}
	struct buf id = BUF_INIT;
	buf_printf(&id, "%s://", scheme);
	for (size_t i = 0; i < host_len; i++)
		buf_append_char(&id, (char)tolower((unsigned char)host[i]));
	buf_append(&id, slash, path_len);
	*identity = buf_steal(&id);
	return 0;
}

int repo_check(const char *repo, const struct repo_roots *roots, char **identity, char *err, size_t errlen)
{
	*identity = NULL;
	if (repo[0] == '/')
		return repo_check_local(repo, roots, identity, err, errlen);
	if (strncmp(repo, "file://", 7) == 0) {
		const char *path = repo + 7;
		if (strncmp(path, "localhost/", 10) == 0)
			path += 9;
		if (path[0] != '/') {
			snprintf(err, errlen, "repo: file:// URLs must name an absolute local path (file:///path)");
			return -EINVAL;
		}
		if (strchr(path, '%')) {
			snprintf(err, errlen, "repo: percent-escapes in file:// URLs are not supported; use the path");
			return -EINVAL;
		}
		return repo_check_local(path, roots, identity, err, errlen);
	}
	static const char *const schemes[] = {"https", "ssh", "git"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(repo, schemes[i], n) == 0 && strncmp(repo + n, "://", 3) == 0)
			return repo_check_url(repo, schemes[i], identity, err, errlen);
	}
	snprintf(err, errlen,
		 "repo: must be an absolute path to a local git repository, or a file://, https://, ssh:// or git:// "
		 "URL");
	return -EINVAL;
}

char *repo_filter_identity(const char *repo)
{
	static const struct repo_roots none = {NULL, 0};
	char *identity = NULL;
	char err[256];
	if (repo_check(repo, &none, &identity, err, sizeof(err)) == 0)
		return identity;
	if (repo[0] == '/') {
		char *real = realpath(repo, NULL);
		if (real)
			return real;
	}
	return xstrdup(repo);
}
