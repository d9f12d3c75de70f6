/* Removing a directory tree without following links. */
#ifndef AGENTD_COMMON_TREE_H
#define AGENTD_COMMON_TREE_H

/* Removes path and everything below it. Symbolic links are removed, never
 * followed, and a mount inside is left alone. Blocking: call it off the
 * event loop, or at start-up. Returns 0 or a negative errno (-ENOENT when
 * path does not exist). */
int tree_remove(const char *path);

#endif
