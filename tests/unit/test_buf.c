/* struct buf: growth, the hard maximum with its sticky overflow flag, the
 * NUL kept after len, and wiping of secrets. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

/* Interposes glibc's explicit_bzero (the executable's definition wins over
 * libc's) so the test can see what buf_deinit_secret wipes while the memory
 * is still allocated. */
static const unsigned char *wipe_expect;
static size_t wipe_min_len;
static unsigned wipe_calls;
static bool wipe_ok;

void explicit_bzero(void *p, size_t n)
{
	volatile unsigned char *v = p;
	for (size_t i = 0; i < n; i++)
		v[i] = 0;
	wipe_calls++;
	if (p != wipe_expect || n < wipe_min_len)
		return;
	bool zero = true;
	for (size_t i = 0; i < wipe_min_len; i++)
		zero = zero && ((const unsigned char *)p)[i] == 0;
	wipe_ok = zero;
}

static bool has_nul_after_len(const struct buf *b)
{
	return b->data != NULL && b->data[b->len] == '\0';
}

static void test_empty(void)
{
	struct buf b;
	buf_init(&b, 100);
	CHECK(b.len == 0 && !b.overflow && b.max == 100);
	CHECK(strcmp(buf_cstr(&b), "") == 0);
	buf_clear(&b);
	CHECK(strcmp(buf_cstr(&b), "") == 0);
	buf_deinit(&b);
	CHECK(b.data == NULL && b.len == 0);
	/* deinit of a never-used buffer and a second deinit are harmless */
	buf_deinit(&b);
	buf_deinit_secret(&b);
	CHECK(b.data == NULL);
}

static void test_append(void)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(buf_append(&b, "abc", 3) == 0);
	CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
	CHECK(has_nul_after_len(&b));
	CHECK(buf_append_cstr(&b, "def") == 0);
	CHECK(strcmp(buf_cstr(&b), "abcdef") == 0);
	CHECK(buf_append(&b, NULL, 0) == 0);
	CHECK(b.len == 6);
	/* binary data with NULs is kept byte for byte */
	CHECK(buf_append(&b, "\0x\0", 3) == 0);
	CHECK(b.len == 9 && memcmp(b.data, "abcdef\0x\0", 9) == 0);
	CHECK(has_nul_after_len(&b));

	/* growth over many reallocations keeps the contents */
	buf_clear(&b);
	for (unsigned i = 0; i < 10000; i++) {
		unsigned char c = (unsigned char)(i * 7);
		if (buf_append(&b, &c, 1) < 0)
			break;
	}
	CHECK(b.len == 10000);
	bool same = b.len == 10000;
	for (unsigned i = 0; same && i < 10000; i++)
		same = b.data[i] == (unsigned char)(i * 7);
	CHECK(same);
	CHECK(has_nul_after_len(&b));
	CHECK(b.cap > b.len);
	buf_deinit(&b);
}

static void test_printf(void)
{
	struct buf b;
	buf_init(&b, 64);
	CHECK(buf_printf(&b, "%s=%u", "n", 42u) == 0);
	CHECK(strcmp(buf_cstr(&b), "n=42") == 0 && b.len == 4);
	CHECK(buf_printf(&b, " %d%%", -7) == 0);
	CHECK(strcmp(buf_cstr(&b), "n=42 -7%") == 0 && b.len == 8);
	CHECK(buf_printf(&b, "%s", "") == 0);
	CHECK(b.len == 8);
	/* a printf that does not fit appends nothing */
	char big[100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(buf_printf(&b, "%s", big) < 0);
	CHECK(b.overflow);
	CHECK(b.len == 8 && strcmp(buf_cstr(&b), "n=42 -7%") == 0);
	buf_clear(&b);
	/* exactly to max is fine, one more is not */
	CHECK(buf_printf(&b, "%.*s", 64, big) == 0);
	CHECK(b.len == 64 && !b.overflow && has_nul_after_len(&b));
	CHECK(buf_printf(&b, "y") < 0 && b.overflow && b.len == 64);
	buf_deinit(&b);
}

static void test_max(void)
{
	unsigned char src[300];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)i;

	struct buf b;
	buf_init(&b, 200);
	CHECK(buf_append(&b, src, 150) == 0);
	CHECK(buf_append(&b, src + 150, 50) == 0);
	CHECK(b.len == 200 && !b.overflow);
	CHECK(memcmp(b.data, src, 200) == 0);
	CHECK(has_nul_after_len(&b));

	/* one byte past fails and changes nothing */
	errno = 0;
	CHECK(buf_append(&b, "z", 1) < 0);
	CHECK(b.overflow);
	CHECK(b.len == 200 && memcmp(b.data, src, 200) == 0);
	CHECK(has_nul_after_len(&b));

	/* the flag is sticky: a later small success does not clear it */
	buf_consume(&b, 100);
	CHECK(b.len == 100 && memcmp(b.data, src + 100, 100) == 0);
	CHECK(buf_append(&b, "ok", 2) == 0);
	CHECK(b.overflow);
	CHECK(b.len == 102 && memcmp(b.data + 100, "ok", 2) == 0);
	/* only buf_clear resets it */
	buf_clear(&b);
	CHECK(!b.overflow && b.len == 0);
	CHECK(strcmp(buf_cstr(&b), "") == 0);
	buf_deinit(&b);

	/* one append larger than max at once, and huge sizes that would wrap */
	buf_init(&b, 200);
	CHECK(buf_append(&b, src, 201) < 0 && b.overflow && b.len == 0);
	buf_clear(&b);
	CHECK(buf_append(&b, "a", 1) == 0);
	CHECK(buf_reserve(&b, SIZE_MAX) == NULL && b.overflow);
	CHECK(buf_reserve(&b, SIZE_MAX - 1) == NULL);
	CHECK(b.len == 1 && b.data[0] == 'a');
	buf_deinit(&b);

	/* max 0: only empty appends succeed */
	buf_init(&b, 0);
	CHECK(buf_append(&b, "", 0) == 0);
	CHECK(buf_append(&b, "a", 1) < 0 && b.overflow);
	CHECK(strcmp(buf_cstr(&b), "") == 0);
	buf_deinit(&b);
}

