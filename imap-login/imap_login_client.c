/* Pre-auth IMAP: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN and
 * AUTHENTICATE; everything else is refused. Authentication itself happens
 * at auth (lib/login_auth.c); on success the connection is handed off and
 * the tagged OK comes from the imap worker, which gets the tag.
 *
 * Choices where RFC 9051 leaves room:
 * - an unsupported SASL mechanism gets NO [CANNOT] (the command was valid,
 *   the server cannot do it); BAD is kept for syntax.
 * - commands of the authenticated/selected states get BAD, as commands not
 *   valid in the current state (RFC 9051 7.1.5).
 * - LOGIN and AUTHENTICATE without TLS get NO [PRIVACYREQUIRED]: the
 *   capability list says LOGINDISABLED and offers no AUTH= mechanism. */
#include "imap_login_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "config.h"
#include "imap_parser.h"
#include "ipc_proto.h"
#include "log.h"
#include "str.h"

#define IMAP_CAPS_BASE "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE"
#define IMAP_LOGIN_MAX_DEPTH 2
/* RFC 2971: at most 30 field/value pairs */
#define IMAP_ID_MAX_PAIRS 30
#define IMAP_ID_MAX_FIELD 30
#define IMAP_ID_MAX_VALUE 1024
#define IMAP_LOGIN_MAX_ARGS (2 * IMAP_ID_MAX_PAIRS + 4)
/* failed authentications on one connection before it is closed */
#define IMAP_MAX_AUTH_FAILURES 3

/* A certificate question at auth (lib/login_auth.c, auth/mech_external.c) */
enum imap_cert {
	IMAP_CERT_IDLE,
	IMAP_CERT_PREAUTH, /* implicit TLS: login before the greeting */
	IMAP_CERT_PROBE,   /* after STARTTLS: is the key registered? */
};

enum imap_wait {
	IMAP_WAIT_NONE,
	IMAP_WAIT_SASL, /* a base64 response line to a "+" challenge */
	IMAP_WAIT_FINAL, /* the empty line after server-final data */
};

struct imap_client {
	struct login_client *lc;
	struct imap_parser *parser;
	enum imap_wait wait;
	bool auth_busy; /* auth has the exchange: parse nothing meanwhile */
	bool skip_line; /* drop raw input up to the next LF */
	char *tag; /* of the LOGIN/AUTHENTICATE in progress */
	const char *mech; /* its SASL mechanism (static) */
	enum imap_cert cert;
	bool external; /* the client's key is registered: offer EXTERNAL */
	unsigned auth_failures;
	unsigned bad_commands; /* consecutive BAD answers */
};

static void imap_input(struct login_client *lc);

/* ---- replies ---- */

/* Counts BAD answers in a row (an unknown command, bad syntax): a client
 * sending nothing but those is probing or lost; config
 * imap_max_bad_commands of them close the connection. */
static void imap_count_reply(struct login_client *lc, bool bad)
{
	struct imap_client *ic = lc->proto_ctx;
	if (ic == NULL || lc->closing)
		return;
	if (!bad) {
		ic->bad_commands = 0;
		return;
	}
	if (++ic->bad_commands < login_service_config()->imap_max_bad_commands)
		return;
	clog_info(&lc->log, "too many invalid commands (imap_max_bad_commands"
			    "=%u)",
		  login_service_config()->imap_max_bad_commands);
	login_client_send_str(lc, "* BYE Too many invalid commands\r\n");
	login_client_close(lc, "too many invalid commands");
}

static void imap_tagged(struct login_client *lc, struct str tag,
			const char *text)
{
	login_client_send(lc, tag.p, tag.len);
	login_client_send_str(lc, " ");
	login_client_send_str(lc, text);
	login_client_send_str(lc, "\r\n");
	imap_count_reply(lc, strncmp(text, "BAD", 3) == 0);
}

static void imap_tagged_c(struct imap_client *ic, const char *text)
{
	imap_tagged(ic->lc, str_from_cstr(ic->tag != NULL ? ic->tag : "*"),
		    text);
}

