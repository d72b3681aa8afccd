#ifndef POSTERN_IPC_PROTO_H
#define POSTERN_IPC_PROTO_H
/* Message catalogue of every internal channel. Field order is the wire order
 * (see ipc.h for the encoding); doc/ipc.md explains each exchange. peer_id is
 * the requester's id for the request or connection and is echoed in replies.
 *
 * Fixed descriptors of every child the master execs:
 *   fd 3  SEQPACKET channel to the master
 *   fd 4  lifeline: read end of a pipe only the master writes to; EOF means
 *         the master is gone and the process (and its forked helpers) exits. */
#define IPC_FD_MASTER	3
#define IPC_FD_LIFELINE 4
/* login processes and tls-proxy: listeners from fd 5 on, described by
 * --listen FD:NAME:MODE. */
#define IPC_FD_FIRST_LISTENER 5

enum ipc_type {
	/* ---- any child -> master (fd 3) ---- */
	/* set up and serving (auth: sockets listening; login: accepting). empty
	 */
	IPC_T_CHILD_READY = 10,

	/* ---- login process -> auth (socket run/auth-login) ---- */
	/* str mech, str service ("imap"), u64 session, str remote_ip,
	 * u32 flags (IPC_AUTH_F_*), data initial response (only meaningful with
	 * IPC_AUTH_F_HAS_IR), str cb_type ("tls-exporter" on TLS 1.3,
	 * "tls-unique" on TLS 1.2, "" without TLS), data cb_data (the binding
	 * bytes from GnuTLS for cb_type), str client_key (SHA-256 of the client
	 * certificate's SubjectPublicKeyInfo as unpadded base64url, 43 chars;
	 * "" when the client sent no certificate) */
	IPC_T_AUTH_BEGIN = 100,
	/* data client response; flags IPC_AUTH_F_ABORT in u32 first:
	 * u32 flags, data response */
	IPC_T_AUTH_CONTINUE,
	/* ---- auth -> login process ---- */
	/* data server challenge (raw bytes, login base64-encodes for the wire)
	 */
	IPC_T_AUTH_CHALLENGE,
	/* str user (canonical login address), data ticket (IPC_TICKET_SIZE),
	 * data server-final data for the success response (may be empty) */
	IPC_T_AUTH_SUCCESS,
	/* u32 code (IPC_AUTH_FAIL_*), str message for the client */
	IPC_T_AUTH_FAILURE,

	/* ---- master -> auth (socket run/auth-master) ---- */
	/* data ticket, str service */
	IPC_T_TICKET_REDEEM = 200,
	/* ---- auth -> master ---- */
	/* str user (canonical address), str home (absolute path), then the
	 * account's settings as they are at redemption: u64 quota_storage,
	 * u64 quota_messages, u32 trace (user_settings.h) */
	IPC_T_TICKET_USER,
	/* str reason */
	IPC_T_TICKET_INVALID,
	/* ---- master/worker -> auth (socket run/auth-master) ---- */
	/* str address (login name or alias, any spelling) */
	IPC_T_USER_LOOKUP,
	/* ---- auth -> master/worker ---- */
	/* str user (the account's canonical address), str home, u64
	 * quota_storage, u64 quota_messages, u32 trace (user_settings.h) */
	IPC_T_USER_INFO,
	/* str reason ("no such user", "invalid address: ...") */
	IPC_T_USER_UNKNOWN,
	/* ---- auth -> master (peer_id 0, unsolicited), master -> worker ---- */
	/* an admin changed an account's settings: str user (canonical
	 * address), u64 quota_storage, u64 quota_messages, u32 trace
	 * (user_settings.h); the master forwards it unchanged to every worker
	 * of that user */
	IPC_T_USER_SETTINGS,
	/* ---- auth -> master (peer_id 0, unsolicited), master -> worker ---- */
	/* mailadm kick: str user (canonical address); every worker of the
	 * user closes all of its sessions with a goodbye (they may log in
	 * again) */
	IPC_T_USER_KICK,

