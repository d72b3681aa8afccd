/* Cached message lists: per mailbox the UIDs and a \Seen bit, at a known
 * HIGHESTMODSEQ. A load reads the changes since then (new messages, flag
 * changes, expunges; one transaction, cost in proportion to the changes)
 * and applies them, then hands the session's view a reference to the UID
 * list: nothing is copied until one side changes (imap_uidlist.h). A miss
 * lists the whole mailbox once (storage_msg_scan) and keeps it if it is
 * big. A big list is also
 * written to a snapshot file (imap_mbsnap) a second after a full listing
 * (from the event loop, not before the reply) and when it leaves the cache
 * (eviction, worker exit), so that a fresh worker starts from the snapshot
 * and reads only the changes since. */
#include "imap_mbcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "imap_mbsnap.h"
#include "imap_sync.h"
#include "imap_vec.h"
#include "ioloop.h"
#include "log.h"

/* A list filled from the store is written this long after, not before the
 * SELECT's reply (about 2 ms for 100,000 messages). */
#define MBCACHE_SAVE_DELAY_MS 1000

struct mbcache_entry {
	uint32_t mailbox_id; /* 0: free slot */
	uint32_t uidvalidity;
	uint64_t highestmodseq;
	uint64_t saved_modseq; /* what the snapshot file holds (0: none) */
	uint64_t last_use;
	struct imap_uidlist *list;
	/* list->count bytes, 0 or 1; inside list's mapping (not ours to
	 * write) while seen_cap is 0 */
	unsigned char *seen;
	size_t seen_cap;
};

static size_t entry_count(const struct mbcache_entry *e)
{
	return e->list != NULL ? e->list->count : 0;
}

static struct mbcache_entry cache[IMAP_MBCACHE_ENTRIES];
static uint64_t use_clock;
static char *snap_home; /* NULL: no snapshot files */
static struct timer *save_timer; /* lists filled, snapshots not yet written */

void imap_mbcache_init(const char *home)
{
	free(snap_home);
	snap_home = home != NULL ? strdup(home) : NULL;
}

/* Writes e's snapshot unless the file already holds this state. Never on
 * a command's hot path: after a full listing and when e leaves. */
static void entry_save(struct mbcache_entry *e)
{
	struct imap_mbsnap sn;

	if (snap_home == NULL || e->mailbox_id == 0 ||
	    entry_count(e) < IMAP_MBCACHE_MIN_MESSAGES ||
	    entry_count(e) > IMAP_MBSNAP_MAX_MESSAGES ||
	    e->highestmodseq == e->saved_modseq)
		return;
	sn.mailbox_id = e->mailbox_id;
	sn.uidvalidity = e->uidvalidity;
	sn.highestmodseq = e->highestmodseq;
	sn.count = entry_count(e);
	sn.uids = e->list->uids;
	sn.seen = e->seen;
	if (imap_mbsnap_write(snap_home, &sn) == 0)
		e->saved_modseq = e->highestmodseq;
}

static void entry_free(struct mbcache_entry *e)
{
	if (e->seen_cap > 0)
		free(e->seen);
	imap_uidlist_unref(&e->list);
	memset(e, 0, sizeof(*e));
}

static void save_due(void *ctx)
{
	(void)ctx;
	save_timer = NULL; /* freed by the loop after this call */
	for (size_t i = 0; i < IMAP_MBCACHE_ENTRIES; i++) {
		if (cache[i].saved_modseq == 0)
			entry_save(&cache[i]);
	}
}

void imap_mbcache_clear(void)
{
	timer_remove(&save_timer);
	for (size_t i = 0; i < IMAP_MBCACHE_ENTRIES; i++) {
		entry_save(&cache[i]);
		entry_free(&cache[i]);
	}
	free(snap_home);
	snap_home = NULL;
}

static struct mbcache_entry *entry_find(uint32_t id)
{
	for (size_t i = 0; i < IMAP_MBCACHE_ENTRIES; i++) {
		if (cache[i].mailbox_id == id)
			return &cache[i];
	}
	return NULL;
}

void imap_mbcache_forget(uint32_t mailbox_id)
{
	struct mbcache_entry *e = entry_find(mailbox_id);

	if (e != NULL)
		entry_free(e);
	if (snap_home != NULL)
		imap_mbsnap_remove(snap_home, mailbox_id);
}

/* A free slot, or the least recently used one emptied. */
static struct mbcache_entry *entry_free_slot(void)
{
	for (size_t i = 0; i < IMAP_MBCACHE_ENTRIES; i++) {
		if (cache[i].mailbox_id == 0)
			return &cache[i];
	}
	return NULL;
}

