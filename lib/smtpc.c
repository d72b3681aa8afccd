/* SMTP client session: greeting, EHLO, TLS, AUTH, transactions. */
#include "smtpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "password.h"
#include "saslc.h"
#include "str.h"
#include "strnum.h"
#include "smtpc_private.h"
#include "tls.h"

int smtpc_tls_parse(const char *s, enum smtpc_tls *r)
{
	if (strcmp(s, "starttls") == 0)
		*r = SMTPC_TLS_STARTTLS;
	else if (strcmp(s, "tls") == 0)
		*r = SMTPC_TLS_IMPLICIT;
	else if (strcmp(s, "none") == 0)
		*r = SMTPC_TLS_NONE;
	else
		return -1;
	return 0;
}

ssize_t smtpc_read_fd(void *ctx, void *buf, size_t n)
{
	ssize_t r;

	do {
		r = read(*(int *)ctx, buf, n);
	} while (r < 0 && errno == EINTR);
	return r;
}

void smtpc_reply_local(struct smtpc_reply *r, unsigned code, const char *enh,
		      enum smtpc_err err, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	r->local = true;
	r->err = err;
	(void)str_cpy(r->enh, enh, sizeof(r->enh));
	if (str_cpy(r->text, text, sizeof(r->text)) < 0)
		r->text[sizeof(r->text) - 1] = '\0';
}

/* The local reply for a failed connection. */
static void reply_from_conn(struct smtpc_reply *r, enum cliconn_errclass cl,
			    const char *msg)
{
	switch (cl) {
	case CLICONN_E_RESOLVE:
		smtpc_reply_local(r, 451, "4.4.3", SMTPC_E_RESOLVE, msg);
		break;
	case CLICONN_E_CONNECT:
		smtpc_reply_local(r, 421, "4.4.1", SMTPC_E_CONNECT, msg);
		break;
	case CLICONN_E_TIMEOUT:
		smtpc_reply_local(r, 421, "4.4.2", SMTPC_E_TIMEOUT, msg);
		break;
	case CLICONN_E_TLS:
		smtpc_reply_local(r, 454, "4.7.0", SMTPC_E_TLS, msg);
		break;
	case CLICONN_E_TLS_VERIFY:
		smtpc_reply_local(r, 454, "4.7.5", SMTPC_E_TLS_VERIFY, msg);
		break;
	case CLICONN_E_PROTOCOL:
		smtpc_reply_local(r, 451, "4.5.0", SMTPC_E_PROTOCOL, msg);
		break;
	case CLICONN_E_CONFIG:
		smtpc_reply_local(r, 454, "4.3.5", SMTPC_E_CONFIG, msg);
		break;
	case CLICONN_E_IO:
	case CLICONN_OK:
	default:
		smtpc_reply_local(r, 421, "4.4.2", SMTPC_E_IO, msg);
		break;
	}
}

int smtpc_conn_failed(struct smtpc *c, struct smtpc_reply *r)
{
	reply_from_conn(r, cliconn_err(c->conn), cliconn_error(c->conn));
	return -1;
}

/* Reads one reply into *r. 0, or -1 with *r the local failure (the
 * connection is broken). */
int smtpc_read_reply(struct smtpc *c, enum cliconn_part part,
		      struct smtpc_reply *r)
{
	const char *error = NULL;

	smtpc_parser_reset(&c->parser);
	for (;;) {
		const char *line;
		size_t len;
		if (cliconn_read_line(c->conn, part, &line, &len) < 0)
			return smtpc_conn_failed(c, r);
		int ret = smtpc_parser_line(&c->parser, line, len, &error);
		if (ret < 0) {
			cliconn_fail(c->conn, CLICONN_E_PROTOCOL,
				     "bad reply from the server: %s", error);
			return smtpc_conn_failed(c, r);
		}
		if (ret == 1)
			break;
	}
	*r = c->parser.reply;
	if (r->code >= 400)
		r->err = SMTPC_E_REFUSED;
	return 0;
}

