#ifndef POSTERN_SASLC_H
#define POSTERN_SASLC_H
/* SASL client mechanisms for lib/'s SMTP and IMAP clients: PLAIN
 * (RFC 4616), EXTERNAL (RFC 4422 appendix A), SCRAM-SHA-1/256 and their
 * -PLUS forms (RFC 5802, RFC 7677) with tls-unique / tls-exporter channel
 * binding, on lib/scram's primitives. The protocol client does the framing
 * and base64; this module sees raw challenge and response bytes.
 *
 * SCRAM checks the server too: the exchange only counts as done
 * (saslc_done) after the server's ServerSignature verified; a success
 * reply without it is a failure for the caller. User name and password go
 * through SASLprep (query mode); key material is wiped on free. */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum saslc_mech {
	SASLC_PLAIN,
	SASLC_EXTERNAL,
	SASLC_SCRAM_SHA1,
	SASLC_SCRAM_SHA1_PLUS,
	SASLC_SCRAM_SHA256,
	SASLC_SCRAM_SHA256_PLUS,
};

/* The mechanisms a client with a password tries, best first. */
#define SASLC_DEFAULT_MECHS                                                    \
	"SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN"

/* Case-insensitive name -> mechanism: 0, or -1 for one we do not have. */
int saslc_mech_parse(const char *name, size_t len, enum saslc_mech *m_r);
const char *saslc_mech_name(enum saslc_mech m);

/* Picks the first mechanism of prefs (space-separated) that offered (the
 * server's space-separated list) contains and that can work here: -PLUS
 * needs have_cb, PLAIN needs tls (a password is never sent in clear),
 * EXTERNAL needs have_cert, the others a password. 0, or -1 if none fits. */
int saslc_choose(const char *prefs, const char *offered, bool tls,
		 bool have_cb, bool have_password, bool have_cert,
		 enum saslc_mech *m_r);

struct saslc_params {
	const char *user;     /* authentication identity (PLAIN, SCRAM) */
	const char *password; /* PLAIN, SCRAM */
	/* the TLS session's channel binding (SCRAM; NULL without TLS) */
	const char *cb_type;
	const unsigned char *cb_data;
	size_t cb_len;
	/* the server offered a -PLUS mechanism (else a client that could
	 * bind says "y": RFC 5802 downgrade detection) */
	bool server_has_plus;
};

struct saslc;

/* NULL with *error_r static (SASLprep refused the name or password,
 * out of memory, -PLUS without channel binding). */
struct saslc *saslc_new(enum saslc_mech m, const struct saslc_params *p,
			const char **error_r);
/* Wipes and frees. Accepts NULL; NULLs *s. */
void saslc_free(struct saslc **s);

/* The next response, appended to out: the initial response when called
 * first (challenge ignored), then one per server challenge. 0, or -1 with
 * *error_r static (the server's message is malformed, its nonce or
 * signature is wrong, it sent e=...): the caller cancels the exchange. */
int saslc_step(struct saslc *s, const void *challenge, size_t len,
	       struct buf *out, const char **error_r);
/* The exchange has produced its last response and, for SCRAM, the server
 * proved it knows the password. */
bool saslc_done(const struct saslc *s);

#endif
