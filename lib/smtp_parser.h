#ifndef POSTERN_SMTP_PARSER_H
#define POSTERN_SMTP_PARSER_H
/* The SMTP command reader shared by submission-login, the submission
 * worker and LMTP (RFC 5321, RFC 6409, RFC 2033): bounded command lines,
 * verbs and paths, ESMTP parameters, and the body readers for DATA
 * (dot-unstuffing, end of data) and BDAT chunks, with bare CR and bare LF
 * detection. Every step resumes at any byte boundary: input may
 * arrive one byte at a time.
 *
 * Nothing here allocates; lines and fields are views into the caller's
 * buffer, valid until the caller consumes or changes it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

/* RFC 5321 4.5.3.1: 512 octets per command line (we take more for ESMTP
 * parameters, as 4.5.3.1.4 allows), 256 per path. */
#define SMTP_PATH_MAX 256

enum smtp_line_result {
	SMTP_LINE_NEED_MORE, /* no complete line yet: read more */
	SMTP_LINE_OK,	     /* *line_r is a line; consume *consumed_r */
	/* longer than the limit: consume *consumed_r and answer 500 once; the
	 * rest of that line is skipped by the following calls */
	SMTP_LINE_TOO_LONG,
};

struct smtp_line_reader {
	size_t max;	/* bytes of one line, line end excluded */
	size_t scanned; /* bytes of the buffer already known to hold no LF */
	bool skipping;	/* inside an overlong line */
};

void smtp_line_reader_init(struct smtp_line_reader *r, size_t max_line);
/* Forget any partial state (STARTTLS: the buffer was discarded). */
void smtp_line_reader_reset(struct smtp_line_reader *r);
/* Looks for the first line in in[0..len). A line ends with LF (CRLF or a
 * bare LF; the line end is not part of *line_r). After SMTP_LINE_OK or
 * SMTP_LINE_TOO_LONG the caller must consume exactly *consumed_r bytes
 * before the next call. After NEED_MORE, *consumed_r bytes of an overlong
 * line are to be dropped; when that is more than 0 the caller calls again
 * at once (the end of the overlong line came, and complete lines may
 * follow it). */
enum smtp_line_result smtp_line_read(struct smtp_line_reader *r,
				     const unsigned char *in, size_t len,
				     struct str *line_r, size_t *consumed_r);

/* A command line split into its verb (letters only, case as sent) and the
 * rest after one space (trailing spaces trimmed). -1 with *error_r for a
 * line with NUL, CR or another control character, or without a verb. */
struct smtp_cmd {
	struct str verb;
	struct str args;
};
int smtp_cmd_parse(struct str line, struct smtp_cmd *cmd_r,
		   const char **error_r);
/* Whether the verb is name (ASCII case-insensitive). */
bool smtp_cmd_is(const struct smtp_cmd *cmd, const char *name);

/* "FROM:<path> params" / "TO:<path> params" (prefix "FROM:" or "TO:", any
 * case; a space after the colon is tolerated). *addr_r is the mailbox
 * without the angle brackets and without a source route ("" for "<>");
 * *params_r the ESMTP parameters (may be empty). Quoted local parts are
 * kept as sent. -1 with *error_r for bad syntax or a path longer than
 * SMTP_PATH_MAX. */
int smtp_parse_path(struct str args, const char *prefix, struct str *addr_r,
		    struct str *params_r, const char **error_r);
/* Takes the next "KEYWORD[=VALUE]" from *params (space-separated). 1 with
 * *key_r / *value_r (value empty without '='), 0 at the end, -1 for bad
 * syntax. */
int smtp_param_next(struct str *params, struct str *key_r, struct str *value_r);

/* The MAIL FROM parameters a server here understands: SIZE= (RFC 1870),
 * BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and AUTH= (RFC 4954
 * 5, accepted and ignored: the submitter is known anyway, LMTP does not
 * relay). 0, or -1 with *reply_r the whole reply line to send (static,
 * no CRLF). */
struct smtp_mail_params {
	uint64_t size; /* 0 = not announced */
	bool body_8bit, smtputf8;
};
int smtp_mail_params_parse(struct str params, struct smtp_mail_params *r,
			   const char **reply_r);

