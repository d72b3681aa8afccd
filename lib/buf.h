#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H
/* Owned, growable byte buffer with a hard maximum.
 *
 * Appending past `max` fails, leaves the contents unchanged and sets the
 * sticky `overflow` flag; protocol code turns that into "line too long"
 * instead of growing without bound. The byte after `len` is always NUL so
 * text can be used as a C string (buf_cstr), but `data` may also hold NULs. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "compat.h"

struct buf {
	unsigned char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len */
	bool overflow;
};

void buf_init(struct buf *b, size_t max);
/* Frees the storage (not wiped: use buf_deinit_secret for secrets). max is
 * kept, so the buf can be reused. */
void buf_deinit(struct buf *b);
void buf_deinit_secret(struct buf *b);

/* 0 on success, -1 (overflow set, nothing appended) past max or on ENOMEM.
 * Inline while the bytes fit the storage: FETCH writes envelopes and
 * flags a few bytes at a time. */
int buf_append_grow(struct buf *b, const void *p, size_t n);
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	/* room for n bytes and the NUL, within max (which a caller may
	 * have lowered below the storage) */
	if (n < b->cap - b->len && n <= b->max - b->len) {
		if (n > 0)
			memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append_grow(b, p, n);
}
int buf_append_cstr(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) POSTERN_PRINTF(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	POSTERN_PRINTF(2, 0);

/* Makes room for at least n more bytes and returns where they go, or NULL
 * (overflow set) past max. Write at most n bytes there, then buf_commit. */
void *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer and clears overflow; keeps the storage. */
void buf_clear(struct buf *b);
/* NUL-terminated view of the contents ("" when empty). */
const char *buf_cstr(const struct buf *b);

#endif