int smtpc_send_cmd(struct smtpc *c, const char *cmd, const char *arg)
{
	if (cliconn_write(c->conn, cmd, strlen(cmd), CLICONN_PROTO) < 0 ||
	    (arg != NULL &&
	     cliconn_write(c->conn, arg, strlen(arg), CLICONN_PROTO) < 0) ||
	    cliconn_write(c->conn, "\r\n", 2, CLICONN_PROTO) < 0)
		return -1;
	return 0;
}

/* One command and its reply; 0 with *r (any code), or -1 (broken). */
int smtpc_command(struct smtpc *c, const char *cmd, const char *arg,
		   struct smtpc_reply *r)
{
	if (smtpc_send_cmd(c, cmd, arg) < 0)
		return smtpc_conn_failed(c, r);
	return smtpc_read_reply(c, CLICONN_PROTO, r);
}

static void ext_clear(struct smtpc *c)
{
	for (size_t i = 0; i < c->next; i++)
		free(c->ext[i]);
	c->next = 0;
}

/* Keeps the keyword lines of an EHLO reply (all but the first). */
static int ext_store(struct smtpc *c)
{
	const char *p = (const char *)c->parser.lines.data;
	const char *end = p + c->parser.lines.len;
	bool first = true;

	ext_clear(c);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		if (!first && c->next < SMTPC_MAX_LINES && nl > p) {
			c->ext[c->next] = str_dup((struct str){p,
							       (size_t)(nl - p)});
			if (c->ext[c->next] == NULL)
				return -1;
			c->next++;
		}
		first = false;
		p = nl + 1;
	}
	return 0;
}

const char *smtpc_ext_param(const struct smtpc *c, const char *kw)
{
	size_t kl = strlen(kw);

	for (size_t i = 0; i < c->next; i++) {
		const char *e = c->ext[i];
		size_t n = strcspn(e, " =");
		if (n == kl && str_eq_ci((struct str){e, n}, kw))
			return e[n] == '\0' ? "" : e + n + 1;
	}
	return NULL;
}

bool smtpc_has_ext(const struct smtpc *c, const char *kw)
{
	return smtpc_ext_param(c, kw) != NULL;
}

const char *smtpc_tls_describe(struct smtpc *c)
{
	return cliconn_tls_describe(c->conn);
}

const char *smtpc_auth_mech(const struct smtpc *c)
{
	return c->mech;
}

static int ehlo(struct smtpc *c, const char *name, struct smtpc_reply *r)
{
	if (smtpc_command(c, "EHLO ", name, r) < 0)
		return -1;
	if (r->code / 100 == 2)
		return ext_store(c) < 0 ? smtpc_conn_failed(c, r) : 0;
	/* RFC 5321 3.2: a server without EHLO gets HELO (and no
	 * extensions); a 4xx is the server's answer for now */
	ext_clear(c);
	if (r->code / 100 != 5)
		return -1;
	if (smtpc_command(c, "HELO ", name, r) < 0)
		return -1;
	return r->code / 100 == 2 ? 0 : -1;
}

static int tls_setup(struct smtpc *c, const struct smtpc_settings *s,
		     struct smtpc_reply *r)
{
	if (cliconn_starttls(c->conn, &s->tls_opts, s->host) < 0)
		return smtpc_conn_failed(c, r);
	return 0;
}

/* Sends a SASL response as base64 (an empty one as "" for the follow-up,
 * "=" as the initial response, RFC 4954 4). */
