#include "record.h"

#include <string.h>

void record_put_be(struct buf *out, uint64_t v, size_t n)
{
	unsigned char b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	(void)buf_append(out, b, n);
}

void record_put_text(struct buf *out, size_t lenbytes, const void *p, size_t n)
{
	if ((uint64_t)n >> (8 * lenbytes) != 0) {
		out->overflow = true;
		return;
	}
	record_put_be(out, n, lenbytes);
	(void)buf_append(out, p, n);
}

void record_reader_init(struct record_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->left = len;
	r->bad = false;
}

const unsigned char *record_take(struct record_reader *r, size_t n)
{
	const unsigned char *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

uint64_t record_get_be(struct record_reader *r, size_t n)
{
	const unsigned char *p = record_take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p != NULL && i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

void record_get_text(struct record_reader *r, size_t lenbytes, char *out,
		     size_t size)
{
	size_t n = (size_t)record_get_be(r, lenbytes);
	const unsigned char *p;

	if (r->bad || n >= size || (p = record_take(r, n)) == NULL ||
	    memchr(p, '\0', n) != NULL) {
		r->bad = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}
