#include "base64.h"

#include <stdint.h>

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(struct buf *out, const unsigned char *in, size_t n,
		      const char *alphabet, int pad)
{
	if (n / 3 >= SIZE_MAX / 4 - 1)
		return -1;
	size_t outlen = pad ? (n + 2) / 3 * 4
			    : n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
	char *dst = buf_reserve(out, outlen);
	if (dst == NULL)
		return -1;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		dst[o++] = alphabet[v >> 18];
		dst[o++] = alphabet[(v >> 12) & 63];
		dst[o++] = alphabet[(v >> 6) & 63];
		dst[o++] = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		dst[o++] = alphabet[v >> 18];
		dst[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < n)
			dst[o++] = alphabet[(v >> 6) & 63];
		else if (pad)
			dst[o++] = '=';
		if (pad)
			dst[o++] = '=';
	}
	buf_commit(out, o);
	return 0;
}

int base64_encode(struct buf *out, const void *p, size_t n)
{
	return b64_encode(out, p, n, b64_std, 1);
}

int base64url_encode_nopad(struct buf *out, const void *p, size_t n)
{
	return b64_encode(out, p, n, b64_url, 0);
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(struct buf *out, const char *s, size_t len)
{
	if (len % 4 != 0)
		return -1;
	size_t outlen = len / 4 * 3;
	if (len >= 4 && s[len - 1] == '=') {
		outlen--;
		if (s[len - 2] == '=')
			outlen--;
	}
	unsigned char *dst = buf_reserve(out, outlen);
	if (dst == NULL)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pads = 0;
		for (int k = 0; k < 4; k++) {
			char c = s[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pads++;
				continue;
			}
			if (pads > 0 || (v[k] = b64_value(c)) < 0) {
				buf_commit(out,
					   0); /* restores the NUL at len */
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		dst[o++] = (unsigned char)(w >> 16);
		if (pads < 2)
			dst[o++] = (unsigned char)(w >> 8);
		if (pads < 1)
			dst[o++] = (unsigned char)w;
		/* non-canonical encodings (stray low bits) are rejected */
		if ((pads == 1 && (v[2] & 3) != 0) ||
		    (pads == 2 && (v[1] & 15) != 0)) {
			buf_commit(out, 0);
			return -1;
		}
	}
	buf_commit(out, o);
	return 0;
}

void base64_stream_init(struct base64_stream *st)
{
	*st = (struct base64_stream){0};
}

size_t base64_stream_decode(struct base64_stream *st, const void *in,
			    size_t len, unsigned char *dst)
{
	const char *s = in;
	size_t o = 0;

	for (size_t i = 0; i < len && !st->done; i++) {
		int v = b64_value(s[i]);

		if (v < 0) {
			if (s[i] == '=')
				st->done = true;
			else if (s[i] != '\r' && s[i] != '\n' && s[i] != ' ' &&
				 s[i] != '\t')
				st->malformed = true;
			continue;
		}
		st->acc = st->acc << 6 | (uint32_t)v;
		if (++st->nacc == 4) {
			dst[o++] = (unsigned char)(st->acc >> 16);
			dst[o++] = (unsigned char)(st->acc >> 8);
			dst[o++] = (unsigned char)st->acc;
			st->acc = 0;
			st->nacc = 0;
		}
	}
	return o;
}

size_t base64_stream_finish(struct base64_stream *st, unsigned char *dst)
{
	unsigned int n = st->nacc;
	uint32_t acc = st->acc;

	st->acc = 0;
	st->nacc = 0;
	if (n == 1)
		st->malformed = true;
	if (n < 2)
		return 0;
	acc <<= 6 * (4 - n);
	dst[0] = (unsigned char)(acc >> 16);
	dst[1] = (unsigned char)(acc >> 8);
	return n - 1;
}
