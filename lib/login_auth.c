/* SASL relay to postern-auth (socket run_dir/auth-login).
 *
 * Each exchange gets its own peer_id, so a late reply for an exchange the
 * client already abandoned (abort, disconnect) matches nothing and is
 * dropped. auth is trusted: a malformed reply is a bug there, logged as an
 * error, and the client gets a temporary failure. */
#include "login_private.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "ioloop.h"
#include "ipc.h"
#include "str.h"
#include "tls.h"

static const struct ipc_rule login_auth_rules[] = {
	{IPC_T_AUTH_CHALLENGE, IPC_MAX_PAYLOAD, false, false},
	{IPC_T_AUTH_SUCCESS, IPC_MAX_PAYLOAD, false, false},
	{IPC_T_AUTH_FAILURE, 4096, false, false},
};

static struct login_client *auth_find(uint32_t auth_id)
{
	if (auth_id == 0)
		return NULL;
	for (struct login_client *c = login_svc.clients; c != NULL;
	     c = c->priv->next) {
		if (c->priv->auth_id == auth_id)
			return c;
	}
	return NULL;
}

static const char *auth_user_for_log(const struct login_client *c)
{
	return c->priv->user_hint[0] != '\0' ? c->priv->user_hint : "-";
}

static void auth_report_failure(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	c->authenticating = false;
	login_svc.proto->auth_failure(c, p->fail_code, p->fail_msg);
}

static void auth_fail_delay_done(void *ctx)
{
	struct login_client *c = ctx;
	c->priv->fail_timer = NULL;
	auth_report_failure(c);
	if (!c->priv->destroy_pending)
		login_client_update_io(c);
}

static void auth_failure(struct login_client *c, uint32_t code, const char *msg)
{
	struct login_client_priv *p = c->priv;
	p->auth_id = 0;
	p->fail_code = code;
	if (str_cpy(p->fail_msg, msg, sizeof(p->fail_msg)) < 0)
		p->fail_msg[0] = '\0';
	clog_info(&c->log, "auth failed user=%s mech=%s code=%u reason=\"%s\"",
		  auth_user_for_log(c), p->mech, code, msg);
	/* Credential guessing is slowed down per attempt; the other
	 * failures carry no information worth guessing at. */
	unsigned delay = login_svc.cfg.login_auth_failure_delay;
	/* a certificate tried at the handshake is no guess at all: the
	 * client has not even sent a command */
	bool preauth = (p->auth_flags & IPC_AUTH_F_PREAUTH) != 0;
	if (code == IPC_AUTH_FAIL_CREDENTIALS && delay > 0 && !preauth)
		p->fail_timer = timer_add(delay, auth_fail_delay_done, c);
	else
		auth_report_failure(c);
}

static void auth_handle_success(struct login_client *c, struct ipc_msg *m)
{
	struct login_client_priv *p = c->priv;
	const char *user;
	const void *ticket, *final;
	size_t ticket_len, final_len;
	if (ipc_get_str(m, &user) < 0 ||
	    ipc_get_data(m, &ticket, &ticket_len) < 0 ||
	    ipc_get_data(m, &final, &final_len) < 0 || ipc_end(m) < 0 ||
	    ticket_len != IPC_TICKET_SIZE ||
	    str_cpy(p->user, user, sizeof(p->user)) < 0) {
		clog_error(&c->log, "malformed AUTH_SUCCESS from auth");
		auth_failure(c, IPC_AUTH_FAIL_TEMP, "internal error");
		return;
	}
	memcpy(p->ticket, ticket, IPC_TICKET_SIZE);
	p->auth_id = 0;
	c->authenticating = false;
	str_cpy(c->log.user, p->user, sizeof(c->log.user));
	clog_info(&c->log, "auth ok user=%s mech=%s", p->user, p->mech);
	login_svc.proto->auth_success(c, p->user, final, final_len);
}

static void auth_handler(struct ipc_chan *chan POSTERN_UNUSED,
			 struct ipc_msg *m, void *ctx POSTERN_UNUSED)
{
	struct login_client *c = auth_find(m->peer_id);
	if (c == NULL || c->closing)
		return; /* abandoned exchange */

