/* RFC 5256 base subjects and THREAD: the rules of sections 2.1, 3 and 4,
 * with the inputs real mailboxes produce (missing and looping References,
 * duplicate Message-IDs, absent parents) and a thread deeper than any
 * stack. */
#include <stdio.h>
#include <string.h>

#include "imap_thread.h"
#include "mime_subject.h"
#include "tap.h"

static bool base_is(const char *raw, const char *want, bool want_reply)
{
	struct buf out;
	bool reply = !want_reply, ok;

	buf_init(&out, 4096);
	ok = mime_subject_base(str_from_cstr(raw), &out, &reply) == 0 &&
	     strcmp(buf_cstr(&out), want) == 0 && reply == want_reply;
	if (!ok)
		fprintf(stderr, "base of [%s]: [%s] reply=%d\n", raw,
			buf_cstr(&out), reply);
	buf_deinit(&out);
	return ok;
}

static void test_base_subject(void)
{
	CHECK(base_is("Re: [list] Fwd: subject (fwd)", "SUBJECT", true));
	CHECK(base_is("subject", "SUBJECT", false));
	CHECK(base_is("[fwd: Re: hello]", "HELLO", true));
	CHECK(base_is("[Fwd: [fwd: x]]", "X", true));
	CHECK(base_is("subject (fwd) (FWD)  ", "SUBJECT", true));
	CHECK(base_is("[list]", "[LIST]", false));
	CHECK(base_is("[list] hello", "HELLO", false));
	CHECK(base_is("[a][b] hello", "HELLO", false));
	CHECK(base_is("Re:Re: RE: x", "X", true));
	CHECK(base_is("FWD : x", "X", true));
	CHECK(base_is("fw: x", "X", true));
	CHECK(base_is("re [2]: x", "X", true));
	CHECK(base_is("[list] [other] re: x", "X", true));
	CHECK(base_is("Report: x", "REPORT: X", false));
	CHECK(base_is("Re: ", "", true));
	CHECK(base_is("", "", false));
	CHECK(base_is("hello\r\n\t world\t\tagain", "HELLO WORLD AGAIN",
		      false));
	CHECK(base_is("=?UTF-8?Q?Re=3A_caf=C3=A9?=", "CAF\xc3\xa9", true));
	CHECK(base_is("=?ISO-8859-1?Q?Fwd=3A_=E9t=E9?= (fwd)",
		      "\xc3\xa9T\xc3\xa9", true));
	/* a blob that is all there is stays */
	CHECK(base_is("Re: [list]", "[LIST]", true));
	/* "[fwd:" without its "]" is no wrapper */
	CHECK(base_is("[fwd: x", "[FWD: X", false));
}

static bool next_id_is(const char *raw, const char *want)
{
	struct buf out;
	size_t pos = 0;
	int r;
	bool ok;

	buf_init(&out, 2048);
	r = imap_thread_next_msgid(str_from_cstr(raw), &pos, &out);
	ok = want == NULL ? r == 0
			  : r == 1 && strcmp(buf_cstr(&out), want) == 0;
	buf_deinit(&out);
	return ok;
}

static void test_msgid(void)
{
	CHECK(next_id_is("<a@b>", "a@b"));
	CHECK(next_id_is("  < a@b\r\n >", "a@b"));
	CHECK(next_id_is("<ab> <c@d>", "c@d"));
	CHECK(next_id_is("<a@b", NULL));
	CHECK(next_id_is("<@b> <a@> <a@b@c>", NULL));
	CHECK(next_id_is("no ids here", NULL));
	CHECK(next_id_is("<<x@y>", "x@y"));
}

struct tm_in {
	const char *subject, *msgid, *refs, *irt;
	int64_t sent;
};

static struct str opt(const char *s)
{
	return s == NULL ? (struct str){NULL, 0} : str_from_cstr(s);
}

static bool thread_is(enum imap_thread_algo algo, const struct tm_in *in,
		      size_t n, const char *want)
{
	struct imap_thread *t = imap_thread_new(algo);
	struct buf out;
	bool ok = t != NULL;

	buf_init(&out, 1 << 20);
	for (size_t i = 0; ok && i < n; i++)
		ok = imap_thread_add(t, (uint32_t)i + 1, in[i].sent,
				     opt(in[i].subject), opt(in[i].msgid),
				     opt(in[i].refs), opt(in[i].irt)) == 0;
	ok = ok && imap_thread_write(t, &out) == 0 &&
	     strcmp(buf_cstr(&out), want) == 0;
	if (!ok)
		fprintf(stderr, "thread: [%s], want [%s]\n", buf_cstr(&out),
			want);
	imap_thread_free(&t);
	buf_deinit(&out);
	return ok;
}

