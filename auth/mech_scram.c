/* SCRAM-SHA-256(-PLUS) and SCRAM-SHA-1(-PLUS) as a server: RFC 5802,
 * RFC 7677; channel binding tls-unique (RFC 5929, TLS 1.2) and
 * tls-exporter (RFC 9266, TLS 1.3), whose bytes the login process took from
 * GnuTLS (req->cb_type, req->cb_data).
 *
 *   C: gs2-header client-first-message-bare  (n,,n=user,r=cnonce)
 *   S: server-first-message                   (r=cnonce+snonce,s=salt,i=4096)
 *   C: client-final-message                   (c=b64(gs2+cb),r=...,p=proof)
 *   S: server-final-message                   (v=ServerSignature)
 *
 * Parsing is strict and bounded: every client message is at most
 * SCRAM_MSG_MAX bytes of the RFC grammar, with no NUL; anything else ends
 * the exchange with a failure, never more than that.
 *
 * How a failure reaches the client: RFC 5802 puts "e=..." into the
 * server-final message, but IMAP cannot send data together with a failure
 * (RFC 4422 would have it sent as one more challenge that the client must
 * answer with an empty line). Clients differ in what they do with an e=
 * inside a challenge (abort with "*", or hang up), while a tagged NO ends
 * AUTHENTICATE for every one of them, gsasl and imtest included. So an
 * error ends the exchange at once: the failure's message is the e= value,
 * which imap-login appends to its NO text ("... (e=invalid-proof)"). An
 * unknown user gets the same salt/iteration treatment and the same
 * "e=invalid-proof" as a wrong password (RFC 5802 section 9 "unknown-user"
 * would tell an attacker which accounts exist).
 *
 * Policy choices:
 * - gs2 flag "p=<type>" under the bare mechanism name is accepted with
 *   -PLUS semantics (cyrus-sasl's imtest sends that).
 * - "y" (client could bind, thinks we cannot) on a TLS connection, where
 *   we offer -PLUS, is a downgrade attempt: refused and logged.
 * - "n" under a -PLUS name contradicts the mechanism: refused.
 * - authzid must be absent or name the same account (as PLAIN).
 * - an account without a SHA-1 secret cannot use SCRAM-SHA-1: it is
 *   answered like an unknown user. */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "ipc_proto.h"
#include "log.h"
#include "mech.h"
#include "rand.h"
#include "scram.h"
#include "str.h"

/* Longest client message (both SCRAM messages are well under 1 KiB with
 * a 254-byte name and a 256-byte nonce). */
#define SCRAM_MSG_MAX 2048
/* Client nonce bytes accepted. */
#define SCRAM_CNONCE_MAX 256
/* Random bytes of our nonce part: 192 bits, 32 base64 chars, no padding. */
#define SCRAM_SNONCE_BYTES 24
/* Channel-binding type names (RFC 5056: short tokens). */
#define SCRAM_CB_NAME_MAX 32
/* Salt of the fake secret of an unknown user. */
#define SCRAM_FAKE_SALT 16

struct scram_ctx {
	enum scram_alg alg;
	bool plus_mech;	       /* the mechanism name says -PLUS */
	bool bound;	       /* gs2 flag "p": c= carries the binding bytes */
	struct buf gs2;	       /* gs2-header as sent, with its last comma */
	struct buf first_bare; /* client-first-message-bare */
	struct buf server_first;
	struct buf nonce; /* client nonce + server nonce */
	struct scram_secret secret;
	bool known; /* account found and has a secret for alg */
	const char *unknown_reason;
	char user[ACCOUNT_ADDR_MAX + 1];
};

/* A view into a client message. */
struct cursor {
	const char *p;
	size_t left;
};

static enum mech_status scram_fail(struct mech_request *req, uint32_t code,
				   const char *reason, const char *e)
{
	req->fail_text = e;
	return mech_fail(req, code, reason);
}

/* Everything a client does wrong in SCRAM is a failed attempt (NO and a
 * count against its address), not a protocol error of the login process. */
static enum mech_status bad(struct mech_request *req, const char *reason,
			    const char *e)
{
	return scram_fail(req, IPC_AUTH_FAIL_CREDENTIALS, reason, e);
}

/* Takes bytes up to the next ',' (or the end) as a value. */
static struct str take_value(struct cursor *c)
{
	const char *comma = c->left == 0 ? NULL : memchr(c->p, ',', c->left);
	size_t n = comma == NULL ? c->left : (size_t)(comma - c->p);
	struct str v = {c->p, n};

