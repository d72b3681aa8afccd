#ifndef POSTERN_AUTH_TLSKEY_H
#define POSTERN_AUTH_TLSKEY_H
/* Registered TLS client keys. A key is known by its fingerprint (SHA-256 of
 * the certificate's SubjectPublicKeyInfo, unpadded base64url: see
 * lib/x509.h) and belongs to one account; one account may have a key per
 * device. The auth daemon looks keys up per connection, so a change takes
 * effect for the next connection without a restart.
 *
 * Stored in the auth database (authdb.h) under the fingerprint, with a
 * versioned explicit serialisation like the account record. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "buf.h"
#include "x509.h"

#define TLSKEY_NAME_MAX 64
/* the key may authenticate with SASL EXTERNAL only, never by an IMAP
 * PREAUTH greeting */
#define TLSKEY_F_NO_IMAP_PREAUTH 0x1u
#define TLSKEY_F_ALL		 0x1u
/* Encoded record bound: fixed fields plus the largest certificate. */
#define TLSKEY_RECORD_MAX (X509_PEM_MAX + 1024)

struct tlskey {
	char fingerprint[X509_FP_LEN + 1];  /* the db key, not in the record */
	char account[ACCOUNT_ADDR_MAX + 1]; /* canonical address */
	/* the address a certificate login authenticates as: the account's
	 * own or one of its aliases */
	char login[ACCOUNT_ADDR_MAX + 1];
	char name[TLSKEY_NAME_MAX + 1]; /* the admin's label (device) */
	char key_type[32];		/* "Ed25519", "RSA-2048", ... */
	uint64_t created;		/* unix seconds */
	uint32_t flags;			/* TLSKEY_F_* */
	size_t pem_len;
	char pem[X509_PEM_MAX + 1]; /* the certificate, for display */
};

/* A name is 1..TLSKEY_NAME_MAX printable ASCII bytes without tabs: it is
 * shown in tab-separated listings. */
bool tlskey_name_valid(const char *name);

/* 0, or -1 if out overflowed. */
int tlskey_encode(const struct tlskey *k, struct buf *out);
/* Strict parse into k_r (fingerprint left empty). 0, or -1 with a static
 * reason (unknown version, bad lengths, trailing bytes). */
int tlskey_decode(const void *p, size_t len, struct tlskey *k_r,
		  const char **error_r);

/* Admin commands (IPC_T_ADMIN_REQUEST; arguments as documented in
 * lib/ipc_proto.h), run against auth.db. Reply text into out; returns
 * IPC_ADMIN_OK or an IPC_ADMIN_E_* code. */
uint32_t tlskey_admin_add(const char *address, const char *name,
			  const char *flags, const char *pem, struct buf *out);
uint32_t tlskey_admin_list(const char *account, const char *after,
			   struct buf *out);
uint32_t tlskey_admin_show(const char *fingerprint, struct buf *out);
uint32_t tlskey_admin_rm(const char *fingerprint, struct buf *out);

/* What a certificate connection may do, for the mechanisms: looks the
 * client's key up. 1 registered (k_r filled), 0 unknown (or no key: "" or
 * malformed), -1 database error (logged here). */
int tlskey_lookup(const char *fingerprint, struct tlskey *k_r);

#endif