static struct mbcache_entry *entry_slot(void)
{
	struct mbcache_entry *lru = entry_free_slot();

	if (lru != NULL)
		return lru;
	lru = &cache[0];
	for (size_t i = 1; i < IMAP_MBCACHE_ENTRIES; i++) {
		if (cache[i].last_use < lru->last_use)
			lru = &cache[i];
	}
	entry_save(lru);
	entry_free(lru);
	return lru;
}

/* Makes e's \Seen bytes its own and writable with room for n messages
 * (copied out of a snapshot's mapping). 0 or -1 (e unchanged). */
static int entry_own_seen(struct mbcache_entry *e, size_t n)
{
	size_t ncap = e->seen_cap == 0 ? 1024 : e->seen_cap;
	size_t count = entry_count(e);
	unsigned char *p;

	if (n <= e->seen_cap)
		return 0;
	while (ncap < n) {
		if (ncap > SIZE_MAX / 2)
			return -1;
		ncap *= 2;
	}
	if (e->seen_cap > 0)
		p = realloc(e->seen, ncap);
	else if ((p = malloc(ncap)) != NULL && count > 0)
		memcpy(p, e->seen, count);
	if (p == NULL)
		return -1;
	e->seen = p;
	e->seen_cap = ncap;
	return 0;
}

/* Makes e's list and \Seen bytes its own and writable with room for n
 * messages (sessions keep the list they were given). 0 or -1 (e
 * unchanged). */
static int entry_reserve(struct mbcache_entry *e, size_t n)
{
	/* the \Seen bytes first: owning the list may unmap them */
	if (entry_own_seen(e, n) < 0)
		return -1;
	return imap_uidlist_own(&e->list, n);
}

static int entry_push(struct mbcache_entry *e, const struct storage_msg *m)
{
	size_t i = entry_count(e);

	if (entry_reserve(e, i + 1) < 0)
		return -1;
	e->list->uids[i] = m->uid;
	e->seen[i] = (m->flags & STORAGE_FLAG_SEEN) != 0;
	e->list->count++;
	return 0;
}

struct fill_ctx {
	struct mbcache_entry *e;
	bool nomem;
};

static int fill_cb(void *ctx, const struct storage_msg *m)
{
	struct fill_ctx *fc = ctx;

	if (entry_push(fc->e, m) < 0) {
		fc->nomem = true;
		return 1;
	}
	return 0;
}

/* Changes since the entry's modseq, sorted out while the snapshot's
 * callbacks run: expunged and new UIDs are applied afterwards in one
 * pass each, flag changes at once. */
struct refresh_ctx {
	struct mbcache_entry *e;
	uint32_t *expunged;
	size_t nexpunged, expunged_cap;
	struct storage_msg *added;
	size_t nadded, added_cap;
	bool nomem;
};

static int refresh_cb(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct refresh_ctx *rc = ctx;
	struct mbcache_entry *e = rc->e;
	size_t n = entry_count(e);
	const uint32_t *u = n > 0 ? e->list->uids : NULL;
	size_t i = imap_u32_lower_bound(u, n, m->uid);
	bool known = i < n && u[i] == m->uid;

	if (expunged) {
		if (known && imap_u32_push(&rc->expunged, &rc->nexpunged,
					   &rc->expunged_cap, m->uid) < 0)
			rc->nomem = true;
	} else if (known) {
		unsigned char seen = (m->flags & STORAGE_FLAG_SEEN) != 0;

		/* only the \Seen bytes change (never written while they lie
		 * in a read-only mapping): the list stays shared */
		if (e->seen[i] != seen) {
			if (entry_own_seen(e, n) < 0)
				rc->nomem = true;
			else
				e->seen[i] = seen;
		}
	} else {
		struct storage_msg *na = imap_grow(rc->added, &rc->added_cap,
						   rc->nadded, sizeof(*na));

		if (na == NULL)
			rc->nomem = true;
		else
			(rc->added = na)[rc->nadded++] = *m;
	}
	return rc->nomem ? 1 : 0;
}

