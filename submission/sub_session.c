/* One authenticated submission session: the mail transaction (RFC 5321,
 * RFC 6409) on the plaintext stream from the login process's TLS proxy.
 *
 * Commands are read one at a time; a command that waits (the auth lookup
 * of MAIL FROM and RCPT TO) stops the reader until its answer, so pipelined
 * commands are answered in order. A remote RCPT is then relayed to the
 * smarthost at once (sub_relay.c, blocking) and answered with its reply.
 * DATA and BDAT bytes go through smtp_parser's readers into an anonymous
 * spool file (O_TMPFILE: a killed worker leaves nothing behind), with the
 * Received header in front and Message-ID / Date added to the header when
 * missing; delivery (sub_deliver.c) runs at the end of the data, before
 * the reply. */
#include "sub_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "ioloop.h"
#include "metrics.h"
#include "ipc_proto.h"
#include "rand.h"
#include "smtp_ehlo.h"
#include "str.h"
#include "strnum.h"
#include "worker_proc.h"

/* RFC 5321 4.5.3.1.4 allows longer lines for ESMTP parameters. */
#define SUB_MAX_LINE 4096
#define SUB_READ_CHUNK 65536
/* Output piling up past this is a client that does not read. */
#define SUB_OUT_MAX (256 * 1024)
/* No command is read while this much output is pending. */
#define SUB_OUT_PAUSE (64 * 1024)
/* RFC 5321 4.5.3.2.7: at least 5 minutes. */
#define SUB_IDLE_TIMEOUT_MS (300 * 1000)
#define SUB_CLOSE_TIMEOUT_MS 5000
/* The header part we hold to look for Message-ID and Date. */
#define SUB_HEADER_MAX (64 * 1024)
/* Commands refused in a row before the session is closed. */
#define SUB_MAX_ERRORS 20
/* A reply line we make, or the smarthost's reply passed on (its text is
 * bounded by SMTPC_TEXT_MAX). */
#define SUB_REPLY_MAX 1200

enum sub_state {
	SUB_CMD,
	SUB_WAIT,     /* an auth lookup is out */
	SUB_DATA,     /* reading DATA */
	SUB_BDAT,     /* reading a BDAT chunk */
};

struct sub_session {
	struct sub_session *prev, *next;
	int fd;
	struct io *io;
	struct log_ctx log;
	char remote_ip[64];
	int metrics_idx; /* entry in the live-session table (mailadm who) */
	char tls_info[128];
	char helo[256];
	bool ehlo;
	struct buf in, out;
	struct smtp_line_reader reader;
	struct timer *idle_timer, *post_timer;
	bool closing;
	unsigned errors;

	enum sub_state state;
	uint32_t lookup_id;
	char *lookup_addr; /* RCPT being looked up */

	/* the transaction */
	bool has_mail;
	char *mail_from;
	uint64_t declared_size;
	bool body_8bit, smtputf8;
	struct sub_rcpt *rcpts;
	size_t nrcpts;
	/* the smarthost's side of it, open from the first remote RCPT to the
	 * end of the transaction (sub_relay.c) */
	struct smtpc *relay;
	size_t nremote;

	/* its message */
	int spool_fd;
	bool spool_failed, too_big;
	uint64_t msg_size; /* the client's bytes (unstuffed) */
	uint64_t spool_size;
	struct smtp_body body;
	struct buf hdr;
	bool hdr_done;
};

static void session_input(struct sub_session *s);
static void session_update_io(struct sub_session *s);

/* ---- output ---- */

static void session_flush(struct sub_session *s)
{
	while (s->out.len > 0) {
		ssize_t n = send(s->fd, s->out.data, s->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				buf_clear(&s->out);
				s->closing = true;
			}
			break;
		}
		buf_consume(&s->out, (size_t)n);
	}
}

static void reply(struct sub_session *s, const char *fmt, ...)
	POSTERN_PRINTF(2, 3);
static void reply(struct sub_session *s, const char *fmt, ...)
{
	if (s->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (r < 0 || buf_append(&s->out, "\r\n", 2) < 0) {
		clog_warn(&s->log, "output buffer full: closing");
		buf_clear(&s->out);
		s->closing = true;
	}
}

/* A refused command; too many in a row end the session. */
static void reply_error(struct sub_session *s, const char *line)
{
	reply(s, "%s", line);
	if (++s->errors >= SUB_MAX_ERRORS) {
		reply(s, "421 4.7.0 Too many errors, closing");
		s->closing = true;
	}
}

/* ---- the transaction ---- */

static void rcpts_free(struct sub_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].user);
		free(s->rcpts[i].home);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
}

