/* CTE decoders against known vectors in every split, RFC 2047 header
 * decoding, the header reader, the HEADER.FIELDS filter, text-part
 * decoding, and the case-insensitive matcher across chunk boundaries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "mime.h"
#include "mime_decode.h"
#include "mime_header.h"
#include "mime_match.h"
#include "tap.h"

/* Decodes in with cte, fed in pieces of `step` bytes (0: whole). */
static bool cte_is(enum mime_cte cte, const char *in, size_t inlen,
		   const char *want, size_t wantlen, size_t step)
{
	struct mime_cte_decoder d, dn;
	struct buf out;
	bool ok;

	buf_init(&out, SIZE_MAX);
	if (mime_cte_decoder_init(&d, cte) < 0 ||
	    mime_cte_decoder_init(&dn, cte) < 0)
		return false;
	for (size_t i = 0; i < inlen;) {
		size_t n = step == 0 || inlen - i < step ? inlen - i : step;

		mime_cte_decode(&d, in + i, n, &out);
		mime_cte_decode(&dn, in + i, n, NULL); /* count only */
		i += n;
	}
	mime_cte_decode_finish(&d, &out);
	mime_cte_decode_finish(&dn, NULL);
	ok = out.len == wantlen && memcmp(buf_cstr(&out), want, wantlen) == 0 &&
	     d.total_out == wantlen && dn.total_out == wantlen;
	if (!ok)
		fprintf(stderr, "cte %d step %zu: got [%s] want [%s]\n", cte,
			step, buf_cstr(&out), want);
	buf_deinit(&out);
	return ok;
}

static bool cte_all_splits(enum mime_cte cte, const char *in,
			   const char *want)
{
	bool ok = true;

	for (size_t step = 0; step <= 7; step++)
		ok &= cte_is(cte, in, strlen(in), want, strlen(want), step);
	return ok;
}

static void test_cte(void)
{
	/* RFC 4648 §10 */
	CHECK(cte_all_splits(MIME_CTE_BASE64, "", ""));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zg==", "f"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm8=", "fo"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9v", "foo"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9vYg==", "foob"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9vYmE=", "fooba"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9v\r\nYmFy\r\n", "foobar"));
	/* unpadded tail, junk ignored */
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9vYmE", "fooba"));
	CHECK(cte_all_splits(MIME_CTE_BASE64, "Zm9v*YmFy", "foobar"));
	{
		struct mime_cte_decoder d;

		mime_cte_decoder_init(&d, MIME_CTE_BASE64);
		mime_cte_decode(&d, "Zm!9v", 5, NULL);
		CHECK(d.malformed && d.total_out == 3);
	}
	{
		/* a lone trailing character is malformed, and dropped */
		struct mime_cte_decoder d;

		mime_cte_decoder_init(&d, MIME_CTE_BASE64);
		mime_cte_decode(&d, "Zm9vY", 5, NULL);
		CHECK(!d.malformed);
		mime_cte_decode_finish(&d, NULL);
		CHECK(d.malformed && d.total_out == 3);
	}
	{
		/* longer than one internal chunk, in lines of 76 */
		static const size_t steps[] = {0, 1, 76, 255, 257, 1000};
		unsigned char plain[700];
		struct buf enc, lines;

		for (size_t i = 0; i < sizeof(plain); i++)
			plain[i] = (unsigned char)(i * 7 + 3);
		buf_init(&enc, SIZE_MAX);
		buf_init(&lines, SIZE_MAX);
		CHECK(base64_encode(&enc, plain, sizeof(plain)) == 0);
		for (size_t i = 0; i < enc.len; i += 76) {
			size_t n = enc.len - i < 76 ? enc.len - i : 76;

			buf_append(&lines, enc.data + i, n);
			buf_append(&lines, "\r\n", 2);
		}
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			CHECK(cte_is(MIME_CTE_BASE64, buf_cstr(&lines),
				     lines.len, (const char *)plain,
				     sizeof(plain), steps[i]));
		buf_deinit(&enc);
		buf_deinit(&lines);
	}
	/* RFC 2045 §6.7 rules */
	CHECK(cte_all_splits(MIME_CTE_QP, "caf=E9", "caf\xe9"));
	CHECK(cte_all_splits(MIME_CTE_QP, "caf=e9", "caf\xe9"));
	CHECK(cte_all_splits(MIME_CTE_QP, "soft=\r\nbreak", "softbreak"));
	CHECK(cte_all_splits(MIME_CTE_QP, "soft=  \r\nbreak", "softbreak"));
	CHECK(cte_all_splits(MIME_CTE_QP, "lf=\nbreak", "lfbreak"));
	CHECK(cte_all_splits(MIME_CTE_QP, "pad   \r\nx", "pad\r\nx"));
	CHECK(cte_all_splits(MIME_CTE_QP, "pad \t\nx \t", "pad\nx"));
	CHECK(cte_all_splits(MIME_CTE_QP, "a b\tc", "a b\tc"));
	CHECK(cte_all_splits(MIME_CTE_QP, "bad=ZZ=4", "bad=ZZ=4"));
	CHECK(cte_all_splits(MIME_CTE_QP, "==41=3D", "=A="));
	CHECK(cte_all_splits(MIME_CTE_QP, "end=", "end"));
	CHECK(cte_all_splits(MIME_CTE_QP, "x=\r", "x=\r"));
	CHECK(cte_all_splits(MIME_CTE_7BIT, "as is=41\r\n", "as is=41\r\n"));
	{
		/* a whitespace run longer than the decoder holds is kept */
		char in[400], want[400];

		memset(in, ' ', 300);
		memcpy(in + 300, "x\r\n", 4);
		memcpy(want, in, 304);
		CHECK(cte_all_splits(MIME_CTE_QP, in, want));
	}
	CHECK(mime_cte_parse(STR_LIT("Base64")) == MIME_CTE_BASE64);
	CHECK(mime_cte_parse(STR_LIT("QUOTED-PRINTABLE")) == MIME_CTE_QP);
	CHECK(mime_cte_parse((struct str){NULL, 0}) == MIME_CTE_7BIT);
	CHECK(mime_cte_parse(STR_LIT("x-uuencode")) == MIME_CTE_UNKNOWN);
	{
		struct mime_cte_decoder d;

		CHECK(mime_cte_decoder_init(&d, MIME_CTE_UNKNOWN) < 0);
	}
	/* random input in random splits decodes the same as whole */
	{
		unsigned int seed = 7;
		static const char alpha[] = "=AF09 \t\r\nzq=\r\n";

		for (int iter = 0; iter < 2000; iter++) {
			char in[64];
			size_t n = (size_t)(rand_r(&seed) % 64);
			struct buf whole;
			struct mime_cte_decoder d;
			enum mime_cte cte =
				iter % 2 ? MIME_CTE_QP : MIME_CTE_BASE64;

			for (size_t i = 0; i < n; i++)
				in[i] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
			buf_init(&whole, SIZE_MAX);
			mime_cte_decoder_init(&d, cte);
			mime_cte_decode(&d, in, n, &whole);
			mime_cte_decode_finish(&d, &whole);
			CHECK(cte_is(cte, in, n, buf_cstr(&whole), whole.len, 1));
			CHECK(cte_is(cte, in, n, buf_cstr(&whole), whole.len, 3));
			buf_deinit(&whole);
		}
	}
}

