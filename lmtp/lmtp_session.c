/* One LMTP session (RFC 2033 on RFC 5321): LHLO, MAIL, RCPT (resolved
 * through the auth daemon, quota checked), DATA or BDAT (RFC 3030), then
 * one reply per accepted recipient, in RCPT order. Commands are read with
 * lib/smtp_parser; replies are held while more pipelined input is already
 * buffered and written before the process waits for input (RFC 2920).
 *
 * The client is trusted no more than any SMTP client: lines, recipients,
 * message size and errors are bounded. The message is spooled to an
 * unlinked file in mail_dir, then copied into each recipient's store. */
#include "lmtp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fdio.h"
#include "log.h"
#include "metrics.h"
#include "smtp_ehlo.h"
#include "smtp_parser.h"
#include "str.h"
#include "strnum.h"

#define LMTP_MAX_LINE	  2048 /* RFC 5321 allows 512 plus parameters */
#define LMTP_READ_CHUNK	  65536
#define LMTP_OUT_MAX	  (1024 * 1024)
#define LMTP_MAX_ERRORS	  20 /* bad commands before 421 */
#define LMTP_HEADER_MAX	  2048

enum lmtp_state {
	LMTP_CMD,
	LMTP_DATA,
	LMTP_BDAT,
};

struct lmtp_rcpt {
	char *addr; /* as the client wrote it */
	struct lmtp_account acct;
};

struct lmtp_session {
	int fd, lifeline;
	struct log_ctx log;
	bool closing;
	unsigned errors;
	struct buf in, out;
	struct smtp_line_reader reader;
	enum lmtp_state state;

	char helo[256];
	bool has_mail;
	char *from;
	uint64_t declared_size;
	bool smtputf8;
	struct lmtp_rcpt *rcpts;
	size_t nrcpts;

	int spool_fd;
	uint64_t size; /* message bytes (unstuffed) */
	bool too_big, spool_failed;
	struct smtp_body body;
};

/* ---- output ---- */

static void reply(struct lmtp_session *s, const char *fmt, ...)
	POSTERN_PRINTF(2, 3);
static void reply(struct lmtp_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (r < 0 || buf_append(&s->out, "\r\n", 2) < 0) {
		/* a client that pipelines without reading our replies */
		clog_warn(&s->log, "output buffer full: closing");
		buf_clear(&s->out);
		s->closing = true;
	}
}

/* 5xx/4xx for a bad command; too many end the session */
static void reply_error(struct lmtp_session *s, const char *line)
{
	reply(s, "%s", line);
	if (++s->errors >= LMTP_MAX_ERRORS) {
		clog_info(&s->log, "limit lmtp_max_errors=%u hit: closing",
			  LMTP_MAX_ERRORS);
		reply(s, "421 4.7.0 %s Too many errors, closing",
		      lmtp.hostname);
		s->closing = true;
	}
}

static int flush_out(struct lmtp_session *s)
{
	if (s->out.len == 0)
		return 0;
	if (fdio_write_all(s->fd, s->out.data, s->out.len) < 0) {
		s->closing = true;
		buf_clear(&s->out);
		return -1;
	}
	buf_clear(&s->out);
	return 0;
}

/* ---- the transaction ---- */

static void spool_close(struct lmtp_session *s)
{
	if (s->spool_fd >= 0)
		close(s->spool_fd);
	s->spool_fd = -1;
}

static void txn_reset(struct lmtp_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i].addr);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->from);
	s->from = NULL;
	s->has_mail = false;
	s->declared_size = 0;
	s->smtputf8 = false;
	spool_close(s);
	s->size = 0;
	s->too_big = s->spool_failed = false;
	smtp_body_reset(&s->body);
}

/* An unlinked file in mail_dir (mail_user's, 0700): the message never
 * becomes visible under a name, and vanishes with the process. */
static int spool_open(struct lmtp_session *s)
{
	s->spool_fd = open(lmtp.cfg.mail_dir, O_TMPFILE | O_RDWR | O_CLOEXEC,
			   0600);
	if (s->spool_fd < 0) {
		clog_error(&s->log, "spool file in %s: %m", lmtp.cfg.mail_dir);
		s->spool_failed = true;
		return -1;
	}
	return 0;
}