static void message_reset(struct sub_session *s)
{
	if (s->spool_fd >= 0)
		close(s->spool_fd);
	s->spool_fd = -1;
	s->spool_failed = s->too_big = false;
	s->msg_size = s->spool_size = 0;
	buf_clear(&s->hdr);
	s->hdr_done = false;
	smtp_body_reset(&s->body);
}

static void txn_reset(struct sub_session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	s->has_mail = false;
	s->declared_size = 0;
	s->body_8bit = s->smtputf8 = false;
	rcpts_free(s);
	message_reset(s);
	sub_relay_close(&s->relay);
	s->nremote = 0;
}

/* ---- the spool ---- */

static int spool_open(struct sub_session *s)
{
	s->spool_fd = open(".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->spool_fd < 0) {
		/* a file system without O_TMPFILE: a name, unlinked at once */
		char path[] = "spool.XXXXXX";
		s->spool_fd = mkostemp(path, O_CLOEXEC);
		if (s->spool_fd >= 0)
			(void)unlink(path);
	}
	if (s->spool_fd < 0) {
		clog_error(&s->log, "cannot create a spool file: %m");
		return -1;
	}
	return 0;
}

static void spool_write(struct sub_session *s, const void *p, size_t n)
{
	if (s->spool_failed || n == 0)
		return;
	if (fdio_write_all(s->spool_fd, p, n) < 0) {
		clog_error(&s->log, "writing the spool file: %m");
		s->spool_failed = true;
		return;
	}
	s->spool_size += n;
}

static void spool_printf(struct sub_session *s, const char *fmt, ...)
	POSTERN_PRINTF(2, 3);
static void spool_printf(struct sub_session *s, const char *fmt, ...)
{
	struct buf b;
	buf_init(&b, 8192);
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r == 0)
		spool_write(s, b.data, b.len);
	buf_deinit(&b);
}

static void rfc5322_date(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		str_cpy(out, "Thu, 01 Jan 1970 00:00:00 +0000", outsz);
}

/* Whether the header block has a field of that name (ASCII case-blind). */
static bool header_has(const unsigned char *h, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl <= len;) {
		if (str_eq_ci((struct str){(const char *)h + i, nl}, name))
			return true;
		const unsigned char *lf = memchr(h + i, '\n', len - i);
		if (lf == NULL)
			break;
		i = (size_t)(lf - h) + 1;
	}
	return false;
}

/* Received (RFC 5321 4.4, RFC 3848 "ESMTPSA"), then the held header part
 * up to hdr_len, the missing Message-ID / Date, and the rest. */
static void header_flush(struct sub_session *s, size_t hdr_len)
{
	char date[64];
	rfc5322_date(date, sizeof(date));
	spool_printf(s,
		     "Received: from %s ([%s])\r\n\tby %s (Postern) with "
		     "%s\r\n\t(%s)\r\n\t(authenticated as %s); %s\r\n",
		     s->helo, s->remote_ip, sworker.host,
		     s->tls_info[0] != '\0' ? (s->ehlo ? "ESMTPSA" : "SMTPSA")
					    : (s->ehlo ? "ESMTPA" : "SMTPA"),
		     s->tls_info[0] != '\0' ? s->tls_info : "no TLS",
		     sworker.user, date);
	const unsigned char *h = s->hdr.len > 0 ? s->hdr.data
						: (const unsigned char *)"";
	spool_write(s, h, hdr_len);
	/* a message that is all header and lacks a last line end */
	if (hdr_len > 0 && h[hdr_len - 1] != '\n')
		spool_write(s, "\r\n", 2);
	if (!header_has(h, hdr_len, "message-id:")) {
		char id[33];
		rand_hex(id, 16);
		spool_printf(s, "Message-ID: <%s@%s>\r\n", id, sworker.host);
	}
	if (!header_has(h, hdr_len, "date:"))
		spool_printf(s, "Date: %s\r\n", date);
	spool_write(s, h + hdr_len, s->hdr.len - hdr_len);
	s->hdr_done = true;
	buf_clear(&s->hdr);
}

