#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H
/* RFC 4648 base64 (standard alphabet, padded) for SASL on the wire, and the
 * unpadded base64url form used for key fingerprints; the lenient streaming
 * decoder MIME needs (RFC 2045 §6.8, RFC 2047 "B" words). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends the encoding of p to out. 0, or -1 on overflow. */
int base64_encode(struct buf *out, const void *p, size_t n);
int base64url_encode_nopad(struct buf *out, const void *p, size_t n);
/* Strict decode: rejects bad characters, bad padding, embedded whitespace.
 * Appends to out. 0, or -1. */
int base64_decode(struct buf *out, const char *s, size_t len);

/* Lenient streaming decode, as RFC 2045 asks of mail: characters outside
 * the alphabet are skipped ('\r' '\n' ' ' '\t' silently, others set
 * `malformed`), '=' ends the data (later input is ignored). Any split of
 * the input gives the same output. Embedded, no allocation. */
struct base64_stream {
	bool malformed;
	/* private */
	uint32_t acc;
	unsigned int nacc;
	bool done;
};

/* Room base64_stream_decode may need for len input bytes; from a fresh
 * stream it also holds what base64_stream_finish adds. */
#define BASE64_STREAM_MAX_OUT(len) ((len) / 4 * 3 + 3)

void base64_stream_init(struct base64_stream *st);
/* Decodes in into dst, which has room for BASE64_STREAM_MAX_OUT(len)
 * bytes; returns the bytes written. */
size_t base64_stream_decode(struct base64_stream *st, const void *in,
			    size_t len, unsigned char *dst);
/* Flushes a partial final quantum into dst (room for 2 bytes); returns the
 * bytes written. A lone trailing character sets `malformed`. The stream
 * may be reused afterwards only after base64_stream_init. */
size_t base64_stream_finish(struct base64_stream *st, unsigned char *dst);

#endif
