/* The auth-master socket: the master (or a worker) redeems a login ticket
 * for the user record, or looks an address up (which account, which home:
 * what local delivery needs). Peers are root or the mail user, checked at accept;
 * they are trusted, so a malformed message is their bug: logged as an
 * error, and the connection dropped all the same. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "authdb.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "str.h"
#include "ticket.h"

struct master_conn {
	struct master_conn *prev, *next;
	struct ipc_chan *chan;
	pid_t pid;
};

static const struct ipc_rule master_rules[] = {
	{IPC_T_TICKET_REDEEM, 1024, false, false},
	{IPC_T_USER_LOOKUP, 1024, false, false},
};

static struct master_conn *master_conns;
static size_t master_nconns;

static void master_conn_free(struct master_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		master_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	master_nconns--;
	ipc_chan_free(&c->chan);
	free(c);
}

static void reply_unknown(struct ipc_chan *chan, uint32_t id,
			  const char *reason)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_T_USER_UNKNOWN, id);
	ipc_add_str(&m, reason);
	ipc_chan_send(chan, &m);
}

/* Which account an address (login name or alias) belongs to, and its
 * home. Nothing secret leaves: no key material is in the reply. */
static void user_lookup(struct master_conn *c, struct ipc_msg *msg)
{
	char addr[ACCOUNT_ADDR_MAX + 1], home[4096];
	const char *in, *error;
	struct account a;
	struct ipc_msg m;

	if (ipc_get_str(msg, &in) < 0 || ipc_end(msg) < 0) {
		log_error("auth-master: malformed USER_LOOKUP from pid=%ld",
			  (long)c->pid);
		master_conn_free(c);
		return;
	}
	if (account_address_canonical(in, strlen(in), addr, &error) < 0) {
		reply_unknown(c->chan, msg->peer_id, "invalid address");
		return;
	}
	switch (authdb_get(auth.db, addr, &a, &error)) {
	case AUTHDB_OK:
		break;
	case AUTHDB_NOTFOUND:
		reply_unknown(c->chan, msg->peer_id, "no such user");
		return;
	default:
		log_error("auth-master: lookup of %s: %s", addr, error);
		reply_unknown(c->chan, msg->peer_id, "temporary failure");
		return;
	}
	if (auth_home(a.address, home, sizeof(home)) < 0) {
		account_wipe(&a);
		reply_unknown(c->chan, msg->peer_id, "temporary failure");
		return;
	}
	ipc_msg_init(&m, IPC_T_USER_INFO, msg->peer_id);
	ipc_add_str(&m, a.address);
	ipc_add_str(&m, home);
	user_settings_add(&m, &a.settings);
	account_wipe(&a);
	ipc_chan_send(c->chan, &m);
}

/* The account's settings as they are now (not as they were when the ticket
 * was issued: an admin may have changed them in between). An account
 * deleted since the login cannot be redeemed. On failure the ticket user
 * is released. */
static int redeem_settings(struct ticket_user *u, struct user_settings *s_r,
			   const char **reason_r)
{
	struct account a;
	const char *error;

	switch (authdb_get(auth.db, u->user, &a, &error)) {
	case AUTHDB_OK:
		*s_r = a.settings;
		account_wipe(&a);
		return 0;
	case AUTHDB_NOTFOUND:
		*reason_r = "account deleted";
		break;
	default:
		log_error("auth-master: reading %s: %s", u->user, error);
		*reason_r = "temporary failure";
		break;
	}
	ticket_user_deinit(u);
	return -1;
}

static void master_handler(struct ipc_chan *chan, struct ipc_msg *msg,
			   void *ctx)
{
	struct master_conn *c = ctx;
	struct ticket_user u;
	struct user_settings settings;
	struct log_ctx lctx;
	const char *service, *reason;
	const void *ticket;
	size_t len;
	struct ipc_msg m;

	if (msg->type == IPC_T_USER_LOOKUP) {
		user_lookup(c, msg);
		return;
	}
	if (ipc_get_data(msg, &ticket, &len) < 0 ||
	    ipc_get_str(msg, &service) < 0 || ipc_end(msg) < 0) {
		log_error("auth-master: malformed TICKET_REDEEM from pid=%ld",
			  (long)c->pid);
		master_conn_free(c);
		return;
	}
	if (ticket_redeem(ticket, len, service, &u, &reason) < 0 ||
	    redeem_settings(&u, &settings, &reason) < 0) {
		log_warn("auth-master: ticket refused: reason=%s service=%s "
			 "pid=%ld",
			 reason, service, (long)c->pid);
		ipc_msg_init(&m, IPC_T_TICKET_INVALID, msg->peer_id);
		ipc_add_str(&m, reason);
		ipc_chan_send(chan, &m);
		return;
	}
	memset(&lctx, 0, sizeof(lctx));
	lctx.session = u.session;
	(void)str_cpy(lctx.user, u.user, sizeof(lctx.user));
	clog_info(&lctx, "auth-master: ticket redeemed service=%s pid=%ld",
		  service, (long)c->pid);
	ipc_msg_init(&m, IPC_T_TICKET_USER, msg->peer_id);
	ipc_add_str(&m, u.user);
	ipc_add_str(&m, u.home);
	user_settings_add(&m, &settings);
	ipc_chan_send(chan, &m);
	ticket_user_deinit(&u);
}

static void master_close(struct ipc_chan *chan POSTERN_UNUSED,
			 const char *reason, void *ctx)
{
	struct master_conn *c = ctx;

	if (strcmp(reason, "peer closed") != 0)
		log_error("auth-master: dropping pid=%ld: %s", (long)c->pid,
			  reason);
	master_conn_free(c);
}

void master_conn_accept(int fd, const struct ucred *peer)
{
	struct master_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		log_fatal("out of memory");
	c->pid = peer->pid;
	c->chan = ipc_chan_new(fd, "auth-master", master_rules,
			       N_ELEMENTS(master_rules), master_handler,
			       master_close, c);
	c->next = master_conns;
	if (master_conns != NULL)
		master_conns->prev = c;
	master_conns = c;
	master_nconns++;
}

/* Only the master routes to workers; other peers of this socket
 * (delivering processes) asked nothing and get nothing. Takes m. */
static void push_to_master(struct ipc_msg *m)
{
	for (struct master_conn *c = master_conns; c != NULL; c = c->next) {
		if (c->pid == getppid()) {
			ipc_chan_send(c->chan, m);
			return;
		}
	}
	ipc_msg_deinit(m);
}

void master_conn_push_settings(const char *user, const struct user_settings *s)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_T_USER_SETTINGS, 0);
	ipc_add_str(&m, user);
	user_settings_add(&m, s);
	push_to_master(&m);
}

void master_conn_push_kick(const char *user)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_T_USER_KICK, 0);
	ipc_add_str(&m, user);
	push_to_master(&m);
}

void master_conn_deinit_all(void)
{
	while (master_conns != NULL)
		master_conn_free(master_conns);
}

size_t master_conn_count(void)
{
	return master_nconns;
}