static void spool_write(struct lmtp_session *s, const void *p, size_t n)
{
	if (n == 0 || s->spool_failed || s->body.discard)
		return;
	if (s->size + n > lmtp.cfg.lmtp_max_message_size)
		s->too_big = true;
	s->size += n;
	if (s->too_big)
		return;
	if (fdio_write_all(s->spool_fd, p, n) < 0) {
		clog_error(&s->log, "writing the spool file: %m");
		s->spool_failed = true;
	}
}

static bool addr_ascii(const char *a)
{
	for (; *a != '\0'; a++) {
		if ((unsigned char)*a >= 0x80)
			return false;
	}
	return true;
}

/* What we put in front of the message for this recipient (RFC 5321
 * 4.4: Return-Path at final delivery; Delivered-To as Postfix and Dovecot
 * write it, which loop detection relies on; our Received line). */
static void header_for(struct lmtp_session *s, const struct lmtp_rcpt *r,
		       char *out, size_t outsz)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(out, outsz,
		 "Return-Path: <%s>\r\n"
		 "Delivered-To: %s\r\n"
		 "Received: from %s\r\n"
		 "\tby %s (Postern) with %s id %016llx\r\n"
		 "\tfor <%s>; %s\r\n",
		 s->from, r->addr, s->helo, lmtp.hostname,
		 s->smtputf8 ? "UTF8LMTP" : "LMTP",
		 (unsigned long long)s->log.session, r->addr, date);
}

/* 452 4.2.2 while the mailbox is full (space may come back), 552 5.2.2
 * when this message alone is larger than the whole quota. */
static void reply_overquota(struct lmtp_session *s, const struct lmtp_rcpt *r,
			    uint64_t size)
{
	uint64_t limit = r->acct.settings.quota_storage;
	if (limit != 0 && size > limit)
		reply(s, "552 5.2.2 <%s> Message larger than the mailbox quota",
		      r->addr);
	else
		reply(s, "452 4.2.2 <%s> Mailbox full", r->addr);
}

static void deliver_one(struct lmtp_session *s, const struct lmtp_rcpt *r)
{
	char header[LMTP_HEADER_MAX];
	const char *error = "";
	header_for(s, r, header, sizeof(header));
	uint64_t total = strlen(header) + s->size;
	enum storage_result res =
		lmtp_deliver(&r->acct, header, s->spool_fd, s->size, &error);
	switch (res) {
	case STORAGE_OK:
		clog_info(&s->log,
			  "delivered from=<%s> to=<%s> user=%s size=%llu",
			  s->from, r->addr, r->acct.user,
			  (unsigned long long)total);
		reply(s, "250 2.0.0 <%s> Delivered", r->addr);
		metrics_count(METRICS_DELIVERED, 1);
		metrics_count(METRICS_DELIVERED_BYTES, total);
		return;
	case STORAGE_ERR_OVERQUOTA:
		clog_info(&s->log, "refused to=<%s> user=%s: over quota",
			  r->addr, r->acct.user);
		reply_overquota(s, r, total);
		metrics_count(METRICS_DELIVER_REFUSED, 1);
		return;
	default:
		metrics_count(METRICS_DELIVER_FAILED, 1);
		clog_error(&s->log, "delivery to=<%s> user=%s failed: %s",
			   r->addr, r->acct.user, error);
		reply(s, "451 4.3.0 <%s> Temporary failure saving the message",
		      r->addr);
		return;
	}
}