/* Where the header part ends (after the CRLF of its last line), or
 * SIZE_MAX while unknown. */
static size_t header_end(const struct buf *h)
{
	if (h->len >= 2 && h->data[0] == '\r' && h->data[1] == '\n')
		return 0;
	const unsigned char *p = h->len >= 4 ? memmem(h->data, h->len,
						      "\r\n\r\n", 4)
					     : NULL;
	return p != NULL ? (size_t)(p - h->data) + 2 : SIZE_MAX;
}

/* Message bytes as the client sent them (unstuffed). */
static void message_feed(struct sub_session *s, const unsigned char *p,
			 size_t n)
{
	s->msg_size += n;
	if (s->msg_size > sworker.cfg.submission_max_message_size)
		s->too_big = true;
	if (s->too_big || s->spool_failed)
		return;
	while (n > 0 && !s->hdr_done) {
		size_t room = SUB_HEADER_MAX - s->hdr.len;
		size_t take = n < room ? n : room;
		(void)buf_append(&s->hdr, p, take);
		p += take;
		n -= take;
		size_t end = header_end(&s->hdr);
		if (end != SIZE_MAX)
			header_flush(s, end);
		else if (s->hdr.len >= SUB_HEADER_MAX)
			header_flush(s, 0); /* no header we could see */
	}
	spool_write(s, p, n);
}

static void message_end(struct sub_session *s)
{
	if (!s->hdr_done && !s->too_big && !s->spool_failed)
		header_flush(s, s->hdr.len);
	char text[SUB_REPLY_MAX];
	if (s->body.bare_cr || s->body.bare_lf) {
		clog_info(&s->log, "message refused: bare %s in data",
			  s->body.bare_lf ? "LF" : "CR");
		reply(s, "550 5.5.2 Message refused: lines must end with CRLF "
			 "(bare CR or LF seen)");
	} else if (s->too_big) {
		reply(s, "552 5.3.4 Message too big (limit %u bytes)",
		      sworker.cfg.submission_max_message_size);
	} else if (s->spool_failed) {
		reply(s, "451 4.3.0 Temporary failure saving the message");
	} else {
		struct sub_message m = {
			.fd = s->spool_fd,
			.size = s->spool_size,
			.from = s->mail_from,
			.body_8bit = s->body_8bit,
			.smtputf8 = s->smtputf8,
			.rcpts = s->rcpts,
			.nrcpts = s->nrcpts,
			.relay = &s->relay,
			.log = &s->log,
		};
		sub_deliver(&m, text, sizeof(text));
		reply(s, "%s", text);
	}
	txn_reset(s);
	s->state = SUB_CMD;
}

/* ---- commands ---- */

static void cmd_ehlo(struct sub_session *s, struct str args, bool ehlo)
{
	if (!smtp_helo_valid(args)) {
		reply_error(s, "501 5.5.4 Syntax: EHLO domain-or-address");
		return;
	}
	(void)str_copy(args, s->helo, sizeof(s->helo));
	s->ehlo = ehlo;
	txn_reset(s);
	if (!ehlo) {
		reply(s, "250 %s", sworker.host);
		return;
	}
	struct buf b;
	buf_init(&b, 4096);
	smtp_ehlo_reply(&b, sworker.host, s->helo,
			sworker.cfg.submission_max_message_size, false, NULL);
	if (buf_append(&s->out, b.data, b.len) < 0)
		s->closing = true;
	buf_deinit(&b);
}

static void mail_lookup_done(void *ctx, enum sub_lookup_result r,
			     const char *user, const char *home,
			     const struct user_settings *us)
{
	struct sub_session *s = ctx;
	(void)home;
	(void)us;
	s->lookup_id = 0;
	s->state = SUB_CMD;
	if (r == SUB_LOOKUP_TEMP) {
		reply(s, "451 4.3.0 Temporary failure checking the sender");
	} else if (r == SUB_LOOKUP_UNKNOWN || strcmp(user, sworker.user) != 0) {
		clog_info(&s->log, "sender refused from=<%s>", s->mail_from);
		reply(s, "550 5.7.1 Sender address <%s> not owned by %s",
		      s->mail_from, sworker.user);
		txn_reset(s);
	} else {
		s->has_mail = true;
		reply(s, "250 2.1.0 Sender OK");
	}
	session_input(s);
	session_update_io(s);
}

