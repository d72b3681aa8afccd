#include "authdb.h"

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alias.h"
#include "log.h"
#include "str.h"
#include "tlskey.h"

#define AUTHDB_FILE "accounts.db"
#define AUTHDB_ALIASES "aliases.db"
#define AUTHDB_KEYS "tlskeys.db"
#define AUTHDB_LINKS "account_links.db"
/* links key: account NUL kind item */
#define LINK_KEY_MAX (2 * ACCOUNT_ADDR_MAX + 4)
#define AUTHDB_LOCK "lock"
/* Checkpoint once this much log (KiB) accumulated; old logs are removed. */
#define AUTHDB_CHECKPOINT_KB 256
#define AUTHDB_LOG_FILE_SIZE (1024 * 1024)

struct authdb {
	DB_ENV *env;
	DB *db;
	DB *aliases, *keys, *links;
	int lock_fd;
};

static char authdb_errbuf[4096 + 256];

static const char *errf(const char *what, int ret)
{
	snprintf(authdb_errbuf, sizeof(authdb_errbuf), "%s: %s", what,
		 db_strerror(ret));
	return authdb_errbuf;
}

static void authdb_errcall(const DB_ENV *env POSTERN_UNUSED,
			   const char *prefix POSTERN_UNUSED, const char *msg)
{
	log_error("berkeley db: %s", msg);
}

/* The database holds every user's password equivalent: refuse to use a
 * directory anyone but us can enter or that someone else owns. */
static int check_dir(const char *dir, const char **error_r)
{
	struct stat st;

	if (stat(dir, &st) < 0 && errno == ENOENT)
		(void)mkdir(dir, 0700);
	if (stat(dir, &st) < 0) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf),
			 "auth_dir %s: %s", dir, strerror(errno));
		*error_r = authdb_errbuf;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf),
			 "auth_dir %s is not a directory", dir);
		*error_r = authdb_errbuf;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf),
			 "auth_dir %s is owned by uid %ld, not by the auth "
			 "user (uid %ld)",
			 dir, (long)st.st_uid, (long)geteuid());
		*error_r = authdb_errbuf;
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf),
			 "auth_dir %s has mode %04o: it must not be "
			 "accessible by group or others (chmod 700 it)",
			 dir, (unsigned)(st.st_mode & 07777));
		*error_r = authdb_errbuf;
		return -1;
	}
	return 0;
}

static int lock_dir(const char *dir, int *fd_r, const char **error_r)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, AUTHDB_LOCK) >=
	    (int)sizeof(path)) {
		*error_r = "auth_dir path too long";
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf), "%s: %s", path,
			 strerror(errno));
		*error_r = authdb_errbuf;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(authdb_errbuf, sizeof(authdb_errbuf),
			 "account database in %s is in use by another process "
			 "(is postern-auth running? use mailadm then)",
			 dir);
		*error_r = authdb_errbuf;
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

