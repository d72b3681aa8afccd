#ifndef POSTERN_SMTPC_H
#define POSTERN_SMTPC_H
/* SMTP client (RFC 5321) for submission and relaying: mailadm sendmail and
 * the submission worker's smarthost relay.
 *
 * Contract: BLOCKING, on its own socket (lib/cliconn), with a timeout on
 * every wait; it never touches the caller's event loop. One struct smtpc is
 * one connection: smtpc_open connects, reads the greeting, says EHLO, does
 * STARTTLS or implicit TLS (certificate verified against tls_opts.ca_file
 * or the system bundle unless tls_opts.no_verify; host name checked), EHLO
 * again and AUTH; then any number of smtpc_send transactions; smtpc_close says QUIT.
 * smtpc_deliver does all three for one message (what the relay does per
 * transaction: nothing is queued, so the worker answers its client with what
 * the smarthost said).
 *
 * Replies: every outcome is a struct smtpc_reply. A reply the server sent
 * has local == false; when the client gives up by itself (connection lost,
 * timeout, TLS refused, no usable AUTH mechanism...) it synthesises one with
 * local == true, a 4xx code for what may work later (4.4.1 no answer, 4.4.2
 * connection lost, 4.7.5 TLS verification) and a 5xx code for what will
 * not (5.7.8 no usable credentials, 5.6.7 SMTPUTF8 unsupported), and err
 * says which class of failure it was.
 *
 * Parsing is incremental and bounded (SMTPC_MAX_LINE per line,
 * SMTPC_MAX_LINES per reply); an overlong or malformed reply fails the
 * connection with SMTPC_E_PROTOCOL. The trace (cliconn levels) shows AUTH
 * payloads as *** and the message as "... (N bytes)" below traceauth and
 * tracedata. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "cliconn.h"
#include "log.h"
#include "password.h"
#include "tls.h"

#define SMTPC_MAX_LINE	2048 /* RFC 5321 says 512; be lenient */
#define SMTPC_MAX_LINES 256  /* lines of one reply (EHLO keywords) */
#define SMTPC_TEXT_MAX	512  /* reply text kept per reply */
#define SMTPC_ENH_MAX	16   /* "5.1.1": class.subject(3).detail(3) */
/* Commands sent in one pipelined group before replies are read. */
#define SMTPC_PIPELINE_MAX 100
/* BDAT chunk size (CHUNKING). */
#define SMTPC_CHUNK (256u * 1024u)

enum smtpc_tls {
	SMTPC_TLS_STARTTLS = 0, /* RFC 3207: refuse to go on without it */
	SMTPC_TLS_IMPLICIT,	/* RFC 8314 */
	SMTPC_TLS_NONE,		/* plaintext (loopback, tests) */
};
/* "starttls", "tls", "none" (the smarthost_tls values): 0, or -1. */
int smtpc_tls_parse(const char *s, enum smtpc_tls *r);

enum smtpc_err {
	SMTPC_OK = 0,
	SMTPC_E_CONFIG,	    /* bad settings: unreadable CA/cert/key file */
	SMTPC_E_RESOLVE,    /* host does not resolve */
	SMTPC_E_CONNECT,    /* connection refused / unreachable */
	SMTPC_E_TIMEOUT,    /* the server stopped answering */
	SMTPC_E_IO,	    /* connection lost */
	SMTPC_E_TLS,	    /* TLS failed, or STARTTLS not offered/refused */
	SMTPC_E_TLS_VERIFY, /* the server's certificate was refused */
	SMTPC_E_PROTOCOL,   /* malformed or overlong reply */
	SMTPC_E_REFUSED,    /* the server refused the session (greeting,
			       EHLO) or the transaction (MAIL, DATA) */
	SMTPC_E_AUTH,	    /* AUTH failed or no usable mechanism */
	SMTPC_E_UNSUPPORTED, /* the message needs an extension (SMTPUTF8)
				the server lacks */
	SMTPC_E_SOURCE,	    /* the caller's message source failed */
};

struct smtpc_reply {
	unsigned code;		/* 200..599; 0 = not reached */
	char enh[SMTPC_ENH_MAX]; /* RFC 3463 code ("2.1.5") or "" */
	/* the text of every line after the code and enhanced code, lines
	 * joined with '\n', cut at SMTPC_TEXT_MAX - 1 bytes */
	char text[SMTPC_TEXT_MAX];
	bool local;	   /* synthesised by the client */
	enum smtpc_err err; /* SMTPC_OK for a 2xx/3xx server reply */
};

