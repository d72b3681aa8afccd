#ifndef POSTERN_IMAP_MAILBOX_H
#define POSTERN_IMAP_MAILBOX_H
/* Mailbox names on the wire. The store keeps UTF-8 names with '/' as the
 * delimiter; a client sees them in modified UTF-7 (RFC 3501 5.1.3) unless
 * it enabled IMAP4rev2 or UTF8=ACCEPT (RFC 9051 5.1, RFC 6855 3), which
 * take UTF-8 as is. Private to imap/. */
#include <stdbool.h>

#include "buf.h"
#include "imap_client.h"
#include "storage.h"
#include "str.h"

#define IMAP_MAILBOX_DELIM '/'

/* Modified UTF-7 -> UTF-8 (strict: only printable ASCII outside shifts,
 * no empty or ASCII-only shifts, valid UTF-16, zero padding bits), and
 * UTF-8 -> modified UTF-7 (in must be valid UTF-8). Append to out;
 * 0, or -1 on invalid input or overflow. */
int imap_mutf7_decode(struct str in, struct buf *out);
int imap_mutf7_encode(struct str in, struct buf *out);

/* A mailbox-name argument in the store's form: decoded for c's mode, one
 * trailing delimiter dropped (CREATE "a/" means "a"), checked and
 * normalized by storage_mailbox_name_check (INBOX in any case is
 * "INBOX"). out holds STORAGE_MAILBOX_NAME_MAX + 1 bytes. 0, or -1 with
 * *error_r (static text, for "NO [CANNOT]"). */
int imap_mailbox_name(struct client *c, struct str arg, char *out,
		      const char **error_r);
/* A LIST pattern (reference and pattern already joined) in the store's
 * form: decoded like a name but not checked. 0 / -1. */
int imap_mailbox_pattern(struct client *c, struct str pat, struct buf *out);

/* Appends name (store form) as c sees it, as a quoted string. 0 / -1. */
int imap_mailbox_write(struct client *c, struct buf *out, const char *name);

/* Whether c sees UTF-8 names. */
bool imap_mailbox_utf8(const struct client *c);

#endif
