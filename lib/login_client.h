#ifndef POSTERN_LOGIN_CLIENT_H
#define POSTERN_LOGIN_CLIENT_H
/* The protocol-neutral pre-auth client shared by imap-login and
 * submission-login: accepting on the shared listeners, TLS (implicit and
 * STARTTLS), bounded input/output buffers, idle timeout, the SASL relay to
 * postern-auth, the failure delay, the hand-off to the master and the TLS
 * proxy that stays behind for a handed-off TLS connection.
 *
 * A protocol supplies a struct login_proto and only ever sees its grammar:
 * bytes arrive in client->in, replies go out with login_client_send*.
 *
 * Lifetime: a client is never freed inside a call made by the protocol.
 * login_client_close() marks it closing (the protocol must then stop touching
 * it beyond returning), flushes what was queued and frees it from the loop.
 *
 * Process model (see login_service_main): one process serves many pre-auth
 * connections. With the tls-proxy pool they arrive from a proxy over a
 * socketpair (implicit TLS done, or plaintext with STARTTLS still to come:
 * login_client_starttls asks the proxy to switch); without it a handed-off
 * TLS connection moves to a forked proxy process. Either way killing the
 * pool process loses only pre-auth connections. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "log.h"
#include "trace.h"

struct config;
struct login_client;
struct tls_conn;

/* Why the library ends a connection on its own; the protocol words it. */
enum login_bye {
	LOGIN_BYE_IDLE, /* login_idle_timeout passed */
	LOGIN_BYE_AUTH_UNAVAILABLE, /* the auth daemon went away */
	LOGIN_BYE_SHUTDOWN, /* the process is stopping */
};

struct login_proto {
	/* "imap", "submission": the service sent to auth and the master */
	const char *service;
	/* process name for logs ("imap-login") */
	const char *process;

	/* A client is ready to talk (implicit TLS: after the handshake). Sets
	 * client->proto_ctx and queues the greeting. -1 closes the client. */
	int (*client_new)(struct login_client *client);
	/* Frees proto_ctx. Called exactly once for every client_new that
	 * returned 0. */
	void (*client_free)(struct login_client *client);
	/* Bytes arrived in client->in (also called with nothing new, to make
	 * the protocol look at what it left there after it was busy). */
	void (*input)(struct login_client *client);
	/* The STARTTLS handshake finished (may be NULL). */
	void (*starttls_done)(struct login_client *client);
	/* Queue a farewell line for a library-initiated close. */
	void (*bye)(struct login_client *client, enum login_bye why);

	/* The SASL exchange asks the client for more: data is the raw
	 * challenge (the protocol encodes it). */
	void (*auth_challenge)(struct login_client *client,
			       const unsigned char *data, size_t len);
	/* Authentication succeeded: user is the canonical login, data the
	 * server-final data (often empty). The protocol sends data if any and
	 * then calls login_client_handoff(). */
	void (*auth_success)(struct login_client *client, const char *user,
			     const unsigned char *data, size_t len);
	/* Authentication failed (code IPC_AUTH_FAIL_*); credential failures
	 * arrive only after login_auth_failure_delay. */
	void (*auth_failure)(struct login_client *client, uint32_t code,
			     const char *message);
	/* The master could not take the connection. The protocol answers and
	 * normally closes. */
	void (*handoff_failed)(struct login_client *client, const char *reason);
};

struct login_client {
	/* ---- read-only for the protocol ---- */
	uint64_t session; /* random, born at accept, carried to the worker */
	struct log_ctx log; /* session + remote for clog_* */
	int fd;
	char remote_ip[64];
	unsigned remote_port;
	char local_ip[64];
	unsigned local_port;
	char listener[32]; /* listener name from --listen */
	bool implicit_tls; /* accepted on a tls listener */
	struct tls_conn *tls; /* non-NULL once TLS is up (or handshaking) */
	bool secured; /* TLS handshake completed */
	bool closing; /* login_client_close was called */
	bool authenticating; /* a SASL exchange is waiting for auth */
	bool handing_off; /* success reported; input is frozen */

	/* ---- the protocol's ---- */
	struct buf in; /* unread client bytes; max config login_max_line */
	/* protocol trace at the configured trace_level: login_client_send
	 * traces all output, the protocol traces what its parser consumed */
	struct trace trace;
	void *proto_ctx;

	/* ---- library internals (login_private.h) ---- */
	struct login_client_priv *priv;
};

/* Queues output. Never fails visibly: if the output buffer overflows the
 * client is closed (a pre-auth client cannot make us buffer without limit). */
void login_client_send(struct login_client *client, const void *p, size_t n);
void login_client_send_str(struct login_client *client, const char *s);
void login_client_printf(struct login_client *client, const char *fmt, ...)
	POSTERN_PRINTF(2, 3);

/* Flushes queued output, then closes (TLS close_notify included). reason is
 * logged. Idempotent. */
void login_client_close(struct login_client *client, const char *reason);

/* The protocol accepted STARTTLS and queued its "go ahead": everything
 * still in client->in is discarded now (pipelined plaintext must never be
 * read as if it came over TLS), reading stops until the go-ahead is flushed,
 * then the handshake runs (on a proxied connection the tls-proxy sends the
 * go-ahead and does the handshake; what it forwarded before is dropped
 * unread). starttls_done follows. The protocol resets its own parser. */
