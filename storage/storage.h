#ifndef POSTERN_STORAGE_H
#define POSTERN_STORAGE_H
/* The mail store of one user: a home directory holding immutable message
 * files and one Berkeley DB transactional environment (mailboxes, message
 * records, cached parse results, expunge history, subscriptions, quota).
 *
 * Layout of HOME (created on first open):
 *   db/          the environment (logs, regions, *.db)
 *   tmp/<id>     messages being saved, and saved but not yet renamed
 *   msg/XX/<id>  immutable message files; XX = last two hex digits of id
 *   changes      touched after every commit (change notification)
 *
 * Several processes may open one home at once (the IMAP worker, a delivering
 * process, mailadm). Within one process, handles on the same home share one
 * environment. A handle is not thread-safe. After fork() the child must not
 * use the parent's handles (it may close nothing and open its own).
 *
 * Durability: every function that changes state returns STORAGE_OK only
 * after its transaction committed with a synchronous log flush and every
 * message file it references was fsynced (file and directory). Each call is
 * one transaction: all or nothing, also across kill -9. Calls never wait
 * inside Berkeley DB for a lock: a conflicting transaction is aborted and
 * run again after a short random sleep, for at most about 15 seconds
 * (then STORAGE_ERR_TEMP). A process that died with the environment open
 * is recovered from automatically (at the next open by anyone, or after a
 * second of conflicts with its stale locks); handles of live processes
 * then reopen the environment on their next call.
 *
 * Every fallible function returns enum storage_result; on anything but
 * STORAGE_OK, *error_r is set to a human-readable reason (no user data
 * beyond mailbox names) valid until the next call on the same handle.
 * Functions never log errors they return.
 *
 * Mailbox names are UTF-8, '/' is the hierarchy delimiter, and a first
 * component equal to "INBOX" in any case means INBOX (stored as "INBOX").
 * Modified UTF-7 conversion is the command layer's job. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- limits (a limit hit returns STORAGE_ERR_LIMIT) ---- */
#define STORAGE_MAILBOX_NAME_MAX  1000	/* bytes of UTF-8 */
#define STORAGE_MAILBOX_DEPTH_MAX 32	/* components */
#define STORAGE_MAILBOXES_MAX	  10000 /* per user */
#define STORAGE_SUBSCRIPTIONS_MAX 10000 /* per user */
#define STORAGE_KEYWORDS_MAX	  64	/* distinct keywords per mailbox */
#define STORAGE_KEYWORD_MAX	  128	/* bytes of one keyword */
#define STORAGE_CACHE_MAX	  (1024 * 1024) /* bytes of one cache blob */
/* Messages one call may touch (APPEND batch, COPY/MOVE/STORE/EXPUNGE set);
 * every message of one mailbox fits. */
#define STORAGE_TXN_MESSAGES_MAX 1000000

enum storage_result {
	STORAGE_OK = 0,
	STORAGE_ERR_NONEXISTENT, /* mailbox (or message, cache entry) absent */
	STORAGE_ERR_ALREADYEXISTS, /* CREATE/RENAME target exists */
	STORAGE_ERR_HASCHILDREN,   /* DELETE of a name that only has children */
	STORAGE_ERR_BADNAME,	   /* invalid mailbox name or keyword */
	STORAGE_ERR_CANNOT,    /* not allowed: DELETE INBOX, RENAME a/b a/b/c */
	STORAGE_ERR_LIMIT,     /* a STORAGE_*_MAX above, or UID space used up */
	STORAGE_ERR_OVERQUOTA, /* storage_set_quota limit, or EDQUOT */
	STORAGE_ERR_TEMP,      /* busy after retries, ENOSPC: try again */
	STORAGE_ERR_CORRUPTION, /* the store contradicts itself */
	STORAGE_ERR_SERVERBUG,	/* any other I/O or database failure */
};

/* The RFC 5530 / RFC 9051 response code for r ("NONEXISTENT",
 * "ALREADYEXISTS", "HASCHILDREN", "CANNOT" for BADNAME and CANNOT, "LIMIT",
 * "OVERQUOTA", "UNAVAILABLE" for TEMP, "CORRUPTION", "SERVERBUG"); NULL for
 * STORAGE_OK. Static strings. */
const char *storage_result_code(enum storage_result r);

