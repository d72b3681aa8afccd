/* Charset conversion to UTF-8 through iconv. iconv is told the exact
 * target "UTF-8" and we do our own replacement of undecodable input: glibc's
 * //TRANSLIT and //IGNORE differ between versions and would hide errors. */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "utf8.h"

#define CHARSET_NAME_MAX 64
#define CHARSET_HOLD_MAX 16

static const char utf8_replacement[] = "\xef\xbf\xbd";

/* MIME names iconv does not know (or knows under another name). */
static const struct {
	const char *alias;
	const char *iconv_name;
} charset_aliases[] = {
	{"utf8", "UTF-8"},
	{"latin1", "ISO-8859-1"},
	{"x-sjis", "SHIFT_JIS"},
	{"shift-jis", "SHIFT_JIS"},
	{"x-gbk", "GBK"},
	{"ks_c_5601-1987", "CP949"},
	{"x-euc-jp", "EUC-JP"},
	{"unicode-1-1-utf-7", "UTF-7"},
	{"x-unicode-2-0-utf-7", "UTF-7"},
	{"136", "BIG5"},
	{"cp-850", "CP850"},
	{"windows-874", "CP874"},
	{"iso-8859-8-i", "ISO-8859-8"},
	{"x-mac-roman", "MACINTOSH"},
};

struct charset_conv {
	iconv_t cd;   /* (iconv_t)-1 for the UTF-8 / unknown pass-through */
	bool utf8;    /* pass-through with validation */
	unsigned char hold[CHARSET_HOLD_MAX];
	size_t hold_len;
};

static int lower_name(struct str name, char *out, size_t outsz)
{
	size_t i;

	if (name.len == 0 || name.len >= outsz)
		return -1;
	for (i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];

		if (c <= ' ' || c >= 0x7f)
			return -1;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[i] = '\0';
	return 0;
}

bool charset_is_utf8(struct str name)
{
	char n[CHARSET_NAME_MAX];

	if (lower_name(name, n, sizeof(n)) < 0)
		return false;
	return strcmp(n, "utf-8") == 0 || strcmp(n, "utf8") == 0 ||
	       strcmp(n, "us-ascii") == 0 || strcmp(n, "ascii") == 0 ||
	       strcmp(n, "ansi_x3.4-1968") == 0 || strcmp(n, "us") == 0;
}

/* iconv to UTF-8 from name, or (iconv_t)-1. */
static iconv_t open_iconv(struct str name)
{
	char n[CHARSET_NAME_MAX];
	const char *from = n;

	if (lower_name(name, n, sizeof(n)) < 0)
		return (iconv_t)-1;
	for (size_t i = 0; i < N_ELEMENTS(charset_aliases); i++) {
		if (strcmp(n, charset_aliases[i].alias) == 0) {
			from = charset_aliases[i].iconv_name;
			break;
		}
	}
	/* glibc accepts "//" suffixes and option lists in names: a charset
	 * parameter from a message must not select conversion options. */
	if (strchr(from, '/') != NULL || strchr(from, ',') != NULL)
		return (iconv_t)-1;
	return iconv_open("UTF-8", from);
}

bool charset_is_known(struct str name)
{
	iconv_t cd;

	if (charset_is_utf8(name))
		return true;
	cd = open_iconv(name);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

struct charset_conv *charset_conv_new(struct str name, bool *known_r)
{
	struct charset_conv *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cd = (iconv_t)-1;
	if (charset_is_utf8(name)) {
		c->utf8 = true;
	} else {
		c->cd = open_iconv(name);
		c->utf8 = c->cd == (iconv_t)-1;
		if (c->utf8 && known_r != NULL) {
			*known_r = false;
			return c;
		}
	}
	if (known_r != NULL)
		*known_r = true;
	return c;
}

void charset_conv_free(struct charset_conv **cp)
{
	struct charset_conv *c = *cp;

	if (c == NULL)
		return;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	free(c);
	*cp = NULL;
}

size_t charset_utf8_valid_prefix(const void *in, size_t len)
{
	const unsigned char *p = in;
	size_t i = 0;

	while (i < len) {
		int n = utf8_seq_len(p + i, len - i);

		if (n <= 0)
			break;
		i += (size_t)n;
	}
	return i;
}

/* Sanitizes p; an incomplete sequence at the end is left unconsumed when
 * hold is true. Returns the bytes consumed, or -1 on overflow. */
static long long sanitize(const unsigned char *p, size_t len, bool hold,
			  struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		int n = 1;

		while (j < len && (n = utf8_seq_len(p + j, len - j)) > 0)
			j += (size_t)n;
		if (j > i && buf_append(out, p + i, j - i) < 0)
			return -1;
		i = j;
		if (i == len)
			break;
		if (n < 0 && hold)
			break;
		if (buf_append(out, utf8_replacement, 3) < 0)
			return -1;
		i++;
	}
	return (long long)i;
}

int charset_utf8_sanitize(const void *in, size_t len, struct buf *out)
{
	return sanitize(in, len, false, out) < 0 ? -1 : 0;
}

