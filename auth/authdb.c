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

#include "log.h"
#include "str.h"

#define AUTHDB_FILE "accounts.db"
#define AUTHDB_LOCK "lock"
/* Checkpoint once this much log (KiB) accumulated; old logs are removed. */
#define AUTHDB_CHECKPOINT_KB 256
#define AUTHDB_LOG_FILE_SIZE (1024 * 1024)

struct authdb {
	DB_ENV *env;
	DB *db;
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

enum authdb_result authdb_get(struct authdb *a, const char *address,
			      struct account *acct_r, const char **error_r)
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