/* System flags, a bitmask in struct storage_msg.flags. */
#define STORAGE_FLAG_SEEN     0x01u
#define STORAGE_FLAG_ANSWERED 0x02u
#define STORAGE_FLAG_FLAGGED  0x04u
#define STORAGE_FLAG_DELETED  0x08u
#define STORAGE_FLAG_DRAFT    0x10u
#define STORAGE_FLAGS_ALL     0x1fu

/* Special-use attributes (RFC 6154), a bitmask in struct
 * storage_mailbox.special_use. */
#define STORAGE_SPECIAL_ALL	0x01u
#define STORAGE_SPECIAL_ARCHIVE 0x02u
#define STORAGE_SPECIAL_DRAFTS	0x04u
#define STORAGE_SPECIAL_FLAGGED 0x08u
#define STORAGE_SPECIAL_JUNK	0x10u
#define STORAGE_SPECIAL_SENT	0x20u
#define STORAGE_SPECIAL_TRASH	0x40u
#define STORAGE_SPECIAL_MASK	0x7fu

struct storage;
struct storage_save;

/* One mailbox's state, a consistent snapshot. */
struct storage_mailbox {
	uint32_t id;	      /* never reused within a home */
	uint32_t uidvalidity; /* never reused within a home, never 0 */
	uint32_t uidnext;     /* next UID to assign; never decreases */
	uint32_t special_use; /* STORAGE_SPECIAL_* */
	/* RFC 7162: starts at 1 for a new mailbox; every committed change
	 * (append, flag change, expunge) sets it to a new, larger value and
	 * stamps the changed messages with it. */
	uint64_t highestmodseq;
	uint32_t messages; /* STATUS MESSAGES */
	uint32_t unseen;   /* STATUS UNSEEN: messages without \Seen */
	uint32_t deleted;  /* STATUS DELETED: messages with \Deleted */
	uint64_t size;	   /* STATUS SIZE: sum of RFC822.SIZE */
	int64_t created;   /* unix time */
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
};

/* One message of one mailbox. */
struct storage_msg {
	uint32_t uid;
	uint32_t flags;	   /* STORAGE_FLAG_* */
	uint64_t keywords; /* bit i = keyword i of the mailbox's table */
	uint64_t modseq;
	uint64_t file_id;      /* message file; shared by copies */
	uint64_t size;	       /* RFC822.SIZE: bytes of the file */
	int64_t internal_date; /* unix time */
	int32_t internal_tz;   /* INTERNALDATE zone, minutes east of UTC */
	int64_t save_date;     /* unix time the message entered the mailbox */
};

/* A mailbox's keyword table: bit i of storage_msg.keywords means names[i].
 * Entries are only ever appended while the mailbox exists, so a bit keeps
 * its meaning; a session may cache the table and refresh it when it sees a
 * bit >= count. */
struct storage_keywords {
	unsigned count;
	char names[STORAGE_KEYWORDS_MAX][STORAGE_KEYWORD_MAX + 1];
};

/* A set of UIDs as ranges lo..hi (inclusive, lo <= hi); ranges may overlap
 * and come in any order. UIDs without a message are ignored. */
struct storage_uid_range {
	uint32_t lo, hi;
};

/* Results of multi-message calls: malloc'd, sorted by UID unless said
 * otherwise. Free with the _free functions (they accept zeroed structs and
 * leave them zeroed). */
struct storage_uids {
	uint32_t *uids;
	size_t count;
};
struct storage_msgs {
	struct storage_msg *msgs;
	size_t count;
};
void storage_uids_free(struct storage_uids *u);
void storage_msgs_free(struct storage_msgs *m);

/* ---- opening ---- */

/* Opens (creating if needed: the directory itself, mode 0700, but not its
 * parents) the store in home, an absolute path. A new store gets INBOX,
 * Drafts (\Drafts), Sent (\Sent), Trash (\Trash), Junk (\Junk) and Archive
 * (\Archive), all subscribed. The first open in a process collects orphans:
 * tmp/ files of dead savers (renamed into msg/ if their record committed,
 * else deleted) and message files whose last reference went. Processes
 * opening a brand-new store at once conflict on its creation: the loser
 * tries again (8 times, with a random backoff), then TEMP. On error *error_r
 * points to static storage valid until the next storage_open. */
enum storage_result storage_open(const char *home, struct storage **s_r,
				 const char **error_r);
