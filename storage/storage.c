/* Opening a home, the shared per-process environment, the transaction
 * runner with its retry and recovery rules, change notification and orphan
 * collection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rand.h"
#include "storage_private.h"

#define ST_DB_FILE     "store.db"
#define ST_CACHE_BYTES (8u * 1024 * 1024)
/* Lock table (region file db/__db.001 grows with it: 400,000 locks made it
 * 42 MB per home). Locks are per page, so a transaction over every message
 * of a 128,000-message mailbox (STORE, MOVE, DELETE) needs a few thousand.
 * 10,000 carries one STORE, EXPUNGE and DELETE of 100,000 messages each
 * (test_storage_scale with POSTERN_SCALE_MESSAGES=200000). The process
 * that creates a home's environment touches all of the table: 20,000 cost
 * it 1.7 MB, 10,000 0.9 MB, in every new worker of a new account. */
#define ST_MAX_LOCKS	 10000
#define ST_MAX_LOCKERS	 1000
#define ST_LOG_FILE_SIZE (1024u * 1024)
/* Environment opens lost to another process's at once (open_conflict):
 * 8 tries, apart by the transactions' random backoff (up to 2, 4, ... 50
 * ms). */
#define ST_OPEN_TRIES	 8
#define ST_LOG_BUF_SIZE	 (256u * 1024)
#define ST_CHECKPOINT_KB 2048
#define ST_STORE_VERSION 1

unsigned storage_orphan_grace_secs = 10;

static const char *const db_names[ST_DB_COUNT] = {
	"meta",	    "names", "mailboxes", "msgs",  "modseq",
	"keywords", "files", "dead",	  "cache", "subs",
};

static struct st_env *envs;
static char open_err[4096 + 256];
/* Set when the last environment open failed on a lock conflict: processes
 * creating a brand-new store at once (a first login over IMAP and
 * submission, a first delivery) deadlock on its databases' creation and
 * one of them loses; it may simply try again. */
static bool open_conflict;

const char *storage_result_code(enum storage_result r)
{
	switch (r) {
	case STORAGE_OK:
		return NULL;
	case STORAGE_ERR_NONEXISTENT:
		return "NONEXISTENT";
	case STORAGE_ERR_ALREADYEXISTS:
		return "ALREADYEXISTS";
	case STORAGE_ERR_HASCHILDREN:
		return "HASCHILDREN";
	case STORAGE_ERR_BADNAME:
	case STORAGE_ERR_CANNOT:
		return "CANNOT";
	case STORAGE_ERR_LIMIT:
		return "LIMIT";
	case STORAGE_ERR_OVERQUOTA:
		return "OVERQUOTA";
	case STORAGE_ERR_TEMP:
		return "UNAVAILABLE";
	case STORAGE_ERR_CORRUPTION:
		return "CORRUPTION";
	case STORAGE_ERR_SERVERBUG:
		break;
	}
	return "SERVERBUG";
}

int st_fail(struct storage *s, enum storage_result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	s->result = r;
	return ST_FAIL;
}

int st_dberr(struct storage *s, const char *what, int ret)
{
	if (ret > 0)
		return st_fail(s,
			       ret == ENOSPC ? STORAGE_ERR_TEMP
					     : STORAGE_ERR_SERVERBUG,
			       "%s: %s", what, strerror(ret));
	return st_fail(s, STORAGE_ERR_SERVERBUG, "%s: %s", what,
		       db_strerror(ret));
}

/* ---- encoding ---- */

void st_dbt(DBT *d, const void *data, size_t size)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)data;
	d->size = (u_int32_t)size;
}

void st_dbt_buf(DBT *d, void *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->data = buf;
	d->ulen = (u_int32_t)cap;
	d->flags = DB_DBT_USERMEM;
}

int st_db_walk(struct storage *s, DB_TXN *txn, enum st_dbi db, st_walk_fn_t *fn,
	       void *ctx)
{
	DBC *c;
	DBT key, data;
	int ret;

	if ((ret = s->e->db[db]->cursor(s->e->db[db], txn, &c, 0)) != 0)
		return ret;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	while ((ret = c->get(c, &key, &data, DB_NEXT)) == 0) {
		if ((ret = fn(s, txn, &key, &data, ctx)) != 0)
			break;
	}
	(void)c->close(c);
	return ret == DB_NOTFOUND ? 0 : ret;
}

