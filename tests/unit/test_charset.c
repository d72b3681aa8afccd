/* Charset conversion to UTF-8: known/unknown names, conversions in every
 * split, replacement of invalid input, UTF-8 validation. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "charset.h"
#include "tap.h"

static bool conv_is(const char *cs, const char *in, size_t inlen,
		    const char *want)
{
	bool ok = true;

	for (size_t step = 1; step <= inlen + 1; step++) {
		bool known;
		struct charset_conv *c =
			charset_conv_new(str_from_cstr(cs), &known);
		struct buf out;

		buf_init(&out, SIZE_MAX);
		for (size_t i = 0; i < inlen; i += step) {
			size_t n = inlen - i < step ? inlen - i : step;

			ok &= charset_conv_feed(c, in + i, n, &out) == 0;
		}
		ok &= charset_conv_finish(c, &out) == 0;
		if (strcmp(buf_cstr(&out), want) != 0) {
			fprintf(stderr, "%s step %zu: [%s] want [%s]\n", cs,
				step, buf_cstr(&out), want);
			ok = false;
		}
		buf_deinit(&out);
		charset_conv_free(&c);
	}
	return ok;
}

#define CONV(cs, in, want) conv_is(cs, in, sizeof(in) - 1, want)

int main(void)
{
	CHECK(charset_is_known(STR_LIT("UTF-8")));
	CHECK(charset_is_known(STR_LIT("us-ascii")));
	CHECK(charset_is_known(STR_LIT("ISO-8859-15")));
	CHECK(charset_is_known(STR_LIT("windows-1251")));
	CHECK(charset_is_known(STR_LIT("KOI8-R")));
	CHECK(charset_is_known(STR_LIT("iso-2022-jp")));
	CHECK(charset_is_known(STR_LIT("GB2312")));
	CHECK(charset_is_known(STR_LIT("big5")));
	CHECK(charset_is_known(STR_LIT("Shift_JIS")));
	CHECK(charset_is_known(STR_LIT("x-sjis")));
	CHECK(charset_is_known(STR_LIT("latin1")));
	CHECK(charset_is_known(STR_LIT("ks_c_5601-1987")));
	CHECK(!charset_is_known(STR_LIT("x-no-such-charset")));
	CHECK(!charset_is_known(STR_LIT("")));
	CHECK(!charset_is_known(STR_LIT("UTF-8//TRANSLIT")));
	CHECK(!charset_is_known(STR_LIT("latin1,utf8")));
	CHECK(!charset_is_known((struct str){"utf-8\0x", 7}));
	CHECK(charset_is_utf8(STR_LIT("utf8")));
	CHECK(!charset_is_utf8(STR_LIT("latin1")));

	CHECK(CONV("utf-8", "caf\xc3\xa9", "caf\xc3\xa9"));
	CHECK(CONV("utf-8", "\xe2\x82\xac\xf0\x9f\x98\x80",
		   "\xe2\x82\xac\xf0\x9f\x98\x80"));
	CHECK(CONV("iso-8859-1", "caf\xe9", "caf\xc3\xa9"));
	CHECK(CONV("ISO-8859-15", "\xa4", "\xe2\x82\xac"));
	CHECK(CONV("windows-1252", "\x80\x93", "\xe2\x82\xac\xe2\x80\x9c"));
	CHECK(CONV("koi8-r", "\xf0\xd2\xc9", "\xd0\x9f\xd1\x80\xd0\xb8"));
	CHECK(CONV("iso-2022-jp", "\x1b$B$3\x1b(Bx", "\xe3\x81\x93x"));
	CHECK(CONV("gbk", "\xc4\xe3\xba\xc3", "\xe4\xbd\xa0\xe5\xa5\xbd"));
	CHECK(CONV("big5", "\xa4\xa4", "\xe4\xb8\xad"));
	CHECK(CONV("euc-jp", "\xa4\xa2", "\xe3\x81\x82"));
	CHECK(CONV("utf-16le", "a\0\xac\x20", "a\xe2\x82\xac"));
	/* invalid input: U+FFFD, never an error, never invalid output */
	CHECK(CONV("utf-8", "a\xff" "b", "a\xef\xbf\xbd" "b"));
	CHECK(CONV("utf-8", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(CONV("utf-8", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd"
					    "\xef\xbf\xbd"));
	CHECK(CONV("utf-8", "x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(CONV("shift_jis", "\x82", "\xef\xbf\xbd"));
	CHECK(CONV("us-ascii", "ok\x80", "ok\xef\xbf\xbd"));
	CHECK(CONV("x-unknown", "r\xe9sum\xe9", "r\xef\xbf\xbdsum\xef\xbf\xbd"));

	{
		struct buf out;

		buf_init(&out, SIZE_MAX);
		CHECK(charset_to_utf8(STR_LIT("latin1"), "\xe9", 1, &out) == 0 &&
		      strcmp(buf_cstr(&out), "\xc3\xa9") == 0);
		buf_clear(&out);
		CHECK(charset_utf8_sanitize("\xf4\x90\x80\x80", 4, &out) == 0 &&
		      out.len == 12);
		buf_deinit(&out);
		/* overflow of out is reported */
		buf_init(&out, 2);
		CHECK(charset_to_utf8(STR_LIT("latin1"), "\xe9\xe9", 2, &out) <
		      0);
		buf_deinit(&out);
	}
	CHECK(charset_utf8_valid_prefix("ab\xc3\xa9\xc3", 5) == 4);
	CHECK(charset_utf8_valid_prefix("\xf0\x9f\x98\x80", 4) == 4);
	return tap_done();
}
