/* Session <-> store synchronisation: turning the store's change list
 * (storage_changes since the modseq the session last saw) into the
 * untagged responses RFC 9051 and RFC 7162 allow at this point. The view
 * changes only here, so sequence numbers are consistent with everything
 * the client has been told. */
#include "imap_sync.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "imap_mbcache.h"
#include "imap_vec.h"
#include "imap_worker.h"
#include "log.h"

/* VANISHED lines are split so no one line grows past this. */
#define SYNC_VANISHED_LINE_MAX 8000
/* Output one sync may queue before it stops and leaves the rest for the
 * next sync point (a change to 100k messages must not overflow the output
 * buffer of a client that does read). */
#define SYNC_OUTPUT_BUDGET (CLIENT_OUTPUT_MAX / 2)
/* Expunges announced between budget checks. */
#define SYNC_EXPUNGE_CHUNK 1000

struct sync_changes {
	const struct imap_view *view;
	uint32_t *expunged; /* UIDs in the view */
	size_t nexpunged, expunged_cap;
	struct storage_msg *changed; /* messages in the view, new state */
	size_t nchanged, changed_cap;
	struct storage_msg *added; /* not yet in the view */
	size_t nadded, added_cap;
	bool nomem;
};

static int push_msg(struct storage_msg **v, size_t *n, size_t *cap,
		    const struct storage_msg *m)
{
	struct storage_msg *nv = imap_grow(*v, cap, *n, sizeof(**v));

	if (nv == NULL)
		return -1;
	*v = nv;
	nv[(*n)++] = *m;
	return 0;
}

static int change_cb(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct sync_changes *sc = ctx;
	const struct imap_view *v = sc->view;
	uint32_t seq = imap_view_seq(v, m->uid);
	int r = 0;

	if (expunged) {
		if (seq == 0 || imap_view_is_gone(v, m->uid))
			return 0;
		if (imap_u32_push(&sc->expunged, &sc->nexpunged,
				  &sc->expunged_cap, m->uid) < 0) {
			sc->nomem = true;
			return 1;
		}
	} else if (seq != 0) {
		if (m->modseq > imap_view_reported(v, m->uid) &&
		    !imap_view_is_gone(v, m->uid))
			r = push_msg(&sc->changed, &sc->nchanged,
				     &sc->changed_cap, m);
	} else if (v->count == 0 || m->uid > v->uids[v->count - 1]) {
		r = push_msg(&sc->added, &sc->nadded, &sc->added_cap, m);
	}
	/* else: older than the view yet unknown to it; cannot happen, as
	 * UIDs are assigned ascending and the view started complete */
	if (r < 0) {
		sc->nomem = true;
		return 1;
	}
	return 0;
}

