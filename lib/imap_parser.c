/* IMAP command reader: one byte-driven state machine (nginx sw_* style).
 *
 * Bytes are copied into the parser's own buffer as they arrive (token text
 * unescaped, each token followed by a NUL), with a flat token list of
 * offsets; the argument tree is built only when the command is complete, so
 * growing the buffer never invalidates a view handed out. Because everything
 * is copied, the caller's input buffer never has to hold more than what one
 * read returned.
 *
 * After an error the parser switches to a parallel set of skip states that
 * still follow quoting and literal syntax but store nothing, so the end of
 * the offending command is found exactly: a synchronizing literal ends the
 * line (the client waits for a "+" that never comes), a non-synchronizing
 * one is skipped byte by byte. The byte that caused an error is never
 * consumed by the normal states; the skip state for the same lexical
 * context reads it again, which keeps both machines in step. */
#include "imap_parser.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

enum parser_state {
	S_START,    /* before a tag; empty lines are ignored */
	S_START_LF, /* CR of an empty line seen */
	S_TAG,
	S_NAME_FIRST, /* SP after the tag seen */
	S_NAME,
	S_ARG_START,  /* SP seen: an argument must follow */
	S_LIST_FIRST, /* '(' seen: an argument or ')' */
	S_ATOM,
	S_ATOM_SECT,   /* inside BODY[...]: SP and parens allowed */
	S_ATOM_SECT_Q, /* quoted string inside BODY[...], kept verbatim */
	S_ATOM_SECT_QESC,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT8,	     /* '~' seen, '{' must follow */
	S_LIT_FIRST, /* '{' seen, a digit must follow */
	S_LIT_DIGITS,
	S_LIT_PLUS, /* '+' seen, '}' must follow */
	S_LIT_CR,   /* '}' seen, CRLF must follow */
	S_LIT_LF,
	S_LIT_DATA,
	S_LIT_OFFER,  /* IMAP_PARSE_LITERAL returned: the caller decides */
	S_LIT_STREAM, /* the caller consumes the literal's bytes */
	S_AFTER_ARG,  /* SP, ')' or end of line */
	S_EOL_LF,     /* CR at the end of the command seen */
	/* error recovery: same lexical structure, nothing stored */
	S_SKIP,
	S_SKIP_Q,
	S_SKIP_QESC,
	S_SKIP_LIT_FIRST,
	S_SKIP_LIT_DIGITS,
	S_SKIP_LIT_PLUS,
	S_SKIP_LIT_CR,
	S_SKIP_LIT_LF,
	S_SKIP_LIT_DATA,
};

enum tok_type {
	TOK_ATOM,
	TOK_QUOTED,
	TOK_LITERAL,
	TOK_LITERAL8,
	TOK_STREAMED, /* literal the caller consumed: no bytes stored */
	TOK_STREAMED8,
	TOK_OPEN,
	TOK_CLOSE,
};

struct tok {
	enum tok_type type;
	size_t off, len; /* into data */
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum parser_state state;
	enum imap_parse_limit error_limit; /* of the last error returned */
	bool error_nonsync; /* ... refused a non-synchronizing literal */

	struct buf data; /* tag, name, token texts, literal bytes */
	struct tok *toks;
	size_t ntoks, toks_cap;
	struct imap_arg *nodes;
	size_t nodes_cap, nodes_used;

	size_t tag_len; /* 0 until the tag is complete */
	size_t name_off, name_len;
	size_t tok_off;	 /* start of the token being read */
	size_t line_len; /* command bytes outside literal data */
	size_t depth;
	size_t nargs; /* value tokens so far (max_args) */
	size_t nliterals;     /* stored literals of this command */
	uint64_t literal_bytes; /* and their bytes */

	uint64_t lit_size; /* literal being announced or read */
	bool lit_overflow; /* announced size did not fit in 64 bits */
	bool lit_sync;
	bool lit8;
	/* an allocation failed while finishing a streamed literal: the next
	 * run reports it */
	bool stream_error;
};

/* Buffers larger than this are freed between commands instead of kept. */
#define PARSER_KEEP_BYTES (64 * 1024)

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
	if (a != 0 && b > SIZE_MAX / a)
		return SIZE_MAX;
	return a * b;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = calloc(1, sizeof(*p));
	size_t max;

	if (p == NULL)
		return NULL;
	p->lim = *limits;
	if (p->lim.max_literal_total == 0 ||
	    p->lim.max_literal_total >
		    mul_sat(limits->max_literals, limits->max_literal))
		p->lim.max_literal_total =
			mul_sat(limits->max_literals, limits->max_literal);
	/* command text, every literal, and one NUL per token (+ tag, name) */
	max = add_sat(limits->max_line, p->lim.max_literal_total);
	max = add_sat(max, add_sat(limits->max_args, 4));
	if (max > SIZE_MAX / 2)
		max = SIZE_MAX / 2; /* buf adds 1 for its NUL */
	buf_init(&p->data, max);
	p->state = S_START;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	buf_deinit(&p->data);
	free(p->toks);
	free(p->nodes);
	free(p);
	*pp = NULL;
}

