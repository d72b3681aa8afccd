/* The auth-login socket: SASL exchanges relayed by login processes.
 *
 * A login process is untrusted (it faces the network and may be
 * compromised): every message is checked, a malformed one drops that
 * connection and nothing else, and what it can obtain is bounded: at most
 * auth_max_exchanges exchanges per connection, each at most MECH_MAX_STEPS
 * messages, and a ticket only for a user whose credentials it relayed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "mech.h"
#include "metrics.h"
#include "str.h"
#include "throttle.h"
#include "ticket.h"
#include "x509.h"

/* begin_tls_fields copies a fingerprint into mech_request.client_key */
_Static_assert(MECH_CLIENT_KEY_SIZE == X509_FP_LEN + 1,
	       "client_key holds a key fingerprint");

/* Longest mechanism name (RFC 4422: 20 characters). */
#define MECH_NAME_MAX 20
/* Exchanges over all connections: per connection auth_max_exchanges, but
 * a compromised login process could open many connections. ~1 KiB each. */
#define EXCHANGES_TOTAL_MAX 65536

struct exchange {
	struct exchange *next;
	uint32_t id; /* peer_id chosen by the login process */
	struct mech_request req;
};

struct login_conn {
	struct login_conn *prev, *next;
	struct ipc_chan *chan;
	pid_t pid;
	struct exchange *exchanges;
	size_t nexchanges;
};

static const struct ipc_rule login_rules[] = {
	{IPC_T_AUTH_BEGIN, IPC_MAX_PAYLOAD, false, false},
	{IPC_T_AUTH_CONTINUE, IPC_MAX_PAYLOAD, false, false},
};

static struct login_conn *login_conns;
static size_t login_nconns;
static size_t exchanges_total;

static const char *fail_text(uint32_t code)
{
	switch (code) {
	case IPC_AUTH_FAIL_CREDENTIALS:
		return "Authentication failed";
	case IPC_AUTH_FAIL_MECH:
		return "Unsupported or disallowed authentication mechanism";
	case IPC_AUTH_FAIL_MALFORMED:
		return "Invalid authentication data";
	case IPC_AUTH_FAIL_ABORTED:
		return "Authentication aborted";
	default:
		return "Temporary authentication failure";
	}
}

/* The one log line of every attempt. The claimed name comes last so that
 * whatever it contains cannot pose as one of the other fields. */
static void log_attempt(const struct mech_request *req, const char *mech,
			bool ok, const char *reason)
{
	clog_info(&req->log, "auth: mech=%s service=%s result=%s reason=%s "
			     "name=%s",
		  mech, req->service[0] != '\0' ? req->service : "-",
		  ok ? "ok" : "fail", reason, req->attempted);
	metrics_login(mech, ok);
}

/* cert= of a client key looked up at the handshake (IPC_AUTH_F_PREAUTH)
 * that did not log in: the client sent nothing, so this is no failed
 * login, and the line carries none of the words fail2ban filters for
 * failed logins match (doc/admin.md). */
static const char *cert_class(uint32_t code)
{
	switch (code) {
	case IPC_AUTH_FAIL_MECH:
		return "unknown";
	case IPC_AUTH_FAIL_NO_PREAUTH:
		return "no-preauth";
	default:
		return "error";
	}
}

static void log_cert_lookup(const struct mech_request *req)
{
	clog_info(&req->log, "tls client key lookup: service=%s cert=%s "
			     "reason=%s",
		  req->service[0] != '\0' ? req->service : "-",
		  cert_class(req->fail_code), req->fail_reason);
}

/* text: what the mechanism wants the client to see, or NULL */
static void send_failure_text(struct login_conn *c, uint32_t id,
			      uint32_t code, const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_T_AUTH_FAILURE, id);
	ipc_add_u32(&m, code);
	ipc_add_str(&m, text != NULL ? text : fail_text(code));
	ipc_chan_send(c->chan, &m);
}

static void send_failure(struct login_conn *c, uint32_t id, uint32_t code)
{
	send_failure_text(c, id, code, NULL);
}

