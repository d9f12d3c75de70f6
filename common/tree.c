/* Removing a directory tree without following links. */
#include "common/tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

static int tree_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

int tree_remove(const char *path)
{
	return nftw(path, tree_remove_entry, 32, FTW_PHYS | FTW_DEPTH | FTW_MOUNT) < 0 ? -errno : 0;
}
