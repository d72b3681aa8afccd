#ifndef POSTERN_IMAP_MBCACHE_H
#define POSTERN_IMAP_MBCACHE_H
/* The worker's cache of big mailboxes' message lists, so that SELECT and
 * EXAMINE of a mailbox this process listed before read only what changed
 * since (storage_changes), not every message record. The store stays the
 * only truth: every load brings the cached list up to the store's current
 * state in one snapshot, so other processes' commits are always seen, and
 * a mailbox gone from the store is dropped. Private to imap/. */
#include <stdbool.h>
#include <stdint.h>

#include "imap_view.h"
#include "storage.h"

/* Mailboxes with fewer messages are listed in full each time (cheap). */
#define IMAP_MBCACHE_MIN_MESSAGES 1000
/* Mailboxes kept, least recently loaded dropped first: 13 bytes a
 * message, so at most about 13 MB for four 250,000-message mailboxes. */
#define IMAP_MBCACHE_ENTRIES 4

/* Fills the empty view v with every message of mailbox_id as of one
 * snapshot, *mbox_r with the state that goes with it and *first_unseen_r
 * with the sequence number of the first message without \Seen (0: none).
 * STORAGE_OK, or the storage error (with *error_r) or SERVERBUG "Out of
 * memory"; v is empty then. */
enum storage_result imap_mbcache_load(struct storage *s, uint32_t mailbox_id,
				      struct imap_view *v,
				      struct storage_mailbox *mbox_r,
				      uint32_t *first_unseen_r,
				      const char **error_r);

/* Snapshot files go to HOME/cache (imap_mbsnap.h); without a call, none
 * are read or written. */
void imap_mbcache_init(const char *home);

/* A fresh worker's head start, for its idle moments (after the login
 * reply went out, while the client's next command is in flight): loads
 * one of the snapshots the last worker left, the newest first, at most
 * IMAP_MBCACHE_ENTRIES and into free slots only, each brought up to the
 * store's state as a SELECT would. The first SELECT of those mailboxes
 * then finds the list ready. true while there may be more to load. */
bool imap_mbcache_warm(struct storage *s);

/* Drops mailbox_id's list and snapshot file (DELETE: ids are never
 * reused, so it would never be read again). */
void imap_mbcache_forget(uint32_t mailbox_id);

/* Writes the snapshots still to write and frees every entry (worker
 * exit). */
void imap_mbcache_clear(void);

#endif
