/* Hand-off of an authenticated connection to the master.
 *
 * Plaintext, or a connection a tls-proxy relays (c->fd is its socketpair):
 * a duplicate of the client fd travels; ours is closed on
 * HANDOFF_OK and this process is out of the path. TLS: one end of a stream
 * socketpair travels; on HANDOFF_OK a forked child proxies TLS <-> plaintext
 * for the rest of the connection, so the pool process itself only ever holds
 * pre-auth connections and may die without losing a logged-in session. */
#include "login_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc.h"
#include "tls.h"

static void handoff_fail(struct login_client *c, const char *reason)
{
	struct login_client_priv *p = c->priv;
	c->handing_off = false;
	if (p->proxy_fd >= 0) {
		close(p->proxy_fd);
		p->proxy_fd = -1;
	}
	clog_info(&c->log, "handoff failed user=%s reason=\"%s\"", p->user,
		  reason);
	login_svc.proto->handoff_failed(c, reason);
	if (!p->destroy_pending)
		login_client_update_io(c);
}

void login_client_handoff(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	if (c->closing || c->handing_off)
		return;
	c->handing_off = true;
	login_client_stop_idle(c);
	if (login_svc.master == NULL) {
		handoff_fail(c, "master unavailable");
		return;
	}
	if (c->in.len > IPC_MAX_PAYLOAD - LOGIN_HANDOFF_OVERHEAD) {
		handoff_fail(c, "too much pipelined input");
		return;
	}

	int send_fd;
	if (c->tls != NULL) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) <
		    0) {
			clog_error(&c->log, "socketpair: %m");
			handoff_fail(c, "internal error");
			return;
		}
		int fl = fcntl(sv[0], F_GETFL);
		if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
			close(sv[0]);
			close(sv[1]);
			handoff_fail(c, "internal error");
			return;
		}
		p->proxy_fd = sv[0];
		send_fd = sv[1];
	} else {
		send_fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
		if (send_fd < 0) {
			clog_error(&c->log, "dup: %m");
			handoff_fail(c, "internal error");
			return;
		}
	}

	/* field order: ipc_proto.h IPC_T_HANDOFF */
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_HANDOFF, p->id);
	ipc_msg_set_fd(&m, send_fd);
	ipc_add_data(&m, p->ticket, sizeof(p->ticket));
	ipc_add_str(&m, login_svc.proto->service);
	ipc_add_u64(&m, c->session);
	ipc_add_str(&m, c->remote_ip);
	ipc_add_u32(&m, c->remote_port);
	ipc_add_str(&m, c->local_ip);
	ipc_add_u32(&m, c->local_port);
	/* a certificate login made before any greeting: the worker greets
	 * with PREAUTH */
	/* a proxied connection is plaintext here but TLS to the client */
	ipc_add_u32(&m, (p->tls != NULL ? IPC_HANDOFF_F_TLS : 0) |
				((p->auth_flags & IPC_AUTH_F_PREAUTH) != 0
					 ? IPC_HANDOFF_F_PREAUTH
					 : 0));
	ipc_add_str(&m, p->tls != NULL ? p->tls->describe : "");
	ipc_add_str(&m, c->listener);
	ipc_add_str(&m, p->resume != NULL ? p->resume : "");
	/* bytes pipelined behind the authenticating command: sent once, and
	 * never read by this process again */
	ipc_add_data(&m, c->in.data != NULL ? c->in.data : (unsigned char *)"",
		     c->in.len);
	size_t pending = c->in.len;
	buf_clear(&c->in);
	explicit_bzero(p->ticket, sizeof(p->ticket));
	ipc_chan_send(login_svc.master, &m);
	clog_info(&c->log, "handoff user=%s tls=%s pending=%zu", p->user,
		  c->tls != NULL	? "yes"
		  : p->tls != NULL ? "proxied"
				   : "no",
		  pending);
	login_client_update_io(c);
}

static void handoff_start_proxy(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	pid_t pid = fork();
	if (pid < 0) {
		clog_error(&c->log, "fork for TLS proxy: %m");
		login_client_close(c, "proxy fork failed");
		return;
	}
	if (pid == 0)
		login_proxy_run(c, p->proxy_fd);
	clog_info(&c->log, "proxy started pid=%ld", (long)pid);
	p->handed_off = true;
	login_client_destroy(c);
}

static void handoff_ok(struct login_client *c)
{
	if (c->tls != NULL) {
		handoff_start_proxy(c);
		return;
	}
	c->priv->handed_off = true;
	login_client_destroy(c);
}

void login_handoff_master_msg(struct ipc_msg *m)
{
	struct login_client *c = login_client_find(m->peer_id);
	const char *reason = NULL;
	if (m->type == IPC_T_HANDOFF_FAIL) {
		if (ipc_get_str(m, &reason) < 0 || ipc_end(m) < 0)
			reason = "malformed reply";
	} else if (ipc_end(m) < 0) {
		log_error("malformed HANDOFF_OK from master");
		reason = "malformed reply";
	}
	if (c == NULL || !c->handing_off) {
		log_warn("hand-off reply for unknown connection id=%u",
			 m->peer_id);
		return;
	}
	if (c->closing) {
		/* nothing to answer; the connection is gone either way */
		login_client_destroy(c);
		return;
	}
	if (reason != NULL)
		handoff_fail(c, reason);
	else
		handoff_ok(c);
}
