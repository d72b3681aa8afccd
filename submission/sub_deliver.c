/* Delivery of one submitted message, before the client gets its reply:
 *
 * 1. every local recipient gets the message written and fsynced into its
 *    store's tmp/ (nothing is visible yet), and its quota checked;
 * 2. the remote recipients are relayed to the smarthost (lib/smtpc, a
 *    blocking client with timeouts); anything but acceptance of all of
 *    them fails the whole message, with the smarthost's own reply;
 * 3. the local saves are committed, one transaction per recipient (the
 *    commit touches the store's change file, which wakes IDLE elsewhere);
 * 4. a copy goes into the sender's \Sent if the account asks for one.
 *
 * So a refusal or failure in 1 or 2 delivers nothing anywhere, and the
 * client may retry. What cannot be undone: a message the smarthost took for
 * some recipients and refused for others (the client is told the refusal;
 * a retry duplicates it for the others), and a local commit failing after
 * the relay (rare: the quota was checked in 1). Both are logged with the
 * recipients that did get the message. Nothing is queued here. */
#include "sub_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_deliver.h"
#include "str.h"

void sub_deliver_deinit(void)
{
	deliver_stores_close();
}

int sub_deliver_quota_check(const char *home, const struct user_settings *us,
			    uint64_t size)
{
	const char *error;
	struct storage *st = deliver_store(home, us, &error);
	/* a store we cannot open is reported at delivery, not here */
	if (st == NULL)
		return 0;
	return storage_quota_check(st, 1, size, &error) ==
			       STORAGE_ERR_OVERQUOTA
		       ? -1
		       : 0;
}

struct local_save {
	const struct sub_rcpt *rcpt;
	struct storage *st;
	struct storage_save *save;
	uint32_t inbox;
};

/* The reply for a storage failure of one recipient. */
static void storage_reply(enum storage_result r, const char *addr,
			  char *reply, size_t sz)
{
	if (r == STORAGE_ERR_OVERQUOTA)
		snprintf(reply, sz, "552 5.2.2 Mailbox of <%s> is full", addr);
	else
		snprintf(reply, sz,
			 "451 4.3.0 Temporary failure delivering to <%s>",
			 addr);
}

static enum storage_result local_prepare(const struct sub_message *m,
					 struct local_save *ls,
					 const char **error_r)
{
	struct storage_mailbox mb;
	enum storage_result r;
	/* with the limits the auth daemon gave with the lookup; the commit
	 * checks them again inside its transaction */
	ls->st = deliver_store(ls->rcpt->home, &ls->rcpt->settings, error_r);
	if (ls->st == NULL)
		return STORAGE_ERR_TEMP;
	r = storage_mailbox_get(ls->st, "INBOX", &mb, error_r);
	if (r != STORAGE_OK)
		return r;
	ls->inbox = mb.id;
	r = storage_quota_check(ls->st, 1, m->size, error_r);
	if (r != STORAGE_OK)
		return r;
	return deliver_save_spool(ls->st, NULL, 0, m->fd, m->size, &ls->save,
				  error_r);
}

/* Printable ASCII only: the smarthost's text goes back to our client. */
static void text_clean(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; in[i] != '\0' && in[i] != '\n' && o + 1 < outsz;
	     i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

static void smtpc_reply_line(const struct smtpc_reply *r, char *reply,
			     size_t sz)
{
	char text[SMTPC_TEXT_MAX];
	unsigned code = r->code >= 400 && r->code <= 599 ? r->code : 451;
	text_clean(r->text, text, sizeof(text));
	snprintf(reply, sz, "%u %s %s%s", code,
		 r->enh[0] != '\0' ? r->enh : (code >= 500 ? "5.0.0" : "4.0.0"),
		 r->local ? "Relay: " : "", text);
}

static ssize_t spool_read(void *ctx, void *buf, size_t n)
{
	return read(*(int *)ctx, buf, n);
}

/* 0 all remote recipients accepted, else -1 with the reply. */
static int relay(const struct sub_message *m, size_t nremote, char *reply,
		 size_t sz)
{
	if (!sworker.relay_ok) {
		snprintf(reply, sz, "451 4.3.5 Relaying temporarily unavailable");
		return -1;
	}
	struct smtpc_rcpt *rc = calloc(nremote, sizeof(*rc));
	if (rc == NULL)
		log_fatal("out of memory");
	size_t k = 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!m->rcpts[i].local)
			rc[k++].addr = m->rcpts[i].addr;
	}
	struct smtpc_envelope env = {
		.from = m->from,
		.size = m->size,
		.body_8bit = m->body_8bit,
		.smtputf8 = m->smtputf8,
		.rcpts = rc,
		.nrcpt = nremote,
	};
	struct smtpc_reply mail_r;
	int fd = m->fd;
	memset(&mail_r, 0, sizeof(mail_r));
	sworker.relay.settings.log_ctx = m->log;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		free(rc);
		snprintf(reply, sz, "451 4.3.0 Temporary failure");
		return -1;
	}
	ssize_t n = smtpc_deliver(&sworker.relay.settings, &env, spool_read,
				  &fd, &mail_r);
	int ret = 0;
	if (n != (ssize_t)nremote) {
		ret = -1;
		const struct smtpc_reply *why = &mail_r;
		for (size_t i = 0; mail_r.code < 400 && i < nremote; i++) {
			if (rc[i].reply.code >= 400 || rc[i].reply.code == 0) {
				why = &rc[i].reply;
				break;
			}
		}
		smtpc_reply_line(why, reply, sz);
		for (size_t i = 0; n > 0 && i < nremote; i++) {
			if (rc[i].reply.code >= 200 && rc[i].reply.code < 300)
				clog_error(m->log,
					   "relay: smarthost refused part of "
					   "the recipients; <%s> got the "
					   "message anyway",
					   rc[i].addr);
		}
		clog_info(m->log, "relay failed: %s", reply);
	} else {
		clog_info(m->log, "relayed to %zu recipient(s) via %s",
			  nremote, sworker.relay.settings.host);
	}
	free(rc);
	return ret;
}