	/* ---- login process -> master (fd 3) ---- */
	/* fd (client socket or plaintext end of the proxy socketpair);
	 * data ticket, str service, u64 session, str remote_ip, u32
	 * remote_port, str local_ip, u32 local_port, u32 flags
	 * (IPC_HANDOFF_F_*), str tls_info (e.g. "TLSv1.3
	 * TLS_AES_256_GCM_SHA384", "" without TLS), str listener (the
	 * listener's name: "imap", "imaps", "submission", "submissions"), str
	 * resume (the login protocol's state for the worker,
	 * login_client_set_resume: the IMAP tag of the authenticating command,
	 * "" for PREAUTH; submission: "auth EHLO-NAME" or "cert EHLO-NAME"),
	 * data bytes the client sent
	 * after the authenticating command */
	IPC_T_HANDOFF = 300,
	/* ---- master -> login process ---- */
	IPC_T_HANDOFF_OK,   /* empty */
	IPC_T_HANDOFF_FAIL, /* str reason */
	/* stop accepting; exit once no pre-auth connection is left. empty */
	IPC_T_LOGIN_RETIRE,

	/* ---- master -> worker (fd 3) ---- */
	/* fd (plaintext client stream); str user, str home, u64 session,
	 * str remote_ip, u32 remote_port, str local_ip, u32 local_port,
	 * u32 flags (IPC_HANDOFF_F_*), str tls_info, str listener, str resume,
	 * data pending, then the account's settings from the redemption: u64
	 * quota_storage, u64 quota_messages, u32 trace (user_settings.h) */
	IPC_T_CLIENT = 400,
	/* the worker may exit once its connections are done. empty */
	IPC_T_WORKER_QUIT,
	/* ---- worker -> master ---- */
	/* no connection for worker_idle_timeout: asks to be retired. empty */
	IPC_T_WORKER_IDLE,

	/* ---- mailadm -> auth (socket run/auth-admin) ---- */
	/* str command ("user-add", "user-del", "user-passwd", "user-list",
	 * "user-show ACCOUNT", "user-alias-add ACCOUNT ADDRESS",
	 * "user-quota ACCOUNT STORAGE MESSAGES" (each "none", a number, a
	 * number with K/M/G/T (binary) for STORAGE, or "-" = unchanged),
	 * "user-trace ACCOUNT LEVEL", "user-kick ACCOUNT",
	 * "user-alias-del ADDRESS", "tlskey-add ADDRESS NAME FLAGS PEM" (NAME
	 * "" = the certificate's subject, FLAGS "" or "no-imap-preauth"),
	 * "tlskey-list [ACCOUNT [AFTER]]" (paged like user-list by
	 * fingerprint; ACCOUNT "" = every key), "tlskey-show FINGERPRINT",
	 * "tlskey-rm FINGERPRINT"), u32 argc, then argc str arguments (a
	 * password travels as an argument and is wiped after use) */
	IPC_T_ADMIN_REQUEST = 500,
	/* ---- auth -> mailadm ---- */
	/* u32 status (0 ok, else an IPC_ADMIN_E_* code), str text (one line for
	 * errors; for listings, one item per line) */
	IPC_T_ADMIN_REPLY,

	/* ---- tls-proxy -> master (fd 3) ---- */
	/* fd (plaintext end of a socketpair; the proxy relays the other end
	 * to the client's TLS session for the connection's whole life);
	 * u64 session, str listener, str remote_ip, u32 remote_port,
	 * str local_ip, u32 local_port, str tls_info, u32 resumed (0/1),
	 * str cb_type, data cb_data, data client_spki (SHA-256, 32 bytes,
	 * or empty), data client_cert (DER, at most TLS_CERT_DER_MAX, or
	 * empty), u32 plain (1: a plaintext listener, no TLS yet: every TLS
	 * field empty), u32 proxy_pid (0 from the proxy; the master writes
	 * the sender's pid): lib/proxy_client.h */
	IPC_T_PROXY_CLIENT = 600,
	/* ---- master -> login process (fd 3) ---- */
	/* the same fd and fields: a new pre-auth connection on the listener's
	 * service, under TLS or (plain) not yet */
	IPC_T_LOGIN_CLIENT,
	/* ---- login process -> master (fd 3) ---- */
	/* STARTTLS accepted on a proxied plain connection; peer_id = the login
	 * process's client id. u32 proxy_pid (from LOGIN_CLIENT), u64 session,
	 * u64 fence (bytes the login process wrote to the socketpair so far),
	 * data reply (its queued output, ending with the go-ahead, never
	 * written to the socketpair: the proxy sends it in plaintext after
	 * the first fence bytes, then starts the handshake) */
	IPC_T_LOGIN_STARTTLS,
	/* ---- master -> tls-proxy (fd 3) ---- */
	/* peer_id kept; u32 login_pid (the sender), u64 session, u64 fence,
	 * data reply */
	IPC_T_PROXY_STARTTLS,
	/* ---- tls-proxy -> master ---- */
	/* the STARTTLS handshake finished; peer_id kept. u32 login_pid, u64
	 * up_fence (client bytes the proxy forwarded in plaintext: the login
	 * process discards them unread), then the IPC_T_PROXY_CLIENT record
	 * (plain 0). A failed handshake sends nothing: the proxy closes. */
	IPC_T_PROXY_TLS,
	/* ---- master -> login process ---- */
	/* peer_id kept; u64 up_fence, the record */
	IPC_T_LOGIN_TLS,
};