	c->p += n;
	c->left -= n;
	return v;
}

/* "X=" with the given attribute letter. */
static bool take_attr(struct cursor *c, char name)
{
	if (c->left < 2 || c->p[0] != name || c->p[1] != '=')
		return false;
	c->p += 2;
	c->left -= 2;
	return true;
}

static bool take_comma(struct cursor *c)
{
	if (c->left == 0 || c->p[0] != ',')
		return false;
	c->p++;
	c->left--;
	return true;
}

/* Optional trailing extensions: *("," ALPHA "=" 1*value-char). They are
 * ignored (RFC 5802 section 5.1), but must have the shape. */
static bool rest_is_extensions(struct cursor *c)
{
	while (c->left > 0) {
		if (!take_comma(c) || c->left < 2 ||
		    !((c->p[0] >= 'a' && c->p[0] <= 'z') ||
		      (c->p[0] >= 'A' && c->p[0] <= 'Z')) ||
		    c->p[1] != '=')
			return false;
		c->p += 2;
		c->left -= 2;
		if (take_value(c).len == 0)
			return false;
	}
	return true;
}

/* saslname (RFC 5802): "=2C" is ',', "=3D" is '=', any other '=' is an
 * error. Into out (outsz, NUL-terminated). 0, or -1. */
static int saslname_decode(struct str v, char *out, size_t outsz, size_t *len_r)
{
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (ch == '=') {
			if (v.len - i < 3 || v.p[i + 1] != '3' ||
			    (v.p[i + 2] != 'D' && v.p[i + 2] != 'C'))
				return -1;
			ch = v.p[i + 2] == 'D' ? '=' : ',';
			i += 2;
		}
		if (n + 1 >= outsz)
			return -1;
		out[n++] = ch;
	}
	if (n == 0)
		return -1;
	out[n] = '\0';
	*len_r = n;
	return 0;
}

