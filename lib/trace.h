#ifndef POSTERN_TRACE_H
#define POSTERN_TRACE_H
/* Per-connection protocol trace, written to the one logger (info lines
 * "trace C: ..." for what the client sent, "trace S: ..." for what we sent).
 *
 * Levels: none; trace (the protocol, with secrets shown as *** and literal /
 * message data as {SIZE}...); traceauth (secrets too); tracedata (message
 * data too). Client input is traced where the parser hands over what it
 * consumed (a parsed command, a SASL line, streamed literal data), never
 * from raw socket reads, so a password pipelined in one packet with other
 * commands is still recognised as one. Server output is traced as it
 * leaves the protocol layer (before compression): a scanner follows lines
 * and {n} literals through any chunking. Lines are cut at TRACE_LINE_MAX.
 * The level may change at any time; the scanner keeps its place either
 * way. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_parser.h"
#include "log.h"

enum trace_level {
	TRACE_OFF,
	TRACE_PROTO, /* "trace" */
	TRACE_AUTH,  /* "traceauth" */
	TRACE_DATA,  /* "tracedata" */
};

/* Bytes of one trace line; the rest is counted ("[+N bytes]"). */
#define TRACE_LINE_MAX 1024

/* The one spelling of the levels, in config (trace_level) and mailadm
 * (user trace): "none", "trace", "traceauth", "tracedata". 0, or -1 for
 * another name. */
int trace_level_parse(const char *name, enum trace_level *level_r);
const char *trace_level_name(enum trace_level level);

struct trace {
	enum trace_level level;
	const struct log_ctx *log; /* the connection's; must outlive this */
	/* output scanner */
	struct buf line; /* the server line so far (bounded) */
	size_t line_cut; /* bytes of it beyond TRACE_LINE_MAX */
	char tail[24];	 /* last bytes of the line, to spot "{n}" */
	size_t tail_len;
	uint64_t lit_left; /* literal bytes still to pass */
	/* sizes of the literals the protocol streams itself, for the trace
	 * line of their command (its tag) */
	char lit_tag[64];
	size_t lit_tag_len;
	uint64_t lit_sizes[16];
	size_t nlit;
};

void trace_init(struct trace *t, const struct log_ctx *log,
		enum trace_level level);
void trace_deinit(struct trace *t);
void trace_set_level(struct trace *t, enum trace_level level);

/* Server -> client bytes in order, in any chunking. */
void trace_output(struct trace *t, const void *p, size_t n);
/* A command exactly as imap_parser_run returned it. LOGIN's password and
 * AUTHENTICATE's initial response are secrets. */
void trace_command(struct trace *t, const struct imap_cmd *cmd);
/* A command the parser refused, with its reason. */
void trace_bad_command(struct trace *t, struct str tag, const char *error);
/* A client line the protocol read outside the parser (a SASL response,
 * IDLE's DONE); secret lines are shown from traceauth on. */
void trace_input_line(struct trace *t, const void *p, size_t n, bool secret);
/* Literal data the protocol consumed itself (a streamed APPEND message). */
void trace_input_data(struct trace *t, const void *p, size_t n);
/* The command tagged tag streams a literal of size bytes: its trace line
 * shows {size}... there (the parser keeps no size for it). */
void trace_literal_streamed(struct trace *t, struct str tag, uint64_t size);

#endif