/* IPC_T_AUTH_BEGIN flags */
#define IPC_AUTH_F_HAS_IR  0x1u /* SASL-IR present (may be empty: "=") */
#define IPC_AUTH_F_SECURED 0x2u /* TLS is up (plaintext mechanisms allowed) */
#define IPC_AUTH_F_ABORT   0x4u /* in AUTH_CONTINUE: client sent "*" */
/* certificate login attempted right after the TLS handshake (mech EXTERNAL,
 * empty authzid): succeeds only for a registered key whose IMAP preauth is
 * not disabled; IPC_AUTH_FAIL_NO_PREAUTH says the key is known but wants an
 * explicit AUTHENTICATE EXTERNAL */
#define IPC_AUTH_F_PREAUTH 0x8u
/* with IPC_AUTH_F_PREAUTH: only report whether the client key is registered
 * (IPC_AUTH_FAIL_NO_PREAUTH if it is, CREDENTIALS if not); never succeeds.
 * Used after STARTTLS to decide whether to offer AUTH=EXTERNAL. */
#define IPC_AUTH_F_PROBE 0x10u

/* IPC_T_AUTH_FAILURE codes */
#define IPC_AUTH_FAIL_CREDENTIALS 1 /* -> NO [AUTHENTICATIONFAILED] */
#define IPC_AUTH_FAIL_MECH	  2 /* unknown/disallowed mechanism -> BAD/NO */
#define IPC_AUTH_FAIL_MALFORMED	  3 /* bad client message -> NO/BAD */
#define IPC_AUTH_FAIL_ABORTED	  4 /* client aborted -> BAD */
#define IPC_AUTH_FAIL_TEMP	  5 /* -> NO [UNAVAILABLE] */
#define IPC_AUTH_FAIL_NO_PREAUTH 6 /* known key, preauth disabled */
#define IPC_AUTH_FAIL_THROTTLED 7  /* too many failures: cooling down */

/* IPC_T_HANDOFF / IPC_T_CLIENT flags */
#define IPC_HANDOFF_F_TLS 0x1u
/* authenticated by client certificate without an authenticating command
 * (login_client_auth_preauth): IMAP greets with "* PREAUTH [CAPABILITY ...]"
 * instead of a tagged OK; submission owes no 235 */
#define IPC_HANDOFF_F_PREAUTH 0x2u

/* IPC_T_ADMIN_REPLY codes (also mailadm's exit status) */
#define IPC_ADMIN_OK	     0
#define IPC_ADMIN_E_USAGE    2
#define IPC_ADMIN_E_EXISTS   3
#define IPC_ADMIN_E_NOTFOUND 4
#define IPC_ADMIN_E_INVALID  5
#define IPC_ADMIN_E_INTERNAL 6
#define IPC_ADMIN_E_DENIED   7

#define IPC_TICKET_SIZE 32
/* A ticket must be redeemed within this many seconds, once. */
#define IPC_TICKET_TTL_S 30

/* Socket names under config run_dir. */
#define IPC_SOCK_AUTH_LOGIN  "auth-login"
#define IPC_SOCK_AUTH_MASTER "auth-master"
#define IPC_SOCK_AUTH_ADMIN  "auth-admin"

#endif
