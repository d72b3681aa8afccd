/* Streaming Content-Transfer-Encoding decoders (RFC 2045 §6.7, §6.8) and
 * the text-part decoder for SEARCH. The QP decoder holds undecided bytes
 * (an '=' sequence or a run of whitespace that may be trailing padding)
 * in pend; a run longer than pend is not padding any sender produces and
 * is passed on as content. */
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "mime_decode.h"
#include "mime_private.h"

enum mime_cte mime_cte_parse(struct str cte)
{
	if (cte.p == NULL || cte.len == 0 || str_eq_ci(cte, "7bit"))
		return MIME_CTE_7BIT;
	if (str_eq_ci(cte, "8bit"))
		return MIME_CTE_8BIT;
	if (str_eq_ci(cte, "binary"))
		return MIME_CTE_BINARY;
	if (str_eq_ci(cte, "quoted-printable"))
		return MIME_CTE_QP;
	if (str_eq_ci(cte, "base64"))
		return MIME_CTE_BASE64;
	return MIME_CTE_UNKNOWN;
}

int mime_cte_decoder_init(struct mime_cte_decoder *d, enum mime_cte cte)
{
	memset(d, 0, sizeof(*d));
	base64_stream_init(&d->b64);
	d->cte = cte;
	return cte == MIME_CTE_UNKNOWN ? -1 : 0;
}

static int emit(struct mime_cte_decoder *d, struct buf *out, const void *p,
		size_t n)
{
	d->total_out += n;
	if (out == NULL || n == 0)
		return 0;
	return buf_append(out, p, n);
}

/* Input bytes base64_stream_decode sees at a time (bounds the stack). */
#define B64_CHUNK 256

static int b64_decode(struct mime_cte_decoder *d, const unsigned char *in,
		      size_t len, struct buf *out)
{
	unsigned char o[BASE64_STREAM_MAX_OUT(B64_CHUNK)];

	for (size_t i = 0; i < len; i += B64_CHUNK) {
		size_t n = len - i < B64_CHUNK ? len - i : B64_CHUNK;
		size_t on = base64_stream_decode(&d->b64, in + i, n, o);

		if (emit(d, out, o, on) < 0)
			return -1;
	}
	d->malformed |= d->b64.malformed;
	return 0;
}

static int b64_finish(struct mime_cte_decoder *d, struct buf *out)
{
	unsigned char o[2];
	size_t on = base64_stream_finish(&d->b64, o);

	d->malformed |= d->b64.malformed;
	return emit(d, out, o, on);
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Tries to settle pend. Returns 1 when it consumed pend (possibly
 * leaving bytes to re-feed in refeed/nrefeed), 0 when more input is
 * needed, -1 on overflow. */
static int qp_settle(struct mime_cte_decoder *d, struct buf *out, bool eof,
		     unsigned char *refeed, size_t *nrefeed)
{
	unsigned char *p = d->pend;
	size_t n = d->pend_len, i;
	/* may we wait for more input? not at the end, nor when pend is full */
	bool wait = !eof && n < sizeof(d->pend);

	*nrefeed = 0;
	if (p[0] == '=') {
		if (n >= 2 && mime_hexval(p[1]) >= 0) {
			if (n == 2 && wait)
				return 0;
			if (n >= 3 && mime_hexval(p[2]) >= 0) {
				unsigned char c =
					(unsigned char)(mime_hexval(p[1]) * 16 +
							mime_hexval(p[2]));

				d->pend_len = 0;
				if (emit(d, out, &c, 1) < 0)
					return -1;
				memcpy(refeed, p + 3, n - 3);
				*nrefeed = n - 3;
				return 1;
			}
		} else {
			/* "=" [whitespace] line break: soft break */
			for (i = 1; i < n && is_wsp(p[i]); i++)
				;
			if (i == n && wait)
				return 0;
			if (i < n && p[i] == '\n') {
				d->pend_len = 0;
				memcpy(refeed, p + i + 1, n - i - 1);
				*nrefeed = n - i - 1;
				return 1;
			}
			if (i < n && p[i] == '\r') {
				if (i + 1 == n && wait)
					return 0;
				if (i + 1 < n && p[i + 1] == '\n') {
					d->pend_len = 0;
					memcpy(refeed, p + i + 2, n - i - 2);
					*nrefeed = n - i - 2;
					return 1;
				}
			}
			if (i == n && eof) {
				/* "=" at the very end: a soft break */
				d->pend_len = 0;
				return 1;
			}
		}
		if (n == 1 && wait)
			return 0;
		/* not a valid escape: '=' is content, the rest re-fed */
		d->malformed = true;
		d->pend_len = 0;
		if (emit(d, out, "=", 1) < 0)
			return -1;
		memcpy(refeed, p + 1, n - 1);
		*nrefeed = n - 1;
		return 1;
	}
	/* a whitespace run: dropped if a line break (or the end) follows */
	for (i = 0; i < n && is_wsp(p[i]); i++)
		;
	if (i == n && wait)
		return 0;
	if (i == n && eof) {
		d->pend_len = 0;
		return 1;
	}
	if (i < n && p[i] == '\r' && i + 1 == n && wait)
		return 0;
	if (i < n && (p[i] == '\n' ||
		      (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))) {
		d->pend_len = 0;
		memcpy(refeed, p + i, n - i);
		*nrefeed = n - i;
		return 1;
	}
	/* content: the whitespace stays */
	d->pend_len = 0;
	if (i == 0)
		i = 1;
	if (emit(d, out, p, i) < 0)
		return -1;
	memcpy(refeed, p + i, n - i);
	*nrefeed = n - i;
	return 1;
}

static int qp_byte(struct mime_cte_decoder *d, unsigned char c,
		   struct buf *out)
{
	unsigned char refeed[sizeof(d->pend)];
	size_t nrefeed;
	int r;

	if (d->pend_len == 0 && c != '=' && !is_wsp(c))
		return emit(d, out, &c, 1);
	d->pend[d->pend_len++] = c;
	r = qp_settle(d, out, false, refeed, &nrefeed);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < nrefeed; i++) {
		if (qp_byte(d, refeed[i], out) < 0)
			return -1;
	}
	return 0;
}

