/* Incremental case-insensitive substring search: the haystack is decoded
 * from UTF-8 one byte at a time (state carried across chunks), each code
 * point folded, and matched against the folded needle with
 * Knuth-Morris-Pratt, so the state is the needle and one partial UTF-8
 * sequence whatever the haystack size. The fold table is our own, not
 * towlower(): that depends on the process locale. */
#include <stdlib.h>
#include <string.h>

#include "mime_match.h"

#define REPLACEMENT 0xfffdu

/* Pairs upper/lower at (even, odd) or (odd, even) code points. */
static uint32_t fold_pair(uint32_t cp, bool upper_even)
{
	if (((cp & 1) == 0) == upper_even)
		return cp + 1;
	return cp;
}

uint32_t mime_match_fold(uint32_t cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	if (cp < 0x100)
		return cp >= 0xc0 && cp <= 0xde && cp != 0xd7 ? cp + 32 : cp;
	if (cp < 0x180) {
		/* Latin Extended-A */
		if (cp == 0x130)
			return 'i';
		if (cp == 0x178)
			return 0xff;
		if (cp == 0x138 || cp == 0x149 || cp == 0x17f)
			return cp;
		if ((cp >= 0x139 && cp <= 0x148) ||
		    (cp >= 0x179 && cp <= 0x17e))
			return fold_pair(cp, false);
		return fold_pair(cp, true);
	}
	if (cp < 0x250) {
		/* Latin Extended-B: the regular runs only */
		switch (cp) {
		case 0x1c4: case 0x1c5: return 0x1c6;
		case 0x1c7: case 0x1c8: return 0x1c9;
		case 0x1ca: case 0x1cb: return 0x1cc;
		case 0x1f1: case 0x1f2: return 0x1f3;
		}
		if (cp >= 0x1cd && cp <= 0x1dc)
			return fold_pair(cp, false);
		if ((cp >= 0x1de && cp <= 0x1ef) ||
		    (cp >= 0x1f8 && cp <= 0x21f) ||
		    (cp >= 0x222 && cp <= 0x233) ||
		    (cp >= 0x246 && cp <= 0x24f))
			return fold_pair(cp, true);
		return cp;
	}
	if (cp >= 0x370 && cp < 0x400) {
		/* Greek */
		if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
			return cp + 32;
		if (cp == 0x386)
			return 0x3ac;
		if (cp >= 0x388 && cp <= 0x38a)
			return cp + 37;
		if (cp == 0x38c)
			return 0x3cc;
		if (cp == 0x38e || cp == 0x38f)
			return cp + 63;
		if (cp == 0x3c2) /* final sigma */
			return 0x3c3;
		if (cp >= 0x3aa && cp <= 0x3ab)
			return cp + 32;
		if (cp >= 0x3d8 && cp <= 0x3ef)
			return fold_pair(cp, true);
		return cp;
	}
	if (cp >= 0x400 && cp < 0x530) {
		/* Cyrillic and Cyrillic Supplement */
		if (cp < 0x410)
			return cp + 80;
		if (cp < 0x430)
			return cp + 32;
		if (cp < 0x460)
			return cp;
		if (cp <= 0x481 || (cp >= 0x48a && cp <= 0x4bf) ||
		    (cp >= 0x4d0 && cp <= 0x52f))
			return fold_pair(cp, true);
		if (cp == 0x4c0)
			return 0x4cf;
		if (cp >= 0x4c1 && cp <= 0x4ce)
			return fold_pair(cp, false);
		return cp;
	}
	if (cp >= 0x1e00 && cp <= 0x1eff) {
		/* Latin Extended Additional (Vietnamese and others) */
		if (cp == 0x1e9e)
			return 0xdf;
		if (cp <= 0x1e95 || cp >= 0x1ea0)
			return fold_pair(cp, true);
		return cp;
	}
	return cp;
}

struct utf8_state {
	uint32_t cp;
	unsigned int need; /* continuation bytes still expected */
	unsigned char lo, hi;
};

/* Feeds one byte; returns the number of code points written to out (0, 1
 * or 2: a broken sequence's U+FFFD followed by this byte's result). */