/* Accepts NULL; NULLs *s. No transaction outlives a call, but saves do:
 * commit or abort every save of the handle before closing it. */
void storage_close(struct storage **s);

/* ---- change notification ---- */

/* A file descriptor that becomes readable (poll/epoll) after any commit to
 * this home by any handle in any process, this one included. Owned by the
 * handle; do not close or read it. It stays the same for the handle's
 * life. */
int storage_notify_fd(struct storage *s);
/* Consumes pending notifications so the fd stops being readable. Call it
 * before re-reading state, so a commit racing with the re-read wakes the fd
 * again. */
void storage_notify_drain(struct storage *s);
/* A number that moves whenever the store may have changed: after every
 * commit through any handle of this process on this home, and whenever a
 * notification from another process's commit is pending on the notify fd
 * (checked with a zero-timeout poll, not consumed). Two equal values mean
 * nothing was committed in between by this process, nor by another
 * process whose committing call had returned before the second call. With
 * the polling fallback (no inotify) every call returns a new value. Costs
 * one poll(2); never touches the database. */
uint64_t storage_change_seq(struct storage *s);

/* ---- mailboxes ---- */

/* Checks and normalizes a mailbox name: valid UTF-8, no control
 * characters, no '*' or '%', no empty component (so no leading, trailing or
 * doubled '/'), at most STORAGE_MAILBOX_NAME_MAX bytes and
 * STORAGE_MAILBOX_DEPTH_MAX components; INBOX's case fixed. Writes the
 * normalized name to out (outsz >= STORAGE_MAILBOX_NAME_MAX + 1). Returns
 * STORAGE_OK, STORAGE_ERR_BADNAME or STORAGE_ERR_LIMIT (too long/deep).
 * Every function taking a name normalizes it this way itself. */
enum storage_result storage_mailbox_name_check(const char *name, char *out,
					       size_t outsz,
					       const char **error_r);

/* CREATE: creates name and any missing parents (each with a fresh
 * UIDVALIDITY); special_use (STORAGE_SPECIAL_*) applies to name only, and
 * each of its attributes moves there: another mailbox holding it loses it,
 * in the same transaction (one mailbox per attribute per account).
 * ALREADYEXISTS if name exists (INBOX always does), LIMIT past
 * STORAGE_MAILBOXES_MAX. A trailing '/' is the command layer's to strip.
 * mbox_r (may be NULL) receives the new mailbox. */
enum storage_result storage_mailbox_create(struct storage *s, const char *name,
					   uint32_t special_use,
					   struct storage_mailbox *mbox_r,
					   const char **error_r);

/* DELETE: removes the mailbox, its messages, keywords and expunge history,
 * and releases the message files (quota shrinks). Children are kept: the
 * name then lives on only as their implied parent (LIST shows it \Noselect /
 * \NonExistent). Subscriptions are not touched. CANNOT for INBOX,
 * HASCHILDREN for a name that does not exist itself but has children (RFC
 * 9051: deleting a \Noselect name with inferiors is an error), NONEXISTENT
 * otherwise when absent. */
enum storage_result storage_mailbox_delete(struct storage *s, const char *name,
					   const char **error_r);

/* RENAME: renames the mailbox and all its inferiors, keeping ids,
 * UIDVALIDITY, UIDs and modseqs; creates missing parents of the new name.
 * NONEXISTENT if old does not exist, ALREADYEXISTS if new (or a renamed
 * inferior's new name) exists, CANNOT if new is old or lies below old,
 * LIMIT if a renamed inferior's name would grow past the limits.
 * RENAME INBOX (RFC 9051): creates new as a fresh mailbox (new id and
 * UIDVALIDITY), moves every INBOX message there (new UIDs 1..n, flags and
 * dates kept) and expunges them from INBOX, which keeps its id and
 * UIDVALIDITY; INBOX's inferiors are not renamed. Subscriptions are not
 * touched. */
enum storage_result storage_mailbox_rename(struct storage *s,
					   const char *oldname,
					   const char *newname,
					   const char **error_r);

/* The mailbox's current state, by name or by id. NONEXISTENT if absent
 * (a selected mailbox that was deleted, even if recreated under the same
 * name, is absent by id). */
enum storage_result storage_mailbox_get(struct storage *s, const char *name,
					struct storage_mailbox *mbox_r,
					const char **error_r);