/* The end of the data: one reply per accepted recipient (RFC 2033 4.2). */
static void message_end(struct lmtp_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		const struct lmtp_rcpt *r = &s->rcpts[i];
		if (s->body.bare_cr || s->body.bare_lf || s->too_big)
			metrics_count(METRICS_DELIVER_REFUSED, 1);
		else if (s->spool_failed)
			metrics_count(METRICS_DELIVER_FAILED, 1);
		if (s->body.bare_cr || s->body.bare_lf)
			reply(s, "550 5.5.2 <%s> Message refused: lines must "
				 "end with CRLF (bare CR or LF seen)",
			      r->addr);
		else if (s->too_big)
			reply(s, "552 5.3.4 <%s> Message too big (limit %u "
				 "bytes)",
			      r->addr, lmtp.cfg.lmtp_max_message_size);
		else if (s->spool_failed)
			reply(s, "451 4.3.0 <%s> Temporary failure receiving "
				 "the message",
			      r->addr);
		else
			deliver_one(s, r);
	}
	if (s->body.bare_cr || s->body.bare_lf)
		clog_info(&s->log, "message refused: bare %s in data",
			  s->body.bare_lf ? "LF" : "CR");
	txn_reset(s);
}

/* ---- commands ---- */

static void cmd_lhlo(struct lmtp_session *s, struct str args)
{
	if (!smtp_helo_valid(args) || str_copy(args, s->helo,
					       sizeof(s->helo)) < 0) {
		reply_error(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	txn_reset(s);
	smtp_ehlo_reply(&s->out, lmtp.hostname, s->helo,
			lmtp.cfg.lmtp_max_message_size, false, NULL);
}

static void cmd_mail(struct lmtp_session *s, struct str args)
{
	struct str addr;
	struct smtp_mail_params mp;
	char t[200];
	if (s->helo[0] == '\0') {
		reply_error(s, "503 5.5.1 Send LHLO first");
		return;
	}
	if (s->has_mail) {
		reply_error(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	switch (smtp_mail_args(args, lmtp.cfg.lmtp_max_message_size, &addr,
			       &mp, t, sizeof(t))) {
	case -1:
		reply_error(s, t);
		return;
	case -2:
		reply(s, "%s", t);
		return;
	}
	uint64_t size = mp.size;
	bool utf8 = mp.smtputf8;
	s->from = str_dup(addr);
	if (s->from == NULL) {
		reply_error(s, "501 5.5.4 Bad address");
		return;
	}
	if (!utf8 && !addr_ascii(s->from)) {
		free(s->from);
		s->from = NULL;
		reply_error(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		return;
	}
	s->has_mail = true;
	s->declared_size = size;
	s->smtputf8 = utf8;
	reply(s, "250 2.1.0 OK");
}

static void cmd_rcpt(struct lmtp_session *s, struct str args)
{
	struct str addr;
	const char *error;
	char t[SMTP_PATH_MAX + 100];
	if (!s->has_mail) {
		reply_error(s, "503 5.5.1 Need MAIL first");
		return;
	}
	if (smtp_rcpt_args(args, &addr, t, sizeof(t)) < 0) {
		reply_error(s, t);
		return;
	}
	if (addr.len == 0) {
		reply_error(s, "501 5.1.3 Empty recipient");
		return;
	}
	if (s->nrcpts >= lmtp.cfg.lmtp_max_recipients) {
		clog_info(&s->log, "limit lmtp_max_recipients=%u hit",
			  lmtp.cfg.lmtp_max_recipients);
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	struct lmtp_rcpt r = {.addr = str_dup(addr)};
	if (r.addr == NULL) {
		reply_error(s, "501 5.1.3 Bad address");
		return;
	}
	if (!s->smtputf8 && !addr_ascii(r.addr)) {
		free(r.addr);
		reply_error(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		return;
	}
	switch (lmtp_lookup(r.addr, &r.acct)) {
	case LMTP_LOOKUP_FOUND:
		break;
	case LMTP_LOOKUP_UNKNOWN:
		clog_info(&s->log, "unknown recipient <%s>", r.addr);
		metrics_count(METRICS_DELIVER_REFUSED, 1);
		reply(s, "550 5.1.1 <%s> User unknown", r.addr);
		free(r.addr);
		return;
	case LMTP_LOOKUP_TEMP:
		reply(s, "451 4.3.0 <%s> Temporary lookup failure", r.addr);
		free(r.addr);
		return;
	}
	switch (lmtp_quota_check(&r.acct, s->declared_size, &error)) {
	case STORAGE_OK:
		break;
	case STORAGE_ERR_OVERQUOTA:
		clog_info(&s->log, "refused to=<%s> user=%s at RCPT: over quota",
			  r.addr, r.acct.user);
		reply_overquota(s, &r, s->declared_size);
		metrics_count(METRICS_DELIVER_REFUSED, 1);
		free(r.addr);
		return;
	default:
		clog_error(&s->log, "quota of %s: %s", r.acct.user, error);
		reply(s, "451 4.3.0 <%s> Temporary failure", r.addr);
		free(r.addr);
		return;
	}
	struct lmtp_rcpt *n =
		realloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
	if (n == NULL) {
		free(r.addr);
		reply(s, "452 4.3.1 Out of memory");
		return;
	}
	s->rcpts = n;
	s->rcpts[s->nrcpts++] = r;
	reply(s, "250 2.1.5 <%s> OK", r.addr);
}

static void cmd_data(struct lmtp_session *s, struct str args)
{
	if (args.len != 0) {
		reply_error(s, "501 5.5.4 DATA takes no arguments");
		return;
	}
	if (!s->has_mail) {
		reply_error(s, "503 5.5.1 Need MAIL first");
		return;
	}
	if (s->body.seen_bdat) {
		reply_error(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	if (s->nrcpts == 0) {
		reply_error(s, "554 5.5.1 No valid recipients");
		return;
	}
	(void)spool_open(s);
	smtp_body_data_start(&s->body);
	s->state = LMTP_DATA;
	reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

static void bdat_done(struct lmtp_session *s);

static void cmd_bdat(struct lmtp_session *s, struct str args)
{
	uint64_t n;
	bool last;
	if (smtp_bdat_parse(args, &n, &last) < 0) {
		/* the chunk cannot be skipped without its size */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing");
		s->closing = true;
		return;
	}
	s->state = LMTP_BDAT;
	smtp_body_bdat_start(&s->body, n, last);
	if (!s->body.seen_bdat) {
		/* refused from the first chunk to the LAST one */
		s->body.discard = !s->has_mail || s->nrcpts == 0;
		if (!s->body.discard)
			(void)spool_open(s);
		s->body.seen_bdat = true;
	}
	if (n == 0)
		bdat_done(s);
}

/* The chunk has been read (RFC 3030 2: the reply comes after it). */
static void bdat_done(struct lmtp_session *s)
{
	s->state = LMTP_CMD;
	if (s->body.discard) {
		reply_error(s, !s->has_mail ? "503 5.5.1 Need MAIL first"
					    : "554 5.5.1 No valid recipients");
		if (s->body.last)
			txn_reset(s);
		return;
	}
	if (!s->body.last) {
		reply(s, "250 2.0.0 %llu octets received",
		      (unsigned long long)s->size);
		return;
	}
	message_end(s);
}

static void command(struct lmtp_session *s, struct str line)
{
	struct smtp_cmd cmd;
	const char *error;
	if (smtp_cmd_parse(line, &cmd, &error) < 0) {
		char t[160];
		snprintf(t, sizeof(t), "500 5.5.2 %s", error);
		reply_error(s, t);
		return;
	}
	if (smtp_cmd_is(&cmd, "LHLO"))
		cmd_lhlo(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "MAIL"))
		cmd_mail(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "RCPT"))
		cmd_rcpt(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "DATA"))
		cmd_data(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "BDAT"))
		cmd_bdat(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "RSET")) {
		txn_reset(s);
		reply(s, "250 2.0.0 OK");
	} else if (smtp_cmd_is(&cmd, "NOOP"))
		reply(s, "250 2.0.0 OK");
	else if (smtp_cmd_is(&cmd, "QUIT")) {
		reply(s, "221 2.0.0 %s Bye", lmtp.hostname);
		s->closing = true;
	} else if (smtp_cmd_is(&cmd, "EHLO") || smtp_cmd_is(&cmd, "HELO"))
		reply_error(s, "500 5.5.1 This is LMTP: use LHLO");
	else if (smtp_cmd_is(&cmd, "VRFY"))
		reply(s, "252 2.5.0 Cannot VRFY user");
	else if (smtp_cmd_is(&cmd, "HELP"))
		reply(s, "214 2.0.0 LHLO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, "
			 "QUIT");
	else
		reply_error(s, "500 5.5.2 Command unrecognized");
}

/* ---- input ---- */

static void body_sink(void *ctx, const unsigned char *p, size_t n)
{
	spool_write(ctx, p, n);
}

/* Works through the buffered input; returns when it needs more. */
static void session_input(struct lmtp_session *s)
{
	while (!s->closing && s->in.len > 0) {
		if (s->state == LMTP_BDAT || s->state == LMTP_DATA) {
			if (!smtp_body_feed(&s->body, &s->in, LMTP_READ_CHUNK,
					    body_sink, s))
				continue;
			if (s->state == LMTP_BDAT) {
				bdat_done(s);
			} else {
				s->state = LMTP_CMD;
				message_end(s);
			}
			continue;
		}
		struct str line;
		size_t used;
		enum smtp_line_result r = smtp_line_read(
			&s->reader, s->in.data, s->in.len, &line, &used);
		if (r == SMTP_LINE_NEED_MORE) {
			buf_consume(&s->in, used);
			return;
		}
		if (r == SMTP_LINE_TOO_LONG) {
			buf_consume(&s->in, used);
			reply_error(s, "500 5.5.2 Line too long");
			continue;
		}
		char copy[LMTP_MAX_LINE + 1];
		memcpy(copy, line.p, line.len);
		copy[line.len] = '\0';
		buf_consume(&s->in, used);
		command(s, (struct str){copy, line.len});
	}
}

/* Waits for input (flushing replies first). -1: timeout, EOF, error or
 * the master went away. */
static int session_read(struct lmtp_session *s)
{
	if (flush_out(s) < 0)
		return -1;
	struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
			      {.fd = s->lifeline, .events = POLLIN}};
	int r;
	do {
		r = poll(p, 2, (int)lmtp.cfg.lmtp_timeout * 1000);
	} while (r < 0 && errno == EINTR);
	if (r < 0 || (p[1].revents & (POLLIN | POLLHUP)) != 0)
		return -1;
	if (r == 0) {
		clog_info(&s->log, "idle for %u s: closing",
			  lmtp.cfg.lmtp_timeout);
		reply(s, "421 4.4.2 %s Timeout, closing", lmtp.hostname);
		(void)flush_out(s);
		return -1;
	}
	void *dst = buf_reserve(&s->in, LMTP_READ_CHUNK);
	if (dst == NULL)
		return -1; /* bounded by the max: cannot happen */
	ssize_t n;
	do {
		n = recv(s->fd, dst, LMTP_READ_CHUNK, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	buf_commit(&s->in, (size_t)n);
	return 0;
}

void lmtp_session_run(int fd, int lifeline_fd, uint64_t session,
		      const char *remote)
{
	struct lmtp_session s = {.fd = fd, .lifeline = lifeline_fd,
				 .spool_fd = -1};
	s.log.session = session;
	(void)str_cpy(s.log.remote, remote, sizeof(s.log.remote));
	buf_init(&s.in, LMTP_READ_CHUNK + LMTP_MAX_LINE + 16);
	buf_init(&s.out, LMTP_OUT_MAX);
	smtp_line_reader_init(&s.reader, LMTP_MAX_LINE);
	clog_info(&s.log, "connect");
	reply(&s, "220 %s LMTP Postern ready", lmtp.hostname);
	while (!s.closing && session_read(&s) == 0)
		session_input(&s);
	(void)flush_out(&s);
	clog_info(&s.log, "disconnect");
	txn_reset(&s);
	buf_deinit(&s.in);
	buf_deinit(&s.out);
	close(fd);
	lmtp_deliver_close();
	lmtp_lookup_close();
}