static int open_db(struct authdb *a, DB **db_r, const char *file,
		   const char **error_r)
{
	int ret = db_create(db_r, a->env, 0);

	if (ret != 0) {
		*db_r = NULL;
		*error_r = errf("db_create", ret);
		return -1;
	}
	ret = (*db_r)->open(*db_r, NULL, file, NULL, DB_BTREE,
			    DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (ret != 0) {
		*error_r = errf(file, ret);
		return -1;
	}
	return 0;
}

int authdb_open(const char *dir, struct authdb **db_r, const char **error_r)
{
	struct authdb *a;
	int ret;

	if (check_dir(dir, error_r) < 0)
		return -1;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		log_fatal("out of memory");
	a->lock_fd = -1;
	if (lock_dir(dir, &a->lock_fd, error_r) < 0)
		goto fail;
	if ((ret = db_env_create(&a->env, 0)) != 0) {
		*error_r = errf("db_env_create", ret);
		goto fail;
	}
	a->env->set_errcall(a->env, authdb_errcall);
	(void)a->env->log_set_config(a->env, DB_LOG_AUTO_REMOVE, 1);
	/* the default 10 MiB log file is much for a table of accounts */
	(void)a->env->set_lg_max(a->env, AUTHDB_LOG_FILE_SIZE);
	/* DB_RECOVER: a crash (kill -9) leaves committed transactions in the
	 * log; recovery at every open replays them. Safe because we hold the
	 * directory lock, so no other process has the environment open. */
	ret = a->env->open(a->env, dir,
			   DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
				   DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER,
			   0600);
	if (ret != 0) {
		*error_r = errf("opening the database environment", ret);
		goto fail;
	}
	if ((ret = db_create(&a->db, a->env, 0)) != 0) {
		*error_r = errf("db_create", ret);
		goto fail;
	}
	ret = a->db->open(a->db, NULL, AUTHDB_FILE, NULL, DB_BTREE,
			  DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (ret != 0) {
		*error_r = errf("opening " AUTHDB_FILE, ret);
		goto fail;
	}
	if (open_db(a, &a->aliases, AUTHDB_ALIASES, error_r) < 0 ||
	    open_db(a, &a->keys, AUTHDB_KEYS, error_r) < 0 ||
	    open_db(a, &a->links, AUTHDB_LINKS, error_r) < 0)
		goto fail;
	*db_r = a;
	return 0;
fail:
	authdb_close(&a);
	return -1;
}

void authdb_close(struct authdb **dbp)
{
	struct authdb *a = *dbp;

	if (a == NULL)
		return;
	*dbp = NULL;
	if (a->db != NULL)
		(void)a->db->close(a->db, 0);
	if (a->aliases != NULL)
		(void)a->aliases->close(a->aliases, 0);
	if (a->keys != NULL)
		(void)a->keys->close(a->keys, 0);
	if (a->links != NULL)
		(void)a->links->close(a->links, 0);
	if (a->env != NULL) {
		(void)a->env->txn_checkpoint(a->env, 0, 0, 0);
		(void)a->env->close(a->env, 0);
	}
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a);
}

static void key_dbt(DBT *key, const char *address)
{
	memset(key, 0, sizeof(*key));
	key->data = (void *)address;
	key->size = (u_int32_t)strlen(address);
}

static enum authdb_result commit(struct authdb *a, DB_TXN *txn,
				 const char **error_r)
{
	/* Default commit flags flush the log synchronously: durable when this
	 * returns, so the admin's OK is true after a power cut. */
	int ret = txn->commit(txn, 0);

	if (ret != 0) {
		*error_r = errf("commit", ret);
		return AUTHDB_ERROR;
	}
	(void)a->env->txn_checkpoint(a->env, AUTHDB_CHECKPOINT_KB, 0, 0);
	return AUTHDB_OK;
}

static enum authdb_result get_account(struct authdb *a, const char *address,
				      struct account *acct_r,
				      const char **error_r)
{
	unsigned char rec[ACCOUNT_RECORD_MAX];
	enum authdb_result res = AUTHDB_ERROR;
	DBT key, data;
	int ret;

	key_dbt(&key, address);
	memset(&data, 0, sizeof(data));
	data.data = rec;
	data.ulen = sizeof(rec);
	data.flags = DB_DBT_USERMEM;
	ret = a->db->get(a->db, NULL, &key, &data, 0);
	if (ret == DB_NOTFOUND) {
		res = AUTHDB_NOTFOUND;
	} else if (ret != 0) {
		*error_r = errf("reading account", ret);
	} else if (account_decode(rec, data.size, acct_r, error_r) == 0) {
		if (str_cpy(acct_r->address, address,
			    sizeof(acct_r->address)) == 0)
			res = AUTHDB_OK;
		else
			*error_r = "stored address too long";
	}
	explicit_bzero(rec, sizeof(rec));
	return res;
}

/* The account an alias belongs to (txn may be NULL). */
static enum authdb_result get_alias(struct authdb *a, DB_TXN *txn,
				    const char *alias, char *account_r,
				    const char **error_r)
{
	unsigned char rec[ACCOUNT_ADDR_MAX + 16];
	DBT key, data;
	int ret;

	key_dbt(&key, alias);
	memset(&data, 0, sizeof(data));
	data.data = rec;
	data.ulen = sizeof(rec);
	data.flags = DB_DBT_USERMEM;
	ret = a->aliases->get(a->aliases, txn, &key, &data,
			      txn != NULL ? DB_RMW : 0);
	if (ret == DB_NOTFOUND)
		return AUTHDB_NOTFOUND;
	if (ret != 0) {
		*error_r = errf("reading alias", ret);
		return AUTHDB_ERROR;
	}
	if (alias_decode(rec, data.size, account_r, error_r) < 0)
		return AUTHDB_ERROR;
	return AUTHDB_OK;
}

enum authdb_result authdb_get(struct authdb *a, const char *address,
			      struct account *acct_r, const char **error_r)
{
	char account[ACCOUNT_ADDR_MAX + 1];
	enum authdb_result res = get_account(a, address, acct_r, error_r);

	if (res != AUTHDB_NOTFOUND)
		return res;
	res = get_alias(a, NULL, address, account, error_r);
	if (res != AUTHDB_OK)
		return res;
	return get_account(a, account, acct_r, error_r);
}

/* Writes acct inside one transaction; flags DB_NOOVERWRITE for add.
 * must_exist: update semantics (NOTFOUND if absent). */
static enum authdb_result put(struct authdb *a, const struct account *acct,
			      bool must_exist, const char **error_r)
{
	struct buf rec;
	DB_TXN *txn = NULL;
	DBT key, data;
	enum authdb_result res = AUTHDB_ERROR;
	int ret;

	buf_init(&rec, ACCOUNT_RECORD_MAX);
	if (account_encode(acct, &rec) < 0) {
		*error_r = "account record too large";
		goto out;
	}
	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		*error_r = errf("txn_begin", ret);
		goto out;
	}
	key_dbt(&key, acct->address);
	if (!must_exist) {
		/* addresses are one namespace: not over an alias */
		char owner[ACCOUNT_ADDR_MAX + 1];

		res = get_alias(a, txn, acct->address, owner, error_r);
		if (res == AUTHDB_OK)
			res = AUTHDB_EXISTS;
		if (res != AUTHDB_NOTFOUND)
			goto abort;
		res = AUTHDB_ERROR;
	}
	if (must_exist) {
		memset(&data, 0, sizeof(data));
		data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
		ret = a->db->get(a->db, txn, &key, &data, DB_RMW);
		if (ret != 0) {
			res = ret == DB_NOTFOUND ? AUTHDB_NOTFOUND
						 : AUTHDB_ERROR;
			if (ret != DB_NOTFOUND)
				*error_r = errf("reading account", ret);
			goto abort;
		}
	}
	memset(&data, 0, sizeof(data));
	data.data = rec.data;
	data.size = (u_int32_t)rec.len;
	ret = a->db->put(a->db, txn, &key, &data,
			 must_exist ? 0 : DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		res = AUTHDB_EXISTS;
		goto abort;
	}
	if (ret != 0) {
		*error_r = errf("writing account", ret);
		goto abort;
	}
	res = commit(a, txn, error_r);
	goto out;
abort:
	(void)txn->abort(txn);
out:
	buf_deinit_secret(&rec);
	return res;
}

