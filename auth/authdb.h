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

/* Reads the account of address into acct_r: address is a canonical
 * account address or one of an account's aliases (alias.h); acct_r->address
 * is always the account's canonical address. */
enum authdb_result authdb_get(struct authdb *db, const char *address,
			      struct account *acct_r, const char **error_r);
/* Inserts a new account; AUTHDB_EXISTS leaves the existing one alone (also
 * when the address is taken as an alias). */
enum authdb_result authdb_add(struct authdb *db, const struct account *acct,
			      const char **error_r);
/* Replaces the record of an existing account. */
enum authdb_result authdb_update(struct authdb *db, const struct account *acct,
				 const char **error_r);
/* Deletes the account with its aliases and TLS keys, in one transaction.
 * address must be the canonical one (an alias is NOTFOUND). */
enum authdb_result authdb_del(struct authdb *db, const char *address,
			      const char **error_r);
/* Appends "address\n" for every account sorted after `after` ("" = from the
 * start) while they fit into out->max; stops at the first that does not.
 * *count_r is how many were appended. */
enum authdb_result authdb_list(struct authdb *db, const char *after,
			       struct buf *out, size_t *count_r,
			       const char **error_r);


/* ---- aliases (alias.h) and TLS client keys (tlskey.h) ----
 * Each lives in its own btree of the same environment ("aliases": alias ->
 * alias_encode record; "tlskeys": fingerprint -> tlskey_encode record), and
 * "account_links" indexes both by account (key: account NUL kind item, kind
 * 'a' alias or 'k' key) so listing and deleting an account's addresses and
 * keys needs no full scan. Writes are one transaction each. */
struct tlskey;

/* The canonical account address of address (an account or an alias) into
 * account_r (ACCOUNT_ADDR_MAX + 1 bytes). */
enum authdb_result authdb_resolve(struct authdb *db, const char *address,
				  char *account_r, const char **error_r);
/* NOTFOUND: no account `account`; EXISTS: alias is taken (account or
 * alias). */
enum authdb_result authdb_alias_add(struct authdb *db, const char *account,
				    const char *alias, const char **error_r);
/* NOTFOUND: not an alias. */
enum authdb_result authdb_alias_del(struct authdb *db, const char *alias,
				    const char **error_r);
/* Appends "item\n" for every alias (kind 'a') or key fingerprint (kind 'k')
 * of the account while they fit into out->max (sorted). */
enum authdb_result authdb_links(struct authdb *db, const char *account,
				char kind, struct buf *out,
				const char **error_r);
/* Walks the text of authdb_links: the item at *pos, NUL-terminated in
 * place (*pos then points after it), or NULL at the end. Start with *pos
 * at the text (buf_cstr). */
char *authdb_links_next(char **pos);

/* NOTFOUND: k->account is not an account (any more); EXISTS: the
 * fingerprint is registered already. */
enum authdb_result authdb_key_add(struct authdb *db, const struct tlskey *k,
				  const char **error_r);
/* Fills k_r (fingerprint included). */
enum authdb_result authdb_key_get(struct authdb *db, const char *fingerprint,
				  struct tlskey *k_r, const char **error_r);
enum authdb_result authdb_key_del(struct authdb *db, const char *fingerprint,
				  const char **error_r);
/* Calls fn for every key sorted after `after` ("" = from the start) until
 * fn returns non-zero (k is valid during the call only). */
enum authdb_result authdb_key_iter(struct authdb *db, const char *after,
				   int (*fn)(const struct tlskey *k, void *ctx),
				   void *ctx, const char **error_r);

#endif