static int sasl_send(struct smtpc *c, const char *prefix,
		     const struct buf *resp, bool initial)
{
	struct buf b64;
	int ret;

	buf_init(&b64, SMTPC_SASL_MAX);
	if (resp->len == 0 && initial)
		ret = buf_append_cstr(&b64, "=");
	else
		ret = base64_encode(&b64, resp->data, resp->len);
	if (ret < 0) {
		buf_deinit_secret(&b64);
		return cliconn_fail(c->conn, CLICONN_E_PROTOCOL,
				    "SASL response too long");
	}
	ret = (prefix == NULL ||
	       cliconn_write(c->conn, prefix, strlen(prefix), CLICONN_PROTO) ==
		       0) &&
			      cliconn_write(c->conn, b64.data, b64.len,
					    CLICONN_SECRET) == 0 &&
			      cliconn_write(c->conn, "\r\n", 2,
					    CLICONN_PROTO) == 0
		      ? 0
		      : -1;
	buf_deinit_secret(&b64);
	return ret;
}

/* Drives one SASL exchange. 0 authenticated; -1 with *r. */
static int sasl_run(struct smtpc *c, enum saslc_mech m,
		    const struct smtpc_settings *s, struct smtpc_reply *r)
{
	const char *error = NULL;
	const char *offered = smtpc_ext_param(c, "AUTH");
	struct buf resp, chal;
	char prefix[64];
	struct saslc *sc;
	int ret = -1;

	sc = cliconn_saslc_new(c->conn, m, s->user, s->password,
			       offered != NULL &&
				       strstr(offered, "-PLUS") != NULL,
			       &error);
	if (sc == NULL) {
		smtpc_reply_local(r, 535, "5.7.8", SMTPC_E_AUTH, error);
		return -1;
	}
	buf_init(&resp, SMTPC_SASL_MAX);
	buf_init(&chal, SMTPC_SASL_MAX);
	snprintf(prefix, sizeof(prefix), "AUTH %s ", saslc_mech_name(m));
	if (saslc_step(sc, "", 0, &resp, &error) < 0 ||
	    sasl_send(c, prefix, &resp, true) < 0) {
		smtpc_conn_failed(c, r);
		goto out;
	}
	for (;;) {
		if (smtpc_read_reply(c, CLICONN_CHALLENGE, r) < 0)
			goto out;
		if (r->code != 334)
			break;
		buf_clear(&chal);
		buf_clear(&resp);
		/* the challenge is the whole text of the single line */
		const char *t = c->parser.lines.data != NULL
					? (const char *)c->parser.lines.data
					: "";
		size_t tl = c->parser.lines.len > 0 ? c->parser.lines.len - 1
						    : 0;
		if (base64_decode(&chal, t, tl) < 0 ||
		    saslc_step(sc, chal.data, chal.len, &resp, &error) < 0) {
			/* cancel (RFC 4954 4): the server answers 501 */
			if (smtpc_send_cmd(c, "*", NULL) < 0 ||
			    smtpc_read_reply(c, CLICONN_PROTO, r) < 0)
				goto out;
			smtpc_reply_local(r, 535, "5.7.0", SMTPC_E_AUTH,
				  error != NULL ? error
						: "bad SASL challenge");
			goto out;
		}
		if (sasl_send(c, NULL, &resp, false) < 0) {
			smtpc_conn_failed(c, r);
			goto out;
		}
	}
	if (r->code / 100 != 2) {
		r->err = SMTPC_E_AUTH;
	} else if (!saslc_done(sc)) {
		smtpc_reply_local(r, 535, "5.7.0", SMTPC_E_AUTH,
			  "the server did not prove it knows the password");
	} else {
		(void)str_cpy(c->mech, saslc_mech_name(m), sizeof(c->mech));
		ret = 0;
	}
out:
	buf_deinit_secret(&resp);
	buf_deinit_secret(&chal);
	saslc_free(&sc);
	return ret;
}

static int auth(struct smtpc *c, const struct smtpc_settings *s,
		struct smtpc_reply *r)
{
	const char *offered = smtpc_ext_param(c, "AUTH");
	bool have_cert = tls_client_opts_have_cert(&s->tls_opts);
	bool have_pw = s->user != NULL && s->password != NULL;
	enum saslc_mech m;

