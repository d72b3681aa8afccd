#ifndef POSTERN_AUTH_AUTHDB_H
#define POSTERN_AUTH_AUTHDB_H
/* The account database: a Berkeley DB transactional environment in
 * config auth_dir with one btree "accounts" (key: canonical address, value:
 * account_encode record). This file is the only one that includes <db.h>.
 *
 * One process at a time: authdb_open takes an exclusive lock on
 * auth_dir/lock, so the offline --add-user cannot run recovery under a
 * running daemon. Every write is one transaction, committed synchronously
 * (log flushed to disk) before the call returns 0. */
#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "buf.h"

struct authdb;

enum authdb_result {
	AUTHDB_ERROR = -1, /* *error_r says why; logged by the caller */
	AUTHDB_OK = 0,
	AUTHDB_EXISTS = 1,   /* add: address already present */
	AUTHDB_NOTFOUND = 2, /* get/del/update: no such address */
};

/* Checks dir (a directory owned by us with no group/other access; created
 * 0700 if missing), locks it and opens (recovering) the environment.
 * 0, or -1 with *error_r (static storage, valid until the next call). */
int authdb_open(const char *dir, struct authdb **db_r, const char **error_r);
/* Checkpoints and closes. Accepts NULL; NULLs *db. */
void authdb_close(struct authdb **db);

/* Reads address (canonical) into acct_r (address filled in). */
enum authdb_result authdb_get(struct authdb *db, const char *address,
			      struct account *acct_r, const char **error_r);
/* Inserts a new account; AUTHDB_EXISTS leaves the existing one alone. */
enum authdb_result authdb_add(struct authdb *db, const struct account *acct,
			      const char **error_r);
/* Replaces the record of an existing account. */
enum authdb_result authdb_update(struct authdb *db, const struct account *acct,
				 const char **error_r);
enum authdb_result authdb_del(struct authdb *db, const char *address,
			      const char **error_r);
/* Appends "address\n" for every account sorted after `after` ("" = from the
 * start) while they fit into out->max; stops at the first that does not.
 * *count_r is how many were appended. */
enum authdb_result authdb_list(struct authdb *db, const char *after,
			       struct buf *out, size_t *count_r,
			       const char **error_r);

#endif
