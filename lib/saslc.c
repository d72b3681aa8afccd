#include "saslc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "rand.h"
#include "saslprep.h"
#include "scram.h"
#include "str.h"
#include "strnum.h"

/* Random bytes of the client nonce: 192 bits, 32 base64 characters. */
#define SASLC_NONCE_BYTES 24
/* Longest server-first message accepted. */
#define SASLC_SCRAM_MSG_MAX 4096
/* The user name after SASLprep, and after "=2C"/"=3D" escaping. */
#define SASLC_USER_MAX 1024

static const char *const mech_names[] = {
	[SASLC_PLAIN] = "PLAIN",
	[SASLC_EXTERNAL] = "EXTERNAL",
	[SASLC_SCRAM_SHA1] = "SCRAM-SHA-1",
	[SASLC_SCRAM_SHA1_PLUS] = "SCRAM-SHA-1-PLUS",
	[SASLC_SCRAM_SHA256] = "SCRAM-SHA-256",
	[SASLC_SCRAM_SHA256_PLUS] = "SCRAM-SHA-256-PLUS",
};
#define N_MECHS (sizeof(mech_names) / sizeof(mech_names[0]))

struct saslc {
	enum saslc_mech mech;
	unsigned step;
	bool done;
	enum scram_alg alg;
	bool plus;
	struct buf user;     /* SASLprep'd */
	struct buf password; /* SASLprep'd */
	struct buf gs2;	     /* gs2 header */
	struct buf cb;	     /* channel-binding data */
	struct buf first_bare;
	char nonce[64];
	unsigned char server_sig[SCRAM_MAX_HASH_LEN];
};

int saslc_mech_parse(const char *name, size_t len, enum saslc_mech *m_r)
{
	struct str s = {name, len};

	for (size_t i = 0; i < N_MECHS; i++) {
		if (str_eq_ci(s, mech_names[i])) {
			*m_r = (enum saslc_mech)i;
			return 0;
		}
	}
	return -1;
}

const char *saslc_mech_name(enum saslc_mech m)
{
	return (size_t)m < N_MECHS ? mech_names[m] : "?";
}

static bool is_plus(enum saslc_mech m)
{
	return m == SASLC_SCRAM_SHA1_PLUS || m == SASLC_SCRAM_SHA256_PLUS;
}

/* Whether the space-separated list has word (case-insensitive). */
static bool list_has(const char *list, struct str word)
{
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		if (e > p && str_eq_ci_str((struct str){p, (size_t)(e - p)},
					   word))
			return true;
		p = e;
	}
	return false;
}

int saslc_choose(const char *prefs, const char *offered, bool tls,
		 bool have_cb, bool have_password, bool have_cert,
		 enum saslc_mech *m_r)
{
	const char *p = prefs;

	while (*p != '\0') {
		enum saslc_mech m;

		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		struct str w = {p, (size_t)(e - p)};
		p = e;
		if (w.len == 0 || saslc_mech_parse(w.p, w.len, &m) < 0 ||
		    !list_has(offered, w))
			continue;
		if (m == SASLC_EXTERNAL ? !have_cert : !have_password)
			continue;
		if ((m == SASLC_PLAIN && !tls) || (is_plus(m) && !have_cb))
			continue;
		*m_r = m;
		return 0;
	}
	return -1;
}

static int prep(const char *in, struct buf *out, const char **error_r)
{
	char tmp[SASLC_USER_MAX + 2];
	size_t len = 0;
	int ret = saslprep(in, strlen(in), SASLPREP_QUERY, tmp, sizeof(tmp),
			   &len, error_r);
	if (ret == 0 && buf_append(out, tmp, len) < 0) {
		*error_r = "out of memory";
		ret = -1;
	}
	explicit_bzero(tmp, sizeof(tmp));
	return ret;
}