/* Forgets the previous command before a new one starts. */
static void command_clear(struct imap_parser *p)
{
	if (p->data.cap > PARSER_KEEP_BYTES) {
		size_t max = p->data.max;

		buf_deinit(&p->data);
		buf_init(&p->data, max);
	} else {
		buf_clear(&p->data);
	}
	p->ntoks = 0;
	p->tag_len = 0;
	p->name_len = 0;
	p->line_len = 0;
	p->depth = 0;
	p->nargs = 0;
	p->nliterals = 0;
	p->literal_bytes = 0;
}

void imap_parser_reset(struct imap_parser *p)
{
	command_clear(p);
	p->state = S_START;
}

/* The characters of an atom (RFC 9051 ATOM-CHAR) plus the list wildcards and
 * ']' (resp-specials), so that list-mailbox, sequence sets ("1:*") and
 * astrings all read as atoms. A leading '\' (flags) is handled separately. */
static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(':
	case ')':
	case '{':
	case '"':
	case '\\':
		return false;
	default:
		return true;
	}
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '+' && c != '*' && c != '%';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Where error recovery continues for the lexical context of state s. */
static enum parser_state skip_state_for(enum parser_state s)
{
	switch (s) {
	case S_QUOTED:
	case S_ATOM_SECT_Q:
		return S_SKIP_Q;
	case S_QUOTED_ESC:
	case S_ATOM_SECT_QESC:
		return S_SKIP_QESC;
	case S_LIT_FIRST:
		return S_SKIP_LIT_FIRST;
	case S_LIT_DIGITS:
		return S_SKIP_LIT_DIGITS;
	case S_LIT_PLUS:
		return S_SKIP_LIT_PLUS;
	case S_LIT_CR:
		return S_SKIP_LIT_CR;
	case S_LIT_LF:
		return S_SKIP_LIT_LF;
	default:
		return S_SKIP;
	}
}

struct run {
	struct imap_parser *p;
	const unsigned char *in;
	size_t len;
	size_t pos; /* bytes consumed */
	const char *error;
};

