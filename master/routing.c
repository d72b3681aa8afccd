#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "master.h"
#include "proxy_client.h"
#include "str.h"
#include "user_settings.h"

/* Bound on hand-offs waiting for ticket redemption; past it new ones are
 * refused (the login process answers NO [UNAVAILABLE]). */
#define ROUTING_MAX_PENDING 4096

/* One authenticated connection between the login process's request and its
 * delivery to a worker. The user comes from the auth daemon, never from the
 * login process. */
struct handoff {
	uint32_t id;
	struct child *login; /* NULL if it died meanwhile */
	uint32_t conn_id;    /* login process's id for the connection */
	int fd;
	char ticket[IPC_TICKET_SIZE];
	enum master_service service;
	char *remote_ip, *local_ip, *tls_info, *listener, *resume;
	uint64_t session;
	uint32_t remote_port, local_port, flags;
	void *pending;
	size_t pending_len;
	struct handoff *next;
};

static struct ipc_chan *auth_chan;
static struct handoff *pending_list;
static size_t pending_count;
static uint32_t next_handoff_id = 1;

static const struct ipc_rule auth_master_rules[] = {
	{IPC_T_TICKET_USER, 4096, false, false},
	{IPC_T_TICKET_INVALID, 1024, false, false},
	{IPC_T_USER_SETTINGS, 1024, false, false},
	{IPC_T_USER_KICK, 1024, false, false},
};

static void handoff_free(struct handoff *h)
{
	if (h->fd >= 0)
		close(h->fd);
	explicit_bzero(h->ticket, sizeof(h->ticket));
	free(h->remote_ip);
	free(h->local_ip);
	free(h->tls_info);
	free(h->listener);
	free(h->resume);
	free(h->pending);
	free(h);
}

static void handoff_unlink(struct handoff *h)
{
	for (struct handoff **p = &pending_list; *p != NULL; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			pending_count--;
			return;
		}
	}
}

static void reply_login(struct child *login, uint32_t conn_id, bool ok,
			const char *reason)
{
	if (login == NULL || login->chan == NULL)
		return;
	struct ipc_msg m;
	ipc_msg_init(&m, ok ? IPC_T_HANDOFF_OK : IPC_T_HANDOFF_FAIL, conn_id);
	if (!ok)
		ipc_add_str(&m, reason);
	ipc_chan_send(login->chan, &m);
}

static void handoff_fail(struct handoff *h, const char *reason)
{
	reply_login(h->login, h->conn_id, false, reason);
	handoff_unlink(h);
	handoff_free(h);
}

static struct handoff *handoff_find(uint32_t id)
{
	for (struct handoff *h = pending_list; h != NULL; h = h->next) {
		if (h->id == id)
			return h;
	}
	return NULL;
}

static void deliver(struct handoff *h, const char *user, const char *home,
		    const struct user_settings *settings)
{
	struct child *w = worker_find(h->service, user);
	if (w == NULL)
		w = worker_spawn(h->service, user, home);
	if (w == NULL || w->chan == NULL) {
		log_error("session=%016llx user=%s: no worker available",
			  (unsigned long long)h->session, user);
		handoff_fail(h, "no worker");
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_CLIENT, h->id);
	ipc_msg_set_fd(&m, h->fd);
	h->fd = -1;
	ipc_add_str(&m, user);
	ipc_add_str(&m, home);
	ipc_add_u64(&m, h->session);
	ipc_add_str(&m, h->remote_ip);
	ipc_add_u32(&m, h->remote_port);
	ipc_add_str(&m, h->local_ip);
	ipc_add_u32(&m, h->local_port);
	ipc_add_u32(&m, h->flags);
	ipc_add_str(&m, h->tls_info);
	ipc_add_str(&m, h->listener);
	ipc_add_str(&m, h->resume);
	ipc_add_data(&m, h->pending, h->pending_len);
	user_settings_add(&m, settings);
	ipc_chan_send(w->chan, &m);
	log_info("session=%016llx user=%s: handed to %s pid=%ld",
		 (unsigned long long)h->session, user,
		 services[h->service].worker_bin, (long)w->pid);
	reply_login(h->login, h->conn_id, true, NULL);
	handoff_unlink(h);
	handoff_free(h);
}

