/* IMAP command reader: results must not depend on how the input is split,
 * every limit must be enforced and recovered from, and nothing behind the
 * returned command may be consumed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_parser.h"
#include "str.h"
#include "tap.h"

static const struct imap_parser_limits default_limits = {
	.max_line = 1024,
	.max_literal = 4096,
	.max_literals = 4,
	.max_depth = 4,
	.max_args = 32,
};

/* xorshift64*: fixed seeds keep every run identical */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void put_escaped(struct buf *out, struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c >= 0x7f || c == '|')
			buf_printf(out, "\\x%02x", c);
		else
			buf_append(out, &c, 1);
	}
}

static void put_args(struct buf *out, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_append_cstr(out, " ");
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			buf_append_cstr(out, "A:");
			break;
		case IMAP_ARG_QUOTED:
			buf_append_cstr(out, "Q:");
			break;
		case IMAP_ARG_LITERAL:
			if (a[i].streamed)
				buf_append_cstr(out,
						a[i].literal8 ? "S8:" : "S:");
			else
				buf_append_cstr(out,
						a[i].literal8 ? "L8:" : "L:");
			break;
		case IMAP_ARG_NIL:
			buf_append_cstr(out, "NIL");
			continue;
		case IMAP_ARG_LIST:
			buf_append_cstr(out, "(");
			put_args(out, a[i].list, a[i].list_count);
			buf_append_cstr(out, " )");
			continue;
		}
		put_escaped(out, a[i].s);
	}
}

/* What drain does with a literal offered by IMAP_PARSE_LITERAL. */
static enum { OFFER_STORE, OFFER_STREAM, OFFER_REFUSE } offer_mode;
/* The bytes of streamed literals, in order. */
static struct buf streamed;

static void offer(struct imap_parser *p, const struct imap_cmd *cmd,
		  struct buf *out)
{
	struct imap_literal_info li;
	const char *error;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;

	imap_parser_literal_info(p, &li);
	buf_append_cstr(out, "LIT ");
	put_escaped(out, cmd->tag);
	buf_append_cstr(out, " ");
	put_escaped(out, cmd->name);
	put_args(out, cmd->args, cmd->nargs);
	buf_printf(out, " %llu%s%s", (unsigned long long)li.size,
		   li.sync ? "" : "+", li.literal8 ? "~" : "");
	switch (offer_mode) {
	case OFFER_STORE:
		r = imap_parser_literal_store(p, &error);
		buf_append_cstr(out, " store");
		break;
	case OFFER_STREAM:
		CHECK(imap_parser_literal_remaining(p) == li.size);
		r = imap_parser_literal_stream(p);
		buf_append_cstr(out, " stream");
		break;
	case OFFER_REFUSE:
		imap_parser_literal_refuse(p);
		buf_append_cstr(out, " refuse");
		break;
	}
	if (r == IMAP_PARSE_CONTINUE)
		buf_append_cstr(out, "|CONT");
	else if (r == IMAP_PARSE_ERROR)
		buf_printf(out, "|ERR %s", error);
	buf_append_cstr(out, "|");
}

/* Drains everything the parser can return from in into the transcript. */
static void drain(struct imap_parser *p, struct buf *in, struct buf *out)
{
	for (;;) {
		struct imap_cmd cmd;
		struct str tag;
		const char *error;
		enum imap_parse_result r;
		size_t n = imap_parser_literal_avail(p, in);

		if (n > 0) {
			buf_append(&streamed, in->data, n);
			imap_parser_literal_consume(p, in, n);
			continue;
		}
		r = imap_parser_run(p, in, &cmd, &tag, &error);
		switch (r) {
		case IMAP_PARSE_LITERAL:
			CHECK(str_eq(tag, cmd.tag));
			offer(p, &cmd, out);
			break;
		case IMAP_PARSE_NEED_MORE:
			CHECK(in->len == 0);
			return;
		case IMAP_PARSE_CONTINUE:
			buf_append_cstr(out, "CONT|");
			break;
		case IMAP_PARSE_ERROR:
			buf_append_cstr(out, "ERR ");
			put_escaped(out, tag);
			buf_printf(out, " %s|", error);
			break;
		case IMAP_PARSE_COMMAND:
			CHECK(str_eq(tag, cmd.tag));
			buf_append_cstr(out, "CMD ");
			put_escaped(out, cmd.tag);
			buf_append_cstr(out, " ");
			put_escaped(out, cmd.name);
			put_args(out, cmd.args, cmd.nargs);
			buf_append_cstr(out, "|");
			break;
		}
	}
}

