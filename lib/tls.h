#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H
/* TLS (GnuTLS) on non-blocking sockets: the server side of the login
 * processes and the client side of lib/'s SMTP and IMAP clients.
 *
 * A struct tls_server holds the certificate, key and priority string; load
 * it while the files are still readable (before dropping privileges). A
 * struct tls_conn is one session, doing its I/O directly on the raw fd.
 * Client certificates are requested, never required, and any chain is
 * accepted: the certificate is an identity claim that the auth daemon
 * matches against registered keys (tls_peer_spki_sha256), not a PKI trust
 * decision. GnuTLS still checks the client's proof of possession.
 *
 * Once the transport failed (I/O error, fatal alert, unexpected EOF) the
 * session is marked broken and never touched again: later reads and writes
 * fail with EPIPE and tls_bye does nothing. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TLS_SPKI_SHA256_SIZE 32

struct tls_server;
struct tls_conn;

/* Loads PEM cert (chain) and key files and parses the priority string. 0, or
 * -1 with a static or GnuTLS message in *error_r. */
int tls_server_new(const char *cert_path, const char *key_path,
		   const char *priority, struct tls_server **srv_r,
		   const char **error_r);
/* More certificates, chosen by the client's SNI name (GnuTLS matches it
 * against each certificate's names; no match or no SNI: the first one).
 * list is tls_sni_certs: "CERT:KEY" pairs separated by commas or spaces.
 * 0, or -1 with a message naming the failing pair in *error_r (static). */
int tls_server_add_sni_certs(struct tls_server *srv, const char *list,
			     const char **error_r);
/* Accepts NULL; NULLs *srv. Every tls_conn made from it must be freed first. */
void tls_server_free(struct tls_server **srv);

/* Starts a server session on fd (non-blocking, stays owned by the caller).
 * NULL with *error_r on failure. */
struct tls_conn *tls_conn_new(struct tls_server *srv, int fd,
			      const char **error_r);
/* Frees the session WITHOUT sending close_notify (a forked proxy owns the
 * live copy). Does not close the fd. Accepts NULL; NULLs *conn. */
void tls_conn_free(struct tls_conn **conn);
/* Moves the session to another descriptor number for the same socket (after
 * dup2 in a forked child). */
void tls_conn_set_fd(struct tls_conn *conn, int fd);

enum tls_step {
	TLS_STEP_ERROR = -1,
	TLS_STEP_DONE = 0,
	TLS_STEP_WANT_READ = 1,
	TLS_STEP_WANT_WRITE = 2,
};
/* Advances the handshake as far as the socket allows. On TLS_STEP_ERROR the
 * session is broken and *error_r says why. */
enum tls_step tls_handshake(struct tls_conn *conn, const char **error_r);

/* Reads decrypted bytes: >0 bytes, 0 at end of stream (close_notify or a
 * clean TCP close), -1 with errno EAGAIN (see tls_want_write for the
 * direction) or any other errno with *error_r (the session is now broken).
 * Call again while tls_pending() is true: GnuTLS may hold decrypted data the
 * fd no longer signals. */
ssize_t tls_read(struct tls_conn *conn, void *p, size_t n,
		 const char **error_r);
/* Writes up to n bytes (at most one record): the number taken, or -1 with
 * errno EAGAIN or another errno and *error_r (broken). After EAGAIN the
 * caller must retry with the same bytes at the front of its buffer: GnuTLS
 * has already encrypted them. */
ssize_t tls_write(struct tls_conn *conn, const void *p, size_t n,
		  const char **error_r);
/* Bytes already decrypted inside GnuTLS, readable without fd activity. */
bool tls_pending(struct tls_conn *conn);
/* After EAGAIN from any call: true if the session waits for the fd to become
 * writable, false if readable. */
bool tls_want_write(struct tls_conn *conn);
/* Sends close_notify (one non-blocking attempt; no wait for the peer's). */
void tls_bye(struct tls_conn *conn);
bool tls_is_broken(const struct tls_conn *conn);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" once the handshake is done; valid as long
 * as conn. */
const char *tls_describe(struct tls_conn *conn);
/* SHA-256 of the DER SubjectPublicKeyInfo of the client's leaf certificate
 * into out. 0, or -1 if the client sent none (or it does not parse). */
int tls_peer_spki_sha256(struct tls_conn *conn,
			 unsigned char out[TLS_SPKI_SHA256_SIZE]);

/* Name of the session-ticket key file in run_dir, shared by every login
 * process so a session resumes on any of them; the master deletes it at
 * start so each run uses a fresh key. */
#define TLS_TICKET_KEY_FILE "tls-ticket-key"

