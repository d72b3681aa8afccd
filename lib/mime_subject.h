#ifndef POSTERN_MIME_SUBJECT_H
#define POSTERN_MIME_SUBJECT_H
/* The base subject of RFC 5256 section 2.1 (SORT SUBJECT, THREAD
 * ORDEREDSUBJECT and REFERENCES subject gathering). */
#include <stdbool.h>

#include "buf.h"
#include "str.h"

/* Appends the base subject of raw (a Subject: value as stored in
 * mime_part.env: folded, RFC 2047 encoded) to out: decoded to UTF-8,
 * whitespace runs made one space, then reply/forward leaders, list blobs,
 * "(fwd)" trailers and "[fwd: ...]" wrappers removed as the RFC's steps 2-6
 * say. ASCII letters are uppercased, so comparing two results byte by byte
 * is the i;ascii-casemap comparison the RFC asks for. *reply_r (may be
 * NULL) tells whether anything marked it a reply or forward (a subj-refwd
 * leader, a "(fwd)" trailer or a subj-fwd wrapper: REFERENCES step 5).
 * 0, or -1 on overflow of out (out keeps its earlier content). */
int mime_subject_base(struct str raw, struct buf *out, bool *reply_r);

#endif
