/* Fuzz target: decoding for BINARY[] and SEARCH (lib/mime_decode.c,
 * mime_header.c, charset.c, mime_match.c).
 *
 * Input: byte 0 picks the CTE, byte 1 the charset and the split step;
 * then a needle up to the first NUL byte (at most 64 bytes), then the text.
 * Invariants (abort = bug):
 * - CTE decoding and text decoding give the same bytes whole and in splits,
 *   within the documented output bounds, and text output is valid UTF-8;
 * - RFC 2047 header decoding and charset conversion give valid UTF-8;
 * - the streaming matcher fed in splits agrees with the one-shot
 *   mime_match_contains, and finds the needle in text that contains it. */
#include <string.h>

#include "buf.h"
#include "charset.h"
#include "fuzz.h"
#include "mime_decode.h"
#include "mime_header.h"
#include "mime_match.h"
#include "str.h"

static const char *const charsets[] = {
	"utf-8",      "us-ascii",    "iso-8859-1", "windows-1252",
	"koi8-r",     "iso-2022-jp", "shift_jis",  "euc-kr",
	"gb18030",    "big5",	     "utf-16",	   "utf-16le",
	"utf-32",     "utf-7",	     "x-unknown",  "iso-8859-8-i",
};

static bool utf8_valid(const struct buf *b)
{
	return b->len == 0 ||
	       charset_utf8_valid_prefix(b->data, b->len) == b->len;
}

static void cte_decode(enum mime_cte cte, const uint8_t *in, size_t len,
		       size_t step, struct buf *out, uint64_t *total_r)
{
	struct mime_cte_decoder d;
	size_t pos = 0;

	buf_init(out, 4 * len + 4096);
	FUZZ_CHECK(mime_cte_decoder_init(&d, cte) == 0);
	while (pos < len) {
		size_t n = len - pos, before = out->len;

		if (step > 0 && n > step)
			n = step;
		FUZZ_CHECK(mime_cte_decode(&d, in + pos, n, out) == 0);
		FUZZ_CHECK(out->len - before <= n + 128);
		pos += n;
	}
	FUZZ_CHECK(mime_cte_decode_finish(&d, out) == 0);
	FUZZ_CHECK(d.total_out == out->len);
	*total_r = d.total_out;
}

static void text_decode(enum mime_cte cte, struct str cs, const uint8_t *in,
			size_t len, size_t step, struct buf *out)
{
	struct mime_text_decoder *d = mime_text_decoder_new(cte, cs);
	size_t pos = 0;

	FUZZ_CHECK(d != NULL);
	buf_init(out, 8 * len + 8192);
	while (pos < len) {
		size_t n = len - pos, before = out->len;

		if (step > 0 && n > step)
			n = step;
		FUZZ_CHECK(mime_text_decoder_feed(d, in + pos, n, out) == 0);
		FUZZ_CHECK(out->len - before <= 4 * n + 1024);
		pos += n;
	}
	FUZZ_CHECK(mime_text_decoder_finish(d, out) == 0);
	mime_text_decoder_free(&d);
	FUZZ_CHECK(d == NULL);
	FUZZ_CHECK(utf8_valid(out));
}

