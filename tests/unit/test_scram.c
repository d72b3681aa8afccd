/* SCRAM primitives against the published exchanges of RFC 5802 section 5
 * (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256): user "user",
 * password "pencil", i=4096. */
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "scram.h"
#include "tap.h"

struct vector {
	enum scram_alg alg;
	const char *salt_b64;
	const char *client_first_bare;
	const char *server_first;
	const char *client_final_without_proof;
	const char *proof_b64;
	const char *server_signature_b64;
};

static const struct vector rfc5802 = {
	SCRAM_SHA1,
	"QSXCR+Q6sek8bf92",
	"n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	"s=QSXCR+Q6sek8bf92,i=4096",
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
	"v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	"rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct vector rfc7677 = {
	SCRAM_SHA256,
	"W22ZaJ0SNY7soEsUEjb6gQ==",
	"n=user,r=rOprNGfwEbeRWgbNEkqO",
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static void decode(const char *b64, struct buf *out)
{
	buf_init(out, 1024);
	CHECK(base64_decode(out, b64, strlen(b64)) == 0);
}

/* Plays the client side from the password and checks what the RFC shows on
 * the wire, then the server side from the stored secret alone. */
static void test_exchange(const struct vector *v)
{
	struct buf salt, proof, server_sig, auth_message;
	unsigned char salted[SCRAM_MAX_HASH_LEN];
	unsigned char client_key[SCRAM_MAX_HASH_LEN];
	unsigned char stored_key[SCRAM_MAX_HASH_LEN];
	unsigned char server_key[SCRAM_MAX_HASH_LEN];
	unsigned char sig[SCRAM_MAX_HASH_LEN], out[SCRAM_MAX_HASH_LEN];
	size_t n = scram_hash_len(v->alg);
	struct scram_secret secret;
	const char *error = NULL;

	decode(v->salt_b64, &salt);
	decode(v->proof_b64, &proof);
	decode(v->server_signature_b64, &server_sig);
	CHECK(proof.len == n);
	CHECK(server_sig.len == n);

	buf_init(&auth_message, 1024);
	CHECK(buf_printf(&auth_message, "%s,%s,%s", v->client_first_bare,
			 v->server_first, v->client_final_without_proof) == 0);

	/* client side */
	CHECK(scram_salted_password(v->alg, "pencil", 6, salt.data, salt.len,
				    4096, salted, &error) == 0);
	CHECK(scram_client_key(v->alg, salted, client_key) == 0);
	CHECK(scram_stored_key(v->alg, client_key, stored_key) == 0);
	CHECK(scram_server_key(v->alg, salted, server_key) == 0);
	CHECK(scram_client_signature(v->alg, stored_key, auth_message.data,
				     auth_message.len, sig) == 0);
	scram_client_proof(v->alg, client_key, sig, out);
	CHECK(memcmp(out, proof.data, n) == 0);
	CHECK(scram_server_signature(v->alg, server_key, auth_message.data,
				     auth_message.len, out) == 0);
	CHECK(memcmp(out, server_sig.data, n) == 0);

	/* server side, from the secret only */
	CHECK(scram_secret_derive_salt(v->alg, "pencil", 6, salt.data, salt.len,
				       4096, &secret, &error) == 0);
	CHECK(secret.alg == v->alg && secret.iterations == 4096);
	CHECK(secret.salt_len == salt.len);
	CHECK(memcmp(secret.stored_key, stored_key, n) == 0);
	CHECK(memcmp(secret.server_key, server_key, n) == 0);
	CHECK(scram_verify_proof(&secret, auth_message.data, auth_message.len,
				 proof.data, proof.len));
	CHECK(scram_server_signature(v->alg, secret.server_key,
				     auth_message.data, auth_message.len,
				     out) == 0);
	CHECK(memcmp(out, server_sig.data, n) == 0);

	/* a flipped proof bit, a short proof, a changed AuthMessage */
	proof.data[0] ^= 1;
	CHECK(!scram_verify_proof(&secret, auth_message.data, auth_message.len,
				  proof.data, proof.len));
	proof.data[0] ^= 1;
	CHECK(!scram_verify_proof(&secret, auth_message.data, auth_message.len,
				  proof.data, proof.len - 1));
	auth_message.data[0] = 'N';
	CHECK(!scram_verify_proof(&secret, auth_message.data, auth_message.len,
				  proof.data, proof.len));

	/* PLAIN against the same secret */
	CHECK(scram_verify_password(&secret, "pencil", 6));
	CHECK(!scram_verify_password(&secret, "pencil ", 7));
	CHECK(!scram_verify_password(&secret, "Pencil", 6));
	CHECK(!scram_verify_password(&secret, "", 0));

	scram_secret_wipe(&secret);
	buf_deinit(&salt);
	buf_deinit(&proof);
	buf_deinit(&server_sig);
	buf_deinit(&auth_message);
}

static void test_derive(void)
{
	struct scram_secret a, b;
	const char *error = NULL;

	CHECK(scram_secret_derive(SCRAM_SHA256, "hunter2", 7, 4096, &a,
				  &error) == 0);
	CHECK(scram_secret_derive(SCRAM_SHA256, "hunter2", 7, 4096, &b,
				  &error) == 0);
	CHECK(a.salt_len == SCRAM_SALT_SIZE);
	/* fresh salt each time, so the keys differ too */
	CHECK(memcmp(a.salt, b.salt, SCRAM_SALT_SIZE) != 0);
	CHECK(memcmp(a.stored_key, b.stored_key, SCRAM_SHA256_LEN) != 0);
	CHECK(scram_verify_password(&a, "hunter2", 7));
	CHECK(scram_verify_password(&b, "hunter2", 7));
	CHECK(!scram_verify_password(&a, "hunter3", 7));
	CHECK(!scram_verify_password(&a, "hunter", 6));

	CHECK(scram_secret_derive(SCRAM_SHA1, "x", 1, 4096, &a, &error) == 0);
	CHECK(scram_verify_password(&a, "x", 1));
	CHECK(!scram_verify_password(&a, "y", 1));

	/* limits */
	CHECK(scram_secret_derive(SCRAM_SHA256, "x", 1, 4095, &a, &error) < 0);
	CHECK(error != NULL);
	CHECK(scram_secret_derive(SCRAM_SHA256, "x", 1,
				  SCRAM_MAX_ITERATIONS + 1, &a, &error) < 0);
	CHECK(scram_secret_derive((enum scram_alg)7, "x", 1, 4096, &a,
				  &error) < 0);

	/* a damaged secret never verifies */
	CHECK(scram_secret_derive(SCRAM_SHA256, "x", 1, 4096, &a, &error) == 0);
	a.salt_len = 0;
	CHECK(!scram_verify_password(&a, "x", 1));
	a.salt_len = SCRAM_SALT_SIZE;
	a.alg = (enum scram_alg)9;
	CHECK(!scram_verify_password(&a, "x", 1));
	scram_secret_wipe(&a);
	scram_secret_wipe(&b);
}

static void test_names(void)
{
	CHECK(scram_hash_len(SCRAM_SHA1) == 20);
	CHECK(scram_hash_len(SCRAM_SHA256) == 32);
	CHECK(strcmp(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256") == 0);
	CHECK(strcmp(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1") == 0);
	CHECK(!scram_alg_valid(0));
	CHECK(scram_mem_equal("abc", "abc", 3));
	CHECK(!scram_mem_equal("abc", "abd", 3));
}

int main(void)
{
	test_exchange(&rfc5802);
	test_exchange(&rfc7677);
	test_derive();
	test_names();
	return tap_done();
}