void *st_grow(void *p, size_t *alloc, size_t n, size_t elem)
{
	if (n < *alloc)
		return p;
	*alloc = *alloc == 0 ? 64 : *alloc * 2;
	p = realloc(p, *alloc * elem);
	if (p == NULL)
		log_fatal("out of memory");
	return p;
}

void st_file_name(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)id);
}

void st_msg_relpath(uint64_t id, char out[20])
{
	char name[17];

	st_file_name(id, name);
	snprintf(out, 20, "%s/%s", name + 14, name);
}

int st_msg_rename(struct storage *s, const char *name, uint64_t id)
{
	char rel[20];

	st_msg_relpath(id, rel);
	if (renameat(s->e->tmp_fd, name, s->e->msg_fd, rel) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	/* msg/XX/ is made on first use: an empty home stays small */
	rel[2] = '\0';
	if (mkdirat(s->e->msg_fd, rel, 0700) < 0 && errno != EEXIST)
		return -1;
	rel[2] = '/';
	return renameat(s->e->tmp_fd, name, s->e->msg_fd, rel);
}

/* ---- environment ---- */

/* Set while closing an environment that another process recovered: its
 * handles then repeat "PANIC ... run recovery", which is expected. */
static bool closing_panicked;

static void st_errcall(const DB_ENV *env POSTERN_UNUSED,
		       const char *prefix POSTERN_UNUSED, const char *msg)
{
	if (!closing_panicked)
		log_warn("berkeley db: %s", msg);
}

static void env_close_db(struct st_env *e)
{
	for (unsigned i = 0; i < ST_DB_COUNT; i++) {
		if (e->db[i] != NULL)
			(void)e->db[i]->close(e->db[i], 0);
		e->db[i] = NULL;
	}
	if (e->env != NULL)
		(void)e->env->close(e->env, 0);
	e->env = NULL;
}

static int env_open_db(struct st_env *e, const char **error_r)
{
	char dir[4096];
	int ret;

	if (snprintf(dir, sizeof(dir), "%s/db", e->home) >= (int)sizeof(dir)) {
		*error_r = "home path too long";
		return -1;
	}
	if ((ret = db_env_create(&e->env, 0)) != 0)
		goto dberr;
	e->env->set_errcall(e->env, st_errcall);
	(void)e->env->log_set_config(e->env, DB_LOG_AUTO_REMOVE, 1);
	(void)e->env->set_lg_max(e->env, ST_LOG_FILE_SIZE);
	(void)e->env->set_lg_bsize(e->env, ST_LOG_BUF_SIZE);
	(void)e->env->set_cachesize(e->env, 0, ST_CACHE_BYTES, 1);
	(void)e->env->set_lk_max_locks(e->env, ST_MAX_LOCKS);
	(void)e->env->set_lk_max_objects(e->env, ST_MAX_LOCKS);
	(void)e->env->set_lk_max_lockers(e->env, ST_MAX_LOCKERS);
	(void)e->env->set_lk_detect(e->env, DB_LOCK_DEFAULT);
	/* DB_REGISTER: several processes share the environment, and recovery
	 * runs (with DB_RECOVER) only when one of them died without closing
	 * it; the survivors then see DB_RUNRECOVERY and reopen. */
	ret = e->env->open(e->env, dir,
			   DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
				   DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
				   DB_RECOVER,
			   0600);
	if (ret != 0)
		goto dberr;
	for (unsigned i = 0; i < ST_DB_COUNT; i++) {
		if ((ret = db_create(&e->db[i], e->env, 0)) != 0)
			goto dberr;
		ret = e->db[i]->open(e->db[i], NULL, ST_DB_FILE, db_names[i],
				     DB_BTREE, DB_CREATE | DB_AUTO_COMMIT,
				     0600);
		if (ret != 0)
			goto dberr;
	}
	return 0;
dberr:
	open_conflict = ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED;
	snprintf(open_err, sizeof(open_err), "opening %s: %s", dir,
		 db_strerror(ret));
	*error_r = open_err;
	env_close_db(e);
	return -1;
}

static int mkdir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int env_dirs(struct st_env *e, const char **error_r)
{
	if (mkdir(e->home, 0700) < 0 && errno != EEXIST)
		goto err;
	e->home_fd = open(e->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->home_fd < 0 || mkdir_at(e->home_fd, "db") < 0 ||
	    mkdir_at(e->home_fd, "tmp") < 0 || mkdir_at(e->home_fd, "msg") < 0)
		goto err;
	e->tmp_fd =
		openat(e->home_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e->msg_fd =
		openat(e->home_fd, "msg", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->tmp_fd < 0 || e->msg_fd < 0)
		goto err;
	e->change_fd =
		openat(e->home_fd, "changes",
		       O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (e->change_fd < 0)
		goto err;
	return 0;
err:
	snprintf(open_err, sizeof(open_err), "home %s: %s", e->home,
		 strerror(errno));
	*error_r = open_err;
	return -1;
}

static void env_free(struct st_env *e)
{
	env_close_db(e);
	if (e->home_fd >= 0)
		close(e->home_fd);
	if (e->tmp_fd >= 0)
		close(e->tmp_fd);
	if (e->msg_fd >= 0)
		close(e->msg_fd);
	if (e->change_fd >= 0)
		close(e->change_fd);
	free(e->home);
	free(e);
}

static struct st_env *env_get(const char *home, bool *fresh_r,
			      const char **error_r)
{
	struct st_env *e;

	*fresh_r = false;
	for (e = envs; e != NULL; e = e->next) {
		if (e->pid == getpid() && strcmp(e->home, home) == 0) {
			e->refs++;
			return e;
		}
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->home = strdup(home)) == NULL)
		log_fatal("out of memory");
	e->home_fd = e->tmp_fd = e->msg_fd = e->change_fd = -1;
	e->pid = getpid();
	e->refs = 1;
	if (env_dirs(e, error_r) < 0 || env_open_db(e, error_r) < 0) {
		env_free(e);
		return NULL;
	}
	/* An entry inherited over fork() stays in the list, unused: closing
	 * it in the child would write to the parent's shared regions. */
	e->next = envs;
	envs = e;
	*fresh_r = true;
	return e;
}

static void env_put(struct st_env *e)
{
	struct st_env **pp;

	if (--e->refs > 0)
		return;
	for (pp = &envs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (e->env != NULL)
		(void)e->env->txn_checkpoint(e->env, 0, 0, 0);
	env_free(e);
}

/* The environment panicked (another process ran recovery) or a lock was
 * held too long: reopen, which recovers if a process died. */
static int env_reopen(struct storage *s)
{
	const char *error;

	log_info("reopening the mail store environment in %s/db", s->e->home);
	closing_panicked = true;
	env_close_db(s->e);
	closing_panicked = false;
	if (env_open_db(s->e, &error) < 0)
		return st_fail(s, STORAGE_ERR_TEMP, "%s", error);
	return 0;
}

/* ---- transactions ---- */

static void touch_changes(struct storage *s)
{
	/* inotify reports IN_ATTRIB to every watcher, this process's too */
	if (futimens(s->e->change_fd, NULL) < 0)
		log_warn("touching %s/changes: %m", s->e->home);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 +
	       (unsigned long long)ts.tv_nsec / 1000000;
}

static void backoff(unsigned attempt)
{
	unsigned max_us = attempt < 6 ? 1000u << attempt : 50000u;
	struct timespec ts = {0, 0};

	ts.tv_nsec = (long)(rand_u64() % max_us + 200) * 1000;
	nanosleep(&ts, NULL);
}

/* Transactions never wait inside Berkeley DB for a lock (DB_TXN_NOWAIT):
 * a conflict aborts and the body runs again after a short random sleep.
 * A blocked wait could last forever when the holder was killed (lock
 * timeouts are only enforced by a deadlock detector that nobody would be
 * running), and a single-threaded event loop must not block anyway. Past
 * ST_REOPEN_MS of conflicts the environment is reopened: DB_REGISTER then
 * notices a dead holder and recovers, which frees its locks. */
#define ST_REOPEN_MS  1000
#define ST_GIVE_UP_MS 15000

enum storage_result st_txn_run(struct storage *s, st_txn_fn_t *fn, void *ctx,
			       unsigned flags)
{
	unsigned long long start = now_ms();
	bool reopened = false;
	DB_TXN *txn;
	int ret = 0;

	s->result = STORAGE_OK;
	s->err[0] = '\0';
	for (unsigned attempt = 0;; attempt++) {
		s->ndead = 0;
		if (s->e->env == NULL && env_reopen(s) < 0)
			return s->result;
		ret = s->e->env->txn_begin(s->e->env, NULL, &txn,
					   DB_TXN_NOWAIT);
		if (ret == 0) {
			ret = fn(s, txn, ctx);
			if (ret == 0)
				ret = txn->commit(txn,
						  (flags & ST_TXN_NOSYNC) != 0
							  ? DB_TXN_NOSYNC
							  : 0);
			else
				(void)txn->abort(txn);
		}
		if (ret == 0) {
			if ((flags & ST_TXN_WRITE) != 0) {
				(void)s->e->env->txn_checkpoint(
					s->e->env, ST_CHECKPOINT_KB, 0, 0);
				s->e->commits++;
				touch_changes(s);
			}
			if (s->ndead > 0)
				st_reap_dead(s);
			return STORAGE_OK;
		}
		if (ret == ST_FAIL)
			return s->result;
		if (ret == DB_RUNRECOVERY) {
			/* another process recovered the environment */
			if (attempt > 3 || env_reopen(s) < 0)
				break;
			continue;
		}
		if (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED)
			break;
		if (now_ms() - start > ST_GIVE_UP_MS)
			break;
		if (!reopened && now_ms() - start > ST_REOPEN_MS) {
			reopened = true;
			if (env_reopen(s) < 0)
				return s->result;
			continue;
		}
		backoff(attempt);
	}
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED)
		st_fail(s, STORAGE_ERR_TEMP, "store busy: %s",
			db_strerror(ret));
	else if (s->result == STORAGE_OK)
		st_dberr(s, "transaction", ret);
	return s->result;
}

/* ---- records shared by several files ---- */

#define META_REC_SIZE 32

int st_meta_get(struct storage *s, DB_TXN *txn, struct st_meta *m, bool rmw)
{
	unsigned char rec[META_REC_SIZE];
	DBT key, data;
	int ret;

	st_dbt(&key, "state", 5);
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_META]->get(s->e->db[ST_DB_META], txn, &key, &data,
					rmw ? DB_RMW : 0);
	if (ret != 0)
		return ret;
	if (data.size != META_REC_SIZE || st_get_u32(rec) != ST_STORE_VERSION)
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "store state record has an unknown format");
	m->next_mailbox_id = st_get_u32(rec + 4);
	m->last_uidvalidity = st_get_u32(rec + 8);
	m->mailbox_count = st_get_u32(rec + 12);
	m->quota_messages = st_get_u64(rec + 16);
	m->quota_bytes = st_get_u64(rec + 24);
	return 0;
}