static bool same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool match_split(struct str needle, const void *hay, size_t len,
			size_t step)
{
	struct mime_matcher *m = mime_matcher_new(needle);
	const unsigned char *p = hay;
	size_t pos = 0;
	bool r;

	FUZZ_CHECK(m != NULL);
	if (p == NULL)
		p = (const unsigned char *)""; /* empty haystack */
	do {
		size_t n = len - pos;

		if (n > step)
			n = step;
		(void)mime_matcher_feed(m, p + pos, n);
		pos += n;
	} while (pos < len);
	r = mime_matcher_matched(m);
	/* reset: a new haystack; the empty one matches only the empty
	 * needle */
	mime_matcher_reset(m);
	FUZZ_CHECK(mime_matcher_matched(m) == false || needle.len == 0);
	mime_matcher_free(&m);
	return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum mime_cte cte;
	struct str cs, needle, text;
	struct buf a, b;
	uint64_t ta, tb;
	size_t step, nl;
	const uint8_t *nul;

	if (size < 2 || size > 1 << 18)
		return 0;
	cte = (enum mime_cte)(data[0] % 5); /* the known ones */
	cs = str_from_cstr(charsets[data[1] & 0x0f]);
	step = 1 + (data[1] >> 4);
	data += 2;
	size -= 2;
	nul = memchr(data, '\0', size < 65 ? size : 65);
	nl = nul != NULL ? (size_t)(nul - data) : 0;
	needle = (struct str){(const char *)data, nl};
	text = nul != NULL ? (struct str){(const char *)nul + 1, size - nl - 1}
			   : (struct str){(const char *)data, size};

	/* CTE: whole vs split */
	cte_decode(cte, (const uint8_t *)text.p, text.len, 0, &a, &ta);
	cte_decode(cte, (const uint8_t *)text.p, text.len, step, &b, &tb);
	FUZZ_CHECK(same(&a, &b) && ta == tb);
	buf_deinit(&a);
	buf_deinit(&b);
	/* the CTE parser itself never fails on a token */
	(void)mime_cte_parse(needle);

	/* text decoding to UTF-8: whole vs split */
	text_decode(cte, cs, (const uint8_t *)text.p, text.len, 0, &a);
	text_decode(cte, cs, (const uint8_t *)text.p, text.len, step, &b);
	/* malformed UTF-7 is the documented exception (charset.h) */
	FUZZ_CHECK(same(&a, &b) || str_eq_ci(cs, "utf-7"));

	/* the matcher over the decoded text: streaming = one-shot; a needle
	 * taken from the text itself is found */
	{
		struct str hay = {a.len > 0 ? (const char *)a.data : "",
				  a.len};
		bool one = mime_match_contains(hay, needle);

		FUZZ_CHECK(match_split(needle, a.data, a.len, step) == one);
		FUZZ_CHECK(match_split(needle, a.data, a.len, 1) == one);
		if (a.len > 0) {
			/* a prefix of valid UTF-8 cut on a char boundary */
			size_t cut = charset_utf8_valid_prefix(
				a.data, a.len < nl + 1 ? a.len : nl + 1);
			struct str sub = {(const char *)a.data, cut};

			FUZZ_CHECK(mime_match_contains(hay, sub));
		}
	}
	buf_deinit(&a);
	buf_deinit(&b);

	/* header values: unfolding and RFC 2047 */
	buf_init(&a, 8 * text.len + 8192);
	FUZZ_CHECK(mime_header_unfold(text, &a) == 0);
	FUZZ_CHECK(a.len <= text.len);
	buf_clear(&a);
	FUZZ_CHECK(mime_header_decode(text, &a) == 0);
	FUZZ_CHECK(utf8_valid(&a));
	buf_deinit(&a);

	/* charsets: one-shot = streaming in splits, always valid UTF-8 */
	{
		struct charset_conv *c;
		bool known;
		size_t pos = 0;

		(void)charset_is_known(needle);
		(void)charset_is_utf8(needle);
		buf_init(&a, 8 * text.len + 8192);
		buf_init(&b, 8 * text.len + 8192);
		FUZZ_CHECK(charset_to_utf8(cs, text.p, text.len, &a) == 0);
		FUZZ_CHECK(utf8_valid(&a));
		c = charset_conv_new(cs, &known);
		FUZZ_CHECK(c != NULL);
		while (pos < text.len) {
			size_t n = text.len - pos;

			if (n > step)
				n = step;
			FUZZ_CHECK(charset_conv_feed(c, text.p + pos, n, &b) ==
				   0);
			pos += n;
		}
		FUZZ_CHECK(charset_conv_finish(c, &b) == 0);
		FUZZ_CHECK(utf8_valid(&b));
		FUZZ_CHECK(same(&a, &b) || str_eq_ci(cs, "utf-7"));
		charset_conv_free(&c);
		buf_clear(&a);
		FUZZ_CHECK(charset_utf8_sanitize(text.p, text.len, &a) == 0);
		FUZZ_CHECK(utf8_valid(&a));
		/* a name from the input */
		buf_clear(&b);
		FUZZ_CHECK(charset_to_utf8(needle, text.p, text.len, &b) == 0);
		FUZZ_CHECK(utf8_valid(&b));
		buf_deinit(&a);
		buf_deinit(&b);
	}
	return 0;
}
