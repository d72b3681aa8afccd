/* Component tests of storage/ against real Berkeley DB environments in
 * temporary homes: mailboxes, appends, flags and keywords, expunge
 * history, copy/move with reference counts, cache, quota, orphans, and
 * two handles / two processes on one home with change notification. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "st_helpers.h"
#include "storage.h"
#include "storage_private.h"
#include "tap.h"

static const char *error;

static struct storage *open_store(const char *home)
{
	struct storage *s = NULL;

	if (storage_open(home, &s, &error) != STORAGE_OK) {
		fprintf(stderr, "storage_open %s: %s\n", home, error);
		exit(1);
	}
	return s;
}

struct names {
	char buf[4096];
	unsigned n;
};

static int collect_name(void *ctx, const struct storage_mailbox *m)
{
	struct names *n = ctx;
	size_t len = strlen(n->buf);

	snprintf(n->buf + len, sizeof(n->buf) - len, "%s%s:%x", len ? " " : "",
		 m->name, m->special_use);
	n->n++;
	return 0;
}

static int collect_sub(void *ctx, const char *name)
{
	struct names *n = ctx;
	size_t len = strlen(n->buf);

	snprintf(n->buf + len, sizeof(n->buf) - len, "%s%s", len ? " " : "",
		 name);
	n->n++;
	return 0;
}

static const char *list_names(struct storage *s)
{
	static struct names n;

	memset(&n, 0, sizeof(n));
	CHECK(storage_mailbox_iter(s, collect_name, &n, &error) == STORAGE_OK);
	return n.buf;
}

static void test_defaults(const char *home)
{
	struct storage *s = open_store(home);
	struct names subs;

	CHECK(strcmp(list_names(s), "Archive:2 Drafts:4 INBOX:0 Junk:10 "
				    "Sent:20 Trash:40") == 0);
	memset(&subs, 0, sizeof(subs));
	CHECK(storage_subscriptions_iter(s, collect_sub, &subs, &error) ==
	      STORAGE_OK);
	CHECK(subs.n == 6);
	storage_close(&s);
	/* reopening creates nothing twice */
	s = open_store(home);
	CHECK(strcmp(list_names(s), "Archive:2 Drafts:4 INBOX:0 Junk:10 "
				    "Sent:20 Trash:40") == 0);
	CHECK(storage_result_code(STORAGE_ERR_NONEXISTENT) != NULL &&
	      strcmp(storage_result_code(STORAGE_ERR_TEMP), "UNAVAILABLE") ==
		      0 &&
	      storage_result_code(STORAGE_OK) == NULL);
	storage_close(&s);
	storage_close(&s); /* NULL is fine */
}

