/* SASLprep: the examples of RFC 4013 section 3, the NFC/NFD equivalence the
 * account names rely on, and the refusals (bad UTF-8, NUL, control
 * characters, unassigned code points in stored strings, overflow). */
#include <string.h>

#include "saslprep.h"
#include "utf8.h"
#include "tap.h"

static bool prep_is(const char *in, enum saslprep_mode mode, const char *want)
{
	char out[256];
	size_t len = 0;
	const char *error = NULL;

	if (saslprep(in, strlen(in), mode, out, sizeof(out), &len, &error) < 0)
		return false;
	return len == strlen(want) && strcmp(out, want) == 0;
}

static bool prep_fails(const char *in, size_t len, enum saslprep_mode mode)
{
	char out[256];
	size_t olen;
	const char *error = NULL;

	memset(out, 'x', sizeof(out));
	if (saslprep(in, len, mode, out, sizeof(out), &olen, &error) == 0)
		return false;
	/* a reason, and nothing of the input left behind */
	return error != NULL && out[0] == '\0' && out[sizeof(out) - 1] == '\0';
}

static void test_rfc4013(void)
{
	/* 1. SOFT HYPHEN mapped to nothing */
	CHECK(prep_is("I\xc2\xad"
		      "X",
		      SASLPREP_QUERY, "IX"));
	/* 2., 3. no transformation, case preserved */
	CHECK(prep_is("user", SASLPREP_QUERY, "user"));
	CHECK(prep_is("USER", SASLPREP_QUERY, "USER"));
	/* 4. FEMININE ORDINAL INDICATOR -> "a" (NFKC) */
	CHECK(prep_is("\xc2\xaa", SASLPREP_QUERY, "a"));
	/* 5. ROMAN NUMERAL NINE -> "IX" (NFKC) */
	CHECK(prep_is("\xe2\x85\xa8", SASLPREP_QUERY, "IX"));
	/* 6. BELL: prohibited */
	CHECK(prep_fails("\x07", 1, SASLPREP_QUERY));
	/* 7. ARABIC LETTER ALEF + "1": bidi violation */
	CHECK(prep_fails("\xd8\xa7"
			 "1",
			 3, SASLPREP_QUERY));
}

static void test_mapping(void)
{
	/* NO-BREAK SPACE and ZERO WIDTH SPACE (both in C.1.2) -> SPACE;
	 * WORD JOINER (B.1) dropped */
	CHECK(prep_is("a\xc2\xa0"
		      "b",
		      SASLPREP_QUERY, "a b"));
	CHECK(prep_is("a\xe2\x80\x8b"
		      "b",
		      SASLPREP_QUERY, "a b"));
	CHECK(prep_is("a\xe2\x81\xa0"
		      "b",
		      SASLPREP_QUERY, "ab"));
	/* NFD e + COMBINING ACUTE -> NFC U+00E9, both ways the same */
	CHECK(prep_is("jose\xcc\x81@example.org", SASLPREP_QUERY,
		      "jos\xc3\xa9@example.org"));
	CHECK(prep_is("jos\xc3\xa9@example.org", SASLPREP_STORED,
		      "jos\xc3\xa9@example.org"));
	/* ASCII passes untouched, spaces and punctuation included */
	CHECK(prep_is("p a$$ w0rd!~", SASLPREP_STORED, "p a$$ w0rd!~"));
}

static void test_refusals(void)
{
	char out[8];
	size_t len;
	const char *error;

	CHECK(prep_fails("", 0, SASLPREP_QUERY));
	CHECK(prep_fails("a\0b", 3, SASLPREP_QUERY));
	CHECK(prep_fails("a\tb", 3, SASLPREP_QUERY));
	CHECK(prep_fails("a\x7f", 2, SASLPREP_QUERY));
	/* only mapped-to-nothing characters: empty result */
	CHECK(prep_fails("\xc2\xad", 2, SASLPREP_QUERY));
	/* malformed UTF-8: lone continuation, truncated, overlong, surrogate,
	 * above U+10FFFF */
	CHECK(prep_fails("\x80", 1, SASLPREP_QUERY));
	CHECK(prep_fails("\xc3", 1, SASLPREP_QUERY));
	CHECK(prep_fails("\xc0\xaf", 2, SASLPREP_QUERY));
	CHECK(prep_fails("\xe0\x80\xaf", 3, SASLPREP_QUERY));
	CHECK(prep_fails("\xed\xa0\x80", 3, SASLPREP_QUERY));
	CHECK(prep_fails("\xf4\x90\x80\x80", 4, SASLPREP_QUERY));
	/* private use (U+E000) is prohibited */
	CHECK(prep_fails("\xee\x80\x80", 3, SASLPREP_QUERY));
	/* U+0378 is unassigned in Unicode 3.2: a query may carry it, a stored
	 * string may not */
	CHECK(prep_is("a\xcd\xb8", SASLPREP_QUERY, "a\xcd\xb8"));
	CHECK(prep_fails("a\xcd\xb8", 3, SASLPREP_STORED));
	/* the output must fit, NUL included */
	CHECK(saslprep("1234567", 7, SASLPREP_QUERY, out, sizeof(out), &len,
		       &error) == 0 &&
	      len == 7);
	CHECK(saslprep("12345678", 8, SASLPREP_QUERY, out, sizeof(out), &len,
		       &error) < 0);
	CHECK(saslprep("\xc2\xaa"
		       "234567",
		       8, SASLPREP_QUERY, out, sizeof(out), &len,
		       &error) == 0 &&
	      len == 7);
	CHECK(saslprep("\xe2\x85\xa8"
		       "234567",
		       9, SASLPREP_QUERY, out, sizeof(out), &len, &error) < 0);
}

static void test_utf8(void)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4));
	CHECK(!utf8_valid("\xf0\x8f\xbf\xbf", 4));
	CHECK(!utf8_valid("\xf5\x80\x80\x80", 4));
	CHECK(!utf8_valid("\xe2\x82", 2));
}

int main(void)
{
	test_rfc4013();
	test_mapping();
	test_refusals();
	test_utf8();
	return tap_done();
}
