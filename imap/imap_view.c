/* The sequence-number map of a selected mailbox: a shared UID list (4
 * bytes a message, nothing of its own until the view changes) and the few
 * messages reported above the sync point. */
#include "imap_view.h"
#include "imap_vec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void view_mirror(struct imap_view *v)
{
	v->uids = v->list != NULL ? v->list->uids : NULL;
	v->count = v->list != NULL ? v->list->count : 0;
}

void imap_view_clear(struct imap_view *v)
{
	imap_uidlist_unref(&v->list);
	free(v->rep);
	free(v->gone);
	memset(v, 0, sizeof(*v));
}

void imap_view_set(struct imap_view *v, struct imap_uidlist *list)
{
	imap_uidlist_unref(&v->list);
	v->list = imap_uidlist_ref(list);
	view_mirror(v);
}

size_t imap_view_lower_bound(const struct imap_view *v, uint32_t uid)
{
	return imap_u32_lower_bound(v->uids, v->count, uid);
}

uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t i = imap_view_lower_bound(v, uid);

	if (i == v->count || v->uids[i] != uid)
		return 0;
	return (uint32_t)(i + 1);
}

int imap_view_append(struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	/* a mailbox never holds more than UINT32_MAX messages */
	if ((v->count > 0 && uid <= v->uids[v->count - 1]) ||
	    v->count >= UINT32_MAX)
		return -1;
	/* recorded first: failing there leaves the view as it was */
	if (imap_view_note_reported(v, uid, modseq) < 0 ||
	    imap_uidlist_own(&v->list, v->count + 1) < 0)
		return -1;
	v->list->uids[v->list->count++] = uid;
	view_mirror(v);
	return 0;
}

static size_t rep_lower_bound(const struct imap_view *v, uint32_t uid)
{
	return imap_lower_bound_by(v->rep, v->nrep, sizeof(*v->rep),
				   offsetof(struct imap_view_reported, uid),
				   uid);
}

uint64_t imap_view_reported(const struct imap_view *v, uint32_t uid)
{
	size_t i = rep_lower_bound(v, uid);

	return i < v->nrep && v->rep[i].uid == uid ? v->rep[i].modseq : 0;
}

int imap_view_note_reported(struct imap_view *v, uint32_t uid,
			    uint64_t modseq)
{
	/* FETCH and new messages come in UID order: mostly an append */
	size_t i = v->nrep > 0 && v->rep[v->nrep - 1].uid < uid
			   ? v->nrep
			   : rep_lower_bound(v, uid);
	struct imap_view_reported *nr;

	if (i < v->nrep && v->rep[i].uid == uid) {
		if (modseq > v->rep[i].modseq)
			v->rep[i].modseq = modseq;
		return 0;
	}
	nr = imap_grow(v->rep, &v->rep_cap, v->nrep, sizeof(*nr));
	if (nr == NULL)
		return -1;
	v->rep = nr;
	memmove(nr + i + 1, nr + i, (v->nrep - i) * sizeof(*nr));
	nr[i].uid = uid;
	nr[i].modseq = modseq;
	v->nrep++;
	return 0;
}

void imap_view_prune_reported(struct imap_view *v, uint64_t modseq)
{
	size_t w = 0;

	for (size_t r = 0; r < v->nrep; r++) {
		if (v->rep[r].modseq > modseq)
			v->rep[w++] = v->rep[r];
	}
	v->nrep = w;
	/* a burst of new messages leaves a big empty array behind */
	if (w == 0 && v->rep_cap > 1024) {
		free(v->rep);
		v->rep = NULL;
		v->rep_cap = 0;
	}
}

bool imap_view_is_gone(const struct imap_view *v, uint32_t uid)
{
	return imap_u32_has(v->gone, v->ngone, uid);
}

int imap_view_add_gone(struct imap_view *v, const uint32_t *uids, size_t n)
{
	size_t total, a, b, w;
	uint32_t *merged;

	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof(*merged) - v->ngone)
		return -1;
	total = v->ngone + n;
	merged = malloc(total * sizeof(*merged));
	if (merged == NULL)
		return -1;
	/* merge two sorted lists, dropping duplicates */
	for (a = 0, b = 0, w = 0; a < v->ngone || b < n;) {
		uint32_t x;

		if (b == n || (a < v->ngone && v->gone[a] <= uids[b]))
			x = v->gone[a++];
		else
			x = uids[b++];
		if (w == 0 || merged[w - 1] != x)
			merged[w++] = x;
	}
	free(v->gone);
	v->gone = merged;
	v->ngone = w;
	v->gone_cap = total;
	return 0;
}

size_t imap_view_remove_gone(struct imap_view *v, size_t max,
			     imap_view_expunge_cb_t *cb, void *ctx)
{
	size_t w = 0, first, g;
	uint32_t *u;

	if (v->ngone == 0)
		return 0;
	if (imap_uidlist_own(&v->list, v->count) < 0)
		return 0;
	view_mirror(v);
	if (max == 0 || max > v->ngone)
		max = v->ngone;
	first = v->ngone - max; /* gone[first..ngone) go now */
	/* announce from the top, so each number is valid when applied */
	for (size_t k = v->ngone; k > first; k--) {
		uint32_t seq = imap_view_seq(v, v->gone[k - 1]);

		if (seq != 0 && cb != NULL)
			cb(ctx, seq, v->gone[k - 1]);
	}
	/* then compact in one pass: both arrays are sorted */
	u = v->list->uids;
	g = first;
	for (size_t r = 0; r < v->count; r++) {
		while (g < v->ngone && v->gone[g] < u[r])
			g++;
		if (g < v->ngone && v->gone[g] == u[r])
			continue;
		u[w++] = u[r];
	}
	v->list->count = w;
	v->ngone = first;
	view_mirror(v);
	return max;
}
