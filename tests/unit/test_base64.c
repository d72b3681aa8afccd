/* base64 against RFC 4648 section 10, the strict decoder's refusals, the
 * unpadded base64url form, and the buffer limit. */
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "tap.h"

struct vector {
	const char *plain;
	const char *b64;
	const char *b64url_nopad;
};

/* RFC 4648 section 10 */
static const struct vector rfc4648[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static bool encodes_to(const void *p, size_t n, const char *want, bool url)
{
	struct buf b;
	buf_init(&b, 1024);
	int r = url ? base64url_encode_nopad(&b, p, n)
	            : base64_encode(&b, p, n);
	bool ok = r == 0 && b.len == strlen(want) &&
	          strcmp(buf_cstr(&b), want) == 0;
	buf_deinit(&b);
	return ok;
}

static bool decodes_to(const char *s, const void *want, size_t want_len)
{
	struct buf b;
	buf_init(&b, 1024);
	bool ok = base64_decode(&b, s, strlen(s)) == 0 && b.len == want_len &&
	          (want_len == 0 || memcmp(b.data, want, want_len) == 0);
	buf_deinit(&b);
	return ok;
}

/* Refused, and nothing is appended to what the buffer held; the NUL after
 * len (a struct buf invariant) survives the failed decode. */
static void check_rejects(const char *s, size_t len, const char *file, int line)
{
	struct buf b;
	buf_init(&b, 1024);
	(void)buf_append_cstr(&b, "keep");
	bool refused = base64_decode(&b, s, len) < 0;
	tap_check(refused, "base64_decode refuses", file, line);
	tap_check(b.len == 4 && memcmp(b.data, "keep", 4) == 0,
	          "failed decode appends nothing", file, line);
	tap_check(b.data[b.len] == '\0',
	          "failed decode keeps the NUL after len", file, line);
	buf_deinit(&b);
}

#define rejects_n(s, len) check_rejects((s), (len), __FILE__, __LINE__)
#define rejects(s) rejects_n((s), strlen(s))

static void test_rfc_vectors(void)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const struct vector *v = &rfc4648[i];
		size_t n = strlen(v->plain);
		CHECK(encodes_to(v->plain, n, v->b64, false));
		CHECK(encodes_to(v->plain, n, v->b64url_nopad, true));
		CHECK(decodes_to(v->b64, v->plain, n));
	}
}

static void test_alphabets(void)
{
	static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
	CHECK(encodes_to(hi, 3, "+/+/", false));
	CHECK(encodes_to(hi, 3, "-_-_", true));
	CHECK(encodes_to(hi, 2, "+/8=", false));
	CHECK(encodes_to(hi, 2, "-_8", true));
	CHECK(decodes_to("+/+/", hi, 3));
	CHECK(decodes_to("+/8=", hi, 2));
	/* the url alphabet is not accepted by the standard decoder */
	rejects("-_-_");
	static const unsigned char zero[] = {0, 0, 0, 0};
	CHECK(encodes_to(zero, 4, "AAAAAA==", false));
	CHECK(decodes_to("AAAAAA==", zero, 4));
}

static void test_strict(void)
{
	/* characters outside the alphabet */
	rejects("Zm9v!A==");
	rejects("Zm9-");
	rejects("Zm9_");
	rejects("Zm 9");
	rejects("Zm9v\r\nYg==");
	rejects("Zm9vYg=\n");
	rejects(" Zm9");
	rejects("Zm9\x80");
	rejects_n("Zm\0v", 4);
	rejects("Zm9."); /* '+' + 3 */
	rejects("Zm9:"); /* '9' + 1 */
	rejects("Zm9["); /* 'Z' + 1 */
	rejects("Zm9{"); /* 'z' + 1 */
	rejects("Zm9@"); /* 'A' - 1 */

	/* padding in the wrong place or of the wrong amount */
	rejects("====");
	rejects("Z===");
	rejects("=Zg=");
	rejects("Zg=a");
	rejects("Zm=v");
	rejects("Zg==Zm9v"); /* padding before the last block */
	rejects("Zm8=Zm9v");
	rejects("Zm9vZm9v====");

	/* non-canonical: the unused low bits of the last symbol must be 0 */
	rejects("Zh==");
	rejects("Zn==");
	rejects("Zm9=");
	rejects("Zm+=");
	CHECK(decodes_to("Zg==", "f", 1));
	CHECK(decodes_to("Zm8=", "fo", 2));

	/* length not a multiple of 4, including unpadded forms */
	rejects("Z");
	rejects("Zg");
	rejects("Zg=");
	rejects("Zm9");
	rejects("Zm9vY");
	rejects("Zm9vYg=");
	rejects("Zm9vYg===");
	/* the counted form reads len bytes, not to the NUL */
	rejects_n("Zm9vYg==", 7);
	struct buf b;
	buf_init(&b, 100);
	CHECK(base64_decode(&b, "Zm9vYmFyXXXX", 8) == 0);
	CHECK(strcmp(buf_cstr(&b), "foobar") == 0);
	buf_deinit(&b);
}

