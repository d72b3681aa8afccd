/* lib/zstream: raw deflate round trips in any chunking, bounded output,
 * the broken-stream rule and the end of a stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tap.h"
#include "zstream.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		/* half text, half noise */
		p[i] = i % 2 ? (unsigned char)(seed >> 16) : "abc\r\n"[i % 5];
	}
}

/* deflates src in pieces, inflates the result 1 byte at a time */
static void round_trip(size_t n, size_t piece)
{
	unsigned char *src = malloc(n);
	struct buf wire, in, out;
	const char *err;
	struct zstream *a = zstream_new(n % 9 + 1, &err),
		       *b = zstream_new(6, &err);

	fill(src, n, (unsigned)n);
	buf_init(&wire, 64u << 20);
	buf_init(&in, 16);
	buf_init(&out, 64u << 20);
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;
		CHECK(zstream_deflate(a, src + off, k, true, false, &wire,
				      &err) == 0);
		/* every flush ends with the sync marker */
		CHECK(wire.len >= 4 &&
		      memcmp(wire.data + wire.len - 4, "\0\0\xff\xff", 4) == 0);
	}
	for (size_t i = 0; i < wire.len; i++) {
		CHECK(buf_append(&in, wire.data + i, 1) == 0);
		CHECK(zstream_inflate(b, &in, &out, &err) == 0);
		CHECK(in.len == 0);
	}
	CHECK(out.len == n && memcmp(out.data, src, n) == 0);
	CHECK(!zstream_ended(b));
	buf_deinit(&wire);
	buf_deinit(&in);
	buf_deinit(&out);
	zstream_free(&a);
	zstream_free(&b);
	CHECK(a == NULL);
	free(src);
}

/* a small output buffer: inflate stops, keeps the rest, resumes */
static void bounded_output(void)
{
	unsigned char src[100000];
	struct buf wire, out, all;
	const char *err;
	struct zstream *a = zstream_new(6, &err), *b = zstream_new(6, &err);

	memset(src, 'x', sizeof(src)); /* compresses to ~100 bytes */
	buf_init(&wire, 1 << 20);
	buf_init(&out, 1000);
	buf_init(&all, 1 << 20);
	CHECK(zstream_deflate(a, src, sizeof(src), true, false, &wire, &err) ==
	      0);
	CHECK(wire.len < 1000);
	CHECK(zstream_inflate(b, &wire, &out, &err) == 0);
	CHECK(out.len == 1000);
	CHECK(zstream_inflate_more(b));
	while (out.len > 0 || wire.len > 0 || zstream_inflate_more(b)) {
		CHECK(buf_append(&all, out.data, out.len) == 0);
		buf_clear(&out);
		if (zstream_inflate(b, &wire, &out, &err) < 0)
			break;
		if (out.len == 0 && wire.len == 0 && !zstream_inflate_more(b))
			break;
	}
	CHECK(buf_append(&all, out.data, out.len) == 0);
	CHECK(all.len == sizeof(src));
	CHECK(!zstream_inflate_more(b));
	buf_deinit(&wire);
	buf_deinit(&out);
	buf_deinit(&all);
	zstream_free(&a);
	zstream_free(&b);
}

/* Z_PARTIAL_FLUSH input (no sync marker) decodes completely at once */
static void partial_flush_peer(void)
{
	z_stream zs;
	unsigned char raw[256];
	struct buf in, out;
	const char *err;
	struct zstream *b = zstream_new(6, &err);
	static const char cmd[] = "a1 NOOP\r\n";

	memset(&zs, 0, sizeof(zs));
	CHECK(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) ==
	      Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)cmd;
	zs.avail_in = sizeof(cmd) - 1;
	zs.next_out = raw;
	zs.avail_out = sizeof(raw);
	CHECK(deflate(&zs, Z_PARTIAL_FLUSH) == Z_OK);
	buf_init(&in, 1024);
	buf_init(&out, 1024);
	CHECK(buf_append(&in, raw, sizeof(raw) - zs.avail_out) == 0);
	CHECK(zstream_inflate(b, &in, &out, &err) == 0);
	CHECK(out.len == sizeof(cmd) - 1 &&
	      memcmp(out.data, cmd, out.len) == 0);
	deflateEnd(&zs);
	buf_deinit(&in);
	buf_deinit(&out);
	zstream_free(&b);
}

static void broken_and_finished(void)
{
	struct buf in, out, wire;
	const char *err = NULL;
	struct zstream *a = zstream_new(6, &err), *b = zstream_new(6, &err);

	buf_init(&in, 1024);
	buf_init(&out, 1024);
	buf_init(&wire, 1024);
	CHECK(buf_append(&in, "\xff\xff\xff\xff", 4) == 0);
	CHECK(zstream_inflate(b, &in, &out, &err) == -1);
	CHECK(zstream_is_broken(b));
	/* no zlib call any more, in either direction */
	err = NULL;
	CHECK(zstream_deflate(b, "x", 1, true, false, &wire, &err) == -1);
	CHECK(err != NULL && wire.len == 0);
	CHECK(zstream_inflate(b, &in, &out, &err) == -1);
	zstream_free(&b);

	/* a finished stream: the peer sees its end */
	CHECK(zstream_deflate(a, "bye\r\n", 5, true, true, &wire, &err) == 0);
	CHECK(zstream_deflate(a, "x", 1, true, false, &wire, &err) == -1);
	b = zstream_new(6, &err);
	CHECK(zstream_inflate(b, &wire, &out, &err) == 0);
	CHECK(zstream_ended(b) && out.len == 5);
	/* output full: deflate fails and the stream is broken */
	zstream_free(&a);
	a = zstream_new(6, &err);
	buf_clear(&wire);
	wire.max = 8;
	{
		unsigned char noise[4096];

		fill(noise, sizeof(noise), 7);
		CHECK(zstream_deflate(a, noise, sizeof(noise), true, false,
				      &wire, &err) == -1);
		CHECK(zstream_is_broken(a));
	}
	buf_deinit(&in);
	buf_deinit(&out);
	buf_deinit(&wire);
	zstream_free(&a);
	zstream_free(&b);
	zstream_free(&b); /* NULL is fine */
}

int main(void)
{
	round_trip(1, 1);
	round_trip(5000, 7);
	round_trip(300000, 65536);
	bounded_output();
	partial_flush_peer();
	broken_and_finished();
	return tap_done();
}
