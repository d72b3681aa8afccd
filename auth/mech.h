#ifndef POSTERN_AUTH_MECH_H
#define POSTERN_AUTH_MECH_H
/* SASL mechanisms run by the auth daemon. A mechanism is a table entry with
 * a step function fed each client message in turn (the initial response
 * first, when the client sent one); it answers with a challenge, success
 * (with optional server-final data) or failure. The login connection code
 * owns the exchange and the IPC; mechanisms never see a socket.
 *
 * A mechanism keeps its per-exchange state in req->mech_ctx (freed by
 * deinit), reaches accounts through mech_lookup_account and finds the TLS
 * facts the login process sent (channel binding, client key) in struct
 * mech_request; -PLUS forms carry MECH_F_CHANNEL_BINDING and are refused
 * before they run when there is no binding (no TLS). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "buf.h"
#include "log.h"

/* The mechanism sends the password itself: only allowed under TLS. */
#define MECH_F_PLAINTEXT 0x1u
/* Without an initial response the mechanism speaks first: its step runs
 * with empty input and its challenge replaces the usual empty one. */
#define MECH_F_SERVER_FIRST 0x4u
/* Needs TLS channel-binding data from the login process (-PLUS). */
#define MECH_F_CHANNEL_BINDING 0x2u

/* Server challenges and final data are bounded by the IPC payload. */
#define MECH_MAX_OUT 4096
/* Channel-binding bytes accepted from the login process (tls-exporter is
 * 32, tls-unique 12 or 36). */
#define MECH_CB_MAX 64
/* Client key fingerprint: 43 base64url characters + NUL. */
#define MECH_CLIENT_KEY_SIZE 44
/* Client messages a single exchange may take before it is refused. */
#define MECH_MAX_STEPS 4

enum mech_status {
	MECH_CONTINUE, /* send req->out as a challenge and wait */
	MECH_SUCCESS,  /* req->user set; req->out is server-final data */
	MECH_FAILURE,  /* req->fail_code and req->fail_reason set */
};

struct mech;

struct mech_request {
	const struct mech *mech;
	uint32_t flags; /* IPC_AUTH_F_* from AUTH_BEGIN */
	char service[32];
	struct log_ctx log; /* session and remote ip of the client */
	/* from AUTH_BEGIN, validated there: the TLS channel binding ("" and
	 * cb_len 0 without TLS) and the client certificate's key
	 * (base64url SHA-256 of its SPKI, 43 chars, or "") */
	char cb_type[16];
	unsigned char cb_data[MECH_CB_MAX];
	size_t cb_len;
	char client_key[MECH_CLIENT_KEY_SIZE];

	struct buf out;
	uint32_t fail_code;      /* IPC_AUTH_FAIL_* */
	const char *fail_reason; /* one hyphenated token for the log */
	/* static message for the client instead of the generic one of
	 * fail_code (SCRAM: the RFC 5802 "e=..." value); NULL = generic */
	const char *fail_text;
	/* the name the client claimed, as sent (for the log only) */
	char attempted[ACCOUNT_ADDR_MAX + 2];
	char user[ACCOUNT_ADDR_MAX + 1]; /* canonical, on success */

	void *mech_ctx;
	unsigned steps;
};

struct mech {
	const char *name;
	unsigned flags;
	/* One client message (may be empty). Never called again after it
	 * returned MECH_SUCCESS or MECH_FAILURE. */
	enum mech_status (*step)(struct mech_request *req,
				 const unsigned char *in, size_t len);
	/* Frees req->mech_ctx; NULL if the mechanism keeps no state. */
	void (*deinit)(struct mech_request *req);
};

/* Case-insensitive lookup; NULL for an unknown mechanism. */
const struct mech *mech_find(const char *name);

void mech_request_init(struct mech_request *req, const struct mech *mech);
void mech_request_deinit(struct mech_request *req);

/* What mechanisms use to reach accounts (implemented by the daemon).
 * Looks up the name a client gave. 1 found (acct_r filled, address
 * canonical; account_wipe it after use), 0 no such account or an impossible
 * name, -1 database error (logged here). */
int mech_lookup_account(const char *name, size_t len, struct account *acct_r);
/* A secret to verify against when the account does not exist, so that an
 * unknown user costs the same time as a wrong password. */
const struct scram_secret *mech_dummy_secret(void);

/* Helpers for step functions. */
enum mech_status mech_fail(struct mech_request *req, uint32_t code,
			   const char *reason);
void mech_set_attempted(struct mech_request *req, const unsigned char *name,
			size_t len);

/* The password check of PLAIN and LOGIN: pw (pwlen > 0, no NUL) for the
 * account authcid names, SASLprep'ed, with the same work and answer for
 * an unknown account as for a wrong password. MECH_SUCCESS (req->user
 * set) or a failure set in req. */
enum mech_status mech_password_check(struct mech_request *req,
				     const unsigned char *authcid, size_t clen,
				     const unsigned char *pw, size_t pwlen);

extern const struct mech mech_plain;
/* LOGIN (draft-murchison-sasl-login): user name, then password, each in
 * reply to a challenge; for older clients and Outlook, TLS only. */
extern const struct mech mech_login;
extern const struct mech mech_scram_sha256_plus;
extern const struct mech mech_scram_sha256;
extern const struct mech mech_scram_sha1_plus;
extern const struct mech mech_scram_sha1;
/* EXTERNAL (RFC 4422 appendix A): the TLS client certificate's registered
 * key (req->client_key) authenticates its account; with IPC_AUTH_F_PREAUTH
 * the attempt made right after the handshake (mech_external.c). */
extern const struct mech mech_external;

/* Not every login on a certificate connection may succeed: when
 * req->client_key is a registered key, whatever mechanism authenticated
 * req->user must have reached the key's own account. Call on MECH_SUCCESS;
 * 0 allowed, -1 with req->fail_code/fail_reason set. */
int mech_check_client_key(struct mech_request *req);

#endif