enum authdb_result authdb_add(struct authdb *a, const struct account *acct,
			      const char **error_r)
{
	return put(a, acct, false, error_r);
}

enum authdb_result authdb_update(struct authdb *a, const struct account *acct,
				 const char **error_r)
{
	return put(a, acct, true, error_r);
}

static int del_links(struct authdb *a, DB_TXN *txn, const char *account,
		     const char **error_r);

enum authdb_result authdb_del(struct authdb *a, const char *address,
			      const char **error_r)
{
	DB_TXN *txn;
	DBT key;
	int ret;

	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		*error_r = errf("txn_begin", ret);
		return AUTHDB_ERROR;
	}
	key_dbt(&key, address);
	ret = a->db->del(a->db, txn, &key, 0);
	if (ret != 0) {
		(void)txn->abort(txn);
		if (ret == DB_NOTFOUND)
			return AUTHDB_NOTFOUND;
		*error_r = errf("deleting account", ret);
		return AUTHDB_ERROR;
	}
	if (del_links(a, txn, address, error_r) < 0) {
		(void)txn->abort(txn);
		return AUTHDB_ERROR;
	}
	return commit(a, txn, error_r);
}

enum authdb_result authdb_list(struct authdb *a, const char *after,
			       struct buf *out, size_t *count_r,
			       const char **error_r)
{
	char kbuf[ACCOUNT_ADDR_MAX + 1];
	enum authdb_result res = AUTHDB_OK;
	DBC *cur;
	DBT key, data;
	u_int32_t flag;
	size_t after_len = strlen(after);
	int ret;

	*count_r = 0;
	if (after_len > ACCOUNT_ADDR_MAX)
		return AUTHDB_OK; /* not one of ours: nothing to page from */
	if ((ret = a->db->cursor(a->db, NULL, &cur, 0)) != 0) {
		*error_r = errf("cursor", ret);
		return AUTHDB_ERROR;
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	/* only the keys are wanted */
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	flag = DB_NEXT;
	if (after_len > 0) {
		memcpy(kbuf, after, after_len);
		key.size = (u_int32_t)after_len;
		flag = DB_SET_RANGE;
	}
	for (;;) {
		ret = cur->get(cur, &key, &data, flag);
		flag = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			*error_r = errf("listing accounts", ret);
			res = AUTHDB_ERROR;
			break;
		}
		if (key.size == after_len &&
		    memcmp(kbuf, after, after_len) == 0)
			continue;
		if (out->len + key.size + 1 > out->max)
			break;
		(void)buf_append(out, kbuf, key.size);
		(void)buf_append(out, "\n", 1);
		(*count_r)++;
	}
	(void)cur->close(cur);
	return res;
}

