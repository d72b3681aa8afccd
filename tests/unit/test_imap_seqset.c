/* Sequence sets, the view's sequence map and modified UTF-7 of the IMAP
 * worker (imap/imap_seqset.c, imap_view.c, imap_mailbox.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_mailbox.h"
#include "imap_seqset.h"
#include "imap_view.h"
#include "str.h"
#include "tap.h"

static struct str S(const char *s) {
	return str_from_cstr(s);
}

/* Resolves text against view; writes "lo:hi,..." or "ERR" into out. */
static void
resolve(const char *text, const struct imap_view *v, bool uid,
	const uint32_t *saved, size_t nsaved, char *out, size_t outsz)
{
	struct imap_seqset set, seqs;
	struct imap_seqset_ctx ctx = {v, 100, saved, nsaved};
	const char *error;
	size_t len = 0;

	out[0] = '\0';
	if (imap_seqset_parse(S(text), &set, &error) < 0) {
		snprintf(out, outsz, "BAD");
		return;
	}
	if (imap_seqset_resolve(&set, &ctx, uid, &seqs, &error) < 0) {
		snprintf(out, outsz, "ERR");
		imap_seqset_free(&set);
		return;
	}
	for (size_t i = 0; i < seqs.count && len < outsz; i++)
		len += (size_t)snprintf(
			out + len, outsz - len, "%s%u:%u", i > 0 ? "," : "",
			(unsigned)seqs.r[i].lo, (unsigned)seqs.r[i].hi);
	imap_seqset_free(&set);
	imap_seqset_free(&seqs);
}

static void test_parse(void)
{
	static const char *const good[] = {
		"1", "*", "1:*", "*:1", "1,2,3", "4294967295", "2:4,7:*,9", "$",
	};
	static const char *const bad[] = {
		"",	      "0",  "1:0", ",",	  "1,",	 ",1", "1::2", "a",
		"4294967296", "01", "1:",  "$,1", "1 2", "-1", "**",
	};
	struct imap_seqset set;
	const char *error;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(imap_seqset_parse(S(good[i]), &set, &error) == 0);
		CHECK(imap_seqset_valid(S(good[i])));
		imap_seqset_free(&set);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(imap_seqset_parse(S(bad[i]), &set, &error) < 0);
		CHECK(set.r == NULL && set.count == 0);
		CHECK(!imap_seqset_valid(S(bad[i])));
	}
	CHECK(imap_seqset_parse(S("5:2"), &set, &error) == 0);
	CHECK(set.count == 1 && set.r[0].lo == 5 && set.r[0].hi == 2);
	imap_seqset_free(&set);
	CHECK(imap_seqset_parse(S("3:*"), &set, &error) == 0);
	CHECK(set.count == 1 && set.r[0].lo == 3 && set.r[0].hi == 0);
	imap_seqset_free(&set);
}

static void test_parse_bound(void)
{
	struct buf b;
	struct imap_seqset set;
	const char *error;

	buf_init(&b, 10 * 1024 * 1024);
	for (unsigned i = 1; i <= IMAP_SEQSET_RANGES_MAX; i++)
		buf_printf(&b, "%s%u", i > 1 ? "," : "", i * 2);
	CHECK(imap_seqset_parse((struct str){buf_cstr(&b), b.len}, &set,
				&error) == 0);
	CHECK(set.count == IMAP_SEQSET_RANGES_MAX);
	imap_seqset_free(&set);
	buf_printf(&b, ",1");
	CHECK(imap_seqset_parse((struct str){buf_cstr(&b), b.len}, &set,
				&error) < 0);
	CHECK(strcmp(error, "Sequence set too long") == 0);
	buf_deinit(&b);
}

static void test_resolve(void)
{
	struct imap_view v = {0};
	struct imap_view empty = {0};
	uint32_t saved[] = {3, 7, 9, 50};
	char out[256];

	/* UIDs 2 4 6 8 10 20 30 */
	static const uint32_t uids[] = {2, 4, 6, 8, 10, 20, 30};
	for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++)
		CHECK(imap_view_append(&v, uids[i], 1) == 0);
	CHECK(imap_view_append(&v, 30, 1) < 0); /* must ascend */
	CHECK(imap_view_seq(&v, 8) == 4);
	CHECK(imap_view_seq(&v, 9) == 0);

	resolve("1:*", &v, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "1:7") == 0);
	resolve("*:5", &v, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "5:7") == 0);
	resolve("3,1,2,6:7,5", &v, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "1:3,5:7") == 0);
	resolve("8", &v, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "ERR") == 0);
	resolve("*", &empty, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "ERR") == 0);
	/* UIDs: absent ones drop out, n:* always reaches the last message */
	resolve("1:*", &v, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "1:7") == 0);
	resolve("5:9", &v, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "3:4") == 0);
	resolve("1000:*", &v, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "7:7") == 0);
	resolve("11:19,3", &v, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "") == 0);
	resolve("4294967295", &v, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "") == 0);
	resolve("1:*", &empty, true, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "") == 0);
	/* $: the saved UIDs still in the view, in either mode */
	resolve("$", &v, true, saved, 4, out, sizeof(out));
	CHECK(strcmp(out, "") == 0);
	saved[0] = 4;
	saved[1] = 6;
	saved[2] = 10;
	resolve("$", &v, false, saved, 4, out, sizeof(out));
	CHECK(strcmp(out, "2:3,5:5") == 0);
	resolve("$", &v, false, NULL, 0, out, sizeof(out));
	CHECK(strcmp(out, "") == 0);
	imap_view_clear(&v);
}

struct expunged {
	char text[128];
};