static void test_names(void)
{
	char out[STORAGE_MAILBOX_NAME_MAX + 1], big[1100];
	char deep[200];

	CHECK(storage_mailbox_name_check("inBox", out, sizeof(out), &error) ==
		      STORAGE_OK &&
	      strcmp(out, "INBOX") == 0);
	CHECK(storage_mailbox_name_check("inbox/Foo", out, sizeof(out),
					 &error) == STORAGE_OK &&
	      strcmp(out, "INBOX/Foo") == 0);
	CHECK(storage_mailbox_name_check("inboxes", out, sizeof(out), &error) ==
		      STORAGE_OK &&
	      strcmp(out, "inboxes") == 0);
	CHECK(storage_mailbox_name_check("Ünïcødé/日本", out, sizeof(out),
					 &error) == STORAGE_OK);
	CHECK(storage_mailbox_name_check("", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("/a", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("a/", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("a//b", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("a*", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("a\tb", out, sizeof(out), &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("\xc0\xaf", out, sizeof(out),
					 &error) == STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_name_check("\xed\xa0\x80", out, sizeof(out),
					 &error) == STORAGE_ERR_BADNAME);
	memset(big, 'x', 1000);
	big[1000] = '\0';
	CHECK(storage_mailbox_name_check(big, out, sizeof(out), &error) ==
	      STORAGE_OK);
	big[1000] = 'x';
	big[1001] = '\0';
	CHECK(storage_mailbox_name_check(big, out, sizeof(out), &error) ==
	      STORAGE_ERR_LIMIT);
	for (int i = 0; i < 33; i++) {
		deep[2 * i] = 'a';
		deep[2 * i + 1] = '/';
	}
	deep[63] = '\0'; /* 32 components */
	CHECK(storage_mailbox_name_check(deep, out, sizeof(out), &error) ==
	      STORAGE_OK);
	deep[63] = '/';
	deep[65] = '\0'; /* 33 */
	CHECK(storage_mailbox_name_check(deep, out, sizeof(out), &error) ==
	      STORAGE_ERR_LIMIT);
}

static void test_mailboxes(const char *home)
{
	struct storage *s = open_store(home);
	struct storage_mailbox m, m2, a;
	uint32_t uid;

	CHECK(storage_mailbox_create(s, "a/b/c", 0, &m, &error) == STORAGE_OK);
	CHECK(strcmp(m.name, "a/b/c") == 0 && m.uidnext == 1 &&
	      m.highestmodseq == 1 && m.uidvalidity != 0);
	CHECK(storage_mailbox_get(s, "a", &a, &error) == STORAGE_OK);
	CHECK(storage_mailbox_get(s, "a/b", &m2, &error) == STORAGE_OK);
	CHECK(a.uidvalidity != m2.uidvalidity &&
	      m2.uidvalidity != m.uidvalidity);
	CHECK(storage_mailbox_create(s, "a/b", 0, NULL, &error) ==
	      STORAGE_ERR_ALREADYEXISTS);
	CHECK(storage_mailbox_create(s, "inbox", 0, NULL, &error) ==
	      STORAGE_ERR_ALREADYEXISTS);
	CHECK(storage_mailbox_create(s, "bad//name", 0, NULL, &error) ==
	      STORAGE_ERR_BADNAME);
	CHECK(storage_mailbox_create(s, "Flagged", STORAGE_SPECIAL_FLAGGED, &m2,
				     &error) == STORAGE_OK &&
	      m2.special_use == STORAGE_SPECIAL_FLAGGED);

	/* RENAME keeps UIDVALIDITY and messages; inferiors move along */
	CHECK(st_test_append1(s, m.id, "hello\r\n", &uid) == STORAGE_OK);
	CHECK(storage_mailbox_rename(s, "a", "x/y", &error) == STORAGE_OK);
	CHECK(storage_mailbox_get(s, "a", &m2, &error) ==
	      STORAGE_ERR_NONEXISTENT);
	CHECK(storage_mailbox_get(s, "x/y/b/c", &m2, &error) == STORAGE_OK &&
	      m2.id == m.id && m2.uidvalidity == m.uidvalidity &&
	      m2.messages == 1);
	CHECK(storage_mailbox_get(s, "x/y", &m2, &error) == STORAGE_OK &&
	      m2.uidvalidity == a.uidvalidity);
	CHECK(storage_mailbox_get(s, "x", &m2, &error) == STORAGE_OK);
	CHECK(storage_mailbox_rename(s, "x", "x/z", &error) ==
	      STORAGE_ERR_CANNOT);
	CHECK(storage_mailbox_rename(s, "x/y", "x/y", &error) ==
	      STORAGE_ERR_CANNOT);
	CHECK(storage_mailbox_rename(s, "nope", "q", &error) ==
	      STORAGE_ERR_NONEXISTENT);
	CHECK(storage_mailbox_rename(s, "x/y", "Sent", &error) ==
	      STORAGE_ERR_ALREADYEXISTS);

	/* DELETE keeps children; the implied parent is HASCHILDREN */
	CHECK(storage_mailbox_delete(s, "x/y", &error) == STORAGE_OK);
	CHECK(storage_mailbox_get(s, "x/y/b/c", &m2, &error) == STORAGE_OK);
	CHECK(storage_mailbox_delete(s, "x/y", &error) ==
	      STORAGE_ERR_HASCHILDREN);
	CHECK(storage_mailbox_delete(s, "x/nothing", &error) ==
	      STORAGE_ERR_NONEXISTENT);
	CHECK(storage_mailbox_delete(s, "INBOX", &error) == STORAGE_ERR_CANNOT);
	CHECK(storage_mailbox_get_by_id(s, a.id, &m2, &error) ==
	      STORAGE_ERR_NONEXISTENT);
	/* recreated under the same name: new id and UIDVALIDITY */
	CHECK(storage_mailbox_create(s, "x/y", 0, &m2, &error) == STORAGE_OK &&
	      m2.id != a.id && m2.uidvalidity > a.uidvalidity);
	CHECK(storage_mailbox_delete(s, "x/y/b/c", &error) == STORAGE_OK);
	CHECK(st_test_consistent(s, home));

	/* subscriptions: nonexistent names too, normalized, idempotent */
	CHECK(storage_subscribe(s, "ghost/folder", true, &error) == STORAGE_OK);
	CHECK(storage_subscribe(s, "ghost/folder", true, &error) == STORAGE_OK);
	CHECK(storage_subscribe(s, "Trash", false, &error) == STORAGE_OK);
	CHECK(storage_subscribe(s, "Trash", false, &error) == STORAGE_OK);
	{
		struct names subs;

		memset(&subs, 0, sizeof(subs));
		CHECK(storage_subscriptions_iter(s, collect_sub, &subs,
						 &error) == STORAGE_OK);
		CHECK(strcmp(subs.buf, "Archive Drafts INBOX Junk Sent "
				       "ghost/folder") == 0);
	}
	storage_close(&s);
}

/* Each special-use attribute has one owner: CREATE with it moves it. */
static void test_special_use_moves(const char *home)
{
	struct storage *s = open_store(home);
	struct storage_mailbox m;

	CHECK(storage_mailbox_create(s, "Sent Items", STORAGE_SPECIAL_SENT,
				     &m, &error) == STORAGE_OK &&
	      m.special_use == STORAGE_SPECIAL_SENT);
	CHECK(storage_mailbox_get(s, "Sent", &m, &error) == STORAGE_OK &&
	      m.special_use == 0);
	CHECK(storage_mailbox_create(s, "a/Bin",
				     STORAGE_SPECIAL_SENT | STORAGE_SPECIAL_TRASH,
				     NULL, &error) == STORAGE_OK);
	CHECK(storage_mailbox_get(s, "Sent Items", &m, &error) == STORAGE_OK &&
	      m.special_use == 0);
	CHECK(storage_mailbox_get(s, "Trash", &m, &error) == STORAGE_OK &&
	      m.special_use == 0);
	CHECK(storage_mailbox_get(s, "a/Bin", &m, &error) == STORAGE_OK &&
	      m.special_use == (STORAGE_SPECIAL_SENT | STORAGE_SPECIAL_TRASH));
	/* a failed CREATE moves nothing */
	CHECK(storage_mailbox_create(s, "Drafts", STORAGE_SPECIAL_SENT, NULL,
				     &error) == STORAGE_ERR_ALREADYEXISTS);
	CHECK(storage_mailbox_get(s, "a/Bin", &m, &error) == STORAGE_OK &&
	      m.special_use == (STORAGE_SPECIAL_SENT | STORAGE_SPECIAL_TRASH));
	CHECK(storage_mailbox_get(s, "Drafts", &m, &error) == STORAGE_OK &&
	      m.special_use == STORAGE_SPECIAL_DRAFTS);
	storage_close(&s);
}

/* The quota contract of storage.h: a batch that fits exactly is taken,
 * one that does not is refused whole (no UID used, counters unchanged),
 * by messages and by bytes. */
static void test_quota_batch(const char *home)
{
	struct storage *s = open_store(home);
	const char *texts[3] = {"0123456789", "0123456789", "0123456789"};
	struct storage_mailbox before, after;
	uint32_t uids[3], id = st_test_mbox(s, "INBOX");
	uint64_t qm, qb;

	CHECK(st_test_append(s, id, texts, 1, 0, uids) == STORAGE_OK);
	CHECK(storage_quota_get(s, &qm, &qb, &error) == STORAGE_OK &&
	      qm == 1 && qb == 10);
	storage_set_quota(s, 3, 0);
	CHECK(storage_quota_check(s, 2, 1000, &error) == STORAGE_OK);
	CHECK(storage_quota_check(s, 3, 0, &error) == STORAGE_ERR_OVERQUOTA);
	CHECK(storage_mailbox_get(s, "INBOX", &before, &error) == STORAGE_OK);
	CHECK(st_test_append(s, id, texts, 3, 0, uids) ==
	      STORAGE_ERR_OVERQUOTA);
	CHECK(storage_mailbox_get(s, "INBOX", &after, &error) == STORAGE_OK &&
	      after.uidnext == before.uidnext && after.messages == 1);
	CHECK(st_test_append(s, id, texts, 2, 0, uids) == STORAGE_OK &&
	      uids[1] == uids[0] + 1);
	CHECK(storage_quota_get(s, &qm, &qb, &error) == STORAGE_OK &&
	      qm == 3 && qb == 30);
	/* bytes: 30 used, limit 40 takes one more message of 10, not two */
	storage_set_quota(s, 0, 40);
	CHECK(st_test_append(s, id, texts, 2, 0, uids) ==
	      STORAGE_ERR_OVERQUOTA);
	CHECK(st_test_append(s, id, texts, 1, 0, uids) == STORAGE_OK);
	CHECK(storage_quota_check(s, 1, 1, &error) == STORAGE_ERR_OVERQUOTA);
	CHECK(storage_quota_check(s, 1, 0, &error) == STORAGE_OK);
	storage_set_quota(s, 0, 0);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
}

static void test_mailbox_limit(const char *home)
{
	struct storage *s = open_store(home);
	char name[32];
	enum storage_result r = STORAGE_OK;
	int i;

	for (i = 0; i < STORAGE_MAILBOXES_MAX + 5 && r == STORAGE_OK; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		r = storage_mailbox_create(s, name, 0, NULL, &error);
	}
	CHECK(r == STORAGE_ERR_LIMIT);
	CHECK(i == STORAGE_MAILBOXES_MAX - 6 + 1);
	CHECK(storage_mailbox_delete(s, "m0", &error) == STORAGE_OK);
	CHECK(storage_mailbox_create(s, "again", 0, NULL, &error) ==
	      STORAGE_OK);
	storage_close(&s);
}

struct msgs {
	struct storage_msg m[64];
	unsigned n;
	unsigned expunged;
};

static int collect_msg(void *ctx, const struct storage_msg *m)
{
	struct msgs *l = ctx;

	if (l->n < 64)
		l->m[l->n++] = *m;
	return 0;
}

static int collect_change(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct msgs *l = ctx;

	l->expunged += expunged;
	if (l->n < 64)
		l->m[l->n++] = *m;
	return 0;
}

static void test_append_flags(const char *home)
{
	struct storage *s = open_store(home);
	const char *texts[5] = {"m1\r\n", "m22\r\n", "m333\r\n", "m4\r\n",
				"m5\r\n"};
	uint32_t inbox = st_test_mbox(s, "INBOX"), uids[5], uidv, uid;
	struct storage_mailbox mb;
	struct storage_keywords kw;
	struct storage_msgs upd = {0};
	struct storage_uids mod = {0}, exp = {0};
	struct storage_uid_range all = {1, UINT32_MAX}, r24 = {2, 4};
	const char *kws[2] = {"$Forwarded", "Work"};
	struct msgs l;
	char buf[64];
	struct storage_append a;
	uint64_t qm, qb;

	CHECK(storage_mailbox_get_by_id(s, inbox, &mb, &error) == STORAGE_OK);
	uidv = mb.uidvalidity;
	CHECK(mb.highestmodseq == 1 && mb.uidnext == 1);

	/* one message, then a batch of five: consecutive UIDs, one modseq */
	memset(&a, 0, sizeof(a));
	CHECK(storage_save_begin(s, &a.save, &error) == STORAGE_OK);
	CHECK(storage_save_write(a.save, "Subj", 4, &error) == STORAGE_OK);
	CHECK(storage_save_write(a.save, "ect\r\n", 5, &error) == STORAGE_OK);
	CHECK(storage_save_size(a.save) == 9);
	CHECK(storage_save_finish(a.save, &error) == STORAGE_OK);
	a.flags = STORAGE_FLAG_SEEN;
	a.keywords = kws;
	a.nkeywords = 1;
	a.internal_date = 1000000000;
	a.internal_tz = -300;
	CHECK(storage_append_commit(s, inbox, &a, 1, &uidv, &uid, &error) ==
	      STORAGE_OK);
	CHECK(uid == 1 && uidv == mb.uidvalidity);
	CHECK(st_test_append(s, inbox, texts, 5, 0, uids) == STORAGE_OK);
	CHECK(uids[0] == 2 && uids[4] == 6);
	CHECK(storage_mailbox_get_by_id(s, inbox, &mb, &error) == STORAGE_OK);
	CHECK(mb.uidnext == 7 && mb.highestmodseq == 3 && mb.messages == 6 &&
	      mb.unseen == 5 && mb.size == 9 + 4 + 5 + 6 + 4 + 4);
	CHECK(storage_quota_get(s, &qm, &qb, &error) == STORAGE_OK && qm == 6 &&
	      qb == mb.size);
	CHECK(st_test_read(s, inbox, 3, buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "m22\r\n") == 0);

	memset(&l, 0, sizeof(l));
	CHECK(storage_msg_scan(s, inbox, 1, UINT32_MAX, collect_msg, &l, &mb,
			       &error) == STORAGE_OK);
	CHECK(l.n == 6 && l.m[0].uid == 1 && l.m[0].modseq == 2 &&
	      l.m[0].flags == STORAGE_FLAG_SEEN && l.m[0].keywords == 1 &&
	      l.m[0].internal_date == 1000000000 &&
	      l.m[0].internal_tz == -300 && l.m[1].modseq == 3 &&
	      l.m[0].save_date >= time(NULL) - 5);
	memset(&l, 0, sizeof(l));
	CHECK(storage_msg_scan(s, inbox, 3, 4, collect_msg, &l, NULL, &error) ==
		      STORAGE_OK &&
	      l.n == 2 && l.m[0].uid == 3);

	/* STORE: only real changes get the new modseq */
	CHECK(storage_store(s, inbox, &all, 1, STORAGE_STORE_ADD,
			    STORAGE_FLAG_SEEN, NULL, 0,
			    STORAGE_UNCHANGEDSINCE_NONE, &upd, &mod,
			    &error) == STORAGE_OK);
	CHECK(upd.count == 6 && mod.count == 0 && upd.msgs[0].modseq == 2 &&
	      upd.msgs[1].modseq == 4);
	storage_msgs_free(&upd);
	CHECK(storage_mailbox_get_by_id(s, inbox, &mb, &error) == STORAGE_OK);
	CHECK(mb.highestmodseq == 4 && mb.unseen == 0);
	/* a no-op store changes no modseq */
	CHECK(storage_store(s, inbox, &all, 1, STORAGE_STORE_ADD,
			    STORAGE_FLAG_SEEN, NULL, 0,
			    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
			    &error) == STORAGE_OK);
	CHECK(storage_mailbox_get_by_id(s, inbox, &mb, &error) == STORAGE_OK &&
	      mb.highestmodseq == 4);
	/* UNCHANGEDSINCE 3: uid 1 (modseq 2) passes, 2..6 (4) fail */
	CHECK(storage_store(s, inbox, &all, 1, STORAGE_STORE_ADD,
			    STORAGE_FLAG_FLAGGED, kws + 1, 1, 3, &upd, &mod,
			    &error) == STORAGE_OK);
	CHECK(upd.count == 1 && upd.msgs[0].uid == 1 &&
	      upd.msgs[0].modseq == 5 && upd.msgs[0].keywords == 3 &&
	      mod.count == 5 && mod.uids[0] == 2);
	storage_msgs_free(&upd);
	storage_uids_free(&mod);
	CHECK(storage_store(s, inbox, &all, 1, STORAGE_STORE_ADD, 0, NULL, 0, 0,
			    NULL, &mod, &error) == STORAGE_OK &&
	      mod.count == 6);
	storage_uids_free(&mod);
	CHECK(storage_keywords_get(s, inbox, &kw, &error) == STORAGE_OK &&
	      kw.count == 2 && strcmp(kw.names[1], "Work") == 0);
	/* keywords compare case-insensitively */
	{
		const char *w = "work";

		CHECK(storage_store(s, inbox, &r24, 1, STORAGE_STORE_SET,
				    STORAGE_FLAG_DELETED, &w, 1,
				    STORAGE_UNCHANGEDSINCE_NONE, &upd, NULL,
				    &error) == STORAGE_OK);
		CHECK(upd.count == 3 && upd.msgs[0].keywords == 2 &&
		      upd.msgs[0].flags == STORAGE_FLAG_DELETED);
		storage_msgs_free(&upd);
		CHECK(storage_keywords_get(s, inbox, &kw, &error) ==
			      STORAGE_OK &&
		      kw.count == 2);
	}
	{
		const char *bad = "\\Seen";

		CHECK(storage_store(s, inbox, &all, 1, STORAGE_STORE_ADD, 0,
				    &bad, 1, STORAGE_UNCHANGEDSINCE_NONE, NULL,
				    NULL, &error) == STORAGE_ERR_BADNAME);
	}
	CHECK(storage_mailbox_get_by_id(s, inbox, &mb, &error) == STORAGE_OK);
	CHECK(mb.highestmodseq == 6 && mb.deleted == 3 && mb.unseen == 3);

	/* changes since 5: uids 2..4 at modseq 6 */
	memset(&l, 0, sizeof(l));
	CHECK(storage_changes(s, inbox, 5, collect_change, &l, &mb, &error) ==
	      STORAGE_OK);
	CHECK(l.n == 3 && l.m[0].uid == 2 && l.m[0].modseq == 6 &&
	      l.expunged == 0 && mb.highestmodseq == 6);

	/* EXPUNGE of \Deleted only; history carries the modseq */
	CHECK(storage_expunge(s, inbox, NULL, 0, true, &exp, &error) ==
	      STORAGE_OK);
	CHECK(exp.count == 3 && exp.uids[0] == 2 && exp.uids[2] == 4);
	storage_uids_free(&exp);
	memset(&l, 0, sizeof(l));
	CHECK(storage_changes(s, inbox, 6, collect_change, &l, &mb, &error) ==
	      STORAGE_OK);
	CHECK(l.n == 3 && l.expunged == 3 && l.m[0].modseq == 7 &&
	      mb.highestmodseq == 7 && mb.messages == 3 && mb.deleted == 0);
	memset(&l, 0, sizeof(l));
	CHECK(storage_changes(s, inbox, 0, collect_change, &l, NULL, &error) ==
	      STORAGE_OK);
	CHECK(l.n == 6 && l.expunged == 3);
	CHECK(storage_msg_get(s, inbox, 3, &l.m[0], &error) ==
	      STORAGE_ERR_NONEXISTENT);
	/* UIDs are never reused */
	CHECK(st_test_append1(s, inbox, "new\r\n", &uid) == STORAGE_OK &&
	      uid == 7);
	CHECK(storage_quota_get(s, &qm, &qb, &error) == STORAGE_OK && qm == 4);
	CHECK(st_test_consistent(s, home));

	/* keyword table limit */
	{
		char names[STORAGE_KEYWORDS_MAX + 1][16];
		const char *p[STORAGE_KEYWORDS_MAX + 1];
		struct storage_uid_range one = {1, 1};

		for (int i = 0; i <= STORAGE_KEYWORDS_MAX; i++) {
			snprintf(names[i], sizeof(names[i]), "kw%d", i);
			p[i] = names[i];
		}
		CHECK(storage_store(s, inbox, &one, 1, STORAGE_STORE_ADD, 0, p,
				    STORAGE_KEYWORDS_MAX - 2,
				    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
				    &error) == STORAGE_OK);
		CHECK(storage_store(s, inbox, &one, 1, STORAGE_STORE_ADD, 0, p,
				    STORAGE_KEYWORDS_MAX + 1,
				    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
				    &error) == STORAGE_ERR_LIMIT);
		CHECK(storage_keywords_get(s, inbox, &kw, &error) ==
			      STORAGE_OK &&
		      kw.count == STORAGE_KEYWORDS_MAX);
	}
	storage_close(&s);
}

static void test_copy_move(const char *home)
{
	struct storage *s = open_store(home);
	const char *texts[3] = {"a\r\n", "bb\r\n", "ccc\r\n"};
	const char *kw = "Important";
	uint32_t src, dst, uids[3], uidv;
	struct storage_uids su = {0}, du = {0}, exp = {0};
	struct storage_uid_range all = {1, UINT32_MAX}, two = {2, 2};
	struct storage_mailbox mb;
	struct storage_keywords k;
	struct storage_msg m;
	struct msgs l;
	size_t files0;
	uint64_t qm, qb;

	CHECK(storage_mailbox_create(s, "src", 0, &mb, &error) == STORAGE_OK);
	src = mb.id;
	CHECK(storage_mailbox_create(s, "dst", 0, &mb, &error) == STORAGE_OK);
	dst = mb.id;
	/* give dst a keyword first so the remapped bit differs */
	CHECK(st_test_append(s, src, texts, 3, STORAGE_FLAG_FLAGGED, uids) ==
	      STORAGE_OK);
	CHECK(storage_store(s, src, &two, 1, STORAGE_STORE_ADD, 0, &kw, 1,
			    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
			    &error) == STORAGE_OK);
	files0 = st_test_count_files(home);

	CHECK(storage_copy(s, src, &all, 1, dst, false, &uidv, &su, &du,
			   &error) == STORAGE_OK);
	CHECK(su.count == 3 && du.count == 3 && su.uids[0] == 1 &&
	      du.uids[0] == 1 && du.uids[2] == 3 && uidv == mb.uidvalidity);
	storage_uids_free(&su);
	storage_uids_free(&du);
	/* no data copied */
	CHECK(st_test_count_files(home) == files0);
	CHECK(storage_msg_get(s, dst, 2, &m, &error) == STORAGE_OK &&
	      m.flags == STORAGE_FLAG_FLAGGED && m.keywords == 1);
	CHECK(storage_keywords_get(s, dst, &k, &error) == STORAGE_OK &&
	      k.count == 1 && strcmp(k.names[0], "Important") == 0);
	CHECK(storage_quota_get(s, &qm, &qb, &error) == STORAGE_OK);
	/* expunging the source keeps the files (dst still refers) */
	CHECK(storage_expunge(s, src, NULL, 0, false, &exp, &error) ==
		      STORAGE_OK &&
	      exp.count == 3);
	storage_uids_free(&exp);
	CHECK(st_test_count_files(home) == files0);
	CHECK(st_test_consistent(s, home));

	/* MOVE dst -> src: one transaction, new UIDs, dst expunged */
	CHECK(storage_copy(s, dst, &all, 1, src, true, &uidv, &su, &du,
			   &error) == STORAGE_OK);
	CHECK(su.count == 3 && du.uids[0] == 4 && du.uids[2] == 6);
	storage_uids_free(&su);
	storage_uids_free(&du);
	CHECK(storage_mailbox_get_by_id(s, dst, &mb, &error) == STORAGE_OK &&
	      mb.messages == 0);
	memset(&l, 0, sizeof(l));
	CHECK(storage_changes(s, dst, 0, collect_change, &l, NULL, &error) ==
		      STORAGE_OK &&
	      l.expunged == 3);
	CHECK(st_test_read(s, src, 5, (char *)&l, sizeof(l)) == 0 &&
	      strcmp((char *)&l, "bb\r\n") == 0);
	CHECK(st_test_count_files(home) == files0);
	/* MOVE does not grow quota; COPY over quota is refused */
	{
		uint64_t qm2, qb2;

		CHECK(storage_quota_get(s, &qm2, &qb2, &error) == STORAGE_OK &&
		      qm2 == qm - 3);
		storage_set_quota(s, qm2 + 2, 0);
		CHECK(storage_copy(s, src, &all, 1, dst, false, NULL, NULL,
				   NULL, &error) == STORAGE_ERR_OVERQUOTA);
		CHECK(storage_quota_check(s, 2, 0, &error) == STORAGE_OK);
		CHECK(storage_quota_check(s, 3, 0, &error) ==
		      STORAGE_ERR_OVERQUOTA);
		CHECK(st_test_append(s, src, texts, 3, 0, uids) ==
		      STORAGE_ERR_OVERQUOTA);
		CHECK(st_test_count_files(home) == files0);
		storage_set_quota(s, 0, 0);
	}
	/* copy within one mailbox, then the last reference goes */
	CHECK(storage_copy(s, src, &all, 1, src, false, NULL, &su, &du,
			   &error) == STORAGE_OK &&
	      du.count == 3 && du.uids[0] == 7);
	storage_uids_free(&su);
	storage_uids_free(&du);
	CHECK(st_test_consistent(s, home));
	CHECK(storage_expunge(s, src, NULL, 0, false, NULL, &error) ==
	      STORAGE_OK);
	CHECK(st_test_count_files(home) == files0 - 3);
	CHECK(st_test_consistent(s, home));
	/* copying an empty set is fine */
	CHECK(storage_copy(s, src, &all, 1, dst, false, NULL, &su, &du,
			   &error) == STORAGE_OK &&
	      su.count == 0);
	CHECK(storage_copy(s, src, &all, 1, 9999, false, NULL, &su, &du,
			   &error) == STORAGE_ERR_NONEXISTENT);
	/* DELETE releases files */
	CHECK(st_test_append(s, dst, texts, 3, 0, uids) == STORAGE_OK);
	CHECK(st_test_count_files(home) == files0);
	CHECK(storage_mailbox_delete(s, "dst", &error) == STORAGE_OK);
	CHECK(st_test_count_files(home) == files0 - 3);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
}

static void test_rename_inbox(const char *home)
{
	struct storage *s = open_store(home);
	const char *texts[2] = {"one\r\n", "two\r\n"};
	uint32_t inbox = st_test_mbox(s, "INBOX"), uids[2];
	struct storage_mailbox before, after, old;
	struct msgs l;
	char buf[32];

	CHECK(storage_mailbox_create(s, "INBOX/child", 0, NULL, &error) ==
	      STORAGE_OK);
	CHECK(st_test_append(s, inbox, texts, 2, STORAGE_FLAG_SEEN, uids) ==
	      STORAGE_OK);
	CHECK(storage_mailbox_get_by_id(s, inbox, &before, &error) ==
	      STORAGE_OK);
	CHECK(storage_mailbox_rename(s, "inbox", "Old/Mail", &error) ==
	      STORAGE_OK);
	CHECK(storage_mailbox_get(s, "INBOX", &after, &error) == STORAGE_OK);
	CHECK(after.id == inbox && after.uidvalidity == before.uidvalidity &&
	      after.messages == 0 && after.uidnext == before.uidnext &&
	      after.highestmodseq > before.highestmodseq);
	CHECK(storage_mailbox_get(s, "Old/Mail", &old, &error) == STORAGE_OK);
	CHECK(old.messages == 2 && old.uidnext == 3 && old.unseen == 0);
	CHECK(st_test_read(s, old.id, 2, buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "two\r\n") == 0);
	CHECK(storage_mailbox_get(s, "INBOX/child", &after, &error) ==
	      STORAGE_OK);
	memset(&l, 0, sizeof(l));
	CHECK(storage_changes(s, inbox, before.highestmodseq, collect_change,
			      &l, NULL, &error) == STORAGE_OK &&
	      l.expunged == 2);
	CHECK(storage_mailbox_rename(s, "INBOX", "Old/Mail", &error) ==
	      STORAGE_ERR_ALREADYEXISTS);
	CHECK(storage_mailbox_rename(s, "Sent", "inbox", &error) ==
	      STORAGE_ERR_ALREADYEXISTS);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
}

static void test_cache(const char *home)
{
	struct storage *s = open_store(home);
	uint32_t inbox = st_test_mbox(s, "INBOX"), uid;
	struct storage_msg m;
	struct buf b, small;

	buf_init(&b, 4096);
	buf_init(&small, 4);
	CHECK(st_test_append1(s, inbox, "cached\r\n", &uid) == STORAGE_OK);
	CHECK(storage_msg_get(s, inbox, uid, &m, &error) == STORAGE_OK);
	CHECK(storage_cache_get(s, m.file_id, &b, &error) ==
	      STORAGE_ERR_NONEXISTENT);
	CHECK(storage_cache_put(s, m.file_id, "ENV\0BODY", 8, &error) ==
	      STORAGE_OK);
	CHECK(storage_cache_get(s, m.file_id, &b, &error) == STORAGE_OK &&
	      b.len == 8 && memcmp(b.data, "ENV\0BODY", 8) == 0);
	CHECK(storage_cache_get(s, m.file_id, &small, &error) ==
	      STORAGE_ERR_LIMIT);
	CHECK(storage_cache_put(s, 0x1234, "x", 1, &error) ==
	      STORAGE_ERR_NONEXISTENT);
	{
		struct storage_uid_range one = {uid, uid};

		CHECK(storage_expunge(s, inbox, &one, 1, false, NULL, &error) ==
		      STORAGE_OK);
	}
	buf_clear(&b);
	CHECK(storage_cache_get(s, m.file_id, &b, &error) ==
	      STORAGE_ERR_NONEXISTENT);
	{
		int fd;
		uint64_t size;

		CHECK(storage_file_open(s, m.file_id, &fd, &size, &error) ==
		      STORAGE_ERR_NONEXISTENT);
	}
	buf_deinit(&b);
	buf_deinit(&small);
	storage_close(&s);
}

/* A saver that died after its commit leaves the file in tmp/ (readable
 * there); one that died before leaves an unreferenced file: the next open
 * finishes the first and deletes the second. */
static void test_orphans(const char *home)
{
	struct storage *s = open_store(home);
	uint32_t inbox = st_test_mbox(s, "INBOX"), uid;
	struct storage_save *save;
	struct storage_msg m;
	char from[4200], to[4200], name[17], rel[20], buf[32];
	size_t files0;
	int fd, ready[2];
	pid_t pid;

	CHECK(st_test_append1(s, inbox, "orphan test\r\n", &uid) == STORAGE_OK);
	CHECK(storage_msg_get(s, inbox, uid, &m, &error) == STORAGE_OK);
	st_file_name(m.file_id, name);
	st_msg_relpath(m.file_id, rel);
	snprintf(from, sizeof(from), "%s/msg/%s", home, rel);
	snprintf(to, sizeof(to), "%s/tmp/%s", home, name);
	CHECK(rename(from, to) == 0);
	CHECK(st_test_read(s, inbox, uid, buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "orphan test\r\n") == 0);
	/* a dead saver's file */
	snprintf(to, sizeof(to), "%s/tmp/00000000deadbeef", home);
	fd = open(to, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	storage_close(&s);
	/* a live saver (another process) keeps its file: it holds a lock */
	CHECK(pipe(ready) == 0);
	pid = fork();
	if (pid == 0) {
		struct storage *cs = NULL;

		close(ready[0]);
		if (storage_open(home, &cs, &error) != STORAGE_OK ||
		    storage_save_begin(cs, &save, &error) != STORAGE_OK ||
		    storage_save_write(save, "x", 1, &error) != STORAGE_OK ||
		    write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(ready[1]);
	CHECK(read(ready[0], buf, 1) == 1);
	close(ready[0]);
	files0 = st_test_count_files(home);

	storage_orphan_grace_secs = 0;
	s = open_store(home);
	CHECK(access(from, F_OK) == 0);
	CHECK(access(to, F_OK) < 0 && errno == ENOENT);
	CHECK(st_test_count_files(home) == files0 - 1);
	storage_close(&s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s = open_store(home);
	CHECK(st_test_count_files(home) == files0 - 2);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
	storage_orphan_grace_secs = 10;
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, ms) == 1;
}

static void test_two_handles(const char *home)
{
	struct storage *a = open_store(home), *b = open_store(home);
	uint32_t inbox = st_test_mbox(a, "INBOX"), uid;
	struct storage_mailbox mb;
	struct storage_uid_range one;

	uint64_t seq_b;

	storage_notify_drain(a);
	storage_notify_drain(b);
	CHECK(!wait_readable(storage_notify_fd(b), 0));
	seq_b = storage_change_seq(b);
	CHECK(storage_change_seq(b) == seq_b); /* nothing committed */
	CHECK(st_test_append1(a, inbox, "from a\r\n", &uid) == STORAGE_OK);
	/* a commit by another handle of this process: at once, before
	 * any notification was read */
	CHECK(storage_change_seq(b) != seq_b);
	CHECK(wait_readable(storage_notify_fd(b), 1000));
	CHECK(wait_readable(storage_notify_fd(a), 1000));
	storage_notify_drain(b);
	CHECK(!wait_readable(storage_notify_fd(b), 0));
	CHECK(storage_mailbox_get_by_id(b, inbox, &mb, &error) == STORAGE_OK &&
	      mb.uidnext == uid + 1);
	one.lo = one.hi = uid;
	CHECK(storage_store(b, inbox, &one, 1, STORAGE_STORE_ADD,
			    STORAGE_FLAG_ANSWERED, NULL, 0,
			    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
			    &error) == STORAGE_OK);
	CHECK(wait_readable(storage_notify_fd(a), 1000));
	storage_close(&a);
	/* b still works after a closed the shared environment's first user */
	CHECK(st_test_append1(b, inbox, "from b\r\n", &uid) == STORAGE_OK);
	storage_close(&b);
}

/* Parent waits on its notify fd while a forked child appends. */
static void test_two_processes(const char *home)
{
	struct storage *s = open_store(home);
	uint32_t inbox = st_test_mbox(s, "INBOX");
	struct storage_mailbox before, after;
	int go[2], status;
	struct timespec t0, t1;
	uint64_t seq;
	pid_t pid;
	char c = 0;

	CHECK(storage_mailbox_get_by_id(s, inbox, &before, &error) ==
	      STORAGE_OK);
	storage_notify_drain(s);
	seq = storage_change_seq(s);
	CHECK(storage_change_seq(s) == seq);
	CHECK(pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		struct storage *cs = NULL;
		uint32_t uid;

		close(go[1]);
		if (storage_open(home, &cs, &error) != STORAGE_OK)
			_exit(2);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		if (st_test_append1(cs, inbox, "child\r\n", &uid) != STORAGE_OK)
			_exit(4);
		storage_close(&cs);
		_exit(0);
	}
	close(go[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(write(go[1], &c, 1) == 1);
	CHECK(wait_readable(storage_notify_fd(s), 2000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# cross-process wake-up after %.1f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	/* another process's commit: seen while pending, and still counted
	 * when the notification was consumed before anyone asked */
	CHECK(storage_change_seq(s) != seq);
	seq = storage_change_seq(s);
	storage_notify_drain(s);
	CHECK(storage_change_seq(s) != seq);
	seq = storage_change_seq(s);
	CHECK(storage_change_seq(s) == seq);
	close(go[1]);
	CHECK(storage_mailbox_get_by_id(s, inbox, &after, &error) ==
	      STORAGE_OK);
	CHECK(after.uidnext == before.uidnext + 1 &&
	      after.highestmodseq > before.highestmodseq);
	storage_close(&s);
}

/* Processes opening one brand-new store at the same moment (a first login
 * over IMAP and submission at once, a first delivery): each one gets it.
 * Their databases' creation deadlocks, and storage_open tries the loser
 * again (before, about 40% of such opens failed). */
static void test_concurrent_create(const char *home)
{
	enum { ROUNDS = 10, PROCS = 6 };
	unsigned failed = 0;
	char path[4096];

	for (unsigned round = 0; round < ROUNDS; round++) {
		pid_t pids[PROCS];
		int go[2], status;
		char c;

		snprintf(path, sizeof(path), "%s-new%u", home, round);
		CHECK(pipe(go) == 0);
		for (unsigned i = 0; i < PROCS; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				struct storage *cs = NULL;
				struct storage_mailbox mb;

				close(go[1]);
				/* all start when the pipe closes */
				if (read(go[0], &c, 1) != 0)
					_exit(3);
				if (storage_open(path, &cs, &error) !=
				    STORAGE_OK) {
					fprintf(stderr, "# open: %s\n", error);
					_exit(2);
				}
				if (storage_mailbox_get(cs, "INBOX", &mb,
							&error) != STORAGE_OK)
					_exit(4);
				storage_close(&cs);
				_exit(0);
			}
		}
		close(go[0]);
		close(go[1]);
		for (unsigned i = 0; i < PROCS; i++) {
			if (waitpid(pids[i], &status, 0) != pids[i] ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
	}
	printf("# %u of %u concurrent opens of new stores failed\n", failed,
	       ROUNDS * PROCS);
	CHECK(failed == 0);
}

/* A process killed while holding locks inside a transaction: the
 * survivor's next operation must not hang (lock timeout, reopen with
 * recovery) and the half-done transaction is gone. */
static void test_killed_holder(const char *home)
{
	struct storage *s = open_store(home);
	uint32_t inbox = st_test_mbox(s, "INBOX"), uid;
	struct storage_mailbox before, after;
	int ready[2], status;
	pid_t pid;
	char c;

	CHECK(storage_mailbox_get_by_id(s, inbox, &before, &error) ==
	      STORAGE_OK);
	CHECK(pipe(ready) == 0);
	pid = fork();
	if (pid == 0) {
		struct storage *cs = NULL;
		DB_TXN *txn;
		struct st_meta meta;

		close(ready[0]);
		if (storage_open(home, &cs, &error) != STORAGE_OK)
			_exit(2);
		/* take the store's write lock and die with it */
		if (cs->e->env->txn_begin(cs->e->env, NULL, &txn, 0) != 0 ||
		    st_meta_get(cs, txn, &meta, true) != 0)
			_exit(3);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(st_test_append1(s, inbox, "after kill\r\n", &uid) == STORAGE_OK);
	CHECK(uid == before.uidnext);

	CHECK(storage_mailbox_get_by_id(s, inbox, &after, &error) ==
	      STORAGE_OK);
	CHECK(after.uidnext == uid + 1 &&
	      after.messages == before.messages + 1);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
}

/* A process dies with the environment open, and a third one opens it:
 * that one recovers at once, and a live process whose environment is now
 * stale reopens on its next call. The live one is a child too: Berkeley
 * DB does not free everything when closing a panicked environment, which
 * the leak checker would blame on this test. */
static void test_recovered_under_us(const char *home)
{
	struct storage *s = open_store(home);
	uint32_t inbox = st_test_mbox(s, "INBOX"), uid;
	struct storage_mailbox before;
	int go[2], status;
	pid_t live, pid;
	char c = 0;

	CHECK(storage_mailbox_get_by_id(s, inbox, &before, &error) ==
	      STORAGE_OK);
	storage_close(&s);
	CHECK(pipe(go) == 0);
	live = fork();
	if (live == 0) {
		close(go[1]);
		if (storage_open(home, &s, &error) != STORAGE_OK ||
		    read(go[0], &c, 1) != 1 ||
		    st_test_append1(s, inbox, "live\r\n", &uid) != STORAGE_OK)
			_exit(2);
		_exit(uid == before.uidnext + 1 ? 0 : 3);
	}
	close(go[0]);
	pid = fork();
	if (pid == 0) {
		if (storage_open(home, &s, &error) != STORAGE_OK)
			_exit(2);
		pause();
		_exit(0);
	}
	usleep(300000);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	pid = fork();
	if (pid == 0) {
		if (storage_open(home, &s, &error) != STORAGE_OK ||
		    st_test_append1(s, inbox, "third\r\n", &uid) != STORAGE_OK)
			_exit(2);
		storage_close(&s);
		_exit(uid == before.uidnext ? 0 : 3);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	CHECK(write(go[1], &c, 1) == 1);
	CHECK(waitpid(live, &status, 0) == live && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	close(go[1]);
	s = open_store(home);
	CHECK(st_test_consistent(s, home));
	storage_close(&s);
}

int main(void)
{
	char *home;

	signal(SIGPIPE, SIG_IGN);
	test_names();
#define RUN(fn)                                                                \
	do {                                                                   \
		home = st_test_home("/tmp");                                   \
		fn(home);                                                      \
		*strrchr(home, '/') = '\0';                                    \
		st_test_rmrf(home);                                            \
		free(home);                                                    \
	} while (0)
	RUN(test_defaults);
	RUN(test_mailboxes);
	RUN(test_mailbox_limit);
	RUN(test_special_use_moves);
	RUN(test_quota_batch);
	RUN(test_append_flags);
	RUN(test_copy_move);
	RUN(test_rename_inbox);
	RUN(test_cache);
	RUN(test_orphans);
	RUN(test_two_handles);
	RUN(test_two_processes);
	RUN(test_concurrent_create);
	RUN(test_killed_holder);
	RUN(test_recovered_under_us);
	return tap_done();
}
