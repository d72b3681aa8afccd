/* SMTP client transactions: MAIL, RCPT (pipelined), DATA or BDAT. */
#include "smtpc.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "strnum.h"
#include "smtpc_private.h"

/* Bytes read from the message source at a time. */
#define SMTPC_READ_CHUNK 65536
/* Longest address or parameter string put into a command. */
#define SMTPC_ARG_MAX 1024

/* Whether s may go into a command: no controls, no angle brackets (a
 * recipient taken from a header must not inject a second command). */
static bool arg_ok(const char *s, bool brackets_ok)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];
		if (ch < 0x20 || ch == 0x7f ||
		    (!brackets_ok && (ch == '<' || ch == '>')))
			return false;
	}
	return n <= SMTPC_ARG_MAX;
}

static int queue_mail(struct smtpc *c, const struct smtpc_envelope *env)
{
	char cmd[SMTPC_ARG_MAX + 128];
	const char *size = smtpc_ext_param(c, "SIZE");
	int n = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", env->from);

	if (size != NULL && env->size > 0)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SIZE=%llu",
			      (unsigned long long)env->size);
	if (env->body_8bit && smtpc_has_ext(c, "8BITMIME"))
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
			      " BODY=8BITMIME");
	if (env->smtputf8)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SMTPUTF8");
	return smtpc_send_cmd(c, cmd, NULL);
}

static int queue_rcpt(struct smtpc *c, const struct smtpc_rcpt *r)
{
	char cmd[2 * SMTPC_ARG_MAX + 32];

	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>%s%s", r->addr,
		 r->params != NULL ? " " : "",
		 r->params != NULL ? r->params : "");
	return smtpc_send_cmd(c, cmd, NULL);
}

/* Every recipient not yet decided gets *r as its final reply. */
static void rcpts_fill(struct smtpc_envelope *env, const struct smtpc_reply *r,
		       bool only_accepted)
{
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		if (only_accepted ? rc->rcpt_accepted : rc->reply.code == 0)
			rc->reply = *r;
	}
}

/* The connection broke during the envelope: whatever the server did not
 * finally answer (MAIL, accepted or unanswered recipients) gets the local
 * failure, never a success it did not give. */
static void broken_fill(struct smtpc *c, struct smtpc_envelope *env,
			struct smtpc_reply *mail_r)
{
	struct smtpc_reply fail;

	smtpc_conn_failed(c, &fail);
	if (mail_r->code / 100 == 2 || mail_r->code == 0)
		*mail_r = fail;
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		bool refused = rc->reply.code != 0 && !rc->rcpt_accepted &&
			       rc->reply.err == SMTPC_E_REFUSED;
		if (!refused)
			rc->reply = fail;
	}
}

/* Local checks before anything is sent: 0 go on, -1 refused (replies
 * filled). */
static int precheck(struct smtpc *c, struct smtpc_envelope *env,
		    struct smtpc_reply *mail_r)
{
	const char *size = smtpc_ext_param(c, "SIZE");
	uint64_t max = 0;
	size_t bad = 0;

	if (env->from == NULL || !arg_ok(env->from, false)) {
		smtpc_reply_local(mail_r, 553, "5.1.7", SMTPC_E_REFUSED,
				  "invalid sender address");
		return -1;
	}
	if (env->smtputf8 && !smtpc_has_ext(c, "SMTPUTF8")) {
		smtpc_reply_local(mail_r, 553, "5.6.7", SMTPC_E_UNSUPPORTED,
				  "the server does not support SMTPUTF8");
		return -1;
	}
	if (size != NULL && *size != '\0' &&
	    strnum_cstr_u64(size, &max) == 0 && max > 0 && env->size > max) {
		smtpc_reply_local(mail_r, 552, "5.3.4", SMTPC_E_REFUSED,
				  "message larger than the server accepts");
		return -1;
	}
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		if (rc->addr == NULL || rc->addr[0] == '\0' ||
		    !arg_ok(rc->addr, false) ||
		    (rc->params != NULL && !arg_ok(rc->params, false))) {
			smtpc_reply_local(&rc->reply, 553, "5.1.3",
					  SMTPC_E_REFUSED,
					  "invalid recipient address");
			bad++;
		}
	}
	if (bad == env->nrcpt) {
		smtpc_reply_local(mail_r, 554, "5.5.1", SMTPC_E_REFUSED,
				  "no valid recipients");
		return -1;
	}
	return 0;
}