enum split_mode { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Parses input fed in the given way; returns the malloc'd transcript. */
static char *parse_with(const struct imap_parser_limits *lim, const char *input,
			size_t len, enum split_mode mode)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct buf in, out;
	size_t pos = 0;
	char *ret;

	buf_init(&in, 1 << 20);
	buf_init(&out, 1 << 20);
	while (pos < len) {
		size_t n = len - pos;

		if (mode == SPLIT_BYTES)
			n = 1;
		else if (mode == SPLIT_RANDOM)
			n = 1 + (size_t)(rng() % (n < 17 ? n : 17));
		buf_append(&in, input + pos, n);
		pos += n;
		drain(p, &in, &out);
	}
	drain(p, &in, &out);
	ret = strdup(buf_cstr(&out));
	buf_deinit(&out);
	buf_deinit(&in);
	imap_parser_free(&p);
	CHECK(p == NULL);
	return ret;
}

/* Parses whole, byte by byte and in random splits: all must agree. Returns
 * the (whole) transcript. */
static char *parse_all_ways(const struct imap_parser_limits *lim,
			    const char *input, size_t len)
{
	char *whole = parse_with(lim, input, len, SPLIT_WHOLE);
	char *bytes = parse_with(lim, input, len, SPLIT_BYTES);

	CHECK(strcmp(whole, bytes) == 0);
	if (strcmp(whole, bytes) != 0)
		fprintf(stderr, "whole: %s\nbytes: %s\n", whole, bytes);
	free(bytes);
	for (int i = 0; i < 5; i++) {
		char *rnd = parse_with(lim, input, len, SPLIT_RANDOM);

		CHECK(strcmp(whole, rnd) == 0);
		if (strcmp(whole, rnd) != 0)
			fprintf(stderr, "whole: %s\nrandom: %s\n", whole, rnd);
		free(rnd);
	}
	return whole;
}

static void expect_lim(const struct imap_parser_limits *lim, const char *input,
		       size_t len, const char *expected)
{
	char *got = parse_all_ways(lim, input, len);

	CHECK(strcmp(got, expected) == 0);
	if (strcmp(got, expected) != 0)
		fprintf(stderr, "input:    %s\nexpected: %s\ngot:      %s\n",
			input, expected, got);
	free(got);
}

/* for inputs holding NUL bytes */
#define EXPECT_N(lim, input, expected)                                         \
	expect_lim((lim), (input), sizeof(input) - 1, (expected))

static void expect(const char *input, const char *expected)
{
	expect_lim(&default_limits, input, strlen(input), expected);
}

static void test_commands(void)
{
	expect("a NOOP\r\n", "CMD a NOOP|");
	expect("a1 noop\n", "CMD a1 noop|");
	expect("\r\n\na CAPABILITY\r\n", "CMD a CAPABILITY|");
	expect("x LOGIN user \"pa ss\"\r\n", "CMD x LOGIN A:user Q:pa ss|");
	expect("x LOGIN \"a\\\"b\\\\c\" \"\"\r\n", "CMD x LOGIN Q:a\"b\\c Q:|");
	expect("t SELECT NIL\r\n", "CMD t SELECT NIL|");
	expect("t SELECT \"NIL\"\r\n", "CMD t SELECT Q:NIL|");
	expect("t LIST \"\" *\r\n", "CMD t LIST Q: A:*|");
	expect("t LIST \"\" %/%\r\n", "CMD t LIST Q: A:%/%|");
	expect("t SELECT [Gmail]/Sent\r\n", "CMD t SELECT A:[Gmail]/Sent|");
	expect("t STORE 1:* +FLAGS (\\Seen \\Deleted)\r\n",
	       "CMD t STORE A:1:* A:+FLAGS ( A:\\Seen A:\\Deleted )|");
	expect("t STATUS INBOX ()\r\n", "CMD t STATUS A:INBOX ( )|");
	expect("t X ((a) (b (c)))\r\n", "CMD t X ( ( A:a ) ( A:b ( A:c ) ) )|");
	expect("t FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.10> "
	       "FLAGS)\r\n",
	       "CMD t FETCH A:1 ( A:BODY.PEEK[HEADER.FIELDS (From \"To\")]"
	       "<0.10> A:FLAGS )|");
	expect("t FETCH 1 body[]\r\n", "CMD t FETCH A:1 A:body[]|");
	expect("t SELECT \"Entw\xc3\xbcrfe\"\r\n",
	       "CMD t SELECT Q:Entw\\xc3\\xbcrfe|");
	/* several commands in one buffer */
	expect("a NOOP\r\nb NOOP\r\nc LOGOUT\r\n",
	       "CMD a NOOP|CMD b NOOP|CMD c LOGOUT|");
	/* an incomplete command yields nothing */
	expect("a NOOP", "");
	expect("a LOGIN {5}\r\nus", "CONT|");
}

