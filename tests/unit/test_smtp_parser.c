/* SMTP command reader: lines and DATA must give the same result however the
 * input is split (one byte at a time, random splits), limits hold, and
 * nothing behind a line or the end of data is consumed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp_parser.h"
#include "str.h"
#include "tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Feeds text to the line reader in chunks (chunk 0: random sizes) and
 * records "L:<line>|" for lines and "T|" for overlong ones. */
static void lines_of(const char *text, size_t max, size_t chunk,
		     struct buf *out)
{
	struct smtp_line_reader r;
	struct buf in;
	size_t tlen = strlen(text), pos = 0;

	smtp_line_reader_init(&r, max);
	buf_init(&in, 1 << 20);
	while (pos < tlen || in.len > 0) {
		size_t n = chunk != 0 ? chunk : 1 + (size_t)(rng() % 7);
		if (n > tlen - pos)
			n = tlen - pos;
		buf_append(&in, text + pos, n);
		pos += n;
		for (;;) {
			struct str line;
			size_t used;
			enum smtp_line_result res =
				smtp_line_read(&r, in.data, in.len, &line, &used);
			if (res == SMTP_LINE_OK) {
				buf_append_cstr(out, "L:");
				buf_append(out, line.p, line.len);
				buf_append_cstr(out, "|");
			} else if (res == SMTP_LINE_TOO_LONG) {
				buf_append_cstr(out, "T|");
			}
			buf_consume(&in, used);
			if (res == SMTP_LINE_NEED_MORE &&
			    (used == 0 || in.len == 0))
				break;
		}
		if (pos == tlen)
			break;
	}
	buf_deinit(&in);
}

static void test_lines(void)
{
	static const char *const text =
		"EHLO a\r\nMAIL FROM:<x@y>\nRSET\r\n"
		"0123456789012345678901234567890123456789\r\nNOOP\r\n";
	static const char *const expect =
		"L:EHLO a|L:MAIL FROM:<x@y>|L:RSET|T|L:NOOP|";
	for (size_t chunk = 0; chunk <= 3; chunk++) {
		for (int rep = 0; rep < (chunk == 0 ? 50 : 1); rep++) {
			struct buf out;
			buf_init(&out, 4096);
			lines_of(text, 20, chunk, &out);
			CHECK(strcmp(buf_cstr(&out), expect) == 0);
			buf_deinit(&out);
		}
	}
	/* exactly at the limit, with CR LF split across reads */
	struct buf out;
	buf_init(&out, 4096);
	lines_of("12345\r\n123456\r\n", 5, 1, &out);
	CHECK(strcmp(buf_cstr(&out), "L:12345|T|") == 0);
	buf_deinit(&out);
	/* an overlong line without an end keeps being dropped */
	struct smtp_line_reader r;
	struct str line;
	size_t used;
	smtp_line_reader_init(&r, 4);
	CHECK(smtp_line_read(&r, (const unsigned char *)"abcdefg", 7, &line,
			     &used) == SMTP_LINE_TOO_LONG);
	CHECK(used == 7);
	CHECK(smtp_line_read(&r, (const unsigned char *)"xyz", 3, &line,
			     &used) == SMTP_LINE_NEED_MORE);
	CHECK(used == 3);
	CHECK(smtp_line_read(&r, (const unsigned char *)"q\nOK\n", 5, &line,
			     &used) == SMTP_LINE_NEED_MORE);
	CHECK(used == 2);
	CHECK(smtp_line_read(&r, (const unsigned char *)"OK\n", 3, &line,
			     &used) == SMTP_LINE_OK);
	/* the end of an overlong line and a whole line in one read: both
	 * found, the second without more input */
	buf_init(&out, 4096);
	lines_of("abcdefgh", 4, 0, &out);
	buf_clear(&out);
	lines_of("abcdefghij\r\nNOOP\r\n", 4, 8, &out);
	CHECK(strcmp(buf_cstr(&out), "T|L:NOOP|") == 0);
	buf_deinit(&out);
	CHECK(used == 3 && str_eq(line, STR_LIT("OK")));
}