static void on_expunge(void *ctx, uint32_t seq, uint32_t uid)
{
	struct expunged *e = ctx;
	size_t len = strlen(e->text);

	snprintf(e->text + len, sizeof(e->text) - len, "%u/%u ", (unsigned)seq,
		 (unsigned)uid);
}

static void test_gone(void)
{
	struct imap_view v = {0};
	struct expunged e = {""};
	uint32_t a[] = {3, 5}, b[] = {1, 5};

	for (uint32_t u = 1; u <= 6; u++)
		CHECK(imap_view_append(&v, u, u) == 0);
	CHECK(imap_view_add_gone(&v, a, 2) == 0);
	CHECK(imap_view_add_gone(&v, b, 2) == 0);
	CHECK(v.ngone == 3);
	CHECK(imap_view_is_gone(&v, 5) && !imap_view_is_gone(&v, 4));
	/* still addressable until announced */
	CHECK(v.count == 6 && imap_view_seq(&v, 5) == 5);
	/* in parts: the highest first */
	CHECK(imap_view_remove_gone(&v, 1, on_expunge, &e) == 1);
	CHECK(strcmp(e.text, "5/5 ") == 0);
	CHECK(v.count == 5 && v.ngone == 2 && imap_view_is_gone(&v, 3));
	CHECK(imap_view_remove_gone(&v, 0, on_expunge, &e) == 2);
	/* descending: each number valid when the client applies it */
	CHECK(strcmp(e.text, "5/5 3/3 1/1 ") == 0);
	CHECK(v.count == 3 && v.uids[0] == 2 && v.uids[1] == 4 &&
	      v.uids[2] == 6 && imap_view_reported(&v, 6) == 6);
	CHECK(v.ngone == 0);
	imap_view_clear(&v);
}

/* Views on one shared list (imap_uidlist.h): a change to one is a private
 * copy, the others and the cached list are left as they were. */
static void test_shared(void)
{
	struct imap_uidlist *l = NULL;
	struct imap_view a = {0}, b = {0};
	uint32_t gone[] = {2};

	CHECK(imap_uidlist_own(&l, 3) == 0);
	for (uint32_t u = 1; u <= 3; u++)
		l->uids[l->count++] = u;
	imap_view_set(&a, l);
	imap_view_set(&b, l);
	CHECK(l->refs == 3 && a.uids == l->uids && b.count == 3);
	/* nothing of a's own until it changes */
	CHECK(a.nrep == 0 && imap_view_reported(&a, 2) == 0);
	CHECK(imap_view_append(&a, 9, 40) == 0);
	CHECK(a.count == 4 && a.uids != l->uids && l->count == 3 &&
	      l->refs == 2 && b.uids == l->uids);
	CHECK(imap_view_reported(&a, 9) == 40);
	CHECK(imap_view_add_gone(&b, gone, 1) == 0);
	CHECK(imap_view_remove_gone(&b, 0, NULL, NULL) == 1);
	CHECK(b.count == 2 && b.uids[1] == 3 && l->count == 3 &&
	      l->uids[1] == 2 && l->refs == 1);
	/* a note above the sync point lasts until the point passes it */
	CHECK(imap_view_note_reported(&a, 2, 50) == 0);
	CHECK(imap_view_note_reported(&a, 2, 45) == 0);
	CHECK(imap_view_reported(&a, 2) == 50 && a.rep[0].uid == 2);
	imap_view_prune_reported(&a, 45);
	CHECK(a.nrep == 1 && imap_view_reported(&a, 9) == 0);
	imap_view_prune_reported(&a, 50);
	CHECK(a.nrep == 0);
	imap_view_clear(&a);
	imap_view_clear(&b);
	CHECK(l->refs == 1);
	imap_uidlist_unref(&l);
	CHECK(l == NULL);
}

static void test_write_uids(void)
{
	static const uint32_t u[] = {1, 2, 3, 5, 7, 8, 4294967295u};
	struct buf b;

	buf_init(&b, 1024);
	CHECK(imap_seqset_write_uids(&b, u, 7) == 0);
	CHECK(strcmp(buf_cstr(&b), "1:3,5,7:8,4294967295") == 0);
	buf_deinit(&b);
}

static void mutf7_round(const char *utf8, const char *mutf7)
{
	struct buf b;

	buf_init(&b, 4096);
	CHECK(imap_mutf7_encode(S(utf8), &b) == 0);
	CHECK(strcmp(buf_cstr(&b), mutf7) == 0);
	buf_clear(&b);
	CHECK(imap_mutf7_decode(S(mutf7), &b) == 0);
	CHECK(strcmp(buf_cstr(&b), utf8) == 0);
	buf_deinit(&b);
}

static void test_mutf7(void)
{
	static const char *const bad[] = {
		"&",	 "&-&",	 "&Jjo", "&Jjo!",
		"&AGE-", /* shifted ASCII 'a' */
		"&2D0-", /* lone high surrogate */
		"\x80",	 "a\tb", "&Jj-", "&ZeVnLIqe-x&-&",
		"&Jjp-",
	};
	struct buf b;

	/* RFC 3501 5.1.3 examples */
	mutf7_round("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5"
		    "\xe6\x9c\xac\xe8\xaa\x9e",
		    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	mutf7_round("&", "&-");
	mutf7_round("Entw\xc3\xbc"
		    "rfe",
		    "Entw&APw-rfe");
	mutf7_round("\xe2\x98\xba!", "&Jjo-!");
	mutf7_round("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");
	mutf7_round("plain", "plain");
	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_clear(&b);
		CHECK(imap_mutf7_decode(S(bad[i]), &b) < 0);
	}
	buf_deinit(&b);
}

int main(void)
{
	test_parse();
	test_parse_bound();
	test_resolve();
	test_gone();
	test_shared();
	test_write_uids();
	test_mutf7();
	return tap_done();
}