/* ---- aliases, TLS keys and their per-account index ---- */

/* account NUL kind item: sorts an account's links together, by kind. */
static int link_dbt(DBT *key, char *buf, size_t size, const char *account,
		    char kind, const char *item)
{
	size_t alen = strlen(account), ilen = strlen(item);

	if (alen + ilen + 2 > size)
		return -1;
	memcpy(buf, account, alen);
	buf[alen] = '\0';
	buf[alen + 1] = kind;
	memcpy(buf + alen + 2, item, ilen);
	memset(key, 0, sizeof(*key));
	key->data = buf;
	key->size = (u_int32_t)(alen + 2 + ilen);
	return 0;
}

static int link_put(struct authdb *a, DB_TXN *txn, const char *account,
		    char kind, const char *item, const char **error_r)
{
	char kbuf[LINK_KEY_MAX];
	DBT key, data;
	int ret;

	if (link_dbt(&key, kbuf, sizeof(kbuf), account, kind, item) < 0) {
		*error_r = "link key too long";
		return -1;
	}
	memset(&data, 0, sizeof(data));
	ret = a->links->put(a->links, txn, &key, &data, 0);
	if (ret != 0) {
		*error_r = errf("writing account link", ret);
		return -1;
	}
	return 0;
}

static int link_del(struct authdb *a, DB_TXN *txn, const char *account,
		    char kind, const char *item, const char **error_r)
{
	char kbuf[LINK_KEY_MAX];
	DBT key;
	int ret;

	if (link_dbt(&key, kbuf, sizeof(kbuf), account, kind, item) < 0) {
		*error_r = "link key too long";
		return -1;
	}
	ret = a->links->del(a->links, txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND) {
		*error_r = errf("deleting account link", ret);
		return -1;
	}
	return 0;
}

/* Walks the links of account (kind 0 = every kind). fn gets the kind and
 * the item (NUL-terminated) and the cursor; returns 0 to go on, -1 to stop
 * with an error, 1 to stop. */
