/* mailadm sendmail's message reader (admin/sendmail_msg.c), fed one byte
 * at a time, in every two-way split and whole: the lone-dot end (and -i),
 * -t recipients from To/Cc/Bcc with groups, comments and folding, Bcc
 * removal, the added From, a message without header, and the limits. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sendmail_msg.h"
#include "tap.h"

struct result {
	int ended; /* sendmail_msg_feed returned 1 */
	char *out;
	char *rcpts; /* joined with ' ' */
	char *from;
	bool eight_bit;
	unsigned long long size;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->rcpts);
	free(r->from);
}

/* step 0: whole; else pieces of step bytes; split: two pieces at split
 * (step == SIZE_MAX). */
static struct result run(const char *in, bool dot_ends, bool extract,
			 const char *add_from, size_t step, size_t split)
{
	struct sendmail_msg m;
	struct result r = {0};
	struct buf out, rc;
	const char *err = NULL;
	size_t len = strlen(in);
	int ret = 0;

	sendmail_msg_init(&m, dot_ends, extract, add_from);
	buf_init(&out, SIZE_MAX);
	buf_init(&rc, SIZE_MAX);
	for (size_t off = 0, piece = 0; off < len && ret == 0; piece++) {
		size_t n = step == SIZE_MAX ? (piece == 0 ? split : len - off)
			   : step == 0	    ? len
					    : step;
		if (n > len - off)
			n = len - off;
		ret = sendmail_msg_feed(&m, in + off, n, &out, &err);
		off += n;
	}
	CHECK(ret >= 0);
	r.ended = ret;
	CHECK(sendmail_msg_finish(&m, &out, &err) == 0);
	for (size_t i = 0; i < m.nrcpt; i++) {
		if (i > 0)
			buf_append(&rc, " ", 1);
		buf_append_cstr(&rc, m.rcpts[i]);
	}
	r.out = strdup(buf_cstr(&out));
	r.rcpts = strdup(buf_cstr(&rc));
	r.from = m.header_from != NULL ? strdup(m.header_from) : NULL;
	r.eight_bit = m.eight_bit;
	r.size = m.size;
	buf_deinit(&out);
	buf_deinit(&rc);
	sendmail_msg_deinit(&m);
	return r;
}

/* Runs every way of feeding and checks they agree with the expectation. */
static void expect(const char *in, bool dot_ends, bool extract,
		   const char *add_from, const char *want_out,
		   const char *want_rcpts, const char *want_from, int ended)
{
	size_t len = strlen(in);

	for (size_t mode = 0; mode < 3 + len + 1; mode++) {
		size_t step = mode == 0 ? 0 : mode == 1 ? 1 : mode == 2 ? 7
								       : SIZE_MAX;
		size_t split = mode >= 3 ? mode - 3 : 0;
		struct result r = run(in, dot_ends, extract, add_from, step,
				      split);
		CHECK(strcmp(r.out, want_out) == 0);
		CHECK(strcmp(r.rcpts, want_rcpts) == 0);
		CHECK(want_from == NULL ? r.from == NULL
					: r.from != NULL &&
						  strcmp(r.from, want_from) ==
							  0);
		CHECK(r.ended == ended);
		result_free(&r);
	}
}

static void test_dot(void)
{
	/* a lone dot ends the input, what follows is ignored */
	expect("Subject: a\n\nbody\n.\nignored\n", true, false, NULL,
	       "Subject: a\n\nbody\n", "", NULL, 1);
	expect("Subject: a\r\n\r\nbody\r\n.\r\nignored\r\n", true, false,
	       NULL, "Subject: a\r\n\r\nbody\r\n", "", NULL, 1);
	/* -i: the dot is just a line */
	expect("Subject: a\n\nbody\n.\nmore\n", false, false, NULL,
	       "Subject: a\n\nbody\n.\nmore\n", "", NULL, 0);
	/* dots that do not stand alone stay */
	expect("S: a\n\n.x\n..\n. \nx.\n.\r\r\n", true, false, NULL,
	       "S: a\n\n.x\n..\n. \nx.\n.\r\r\n", "", NULL, 0);
	/* a dot at the very start and at the end of input */
	expect(".\n", true, false, NULL, "", "", NULL, 1);
	expect("S: a\n\nlast\n.", true, false, NULL, "S: a\n\nlast\n.", "",
	       NULL, 0);
}