struct smtpc_settings {
	const char *host; /* name or IP literal; also the TLS name checked */
	const char *port; /* service name or number */
	enum smtpc_tls tls;
	/* trust anchors (ca_file NULL: TLS_SYSTEM_CA), verification and the
	 * client certificate (files, or PEM text in memory: mailadm
	 * sendmail's on-the-fly certificate) */
	struct tls_client_opts tls_opts;
	/* AUTH: with user and password, the first of mechs the server
	 * offers (default "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256
	 * SCRAM-SHA-1 PLAIN"; PLAIN only inside TLS). With a certificate and
	 * no user, AUTH EXTERNAL if offered, else none (the server may
	 * authenticate the certificate by itself). Neither: no AUTH. */
	const char *user;
	const char *password;
	const char *mechs;
	const char *helo; /* EHLO name; NULL: gethostname() */
	unsigned timeout_ms; /* per wait; 0: CLICONN_DEFAULT_TIMEOUT_MS */
	enum user_trace trace; /* USER_TRACE_NONE: off */
	const struct log_ctx *log_ctx; /* copied; NULL: none */
};

/* One recipient of a transaction. The caller fills addr (and params,
 * RFC 3461 NOTIFY=... or NULL); smtpc_send fills reply with the recipient's
 * FINAL outcome: the RCPT reply when the server refused it, else the reply
 * to the message (or the local failure that stopped the transaction).
 * rcpt_accepted tells whether RCPT itself got 2xx. */
struct smtpc_rcpt {
	const char *addr;
	const char *params;
	struct smtpc_reply reply;
	bool rcpt_accepted;
};

struct smtpc_envelope {
	const char *from; /* "" for the null reverse-path */
	uint64_t size;	  /* message size for SIZE=, 0 unknown */
	bool body_8bit;	  /* BODY=8BITMIME when offered */
	bool smtputf8;	  /* SMTPUTF8: refused locally if not offered */
	struct smtpc_rcpt *rcpts;
	size_t nrcpt;
};

/* The message source: like read(2), >0 bytes, 0 at the end, -1 (errno).
 * The client never needs the whole message in memory: it reads, normalises
 * line ends and dot-stuffs (or chunks for BDAT) as it sends. */
typedef ssize_t smtpc_read_fn(void *ctx, void *buf, size_t n);
/* A smtpc_read_fn reading from the descriptor *(int *)ctx. */
ssize_t smtpc_read_fd(void *ctx, void *buf, size_t n);

struct smtpc;

/* Connects and sets up the session. The connection, or NULL with *fail_r
 * saying why (server reply or local). */
struct smtpc *smtpc_open(const struct smtpc_settings *s,
			 struct smtpc_reply *fail_r);
/* QUIT (best effort), TLS close, free. Accepts NULL; NULLs *c. */
void smtpc_close(struct smtpc **c);

/* One transaction: MAIL, RCPT for each recipient (pipelined with
 * PIPELINING, in groups of SMTPC_PIPELINE_MAX), then the message by BDAT
 * (CHUNKING) or DATA, read from rd(rd_ctx). The message is sent with every
 * line ending as CRLF (bare CR and bare LF become CRLF) and, for DATA,
 * dot-stuffed and terminated. Fills mail_r with the MAIL reply and each
 * recipient's final reply (see struct smtpc_rcpt). Returns the number of
 * recipients the message was delivered to (final 2xx), or -1 when the
 * connection is no longer usable (every reply is still filled; close it).
 * A transaction refused by the server leaves the connection usable (RSET is
 * sent before the next one). */
ssize_t smtpc_send(struct smtpc *c, struct smtpc_envelope *env,
		   smtpc_read_fn *rd, void *rd_ctx, struct smtpc_reply *mail_r);

/* smtpc_open + smtpc_send + smtpc_close: one message to one server, what
 * the relay does per transaction. When the connection cannot be set up,
 * mail_r and every recipient get the failure reply. Returns as
 * smtpc_send, with -1 also for a failed open. */
ssize_t smtpc_deliver(const struct smtpc_settings *s,
		      struct smtpc_envelope *env, smtpc_read_fn *rd,
		      void *rd_ctx, struct smtpc_reply *mail_r);

