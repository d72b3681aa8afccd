/* Fuzz target: IMAP sequence sets (imap/imap_seqset.c).
 *
 * Input: byte 0 & 31 is the size n of a view, the next n bytes the gaps
 * between its UIDs; the rest is the set text. Invariants (abort = bug):
 * - a set that parses is syntactically valid (imap_seqset_valid);
 * - resolved sets are sorted, disjoint, non-adjacent, within 1..count,
 *   and their total is the sum of the ranges;
 * - a UID-resolved set written back with imap_seqset_write_uids parses
 *   and resolves to the same ranges. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "imap_seqset.h"
#include "imap_view.h"
#include "str.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void check_resolved(const struct imap_seqset *s, size_t count)
{
	uint64_t total = 0;

	for (size_t i = 0; i < s->count; i++) {
		FUZZ_CHECK(s->r[i].lo >= 1 && s->r[i].lo <= s->r[i].hi);
		FUZZ_CHECK(s->r[i].hi <= count);
		if (i > 0)
			FUZZ_CHECK(s->r[i].lo > s->r[i - 1].hi + 1);
		total += s->r[i].hi - s->r[i].lo + 1;
	}
	FUZZ_CHECK(imap_seqset_total(s) == total);
}

static bool same_set(const struct imap_seqset *a, const struct imap_seqset *b)
{
	return a->count == b->count &&
	       (a->count == 0 ||
		memcmp(a->r, b->r, a->count * sizeof(a->r[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_view v = {0};
	uint32_t saved[32];
	size_t n, nsaved = 0;
	uint32_t uid = 0;
	struct imap_seqset set, seqs;
	const char *error = NULL;
	struct str text;

	if (size < 1 || size > 65536)
		return 0;
	n = data[0] & 31;
	if (size < 1 + n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uid += 1 + data[1 + i];
		FUZZ_CHECK(imap_view_append(&v, uid, i) == 0);
		if (data[1 + i] & 1)
			saved[nsaved++] = uid;
	}
	if (n > 0 && (data[0] & 0x40))
		saved[nsaved++] = uid + 5; /* no longer in the view */
	text = (struct str){(const char *)data + 1 + n, size - 1 - n};

	bool valid = imap_seqset_valid(text);
	if (imap_seqset_parse(text, &set, &error) < 0) {
		FUZZ_CHECK(error != NULL);
		FUZZ_CHECK(set.r == NULL && set.count == 0);
		imap_view_clear(&v);
		return 0;
	}
	FUZZ_CHECK(valid);
	FUZZ_CHECK(set.saved || set.count > 0);
	if (!set.saved) {
		for (uint32_t u = 0; u < 8; u++)
			(void)imap_seqset_has_uid(&set, u * 1000003u);
	}

	struct imap_seqset_ctx ctx = {
		.view = &v, .uidnext = uid + 1, .saved = saved,
		.nsaved = nsaved};
	for (int as_uid = 0; as_uid < 2; as_uid++) {
		if (imap_seqset_resolve(&set, &ctx, as_uid, &seqs, &error) < 0) {
			FUZZ_CHECK(error != NULL);
			/* UID sets and "$" never fail for range reasons */
			FUZZ_CHECK(!as_uid && !set.saved);
			continue;
		}
		check_resolved(&seqs, v.count);

		/* round trip through the compact UID form */
		uint32_t *uids = NULL;
		size_t nu = 0;
		struct buf out;
		struct imap_seqset back, back_seqs;

		if (seqs.count > 0) {
			uids = malloc(imap_seqset_total(&seqs) * sizeof(*uids));
			FUZZ_CHECK(uids != NULL);
		}
		for (size_t i = 0; i < seqs.count; i++)
			for (uint32_t s = seqs.r[i].lo; s <= seqs.r[i].hi; s++)
				uids[nu++] = imap_view_uid(&v, s);
		buf_init(&out, 1 << 20);
		FUZZ_CHECK(imap_seqset_write_uids(&out, uids, nu) == 0);
		if (nu > 0) {
			struct str t = {buf_cstr(&out), out.len};

			FUZZ_CHECK(imap_seqset_parse(t, &back, &error) == 0);
			FUZZ_CHECK(imap_seqset_resolve(&back, &ctx, true,
						       &back_seqs,
						       &error) == 0);
			FUZZ_CHECK(same_set(&seqs, &back_seqs));
			imap_seqset_free(&back);
			imap_seqset_free(&back_seqs);
		}
		buf_deinit(&out);
		free(uids);
		imap_seqset_free(&seqs);
	}
	imap_seqset_free(&set);
	FUZZ_CHECK(set.r == NULL && set.count == 0);
	imap_view_clear(&v);
	return 0;
}