static enum imap_parse_result fail(struct run *r, const char *reason)
{
	r->p->state = skip_state_for(r->p->state);
	r->error = reason;
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_result fail_limit(struct run *r, const char *reason,
					 enum imap_parse_limit limit)
{
	r->p->error_limit = limit;
	return fail(r, reason);
}

/* Counts the announced literal against the limits for stored literals.
 * IMAP_PARSE_LIMIT_NONE if it may be stored, else the limit it breaks,
 * with its reason in *reason_r and error_nonsync set. */
static enum imap_parse_limit literal_admit(struct imap_parser *p,
					   const char **reason_r)
{
	enum imap_parse_limit l = IMAP_PARSE_LIMIT_NONE;

	if (p->nliterals >= p->lim.max_literals) {
		l = IMAP_PARSE_LIMIT_LITERALS;
		*reason_r = "[TOOBIG] Too many literals in one command";
	} else if (p->lit_overflow || p->lit_size > p->lim.max_literal) {
		l = IMAP_PARSE_LIMIT_LITERAL;
		*reason_r = "[TOOBIG] Literal too big";
	} else if (p->lit_size > p->lim.max_literal_total - p->literal_bytes) {
		l = IMAP_PARSE_LIMIT_LITERAL_TOTAL;
		*reason_r = "[TOOBIG] Literals of one command too big";
	}
	if (l != IMAP_PARSE_LIMIT_NONE) {
		p->error_nonsync = !p->lit_sync;
		return l;
	}
	p->nliterals++;
	p->literal_bytes += p->lit_size;
	return l;
}

static int data_add(struct imap_parser *p, const void *d, size_t n)
{
	return buf_append(&p->data, d, n);
}

static void tok_begin(struct imap_parser *p)
{
	p->tok_off = p->data.len;
}

static int tok_push(struct imap_parser *p, enum tok_type type, size_t off,
		    size_t len)
{
	if (p->ntoks == p->toks_cap) {
		size_t ncap = p->toks_cap == 0 ? 16 : p->toks_cap * 2;
		struct tok *t;

		if (ncap > SIZE_MAX / sizeof(*t))
			return -1;
		t = realloc(p->toks, ncap * sizeof(*t));
		if (t == NULL)
			return -1;
		p->toks = t;
		p->toks_cap = ncap;
	}
	p->toks[p->ntoks].type = type;
	p->toks[p->ntoks].off = off;
	p->toks[p->ntoks].len = len;
	p->ntoks++;
	return 0;
}

/* Ends the token started at tok_off: records it and NUL-terminates it. */
static int tok_end(struct imap_parser *p, enum tok_type type)
{
	size_t len = p->data.len - p->tok_off;

	if (tok_push(p, type, p->tok_off, len) < 0)
		return -1;
	return data_add(p, "", 1);
}

/* Counts a new argument against max_args. */
static bool arg_count(struct imap_parser *p)
{
	return ++p->nargs <= p->lim.max_args;
}

/* ---- building the tree once the command is complete ---- */

/* Number of direct children of the list whose first member is toks[i]. */
static size_t count_children(const struct imap_parser *p, size_t i)
{
	size_t n = 0, depth = 0;

	for (; i < p->ntoks; i++) {
		enum tok_type t = p->toks[i].type;

		if (t == TOK_CLOSE) {
			if (depth == 0)
				break;
			depth--;
			continue;
		}
		if (depth == 0)
			n++;
		if (t == TOK_OPEN)
			depth++;
	}
	return n;
}

static void fill_arg(struct imap_parser *p, const struct tok *t,
		     struct imap_arg *a)
{
	memset(a, 0, sizeof(*a));
	a->s.p = (const char *)p->data.data + t->off;
	a->s.len = t->len;
	switch (t->type) {
	case TOK_ATOM:
		a->type = str_eq_ci(a->s, "NIL") ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
		break;
	case TOK_QUOTED:
		a->type = IMAP_ARG_QUOTED;
		break;
	case TOK_LITERAL8:
		a->literal8 = true;
		/* fall through */
	case TOK_LITERAL:
		a->type = IMAP_ARG_LITERAL;
		break;
	case TOK_STREAMED8:
		a->literal8 = true;
		/* fall through */
	case TOK_STREAMED:
		a->type = IMAP_ARG_LITERAL;
		a->streamed = true;
		break;
	case TOK_OPEN:
	case TOK_CLOSE:
		a->type = IMAP_ARG_LIST;
		a->s.p = "";
		a->s.len = 0;
		break;
	}
}

/* Fills dst[0..n) from the tokens at *ti, recursing into lists; depth is
 * bounded by max_depth, which the reader enforced. */
static void build_list(struct imap_parser *p, size_t *ti, struct imap_arg *dst,
		       size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct tok *t = &p->toks[(*ti)++];

		fill_arg(p, t, &dst[k]);
		if (t->type != TOK_OPEN)
			continue;
		dst[k].list_count = count_children(p, *ti);
		dst[k].list = &p->nodes[p->nodes_used];
		p->nodes_used += dst[k].list_count;
		build_list(p, ti, dst[k].list, dst[k].list_count);
		(*ti)++; /* the matching TOK_CLOSE */
	}
}

static int build_command(struct imap_parser *p, struct imap_cmd *cmd)
{
	size_t ti = 0;

	if (p->nargs > p->nodes_cap) {
		struct imap_arg *n;

		if (p->nargs > SIZE_MAX / sizeof(*n))
			return -1;
		n = realloc(p->nodes, p->nargs * sizeof(*n));
		if (n == NULL)
			return -1;
		p->nodes = n;
		p->nodes_cap = p->nargs;
	}
	cmd->tag.p = (const char *)p->data.data;
	cmd->tag.len = p->tag_len;
	cmd->name.p = (const char *)p->data.data + p->name_off;
	cmd->name.len = p->name_len;
	cmd->nargs = count_children(p, 0);
	cmd->args = p->nodes;
	p->nodes_used = cmd->nargs;
	build_list(p, &ti, cmd->args, cmd->nargs);
	return 0;
}

/* ---- the reader ---- */

/* Line end in a state where the command may end. */
static enum imap_parse_result line_end(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	if (p->depth > 0)
		return fail(r, "Unclosed list");
	if (c == '\r') {
		p->state = S_EOL_LF;
		r->pos++;
		return IMAP_PARSE_NEED_MORE;
	}
	r->pos++;
	p->state = S_START;
	return IMAP_PARSE_COMMAND;
}

