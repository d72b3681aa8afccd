/* Pre-auth SMTP submission (RFC 6409, RFC 3207, RFC 4954, RFC 2034):
 * EHLO/HELO, STARTTLS, AUTH, NOOP, RSET, HELP, VRFY, QUIT; the mail
 * transaction itself belongs to the per-user worker. Authentication happens
 * at auth (lib/login_auth.c); on success the connection is handed off and
 * the worker sends the 235.
 *
 * Choices where the RFCs leave room:
 * - STARTTLS is accepted before any EHLO (gsasl sends it so); afterwards the
 *   client starts over (RFC 3207 4.2): EHLO again.
 * - AUTH needs TLS (530 5.7.0) and an EHLO (503 5.5.1), as RFC 4954 asks.
 * - A registered client certificate logs in at the first MAIL without AUTH
 *   (certificate login at auth, mech EXTERNAL); an AUTH instead is checked
 *   at auth, where a registered key binds the connection to its account.
 * - AUTH LOGIN (draft-murchison-sasl-login) is relayed to the auth daemon's
 *   LOGIN mechanism like any other: its "Username:" / "Password:" prompts
 *   arrive as challenges. Only the user name is kept as the log hint.
 * - The greeting and the EHLO/HELO replies carry no enhanced status code
 *   (RFC 2034 section 3 exempts them); every other reply does. */
#include "submission_login_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "config.h"
#include "ipc_proto.h"
#include "log.h"
#include "smtp_ehlo.h"
#include "smtp_parser.h"
#include "str.h"

/* failed authentications on one connection before it is closed */
#define SUB_MAX_AUTH_FAILURES 3
/* unknown or refused commands before the connection is closed */
#define SUB_MAX_ERRORS 20

#define SUB_MECHS_TLS                                                         \
	"PLAIN LOGIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS "      \
	"SCRAM-SHA-1"

enum sub_cert {
	SUB_CERT_IDLE,
	SUB_CERT_PROBE, /* after the handshake: is the key registered? */
	SUB_CERT_LOGIN, /* at MAIL: log in with it */
};

enum sub_wait {
	SUB_WAIT_NONE,
	SUB_WAIT_SASL,	/* a base64 line answering "334 ..." */
	SUB_WAIT_FINAL, /* the empty line after server-final data */
};

struct sub_client {
	struct login_client *lc;
	struct smtp_line_reader reader;
	const char *host;
	char helo[256];
	bool ehlo; /* EHLO (not HELO) was the last greeting */
	enum sub_wait wait;
	bool auth_busy; /* auth has the exchange: parse nothing meanwhile */
	const char *mech;
	/* AUTH LOGIN without an initial response: the next line is the user
	 * name (the log hint); the one after it the password (never a hint) */
	bool login_name_next;
	enum sub_cert cert;
	bool cert_registered;
	unsigned auth_failures;
	unsigned errors;
};

static void sub_input(struct login_client *lc);

static void sub_reply(struct login_client *lc, const char *line)
{
	login_client_send_str(lc, line);
	login_client_send_str(lc, "\r\n");
}

static void sub_error(struct sub_client *sc, const char *line)
{
	sub_reply(sc->lc, line);
	if (++sc->errors >= SUB_MAX_ERRORS) {
		sub_reply(sc->lc, "421 4.7.0 Too many errors, closing");
		login_client_close(sc->lc, "too many errors");
	}
}

static void sub_auth_done(struct sub_client *sc)
{
	sc->wait = SUB_WAIT_NONE;
	sc->auth_busy = false;
	sc->mech = NULL;
	sc->login_name_next = false;
}

/* "530 ..." for a command that needs a logged-in session. */
static void sub_need_auth(struct sub_client *sc)
{
	if (!sc->lc->secured)
		sub_error(sc, "530 5.7.0 Must issue a STARTTLS command first");
	else
		sub_error(sc, "530 5.7.0 Authentication required");
}

/* ---- commands ---- */

