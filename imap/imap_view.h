#ifndef POSTERN_IMAP_VIEW_H
#define POSTERN_IMAP_VIEW_H
/* A session's view of its selected mailbox: the messages the client has
 * been told about, in sequence-number order. Message n (1-based) is
 * uids[n - 1]; UIDs ascend. The view changes only at sync points
 * (imap_sync.h), so sequence numbers a command resolved stay valid for the
 * whole command. The UIDs are a shared list (imap_uidlist.h), copied only
 * when this view changes. Private to imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_uidlist.h"

/* A message whose state was reported to the client (FETCH, STORE, a sync
 * cut short) at a modseq above the session's sync point. */
struct imap_view_reported {
	uint32_t uid;
	uint64_t modseq;
};

struct imap_view {
	/* list->uids and list->count (NULL/0 without a list), kept here for
	 * the readers; read-only outside imap_view.c */
	const uint32_t *uids;
	size_t count;
	struct imap_uidlist *list;
	/* Ascending by UID. Every other message's last reported state is
	 * at or below the session's sync point, so a change read since then
	 * is news to the client; this lets a sync skip what a FETCH already
	 * told, without a modseq per message (imap_view_prune_reported). */
	struct imap_view_reported *rep;
	size_t nrep, rep_cap;
	/* Messages already expunged in the store that stay in the view until
	 * an EXPUNGE may be sent (never during FETCH, STORE, SEARCH). Sorted
	 * ascending, each also in uids. */
	uint32_t *gone;
	size_t ngone, gone_cap;
};

/* Accepts a zeroed view. Frees everything and leaves it zeroed. */
void imap_view_clear(struct imap_view *v);

/* Starts the empty view v on list (v takes a new reference). */
void imap_view_set(struct imap_view *v, struct imap_uidlist *list);

/* The UID of message seq (1 <= seq <= count). */
static inline uint32_t imap_view_uid(const struct imap_view *v, uint32_t seq)
{
	return v->uids[seq - 1];
}

/* The sequence number of uid, or 0 if the view does not hold it. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
/* The 0-based index of the first message with UID >= uid (count if none). */
size_t imap_view_lower_bound(const struct imap_view *v, uint32_t uid);

/* Appends a message, reported at modseq; uid must be larger than every UID
 * in the view. 0, or -1 on allocation failure (view unchanged). */
int imap_view_append(struct imap_view *v, uint32_t uid, uint64_t modseq);

/* The modseq uid's state was reported at, if above the sync point; else
 * 0. */
uint64_t imap_view_reported(const struct imap_view *v, uint32_t uid);
/* Records that uid's state at modseq was reported (keeps the larger). 0,
 * or -1 on allocation failure (nothing recorded: the next sync may report
 * that state again, which is harmless). */
int imap_view_note_reported(struct imap_view *v, uint32_t uid,
			    uint64_t modseq);
/* Forgets what was reported at or below modseq: the sync point moved
 * there. */
void imap_view_prune_reported(struct imap_view *v, uint64_t modseq);

/* Whether uid is recorded as expunged-but-not-yet-announced. */
bool imap_view_is_gone(const struct imap_view *v, uint32_t uid);
/* Records uids[0..n) (ascending, each in the view) as expunged in the
 * store; duplicates of UIDs already recorded are fine. 0, or -1 on
 * allocation failure (nothing recorded). */
int imap_view_add_gone(struct imap_view *v, const uint32_t *uids, size_t n);

/* Removes the max (0: all) highest-numbered messages marked gone. For
 * each, in descending sequence order (so every number is valid when the
 * client applies it), calls cb(ctx, seq, uid) (cb may be NULL) before it
 * is removed. Returns how many were removed; fewer than asked only if a
 * private copy of a shared list could not be allocated (nothing removed,
 * none announced). */
typedef void imap_view_expunge_cb_t(void *ctx, uint32_t seq, uint32_t uid);
size_t imap_view_remove_gone(struct imap_view *v, size_t max,
			     imap_view_expunge_cb_t *cb, void *ctx);

#endif