int st_meta_put(struct storage *s, DB_TXN *txn, const struct st_meta *m)
{
	unsigned char rec[META_REC_SIZE];
	DBT key, data;

	st_put_u32(rec, ST_STORE_VERSION);
	st_put_u32(rec + 4, m->next_mailbox_id);
	st_put_u32(rec + 8, m->last_uidvalidity);
	st_put_u32(rec + 12, m->mailbox_count);
	st_put_u64(rec + 16, m->quota_messages);
	st_put_u64(rec + 24, m->quota_bytes);
	st_dbt(&key, "state", 5);
	st_dbt(&data, rec, sizeof(rec));
	return s->e->db[ST_DB_META]->put(s->e->db[ST_DB_META], txn, &key, &data,
					 0);
}

static const struct {
	const char *name;
	uint32_t special_use;
} default_mailboxes[] = {
	{"INBOX", 0},
	{"Drafts", STORAGE_SPECIAL_DRAFTS},
	{"Sent", STORAGE_SPECIAL_SENT},
	{"Trash", STORAGE_SPECIAL_TRASH},
	{"Junk", STORAGE_SPECIAL_JUNK},
	{"Archive", STORAGE_SPECIAL_ARCHIVE},
};

static int has_store_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct st_meta meta;
	int ret = st_meta_get(s, txn, &meta, false);

	*(bool *)ctx = ret == 0;
	return ret == DB_NOTFOUND ? 0 : ret;
}

