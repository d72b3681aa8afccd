#ifndef POSTERN_MIME_IMAP_H
#define POSTERN_MIME_IMAP_H
/* IMAP ENVELOPE, BODYSTRUCTURE and BODY (non-extensible) text from a parsed
 * part tree, per the RFC 3501 §9 / RFC 9051 §9 grammar (envelope, body,
 * body-type-1part/mpart, body-ext-*). Strings are written with
 * imap_write_string (quoted when 7-bit without CR/LF/NUL, else a literal);
 * absent fields are NIL, present-but-empty ones "".
 *
 * ENVELOPE: date, subject, in-reply-to and message-id are the raw field
 * values unfolded (CRLF before whitespace removed), not RFC 2047 decoded, as
 * RFC 3501 requires. Address lists are parsed per RFC 5322 with obsolete
 * syntax tolerated (route addresses, missing commas, comments, unquoted
 * dots); each address is (name adl mailbox host) with name as sent (encoded
 * words left encoded), groups as (NIL NIL "group" NIL) ... (NIL NIL NIL
 * NIL). Sender and reply-to default to from when absent or empty. An
 * address without '@' cannot have host NIL (that marks a group start), so
 * its host is written as Dovecot does (see tests/data/mime).
 *
 * Output goes into out; every function returns 0, or -1 if out overflowed
 * (out's content then is truncated garbage: discard it). */
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"
#include "str.h"

/* "(date subject from sender reply-to to cc bcc in-reply-to message-id)"
 * for the message whose header is part `part` (0, or the child of a message
 * part). A part without envelope fields writes the all-NIL envelope. */
int mime_write_envelope(struct buf *out, const struct mime_message *m,
			uint32_t part);

/* BODYSTRUCTURE (extended = true) or BODY (extended = false) of part
 * `part` (0 for FETCH BODYSTRUCTURE of the message). */
int mime_write_bodystructure(struct buf *out, const struct mime_message *m,
			     uint32_t part, bool extended);

/* Writes one RFC 5322 address-list header value (raw, as in
 * mime_part.env) as an IMAP address list "((...)(...))" or NIL when it
 * holds no address. Exposed for tests and for SEARCH helpers. */
int mime_write_address_list(struct buf *out, struct str raw);

/* --- parsed addresses (SEARCH FROM/TO matching, sorting) --- */
struct mime_address {
	/* Views into a caller-supplied scratch buf (see below). group_start:
	 * mailbox is the group name; group_end: all empty. */
	struct str name;
	struct str route;
	struct str mailbox;
	struct str host;
	bool group_start;
	bool group_end;
};
/* Parses raw into at most max addresses (*count_r set, extra ignored).
 * Strings are copied into scratch (cleared first), which must stay alive
 * and unmodified while the addresses are used. 0, or -1 on overflow of
 * scratch. */
int mime_address_parse(struct str raw, struct mime_address *addrs,
		       size_t max, size_t *count_r, struct buf *scratch);

#endif