static int links_walk(struct authdb *a, DB_TXN *txn, const char *account,
		      char kind,
		      int (*fn)(struct authdb *a, DB_TXN *txn, DBC *cur,
				char kind, const char *item, void *ctx,
				const char **error_r),
		      void *ctx, const char **error_r)
{
	char kbuf[LINK_KEY_MAX + 1], prefix[LINK_KEY_MAX];
	size_t plen = strlen(account) + (kind != 0 ? 2 : 1);
	DBC *cur;
	DBT key, data;
	u_int32_t flag = DB_SET_RANGE;
	int ret, r = 0;

	if (plen > sizeof(prefix)) {
		*error_r = "account too long";
		return -1;
	}
	memcpy(prefix, account, strlen(account) + 1);
	prefix[plen - 1] = kind != 0 ? kind : '\0';
	if ((ret = a->links->cursor(a->links, txn, &cur, 0)) != 0) {
		*error_r = errf("cursor", ret);
		return -1;
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	memcpy(kbuf, prefix, plen);
	key.data = kbuf;
	key.size = (u_int32_t)plen;
	key.ulen = sizeof(kbuf) - 1;
	key.flags = DB_DBT_USERMEM;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	for (;;) {
		ret = cur->get(cur, &key, &data,
			       flag | (txn != NULL ? DB_RMW : 0));
		flag = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			*error_r = errf("reading account links", ret);
			r = -1;
			break;
		}
		if (key.size < plen || memcmp(kbuf, prefix, plen) != 0 ||
		    key.size < strlen(account) + 2)
			break;
		kbuf[key.size] = '\0';
		r = fn(a, txn, cur, kbuf[strlen(account) + 1],
		       kbuf + strlen(account) + 2, ctx, error_r);
		if (r != 0)
			break;
	}
	(void)cur->close(cur);
	return r < 0 ? -1 : 0;
}

static int del_one_link(struct authdb *a, DB_TXN *txn, DBC *cur, char kind,
			const char *item, void *ctx POSTERN_UNUSED,
			const char **error_r)
{
	DB *db = kind == 'a' ? a->aliases : kind == 'k' ? a->keys : NULL;
	DBT key;
	int ret;

	if (db != NULL) {
		key_dbt(&key, item);
		ret = db->del(db, txn, &key, 0);
		if (ret != 0 && ret != DB_NOTFOUND) {
			*error_r = errf("deleting alias or key", ret);
			return -1;
		}
	}
	if ((ret = cur->del(cur, 0)) != 0) {
		*error_r = errf("deleting account link", ret);
		return -1;
	}
	return 0;
}

static int del_links(struct authdb *a, DB_TXN *txn, const char *account,
		     const char **error_r)
{
	return links_walk(a, txn, account, 0, del_one_link, NULL, error_r);
}

static int append_link(struct authdb *a POSTERN_UNUSED,
		       DB_TXN *txn POSTERN_UNUSED, DBC *cur POSTERN_UNUSED,
		       char kind POSTERN_UNUSED, const char *item, void *ctx,
		       const char **error_r POSTERN_UNUSED)
{
	struct buf *out = ctx;
	size_t n = strlen(item);

	if (out->len + n + 1 > out->max)
		return 1;
	(void)buf_append(out, item, n);
	(void)buf_append(out, "\n", 1);
	return 0;
}

enum authdb_result authdb_links(struct authdb *a, const char *account,
				char kind, struct buf *out,
				const char **error_r)
{
	if (links_walk(a, NULL, account, kind, append_link, out, error_r) < 0)
		return AUTHDB_ERROR;
	return AUTHDB_OK;
}

enum authdb_result authdb_resolve(struct authdb *a, const char *address,
				  char *account_r, const char **error_r)
{
	DBT key, data;
	int ret;

	key_dbt(&key, address);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	ret = a->db->get(a->db, NULL, &key, &data, 0);
	if (ret == 0) {
		if (str_cpy(account_r, address, ACCOUNT_ADDR_MAX + 1) < 0) {
			*error_r = "address too long";
			return AUTHDB_ERROR;
		}
		return AUTHDB_OK;
	}
	if (ret != DB_NOTFOUND) {
		*error_r = errf("reading account", ret);
		return AUTHDB_ERROR;
	}
	return get_alias(a, NULL, address, account_r, error_r);
}

/* Inside txn: NOTFOUND unless account is an account (locked for update). */
static enum authdb_result account_exists(struct authdb *a, DB_TXN *txn,
					 const char *account,
					 const char **error_r)
{
	DBT key, data;
	int ret;

	key_dbt(&key, account);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	ret = a->db->get(a->db, txn, &key, &data, DB_RMW);
	if (ret == 0)
		return AUTHDB_OK;
	if (ret == DB_NOTFOUND)
		return AUTHDB_NOTFOUND;
	*error_r = errf("reading account", ret);
	return AUTHDB_ERROR;
}

