#ifndef POSTERN_IMAP_FETCH_H
#define POSTERN_IMAP_FETCH_H
/* Shared by FETCH, STORE and SEARCH (imapb): the per-message parse cache,
 * the target list of a command, response writers (dates, sets) and the
 * streaming of FETCH body items. Private to imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_client.h"
#include "imap_seqset.h"
#include "mime.h"
#include "mime_decode.h"
#include "mime_header.h"
#include "storage.h"
#include "str.h"

/* ---- parse results, cached per message file ---- */

/* The part tree of message file file_id: from storage's cache, else parsed
 * from fd (or from a file storage opens when fd < 0) and cached. The tree
 * is the caller's (mime_message_free). -1 with *error_r on I/O errors. */
int imap_msg_tree_get(struct storage *s, uint64_t file_id, int fd,
		      struct mime_message **tree_r, const char **error_r);
/* Stores a tree built elsewhere (APPEND parsing while it saves). Errors
 * are ignored: the next FETCH parses again. */
void imap_msg_tree_put(struct storage *s, uint64_t file_id,
		       const struct mime_message *tree);

/* ---- the messages a command works on ---- */

/* The sequence numbers of a resolved set (imap_sync_seqset), ascending,
 * malloc'd into *seqs_r (NULL when the count is 0). -1 only on allocation
 * failure. */
int imap_targets(const struct imap_seqset *set, uint32_t **seqs_r,
		 size_t *count_r);

/* ---- writers ---- */

/* "\"dd-Mon-yyyy hh:mm:ss +zzzz\"" */
int imap_write_internaldate(struct buf *out, int64_t t, int32_t tz_min);
/* A sorted, unique uint32 list as a compressed set ("1:3,7,9:10"). */
int imap_write_set(struct buf *out, const uint32_t *v, size_t n);

/* Writes text (taken over; text is left empty) as the client's output
 * drains, then "tag OK <reply>" through client_send_tagged: for responses
 * that may exceed the output buffer (SEARCH of a large mailbox). */
void imap_send_async(struct client *c, struct buf *text, struct str tag,
		     const char *reply);

/* Sorts and removes duplicates; returns the new count. */
size_t imap_u32_sort_unique(uint32_t *v, size_t n);

/* ---- the bytes of one FETCH body item (imap_fetch_body.c) ---- */

enum fetch_src_kind {
	FETCH_SRC_RAW,	  /* a byte range of the file as stored */
	FETCH_SRC_FILTER, /* HEADER.FIELDS[.NOT] over a header range */
	FETCH_SRC_DECODE, /* BINARY: a leaf's body CTE-decoded */
};

/* Produces a transformed byte range of a message file in bounded chunks;
 * partial fetches skip and cut the output. The message file never
 * changes, so a second pass gives the same bytes as the first. */
struct fetch_src {
	enum fetch_src_kind kind;
	int fd;		   /* not owned */
	uint64_t off, end; /* input range left */
	uint64_t skip;	   /* output bytes still to drop */
	uint64_t left;	   /* output bytes still to emit */
	bool finished;	   /* transform flushed */
	struct mime_header_filter *filter;
	struct mime_cte_decoder dec;
	struct buf x; /* transformed bytes not yet taken */
	size_t xoff;
};

/* filter: the section's filter (taken over, freed by deinit) for
 * FETCH_SRC_FILTER; cte for FETCH_SRC_DECODE (not UNKNOWN). skip/left
 * are set to 0/UINT64_MAX: the caller sets them for the emitting pass. */
void fetch_src_init(struct fetch_src *src, enum fetch_src_kind kind, int fd,
		    uint64_t off, uint64_t size,
		    struct mime_header_filter *filter, enum mime_cte cte);
void fetch_src_deinit(struct fetch_src *src);
/* Runs the whole transform once: *total_r output bytes, *nul_r whether
 * any is NUL; when the total is at most small->max the output is left in
 * small (else small is cleared). The src is used up (deinit it). -1 with
 * *error_r on read errors. */
int fetch_src_measure(struct fetch_src *src, uint64_t *total_r, bool *nul_r,
		      struct buf *small, const char **error_r);
/* Appends at most room bytes of output (after skip) to out. 1 when left
 * reached 0, 0 when more is to come, -1 with *error_r on read errors or
 * when the input ended early. */
int fetch_src_pump(struct fetch_src *src, struct buf *out, size_t room,
		   const char **error_r);

#endif
