#include "utf8.h"

int utf8_seq_len(const void *in, size_t len)
{
	const unsigned char *p = in;
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	int n;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c <= 0xdf) {
		n = 2;
	} else if (c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* past U+10FFFF */
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((size_t)i >= len)
			return -1;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

bool utf8_valid(const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t i = 0;

	while (i < n) {
		int len = utf8_seq_len(p + i, n - i);

		if (len <= 0)
			return false;
		i += (size_t)len;
	}
	return true;
}

uint32_t utf8_decode(const void *in, size_t n)
{
	static const unsigned char lead_mask[] = {0x7f, 0x1f, 0x0f, 0x07};
	const unsigned char *p = in;
	uint32_t cp = p[0] & lead_mask[n - 1];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}