struct saslc *saslc_new(enum saslc_mech m, const struct saslc_params *p,
			const char **error_r)
{
	struct saslc *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	s->mech = m;
	s->plus = is_plus(m);
	s->alg = m == SASLC_SCRAM_SHA1 || m == SASLC_SCRAM_SHA1_PLUS
			 ? SCRAM_SHA1
			 : SCRAM_SHA256;
	buf_init(&s->user, SASLC_USER_MAX);
	buf_init(&s->password, SASLC_USER_MAX);
	buf_init(&s->gs2, 128);
	buf_init(&s->cb, 256);
	buf_init(&s->first_bare, SASLC_SCRAM_MSG_MAX);
	if (m == SASLC_EXTERNAL)
		return s;
	if (p->user == NULL || p->password == NULL) {
		*error_r = "a user name and password are needed";
		goto fail;
	}
	if (prep(p->user, &s->user, error_r) < 0 ||
	    prep(p->password, &s->password, error_r) < 0)
		goto fail;
	if (m == SASLC_PLAIN)
		return s;
	if (s->plus && (p->cb_type == NULL || p->cb_len == 0)) {
		*error_r = "no channel binding for a -PLUS mechanism";
		goto fail;
	}
	if (s->plus)
		(void)buf_printf(&s->gs2, "p=%s,,", p->cb_type);
	else if (p->cb_type != NULL && !p->server_has_plus)
		(void)buf_append_cstr(&s->gs2, "y,,");
	else
		(void)buf_append_cstr(&s->gs2, "n,,");
	if (s->plus && buf_append(&s->cb, p->cb_data, p->cb_len) < 0) {
		*error_r = "channel binding too long";
		goto fail;
	}
	return s;
fail:
	saslc_free(&s);
	return NULL;
}