static void test_cmd(void)
{
	struct smtp_cmd cmd;
	const char *error;
	CHECK(smtp_cmd_parse(STR_LIT("ehlo client.example  "), &cmd, &error) ==
	      0);
	CHECK(smtp_cmd_is(&cmd, "EHLO"));
	CHECK(str_eq(cmd.args, STR_LIT("client.example")));
	CHECK(smtp_cmd_parse(STR_LIT("QUIT"), &cmd, &error) == 0);
	CHECK(smtp_cmd_is(&cmd, "quit") && cmd.args.len == 0);
	CHECK(smtp_cmd_parse(STR_LIT("MAIL\rFROM:<a>"), &cmd, &error) < 0);
	CHECK(smtp_cmd_parse((struct str){"NOOP\0x", 6}, &cmd, &error) < 0);
	CHECK(smtp_cmd_parse(STR_LIT(""), &cmd, &error) < 0);
	CHECK(smtp_cmd_parse(STR_LIT("HE1LO"), &cmd, &error) < 0);
}

static void test_path(void)
{
	struct str addr, params, key, value;
	const char *error;
	CHECK(smtp_parse_path(STR_LIT("FROM:<a@b.example> SIZE=100 BODY=8BITMIME"),
			      "FROM:", &addr, &params, &error) == 0);
	CHECK(str_eq(addr, STR_LIT("a@b.example")));
	CHECK(smtp_param_next(&params, &key, &value) == 1);
	CHECK(str_eq(key, STR_LIT("SIZE")) && str_eq(value, STR_LIT("100")));
	CHECK(smtp_param_next(&params, &key, &value) == 1);
	CHECK(str_eq(key, STR_LIT("BODY")) &&
	      str_eq(value, STR_LIT("8BITMIME")));
	CHECK(smtp_param_next(&params, &key, &value) == 0);
	CHECK(smtp_parse_path(STR_LIT("from: <>"), "FROM:", &addr, &params,
			      &error) == 0);
	CHECK(addr.len == 0 && params.len == 0);
	CHECK(smtp_parse_path(STR_LIT("TO:<@r1,@r2:u@d>"), "TO:", &addr,
			      &params, &error) == 0);
	CHECK(str_eq(addr, STR_LIT("u@d")));
	CHECK(smtp_parse_path(STR_LIT("TO:<\"a > b\"@d>"), "TO:", &addr,
			      &params, &error) == 0);
	CHECK(str_eq(addr, STR_LIT("\"a > b\"@d")));
	CHECK(smtp_parse_path(STR_LIT("TO:u@d"), "TO:", &addr, &params,
			      &error) < 0);
	CHECK(smtp_parse_path(STR_LIT("TO:<u@d"), "TO:", &addr, &params,
			      &error) < 0);
	CHECK(smtp_parse_path(STR_LIT("TO:<u@d>x"), "TO:", &addr, &params,
			      &error) < 0);
	CHECK(smtp_parse_path(STR_LIT("FROM:<u@d>"), "TO:", &addr, &params,
			      &error) < 0);
	CHECK(smtp_parse_path(STR_LIT("TO:<a b@d>"), "TO:", &addr, &params,
			      &error) < 0);
	char longp[400];
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "TO:<", 4);
	longp[sizeof(longp) - 1] = '>';
	CHECK(smtp_parse_path((struct str){longp, sizeof(longp)}, "TO:", &addr,
			      &params, &error) < 0);
	params = STR_LIT("=x");
	CHECK(smtp_param_next(&params, &key, &value) < 0);
}

struct data_case {
	const char *in;
	const char *out; /* NULL: no end of data */
	const char *rest;
	bool bare_cr, bare_lf;
};

static const struct data_case data_cases[] = {
	{"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n",
	 "Subject: x\r\n\r\nhello\r\n", "QUIT\r\n", false, false},
	{".\r\n", "", "", false, false},
	{"..dot\r\n...\r\n.\r\n", ".dot\r\n..\r\n", "", false, false},
	{"a\nb\r\n.\r\n", "a\nb\r\n", "", false, true},
	{"a\rb\r\n.\r\n", "a\rb\r\n", "", true, false},
	/* smuggling: only CRLF . CRLF ends the data */
	{"a\n.\r\nMAIL FROM:<x>\r\n.\r\n", "a\n.\r\nMAIL FROM:<x>\r\n", "",
	 false, true},
	{"a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", "", false, true},
	{"a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", "", true, false},
	{"x\r\n.\r", NULL, NULL, false, false},
};