/* What the server said in its last EHLO. kw is case-insensitive. */
bool smtpc_has_ext(const struct smtpc *c, const char *kw);
/* The parameters after the keyword ("PLAIN SCRAM-SHA-256" for AUTH), ""
 * without, NULL if not offered; valid until smtpc_close. */
const char *smtpc_ext_param(const struct smtpc *c, const char *kw);
/* "TLSv1.3 TLS_AES_..." or "" */
const char *smtpc_tls_describe(struct smtpc *c);
/* The mechanism AUTH succeeded with, "" if none was used. */
const char *smtpc_auth_mech(const struct smtpc *c);

/* "host:port", "[v6addr]:port", or just "host" (then default_port): the
 * smarthost / --server syntax. malloc'd strings into *host_r, *port_r. 0,
 * or -1 with *error_r static. */
int smtpc_hostport_split(const char *s, const char *default_port,
			 char **host_r, char **port_r, const char **error_r);

/* The smarthost from the config keys of "Names to use": smarthost
 * (host:port, default port 587 with starttls and none, 465 with tls),
 * smarthost_tls, smarthost_ca_file ("" = system bundle),
 * smarthost_user and smarthost_password_file (read now, one line, with
 * lib/password: read it before privileges are dropped if only root may).
 * relay->settings is ready for smtpc_deliver; the caller may then set
 * trace, log_ctx, helo and timeout_ms. 0, or -1 with *error_r static. */
struct smtpc_relay {
	struct smtpc_settings settings;
	char *host, *port, *ca_file, *user;
	char password[PASSWORD_MAX + 2];
};
int smtpc_relay_init(struct smtpc_relay *r, const char *smarthost,
		     const char *smarthost_tls, const char *ca_file,
		     const char *user, const char *password_file,
		     const char **error_r);
/* Frees and wipes the password. Accepts a zeroed struct. */
void smtpc_relay_deinit(struct smtpc_relay *r);

/* Incremental reply parser (used by the client; exposed for the unit
 * test). Feed it bytes as they come; it consumes up to the end of one
 * reply. */
struct smtpc_parser {
	struct smtpc_reply reply; /* the reply, once complete */
	/* every line's text (after "ddd-"), '\n'-terminated, for EHLO */
	struct buf lines;
	unsigned nlines;
	/* private */
	struct buf line;
	bool done;
};
void smtpc_parser_init(struct smtpc_parser *p);
void smtpc_parser_deinit(struct smtpc_parser *p);
/* Starts a new reply (after a complete one was taken). */
void smtpc_parser_reset(struct smtpc_parser *p);
/* 1 a reply is complete (*used_r bytes of p consumed; the rest belongs to
 * the next reply), 0 all consumed and more is needed, -1 malformed or over
 * a limit (*error_r static). */
int smtpc_parser_feed(struct smtpc_parser *p, const void *data, size_t len,
		      size_t *used_r, const char **error_r);
/* Parses one complete line (without CRLF) into the reply: 1 that was the
 * last line, 0 more lines follow, -1 malformed. The building block of
 * smtpc_parser_feed, used directly when a line reader already split. */
int smtpc_parser_line(struct smtpc_parser *p, const char *line, size_t len,
		      const char **error_r);

/* Message encoder: CRLF normalisation (bare CR, bare LF and CR LF each
 * become one CRLF) and, with dot_stuff, RFC 5321 4.5.2 transparency. Any
 * split of the input gives the same output. */
struct smtpc_encoder {
	bool dot_stuff;
	/* private */
	bool line_start;
	bool cr_pending;
	uint64_t out_bytes;
};
void smtpc_encoder_init(struct smtpc_encoder *e, bool dot_stuff);
/* Appends the encoding of in to out (at most 2 * len + 2 bytes). 0, or -1
 * on buffer overflow. */
int smtpc_encode(struct smtpc_encoder *e, const void *in, size_t len,
		 struct buf *out);
/* Ends the message: a pending CR becomes CRLF, a last line without an end
 * gets CRLF (a message that is empty stays empty) and, with dot_stuff, the
 * terminating ".\r\n". 0 or -1. */
int smtpc_encode_finish(struct smtpc_encoder *e, struct buf *out);

#endif