static int refresh_apply(struct refresh_ctx *rc)
{
	struct mbcache_entry *e = rc->e;
	size_t w = 0, g = 0;

	if (rc->nexpunged > 0) {
		uint32_t *u;

		if (entry_reserve(e, entry_count(e)) < 0)
			return -1;
		u = e->list->uids;
		qsort(rc->expunged, rc->nexpunged, sizeof(*rc->expunged),
		      imap_u32_cmp);
		for (size_t r = 0; r < e->list->count; r++) {
			while (g < rc->nexpunged && rc->expunged[g] < u[r])
				g++;
			if (g < rc->nexpunged && rc->expunged[g] == u[r])
				continue;
			u[w] = u[r];
			e->seen[w] = e->seen[r];
			w++;
		}
		e->list->count = w;
	}
	/* new UIDs are above every cached one (UIDs only ascend), but the
	 * modseq order of the changes is not their UID order */
	if (rc->nadded > 1)
		qsort(rc->added, rc->nadded, sizeof(*rc->added),
		      imap_msg_uid_cmp);
	for (size_t i = 0; i < rc->nadded; i++) {
		size_t n = entry_count(e);

		if (n > 0 && rc->added[i].uid <= e->list->uids[n - 1])
			return -2; /* contradicts the store's rules: relist */
		if (entry_push(e, &rc->added[i]) < 0)
			return -1;
	}
	return 0;
}

/* Brings e up to the store's state. STORAGE_OK, or the error; e is then
 * unusable (the caller frees it). */
static enum storage_result entry_refresh(struct storage *s,
					 struct mbcache_entry *e,
					 struct storage_mailbox *mbox_r,
					 const char **error_r)
{
	struct refresh_ctx rc;
	enum storage_result r;

	memset(&rc, 0, sizeof(rc));
	rc.e = e;
	r = storage_changes(s, e->mailbox_id, e->highestmodseq, refresh_cb,
			    &rc, mbox_r, error_r);
	if (r == STORAGE_OK) {
		int a = rc.nomem ? -1 : refresh_apply(&rc);

		if (a == -2) {
			r = STORAGE_ERR_CORRUPTION;
			*error_r = "a new UID below a cached one";
		} else if (a < 0) {
			r = STORAGE_ERR_SERVERBUG;
			*error_r = "Out of memory";
		}
	}
	if (r == STORAGE_OK && entry_count(e) != mbox_r->messages) {
		r = STORAGE_ERR_CORRUPTION;
		*error_r = "cached message list disagrees with the store";
	}
	free(rc.expunged);
	free(rc.added);
	if (r == STORAGE_OK)
		e->highestmodseq = mbox_r->highestmodseq;
	return r;
}

static enum storage_result entry_fill(struct storage *s,
				      struct mbcache_entry *e, uint32_t id,
				      struct storage_mailbox *mbox_r,
				      const char **error_r)
{
	struct fill_ctx fc = {e, false};
	enum storage_result r;

	e->mailbox_id = id;
	r = storage_msg_scan(s, id, 1, UINT32_MAX, fill_cb, &fc, mbox_r,
			     error_r);
	if (r == STORAGE_OK && fc.nomem) {
		r = STORAGE_ERR_SERVERBUG;
		*error_r = "Out of memory";
	}
	if (r == STORAGE_OK) {
		e->highestmodseq = mbox_r->highestmodseq;
		e->uidvalidity = mbox_r->uidvalidity;
		if (snap_home != NULL && save_timer == NULL)
			save_timer = timer_add(MBCACHE_SAVE_DELAY_MS,
					       save_due, NULL);
	}
	return r;
}

/* Starts e from mailbox_id's snapshot file and brings it up to the store's
 * state. STORAGE_OK; NONEXISTENT (snapshot removed) or another storage
 * error to return; or CORRUPTION: no usable snapshot, e is free, list
 * from the store. */