static void run_data(const struct data_case *dc, size_t chunk)
{
	struct smtp_data_reader r;
	struct buf out;
	size_t len = strlen(dc->in), pos = 0;
	bool ended = false;

	smtp_data_reader_init(&r);
	buf_init(&out, 1 << 16);
	while (pos < len && !ended) {
		size_t n = chunk != 0 ? chunk : 1 + (size_t)(rng() % 5);
		if (n > len - pos)
			n = len - pos;
		size_t used;
		ended = smtp_data_feed(&r, (const unsigned char *)dc->in + pos,
				       n, &out, &used);
		CHECK(used <= n);
		CHECK(ended || used == n);
		pos += used;
	}
	if (dc->out == NULL) {
		CHECK(!ended);
	} else {
		CHECK(ended);
		CHECK(out.len == strlen(dc->out) &&
		      (out.len == 0 || memcmp(out.data, dc->out, out.len) == 0));
		CHECK(r.size == out.len);
		CHECK(strcmp(dc->in + pos, dc->rest) == 0);
	}
	CHECK(r.bare_cr == dc->bare_cr);
	CHECK(r.bare_lf == dc->bare_lf);
	buf_deinit(&out);
}

static void test_data(void)
{
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]);
	     i++) {
		for (size_t chunk = 0; chunk <= 4; chunk++) {
			for (int rep = 0; rep < (chunk == 0 ? 30 : 1); rep++)
				run_data(&data_cases[i], chunk);
		}
	}
	/* output past the buffer's max is counted, not stored */
	struct smtp_data_reader r;
	struct buf out;
	size_t used;
	smtp_data_reader_init(&r);
	buf_init(&out, 4);
	CHECK(smtp_data_feed(&r, (const unsigned char *)"abcdefgh\r\n.\r\n",
			     13, &out, &used));
	CHECK(r.size == 10 && out.len <= 4);
	buf_deinit(&out);
}

static void test_crlf(void)
{
	bool pend = false, cr = false, lf = false;
	smtp_crlf_check((const unsigned char *)"a\r", 2, &pend, &cr, &lf);
	smtp_crlf_check((const unsigned char *)"\nb\r\n", 4, &pend, &cr, &lf);
	CHECK(!cr && !lf && !pend);
	smtp_crlf_check((const unsigned char *)"x\r", 2, &pend, &cr, &lf);
	smtp_crlf_check((const unsigned char *)"y", 1, &pend, &cr, &lf);
	CHECK(cr && !lf);
	cr = false;
	smtp_crlf_check((const unsigned char *)"z\n", 2, &pend, &cr, &lf);
	CHECK(!cr && lf);
}

static void test_mail_params(void)
{
	struct smtp_mail_params mp;
	const char *reply = NULL;
	CHECK(smtp_mail_params_parse(STR_LIT(""), &mp, &reply) == 0);
	CHECK(mp.size == 0 && !mp.body_8bit && !mp.smtputf8);
	CHECK(smtp_mail_params_parse(
		      STR_LIT("SIZE=1234 body=8BITMIME SMTPUTF8 AUTH=<>"), &mp,
		      &reply) == 0);
	CHECK(mp.size == 1234 && mp.body_8bit && mp.smtputf8);
	CHECK(smtp_mail_params_parse(STR_LIT("BODY=7BIT"), &mp, &reply) == 0);
	CHECK(!mp.body_8bit);
	CHECK(smtp_mail_params_parse(STR_LIT("SIZE=12x"), &mp, &reply) < 0);
	CHECK(strcmp(reply, "501 5.5.4 Bad SIZE") == 0);
	CHECK(smtp_mail_params_parse(STR_LIT("SIZE=99999999999999999999"), &mp,
				     &reply) < 0);
	CHECK(smtp_mail_params_parse(STR_LIT("BODY=BINARYMIME"), &mp,
				     &reply) < 0);
	CHECK(strcmp(reply, "501 5.5.4 Unknown BODY type") == 0);
	CHECK(smtp_mail_params_parse(STR_LIT("SMTPUTF8=yes"), &mp, &reply) <
	      0);
	CHECK(strcmp(reply, "555 5.5.4 Unsupported MAIL parameter") == 0);
	CHECK(smtp_mail_params_parse(STR_LIT("RET=FULL"), &mp, &reply) < 0);
}

