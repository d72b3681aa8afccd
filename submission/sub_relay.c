/* The smarthost side of one transaction, in step with the client's
 * commands (lib/smtpc's steps):
 *
 * - at the first remote RCPT the session is opened (connect, TLS per
 *   smarthost_tls with verification, EHLO, AUTH) and MAIL FROM sent with
 *   the client's SIZE (plus what we add to the header), BODY=8BITMIME and
 *   SMTPUTF8; every remote RCPT is relayed and the client gets the
 *   smarthost's own reply to it;
 * - at the end of the data the message goes to the smarthost, and its
 *   reply to the data is the client's reply (sub_deliver.c commits the
 *   local copies only after it accepted);
 * - the connection is closed (QUIT) when the transaction ends in any way:
 *   delivered, RSET, EHLO, QUIT, the session gone. Nothing is held idle.
 *
 * COST: lib/smtpc is blocking (every wait bounded by its timeout, 5
 * minutes per RFC 5321 4.5.3.2): while the smarthost answers a command,
 * this user's submission worker, all its sessions, waits. A smarthost on
 * the LAN answers in milliseconds; one that hangs stalls this user's
 * submissions (never other users', never reading mail) until the timeout.
 *
 * Replies from the smarthost are passed on sanitised (printable ASCII,
 * every line with the enhanced code); 421 becomes 451, as it is the relay
 * connection that closes, not ours. A failure on our side (cannot connect,
 * TLS, AUTH, lost connection) is a 451 with the detail in our log only. */
#include "sub_worker.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "str.h"

/* SIZE= is the client's estimate plus the Received, Message-ID and Date
 * fields we add (bounded by the HELO, host and TLS strings they hold). */
#define SUB_RELAY_ADDED_MAX 2048

/* Printable ASCII of one line of the smarthost's text, into out. */
static size_t line_clean(const char *in, size_t n, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
	return o;
}

/* Whether the reply is our own failure to talk to the smarthost (as
 * opposed to its answer, or a local refusal of what the client asked). */
static bool conn_failure(const struct smtpc_reply *r)
{
	return r->local && r->err != SMTPC_E_REFUSED &&
	       r->err != SMTPC_E_UNSUPPORTED;
}

/* We could not use the smarthost: class 4 whatever went wrong (the
 * client should retry; the detail is in our log). */
static void relay_failed(const struct smtpc_reply *r, char *reply, size_t sz)
{
	char enh[SMTPC_ENH_MAX];
	snprintf(enh, sizeof(enh), "4%s",
		 r->enh[0] != '\0' ? r->enh + 1 : ".4.1");
	snprintf(reply, sz,
		 "451 %s Relay to the smarthost failed, try again later", enh);
}

void sub_relay_reply(const struct smtpc_reply *r, char *reply, size_t sz)
{
	unsigned code = r->code;
	char enh[SMTPC_ENH_MAX];
	if (conn_failure(r)) {
		relay_failed(r, reply, sz);
		return;
	}
	if (code < 200 || code > 599 || code / 100 == 3)
		code = 451;
	if (code == 421)
		code = 451;
	if (r->enh[0] != '\0' && r->enh[0] == (char)('0' + code / 100))
		(void)str_cpy(enh, r->enh, sizeof(enh));
	else
		(void)str_cpy(enh,
			      code / 100 == 2	? "2.0.0"
			      : code / 100 == 4 ? "4.0.0"
						: "5.0.0",
			      sizeof(enh));
	/* one line of ours per line of its text, the last with "code "; what
	 * does not fit is cut at a line boundary */
	size_t o = 0, sep = SIZE_MAX;
	const char *t = r->text;
	reply[0] = '\0';
	for (;;) {
		const char *nl = strchr(t, '\n');
		size_t n = nl != NULL ? (size_t)(nl - t) : strlen(t);
		char line[SMTPC_TEXT_MAX];
		line_clean(t, n, line, sizeof(line));
		bool last = nl == NULL || nl[1] == '\0';
		int k = snprintf(reply + o, sz - o, "%s%u%c%s %s%s",
				 o > 0 ? "\r\n" : "", code, last ? ' ' : '-',
				 enh, r->local ? "Relay: " : "", line);
		if (k < 0 || (size_t)k >= sz - o) {
			reply[o] = '\0';
			if (sep != SIZE_MAX)
				reply[sep] = ' ';
			break;
		}
		sep = o + (o > 0 ? 2 : 0) + 3;
		o += (size_t)k;
		if (last)
			break;
		t = nl + 1;
	}
}

