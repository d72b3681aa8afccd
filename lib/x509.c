#include "x509.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "base64.h"
#include "rand.h"
#include "str.h"

/* RFC 5280 4.1.2.5: GeneralizedTime 99991231235959Z = no expiry */
#define X509_NO_EXPIRY ((time_t)253402300799LL)

void x509_fingerprint(const unsigned char sha[X509_SHA256_SIZE],
		      char out[X509_FP_LEN + 1])
{
	struct buf b;

	buf_init(&b, X509_FP_LEN + 1);
	if (base64url_encode_nopad(&b, sha, X509_SHA256_SIZE) < 0 ||
	    b.len != X509_FP_LEN)
		out[0] = '\0';
	else
		memcpy(out, b.data, X509_FP_LEN + 1);
	out[X509_FP_LEN] = '\0';
	buf_deinit(&b);
}

bool x509_fingerprint_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	/* 256 bits in 43 characters leave the last one's low 2 bits zero */
	return i == X509_FP_LEN;
}

static const void *memmem_bounded(const void *hay, size_t len,
				  const char *needle)
{
	size_t n = strlen(needle);
	const char *p = hay;

	for (size_t i = 0; len >= n && i <= len - n; i++) {
		if (memcmp(p + i, needle, n) == 0)
			return p + i;
	}
	return NULL;
}

bool x509_pem_has_private_key(const void *p, size_t len)
{
	/* "-----BEGIN PRIVATE KEY-----", "... RSA PRIVATE KEY", "... EC
	 * PRIVATE KEY", "... ENCRYPTED PRIVATE KEY", "... OPENSSH PRIVATE
	 * KEY": every PEM private key label ends the same way */
	return memmem_bounded(p, len, "PRIVATE KEY-----") != NULL;
}

/* Names the key and says whether we accept it: RSA >= 2048 bits, ECDSA
 * P-256/P-384, Ed25519 (what every TLS 1.3 client stack can sign with and
 * nothing weaker). */
static void key_check(gnutls_x509_crt_t crt, struct x509_cert_info *info)
{
	unsigned bits = 0;
	int alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;

	info->key_problem = NULL;
	switch (alg) {
	case GNUTLS_PK_RSA:
	case GNUTLS_PK_RSA_PSS:
		snprintf(info->key_type, sizeof(info->key_type), "%s-%u",
			 alg == GNUTLS_PK_RSA ? "RSA" : "RSA-PSS", bits);
		if (bits < 2048)
			info->key_problem = "RSA key shorter than 2048 bits";
		return;
	case GNUTLS_PK_ECDSA:
		if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, NULL, NULL) < 0)
			curve = GNUTLS_ECC_CURVE_INVALID;
		if (curve == GNUTLS_ECC_CURVE_SECP256R1) {
			str_cpy(info->key_type, "ECDSA-P256",
				sizeof(info->key_type));
		} else if (curve == GNUTLS_ECC_CURVE_SECP384R1) {
			str_cpy(info->key_type, "ECDSA-P384",
				sizeof(info->key_type));
		} else {
			str_cpy(info->key_type, "ECDSA-other",
				sizeof(info->key_type));
			info->key_problem = "ECDSA curve other than P-256 or "
					    "P-384";
		}
		return;
	case GNUTLS_PK_EDDSA_ED25519:
		str_cpy(info->key_type, "Ed25519", sizeof(info->key_type));
		return;
	default: {
		const char *name = gnutls_pk_get_name(
			(gnutls_pk_algorithm_t)(alg < 0 ? 0 : alg));
		snprintf(info->key_type, sizeof(info->key_type), "%s",
			 name != NULL ? name : "unknown");
		info->key_problem = "key type not accepted (use RSA >= 2048, "
				    "ECDSA P-256/P-384 or Ed25519)";
		return;
	}
	}
}

static void get_dn(gnutls_x509_crt_t crt, bool issuer, char *out, size_t size)
{
	gnutls_datum_t dn = {NULL, 0};
	int ret = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0)
			 : gnutls_x509_crt_get_dn3(crt, &dn, 0);

	out[0] = '\0';
	if (ret < 0 || dn.data == NULL)
		return;
	/* a DN can be long; display and logs need only its start */
	size_t n = dn.size < size - 1 ? dn.size : size - 1;
	memcpy(out, dn.data, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	}
	gnutls_free(dn.data);
}

