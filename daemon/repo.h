/* What a task's `repo` may be, and its identity: a local git repository
 * (absolute path or file:// URL) that must exist and, when repo roots are
 * configured, lie inside one of them after every symlink and `..` is
 * resolved; or an https://, ssh:// or git:// URL without credentials. */
#ifndef AGENTD_REPO_H
#define AGENTD_REPO_H

#include <stddef.h>

/* Resolved --repo-root directories. */
struct repo_roots {
	char **paths; /* owned real paths */
	size_t count;
};

/* Resolves each configured root with realpath; an error names the root. */
int repo_roots_init(struct repo_roots *roots, char *const *configured, size_t count, char *err, size_t errlen);
void repo_roots_free(struct repo_roots *roots);

/* Checks repo; on success *identity is a new string the caller frees. On
 * failure returns -EINVAL (malformed: 400), -ENOENT (missing or not a git
 * repository: 400) or -EPERM (outside the roots: 400 too), with err. */
int repo_check(const char *repo, const struct repo_roots *roots, char **identity, char *err, size_t errlen);
/* The identity a --repo filter should match: the real path for an existing
 * local path, else the normalized URL, else repo itself. Caller frees. */
char *repo_filter_identity(const char *repo);

#endif