enum storage_result storage_mailbox_get_by_id(struct storage *s, uint32_t id,
					      struct storage_mailbox *mbox_r,
					      const char **error_r);

/* Calls cb for every mailbox, in byte order of the name, from a consistent
 * snapshot taken before the first call (so cb may call storage functions).
 * A nonzero return from cb stops the iteration (still STORAGE_OK). */
typedef int storage_mailbox_cb_t(void *ctx, const struct storage_mailbox *m);
enum storage_result storage_mailbox_iter(struct storage *s,
					 storage_mailbox_cb_t *cb, void *ctx,
					 const char **error_r);

/* ---- subscriptions (names need not exist; RFC 9051 6.3.7) ---- */

/* Subscribes (on) or unsubscribes the normalized name. Idempotent. LIMIT
 * past STORAGE_SUBSCRIPTIONS_MAX. */
enum storage_result storage_subscribe(struct storage *s, const char *name,
				      bool on, const char **error_r);
/* Calls cb for each subscribed name in byte order, after the snapshot was
 * taken; a nonzero return stops. */
typedef int storage_name_cb_t(void *ctx, const char *name);
enum storage_result storage_subscriptions_iter(struct storage *s,
					       storage_name_cb_t *cb, void *ctx,
					       const char **error_r);

/* ---- keywords ---- */

/* Reads the mailbox's keyword table. NONEXISTENT if the mailbox is gone. */
enum storage_result storage_keywords_get(struct storage *s, uint32_t mailbox_id,
					 struct storage_keywords *kw_r,
					 const char **error_r);

/* ---- reading messages ---- */

/* The state of a mailbox and its messages with first_uid <= uid <=
 * last_uid, in UID order, from one consistent snapshot: *mbox_r (may be
 * NULL) is the mailbox state that goes with exactly these messages.
 * cb is called after the snapshot was taken (it may call storage
 * functions); a nonzero return stops. The snapshot is held in memory
 * meanwhile (about 64 bytes per message). This is SELECT's listing. */
typedef int storage_msg_cb_t(void *ctx, const struct storage_msg *m);
enum storage_result storage_msg_scan(struct storage *s, uint32_t mailbox_id,
				     uint32_t first_uid, uint32_t last_uid,
				     storage_msg_cb_t *cb, void *ctx,
				     struct storage_mailbox *mbox_r,
				     const char **error_r);

/* One message. NONEXISTENT if there is none with that UID (expunged). */
enum storage_result storage_msg_get(struct storage *s, uint32_t mailbox_id,
				    uint32_t uid, struct storage_msg *msg_r,
				    const char **error_r);

/* Changes since a modseq (CONDSTORE/QRESYNC, and NOOP/IDLE updates):
 * calls cb, in ascending modseq order, for every message of the mailbox
 * whose modseq > since_modseq (new messages and flag changes alike:
 * expunged false, m complete) and for every message expunged at a modseq >
 * since_modseq (expunged true, only m->uid and m->modseq set). Expunge
 * history is kept as long as the mailbox exists. *mbox_r (may be NULL) is
 * the state matching the reported changes: after applying them a session is
 * at mbox_r->highestmodseq. Same snapshot rules as storage_msg_scan. */
typedef int storage_change_cb_t(void *ctx, const struct storage_msg *m,
				bool expunged);
enum storage_result storage_changes(struct storage *s, uint32_t mailbox_id,
				    uint64_t since_modseq,
				    storage_change_cb_t *cb, void *ctx,
				    struct storage_mailbox *mbox_r,
				    const char **error_r);

/* Opens a message file for reading: *fd_r (O_RDONLY|O_CLOEXEC, the
 * caller's to close) and *size_r. The file never changes; it stays
 * readable through the fd even if the message is expunged meanwhile.
 * NONEXISTENT if the file is gone (its last message was expunged). */
enum storage_result storage_file_open(struct storage *s, uint64_t file_id,
				      int *fd_r, uint64_t *size_r,
				      const char **error_r);

/* ---- cached parse results (opaque to storage), per message file ---- */

/* Stores blob (at most STORAGE_CACHE_MAX bytes) for file_id, replacing any
 * earlier one. Shared by all copies of the message; dropped with the file.
 * NONEXISTENT if the file is gone. The commit does not wait for the disk:
 * a cache entry lost in a crash is recomputed, and waiting would cost an
 * fsync per message on a first FETCH of a large mailbox. */