static int fill_info(gnutls_x509_crt_t crt, struct x509_cert_info *info,
		     const char **error_r)
{
	gnutls_pubkey_t key = NULL;
	gnutls_datum_t spki = {NULL, 0};
	unsigned char sha[X509_SHA256_SIZE];
	time_t t;
	int ret = -1;

	memset(info, 0, sizeof(*info));
	if (gnutls_pubkey_init(&key) < 0) {
		*error_r = "out of memory";
		return -1;
	}
	if (gnutls_pubkey_import_x509(key, crt, 0) < 0 ||
	    gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki) < 0) {
		*error_r = "the certificate's public key cannot be read";
		goto out;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, sha) <
	    0) {
		*error_r = "SHA-256 failed";
		goto out;
	}
	x509_fingerprint(sha, info->fingerprint);
	key_check(crt, info);
	get_dn(crt, false, info->subject, sizeof(info->subject));
	get_dn(crt, true, info->issuer, sizeof(info->issuer));
	t = gnutls_x509_crt_get_activation_time(crt);
	info->not_before = t == (time_t)-1 ? -1 : (int64_t)t;
	t = gnutls_x509_crt_get_expiration_time(crt);
	info->not_after = t == (time_t)-1 ? -1 : (int64_t)t;
	ret = 0;
out:
	gnutls_free(spki.data);
	gnutls_pubkey_deinit(key);
	return ret;
}

int x509_parse_der(const void *der, size_t len, struct x509_cert_info *info_r,
		   const char **error_r)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	int ret;

	if (len == 0 || len > X509_PEM_MAX) {
		*error_r = "certificate empty or too large";
		return -1;
	}
	if (gnutls_x509_crt_init(&crt) < 0) {
		*error_r = "out of memory";
		return -1;
	}
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		*error_r = "not a valid X.509 certificate";
		ret = -1;
	} else {
		ret = fill_info(crt, info_r, error_r);
	}
	gnutls_x509_crt_deinit(crt);
	return ret;
}

int x509_parse_pem(const void *pem, size_t len, struct x509_cert_info *info_r,
		   struct buf *pem_r, const char **error_r)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len}, out = {0};
	int ret = -1;

	if (x509_pem_has_private_key(pem, len)) {
		*error_r = "the input holds a private key: give only the "
			   "certificate (the private key never leaves the "
			   "client)";
		return -1;
	}
	if (len > X509_PEM_MAX) {
		*error_r = "certificate PEM larger than 16 KiB";
		return -1;
	}
	if (memmem_bounded(pem, len, "-----BEGIN CERTIFICATE-----") == NULL) {
		*error_r = "no PEM certificate (-----BEGIN CERTIFICATE-----) "
			   "in the input";
		return -1;
	}
	if (gnutls_x509_crt_init(&crt) < 0) {
		*error_r = "out of memory";
		return -1;
	}
	/* imports the first certificate of the text */
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
		*error_r = "the PEM certificate does not parse";
		goto out;
	}
	if (fill_info(crt, info_r, error_r) < 0)
		goto out;
	if (pem_r != NULL) {
		if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) <
			    0 ||
		    buf_append(pem_r, out.data, out.size) < 0) {
			*error_r = "cannot re-encode the certificate";
			goto out;
		}
	}
	ret = 0;
out:
	gnutls_free(out.data);
	gnutls_x509_crt_deinit(crt);
	return ret;
}

static int gen_fail(int ret, const char **error_r)
{
	*error_r = gnutls_strerror(ret);
	return -1;
}