static struct exchange **exchange_find(struct login_conn *c, uint32_t id)
{
	struct exchange **p;

	for (p = &c->exchanges; *p != NULL; p = &(*p)->next) {
		if ((*p)->id == id)
			return p;
	}
	return NULL;
}

static void exchange_free(struct login_conn *c, struct exchange **p)
{
	struct exchange *e = *p;

	*p = e->next;
	c->nexchanges--;
	exchanges_total--;
	mech_request_deinit(&e->req);
	free(e);
}

static void finish_success(struct login_conn *c, struct exchange *e)
{
	struct mech_request *req = &e->req;
	unsigned char ticket[IPC_TICKET_SIZE];
	char home[4096];
	struct ipc_msg m;

	if (auth_home(req->user, home, sizeof(home)) < 0 ||
	    ticket_issue(req->user, home, req->service, req->log.session,
			 ticket) < 0) {
		log_attempt(req, req->mech->name, false, "ticket-table-full");
		send_failure(c, e->id, IPC_AUTH_FAIL_TEMP);
		return;
	}
	(void)str_cpy(req->log.user, req->user, sizeof(req->log.user));
	log_attempt(req, req->mech->name, true, "authenticated");
	ipc_msg_init(&m, IPC_T_AUTH_SUCCESS, e->id);
	ipc_add_str(&m, req->user);
	ipc_add_data(&m, ticket, sizeof(ticket));
	ipc_add_data(&m, req->out.data, req->out.len);
	explicit_bzero(ticket, sizeof(ticket));
	ipc_chan_send(c->chan, &m);
}

/* Feeds one client message to the mechanism and answers. */
static void exchange_step(struct login_conn *c, struct exchange **p,
			  const void *in, size_t len)
{
	struct exchange *e = *p;
	struct mech_request *req = &e->req;
	enum mech_status st;
	struct ipc_msg m;

	buf_clear(&req->out);
	if (++req->steps > MECH_MAX_STEPS)
		st = mech_fail(req, IPC_AUTH_FAIL_MALFORMED, "too-many-steps");
	else
		st = req->mech->step(req, in, len);
	/* a registered client key binds the connection to its account */
	if (st == MECH_SUCCESS && mech_check_client_key(req) < 0)
		st = MECH_FAILURE;
	switch (st) {
	case MECH_CONTINUE:
		ipc_msg_init(&m, IPC_T_AUTH_CHALLENGE, e->id);
		ipc_add_data(&m, req->out.data, req->out.len);
		ipc_chan_send(c->chan, &m);
		return;
	case MECH_SUCCESS:
		finish_success(c, e);
		break;
	case MECH_FAILURE:
		if ((req->flags & IPC_AUTH_F_PREAUTH) != 0)
			log_cert_lookup(req);
		else
			log_attempt(req, req->mech->name, false,
				    req->fail_reason);
		/* guesses count; a certificate offered at the handshake is
		 * no guess (the client sent nothing), nor is a broken auth */
		if ((req->fail_code == IPC_AUTH_FAIL_CREDENTIALS ||
		     req->fail_code == IPC_AUTH_FAIL_MALFORMED) &&
		    (req->flags & IPC_AUTH_F_PREAUTH) == 0)
			throttle_fail(req->log.remote, req->attempted,
				      (uint64_t)time(NULL));
		send_failure_text(c, e->id, req->fail_code, req->fail_text);
		break;
	}
	exchange_free(c, p);
}

/* RFC 4422 section 3.1: 1 to 20 of [A-Z0-9-_] (we also accept lowercase
 * and compare case-insensitively). */
static bool mech_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MECH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* Refuses an exchange before it exists (nothing to free). */
static void refuse(struct login_conn *c, uint32_t id, struct mech_request *req,
		   const char *mech, uint32_t code, const char *reason)
{
	log_attempt(req, mech, false, reason);
	send_failure(c, id, code);
}

/* The TLS facts of AUTH_BEGIN. A binding type we do not know, binding
 * bytes without a type (or too many), or a key that is not a fingerprint
 * can only come from a broken login process: -1. */