static void test_append_and_roundtrip(void)
{
	struct buf b;
	buf_init(&b, 4096);
	CHECK(buf_append_cstr(&b, "x=") == 0);
	CHECK(base64_encode(&b, "foo", 3) == 0);
	CHECK(strcmp(buf_cstr(&b), "x=Zm9v") == 0);
	buf_clear(&b);
	CHECK(buf_append_cstr(&b, "y:") == 0);
	CHECK(base64_decode(&b, "Zm9vYg==", 8) == 0);
	CHECK(b.len == 6 && memcmp(b.data, "y:foob", 6) == 0);
	CHECK(b.data[b.len] == '\0');
	buf_deinit(&b);

	unsigned char all[256];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	bool ok = true;
	for (size_t n = 0; n <= sizeof(all) && ok; n++) {
		struct buf enc, dec;
		buf_init(&enc, 4096);
		buf_init(&dec, 4096);
		ok = base64_encode(&enc, all, n) == 0 &&
		     enc.len == (n + 2) / 3 * 4 &&
		     base64_decode(&dec, (const char *)enc.data, enc.len) ==
		             0 &&
		     dec.len == n && (n == 0 || memcmp(dec.data, all, n) == 0);
		buf_deinit(&enc);
		buf_deinit(&dec);
		if (!ok)
			break;
		buf_init(&enc, 4096);
		ok = base64url_encode_nopad(&enc, all, n) == 0 &&
		     enc.len == (n * 4 + 2) / 3 &&
		     memchr(buf_cstr(&enc), '=', enc.len) == NULL &&
		     memchr(buf_cstr(&enc), '+', enc.len) == NULL &&
		     memchr(buf_cstr(&enc), '/', enc.len) == NULL;
		buf_deinit(&enc);
	}
	CHECK(ok);
}

/* An output that fits in max must succeed; one byte less must fail without
 * appending anything. */
static void test_limit(void)
{
	struct buf b;
	buf_init(&b, 4);
	CHECK(base64_encode(&b, "foo", 3) == 0);
	CHECK(strcmp(buf_cstr(&b), "Zm9v") == 0);
	buf_deinit(&b);

	buf_init(&b, 8);
	CHECK(base64_encode(&b, "foob", 4) == 0);
	CHECK(strcmp(buf_cstr(&b), "Zm9vYg==") == 0);
	buf_deinit(&b);

	buf_init(&b, 3);
	CHECK(base64url_encode_nopad(&b, "fo", 2) == 0);
	CHECK(strcmp(buf_cstr(&b), "Zm8") == 0);
	buf_deinit(&b);

	buf_init(&b, 0);
	CHECK(base64_encode(&b, "", 0) == 0);
	CHECK(b.len == 0);
	buf_deinit(&b);

	buf_init(&b, 7);
	CHECK(base64_encode(&b, "foob", 4) < 0);
	CHECK(b.overflow && b.len == 0);
	buf_deinit(&b);

	buf_init(&b, 1);
	CHECK(base64_decode(&b, "Zg==", 4) == 0);
	CHECK(b.len == 1 && b.data != NULL && b.data[0] == 'f');
	buf_deinit(&b);

	buf_init(&b, 5);
	CHECK(base64_decode(&b, "Zm9vYmE=", 8) == 0);
	CHECK(strcmp(buf_cstr(&b), "fooba") == 0);
	buf_deinit(&b);

	buf_init(&b, 4);
	CHECK(base64_decode(&b, "Zm9vYmE=", 8) < 0);
	CHECK(b.overflow && b.len == 0);
	buf_deinit(&b);
}

int main(void)
{
	test_rfc_vectors();
	test_alphabets();
	test_strict();
	test_append_and_roundtrip();
	test_limit();
	return tap_done();
}
