/* strnum: decimal numbers from untrusted text. Only digits; no sign, no
 * spaces; overflow exactly at the type's bound. */
#include <stdint.h>
#include <string.h>

#include "strnum.h"
#include "tap.h"

static bool u64_is(const char *s, uint64_t want)
{
	uint64_t v = ~want;
	if (strnum_cstr_u64(s, &v) < 0)
		return false;
	uint64_t w = ~want;
	return v == want && strnum_u64(s, strlen(s), &w) == 0 && w == want;
}

static bool u32_is(const char *s, uint32_t want)
{
	uint32_t v = ~want;
	if (strnum_cstr_u32(s, &v) < 0)
		return false;
	uint32_t w = ~want;
	return v == want && strnum_u32(s, strlen(s), &w) == 0 && w == want;
}

/* Both forms reject s and leave the output untouched. */
static bool u64_bad(const char *s)
{
	uint64_t v = 12345, w = 12345;
	return strnum_cstr_u64(s, &v) < 0 && v == 12345 &&
	       strnum_u64(s, strlen(s), &w) < 0 && w == 12345;
}

static bool u32_bad(const char *s)
{
	uint32_t v = 12345, w = 12345;
	return strnum_cstr_u32(s, &v) < 0 && v == 12345 &&
	       strnum_u32(s, strlen(s), &w) < 0 && w == 12345;
}

static void test_valid(void)
{
	CHECK(u64_is("0", 0));
	CHECK(u64_is("7", 7));
	CHECK(u64_is("1234567890", 1234567890ULL));
	CHECK(u64_is("000", 0));
	CHECK(u64_is("0042", 42));
	CHECK(u32_is("0", 0));
	CHECK(u32_is("65535", 65535));
	CHECK(u32_is("00000000000000000000000001", 1));
	CHECK(u64_is("00000000000000000000000000018446744073709551615",
	             UINT64_MAX));
}

static void test_bounds(void)
{
	CHECK(u32_is("4294967295", UINT32_MAX));
	CHECK(u32_bad("4294967296"));
	CHECK(u32_bad("4294967300"));
	CHECK(u32_bad("9999999999"));
	CHECK(u32_bad("42949672950"));
	CHECK(u64_is("4294967296", 4294967296ULL));

	CHECK(u64_is("18446744073709551615", UINT64_MAX));
	CHECK(u64_is("18446744073709551614", UINT64_MAX - 1));
	CHECK(u64_bad("18446744073709551616"));
	CHECK(u64_bad("18446744073709551620"));
	CHECK(u64_bad("18446744073709551625"));
	CHECK(u64_bad("19999999999999999999"));
	CHECK(u64_bad("99999999999999999999"));
	CHECK(u64_bad("184467440737095516150"));
	/* a value that wraps to something small must not pass as that */
	CHECK(u64_bad("36893488147419103232")); /* 2^65 */
	CHECK(u32_bad("18446744073709551615"));
	CHECK(u32_bad("18446744073709551616"));
}

static void test_invalid(void)
{
	CHECK(u64_bad(""));
	CHECK(u32_bad(""));
	CHECK(u64_bad("-1"));
	CHECK(u64_bad("-0"));
	CHECK(u64_bad("+1"));
	CHECK(u32_bad("+1"));
	CHECK(u32_bad("-1"));
	CHECK(u64_bad(" 1"));
	CHECK(u64_bad("1 "));
	CHECK(u64_bad("1 2"));
	CHECK(u64_bad("\t1"));
	CHECK(u64_bad("1\n"));
	CHECK(u64_bad("0x10"));
	CHECK(u64_bad("1e3"));
	CHECK(u64_bad("1.0"));
	CHECK(u64_bad("12a"));
	CHECK(u64_bad("a12"));
	CHECK(u32_bad("\xd9\xa3")); /* ARABIC-INDIC DIGIT THREE */
	CHECK(u64_bad("/")); /* '0' - 1 */
	CHECK(u64_bad(":")); /* '9' + 1 */
}

/* The counted form reads exactly len bytes: neither less nor more. */
static void test_counted(void)
{
	uint64_t v = 0;
	CHECK(strnum_u64("123456", 3, &v) == 0 && v == 123);
	CHECK(strnum_u64("12x", 2, &v) == 0 && v == 12);
	v = 99;
	CHECK(strnum_u64("12", 0, &v) < 0 && v == 99);
	/* an embedded NUL inside len is not a terminator */
	CHECK(strnum_u64("1\0002", 3, &v) < 0);
	uint32_t w = 0;
	CHECK(strnum_u32("4294967295999", 10, &w) == 0 && w == UINT32_MAX);
	CHECK(strnum_u32("42949672959", 11, &w) < 0);
}

int main(void)
{
	test_valid();
	test_bounds();
	test_invalid();
	test_counted();
	return tap_done();
}
