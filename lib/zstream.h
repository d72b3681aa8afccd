#ifndef POSTERN_ZSTREAM_H
#define POSTERN_ZSTREAM_H
/* The one zlib wrapper: a raw DEFLATE stream pair (RFC 1951, no zlib
 * header, window 15) as RFC 4978 COMPRESS=DEFLATE uses it, one per
 * connection: a deflater for what we send, an inflater for what we read.
 *
 * Output goes into a struct buf (bounded by its max); input is taken from a
 * caller's buffer. Once zlib reports an error, or a buf overflows, the
 * stream is broken: every later call fails at once without touching zlib,
 * so cleanup paths may call freely. zstream_free never calls deflate() or
 * inflate(), only their End functions. */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct zstream;

/* level: zlib compression level of our output, 1 (fastest) to 9
 * (smallest). NULL with a static reason in *error_r (out of memory). */
struct zstream *zstream_new(int level, const char **error_r);
/* Accepts NULL; NULLs *z. */
void zstream_free(struct zstream **z);

/* Compresses n bytes of p onto the end of out. flush: end with
 * Z_SYNC_FLUSH, so the peer can decode everything sent so far; finish: end
 * the stream (Z_FINISH), after which only zstream_free is allowed. 0, or
 * -1 with a static reason (the stream is broken). */
int zstream_deflate(struct zstream *z, const void *p, size_t n, bool flush,
		    bool finish, struct buf *out, const char **error_r);

/* Decompresses from the front of in onto the end of out, as much as out's
 * max allows, consuming (buf_consume) the input used. Every byte that can
 * be decoded is produced, whatever flush the peer used (none, partial,
 * sync, full). 0 (see zstream_inflate_more and zstream_ended), or -1 with a
 * static reason (the stream is broken). */
int zstream_inflate(struct zstream *z, struct buf *in, struct buf *out,
		    const char **error_r);
/* The last zstream_inflate stopped because out was full: it may hold
 * decoded bytes even with no input left. */
bool zstream_inflate_more(const struct zstream *z);
/* The peer ended its stream (a final block); further input is an error. */
bool zstream_ended(const struct zstream *z);
bool zstream_is_broken(const struct zstream *z);
/* Bytes before / after compression so far, for the close log line. */
void zstream_counts(const struct zstream *z, unsigned long long *in_plain,
		    unsigned long long *in_wire, unsigned long long *out_plain,
		    unsigned long long *out_wire);

#endif