/* MAIL and RCPT, pipelined in groups when the server allows it, and DATA
 * as the last command of the last group when sending_data. Returns the
 * number of accepted recipients, or -1 (broken; replies filled). The DATA
 * reply goes to *data_r. */
static ssize_t envelope(struct smtpc *c, struct smtpc_envelope *env,
			struct smtpc_reply *mail_r, bool data_cmd,
			struct smtpc_reply *data_r)
{
	bool pipe = smtpc_has_ext(c, "PIPELINING");
	bool mail_read = false;
	size_t next = 0, accepted = 0;

	if (queue_mail(c, env) < 0)
		return smtpc_conn_failed(c, mail_r);
	if (!pipe) {
		if (smtpc_read_reply(c, CLICONN_PROTO, mail_r) < 0)
			return -1;
		if (mail_r->code / 100 != 2)
			return 0; /* no RCPT, no DATA */
		mail_read = true;
	}
	do {
		size_t first = next, room = pipe ? SMTPC_PIPELINE_MAX : 1;

		for (; next < env->nrcpt && room > 0; next++) {
			if (env->rcpts[next].reply.local)
				continue; /* refused locally, never sent */
			if (queue_rcpt(c, &env->rcpts[next]) < 0)
				return smtpc_conn_failed(c, mail_r);
			room--;
		}
		bool with_data = pipe && data_cmd && next == env->nrcpt;
		if (with_data && smtpc_send_cmd(c, "DATA", NULL) < 0)
			return smtpc_conn_failed(c, mail_r);
		if (!mail_read) {
			if (smtpc_read_reply(c, CLICONN_PROTO, mail_r) < 0)
				return -1;
			mail_read = true;
		}
		for (size_t i = first; i < next; i++) {
			struct smtpc_rcpt *rc = &env->rcpts[i];
			if (rc->reply.local)
				continue;
			if (smtpc_read_reply(c, CLICONN_PROTO, &rc->reply) < 0)
				return -1;
			rc->rcpt_accepted = rc->reply.code / 100 == 2;
			if (rc->rcpt_accepted) {
				accepted++;
				memset(&rc->reply, 0, sizeof(rc->reply));
			}
		}
		if (with_data &&
		    smtpc_read_reply(c, CLICONN_PROTO, data_r) < 0)
			return -1;
	} while (next < env->nrcpt);
	if (!pipe && data_cmd && accepted > 0 &&
	    smtpc_command(c, "DATA", NULL, data_r) < 0)
		return -1;
	return (ssize_t)accepted;
}

/* Streams the message, encoded, as DATA (dot_stuff) or BDAT chunks.
 * 0 with *r the final reply (any code), -1 broken (or source failed). */
static int body(struct smtpc *c, bool bdat, smtpc_read_fn *rd, void *ctx,
		struct smtpc_reply *r)
{
	unsigned char in[SMTPC_READ_CHUNK];
	struct smtpc_encoder enc;
	struct buf out;
	bool eof = false;
	int ret = -1;

	smtpc_encoder_init(&enc, !bdat);
	buf_init(&out, SMTPC_CHUNK + 2 * SMTPC_READ_CHUNK + 8);
	while (!eof) {
		ssize_t n = rd(ctx, in, sizeof(in));
		if (n < 0) {
			cliconn_fail(c->conn, CLICONN_E_IO,
				     "reading the message failed");
			smtpc_reply_local(r, 451, "4.3.0", SMTPC_E_SOURCE,
					  "reading the message failed");
			goto out;
		}
		eof = n == 0;
		if ((eof ? smtpc_encode_finish(&enc, &out)
			 : smtpc_encode(&enc, in, (size_t)n, &out)) < 0) {
			cliconn_fail(c->conn, CLICONN_E_IO, "out of memory");
			smtpc_conn_failed(c, r);
			goto out;
		}
		if (!bdat) {
			if (cliconn_write(c->conn, out.data, out.len,
					  CLICONN_DATA) < 0 ||
			    (cliconn_pending_output(c->conn) >=
				     CLICONN_FLUSH_AT &&
			     cliconn_flush(c->conn) < 0)) {
				smtpc_conn_failed(c, r);
				goto out;
			}
			buf_clear(&out);
			continue;
		}
		if (out.len < SMTPC_CHUNK && !eof)
			continue;
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "BDAT %zu%s", out.len,
			 eof ? " LAST" : "");
		if (smtpc_send_cmd(c, cmd, NULL) < 0 ||
		    cliconn_write(c->conn, out.data, out.len, CLICONN_DATA) <
			    0) {
			smtpc_conn_failed(c, r);
			goto out;
		}
		buf_clear(&out);
		if (smtpc_read_reply(c, CLICONN_PROTO, r) < 0)
			goto out;
		if (r->code / 100 != 2 && !eof) {
			ret = 0; /* refused mid-way; the chunk was consumed */
			goto out;
		}
	}
	if (!bdat && smtpc_read_reply(c, CLICONN_PROTO, r) < 0)
		goto out;
	ret = 0;
