/* Fuzz target: the auth daemon's SCRAM server (auth/mech_scram.c), linked
 * with stubs for the daemon as tests/unit/test_mech_scram.c does: one
 * account "user" with password "pencil" (RFC 7677 / RFC 5802 salts).
 *
 * Input: byte 0 picks the mechanism (bits 0-1), the TLS channel binding
 * (bits 2-3: none, tls-unique, tls-exporter; -PLUS always gets one, as the
 * daemon refuses -PLUS without TLS before the mechanism runs) and whether
 * the account has a SHA-1 secret (bit 4). The rest is the client-first
 * message, then (after the first LF) the client-final message, in which
 * "%n" stands for the nonce the server sent, "%c" for the correct
 * base64 channel-binding input and a final "%p" for the correct proof, so
 * that the fuzzer reaches the proof check and success with valid inputs.
 * Invariants (abort = bug): a status is always one of the three; failure
 * has a reason; server-first echoes the client nonce; success only for
 * "user" with the right proof, and its v= is the right ServerSignature. */
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "fuzz.h"
#include "ipc_proto.h"
#include "log.h"
#include "mech.h"
#include "scram.h"
#include "scram_stubs.h"
#include "str.h"

/* ---- the client side ---- */

/* ClientKey and ServerKey of "pencil" for each algorithm */
static unsigned char ck256[SCRAM_MAX_HASH_LEN], sk256[SCRAM_MAX_HASH_LEN];
static unsigned char ck1[SCRAM_MAX_HASH_LEN], sk1[SCRAM_MAX_HASH_LEN];

static const unsigned char cb_bytes[32] = "0123456789abcdefghijklmnopqrstuv";

static void derive(enum scram_alg alg, const char *salt_b64,
		   struct scram_secret *secret, unsigned char *ck,
		   unsigned char *sk)
{
	unsigned char salted[SCRAM_MAX_HASH_LEN];
	const char *error;
	struct buf salt;

	buf_init(&salt, 64);
	FUZZ_CHECK(base64_decode(&salt, salt_b64, strlen(salt_b64)) == 0);
	FUZZ_CHECK(scram_secret_derive_salt(alg, "pencil", 6, salt.data,
					    salt.len, 4096, secret,
					    &error) == 0);
	FUZZ_CHECK(scram_salted_password(alg, "pencil", 6, salt.data, salt.len,
					 4096, salted, &error) == 0);
	FUZZ_CHECK(scram_client_key(alg, salted, ck) == 0);
	FUZZ_CHECK(scram_server_key(alg, salted, sk) == 0);
	buf_deinit(&salt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *error;

	(void)argc;
	(void)argv;
	/* the man-in-the-middle and downgrade warnings fire constantly */
	log_set_level(LOG_LEVEL_ERROR);
	derive(SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", &stub_secret256, ck256,
	       sk256);
	derive(SCRAM_SHA1, "QSXCR+Q6sek8bf92", &stub_secret1, ck1, sk1);
	FUZZ_CHECK(scram_secret_derive(SCRAM_SHA256, "dummy", 5, 4096,
				       &stub_dummy, &error) == 0);
	return 0;
}

/* Appends the template t to out with %n and %c replaced. */
static void expand(struct buf *out, const char *t, size_t len, struct str nonce,
		   const struct buf *cbind)
{
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '%' && i + 1 < len && t[i + 1] == 'n') {
			(void)buf_append(out, nonce.p, nonce.len);
			i++;
		} else if (t[i] == '%' && i + 1 < len && t[i + 1] == 'c') {
			(void)buf_append(out, cbind->data, cbind->len);
			i++;
		} else {
			(void)buf_append(out, &t[i], 1);
		}
	}
}

