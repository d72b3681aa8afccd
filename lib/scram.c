#include "scram.h"

#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "rand.h"

static const char client_key_label[] = "Client Key";
static const char server_key_label[] = "Server Key";

size_t scram_hash_len(enum scram_alg alg)
{
	switch (alg) {
	case SCRAM_SHA1:
		return SCRAM_SHA1_LEN;
	case SCRAM_SHA256:
		return SCRAM_SHA256_LEN;
	}
	return 0;
}

const char *scram_mech_name(enum scram_alg alg)
{
	switch (alg) {
	case SCRAM_SHA1:
		return "SCRAM-SHA-1";
	case SCRAM_SHA256:
		return "SCRAM-SHA-256";
	}
	return NULL;
}

bool scram_alg_valid(int alg)
{
	return alg == SCRAM_SHA1 || alg == SCRAM_SHA256;
}

static gnutls_mac_algorithm_t mac_alg(enum scram_alg alg)
{
	return alg == SCRAM_SHA1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
}

static gnutls_digest_algorithm_t dig_alg(enum scram_alg alg)
{
	return alg == SCRAM_SHA1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
}

bool scram_mem_equal(const void *a, const void *b, size_t n)
{
	return gnutls_memcmp(a, b, n) == 0;
}

int scram_salted_password(enum scram_alg alg, const void *password,
			  size_t password_len, const void *salt,
			  size_t salt_len, uint32_t iterations,
			  unsigned char *out, const char **error_r)
{
	if (scram_hash_len(alg) == 0) {
		*error_r = "unknown SCRAM algorithm";
		return -1;
	}
	if (iterations == 0 || iterations > SCRAM_MAX_ITERATIONS) {
		*error_r = "SCRAM iteration count out of range";
		return -1;
	}
	if (salt_len == 0 || salt_len > SCRAM_MAX_SALT_LEN) {
		*error_r = "SCRAM salt length out of range";
		return -1;
	}
	/* GnuTLS takes non-const datums but does not modify them. */
	gnutls_datum_t key = {(unsigned char *)password,
			      (unsigned)password_len};
	gnutls_datum_t s = {(unsigned char *)salt, (unsigned)salt_len};
	if (gnutls_pbkdf2(mac_alg(alg), &key, &s, iterations, out,
			  scram_hash_len(alg)) < 0) {
		*error_r = "PBKDF2 failed";
		return -1;
	}
	return 0;
}

static int hmac(enum scram_alg alg, const unsigned char *key, const void *text,
		size_t text_len, unsigned char *out)
{
	size_t n = scram_hash_len(alg);

	if (n == 0)
		return -1;
	return gnutls_hmac_fast(mac_alg(alg), key, n, text, text_len, out) < 0
		       ? -1
		       : 0;
}

int scram_client_key(enum scram_alg alg, const unsigned char *salted,
		     unsigned char *out)
{
	return hmac(alg, salted, client_key_label, sizeof(client_key_label) - 1,
		    out);
}

int scram_server_key(enum scram_alg alg, const unsigned char *salted,
		     unsigned char *out)
{
	return hmac(alg, salted, server_key_label, sizeof(server_key_label) - 1,
		    out);
}

int scram_stored_key(enum scram_alg alg, const unsigned char *client_key,
		     unsigned char *out)
{
	size_t n = scram_hash_len(alg);

	if (n == 0)
		return -1;
	return gnutls_hash_fast(dig_alg(alg), client_key, n, out) < 0 ? -1 : 0;
}

int scram_secret_derive_salt(enum scram_alg alg, const void *password,
			     size_t password_len, const void *salt,
			     size_t salt_len, uint32_t iterations,
			     struct scram_secret *secret_r,
			     const char **error_r)
{
	unsigned char salted[SCRAM_MAX_HASH_LEN];
	unsigned char client_key[SCRAM_MAX_HASH_LEN];
	int ret = -1;

	memset(secret_r, 0, sizeof(*secret_r));
	if (scram_salted_password(alg, password, password_len, salt, salt_len,
				  iterations, salted, error_r) < 0)
		return -1;
	if (scram_client_key(alg, salted, client_key) < 0 ||
	    scram_stored_key(alg, client_key, secret_r->stored_key) < 0 ||
	    scram_server_key(alg, salted, secret_r->server_key) < 0) {
		*error_r = "HMAC failed";
		scram_secret_wipe(secret_r);
		goto out;
	}
	secret_r->alg = alg;
	secret_r->iterations = iterations;
	secret_r->salt_len = salt_len;
	memcpy(secret_r->salt, salt, salt_len);
	ret = 0;
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client_key, sizeof(client_key));
	return ret;
}