int imap_msg_uid_cmp(const void *a, const void *b)
{
	const struct storage_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void send_expunge(void *ctx, uint32_t seq, uint32_t uid)
{
	struct client *c = ctx;

	(void)uid;
	client_send(c, "* %" PRIu32 " EXPUNGE", seq);
}

void imap_sync_send_vanished(struct client *c, const uint32_t *uids, size_t n,
			     bool earlier)
{
	struct buf line;
	size_t i = 0;

	buf_init(&line, SYNC_VANISHED_LINE_MAX + 64);
	while (i < n) {
		size_t j = i;

		buf_clear(&line);
		/* a chunk of at most ~700 ranges stays under the line max */
		while (j < n && j - i < 700)
			j++;
		if (imap_seqset_write_uids(&line, uids + i, j - i) < 0) {
			client_quit(c, "out of memory");
			break;
		}
		client_send(c, "* VANISHED %s%s", earlier ? "(EARLIER) " : "",
			    buf_cstr(&line));
		i = j;
	}
	buf_deinit(&line);
}

/* Whether the output is over budget even after writing what the socket
 * takes now. */
static bool over_budget(struct client *c)
{
	if (c->out.len < SYNC_OUTPUT_BUDGET)
		return false;
	client_flush(c);
	return c->out.len >= SYNC_OUTPUT_BUDGET || c->broken;
}

/* Announces and removes the messages marked gone, the highest first, in
 * chunks while the output budget lasts. false if some are left. */
static bool announce_gone(struct client *c)
{
	struct imap_view *v = &c->view;

	while (v->ngone > 0) {
		size_t n = v->ngone < SYNC_EXPUNGE_CHUNK ? v->ngone
							 : SYNC_EXPUNGE_CHUNK;

		if (over_budget(c))
			return false;
		if (c->qresync) {
			imap_sync_send_vanished(c, v->gone + v->ngone - n, n,
						false);
			n -= imap_view_remove_gone(v, n, NULL, NULL);
		} else {
			n -= imap_view_remove_gone(v, n, send_expunge, c);
		}
		if (n != 0) {
			/* the client was told (or must be told) more than
			 * the view could take */
			client_quit(c, "out of memory");
			return true;
		}
	}
	return true;
}

/* Applies the changes; false if the output budget cut it short (the
 * caller then keeps its modseq, so the next sync reads them again: the
 * view's per-message modseqs make that idempotent). */
static bool sync_apply(struct client *c, struct sync_changes *sc,
		       unsigned flags)
{
	struct imap_view *v = &c->view;
	bool complete = true;
	size_t before;

	if (sc->nexpunged > 0) {
		qsort(sc->expunged, sc->nexpunged, sizeof(*sc->expunged),
		      imap_u32_cmp);
		if (imap_view_add_gone(v, sc->expunged, sc->nexpunged) < 0) {
			client_quit(c, "out of memory");
			return true;
		}
	}
	if ((flags & IMAP_SYNC_NO_EXPUNGE) == 0 && !announce_gone(c))
		complete = false;
	before = v->count;
	if (sc->nadded > 1)
		qsort(sc->added, sc->nadded, sizeof(*sc->added),
		      imap_msg_uid_cmp);
	for (size_t i = 0; i < sc->nadded; i++) {
		if (imap_view_append(v, sc->added[i].uid, sc->added[i].modseq) <
		    0) {
			client_quit(c, "out of memory");
			return true;
		}
	}
	if (v->count != before)
		client_send(c, "* %zu EXISTS", v->count);
	if (sc->nchanged > 1)
		qsort(sc->changed, sc->nchanged, sizeof(*sc->changed),
		      imap_msg_uid_cmp);
	for (size_t i = 0; i < sc->nchanged; i++) {
		uint32_t seq = imap_view_seq(v, sc->changed[i].uid);

		if (over_budget(c))
			return false;
		if (seq != 0)
			imap_sync_send_flags(c, seq, &sc->changed[i]);
	}
	return complete;
}

/* One read of a mailbox's changes shared by every idling session that
 * wakes at the same commit: within one imap_sync_notify pass this process
 * commits nothing, so sessions at the same mailbox and modseq would read
 * the same list (one transaction instead of one per session). */
struct change_item {
	struct storage_msg m;
	bool expunged;
};
static struct {
	bool active, valid;
	uint32_t mailbox_id;
	uint64_t since;
	enum storage_result r;
	struct storage_mailbox mb;
	struct change_item *v;
	size_t n, cap;
	bool nomem;
} pass;

static int pass_collect_cb(void *ctx, const struct storage_msg *m,
			   bool expunged)
{
	struct change_item *nv = imap_grow(pass.v, &pass.cap, pass.n,
					   sizeof(*nv));

	(void)ctx;
	if (nv == NULL) {
		pass.nomem = true;
		return 1;
	}
	pass.v = nv;
	nv[pass.n].m = *m;
	nv[pass.n].expunged = expunged;
	pass.n++;
	return 0;
}

static void pass_reset(void)
{
	free(pass.v);
	memset(&pass, 0, sizeof(pass));
}

/* storage_changes for c's view, through the pass cache when one runs. */
static enum storage_result sync_read(struct client *c, struct sync_changes *sc,
				     struct storage_mailbox *mb,
				     const char **error_r)
{
	if (!pass.active)
		return storage_changes(worker.store, c->mailbox_id,
				       c->highestmodseq, change_cb, sc, mb,
				       error_r);
	if (!pass.valid || pass.mailbox_id != c->mailbox_id ||
	    pass.since != c->highestmodseq) {
		pass.n = 0;
		pass.nomem = false;
		pass.mailbox_id = c->mailbox_id;
		pass.since = c->highestmodseq;
		pass.r = storage_changes(worker.store, c->mailbox_id,
					 c->highestmodseq, pass_collect_cb,
					 NULL, &pass.mb, error_r);
		pass.valid = pass.r == STORAGE_OK && !pass.nomem;
		if (pass.r == STORAGE_OK && pass.nomem) {
			*error_r = "Out of memory";
			return STORAGE_ERR_SERVERBUG;
		}
		if (pass.r != STORAGE_OK)
			return pass.r;
	}
	*mb = pass.mb;
	for (size_t i = 0; i < pass.n; i++) {
		if (change_cb(sc, &pass.v[i].m, pass.v[i].expunged) != 0)
			break;
	}
	return STORAGE_OK;
}

void imap_sync(struct client *c, unsigned flags)
{
	struct sync_changes sc;
	struct storage_mailbox mb;
	enum storage_result r;
	const char *error;
	uint64_t seq;

	if (!c->selected || c->quit_reason != NULL)
		return;
	/* nothing committed since the view was complete, nothing held
	 * back to announce: the store has nothing to tell */
	seq = storage_change_seq(worker.store);
	if (c->sync_seq_valid && seq == c->sync_seq && !c->sync_more &&
	    (c->view.ngone == 0 || (flags & IMAP_SYNC_NO_EXPUNGE) != 0))
		return;
	c->sync_seq_valid = false; /* until a complete sync below */
	memset(&sc, 0, sizeof(sc));
	sc.view = &c->view;
	r = sync_read(c, &sc, &mb, &error);
	if (r == STORAGE_ERR_NONEXISTENT) {
		/* deleted (or renamed away and replaced) under us */
		client_send(c, "* BYE Selected mailbox was deleted");
		client_quit(c, "selected mailbox deleted");
	} else if (r != STORAGE_OK) {
		clog_error(&c->log, "reading mailbox changes: %s", error);
	} else if (sc.nomem) {
		client_quit(c, "out of memory");
	} else {
		bool complete = sync_apply(c, &sc, flags);

		/* the session has now seen every change up to mb's state;
		 * cut short, the next sync reads from the old point again */
		if (complete) {
			c->highestmodseq = mb.highestmodseq;
			imap_view_prune_reported(&c->view, c->highestmodseq);
		}
		c->sync_more = !complete;
		c->sync_seq = seq;
		c->sync_seq_valid = complete;
		c->uidnext = mb.uidnext;
	}
	free(sc.expunged);
	free(sc.changed);
	free(sc.added);
}

void imap_sync_notify(void)
{
	struct client *c, *next;

	storage_notify_drain(worker.store);
	pass.active = true;
	for (c = worker.clients; c != NULL; c = next) {
		next = c->next;
		if (c->idle_tag == NULL || !c->selected ||
		    c->quit_reason != NULL)
			continue;
		imap_sync(c, 0);
		client_flush(c);
		if (c->quit_reason != NULL && !client_output_pending(c))
			client_destroy(c, c->quit_reason);
	}
	pass_reset();
}

int imap_sync_load(struct client *c, uint32_t mailbox_id,
		   struct storage_mailbox *mbox_r, uint32_t *first_unseen_r,
		   const char **code_r, const char **error_r)
{
	uint32_t first_unseen;
	enum storage_result r;
	/* read before the snapshot: a commit racing with it moves it */
	uint64_t seq = storage_change_seq(worker.store);

	imap_sync_unload(c);
	r = imap_mbcache_load(worker.store, mailbox_id, &c->view, mbox_r,
			      &first_unseen, error_r);
	if (r != STORAGE_OK) {
		*code_r = imap_sync_code(r);
		return -1;
	}
	c->mailbox_id = mailbox_id;
	c->uidvalidity = mbox_r->uidvalidity;
	c->uidnext = mbox_r->uidnext;
	c->highestmodseq = mbox_r->highestmodseq;
	c->sync_seq = seq;
	c->sync_seq_valid = true;
	if (first_unseen_r != NULL)
		*first_unseen_r = first_unseen;
	return 0;
}

void imap_sync_unload(struct client *c)
{
	imap_view_clear(&c->view);
	free(c->keywords);
	c->keywords = NULL;
	c->keywords_none = false;
	free(c->searchres);
	c->searchres = NULL;
	c->nsearchres = 0;
	c->mailbox_id = 0;
	c->selected = false;
	c->sync_seq_valid = false;
	c->sync_more = false;
}

int imap_sync_seqset(struct client *c, struct str text, bool uid,
		     struct imap_seqset *seqs_r, const char **error_r)
{
	struct imap_seqset set;
	struct imap_seqset_ctx ctx = {
		.view = &c->view,
		.uidnext = c->uidnext,
		.saved = c->searchres,
		.nsaved = c->nsearchres,
	};
	int ret;

	if (imap_seqset_parse(text, &set, error_r) < 0) {
		memset(seqs_r, 0, sizeof(*seqs_r));
		return -1;
	}
	ret = imap_seqset_resolve(&set, &ctx, uid, seqs_r, error_r);
	imap_seqset_free(&set);
	return ret;
}

const struct storage_keywords *imap_sync_keywords(struct client *c,
						  uint64_t keywords)
{
	unsigned need = 0;
	const char *error;

	for (unsigned i = 0; i < 64; i++) {
		if ((keywords & ((uint64_t)1 << i)) != 0)
			need = i + 1;
	}
	/* the full table is 8 KB; a session keeps only the names in use (most
	 * mailboxes have none), in one process-wide scratch while reading */
	static struct storage_keywords scratch;
	static const struct storage_keywords none;
	struct storage_keywords *kw;
	size_t size;

	if (c->keywords != NULL && c->keywords->count >= need)
		return c->keywords;
	if (c->keywords == NULL && need == 0 && c->keywords_none)
		return &none;
	if (storage_keywords_get(worker.store, c->mailbox_id, &scratch,
				 &error) != STORAGE_OK)
		return NULL;
	free(c->keywords);
	c->keywords = NULL;
	c->keywords_none = scratch.count == 0;
	if (scratch.count == 0)
		return &none;
	size = offsetof(struct storage_keywords, names) +
	       scratch.count * sizeof(scratch.names[0]);
	kw = malloc(size);
	if (kw == NULL)
		return NULL;
	memcpy(kw, &scratch, size);
	c->keywords = kw;
	return kw;
}

static const struct {
	uint32_t bit;
	const char *name;
} sys_flags[] = {
	{STORAGE_FLAG_SEEN, "\\Seen"},
	{STORAGE_FLAG_ANSWERED, "\\Answered"},
	{STORAGE_FLAG_FLAGGED, "\\Flagged"},
	{STORAGE_FLAG_DELETED, "\\Deleted"},
	{STORAGE_FLAG_DRAFT, "\\Draft"},
};

uint32_t imap_sync_system_flag(struct str name)
{
	for (size_t i = 0; i < N_ELEMENTS(sys_flags); i++) {
		if (str_eq_ci(name, sys_flags[i].name))
			return sys_flags[i].bit;
	}
	return 0;
}

int imap_sync_write_flags(struct client *c, struct buf *out, uint32_t flags,
			  uint64_t keywords)
{
	const struct storage_keywords *kw = NULL;
	bool first = true;

	if (keywords != 0 && (kw = imap_sync_keywords(c, keywords)) == NULL)
		return -1;
	if (buf_append(out, "(", 1) < 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(sys_flags); i++) {
		if ((flags & sys_flags[i].bit) == 0)
			continue;
		if (buf_printf(out, "%s%s", first ? "" : " ",
			       sys_flags[i].name) < 0)
			return -1;
		first = false;
	}
	for (unsigned i = 0; kw != NULL && i < kw->count && i < 64; i++) {
		if ((keywords & ((uint64_t)1 << i)) == 0)
			continue;
		if (buf_printf(out, "%s%s", first ? "" : " ", kw->names[i]) < 0)
			return -1;
		first = false;
	}
	return buf_append(out, ")", 1);
}

void imap_sync_send_flags(struct client *c, uint32_t seq,
			  const struct storage_msg *m)
{
	struct buf line;

	/* 5 system flags + 64 keywords of at most 128 bytes */
	buf_init(&line, 16 * 1024);
	if (buf_printf(&line, "* %" PRIu32 " FETCH (UID %" PRIu32 " FLAGS ",
		       seq, m->uid) < 0 ||
	    imap_sync_write_flags(c, &line, m->flags, m->keywords) < 0 ||
	    (c->condstore &&
	     buf_printf(&line, " MODSEQ (%" PRIu64 ")", m->modseq) < 0) ||
	    buf_append(&line, ")", 1) < 0) {
		clog_error(&c->log, "cannot format flags of uid=%" PRIu32,
			   m->uid);
	} else {
		client_send(c, "%s", buf_cstr(&line));
	}
	buf_deinit(&line);
	imap_sync_reported(c, m);
}

void imap_sync_reported(struct client *c, const struct storage_msg *m)
{
	/* at or below the sync point, no sync will read it again */
	if (m->modseq > c->highestmodseq &&
	    imap_view_seq(&c->view, m->uid) != 0)
		(void)imap_view_note_reported(&c->view, m->uid, m->modseq);
}

void imap_sync_enable_condstore(struct client *c)
{
	if (c->condstore)
		return;
	c->condstore = true;
	if (c->selected)
		client_send(c, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
			    c->highestmodseq);
}

const char *imap_sync_code(enum storage_result r)
{
	const char *code = storage_result_code(r);

	return code != NULL ? code : "SERVERBUG";
}