static enum imap_parse_result list_close(struct run *r)
{
	struct imap_parser *p = r->p;

	if (p->depth == 0)
		return fail(r, "Unexpected ')'");
	if (tok_push(p, TOK_CLOSE, p->data.len, 0) < 0)
		return fail(r, "Out of memory");
	p->depth--;
	p->state = S_AFTER_ARG;
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

/* First byte of an argument (after SP or '('). */
static enum imap_parse_result arg_start(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	if (c == ')' && p->state == S_LIST_FIRST)
		return list_close(r);
	if (c == '"' || c == '{' || c == '~' || c == '(' || c == '\\' ||
	    is_atom_char(c)) {
		if (!arg_count(p))
			return fail_limit(r, "Too many arguments",
					  IMAP_PARSE_LIMIT_ARGS);
	}
	switch (c) {
	case '"':
		tok_begin(p);
		p->state = S_QUOTED;
		break;
	case '~':
		p->state = S_LIT8;
		break;
	case '{':
		p->lit8 = false;
		p->state = S_LIT_FIRST;
		break;
	case '(':
		if (p->depth >= p->lim.max_depth)
			return fail_limit(r, "Too deeply nested lists",
					  IMAP_PARSE_LIMIT_DEPTH);
		if (tok_push(p, TOK_OPEN, p->data.len, 0) < 0)
			return fail(r, "Out of memory");
		p->depth++;
		p->state = S_LIST_FIRST;
		break;
	default:
		if (c != '\\' && !is_atom_char(c))
			return fail(r,
				    c == '\r' || c == '\n'
					    ? "Unexpected end of line"
					    : "Invalid character in argument");
		tok_begin(p);
		if (data_add(p, &c, 1) < 0)
			return fail_limit(r, "Command too long",
					  IMAP_PARSE_LIMIT_LINE);
		p->state = S_ATOM;
		break;
	}
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

/* '[' inside an atom starts a FETCH section only after these names; a
 * mailbox such as "[Gmail]/Sent" stays an ordinary atom. */
static bool atom_is_section_prefix(const struct imap_parser *p)
{
	static const char *const names[] = {
		"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
	};
	struct str s = {(const char *)p->data.data + p->tok_off,
			p->data.len - p->tok_off};

	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		if (str_eq_ci(s, names[i]))
			return true;
	}
	return false;
}

static enum imap_parse_result atom_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	if (is_atom_char(c)) {
		if (c == '[' && atom_is_section_prefix(p))
			p->state = S_ATOM_SECT;
		if (data_add(p, &c, 1) < 0)
			return fail_limit(r, "Command too long",
					  IMAP_PARSE_LIMIT_LINE);
		r->pos++;
		return IMAP_PARSE_NEED_MORE;
	}
	if (c != ' ' && c != ')' && c != '\r' && c != '\n')
		return fail(r, "Invalid character in atom");
	if (tok_end(p, TOK_ATOM) < 0)
		return fail_limit(r, "Command too long", IMAP_PARSE_LIMIT_LINE);
	p->state = S_AFTER_ARG;
	return IMAP_PARSE_NEED_MORE; /* S_AFTER_ARG reads c */
}

/* Inside BODY[...]: the section text is kept verbatim (SP, parens and quoted
 * header names included) for the FETCH handler to interpret. */
static enum imap_parse_result section_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	switch (p->state) {
	case S_ATOM_SECT:
		if (c == '"')
			p->state = S_ATOM_SECT_Q;
		else if (c == ']')
			p->state = S_ATOM;
		else if (c == '\r' || c == '\n')
			return fail(r, "Missing ']'");
		else if (c != ' ' && !is_atom_char(c) && c != '(' && c != ')')
			return fail(r, "Invalid character in section");
		break;
	case S_ATOM_SECT_Q:
		if (c == '"')
			p->state = S_ATOM_SECT;
		else if (c == '\\')
			p->state = S_ATOM_SECT_QESC;
		else if (c == '\r' || c == '\n' || c == 0)
			return fail(r, "Invalid quoted string");
		break;
	default: /* S_ATOM_SECT_QESC */
		if (c != '"' && c != '\\')
			return fail(r, "Invalid escape in quoted string");
		p->state = S_ATOM_SECT_Q;
		break;
	}
	if (data_add(p, &c, 1) < 0)
		return fail_limit(r, "Command too long", IMAP_PARSE_LIMIT_LINE);
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result quoted_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	if (p->state == S_QUOTED_ESC) {
		if (c != '"' && c != '\\')
			return fail(r, "Invalid escape in quoted string");
		p->state = S_QUOTED;
	} else if (c == '\\') {
		p->state = S_QUOTED_ESC;
		r->pos++;
		return IMAP_PARSE_NEED_MORE;
	} else if (c == '"') {
		if (tok_end(p, TOK_QUOTED) < 0)
			return fail_limit(r, "Command too long",
					  IMAP_PARSE_LIMIT_LINE);
		p->state = S_AFTER_ARG;
		r->pos++;
		return IMAP_PARSE_NEED_MORE;
	} else if (c == '\r' || c == '\n') {
		return fail(r, "Unterminated quoted string");
	} else if (c == 0) {
		return fail(r, "NUL in quoted string");
	}
	/* 8-bit bytes are kept: UTF-8 mailbox names (RFC 9051, UTF8=ACCEPT) */
	if (data_add(p, &c, 1) < 0)
		return fail_limit(r, "Command too long", IMAP_PARSE_LIMIT_LINE);
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

