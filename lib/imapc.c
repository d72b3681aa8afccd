/* IMAP client: connection, capabilities, authentication, framing. */
#include "imapc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "imap_parser.h"
#include "saslc.h"
#include "str.h"
#include "strnum.h"
#include "tls.h"

#define IMAPC_SASL_MAX 8192
#define IMAPC_CAPS_MAX 8192

struct imapc {
	struct cliconn *conn;
	unsigned next_tag;
	size_t max_response;
	char caps[IMAPC_CAPS_MAX]; /* " CAP1 CAP2 ... " upper case */
	char mech[32];
	char error[256];
};

const char *imapc_error(const struct imapc *c)
{
	if (c->error[0] != '\0')
		return c->error;
	return cliconn_error(c->conn);
}

static int fail(struct imapc *c, const char *fmt, const char *arg)
{
	if (c->error[0] == '\0')
		snprintf(c->error, sizeof(c->error), fmt, arg);
	return -1;
}

void imapc_resp_init(struct imapc_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->raw, SIZE_MAX);
}

void imapc_resp_deinit(struct imapc_resp *r)
{
	buf_deinit(&r->raw);
}

/* A literal announcement "{n}" / "{n+}" / "~{n}" at the end of the line:
 * its size, or -1. */
static int64_t literal_at_end(const char *p, size_t len)
{
	uint64_t n;
	size_t end, start;

	if (len < 3 || p[len - 1] != '}')
		return -1;
	end = len - 1;
	if (p[end - 1] == '+')
		end--;
	start = end;
	while (start > 0 && p[start - 1] >= '0' && p[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || p[start - 1] != '{')
		return -1;
	if (strnum_u64(p + start, end - start, &n) < 0 || n > INT64_MAX)
		return -1;
	return (int64_t)n;
}

static void resp_classify(struct imapc_resp *r)
{
	const char *p = buf_cstr(&r->raw);
	const char *sp = strchr(p, ' ');
	struct str word;

	r->status[0] = '\0';
	r->tag = 0;
	if (p[0] == '+') {
		r->kind = IMAPC_CONTINUE;
		r->text = p[1] == ' ' ? p + 2 : p + 1;
		return;
	}
	r->kind = p[0] == '*' && p[1] == ' ' ? IMAPC_UNTAGGED : IMAPC_TAGGED;
	if (r->kind == IMAPC_TAGGED && p[0] == 'a') {
		uint32_t t;
		size_t tl = sp != NULL ? (size_t)(sp - p - 1) : 0;
		if (tl > 0 && strnum_u32(p + 1, tl, &t) == 0)
			r->tag = t;
	}
	r->text = sp != NULL ? sp + 1 : p + strlen(p);
	word.p = r->text;
	word.len = strcspn(r->text, " ");
	if (str_eq_ci(word, "OK") || str_eq_ci(word, "NO") ||
	    str_eq_ci(word, "BAD") || str_eq_ci(word, "BYE") ||
	    str_eq_ci(word, "PREAUTH")) {
		for (size_t i = 0; i < word.len; i++) {
			char ch = word.p[i];
			r->status[i] = ch >= 'a' && ch <= 'z' ? ch - 32 : ch;
		}
		r->status[word.len] = '\0';
		r->text = word.p[word.len] == ' ' ? word.p + word.len + 1
						  : word.p + word.len;
	}
}

int imapc_read(struct imapc *c, struct imapc_resp *r)
{
	buf_clear(&r->raw);
	for (;;) {
		const char *line;
		size_t len;
		int64_t lit;

		if (cliconn_read_line(c->conn, CLICONN_CHALLENGE, &line, &len) <
		    0)
			return -1;
		if (r->raw.len + len + 2 > c->max_response)
			return fail(c, "%s", "response too large");
		buf_append(&r->raw, line, len);
		lit = literal_at_end(line, len);
		if (lit < 0)
			break;
		if ((uint64_t)lit > c->max_response - r->raw.len - 2)
			return fail(c, "%s", "literal too large");
		buf_append(&r->raw, "\r\n", 2);
		if (cliconn_read_exact(c->conn, (size_t)lit, &r->raw,
				       CLICONN_DATA) < 0)
			return -1;
	}
	if (r->raw.overflow)
		return fail(c, "%s", "out of memory");
	resp_classify(r);
	return 0;
}

/* Keeps the capability list of a "CAPABILITY a b" text (untagged or in a
 * response code). */
static void caps_set(struct imapc *c, const char *text)
{
	size_t o = 0;

	c->caps[o++] = ' ';
	for (const char *p = text; *p != '\0' && *p != ']' &&
				   o + 2 < sizeof(c->caps);
	     p++) {
		char ch = *p;
		c->caps[o++] = ch >= 'a' && ch <= 'z' ? ch - 32 : ch;
	}
	c->caps[o++] = ' ';
	c->caps[o] = '\0';
}

/* Looks for CAPABILITY in an untagged response or a [CAPABILITY ...]
 * response code. */
static void caps_scan(struct imapc *c, const struct imapc_resp *r)
{
	const char *t = r->text;

	if (r->kind == IMAPC_UNTAGGED && r->status[0] == '\0' &&
	    strncasecmp(t, "CAPABILITY ", 11) == 0) {
		caps_set(c, t + 11);
	} else if (strncasecmp(t, "[CAPABILITY ", 12) == 0) {
		caps_set(c, t + 12);
	}
}

bool imapc_has_cap(const struct imapc *c, const char *cap)
{
	char want[128];
	size_t n = strlen(cap);

	if (n + 3 > sizeof(want))
		return false;
	want[0] = ' ';
	for (size_t i = 0; i < n; i++)
		want[i + 1] = cap[i] >= 'a' && cap[i] <= 'z' ? cap[i] - 32
							      : cap[i];
	want[n + 1] = ' ';
	want[n + 2] = '\0';
	return strstr(c->caps, want) != NULL;
}

const char *imapc_auth_mech(const struct imapc *c)
{
	return c->mech;
}

const char *imapc_tls_describe(struct imapc *c)
{
	return cliconn_tls_describe(c->conn);
}

static int send_tagged(struct imapc *c, const char *cmd, enum cliconn_part p,
		       unsigned *tag_r)
{
	char tag[24];
	unsigned t = ++c->next_tag;

	snprintf(tag, sizeof(tag), "a%u ", t);
	if (cliconn_write(c->conn, tag, strlen(tag), CLICONN_PROTO) < 0 ||
	    cliconn_write(c->conn, cmd, strlen(cmd), p) < 0 ||
	    cliconn_write(c->conn, "\r\n", 2, CLICONN_PROTO) < 0)
		return -1;
	if (tag_r != NULL)
		*tag_r = t;
	return 0;
}

int imapc_send(struct imapc *c, const char *cmd, unsigned *tag_r)
{
	return send_tagged(c, cmd, CLICONN_PROTO, tag_r);
}

int imapc_flush(struct imapc *c)
{
	return cliconn_flush(c->conn);
}

int imapc_send_literal(struct imapc *c, const char *prefix, const void *data,
		       size_t n, const char *suffix, unsigned *tag_r)
{
	bool nonsync = imapc_has_cap(c, "LITERAL+") ||
		       (imapc_has_cap(c, "LITERAL-") && n <= 4096);
	char tag[24], lit[48];
	unsigned t = ++c->next_tag;

	snprintf(tag, sizeof(tag), "a%u ", t);
	snprintf(lit, sizeof(lit), "{%zu%s}\r\n", n, nonsync ? "+" : "");
	if (cliconn_write(c->conn, tag, strlen(tag), CLICONN_PROTO) < 0 ||
	    cliconn_write(c->conn, prefix, strlen(prefix), CLICONN_PROTO) <
		    0 ||
	    cliconn_write(c->conn, lit, strlen(lit), CLICONN_PROTO) < 0)
		return -1;
	if (!nonsync) {
		struct imapc_resp r;
		int ret = 0;
		imapc_resp_init(&r);
		do {
			ret = imapc_read(c, &r);
		} while (ret == 0 && r.kind == IMAPC_UNTAGGED);
		if (ret == 0 && r.kind != IMAPC_CONTINUE)
			ret = fail(c, "literal refused: %s", buf_cstr(&r.raw));
		imapc_resp_deinit(&r);
		if (ret < 0)
			return -1;
	}
	if (cliconn_write(c->conn, data, n, CLICONN_DATA) < 0 ||
	    cliconn_write(c->conn, suffix, strlen(suffix), CLICONN_PROTO) <
		    0 ||
	    cliconn_write(c->conn, "\r\n", 2, CLICONN_PROTO) < 0)
		return -1;
	if (tag_r != NULL)
		*tag_r = t;
	return 0;
}

int imapc_run(struct imapc *c, const char *cmd, struct buf *untagged,
	      struct imapc_resp *r)
{
	unsigned tag;

	if (imapc_send(c, cmd, &tag) < 0)
		return -1;
	for (;;) {
		if (imapc_read(c, r) < 0)
			return -1;
		caps_scan(c, r);
		if (r->kind == IMAPC_TAGGED && r->tag == tag)
			return 0;
		if (r->kind == IMAPC_CONTINUE)
			return fail(c, "%s", "unexpected continuation");
		if (untagged != NULL &&
		    (buf_append(untagged, r->raw.data, r->raw.len) < 0 ||
		     buf_append(untagged, "\r\n", 2) < 0))
			return fail(c, "%s", "too many untagged responses");
	}
}

static int authenticate(struct imapc *c, enum saslc_mech m,
			const struct imapc_settings *s)
{
	const char *error = NULL;
	struct buf resp, chal, b64;
	struct imapc_resp r;
	struct saslc *sc;
	char pre[64], tag[24];
	unsigned t;
	int ret = -1;

	sc = cliconn_saslc_new(c->conn, m, s->user, s->password,
			       strstr(c->caps, "-PLUS ") != NULL, &error);
	if (sc == NULL)
		return fail(c, "SASL: %s", error);
	buf_init(&resp, IMAPC_SASL_MAX);
	buf_init(&chal, IMAPC_SASL_MAX);
	buf_init(&b64, IMAPC_SASL_MAX);
	imapc_resp_init(&r);
	t = ++c->next_tag;
	snprintf(tag, sizeof(tag), "a%u ", t);
	snprintf(pre, sizeof(pre), "AUTHENTICATE %s", saslc_mech_name(m));
	if (saslc_step(sc, "", 0, &resp, &error) < 0) {
		fail(c, "SASL: %s", error);
		goto out;
	}
	bool ir = imapc_has_cap(c, "SASL-IR");
	if (cliconn_write(c->conn, tag, strlen(tag), CLICONN_PROTO) < 0 ||
	    cliconn_write(c->conn, pre, strlen(pre), CLICONN_PROTO) < 0)
		goto out;
	if (ir) {
		if (resp.len == 0)
			(void)buf_append_cstr(&b64, "=");
		else
			(void)base64_encode(&b64, resp.data, resp.len);
		if (cliconn_write(c->conn, " ", 1, CLICONN_PROTO) < 0 ||
		    cliconn_write(c->conn, b64.data, b64.len,
				  CLICONN_SECRET) < 0)
			goto out;
	}
	if (cliconn_write(c->conn, "\r\n", 2, CLICONN_PROTO) < 0)
		goto out;
	bool first = !ir;
	for (;;) {
		if (imapc_read(c, &r) < 0)
			goto out;
		caps_scan(c, &r);
		if (r.kind == IMAPC_TAGGED && r.tag == t)
			break;
		if (r.kind != IMAPC_CONTINUE)
			continue;
		buf_clear(&chal);
		buf_clear(&b64);
		if (!first) {
			buf_clear(&resp);
			if (base64_decode(&chal, r.text, strlen(r.text)) < 0 ||
			    saslc_step(sc, chal.data, chal.len, &resp,
				       &error) < 0) {
				fail(c, "SASL: %s",
				     error != NULL ? error : "bad challenge");
				(void)cliconn_write(c->conn, "*\r\n", 3,
						    CLICONN_PROTO);
				continue; /* to the tagged BAD/NO */
			}
		}
		first = false;
		if (base64_encode(&b64, resp.data, resp.len) < 0 ||
		    cliconn_write(c->conn, b64.data, b64.len, CLICONN_SECRET) <
			    0 ||
		    cliconn_write(c->conn, "\r\n", 2, CLICONN_PROTO) < 0)
			goto out;
	}
	if (c->error[0] != '\0')
		goto out;
	if (strcmp(r.status, "OK") != 0) {
		fail(c, "authentication failed: %s", buf_cstr(&r.raw));
	} else if (!saslc_done(sc)) {
		fail(c, "%s", "the server did not prove it knows the password");
	} else {
		(void)str_cpy(c->mech, saslc_mech_name(m), sizeof(c->mech));
		ret = 0;
	}
out:
	buf_deinit_secret(&resp);
	buf_deinit_secret(&chal);
	buf_deinit_secret(&b64);
	imapc_resp_deinit(&r);
	saslc_free(&sc);
	return ret;
}

/* LOGIN with quoted strings (the test and tools path, RFC 9051 6.2.3). */
static int login_cmd(struct imapc *c, const struct imapc_settings *s)
{
	struct buf cmd;
	struct imapc_resp r;
	int ret = -1;

	buf_init(&cmd, 4096);
	imapc_resp_init(&r);
	/* quoted strings only: a literal would need its own round trip */
	if (buf_append_cstr(&cmd, "LOGIN ") < 0 ||
	    imap_write_string(&cmd, str_from_cstr(s->user)) < 0 ||
	    buf_append(&cmd, " ", 1) < 0 ||
	    imap_write_string(&cmd, str_from_cstr(s->password)) < 0 ||
	    memchr(cmd.data, '{', cmd.len) != NULL) {
		fail(c, "%s", "user name or password cannot be quoted");
	} else if (send_tagged(c, buf_cstr(&cmd), CLICONN_SECRET, NULL) == 0) {
		unsigned t = c->next_tag;
		while ((ret = imapc_read(c, &r)) == 0 &&
		       !(r.kind == IMAPC_TAGGED && r.tag == t))
			caps_scan(c, &r);
		caps_scan(c, &r);
		if (ret == 0 && strcmp(r.status, "OK") != 0)
			ret = fail(c, "LOGIN failed: %s", buf_cstr(&r.raw));
		if (ret == 0)
			(void)str_cpy(c->mech, "LOGIN", sizeof(c->mech));
	}
	buf_deinit_secret(&cmd);
	imapc_resp_deinit(&r);
	return ret;
}

static int capability(struct imapc *c)
{
	struct imapc_resp r;
	int ret;

	imapc_resp_init(&r);
	ret = imapc_run(c, "CAPABILITY", NULL, &r);
	if (ret == 0 && strcmp(r.status, "OK") != 0)
		ret = fail(c, "CAPABILITY failed: %s", buf_cstr(&r.raw));
	imapc_resp_deinit(&r);
	return ret;
}

static int tls_up(struct imapc *c, const struct imapc_settings *s)
{
	return cliconn_starttls(c->conn, &s->tls_opts, s->host);
}

static int auth(struct imapc *c, const struct imapc_settings *s)
{
	bool have_pw = s->user != NULL && s->password != NULL;
	bool have_cert = tls_client_opts_have_cert(&s->tls_opts);
	char offered[IMAPC_CAPS_MAX];
	size_t o = 0;
	enum saslc_mech m;

	if (!have_pw && !have_cert)
		return 0;
	if (have_pw && s->mechs != NULL && strcmp(s->mechs, "LOGIN") == 0)
		return login_cmd(c, s);
	/* "AUTH=X" capabilities -> "X ..." */
	for (const char *p = strstr(c->caps, " AUTH="); p != NULL;
	     p = strstr(p + 1, " AUTH=")) {
		size_t n = strcspn(p + 6, " ");
		if (o + n + 2 >= sizeof(offered))
			break;
		memcpy(offered + o, p + 6, n);
		o += n;
		offered[o++] = ' ';
	}
	offered[o] = '\0';
	if (cliconn_sasl_choose(c->conn, s->mechs, offered, have_pw,
				have_cert, &m) < 0)
		return fail(c, "%s", "no authentication mechanism in common "
				     "with the server");
	return authenticate(c, m, s);
}

static int setup(struct imapc *c, const struct imapc_settings *s)
{
	struct imapc_resp r;
	int ret = -1;

	imapc_resp_init(&r);
	if (s->tls == IMAPC_TLS_IMPLICIT && tls_up(c, s) < 0)
		goto out;
	if (imapc_read(c, &r) < 0)
		goto out;
	if (r.kind != IMAPC_UNTAGGED ||
	    (strcmp(r.status, "OK") != 0 && strcmp(r.status, "PREAUTH") != 0)) {
		fail(c, "greeting: %s", buf_cstr(&r.raw));
		goto out;
	}
	caps_scan(c, &r);
	bool preauth = strcmp(r.status, "PREAUTH") == 0;
	if (c->caps[0] == '\0' && capability(c) < 0)
		goto out;
	if (s->tls == IMAPC_TLS_STARTTLS) {
		if (!imapc_has_cap(c, "STARTTLS")) {
			fail(c, "%s", "the server does not offer STARTTLS");
			goto out;
		}
		if (imapc_run(c, "STARTTLS", NULL, &r) < 0)
			goto out;
		if (strcmp(r.status, "OK") != 0) {
			fail(c, "STARTTLS refused: %s", buf_cstr(&r.raw));
			goto out;
		}
		c->caps[0] = '\0';
		if (tls_up(c, s) < 0 || capability(c) < 0)
			goto out;
	}
	if (preauth) {
		(void)str_cpy(c->mech, "PREAUTH", sizeof(c->mech));
		ret = 0;
	} else {
		ret = auth(c, s);
	}
out:
	imapc_resp_deinit(&r);
	return ret;
}

struct imapc *imapc_open(const struct imapc_settings *s, char *err,
			 size_t errsz)
{
	struct cliconn_opts o = {
		.timeout_ms = s->timeout_ms,
		.max_line = IMAPC_MAX_LINE,
		.trace = s->trace,
		.name = "imapc",
		.log_ctx = s->log_ctx,
	};
	enum cliconn_errclass cl;
	struct imapc *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	c->max_response = s->max_response != 0 ? s->max_response
					       : IMAPC_DEFAULT_MAX_RESPONSE;
	c->conn = cliconn_connect(s->host, s->port, &o, &cl, err, errsz);
	if (c->conn == NULL) {
		free(c);
		return NULL;
	}
	if (setup(c, s) < 0) {
		snprintf(err, errsz, "%s", imapc_error(c));
		cliconn_close(&c->conn);
		free(c);
		return NULL;
	}
	return c;
}

void imapc_close(struct imapc **cp)
{
	struct imapc *c = *cp;
	struct imapc_resp r;

	if (c == NULL)
		return;
	*cp = NULL;
	if (cliconn_err(c->conn) == CLICONN_OK) {
		cliconn_limit_timeout(c->conn, CLICONN_BYE_TIMEOUT_MS);
		imapc_resp_init(&r);
		(void)imapc_run(c, "LOGOUT", NULL, &r);
		imapc_resp_deinit(&r);
	}
	cliconn_close(&c->conn);
	free(c);
}
