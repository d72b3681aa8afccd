#ifndef POSTERN_STORAGE_PRIVATE_H
#define POSTERN_STORAGE_PRIVATE_H
/* Internals shared by the storage/ files. Never included outside storage/
 * (tests under tests/storage/ excepted).
 *
 * One file db/store.db holds these B-tree databases (keys big-endian so
 * byte order is numeric order):
 *   meta      "state" -> struct st_meta: id/UIDVALIDITY counters, quota
 *             counters, mailbox count. Every writing transaction reads it
 *             with DB_RMW first: it is the store's write lock, which keeps
 *             writers from deadlocking with each other.
 *   names     normalized name -> mailbox id
 *   mailboxes id -> struct storage_mailbox (name included)
 *   msgs      id, uid -> message record
 *   modseq    id, modseq, uid -> ST_MODSEQ_LIVE | ST_MODSEQ_EXPUNGED: one
 *             LIVE entry per message (at its current modseq) plus the
 *             expunge history; "changes since M" is a range scan.
 *   keywords  id -> keyword names, NUL-separated, bit order
 *   files     file id -> refcount, size
 *   dead      file id -> "" : files whose last reference went; unlinked
 *             after the commit, entry removed after the unlink is durable
 *   cache     file id -> opaque parse-result blob
 *   subs      normalized name -> "" */
#include <db.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "storage.h"

enum st_dbi {
	ST_DB_META,
	ST_DB_NAMES,
	ST_DB_MAILBOXES,
	ST_DB_MSGS,
	ST_DB_MODSEQ,
	ST_DB_KEYWORDS,
	ST_DB_FILES,
	ST_DB_DEAD,
	ST_DB_CACHE,
	ST_DB_SUBS,
	ST_DB_COUNT
};

#define ST_MODSEQ_LIVE	   0
#define ST_MODSEQ_EXPUNGED 1

/* fn result meaning "failed, s->result and s->err are set": distinct from
 * every Berkeley DB error code (those are around -30900) and from 0. */
#define ST_FAIL (-1)

/* One environment per home per process, shared by the handles on it. */
struct st_env {
	struct st_env *next;
	char *home;
	pid_t pid; /* the process that opened it: a forked child must not use
		    * an inherited one */
	unsigned refs;
	int home_fd, tmp_fd, msg_fd;
	int change_fd; /* HOME/changes, touched after each commit */
	uint64_t commits; /* writing commits by this process's handles */
	DB_ENV *env;
	DB *db[ST_DB_COUNT];
};

struct storage {
	struct st_env *e;
	int notify_fd;
	bool notify_is_inotify;
	uint64_t notify_seen; /* pending notifications observed */
	uint64_t quota_max_messages, quota_max_bytes;
	enum storage_result result;
	char err[1200];
	/* files released by the current transaction (unlinked after commit) */
	uint64_t *dead;
	size_t ndead, dead_alloc;
};

struct st_meta {
	uint32_t next_mailbox_id;
	uint32_t last_uidvalidity;
	uint32_t mailbox_count;
	uint64_t quota_messages;
	uint64_t quota_bytes;
};

struct storage_save {
	struct storage *s;
	uint64_t id;
	char name[17]; /* hex id: tmp/<name>, msg/<name+14>/<name> */
	int fd;	       /* holds an flock until renamed or deleted */
	uint64_t size;
	bool finished, failed;
};

/* Orphaned tmp/ files without a committed record are deleted only once
 * their mtime is this old: it covers the moment between a saver's create
 * and its flock. Tests set it to 0. */
extern unsigned storage_orphan_grace_secs;

/* ---- errors ---- */
/* Sets s->result and s->err; returns ST_FAIL. */
int st_fail(struct storage *s, enum storage_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Converts a Berkeley DB/errno failure into SERVERBUG; returns ST_FAIL. */
int st_dberr(struct storage *s, const char *what, int ret);

/* ---- transactions ---- */
/* Body of one transaction: 0 to commit, ST_FAIL to abort with s->result,
 * or a Berkeley DB error (deadlocks and lock timeouts are retried, a
 * panicked environment is reopened and the body run again, anything else
 * aborts with SERVERBUG). The body may run several times: it must reset
 * its outputs at the start. */
typedef int st_txn_fn_t(struct storage *s, DB_TXN *txn, void *ctx);
#define ST_TXN_READ   0x0u
#define ST_TXN_WRITE  0x1u /* touches the change file after commit */
#define ST_TXN_NOSYNC 0x2u /* cache only: commit without log flush */
enum storage_result st_txn_run(struct storage *s, st_txn_fn_t *fn, void *ctx,
			       unsigned flags);

/* Calls fn on every record of db in key order. fn returns 0 to go on, or
 * a result that ends the walk and is returned (DB_NOTFOUND, like the end
 * of the table, becomes 0). */
typedef int st_walk_fn_t(struct storage *s, DB_TXN *txn, const DBT *key,
			 const DBT *data, void *ctx);
int st_db_walk(struct storage *s, DB_TXN *txn, enum st_dbi db, st_walk_fn_t *fn,
	       void *ctx);

/* Returns p with room for element n of an array of *alloc elements of elem
 * bytes (doubling *alloc when full). Exits on ENOMEM. */
void *st_grow(void *p, size_t *alloc, size_t n, size_t elem);

/* ---- encoding ---- */
/* Big-endian integers in records and keys (keys sort by them). Inline,
 * one load or store each: a listing decodes eight per message. */
static inline void st_put_u32(unsigned char *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, sizeof(v));
}