/* The LF ending a literal announcement: apply the limits, then read it. */
static enum imap_parse_result literal_announced(struct run *r)
{
	struct imap_parser *p = r->p;
	enum imap_parse_limit l;
	const char *reason;

	if (!p->lit_overflow &&
	    (p->lim.offer_all ||
	     (p->lim.stream_min > 0 && p->lit_size >= p->lim.stream_min))) {
		/* the caller decides whether and how to read it */
		r->pos++;
		p->state = S_LIT_OFFER;
		return IMAP_PARSE_LITERAL;
	}
	if ((l = literal_admit(p, &reason)) != IMAP_PARSE_LIMIT_NONE)
		return fail_limit(r, reason, l);
	r->pos++;
	tok_begin(p);
	p->state = S_LIT_DATA;
	if (p->lit_sync)
		return IMAP_PARSE_CONTINUE;
	return IMAP_PARSE_NEED_MORE;
}

/* One digit of a literal's {size}; an overflowing size is remembered and
 * refused once the size is complete. */
static void lit_size_digit(struct imap_parser *p, unsigned char c, bool first)
{
	uint64_t d = (uint64_t)(c - '0');

	if (first) {
		p->lit_size = 0;
		p->lit_overflow = false;
	}
	if (p->lit_size > (UINT64_MAX - d) / 10)
		p->lit_overflow = true;
	else
		p->lit_size = p->lit_size * 10 + d;
}

static enum imap_parse_result literal_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	switch (p->state) {
	case S_LIT8:
		if (c != '{')
			return fail(r, "Invalid literal8");
		p->lit8 = true;
		p->state = S_LIT_FIRST;
		break;
	case S_LIT_FIRST:
	case S_LIT_DIGITS:
		if (is_digit(c)) {
			lit_size_digit(p, c, p->state == S_LIT_FIRST);
			p->state = S_LIT_DIGITS;
		} else if (p->state == S_LIT_FIRST) {
			return fail(r, "Invalid literal size");
		} else if (c == '+' || c == '}') {
			p->lit_sync = c == '}';
			p->state = c == '+' ? S_LIT_PLUS : S_LIT_CR;
		} else {
			return fail(r, "Invalid literal size");
		}
		break;
	case S_LIT_PLUS:
		if (c != '}')
			return fail(r, "Invalid literal size");
		p->state = S_LIT_CR;
		break;
	case S_LIT_CR:
		if (c == '\n')
			return literal_announced(r);
		if (c != '\r')
			return fail(r, "Literal must end the line");
		p->state = S_LIT_LF;
		break;
	default: /* S_LIT_LF */
		if (c != '\n')
			return fail(r, "Literal must end the line");
		return literal_announced(r);
	}
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

/* Copies as much literal data as has arrived. */
static enum imap_parse_result literal_data(struct run *r)
{
	struct imap_parser *p = r->p;
	size_t avail = r->len - r->pos;
	size_t n = p->lit_size < avail ? (size_t)p->lit_size : avail;

