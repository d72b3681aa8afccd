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
		snprintf(authdb_errbuf, sizeof(authdb_errbuf), "opening %s: %s",
			 file, db_strerror(ret));
		*error_r = authdb_errbuf;
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
	if (open_db(a, &a->db, AUTHDB_FILE, error_r) < 0 ||
	    open_db(a, &a->aliases, AUTHDB_ALIASES, error_r) < 0 ||
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

/* ---- the record and transaction steps every operation is made of ---- */

static int txn_begin(struct authdb *a, DB_TXN **txn_r, const char **error_r)
{
	int ret = a->env->txn_begin(a->env, NULL, txn_r, 0);

	if (ret != 0) {
		*error_r = errf("txn_begin", ret);
		return -1;
	}
	return 0;
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

/* The value of key in db into rec (size bytes; its length in *len_r), or
 * with rec NULL only whether the key is there. Inside txn (may be NULL)
 * the record is locked for update. `what` prefixes a database error. */
static enum authdb_result record_get(DB *db, DB_TXN *txn, const char *key,
				     void *rec, size_t size, size_t *len_r,
				     const char *what, const char **error_r)
{
	DBT k, data;
	int ret;

	key_dbt(&k, key);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_USERMEM;
	if (rec != NULL) {
		data.data = rec;
		data.ulen = (u_int32_t)size;
	} else {
		data.flags |= DB_DBT_PARTIAL; /* no bytes wanted */
	}
	ret = db->get(db, txn, &k, &data, txn != NULL ? DB_RMW : 0);
	if (ret == DB_NOTFOUND)
		return AUTHDB_NOTFOUND;
	if (ret != 0) {
		*error_r = errf(what, ret);
		return AUTHDB_ERROR;
	}
	if (len_r != NULL)
		*len_r = data.size;
	return AUTHDB_OK;
}

/* Writes rec under key inside txn. flags DB_NOOVERWRITE: AUTHDB_EXISTS
 * if the key is there. */
static enum authdb_result record_put(DB *db, DB_TXN *txn, const char *key,
				     const struct buf *rec, u_int32_t flags,
				     const char *what, const char **error_r)
{
	DBT k, data;
	int ret;

	key_dbt(&k, key);
	memset(&data, 0, sizeof(data));
	data.data = rec->data;
	data.size = (u_int32_t)rec->len;
	ret = db->put(db, txn, &k, &data, flags);
	if (ret == DB_KEYEXIST)
		return AUTHDB_EXISTS;
	if (ret != 0) {
		*error_r = errf(what, ret);
		return AUTHDB_ERROR;
	}
	return AUTHDB_OK;
}

static enum authdb_result record_del(DB *db, DB_TXN *txn, const char *key,
				     const char *what, const char **error_r)
{
	DBT k;
	int ret;

	key_dbt(&k, key);
	ret = db->del(db, txn, &k, 0);
	if (ret == DB_NOTFOUND)
		return AUTHDB_NOTFOUND;
	if (ret != 0) {
		*error_r = errf(what, ret);
		return AUTHDB_ERROR;
	}
	return AUTHDB_OK;
}

/* A cursor over one table in key order: walk_open, walk_next until it is
 * not AUTHDB_OK, walk_close. */
struct walk {
	DBC *cur;
	DBT key, val;
	u_int32_t flag; /* DB_SET_RANGE (to `from`) or DB_NEXT, then DB_NEXT */
	u_int32_t rmw;
	char kbuf[LINK_KEY_MAX + 1]; /* the key, NUL-terminated */
};

/* Starts at the first key >= from (from_len 0: the first key). Keys longer
 * than key_max (<= LINK_KEY_MAX, >= from_len) are an error; val NULL reads
 * keys only. Inside txn (may be NULL) the records are locked for update. */
static int walk_open(struct walk *w, DB *db, DB_TXN *txn, const void *from,
		     size_t from_len, size_t key_max, void *val,
		     size_t val_size, const char **error_r)
{
	int ret = db->cursor(db, txn, &w->cur, 0);

	if (ret != 0) {
		*error_r = errf("cursor", ret);
		return -1;
	}
	memset(&w->key, 0, sizeof(w->key));
	memset(&w->val, 0, sizeof(w->val));
	memcpy(w->kbuf, from, from_len);
	w->key.data = w->kbuf;
	w->key.size = (u_int32_t)from_len;
	w->key.ulen = (u_int32_t)key_max;
	w->key.flags = DB_DBT_USERMEM;
	w->val.flags = DB_DBT_USERMEM;
	if (val != NULL) {
		w->val.data = val;
		w->val.ulen = (u_int32_t)val_size;
	} else {
		w->val.flags |= DB_DBT_PARTIAL;
	}
	w->flag = from_len > 0 ? DB_SET_RANGE : DB_NEXT;
	w->rmw = txn != NULL ? DB_RMW : 0;
	return 0;
}

/* The next record into w->kbuf/w->key.size and the value buffer:
 * AUTHDB_OK, AUTHDB_NOTFOUND past the last, or AUTHDB_ERROR ("what: ..."). */
static enum authdb_result walk_next(struct walk *w, const char *what,
				    const char **error_r)
{
	int ret = w->cur->get(w->cur, &w->key, &w->val, w->flag | w->rmw);

	w->flag = DB_NEXT;
	if (ret == DB_NOTFOUND)
		return AUTHDB_NOTFOUND;
	if (ret != 0) {
		*error_r = errf(what, ret);
		return AUTHDB_ERROR;
	}
	w->kbuf[w->key.size] = '\0';
	return AUTHDB_OK;
}

/* Paging: the current key is `after` itself, already shown. */
static bool walk_at(const struct walk *w, const char *after, size_t after_len)
{
	return w->key.size == after_len &&
	       memcmp(w->kbuf, after, after_len) == 0;
}

static void walk_close(struct walk *w)
{
	(void)w->cur->close(w->cur);
}

/* ---- accounts ---- */

/* NOTFOUND unless address is an account (inside txn: locked for update). */
static enum authdb_result account_exists(struct authdb *a, DB_TXN *txn,
					 const char *address,
					 const char **error_r)
{
	return record_get(a->db, txn, address, NULL, 0, NULL, "reading account",
			  error_r);
}

static enum authdb_result get_account(struct authdb *a, const char *address,
				      struct account *acct_r,
				      const char **error_r)
{
	unsigned char rec[ACCOUNT_RECORD_MAX];
	size_t len;
	enum authdb_result res;

	res = record_get(a->db, NULL, address, rec, sizeof(rec), &len,
			 "reading account", error_r);
	if (res == AUTHDB_OK) {
		if (account_decode(rec, len, acct_r, error_r) < 0) {
			res = AUTHDB_ERROR;
		} else if (str_cpy(acct_r->address, address,
				   sizeof(acct_r->address)) < 0) {
			*error_r = "stored address too long";
			res = AUTHDB_ERROR;
		}
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
	size_t len;
	enum authdb_result res;

	res = record_get(a->aliases, txn, alias, rec, sizeof(rec), &len,
			 "reading alias", error_r);
	if (res == AUTHDB_OK && alias_decode(rec, len, account_r, error_r) < 0)
		res = AUTHDB_ERROR;
	return res;
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
	enum authdb_result res = AUTHDB_ERROR;

	buf_init(&rec, ACCOUNT_RECORD_MAX);
	if (account_encode(acct, &rec) < 0) {
		*error_r = "account record too large";
		goto out;
	}
	if (txn_begin(a, &txn, error_r) < 0)
		goto out;
	if (!must_exist) {
		/* addresses are one namespace: not over an alias */
		char owner[ACCOUNT_ADDR_MAX + 1];

		res = get_alias(a, txn, acct->address, owner, error_r);
		if (res == AUTHDB_OK)
			res = AUTHDB_EXISTS;
		if (res != AUTHDB_NOTFOUND)
			goto abort;
	} else {
		res = account_exists(a, txn, acct->address, error_r);
		if (res != AUTHDB_OK)
			goto abort;
	}
	res = record_put(a->db, txn, acct->address, &rec,
			 must_exist ? 0 : DB_NOOVERWRITE, "writing account",
			 error_r);
	if (res != AUTHDB_OK)
		goto abort;
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
	enum authdb_result res;
	DB_TXN *txn;

	if (txn_begin(a, &txn, error_r) < 0)
		return AUTHDB_ERROR;
	res = record_del(a->db, txn, address, "deleting account", error_r);
	if (res == AUTHDB_OK && del_links(a, txn, address, error_r) < 0)
		res = AUTHDB_ERROR;
	if (res != AUTHDB_OK) {
		(void)txn->abort(txn);
		return res;
	}
	return commit(a, txn, error_r);
}

enum authdb_result authdb_list(struct authdb *a, const char *after,
			       struct buf *out, size_t *count_r,
			       const char **error_r)
{
	size_t after_len = strlen(after);
	enum authdb_result res;
	struct walk w;

	*count_r = 0;
	if (after_len > ACCOUNT_ADDR_MAX)
		return AUTHDB_OK; /* not one of ours: nothing to page from */
	/* only the keys are wanted */
	if (walk_open(&w, a->db, NULL, after, after_len, ACCOUNT_ADDR_MAX + 1,
		      NULL, 0, error_r) < 0)
		return AUTHDB_ERROR;
	while ((res = walk_next(&w, "listing accounts", error_r)) ==
	       AUTHDB_OK) {
		if (walk_at(&w, after, after_len))
			continue;
		if (out->len + w.key.size + 1 > out->max)
			break;
		(void)buf_append(out, w.kbuf, w.key.size);
		(void)buf_append(out, "\n", 1);
		(*count_r)++;
	}
	walk_close(&w);
	return res == AUTHDB_ERROR ? AUTHDB_ERROR : AUTHDB_OK;
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
	char prefix[LINK_KEY_MAX];
	size_t alen = strlen(account), plen = alen + (kind != 0 ? 2 : 1);
	struct walk w;
	enum authdb_result res;
	int r = 0;

	if (plen > sizeof(prefix)) {
		*error_r = "account too long";
		return -1;
	}
	memcpy(prefix, account, alen + 1);
	prefix[plen - 1] = kind != 0 ? kind : '\0';
	if (walk_open(&w, a->links, txn, prefix, plen, LINK_KEY_MAX, NULL, 0,
		      error_r) < 0)
		return -1;
	while ((res = walk_next(&w, "reading account links", error_r)) ==
	       AUTHDB_OK) {
		if (w.key.size < plen || memcmp(w.kbuf, prefix, plen) != 0 ||
		    w.key.size < alen + 2)
			break;
		r = fn(a, txn, w.cur, w.kbuf[alen + 1], w.kbuf + alen + 2, ctx,
		       error_r);
		if (r != 0)
			break;
	}
	walk_close(&w);
	return r < 0 || res == AUTHDB_ERROR ? -1 : 0;
}

static int del_one_link(struct authdb *a, DB_TXN *txn, DBC *cur, char kind,
			const char *item, void *ctx POSTERN_UNUSED,
			const char **error_r)
{
	DB *db = kind == 'a' ? a->aliases : kind == 'k' ? a->keys : NULL;
	int ret;

	if (db != NULL && record_del(db, txn, item, "deleting alias or key",
				     error_r) == AUTHDB_ERROR)
		return -1;
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

char *authdb_links_next(char **pos)
{
	char *item = *pos, *nl = strchr(item, '\n');

	if (nl == NULL)
		return NULL;
	*nl = '\0';
	*pos = nl + 1;
	return item;
}

enum authdb_result authdb_resolve(struct authdb *a, const char *address,
				  char *account_r, const char **error_r)
{
	enum authdb_result res = account_exists(a, NULL, address, error_r);

	if (res == AUTHDB_OK) {
		if (str_cpy(account_r, address, ACCOUNT_ADDR_MAX + 1) < 0) {
			*error_r = "address too long";
			return AUTHDB_ERROR;
		}
		return AUTHDB_OK;
	}
	if (res != AUTHDB_NOTFOUND)
		return AUTHDB_ERROR;
	return get_alias(a, NULL, address, account_r, error_r);
}

enum authdb_result authdb_alias_add(struct authdb *a, const char *account,
				    const char *alias, const char **error_r)
{
	unsigned char rbuf[ACCOUNT_ADDR_MAX + 16];
	struct buf rec;
	DB_TXN *txn = NULL;
	enum authdb_result res = AUTHDB_ERROR;

	buf_init(&rec, sizeof(rbuf));
	if (alias_encode(account, &rec) < 0) {
		*error_r = "alias record too large";
		goto out;
	}
	if (txn_begin(a, &txn, error_r) < 0)
		goto out;
	res = account_exists(a, txn, account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = account_exists(a, txn, alias, error_r);
	if (res == AUTHDB_OK)
		res = AUTHDB_EXISTS;
	if (res != AUTHDB_NOTFOUND)
		goto abort;
	res = record_put(a->aliases, txn, alias, &rec, DB_NOOVERWRITE,
			 "writing alias", error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
	if (link_put(a, txn, account, 'a', alias, error_r) < 0)
		goto abort;
	res = commit(a, txn, error_r);
	goto out;
abort:
	(void)txn->abort(txn);
out:
	buf_deinit(&rec);
	return res;
}

enum authdb_result authdb_alias_del(struct authdb *a, const char *alias,
				    const char **error_r)
{
	char account[ACCOUNT_ADDR_MAX + 1];
	enum authdb_result res;
	DB_TXN *txn;

	if (txn_begin(a, &txn, error_r) < 0)
		return AUTHDB_ERROR;
	res = get_alias(a, txn, alias, account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = record_del(a->aliases, txn, alias, "deleting alias", error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
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
	enum authdb_result res = AUTHDB_ERROR;

	buf_init(&rec, TLSKEY_RECORD_MAX);
	if (tlskey_encode(k, &rec) < 0) {
		*error_r = "key record too large";
		goto out;
	}
	if (txn_begin(a, &txn, error_r) < 0)
		goto out;
	res = account_exists(a, txn, k->account, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = record_put(a->keys, txn, k->fingerprint, &rec, DB_NOOVERWRITE,
			 "writing key", error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
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
	enum authdb_result res;
	size_t len;

	if (rec == NULL) {
		*error_r = "out of memory";
		return AUTHDB_ERROR;
	}
	res = record_get(a->keys, txn, fingerprint, rec, TLSKEY_RECORD_MAX,
			 &len, "reading key", error_r);
	if (res == AUTHDB_OK) {
		if (tlskey_decode(rec, len, k_r, error_r) < 0) {
			res = AUTHDB_ERROR;
		} else if (str_cpy(k_r->fingerprint, fingerprint,
				   sizeof(k_r->fingerprint)) < 0) {
			*error_r = "bad key in the key table";
			res = AUTHDB_ERROR;
		}
	}
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
	enum authdb_result res = AUTHDB_ERROR;
	DB_TXN *txn = NULL;

	if (k == NULL) {
		*error_r = "out of memory";
		return AUTHDB_ERROR;
	}
	if (txn_begin(a, &txn, error_r) < 0)
		goto out;
	res = key_read(a, txn, fingerprint, k, error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = record_del(a->keys, txn, fingerprint, "deleting key", error_r);
	if (res != AUTHDB_OK)
		goto abort;
	res = AUTHDB_ERROR;
	if (link_del(a, txn, k->account, 'k', fingerprint, error_r) < 0)
		goto abort;
	res = commit(a, txn, error_r);
	goto out;
abort:
	(void)txn->abort(txn);
out:
	free(k);
	return res;
}

enum authdb_result authdb_key_iter(struct authdb *a, const char *after,
				   int (*fn)(const struct tlskey *k, void *ctx),
				   void *ctx, const char **error_r)
{
	unsigned char *rec = malloc(TLSKEY_RECORD_MAX);
	struct tlskey *k = malloc(sizeof(*k));
	enum authdb_result res = AUTHDB_OK;
	size_t after_len = strlen(after);
	struct walk w;

	if (rec == NULL || k == NULL) {
		*error_r = "out of memory";
		res = AUTHDB_ERROR;
		goto out;
	}
	if (after_len > X509_FP_LEN)
		goto out; /* not a fingerprint: nothing to page from */
	if (walk_open(&w, a->keys, NULL, after, after_len, X509_FP_LEN, rec,
		      TLSKEY_RECORD_MAX, error_r) < 0) {
		res = AUTHDB_ERROR;
		goto out;
	}
	while ((res = walk_next(&w, "listing keys", error_r)) == AUTHDB_OK) {
		if (walk_at(&w, after, after_len))
			continue;
		if (tlskey_decode(rec, w.val.size, k, error_r) < 0) {
			res = AUTHDB_ERROR;
			break;
		}
		memcpy(k->fingerprint, w.kbuf, w.key.size + 1);
		if (fn(k, ctx) != 0)
			break;
	}
	walk_close(&w);
	if (res == AUTHDB_NOTFOUND)
		res = AUTHDB_OK;
out:
	free(rec);
	free(k);
	return res;
}