static void test_syntax_errors(void)
{
	expect("a+ NOOP\r\nb NOOP\r\n", "ERR  Invalid tag|CMD b NOOP|");
	expect("*\r\nb NOOP\r\n", "ERR  Invalid tag|CMD b NOOP|");
	expect("a\r\nb NOOP\r\n", "ERR  Missing command|CMD b NOOP|");
	expect("a \r\nb NOOP\r\n", "ERR a Missing command|CMD b NOOP|");
	expect("a NOOP \r\nb NOOP\r\n",
	       "ERR a Unexpected end of line|CMD b NOOP|");
	expect("a X \"x\\y\" {3}\r\nb NOOP\r\n",
	       "ERR a Invalid escape in quoted string|CMD b NOOP|");
	expect("a X \"abc\r\nb NOOP\r\n",
	       "ERR a Unterminated quoted string|CMD b NOOP|");
	expect("a X (b\r\nc NOOP\r\n", "ERR a Unclosed list|CMD c NOOP|");
	expect("a X b)\r\nc NOOP\r\n", "ERR a Unexpected ')'|CMD c NOOP|");
	expect("a X \"b\"c\r\nd NOOP\r\n",
	       "ERR a Missing space between arguments|CMD d NOOP|");
	expect("a X b\xff\r\nc NOOP\r\n",
	       "ERR a Invalid character in atom|CMD c NOOP|");
	expect("a X {3x}\r\nc NOOP\r\n",
	       "ERR a Invalid literal size|CMD c NOOP|");
	expect("a X {3} y\r\nc NOOP\r\n",
	       "ERR a Literal must end the line|CMD c NOOP|");
	EXPECT_N(&default_limits, "a X \"\0\"\r\nc NOOP\r\n",
		 "ERR a NUL in quoted string|CMD c NOOP|");
	expect("a X\rb\r\nc NOOP\r\n", "ERR a CR without LF|CMD c NOOP|");
	expect("a FETCH 1 BODY[\r\nc NOOP\r\n",
	       "ERR a Missing ']'|CMD c NOOP|");
	/* after an error inside a quoted string, a brace in it is no literal */
	expect("a X \"\\q {5+}\"\r\nb NOOP\r\n",
	       "ERR a Invalid escape in quoted string|CMD b NOOP|");
	/* an error before a LITERAL+ literal: its bytes are skipped */
	expect("a X \\\\ {11+}\r\nz NOOP\r\nxx\r\nb NOOP\r\n",
	       "ERR a Invalid character in atom|CMD b NOOP|");
}

static void test_literals(void)
{
	expect("a LOGIN {4}\r\nuser {4}\r\npass\r\n",
	       "CONT|CONT|CMD a LOGIN L:user L:pass|");
	expect("a LOGIN {4+}\r\nuser {4+}\r\npass\r\n",
	       "CMD a LOGIN L:user L:pass|");
	expect("a LOGIN {4+}\r\nuser {4}\r\npass\r\n",
	       "CONT|CMD a LOGIN L:user L:pass|");
	expect("a X {0}\r\n {0+}\n\r\n", "CONT|CMD a X L: L:|");
	expect("a X ({2}\r\n)()\r\n", "CONT|CMD a X ( L:)( )|");
	/* literal data is opaque: CRLF, quotes, NUL */
	EXPECT_N(&default_limits, "a X {6+}\r\n\"\r\n\0{}\r\n",
		 "CMD a X L:\"\\x0d\\x0a\\x00{}|");
	EXPECT_N(&default_limits, "a APPEND INBOX ~{3}\r\na\0b\r\n",
		 "CONT|CMD a APPEND A:INBOX L8:a\\x00b|");
	expect("a APPEND INBOX ~{2+}\r\nab\r\n", "CMD a APPEND A:INBOX L8:ab|");
	expect("a X ~x\r\nb NOOP\r\n", "ERR a Invalid literal8|CMD b NOOP|");
}