/* The arguments of MAIL and RCPT as a server here checks them, with the
 * reply when they are refused (a line without CRLF, in reply[replysz]).
 * MAIL: the path, its parameters, then SIZE against max_size; -1 for a
 * bad command (it counts towards the error limit), -2 for a message
 * announced larger than max_size (552: not a client error). RCPT: the
 * path, and no parameters (we support none); -1 when refused. */
int smtp_mail_args(struct str args, uint64_t max_size, struct str *addr_r,
		   struct smtp_mail_params *mp_r, char *reply, size_t replysz);
int smtp_rcpt_args(struct str args, struct str *addr_r, char *reply,
		   size_t replysz);

/* "BDAT size [LAST]" (RFC 3030). 0, or -1 for bad syntax (the chunk
 * cannot be skipped without its size: the connection must close). */
int smtp_bdat_parse(struct str args, uint64_t *size_r, bool *last_r);

/* DATA (RFC 5321 4.1.1.4, 4.5.2): the message ends with CRLF "." CRLF,
 * and only so -- a LF or CR not part of a CRLF never ends it (the SMTP
 * smuggling class) but is remembered, so the message can be refused. */
enum smtp_data_state {
	SMTP_DATA_LINE_START,
	SMTP_DATA_TEXT,
	SMTP_DATA_CR,
	SMTP_DATA_DOT,
	SMTP_DATA_DOT_CR,
};

struct smtp_data_reader {
	enum smtp_data_state state;
	bool bare_cr, bare_lf; /* seen somewhere in the message */
	uint64_t size;	       /* unstuffed bytes produced so far */
};

void smtp_data_reader_init(struct smtp_data_reader *r);
/* Reads in[0..len) and appends the unstuffed message to out (CRLF line
 * ends as received; the final CRLF before the dot is part of the message,
 * the dot line is not). Appends at most len + 2 bytes. Returns true when
 * the end of data was reached: *consumed_r is the bytes read up to and
 * including that end, the rest is the next command. false: all of in was
 * read (*consumed_r == len). If out cannot take the bytes (its max), they
 * are dropped and counted in size all the same: the caller compares size
 * with its limit. */
bool smtp_data_feed(struct smtp_data_reader *r, const unsigned char *in,
		    size_t len, struct buf *out, size_t *consumed_r);

/* BDAT chunks are taken verbatim; this checks their line ends across chunk
 * boundaries (call with every chunk in order; pending_cr carries a CR that
 * ended the previous chunk). Sets *bare_cr / *bare_lf when seen. */
void smtp_crlf_check(const unsigned char *p, size_t len, bool *pending_cr,
		     bool *bare_cr, bool *bare_lf);

/* The body of one transaction, as DATA or as BDAT chunks, read from the
 * session's input buffer. Both servers (LMTP, submission) read it here so
 * that the rules on line ends and chunk sizes are one. What a server
 * answers, and when a chunk is refused, stays its own: it sets discard
 * (the chunk is read and dropped, RFC 3030 2) and seen_bdat. */
struct smtp_body {
	bool bdat; /* reading a BDAT chunk, else DATA */
	struct smtp_data_reader data;
	bool seen_bdat, last, discard;
	bool pending_cr; /* a CR ended the previous chunk */
	uint64_t left;	 /* bytes of the BDAT chunk still to read */
	bool bare_cr, bare_lf; /* seen in the message */
};

/* Receives the message bytes (unstuffed for DATA, as sent for BDAT). */
typedef void smtp_body_sink(void *ctx, const unsigned char *p, size_t n);

/* A new transaction: nothing read. */
void smtp_body_reset(struct smtp_body *b);
void smtp_body_data_start(struct smtp_body *b);
/* A chunk of size 0 is read at once: bare_cr / bare_lf are final. */
void smtp_body_bdat_start(struct smtp_body *b, uint64_t size, bool last);
/* Reads what in holds of the body (at most max_chunk bytes of DATA per
 * call), passes the message bytes to sink (none while discard) and
 * consumes them from in. true when the DATA ended or the BDAT chunk has
 * been read: bare_cr / bare_lf are then final for DATA and BDAT LAST. */
bool smtp_body_feed(struct smtp_body *b, struct buf *in, size_t max_chunk,
		    smtp_body_sink *sink, void *ctx);

#endif
