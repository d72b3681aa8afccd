#ifndef POSTERN_IMAP_SEQSET_H
#define POSTERN_IMAP_SEQSET_H
/* Sequence sets (RFC 9051 sequence-set, RFC 5182 "$"): parsing the text a
 * client sent, and resolving it against a session's view into sorted,
 * merged ranges of sequence numbers of messages that exist in the view.
 * The same code serves message sequence numbers and UIDs. Private to
 * imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_view.h"
#include "storage.h"
#include "str.h"

/* Ranges one set may hold: a bound on the memory a command line can make
 * us allocate (the line length limit bounds it too, this is a second
 * net). */
#define IMAP_SEQSET_RANGES_MAX 65536

/* lo..hi inclusive. In a parsed set 0 stands for '*' and lo > hi is
 * possible ("5:2" means 2:5); a resolved set has 1 <= lo <= hi. */
struct imap_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_range *r; /* malloc'd */
	size_t count;
	bool saved; /* parsed "$": the session's SEARCHRES result */
};

/* Parses text: "$", or seq-range *("," seq-range) with
 * seq-range = seq-number / seq-number ":" seq-number,
 * seq-number = nz-number (1..4294967295) / "*". *set_r is filled (free with
 * imap_seqset_free) and the function returns 0, or -1 with *error_r a
 * static reason for "BAD" (syntax, 0, overflow, too many ranges, or out of
 * memory) and *set_r zeroed. */
int imap_seqset_parse(struct str text, struct imap_seqset *set_r,
		      const char **error_r);
/* Whether text is syntactically a sequence set (for SEARCH keys, where an
 * atom may be a set or a search key). */
bool imap_seqset_valid(struct str text);
/* Accepts a zeroed set; leaves it zeroed. */
void imap_seqset_free(struct imap_seqset *set);
/* Whether the parsed UID set (not "$") names uid without resolving it
 * against a view (UIDs a view no longer holds: VANISHED, QRESYNC known
 * UIDs). '*' stands for the largest UID, so "n:*" reaches every UID from
 * n. */
bool imap_seqset_has_uid(const struct imap_seqset *set, uint32_t uid);

/* What a set is resolved against. */
struct imap_seqset_ctx {
	const struct imap_view *view;
	/* '*' of a UID set when the view is empty (RFC 9051 9: the current
	 * UIDNEXT) */
	uint32_t uidnext;
	/* SEARCHRES result for "$": ascending UIDs (may hold UIDs no longer
	 * in the view: they are skipped) */
	const uint32_t *saved;
	size_t nsaved;
};

/* Resolves a parsed set to sequence-number ranges of the view (sorted,
 * non-overlapping, non-adjacent, within 1..view->count), into *seqs_r
 * (free with imap_seqset_free; count may be 0).
 * uid false: numbers are sequence numbers; '*' is the last message; a
 * number above the view's count (also '*' in an empty view) is an error
 * (RFC 9051: BAD).
 * uid true: numbers are UIDs; '*' is the largest UID of the view (uidnext
 * in an empty one); UIDs the view does not hold are ignored, so "n:*"
 * always includes the last message (RFC 9051 6.4.8).
 * "$" (set->saved) resolves through ctx->saved in either mode.
 * 0, or -1 with *error_r set (out of range, out of memory). */
int imap_seqset_resolve(const struct imap_seqset *set,
			const struct imap_seqset_ctx *ctx, bool uid,
			struct imap_seqset *seqs_r, const char **error_r);

/* Total messages in a resolved set. */
uint64_t imap_seqset_total(const struct imap_seqset *seqs);

/* Converts a resolved set to UID ranges for storage calls (each sequence
 * range maps to one UID range since the view's UIDs ascend; messages in the
 * store between two view UIDs cannot exist). *ranges_r is malloc'd
 * (free()); 0, or -1 on allocation failure. count 0 gives NULL, 0. */
int imap_seqset_uid_ranges(const struct imap_seqset *seqs,
			   const struct imap_view *v,
			   struct storage_uid_range **ranges_r,
			   size_t *count_r);

/* Appends the ascending UIDs uids[0..n) as a compact UID set ("1:3,7") to
 * out. 0, or -1 on overflow (out's overflow flag set). */
int imap_seqset_write_uids(struct buf *out, const uint32_t *uids, size_t n);

#endif