static int find_sent(void *ctx, const struct storage_mailbox *mb)
{
	uint32_t *id = ctx;
	if ((mb->special_use & STORAGE_SPECIAL_SENT) == 0)
		return 0;
	*id = mb->id;
	return 1;
}

/* The account asked for a copy of what it sends in its \Sent mailbox
 * (mailadm user set ACCOUNT save-sent on). The message is delivered
 * already: a failure here is logged, not turned into an error. */
static void save_sent(const struct sub_message *m)
{
	const char *error = "no mailbox with \\Sent";
	uint32_t sent = 0, uid;
	struct storage_save *save = NULL;
	struct storage *st = deliver_store(sworker.home, &sworker.settings,
					   &error);
	enum storage_result r = STORAGE_ERR_TEMP;
	if (st != NULL) {
		r = storage_mailbox_iter(st, find_sent, &sent, &error);
		if (r == STORAGE_OK && sent == 0) {
			error = "no mailbox with \\Sent";
			r = STORAGE_ERR_NONEXISTENT;
		}
	}
	if (r == STORAGE_OK)
		r = deliver_save_spool(st, NULL, 0, m->fd, m->size, &save,
				       &error);
	if (r == STORAGE_OK) {
		struct storage_append app = {.save = save,
					     .flags = STORAGE_FLAG_SEEN};
		r = storage_append_commit(st, sent, &app, 1, NULL, &uid,
					  &error);
	}
	if (r != STORAGE_OK)
		clog_error(m->log, "copy to Sent failed: %s", error);
	else
		clog_info(m->log, "copy saved to Sent uid=%u", uid);
}

void sub_deliver(const struct sub_message *m, char *reply, size_t replysz)
{
	size_t nlocal = 0, nremote = 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].local)
			nlocal++;
		else
			nremote++;
	}
	struct local_save *ls = calloc(nlocal + 1, sizeof(*ls));
	/* every local save stays open until the commits below */
	deliver_stores_hold(true);
	if (ls == NULL)
		log_fatal("out of memory");
	const char *error = "";
	size_t k = 0;
	bool failed = false;
	for (size_t i = 0; i < m->nrcpts && !failed; i++) {
		if (!m->rcpts[i].local)
			continue;
		ls[k].rcpt = &m->rcpts[i];
		enum storage_result r = local_prepare(m, &ls[k], &error);
		if (r != STORAGE_OK) {
			clog_error(m->log, "delivery to %s: %s",
				   m->rcpts[i].user, error);
			storage_reply(r, m->rcpts[i].addr, reply, replysz);
			failed = true;
		}
		k++;
	}
	if (!failed && nremote > 0 && relay(m, nremote, reply, replysz) < 0)
		failed = true;
	size_t committed = 0;
	for (size_t i = 0; i < k; i++) {
		if (ls[i].save == NULL)
			continue;
		if (failed) {
			storage_save_abort(&ls[i].save);
			continue;
		}
		struct storage_append app = {.save = ls[i].save};
		uint32_t uid;
		enum storage_result r = storage_append_commit(
			ls[i].st, ls[i].inbox, &app, 1, NULL, &uid, &error);
		ls[i].save = NULL;
		if (r != STORAGE_OK) {
			clog_error(m->log, "delivery to %s failed after %zu "
					   "other(s) got it: %s",
				   ls[i].rcpt->user, committed, error);
			storage_reply(r, ls[i].rcpt->addr, reply, replysz);
			failed = true;
			continue;
		}
		committed++;
		clog_info(m->log, "delivered to=%s uid=%u size=%llu",
			  ls[i].rcpt->user, uid, (unsigned long long)m->size);
	}
	free(ls);
	deliver_stores_hold(false);
	if (!failed && (sworker.settings.flags & USER_F_SAVE_SENT) != 0)
		save_sent(m);
	if (!failed)
		snprintf(reply, replysz,
			 "250 2.0.0 Message accepted (%zu local, %zu relayed)",
			 nlocal, nremote);
}
