/* lib/trace: levels, secrets and literals in parsed commands, and the
 * output scanner across any chunking. The log goes to a temp file (stderr
 * redirected) that each case reads back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_parser.h"
#include "tap.h"
#include "trace.h"

static FILE *cap_file;
static char captured[65536];

static void capture_begin(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	dup2(fileno(cap_file), 2);
}

static const char *capture_end(void)
{
	size_t n;

	rewind(cap_file);
	n = fread(captured, 1, sizeof(captured) - 1, cap_file);
	captured[n] = '\0';
	fclose(cap_file);
	return captured;
}

/* Parses one command from text and traces it at level. */
static const char *trace_cmd_text(enum trace_level level, const char *text)
{
	struct imap_parser_limits lim = {
		.max_line = 65536,
		.max_literal = 65536,
		.max_literals = 16,
		.max_depth = 8,
		.max_args = 100,
	};
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf in;
	struct imap_cmd cmd;
	struct str tag;
	const char *err;
	struct log_ctx ctx = {0};
	struct trace t;
	int r;

	buf_init(&in, 65536);
	CHECK(buf_append_cstr(&in, text) == 0);
	trace_init(&t, &ctx, level);
	capture_begin();
	while ((r = imap_parser_run(p, &in, &cmd, &tag, &err)) ==
	       IMAP_PARSE_CONTINUE)
		;
	CHECK(r == IMAP_PARSE_COMMAND);
	if (r == IMAP_PARSE_COMMAND)
		trace_command(&t, &cmd);
	trace_deinit(&t);
	buf_deinit(&in);
	imap_parser_free(&p);
	return capture_end();
}

/* a command, the level, what its trace line must and must not hold */
static const struct {
	enum trace_level level;
	const char *text, *has, *lacks;
} cmd_cases[] = {
	{TRACE_PROTO, "a LOGIN bob \"s3cret\"\r\n", "trace C: a LOGIN bob ***",
	 "s3cret"},
	{TRACE_AUTH, "a LOGIN bob \"s3cret\"\r\n",
	 "trace C: a LOGIN bob \"s3cret\"", NULL},
	{TRACE_PROTO, "a LOGIN bob {6}\r\ns3cret\r\n", "LOGIN bob ***",
	 "s3cret"},
	{TRACE_PROTO, "b AUTHENTICATE PLAIN AGJvYgBzM2NyZXQ=\r\n",
	 "AUTHENTICATE PLAIN ***", "AGJv"},
	{TRACE_AUTH, "c SEARCH TEXT {5}\r\nhello\r\n", "c SEARCH TEXT {5}...",
	 "hello"},
	{TRACE_DATA, "c SEARCH TEXT {5}\r\nhello\r\n", "c SEARCH TEXT {5}hello",
	 NULL},
	{TRACE_OFF, "a LOGIN bob \"s3cret\"\r\n", NULL, "trace"},
	{TRACE_PROTO, "d SELECT \"a \\\"b\\\"\" (CONDSTORE)\r\n",
	 "trace C: d SELECT \"a \\\\\"b\\\\\"\" (CONDSTORE)", NULL},
};

static void commands(void)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const char *s =
			trace_cmd_text(cmd_cases[i].level, cmd_cases[i].text);

		if (cmd_cases[i].has != NULL)
			CHECK(strstr(s, cmd_cases[i].has) != NULL);
		if (cmd_cases[i].lacks != NULL)
			CHECK(strstr(s, cmd_cases[i].lacks) == NULL);
	}
}

static const char fetch_out[] =
	"* 1 FETCH (UID 7 BODY[] {12}\r\nHello\r\nWorld) FLAGS (\\Seen))\r\n"
	"a OK done\r\n";

/* feeds fetch_out in pieces of `piece` bytes */
static const char *trace_out(enum trace_level level, size_t piece)
{
	struct log_ctx ctx = {0};
	struct trace t;
	size_t n = sizeof(fetch_out) - 1;

	trace_init(&t, &ctx, level);
	capture_begin();
	for (size_t off = 0; off < n; off += piece)
		trace_output(&t, fetch_out + off,
			     n - off < piece ? n - off : piece);
	trace_deinit(&t);
	return capture_end();
}

static void output(void)
{
	for (size_t piece = 1; piece < sizeof(fetch_out); piece++) {
		const char *s = trace_out(TRACE_PROTO, piece);

		CHECK(strstr(s, "trace S: * 1 FETCH (UID 7 BODY[] "
				"{12}...) FLAGS (\\\\Seen))") != NULL);
		CHECK(strstr(s, "Hello") == NULL);
		CHECK(strstr(s, "trace S: a OK done") != NULL);
		s = trace_out(TRACE_DATA, piece);
		CHECK(strstr(s, "trace S: Hello") != NULL);
		CHECK(strstr(s, "trace S: World) FLAGS") != NULL);
		CHECK(strstr(s, "trace S: a OK done") != NULL);
	}
	CHECK(trace_out(TRACE_OFF, 5)[0] == '\0');
}

static void levels(void)
{
	enum trace_level l;

	CHECK(trace_level_parse("traceauth", &l) == 0 && l == TRACE_AUTH);
	CHECK(trace_level_parse("none", &l) == 0 && l == TRACE_OFF);
	CHECK(trace_level_parse("TRACE", &l) == -1);
	CHECK(strcmp(trace_level_name(TRACE_DATA), "tracedata") == 0);
}

int main(void)
{
	int saved = dup(2);
	int r;

	log_init("test");
	commands();
	output();
	levels();
	dup2(saved, 2);
	r = tap_done();
	return r;
}