static int qp_decode(struct mime_cte_decoder *d, const unsigned char *in,
		     size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		/* plain runs in one append */
		if (d->pend_len == 0) {
			while (j < len && in[j] != '=' && !is_wsp(in[j]))
				j++;
			if (j > i && emit(d, out, in + i, j - i) < 0)
				return -1;
			i = j;
			if (i == len)
				break;
		}
		if (qp_byte(d, in[i++], out) < 0)
			return -1;
	}
	return 0;
}

static int qp_finish(struct mime_cte_decoder *d, struct buf *out)
{
	unsigned char refeed[sizeof(d->pend)];
	size_t nrefeed;

	while (d->pend_len > 0) {
		if (qp_settle(d, out, true, refeed, &nrefeed) < 0)
			return -1;
		/* shorter than pend was: this terminates */
		for (size_t i = 0; i < nrefeed; i++) {
			if (qp_byte(d, refeed[i], out) < 0)
				return -1;
		}
	}
	return 0;
}

int mime_cte_decode(struct mime_cte_decoder *d, const void *in, size_t len,
		    struct buf *out)
{
	switch (d->cte) {
	case MIME_CTE_BASE64:
		return b64_decode(d, in, len, out);
	case MIME_CTE_QP:
		return qp_decode(d, in, len, out);
	case MIME_CTE_UNKNOWN:
		return -1;
	default:
		return emit(d, out, in, len);
	}
}

int mime_cte_decode_finish(struct mime_cte_decoder *d, struct buf *out)
{
	switch (d->cte) {
	case MIME_CTE_BASE64:
		return b64_finish(d, out);
	case MIME_CTE_QP:
		return qp_finish(d, out);
	default:
		return 0;
	}
}

/* --- text parts --- */

struct mime_text_decoder {
	struct mime_cte_decoder cte;
	struct charset_conv *conv;
	struct buf tmp;
};

struct mime_text_decoder *mime_text_decoder_new(enum mime_cte cte,
						struct str charset)
{
	struct mime_text_decoder *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (mime_cte_decoder_init(&d->cte, cte) < 0)
		mime_cte_decoder_init(&d->cte, MIME_CTE_7BIT);
	if (charset.len == 0)
		charset = STR_LIT("us-ascii");
	d->conv = charset_conv_new(charset, NULL);
	if (d->conv == NULL) {
		free(d);
		return NULL;
	}
	buf_init(&d->tmp, SIZE_MAX);
	return d;
}

struct mime_text_decoder *mime_text_decoder_new_part(
	const struct mime_part *part)
{
	return mime_text_decoder_new(mime_cte_parse(part->cte),
				     mime_part_charset(part));
}

int mime_text_decoder_feed(struct mime_text_decoder *d, const void *in,
			   size_t len, struct buf *out)
{
	int r;

	buf_clear(&d->tmp);
	if (mime_cte_decode(&d->cte, in, len, &d->tmp) < 0)
		return -1;
	r = charset_conv_feed(d->conv, d->tmp.data, d->tmp.len, out);
	buf_clear(&d->tmp);
	return r;
}

int mime_text_decoder_finish(struct mime_text_decoder *d, struct buf *out)
{
	int r = 0;

	buf_clear(&d->tmp);
	if (mime_cte_decode_finish(&d->cte, &d->tmp) < 0)
		r = -1;
	if (d->tmp.len > 0 &&
	    charset_conv_feed(d->conv, d->tmp.data, d->tmp.len, out) < 0)
		r = -1;
	if (charset_conv_finish(d->conv, out) < 0)
		r = -1;
	buf_clear(&d->tmp);
	return r;
}

void mime_text_decoder_free(struct mime_text_decoder **dp)
{
	struct mime_text_decoder *d = *dp;

	if (d == NULL)
		return;
	charset_conv_free(&d->conv);
	buf_deinit(&d->tmp);
	free(d);
	*dp = NULL;
}
