/* Sequence sets: a bounded parser and the resolution against a view. A
 * resolved set is always sorted and merged, so callers walk it once in
 * ascending order and never see a message twice ("1,1,1:*" is 1:*). */
#include "imap_seqset.h"

#include <stdlib.h>
#include <string.h>

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	memset(set, 0, sizeof(*set));
}

bool imap_seqset_has_uid(const struct imap_seqset *set, uint32_t uid)
{
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->r[i].lo, hi = set->r[i].hi;

		if (lo == 0)
			lo = UINT32_MAX;
		if (hi == 0)
			hi = UINT32_MAX;
		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (uid >= lo && uid <= hi)
			return true;
	}
	return false;
}

/* Appends a range; a parsed set is bounded by IMAP_SEQSET_RANGES_MAX, a
 * resolved one by the view (one range per message at most). */
static int set_push(struct imap_seqset *set, size_t *cap, uint32_t lo,
		    uint32_t hi, size_t max)
{
	if (set->count == *cap) {
		size_t ncap = *cap == 0 ? 8 : *cap * 2;
		struct imap_range *r;

		if (ncap > max)
			ncap = max;
		if (set->count >= ncap)
			return -1;
		r = realloc(set->r, ncap * sizeof(*r));
		if (r == NULL)
			return -1;
		set->r = r;
		*cap = ncap;
	}
	set->r[set->count].lo = lo;
	set->r[set->count].hi = hi;
	set->count++;
	return 0;
}

/* One seq-number at *pos: digits (nz-number, no leading zero) or '*'
 * (returned as 0). */