/* CONTINUE comes exactly when {n} CRLF has been read, before the data. */
static void test_continue_position(void)
{
	struct imap_parser *p = imap_parser_new(&default_limits);
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	buf_init(&in, 4096);
	buf_append_cstr(&in, "a LOGIN {4}\r\nuser pw\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_CONTINUE);
	CHECK(strcmp(buf_cstr(&in), "user pw\r\n") == 0);
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_COMMAND);
	CHECK(in.len == 0);
	CHECK(cmd.nargs == 2 && cmd.args[0].type == IMAP_ARG_LITERAL);
	CHECK(str_eq(cmd.args[0].s, STR_LIT("user")));
	CHECK(str_eq(cmd.args[1].s, STR_LIT("pw")));
	/* views are NUL-terminated */
	CHECK(cmd.args[0].s.p[4] == '\0');
	buf_deinit(&in);
	imap_parser_free(&p);
	imap_parser_free(&p); /* NULL is accepted */
}

static void test_limits(void)
{
	struct imap_parser_limits lim = default_limits;
	char big[600];
	char input[1200];

	/* line length, literal data excluded */
	lim.max_line = 40;
	EXPECT_N(&lim,
		 "a X 0123456789012345678901234567890123456789\r\n"
		 "b NOOP\r\n",
		 "ERR a Command line too long|CMD b NOOP|");
	memset(big, 'x', 100);
	snprintf(input, sizeof(input), "a X {100+}\r\n%.100s\r\nb NOOP\r\n",
		 big);
	expect_lim(&lim, input, strlen(input),
		   "CMD a X L:"
		   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|"
		   "CMD b NOOP|");
	/* a too-long line ending in a LITERAL+: the literal is skipped */
	EXPECT_N(&lim,
		 "a X 0123456789012345678901234567890123456789 "
		 "{8+}\r\nc NOOP\r\n rest\r\nb NOOP\r\n",
		 "ERR a Command line too long|CMD b NOOP|");
	lim = default_limits;

	/* literal size: a refused {n} is never read */
	lim.max_literal = 10;
	EXPECT_N(&lim, "a APPEND x {11}\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Literal too big|CMD b NOOP|");
	EXPECT_N(&lim, "a APPEND x {10}\r\n0123456789\r\nb NOOP\r\n",
		 "CONT|CMD a APPEND A:x L:0123456789|CMD b NOOP|");
	/* a refused {n+} is skipped, even if it looks like commands */
	EXPECT_N(&lim,
		 "a APPEND x {20+}\r\nz NOOP\r\ny NOOP\r\n1234\r\n"
		 "b NOOP\r\n",
		 "ERR a [TOOBIG] Literal too big|CMD b NOOP|");
	/* and the command may go on after it, with more literals */
	EXPECT_N(&lim,
		 "a APPEND x {20+}\r\nz NOOP\r\ny NOOP\r\n1234 "
		 "{3+}\r\nq\r\n\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Literal too big|CMD b NOOP|");
	EXPECT_N(&lim, "a X {99999999999999999999999}\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Literal too big|CMD b NOOP|");
	lim = default_limits;

	/* literal count */
	lim.max_literals = 2;
	EXPECT_N(&lim, "a X {1+}\r\n1 {1+}\r\n2 {1}\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Too many literals in one command|CMD b NOOP|");
	EXPECT_N(&lim, "a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Too many literals in one command|CMD b NOOP|");
	EXPECT_N(&lim, "a X {1+}\r\n1 {1+}\r\n2\r\nb NOOP\r\n",
		 "CMD a X L:1 L:2|CMD b NOOP|");
	lim = default_limits;

	/* depth */
	lim.max_depth = 3;
	EXPECT_N(&lim, "a X (((a)))\r\n", "CMD a X ( ( ( A:a ) ) )|");
	EXPECT_N(&lim, "a X ((((a))))\r\nb NOOP\r\n",
		 "ERR a Too deeply nested lists|CMD b NOOP|");
	lim = default_limits;

	/* argument count, list members included */
	lim.max_args = 5;
	EXPECT_N(&lim, "a X 1 (2 3) 4\r\n", "CMD a X A:1 ( A:2 A:3 ) A:4|");
	EXPECT_N(&lim, "a X 1 (2 3) 4 5\r\nb NOOP\r\n",
		 "ERR a Too many arguments|CMD b NOOP|");
	EXPECT_N(&lim, "a X 1 2 3 4 5 {5}\r\nb NOOP\r\n",
		 "ERR a Too many arguments|CMD b NOOP|");
}