static void cmd_mail(struct sub_session *s, struct str args)
{
	struct str addr;
	struct smtp_mail_params mp;
	char t[160];
	if (s->has_mail) {
		reply_error(s, "503 5.5.1 Sender already given");
		return;
	}
	switch (smtp_mail_args(args, sworker.cfg.submission_max_message_size,
			       &addr, &mp, t, sizeof(t))) {
	case -1:
		reply_error(s, t);
		return;
	case -2:
		reply(s, "%s", t);
		return;
	}
	uint64_t size = mp.size;
	bool b8 = mp.body_8bit, utf8 = mp.smtputf8;
	if (addr.len == 0) {
		reply_error(s, "550 5.7.1 A null sender is not accepted for "
			       "submission");
		return;
	}
	s->mail_from = str_dup(addr);
	if (s->mail_from == NULL) {
		reply_error(s, "501 5.5.4 Bad sender address");
		return;
	}
	s->declared_size = size;
	s->body_8bit = b8;
	s->smtputf8 = utf8;
	s->state = SUB_WAIT;
	s->lookup_id = sub_lookup(s->mail_from, mail_lookup_done, s);
}

static bool rcpt_duplicate(const struct sub_session *s, const char *addr,
			   const char *user)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		const struct sub_rcpt *r = &s->rcpts[i];
		if (user != NULL ? r->local && strcmp(r->user, user) == 0
				 : !r->local && str_eq_ci(str_from_cstr(r->addr),
							  addr))
			return true;
	}
	return false;
}

/* ok_reply: the smarthost's acceptance, or NULL for ours. */
static void rcpt_add(struct sub_session *s, const char *user, const char *home,
		     const struct user_settings *us, const char *ok_reply)
{
	char *addr = s->lookup_addr;
	s->lookup_addr = NULL;
	if (rcpt_duplicate(s, addr, user)) {
		free(addr);
		reply(s, "250 2.1.5 Recipient OK (duplicate)");
		return;
	}
	struct sub_rcpt *n =
		realloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
	if (n == NULL)
		log_fatal("out of memory");
	s->rcpts = n;
	struct sub_rcpt *r = &n[s->nrcpts++];
	r->addr = addr;
	r->local = user != NULL;
	r->user = user != NULL ? strdup(user) : NULL;
	r->home = home != NULL ? strdup(home) : NULL;
	if (us != NULL)
		r->settings = *us;
	else
		memset(&r->settings, 0, sizeof(r->settings));
	if (user != NULL && (r->user == NULL || r->home == NULL))
		log_fatal("out of memory");
	if (user == NULL)
		s->nremote++;
	if (ok_reply != NULL)
		reply(s, "%s", ok_reply);
	else
		reply(s, "250 2.1.5 Recipient OK");
}

/* A remote recipient: the smarthost decides, now (blocking). */
static void rcpt_relay(struct sub_session *s)
{
	if (rcpt_duplicate(s, s->lookup_addr, NULL)) {
		rcpt_add(s, NULL, NULL, NULL, NULL);
		return;
	}
	char text[SUB_REPLY_MAX];
	struct sub_relay_txn t = {
		.from = s->mail_from,
		.size = s->declared_size,
		.body_8bit = s->body_8bit,
		.smtputf8 = s->smtputf8,
		.nremote = s->nremote,
	};
	if (sub_relay_rcpt(&s->relay, &t, s->lookup_addr, &s->log, text,
			   sizeof(text)))
		rcpt_add(s, NULL, NULL, NULL, text);
	else
		reply(s, "%s", text);
}

static void rcpt_lookup_done(void *ctx, enum sub_lookup_result r,
			     const char *user, const char *home,
			     const struct user_settings *us)
{
	struct sub_session *s = ctx;
	s->lookup_id = 0;
	s->state = SUB_CMD;
	if (r == SUB_LOOKUP_TEMP) {
		reply(s, "451 4.3.0 Temporary failure checking the recipient");
	} else if (r == SUB_LOOKUP_FOUND) {
		if (sub_deliver_quota_check(home, us, s->declared_size) < 0)
			reply(s, "452 4.2.2 Mailbox of <%s> is full",
			      s->lookup_addr);
		else
			rcpt_add(s, user, home, us, NULL);
	} else if (sworker.relay_ok) {
		rcpt_relay(s);
	} else if (sworker.cfg.smarthost[0] != '\0') {
		reply(s, "451 4.3.5 Relaying temporarily unavailable");
	} else {
		reply(s, "550 5.7.1 <%s>: relaying not configured",
		      s->lookup_addr);
	}
	free(s->lookup_addr);
	s->lookup_addr = NULL;
	session_input(s);
	session_update_io(s);
}

