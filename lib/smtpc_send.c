/* SMTP client transactions: MAIL, RCPT, DATA or BDAT, RSET as separate
 * steps (optionally pipelined), and smtpc_send composed of them. */
#include "smtpc.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
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

static bool rcpt_ok(const char *addr, const char *params)
{
	return addr != NULL && addr[0] != '\0' && arg_ok(addr, false) &&
	       (params == NULL || arg_ok(params, false));
}

/* What a reply means for the transaction. */
static void note_reply(struct smtpc *c, enum smtpc_cmd_kind kind,
		       const struct smtpc_reply *r)
{
	if (r->code / 100 != 2)
		return;
	if (kind == SMTPC_CMD_MAIL)
		c->mail_ok = true;
	else if (kind == SMTPC_CMD_RCPT && c->mail_ok)
		c->rcpts_ok++;
}

/* Reads the replies of the queued commands, in order. 0, or -1 (broken:
 * every reply not read gets the local failure). */
static int pending_read(struct smtpc *c)
{
	size_t i = 0;
	int ret = 0;

	for (; i < c->npending && ret == 0; i++) {
		struct smtpc_pending *p = &c->pending[i];
		if (smtpc_read_reply(c, CLICONN_PROTO, p->r) < 0)
			ret = -1;
		else
			note_reply(c, p->kind, p->r);
	}
	for (; i < c->npending; i++)
		smtpc_conn_failed(c, c->pending[i].r);
	c->npending = 0;
	if (ret < 0)
		c->envelope_lost = true;
	return ret;
}

void smtpc_pipeline_begin(struct smtpc *c)
{
	c->pipelining = smtpc_has_ext(c, "PIPELINING");
}

int smtpc_pipeline_end(struct smtpc *c)
{
	c->pipelining = false;
	return pending_read(c);
}

/* The command is queued: read its reply now, or leave it for the
 * pipeline flush. */
static int command_reply(struct smtpc *c, enum smtpc_cmd_kind kind,
			 struct smtpc_reply *r)
{
	if (c->pipelining) {
		c->pending[c->npending].kind = kind;
		c->pending[c->npending].r = r;
		c->npending++;
		return 0;
	}
	if (smtpc_read_reply(c, CLICONN_PROTO, r) < 0)
		return -1;
	note_reply(c, kind, r);
	return 0;
}

/* Before a command is queued: room in the pipeline, a live connection. */
static int command_prepare(struct smtpc *c, struct smtpc_reply *r)
{
	/* a full group: its replies first (one slot stays for DATA) */
	if (c->npending + 1 >= N_ELEMENTS(c->pending) && pending_read(c) < 0)
		return smtpc_conn_failed(c, r);
	if (cliconn_err(c->conn) != CLICONN_OK)
		return smtpc_conn_failed(c, r);
	return 0;
}

int smtpc_rset(struct smtpc *c, struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (pending_read(c) < 0 || cliconn_err(c->conn) != CLICONN_OK)
		return smtpc_conn_failed(c, r);
	if (smtpc_command(c, "RSET", NULL, r) < 0)
		return -1;
	c->in_txn = c->mail_ok = false;
	c->rcpts_ok = 0;
	return 0;
}

/* Local checks of the MAIL parameters: 0 go on, -1 refused (*r). */
static int mail_precheck(struct smtpc *c, const struct smtpc_envelope *env,
			 struct smtpc_reply *r)
{
	const char *size = smtpc_ext_param(c, "SIZE");
	uint64_t max = 0;

	if (env->from == NULL || !arg_ok(env->from, false)) {
		smtpc_reply_local(r, 553, "5.1.7", SMTPC_E_REFUSED,
				  "invalid sender address");
		return -1;
	}
	if (env->smtputf8 && !smtpc_has_ext(c, "SMTPUTF8")) {
		smtpc_reply_local(r, 553, "5.6.7", SMTPC_E_UNSUPPORTED,
				  "the server does not support SMTPUTF8");
		return -1;
	}
	if (size != NULL && *size != '\0' &&
	    strnum_cstr_u64(size, &max) == 0 && max > 0 && env->size > max) {
		smtpc_reply_local(r, 552, "5.3.4", SMTPC_E_REFUSED,
				  "message larger than the server accepts");
		return -1;
	}
	return 0;
}