/* The first result for input must be an error naming this limit. */
static void expect_limit(const struct imap_parser_limits *lim,
			 const char *input, enum imap_parse_limit limit)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	buf_init(&in, 4096);
	buf_append_cstr(&in, input);
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) == IMAP_PARSE_ERROR);
	CHECK(imap_parser_error_limit(p) == limit);
	/* the next result clears it */
	(void)imap_parser_run(p, &in, &cmd, &tag, &error);
	CHECK(imap_parser_error_limit(p) == IMAP_PARSE_LIMIT_NONE);
	buf_deinit(&in);
	imap_parser_free(&p);
}

static void test_error_limit(void)
{
	struct imap_parser_limits lim = {
		.max_line = 20,
		.max_literal = 5,
		.max_literals = 1,
		.max_depth = 1,
		.max_args = 3,
	};

	expect_limit(&lim, "a X 01234567890123456789\r\n",
		     IMAP_PARSE_LIMIT_LINE);
	expect_limit(&lim, "a X {6}\r\n", IMAP_PARSE_LIMIT_LITERAL);
	expect_limit(&lim, "a X {1+}\r\n1 {1}\r\n", IMAP_PARSE_LIMIT_LITERALS);
	expect_limit(&lim, "a X ((1))\r\n", IMAP_PARSE_LIMIT_DEPTH);
	expect_limit(&lim, "a X 1 2 3 4\r\n", IMAP_PARSE_LIMIT_ARGS);
	expect_limit(&lim, "a X \"\\x\"\r\n", IMAP_PARSE_LIMIT_NONE);
}