static bool decodes_to(const char *raw, const char *want)
{
	struct buf out;
	bool ok;

	buf_init(&out, SIZE_MAX);
	ok = mime_header_decode(str_from_cstr(raw), &out) == 0 &&
	     strcmp(buf_cstr(&out), want) == 0;
	if (!ok)
		fprintf(stderr, "decode [%s] = [%s] want [%s]\n", raw,
			buf_cstr(&out), want);
	buf_deinit(&out);
	return ok;
}

static void test_rfc2047(void)
{
	/* RFC 2047 §8 examples */
	CHECK(decodes_to("=?ISO-8859-1?Q?a?=", "a"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a?= b", "a b"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=",
			 "ab"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a_b?=", "a b"));
	CHECK(decodes_to("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b"));
	CHECK(decodes_to("=?ISO-8859-1?Q?Andr=E9?= Pirard",
			 "Andr\xc3\xa9 Pirard"));
	CHECK(decodes_to("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
			 " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
			 "If you can read this you understand the example."));
	/* a multibyte character split across two words */
	CHECK(decodes_to("=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "\xe2\x82\xac"));
	CHECK(decodes_to("=?utf-8*en?q?x?=", "x"));
	CHECK(decodes_to("=?KOI8-R?B?8NLJ18XU?=",
			 "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));
	CHECK(decodes_to("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
			 "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1"
			 "\xe3\x81\xaf"));
	CHECK(decodes_to("=?windows-1252?Q?=80?=", "\xe2\x82\xac"));
	/* malformed words stay literal; unknown charsets are raw bytes */
	CHECK(decodes_to("=?utf-8?x?abc?=", "=?utf-8?x?abc?="));
	CHECK(decodes_to("=?utf-8?q?no end", "=?utf-8?q?no end"));
	CHECK(decodes_to("=?x-unknown?q?ab=FF?=", "ab\xef\xbf\xbd"));
	CHECK(decodes_to("raw \xff latin", "raw \xef\xbf\xbd latin"));
	CHECK(decodes_to("plain  text\r\n\tfolded", "plain  text\tfolded"));
}

struct fields {
	char text[4096];
	size_t len;
};

static void field_cb(void *ctx, struct str name, struct str value,
		     bool truncated)
{
	struct fields *f = ctx;
	int n = snprintf(f->text + f->len, sizeof(f->text) - f->len,
			 "[%.*s|%.*s%s]", (int)name.len, name.p,
			 (int)value.len, value.p, truncated ? "|T" : "");

	if (n > 0 && (size_t)n < sizeof(f->text) - f->len)
		f->len += (size_t)n;
}

static void test_header_reader(void)
{
	static const char hdr[] =
		"Subject: hello\r\n world\r\nX-Empty:\r\nno colon line\r\n"
		"From : a@b\nTo: c\r\n\r\nBody: not a header\r\n";
	const char *want = "[Subject|hello\r\n world][X-Empty|][From|a@b]"
			   "[To|c]";

	for (size_t step = 1; step <= sizeof(hdr); step++) {
		struct mime_header_reader *r = mime_header_reader_new(0);
		struct fields f = {{0}, 0};
		int ret = 0;

		for (size_t i = 0; i < sizeof(hdr) - 1 && ret == 0; i += step) {
			size_t n = sizeof(hdr) - 1 - i < step
					   ? sizeof(hdr) - 1 - i
					   : step;

			ret = mime_header_reader_feed(r, hdr + i, n, field_cb,
						      &f);
		}
		CHECK(ret == 1);
		mime_header_reader_finish(r, field_cb, &f);
		CHECK(strcmp(f.text, want) == 0);
		mime_header_reader_free(&r);
	}
	{
		/* bounded value, no blank line at the end */
		struct mime_header_reader *r = mime_header_reader_new(8);
		struct fields f = {{0}, 0};

		mime_header_reader_feed(r, "A: 123456789012345\r\nB: x", 24,
					field_cb, &f);
		mime_header_reader_finish(r, field_cb, &f);
		CHECK(strncmp(f.text, "[A|", 3) == 0 &&
		      strstr(f.text, "|T][B|x]") != NULL);
		mime_header_reader_free(&r);
	}
}

static bool filter_is(const char *hdr, const char *const *names, size_t n,
		      bool exclude, const char *want)
{
	bool ok = true;

	for (size_t step = 1; step <= strlen(hdr) + 1; step++) {
		struct str v[8];
		struct mime_header_filter *f;
		struct buf out;

		for (size_t i = 0; i < n; i++)
			v[i] = str_from_cstr(names[i]);
		f = mime_header_filter_new(v, n, exclude);
		buf_init(&out, strlen(hdr) + 4);
		for (size_t i = 0; i < strlen(hdr); i += step) {
			size_t k = strlen(hdr) - i < step ? strlen(hdr) - i
							  : step;

			ok &= mime_header_filter_feed(f, hdr + i, k, &out) ==
			      0;
		}
		ok &= mime_header_filter_finish(f, &out) == 0;
		ok &= strcmp(buf_cstr(&out), want) == 0;
		if (strcmp(buf_cstr(&out), want) != 0)
			fprintf(stderr, "filter got [%s] want [%s]\n",
				buf_cstr(&out), want);
		buf_deinit(&out);
		mime_header_filter_free(&f);
	}
	return ok;
}

static void test_filter(void)
{
	static const char hdr[] = "From: a@b\r\nSubject: x\r\n y\r\n"
				  "To: c\r\nsubject : dup\r\n\r\nbody\r\n";
	static const char *const subj[] = {"SUBJECT"};
	static const char *const two[] = {"to", "from"};

	CHECK(filter_is(hdr, subj, 1, false,
			"Subject: x\r\n y\r\nsubject : dup\r\n\r\n"));
	CHECK(filter_is(hdr, two, 2, false, "From: a@b\r\nTo: c\r\n\r\n"));
	CHECK(filter_is(hdr, two, 2, true,
			"Subject: x\r\n y\r\nsubject : dup\r\n\r\n"));
	CHECK(filter_is("From: a\nTo: b\n\n", two + 1, 1, false,
			"From: a\n\r\n"));
	CHECK(filter_is("To: cut", two, 1, false, "To: cut\r\n\r\n"));
}

static bool text_is(enum mime_cte cte, const char *charset, const char *in,
		    const char *want)
{
	bool ok = true;

	for (size_t step = 1; step <= strlen(in) + 1; step++) {
		struct mime_text_decoder *d =
			mime_text_decoder_new(cte, str_from_cstr(charset));
		struct buf out;

		buf_init(&out, SIZE_MAX);
		for (size_t i = 0; i < strlen(in); i += step) {
			size_t k = strlen(in) - i < step ? strlen(in) - i
							 : step;

			mime_text_decoder_feed(d, in + i, k, &out);
		}
		mime_text_decoder_finish(d, &out);
		if (strcmp(buf_cstr(&out), want) != 0) {
			fprintf(stderr, "text got [%s] want [%s]\n",
				buf_cstr(&out), want);
			ok = false;
		}
		buf_deinit(&out);
		mime_text_decoder_free(&d);
	}
	return ok;
}

static void test_text(void)
{
	CHECK(text_is(MIME_CTE_QP, "iso-8859-1", "caf=E9 =\r\nok",
		      "caf\xc3\xa9 ok"));
	CHECK(text_is(MIME_CTE_BASE64, "utf-8", "4oKsIGV1cm8=",
		      "\xe2\x82\xac euro"));
	CHECK(text_is(MIME_CTE_8BIT, "koi8-r", "\xf0\xd2\xc9",
		      "\xd0\x9f\xd1\x80\xd0\xb8"));
	CHECK(text_is(MIME_CTE_7BIT, "ISO-2022-JP",
		      "\x1b$B$3$s\x1b(B!", "\xe3\x81\x93\xe3\x82\x93!"));
	CHECK(text_is(MIME_CTE_8BIT, "shift_jis", "\x82\xa0", "\xe3\x81\x82"));
	CHECK(text_is(MIME_CTE_8BIT, "x-no-such", "a\xffz",
		      "a\xef\xbf\xbdz"));
	CHECK(text_is(MIME_CTE_UNKNOWN, "us-ascii", "=41", "=41"));
}

static bool match_splits(const char *hay, const char *needle)
{
	bool all = true, any = false;

	for (size_t step = 1; step <= strlen(hay) + 1; step++) {
		struct mime_matcher *m = mime_matcher_new(str_from_cstr(needle));
		bool r = false;

		for (size_t i = 0; i < strlen(hay); i += step) {
			size_t k = strlen(hay) - i < step ? strlen(hay) - i
							  : step;

			r = mime_matcher_feed(m, hay + i, k);
		}
		if (strlen(hay) == 0)
			r = mime_matcher_matched(m);
		all &= r;
		any |= r;
		mime_matcher_free(&m);
	}
	/* every split must agree */
	CHECK(all == any);
	return all;
}

static void test_match(void)
{
	CHECK(match_splits("Hello World", "o wor"));
	CHECK(match_splits("Hello World", ""));
	CHECK(match_splits("", ""));
	CHECK(!match_splits("Hello World", "worlds"));
	CHECK(match_splits("aaaab", "aaab"));
	CHECK(match_splits("abababc", "ababc"));
	/* Latin-1, Latin Extended-A, Greek, Cyrillic */
	CHECK(match_splits("CAF\xc3\x89 cr\xc3\xa8me", "caf\xc3\xa9"));
	CHECK(match_splits("\xc5\x81\xc3\x93""D\xc5\xb9", "\xc5\x82\xc3\xb3"
			   "d\xc5\xba"));
	CHECK(match_splits("\xce\xa3\xce\x9f\xce\xa6\xce\x9f\xce\xa3",
			   "\xcf\x83\xce\xbf\xcf\x86\xce\xbf\xcf\x82"));
	CHECK(match_splits("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2",
			   "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));
	CHECK(match_splits("\xd0\x81\xd0\xb6", "\xd1\x91\xd0\xb6"));
	CHECK(!match_splits("stra\xc3\x9f" "e", "strasse"));
	/* invalid UTF-8 in the haystack neither crashes nor matches */
	CHECK(!match_splits("a\xff\xfe\xc3z", "a\xc3\xa9z"));
	CHECK(match_splits("\xff\xc3\xa9tude", "\xc3\x89TUDE"));
	CHECK(mime_match_fold(0x130) == 'i');
	CHECK(mime_match_fold(0x178) == 0xff);
	CHECK(mime_match_fold(0x1e9e) == 0xdf);
	CHECK(mime_match_fold(0x4e00) == 0x4e00);
	CHECK(mime_match_contains(STR_LIT("xXyY"), STR_LIT("XY")));
	{
		/* sticky until reset */
		struct mime_matcher *m = mime_matcher_new(STR_LIT("ab"));

		CHECK(mime_matcher_feed(m, "xa", 2) == false);
		CHECK(mime_matcher_feed(m, "b", 1) == true);
		CHECK(mime_matcher_feed(m, "zz", 2) == true);
		mime_matcher_reset(m);
		CHECK(mime_matcher_feed(m, "b", 1) == false);
		mime_matcher_free(&m);
	}
}

int main(void)
{
	test_cte();
	test_rfc2047();
	test_header_reader();
	test_filter();
	test_text();
	test_match();
	return tap_done();
}