int smtpc_mail(struct smtpc *c, const struct smtpc_envelope *env,
	       struct smtpc_reply *r)
{
	char cmd[SMTPC_ARG_MAX + 128];
	int n;

	memset(r, 0, sizeof(*r));
	if (command_prepare(c, r) < 0)
		return -1;
	if (c->in_txn) {
		bool pipe = c->pipelining;
		c->pipelining = false;
		int ret = smtpc_rset(c, r);
		c->pipelining = pipe;
		if (ret < 0)
			return -1;
		memset(r, 0, sizeof(*r));
	}
	if (mail_precheck(c, env, r) < 0)
		return 0;
	n = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", env->from);
	if (smtpc_ext_param(c, "SIZE") != NULL && env->size > 0)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SIZE=%llu",
			      (unsigned long long)env->size);
	if (env->body_8bit && smtpc_has_ext(c, "8BITMIME"))
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
			      " BODY=8BITMIME");
	if (env->smtputf8)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SMTPUTF8");
	if (smtpc_send_cmd(c, cmd, NULL) < 0)
		return smtpc_conn_failed(c, r);
	c->in_txn = true;
	c->mail_ok = c->envelope_lost = false;
	c->rcpts_ok = 0;
	return command_reply(c, SMTPC_CMD_MAIL, r);
}

int smtpc_rcpt(struct smtpc *c, const char *addr, const char *params,
	       struct smtpc_reply *r)
{
	char cmd[2 * SMTPC_ARG_MAX + 32];

	memset(r, 0, sizeof(*r));
	if (!rcpt_ok(addr, params)) {
		smtpc_reply_local(r, 553, "5.1.3", SMTPC_E_REFUSED,
				  "invalid recipient address");
		return 0;
	}
	if (command_prepare(c, r) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>%s%s", addr,
		 params != NULL ? " " : "", params != NULL ? params : "");
	if (smtpc_send_cmd(c, cmd, NULL) < 0)
		return smtpc_conn_failed(c, r);
	return command_reply(c, SMTPC_CMD_RCPT, r);
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

int smtpc_data(struct smtpc *c, smtpc_read_fn *rd, void *rd_ctx,
	       struct smtpc_reply *r)
{
	bool bdat = smtpc_has_ext(c, "CHUNKING");
	struct smtpc_reply data_r = {0};
	bool data_sent = false;

	memset(r, 0, sizeof(*r));
	if (!bdat && c->pipelining && c->npending > 0 &&
	    cliconn_err(c->conn) == CLICONN_OK) {
		/* RFC 2920: DATA ends the group, before any reply is read */
		if (smtpc_send_cmd(c, "DATA", NULL) < 0) {
			(void)pending_read(c); /* each gets the failure */
			return smtpc_conn_failed(c, r);
		}
		c->pending[c->npending].kind = SMTPC_CMD_DATA;
		c->pending[c->npending].r = &data_r;
		c->npending++;
		data_sent = true;
	}
	c->pipelining = false;
	if (pending_read(c) < 0 || cliconn_err(c->conn) != CLICONN_OK)
		return smtpc_conn_failed(c, r);
	if (!c->mail_ok || c->rcpts_ok == 0) {
		/* RFC 2920 3.1: a 354 to a pipelined DATA after refusals
		 * still needs the message's end */
		if (data_sent && data_r.code == 354 &&
		    (cliconn_write(c->conn, ".\r\n", 3, CLICONN_PROTO) < 0 ||
		     smtpc_read_reply(c, CLICONN_PROTO, r) < 0))
			return -1;
		smtpc_reply_local(r, 554, "5.5.1", SMTPC_E_REFUSED,
				  c->mail_ok ? "no valid recipients"
					     : "no valid sender");
		return 0;
	}
	if (!bdat) {
		if (!data_sent && smtpc_command(c, "DATA", NULL, &data_r) < 0) {
			*r = data_r;
			return -1;
		}
		if (data_r.code != 354) {
			*r = data_r;
			if (r->code / 100 == 2)
				smtpc_reply_local(r, 451, "4.5.0",
						  SMTPC_E_PROTOCOL,
						  "unexpected reply to DATA");
			return 0;
		}
	}
	if (body(c, bdat, rd, rd_ctx, r) < 0)
		return -1;
	if (r->code / 100 == 2) {
		c->in_txn = c->mail_ok = false;
		c->rcpts_ok = 0;
	}
	return 0;
}

/* Every recipient not yet decided (or every accepted one) gets *r. */
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
static ssize_t send_broken(struct smtpc *c, struct smtpc_envelope *env,
			   struct smtpc_reply *mail_r)
{
	struct smtpc_reply fail;