static int gen_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
		    const struct x509_gen *g)
{
	static const unsigned char ip4[] = {127, 0, 0, 1};
	static const unsigned char ip6[16] = {[15] = 1};
	unsigned char serial[16];
	int ret;

	rand_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f; /* a positive INTEGER */
	serial[0] |= 0x01; /* and no leading zero octet */
	if ((ret = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (ret = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) <
		    0 ||
	    (ret = gnutls_x509_crt_set_dn_by_oid(
		     crt, GNUTLS_OID_X520_COMMON_NAME, 0, g->cn,
		     (unsigned)strlen(g->cn))) < 0 ||
	    (g->org != NULL &&
	     (ret = gnutls_x509_crt_set_dn_by_oid(
		      crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, g->org,
		      (unsigned)strlen(g->org))) < 0) ||
	    (g->dns_name != NULL &&
	     (ret = gnutls_x509_crt_set_subject_alt_name(
		      crt, GNUTLS_SAN_DNSNAME, g->dns_name,
		      (unsigned)strlen(g->dns_name), GNUTLS_FSAN_APPEND)) < 0) ||
	    (g->loopback_ips &&
	     ((ret = gnutls_x509_crt_set_subject_alt_name(
		       crt, GNUTLS_SAN_IPADDRESS, ip4, sizeof(ip4),
		       GNUTLS_FSAN_APPEND)) < 0 ||
	      (ret = gnutls_x509_crt_set_subject_alt_name(
		       crt, GNUTLS_SAN_IPADDRESS, ip6, sizeof(ip6),
		       GNUTLS_FSAN_APPEND)) < 0)) ||
	    (ret = gnutls_x509_crt_set_activation_time(crt, g->not_before)) <
		    0 ||
	    (ret = gnutls_x509_crt_set_expiration_time(crt, g->not_after)) <
		    0 ||
	    (ret = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (ret = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (ret = gnutls_x509_crt_set_key_usage(
		     crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (ret = gnutls_x509_crt_set_key_purpose_oid(
		     crt,
		     g->server ? GNUTLS_KP_TLS_WWW_SERVER
			       : GNUTLS_KP_TLS_WWW_CLIENT,
		     0)) < 0)
		return ret;
	/* Ed25519 implies its digest; ECDSA P-256 pairs with SHA-256 */
	return gnutls_x509_crt_sign2(crt, crt, key,
				     g->ed25519 ? GNUTLS_DIG_SHA512
						: GNUTLS_DIG_SHA256,
				     0);
}

int x509_generate(const struct x509_gen *g, struct buf *key_pem,
		  struct buf *cert_pem, const char **error_r)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kd = {NULL, 0}, cd = {NULL, 0};
	int ret;

	if ((ret = gnutls_x509_privkey_init(&key)) < 0)
		return gen_fail(ret, error_r);
	if ((ret = gnutls_x509_crt_init(&crt)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return gen_fail(ret, error_r);
	}
	if (g->ed25519)
		ret = gnutls_x509_privkey_generate(
			key, GNUTLS_PK_EDDSA_ED25519,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0);
	else
		ret = gnutls_x509_privkey_generate(
			key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (ret >= 0)
		ret = gen_cert(crt, key, g);
	if (ret >= 0)
		ret = gnutls_x509_privkey_export2_pkcs8(
			key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kd);
	if (ret >= 0)
		ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cd);
	if (ret >= 0 && (buf_append(key_pem, kd.data, kd.size) < 0 ||
			 buf_append(cert_pem, cd.data, cd.size) < 0)) {
		*error_r = "output buffer too small";
		ret = 0;
		goto fail_local;
	}
	if (ret < 0) {
		*error_r = gnutls_strerror(ret);
		goto fail_local;
	}
	ret = 1;
fail_local:
	if (kd.data != NULL) {
		explicit_bzero(kd.data, kd.size);
		gnutls_free(kd.data);
	}
	gnutls_free(cd.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return ret == 1 ? 0 : -1;
}

int x509_generate_ed25519(const char *cn, struct buf *key_pem,
			  struct buf *cert_pem, const char **error_r)
{
	const struct x509_gen g = {
		.cn = cn,
		.ed25519 = true,
		.not_before = 0,
		.not_after = X509_NO_EXPIRY,
	};

	return x509_generate(&g, key_pem, cert_pem, error_r);
}

int x509_cert_for_key(const void *key_pem, size_t key_len, const char *cn,
		      struct buf *cert_pem, const char **error_r)
{
	struct x509_gen g = {
		.cn = cn,
		.not_before = 0,
		.not_after = X509_NO_EXPIRY,
	};
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)key_len};
	gnutls_datum_t cd = {NULL, 0};
	int ret;

	if (key_len > UINT_MAX) {
		*error_r = "key file too large";
		return -1;
	}
	if ((ret = gnutls_x509_privkey_init(&key)) < 0)
		return gen_fail(ret, error_r);
	if ((ret = gnutls_x509_crt_init(&crt)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return gen_fail(ret, error_r);
	}
	ret = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL,
					  0);
	if (ret >= 0) {
		g.ed25519 = gnutls_x509_privkey_get_pk_algorithm(key) ==
			    GNUTLS_PK_EDDSA_ED25519;
		ret = gen_cert(crt, key, &g);
	}
	if (ret >= 0)
		ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cd);
	if (ret < 0)
		*error_r = gnutls_strerror(ret);
	else if (buf_append(cert_pem, cd.data, cd.size) < 0) {
		*error_r = "output buffer too small";
		ret = -1;
	}
	gnutls_free(cd.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return ret < 0 ? -1 : 0;
}