	if (n > 0 && data_add(p, r->in + r->pos, n) < 0) {
		/* the limits were checked; only ENOMEM gets here */
		p->state = S_SKIP_LIT_DATA;
		r->error = "Out of memory";
		return IMAP_PARSE_ERROR;
	}
	r->pos += n;
	p->lit_size -= n;
	if (p->lit_size > 0)
		return IMAP_PARSE_NEED_MORE;
	if (tok_end(p, p->lit8 ? TOK_LITERAL8 : TOK_LITERAL) < 0)
		return fail(r, "Out of memory");
	p->state = S_AFTER_ARG;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result header_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	switch (p->state) {
	case S_START:
		if (c == '\r' || c == '\n') {
			p->state = c == '\r' ? S_START_LF : S_START;
			p->line_len = 0;
			break;
		}
		command_clear(p);
		p->line_len = 1;
		if (!is_tag_char(c))
			return fail(r, "Invalid tag");
		p->state = S_TAG;
		/* fall through */
	case S_TAG:
		if (c == ' ') {
			p->tag_len = p->data.len;
			if (data_add(p, "", 1) < 0)
				return fail_limit(r, "Command too long",
						  IMAP_PARSE_LIMIT_LINE);
			p->state = S_NAME_FIRST;
			break;
		}
		if (!is_tag_char(c))
			return fail(r, c == '\r' || c == '\n'
					       ? "Missing command"
					       : "Invalid tag");
		if (data_add(p, &c, 1) < 0)
			return fail_limit(r, "Command too long",
					  IMAP_PARSE_LIMIT_LINE);
		break;
	case S_START_LF:
		if (c != '\n')
			return fail(r, "CR without LF");
		p->state = S_START;
		break;
	case S_NAME_FIRST:
	case S_NAME:
		if (is_atom_char(c)) {
			if (p->state == S_NAME_FIRST)
				p->name_off = p->data.len;
			p->state = S_NAME;
			if (data_add(p, &c, 1) < 0)
				return fail_limit(r, "Command too long",
						  IMAP_PARSE_LIMIT_LINE);
			break;
		}
		if (p->state == S_NAME_FIRST)
			return fail(r, "Missing command");
		if (c != ' ' && c != '\r' && c != '\n')
			return fail(r, "Invalid command name");
		p->name_len = p->data.len - p->name_off;
		if (data_add(p, "", 1) < 0)
			return fail_limit(r, "Command too long",
					  IMAP_PARSE_LIMIT_LINE);
		p->state = S_AFTER_ARG;
		return IMAP_PARSE_NEED_MORE; /* S_AFTER_ARG reads c */
	case S_EOL_LF:
		if (c != '\n')
			return fail(r, "CR without LF");
		p->state = S_START;
		r->pos++;
		return IMAP_PARSE_COMMAND;
	default:
		return fail(r, "Internal parser error");
	}
	r->pos++;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result main_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	switch (p->state) {
	case S_ARG_START:
	case S_LIST_FIRST:
		return arg_start(r, c);
	case S_ATOM:
		return atom_byte(r, c);
	case S_ATOM_SECT:
	case S_ATOM_SECT_Q:
	case S_ATOM_SECT_QESC:
		return section_byte(r, c);
	case S_QUOTED:
	case S_QUOTED_ESC:
		return quoted_byte(r, c);
	case S_LIT8:
	case S_LIT_FIRST:
	case S_LIT_DIGITS:
	case S_LIT_PLUS:
	case S_LIT_CR:
	case S_LIT_LF:
		return literal_byte(r, c);
	case S_AFTER_ARG:
		if (c == ' ') {
			p->state = S_ARG_START;
			r->pos++;
			return IMAP_PARSE_NEED_MORE;
		}
		if (c == ')')
			return list_close(r);
		if (c == '\r' || c == '\n')
			return line_end(r, c);
		return fail(r, "Missing space between arguments");
	default:
		return header_byte(r, c);
	}
}

/* Error recovery: finds the end of the command without storing anything. */
static void skip_byte(struct run *r, unsigned char c)
{
	struct imap_parser *p = r->p;

	switch (p->state) {
	case S_SKIP_Q:
		if (c == '\\')
			p->state = S_SKIP_QESC;
		else if (c == '"')
			p->state = S_SKIP;
		else if (c == '\n')
			p->state = S_START;
		break;
	case S_SKIP_QESC:
		p->state = c == '\n' ? S_START : S_SKIP_Q;
		break;
	case S_SKIP_LIT_FIRST:
	case S_SKIP_LIT_DIGITS:
		if (is_digit(c)) {
			lit_size_digit(p, c, p->state == S_SKIP_LIT_FIRST);
			p->state = S_SKIP_LIT_DIGITS;
		} else if (p->state == S_SKIP_LIT_DIGITS &&
			   (c == '+' || c == '}')) {
			p->lit_sync = c == '}';
			p->state = c == '+' ? S_SKIP_LIT_PLUS : S_SKIP_LIT_CR;
		} else {
			p->state = S_SKIP;
			return; /* read c again as plain text */
		}
		break;
	case S_SKIP_LIT_PLUS:
		if (c != '}') {
			p->state = S_SKIP;
			return;
		}
		p->state = S_SKIP_LIT_CR;
		break;
	case S_SKIP_LIT_CR:
	case S_SKIP_LIT_LF:
		if (c == '\r' && p->state == S_SKIP_LIT_CR) {
			p->state = S_SKIP_LIT_LF;
			break;
		}
		if (c != '\n') {
			p->state = S_SKIP;
			return;
		}
		/* A refused synchronizing literal is never sent by the client,
		 * and a size we cannot represent cannot be skipped: either way
		 * the command ends here. */
		if (p->lit_sync || p->lit_overflow)
			p->state = S_START;
		else
			p->state = p->lit_size > 0 ? S_SKIP_LIT_DATA : S_SKIP;
		break;
	default: /* S_SKIP */
		if (c == '"')
			p->state = S_SKIP_Q;
		else if (c == '{')
			p->state = S_SKIP_LIT_FIRST;
		else if (c == '\n')
			p->state = S_START;
		break;
	}
	r->pos++;
}