/* TLS session resumption (tickets, TLS 1.2 and 1.3) for every session of
 * srv: reads the GnuTLS ticket master key from path (TLS_TICKET_KEY_SIZE
 * bytes, a regular file of ours with mode 0600), creating it atomically if
 * it is missing, so every process loading the same path accepts the others'
 * tickets. Call while path is readable (before dropping privileges). A
 * resumed session still reports the client certificate of the session it
 * resumes (GnuTLS keeps it in the ticket), so key checks see it again. 0,
 * or -1 with a static reason in *error_r. */
#define TLS_TICKET_KEY_SIZE 64
int tls_server_load_ticket_key(struct tls_server *srv, const char *path,
			       const char **error_r);
/* Do not ask this client for a certificate (call before the handshake). */
void tls_conn_no_client_cert(struct tls_conn *conn);
/* The handshake resumed an earlier session. */
bool tls_is_resumed(struct tls_conn *conn);
/* DER of the client's leaf certificate, valid as long as conn. 0, or -1 if
 * the client sent none. */
int tls_peer_cert_der(struct tls_conn *conn, const void **der_r,
		      size_t *len_r);

/* Largest channel-binding value tls_channel_binding returns. */
#define TLS_CB_MAX 64
/* The session's channel binding for SCRAM-*-PLUS: "tls-exporter" (RFC 9266)
 * on TLS 1.3, "tls-unique" (RFC 5929) on TLS 1.2 — the one binding type each
 * version defines safely. *type_r is static, buf gets *len_r bytes. 0, or -1
 * before the handshake completed, on another version or a GnuTLS error. */
int tls_channel_binding(struct tls_conn *conn, const char **type_r,
			unsigned char buf[TLS_CB_MAX], size_t *len_r);

/* What a login process needs to know about a session another process
 * (tls-proxy) holds: captured once the handshake is done and carried over
 * IPC (lib/proxy_client.h). cert points into the session it was captured
 * from (or into the message it was read from). */
#define TLS_DESCRIBE_MAX 96
#define TLS_CB_TYPE_MAX 16
#define TLS_CERT_DER_MAX 16384 /* larger client certificates are not kept */
struct tls_facts {
	char describe[TLS_DESCRIBE_MAX]; /* tls_describe */
	bool resumed;
	char cb_type[TLS_CB_TYPE_MAX]; /* "" if none */
	unsigned char cb[TLS_CB_MAX];
	size_t cb_len;
	bool has_spki;
	unsigned char spki[TLS_SPKI_SHA256_SIZE];
	const void *cert; /* DER of the client's leaf, NULL if none */
	size_t cert_len;
};
void tls_facts_capture(struct tls_conn *conn, struct tls_facts *facts);

/* Client side. A struct tls_client holds what every session to one kind of
 * server shares: the trust anchors, the optional client certificate and the
 * priority string. Unlike the server side, the peer's certificate IS a trust
 * decision here: unless no_verify is set, the handshake fails when the chain
 * does not verify against the CA file (default TLS_SYSTEM_CA) or does not
 * name the host the caller connected to (RFC 6125; an IP literal is matched
 * against iPAddress entries). The sessions then use tls_handshake, tls_read,
 * tls_write, ... above. */
#define TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
/* Client priority: what a server of ours accepts, and nothing older. */
#define TLS_CLIENT_PRIORITY "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls_client_opts {
	const char *ca_file; /* PEM bundle; NULL: TLS_SYSTEM_CA */
	bool no_verify;	     /* tests and explicit admin choice only */
	/* the chain must verify but the host name is not checked: for a
	 * connection to our own listener by address, with our own
	 * certificate as the only trust anchor */
	bool no_name_check;
	/* client certificate: files (key_file alone may hold both) or PEM
	 * text in memory; none when all are NULL */
	const char *cert_file, *key_file;
	const void *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
	const char *priority; /* NULL: TLS_CLIENT_PRIORITY */
};

/* Whether opts name a client certificate. */
bool tls_client_opts_have_cert(const struct tls_client_opts *opts);

struct tls_client;
/* Loads the trust anchors and the client certificate. 0, or -1 with a
 * static or GnuTLS reason in *error_r. */
int tls_client_new(const struct tls_client_opts *opts,
		   struct tls_client **cli_r, const char **error_r);
/* Accepts NULL; NULLs *cli. Free its sessions first. */
void tls_client_free(struct tls_client **cli);
/* The client handshake failed because the server's certificate did not
 * verify or did not name server_name (as opposed to any other TLS
 * failure). */
bool tls_conn_verify_failed(const struct tls_conn *conn);
/* A client session on fd (non-blocking, stays the caller's) to server_name:
 * sent as SNI unless it is an IP literal, and checked against the
 * certificate. NULL with *error_r on failure. Free with tls_conn_free
 * (after tls_bye). */
struct tls_conn *tls_client_conn_new(struct tls_client *cli, int fd,
				     const char *server_name,
				     const char **error_r);

#endif