static enum storage_result entry_from_snapshot(struct storage *s,
					       struct mbcache_entry *e,
					       uint32_t id,
					       struct storage_mailbox *mbox_r,
					       const char **error_r)
{
	struct imap_mbsnap sn;
	const char *why;
	enum storage_result r;
	uint64_t since;
	size_t n;

	if (snap_home == NULL)
		return STORAGE_ERR_CORRUPTION;
	if (imap_mbsnap_read(snap_home, id, &sn, &e->list, &why) < 0) {
		if (strcmp(why, "none") != 0)
			log_debug("mailbox %u: snapshot ignored: %s",
				  (unsigned)id, why);
		return STORAGE_ERR_CORRUPTION;
	}
	/* used where it lies, in the file's mapping, until it changes */
	e->mailbox_id = id;
	e->uidvalidity = sn.uidvalidity;
	e->highestmodseq = since = e->saved_modseq = sn.highestmodseq;
	e->seen = (unsigned char *)sn.seen;
	e->seen_cap = 0;
	/* the store keeps the expunge history as long as the mailbox exists
	 * (storage_changes), so the changes since the snapshot's modseq are
	 * complete; a snapshot from another mailbox incarnation, a restored
	 * store or a writer that lost a race fails one of these checks */
	r = entry_refresh(s, e, mbox_r, error_r);
	if (r == STORAGE_OK) {
		why = NULL;
		if (mbox_r->uidvalidity != sn.uidvalidity)
			why = "UIDVALIDITY differs";
		else if (mbox_r->highestmodseq < since)
			why = "newer than the store";
		else if ((n = entry_count(e)) > 0 &&
			 e->list->uids[n - 1] >= mbox_r->uidnext)
			why = "UID beyond UIDNEXT";
		if (why == NULL) {
			log_debug("mailbox %u: message list from its snapshot "
				  "(modseq %llu, now %llu, %zu messages)",
				  (unsigned)id, (unsigned long long)since,
				  (unsigned long long)mbox_r->highestmodseq,
				  entry_count(e));
			return STORAGE_OK;
		}
	} else if (r == STORAGE_ERR_CORRUPTION) {
		why = *error_r;
	} else {
		entry_free(e);
		if (r == STORAGE_ERR_NONEXISTENT)
			imap_mbsnap_remove(snap_home, id);
		return r;
	}
	log_debug("mailbox %u: snapshot ignored: %s", (unsigned)id, why);
	entry_free(e);
	return STORAGE_ERR_CORRUPTION;
}

bool imap_mbcache_warm(struct storage *s)
{
	static uint32_t ids[IMAP_MBCACHE_ENTRIES];
	static size_t nids, next;
	static bool listed;
	struct storage_mailbox mb;
	struct mbcache_entry *e;
	const char *error;

	if (snap_home == NULL)
		return false;
	if (!listed) {
		listed = true;
		nids = imap_mbsnap_recent(snap_home, ids, N_ELEMENTS(ids));
	}
	while (next < nids && entry_find(ids[next]) != NULL)
		next++; /* a SELECT was quicker */
	/* free slots only: what SELECTs loaded stays */
	if (next == nids || (e = entry_free_slot()) == NULL)
		return false;
	/* a failure frees e (and drops a snapshot of a mailbox gone) */
	if (entry_from_snapshot(s, e, ids[next++], &mb, &error) == STORAGE_OK)
		e->last_use = ++use_clock;
	return next < nids;
}

enum storage_result imap_mbcache_load(struct storage *s, uint32_t mailbox_id,
				      struct imap_view *v,
				      struct storage_mailbox *mbox_r,
				      uint32_t *first_unseen_r,
				      const char **error_r)
{
	struct mbcache_entry *e = entry_find(mailbox_id);
	enum storage_result r;
	bool relist = false;

	if (e != NULL) {
		r = entry_refresh(s, e, mbox_r, error_r);
		if (r != STORAGE_OK) {
			entry_free(e);
			if (r == STORAGE_ERR_NONEXISTENT && snap_home != NULL)
				imap_mbsnap_remove(snap_home, mailbox_id);
			if (r != STORAGE_ERR_CORRUPTION)
				return r;
			e = NULL; /* listed afresh below */
			relist = true;
		}
	}
	if (e == NULL) {
		e = entry_slot();
		r = relist ? STORAGE_ERR_CORRUPTION
			   : entry_from_snapshot(s, e, mailbox_id, mbox_r,
						 error_r);
		if (r == STORAGE_ERR_CORRUPTION)
			r = entry_fill(s, e, mailbox_id, mbox_r, error_r);
		if (r != STORAGE_OK) {
			entry_free(e);
			return r;
		}
	}
	e->last_use = ++use_clock;
	*first_unseen_r = 0;
	if (mbox_r->unseen > 0 && entry_count(e) > 0) {
		const unsigned char *p = memchr(e->seen, 0, entry_count(e));

		if (p != NULL)
			*first_unseen_r = (uint32_t)(p - e->seen + 1);
	}
	imap_view_set(v, e->list);
	/* small mailboxes are cheap to list: keep no list of ours (the view
	 * keeps its reference), and no snapshot that would only be read and
	 * thrown away at each SELECT */
	if (entry_count(e) < IMAP_MBCACHE_MIN_MESSAGES) {
		if (e->saved_modseq != 0 && snap_home != NULL)
			imap_mbsnap_remove(snap_home, e->mailbox_id);
		entry_free(e);
	}
	return STORAGE_OK;
}