static void skip_literal_data(struct run *r)
{
	struct imap_parser *p = r->p;
	size_t avail = r->len - r->pos;
	size_t n = p->lit_size < avail ? (size_t)p->lit_size : avail;

	r->pos += n;
	p->lit_size -= n;
	if (p->lit_size == 0)
		r->p->state = S_SKIP;
}

static bool state_is_skip(enum parser_state s)
{
	return s >= S_SKIP;
}

static enum imap_parse_result run_one(struct run *r)
{
	struct imap_parser *p = r->p;

	if (p->state == S_LIT_DATA)
		return literal_data(r);
	if (p->state == S_LIT_OFFER)
		return IMAP_PARSE_LITERAL;
	if (p->state == S_LIT_STREAM)
		return IMAP_PARSE_NEED_MORE; /* the caller's bytes */
	if (p->state == S_SKIP_LIT_DATA) {
		skip_literal_data(r);
		return IMAP_PARSE_NEED_MORE;
	}
	if (state_is_skip(p->state)) {
		skip_byte(r, r->in[r->pos]);
		return IMAP_PARSE_NEED_MORE;
	}
	if (p->state != S_START && p->state != S_START_LF &&
	    ++p->line_len > p->lim.max_line)
		return fail_limit(r, "Command line too long",
				  IMAP_PARSE_LIMIT_LINE);
	return main_byte(r, r->in[r->pos]);
}

enum imap_parse_result imap_parser_run(struct imap_parser *p, struct buf *in,
				       struct imap_cmd *cmd_r,
				       struct str *tag_r, const char **error_r)
{
	struct run r = {p, in->data, in->len, 0, NULL};
	enum imap_parse_result ret = IMAP_PARSE_NEED_MORE;

	*tag_r = (struct str){"", 0};
	*error_r = NULL;
	p->error_limit = IMAP_PARSE_LIMIT_NONE;
	p->error_nonsync = false;
	if (p->stream_error) {
		p->stream_error = false;
		r.error = "Out of memory";
		ret = IMAP_PARSE_ERROR;
	} else if (p->state == S_LIT_OFFER) {
		ret = IMAP_PARSE_LITERAL;
	}
	while (ret == IMAP_PARSE_NEED_MORE && r.pos < r.len) {
		size_t before = r.pos;
		enum parser_state s = p->state;

		ret = run_one(&r);
		/* a step that re-reads its byte always changes state; this
		 * only guards against a bug turning into a busy loop */
		if (ret == IMAP_PARSE_NEED_MORE && r.pos == before &&
		    p->state == s)
			break;
	}
	buf_consume(in, r.pos);
	if ((ret == IMAP_PARSE_COMMAND || ret == IMAP_PARSE_LITERAL) &&
	    build_command(p, cmd_r) < 0) {
		if (ret == IMAP_PARSE_LITERAL)
			imap_parser_literal_refuse(p);
		r.error = "Out of memory";
		ret = IMAP_PARSE_ERROR;
	}
	if (ret == IMAP_PARSE_ERROR) {
		*error_r = r.error;
		if (p->tag_len > 0) {
			tag_r->p = (const char *)p->data.data;
			tag_r->len = p->tag_len;
		}
	} else if (ret == IMAP_PARSE_COMMAND || ret == IMAP_PARSE_LITERAL) {
		*tag_r = cmd_r->tag;
	}
	return ret;
}

void imap_parser_literal_info(const struct imap_parser *p,
			      struct imap_literal_info *info_r)
{
	info_r->size = p->lit_size;
	info_r->sync = p->lit_sync;
	info_r->literal8 = p->lit8;
	info_r->depth = p->depth;
}