/* An admin acted on an account (auth's unsolicited IPC_T_USER_SETTINGS or
 * IPC_T_USER_KICK): the message goes on unchanged, as the same type, to
 * every worker of the account (also one finishing its last connections).
 * Settings: they apply to live sessions, and a user without a worker picks
 * them up at the next login from the redemption. Kick: each worker closes
 * its sessions. */
static void user_push(struct ipc_msg *msg)
{
	struct user_settings s;
	const char *user;
	unsigned n = 0;
	bool settings = msg->type == IPC_T_USER_SETTINGS;

	if (ipc_get_str(msg, &user) < 0 ||
	    (settings && user_settings_get(msg, &s) < 0) || ipc_end(msg) < 0) {
		log_error("malformed %s from auth",
			  settings ? "settings push" : "kick");
		return;
	}
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->kind != CHILD_WORKER || c->chan == NULL ||
		    strcmp(c->user, user) != 0)
			continue;
		struct ipc_msg m;
		ipc_msg_init(&m, msg->type, 0);
		ipc_add_str(&m, user);
		if (settings)
			user_settings_add(&m, &s);
		ipc_chan_send(c->chan, &m);
		n++;
	}
	log_info("user=%s: %s, passed to %u worker%s", user,
		 settings ? "settings changed" : "kicked by an administrator",
		 n, n == 1 ? "" : "s");
}

static void auth_chan_handle(struct ipc_chan *chan, struct ipc_msg *msg,
			     void *ctx)
{
	(void)chan;
	(void)ctx;
	if (msg->type == IPC_T_USER_SETTINGS || msg->type == IPC_T_USER_KICK) {
		user_push(msg);
		return;
	}
	struct handoff *h = handoff_find(msg->peer_id);
	if (h == NULL) {
		log_warn("auth answered unknown hand-off id=%u", msg->peer_id);
		return;
	}
	if (msg->type == IPC_T_TICKET_USER) {
		const char *user, *home;
		struct user_settings settings;
		if (ipc_get_str(msg, &user) < 0 ||
		    ipc_get_str(msg, &home) < 0 ||
		    user_settings_get(msg, &settings) < 0 || ipc_end(msg) < 0 ||
		    user[0] == '\0' || home[0] != '/') {
			log_error("malformed ticket reply from auth");
			handoff_fail(h, "internal error");
			return;
		}
		deliver(h, user, home, &settings);
	} else {
		const char *reason;
		if (ipc_get_str(msg, &reason) < 0 || ipc_end(msg) < 0)
			reason = "?";
		/* A login process presenting a bad ticket is either buggy or
		 * compromised: say so loudly. */
		log_warn("%s pid=%ld presented an invalid ticket: %s",
			 services[h->service].login_bin,
			 h->login != NULL ? (long)h->login->pid : 0L, reason);
		handoff_fail(h, "invalid ticket");
	}
}

static void auth_chan_closed(struct ipc_chan *chan, const char *reason,
			     void *ctx)
{
	(void)ctx;
	log_error("connection to postern-auth lost: %s", reason);
	ipc_chan_free(&chan);
	auth_chan = NULL;
	routing_auth_down();
}

void routing_auth_up(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", master.cfg.run_dir,
		 IPC_SOCK_AUTH_MASTER);
	int fd = ipc_connect(path);
	if (fd < 0) {
		log_error("cannot connect to %s: %m", path);
		return;
	}
	ipc_chan_free(&auth_chan);
	auth_chan = ipc_chan_new(fd, "auth-master", auth_master_rules,
				 N_ELEMENTS(auth_master_rules),
				 auth_chan_handle, auth_chan_closed, NULL);
}

void routing_auth_down(void)
{
	ipc_chan_free(&auth_chan);
	while (pending_list != NULL)
		handoff_fail(pending_list, "authentication service restarting");
}

