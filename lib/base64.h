#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H
/* RFC 4648 base64 (standard alphabet, padded) for SASL on the wire, and the
 * unpadded base64url form used for key fingerprints. */
#include <stddef.h>

#include "buf.h"

/* Appends the encoding of p to out. 0, or -1 on overflow. */
int base64_encode(struct buf *out, const void *p, size_t n);
int base64url_encode_nopad(struct buf *out, const void *p, size_t n);
/* Strict decode: rejects bad characters, bad padding, embedded whitespace.
 * Appends to out. 0, or -1. */
int base64_decode(struct buf *out, const char *s, size_t len);

#endif