/* Where a literal the caller will not take leaves the parser: the
 * announcement's LF was consumed, so this is what the skip states would
 * have decided on reading it. */
static void literal_skip(struct imap_parser *p)
{
	if (p->state == S_LIT_OFFER && p->lit_sync)
		p->state = S_START; /* the client never sends it */
	else
		p->state = p->lit_size > 0 ? S_SKIP_LIT_DATA : S_SKIP;
}

enum imap_parse_result imap_parser_literal_store(struct imap_parser *p,
						 const char **error_r)
{
	enum imap_parse_limit l;

	*error_r = NULL;
	p->error_limit = IMAP_PARSE_LIMIT_NONE;
	p->error_nonsync = false;
	if (p->state != S_LIT_OFFER) {
		*error_r = "No literal offered";
		return IMAP_PARSE_ERROR;
	}
	if ((l = literal_admit(p, error_r)) != IMAP_PARSE_LIMIT_NONE) {
		literal_skip(p);
		p->error_limit = l;
		return IMAP_PARSE_ERROR;
	}
	tok_begin(p);
	p->state = S_LIT_DATA;
	return p->lit_sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_NEED_MORE;
}

enum imap_parse_result imap_parser_literal_stream(struct imap_parser *p)
{
	if (p->state != S_LIT_OFFER)
		return IMAP_PARSE_NEED_MORE;
	p->state = S_LIT_STREAM;
	return p->lit_sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_NEED_MORE;
}

size_t imap_parser_literal_avail(const struct imap_parser *p,
				 const struct buf *in)
{
	if (p->state != S_LIT_STREAM)
		return 0;
	return p->lit_size < in->len ? (size_t)p->lit_size : in->len;
}

uint64_t imap_parser_literal_remaining(const struct imap_parser *p)
{
	return p->state == S_LIT_STREAM || p->state == S_LIT_OFFER ? p->lit_size
								   : 0;
}

void imap_parser_literal_consume(struct imap_parser *p, struct buf *in,
				 size_t n)
{
	if (n > imap_parser_literal_avail(p, in))
		n = imap_parser_literal_avail(p, in);
	buf_consume(in, n);
	p->lit_size -= n;
	if (p->state != S_LIT_STREAM || p->lit_size > 0)
		return;
	if (tok_push(p, p->lit8 ? TOK_STREAMED8 : TOK_STREAMED, p->data.len,
		     0) < 0 ||
	    data_add(p, "", 1) < 0) {
		p->stream_error = true;
		p->state = S_SKIP;
		return;
	}
	p->state = S_AFTER_ARG;
}

void imap_parser_literal_refuse(struct imap_parser *p)
{
	if (p->state == S_LIT_OFFER || p->state == S_LIT_STREAM)
		literal_skip(p);
}

enum imap_parse_limit imap_parser_error_limit(const struct imap_parser *p)
{
	return p->error_limit;
}

bool imap_parser_error_literal_nonsync(const struct imap_parser *p)
{
	return p->error_nonsync;
}

bool imap_arg_get_astring(const struct imap_arg *a, struct str *r)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_NIL: /* the atom NIL is also a valid astring */
		*r = a->s;
		return true;
	default:
		return false;
	}
}

bool imap_arg_get_atom(const struct imap_arg *a, struct str *r)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return false;
	*r = a->s;
	return true;
}

/* Whether s can be sent as a quoted string: 7-bit, no CR/LF/NUL. */
static bool quotable(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

int imap_write_string(struct buf *out, struct str s)
{
	size_t start = out->len;

	if (!quotable(s)) {
		if (buf_printf(out, "{%zu}\r\n", s.len) < 0 ||
		    buf_append(out, s.p, s.len) < 0)
			goto fail;
		return 0;
	}
	if (buf_append(out, "\"", 1) < 0)
		goto fail;
	for (size_t i = 0; i < s.len; i++) {
		size_t j = i;

		/* copy runs without specials in one append */
		while (j < s.len && s.p[j] != '"' && s.p[j] != '\\')
			j++;
		if (j > i && buf_append(out, s.p + i, j - i) < 0)
			goto fail;
		if (j == s.len)
			break;
		if (buf_append(out, "\\", 1) < 0 ||
		    buf_append(out, s.p + j, 1) < 0)
			goto fail;
		i = j;
	}
	if (buf_append(out, "\"", 1) < 0)
		goto fail;
	return 0;
fail:
	/* leave out as it was; overflow stays set for the caller */
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return -1;
}