void routing_login_gone(struct child *login)
{
	for (struct handoff *h = pending_list; h != NULL; h = h->next) {
		if (h->login == login)
			h->login = NULL;
	}
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		log_fatal("out of memory");
	return d;
}

void routing_handoff(struct child *login, struct ipc_msg *msg)
{
	const void *ticket, *pending;
	size_t ticket_len, pending_len;
	const char *service, *remote_ip, *local_ip, *tls_info, *listener,
		*resume;
	uint64_t session;
	uint32_t remote_port, local_port, flags;
	if (ipc_get_data(msg, &ticket, &ticket_len) < 0 ||
	    ipc_get_str(msg, &service) < 0 || ipc_get_u64(msg, &session) < 0 ||
	    ipc_get_str(msg, &remote_ip) < 0 ||
	    ipc_get_u32(msg, &remote_port) < 0 ||
	    ipc_get_str(msg, &local_ip) < 0 ||
	    ipc_get_u32(msg, &local_port) < 0 || ipc_get_u32(msg, &flags) < 0 ||
	    ipc_get_str(msg, &tls_info) < 0 ||
	    ipc_get_str(msg, &listener) < 0 || ipc_get_str(msg, &resume) < 0 ||
	    ipc_get_data(msg, &pending, &pending_len) < 0 || ipc_end(msg) < 0 ||
	    ticket_len != IPC_TICKET_SIZE) {
		child_kill(login, "malformed hand-off");
		return;
	}
	/* a login process serves one protocol: it may hand off only that */
	int svc = service_find(service);
	if (svc < 0 || (enum master_service)svc != login->service) {
		reply_login(login, msg->peer_id, false, "unknown service");
		return;
	}
	if (auth_chan == NULL || pending_count >= ROUTING_MAX_PENDING) {
		reply_login(login, msg->peer_id, false, "service unavailable");
		return;
	}
	struct handoff *h = calloc(1, sizeof(*h));
	if (h == NULL)
		log_fatal("out of memory");
	h->id = next_handoff_id++;
	if (next_handoff_id == 0)
		next_handoff_id = 1;
	h->login = login;
	h->conn_id = msg->peer_id;
	h->fd = ipc_msg_take_fd(msg);
	memcpy(h->ticket, ticket, IPC_TICKET_SIZE);
	h->service = (enum master_service)svc;
	h->remote_ip = dup_or_die(remote_ip);
	h->local_ip = dup_or_die(local_ip);
	h->tls_info = dup_or_die(tls_info);
	h->listener = dup_or_die(listener);
	h->resume = dup_or_die(resume);
	h->session = session;
	h->remote_port = remote_port;
	h->local_port = local_port;
	h->flags = flags;
	h->pending_len = pending_len;
	h->pending = malloc(pending_len > 0 ? pending_len : 1);
	if (h->pending == NULL)
		log_fatal("out of memory");
	if (pending_len > 0)
		memcpy(h->pending, pending, pending_len);
	h->next = pending_list;
	pending_list = h;
	pending_count++;

	struct ipc_msg r;
	ipc_msg_init(&r, IPC_T_TICKET_REDEEM, h->id);
	ipc_add_data(&r, h->ticket, IPC_TICKET_SIZE);
	ipc_add_str(&r, services[h->service].name);
	ipc_chan_send(auth_chan, &r);
}

/* ---- connections from the tls-proxy pool ---- */

/* The login process of service that gets the next proxied connection:
 * round robin over those not retiring. One still starting up counts: the
 * message waits in its channel (after SIGHUP the new pool is all there
 * is for a moment). */
static struct child *login_pick(enum master_service service)
{
	static unsigned turn;
	unsigned n = 0, k;
	struct child *c;

	for (c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_LOGIN && c->service == service &&
		    !c->retiring && c->chan != NULL)
			n++;
	}
	if (n == 0)
		return NULL;
	k = turn++ % n;
	for (c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_LOGIN && c->service == service &&
		    !c->retiring && c->chan != NULL && k-- == 0)
			return c;
	}
	return NULL;
}

