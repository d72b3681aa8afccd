#ifndef POSTERN_CLICONN_H
#define POSTERN_CLICONN_H
/* The transport of lib/'s blocking protocol clients (smtpc, imapc): one TCP
 * connection, plaintext or TLS (lib/tls client side), with a timeout on
 * every wait, bounded buffers, and the protocol trace.
 *
 * Blocking contract: every call returns when its work is done, the peer
 * failed, or nothing moved on the socket for timeout_ms (no total deadline:
 * a slow but moving transfer is not cut off). The socket itself is
 * non-blocking and only ever waited on with poll(), so the caller's signal
 * handlers and event loop are untouched; a process with an ioloop (the
 * submission worker) simply blocks in the call, as it would on disk I/O.
 *
 * Errors: a call that fails returns -1 and leaves its class in
 * cliconn_err(c) and a message in cliconn_error(c); the connection is then
 * broken and every later call fails the same way. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "log.h"
#include "saslc.h"
#include "tls.h"
#include "user_settings.h"

/* Trace levels are the accounts' (enum user_trace): USER_TRACE_TRACE
 * shows the protocol with secrets as *** and message data as "... (N
 * bytes)"; _TRACEAUTH adds the secrets; _TRACEDATA adds the data. Lines go
 * to lib/log at info level, as "<name>: C: ..." (client) and "<name>: S:
 * ..." (server). */

/* What a piece of traffic is, for the trace. */
enum cliconn_part {
	CLICONN_PROTO,	/* commands and replies */
	CLICONN_SECRET, /* passwords, SASL responses and challenges */
	CLICONN_DATA,	/* message contents, literals */
	/* a server line that may be a SASL challenge: after "334 " (SMTP)
	 * or "+ " (IMAP) the text is secret, other lines are protocol */
	CLICONN_CHALLENGE,
};

enum cliconn_errclass {
	CLICONN_OK = 0,
	CLICONN_E_RESOLVE,    /* the host name does not resolve */
	CLICONN_E_CONNECT,    /* refused / unreachable (every address) */
	CLICONN_E_TIMEOUT,    /* nothing moved for timeout_ms */
	CLICONN_E_IO,	      /* reset, EOF in the middle, write failed */
	CLICONN_E_TLS,	      /* handshake or record layer failed */
	CLICONN_E_TLS_VERIFY, /* the server's certificate was refused */
	CLICONN_E_PROTOCOL,   /* the peer broke the protocol or a limit */
	CLICONN_E_CONFIG,     /* our TLS settings: unreadable CA/key file */
};

#define CLICONN_DEFAULT_TIMEOUT_MS 300000u /* RFC 5321 4.5.3.2: 5 min */
/* Each connection attempt waits at most this long (or the timeout). */
#define CLICONN_CONNECT_TIMEOUT_MS 30000u
#define CLICONN_DEFAULT_MAX_LINE   8192u

struct cliconn_opts {
	unsigned timeout_ms;	/* 0: CLICONN_DEFAULT_TIMEOUT_MS */
	size_t max_line;	/* longest line cliconn_read_line returns;
				   0: CLICONN_DEFAULT_MAX_LINE */
	enum user_trace trace;
	const char *name;	    /* trace prefix: "smtpc", "imapc" */
	const struct log_ctx *log_ctx; /* copied; NULL: none */
};

struct cliconn;

/* Resolves host (name or IP literal) and connects to the first address of
 * port that answers, each attempt bounded by CLICONN_CONNECT_TIMEOUT_MS
 * (or the timeout if shorter). A resolver failure that may pass
 * (EAI_AGAIN) is CLICONN_E_CONNECT, not CLICONN_E_RESOLVE. Returns a
 * connection, or NULL with *class_r and a message in err (errsz bytes). */
struct cliconn *cliconn_connect(const char *host, const char *port,
				const struct cliconn_opts *opts,
				enum cliconn_errclass *class_r, char *err,
				size_t errsz);