static bool status_ok(enum mech_status st, const struct mech_request *req)
{
	if (st == MECH_FAILURE)
		return req->fail_reason != NULL;
	return st == MECH_CONTINUE || st == MECH_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mech *const mechs[] = {
		&mech_scram_sha256_plus, &mech_scram_sha256,
		&mech_scram_sha1_plus, &mech_scram_sha1};
	const struct mech *mech;
	struct mech_request req;
	unsigned tls;
	const char *first, *lf, *tmpl;
	size_t first_len, tmpl_len, gs2_len = 0, commas = 0;
	enum mech_status st;
	struct buf server_first, cbind, fin, am, tmp;
	enum scram_alg alg;
	bool want_proof = false;

	if (size < 1 || size > 8192)
		return 0;
	mech = mechs[data[0] & 3];
	tls = (data[0] >> 2) & 3;
	if ((mech->flags & MECH_F_CHANNEL_BINDING) && tls == 0)
		tls = 1;
	stub_have_sha1 = (data[0] & 0x10) == 0;
	alg = (data[0] & 3) < 2 ? SCRAM_SHA256 : SCRAM_SHA1;
	first = (const char *)data + 1;
	lf = memchr(first, '\n', size - 1);
	first_len = lf != NULL ? (size_t)(lf - first) : size - 1;
	tmpl = lf != NULL ? lf + 1 : NULL;
	tmpl_len = lf != NULL ? size - 1 - first_len - 1 : 0;

	memset(&req, 0, sizeof(req));
	req.mech = mech;
	buf_init(&req.out, MECH_MAX_OUT);
	if (tls != 0) {
		snprintf(req.cb_type, sizeof(req.cb_type), "%s",
			 tls == 2 ? "tls-exporter" : "tls-unique");
		req.cb_len = tls == 2 ? 32 : 12;
		memcpy(req.cb_data, cb_bytes, req.cb_len);
	}

	st = mech->step(&req, (const unsigned char *)first, first_len);
	FUZZ_CHECK(status_ok(st, &req));
	FUZZ_CHECK(st != MECH_SUCCESS);
	if (st != MECH_CONTINUE || tmpl == NULL)
		goto done;

	/* server-first: r=<cnonce><snonce>,s=...,i=... */
	buf_init(&server_first, MECH_MAX_OUT);
	(void)buf_append(&server_first, req.out.data, req.out.len);
	FUZZ_CHECK(server_first.len > 2 &&
		   memcmp(server_first.data, "r=", 2) == 0);
	const char *sf = buf_cstr(&server_first);
	const char *s_at = strstr(sf, ",s=");
	FUZZ_CHECK(s_at != NULL && strstr(s_at, ",i=") != NULL);
	struct str nonce = {sf + 2, (size_t)(s_at - sf - 2)};
	/* the client nonce comes first in it */
	{
		const char *r = NULL;

		for (size_t i = 0; i + 2 < first_len; i++) {
			if (first[i] == ',' && first[i + 1] == 'r' &&
			    first[i + 2] == '=') {
				r = first + i + 3;
				break;
			}
		}
		FUZZ_CHECK(r != NULL);
		size_t cn = 0;

		while (r + cn < first + first_len && r[cn] != ',')
			cn++;
		FUZZ_CHECK(nonce.len == cn + 32 && memcmp(nonce.p, r, cn) == 0);
	}

	/* gs2 header: up to and including the second comma */
	for (gs2_len = 0; gs2_len < first_len && commas < 2; gs2_len++) {
		if (first[gs2_len] == ',')
			commas++;
	}
	buf_init(&tmp, 256);
	(void)buf_append(&tmp, first, gs2_len);
	if (gs2_len > 0 && first[0] == 'p')
		(void)buf_append(&tmp, req.cb_data, req.cb_len);
	buf_init(&cbind, 512);
	FUZZ_CHECK(base64_encode(&cbind, tmp.data, tmp.len) == 0);
	buf_deinit(&tmp);

	buf_init(&fin, 1 << 20);
	if (tmpl_len >= 2 && memcmp(tmpl + tmpl_len - 2, "%p", 2) == 0) {
		want_proof = true;
		tmpl_len -= 2;
	}
	expand(&fin, tmpl, tmpl_len, nonce, &cbind);
	if (fin.len > 8192) {
		/* far past what the mechanism takes: not worth a proof */
		want_proof = false;
	}
	if (want_proof) {
		unsigned char sig[SCRAM_MAX_HASH_LEN];
		unsigned char proof[SCRAM_MAX_HASH_LEN];
		unsigned char stored[SCRAM_MAX_HASH_LEN];
		const unsigned char *ck = alg == SCRAM_SHA256 ? ck256 : ck1;
		size_t without = fin.len;

		/* the auth message ends with the final message up to ",p=" */
		if (without >= 3 &&
		    memcmp(fin.data + without - 3, ",p=", 3) == 0)
			without -= 3;
		buf_init(&am, 32768);
		(void)buf_append(&am, first + gs2_len, first_len - gs2_len);
		(void)buf_append(&am, ",", 1);
		(void)buf_append(&am, server_first.data, server_first.len);
		(void)buf_append(&am, ",", 1);
		(void)buf_append(&am, fin.data, without);
		FUZZ_CHECK(scram_stored_key(alg, ck, stored) == 0);
		FUZZ_CHECK(scram_client_signature(alg, stored, am.data, am.len,
						  sig) == 0);
		scram_client_proof(alg, ck, sig, proof);
		FUZZ_CHECK(base64_encode(&fin, proof, scram_hash_len(alg)) ==
			   0);
		buf_deinit(&am);
	}

	buf_clear(&req.out);
	st = mech->step(&req, fin.data != NULL ? fin.data : (const void *)"",
			fin.len);
	FUZZ_CHECK(status_ok(st, &req));
	if (st == MECH_SUCCESS) {
		/* only the real account, with the right proof */
		const unsigned char *sk = alg == SCRAM_SHA256 ? sk256 : sk1;
		unsigned char v[SCRAM_MAX_HASH_LEN];
		size_t without;
		const unsigned char *pp = NULL;

		FUZZ_CHECK(strcmp(req.user, "user") == 0);
		FUZZ_CHECK(alg == SCRAM_SHA256 || stub_have_sha1);
		FUZZ_CHECK(want_proof);
		for (size_t i = fin.len; i >= 3; i--) {
			if (memcmp(fin.data + i - 3, ",p=", 3) == 0) {
				pp = fin.data + i - 3;
				break;
			}
		}
		FUZZ_CHECK(pp != NULL);
		without = (size_t)(pp - fin.data);
		buf_init(&am, 32768);
		(void)buf_append(&am, first + gs2_len, first_len - gs2_len);
		(void)buf_append(&am, ",", 1);
		(void)buf_append(&am, server_first.data, server_first.len);
		(void)buf_append(&am, ",", 1);
		(void)buf_append(&am, fin.data, without);
		FUZZ_CHECK(scram_server_signature(alg, sk, am.data, am.len,
						  v) == 0);
		buf_init(&tmp, 128);
		(void)buf_append_cstr(&tmp, "v=");
		(void)base64_encode(&tmp, v, scram_hash_len(alg));
		FUZZ_CHECK(tmp.len == req.out.len &&
			   memcmp(tmp.data, req.out.data, tmp.len) == 0);
		buf_deinit(&tmp);
		buf_deinit(&am);
	}
	buf_deinit(&fin);
	buf_deinit(&cbind);
	buf_deinit(&server_first);
done:
	if (mech->deinit != NULL)
		mech->deinit(&req);
	buf_deinit(&req.out);
	return 0;
}