#define REFS IMAP_THREAD_REFERENCES
#define THREAD_IS(algo, want, ...)                                             \
	do {                                                                   \
		const struct tm_in in_[] = {__VA_ARGS__};                      \
		CHECK(thread_is(algo, in_, N_ELEMENTS(in_), want));            \
	} while (0)

static void test_references(void)
{
	/* a chain, and a branch */
	THREAD_IS(REFS, "(1 2 3)", {"a", "<1@x>", NULL, NULL, 1},
		  {"Re: a", "<2@x>", "<1@x>", NULL, 2},
		  {"Re: a", "<3@x>", "<1@x> <2@x>", NULL, 3});
	THREAD_IS(REFS, "(1 (2)(3))", {"a", "<1@x>", NULL, NULL, 1},
		  {"b", "<2@x>", "<1@x>", NULL, 2},
		  {"c", "<3@x>", NULL, "<1@x>", 3});
	/* In-Reply-To only when References has no valid ID; only its first */
	THREAD_IS(REFS, "(1 (2)(3))", {"a", "<1@x>", NULL, NULL, 1},
		  {"b", "<2@x>", "<bogus>", "<1@x> <3@x>", 2},
		  {"c", "<3@x>", NULL, "junk <1@x>", 3});
	/* an absent parent: one child is promoted, several share a dummy */
	THREAD_IS(REFS, "(1)", {"a", "<1@x>", "<gone@x>", NULL, 1});
	THREAD_IS(REFS, "((1)(2))", {"a", "<1@x>", "<gone@x>", NULL, 1},
		  {"b", "<2@x>", "<gone@x>", NULL, 2});
	/* missing intermediate: 3 names 1 and a lost 2 */
	THREAD_IS(REFS, "(1 2)", {"a", "<1@x>", NULL, NULL, 1},
		  {"c", "<3@x>", "<1@x> <2@x>", NULL, 3});
	/* References loops: each names the other, or itself, or twice */
	THREAD_IS(REFS, "(2 1)", {"a", "<a@x>", "<b@x>", NULL, 1},
		  {"b", "<b@x>", "<a@x>", NULL, 2});
	THREAD_IS(REFS, "(1)", {"a", "<a@x>", "<a@x>", NULL, 1});
	THREAD_IS(REFS, "(1 2)", {"a", "<a@x>", NULL, NULL, 1},
		  {"b", "<b@x>", "<a@x> <b@x> <a@x> <a@x>", NULL, 2});
	/* a duplicate Message-ID: the first message keeps it */
	THREAD_IS(REFS, "(1 3)(2)", {"a", "<a@x>", NULL, NULL, 1},
		  {"b", "<a@x>", NULL, NULL, 2},
		  {"c", "<c@x>", "<a@x>", NULL, 3});
	/* no Message-ID at all */
	THREAD_IS(REFS, "(1)(2)", {"a", NULL, NULL, NULL, 1},
		  {"b", "", NULL, NULL, 2});
	/* the last reference wins over a guess from another References:
	 * 2 made 3 a child of 1, 3 itself names 9 (absent) */
	THREAD_IS(REFS, "(1)(3 2)", {"a", "<1@x>", NULL, NULL, 1},
		  {"b", "<2@x>", "<1@x> <3@x>", NULL, 2},
		  {"c", "<3@x>", "<9@x>", NULL, 3});
	/* roots by sent date, ties by mailbox order */
	THREAD_IS(REFS, "(2)(1)(3)", {"a", "<1@x>", NULL, NULL, 200},
		  {"b", "<2@x>", NULL, NULL, 100},
		  {"c", "<3@x>", NULL, NULL, 200});
	/* siblings by date */
	THREAD_IS(REFS, "(1 (3)(2))", {"a", "<1@x>", NULL, NULL, 1},
		  {"b", "<2@x>", "<1@x>", NULL, 9},
		  {"c", "<3@x>", "<1@x>", NULL, 5});
	/* step 5: a reply joins the thread of its non-reply subject */
	THREAD_IS(REFS, "(1 2)", {"hello", "<1@x>", NULL, NULL, 1},
		  {"Re: hello", "<2@x>", NULL, NULL, 2});
	THREAD_IS(REFS, "(2 1)", {"Re: hello", "<1@x>", NULL, NULL, 1},
		  {"hello", "<2@x>", NULL, NULL, 2});
	/* two non-replies (or two replies) get a dummy parent */
	THREAD_IS(REFS, "((1)(2))", {"hi", "<1@x>", NULL, NULL, 1},
		  {"Hi", "<2@x>", NULL, NULL, 2});
	THREAD_IS(REFS, "((1)(2)(3))", {"Re: hi", "<1@x>", NULL, NULL, 1},
		  {"Re: hi", "<2@x>", NULL, NULL, 2},
		  {"Fwd: hi", "<3@x>", NULL, NULL, 3});
	/* a dummy root takes a real message of its subject */
	THREAD_IS(REFS, "((1)(2)(3))", {"hi", "<1@x>", "<gone@x>", NULL, 1},
		  {"Re: hi", "<2@x>", "<gone@x>", NULL, 2},
		  {"hi", "<3@x>", NULL, NULL, 3});
	/* empty subjects are never gathered */
	THREAD_IS(REFS, "(1)(2)", {"", "<1@x>", NULL, NULL, 1},
		  {"Re:", "<2@x>", NULL, NULL, 2});
	/* the RFC's example shape: chains and nested lists */
	THREAD_IS(REFS, "(1 2 (3 4)(5))", {"a", "<1@x>", NULL, NULL, 1},
		  {"a", "<2@x>", "<1@x>", NULL, 2},
		  {"a", "<3@x>", "<1@x> <2@x>", NULL, 3},
		  {"a", "<4@x>", "<2@x> <3@x>", NULL, 4},
		  {"a", "<5@x>", "<2@x>", NULL, 5});
}