/* Sends close_notify if TLS is up, closes and frees. Accepts NULL; NULLs
 * *c. */
void cliconn_close(struct cliconn **c);

/* TLS handshake on the connection (implicit TLS right after connect, or
 * after the server accepted STARTTLS) with the trust anchors and client
 * certificate of opts (loaded here; CLICONN_E_CONFIG if they cannot be).
 * server_name is checked against the certificate (see
 * tls_client_conn_new). Bytes the server sent before the handshake and not
 * yet consumed are an injection attempt (the CVE-2011-0411 class on the
 * client side): they fail the call with CLICONN_E_PROTOCOL instead of
 * being read as if protected. */
int cliconn_starttls(struct cliconn *c, const struct tls_client_opts *opts,
		     const char *server_name);
bool cliconn_is_tls(const struct cliconn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" without TLS. */
const char *cliconn_tls_describe(struct cliconn *c);
/* Channel binding of the TLS session (see tls_channel_binding). 0 or -1. */
int cliconn_channel_binding(struct cliconn *c, const char **type_r,
			    unsigned char buf[TLS_CB_MAX], size_t *len_r);

/* SASL on this connection, the same for every protocol client: the
 * mechanism is the first of prefs (SASLC_DEFAULT_MECHS when NULL; only
 * "EXTERNAL" without a password) that offered lists and that can work
 * here (TLS, channel binding: saslc_choose). 0, or -1 if none fits. */
int cliconn_sasl_choose(struct cliconn *c, const char *prefs,
			const char *offered, bool have_password,
			bool have_cert, enum saslc_mech *m_r);
/* saslc_new with this connection's channel binding (none without TLS). */
struct saslc *cliconn_saslc_new(struct cliconn *c, enum saslc_mech m,
				const char *user, const char *password,
				bool server_has_plus, const char **error_r);

/* Queues n bytes for sending and traces them as part. Output is bounded
 * only by what the caller queues between flushes; callers streaming a
 * message flush every CLICONN_FLUSH_AT bytes. 0 or -1. */
#define CLICONN_FLUSH_AT 65536u
int cliconn_write(struct cliconn *c, const void *p, size_t n,
		  enum cliconn_part part);
/* Queued bytes not yet sent. */
size_t cliconn_pending_output(const struct cliconn *c);
/* Sends everything queued. 0 or -1. */
int cliconn_flush(struct cliconn *c);

/* The next line from the server without its CRLF (a bare LF also ends a
 * line), as a view valid until the next read call; it is traced as part.
 * Flushes queued output before it waits. 1 line, -1 error (EOF included:
 * a server never ends a session in the middle of a line or without being
 * asked; CLICONN_E_IO "connection closed"). A line longer than max_line is
 * CLICONN_E_PROTOCOL. */
int cliconn_read_line(struct cliconn *c, enum cliconn_part part,
		      const char **line_r, size_t *len_r);
/* Exactly n raw bytes (an IMAP literal) into out, appended; traced as
 * part. 0 or -1. */
int cliconn_read_exact(struct cliconn *c, size_t n, struct buf *out,
		       enum cliconn_part part);
/* Whether the server has sent bytes not yet consumed (after a reply that
 * should have been the last one). Does not wait. */
bool cliconn_has_input(struct cliconn *c);

/* Lowers the timeout to at most ms from now on (for the polite goodbye:
 * QUIT or LOGOUT must not hold a finished transaction for minutes). */
#define CLICONN_BYE_TIMEOUT_MS 5000u
void cliconn_limit_timeout(struct cliconn *c, unsigned ms);

/* Marks the connection failed with class and a message (printf-style),
 * for protocol errors the client finds; returns -1. */
int cliconn_fail(struct cliconn *c, enum cliconn_errclass class,
		 const char *fmt, ...) POSTERN_PRINTF(3, 4);
enum cliconn_errclass cliconn_err(const struct cliconn *c);
const char *cliconn_error(const struct cliconn *c);

#endif