static int parse_number(struct str t, size_t *pos, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t i = *pos;

	if (i < t.len && t.p[i] == '*') {
		*pos = i + 1;
		*n_r = 0;
		return 0;
	}
	if (i >= t.len || t.p[i] < '1' || t.p[i] > '9')
		return -1;
	for (; i < t.len && t.p[i] >= '0' && t.p[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(t.p[i] - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*pos = i;
	*n_r = (uint32_t)n;
	return 0;
}

int imap_seqset_parse(struct str text, struct imap_seqset *set_r,
		      const char **error_r)
{
	size_t pos = 0, cap = 0;

	memset(set_r, 0, sizeof(*set_r));
	if (text.len == 1 && text.p[0] == '$') {
		set_r->saved = true;
		return 0;
	}
	for (;;) {
		uint32_t lo, hi;

		if (parse_number(text, &pos, &lo) < 0)
			goto bad;
		hi = lo;
		if (pos < text.len && text.p[pos] == ':') {
			pos++;
			if (parse_number(text, &pos, &hi) < 0)
				goto bad;
		}
		if (set_push(set_r, &cap, lo, hi, IMAP_SEQSET_RANGES_MAX) < 0) {
			*error_r = set_r->count >= IMAP_SEQSET_RANGES_MAX
					   ? "Sequence set too long"
					   : "Out of memory";
			imap_seqset_free(set_r);
			return -1;
		}
		if (pos == text.len)
			return 0;
		if (text.p[pos] != ',')
			goto bad;
		pos++;
	}
bad:
	imap_seqset_free(set_r);
	*error_r = "Invalid sequence set";
	return -1;
}

bool imap_seqset_valid(struct str text)
{
	size_t pos = 0;
	uint32_t n;

	if (text.len == 1 && text.p[0] == '$')
		return true;
	for (;;) {
		if (parse_number(text, &pos, &n) < 0)
			return false;
		if (pos < text.len && text.p[pos] == ':') {
			pos++;
			if (parse_number(text, &pos, &n) < 0)
				return false;
		}
		if (pos == text.len)
			return true;
		if (text.p[pos++] != ',')
			return false;
	}
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Sorts and merges overlapping or adjacent ranges in place. */
static void set_normalize(struct imap_seqset *set)
{
	size_t w = 0;

	if (set->count == 0)
		return;
	qsort(set->r, set->count, sizeof(*set->r), range_cmp);
	for (size_t i = 1; i < set->count; i++) {
		struct imap_range *last = &set->r[w];

		if ((uint64_t)set->r[i].lo <= (uint64_t)last->hi + 1) {
			if (set->r[i].hi > last->hi)
				last->hi = set->r[i].hi;
		} else {
			set->r[++w] = set->r[i];
		}
	}
	set->count = w + 1;
}

/* "$": the saved UIDs that are still in the view, as sequence ranges. */
static int resolve_saved(const struct imap_seqset_ctx *ctx,
			 struct imap_seqset *out, size_t *cap)
{
	for (size_t i = 0; i < ctx->nsaved; i++) {
		uint32_t seq = imap_view_seq(ctx->view, ctx->saved[i]);

		if (seq == 0)
			continue;
		if (out->count > 0 && out->r[out->count - 1].hi + 1 == seq) {
			out->r[out->count - 1].hi = seq;
			continue;
		}
		if (set_push(out, cap, seq, seq, UINT32_MAX) < 0)
			return -1;
	}
	return 0;
}

int imap_seqset_resolve(const struct imap_seqset *set,
			const struct imap_seqset_ctx *ctx, bool uid,
			struct imap_seqset *seqs_r, const char **error_r)
{
	const struct imap_view *v = ctx->view;
	uint32_t star;
	size_t cap = 0;

	memset(seqs_r, 0, sizeof(*seqs_r));
	if (set->saved) {
		if (resolve_saved(ctx, seqs_r, &cap) < 0)
			goto nomem;
		return 0;
	}
	if (uid)
		star = v->count > 0 ? v->uids[v->count - 1] : ctx->uidnext;
	else
		star = (uint32_t)v->count;
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->r[i].lo == 0 ? star : set->r[i].lo;
		uint32_t hi = set->r[i].hi == 0 ? star : set->r[i].hi;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (!uid) {
			if (lo == 0 || hi > v->count) {
				imap_seqset_free(seqs_r);
				*error_r = "Invalid message sequence number";
				return -1;
			}
		} else {
			/* UIDs to view positions; absent UIDs drop out */
			size_t a = imap_view_lower_bound(v, lo);
			size_t b = imap_view_lower_bound(v, hi);

			if (b < v->count && v->uids[b] == hi)
				b++;
			if (a >= b)
				continue;
			lo = (uint32_t)(a + 1);
			hi = (uint32_t)b;
		}
		if (set_push(seqs_r, &cap, lo, hi, UINT32_MAX) < 0)
			goto nomem;
	}
	set_normalize(seqs_r);
	return 0;
nomem:
	imap_seqset_free(seqs_r);
	*error_r = "Out of memory";
	return -1;
}

uint64_t imap_seqset_total(const struct imap_seqset *seqs)
{
	uint64_t n = 0;

	for (size_t i = 0; i < seqs->count; i++)
		n += (uint64_t)seqs->r[i].hi - seqs->r[i].lo + 1;
	return n;
}

int imap_seqset_uid_ranges(const struct imap_seqset *seqs,
			   const struct imap_view *v,
			   struct storage_uid_range **ranges_r, size_t *count_r)
{
	struct storage_uid_range *r;

	*ranges_r = NULL;
	*count_r = 0;
	if (seqs->count == 0)
		return 0;
	r = calloc(seqs->count, sizeof(*r));
	if (r == NULL)
		return -1;
	for (size_t i = 0; i < seqs->count; i++) {
		r[i].lo = imap_view_uid(v, seqs->r[i].lo);
		r[i].hi = imap_view_uid(v, seqs->r[i].hi);
	}
	*ranges_r = r;
	*count_r = seqs->count;
	return 0;
}

int imap_seqset_write_uids(struct buf *out, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (buf_printf(out, "%s%u", i > 0 ? "," : "",
			       (unsigned)uids[i]) < 0)
			return -1;
		if (j > i && buf_printf(out, ":%u", (unsigned)uids[j]) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}
