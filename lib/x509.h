#ifndef POSTERN_X509_H
#define POSTERN_X509_H
/* Client certificates as Postern uses them: a certificate is only a carrier
 * for a public key. Its identity is the SHA-256 of the DER
 * SubjectPublicKeyInfo as unpadded base64url (x509_fingerprint); names,
 * dates, issuer and key usage are shown to the admin and logged, never
 * checked. Used by postern-auth (registering a key), mailadm (tlskey gen,
 * local checks) and the login processes (logging an unknown key). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* 32 bytes in unpadded base64url */
#define X509_FP_LEN	 43
#define X509_SHA256_SIZE 32
/* DNs are cut to this for display and logs */
#define X509_DN_MAX 256
/* Largest PEM certificate accepted for registration */
#define X509_PEM_MAX 16384

struct x509_cert_info {
	char fingerprint[X509_FP_LEN + 1];
	/* "RSA-2048", "ECDSA-P256", "Ed25519", ... */
	char key_type[32];
	/* NULL if the key is acceptable for registration, else why not */
	const char *key_problem;
	char subject[X509_DN_MAX];
	char issuer[X509_DN_MAX];
	int64_t not_before, not_after; /* unix seconds; -1 unknown */
};

/* Unpadded base64url of a SHA-256 into out (X509_FP_LEN + 1 bytes). */
void x509_fingerprint(const unsigned char sha[X509_SHA256_SIZE],
		      char out[X509_FP_LEN + 1]);
/* True for a string that has the form of a fingerprint (43 base64url
 * characters); says nothing about whether it is registered. */
bool x509_fingerprint_valid(const char *s);

/* True if the text holds a PEM private key of any kind (PKCS#1, PKCS#8,
 * SEC1, encrypted, OpenSSH): such input must never be stored or sent. */
bool x509_pem_has_private_key(const void *p, size_t len);

/* Parses the first certificate of PEM text (a chain may follow: only the
 * leaf counts) into info_r, and its re-encoded PEM into pem_r if non-NULL
 * (appended). Refuses text holding a private key. Weak or unsupported keys
 * are NOT refused here: info_r->key_problem says why they would be. 0, or
 * -1 with a static reason in *error_r. */
int x509_parse_pem(const void *pem, size_t len, struct x509_cert_info *info_r,
		   struct buf *pem_r, const char **error_r);
/* The same for one DER certificate (from the TLS handshake). */
int x509_parse_der(const void *der, size_t len, struct x509_cert_info *info_r,
		   const char **error_r);

/* What a generated self-signed certificate says. Always v3, a random
 * serial, not a CA, key usage digitalSignature. */
struct x509_gen {
	const char *cn;
	const char *org;      /* O=, or NULL */
	const char *dns_name; /* subjectAltName dNSName, or NULL */
	bool loopback_ips;    /* subjectAltName 127.0.0.1 and ::1 */
	bool server;          /* serverAuth; else clientAuth */
	bool ed25519;         /* Ed25519; else ECDSA P-256 with SHA-256 */
	time_t not_before, not_after;
};
/* Makes a fresh key and a self-signed certificate for it as g says; the
 * PKCS#8 key and the certificate are appended as PEM to key_pem and
 * cert_pem. 0, or -1 with a static or GnuTLS reason in *error_r. */
int x509_generate(const struct x509_gen *g, struct buf *key_pem,
		  struct buf *cert_pem, const char **error_r);

/* Makes a fresh Ed25519 key and a minimal self-signed certificate for it:
 * subject CN=cn, valid from 1970 to 9999-12-31 (RFC 5280's "no well-defined
 * expiration"), not a CA, digitalSignature, clientAuth. The PKCS#8 key and
 * the certificate are appended as PEM to key_pem and cert_pem. 0, or -1
 * with a static or GnuTLS reason in *error_r. */
int x509_generate_ed25519(const char *cn, struct buf *key_pem,
			  struct buf *cert_pem, const char **error_r);

/* The same minimal certificate for an existing private key (PEM: PKCS#8,
 * PKCS#1 or SEC1, unencrypted; Ed25519 is what mailadm tlskey gen makes),
 * so a client holding only its key can present it: the certificate is
 * appended as PEM to cert_pem. The key is the identity; the certificate
 * made here is a different one each time, and that does not matter. 0, or
 * -1 with a static or GnuTLS reason in *error_r. */
int x509_cert_for_key(const void *key_pem, size_t key_len, const char *cn,
		      struct buf *cert_pem, const char **error_r);

#endif