	const void *data;
	size_t len;
	uint32_t code;
	const char *text;
	switch (m->type) {
	case IPC_T_AUTH_CHALLENGE:
		if (ipc_get_data(m, &data, &len) < 0 || ipc_end(m) < 0) {
			clog_error(&c->log, "malformed AUTH_CHALLENGE");
			auth_failure(c, IPC_AUTH_FAIL_TEMP, "internal error");
			break;
		}
		login_svc.proto->auth_challenge(c, data, len);
		break;
	case IPC_T_AUTH_SUCCESS:
		auth_handle_success(c, m);
		break;
	case IPC_T_AUTH_FAILURE:
		if (ipc_get_u32(m, &code) < 0 || ipc_get_str(m, &text) < 0 ||
		    ipc_end(m) < 0) {
			clog_error(&c->log, "malformed AUTH_FAILURE");
			code = IPC_AUTH_FAIL_TEMP;
			text = "internal error";
		}
		auth_failure(c, code, text);
		break;
	default:
		break;
	}
	if (!c->priv->destroy_pending)
		login_client_update_io(c);
}

static void auth_closed(struct ipc_chan *chan, const char *reason,
			void *ctx POSTERN_UNUSED)
{
	log_error("connection to auth lost: %s", reason);
	ipc_chan_free(&chan);
	login_svc.auth = NULL;
	for (struct login_client *c = login_svc.clients; c != NULL;
	     c = c->priv->next) {
		if (c->closing)
			continue;
		c->authenticating = false;
		c->priv->auth_id = 0;
		if (c->priv->proto_started && login_svc.proto->bye != NULL)
			login_svc.proto->bye(c, LOGIN_BYE_AUTH_UNAVAILABLE);
		login_client_close(c, "auth service unavailable");
	}
	login_service_start_draining("auth service unavailable");
}

void login_auth_connected(int fd)
{
	login_svc.auth = ipc_chan_new(fd, "auth", login_auth_rules,
				      N_ELEMENTS(login_auth_rules),
				      auth_handler, auth_closed, NULL);
}

int login_client_key(struct login_client *c, char out[LOGIN_CLIENT_KEY_SIZE])
{
	const struct tls_facts *t = c->priv->tls;
	struct buf b;
	int ret = -1;

	out[0] = '\0';
	if (t == NULL || !c->secured || !t->has_spki)
		return -1;
	buf_init(&b, LOGIN_CLIENT_KEY_SIZE);
	if (base64url_encode_nopad(&b, t->spki, sizeof(t->spki)) == 0 &&
	    b.len == LOGIN_CLIENT_KEY_SIZE - 1) {
		memcpy(out, b.data, b.len);
		out[b.len] = '\0';
		ret = 0;
	}
	buf_deinit(&b);
	return ret;
}

/* What only the login process knows about the connection, for auth:
 * channel binding (SCRAM-*-PLUS) and the client certificate's key. */
static void auth_add_tls_fields(struct login_client *c, struct ipc_msg *m)
{
	const struct tls_facts *t = c->secured ? c->priv->tls : NULL;
	char key[LOGIN_CLIENT_KEY_SIZE];

	(void)login_client_key(c, key);
	ipc_add_str(m, t != NULL ? t->cb_type : "");
	ipc_add_data(m, t != NULL ? t->cb : (const unsigned char *)"",
		     t != NULL ? t->cb_len : 0);
	ipc_add_str(m, key);
}

int login_client_auth_begin_flags(struct login_client *c, const char *mech,
				  const void *ir, size_t ir_len, bool has_ir,
				  const char *resume, const char *user_hint,
				  uint32_t flags)
{
	struct login_client_priv *p = c->priv;
	if (login_svc.auth == NULL || c->authenticating || c->closing)
		return -1;
	if (str_cpy(p->mech, mech, sizeof(p->mech)) < 0)
		return -1;
	if (resume != NULL && login_client_set_resume(c, resume) < 0)
		return -1;
	if (user_hint == NULL ||
	    str_cpy(p->user_hint, user_hint, sizeof(p->user_hint)) < 0)
		p->user_hint[0] = '\0';

	do {
		p->auth_id = ++login_svc.last_auth_id;
	} while (p->auth_id == 0);
	p->auth_flags = flags | (has_ir ? IPC_AUTH_F_HAS_IR : 0) |
			(c->secured ? IPC_AUTH_F_SECURED : 0);
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_AUTH_BEGIN, p->auth_id);
	ipc_add_str(&m, mech);
	ipc_add_str(&m, login_svc.proto->service);
	ipc_add_u64(&m, c->session);
	ipc_add_str(&m, c->remote_ip);
	ipc_add_u32(&m, p->auth_flags);
	ipc_add_data(&m, ir, has_ir ? ir_len : 0);
	auth_add_tls_fields(c, &m);
	ipc_chan_send(login_svc.auth, &m);
	c->authenticating = true;
	return 0;
}