enum storage_result storage_cache_put(struct storage *s, uint64_t file_id,
				      const void *blob, size_t len,
				      const char **error_r);
/* Appends the blob for file_id to out (which must be able to hold it).
 * NONEXISTENT if there is none, LIMIT if out's max is too small. */
enum storage_result storage_cache_get(struct storage *s, uint64_t file_id,
				      struct buf *out, const char **error_r);

/* ---- saving new messages (APPEND, delivery) ---- */

/* Starts writing one message into a new file under tmp/. The message's
 * bytes are stored as given (CRLF line ends are the caller's business);
 * RFC822.SIZE will be their count. */
enum storage_result storage_save_begin(struct storage *s,
				       struct storage_save **save_r,
				       const char **error_r);
/* Appends len bytes. OVERQUOTA on EDQUOT, TEMP on ENOSPC. After a failure
 * only storage_save_abort is allowed. */
enum storage_result storage_save_write(struct storage_save *save,
				       const void *data, size_t len,
				       const char **error_r);
/* Bytes written so far. */
uint64_t storage_save_size(const struct storage_save *save);
/* Ends writing and starts the writeback; storage_append_commit makes the
 * data durable (fdatasync of every file of its batch, then tmp/ once,
 * before the transaction), so a batch costs one journal commit, not one a
 * message. Afterwards only storage_append_commit or storage_save_abort. */
enum storage_result storage_save_finish(struct storage_save *save,
					const char **error_r);
/* Deletes the file and frees save. Accepts NULL; NULLs *save. */
void storage_save_abort(struct storage_save **save);

struct storage_append {
	struct storage_save *save;   /* finished */
	uint32_t flags;		     /* STORAGE_FLAG_* */
	const char *const *keywords; /* added to the mailbox table as needed */
	size_t nkeywords;
	int64_t internal_date; /* 0: now */
	int32_t internal_tz;   /* minutes east of UTC */
};

/* APPEND / MULTIAPPEND / delivery: adds n (>= 1) finished saves to the
 * mailbox in ONE transaction: all get UIDs (uids_r[i] for msgs[i], an
 * array of n, consecutive and ascending) or none do. *uidvalidity_r (may be
 * NULL) is the mailbox's UIDVALIDITY (APPENDUID). Every save is consumed
 * (committed files renamed into msg/, or deleted on failure) and every
 * msgs[i].save pointer becomes invalid, whatever the result. NONEXISTENT,
 * OVERQUOTA (storage_set_quota), LIMIT (keywords, UIDs, n), BADNAME (a
 * keyword). */
enum storage_result storage_append_commit(struct storage *s,
					  uint32_t mailbox_id,
					  const struct storage_append *msgs,
					  size_t n, uint32_t *uidvalidity_r,
					  uint32_t *uids_r,
					  const char **error_r);

/* ---- changing messages ---- */

enum storage_store_mode {
	STORAGE_STORE_SET,    /* FLAGS */
	STORAGE_STORE_ADD,    /* +FLAGS */
	STORAGE_STORE_REMOVE, /* -FLAGS */
};

/* "No UNCHANGEDSINCE" for storage_store (no modseq is larger). */
#define STORAGE_UNCHANGEDSINCE_NONE UINT64_MAX

/* STORE on the messages in the set, in one transaction. Messages whose
 * flags/keywords actually change get one new modseq (the mailbox's new
 * HIGHESTMODSEQ); unchanged ones keep theirs. unchangedsince (CONDSTORE;
 * STORAGE_UNCHANGEDSINCE_NONE without it; 0 is a real value that fails
 * every message): a message with modseq > unchangedsince is not changed and
 * its UID goes to *modified_r (MODIFIED response code). *updated_r receives
 * every other message of the set as it is after the commit (changed or
 * not: what FETCH FLAGS reports). Either output may be NULL. A NULL/0 set
 * is empty here (nothing stored). Keywords not
 * yet in the table are added (LIMIT past STORAGE_KEYWORDS_MAX) unless mode
 * is REMOVE. */
enum storage_result storage_store(struct storage *s, uint32_t mailbox_id,
				  const struct storage_uid_range *set,
				  size_t nset, enum storage_store_mode mode,
				  uint32_t flags, const char *const *keywords,
				  size_t nkeywords, uint64_t unchangedsince,
				  struct storage_msgs *updated_r,
				  struct storage_uids *modified_r,
				  const char **error_r);