static inline void st_put_u64(unsigned char *p, uint64_t v)
{
	st_put_u32(p, (uint32_t)(v >> 32));
	st_put_u32(p + 4, (uint32_t)v);
}

static inline uint32_t st_get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t st_get_u64(const unsigned char *p)
{
	return (uint64_t)st_get_u32(p) << 32 | st_get_u32(p + 4);
}

void st_dbt(DBT *d, const void *data, size_t size);
/* DBT that receives into a caller buffer of size cap. */
void st_dbt_buf(DBT *d, void *buf, size_t cap);

/* ---- records (all return 0, DB_NOTFOUND, or another DB error) ---- */
int st_meta_get(struct storage *s, DB_TXN *txn, struct st_meta *m, bool rmw);
int st_meta_put(struct storage *s, DB_TXN *txn, const struct st_meta *m);
int st_mbox_get(struct storage *s, DB_TXN *txn, uint32_t id,
		struct storage_mailbox *m, bool rmw);
/* st_mbox_get, with DB_NOTFOUND turned into ST_FAIL (NONEXISTENT). */
int st_mbox_load(struct storage *s, DB_TXN *txn, uint32_t id,
		 struct storage_mailbox *m, bool rmw);
int st_mbox_put(struct storage *s, DB_TXN *txn,
		const struct storage_mailbox *m);
int st_msg_put(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       const struct storage_msg *m);
int st_msg_del(struct storage *s, DB_TXN *txn, uint32_t mbid, uint32_t uid);
void st_msg_decode(const unsigned char *p, struct storage_msg *m);
#define ST_MSG_REC_SIZE 57
int st_modseq_put(struct storage *s, DB_TXN *txn, uint32_t mbid,
		  uint64_t modseq, uint32_t uid, unsigned char kind);
int st_modseq_del(struct storage *s, DB_TXN *txn, uint32_t mbid,
		  uint64_t modseq, uint32_t uid);
/* Adds delta to the file's reference count; at 0 the record and its cache
 * entry go and the id is queued in s->dead (and the dead table). */
int st_file_ref(struct storage *s, DB_TXN *txn, uint64_t file_id, int delta);

/* Keyword table of a mailbox (empty if none), and mapping names to bits,
 * adding missing ones (LIMIT, BADNAME). */
int st_kw_load(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       struct storage_keywords *kw, bool rmw);
int st_kw_save(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       const struct storage_keywords *kw);
int st_kw_map(struct storage *s, struct storage_keywords *kw,
	      const char *const *names, size_t n, uint64_t *mask_r,
	      bool *changed_r);

/* Allocates a new mailbox (id, UIDVALIDITY from meta; caller saves meta)
 * and stores its records. ST_FAIL with LIMIT past STORAGE_MAILBOXES_MAX. */
int st_mbox_create(struct storage *s, DB_TXN *txn, struct st_meta *meta,
		   const char *name, uint32_t special_use,
		   struct storage_mailbox *m_r);

/* Message removal/insertion with counters, shared by expunge, copy,
 * rename INBOX and delete. */
void st_counts_add(struct storage_mailbox *m, const struct storage_msg *msg,
		   int sign);

/* After a commit that released files: unlinks them, makes that durable,
 * then forgets their dead entries. Failures are logged: the next open
 * retries. */
void st_reap_dead(struct storage *s);

/* Path helpers: msg/XX/<hex> relative to msg_fd is "XX/<hex>". */
void st_file_name(uint64_t id, char out[17]);
void st_msg_relpath(uint64_t id, char out[20]);

/* Renames tmp/<name> to msg/XX/<name>, making msg/XX on first use.
 * 0, or -1 with errno. */
int st_msg_rename(struct storage *s, const char *name, uint64_t id);

/* Orphan collection (first open in a process). */
void st_collect_orphans(struct storage *s);

#endif
