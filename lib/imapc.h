#ifndef POSTERN_IMAPC_H
#define POSTERN_IMAPC_H
/* IMAP client (RFC 9051 / RFC 3501 framing) for tests, bench and tools.
 *
 * Contract: BLOCKING on its own socket (lib/cliconn), a timeout on every
 * wait, like lib/smtpc. imapc_open connects (implicit TLS or STARTTLS with
 * certificate verification on by default, or plaintext), reads the
 * greeting, and authenticates: AUTHENTICATE with SASL-IR when offered
 * (PLAIN, SCRAM-SHA-1/256 and -PLUS, with the server's signature
 * checked), EXTERNAL with a client certificate, or nothing when the server
 * greets with PREAUTH. Then commands go out tagged "a1", "a2", ...; several
 * may be sent before their responses are read (pipelining) and each
 * response is read as a unit with its literals.
 *
 * Responses are framed, not tokenised: one struct imapc_resp holds the
 * whole response with any literals inline exactly as sent ("{5}\r\nhello"),
 * bounded by max_response; the caller parses what it asked for. Literal
 * data is traced as data ("... (N bytes)" below tracedata). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cliconn.h"
#include "log.h"
#include "tls.h"

enum imapc_tls {
	IMAPC_TLS_IMPLICIT = 0, /* 993 */
	IMAPC_TLS_STARTTLS,	/* 143 */
	IMAPC_TLS_NONE,
};

/* Largest response (line plus literals) by default. */
#define IMAPC_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)
#define IMAPC_MAX_LINE		   65536

struct imapc_settings {
	const char *host, *port;
	enum imapc_tls tls;
	struct tls_client_opts tls_opts; /* as for lib/smtpc */
	/* with user and password: the first of mechs (default
	 * SASLC_DEFAULT_MECHS) the server offers; with a certificate only:
	 * EXTERNAL, unless the server greeted PREAUTH; "LOGIN" in mechs
	 * means the LOGIN command */
	const char *user, *password, *mechs;
	size_t max_response; /* 0: IMAPC_DEFAULT_MAX_RESPONSE */
	unsigned timeout_ms;
	enum user_trace trace; /* USER_TRACE_NONE: off */
	const struct log_ctx *log_ctx;
};

enum imapc_resp_kind {
	IMAPC_UNTAGGED, /* "* ..." */
	IMAPC_CONTINUE, /* "+ ..." */
	IMAPC_TAGGED,	/* "aN OK|NO|BAD ..." */
};

struct imapc_resp {
	enum imapc_resp_kind kind;
	unsigned tag;	   /* TAGGED: N of "aN" (0 for a foreign tag) */
	char status[8];	   /* TAGGED (and untagged OK/NO/BAD/BYE/PREAUTH) */
	struct buf raw;	   /* the whole response without its final CRLF,
			      literals inline */
	const char *text;  /* into raw: after the tag and the status */
};

struct imapc;

/* Connects, greets, authenticates. NULL with a message in err. */
struct imapc *imapc_open(const struct imapc_settings *s, char *err,
			 size_t errsz);
/* LOGOUT (best effort), close. Accepts NULL; NULLs *c. */
void imapc_close(struct imapc **c);

/* Whether the last CAPABILITY seen lists cap (case-insensitive). */
bool imapc_has_cap(const struct imapc *c, const char *cap);
/* The mechanism authentication used ("PREAUTH", "LOGIN", "PLAIN",
 * "SCRAM-SHA-256-PLUS", ...). */
const char *imapc_auth_mech(const struct imapc *c);
const char *imapc_tls_describe(struct imapc *c);

/* Sends "aN " cmd CRLF (cmd holds no literal; pipelining: send more before
 * reading). The tag number into *tag_r. 0 or -1. */
int imapc_send(struct imapc *c, const char *cmd, unsigned *tag_r);
/* Sends "aN " prefix literal suffix CRLF: a non-synchronizing literal
 * {n+} with LITERAL+ (or LITERAL- for n <= 4096), else {n} after the
 * server's "+" (responses read while waiting are an error for this simple
 * client unless untagged: those are skipped). 0 or -1. */
int imapc_send_literal(struct imapc *c, const char *prefix, const void *data,
		       size_t n, const char *suffix, unsigned *tag_r);
/* Flushes queued commands. 0 or -1. */
int imapc_flush(struct imapc *c);
/* Reads the next response into r (initialised with imapc_resp_init). 0,
 * or -1 (connection failed or a response over a limit; see
 * imapc_error). */
void imapc_resp_init(struct imapc_resp *r);
void imapc_resp_deinit(struct imapc_resp *r);
int imapc_read(struct imapc *c, struct imapc_resp *r);

/* Sends cmd and reads up to its tagged response; every untagged response
 * before it is appended to untagged (if not NULL), one per line with
 * CRLF. 0 with r the tagged response (any status), or -1. */
int imapc_run(struct imapc *c, const char *cmd, struct buf *untagged,
	      struct imapc_resp *r);

const char *imapc_error(const struct imapc *c);

#endif