	smtpc_conn_failed(c, &fail);
	c->pipelining = false;
	c->npending = 0;
	if (mail_r->code / 100 == 2 || mail_r->code == 0)
		*mail_r = fail;
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		bool refused = rc->reply.code != 0 &&
			       rc->reply.code / 100 != 2 &&
			       rc->reply.err == SMTPC_E_REFUSED;
		rc->rcpt_accepted = false;
		if (!refused)
			rc->reply = fail;
	}
	return -1;
}

ssize_t smtpc_send(struct smtpc *c, struct smtpc_envelope *env,
		   smtpc_read_fn *rd, void *rd_ctx, struct smtpc_reply *mail_r)
{
	struct smtpc_reply fin = {0};
	size_t valid = 0, accepted = 0;
	bool any_ok = false;

	memset(mail_r, 0, sizeof(*mail_r));
	for (size_t i = 0; i < env->nrcpt; i++) {
		memset(&env->rcpts[i].reply, 0, sizeof(env->rcpts[i].reply));
		env->rcpts[i].rcpt_accepted = false;
		valid += rcpt_ok(env->rcpts[i].addr, env->rcpts[i].params);
	}
	if (valid == 0) {
		for (size_t i = 0; i < env->nrcpt; i++)
			(void)smtpc_rcpt(c, env->rcpts[i].addr,
					 env->rcpts[i].params,
					 &env->rcpts[i].reply);
		smtpc_reply_local(mail_r, 554, "5.5.1", SMTPC_E_REFUSED,
				  "no valid recipients");
		return 0;
	}
	smtpc_pipeline_begin(c);
	if (smtpc_mail(c, env, mail_r) < 0)
		return send_broken(c, env, mail_r);
	if (mail_r->local) {
		c->pipelining = false;
		rcpts_fill(env, mail_r, false);
		return 0;
	}
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		if (!c->pipelining && mail_r->code / 100 != 2)
			break; /* known refused: no RCPT, no DATA */
		if (smtpc_rcpt(c, rc->addr, rc->params, &rc->reply) < 0)
			return send_broken(c, env, mail_r);
	}
	/* pipelined, DATA goes with the envelope (smtpc_data); else the
	 * replies decide whether there is anything to send */
	bool data_pipelined = c->pipelining && !smtpc_has_ext(c, "CHUNKING");
	if (!data_pipelined) {
		if (smtpc_pipeline_end(c) < 0)
			return send_broken(c, env, mail_r);
		for (size_t i = 0; i < env->nrcpt; i++)
			any_ok = any_ok || env->rcpts[i].reply.code / 100 == 2;
	}
	int dret = 0;
	if (data_pipelined || (mail_r->code / 100 == 2 && any_ok)) {
		dret = smtpc_data(c, rd, rd_ctx, &fin);
		if (dret < 0 && c->envelope_lost)
			return send_broken(c, env, mail_r);
	}
	if (mail_r->code / 100 != 2) {
		/* every RCPT reply is a 503 then: the MAIL reply says more */
		for (size_t i = 0; i < env->nrcpt; i++)
			if (env->rcpts[i].reply.code == 0 ||
			    !env->rcpts[i].reply.local)
				env->rcpts[i].reply = *mail_r;
		return dret < 0 ? -1 : 0;
	}
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct smtpc_rcpt *rc = &env->rcpts[i];
		rc->rcpt_accepted = rc->reply.code / 100 == 2;
		if (rc->rcpt_accepted) {
			accepted++;
			memset(&rc->reply, 0, sizeof(rc->reply));
		}
	}
	if (accepted == 0)
		return dret < 0 ? -1 : 0;
	rcpts_fill(env, &fin, true);
	if (dret < 0)
		return -1;
	return fin.code / 100 == 2 ? (ssize_t)accepted : 0;
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
