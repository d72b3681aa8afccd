/* lib/x509: fingerprints (checked against `openssl pkey -pubin -outform
 * DER | sha256 | base64url`), key checks, private-key refusal, and the
 * Ed25519 generator's certificate parsed back. */
#include <string.h>

#include "buf.h"
#include "tap.h"
#include "x509.h"

/* openssl req -x509 -newkey rsa:1024 -subj /CN=weak */
static const char weak_rsa[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB+jCCAWOgAwIBAgIUCslyKhfSWVEAE8JNqGBRU/mxJL0wDQYJKoZIhvcNAQEL\n"
	"BQAwDzENMAsGA1UEAwwEd2VhazAeFw0yNjExMjgyMzU2MDNaFw0yNjExMjkyMzU2\n"
	"MDNaMA8xDTALBgNVBAMMBHdlYWswgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGB\n"
	"AMdfPZh5f5FfH/qDjUamXQxHbmyiFOI+onVOhyv/feJ6xnMzRI1u00S9UD3ubq9q\n"
	"vq3lXgbu5vEKh4WJ/zJxZl1ctc93unxOKL8ogJE1DV/rbYzknFqmWJ9YaU5ICCjU\n"
	"dadJRGelHS7kUispyCsZaYWKV6CqPkBFUz+7hKn8l9FxAgMBAAGjUzBRMB0GA1Ud\n"
	"DgQWBBT9WZ5V45nlezx0gioyvpso6b5stzAfBgNVHSMEGDAWgBT9WZ5V45nlezx0\n"
	"gioyvpso6b5stzAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBAL/E\n"
	"BZJDmAZoHiNUnAfdozaKSFKRUnDfvLN6TZ4/3FbYDW9QAtt89JEza4fuyXn6svuu\n"
	"EEjsYxz/vGhVsyjjYJANvEEs9kjLt26yOO87lWXXy+VQ6IoCvDBIltLjirORavK0\n"
	"Z1DAq66a58AATJQJJM8UdseqG9zdiBGDRrdRS5/q\n"
	"-----END CERTIFICATE-----\n";
#define WEAK_FP "2ZDeuLB0tykNlpf9aXl3r4LHX2bF_XxK4j1vnXwCmLo"

/* openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp521r1 */
static const char p521[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB+zCCAVygAwIBAgIULA6uJPoRz9lZVPzY5QCA3055dSIwCgYIKoZIzj0EAwIw\n"
	"DzENMAsGA1UEAwwEcDUyMTAeFw0yNjExMjgyMzU2MDNaFw0yNjExMjkyMzU2MDNa\n"
	"MA8xDTALBgNVBAMMBHA1MjEwgZswEAYHKoZIzj0CAQYFK4EEACMDgYYABAGYdBdT\n"
	"RVLWLC+ztIde5MmYjEX0b1es4YWP7PvgtcefILnTgFEH8MVJgsPAmG7yjFk1ZwMQ\n"
	"W6rP6Bl0mXeeAQIiDQBmnE6n6eLps35MUxQmm6M7NRktxOawXg2Li2zbHyHNx//t\n"
	"xwW9c4YBw83QA+kWsyB1jkycIAHUhSmh9JoO52G9I6NTMFEwHQYDVR0OBBYEFBLb\n"
	"nqXdqn1CzBiPOta8gUpbpr8CMB8GA1UdIwQYMBaAFBLbnqXdqn1CzBiPOta8gUpb\n"
	"pr8CMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDgYwAMIGIAkIBmxutw5FT\n"
	"N+Tu4f7GCEgbckAjteOZwe24Nhs+82vGro38msp4vM0eB5cx/+I2T8NIfdeY1R/X\n"
	"ITkDEHmqi0w3gfsCQgF0N+27B2ZsIbOMARZ9hAT/gwyvDuY48NuP0RQI9ia1ZFsk\n"
	"va7tjDeN7oatVj/M9COlhhGplNc1lEoXf5xYqjqULQ==\n"
	"-----END CERTIFICATE-----\n";
#define P521_FP "64KOg_zomnmZ7o9QSXQuVf7YJieTvnNV1VekGnMSA5U"

static void test_fingerprint(void)
{
	unsigned char sha[X509_SHA256_SIZE];
	char fp[X509_FP_LEN + 1];

	memset(sha, 0, sizeof(sha));
	x509_fingerprint(sha, fp);
	CHECK(strcmp(fp, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == 0);
	memset(sha, 0xff, sizeof(sha));
	x509_fingerprint(sha, fp);
	CHECK(strcmp(fp, "__________________________________________8") == 0);
	CHECK(x509_fingerprint_valid(fp));
	CHECK(x509_fingerprint_valid(WEAK_FP));
	CHECK(!x509_fingerprint_valid(""));
	CHECK(!x509_fingerprint_valid("AAAA"));
	CHECK(!x509_fingerprint_valid(
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+"));
	CHECK(!x509_fingerprint_valid(
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
	CHECK(!x509_fingerprint_valid(
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
}

static void test_weak_keys(void)
{
	struct x509_cert_info info;
	const char *error;

	CHECK(x509_parse_pem(weak_rsa, strlen(weak_rsa), &info, NULL,
			     &error) == 0);
	CHECK(strcmp(info.fingerprint, WEAK_FP) == 0);
	CHECK(strcmp(info.key_type, "RSA-1024") == 0);
	CHECK(info.key_problem != NULL);
	CHECK(strcmp(info.subject, "CN=weak") == 0);
	CHECK(x509_parse_pem(p521, strlen(p521), &info, NULL, &error) == 0);
	CHECK(strcmp(info.fingerprint, P521_FP) == 0);
	CHECK(info.key_problem != NULL);
}

static void test_refusals(void)
{
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n"
				  "-----END PRIVATE KEY-----\n";
	static const char ec[] = "-----BEGIN EC PRIVATE KEY-----\n";
	struct x509_cert_info info;
	struct buf both;
	const char *error;

	CHECK(x509_pem_has_private_key(key, strlen(key)));
	CHECK(x509_pem_has_private_key(ec, strlen(ec)));
	CHECK(!x509_pem_has_private_key(weak_rsa, strlen(weak_rsa)));
	buf_init(&both, 8192);
	CHECK(buf_append_cstr(&both, weak_rsa) == 0);
	CHECK(buf_append_cstr(&both, key) == 0);
	CHECK(x509_parse_pem(both.data, both.len, &info, NULL, &error) < 0);
	CHECK(strstr(error, "private key") != NULL);
	buf_deinit(&both);
	CHECK(x509_parse_pem("hello", 5, &info, NULL, &error) < 0);
	CHECK(x509_parse_pem("", 0, &info, NULL, &error) < 0);
	/* a label without a valid body */
	static const char bad[] = "-----BEGIN CERTIFICATE-----\n!!!!\n"
				  "-----END CERTIFICATE-----\n";
	CHECK(x509_parse_pem(bad, strlen(bad), &info, NULL, &error) < 0);
	CHECK(x509_parse_der("\x30\x03\x02\x01\x00", 5, &info, &error) < 0);
}

static void test_generate(void)
{
	struct x509_cert_info info, again;
	struct buf key, cert, pem;
	const char *error;

	buf_init(&key, 8192);
	buf_init(&cert, 8192);
	buf_init(&pem, 8192);
	CHECK(x509_generate_ed25519("unit", &key, &cert, &error) == 0);
	CHECK(x509_pem_has_private_key(key.data, key.len));
	CHECK(!x509_pem_has_private_key(cert.data, cert.len));
	CHECK(x509_parse_pem(cert.data, cert.len, &info, &pem, &error) == 0);
	CHECK(strcmp(info.key_type, "Ed25519") == 0);
	CHECK(info.key_problem == NULL);
	CHECK(strcmp(info.subject, "CN=unit") == 0);
	CHECK(strcmp(info.issuer, "CN=unit") == 0);
	CHECK(info.not_before == 0);
	CHECK(info.not_after == 253402300799LL);
	/* re-encoding the leaf gives the same certificate */
	CHECK(pem.len == cert.len && memcmp(pem.data, cert.data, pem.len) == 0);
	/* a chain: only the first certificate counts */
	CHECK(buf_append_cstr(&pem, weak_rsa) == 0);
	CHECK(x509_parse_pem(pem.data, pem.len, &again, NULL, &error) == 0);
	CHECK(strcmp(again.fingerprint, info.fingerprint) == 0);
	/* two runs, two keys */
	buf_clear(&cert);
	CHECK(x509_generate_ed25519("unit", &key, &cert, &error) == 0);
	CHECK(x509_parse_pem(cert.data, cert.len, &again, NULL, &error) == 0);
	CHECK(strcmp(again.fingerprint, info.fingerprint) != 0);
	buf_deinit_secret(&key);
	buf_deinit(&cert);
	buf_deinit(&pem);
}

int main(void)
{
	test_fingerprint();
	test_weak_keys();
	test_refusals();
	test_generate();
	return tap_done();
}
