/* Schema migrations: numbered SQL files applied in order in one
 * transaction, the schema version kept in PRAGMA user_version. */
#include "daemon/store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_migrations_check(const struct embedded_file *files, size_t count, char *err, size_t errlen)
{
	for (size_t i = 0; i < count; i++) {
		const char *name = files[i].name;
		char *end;
		long number = strtol(name, &end, 10);
		if (end != name + 4 || *end != '_' || strcmp(end + strlen(end) - 4, ".sql") != 0) {
			snprintf(err, errlen, "migration '%s' is not named NNNN_name.sql", name);
			return -EINVAL;
		}
		if (number != (long)i + 1) {
			snprintf(err, errlen, "migration '%s' is out of order: expected number %04zu", name, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int migrate_user_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
		sqlite3_finalize(stmt);
		return -EIO;
	}
	*version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int store_migrate(sqlite3 *db, const struct embedded_file *files, size_t count, char *err, size_t errlen)
{
	int version;
	int rc = migrate_user_version(db, &version, err, errlen);
	if (rc < 0)
		return rc;
	if (version < 0 || (size_t)version > count) {
		snprintf(err, errlen,
			 "the database's schema version is %d, newer than this agentd knows (%zu): "
			 "run a newer agentd, or restore a backup made for this version",
			 version, count);
		return -EPROTO;
	}
	if ((size_t)version == count)
		return 0;
	char *msg = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (size_t i = (size_t)version; i < count; i++) {
		if (sqlite3_exec(db, files[i].data, NULL, NULL, &msg) != SQLITE_OK) {
			char what[200];
			snprintf(what, sizeof(what), "migration %s: %s", files[i].name, msg ? msg : "failed");
			sqlite3_free(msg);
			msg = sqlite3_mprintf("%s", what);
			goto fail;
		}
	}
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu", count);
	if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot migrate the database: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}