enum authdb_result authdb_alias_add(struct authdb *a, const char *account,
				    const char *alias, const char **error_r)
{
	unsigned char rbuf[ACCOUNT_ADDR_MAX + 16];
	struct buf rec;
	DB_TXN *txn;
	DBT key, data;
	enum authdb_result res;
	int ret;

	buf_init(&rec, sizeof(rbuf));
	if (alias_encode(account, &rec) < 0) {
		buf_deinit(&rec);
		*error_r = "alias record too large";
		return AUTHDB_ERROR;
	}
	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		buf_deinit(&rec);
		*error_r = errf("txn_begin", ret);
		return AUTHDB_ERROR;
	}
	res = account_exists(a, txn, account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = account_exists(a, txn, alias, error_r);
	if (res == AUTHDB_OK)
		res = AUTHDB_EXISTS;
	if (res != AUTHDB_NOTFOUND)
		goto abort;
	res = AUTHDB_ERROR;
	key_dbt(&key, alias);
	memset(&data, 0, sizeof(data));
	data.data = rec.data;
	data.size = (u_int32_t)rec.len;
	ret = a->aliases->put(a->aliases, txn, &key, &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		res = AUTHDB_EXISTS;
		goto abort;
	}
	if (ret != 0) {
		*error_r = errf("writing alias", ret);
		goto abort;
	}
	if (link_put(a, txn, account, 'a', alias, error_r) < 0)
		goto abort;
	buf_deinit(&rec);
	return commit(a, txn, error_r);
abort:
	(void)txn->abort(txn);
	buf_deinit(&rec);
	return res;
}

enum authdb_result authdb_alias_del(struct authdb *a, const char *alias,
				    const char **error_r)
{
	char account[ACCOUNT_ADDR_MAX + 1];
	enum authdb_result res;
	DB_TXN *txn;
	DBT key;
	int ret;

	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		*error_r = errf("txn_begin", ret);
		return AUTHDB_ERROR;
	}
	res = get_alias(a, txn, alias, account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
	key_dbt(&key, alias);
	if ((ret = a->aliases->del(a->aliases, txn, &key, 0)) != 0) {
		*error_r = errf("deleting alias", ret);
		goto abort;
	}
	if (link_del(a, txn, account, 'a', alias, error_r) < 0)
		goto abort;
	return commit(a, txn, error_r);
abort:
	(void)txn->abort(txn);
	return res;
}

enum authdb_result authdb_key_add(struct authdb *a, const struct tlskey *k,
				  const char **error_r)
{
	struct buf rec;
	DB_TXN *txn = NULL;
	DBT key, data;
	enum authdb_result res = AUTHDB_ERROR;
	int ret;

	buf_init(&rec, TLSKEY_RECORD_MAX);
	if (tlskey_encode(k, &rec) < 0) {
		*error_r = "key record too large";
		goto out;
	}
	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		*error_r = errf("txn_begin", ret);
		goto out;
	}
	res = account_exists(a, txn, k->account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
	key_dbt(&key, k->fingerprint);
	memset(&data, 0, sizeof(data));
	data.data = rec.data;
	data.size = (u_int32_t)rec.len;
	ret = a->keys->put(a->keys, txn, &key, &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		res = AUTHDB_EXISTS;
		goto abort;
	}
	if (ret != 0) {
		*error_r = errf("writing key", ret);
		goto abort;
	}
	if (link_put(a, txn, k->account, 'k', k->fingerprint, error_r) < 0)
		goto abort;
	res = commit(a, txn, error_r);
	goto out;
abort:
	(void)txn->abort(txn);
out:
	buf_deinit(&rec);
	return res;
}

