/* The sequence-number map of a selected mailbox. Two parallel arrays (UID,
 * last reported modseq): 12 bytes a message, so a 100,000-message mailbox
 * costs 1.2 MB per session. */
#include "imap_view.h"
#include "imap_vec.h"

#include <stdlib.h>
#include <string.h>

void imap_view_clear(struct imap_view *v)
{
	free(v->uids);
	free(v->modseqs);
	free(v->gone);
	memset(v, 0, sizeof(*v));
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

static int view_grow(struct imap_view *v)
{
	size_t ncap = v->cap == 0 ? 64 : v->cap * 2;
	uint32_t *u;
	uint64_t *m;

	/* a mailbox never holds more than UINT32_MAX messages */
	if (ncap > UINT32_MAX)
		return -1;
	u = realloc(v->uids, ncap * sizeof(*u));
	if (u == NULL)
		return -1;
	v->uids = u;
	m = realloc(v->modseqs, ncap * sizeof(*m));
	if (m == NULL)
		return -1;
	v->modseqs = m;
	v->cap = ncap;
	return 0;
}

int imap_view_append(struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	if (v->count > 0 && uid <= v->uids[v->count - 1])
		return -1;
	if (v->count == v->cap && view_grow(v) < 0)
		return -1;
	v->uids[v->count] = uid;
	v->modseqs[v->count] = modseq;
	v->count++;
	return 0;
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

	if (v->ngone == 0)
		return 0;
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
	g = first;
	for (size_t r = 0; r < v->count; r++) {
		while (g < v->ngone && v->gone[g] < v->uids[r])
			g++;
		if (g < v->ngone && v->gone[g] == v->uids[r])
			continue;
		v->uids[w] = v->uids[r];
		v->modseqs[w] = v->modseqs[r];
		w++;
	}
	v->count = w;
	v->ngone = first;
	return max;
}