static void cmd_rcpt(struct sub_session *s, struct str args)
{
	struct str addr;
	char t[160];
	if (!s->has_mail) {
		reply_error(s, "503 5.5.1 Need MAIL before RCPT");
		return;
	}
	if (smtp_rcpt_args(args, &addr, t, sizeof(t)) < 0) {
		reply_error(s, t);
		return;
	}
	if (addr.len == 0 || memchr(addr.p, '@', addr.len) == NULL) {
		reply_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (s->nrcpts >= sworker.cfg.submission_max_recipients) {
		reply(s, "452 4.5.3 Too many recipients (limit %u)",
		      sworker.cfg.submission_max_recipients);
		return;
	}
	s->lookup_addr = str_dup(addr);
	if (s->lookup_addr == NULL) {
		reply_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	s->state = SUB_WAIT;
	s->lookup_id = sub_lookup(s->lookup_addr, rcpt_lookup_done, s);
}

/* MAIL and RCPT done? Else the reply, and false. */
static bool txn_ready(struct sub_session *s)
{
	if (!s->has_mail) {
		reply_error(s, "503 5.5.1 Need MAIL first");
		return false;
	}
	if (s->nrcpts == 0) {
		reply_error(s, "554 5.5.1 No valid recipients");
		return false;
	}
	return true;
}

static void cmd_data(struct sub_session *s, struct str args)
{
	if (args.len != 0) {
		reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->body.seen_bdat) {
		reply_error(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	if (!txn_ready(s))
		return;
	if (s->nremote > 0 && s->relay == NULL) {
		/* no need to send the message for nothing */
		reply(s, "451 4.4.2 Connection to the smarthost lost, try "
			 "again later");
		return;
	}
	if (spool_open(s) < 0) {
		reply(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	smtp_body_data_start(&s->body);
	s->state = SUB_DATA;
	reply(s, "354 2.0.0 End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct sub_session *s, struct str args)
{
	uint64_t size;
	bool last;
	if (smtp_bdat_parse(args, &size, &last) < 0) {
		/* no size we can trust: the connection cannot go on */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing");
		s->closing = true;
		return;
	}
	smtp_body_bdat_start(&s->body, size, last);
	s->state = SUB_BDAT;
	/* RFC 3030: the chunk is read even when it is refused */
	s->body.discard = false;
	if (!s->body.seen_bdat) {
		if (!s->has_mail || s->nrcpts == 0) {
			s->body.discard = true;
			return;
		}
		if (spool_open(s) < 0) {
			s->spool_failed = true;
		}
		s->body.seen_bdat = true;
	}
}

/* The chunk has been read. */
static void bdat_done(struct sub_session *s)
{
	s->state = SUB_CMD;
	if (s->body.discard) {
		if (!s->has_mail)
			reply_error(s, "503 5.5.1 Need MAIL first");
		else
			reply_error(s, "554 5.5.1 No valid recipients");
		return;
	}
	if (!s->body.last) {
		/* the transaction stays: BDAT LAST gets the verdict */
		if (s->too_big)
			reply(s, "552 5.3.4 Message too big (limit %u bytes)",
			      sworker.cfg.submission_max_message_size);
		else
			reply(s, "250 2.0.0 %llu bytes received",
			      (unsigned long long)s->msg_size);
		return;
	}
	message_end(s);
}

static void command(struct sub_session *s, struct str line)
{
	struct smtp_cmd cmd;
	const char *error;
	if (smtp_cmd_parse(line, &cmd, &error) < 0) {
		char t[160];
		snprintf(t, sizeof(t), "500 5.5.2 %s", error);
		reply_error(s, t);
		return;
	}
	if (smtp_cmd_is(&cmd, "MAIL"))
		cmd_mail(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "RCPT"))
		cmd_rcpt(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "DATA"))
		cmd_data(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "BDAT"))
		cmd_bdat(s, cmd.args);
	else if (smtp_cmd_is(&cmd, "EHLO"))
		cmd_ehlo(s, cmd.args, true);
	else if (smtp_cmd_is(&cmd, "HELO"))
		cmd_ehlo(s, cmd.args, false);
	else if (smtp_cmd_is(&cmd, "RSET")) {
		txn_reset(s);
		reply(s, "250 2.0.0 OK");
	} else if (smtp_cmd_is(&cmd, "NOOP"))
		reply(s, "250 2.0.0 OK");
	else if (smtp_cmd_is(&cmd, "QUIT")) {
		reply(s, "221 2.0.0 Bye");
		s->closing = true;
	} else if (smtp_cmd_is(&cmd, "AUTH"))
		reply_error(s, "503 5.5.1 Already authenticated");
	else if (smtp_cmd_is(&cmd, "STARTTLS"))
		reply_error(s, "503 5.5.1 TLS already active");
	else if (smtp_cmd_is(&cmd, "VRFY"))
		reply(s, "252 2.5.0 Cannot VRFY user");
	else if (smtp_cmd_is(&cmd, "HELP"))
		reply(s, "214 2.0.0 MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT");
	else
		reply_error(s, "500 5.5.2 Command unrecognized");
}

/* ---- input ---- */

static void body_sink(void *ctx, const unsigned char *p, size_t n)
{
	message_feed(ctx, p, n);
}

static void session_input(struct sub_session *s)
{
	while (!s->closing && s->out.len < SUB_OUT_PAUSE) {
		if (s->state == SUB_WAIT)
			return;
		if (s->state == SUB_BDAT) {
			if (s->in.len == 0 && s->body.left > 0)
				return;
			if (smtp_body_feed(&s->body, &s->in, SUB_READ_CHUNK,
					   body_sink, s))
				bdat_done(s);
			continue;
		}
		if (s->in.len == 0)
			return;
		if (s->state == SUB_DATA) {
			if (smtp_body_feed(&s->body, &s->in, SUB_READ_CHUNK,
					   body_sink, s))
				message_end(s);
			continue;
		}
		struct str line;
		size_t used;
		enum smtp_line_result r = smtp_line_read(
			&s->reader, s->in.data, s->in.len, &line, &used);
		if (r == SMTP_LINE_NEED_MORE) {
			buf_consume(&s->in, used);
			if (used > 0 && s->in.len > 0)
				continue;
			return;
		}
		if (r == SMTP_LINE_TOO_LONG) {
			buf_consume(&s->in, used);
			reply_error(s, "500 5.5.2 Line too long");
			continue;
		}
		/* a copy: consuming the line moves the buffer */
		char *copy = str_dup(line);
		buf_consume(&s->in, used);
		if (copy == NULL) {
			reply_error(s, "500 5.5.2 Syntax error");
			continue;
		}
		unsigned errors = s->errors;
		command(s, str_from_cstr(copy));
		free(copy);
		if (s->errors == errors)
			s->errors = 0;
	}
}

static void session_free(struct sub_session *s)
{
	sub_lookup_cancel(s->lookup_id);
	io_remove(&s->io);
	timer_remove(&s->idle_timer);
	timer_remove(&s->post_timer);
	if (s->fd >= 0)
		close(s->fd);
	txn_reset(s);
	free(s->lookup_addr);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	buf_deinit(&s->hdr);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sworker.sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	metrics_session_del(s->metrics_idx);
	sub_worker_session_removed(s);
	free(s);
}

void sub_session_destroy(struct sub_session *s, const char *reason)
{
	clog_info(&s->log, "disconnect reason=\"%s\"", reason);
	session_free(s);
}

void sub_session_bye(struct sub_session *s, const char *line)
{
	reply(s, "%s", line);
	session_flush(s);
	sub_session_destroy(s, "shutdown");
}

static void post_fire(void *ctx)
{
	struct sub_session *s = ctx;
	s->post_timer = NULL;
	sub_session_destroy(s, "closed");
}

static void session_update_io(struct sub_session *s)
{
	if (s->post_timer != NULL)
		return;
	session_flush(s);
	if (s->closing && s->out.len == 0) {
		/* freed from the loop, never under a caller's feet */
		s->post_timer = timer_add(0, post_fire, s);
		return;
	}
	unsigned ev = 0;
	if (!s->closing && s->state != SUB_WAIT &&
	    s->out.len < SUB_OUT_PAUSE && s->in.len < s->in.max)
		ev |= IO_READ;
	if (s->out.len > 0)
		ev |= IO_WRITE;
	io_set_events(s->io, ev);
}

static void idle_fire(void *ctx)
{
	struct sub_session *s = ctx;
	s->idle_timer = NULL;
	if (s->closing) {
		sub_session_destroy(s, "close timeout");
		return;
	}
	reply(s, "421 4.4.2 %s Timeout, closing connection", sworker.host);
	s->closing = true;
	s->idle_timer = timer_add(SUB_CLOSE_TIMEOUT_MS, idle_fire, s);
	session_update_io(s);
}

static void session_io(void *ctx, unsigned events)
{
	struct sub_session *s = ctx;
	(void)events;
	if (s->post_timer != NULL)
		return;
	session_flush(s);
	if (!s->closing && s->state != SUB_WAIT && s->in.len < s->in.max) {
		size_t room = s->in.max - s->in.len;
		if (room > SUB_READ_CHUNK)
			room = SUB_READ_CHUNK;
		void *dst = buf_reserve(&s->in, room);
		ssize_t n = dst == NULL ? -1 : read(s->fd, dst, room);
		if (n > 0) {
			buf_commit(&s->in, (size_t)n);
			timer_remove(&s->idle_timer);
			s->idle_timer =
				timer_add(SUB_IDLE_TIMEOUT_MS, idle_fire, s);
			session_input(s);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			/* the client is gone: a message not ended is not
			 * delivered (the spool file vanishes with it) */
			sub_session_destroy(s, n == 0 ? "client disconnected"
						     : "read error");
			return;
		}
	} else if (!s->closing && s->out.len < SUB_OUT_PAUSE) {
		session_input(s);
	}
	session_update_io(s);
}

struct sub_session *sub_session_create(int fd, const struct worker_client *p)
{
	bool auth_done, ehlo;
	char helo[256];
	if (smtp_resume_parse(p->resume, &auth_done, &ehlo, helo) < 0) {
		log_error("IPC_T_CLIENT with a malformed resume string: "
			  "dropped");
		close(fd);
		return NULL;
	}
	struct sub_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		log_fatal("out of memory");
	s->fd = fd;
	s->spool_fd = -1;
	s->log.session = p->session;
	(void)str_cpy(s->log.remote, p->remote_ip, sizeof(s->log.remote));
	(void)str_cpy(s->log.user, sworker.user, sizeof(s->log.user));
	(void)str_cpy(s->remote_ip, p->remote_ip, sizeof(s->remote_ip));
	(void)str_cpy(s->tls_info, p->tls_info, sizeof(s->tls_info));
	memcpy(s->helo, helo, sizeof(s->helo));
	s->ehlo = ehlo;
	buf_init(&s->in, SUB_READ_CHUNK + SUB_MAX_LINE);
	buf_init(&s->out, SUB_OUT_MAX);
	buf_init(&s->hdr, SUB_HEADER_MAX);
	smtp_line_reader_init(&s->reader, SUB_MAX_LINE);
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	s->next = sworker.sessions;
	if (s->next != NULL)
		s->next->prev = s;
	sworker.sessions = s;
	sub_worker_session_added(s);
	s->metrics_idx = metrics_session_add("submission", sworker.user,
					     s->remote_ip, s->log.session);
	s->io = io_add(fd, IO_READ, session_io, s);
	s->idle_timer = timer_add(SUB_IDLE_TIMEOUT_MS, idle_fire, s);
	clog_info(&s->log, "session start tls=\"%s\" helo=%s%s", s->tls_info,
		  s->helo,
		  (p->flags & IPC_HANDOFF_F_PREAUTH) != 0 ? " cert=yes" : "");
	if (auth_done)
		reply(s, "235 2.7.0 Authentication successful");
	if (p->pending_len > 0 &&
	    buf_append(&s->in, p->pending, p->pending_len) < 0) {
		sub_session_destroy(s, "too much pending input");
		return NULL;
	}
	session_input(s);
	session_update_io(s);
	return s;
}

unsigned sub_session_count_from(const char *remote_ip)
{
	unsigned n = 0;
	for (const struct sub_session *s = sworker.sessions; s != NULL;
	     s = s->next) {
		if (strcmp(s->remote_ip, remote_ip) == 0)
			n++;
	}
	return n;
}