static void test_orderedsubject(void)
{
	THREAD_IS(IMAP_THREAD_ORDEREDSUBJECT, "(4 (1)(3))(2)",
		  {"a", NULL, NULL, NULL, 1}, {"b", NULL, NULL, NULL, 2},
		  {"Re: a", NULL, NULL, NULL, 3}, {"A", NULL, NULL, NULL, 0});
	THREAD_IS(IMAP_THREAD_ORDEREDSUBJECT, "(1 2)(3)",
		  {"x", NULL, NULL, NULL, 5}, {"[l] x", NULL, NULL, NULL, 5},
		  {"y", NULL, NULL, NULL, 6});
	CHECK(thread_is(IMAP_THREAD_ORDEREDSUBJECT, NULL, 0, ""));
	CHECK(thread_is(REFS, NULL, 0, ""));
}

/* A 200000-message chain: no recursion, the whole chain one list. */
static void test_deep(void)
{
	struct imap_thread *t = imap_thread_new(REFS);
	char id[64], ref[64];
	struct buf out;
	bool ok = t != NULL;

	buf_init(&out, 16 << 20);
	for (uint32_t i = 1; ok && i <= 200000; i++) {
		snprintf(id, sizeof(id), "<%u@x>", i);
		snprintf(ref, sizeof(ref), "<%u@x>", i - 1);
		ok = imap_thread_add(
			     t, i, i, STR_LIT("deep"), str_from_cstr(id),
			     i > 1 ? str_from_cstr(ref) : (struct str){NULL, 0},
			     (struct str){NULL, 0}) == 0;
	}
	CHECK(ok);
	CHECK(imap_thread_write(t, &out) == 0);
	CHECK(out.len > 10 && memcmp(out.data, "(1 2 3 ", 7) == 0);
	CHECK(memcmp(out.data + out.len - 8, " 200000)", 8) == 0);
	imap_thread_free(&t);
	buf_deinit(&out);
}

/* The limits hold: past them add fails, and so does write, once. */
static void test_limits(void)
{
	struct imap_thread *t = imap_thread_new(REFS);
	char id[64], ref[64];
	struct buf out;
	int r = 0;
	uint32_t i;

	buf_init(&out, 1 << 16);
	imap_thread_set_limits(t, 50, 1 << 20);
	/* each message names one new absent parent: two containers each */
	for (i = 1; i <= 100 && r == 0; i++) {
		snprintf(id, sizeof(id), "<m%u@x>", i);
		snprintf(ref, sizeof(ref), "<gone%u@x>", i);
		r = imap_thread_add(t, i, i, STR_LIT("s"), str_from_cstr(id),
				    str_from_cstr(ref), (struct str){NULL, 0});
	}
	CHECK(r < 0 && i > 20 && i <= 27);
	CHECK(imap_thread_add(t, 999, 1, STR_LIT("s"), STR_LIT("<z@x>"),
			      (struct str){NULL, 0},
			      (struct str){NULL, 0}) < 0);
	CHECK(imap_thread_write(t, &out) < 0);
	imap_thread_free(&t);

	/* bytes: long Message-IDs exhaust the ID arena */
	t = imap_thread_new(REFS);
	imap_thread_set_limits(t, 1000, 4096);
	r = 0;
	for (i = 1; i <= 100 && r == 0; i++) {
		char big[300];

		snprintf(big, sizeof(big), "<%0250u@x>", i);
		r = imap_thread_add(t, i, i, STR_LIT("s"), str_from_cstr(big),
				    (struct str){NULL, 0},
				    (struct str){NULL, 0});
	}
	CHECK(r < 0 && i < 20);
	imap_thread_free(&t);
	buf_deinit(&out);
}

int main(void)
{
	test_base_subject();
	test_msgid();
	test_references();
	test_orderedsubject();
	test_deep();
	test_limits();
	return tap_done();
}