void sub_relay_close(struct smtpc **c)
{
	smtpc_close(c);
}

/* The session and MAIL FROM, for the transaction's first remote RCPT.
 * true with *c open, or false with the client's reply. */
static bool relay_begin(struct smtpc **c, const struct sub_relay_txn *t,
			const struct log_ctx *log, char *reply, size_t sz)
{
	struct smtpc_reply r;
	uint32_t level = USER_TRACE_NONE;
	/* the smarthost conversation is traced like the client's own: the
	 * higher of the configured and the account's level */
	(void)user_trace_parse(sworker.cfg.trace_level, &level);
	if (sworker.settings.trace > level &&
	    sworker.settings.trace <= USER_TRACE_MAX)
		level = sworker.settings.trace;
	sworker.relay.settings.trace = (enum user_trace)level;
	sworker.relay.settings.log_ctx = log;
	*c = smtpc_open(&sworker.relay.settings, &r);
	if (*c == NULL) {
		/* its refusal of the session (greeting, STARTTLS, our AUTH)
		 * is not about the client's command either */
		clog_error(log, "smarthost %s: %u %s %s",
			   sworker.relay.settings.host, r.code, r.enh, r.text);
		relay_failed(&r, reply, sz);
		return false;
	}
	struct smtpc_envelope env = {
		.from = t->from,
		.size = t->size > 0 ? t->size + SUB_RELAY_ADDED_MAX : 0,
		.body_8bit = t->body_8bit,
		.smtputf8 = t->smtputf8,
	};
	if (smtpc_mail(*c, &env, &r) < 0 || r.code / 100 != 2) {
		clog_info(log, "smarthost refused MAIL FROM:<%s>: %u %s %s",
			  t->from, r.code, r.enh, r.text);
		sub_relay_reply(&r, reply, sz);
		smtpc_close(c);
		return false;
	}
	return true;
}

bool sub_relay_rcpt(struct smtpc **c, const struct sub_relay_txn *t,
		    const char *addr, const struct log_ctx *log, char *reply,
		    size_t sz)
{
	struct smtpc_reply r;
	if (*c == NULL) {
		if (t->nremote > 0) {
			/* the recipients accepted so far belong to the
			 * transaction that was lost with the connection */
			snprintf(reply, sz,
				 "451 4.4.2 Connection to the "
				 "smarthost lost, try again later");
			return false;
		}
		if (!relay_begin(c, t, log, reply, sz))
			return false;
	}
	int ret = smtpc_rcpt(*c, addr, NULL, &r);
	sub_relay_reply(&r, reply, sz);
	if (ret < 0) {
		clog_error(log, "smarthost connection lost at RCPT: %s",
			   r.text);
		smtpc_close(c);
		return false;
	}
	clog_info(log, "smarthost RCPT to=<%s>: %u %s", addr, r.code, r.enh);
	return r.code / 100 == 2;
}

static ssize_t spool_read(void *ctx, void *buf, size_t n)
{
	return smtpc_read_fd(ctx, buf, n);
}

int sub_relay_data(struct smtpc **c, int fd, size_t nremote,
		   const struct log_ctx *log, char *reply, size_t sz)
{
	struct smtpc_reply r;
	if (*c == NULL) {
		snprintf(reply, sz,
			 "451 4.4.2 Connection to the smarthost "
			 "lost, try again later");
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(reply, sz, "451 4.3.0 Temporary failure");
		return -1;
	}
	int ret = smtpc_data(*c, spool_read, &fd, &r);
	sub_relay_reply(&r, reply, sz);
	if (ret == 0 && r.code / 100 == 2) {
		clog_info(log, "relayed to %zu recipient(s) via %s: %u %s %s",
			  nremote, sworker.relay.settings.host, r.code, r.enh,
			  r.text);
		return 0;
	}
	clog_info(log, "smarthost refused the message: %u %s %s", r.code, r.enh,
		  r.text);
	if (ret < 0)
		smtpc_close(c);
	return -1;
}