int scram_secret_derive(enum scram_alg alg, const void *password,
			size_t password_len, uint32_t iterations,
			struct scram_secret *secret_r, const char **error_r)
{
	unsigned char salt[SCRAM_SALT_SIZE];

	if (iterations < SCRAM_MIN_ITERATIONS) {
		*error_r = "SCRAM iteration count below 4096";
		return -1;
	}
	rand_bytes(salt, sizeof(salt));
	return scram_secret_derive_salt(alg, password, password_len, salt,
					sizeof(salt), iterations, secret_r,
					error_r);
}

bool scram_secret_valid(const struct scram_secret *secret)
{
	return scram_alg_valid(secret->alg) && secret->iterations > 0 &&
	       secret->iterations <= SCRAM_MAX_ITERATIONS &&
	       secret->salt_len > 0 && secret->salt_len <= SCRAM_MAX_SALT_LEN;
}

bool scram_verify_password(const struct scram_secret *secret,
			   const void *password, size_t password_len)
{
	struct scram_secret probe;
	const char *error;
	bool ok;

	if (!scram_secret_valid(secret))
		return false;
	if (scram_secret_derive_salt(secret->alg, password, password_len,
				     secret->salt, secret->salt_len,
				     secret->iterations, &probe, &error) < 0)
		return false;
	ok = scram_mem_equal(probe.stored_key, secret->stored_key,
			     scram_hash_len(secret->alg));
	scram_secret_wipe(&probe);
	return ok;
}

void scram_secret_wipe(struct scram_secret *secret)
{
	explicit_bzero(secret, sizeof(*secret));
}

int scram_client_signature(enum scram_alg alg, const unsigned char *stored_key,
			   const void *auth_message, size_t auth_message_len,
			   unsigned char *out)
{
	return hmac(alg, stored_key, auth_message, auth_message_len, out);
}

int scram_server_signature(enum scram_alg alg, const unsigned char *server_key,
			   const void *auth_message, size_t auth_message_len,
			   unsigned char *out)
{
	return hmac(alg, server_key, auth_message, auth_message_len, out);
}

void scram_client_proof(enum scram_alg alg, const unsigned char *client_key,
			const unsigned char *client_signature,
			unsigned char *out)
{
	size_t n = scram_hash_len(alg);

	for (size_t i = 0; i < n; i++)
		out[i] = client_key[i] ^ client_signature[i];
}

bool scram_verify_proof(const struct scram_secret *secret,
			const void *auth_message, size_t auth_message_len,
			const unsigned char *proof, size_t proof_len)
{
	unsigned char sig[SCRAM_MAX_HASH_LEN];
	unsigned char client_key[SCRAM_MAX_HASH_LEN];
	unsigned char stored[SCRAM_MAX_HASH_LEN];
	size_t n = scram_hash_len(secret->alg);
	bool ok = false;

	if (!scram_secret_valid(secret) || proof_len != n)
		return false;
	if (scram_client_signature(secret->alg, secret->stored_key,
				   auth_message, auth_message_len, sig) < 0)
		goto out;
	/* XOR is its own inverse: proof ^ signature gives the ClientKey. */
	scram_client_proof(secret->alg, proof, sig, client_key);
	if (scram_stored_key(secret->alg, client_key, stored) < 0)
		goto out;
	ok = scram_mem_equal(stored, secret->stored_key, n);
out:
	explicit_bzero(sig, sizeof(sig));
	explicit_bzero(client_key, sizeof(client_key));
	explicit_bzero(stored, sizeof(stored));
	return ok;
}