out:
	buf_deinit(&out);
	return ret;
}

ssize_t smtpc_send(struct smtpc *c, struct smtpc_envelope *env,
		   smtpc_read_fn *rd, void *rd_ctx, struct smtpc_reply *mail_r)
{
	bool bdat = smtpc_has_ext(c, "CHUNKING");
	struct smtpc_reply data = {0}, fin = {0};
	ssize_t accepted, delivered = 0;

	memset(mail_r, 0, sizeof(*mail_r));
	for (size_t i = 0; i < env->nrcpt; i++) {
		memset(&env->rcpts[i].reply, 0, sizeof(env->rcpts[i].reply));
		env->rcpts[i].rcpt_accepted = false;
	}
	if (cliconn_err(c->conn) != CLICONN_OK) {
		smtpc_conn_failed(c, mail_r);
		rcpts_fill(env, mail_r, false);
		return -1;
	}
	if (c->need_rset) {
		if (smtpc_command(c, "RSET", NULL, mail_r) < 0) {
			rcpts_fill(env, mail_r, false);
			return -1;
		}
		c->need_rset = false;
	}
	if (precheck(c, env, mail_r) < 0) {
		rcpts_fill(env, mail_r, false);
		return 0;
	}
	c->need_rset = true; /* until the message is accepted */
	accepted = envelope(c, env, mail_r, !bdat, &data);
	if (accepted < 0) {
		broken_fill(c, env, mail_r);
		return -1;
	}
	if (mail_r->code / 100 != 2) {
		/* every RCPT reply is a 503 then: the MAIL reply says more */
		for (size_t i = 0; i < env->nrcpt; i++)
			if (!env->rcpts[i].reply.local)
				env->rcpts[i].reply = *mail_r;
	}
	if (mail_r->code / 100 != 2 || accepted == 0) {
		/* RFC 2920 3.1: a 354 to a pipelined DATA after a refused
		 * MAIL or refused recipients still needs the message's end */
		if (data.code == 354 &&
		    (cliconn_write(c->conn, ".\r\n", 3, CLICONN_PROTO) < 0 ||
		     smtpc_read_reply(c, CLICONN_PROTO, &fin) < 0))
			return -1;
		return 0;
	}
	if (!bdat && data.code != 354) {
		if (data.code / 100 == 2)
			smtpc_reply_local(&data, 451, "4.5.0", SMTPC_E_PROTOCOL,
					  "unexpected reply to DATA");
		rcpts_fill(env, &data, true);
		return 0;
	}
	if (body(c, bdat, rd, rd_ctx, &fin) < 0) {
		rcpts_fill(env, &fin, true);
		return -1;
	}
	if (fin.code / 100 == 2) {
		c->need_rset = false;
		delivered = accepted;
	}
	rcpts_fill(env, &fin, true);
	return delivered;
}

ssize_t smtpc_deliver(const struct smtpc_settings *s,
		      struct smtpc_envelope *env, smtpc_read_fn *rd,
		      void *rd_ctx, struct smtpc_reply *mail_r)
{
	struct smtpc *c = smtpc_open(s, mail_r);
	ssize_t n;

	if (c == NULL) {
		for (size_t i = 0; i < env->nrcpt; i++) {
			env->rcpts[i].reply = *mail_r;
			env->rcpts[i].rcpt_accepted = false;
		}
		return -1;
	}
	n = smtpc_send(c, env, rd, rd_ctx, mail_r);
	smtpc_close(&c);
	return n;
}