static int init_store_txn(struct storage *s, DB_TXN *txn,
			  void *ctx POSTERN_UNUSED)
{
	struct st_meta meta;
	struct storage_mailbox m;
	DBT key, data;
	int ret;

	ret = st_meta_get(s, txn, &meta, true);
	if (ret != DB_NOTFOUND)
		return ret; /* initialized already (or an error) */
	memset(&meta, 0, sizeof(meta));
	meta.next_mailbox_id = 1;
	for (size_t i = 0; i < N_ELEMENTS(default_mailboxes); i++) {
		ret = st_mbox_create(s, txn, &meta, default_mailboxes[i].name,
				     default_mailboxes[i].special_use, &m);
		if (ret != 0)
			return ret;
		st_dbt(&key, m.name, strlen(m.name));
		st_dbt(&data, "", 0);
		ret = s->e->db[ST_DB_SUBS]->put(s->e->db[ST_DB_SUBS], txn, &key,
						&data, 0);
		if (ret != 0)
			return ret;
	}
	return st_meta_put(s, txn, &meta);
}

/* ---- notification ---- */

static int notify_open(struct storage *s)
{
	struct itimerspec its;
	char path[4200];

	s->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->notify_fd >= 0) {
		snprintf(path, sizeof(path), "%s/changes", s->e->home);
		if (inotify_add_watch(s->notify_fd, path,
				      IN_ATTRIB | IN_MODIFY) >= 0) {
			s->notify_is_inotify = true;
			return 0;
		}
		close(s->notify_fd);
	}
	/* Out of inotify instances (fs.inotify.max_user_instances): poll.
	 * Sessions are then woken at most half a second late. */
	log_warn("inotify for %s/changes: %m; polling instead", s->e->home);
	s->notify_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->notify_fd < 0)
		return -1;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_nsec = 500000000L;
	its.it_value.tv_nsec = 500000000L;
	return timerfd_settime(s->notify_fd, 0, &its, NULL);
}

