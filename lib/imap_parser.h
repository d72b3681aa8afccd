#ifndef POSTERN_IMAP_PARSER_H
#define POSTERN_IMAP_PARSER_H
/* The one IMAP command reader (client -> server), used by imap-login and the
 * imap worker. Incremental: it takes whatever bytes have arrived, resumes at
 * any byte boundary, and consumes input only up to the end of the command it
 * returns, so bytes pipelined behind a layer-switching command (STARTTLS,
 * AUTHENTICATE, COMPRESS) stay in the caller's buffer untouched.
 *
 * Grammar: tag SP command-name *(SP arg) CRLF, where arg is atom, quoted
 * string, literal {n}/{n+} (and literal8 ~{n}/~{n+}), NIL, or a
 * parenthesised list (nesting bounded). Bare LF is accepted as line end;
 * empty lines are ignored. Quoted strings accept only the \\ and \" escapes
 * and may hold 8-bit bytes (UTF-8 names), never NUL, CR or LF. A FETCH
 * section (BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...]) is one atom including its spaces, parentheses and quoted
 * header names, verbatim: the FETCH handler parses the section text itself.
 * Limits: line length excluding literal data (max_line), each literal
 * (max_literal), literals per command and their total size, list depth,
 * arguments. Exceeding one is an error; the parser skips the rest of that
 * command (never reading a literal it refused) and continues with the
 * next. The literal limits (the CVE-2024-34055 class: a command that makes
 * the server buffer many or huge literals) apply to every literal the
 * parser stores; a literal the caller streams itself
 * (imap_parser_literal_stream: APPEND messages, which go to disk) is the
 * caller's to bound and counts against none of them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,	 /* includes numbers, sequence sets, flags like \Seen */
	IMAP_ARG_QUOTED, /* unescaped contents */
	IMAP_ARG_LITERAL, /* contents; literal8 sets arg->literal8 */
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

/* Every view (tag, name, s) points into parser memory, stays valid until
 * the next imap_parser_run/reset/free, and is followed by a NUL byte (a
 * literal may still contain NULs: check with str_has_nul). */
struct imap_arg {
	enum imap_arg_type type;
	struct str s;  /* ATOM/QUOTED/LITERAL/NIL ("NIL" as sent) */
	bool literal8; /* ~{n} */
	/* LITERAL whose bytes the caller consumed itself
	 * (imap_parser_literal_stream); s is empty */
	bool streamed;
	struct imap_arg *list; /* LIST children */
	size_t list_count;
};

struct imap_cmd {
	struct str tag;
	struct str name; /* as sent; compare with str_eq_ci */
	struct imap_arg *args;
	size_t nargs;
};

struct imap_parser_limits {
	size_t max_line;     /* bytes of command text, literals excluded */
	size_t max_literal;  /* bytes per stored literal */
	size_t max_literals; /* stored literals per command */
	/* bytes of all stored literals of one command; 0: max_literals x
	 * max_literal */
	size_t max_literal_total;
	size_t max_depth;    /* list nesting */
	size_t max_args;     /* total args incl. list members */
	/* Literals of at least this many bytes are offered to the caller
	 * (IMAP_PARSE_LITERAL) before they are read; 0: never. */
	size_t stream_min;
	/* Offer every literal, {0} included, whatever stream_min says. */
	bool offer_all;
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,	  /* see error; tag_r set if the tag was read */
	IMAP_PARSE_NEED_MORE = 0, /* all of in consumed or waiting for more */
	IMAP_PARSE_COMMAND = 1,	  /* *cmd_r valid until the next call */
	/* a synchronizing literal {n} was accepted: send "+ OK\r\n" and call
	 * again */
	IMAP_PARSE_CONTINUE = 2,
	/* A literal of at least stream_min bytes was announced (its
	 * announcement line consumed, none of its data). *cmd_r holds the
	 * command so far: the arguments before the literal (an unclosed list
	 * shows the members read so far); its views are valid until the next
	 * parser call. The caller decides with imap_parser_literal_store,
	 * _stream or _refuse before calling imap_parser_run again (which
	 * otherwise returns IMAP_PARSE_LITERAL again). */
	IMAP_PARSE_LITERAL = 3,
};

struct imap_parser;

/* NULL on allocation failure. The parser holds at most
 * max_line + max_literals x max_literal bytes (plus a little) of a command. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser **p);

/* Parses from the front of in, consuming (buf_consume) what it used.
 * On IMAP_PARSE_ERROR *error_r is a short reason fit for "tag BAD reason"
 * and *tag_r the tag (empty view if none could be read: answer "* BAD").
 * After an error the parser discards input up to the end of the offending
 * line by itself on later calls (IMAP_PARSE_NEED_MORE until then). A refused
 * synchronizing literal is never read: the client waits for "+" which is
 * never sent, so the line simply ends there. A refused non-synchronizing
 * literal (LITERAL+) is skipped byte by byte, without being stored. */