void saslc_free(struct saslc **sp)
{
	struct saslc *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	buf_deinit_secret(&s->user);
	buf_deinit_secret(&s->password);
	buf_deinit(&s->gs2);
	buf_deinit(&s->cb);
	buf_deinit(&s->first_bare);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

bool saslc_done(const struct saslc *s)
{
	return s->done;
}

/* RFC 5802 saslname: ',' -> "=2C", '=' -> "=3D". */
static int saslname(struct buf *out, const struct buf *user)
{
	for (size_t i = 0; i < user->len; i++) {
		char ch = (char)user->data[i];
		int ret = ch == ','   ? buf_append_cstr(out, "=2C")
			  : ch == '=' ? buf_append_cstr(out, "=3D")
				      : buf_append(out, &ch, 1);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int scram_first(struct saslc *s, struct buf *out, const char **error_r)
{
	unsigned char raw[SASLC_NONCE_BYTES];
	struct buf nb;

	rand_bytes(raw, sizeof(raw));
	buf_init(&nb, sizeof(s->nonce) - 1);
	if (base64_encode(&nb, raw, sizeof(raw)) < 0 ||
	    str_cpy(s->nonce, buf_cstr(&nb), sizeof(s->nonce)) < 0) {
		buf_deinit(&nb);
		*error_r = "nonce";
		return -1;
	}
	buf_deinit(&nb);
	if (buf_append_cstr(&s->first_bare, "n=") < 0 ||
	    saslname(&s->first_bare, &s->user) < 0 ||
	    buf_printf(&s->first_bare, ",r=%s", s->nonce) < 0 ||
	    buf_append(out, s->gs2.data, s->gs2.len) < 0 ||
	    buf_append(out, s->first_bare.data, s->first_bare.len) < 0) {
		*error_r = "user name too long";
		return -1;
	}
	return 0;
}

/* Finds "k=" as attribute number idx.. of msg: the value and its length. */
static bool attr(struct str msg, char key, struct str *val_r)
{
	size_t i = 0;

	while (i < msg.len) {
		size_t e = i;
		while (e < msg.len && msg.p[e] != ',')
			e++;
		if (e - i >= 2 && msg.p[i] == key && msg.p[i + 1] == '=') {
			*val_r = (struct str){msg.p + i + 2, e - i - 2};
			return true;
		}
		i = e + 1;
	}
	return false;
}

static int scram_final(struct saslc *s, struct str sf, struct buf *out,
		       const char **error_r)
{
	size_t hl = scram_hash_len(s->alg);
	unsigned char salted[SCRAM_MAX_HASH_LEN], ck[SCRAM_MAX_HASH_LEN],
		sk[SCRAM_MAX_HASH_LEN], csig[SCRAM_MAX_HASH_LEN],
		proof[SCRAM_MAX_HASH_LEN], srvk[SCRAM_MAX_HASH_LEN];
	struct str r, salt64, it;
	struct buf salt, cbind, am;
	uint32_t iter = 0;
	int ret = -1;

	buf_init(&salt, SCRAM_MAX_SALT_LEN);
	buf_init(&cbind, 512);
	buf_init(&am, 3 * SASLC_SCRAM_MSG_MAX);
	if (sf.len > SASLC_SCRAM_MSG_MAX || str_has_nul(sf) ||
	    (sf.len > 0 && sf.p[0] == 'm')) {
		*error_r = "malformed server-first-message";
		goto out;
	}
	if (!attr(sf, 'r', &r) || !attr(sf, 's', &salt64) ||
	    !attr(sf, 'i', &it)) {
		*error_r = attr(sf, 'e', &r) ? "server refused (e=)"
					     : "malformed server-first-message";
		goto out;
	}
	size_t nl = strlen(s->nonce);
	if (r.len <= nl || memcmp(r.p, s->nonce, nl) != 0) {
		*error_r = "server nonce does not extend ours";
		goto out;
	}
	if (base64_decode(&salt, salt64.p, salt64.len) < 0 || salt.len == 0 ||
	    strnum_u32(it.p, it.len, &iter) < 0 ||
	    iter < SCRAM_MIN_ITERATIONS || iter > SCRAM_MAX_ITERATIONS) {
		*error_r = "bad salt or iteration count from the server";
		goto out;
	}
	/* client-final-message-without-proof */
	if (buf_append(&cbind, s->gs2.data, s->gs2.len) < 0 ||
	    buf_append(&cbind, s->cb.data, s->cb.len) < 0 ||
	    buf_append_cstr(out, "c=") < 0 ||
	    base64_encode(out, cbind.data, cbind.len) < 0 ||
	    buf_printf(out, ",r=%.*s", (int)r.len, r.p) < 0) {
		*error_r = "response too long";
		goto out;
	}
	if (buf_append(&am, s->first_bare.data, s->first_bare.len) < 0 ||
	    buf_append(&am, ",", 1) < 0 || buf_append(&am, sf.p, sf.len) < 0 ||
	    buf_append(&am, ",", 1) < 0 ||
	    buf_append(&am, out->data, out->len) < 0) {
		*error_r = "response too long";
		goto out;
	}
	if (scram_salted_password(s->alg, s->password.data, s->password.len,
				  salt.data, salt.len, iter, salted,
				  error_r) < 0 ||
	    scram_client_key(s->alg, salted, ck) < 0 ||
	    scram_stored_key(s->alg, ck, sk) < 0 ||
	    scram_client_signature(s->alg, sk, am.data, am.len, csig) < 0 ||
	    scram_server_key(s->alg, salted, srvk) < 0 ||
	    scram_server_signature(s->alg, srvk, am.data, am.len,
				   s->server_sig) < 0) {
		*error_r = "SCRAM computation failed";
		goto out;
	}
	scram_client_proof(s->alg, ck, csig, proof);
	if (buf_append_cstr(out, ",p=") < 0 ||
	    base64_encode(out, proof, hl) < 0) {
		*error_r = "response too long";
		goto out;
	}
	ret = 0;
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ck, sizeof(ck));
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(csig, sizeof(csig));
	explicit_bzero(proof, sizeof(proof));
	explicit_bzero(srvk, sizeof(srvk));
	buf_deinit(&salt);
	buf_deinit(&cbind);
	buf_deinit(&am);
	return ret;
}

static int scram_verify(struct saslc *s, struct str sf, const char **error_r)
{
	struct str v;
	struct buf sig;
	bool ok;

	if (!attr(sf, 'v', &v)) {
		*error_r = attr(sf, 'e', &v) ? "server refused (e=)"
					     : "malformed server-final-message";
		return -1;
	}
	buf_init(&sig, 128);
	ok = base64_decode(&sig, v.p, v.len) == 0 &&
	     sig.len == scram_hash_len(s->alg) &&
	     scram_mem_equal(sig.data, s->server_sig, sig.len);
	buf_deinit(&sig);
	if (!ok) {
		*error_r = "the server's SCRAM signature is wrong";
		return -1;
	}
	return 0;
}

int saslc_step(struct saslc *s, const void *challenge, size_t len,
	       struct buf *out, const char **error_r)
{
	struct str ch = {challenge, len};
	unsigned step = s->step++;

	if (s->done) {
		*error_r = "server continued a finished exchange";
		return -1;
	}
	switch (s->mech) {
	case SASLC_EXTERNAL:
		s->done = true;
		return 0; /* empty: the identity of the certificate */
	case SASLC_PLAIN:
		s->done = true;
		if (buf_append(out, "", 1) < 0 ||
		    buf_append(out, s->user.data, s->user.len) < 0 ||
		    buf_append(out, "", 1) < 0 ||
		    buf_append(out, s->password.data, s->password.len) < 0) {
			*error_r = "response too long";
			return -1;
		}
		return 0;
	default:
		break;
	}
	if (step == 0)
		return scram_first(s, out, error_r);
	if (step == 1)
		return scram_final(s, ch, out, error_r);
	if (step == 2 && scram_verify(s, ch, error_r) == 0) {
		s->done = true;
		return 0; /* the empty response that ends the exchange */
	}
	if (step > 2)
		*error_r = "too many SCRAM challenges";
	return -1;
}