int storage_notify_fd(struct storage *s)
{
	return s->notify_fd;
}

void storage_notify_drain(struct storage *s)
{
	char buf[4096] __attribute__((aligned(8)));
	bool any = false;

	while (read(s->notify_fd, buf, sizeof(buf)) > 0)
		any = true;
	/* consumed here, it must still move storage_change_seq */
	if (any)
		s->notify_seen++;
}

uint64_t storage_change_seq(struct storage *s)
{
	struct pollfd p = {s->notify_fd, POLLIN, 0};

	/* the timer fallback says nothing about commits: assume one */
	if (!s->notify_is_inotify || poll(&p, 1, 0) != 0)
		s->notify_seen++;
	return s->e->commits + s->notify_seen;
}

/* ---- open / close ---- */

enum storage_result storage_open(const char *home, struct storage **s_r,
				 const char **error_r)
{
	struct storage *s;
	bool fresh, exists = false;
	enum storage_result r;

	*s_r = NULL;
	if (home[0] != '/' || strlen(home) > 3900) {
		*error_r = "home must be an absolute path of at most 3900 "
			   "bytes";
		return STORAGE_ERR_SERVERBUG;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		log_fatal("out of memory");
	s->notify_fd = -1;
	for (unsigned attempt = 1;; attempt++) {
		open_conflict = false;
		if ((s->e = env_get(home, &fresh, error_r)) != NULL)
			break;
		if (!open_conflict || attempt == ST_OPEN_TRIES) {
			free(s);
			return open_conflict ? STORAGE_ERR_TEMP
					     : STORAGE_ERR_SERVERBUG;
		}
		/* apart, so the next round does not collide again */
		backoff(attempt);
	}
	if (notify_open(s) < 0) {
		snprintf(open_err, sizeof(open_err), "notification fd: %s",
			 strerror(errno));
		*error_r = open_err;
		storage_close(&s);
		return STORAGE_ERR_SERVERBUG;
	}
	r = st_txn_run(s, has_store_txn, &exists, ST_TXN_READ);
	if (r == STORAGE_OK && !exists)
		r = st_txn_run(s, init_store_txn, NULL, ST_TXN_WRITE);
	if (r != STORAGE_OK) {
		snprintf(open_err, sizeof(open_err), "%s", s->err);
		*error_r = open_err;
		storage_close(&s);
		return r;
	}
	if (fresh)
		st_collect_orphans(s);
	*s_r = s;
	return STORAGE_OK;
}

void storage_close(struct storage **sp)
{
	struct storage *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	if (s->e != NULL)
		env_put(s->e);
	free(s->dead);
	free(s);
}

/* ---- releasing files ---- */

struct reap_ctx {
	const uint64_t *ids;
	size_t n;
};

static int dead_del_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	const struct reap_ctx *rc = ctx;
	unsigned char k[8];
	DBT key;
	int ret;

	for (size_t i = 0; i < rc->n; i++) {
		st_put_u64(k, rc->ids[i]);
		st_dbt(&key, k, sizeof(k));
		ret = s->e->db[ST_DB_DEAD]->del(s->e->db[ST_DB_DEAD], txn, &key,
						0);
		if (ret != 0 && ret != DB_NOTFOUND)
			return ret;
	}
	return 0;
}