/* EXPUNGE / UID EXPUNGE / CLOSE: removes the messages of the set (NULL /
 * 0 ranges: the whole mailbox) that have \Deleted (only_deleted) or all of
 * them, in one transaction; records each in the expunge history with the
 * new modseq; releases files whose last reference went; quota shrinks.
 * *expunged_r (may be NULL) receives the removed UIDs. */
enum storage_result storage_expunge(struct storage *s, uint32_t mailbox_id,
				    const struct storage_uid_range *set,
				    size_t nset, bool only_deleted,
				    struct storage_uids *expunged_r,
				    const char **error_r);

/* COPY (move false) / MOVE (move true) of the messages of the set to
 * dst_id, in one transaction: the copies share the files (reference
 * counts, no data copied), keep flags, keywords (remapped to dst's table)
 * and internal date, get new UIDs, a new save date and dst's new modseq.
 * MOVE also expunges the sources (expunge history, modseq) in the same
 * transaction. src_uids_r[i] became dst_uids_r[i], ascending in src order
 * (COPYUID); both may be NULL; *dst_uidvalidity_r (may be NULL) is dst's
 * UIDVALIDITY. An empty result (no existing message in the set) is
 * STORAGE_OK with count 0 (a NULL/0 set is empty). COPY counts against
 * quota (OVERQUOTA), MOVE does not grow it. dst may equal src. */
enum storage_result storage_copy(struct storage *s, uint32_t src_id,
				 const struct storage_uid_range *set,
				 size_t nset, uint32_t dst_id, bool move,
				 uint32_t *dst_uidvalidity_r,
				 struct storage_uids *src_uids_r,
				 struct storage_uids *dst_uids_r,
				 const char **error_r);

/* ---- quota ----
 *
 * Usage is the sum over all mailboxes of messages and of bytes of
 * RFC822.SIZE; a copy counts like any message even though it shares its
 * file. The two counters live in one record that every transaction adding
 * or removing messages (append, copy, move, expunge, mailbox delete, RENAME
 * INBOX) updates in the same transaction, so they are exact across
 * crashes (an aborted or killed transaction changes neither messages nor
 * counters) and concurrent writers (they serialise on that record).
 *
 * The contract for every path that adds messages (IMAP APPEND, MULTIAPPEND,
 * COPY; local delivery by the submission worker; LMTP):
 *  1. Set the account's limits on the handle once it is open, and again
 *     whenever they change: storage_set_quota(s, settings.quota_messages,
 *     settings.quota_storage) with the user_settings the auth daemon sent
 *     (IPC_T_CLIENT / IPC_T_USER_SETTINGS for a worker, IPC_T_USER_INFO for
 *     a delivering process). 0 means unlimited.
 *  2. Before reading any message data, when the sizes are announced (IMAP
 *     literal sizes, SMTP SIZE=, BDAT lengths): storage_quota_check(s, K,
 *     N) answers whether K more messages of N bytes in total would fit now;
 *     OVERQUOTA means refuse at once ("NO [OVERQUOTA]", SMTP 552 5.2.2)
 *     without reading the data. This check is advisory (another session
 *     may add mail before the commit).
 *  3. storage_append_commit / storage_copy decide: they check the limits
 *     inside the transaction that adds the messages, against the counters
 *     it updates, and return STORAGE_ERR_OVERQUOTA with nothing added (the
 *     saves deleted) when the batch does not fit. Only this answer is
 *     final; a batch that fits exactly (usage == limit afterwards) is
 *     accepted. MOVE never grows usage and is never refused for quota.
 *     Expunging and deleting always work, also over quota. */

/* Limits enforced by this handle's later APPEND and COPY calls (0 = no
 * limit). The counters are kept whatever the limits. */
void storage_set_quota(struct storage *s, uint64_t max_messages,
		       uint64_t max_bytes);
/* Current usage (messages, bytes) from one snapshot. */
enum storage_result storage_quota_get(struct storage *s, uint64_t *messages_r,
				      uint64_t *bytes_r, const char **error_r);
/* STORAGE_OK if add_messages more messages of add_bytes in total would fit
 * the handle's limits now, else OVERQUOTA (step 2 above). */
enum storage_result storage_quota_check(struct storage *s,
					uint64_t add_messages,
					uint64_t add_bytes,
					const char **error_r);

#endif