/* After a held sequence was fed again: drops the used bytes of hold. */
static void hold_drop(struct charset_conv *c, long long used)
{
	memmove(c->hold, c->hold + used, c->hold_len - (size_t)used);
	c->hold_len -= (size_t)used;
}

/* Keeps the unconverted tail of p (used of len bytes consumed) in hold:
 * the start of a sequence the next chunk completes. */
static void hold_keep(struct charset_conv *c, const unsigned char *p,
		      size_t len, long long used)
{
	if ((size_t)used < len) {
		memcpy(c->hold, p + used, len - (size_t)used);
		c->hold_len = len - (size_t)used;
	}
}

static int feed_utf8(struct charset_conv *c, const unsigned char *p,
		     size_t len, struct buf *out)
{
	long long used;

	/* complete a held sequence byte by byte */
	while (c->hold_len > 0 && len > 0) {
		c->hold[c->hold_len++] = *p++;
		len--;
		used = sanitize(c->hold, c->hold_len, true, out);
		if (used < 0)
			return -1;
		hold_drop(c, used);
	}
	used = sanitize(p, len, true, out);
	if (used < 0)
		return -1;
	/* at most 3 bytes of an incomplete sequence remain */
	hold_keep(c, p, len, used);
	return 0;
}

/* Runs iconv over in; returns bytes consumed or -1 on overflow. Stops
 * early (EINVAL) on an incomplete sequence at the end. */
static long long run_iconv(struct charset_conv *c, const unsigned char *in,
			   size_t len, bool final, struct buf *out)
{
	char *ip = (char *)(uintptr_t)in;
	size_t il = len;

	while (il > 0) {
		/* each input byte yields at most 4 (UTF-16 pairs: 4 per 4)
		 * UTF-8 bytes; 4x + 16 is always enough for one round */
		size_t room = il * 4 + 16;
		char *op = buf_reserve(out, room);
		size_t ol = room;
		size_t r;

		if (op == NULL)
			return -1;
		r = iconv(c->cd, &ip, &il, &op, &ol);
		buf_commit(out, room - ol);
		if (r != (size_t)-1)
			break;
		if (errno == EINVAL && !final && il < CHARSET_HOLD_MAX)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ, or EINVAL at the end: replace one byte, and start
		 * the next from the initial shift state, so a stateful
		 * charset (UTF-7, ISO-2022-*) continues the same way however
		 * the input was split */
		if (buf_append(out, utf8_replacement, 3) < 0)
			return -1;
		iconv(c->cd, NULL, NULL, NULL, NULL);
		ip++;
		il--;
	}
	return (long long)(len - il);
}

int charset_conv_feed(struct charset_conv *c, const void *in, size_t len,
		      struct buf *out)
{
	const unsigned char *p = in;
	long long used;

	if (c->utf8)
		return feed_utf8(c, p, len, out);
	while (c->hold_len > 0 && len > 0) {
		c->hold[c->hold_len++] = *p++;
		len--;
		used = run_iconv(c, c->hold, c->hold_len, false, out);
		if (used < 0)
			return -1;
		hold_drop(c, used);
		if (c->hold_len == CHARSET_HOLD_MAX) {
			/* cannot be a sequence start: give up on a byte */
			if (buf_append(out, utf8_replacement, 3) < 0)
				return -1;
			memmove(c->hold, c->hold + 1, --c->hold_len);
		}
	}
	used = run_iconv(c, p, len, false, out);
	if (used < 0)
		return -1;
	hold_keep(c, p, len, used);
	return 0;
}

int charset_conv_finish(struct charset_conv *c, struct buf *out)
{
	int ret = 0;

	if (c->utf8) {
		if (c->hold_len > 0 &&
		    sanitize(c->hold, c->hold_len, false, out) < 0)
			ret = -1;
		c->hold_len = 0;
		return ret;
	}
	if (c->hold_len > 0 &&
	    run_iconv(c, c->hold, c->hold_len, true, out) < 0)
		ret = -1;
	c->hold_len = 0;
	/* flush the shift state (ISO-2022-JP ends in ASCII) and reset */
	{
		char tmp[16];
		char *op = tmp;
		size_t ol = sizeof(tmp);

		if (iconv(c->cd, NULL, NULL, &op, &ol) != (size_t)-1 &&
		    op > tmp && buf_append(out, tmp, (size_t)(op - tmp)) < 0)
			ret = -1;
		iconv(c->cd, NULL, NULL, NULL, NULL);
	}
	return ret;
}

int charset_to_utf8(struct str name, const void *in, size_t len,
		    struct buf *out)
{
	struct charset_conv *c;
	int ret;

	if (charset_is_utf8(name))
		return charset_utf8_sanitize(in, len, out);
	c = charset_conv_new(name, NULL);
	if (c == NULL)
		return -1;
	ret = charset_conv_feed(c, in, len, out);
	if (charset_conv_finish(c, out) < 0)
		ret = -1;
	charset_conv_free(&c);
	return ret;
}