static void unlink_files(struct storage *s, const uint64_t *ids, size_t n)
{
	char rel[20], name[17];

	for (size_t i = 0; i < n; i++) {
		st_msg_relpath(ids[i], rel);
		if (unlinkat(s->e->msg_fd, rel, 0) == 0)
			continue;
		if (errno != ENOENT)
			log_warn("unlink msg/%s: %m", rel);
		/* committed but never renamed (its saver crashed) */
		st_file_name(ids[i], name);
		if (unlinkat(s->e->tmp_fd, name, 0) < 0 && errno != ENOENT)
			log_warn("unlink tmp/%s: %m", name);
	}
	/* The dead entries go only once the unlinks are on disk; else a crash
	 * could bring back a file that nothing references. One syncfs costs
	 * less than an fsync of each of the 256 msg/ directories. */
	if (syncfs(s->e->msg_fd) < 0)
		log_warn("syncfs %s: %m", s->e->home);
}

static void reap_ids(struct storage *s, const uint64_t *ids, size_t n)
{
	struct reap_ctx rc = {ids, n};

	unlink_files(s, ids, n);
	/* No sync: a lost removal only makes the next open unlink again. */
	if (st_txn_run(s, dead_del_txn, &rc, ST_TXN_NOSYNC) != STORAGE_OK)
		log_warn("forgetting released files: %s", s->err);
}

void st_reap_dead(struct storage *s)
{
	uint64_t *ids = s->dead;
	size_t n = s->ndead, alloc = s->dead_alloc;

	/* the nested transaction starts with an empty list of its own */
	s->dead = NULL;
	s->ndead = s->dead_alloc = 0;
	reap_ids(s, ids, n);
	free(s->dead);
	s->dead = ids;
	s->dead_alloc = alloc;
	s->ndead = 0;
}

/* ---- orphans ---- */

struct dead_list {
	uint64_t *ids;
	size_t n, alloc;
};

static int dead_list_add(struct storage *s, DB_TXN *txn, const DBT *key,
			 const DBT *data, void *ctx)
{
	struct dead_list *l = ctx;

	(void)s;
	(void)txn;
	(void)data;
	if (key->size == 8) {
		l->ids = st_grow(l->ids, &l->alloc, l->n, sizeof(*l->ids));
		l->ids[l->n++] = st_get_u64(key->data);
	}
	return 0;
}

static int dead_list_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct dead_list *l = ctx;

	l->n = 0;
	return st_db_walk(s, txn, ST_DB_DEAD, dead_list_add, l);
}

struct file_exists_ctx {
	uint64_t id;
	bool exists;
};

static int file_exists_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct file_exists_ctx *f = ctx;
	unsigned char k[8], rec[16];
	DBT key, data;
	int ret;

	st_put_u64(k, f->id);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_FILES]->get(s->e->db[ST_DB_FILES], txn, &key,
					 &data, 0);
	f->exists = ret == 0;
	return ret == DB_NOTFOUND ? 0 : ret;
}

static bool hex_name(const char *name, uint64_t *id_r)
{
	uint64_t id = 0;

	if (strlen(name) != 16)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		unsigned v;

		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else
			return false;
		id = id << 4 | v;
	}
	*id_r = id;
	return true;
}

static void collect_tmp_file(struct storage *s, const char *name, uint64_t id)
{
	struct file_exists_ctx f = {id, false};
	struct stat st;
	int fd;

	fd = openat(s->e->tmp_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* a live saver holds the lock until its file is renamed or gone */
	if (fstat(fd, &st) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return;
	}
	if (st_txn_run(s, file_exists_txn, &f, ST_TXN_READ) != STORAGE_OK) {
		close(fd);
		return;
	}
	if (f.exists) {
		if (st_msg_rename(s, name, id) < 0 && errno != ENOENT)
			log_warn("finishing tmp/%s: %m", name);
	} else if (time(NULL) - st.st_mtime >=
		   (time_t)storage_orphan_grace_secs) {
		if (unlinkat(s->e->tmp_fd, name, 0) < 0 && errno != ENOENT)
			log_warn("removing orphan tmp/%s: %m", name);
	}
	close(fd);
}

void st_collect_orphans(struct storage *s)
{
	struct dead_list l = {NULL, 0, 0};
	struct dirent *d;
	DIR *dir;
	uint64_t id;
	int fd;

	if (st_txn_run(s, dead_list_txn, &l, ST_TXN_READ) == STORAGE_OK &&
	    l.n > 0)
		reap_ids(s, l.ids, l.n);
	free(l.ids);

	fd = openat(s->e->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		log_warn("reading %s/tmp: %m", s->e->home);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (hex_name(d->d_name, &id))
			collect_tmp_file(s, d->d_name, id);
	}
	closedir(dir);
}