static void test_bdat(void)
{
	uint64_t n = 7;
	bool last = true;
	CHECK(smtp_bdat_parse(STR_LIT("100"), &n, &last) == 0);
	CHECK(n == 100 && !last);
	CHECK(smtp_bdat_parse(STR_LIT("0 LAST"), &n, &last) == 0);
	CHECK(n == 0 && last);
	CHECK(smtp_bdat_parse(STR_LIT("5 last"), &n, &last) == 0 && last);
	CHECK(smtp_bdat_parse(STR_LIT(""), &n, &last) < 0);
	CHECK(smtp_bdat_parse(STR_LIT("LAST"), &n, &last) < 0);
	CHECK(smtp_bdat_parse(STR_LIT("5 LASTX"), &n, &last) < 0);
	CHECK(smtp_bdat_parse(STR_LIT("5 LAST x"), &n, &last) < 0);
	CHECK(smtp_bdat_parse(STR_LIT("-1"), &n, &last) < 0);
	CHECK(smtp_bdat_parse(STR_LIT("99999999999999999999"), &n, &last) < 0);
}

static void body_collect(void *ctx, const unsigned char *p, size_t n)
{
	CHECK(buf_append(ctx, p, n) == 0);
}

static void test_body(void)
{
	struct smtp_body b;
	struct buf in, got;
	buf_init(&in, 1024);
	buf_init(&got, 1024);

	/* DATA: unstuffed, ends at CRLF.CRLF, the rest stays in the input */
	smtp_body_reset(&b);
	smtp_body_data_start(&b);
	CHECK(buf_append_cstr(&in, "a\r\n..b\r\n.\r\nQUIT\r\n") == 0);
	CHECK(smtp_body_feed(&b, &in, 4, body_collect, &got) == false);
	while (!smtp_body_feed(&b, &in, 4, body_collect, &got))
		;
	CHECK(strcmp(buf_cstr(&got), "a\r\n.b\r\n") == 0);
	CHECK(strcmp(buf_cstr(&in), "QUIT\r\n") == 0);
	CHECK(!b.bare_cr && !b.bare_lf);

	/* BDAT: a chunk is read to its size; a CR ending a chunk is judged
	 * by the next one, and is bare when it ends BDAT LAST */
	buf_clear(&in);
	buf_clear(&got);
	smtp_body_reset(&b);
	smtp_body_bdat_start(&b, 3, false);
	CHECK(buf_append_cstr(&in, "ab\r\nNOOP") == 0);
	CHECK(smtp_body_feed(&b, &in, 4, body_collect, &got));
	CHECK(strcmp(buf_cstr(&in), "\nNOOP") == 0 && !b.bare_cr);
	buf_clear(&in);
	smtp_body_bdat_start(&b, 0, true);
	CHECK(b.bare_cr && !b.bare_lf);

	/* a discarded chunk is read and dropped */
	buf_clear(&got);
	smtp_body_reset(&b);
	b.discard = true;
	smtp_body_bdat_start(&b, 2, true);
	CHECK(buf_append_cstr(&in, "x\n") == 0);
	CHECK(smtp_body_feed(&b, &in, 4, body_collect, &got));
	CHECK(got.len == 0 && in.len == 0 && !b.bare_lf);
	buf_deinit(&in);
	buf_deinit(&got);
}

static void test_mail_rcpt_args(void)
{
	struct str addr;
	struct smtp_mail_params mp;
	char t[200];
	CHECK(smtp_mail_args(STR_LIT("FROM:<a@b> SIZE=10"), 10, &addr, &mp, t,
			     sizeof(t)) == 0);
	CHECK(str_eq(addr, STR_LIT("a@b")) && mp.size == 10);
	CHECK(smtp_mail_args(STR_LIT("FROM:<a@b> SIZE=11"), 10, &addr, &mp, t,
			     sizeof(t)) == -2);
	CHECK(strcmp(t, "552 5.3.4 Message too big (limit 10 bytes)") == 0);
	CHECK(smtp_mail_args(STR_LIT("FROM:a@b"), 10, &addr, &mp, t,
			     sizeof(t)) == -1);
	CHECK(strncmp(t, "501 5.5.4 ", 10) == 0);
	CHECK(smtp_rcpt_args(STR_LIT("TO:<u@d>"), &addr, t, sizeof(t)) == 0);
	CHECK(str_eq(addr, STR_LIT("u@d")));
	CHECK(smtp_rcpt_args(STR_LIT("TO:<u@d> NOTIFY=NEVER"), &addr, t,
			     sizeof(t)) == -1);
	CHECK(strcmp(t, "555 5.5.4 Unsupported RCPT parameter") == 0);
}

int main(void)
{
	test_body();
	test_mail_rcpt_args();
	test_mail_params();
	test_bdat();
	test_lines();
	test_cmd();
	test_path();
	test_data();
	test_crlf();
	return tap_done();
}
