#ifndef POSTERN_SCRAM_H
#define POSTERN_SCRAM_H
/* SCRAM primitives (RFC 5802, RFC 7677) for SHA-1 and SHA-256, on GnuTLS.
 *
 * A stored secret is what the account database keeps instead of a password:
 * {alg, iterations, salt, StoredKey, ServerKey}. From it the server can check
 * a SCRAM client proof (and a PLAIN password, by re-deriving) and prove
 * itself with ServerSignature, but cannot log in as the user.
 *
 *   SaltedPassword  = PBKDF2-HMAC-H(password, salt, i)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = H(ClientKey)
 *   ServerKey       = HMAC(SaltedPassword, "Server Key")
 *   ClientSignature = HMAC(StoredKey, AuthMessage)
 *   ClientProof     = ClientKey XOR ClientSignature
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 *
 * Passwords are taken as bytes: no SASLprep is applied (accounts are ASCII
 * for now, where SASLprep is the identity for printable characters).
 * Every buffer that held key material is wiped before it is released. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scram_alg {
	/* the values are stored in the account db: never renumber */
	SCRAM_SHA1 = 1,
	SCRAM_SHA256 = 2,
};

#define SCRAM_SHA1_LEN 20
#define SCRAM_SHA256_LEN 32
#define SCRAM_MAX_HASH_LEN 32
/* Salt of new secrets. */
#define SCRAM_SALT_SIZE 16
/* Largest salt accepted from storage or a test vector. */
#define SCRAM_MAX_SALT_LEN 64
/* RFC 7677 section 4: at least 4096. */
#define SCRAM_MIN_ITERATIONS 4096u
/* Upper bound so a damaged record cannot make a verification run for hours. */
#define SCRAM_MAX_ITERATIONS 10000000u

struct scram_secret {
	enum scram_alg alg;
	uint32_t iterations;
	size_t salt_len;
	unsigned char salt[SCRAM_MAX_SALT_LEN];
	/* the first scram_hash_len(alg) bytes are used */
	unsigned char stored_key[SCRAM_MAX_HASH_LEN];
	unsigned char server_key[SCRAM_MAX_HASH_LEN];
};

/* Digest length of alg (20 or 32), 0 for an unknown value. */
size_t scram_hash_len(enum scram_alg alg);
/* "SCRAM-SHA-1" / "SCRAM-SHA-256"; NULL for an unknown value. */
const char *scram_mech_name(enum scram_alg alg);
bool scram_alg_valid(int alg);

/* SaltedPassword into out (scram_hash_len(alg) bytes). iterations must be
 * within [1, SCRAM_MAX_ITERATIONS] (test vectors only go below the minimum).
 * 0, or -1 with *error_r static. */
int scram_salted_password(enum scram_alg alg, const void *password,
			  size_t password_len, const void *salt,
			  size_t salt_len, uint32_t iterations,
			  unsigned char *out, const char **error_r);
/* ClientKey / ServerKey from SaltedPassword; StoredKey from ClientKey.
 * Each writes scram_hash_len(alg) bytes. 0 or -1. */
int scram_client_key(enum scram_alg alg, const unsigned char *salted,
		     unsigned char *out);
int scram_server_key(enum scram_alg alg, const unsigned char *salted,
		     unsigned char *out);
int scram_stored_key(enum scram_alg alg, const unsigned char *client_key,
		     unsigned char *out);

/* Builds a secret from password with the given salt. iterations as for
 * scram_salted_password. 0, or -1 with *error_r static. */
int scram_secret_derive_salt(enum scram_alg alg, const void *password,
			     size_t password_len, const void *salt,
			     size_t salt_len, uint32_t iterations,
			     struct scram_secret *secret_r,
			     const char **error_r);
/* Same with a fresh random SCRAM_SALT_SIZE salt; iterations must be at least
 * SCRAM_MIN_ITERATIONS. */
int scram_secret_derive(enum scram_alg alg, const void *password,
			size_t password_len, uint32_t iterations,
			struct scram_secret *secret_r, const char **error_r);
/* Whether password matches secret. The final comparison is constant-time;
 * the cost (PBKDF2 with secret->iterations) does not depend on the password.
 * false also for an invalid secret. */
bool scram_verify_password(const struct scram_secret *secret,
			   const void *password, size_t password_len);
/* Whether the secret's fields are in range (alg, iterations, salt length). */
bool scram_secret_valid(const struct scram_secret *secret);
void scram_secret_wipe(struct scram_secret *secret);

/* The exchange. auth_message is client-first-message-bare "," server-first-
 * message "," client-final-message-without-proof. Outputs are
 * scram_hash_len(alg) bytes. 0 or -1. */
int scram_client_signature(enum scram_alg alg, const unsigned char *stored_key,
			   const void *auth_message, size_t auth_message_len,
			   unsigned char *out);
int scram_server_signature(enum scram_alg alg, const unsigned char *server_key,
			   const void *auth_message, size_t auth_message_len,
			   unsigned char *out);
/* ClientProof = client_key XOR client_signature (both hash_len bytes). */
void scram_client_proof(enum scram_alg alg, const unsigned char *client_key,
			const unsigned char *client_signature,
			unsigned char *out);
/* Server side: whether proof (proof_len bytes, from the client-final-message)
 * is right for secret and auth_message: recovers ClientKey = proof XOR
 * ClientSignature and compares H(ClientKey) with StoredKey in constant time. */
bool scram_verify_proof(const struct scram_secret *secret,
			const void *auth_message, size_t auth_message_len,
			const unsigned char *proof, size_t proof_len);

/* Constant-time equality of two n-byte strings. */
bool scram_mem_equal(const void *a, const void *b, size_t n);

#endif