static void imap_send_caps(struct login_client *lc)
{
	login_client_send_str(lc, IMAP_CAPS_BASE);
	/* -PLUS needs TLS to bind to; every mechanism needs TLS here */
	if (lc->secured)
		login_client_send_str(lc, " AUTH=SCRAM-SHA-256-PLUS "
					  "AUTH=SCRAM-SHA-256 "
					  "AUTH=SCRAM-SHA-1-PLUS "
					  "AUTH=SCRAM-SHA-1 AUTH=PLAIN");
	else if (login_client_can_starttls(lc))
		login_client_send_str(lc, " STARTTLS LOGINDISABLED");
	else
		login_client_send_str(lc, " LOGINDISABLED");
	struct imap_client *ic = lc->proto_ctx;
	if (lc->secured && ic != NULL && ic->external)
		login_client_send_str(lc, " AUTH=EXTERNAL");
}

static void imap_auth_done(struct imap_client *ic)
{
	free(ic->tag);
	ic->tag = NULL;
	ic->wait = IMAP_WAIT_NONE;
	ic->auth_busy = false;
}

/* ---- commands ---- */

static bool imap_args_none(struct login_client *lc, const struct imap_cmd *cmd)
{
	if (cmd->nargs == 0)
		return true;
	imap_tagged(lc, cmd->tag, "BAD Unexpected arguments");
	return false;
}

static void cmd_capability(struct login_client *lc, const struct imap_cmd *cmd)
{
	if (!imap_args_none(lc, cmd))
		return;
	login_client_send_str(lc, "* CAPABILITY ");
	imap_send_caps(lc);
	login_client_send_str(lc, "\r\n");
	imap_tagged(lc, cmd->tag, "OK Capability completed.");
}

static void cmd_noop(struct login_client *lc, const struct imap_cmd *cmd)
{
	if (imap_args_none(lc, cmd))
		imap_tagged(lc, cmd->tag, "OK NOOP completed.");
}

static void cmd_logout(struct login_client *lc, const struct imap_cmd *cmd)
{
	if (!imap_args_none(lc, cmd))
		return;
	login_client_send_str(lc, "* BYE Logging out\r\n");
	imap_tagged(lc, cmd->tag, "OK Logout completed.");
	login_client_close(lc, "logout");
}

static bool id_string(const struct imap_arg *a, size_t max)
{
	return (a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL) &&
	       a->s.len <= max;
}

/* RFC 2971: NIL, or a list of up to 30 string/nstring pairs. */
static bool id_args_valid(const struct imap_cmd *cmd)
{
	if (cmd->nargs != 1)
		return false;
	const struct imap_arg *a = &cmd->args[0];
	if (a->type == IMAP_ARG_NIL)
		return true;
	if (a->type != IMAP_ARG_LIST || a->list_count % 2 != 0 ||
	    a->list_count > 2 * IMAP_ID_MAX_PAIRS)
		return false;
	for (size_t i = 0; i < a->list_count; i += 2) {
		const struct imap_arg *v = &a->list[i + 1];
		if (!id_string(&a->list[i], IMAP_ID_MAX_FIELD))
			return false;
		if (v->type != IMAP_ARG_NIL && !id_string(v, IMAP_ID_MAX_VALUE))
			return false;
	}
	return true;
}

static void cmd_id(struct login_client *lc, const struct imap_cmd *cmd)
{
	if (!id_args_valid(cmd)) {
		imap_tagged(lc, cmd->tag, "BAD Invalid ID parameters");
		return;
	}
	const struct imap_arg *a = &cmd->args[0];
	for (size_t i = 0; a->type == IMAP_ARG_LIST && i < a->list_count;
	     i += 2) {
		const struct imap_arg *v = &a->list[i + 1];
		if (str_eq_ci(a->list[i].s, "name") && v->type != IMAP_ARG_NIL)
			clog_debug(&lc->log, "client id name=\"%.*s\"",
				   (int)v->s.len, v->s.p);
	}
	login_client_send_str(lc, "* ID (\"name\" \"Postern\")\r\n");
	imap_tagged(lc, cmd->tag, "OK ID completed.");
}

static void cmd_starttls(struct imap_client *ic, const struct imap_cmd *cmd)
{
	struct login_client *lc = ic->lc;
	if (!imap_args_none(lc, cmd))
		return;
	if (lc->secured || lc->tls != NULL) {
		imap_tagged(lc, cmd->tag, "BAD TLS is already active");
		return;
	}
	if (!login_client_can_starttls(lc)) {
		imap_tagged(lc, cmd->tag, "NO STARTTLS is not available");
		return;
	}
	imap_tagged(lc, cmd->tag, "OK Begin TLS negotiation now");
	/* the parser may hold part of a pipelined command: forget it too */
	imap_parser_reset(ic->parser);
	login_client_starttls(lc);
}

