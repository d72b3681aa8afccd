#ifndef POSTERN_SMTP_EHLO_H
#define POSTERN_SMTP_EHLO_H
/* What submission-login and the submission worker both say: the server
 * name, the EHLO keyword list and the resume string of the hand-off. Private
 * to submission/. */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "str.h"

struct config;

/* config hostname, or the system's host name ("localhost" if none). Static;
 * valid for the process's life. */
const char *smtp_hostname(const struct config *cfg);

/* The EHLO reply (RFC 5321 4.1.1.1, RFC 6409): hostname, then PIPELINING,
 * SIZE, STARTTLS (only if starttls), AUTH (only if auth_mechs is non-NULL
 * and non-empty: never an empty AUTH line), 8BITMIME, SMTPUTF8, CHUNKING,
 * ENHANCEDSTATUSCODES. Appends CRLF-terminated lines to out. */
void smtp_ehlo_reply(struct buf *out, const char *hostname, const char *helo,
		     unsigned max_size, bool starttls, const char *auth_mechs);

/* An EHLO/HELO argument we repeat in Received and in the hand-off: a domain
 * or an address literal, printable ASCII without spaces, 1..255 bytes. */
bool smtp_helo_valid(struct str name);

/* Resume string of the hand-off: "auth ehlo NAME" (a 235 is owed),
 * "cert helo NAME" (certificate login at MAIL: nothing owed). */
#define SMTP_RESUME_MAX 300
int smtp_resume_format(char *out, size_t outsz, bool auth_done, bool ehlo,
		       const char *helo);
/* Parses it back. -1 if malformed (the worker drops the connection).
 * helo_r must hold 256 bytes. */
int smtp_resume_parse(const char *s, bool *auth_done_r, bool *ehlo_r,
		      char *helo_r);

#endif