int login_client_auth_begin(struct login_client *c, const char *mech,
			    const void *ir, size_t ir_len, bool has_ir,
			    const char *resume, const char *user_hint)
{
	return login_client_auth_begin_flags(c, mech, ir, ir_len, has_ir,
					     resume,
					     user_hint, 0);
}

int login_client_auth_preauth(struct login_client *c)
{
	char key[LOGIN_CLIENT_KEY_SIZE];

	if (login_client_key(c, key) < 0)
		return -1;
	return login_client_auth_begin_flags(c, "EXTERNAL", "", 0, true, NULL,
					     NULL, IPC_AUTH_F_PREAUTH);
}

void login_client_auth_continue(struct login_client *c, const void *data,
				size_t n)
{
	struct login_client_priv *p = c->priv;
	if (login_svc.auth == NULL || p->auth_id == 0)
		return;
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_AUTH_CONTINUE, p->auth_id);
	ipc_add_u32(&m, 0);
	ipc_add_data(&m, data, n);
	ipc_chan_send(login_svc.auth, &m);
}

static void auth_send_abort(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	if (login_svc.auth != NULL && p->auth_id != 0) {
		struct ipc_msg m;
		ipc_msg_init(&m, IPC_T_AUTH_CONTINUE, p->auth_id);
		ipc_add_u32(&m, IPC_AUTH_F_ABORT);
		ipc_add_data(&m, "", 0);
		ipc_chan_send(login_svc.auth, &m);
	}
	p->auth_id = 0;
}

void login_client_auth_abort(struct login_client *c)
{
	if (c->priv->auth_id != 0)
		clog_info(&c->log, "auth aborted user=%s mech=%s",
			  auth_user_for_log(c), c->priv->mech);
	auth_send_abort(c);
	timer_remove(&c->priv->fail_timer);
	c->authenticating = false;
}

void login_auth_client_gone(struct login_client *c)
{
	auth_send_abort(c);
	c->authenticating = false;
}

/* authcid of a PLAIN message, for the log only. */
static void plain_user_hint(const unsigned char *p, size_t n, char *out,
			    size_t outsz)
{
	out[0] = '\0';
	if (n == 0)
		return; /* p may be NULL for an empty response */
	const unsigned char *nul1 = memchr(p, '\0', n);
	if (nul1 == NULL)
		return;
	const unsigned char *u = nul1 + 1;
	size_t rest = n - (size_t)(u - p);
	const unsigned char *nul2 = memchr(u, '\0', rest);
	if (nul2 == NULL)
		return;
	str_copy((struct str){(const char *)u, (size_t)(nul2 - u)}, out, outsz);
}

/* Name in a SCRAM client-first message ("n,,n=NAME,r=..."), for the log
 * only: escapes are left as sent. */
static void scram_user_hint(const unsigned char *p, size_t n, char *out,
			    size_t outsz)
{
	const unsigned char *u = NULL, *end;

	out[0] = '\0';
	for (size_t i = 0; i + 3 <= n; i++) {
		if (p[i] == ',' && p[i + 1] == 'n' && p[i + 2] == '=') {
			u = p + i + 3;
			break;
		}
	}
	if (u == NULL)
		return;
	end = memchr(u, ',', n - (size_t)(u - p));
	if (end == NULL || memchr(u, '\0', (size_t)(end - u)) != NULL)
		return;
	str_copy((struct str){(const char *)u, (size_t)(end - u)}, out, outsz);
}

void login_sasl_user_hint(const char *mech, const unsigned char *p, size_t n,
			   char *out, size_t outsz)
{
	if (strcmp(mech, "PLAIN") == 0)
		plain_user_hint(p, n, out, outsz);
	else
		scram_user_hint(p, n, out, outsz);
}

/* "e=" and a server-error-value token: [a-z-], bounded. */
bool login_scram_error_valid(const char *m)
{
	size_t len = strlen(m);

	if (len < 3 || len > 64 || m[0] != 'e' || m[1] != '=')
		return false;
	for (size_t i = 2; i < len; i++) {
		if (!((m[i] >= 'a' && m[i] <= 'z') || m[i] == '-'))
			return false;
	}
	return true;
}