static void test_reserve_commit(void)
{
	struct buf b;
	buf_init(&b, 1000);
	CHECK(buf_append_cstr(&b, "head:") == 0);
	char *p = buf_reserve(&b, 100);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p == (char *)b.data + 5);
		memcpy(p, "body", 4);
		buf_commit(&b, 4);
	}
	CHECK(b.len == 9 && strcmp(buf_cstr(&b), "head:body") == 0);
	/* commit of less than reserved, and of zero */
	p = buf_reserve(&b, 10);
	CHECK(p != NULL);
	buf_commit(&b, 0);
	CHECK(b.len == 9 && has_nul_after_len(&b));

	/* reserving exactly up to max works; one more does not */
	p = buf_reserve(&b, 991);
	CHECK(p != NULL && !b.overflow);
	if (p != NULL) {
		memset(p, 'q', 991);
		buf_commit(&b, 991);
	}
	CHECK(b.len == 1000 && has_nul_after_len(&b));
	CHECK(buf_reserve(&b, 1) == NULL && b.overflow);
	CHECK(b.len == 1000);
	CHECK(buf_reserve(&b, 0) != NULL);
	buf_deinit(&b);
}

static void test_consume(void)
{
	struct buf b;
	buf_init(&b, 100);
	CHECK(buf_append_cstr(&b, "0123456789") == 0);
	buf_consume(&b, 0);
	CHECK(strcmp(buf_cstr(&b), "0123456789") == 0);
	buf_consume(&b, 3);
	CHECK(b.len == 7 && strcmp(buf_cstr(&b), "3456789") == 0);
	buf_consume(&b, 6);
	CHECK(b.len == 1 && strcmp(buf_cstr(&b), "9") == 0);
	buf_consume(&b, 1);
	CHECK(b.len == 0 && strcmp(buf_cstr(&b), "") == 0);
	/* room freed by consume is reusable up to max */
	char full[100];
	memset(full, 'f', sizeof(full));
	CHECK(buf_append(&b, full, sizeof(full)) == 0);
	buf_consume(&b, 50);
	CHECK(buf_append(&b, full, 50) == 0);
	CHECK(b.len == 100 && !b.overflow);
	buf_deinit(&b);
}

static void test_secret(void)
{
	struct buf b;
	buf_init(&b, 4096);
	CHECK(buf_append_cstr(&b, "hunter2-password-bytes") == 0);
	wipe_expect = b.data;
	wipe_min_len = b.len + 1;
	wipe_calls = 0;
	wipe_ok = false;
	buf_deinit_secret(&b);
	CHECK(wipe_calls >= 1);
	CHECK(wipe_ok);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	/* max survives so the buffer can be reused */
	CHECK(b.max == 4096);
	CHECK(buf_append_cstr(&b, "again") == 0);
	CHECK(strcmp(buf_cstr(&b), "again") == 0);

	/* bytes consumed away earlier are still wiped: the whole allocation */
	buf_consume(&b, 5);
	wipe_expect = b.data;
	wipe_min_len = 6; /* "again" and its NUL used to live there */
	wipe_ok = false;
	buf_deinit_secret(&b);
	CHECK(wipe_ok);
	wipe_expect = NULL;
}

int main(void)
{
	test_empty();
	test_append();
	test_printf();
	test_max();
	test_reserve_commit();
	test_consume();
	test_secret();
	return tap_done();
}