static void cmd_ehlo(struct sub_client *sc, const struct smtp_cmd *cmd,
		     bool ehlo)
{
	struct login_client *lc = sc->lc;
	if (!smtp_helo_valid(cmd->args)) {
		sub_error(sc, "501 5.5.4 Syntax: EHLO domain-or-address");
		return;
	}
	(void)str_copy(cmd->args, sc->helo, sizeof(sc->helo));
	sc->ehlo = ehlo;
	if (!ehlo) {
		login_client_printf(lc, "250 %s\r\n", sc->host);
		return;
	}
	struct buf out;
	char mechs[160];
	buf_init(&out, 4096);
	snprintf(mechs, sizeof(mechs), "%s%s", SUB_MECHS_TLS,
		 sc->cert_registered ? " EXTERNAL" : "");
	smtp_ehlo_reply(&out, sc->host, sc->helo,
			login_service_config()->submission_max_message_size,
			login_client_can_starttls(lc),
			lc->secured ? mechs : NULL);
	login_client_send(lc, out.data, out.len);
	buf_deinit(&out);
}

static void cmd_starttls(struct sub_client *sc, const struct smtp_cmd *cmd)
{
	struct login_client *lc = sc->lc;
	if (cmd->args.len != 0) {
		sub_error(sc, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (lc->secured || lc->tls != NULL) {
		sub_error(sc, "503 5.5.1 TLS already active");
		return;
	}
	if (!login_client_can_starttls(lc)) {
		sub_error(sc, "454 4.7.0 TLS not available");
		return;
	}
	sub_reply(lc, "220 2.0.0 Ready to start TLS");
	/* the client starts over after the handshake (RFC 3207 4.2) */
	sc->helo[0] = '\0';
	smtp_line_reader_reset(&sc->reader);
	login_client_starttls(lc);
}

static void sub_auth_begin(struct sub_client *sc, const char *mech,
			   const void *ir, size_t ir_len, bool has_ir,
			   const char *user_hint)
{
	char resume[SMTP_RESUME_MAX];
	sc->mech = mech;
	if (smtp_resume_format(resume, sizeof(resume), true, sc->ehlo,
			       sc->helo) < 0 ||
	    login_client_auth_begin(sc->lc, mech, ir, ir_len, has_ir, resume,
				    user_hint) < 0) {
		sub_reply(sc->lc, "454 4.7.0 Authentication service "
				  "unavailable");
		sub_auth_done(sc);
		return;
	}
	sc->auth_busy = true;
}

static const char *const sub_sasl_mechs[] = {
	"PLAIN",	 "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
	"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",	  "EXTERNAL",
	"LOGIN",
};

static const char *sub_sasl_mech(struct str name)
{
	for (size_t i = 0; i < N_ELEMENTS(sub_sasl_mechs); i++) {
		if (str_eq_ci(name, sub_sasl_mechs[i]))
			return sub_sasl_mechs[i];
	}
	return NULL;
}

/* The decoded initial response (or none) of mech: the exchange starts at
 * auth, which sends the first challenge (LOGIN's "Username:" too). */
static void sub_auth_start(struct sub_client *sc, const char *mech,
			   const unsigned char *p, size_t n, bool has_ir)
{
	char hint[256];
	login_sasl_user_hint(mech, p, n, hint, sizeof(hint));
	sc->login_name_next = strcmp(mech, "LOGIN") == 0 && n == 0;
	sub_auth_begin(sc, mech, p, n, has_ir, hint[0] != '\0' ? hint : NULL);
}

static void cmd_auth(struct sub_client *sc, const struct smtp_cmd *cmd)
{
	struct login_client *lc = sc->lc;
	if (!lc->secured) {
		sub_error(sc, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (sc->helo[0] == '\0') {
		sub_error(sc, "503 5.5.1 Send EHLO first");
		return;
	}
	struct str args = cmd->args, mech = args, irs = {NULL, 0};
	const char *sp = memchr(args.p, ' ', args.len);
	if (sp != NULL) {
		mech.len = (size_t)(sp - args.p);
		irs = (struct str){sp + 1, args.len - mech.len - 1};
	}
	const char *mech_name = mech.len > 0 ? sub_sasl_mech(mech) : NULL;
	if (mech_name == NULL) {
		sub_error(sc, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	bool has_ir = sp != NULL;
	struct buf ir;
	buf_init(&ir, irs.len + 4);
	/* "=" is an empty initial response (RFC 4954 4) */
	if (has_ir && !(irs.len == 1 && irs.p[0] == '=') &&
	    base64_decode(&ir, irs.p, irs.len) < 0) {
		buf_deinit_secret(&ir);
		sub_error(sc, "501 5.5.2 Invalid base64 in initial response");
		return;
	}
	sub_auth_start(sc, mech_name, ir.data, ir.len, has_ir);
	buf_deinit_secret(&ir);
}

/* MAIL without AUTH: a registered certificate logs in now and the MAIL
 * travels with the hand-off; otherwise authentication is required. */
static bool cmd_mail(struct sub_client *sc)
{
	struct login_client *lc = sc->lc;
	if (!sc->cert_registered || !lc->secured) {
		sub_need_auth(sc);
		return true;
	}
	if (sc->helo[0] == '\0') {
		sub_error(sc, "503 5.5.1 Send EHLO first");
		return true;
	}
	char resume[SMTP_RESUME_MAX];
	if (smtp_resume_format(resume, sizeof(resume), false, sc->ehlo,
			       sc->helo) < 0 ||
	    login_client_set_resume(lc, resume) < 0 ||
	    login_client_auth_preauth(lc) < 0) {
		sub_reply(lc, "454 4.7.0 Authentication service unavailable");
		return true;
	}
	sc->cert = SUB_CERT_LOGIN;
	sc->auth_busy = true;
	return false; /* the MAIL line stays in the input */
}

/* One command. false: the line must stay in the input (hand-off). */
static bool sub_command(struct sub_client *sc, const struct smtp_cmd *cmd)
{
	struct login_client *lc = sc->lc;
	if (smtp_cmd_is(cmd, "EHLO"))
		cmd_ehlo(sc, cmd, true);
	else if (smtp_cmd_is(cmd, "HELO"))
		cmd_ehlo(sc, cmd, false);
	else if (smtp_cmd_is(cmd, "STARTTLS"))
		cmd_starttls(sc, cmd);
	else if (smtp_cmd_is(cmd, "AUTH"))
		cmd_auth(sc, cmd);
	else if (smtp_cmd_is(cmd, "NOOP"))
		sub_reply(lc, "250 2.0.0 OK");
	else if (smtp_cmd_is(cmd, "RSET"))
		sub_reply(lc, "250 2.0.0 OK");
	else if (smtp_cmd_is(cmd, "HELP"))
		sub_reply(lc, "214 2.0.0 See RFC 6409; authenticate first");
	else if (smtp_cmd_is(cmd, "VRFY"))
		sub_reply(lc, "252 2.5.0 Cannot VRFY user");
	else if (smtp_cmd_is(cmd, "QUIT")) {
		sub_reply(lc, "221 2.0.0 Bye");
		login_client_close(lc, "quit");
	} else if (smtp_cmd_is(cmd, "MAIL"))
		return cmd_mail(sc);
	else if (smtp_cmd_is(cmd, "RCPT") || smtp_cmd_is(cmd, "DATA") ||
		 smtp_cmd_is(cmd, "BDAT"))
		sub_need_auth(sc);
	else
		sub_error(sc, "500 5.5.2 Command unrecognized");
	return true;
}

/* ---- SASL response lines ---- */

static void sasl_response(struct sub_client *sc, struct str line)
{
	struct login_client *lc = sc->lc;
	if (line.len == 1 && line.p[0] == '*') {
		if (sc->wait == SUB_WAIT_SASL)
			login_client_auth_abort(lc);
		sub_reply(lc, "501 5.7.0 Authentication aborted");
		sub_auth_done(sc);
		return;
	}
	if (sc->wait == SUB_WAIT_FINAL) {
		if (line.len != 0) {
			sub_reply(lc, "501 5.5.2 Expected an empty response");
			sub_auth_done(sc);
			return;
		}
		sc->wait = SUB_WAIT_NONE;
		login_client_handoff(lc);
		return;
	}
	struct buf resp;
	buf_init(&resp, line.len + 4);
	if (!(line.len == 1 && line.p[0] == '=') &&
	    base64_decode(&resp, line.p, line.len) < 0) {
		buf_deinit_secret(&resp);
		if (sc->wait == SUB_WAIT_SASL)
			login_client_auth_abort(lc);
		sub_reply(lc, "501 5.5.2 Invalid base64 in response");
		sub_auth_done(sc);
		return;
	}
	sc->wait = SUB_WAIT_NONE;
	char hint[256] = "";
	bool login_mech = sc->mech != NULL && strcmp(sc->mech, "LOGIN") == 0;
	/* LOGIN's second line is the password: never a hint */
	if (!login_mech || sc->login_name_next)
		login_sasl_user_hint(sc->mech != NULL ? sc->mech : "PLAIN",
				     resp.data, resp.len, hint, sizeof(hint));
	sc->login_name_next = false;
	if (hint[0] != '\0')
		login_client_set_user_hint(lc, hint);
	sc->auth_busy = true;
	login_client_auth_continue(lc, resp.data, resp.len);
	buf_deinit_secret(&resp);
}

static void sub_too_long(struct sub_client *sc)
{
	clog_info(&sc->lc->log, "command too long (login_max_line=%u)",
		  login_service_config()->login_max_line);
	if (sc->wait != SUB_WAIT_NONE) {
		if (sc->wait == SUB_WAIT_SASL)
			login_client_auth_abort(sc->lc);
		sub_auth_done(sc);
	}
	sub_error(sc, "500 5.5.2 Line too long");
}

/* The trace line of a command: AUTH's initial response is a secret. */
static void sub_trace_command(struct login_client *lc,
			      const struct smtp_cmd *cmd,
			      const unsigned char *line, size_t len)
{
	const char *sp = NULL;
	if (smtp_cmd_is(cmd, "AUTH") && cmd->args.len > 0)
		sp = memchr(cmd->args.p, ' ', cmd->args.len);
	if (sp == NULL || lc->trace.level >= TRACE_AUTH) {
		trace_input_line(&lc->trace, line, len, false);
		return;
	}
	char shown[128];
	int n = snprintf(shown, sizeof(shown), "AUTH %.*s ***",
			 (int)(sp - cmd->args.p), cmd->args.p);
	if (n > 0)
		trace_input_line(&lc->trace, shown,
				 (size_t)n < sizeof(shown) ? (size_t)n
							   : sizeof(shown) - 1,
				 false);
}

static void sub_input(struct login_client *lc)
{
	struct sub_client *sc = lc->proto_ctx;
	while (!lc->closing && !sc->auth_busy && !lc->handing_off) {
		struct str line;
		size_t used;
		enum smtp_line_result r = smtp_line_read(
			&sc->reader, lc->in.data, lc->in.len, &line, &used);
		if (r == SMTP_LINE_NEED_MORE) {
			buf_consume(&lc->in, used);
			if (used > 0 && lc->in.len > 0)
				continue;
			break;
		}
		if (r == SMTP_LINE_TOO_LONG) {
			buf_consume(&lc->in, used);
			sub_too_long(sc);
			continue;
		}
		if (sc->wait != SUB_WAIT_NONE) {
			/* taken out first: what follows is pending input for
			 * a hand-off */
			struct buf copy;
			buf_init(&copy, line.len + 1);
			buf_append(&copy, line.p, line.len);
			buf_consume(&lc->in, used);
			trace_input_line(&lc->trace, copy.data, copy.len, true);
			sasl_response(sc, (struct str){(const char *)copy.data,
						       copy.len});
			buf_deinit_secret(&copy);
			continue;
		}
		struct smtp_cmd cmd;
		const char *error;
		if (smtp_cmd_parse(line, &cmd, &error) < 0) {
			buf_consume(&lc->in, used);
			char text[128];
			snprintf(text, sizeof(text), "500 5.5.2 %s", error);
			sub_error(sc, text);
			continue;
		}
		/* a copy, as consuming the line moves the buffer; wiped, as
		 * AUTH's initial response is a secret */
		struct buf copy;
		buf_init(&copy, line.len + 1);
		buf_append(&copy, line.p, line.len);
		(void)smtp_cmd_parse((struct str){(const char *)copy.data,
						  copy.len},
				     &cmd, &error);
		sub_trace_command(lc, &cmd, copy.data, copy.len);
		if (smtp_cmd_is(&cmd, "MAIL")) {
			/* MAIL may have to stay for the worker */
			if (sub_command(sc, &cmd))
				buf_consume(&lc->in, used);
		} else {
			buf_consume(&lc->in, used);
			(void)sub_command(sc, &cmd);
		}
		buf_deinit_secret(&copy);
	}
}

/* ---- library callbacks ---- */

/* After a TLS handshake with a client certificate: is its key registered?
 * Decides whether EXTERNAL is offered and MAIL may log in with it. */
static void sub_cert_probe(struct sub_client *sc)
{
	char key[LOGIN_CLIENT_KEY_SIZE];
	if (login_client_key(sc->lc, key) < 0)
		return;
	if (login_client_auth_begin_flags(sc->lc, "EXTERNAL", "", 0, true, "",
					  NULL,
					  IPC_AUTH_F_PREAUTH |
						  IPC_AUTH_F_PROBE) == 0) {
		sc->cert = SUB_CERT_PROBE;
		sc->auth_busy = true;
	}
}

static int sub_client_new(struct login_client *lc)
{
	const struct config *cfg = login_service_config();
	struct sub_client *sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return -1;
	sc->lc = lc;
	sc->host = smtp_hostname(cfg);
	/* login_max_line counts the CRLF too; a full input buffer must be
	 * seen as an overlong line, or reading would stop for good */
	smtp_line_reader_init(&sc->reader, cfg->login_max_line - 2);
	lc->proto_ctx = sc;
	login_client_printf(lc, "220 %s ESMTP Postern ready\r\n", sc->host);
	if (lc->implicit_tls)
		sub_cert_probe(sc);
	return 0;
}

static void sub_starttls_done(struct login_client *lc)
{
	sub_cert_probe(lc->proto_ctx);
}

static void sub_client_free(struct login_client *lc)
{
	struct sub_client *sc = lc->proto_ctx;
	sub_auth_done(sc);
	free(sc);
	lc->proto_ctx = NULL;
}

static void sub_bye(struct login_client *lc, enum login_bye why)
{
	struct sub_client *sc = lc->proto_ctx;
	switch (why) {
	case LOGIN_BYE_IDLE:
		login_client_printf(lc,
				    "421 4.4.2 %s Timeout, closing "
				    "connection\r\n",
				    sc->host);
		break;
	case LOGIN_BYE_AUTH_UNAVAILABLE:
		sub_reply(lc, "421 4.3.0 Authentication service unavailable");
		break;
	case LOGIN_BYE_SHUTDOWN:
		sub_reply(lc, "421 4.3.2 Server shutting down");
		break;
	}
}

/* "334 " and the data in base64; the next line is awaited as wait. */
static void sub_auth_continue(struct sub_client *sc, const unsigned char *data,
			      size_t len, enum sub_wait wait)
{
	struct login_client *lc = sc->lc;
	struct buf enc;
	buf_init(&enc, (len + 2) / 3 * 4 + 8);
	if (base64_encode(&enc, data, len) < 0) {
		if (wait == SUB_WAIT_SASL)
			login_client_auth_abort(lc);
		sub_reply(lc, "454 4.7.0 Internal error");
		sub_auth_done(sc);
	} else {
		login_client_send_str(lc, "334 ");
		login_client_send(lc, enc.data, enc.len);
		login_client_send_str(lc, "\r\n");
		sc->wait = wait;
	}
	buf_deinit(&enc);
	sub_input(lc);
}

static void sub_auth_challenge(struct login_client *lc,
			       const unsigned char *data, size_t len)
{
	struct sub_client *sc = lc->proto_ctx;
	sc->auth_busy = false;
	sub_auth_continue(sc, data, len, SUB_WAIT_SASL);
}

static void sub_cert_answer(struct sub_client *sc, bool registered,
			    uint32_t code)
{
	sc->cert = SUB_CERT_IDLE;
	sc->auth_busy = false;
	sc->cert_registered = registered;
	if (code == IPC_AUTH_FAIL_MECH)
		login_client_log_cert(sc->lc, "unregistered");
	sub_input(sc->lc);
}

static void sub_auth_success(struct login_client *lc,
			     const char *user POSTERN_UNUSED,
			     const unsigned char *data, size_t len)
{
	struct sub_client *sc = lc->proto_ctx;
	if (sc->cert == SUB_CERT_PROBE) {
		/* an auth daemon without probes: the key is registered */
		sub_cert_answer(sc, true, 0);
		return;
	}
	if (sc->cert == SUB_CERT_LOGIN) {
		/* the MAIL line goes to the worker with the hand-off */
		sc->cert = SUB_CERT_IDLE;
		sc->auth_busy = false;
		login_client_handoff(lc);
		return;
	}
	sc->auth_busy = false;
	if (len == 0) {
		login_client_handoff(lc);
		return;
	}
	/* server-final data (SCRAM): a 334 the client answers with an empty
	 * line; the 235 follows from the worker (RFC 4954 4) */
	sub_auth_continue(sc, data, len, SUB_WAIT_FINAL);
}

static void sub_auth_failure(struct login_client *lc, uint32_t code,
			     const char *message)
{
	struct sub_client *sc = lc->proto_ctx;
	if (sc->cert == SUB_CERT_PROBE) {
		sub_cert_answer(sc, code == IPC_AUTH_FAIL_NO_PREAUTH, code);
		return;
	}
	if (sc->cert == SUB_CERT_LOGIN) {
		/* the key is no longer good (removed meanwhile, throttled):
		 * the MAIL is answered as any MAIL without login */
		sc->cert = SUB_CERT_IDLE;
		sc->cert_registered = false;
		sc->auth_busy = false;
		if (code == IPC_AUTH_FAIL_THROTTLED)
			sub_reply(lc, "454 4.7.0 Too many failed login "
				      "attempts from your address; try again "
				      "later");
		else
			sub_reply(lc, "530 5.7.0 Authentication required");
		smtp_line_reader_reset(&sc->reader);
		/* drop the MAIL line left for the hand-off */
		unsigned char *lf = lc->in.len > 0
					    ? memchr(lc->in.data, '\n',
						     lc->in.len)
					    : NULL;
		buf_consume(&lc->in,
			    lf != NULL ? (size_t)(lf - lc->in.data) + 1
				       : lc->in.len);
		sub_input(lc);
		return;
	}
	switch (code) {
	case IPC_AUTH_FAIL_CREDENTIALS:
		if (login_scram_error_valid(message))
			login_client_printf(lc,
					    "535 5.7.8 Authentication "
					    "credentials invalid (%s)\r\n",
					    message);
		else
			sub_reply(lc, "535 5.7.8 Authentication credentials "
				      "invalid");
		sc->auth_failures++;
		break;
	case IPC_AUTH_FAIL_THROTTLED:
		sub_reply(lc, "454 4.7.0 Too many failed login attempts from "
			      "your address; try again later");
		break;
	case IPC_AUTH_FAIL_MECH:
		sub_reply(lc, "504 5.5.4 Unrecognized authentication type");
		break;
	case IPC_AUTH_FAIL_MALFORMED:
		sub_reply(lc, "501 5.5.2 Invalid authentication data");
		break;
	case IPC_AUTH_FAIL_ABORTED:
		sub_reply(lc, "501 5.7.0 Authentication aborted");
		break;
	default:
		sub_reply(lc, "454 4.7.0 Temporary authentication failure");
		break;
	}
	sub_auth_done(sc);
	if (sc->auth_failures >= SUB_MAX_AUTH_FAILURES) {
		sub_reply(lc, "421 4.7.0 Too many failed attempts, closing");
		login_client_close(lc, "too many failed authentications");
		return;
	}
	sub_input(lc);
}

static void sub_handoff_failed(struct login_client *lc,
			       const char *reason POSTERN_UNUSED)
{
	struct sub_client *sc = lc->proto_ctx;
	sub_reply(lc, "421 4.3.0 Submission service unavailable, try again "
		      "later");
	sub_auth_done(sc);
	login_client_close(lc, "hand-off failed");
}

const struct login_proto submission_login_proto = {
	.service = "submission",
	.process = "submission-login",
	.client_new = sub_client_new,
	.client_free = sub_client_free,
	.input = sub_input,
	.starttls_done = sub_starttls_done,
	.bye = sub_bye,
	.auth_challenge = sub_auth_challenge,
	.auth_success = sub_auth_success,
	.auth_failure = sub_auth_failure,
	.handoff_failed = sub_handoff_failed,
};