static unsigned int utf8_step(struct utf8_state *s, unsigned char c,
			      uint32_t out[2])
{
	unsigned int n = 0;

	if (s->need > 0) {
		if (c >= s->lo && c <= s->hi) {
			s->cp = s->cp << 6 | (c & 0x3f);
			s->lo = 0x80;
			s->hi = 0xbf;
			if (--s->need == 0)
				out[n++] = s->cp;
			return n;
		}
		s->need = 0;
		out[n++] = REPLACEMENT;
	}
	s->lo = 0x80;
	s->hi = 0xbf;
	if (c < 0x80) {
		out[n++] = c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		s->cp = c & 0x1f;
		s->need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		s->cp = c & 0x0f;
		s->need = 2;
		if (c == 0xe0)
			s->lo = 0xa0;
		if (c == 0xed)
			s->hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		s->cp = c & 0x07;
		s->need = 3;
		if (c == 0xf0)
			s->lo = 0x90;
		if (c == 0xf4)
			s->hi = 0x8f;
	} else {
		out[n++] = REPLACEMENT;
	}
	return n;
}

struct mime_matcher {
	uint32_t *needle;
	size_t *fail;
	size_t len;
	size_t pos; /* needle code points matched so far */
	bool matched;
	struct utf8_state u;
};

struct mime_matcher *mime_matcher_new(struct str needle)
{
	struct mime_matcher *m = calloc(1, sizeof(*m));
	struct utf8_state u;
	uint32_t cps[2];
	size_t k;

	if (m == NULL)
		return NULL;
	m->needle = calloc(needle.len + 1, sizeof(*m->needle));
	m->fail = calloc(needle.len + 1, sizeof(*m->fail));
	if (m->needle == NULL || m->fail == NULL) {
		mime_matcher_free(&m);
		return NULL;
	}
	memset(&u, 0, sizeof(u));
	for (size_t i = 0; i < needle.len; i++) {
		unsigned int n = utf8_step(&u, (unsigned char)needle.p[i], cps);

		for (unsigned int j = 0; j < n; j++)
			m->needle[m->len++] = mime_match_fold(cps[j]);
	}
	if (u.need > 0)
		m->needle[m->len++] = REPLACEMENT;
	/* KMP failure function */
	k = 0;
	for (size_t i = 1; i < m->len; i++) {
		while (k > 0 && m->needle[i] != m->needle[k])
			k = m->fail[k - 1];
		if (m->needle[i] == m->needle[k])
			k++;
		m->fail[i] = k;
	}
	mime_matcher_reset(m);
	return m;
}

void mime_matcher_free(struct mime_matcher **mp)
{
	struct mime_matcher *m = *mp;

	if (m == NULL)
		return;
	free(m->needle);
	free(m->fail);
	free(m);
	*mp = NULL;
}

void mime_matcher_reset(struct mime_matcher *m)
{
	m->pos = 0;
	m->matched = m->len == 0;
	memset(&m->u, 0, sizeof(m->u));
}

bool mime_matcher_matched(const struct mime_matcher *m)
{
	return m->matched;
}

static void step(struct mime_matcher *m, uint32_t cp)
{
	cp = mime_match_fold(cp);
	while (m->pos > 0 && m->needle[m->pos] != cp)
		m->pos = m->fail[m->pos - 1];
	if (m->needle[m->pos] == cp && ++m->pos == m->len)
		m->matched = true;
}

bool mime_matcher_feed(struct mime_matcher *m, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t cps[2];

	for (size_t i = 0; i < len && !m->matched; i++) {
		unsigned int n;

		/* ASCII fast path when no sequence is open */
		if (p[i] < 0x80 && m->u.need == 0) {
			step(m, p[i]);
			continue;
		}
		n = utf8_step(&m->u, p[i], cps);
		for (unsigned int j = 0; j < n && !m->matched; j++)
			step(m, cps[j]);
	}
	return m->matched;
}

bool mime_match_contains(struct str hay, struct str needle)
{
	struct mime_matcher *m = mime_matcher_new(needle);
	bool r;

	if (m == NULL)
		return false;
	r = mime_matcher_feed(m, hay.p, hay.len);
	mime_matcher_free(&m);
	return r;
}