/* STARTTLS pipelining: nothing behind the command may be consumed. */
static void test_pipelining(void)
{
	struct imap_parser *p = imap_parser_new(&default_limits);
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	buf_init(&in, 4096);
	buf_append_cstr(&in, "a STARTTLS\r\nb CAPABILITY\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_COMMAND);
	CHECK(str_eq_ci(cmd.name, "STARTTLS") && cmd.nargs == 0);
	CHECK(in.len == 14 && memcmp(in.data, "b CAPABILITY\r\n", 14) == 0);

	/* after a layer switch the caller resets and drops the bytes */
	imap_parser_reset(p);
	buf_clear(&in);
	buf_append_cstr(&in, "c AUTHENTICATE PLAIN\r\ndGVzdA==\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_COMMAND);
	CHECK(strcmp(buf_cstr(&in), "dGVzdA==\r\n") == 0);

	/* reset forgets a partial command */
	buf_clear(&in);
	buf_append_cstr(&in, "d LOGIN \"abc");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_NEED_MORE);
	imap_parser_reset(p);
	buf_append_cstr(&in, "e NOOP\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_COMMAND);
	CHECK(str_eq(cmd.tag, STR_LIT("e")));
	buf_deinit(&in);
	imap_parser_free(&p);
}

static void test_helpers(void)
{
	struct imap_arg a = {.type = IMAP_ARG_QUOTED, .s = STR_LIT("x")};
	struct str s;
	struct buf out;

	CHECK(imap_arg_get_astring(&a, &s) && str_eq(s, STR_LIT("x")));
	CHECK(!imap_arg_get_atom(&a, &s));
	a.type = IMAP_ARG_ATOM;
	CHECK(imap_arg_get_atom(&a, &s));
	a.type = IMAP_ARG_NIL;
	a.s = STR_LIT("NIL");
	CHECK(imap_arg_get_astring(&a, &s) && str_eq(s, STR_LIT("NIL")));
	a.type = IMAP_ARG_LIST;
	CHECK(!imap_arg_get_astring(&a, &s));
	CHECK(!imap_arg_get_atom(&a, &s));

	buf_init(&out, 64);
	CHECK(imap_write_string(&out, STR_LIT("INBOX")) == 0);
	CHECK(imap_write_string(&out, STR_LIT(" a\"b\\c")) == 0);
	CHECK(imap_write_string(&out, STR_LIT("")) == 0);
	CHECK(imap_write_string(&out, STR_LIT("x\r\ny")) == 0);
	CHECK(strcmp(buf_cstr(&out),
		     "\"INBOX\"\" a\\\"b\\\\c\"\"\"{4}\r\nx\r\ny") == 0);
	buf_clear(&out);
	CHECK(imap_write_string(&out, STR_LIT("\xc3\xa4")) == 0);
	CHECK(strcmp(buf_cstr(&out), "{2}\r\n\xc3\xa4") == 0);
	/* overflow leaves the buffer as it was */
	buf_clear(&out);
	buf_append_cstr(&out, "keep");
	CHECK(imap_write_string(&out, STR_LIT("0123456789012345678901234567"
					      "89012345678901234567890123456"
					      "789")) < 0);
	CHECK(strcmp(buf_cstr(&out), "keep") == 0);
	buf_deinit(&out);
}

/* Random input built from IMAP-ish pieces, so that commands, literals and
 * each kind of error all occur. */
static size_t fuzz_fragments(char *out, size_t size)
{
	static const char *const frags[] = {
		"a",	     "b1",	 " ",	    " ",	"NOOP",
		"\"q s\"",   "\"\\\"\"", "{3}\r\n", "{2+}\r\n", "~{1}\r\n",
		"{17+}\r\n", "{0}\r\n",	 "(",	    ")",	"\r\n",
		"\n",	     "\r\n",	 "BODY[",   "]",	"NIL",
		"\\Seen",    "1:*",	 "\"",	    "\\",	"\r",
		"x y z",     "\xc3\xa4", "~",	    "\r\nt X ", "\r\nt X ",
		"\nu Y (",
	};
	size_t len = 0, n = 1 + (size_t)(rng() % 40);

	for (size_t i = 0; i < n; i++) {
		uint64_t v = rng();
		const char *f = frags[v % N_ELEMENTS(frags)];
		size_t flen = strlen(f);

		if ((v >> 32) % 50 == 0) {
			f = (const char *)&v; /* one random byte */
			flen = 1;
		}
		if (len + flen > size)
			break;
		memcpy(out + len, f, flen);
		len += flen;
	}
	return len;
}

/* Random input never crashes, never consumes past a returned command, and
 * gives the same result however it is split. */
static void test_fuzz(void)
{
	static const char alphabet[] = "aB1 \"\\(){}~+*%[]\r\n\r\n\0\xff"
				       "BODY[";
	struct imap_parser_limits lim = {
		.max_line = 64,
		.max_literal = 16,
		.max_literals = 3,
		.max_depth = 3,
		.max_args = 8,
	};
	char input[256];
	unsigned ncmd = 0, ncont = 0, nerr = 0;

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int iter = 0; iter < 100000; iter++) {
		size_t len = (size_t)(rng() % sizeof(input));

		if (iter % 2 == 0)
			len = fuzz_fragments(input, sizeof(input));
		else
			for (size_t i = 0; i < len; i++) {
				uint64_t v = rng();

				input[i] =
					(v & 0x300) == 0
						? (char)(v >> 16)
						: alphabet[(v >> 16) %
							   (sizeof(alphabet) -
							    1)];
			}
		char *whole = parse_with(&lim, input, len, SPLIT_WHOLE);
		char *rnd = parse_with(&lim, input, len, SPLIT_RANDOM);

		if (strcmp(whole, rnd) != 0) {
			CHECK(strcmp(whole, rnd) == 0);
			fprintf(stderr, "fuzz iteration %d differs\n", iter);
		}
		for (const char *q = whole; (q = strchr(q, '|')) != NULL; q++) {
			/* count what kind of result ended here */
			const char *b = q;

			while (b > whole && b[-1] != '|')
				b--;
			ncmd += strncmp(b, "CMD", 3) == 0;
			ncont += strncmp(b, "CONT", 4) == 0;
			nerr += strncmp(b, "ERR", 3) == 0;
		}
		free(whole);
		free(rnd);
	}
	/* the alphabet must reach every kind of result */
	printf("fuzz: %u commands, %u continuations, %u errors\n", ncmd, ncont,
	       nerr);
	CHECK(ncmd > 1000 && ncont > 100 && nerr > 1000);
}

/* Large literals offered to the caller: stored, streamed or refused, with
 * the same transcript however the input is split. */
static void test_offered_literals(void)
{
	struct imap_parser_limits lim = default_limits;
	char input[600];
	char big[200];
	int n;

	lim.stream_min = 8;
	memset(big, 'x', 100);
	big[100] = '\0';
	/* small literals are read as before */
	offer_mode = OFFER_STREAM;
	expect_lim(&lim, "a LOGIN {4}\r\nuser {7+}\r\npasswor\r\n",
		   strlen("a LOGIN {4}\r\nuser {7+}\r\npasswor\r\n"),
		   "CONT|CMD a LOGIN L:user L:passwor|");
	/* streamed: the command so far, then the rest after the bytes; the
	 * bytes never enter the command */
	buf_clear(&streamed);
	n = snprintf(input, sizeof(input),
		     "a APPEND INBOX (\\Seen) {100}\r\n%s\r\nb NOOP\r\n", big);
	expect_lim(&lim, input, (size_t)n,
		   "LIT a APPEND A:INBOX ( A:\\Seen ) 100 stream|CONT|"
		   "CMD a APPEND A:INBOX ( A:\\Seen ) S:|CMD b NOOP|");
	/* 7 ways of splitting, each streams all 100 bytes */
	CHECK(streamed.len == 700);
	for (size_t i = 0; i < streamed.len; i++)
		CHECK(streamed.data[i] == 'x');
	/* LITERAL+ and literal8, inside a list, and arguments after it */
	buf_clear(&streamed);
	n = snprintf(input, sizeof(input),
		     "a APPEND X UTF8 (~{100+}\r\n%s) more\r\n", big);
	expect_lim(&lim, input, (size_t)n,
		   "LIT a APPEND A:X A:UTF8 ( ) 100+~ stream|"
		   "CMD a APPEND A:X A:UTF8 ( S8: ) A:more|");
	CHECK(streamed.len == 700);
	/* refused: a sync literal is never sent, the next line is a new
	 * command; a LITERAL+ one is skipped with the rest of its line */
	offer_mode = OFFER_REFUSE;
	expect_lim(&lim, "a APPEND INBOX {100}\r\nb NOOP\r\n",
		   strlen("a APPEND INBOX {100}\r\nb NOOP\r\n"),
		   "LIT a APPEND A:INBOX 100 refuse|CMD b NOOP|");
	n = snprintf(input, sizeof(input),
		     "a APPEND INBOX {100+}\r\n%s rest {3}\r\nb NOOP\r\n", big);
	expect_lim(&lim, input, (size_t)n,
		   "LIT a APPEND A:INBOX 100+ refuse|CMD b NOOP|");
	/* stored: like any literal, max_literal applies */
	offer_mode = OFFER_STORE;
	expect_lim(&lim, "a X {10}\r\n0123456789\r\n",
		   strlen("a X {10}\r\n0123456789\r\n"),
		   "LIT a X 10 store|CONT|CMD a X L:0123456789|");
	lim.max_literal = 50;
	n = snprintf(input, sizeof(input),
		     "a X {100+}\r\n%s\r\nb X {100}\r\nc NOOP\r\n", big);
	expect_lim(
		&lim, input, (size_t)n,
		"LIT a X 100+ store|ERR [TOOBIG] Literal too big|"
		"LIT b X 100 store|ERR [TOOBIG] Literal too big|CMD c NOOP|");
}

/* Streaming stops where the caller stops: refusing in the middle skips
 * the rest of the literal and its line. */
static void test_stream_refuse_midway(void)
{
	struct imap_parser_limits lim = default_limits;
	struct imap_parser *p;
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	lim.stream_min = 8;
	p = imap_parser_new(&lim);
	buf_init(&in, 4096);
	buf_append_cstr(&in, "a APPEND INBOX {20+}\r\n0123456789");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_LITERAL);
	CHECK(cmd.nargs == 1 && str_eq(cmd.args[0].s, STR_LIT("INBOX")));
	/* asked again without a decision: the same offer */
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_LITERAL);
	CHECK(imap_parser_literal_stream(p) == IMAP_PARSE_NEED_MORE);
	CHECK(imap_parser_literal_avail(p, &in) == 10);
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_NEED_MORE);
	CHECK(in.len == 10); /* the caller's bytes are left alone */
	imap_parser_literal_consume(p, &in, 4);
	CHECK(imap_parser_literal_remaining(p) == 16);
	imap_parser_literal_refuse(p);
	CHECK(imap_parser_literal_avail(p, &in) == 0);
	buf_append_cstr(&in, "abcdefghij trailing\r\nb NOOP\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) ==
	      IMAP_PARSE_COMMAND);
	CHECK(str_eq(cmd.tag, STR_LIT("b")));
	CHECK(in.len == 0);
	buf_deinit(&in);
	imap_parser_free(&p);
}