void login_client_starttls(struct login_client *client);
/* Whether STARTTLS may still be offered (plaintext listener, no TLS yet). */
bool login_client_can_starttls(const struct login_client *client);

/* The protocol's resume state: one line of text that travels with the
 * hand-off (IPC_T_HANDOFF "resume") so the worker can continue where the
 * login process stopped -- the IMAP tag of the authenticating command, the
 * SMTP EHLO name and whether a success reply is still owed. The worker
 * checks it as untrusted input. Copied; replaces any earlier value. 0, or
 * -1 if longer than LOGIN_RESUME_MAX or out of memory. */
#define LOGIN_RESUME_MAX 1024
int login_client_set_resume(struct login_client *client, const char *resume);

/* Starts a SASL exchange at auth. ir (len ir_len) is the initial response
 * when has_ir (it may be empty). resume is set as by login_client_set_resume
 * (NULL keeps the current value; "" when there is nothing to carry). user_hint (may be NULL) names
 * the claimed login in the log line of a failure. Input processing is the
 * protocol's business: it should not parse further commands until one of
 * the auth_* callbacks. 0, or -1 if the auth daemon is unreachable or resume
 * is too long (the protocol answers a temporary failure). */
int login_client_auth_begin(struct login_client *client, const char *mech,
			    const void *ir, size_t ir_len, bool has_ir,
			    const char *resume, const char *user_hint);
/* The same with extra IPC_AUTH_F_* flags (HAS_IR and SECURED are added
 * here). */
int login_client_auth_begin_flags(struct login_client *client,
				  const char *mech, const void *ir,
				  size_t ir_len, bool has_ir,
				  const char *resume,
				  const char *user_hint, uint32_t flags);
/* Certificate login without a command (IMAP: right after the implicit TLS
 * handshake, for a PREAUTH greeting; SMTP: at the first MAIL without AUTH):
 * mech EXTERNAL, empty initial response and authzid, IPC_AUTH_F_PREAUTH;
 * the resume state is left as it is. The hand-off then carries
 * IPC_HANDOFF_F_PREAUTH. The answer comes through the usual callbacks:
 * auth_success (the protocol hands off) or auth_failure (code
 * IPC_AUTH_FAIL_NO_PREAUTH: a known key that wants an explicit EXTERNAL
 * (IMAP keys registered without preauth); IPC_AUTH_FAIL_THROTTLED; anything
 * else: an unknown key). A failure here is never delayed. 0, or -1 if the
 * client sent no certificate or auth is unreachable. */
int login_client_auth_preauth(struct login_client *client);
/* Unpadded base64url SHA-256 of the client certificate's SubjectPublicKeyInfo
 * (43 characters + NUL) into out. 0, or -1 (no TLS or no certificate; out is
 * then ""). */
#define LOGIN_CLIENT_KEY_SIZE 44
int login_client_key(struct login_client *client,
		     char out[LOGIN_CLIENT_KEY_SIZE]);
/* Logs the client certificate (fingerprint, key type, subject, issuer) with
 * `what` ("unregistered"): names and issuer are client claims, for the
 * admin to recognise a device, never checked. Nothing without one. */
void login_client_log_cert(struct login_client *client, const char *what);
/* Names the claimed login for the log once the protocol learns it (a SASL
 * response after the command). Copied; truncated names are dropped. */
void login_client_set_user_hint(struct login_client *client, const char *user);
/* The login name a SASL message claims (PLAIN authcid, SCRAM n=), for the
 * log only (escapes left as sent); LOGIN: the user-name message, never the
 * password one; "" if none. */
void login_sasl_user_hint(const char *mech, const unsigned char *p, size_t n,
			  char *out, size_t outsz);
/* Whether an auth failure message is a SCRAM server-error ("e=" and
 * [a-z-], RFC 5802) -- the one text from auth a client may see. */
bool login_scram_error_valid(const char *message);
/* Relays the client's response to the last challenge. */
void login_client_auth_continue(struct login_client *client, const void *p,
				size_t n);
/* The client cancelled: auth is told, any later reply of this exchange is
 * ignored, and no callback follows (the protocol answers by itself). */
void login_client_auth_abort(struct login_client *client);

/* Hands the connection to the master after auth_success. Whatever is still
 * in client->in travels as the pending bytes, once. The protocol gets no
 * further input; on failure handoff_failed is called. */
void login_client_handoff(struct login_client *client);

/* Runs a login process: parses -c/--listen, loads config and TLS, drops
 * privileges, connects to auth, tells the master it is ready and serves until
 * retired or orphaned. Returns the exit status for main. */
int login_service_main(const struct login_proto *proto, int argc, char *argv[]);
/* Runs a tls-proxy (config tls_proxy_processes): accepts on the
 * listeners it is given, does the handshake (implicit TLS at once, on a
 * plaintext listener when the login process relays STARTTLS), hands the
 * plaintext side to a login process through the master and relays for the
 * rest of each connection, many connections per process
 * (tls_proxy_max_clients). Returns the exit status for main. */
int login_tlsproxy_main(int argc, char *argv[]);
/* The loaded configuration (valid inside login_service_main). */
const struct config *login_service_config(void);

#endif