static int begin_tls_fields(struct mech_request *req, const char *cb_type,
			    const void *cb_data, size_t cb_len,
			    const char *client_key)
{
	bool typed = strcmp(cb_type, "tls-exporter") == 0 ||
		     strcmp(cb_type, "tls-unique") == 0;

	if (!typed && cb_type[0] != '\0')
		return -1;
	if (typed ? cb_len == 0 || cb_len > MECH_CB_MAX : cb_len != 0)
		return -1;
	/* no certificate, or the fingerprint of its key */
	if (client_key[0] != '\0' && !x509_fingerprint_valid(client_key))
		return -1;
	(void)str_cpy(req->cb_type, cb_type, sizeof(req->cb_type));
	if (cb_len > 0)
		memcpy(req->cb_data, cb_data, cb_len);
	req->cb_len = cb_len;
	(void)str_cpy(req->client_key, client_key, sizeof(req->client_key));
	return 0;
}

/* -1: the login process broke the protocol; drop it. */
static int handle_begin(struct login_conn *c, struct ipc_msg *msg)
{
	const char *mech_name, *service, *remote, *cb_type, *client_key;
	uint64_t session;
	uint32_t flags;
	const void *ir, *cb_data;
	size_t irlen, cb_len;
	const struct mech *mech;
	struct exchange *e;
	struct mech_request tmp;

	if (ipc_get_str(msg, &mech_name) < 0 ||
	    ipc_get_str(msg, &service) < 0 || ipc_get_u64(msg, &session) < 0 ||
	    ipc_get_str(msg, &remote) < 0 || ipc_get_u32(msg, &flags) < 0 ||
	    ipc_get_data(msg, &ir, &irlen) < 0 ||
	    ipc_get_str(msg, &cb_type) < 0 ||
	    ipc_get_data(msg, &cb_data, &cb_len) < 0 ||
	    ipc_get_str(msg, &client_key) < 0 || ipc_end(msg) < 0)
		return -1;
	if (exchange_find(c, msg->peer_id) != NULL)
		return -1;

	mech_request_init(&tmp, NULL);
	tmp.flags = flags;
	tmp.log.session = session;
	if (str_cpy(tmp.service, service, sizeof(tmp.service)) < 0 ||
	    str_cpy(tmp.log.remote, remote, sizeof(tmp.log.remote)) < 0 ||
	    begin_tls_fields(&tmp, cb_type, cb_data, cb_len, client_key) < 0) {
		mech_request_deinit(&tmp);
		return -1;
	}
	mech = mech_find(mech_name);
	if (!mech_name_valid(mech_name)) {
		/* the name is client text: keep it out of the log line */
		refuse(c, msg->peer_id, &tmp, "(invalid)", IPC_AUTH_FAIL_MECH,
		       "invalid-mechanism-name");
	} else if (c->nexchanges >= auth.cfg.auth_max_exchanges ||
		   exchanges_total >= EXCHANGES_TOTAL_MAX) {
		refuse(c, msg->peer_id, &tmp, mech_name, IPC_AUTH_FAIL_TEMP,
		       "too-many-exchanges");
	} else if (throttle_blocked(tmp.log.remote, (uint64_t)time(NULL))) {
		/* before anything runs: a blocked address costs nothing */
		refuse(c, msg->peer_id, &tmp, mech != NULL ? mech->name : "-",
		       IPC_AUTH_FAIL_THROTTLED, "throttled");
	} else if (mech == NULL) {
		refuse(c, msg->peer_id, &tmp, mech_name, IPC_AUTH_FAIL_MECH,
		       "unknown-mechanism");
	} else if ((mech->flags & MECH_F_PLAINTEXT) != 0 &&
		   (flags & IPC_AUTH_F_SECURED) == 0) {
		refuse(c, msg->peer_id, &tmp, mech->name, IPC_AUTH_FAIL_MECH,
		       "plaintext-without-tls");
	} else if ((mech->flags & MECH_F_CHANNEL_BINDING) != 0 &&
		   tmp.cb_type[0] == '\0') {
		/* -PLUS is offered only where there is TLS to bind to */
		refuse(c, msg->peer_id, &tmp, mech->name, IPC_AUTH_FAIL_MECH,
		       "no-channel-binding");
	} else {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			log_fatal("out of memory");
		e->id = msg->peer_id;
		e->req = tmp;
		e->req.mech = mech;
		e->next = c->exchanges;
		c->exchanges = e;
		c->nexchanges++;
		exchanges_total++;
		if ((flags & IPC_AUTH_F_HAS_IR) != 0 ||
		    (mech->flags & MECH_F_SERVER_FIRST) != 0) {
			exchange_step(c, &c->exchanges, ir, irlen);
		} else {
			struct ipc_msg m;

			ipc_msg_init(&m, IPC_T_AUTH_CHALLENGE, e->id);
			ipc_add_data(&m, "", 0);
			ipc_chan_send(c->chan, &m);
		}
		return 0;
	}
	mech_request_deinit(&tmp);
	return 0;
}