/* printable = %x21-2B / %x2D-7E */
static bool nonce_valid(struct str v)
{
	if (v.len == 0 || v.len > SCRAM_CNONCE_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];
		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

static bool cb_name_valid(struct str v)
{
	if (v.len == 0 || v.len > SCRAM_CB_NAME_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

/* An unknown user still gets a believable server-first: a salt that is a
 * keyed hash of the name (stable across attempts, unguessable without the
 * daemon's dummy key) and the configured iteration count. */
static void scram_fake_secret(struct scram_ctx *ctx, const char *name,
			      size_t len)
{
	const struct scram_secret *dummy = mech_dummy_secret();
	unsigned char h[SCRAM_MAX_HASH_LEN];

	memset(&ctx->secret, 0, sizeof(ctx->secret));
	ctx->secret.alg = ctx->alg;
	ctx->secret.iterations = dummy->iterations;
	if (scram_server_signature(SCRAM_SHA256, dummy->server_key, name, len,
				   h) < 0)
		rand_bytes(h, sizeof(h));
	ctx->secret.salt_len = SCRAM_FAKE_SALT;
	memcpy(ctx->secret.salt, h, SCRAM_FAKE_SALT);
	/* keys stay zero: no proof can match StoredKey = 0 */
	explicit_bzero(h, sizeof(h));
}

/* Checks the gs2 channel-binding flag against what the connection and the
 * mechanism offer. MECH_CONTINUE when acceptable. */
static enum mech_status scram_check_binding(struct mech_request *req,
					    struct scram_ctx *ctx, char flag,
					    struct str cb_name)
{
	bool have_tls = req->cb_type[0] != '\0';

	switch (flag) {
	case 'p':
		if (!have_tls)
			return bad(req, "channel-binding-without-tls",
				   "e=unsupported-channel-binding-type");
		if (!str_eq(cb_name, str_from_cstr(req->cb_type)))
			return bad(req, "unsupported-channel-binding-type",
				   "e=unsupported-channel-binding-type");
		ctx->bound = true;
		return MECH_CONTINUE;
	case 'y':
		if (have_tls || ctx->plus_mech) {
			clog_warn(&req->log,
				  "auth: SCRAM client says the server cannot "
				  "bind channels although this connection "
				  "offers -PLUS: possible downgrade attack");
			return bad(req, "channel-binding-downgrade",
				   "e=server-does-support-channel-binding");
		}
		return MECH_CONTINUE;
	default:
		if (ctx->plus_mech)
			return bad(req, "plus-mechanism-without-binding",
				   "e=other-error");
		return MECH_CONTINUE;
	}
}

/* gs2-header = gs2-cbind-flag "," [authzid] "," */
static enum mech_status scram_parse_gs2(struct mech_request *req,
					struct scram_ctx *ctx, struct cursor *c,
					struct str *authzid_r)
{
	const char *start = c->p;
	struct str cb_name = {NULL, 0};
	char flag;

	authzid_r->len = 0;
	if (c->left < 1)
		return bad(req, "malformed-gs2-header", "e=invalid-encoding");
	flag = c->p[0];
	if (flag == 'n' || flag == 'y') {
		c->p++;
		c->left--;
	} else if (take_attr(c, 'p')) {
		cb_name = take_value(c);
		if (!cb_name_valid(cb_name))
			return bad(req, "malformed-gs2-header",
				   "e=invalid-encoding");
	} else {
		return bad(req, "malformed-gs2-header", "e=invalid-encoding");
	}
	if (!take_comma(c))
		return bad(req, "malformed-gs2-header", "e=invalid-encoding");
	if (take_attr(c, 'a')) {
		*authzid_r = take_value(c);
		if (authzid_r->len == 0)
			return bad(req, "malformed-gs2-header",
				   "e=invalid-encoding");
	}
	if (!take_comma(c))
		return bad(req, "malformed-gs2-header", "e=invalid-encoding");
	if (buf_append(&ctx->gs2, start, (size_t)(c->p - start)) < 0)
		return bad(req, "malformed-gs2-header", "e=invalid-encoding");
	return scram_check_binding(req, ctx, flag, cb_name);
}

/* The account, or the fake secret of an unknown one. MECH_CONTINUE, or a
 * temporary failure on a database error. */
static enum mech_status scram_lookup(struct mech_request *req,
				     struct scram_ctx *ctx, const char *name,
				     size_t len)
{
	struct account acct;
	int ret = mech_lookup_account(name, len, &acct);

	if (ret < 0)
		return scram_fail(req, IPC_AUTH_FAIL_TEMP, "database-error",
				  NULL);
	if (ret > 0 && ctx->alg == SCRAM_SHA1 && !acct.have_sha1) {
		ctx->unknown_reason = "no-sha1-secret";
		account_wipe(&acct);
		ret = 0;
	}
	if (ret == 0) {
		if (ctx->unknown_reason == NULL)
			ctx->unknown_reason = "unknown-user";
		scram_fake_secret(ctx, name, len);
		return MECH_CONTINUE;
	}
	ctx->secret = ctx->alg == SCRAM_SHA1 ? acct.sha1 : acct.sha256;
	memcpy(ctx->user, acct.address, sizeof(ctx->user));
	ctx->known = true;
	account_wipe(&acct);
	return MECH_CONTINUE;
}

static enum mech_status scram_server_first(struct mech_request *req,
					   struct scram_ctx *ctx)
{
	unsigned char snonce[SCRAM_SNONCE_BYTES];

	rand_bytes(snonce, sizeof(snonce));
	/* base64 of 24 bytes: 32 chars of [A-Za-z0-9+/], no ',' or '=' */
	if (base64_encode(&ctx->nonce, snonce, sizeof(snonce)) < 0 ||
	    buf_append_cstr(&ctx->server_first, "r=") < 0 ||
	    buf_append(&ctx->server_first, ctx->nonce.data, ctx->nonce.len) <
		    0 ||
	    buf_append_cstr(&ctx->server_first, ",s=") < 0 ||
	    base64_encode(&ctx->server_first, ctx->secret.salt,
			  ctx->secret.salt_len) < 0 ||
	    buf_printf(&ctx->server_first, ",i=%u", ctx->secret.iterations) <
		    0 ||
	    buf_append(&req->out, ctx->server_first.data,
		       ctx->server_first.len) < 0)
		return scram_fail(req, IPC_AUTH_FAIL_TEMP, "internal-error",
				  NULL);
	return MECH_CONTINUE;
}

static enum mech_status scram_client_first(struct mech_request *req,
					   struct scram_ctx *ctx,
					   const char *in, size_t len)
{
	struct cursor c = {in, len};
	struct str authzid, uname, cnonce;
	char name[ACCOUNT_ADDR_MAX + 1], zname[ACCOUNT_ADDR_MAX + 1];
	size_t nlen, zlen;
	enum mech_status st;

	st = scram_parse_gs2(req, ctx, &c, &authzid);
	if (st != MECH_CONTINUE)
		return st;
	const char *bare = c.p;
	if (take_attr(&c, 'm'))
		return bad(req, "mandatory-extension",
			   "e=extensions-not-supported");
	if (!take_attr(&c, 'n'))
		return bad(req, "malformed-client-first", "e=invalid-encoding");
	uname = take_value(&c);
	if (saslname_decode(uname, name, sizeof(name), &nlen) < 0) {
		mech_set_attempted(req, (const unsigned char *)uname.p,
				   uname.len);
		return bad(req, "malformed-username",
			   "e=invalid-username-encoding");
	}
	mech_set_attempted(req, (const unsigned char *)name, nlen);
	if (!take_comma(&c) || !take_attr(&c, 'r'))
		return bad(req, "malformed-client-first", "e=invalid-encoding");
	cnonce = take_value(&c);
	if (!nonce_valid(cnonce) || !rest_is_extensions(&c))
		return bad(req, "malformed-client-first", "e=invalid-encoding");
	if (authzid.len > 0 &&
	    (saslname_decode(authzid, zname, sizeof(zname), &zlen) < 0 ||
	     zlen != nlen || memcmp(zname, name, nlen) != 0))
		return bad(req, "authzid-differs", "e=invalid-proof");

	if (buf_append(&ctx->first_bare, bare, (size_t)(in + len - bare)) < 0 ||
	    buf_append(&ctx->nonce, cnonce.p, cnonce.len) < 0)
		return bad(req, "malformed-client-first", "e=invalid-encoding");
	st = scram_lookup(req, ctx, name, nlen);
	explicit_bzero(zname, sizeof(zname));
	if (st != MECH_CONTINUE)
		return st;
	return scram_server_first(req, ctx);
}

/* c= must be the gs2 header again, plus the binding bytes under "p".
 * A difference is what a man in the middle produces (its TLS session with
 * us has other binding bytes than the client's with it), or a flag
 * tampered with on the way. */
static enum mech_status scram_check_cbind(struct mech_request *req,
					  struct scram_ctx *ctx, struct str v)
{
	struct buf got;
	size_t glen = ctx->gs2.len;
	size_t want = glen + (ctx->bound ? req->cb_len : 0);
	bool ok;

	buf_init(&got, glen + MECH_CB_MAX);
	ok = base64_decode(&got, v.p, v.len) == 0 && got.len == want &&
	     memcmp(got.data, ctx->gs2.data, glen) == 0 &&
	     (!ctx->bound ||
	      scram_mem_equal(got.data + glen, req->cb_data, req->cb_len));
	buf_deinit(&got);
	if (ok)
		return MECH_CONTINUE;
	clog_warn(&req->log,
		  "auth: SCRAM channel binding does not match (%s, "
		  "binding=%s): possible man-in-the-middle",
		  ctx->bound ? "bound" : "unbound",
		  req->cb_type[0] != '\0' ? req->cb_type : "none");
	return bad(req, "channel-bindings-dont-match",
		   "e=channel-bindings-dont-match");
}

static enum mech_status scram_client_final(struct mech_request *req,
					   struct scram_ctx *ctx,
					   const char *in, size_t len)
{
	const char *proof_at = NULL;
	struct cursor c;
	struct str cbind, nonce, proof_b64;
	struct buf proof, auth_msg;
	unsigned char sig[SCRAM_MAX_HASH_LEN];
	size_t n = scram_hash_len(ctx->alg);
	enum mech_status st;
	bool ok;

	/* the proof is the last attribute */
	for (size_t i = len; i >= 3; i--) {
		if (memcmp(in + i - 3, ",p=", 3) == 0) {
			proof_at = in + i - 3;
			break;
		}
	}
	if (proof_at == NULL)
		return bad(req, "malformed-client-final", "e=invalid-encoding");
	proof_b64 =
		(struct str){proof_at + 3, (size_t)(in + len - proof_at - 3)};
	c = (struct cursor){in, (size_t)(proof_at - in)};
	if (!take_attr(&c, 'c'))
		return bad(req, "malformed-client-final", "e=invalid-encoding");
	cbind = take_value(&c);
	if (!take_comma(&c) || !take_attr(&c, 'r'))
		return bad(req, "malformed-client-final", "e=invalid-encoding");
	nonce = take_value(&c);
	if (!rest_is_extensions(&c))
		return bad(req, "malformed-client-final", "e=invalid-encoding");

	st = scram_check_cbind(req, ctx, cbind);
	if (st != MECH_CONTINUE)
		return st;
	if (nonce.len != ctx->nonce.len ||
	    memcmp(nonce.p, ctx->nonce.data, nonce.len) != 0)
		return bad(req, "nonce-mismatch", "e=other-error");
	buf_init(&proof, SCRAM_MAX_HASH_LEN + 3);
	if (base64_decode(&proof, proof_b64.p, proof_b64.len) < 0 ||
	    proof.len != n) {
		buf_deinit(&proof);
		return bad(req, "malformed-proof", "e=invalid-encoding");
	}

	buf_init(&auth_msg, 3 * SCRAM_MSG_MAX);
	(void)buf_append(&auth_msg, ctx->first_bare.data, ctx->first_bare.len);
	(void)buf_append(&auth_msg, ",", 1);
	(void)buf_append(&auth_msg, ctx->server_first.data,
			 ctx->server_first.len);
	(void)buf_append(&auth_msg, ",", 1);
	(void)buf_append(&auth_msg, in, (size_t)(proof_at - in));
	ok = !auth_msg.overflow && ctx->known &&
	     scram_verify_proof(&ctx->secret, auth_msg.data, auth_msg.len,
				proof.data, proof.len);
	buf_deinit_secret(&proof);
	if (!ok) {
		buf_deinit(&auth_msg);
		return bad(req,
			   ctx->known ? "wrong-password" : ctx->unknown_reason,
			   "e=invalid-proof");
	}
	st = MECH_SUCCESS;
	if (scram_server_signature(ctx->alg, ctx->secret.server_key,
				   auth_msg.data, auth_msg.len, sig) < 0 ||
	    buf_append_cstr(&req->out, "v=") < 0 ||
	    base64_encode(&req->out, sig, n) < 0)
		st = scram_fail(req, IPC_AUTH_FAIL_TEMP, "internal-error",
				NULL);
	else
		memcpy(req->user, ctx->user, sizeof(req->user));
	explicit_bzero(sig, sizeof(sig));
	buf_deinit(&auth_msg);
	return st;
}

static struct scram_ctx *scram_ctx_new(const struct mech_request *req)
{
	struct scram_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *name = req->mech->name;

	if (ctx == NULL)
		log_fatal("out of memory");
	ctx->alg = strncmp(name, "SCRAM-SHA-256", 13) == 0 ? SCRAM_SHA256
							   : SCRAM_SHA1;
	ctx->plus_mech = (req->mech->flags & MECH_F_CHANNEL_BINDING) != 0;
	buf_init(&ctx->gs2, SCRAM_MSG_MAX);
	buf_init(&ctx->first_bare, SCRAM_MSG_MAX);
	buf_init(&ctx->server_first, SCRAM_MSG_MAX);
	buf_init(&ctx->nonce, SCRAM_CNONCE_MAX + 2 * SCRAM_SNONCE_BYTES);
	return ctx;
}

static enum mech_status scram_step(struct mech_request *req,
				   const unsigned char *in, size_t len)
{
	struct scram_ctx *ctx = req->mech_ctx;
	bool first = ctx == NULL;

	if (ctx == NULL)
		ctx = req->mech_ctx = scram_ctx_new(req);
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(in, '\0', len) != NULL)
		return bad(req,
			   first ? "malformed-client-first"
				 : "malformed-client-final",
			   "e=invalid-encoding");
	if (first)
		return scram_client_first(req, ctx, (const char *)in, len);
	return scram_client_final(req, ctx, (const char *)in, len);
}

static void scram_deinit(struct mech_request *req)
{
	struct scram_ctx *ctx = req->mech_ctx;

	if (ctx == NULL)
		return;
	buf_deinit(&ctx->gs2);
	buf_deinit(&ctx->first_bare);
	buf_deinit(&ctx->server_first);
	buf_deinit(&ctx->nonce);
	scram_secret_wipe(&ctx->secret);
	explicit_bzero(ctx, sizeof(*ctx));
	free(ctx);
	req->mech_ctx = NULL;
}

const struct mech mech_scram_sha256_plus = {
	.name = "SCRAM-SHA-256-PLUS",
	.flags = MECH_F_CHANNEL_BINDING,
	.step = scram_step,
	.deinit = scram_deinit,
};

const struct mech mech_scram_sha256 = {
	.name = "SCRAM-SHA-256",
	.flags = 0,
	.step = scram_step,
	.deinit = scram_deinit,
};

const struct mech mech_scram_sha1_plus = {
	.name = "SCRAM-SHA-1-PLUS",
	.flags = MECH_F_CHANNEL_BINDING,
	.step = scram_step,
	.deinit = scram_deinit,
};

const struct mech mech_scram_sha1 = {
	.name = "SCRAM-SHA-1",
	.flags = 0,
	.step = scram_step,
	.deinit = scram_deinit,
};
