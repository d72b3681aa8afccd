#ifndef POSTERN_MIME_HEADER_H
#define POSTERN_MIME_HEADER_H
/* RFC 5322 header fields: a streaming field reader (SEARCH HEADER), value
 * unfolding, RFC 2047 encoded-word decoding to UTF-8 (SEARCH SUBJECT/FROM/
 * ...), and the HEADER.FIELDS[.NOT] filter for FETCH BODY[section].
 * Bare LF is accepted wherever CRLF is. */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "str.h"

/* Appends raw with folding removed: every CRLF or LF that is followed by
 * a space or tab is dropped (the whitespace is kept, RFC 5322 §2.2.3); a
 * final line break is dropped too. 0, or -1 on overflow of out. */
int mime_header_unfold(struct str raw, struct buf *out);

/* Appends the unfolded value decoded to UTF-8: RFC 2047 encoded words
 * (B and Q, any charset charset.h knows; "charset*lang" accepted) are
 * decoded, whitespace between two adjacent encoded words is dropped,
 * malformed encoded words are kept literally, bytes of unknown charsets and
 * invalid UTF-8 outside encoded words become U+FFFD. Never fails on bad
 * input. 0, or -1 on overflow of out. */
int mime_header_decode(struct str raw, struct buf *out);

/* --- streaming field reader --- */
/* cb gets each complete field of a header: name (as sent, without the
 * colon) and raw value (after the colon, leading whitespace skipped,
 * folding kept, final line break removed; cut at max_value bytes with
 * truncated set). Views are valid during the callback only. Lines without
 * a colon are skipped. */
typedef void mime_header_field_cb(void *ctx, struct str name,
				  struct str value, bool truncated);
struct mime_header_reader;

/* max_value 0: 256 KiB. NULL on allocation failure. Holds at most
 * max_value + name bytes. */
struct mime_header_reader *mime_header_reader_new(size_t max_value);
/* Feeds header bytes (a header range from the part tree, or a whole
 * message: reading stops at the blank line). Returns 1 once the blank line
 * ending the header was seen (later bytes are ignored), 0 if more input is
 * welcome, -1 on allocation failure. */
int mime_header_reader_feed(struct mime_header_reader *r, const void *data,
			    size_t len, mime_header_field_cb *cb, void *ctx);
/* Flushes a last field not followed by a line break / blank line. */
void mime_header_reader_finish(struct mime_header_reader *r,
			       mime_header_field_cb *cb, void *ctx);
void mime_header_reader_free(struct mime_header_reader **r);

/* --- HEADER.FIELDS (a b) / HEADER.FIELDS.NOT (a b) --- */
struct mime_header_filter;

/* names: count field names (matched ASCII case-insensitively; copied).
 * exclude: HEADER.FIELDS.NOT. NULL on allocation failure. */
struct mime_header_filter *mime_header_filter_new(const struct str *names,
						  size_t count, bool exclude);
/* Feed the header range (hdr_offset .. body_offset) in chunks; the fields
 * selected (name line and continuation lines, bytes as stored) are
 * appended to out. Output never exceeds the input, so with finish out
 * needs at most the header size + 4 in total; one call appends at most
 * len + 257 bytes (a held field name of up to 256 bytes is released with
 * its colon; names longer than 256 bytes never match). Input after the
 * blank line is ignored. 0, or -1 on overflow of out. */
int mime_header_filter_feed(struct mime_header_filter *f, const void *data,
			    size_t len, struct buf *out);
/* Appends the trailing blank line ("\r\n"), as RFC 9051 §6.4.5 includes it
 * (after a "\r\n" ending a selected last line that had no line break).
 * 0, or -1 on overflow. */
int mime_header_filter_finish(struct mime_header_filter *f, struct buf *out);
void mime_header_filter_free(struct mime_header_filter **f);

#endif