/* The budget for stored literals: count, size and total per command, each
 * accepted at exactly the limit and refused one over; streamed literals
 * count against none of them; a refused LITERAL+ is flagged so the caller
 * can close. */
static void test_literal_budget(void)
{
	struct imap_parser_limits lim = default_limits;
	struct imap_parser *p;
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	lim.max_literal = 10;
	lim.max_literals = 3;
	lim.max_literal_total = 20;
	EXPECT_N(&lim, "a X {10+}\r\n0123456789 {10+}\r\n0123456789\r\n",
		 "CMD a X L:0123456789 L:0123456789|");
	EXPECT_N(&lim,
		 "a X {10+}\r\n0123456789 {10+}\r\n0123456789 {1+}\r\nx\r\n"
		 "b NOOP\r\n",
		 "ERR a [TOOBIG] Literals of one command too big|CMD b NOOP|");
	EXPECT_N(&lim, "a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3\r\n",
		 "CMD a X L:1 L:2 L:3|");
	EXPECT_N(&lim,
		 "a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3 {1+}\r\n4\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Too many literals in one command|CMD b NOOP|");
	EXPECT_N(&lim, "a X {11+}\r\n01234567890\r\nb NOOP\r\n",
		 "ERR a [TOOBIG] Literal too big|CMD b NOOP|");
	/* the budget is per command: the next one starts afresh */
	EXPECT_N(&lim,
		 "a X {10+}\r\n0123456789 {10+}\r\n0123456789\r\n"
		 "b X {10+}\r\n0123456789 {10+}\r\n0123456789\r\n",
		 "CMD a X L:0123456789 L:0123456789|"
		 "CMD b X L:0123456789 L:0123456789|");

	/* offered literals: stored ones are counted the same way ... */
	lim.offer_all = true;
	offer_mode = OFFER_STORE;
	EXPECT_N(&lim, "a X {0+}\r\n {10+}\r\n0123456789 {10+}\r\n0123456789\r\n",
		 "LIT a X 0+ store|LIT a X L: 10+ store|"
		 "LIT a X L: L:0123456789 10+ store|"
		 "CMD a X L: L:0123456789 L:0123456789|");
	EXPECT_N(&lim, "a X {11}\r\nb NOOP\r\n",
		 "LIT a X 11 store|ERR [TOOBIG] Literal too big|CMD b NOOP|");
	/* ... streamed ones not at all */
	offer_mode = OFFER_STREAM;
	buf_clear(&streamed);
	EXPECT_N(&lim,
		 "a APPEND X {30+}\r\n012345678901234567890123456789 "
		 "{30+}\r\n012345678901234567890123456789 {30+}\r\n"
		 "012345678901234567890123456789 {30+}\r\n"
		 "012345678901234567890123456789\r\n",
		 "LIT a APPEND A:X 30+ stream|LIT a APPEND A:X S: 30+ stream|"
		 "LIT a APPEND A:X S: S: 30+ stream|"
		 "LIT a APPEND A:X S: S: S: 30+ stream|"
		 "CMD a APPEND A:X S: S: S: S:|");
	lim.offer_all = false;

	/* which refusals were of a LITERAL+ literal */
	p = imap_parser_new(&lim);
	buf_init(&in, 4096);
	buf_append_cstr(&in, "a X {11+}\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) == IMAP_PARSE_ERROR);
	CHECK(imap_parser_error_literal_nonsync(p));
	CHECK(imap_parser_error_limit(p) == IMAP_PARSE_LIMIT_LITERAL);
	buf_append_cstr(&in, "01234567890\r\nb X {11}\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) == IMAP_PARSE_ERROR);
	CHECK(!imap_parser_error_literal_nonsync(p));
	CHECK(str_eq(tag, STR_LIT("b")));
	buf_append_cstr(&in, "c X \"x\r\n");
	CHECK(imap_parser_run(p, &in, &cmd, &tag, &error) == IMAP_PARSE_ERROR);
	CHECK(!imap_parser_error_literal_nonsync(p));
	buf_deinit(&in);
	imap_parser_free(&p);
}

int main(void)
{
	rng_state = 0x123456789abcdefULL;
	buf_init(&streamed, 1 << 20);
	test_commands();
	test_syntax_errors();
	test_literals();
	test_continue_position();
	test_limits();
	test_error_limit();
	test_pipelining();
	test_helpers();
	test_fuzz();
	test_offered_literals();
	test_stream_refuse_midway();
	test_literal_budget();
	buf_deinit(&streamed);
	return tap_done();
}