void routing_proxy_client(struct child *proxy, struct ipc_msg *msg)
{
	struct proxy_client pc;
	const char *error;
	const struct listener *l = NULL;
	int fd = ipc_msg_take_fd(msg);

	if (proxy_client_get(msg, &pc, &error) < 0) {
		close(fd);
		child_kill(proxy, error);
		return;
	}
	for (size_t i = 0; i < master.nlisteners; i++) {
		if (master.listeners[i].tls == !pc.plain &&
		    strcmp(master.listeners[i].name, pc.listener) == 0)
			l = &master.listeners[i];
	}
	if (l == NULL) {
		close(fd);
		child_kill(proxy, "proxied client on an unknown listener");
		return;
	}
	struct child *login = login_pick(l->service);
	if (login == NULL) {
		/* the proxy sees the close and drops the client */
		log_warn("no %s process for a proxied connection; dropped",
			 services[l->service].login_bin);
		close(fd);
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_LOGIN_CLIENT, 0);
	ipc_msg_set_fd(&m, fd);
	pc.proxy_pid = (uint32_t)proxy->pid;
	proxy_client_add(&m, &pc);
	ipc_chan_send(login->chan, &m);
}

/* The peer named by a pid in a message from the other side: one of our
 * children of that kind with an open channel, or NULL. */
static struct child *relay_peer(uint32_t pid, enum child_kind kind)
{
	struct child *c = pid != 0 && pid <= INT32_MAX
				  ? child_find_pid((pid_t)pid)
				  : NULL;
	return c != NULL && c->kind == kind && c->chan != NULL ? c : NULL;
}

/* Neither side is trusted with the other's channel: the login process
 * names the proxy by the pid we gave it, the proxy the login process by
 * the pid we stamp here. A gone peer drops the message; its connections
 * end through their socketpairs. */
void routing_login_starttls(struct child *login, struct ipc_msg *msg)
{
	uint32_t proxy_pid;
	uint64_t session, fence;
	const void *reply;
	size_t reply_len;

	if (ipc_get_u32(msg, &proxy_pid) < 0 || ipc_get_u64(msg, &session) < 0 ||
	    ipc_get_u64(msg, &fence) < 0 ||
	    ipc_get_data(msg, &reply, &reply_len) < 0 || ipc_end(msg) < 0) {
		child_kill(login, "malformed LOGIN_STARTTLS");
		return;
	}
	struct child *proxy = relay_peer(proxy_pid, CHILD_PROXY);
	if (proxy == NULL) {
		log_info("STARTTLS for a gone tls-proxy pid=%u dropped",
			 proxy_pid);
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_PROXY_STARTTLS, msg->peer_id);
	ipc_add_u32(&m, (uint32_t)login->pid);
	ipc_add_u64(&m, session);
	ipc_add_u64(&m, fence);
	ipc_add_data(&m, reply, reply_len);
	ipc_chan_send(proxy->chan, &m);
}

void routing_proxy_tls(struct child *proxy, struct ipc_msg *msg)
{
	struct proxy_client pc;
	uint32_t login_pid;
	uint64_t up_fence;
	const char *error;

	if (ipc_get_u32(msg, &login_pid) < 0 ||
	    ipc_get_u64(msg, &up_fence) < 0 ||
	    proxy_client_get(msg, &pc, &error) < 0 || pc.plain) {
		child_kill(proxy, "malformed PROXY_TLS");
		return;
	}
	struct child *login = relay_peer(login_pid, CHILD_LOGIN);
	if (login == NULL) {
		log_info("STARTTLS result for a gone login process pid=%u "
			 "dropped", login_pid);
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_LOGIN_TLS, msg->peer_id);
	ipc_add_u64(&m, up_fence);
	pc.proxy_pid = (uint32_t)proxy->pid;
	proxy_client_add(&m, &pc);
	ipc_chan_send(login->chan, &m);
}