/* Starts the exchange; on failure answers for the caller. */
static void imap_auth_begin(struct imap_client *ic, struct str tag,
			    const char *mech, const void *ir, size_t ir_len,
			    bool has_ir, const char *user_hint)
{
	struct login_client *lc = ic->lc;
	ic->mech = mech;
	ic->tag = str_dup(tag);
	if (ic->tag == NULL) {
		imap_tagged(lc, tag, "NO [UNAVAILABLE] Internal error");
		return;
	}
	if (login_client_auth_begin(lc, mech, ir, ir_len, has_ir, ic->tag,
				    user_hint) < 0) {
		imap_tagged_c(ic, "NO [UNAVAILABLE] Authentication service "
				  "unavailable");
		imap_auth_done(ic);
		return;
	}
	ic->auth_busy = true;
}

static void cmd_login(struct imap_client *ic, const struct imap_cmd *cmd)
{
	struct login_client *lc = ic->lc;
	struct str user, pass;
	if (cmd->nargs != 2 || !imap_arg_get_astring(&cmd->args[0], &user) ||
	    !imap_arg_get_astring(&cmd->args[1], &pass)) {
		imap_tagged(lc, cmd->tag,
			    "BAD Expected user name and password");
		return;
	}
	if (!lc->secured) {
		imap_tagged(lc, cmd->tag,
			    "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (str_has_nul(user) || str_has_nul(pass) || user.len == 0) {
		imap_tagged(lc, cmd->tag, "BAD Invalid user name or password");
		return;
	}
	/* LOGIN is PLAIN with an empty authzid (RFC 4616) */
	struct buf ir;
	buf_init(&ir, user.len + pass.len + 2);
	buf_append(&ir, "", 1);
	buf_append(&ir, user.p, user.len);
	buf_append(&ir, "", 1);
	buf_append(&ir, pass.p, pass.len);
	char *hint = str_dup(user);
	imap_auth_begin(ic, cmd->tag, "PLAIN", ir.data, ir.len, true, hint);
	free(hint);
	buf_deinit_secret(&ir);
}

/* SASL mechanisms AUTHENTICATE accepts (as advertised), canonical case. */
static const char *const imap_sasl_mechs[] = {
	"PLAIN",
	"SCRAM-SHA-256-PLUS",
	"SCRAM-SHA-256",
	"SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-1",
	"EXTERNAL",
};

static const char *imap_sasl_mech(struct str name)
{
	for (size_t i = 0; i < N_ELEMENTS(imap_sasl_mechs); i++) {
		if (str_eq_ci(name, imap_sasl_mechs[i]))
			return imap_sasl_mechs[i];
	}
	return NULL;
}

static void cmd_authenticate(struct imap_client *ic, const struct imap_cmd *cmd)
{
	struct login_client *lc = ic->lc;
	struct str mech, irs = {NULL, 0};
	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    !imap_arg_get_atom(&cmd->args[0], &mech) ||
	    (cmd->nargs == 2 && !imap_arg_get_atom(&cmd->args[1], &irs))) {
		imap_tagged(lc, cmd->tag,
			    "BAD Expected mechanism and optional "
			    "initial response");
		return;
	}
	const char *mech_name = imap_sasl_mech(mech);
	if (mech_name == NULL) {
		imap_tagged(lc, cmd->tag,
			    "NO [CANNOT] Unsupported authentication mechanism");
		return;
	}
	if (!lc->secured) {
		imap_tagged(lc, cmd->tag,
			    "NO [PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	struct buf ir;
	buf_init(&ir, irs.len);
	bool has_ir = cmd->nargs == 2;
	/* "=" is an empty initial response (RFC 4959) */
	if (has_ir && !(irs.len == 1 && irs.p[0] == '=') &&
	    base64_decode(&ir, irs.p, irs.len) < 0) {
		buf_deinit_secret(&ir);
		imap_tagged(lc, cmd->tag,
			    "BAD Invalid base64 in initial response");
		return;
	}
	char hint[256];
	login_sasl_user_hint(mech_name, ir.data, ir.len, hint, sizeof(hint));
	imap_auth_begin(ic, cmd->tag, mech_name, ir.data, ir.len, has_ir,
			hint[0] != '\0' ? hint : NULL);
	buf_deinit_secret(&ir);
}

static const char *const imap_authenticated_cmds[] = {
	"SELECT",    "EXAMINE",      "CREATE",      "DELETE",
	"RENAME",    "SUBSCRIBE",    "UNSUBSCRIBE", "LIST",
	"LSUB",      "NAMESPACE",    "STATUS",      "APPEND",
	"CHECK",     "CLOSE",        "UNSELECT",    "EXPUNGE",
	"SEARCH",    "FETCH",        "STORE",       "COPY",
	"MOVE",      "UID",          "IDLE",        "ENABLE",
	"GETQUOTA",  "GETQUOTAROOT", "SETQUOTA",    "COMPRESS",
	"GETACL",    "SETACL",       "MYRIGHTS",    "LISTRIGHTS",
	"DELETEACL", "GETMETADATA",  "SETMETADATA", "NOTIFY",
	"SORT",      "THREAD",
};

static void imap_command(struct imap_client *ic, const struct imap_cmd *cmd)
{
	struct login_client *lc = ic->lc;
	struct str n = cmd->name;
	if (str_eq_ci(n, "CAPABILITY"))
		cmd_capability(lc, cmd);
	else if (str_eq_ci(n, "NOOP"))
		cmd_noop(lc, cmd);
	else if (str_eq_ci(n, "LOGOUT"))
		cmd_logout(lc, cmd);
	else if (str_eq_ci(n, "ID"))
		cmd_id(lc, cmd);
	else if (str_eq_ci(n, "STARTTLS"))
		cmd_starttls(ic, cmd);
	else if (str_eq_ci(n, "LOGIN"))
		cmd_login(ic, cmd);
	else if (str_eq_ci(n, "AUTHENTICATE"))
		cmd_authenticate(ic, cmd);
	else {
		for (size_t i = 0; i < N_ELEMENTS(imap_authenticated_cmds);
		     i++) {
			if (str_eq_ci(n, imap_authenticated_cmds[i])) {
				imap_tagged(lc, cmd->tag,
					    "BAD Command not "
					    "valid before authentication");
				return;
			}
		}
		imap_tagged(lc, cmd->tag, "BAD Unknown command");
	}
}

static void imap_too_long(struct imap_client *ic)
{
	struct login_client *lc = ic->lc;
	/* a pre-auth client has no business sending such a line: reading
	 * on to find its end would only feed whoever sent it */
	clog_info(&lc->log, "command too long (login_max_line=%u)",
		  login_service_config()->login_max_line);
	if (ic->wait == IMAP_WAIT_SASL)
		login_client_auth_abort(lc);
	login_client_send_str(lc, "* BYE Line too long\r\n");
	login_client_close(lc, "line too long");
}

static void imap_parse_error(struct imap_client *ic, struct str tag,
			     const char *error)
{
	struct login_client *lc = ic->lc;
	/* The line limit is counted against the connection; the literal limit
	 * ("[TOOBIG] ...") and grammar errors go back tagged. */
	if (imap_parser_error_limit(ic->parser) == IMAP_PARSE_LIMIT_LINE) {
		imap_too_long(ic);
		return;
	}
	/* over the login_literal_max_* budget with LITERAL+: the data is
	 * already coming; rather than read it, drop the client (RFC 7888 4) */
	bool close = imap_parser_error_literal_nonsync(ic->parser);
	if (close)
		login_client_send_str(lc, "* BYE [ALERT] Too much literal "
					  "data in one command\r\n");
	if (tag.len == 0) {
		login_client_send_str(lc, "* BAD ");
		login_client_send_str(lc, error);
		login_client_send_str(lc, "\r\n");
		imap_count_reply(lc, true);
	} else {
		login_client_send(lc, tag.p, tag.len);
		login_client_send_str(lc, " BAD ");
		login_client_send_str(lc, error);
		login_client_send_str(lc, "\r\n");
		imap_count_reply(lc, true);
	}
	if (close)
		login_client_close(lc, "literal limit");
}

/* ---- SASL response lines (raw, not IMAP syntax) ---- */

static void sasl_response(struct imap_client *ic, const char *line, size_t len)
{
	struct login_client *lc = ic->lc;
	if (len == 1 && line[0] == '*') {
		login_client_auth_abort(lc);
		imap_tagged_c(ic, "BAD Authentication aborted");
		imap_auth_done(ic);
		return;
	}
	if (ic->wait == IMAP_WAIT_FINAL) {
		if (len != 0) {
			imap_tagged_c(ic, "BAD Expected an empty response");
			imap_auth_done(ic);
			return;
		}
		ic->wait = IMAP_WAIT_NONE;
		login_client_handoff(lc);
		return;
	}
	struct buf resp;
	buf_init(&resp, len);
	if (base64_decode(&resp, line, len) < 0) {
		buf_deinit_secret(&resp);
		login_client_auth_abort(lc);
		imap_tagged_c(ic, "BAD Invalid base64 in response");
		imap_auth_done(ic);
		return;
	}
	char hint[256];
	login_sasl_user_hint(ic->mech != NULL ? ic->mech : "PLAIN", resp.data,
		       resp.len, hint, sizeof(hint));
	if (hint[0] != '\0')
		login_client_set_user_hint(lc, hint);
	ic->wait = IMAP_WAIT_NONE;
	ic->auth_busy = true;
	login_client_auth_continue(lc, resp.data, resp.len);
	buf_deinit_secret(&resp);
}

/* Takes one raw line from the input. false: need more bytes. */
static bool sasl_line(struct imap_client *ic)
{
	struct login_client *lc = ic->lc;
	unsigned char *lf =
		lc->in.len == 0 ? NULL : memchr(lc->in.data, '\n', lc->in.len);
	if (lf == NULL) {
		if (lc->in.len < lc->in.max)
			return false;
		/* a response longer than login_max_line */
		buf_clear(&lc->in);
		imap_too_long(ic);
		imap_auth_done(ic);
		return false;
	}
	size_t consumed = (size_t)(lf - lc->in.data) + 1;
	size_t len = consumed - 1;
	if (len > 0 && lc->in.data[len - 1] == '\r')
		len--;
	/* taken out first: what follows is pending input for a hand-off */
	struct buf line;
	buf_init(&line, len);
	if (buf_append(&line, lc->in.data, len) < 0) {
		buf_deinit(&line);
		login_client_close(lc, "out of memory");
		return true;
	}
	buf_consume(&lc->in, consumed);
	sasl_response(ic, buf_cstr(&line), line.len);
	buf_deinit_secret(&line);
	return true;
}

static bool skip_raw_line(struct login_client *lc)
{
	unsigned char *lf =
		lc->in.len == 0 ? NULL : memchr(lc->in.data, '\n', lc->in.len);
	if (lf == NULL) {
		buf_clear(&lc->in);
		return false;
	}
	buf_consume(&lc->in, (size_t)(lf - lc->in.data) + 1);
	return true;
}

static void imap_input(struct login_client *lc)
{
	struct imap_client *ic = lc->proto_ctx;
	while (!lc->closing && !ic->auth_busy && !lc->handing_off) {
		if (ic->skip_line) {
			if (!skip_raw_line(lc))
				break;
			ic->skip_line = false;
			continue;
		}
		if (ic->wait != IMAP_WAIT_NONE) {
			if (!sasl_line(ic))
				break;
			continue;
		}
		struct imap_cmd cmd;
		struct str tag;
		const char *error;
		enum imap_parse_result r = imap_parser_run(ic->parser, &lc->in,
							   &cmd, &tag, &error);
		if (r == IMAP_PARSE_NEED_MORE)
			break;
		if (r == IMAP_PARSE_CONTINUE)
			login_client_send_str(lc, "+ OK\r\n");
		else if (r == IMAP_PARSE_ERROR)
			imap_parse_error(ic, tag, error);
		else
			imap_command(ic, &cmd);
	}
}

/* ---- library callbacks ---- */

static void imap_greet(struct login_client *lc)
{
	login_client_send_str(lc, "* OK [CAPABILITY ");
	imap_send_caps(lc);
	login_client_send_str(lc, "] Postern ready.\r\n");
}

static int imap_client_new(struct login_client *lc)
{
	const struct config *cfg = login_service_config();
	struct imap_client *ic = calloc(1, sizeof(*ic));
	if (ic == NULL)
		return -1;
	struct imap_parser_limits lim = {
		.max_line = cfg->login_max_line,
		/* literals before login carry at most a user name or a
		 * password */
		.max_literal = cfg->login_literal_max_size,
		.max_literals = cfg->login_literal_max_count,
		.max_literal_total = cfg->login_literal_max_total,
		.max_depth = IMAP_LOGIN_MAX_DEPTH,
		.max_args = IMAP_LOGIN_MAX_ARGS,
	};
	ic->parser = imap_parser_new(&lim);
	if (ic->parser == NULL) {
		free(ic);
		return -1;
	}
	ic->lc = lc;
	lc->proto_ctx = ic;
	/* implicit TLS with a client certificate: try it before any greeting,
	 * so that a registered key is greeted with PREAUTH by the worker */
	if (lc->implicit_tls && login_client_auth_preauth(lc) == 0) {
		ic->cert = IMAP_CERT_PREAUTH;
		ic->auth_busy = true;
		return 0;
	}
	imap_greet(lc);
	return 0;
}

/* STARTTLS done: with a client certificate, ask auth whether the key is
 * registered before reading on, so that CAPABILITY tells the truth about
 * AUTH=EXTERNAL. No PREAUTH here: the client was greeted already. */
static void imap_starttls_done(struct login_client *lc)
{
	struct imap_client *ic = lc->proto_ctx;
	char key[LOGIN_CLIENT_KEY_SIZE];

	if (login_client_key(lc, key) < 0)
		return;
	if (login_client_auth_begin_flags(lc, "EXTERNAL", "", 0, true, "",
					  NULL,
					  IPC_AUTH_F_PREAUTH |
						  IPC_AUTH_F_PROBE) == 0) {
		ic->cert = IMAP_CERT_PROBE;
		ic->auth_busy = true;
	}
}

/* The answer to a certificate question of imap_client_new or
 * imap_starttls_done. */
static void imap_cert_answer(struct imap_client *ic, bool registered,
			     uint32_t code)
{
	struct login_client *lc = ic->lc;
	enum imap_cert what = ic->cert;

	ic->cert = IMAP_CERT_IDLE;
	ic->auth_busy = false;
	ic->external = registered;
	if (code == IPC_AUTH_FAIL_MECH)
		login_client_log_cert(lc, "unregistered");
	if (what == IMAP_CERT_PREAUTH)
		imap_greet(lc);
	imap_input(lc);
}

static void imap_client_free(struct login_client *lc)
{
	struct imap_client *ic = lc->proto_ctx;
	imap_parser_free(&ic->parser);
	free(ic->tag);
	free(ic);
	lc->proto_ctx = NULL;
}

static void imap_bye(struct login_client *lc, enum login_bye why)
{
	switch (why) {
	case LOGIN_BYE_IDLE:
		login_client_send_str(
			lc, "* BYE Autologout; idle for too long\r\n");
		break;
	case LOGIN_BYE_AUTH_UNAVAILABLE:
		login_client_send_str(lc, "* BYE Authentication service "
					  "unavailable\r\n");
		break;
	case LOGIN_BYE_SHUTDOWN:
		login_client_send_str(lc, "* BYE Server shutting down\r\n");
		break;
	}
}

/* "+ " and data in base64, after which the client's next line is awaited as
 * `wait`: the response to a SASL challenge, or the empty line that
 * acknowledges server-final data. Data that cannot be encoded ends the
 * command (and the exchange at auth, if it still runs) with an internal
 * error. */
static void imap_auth_continue(struct imap_client *ic,
			       const unsigned char *data, size_t len,
			       enum imap_wait wait)
{
	struct login_client *lc = ic->lc;
	struct buf enc;

	buf_init(&enc, (len + 2) / 3 * 4 + 8);
	if (base64_encode(&enc, data, len) < 0) {
		if (wait == IMAP_WAIT_SASL)
			login_client_auth_abort(lc);
		imap_tagged_c(ic, "NO [UNAVAILABLE] Internal error");
		imap_auth_done(ic);
	} else {
		login_client_send_str(lc, "+ ");
		login_client_send(lc, enc.data, enc.len);
		login_client_send_str(lc, "\r\n");
		ic->wait = wait;
	}
	buf_deinit(&enc);
	imap_input(lc);
}

static void imap_auth_challenge(struct login_client *lc,
				const unsigned char *data, size_t len)
{
	struct imap_client *ic = lc->proto_ctx;

	ic->auth_busy = false;
	imap_auth_continue(ic, data, len, IMAP_WAIT_SASL);
}

static void imap_auth_success(struct login_client *lc,
			      const char *user POSTERN_UNUSED,
			      const unsigned char *data, size_t len)
{
	struct imap_client *ic = lc->proto_ctx;
	if (ic->cert == IMAP_CERT_PREAUTH) {
		/* the worker sends "* PREAUTH" as the greeting */
		ic->cert = IMAP_CERT_IDLE;
		ic->auth_busy = false;
		login_client_handoff(lc);
		return;
	}
	if (ic->cert == IMAP_CERT_PROBE) {
		/* an auth daemon without probes: the key is registered */
		imap_cert_answer(ic, true, 0);
		return;
	}
	ic->auth_busy = false;
	if (len == 0) {
		login_client_handoff(lc);
		return;
	}
	/* server-final data (SCRAM): sent as a challenge the client answers
	 * with an empty line (RFC 9051 6.2.2) */
	imap_auth_continue(ic, data, len, IMAP_WAIT_FINAL);
}

static void imap_auth_failure(struct login_client *lc, uint32_t code,
			      const char *message)
{
	struct imap_client *ic = lc->proto_ctx;
	if (ic->cert != IMAP_CERT_IDLE) {
		imap_cert_answer(ic, code == IPC_AUTH_FAIL_NO_PREAUTH, code);
		return;
	}
	/* auth's message is not echoed: the client learns only the class */
	switch (code) {
	case IPC_AUTH_FAIL_CREDENTIALS:
		if (login_scram_error_valid(message)) {
			/* the SCRAM server-error (RFC 5802 "e=...") is the
			 * one thing from auth a client may see: see
			 * auth/mech_scram.c for why it travels in the NO */
			char text[128];
			snprintf(text, sizeof(text),
				 "NO [AUTHENTICATIONFAILED] Authentication "
				 "failed (%s)",
				 message);
			imap_tagged_c(ic, text);
		} else {
			imap_tagged_c(ic, "NO [AUTHENTICATIONFAILED] "
					  "Authentication failed.");
		}
		ic->auth_failures++;
		break;
	case IPC_AUTH_FAIL_THROTTLED:
		imap_tagged_c(ic, "NO [UNAVAILABLE] Too many failed login "
				  "attempts from your address; try again "
				  "later");
		break;
	case IPC_AUTH_FAIL_MECH:
		imap_tagged_c(ic, "NO [CANNOT] Unsupported authentication "
				  "mechanism");
		break;
	case IPC_AUTH_FAIL_MALFORMED:
		/* RFC 9051 keeps BAD for the command's syntax; a SASL
		 * message the mechanism cannot use (PLAIN without an
		 * authentication identity) fails the authentication */
		imap_tagged_c(ic, "NO [AUTHENTICATIONFAILED] Invalid "
				  "authentication data");
		ic->auth_failures++;
		break;
	case IPC_AUTH_FAIL_ABORTED:
		imap_tagged_c(ic, "BAD Authentication aborted");
		break;
	default:
		imap_tagged_c(ic, "NO [UNAVAILABLE] Authentication temporarily "
				  "unavailable");
		break;
	}
	imap_auth_done(ic);
	if (ic->auth_failures >= IMAP_MAX_AUTH_FAILURES) {
		login_client_send_str(lc, "* BYE Too many failed attempts\r\n");
		login_client_close(lc, "too many failed authentications");
		return;
	}
	imap_input(lc);
}

static void imap_handoff_failed(struct login_client *lc,
				const char *reason POSTERN_UNUSED)
{
	struct imap_client *ic = lc->proto_ctx;
	imap_tagged_c(ic, "NO [UNAVAILABLE] Login service unavailable, "
			  "try again later");
	imap_auth_done(ic);
	login_client_close(lc, "hand-off failed");
}

const struct login_proto imap_login_proto = {
	.service = "imap",
	.process = "imap-login",
	.client_new = imap_client_new,
	.client_free = imap_client_free,
	.input = imap_input,
	.starttls_done = imap_starttls_done,
	.bye = imap_bye,
	.auth_challenge = imap_auth_challenge,
	.auth_success = imap_auth_success,
	.auth_failure = imap_auth_failure,
	.handoff_failed = imap_handoff_failed,
};