static int handle_continue(struct login_conn *c, struct ipc_msg *msg)
{
	struct exchange **p;
	uint32_t flags;
	const void *data;
	size_t len;

	if (ipc_get_u32(msg, &flags) < 0 ||
	    ipc_get_data(msg, &data, &len) < 0 || ipc_end(msg) < 0)
		return -1;
	p = exchange_find(c, msg->peer_id);
	if (p == NULL) {
		/* a confused but not hostile login process: answer, go on */
		log_warn("auth-login: login process pid=%ld continued unknown "
			 "exchange %u",
			 (long)c->pid, msg->peer_id);
		send_failure(c, msg->peer_id, IPC_AUTH_FAIL_MALFORMED);
		return 0;
	}
	if ((flags & IPC_AUTH_F_ABORT) != 0) {
		log_attempt(&(*p)->req, (*p)->req.mech->name, false, "aborted");
		send_failure(c, msg->peer_id, IPC_AUTH_FAIL_ABORTED);
		exchange_free(c, p);
		return 0;
	}
	exchange_step(c, p, data, len);
	return 0;
}

static void login_conn_free(struct login_conn *c)
{
	while (c->exchanges != NULL) {
		/* still an attempt: it gets its line too */
		log_attempt(&c->exchanges->req, c->exchanges->req.mech->name,
			    false, "login-connection-closed");
		exchange_free(c, &c->exchanges);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		login_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	login_nconns--;
	ipc_chan_free(&c->chan);
	free(c);
}

static void login_handler(struct ipc_chan *chan POSTERN_UNUSED,
			  struct ipc_msg *msg, void *ctx)
{
	struct login_conn *c = ctx;
	int ret;

	if (msg->type == IPC_T_AUTH_BEGIN)
		ret = handle_begin(c, msg);
	else
		ret = handle_continue(c, msg);
	if (ret < 0) {
		log_warn("auth-login: dropping login process pid=%ld: "
			 "malformed or out-of-order message type %u for "
			 "exchange %u",
			 (long)c->pid, msg->type, msg->peer_id);
		login_conn_free(c);
	}
}

static void login_close(struct ipc_chan *chan POSTERN_UNUSED,
			const char *reason, void *ctx)
{
	struct login_conn *c = ctx;

	if (strcmp(reason, "peer closed") != 0)
		log_warn("auth-login: dropping login process pid=%ld: %s",
			 (long)c->pid, reason);
	login_conn_free(c);
}

void login_conn_accept(int fd, const struct ucred *peer)
{
	struct login_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		log_fatal("out of memory");
	c->pid = peer->pid;
	c->chan = ipc_chan_new(fd, "auth-login", login_rules,
			       N_ELEMENTS(login_rules), login_handler,
			       login_close, c);
	c->next = login_conns;
	if (login_conns != NULL)
		login_conns->prev = c;
	login_conns = c;
	login_nconns++;
}

void login_conn_deinit_all(void)
{
	while (login_conns != NULL)
		login_conn_free(login_conns);
}

size_t login_conn_count(void)
{
	return login_nconns;
}