	if (!have_pw && !have_cert)
		return 0;
	if (offered == NULL) {
		if (!have_pw)
			return 0; /* the certificate may be enough */
		smtpc_reply_local(r, 530, "5.7.0", SMTPC_E_AUTH,
			  "the server does not offer AUTH");
		return -1;
	}
	if (cliconn_sasl_choose(c->conn, s->mechs, offered, have_pw,
				have_cert, &m) < 0) {
		if (!have_pw)
			return 0; /* no EXTERNAL: see if the key suffices */
		smtpc_reply_local(r, 530, "5.7.0", SMTPC_E_AUTH,
			  "no authentication mechanism in common with the "
			  "server");
		return -1;
	}
	if (sasl_run(c, m, s, r) == 0)
		return 0;
	/* a certificate the server already accepted: AUTH is not needed */
	if (m == SASLC_EXTERNAL && r->code == 503 && !r->local)
		return 0;
	return -1;
}

static int session_setup(struct smtpc *c, const struct smtpc_settings *s,
			 struct smtpc_reply *r)
{
	char host[256];
	const char *name = s->helo;

	if (name == NULL) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			(void)str_cpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	if (s->tls == SMTPC_TLS_IMPLICIT && tls_setup(c, s, r) < 0)
		return -1;
	if (smtpc_read_reply(c, CLICONN_PROTO, r) < 0)
		return -1;
	if (r->code != 220) {
		r->err = SMTPC_E_REFUSED;
		return -1;
	}
	if (ehlo(c, name, r) < 0)
		return -1;
	if (s->tls == SMTPC_TLS_STARTTLS) {
		if (!smtpc_has_ext(c, "STARTTLS")) {
			smtpc_reply_local(r, 454, "4.7.0", SMTPC_E_TLS,
				  "the server does not offer STARTTLS");
			return -1;
		}
		if (smtpc_command(c, "STARTTLS", NULL, r) < 0)
			return -1;
		if (r->code != 220) {
			r->err = SMTPC_E_TLS;
			return -1;
		}
		if (tls_setup(c, s, r) < 0 || ehlo(c, name, r) < 0)
			return -1;
	}
	return auth(c, s, r);
}

struct smtpc *smtpc_open(const struct smtpc_settings *s,
			 struct smtpc_reply *fail_r)
{
	struct cliconn_opts o = {
		.timeout_ms = s->timeout_ms,
		.max_line = SMTPC_MAX_LINE,
		.trace = s->trace,
		.name = "smtpc",
		.log_ctx = s->log_ctx,
	};
	enum cliconn_errclass cl;
	char err[256];
	struct smtpc *c;

	if (s->host == NULL || s->port == NULL) {
		smtpc_reply_local(fail_r, 451, "4.3.5", SMTPC_E_CONFIG,
			  "no server configured");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		smtpc_reply_local(fail_r, 451, "4.3.0", SMTPC_E_IO, "out of memory");
		return NULL;
	}
	smtpc_parser_init(&c->parser);
	c->conn = cliconn_connect(s->host, s->port, &o, &cl, err, sizeof(err));
	if (c->conn == NULL) {
		reply_from_conn(fail_r, cl, err);
		smtpc_close(&c);
		return NULL;
	}
	if (session_setup(c, s, fail_r) < 0) {
		smtpc_close(&c);
		return NULL;
	}
	return c;
}

void smtpc_close(struct smtpc **cp)
{
	struct smtpc *c = *cp;
	struct smtpc_reply r;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->conn != NULL && cliconn_err(c->conn) == CLICONN_OK) {
		cliconn_limit_timeout(c->conn, CLICONN_BYE_TIMEOUT_MS);
		(void)smtpc_command(c, "QUIT", NULL, &r);
	}
	cliconn_close(&c->conn);
	ext_clear(c);
	smtpc_parser_deinit(&c->parser);
	free(c);
}
