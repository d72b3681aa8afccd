#ifndef POSTERN_IMAP_SYNC_H
#define POSTERN_IMAP_SYNC_H
/* Keeping a session's view of its selected mailbox in step with the store,
 * and the session helpers command handlers share: sequence sets against
 * the view, flag lists, unsolicited FETCH. Private to imap/.
 *
 * When updates go out (RFC 9051 5.2, 7.5.2; RFC 7162 3.2.10):
 * - imap_command_run arms a sync for every command; it runs inside
 *   client_send_tagged just before the command's tagged OK or NO (not BAD),
 *   so untagged EXISTS / EXPUNGE / VANISHED / FETCH come before it.
 *   FETCH, STORE and SEARCH (not their UID forms) run with
 *   IMAP_SYNC_NO_EXPUNGE: expunges found then stay in the view (marked
 *   "gone") until a later command may announce them.
 * - In IDLE every change wakes the session at once (storage notify fd).
 * - Without a command in progress nothing is sent. */
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "imap_client.h"
#include "imap_seqset.h"
#include "storage.h"
#include "str.h"

#define IMAP_SYNC_NO_EXPUNGE 0x1u /* hold back EXPUNGE / VANISHED */

/* Reads the changes since c->highestmodseq and queues the responses:
 * EXPUNGE (or VANISHED with QRESYNC) unless flags forbid, then "n EXISTS"
 * for new messages, then "* n FETCH (UID u FLAGS (..) [MODSEQ (m)])" for
 * messages whose flags changed since last reported. A selected mailbox
 * that was deleted ends the session (BYE). No-op when nothing is
 * selected. */
void imap_sync(struct client *c, unsigned flags);

/* After a commit anywhere (storage notify fd): syncs and flushes every
 * idling session. */
void imap_sync_notify(void);

/* Fills c's view from a fresh snapshot (SELECT/EXAMINE) and sets
 * c->mailbox_id, uidvalidity, uidnext, highestmodseq (not c->selected).
 * *first_unseen_r: sequence number of the first message without \Seen, 0
 * if none. 0, or -1 with *code_r (response code) and *error_r set. */
int imap_sync_load(struct client *c, uint32_t mailbox_id,
		   struct storage_mailbox *mbox_r, uint32_t *first_unseen_r,
		   const char **code_r, const char **error_r);
/* Forgets the selected mailbox (view, keywords, SEARCHRES). */
void imap_sync_unload(struct client *c);

/* Parses text as a sequence set and resolves it against c's view
 * (imap_seqset_resolve with c's UIDNEXT and SEARCHRES). 0, or -1 with a
 * reason for "BAD". */
int imap_sync_seqset(struct client *c, struct str text, bool uid,
		     struct imap_seqset *seqs_r, const char **error_r);

/* The selected mailbox's keyword table, re-read from the store if
 * keywords has a bit the cached table lacks (pass 0 to just get it).
 * NULL if it cannot be read. */
const struct storage_keywords *imap_sync_keywords(struct client *c,
						  uint64_t keywords);
/* The STORAGE_FLAG_* bit of a system flag name ("\Seen", any case), or 0
 * (\Recent, unknown names). */
uint32_t imap_sync_system_flag(struct str name);
/* Appends "(\Seen $Label ...)" for flags/keywords. 0, or -1 on overflow
 * or when the keyword table cannot be read. */
int imap_sync_write_flags(struct client *c, struct buf *out, uint32_t flags,
			  uint64_t keywords);
/* Queues "* seq FETCH (UID u FLAGS (...) MODSEQ (m))" (MODSEQ with
 * CONDSTORE) for m and records it as reported (imap_sync_reported). */
void imap_sync_send_flags(struct client *c, uint32_t seq,
			  const struct storage_msg *m);
/* Queues "* VANISHED [(EARLIER) ]uid-set" lines for uids[0..n)
 * (ascending), each line of bounded length. */
void imap_sync_send_vanished(struct client *c, const uint32_t *uids, size_t n,
			     bool earlier);
/* Records that the client now knows m's state (after STORE / a FETCH that
 * set \Seen sent FLAGS), so the next sync does not repeat it. */
void imap_sync_reported(struct client *c, const struct storage_msg *m);

/* Enables CONDSTORE (a CONDSTORE-enabling command: FETCH MODSEQ /
 * CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE, ENABLE). The first
 * time while a mailbox is selected it queues "* OK [HIGHESTMODSEQ n]"
 * (RFC 7162 3.1). */
void imap_sync_enable_condstore(struct client *c);

/* qsort order of struct storage_msg by UID. */
int imap_msg_uid_cmp(const void *a, const void *b);

/* The response code for a storage result ("NONEXISTENT", "TRYCREATE"...
 * see storage_result_code), for "tag NO [code] text". */
const char *imap_sync_code(enum storage_result r);

#endif
