/* Mailbox name encodings: modified UTF-7 (RFC 3501 5.1.3: UTF-16 in a
 * base64 variant with ',' for '/', between '&' and '-'; "&-" is '&') and
 * the quoted form names take in responses. */
#include "imap_mailbox.h"

#include <stdint.h>
#include <string.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char ch)
{
	const char *p;

	if (ch == '\0')
		return -1;
	p = strchr(b64chars, ch);
	return p == NULL ? -1 : (int)(p - b64chars);
}

static int put_utf8(struct buf *out, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, b, n);
}

/* Decodes one shifted run in[*pos..'-'), *pos just after '&'. */
static int decode_shift(struct str in, size_t *pos, struct buf *out)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	size_t i = *pos, units = 0;

	for (; i < in.len && in.p[i] != '-'; i++) {
		int v = b64val((unsigned char)in.p[i]);

		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;

		bits &= (1u << nbits) - 1;
		units++;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			if (put_utf8(out, 0x10000 + ((high - 0xd800) << 10) +
						  (u - 0xdc00)) < 0)
				return -1;
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if (u >= 0x20 && u <= 0x7e) {
			return -1; /* printable ASCII must not be shifted */
		} else if (put_utf8(out, u) < 0) {
			return -1;
		}
	}
	/* unterminated, empty, a dangling surrogate, or nonzero padding */
	if (i == in.len || units == 0 || high != 0 || nbits >= 6 || bits != 0)
		return -1;
	*pos = i + 1;
	return 0;
}

int imap_mutf7_decode(struct str in, struct buf *out)
{
	size_t i = 0;

	while (i < in.len) {
		unsigned char ch = (unsigned char)in.p[i];

		if (ch < 0x20 || ch > 0x7e)
			return -1;
		if (ch != '&') {
			if (buf_append(out, &ch, 1) < 0)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < in.len && in.p[i] == '-') {
			if (buf_append(out, "&", 1) < 0)
				return -1;
			i++;
			continue;
		}
		if (decode_shift(in, &i, out) < 0)
			return -1;
	}
	return 0;
}

/* Next code point of valid UTF-8 at *pos. */
static uint32_t next_cp(struct str in, size_t *pos)
{
	const unsigned char *s = (const unsigned char *)in.p + *pos;
	size_t left = in.len - *pos;
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		cp = s[0];
		n = 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1fu;
		n = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0fu;
		n = 3;
	} else {
		cp = s[0] & 0x07u;
		n = 4;
	}
	if (n > left)
		n = left;
	for (size_t k = 1; k < n; k++)
		cp = (cp << 6) | (s[k] & 0x3fu);
	*pos += n;
	return cp;
}

static int flush_b64(struct buf *out, uint32_t *bits, unsigned *nbits)
{
	while (*nbits >= 6) {
		*nbits -= 6;
		if (buf_append(out, &b64chars[(*bits >> *nbits) & 0x3f], 1) < 0)
			return -1;
	}
	*bits &= (1u << *nbits) - 1;
	return 0;
}

int imap_mutf7_encode(struct str in, struct buf *out)
{
	size_t i = 0;

	while (i < in.len) {
		unsigned char ch = (unsigned char)in.p[i];
		uint32_t bits = 0;
		unsigned nbits = 0;

		if (ch >= 0x20 && ch <= 0x7e) {
			if (buf_append(out, ch == '&' ? "&-" : in.p + i,
				       ch == '&' ? 2 : 1) < 0)
				return -1;
			i++;
			continue;
		}
		if (buf_append(out, "&", 1) < 0)
			return -1;
		while (i < in.len && ((unsigned char)in.p[i] < 0x20 ||
				      (unsigned char)in.p[i] > 0x7e)) {
			uint32_t cp = next_cp(in, &i);
			uint32_t units[2];
			size_t nu = 1;

			if (cp >= 0x10000) {
				units[0] = 0xd800 + ((cp - 0x10000) >> 10);
				units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
			}
			for (size_t k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				if (flush_b64(out, &bits, &nbits) < 0)
					return -1;
			}
		}
		if (nbits > 0) {
			bits <<= 6 - nbits;
			if (buf_append(out, &b64chars[bits & 0x3f], 1) < 0)
				return -1;
		}
		if (buf_append(out, "-", 1) < 0)
			return -1;
	}
	return 0;
}

bool imap_mailbox_utf8(const struct client *c)
{
	return c->utf8 || c->rev2;
}

static int mailbox_decode(struct client *c, struct str arg, struct buf *out)
{
	if (str_has_nul(arg))
		return -1;
	if (imap_mailbox_utf8(c))
		return buf_append(out, arg.p, arg.len);
	return imap_mutf7_decode(arg, out);
}

int imap_mailbox_name(struct client *c, struct str arg, char *out,
		      const char **error_r)
{
	struct buf b;
	const char *serr;
	enum storage_result r;

	buf_init(&b, STORAGE_MAILBOX_NAME_MAX * 2);
	if (mailbox_decode(c, arg, &b) < 0) {
		buf_deinit(&b);
		*error_r = imap_mailbox_utf8(c)
				   ? "Invalid mailbox name"
				   : "Invalid modified UTF-7 mailbox name";
		return -1;
	}
	if (b.len > 1 && b.data[b.len - 1] == IMAP_MAILBOX_DELIM)
		b.data[--b.len] = '\0';
	r = storage_mailbox_name_check(buf_cstr(&b), out,
				       STORAGE_MAILBOX_NAME_MAX + 1, &serr);
	buf_deinit(&b);
	if (r != STORAGE_OK) {
		*error_r = r == STORAGE_ERR_LIMIT ? "Mailbox name too long"
						  : "Invalid mailbox name";
		return -1;
	}
	return 0;
}

int imap_mailbox_pattern(struct client *c, struct str pat, struct buf *out)
{
	return mailbox_decode(c, pat, out);
}

int imap_mailbox_write(struct client *c, struct buf *out, const char *name)
{
	struct str s = str_from_cstr(name);
	struct buf enc;
	int ret = 0;

	if (imap_mailbox_utf8(c)) {
		buf_init(&enc, 0);
	} else {
		buf_init(&enc, STORAGE_MAILBOX_NAME_MAX * 4);
		if (imap_mutf7_encode(s, &enc) < 0) {
			buf_deinit(&enc);
			return -1;
		}
		s.p = buf_cstr(&enc);
		s.len = enc.len;
	}
	/* names hold no controls (storage refuses them): quoting suffices,
	 * and 8-bit UTF-8 in a quoted string is IMAP4rev2 / UTF8=ACCEPT */
	if (buf_append(out, "\"", 1) < 0)
		ret = -1;
	for (size_t i = 0; ret == 0 && i < s.len; i++) {
		if ((s.p[i] == '"' || s.p[i] == '\\') &&
		    buf_append(out, "\\", 1) < 0)
			ret = -1;
		else if (buf_append(out, s.p + i, 1) < 0)
			ret = -1;
	}
	if (ret == 0 && buf_append(out, "\"", 1) < 0)
		ret = -1;
	buf_deinit(&enc);
	return ret;
}