static void test_extract(void)
{
	expect("From: Alice <alice@example.org>\n"
	       "To: bob@example.org, \"Carol C\" <carol@example.org>\n"
	       "Cc: team: dave@example.org, erin@example.org;,\n"
	       " frank@example.org (Frank)\n"
	       "Bcc: grace@example.org\n"
	       "Subject: x\n"
	       "\n"
	       "To: not@header.example\n",
	       true, true, NULL,
	       "From: Alice <alice@example.org>\n"
	       "To: bob@example.org, \"Carol C\" <carol@example.org>\n"
	       "Cc: team: dave@example.org, erin@example.org;,\n"
	       " frank@example.org (Frank)\n"
	       "Subject: x\n"
	       "\n"
	       "To: not@header.example\n",
	       "bob@example.org carol@example.org dave@example.org "
	       "erin@example.org frank@example.org grace@example.org",
	       "alice@example.org", 0);
	/* a folded Bcc goes entirely, duplicates are dropped, case kept */
	expect("To: A@example.org\nbcc: b@example.org,\n\tA@example.org\n"
	       "X: y\n\nbody\n",
	       true, true, NULL, "To: A@example.org\nX: y\n\nbody\n",
	       "A@example.org b@example.org", NULL, 0);
	/* without -t the Bcc still goes, recipients are not collected */
	expect("To: a@example.org\nBcc: b@example.org\n\n", true, false, NULL,
	       "To: a@example.org\n\n", "", NULL, 0);
	/* an empty group */
	expect("To: undisclosed-recipients:;\n\nx\n", true, true, NULL,
	       "To: undisclosed-recipients:;\n\nx\n", "", NULL, 0);
}

static void test_from_and_shapes(void)
{
	/* From added when missing, kept when present */
	expect("To: a@example.org\n\nhi\n", true, false, "Me <me@example.org>",
	       "From: Me <me@example.org>\nTo: a@example.org\n\nhi\n", "",
	       NULL, 0);
	expect("from: x@example.org\n\nhi\n", true, false, "me@example.org",
	       "from: x@example.org\n\nhi\n", "", "x@example.org", 0);
	/* no header at all: a body line first */
	expect("just a body line\nsecond\n", true, false, "me@example.org",
	       "From: me@example.org\n\njust a body line\nsecond\n", "", NULL,
	       0);
	/* a header that ends the input without a blank line */
	expect("Subject: only", true, false, NULL, "Subject: only\n", "",
	       NULL, 0);
	/* empty message */
	expect("", true, false, NULL, "", "", NULL, 0);
	/* blank line first: no header */
	expect("\nbody\n", true, false, "me@example.org",
	       "From: me@example.org\n\nbody\n", "", NULL, 0);
}

static void test_size_8bit(void)
{
	struct result r = run("S: \xc3\xa9\n\nx\r\ny\n", true, false, NULL, 1,
			      0);
	CHECK(r.eight_bit);
	/* every LF becomes CRLF: 6+1, 1+1, 3, 2+1 */
	CHECK(r.size == strlen("S: \xc3\xa9\r\n\r\nx\r\ny\r\n"));
	result_free(&r);
	r = run("S: a\n\nb\n", true, false, NULL, 0, 0);
	CHECK(!r.eight_bit);
	result_free(&r);
}

static void test_limits(void)
{
	struct sendmail_msg m;
	struct buf out, in;
	const char *err = NULL;
	int ret = 0;

	/* a header larger than SENDMAIL_HEADER_MAX is refused */
	buf_init(&in, SIZE_MAX);
	buf_init(&out, SIZE_MAX);
	while (in.len <= SENDMAIL_HEADER_MAX)
		buf_append_cstr(&in, "X-Filler: 0123456789012345678901234567\n");
	sendmail_msg_init(&m, true, false, NULL);
	ret = sendmail_msg_feed(&m, in.data, in.len, &out, &err);
	CHECK(ret == -1);
	sendmail_msg_deinit(&m);
	/* a large body passes through (no limit on it) */
	buf_clear(&in);
	buf_clear(&out);
	buf_append_cstr(&in, "S: a\n\n");
	while (in.len <= 3 * SENDMAIL_HEADER_MAX)
		buf_append_cstr(&in, "body line 0123456789012345678901234\n");
	sendmail_msg_init(&m, true, false, NULL);
	CHECK(sendmail_msg_feed(&m, in.data, in.len, &out, &err) == 0);
	CHECK(sendmail_msg_finish(&m, &out, &err) == 0);
	CHECK(out.len == in.len);
	sendmail_msg_deinit(&m);
	/* too many -t recipients */
	buf_clear(&in);
	buf_clear(&out);
	for (int i = 0; i <= SENDMAIL_MAX_RCPTS; i++)
		buf_printf(&in, "To: r%d@example.org\n", i);
	buf_append_cstr(&in, "\n");
	sendmail_msg_init(&m, true, true, NULL);
	CHECK(sendmail_msg_feed(&m, in.data, in.len, &out, &err) == -1);
	sendmail_msg_deinit(&m);
	buf_deinit(&in);
	buf_deinit(&out);
}

int main(void)
{
	test_dot();
	test_extract();
	test_from_and_shapes();
	test_size_8bit();
	test_limits();
	return tap_done();
}
