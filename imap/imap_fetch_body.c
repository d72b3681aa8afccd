/* FETCH body items as streams: the file is read in chunks into a small
 * transform buffer, so a 20 MB message costs a few tens of KiB however
 * fast or slow the client reads. */
#include "imap_fetch.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define SRC_CHUNK (32 * 1024)
/* transformed output per chunk: decoding adds at most 128, the filter 2 */
#define SRC_XMAX (SRC_CHUNK + 1024)

void fetch_src_init(struct fetch_src *src, enum fetch_src_kind kind, int fd,
		    uint64_t off, uint64_t size,
		    struct mime_header_filter *filter, enum mime_cte cte)
{
	memset(src, 0, sizeof(*src));
	src->kind = kind;
	src->fd = fd;
	src->off = off;
	src->end = off + size;
	src->left = UINT64_MAX;
	src->filter = filter;
	if (kind == FETCH_SRC_DECODE)
		(void)mime_cte_decoder_init(&src->dec, cte);
	buf_init(&src->x, SRC_XMAX);
}

void fetch_src_deinit(struct fetch_src *src)
{
	mime_header_filter_free(&src->filter);
	buf_deinit(&src->x);
}

static int src_read(struct fetch_src *src, void *dst, size_t n, size_t *got_r,
		    const char **error_r)
{
	ssize_t r;

	do {
		r = pread(src->fd, dst, n, (off_t)src->off);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		*error_r = "cannot read message file";
		return -1;
	}
	if (r == 0) {
		*error_r = "message file shorter than recorded";
		return -1;
	}
	src->off += (uint64_t)r;
	*got_r = (size_t)r;
	return 0;
}

/* Refills x with the next transformed chunk. 1 at the end of the output,
 * 0 when x holds something (possibly nothing yet: call again), -1. */
static int src_fill(struct fetch_src *src, const char **error_r)
{
	static unsigned char chunk[SRC_CHUNK];
	size_t n, want;
	int r = 0;

	buf_clear(&src->x);
	src->xoff = 0;
	if (src->off >= src->end) {
		if (src->finished)
			return 1;
		src->finished = true;
		if (src->kind == FETCH_SRC_FILTER)
			r = mime_header_filter_finish(src->filter, &src->x);
		else if (src->kind == FETCH_SRC_DECODE)
			r = mime_cte_decode_finish(&src->dec, &src->x);
		if (r < 0) {
			*error_r = "transform overflow";
			return -1;
		}
		return 0;
	}
	want = src->end - src->off < SRC_CHUNK ? (size_t)(src->end - src->off)
					       : SRC_CHUNK;
	if (src->kind == FETCH_SRC_RAW) {
		void *p = buf_reserve(&src->x, want);

		if (p == NULL || src_read(src, p, want, &n, error_r) < 0) {
			if (p == NULL)
				*error_r = "out of memory";
			return -1;
		}
		buf_commit(&src->x, n);
		return 0;
	}
	if (src_read(src, chunk, want, &n, error_r) < 0)
		return -1;
	if (src->kind == FETCH_SRC_FILTER)
		r = mime_header_filter_feed(src->filter, chunk, n, &src->x);
	else
		r = mime_cte_decode(&src->dec, chunk, n, &src->x);
	if (r < 0) {
		*error_r = "transform overflow";
		return -1;
	}
	return 0;
}

int fetch_src_measure(struct fetch_src *src, uint64_t *total_r, bool *nul_r,
		      struct buf *small, const char **error_r)
{
	uint64_t total = 0;
	bool keep = small != NULL;
	int r;

	*nul_r = false;
	if (small != NULL)
		buf_clear(small);
	while ((r = src_fill(src, error_r)) == 0) {
		const unsigned char *p = src->x.data;
		size_t n = src->x.len;

		if (n == 0)
			continue;
		total += n;
		if (!*nul_r && memchr(p, 0, n) != NULL)
			*nul_r = true;
		if (keep && buf_append(small, p, n) < 0) {
			keep = false;
			buf_clear(small);
		}
	}
	if (r < 0)
		return -1;
	*total_r = total;
	return 0;
}

int fetch_src_pump(struct fetch_src *src, struct buf *out, size_t room,
		   const char **error_r)
{
	while (src->left > 0 && room > 0) {
		size_t avail = src->x.len - src->xoff, n;

		if (avail == 0) {
			/* a plain range skips the partial origin by seeking */
			if (src->kind == FETCH_SRC_RAW && src->skip > 0) {
				uint64_t s = src->end - src->off < src->skip
						     ? src->end - src->off
						     : src->skip;
				src->off += s;
				src->skip -= s;
			}
			int r = src_fill(src, error_r);

			if (r < 0)
				return -1;
			if (r > 0) {
				*error_r = "message file shorter than recorded";
				return -1;
			}
			continue;
		}
		if (src->skip > 0) {
			n = avail < src->skip ? avail : (size_t)src->skip;
			src->xoff += n;
			src->skip -= n;
			continue;
		}
		n = avail < room ? avail : room;
		if (n > src->left)
			n = (size_t)src->left;
		if (buf_append(out, src->x.data + src->xoff, n) < 0) {
			*error_r = "output buffer full";
			return -1;
		}
		src->xoff += n;
		src->left -= n;
		room -= n;
	}
	return src->left == 0 ? 1 : 0;
}
