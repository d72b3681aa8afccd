/* Raw DEFLATE both ways (zlib, window 15) with the broken-stream rule: after
 * the first failure nothing here calls deflate() or inflate() again. */
#include "zstream.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

/* Output produced per zlib call; the buf grows in steps of this. */
#define ZSTREAM_CHUNK (16 * 1024)
/* RFC 4978: raw deflate (negative bits), 32 KiB window. */
#define ZSTREAM_WBITS (-15)

struct zstream {
	z_stream d, i;
	bool d_ready, i_ready;
	bool broken;
	bool finished; /* our side sent Z_FINISH */
	bool ended;    /* the peer's final block arrived */
	bool in_more;  /* the inflater may hold decoded output */
};

struct zstream *zstream_new(int level, const char **error_r)
{
	struct zstream *z = calloc(1, sizeof(*z));

	if (z == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	if (deflateInit2(&z->d, level, Z_DEFLATED, ZSTREAM_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		*error_r = "deflateInit2 failed";
		zstream_free(&z);
		return NULL;
	}
	z->d_ready = true;
	if (inflateInit2(&z->i, ZSTREAM_WBITS) != Z_OK) {
		*error_r = "inflateInit2 failed";
		zstream_free(&z);
		return NULL;
	}
	z->i_ready = true;
	return z;
}

void zstream_free(struct zstream **zp)
{
	struct zstream *z = *zp;

	if (z == NULL)
		return;
	if (z->d_ready)
		(void)deflateEnd(&z->d);
	if (z->i_ready)
		(void)inflateEnd(&z->i);
	free(z);
	*zp = NULL;
}

static int zstream_fail(struct zstream *z, const char *why,
			const char **error_r)
{
	z->broken = true;
	*error_r = why;
	return -1;
}

/* Room for the next zlib call in out: at most ZSTREAM_CHUNK, never past
 * out's max. NULL when out is full. */
static unsigned char *zstream_room(struct buf *out, size_t *n_r)
{
	size_t room = out->max - out->len;

	*n_r = room < ZSTREAM_CHUNK ? room : ZSTREAM_CHUNK;
	return *n_r == 0 ? NULL : buf_reserve(out, *n_r);
}

int zstream_deflate(struct zstream *z, const void *p, size_t n, bool flush,
		    bool finish, struct buf *out, const char **error_r)
{
	int mode = finish ? Z_FINISH : flush ? Z_SYNC_FLUSH : Z_NO_FLUSH;

	if (z->broken)
		return zstream_fail(z, "compression stream broken", error_r);
	if (z->finished)
		return zstream_fail(z, "compression stream ended", error_r);
	z->d.next_in = (Bytef *)(uintptr_t)p;
	z->d.avail_in = (uInt)n;
	if ((size_t)z->d.avail_in != n)
		return zstream_fail(z, "deflate input too large", error_r);
	for (;;) {
		size_t room;
		unsigned char *o = zstream_room(out, &room);
		int r;

		if (o == NULL)
			return zstream_fail(z, "compressed output full",
					    error_r);
		z->d.next_out = o;
		z->d.avail_out = (uInt)room;
		r = deflate(&z->d, mode);
		buf_commit(out, room - z->d.avail_out);
		if (r == Z_STREAM_ERROR)
			return zstream_fail(z, "deflate failed", error_r);
		if (r == Z_STREAM_END) {
			z->finished = true;
			return 0;
		}
		/* done once all input went in and zlib had room to spare,
		 * i.e. nothing of the flush is left inside it */
		if (!finish && z->d.avail_in == 0 && z->d.avail_out != 0)
			return 0;
	}
}

int zstream_inflate(struct zstream *z, struct buf *in, struct buf *out,
		    const char **error_r)
{
	size_t used;

	if (z->broken)
		return zstream_fail(z, "compression stream broken", error_r);
	if (z->ended) {
		if (in->len > 0)
			return zstream_fail(z,
					    "data after the end of the "
					    "compressed stream",
					    error_r);
		return 0;
	}
	z->i.next_in = in->data;
	z->i.avail_in = (uInt)in->len;
	if ((size_t)z->i.avail_in != in->len)
		return zstream_fail(z, "inflate input too large", error_r);
	z->in_more = false;
	for (;;) {
		size_t room;
		unsigned char *o = zstream_room(out, &room);
		int r;

		if (o == NULL) {
			/* out is full: zlib may still hold output, or the
			 * rest of in may decode to more */
			z->in_more = true;
			break;
		}
		z->i.next_out = o;
		z->i.avail_out = (uInt)room;
		/* Z_SYNC_FLUSH: hand out every decodable byte now, so a peer
		 * flushing with Z_PARTIAL_FLUSH is answered at once */
		r = inflate(&z->i, Z_SYNC_FLUSH);
		buf_commit(out, room - z->i.avail_out);
		if (r == Z_STREAM_END) {
			z->ended = true;
			break;
		}
		if (r == Z_BUF_ERROR) /* no progress possible: need input */
			break;
		if (r != Z_OK)
			return zstream_fail(z,
					    "inflate failed: bad compressed "
					    "data",
					    error_r);
		if (z->i.avail_out != 0)
			break; /* all input decoded */
		z->in_more = true;
	}
	used = in->len - z->i.avail_in;
	buf_consume(in, used);
	if (z->ended && in->len > 0)
		return zstream_fail(z,
				    "data after the end of the compressed "
				    "stream",
				    error_r);
	return 0;
}

bool zstream_inflate_more(const struct zstream *z)
{
	return z->in_more && !z->broken;
}

bool zstream_ended(const struct zstream *z)
{
	return z->ended;
}

bool zstream_is_broken(const struct zstream *z)
{
	return z->broken;
}

void zstream_counts(const struct zstream *z, unsigned long long *in_plain,
		    unsigned long long *in_wire, unsigned long long *out_plain,
		    unsigned long long *out_wire)
{
	*in_plain = z->i.total_out;
	*in_wire = z->i.total_in;
	*out_plain = z->d.total_in;
	*out_wire = z->d.total_out;
}
