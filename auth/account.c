#include "account.h"

#include <string.h>

#include "record.h"
#include "saslprep.h"

/* Record layout, version 3, integers big-endian:
 *   u8  version = 3
 *   u64 created
 *   u8  count of secrets (1..2)
 *   per secret:
 *     u8  alg (enum scram_alg)
 *     u32 iterations
 *     u8  salt length, salt
 *     u8  key length (= hash length of alg), StoredKey, ServerKey
 *   u64 quota storage bytes (0 = unlimited)
 *   u64 quota messages (0 = unlimited)
 *   u8  trace level (enum user_trace)
 *   u8  flags (USER_F_*)
 * Version 2 is the same without flags, version 1 also without the three
 * fields before (accounts made before quotas); both are still read, and
 * rewritten as 3 on the next update.
 * A reader refuses versions it does not know rather than guessing. */
#define RECORD_VERSION	  3
#define RECORD_VERSION_V2 2
#define RECORD_VERSION_V1 1

/* RFC 5322 atext minus '/', which would leave the home directory, plus
 * UTF-8 (RFC 6531; valid and SASLprep'ed by the time this runs). */
static bool local_char_ok(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-=?^_`{|}~.", c) != NULL;
}

static bool domain_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Dots separate non-empty labels: no leading, trailing or double dot. */
static bool dots_ok(const char *p, size_t len)
{
	if (p[0] == '.' || p[len - 1] == '.')
		return false;
	for (size_t i = 1; i < len; i++) {
		if (p[i] == '.' && p[i - 1] == '.')
			return false;
	}
	return true;
}

int account_address_canonical(const char *raw, size_t raw_len, char *out,
			      const char **error_r)
{
	char prepped[ACCOUNT_ADDR_MAX + 1];
	const char *at, *in = prepped;
	size_t local_len, len, i;

	if (raw_len == 0) {
		*error_r = "empty address";
		return -1;
	}
	/* room for decomposed spellings that SASLprep composes */
	if (raw_len > ACCOUNT_ADDR_RAW_MAX) {
		*error_r = "address longer than 254 bytes";
		return -1;
	}
	/* SASLprep the local part, so that every spelling of a name (NFC,
	 * NFD, compatibility forms) is checked and stored as one; the domain
	 * is ASCII. STORED mode for lookups too: no stored name has an
	 * unassigned code point, so a name with one cannot match anyway. */
	at = memchr(raw, '@', raw_len);
	if (at == NULL || at == raw) {
		*error_r = "address must have the form local@domain";
		return -1;
	}
	if (saslprep(raw, (size_t)(at - raw), SASLPREP_STORED, prepped,
		     sizeof(prepped), &len, error_r) < 0) {
		*error_r = strcmp(*error_r, "too long") == 0
				   ? "address longer than 254 bytes"
				   : "local part is not a valid SASLprep name";
		return -1;
	}
	if (raw_len - (size_t)(at - raw) > sizeof(prepped) - 1 - len) {
		*error_r = "address longer than 254 bytes";
		return -1;
	}
	memcpy(prepped + len, at, raw_len - (size_t)(at - raw));
	len += raw_len - (size_t)(at - raw);
	prepped[len] = '\0';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= 0x20 || c == 0x7f) {
			*error_r = "address contains a space or control "
				   "character";
			return -1;
		}
	}
	at = memchr(in, '@', len);
	if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - in) - 1)) {
		*error_r = "address must have the form local@domain";
		return -1;
	}
	local_len = (size_t)(at - in);
	if (local_len == 0 || local_len == len - 1) {
		*error_r = "address must have the form local@domain";
		return -1;
	}
	if (local_len > ACCOUNT_LOCAL_MAX) {
		*error_r = "local part longer than 64 bytes";
		return -1;
	}
	for (i = 0; i < local_len; i++) {
		if (!local_char_ok((unsigned char)in[i])) {
			*error_r = "local part contains a character that is "
				   "not allowed";
			return -1;
		}
		out[i] = in[i];
	}
	if (!dots_ok(in, local_len)) {
		*error_r = "local part has an empty dot-separated label";
		return -1;
	}
	out[local_len] = '@';
	for (i = local_len + 1; i < len; i++) {
		unsigned char c = lower((unsigned char)in[i]);
		if (!domain_char_ok(c)) {
			*error_r = c >= 0x80 ? "domain must be ASCII (write an "
					       "internationalised domain in "
					       "its xn-- form)"
					     : "domain contains a character "
					       "that is not allowed";
			return -1;
		}
		out[i] = (char)c;
	}
	if (!dots_ok(out + local_len + 1, len - local_len - 1)) {
		*error_r = "domain has an empty label";
		return -1;
	}
	out[len] = '\0';
	return 0;
}

int account_set_password(struct account *a, const void *password,
			 size_t password_len, uint32_t iterations,
			 const char **error_r)
{
	struct scram_secret s256, s1;
	char prepped[ACCOUNT_PASSWORD_MAX + 1];
	size_t plen;

	if (password_len == 0) {
		*error_r = "empty password";
		return -1;
	}
	if (password_len > ACCOUNT_PASSWORD_MAX) {
		*error_r = "password longer than 1024 bytes";
		return -1;
	}
	/* RFC 5802 section 2.2: Hi(Normalize(password), ...); clients
	 * SASLprep too, so the same password typed in NFC or NFD works.
	 * Unassigned code points (in Unicode 3.2: every emoji) are let
	 * through as RFC 4013 allows for queries, since that is what a
	 * client does with the password at login. */
	if (saslprep(password, password_len, SASLPREP_QUERY, prepped,
		     sizeof(prepped), &plen, error_r) < 0) {
		*error_r = strcmp(*error_r, "too long") == 0
				   ? "password longer than 1024 bytes after "
				     "SASLprep"
				   : "password is not valid for SASLprep "
				     "(control characters?)";
		return -1;
	}
	if (scram_secret_derive(SCRAM_SHA256, prepped, plen, iterations, &s256,
				error_r) < 0) {
		explicit_bzero(prepped, sizeof(prepped));
		return -1;
	}
	if (scram_secret_derive(SCRAM_SHA1, prepped, plen, iterations, &s1,
				error_r) < 0) {
		explicit_bzero(prepped, sizeof(prepped));
		scram_secret_wipe(&s256);
		return -1;
	}
	explicit_bzero(prepped, sizeof(prepped));
	a->sha256 = s256;
	a->sha1 = s1;
	a->have_sha1 = true;
	scram_secret_wipe(&s256);
	scram_secret_wipe(&s1);
	return 0;
}

static void put_secret(struct buf *out, const struct scram_secret *s)
{
	size_t n = scram_hash_len(s->alg);

	record_put_be(out, (uint64_t)s->alg, 1);
	record_put_be(out, s->iterations, 4);
	record_put_text(out, 1, s->salt, s->salt_len);
	record_put_be(out, n, 1);
	(void)buf_append(out, s->stored_key, n);
	(void)buf_append(out, s->server_key, n);
}

int account_encode(const struct account *a, struct buf *out)
{
	/* buf_append leaves the buffer unchanged and sets overflow on failure,
	 * so checking the sticky flag once at the end is enough. */
	record_put_be(out, RECORD_VERSION, 1);
	record_put_be(out, a->created, 8);
	record_put_be(out, a->have_sha1 ? 2 : 1, 1);
	put_secret(out, &a->sha256);
	if (a->have_sha1)
		put_secret(out, &a->sha1);
	record_put_be(out, a->settings.quota_storage, 8);
	record_put_be(out, a->settings.quota_messages, 8);
	record_put_be(out, a->settings.trace, 1);
	record_put_be(out, a->settings.flags, 1);
	return out->overflow ? -1 : 0;
}

static int get_secret(struct record_reader *r, struct scram_secret *s,
		      const char **error_r)
{
	uint64_t alg = record_get_be(r, 1);
	const unsigned char *p;
	size_t keylen;

	memset(s, 0, sizeof(*s));
	s->iterations = (uint32_t)record_get_be(r, 4);
	s->salt_len = (size_t)record_get_be(r, 1);
	if (r->bad || !scram_alg_valid((int)alg)) {
		*error_r = "bad secret header";
		return -1;
	}
	s->alg = (enum scram_alg)alg;
	if ((p = record_take(r, s->salt_len)) == NULL ||
	    s->salt_len > SCRAM_MAX_SALT_LEN) {
		*error_r = "bad salt";
		return -1;
	}
	memcpy(s->salt, p, s->salt_len);
	keylen = (size_t)record_get_be(r, 1);
	if (r->bad || keylen != scram_hash_len(s->alg) ||
	    (p = record_take(r, 2 * keylen)) == NULL) {
		*error_r = "bad key length";
		return -1;
	}
	memcpy(s->stored_key, p, keylen);
	memcpy(s->server_key, p + keylen, keylen);
	if (!scram_secret_valid(s)) {
		*error_r = "secret out of range";
		return -1;
	}
	return 0;
}

int account_decode(const void *p, size_t len, struct account *a_r,
		   const char **error_r)
{
	struct record_reader r;
	struct scram_secret s;
	bool have256 = false;
	uint64_t count, version;

	memset(&s, 0, sizeof(s));
	memset(a_r, 0, sizeof(*a_r));
	record_reader_init(&r, p, len);
	version = record_get_be(&r, 1);
	if (r.bad || (version != RECORD_VERSION && version != RECORD_VERSION_V2 &&
		      version != RECORD_VERSION_V1)) {
		*error_r = "unknown record version";
		return -1;
	}
	a_r->created = record_get_be(&r, 8);
	count = record_get_be(&r, 1);
	if (r.bad || count < 1 || count > 2) {
		*error_r = "bad secret count";
		return -1;
	}
	for (uint64_t i = 0; i < count; i++) {
		if (get_secret(&r, &s, error_r) < 0)
			goto fail;
		if (s.alg == SCRAM_SHA256 && !have256) {
			a_r->sha256 = s;
			have256 = true;
		} else if (s.alg == SCRAM_SHA1 && !a_r->have_sha1) {
			a_r->sha1 = s;
			a_r->have_sha1 = true;
		} else {
			*error_r = "duplicate secret";
			goto fail;
		}
	}
	if (!have256) {
		*error_r = "no SCRAM-SHA-256 secret";
		goto fail;
	}
	if (version >= RECORD_VERSION_V2) {
		a_r->settings.quota_storage = record_get_be(&r, 8);
		a_r->settings.quota_messages = record_get_be(&r, 8);
		a_r->settings.trace = (uint32_t)record_get_be(&r, 1);
		if (version >= RECORD_VERSION)
			a_r->settings.flags = (uint32_t)record_get_be(&r, 1);
		if (r.bad || a_r->settings.trace > USER_TRACE_MAX ||
		    (a_r->settings.flags & ~USER_F_ALL) != 0) {
			*error_r = "bad settings";
			goto fail;
		}
	}
	if (r.left != 0) {
		*error_r = "trailing bytes";
		goto fail;
	}
	scram_secret_wipe(&s);
	return 0;
fail:
	scram_secret_wipe(&s);
	account_wipe(a_r);
	return -1;
}

void account_wipe(struct account *a)
{
	explicit_bzero(a, sizeof(*a));
}
