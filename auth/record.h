#ifndef POSTERN_AUTH_RECORD_H
#define POSTERN_AUTH_RECORD_H
/* The explicit serialisation of the auth database's records (accounts,
 * aliases, TLS keys): big-endian integers of 1 to 8 bytes and
 * length-prefixed text. Each record module owns its layout and version;
 * this is only the byte-level vocabulary they share, so that every record
 * is written and checked the same way.
 *
 * Writers append to a struct buf and never check a step: buf_append leaves
 * the buffer unchanged and sets the sticky overflow flag on failure, so the
 * encoder tests out->overflow once at the end. The reader likewise turns a
 * short record or a malformed field into its sticky `bad` flag. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The low n bytes (1..8) of v, most significant first. */
void record_put_be(struct buf *out, uint64_t v, size_t n);
/* A length of lenbytes bytes (1 or 2), then the n bytes of p. A length
 * that does not fit into lenbytes sets out->overflow. */
void record_put_text(struct buf *out, size_t lenbytes, const void *p, size_t n);

struct record_reader {
	const unsigned char *p;
	size_t left; /* bytes not read yet; a whole record leaves 0 */
	bool bad;    /* sticky: something was short or malformed */
};

void record_reader_init(struct record_reader *r, const void *p, size_t len);
/* The next n bytes (valid as long as the record is), or NULL (bad set). */
const unsigned char *record_take(struct record_reader *r, size_t n);
/* The next n-byte (1..8) big-endian integer; 0 once bad. */
uint64_t record_get_be(struct record_reader *r, size_t n);
/* A text field of record_put_text into out (size bytes), NUL-terminated.
 * A length of size or more, a short record or a NUL inside set bad and
 * leave out "". */
void record_get_text(struct record_reader *r, size_t lenbytes, char *out,
		     size_t size);

#endif