static enum authdb_result key_read(struct authdb *a, DB_TXN *txn,
				   const char *fingerprint, struct tlskey *k_r,
				   const char **error_r)
{
	unsigned char *rec = malloc(TLSKEY_RECORD_MAX);
	enum authdb_result res = AUTHDB_ERROR;
	DBT key, data;
	int ret;

	if (rec == NULL) {
		*error_r = "out of memory";
		return AUTHDB_ERROR;
	}
	key_dbt(&key, fingerprint);
	memset(&data, 0, sizeof(data));
	data.data = rec;
	data.ulen = TLSKEY_RECORD_MAX;
	data.flags = DB_DBT_USERMEM;
	ret = a->keys->get(a->keys, txn, &key, &data, txn != NULL ? DB_RMW : 0);
	if (ret == DB_NOTFOUND)
		res = AUTHDB_NOTFOUND;
	else if (ret != 0)
		*error_r = errf("reading key", ret);
	else if (tlskey_decode(rec, data.size, k_r, error_r) < 0)
		;
	else if (str_cpy(k_r->fingerprint, fingerprint,
			 sizeof(k_r->fingerprint)) < 0)
		*error_r = "bad key in the key table";
	else
		res = AUTHDB_OK;
	free(rec);
	return res;
}

enum authdb_result authdb_key_get(struct authdb *a, const char *fingerprint,
				  struct tlskey *k_r, const char **error_r)
{
	return key_read(a, NULL, fingerprint, k_r, error_r);
}

enum authdb_result authdb_key_del(struct authdb *a, const char *fingerprint,
				  const char **error_r)
{
	struct tlskey *k = malloc(sizeof(*k));
	enum authdb_result res;
	DB_TXN *txn;
	DBT key;
	int ret;

	if (k == NULL) {
		*error_r = "out of memory";
		return AUTHDB_ERROR;
	}
	if ((ret = a->env->txn_begin(a->env, NULL, &txn, 0)) != 0) {
		free(k);
		*error_r = errf("txn_begin", ret);
		return AUTHDB_ERROR;
	}
	res = key_read(a, txn, fingerprint, k, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
	key_dbt(&key, fingerprint);
	if ((ret = a->keys->del(a->keys, txn, &key, 0)) != 0) {
		*error_r = errf("deleting key", ret);
		goto abort;
	}
	if (link_del(a, txn, k->account, 'k', fingerprint, error_r) < 0)
		goto abort;
	free(k);
	return commit(a, txn, error_r);
abort:
	(void)txn->abort(txn);
	free(k);
	return res;
}

enum authdb_result authdb_key_iter(struct authdb *a, const char *after,
				   int (*fn)(const struct tlskey *k, void *ctx),
				   void *ctx, const char **error_r)
{
	char kbuf[X509_FP_LEN + 1];
	unsigned char *rec = malloc(TLSKEY_RECORD_MAX);
	struct tlskey *k = malloc(sizeof(*k));
	enum authdb_result res = AUTHDB_OK;
	size_t after_len = strlen(after);
	u_int32_t flag = DB_NEXT;
	DBC *cur = NULL;
	DBT key, data;
	int ret;

	if (rec == NULL || k == NULL) {
		*error_r = "out of memory";
		res = AUTHDB_ERROR;
		goto out;
	}
	if (after_len > X509_FP_LEN)
		goto out; /* not a fingerprint: nothing to page from */
	if ((ret = a->keys->cursor(a->keys, NULL, &cur, 0)) != 0) {
		*error_r = errf("cursor", ret);
		res = AUTHDB_ERROR;
		goto out;
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.ulen = sizeof(kbuf) - 1;
	key.flags = DB_DBT_USERMEM;
	data.data = rec;
	data.ulen = TLSKEY_RECORD_MAX;
	data.flags = DB_DBT_USERMEM;
	if (after_len > 0) {
		memcpy(kbuf, after, after_len);
		key.size = (u_int32_t)after_len;
		flag = DB_SET_RANGE;
	}
	for (;;) {
		ret = cur->get(cur, &key, &data, flag);
		flag = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			*error_r = errf("listing keys", ret);
			res = AUTHDB_ERROR;
			break;
		}
		if (key.size == after_len &&
		    memcmp(kbuf, after, after_len) == 0)
			continue;
		kbuf[key.size] = '\0';
		if (tlskey_decode(rec, data.size, k, error_r) < 0) {
			res = AUTHDB_ERROR;
			break;
		}
		memcpy(k->fingerprint, kbuf, key.size + 1);
		if (fn(k, ctx) != 0)
			break;
	}
out:
	if (cur != NULL)
		(void)cur->close(cur);
	free(rec);
	free(k);
	return res;
}