enum imap_parse_result imap_parser_run(struct imap_parser *p, struct buf *in,
				       struct imap_cmd *cmd_r,
				       struct str *tag_r, const char **error_r);
/* Which limit the last IMAP_PARSE_ERROR of imap_parser_run hit, so callers
 * need not match error texts (e.g. to close a connection that sends an
 * over-long line, or to answer TOOBIG). IMAP_PARSE_LIMIT_NONE for syntax
 * errors and after any other result. */
enum imap_parse_limit {
	IMAP_PARSE_LIMIT_NONE,
	IMAP_PARSE_LIMIT_LINE,	   /* max_line */
	/* the literal limits; each error text starts "[TOOBIG] " */
	IMAP_PARSE_LIMIT_LITERAL,	/* max_literal */
	IMAP_PARSE_LIMIT_LITERALS,	/* max_literals */
	IMAP_PARSE_LIMIT_LITERAL_TOTAL, /* max_literal_total */
	IMAP_PARSE_LIMIT_DEPTH,	   /* max_depth */
	IMAP_PARSE_LIMIT_ARGS,	   /* max_args */
};
enum imap_parse_limit imap_parser_error_limit(const struct imap_parser *p);
/* Whether the last IMAP_PARSE_ERROR refused a non-synchronizing literal
 * (LITERAL+, {n+}) for a literal limit. Its bytes are on their way and the
 * parser would skip them unread; RFC 7888 section 4 lets the server close
 * instead, which is what a caller does with a client that announces more
 * than it may send ("* BYE [ALERT]", then the tagged BAD [TOOBIG]). */
bool imap_parser_error_literal_nonsync(const struct imap_parser *p);

/* ---- literals offered by IMAP_PARSE_LITERAL ---- */

/* The offered literal: its announced size, {n} (sync) or {n+}, literal8. */
struct imap_literal_info {
	uint64_t size;
	bool sync;
	bool literal8;
	size_t depth; /* lists still open around the literal (0: top level) */
};
void imap_parser_literal_info(const struct imap_parser *p,
			      struct imap_literal_info *info_r);
/* Reads the literal into the command like any other (the literal limits
 * apply).
 * Returns IMAP_PARSE_CONTINUE when "+ OK" must be sent (sync literal),
 * IMAP_PARSE_NEED_MORE when not, or IMAP_PARSE_ERROR (too big: *error_r
 * as from imap_parser_run; recovery as there, the tag is the command's). */
enum imap_parse_result imap_parser_literal_store(struct imap_parser *p,
						 const char **error_r);
/* The caller consumes the literal's bytes itself, from the front of its
 * input buffer, with imap_parser_literal_avail and
 * imap_parser_literal_consume; imap_parser_run returns
 * IMAP_PARSE_NEED_MORE until all were consumed and then goes on with the
 * rest of the command, where the literal is an IMAP_ARG_LITERAL with
 * streamed set. Returns IMAP_PARSE_CONTINUE when "+ OK" must be sent, else
 * IMAP_PARSE_NEED_MORE. */
enum imap_parse_result imap_parser_literal_stream(struct imap_parser *p);
/* While streaming: how many bytes at the front of in belong to the
 * literal (0 when none arrived yet or the literal is complete). */
size_t imap_parser_literal_avail(const struct imap_parser *p,
				 const struct buf *in);
/* Literal bytes not yet consumed. */
uint64_t imap_parser_literal_remaining(const struct imap_parser *p);
/* Drops n (<= imap_parser_literal_avail) literal bytes from in. */
void imap_parser_literal_consume(struct imap_parser *p, struct buf *in,
				 size_t n);
/* Refuses the offered literal and with it the command: a synchronizing
 * literal is never sent by the client (it waits for "+"), so the command
 * ends here; a non-synchronizing one is skipped unread, with the rest of
 * its line. The caller answers the command itself (tag NO or BAD). */
void imap_parser_literal_refuse(struct imap_parser *p);

/* Forgets any partial command (after a layer switch). */
void imap_parser_reset(struct imap_parser *p);

/* Helpers for command handlers. */
/* ATOM, QUOTED or LITERAL as a view; false otherwise (LIST). NIL counts as
 * the atom "NIL": it is a valid astring (a mailbox may be called NIL). */
bool imap_arg_get_astring(const struct imap_arg *a, struct str *r);
/* ATOM (or NIL, as "NIL") as a view; false for strings and lists. */
bool imap_arg_get_atom(const struct imap_arg *a, struct str *r);

/* Appends s to out as an IMAP string: a quoted string (with \\ and \"
 * escaped) when s is 7-bit without NUL, CR or LF, else a literal {n}CRLF.
 * 0, or -1 on overflow with out unchanged. */
int imap_write_string(struct buf *out, struct str s);

#endif
