/* The tls-proxy process: many client connections in one event loop. For
 * each: accept, TLS handshake, then the plaintext side goes to a login
 * process (IPC_T_PROXY_CLIENT through the master) over a socketpair, and
 * this process copies TLS <-> plaintext until either side ends. It never
 * parses a byte of IMAP or SMTP: the pre-auth grammar stays in the login
 * processes, the logged-in one in the workers; what it learns of the
 * session (channel binding, client key) it sends along once.
 *
 * A plaintext-listener connection goes to the login process at once and is
 * copied as it is. When the login process accepts STARTTLS it sends us
 * (IPC_T_PROXY_STARTTLS via the master, never on the socketpair, which
 * carries client bytes) how many bytes it wrote before the switch and the
 * go-ahead reply. We stop reading the client, drop what we read from it
 * and did not forward, deliver the first fence bytes and then the reply in
 * plaintext, and run the handshake; its result goes back the same way
 * (IPC_T_PROXY_TLS) with the count of plaintext bytes we forwarded, which
 * the login process discards unread (bytes pipelined behind STARTTLS).
 *
 * Memory per idle connection is the GnuTLS session plus this struct: the
 * copy buffers exist only while they hold bytes. */
#include "login_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc.h"
#include "proxy_client.h"
#include "rand.h"
#include "str.h"
#include "tls.h"

/* Per direction, allocated while in use: a slow reader stalls its writer
 * instead of growing memory. One TLS record's worth. */
#define PROXY_BUF_SIZE 16384
/* After the last byte went out, how long the client's further bytes are
 * read and dropped before the close, so that the close does not reset the
 * connection (a TCP RST makes the client's kernel discard our last
 * responses unread). */
#define PROXY_LINGER_MS 2000

struct proxy_buf {
	unsigned char *data; /* NULL while empty */
	size_t len;
};

struct pconn {
	struct pconn *prev, *next;
	int fd;	      /* client TCP socket */
	int plain_fd; /* our end of the socketpair; -1 during the handshake */
	struct tls_conn *tls;
	struct io *io, *plain_io;
	struct timer *hs_timer; /* handshake deadline */
	struct timer *post_timer; /* deferred free, or decrypted data left */
	struct proxy_buf up;   /* client -> login/worker (decrypted) */
	struct proxy_buf down; /* login/worker -> client (to encrypt) */
	unsigned long long up_total, down_total;
	unsigned long long up_sent; /* up bytes written to plain_fd */
	bool handshaking, hs_want_write;
	bool client_eof, plain_eof, dead;
	/* the worker stopped reading (it closed after a last answer, e.g.
	 * "* BYE" for a literal it refuses): client bytes are dropped, its
	 * output is still read and delivered */
	bool worker_deaf;
	bool lingering; /* ended; draining the client until PROXY_LINGER_MS */
	/* plaintext listener: tls NULL until the STARTTLS switch */
	bool plain_listener;
	/* IPC_T_PROXY_STARTTLS arrived: the client is not read, plain_fd
	 * only up to fence, then reply goes out and the handshake starts */
	bool switching;
	unsigned long long fence;
	unsigned char *reply;
	size_t reply_len, reply_off;
	uint32_t login_pid, client_id; /* who asked, for IPC_T_PROXY_TLS */
	bool request_cert;
	char listener[32];
	struct log_ctx log;
};

static struct pconn *pconns;

static void pconn_update(struct pconn *pc);
static void pconn_switch(struct pconn *pc);
static ssize_t client_send(struct pconn *pc, const void *p, size_t n,
			   const char **error_r);

static void pconn_free(struct pconn *pc)
{
	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		pconns = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
	io_remove(&pc->io);
	io_remove(&pc->plain_io);
	timer_remove(&pc->hs_timer);
	timer_remove(&pc->post_timer);
	tls_conn_free(&pc->tls);
	close(pc->fd);
	if (pc->plain_fd >= 0)
		close(pc->plain_fd);
	free(pc->up.data);
	free(pc->down.data);
	free(pc->reply);
	free(pc);
	login_svc.nclients--;
	login_service_client_gone();
}

static void pconn_free_timeout(void *ctx)
{
	struct pconn *pc = ctx;
	pc->post_timer = NULL;
	pconn_free(pc);
}

/* Ends the connection; freed from the loop, never under a caller. */
static void pconn_end(struct pconn *pc, const char *reason)
{
	if (pc->dead)
		return;
	pc->dead = true;
	if (pc->plain_fd >= 0 && !pc->handshaking) {
		/* what the worker still sent goes out before close_notify */
		if (pc->down.len > 0) {
			const char *error;
			(void)client_send(pc, pc->down.data, pc->down.len,
					  &error);
		}
		if (pc->tls != NULL)
			tls_bye(pc->tls);
		clog_info(&pc->log,
			  "proxy done reason=\"%s\" client_bytes=%llu "
			  "worker_bytes=%llu",
			  reason, pc->up_total, pc->down_total);
	} else {
		clog_info(&pc->log, "disconnect reason=\"%s\"", reason);
	}
	if (pc->plain_io != NULL)
		io_set_events(pc->plain_io, 0);
	timer_remove(&pc->hs_timer);
	timer_remove(&pc->post_timer);
	if (pc->plain_fd >= 0 && !pc->handshaking && !pc->client_eof &&
	    shutdown(pc->fd, SHUT_WR) == 0) {
		pc->lingering = true;
		io_set_events(pc->io, IO_READ);
		pc->post_timer =
			timer_add(PROXY_LINGER_MS, pconn_free_timeout, pc);
		return;
	}
	io_set_events(pc->io, 0);
	pc->post_timer = timer_add(0, pconn_free_timeout, pc);
}

static unsigned char *buf_room(struct proxy_buf *b)
{
	if (b->data == NULL)
		b->data = malloc(PROXY_BUF_SIZE);
	return b->data;
}

static void buf_drop(struct proxy_buf *b, size_t n)
{
	b->len -= n;
	if (b->len == 0) {
		free(b->data);
		b->data = NULL;
	} else {
		memmove(b->data, b->data + n, b->len);
	}
}

static bool again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* The client side: TLS once it is up, the socket itself before. -1 with
 * errno EAGAIN when nothing can move now. */
static ssize_t client_recv(struct pconn *pc, void *p, size_t n,
			   const char **error_r)
{
	if (pc->tls != NULL)
		return tls_read(pc->tls, p, n, error_r);
	ssize_t r = recv(pc->fd, p, n, 0);
	if (r < 0) {
		*error_r = strerror(errno);
		if (again())
			errno = EAGAIN;
	}
	return r;
}

static ssize_t client_send(struct pconn *pc, const void *p, size_t n,
			   const char **error_r)
{
	if (pc->tls != NULL)
		return tls_write(pc->tls, p, n, error_r);
	ssize_t r = send(pc->fd, p, n, MSG_NOSIGNAL);
	if (r < 0) {
		*error_r = strerror(errno);
		if (again())
			errno = EAGAIN;
	}
	return r;
}

/* Client -> plaintext side. Returns whether anything moved. */
static bool pconn_up(struct pconn *pc)
{
	bool moved = false;
	const char *error;

	if (pc->switching)
		return false;
	while (!pc->client_eof && pc->up.len < PROXY_BUF_SIZE) {
		unsigned char *d = buf_room(&pc->up);
		if (d == NULL) {
			pconn_end(pc, "out of memory");
			return false;
		}
		ssize_t n = client_recv(pc, d + pc->up.len,
					PROXY_BUF_SIZE - pc->up.len, &error);
		if (n > 0) {
			pc->up.len += (size_t)n;
			pc->up_total += (unsigned long long)n;
			moved = true;
			continue;
		}
		if (pc->up.len == 0)
			buf_drop(&pc->up, 0);
		if (n == 0) {
			pc->client_eof = true;
		} else if (errno != EAGAIN) {
			clog_info(&pc->log, "proxy: client read: %s", error);
			pc->client_eof = true;
		}
		break;
	}
	while (pc->up.len > 0) {
		bool deaf = pc->worker_deaf;
		ssize_t n = deaf ? (ssize_t)pc->up.len
				 : send(pc->plain_fd, pc->up.data, pc->up.len,
					MSG_NOSIGNAL);
		if (n < 0) {
			if (again())
				break;
			pc->worker_deaf = true;
			continue;
		}
		buf_drop(&pc->up, (size_t)n);
		if (!deaf)
			pc->up_sent += (unsigned long long)n;
		moved = true;
	}
	if (pc->client_eof && pc->up.len == 0) {
		pconn_end(pc, "client closed");
		return false;
	}
	return moved;
}

/* Plaintext side -> client. */
static bool pconn_down(struct pconn *pc)
{
	bool moved = false;
	const char *error;

	while (!pc->plain_eof && pc->down.len < PROXY_BUF_SIZE) {
		size_t want = PROXY_BUF_SIZE - pc->down.len;
		if (pc->switching) {
			/* nothing past the fence is read before the switch */
			if (pc->down_total >= pc->fence)
				break;
			if (pc->fence - pc->down_total < want)
				want = (size_t)(pc->fence - pc->down_total);
		}
		unsigned char *d = buf_room(&pc->down);
		if (d == NULL) {
			pconn_end(pc, "out of memory");
			return false;
		}
		ssize_t n = recv(pc->plain_fd, d + pc->down.len, want, 0);
		if (n > 0) {
			pc->down.len += (size_t)n;
			pc->down_total += (unsigned long long)n;
			moved = true;
			continue;
		}
		if (pc->down.len == 0)
			buf_drop(&pc->down, 0);
		if (n == 0 || !again())
			pc->plain_eof = true;
		break;
	}
	while (pc->down.len > 0) {
		ssize_t n = client_send(pc, pc->down.data, pc->down.len,
					&error);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			pconn_end(pc, "client write failed");
			return false;
		}
		buf_drop(&pc->down, (size_t)n);
		moved = true;
	}
	if (pc->switching && pc->down.len == 0 &&
	    pc->down_total >= pc->fence) {
		pconn_switch(pc);
		return false;
	}
	if (pc->plain_eof && pc->down.len == 0) {
		pconn_end(pc, "worker closed");
		return false;
	}
	return moved;
}

static void pconn_pending_timeout(void *ctx)
{
	struct pconn *pc = ctx;
	pc->post_timer = NULL;
	pconn_update(pc);
}

/* Moves what can move, then asks for the events that would let more. */
static void pconn_update(struct pconn *pc)
{
	bool more = true;
	if (pc->handshaking)
		return;
	while (more && !pc->dead && !pc->handshaking) {
		more = pconn_up(pc);
		if (!pc->dead)
			more = pconn_down(pc) || more;
	}
	if (pc->dead || pc->handshaking)
		return;
	unsigned cev = 0, pev = 0;
	if (!pc->client_eof && !pc->switching && pc->up.len < PROXY_BUF_SIZE)
		cev |= IO_READ;
	if (pc->down.len > 0)
		cev |= pc->tls == NULL || tls_want_write(pc->tls) ? IO_WRITE
								   : IO_READ;
	if (pc->switching && pc->reply_off < pc->reply_len &&
	    pc->down_total >= pc->fence)
		cev |= IO_WRITE;
	if (!pc->plain_eof && pc->down.len < PROXY_BUF_SIZE &&
	    (!pc->switching || pc->down_total < pc->fence))
		pev |= IO_READ;
	if (pc->up.len > 0)
		pev |= IO_WRITE;
	io_set_events(pc->io, cev);
	io_set_events(pc->plain_io, pev);
	/* decrypted bytes inside GnuTLS wake no fd: come back once the
	 * plaintext side has room */
	if (pc->post_timer == NULL && pc->tls != NULL &&
	    tls_pending(pc->tls) && pc->up.len < PROXY_BUF_SIZE)
		pc->post_timer = timer_add(0, pconn_pending_timeout, pc);
}

static void pconn_relay_io(void *ctx, unsigned events POSTERN_UNUSED)
{
	pconn_update(ctx);
}

/* The record the login process gets: addresses and, once TLS is up, what
 * it learned of the session. */
static void pconn_describe(struct pconn *pc, struct proxy_client *info)
{
	struct sockaddr_storage sa;
	socklen_t len;
	unsigned port;

	memset(info, 0, sizeof(*info));
	info->session = pc->log.session;
	str_cpy(info->listener, pc->listener, sizeof(info->listener));
	str_cpy(info->remote_ip, pc->log.remote, sizeof(info->remote_ip));
	len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getpeername(pc->fd, (struct sockaddr *)&sa, &len) < 0)
		sa.ss_family = AF_UNSPEC;
	login_sockaddr_describe(&sa, info->remote_ip, sizeof(info->remote_ip),
				&port);
	info->remote_port = port;
	len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(pc->fd, (struct sockaddr *)&sa, &len) < 0)
		sa.ss_family = AF_UNSPEC;
	login_sockaddr_describe(&sa, info->local_ip, sizeof(info->local_ip),
				&port);
	info->local_port = port;
	if (pc->tls != NULL)
		tls_facts_capture(pc->tls, &info->tls);
	else
		info->plain = true;
}

/* Implicit TLS after the handshake, plaintext at once: the plaintext side
 * goes to a login process. */
static void pconn_established(struct pconn *pc)
{
	struct proxy_client info;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		clog_error(&pc->log, "socketpair: %m");
		pconn_end(pc, "internal error");
		return;
	}
	int fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
		close(sv[0]);
		close(sv[1]);
		pconn_end(pc, "internal error");
		return;
	}
	pc->plain_fd = sv[0];
	pc->plain_io = io_add(pc->plain_fd, 0, pconn_relay_io, pc);
	pconn_describe(pc, &info);

	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_PROXY_CLIENT, 0);
	ipc_msg_set_fd(&m, sv[1]);
	proxy_client_add(&m, &info);
	if (login_svc.master == NULL) {
		ipc_msg_deinit(&m);
		pconn_end(pc, "master unavailable");
		return;
	}
	ipc_chan_send(login_svc.master, &m);
	if (pc->tls != NULL)
		clog_info(&pc->log, "tls handshake done tls=\"%s\"%s",
			  info.tls.describe,
			  info.tls.resumed ? " resumed=yes" : "");
	pconn_update(pc);
}

/* The STARTTLS handshake is done: the login process learns the session
 * and how many plaintext bytes to drop; from now on both directions are
 * the TLS relay. */
static void pconn_switched(struct pconn *pc)
{
	struct proxy_client info;

	pconn_describe(pc, &info);
	if (login_svc.master == NULL) {
		pconn_end(pc, "master unavailable");
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_PROXY_TLS, pc->client_id);
	ipc_add_u32(&m, pc->login_pid);
	ipc_add_u64(&m, pc->up_sent);
	proxy_client_add(&m, &info);
	ipc_chan_send(login_svc.master, &m);
	clog_info(&pc->log, "starttls handshake done tls=\"%s\"%s",
		  info.tls.describe, info.tls.resumed ? " resumed=yes" : "");
	pconn_update(pc);
}

static void pconn_handshake(struct pconn *pc)
{
	const char *error;
	switch (tls_handshake(pc->tls, &error)) {
	case TLS_STEP_DONE:
		pc->handshaking = false;
		timer_remove(&pc->hs_timer);
		if (pc->plain_fd >= 0)
			pconn_switched(pc);
		else
			pconn_established(pc);
		return;
	case TLS_STEP_WANT_READ:
		io_set_events(pc->io, IO_READ);
		return;
	case TLS_STEP_WANT_WRITE:
		io_set_events(pc->io, IO_WRITE);
		return;
	case TLS_STEP_ERROR:
		clog_info(&pc->log, "tls handshake failed: %s", error);
		pconn_end(pc, "TLS handshake failed");
		return;
	}
}

/* Reads and drops what the client still sends after the end; frees once
 * it closes (else the linger timer does). */
static void pconn_drain(struct pconn *pc)
{
	unsigned char scratch[4096];
	ssize_t n;

	while ((n = recv(pc->fd, scratch, sizeof(scratch), 0)) > 0)
		;
	if (n < 0 && again())
		return;
	pc->lingering = false;
	io_set_events(pc->io, 0);
	timer_remove(&pc->post_timer);
	pc->post_timer = timer_add(0, pconn_free_timeout, pc);
}

static void pconn_client_io(void *ctx, unsigned events POSTERN_UNUSED)
{
	struct pconn *pc = ctx;
	if (pc->lingering)
		pconn_drain(pc);
	if (pc->dead)
		return;
	if (pc->handshaking)
		pconn_handshake(pc);
	else
		pconn_update(pc);
}

static void pconn_hs_timeout(void *ctx)
{
	struct pconn *pc = ctx;
	pc->hs_timer = NULL;
	pconn_end(pc, "TLS handshake timed out");
}

/* The server side of the handshake on the client socket, with a deadline
 * (implicit TLS at accept, or after the STARTTLS go-ahead). */
static void pconn_start_tls(struct pconn *pc)
{
	const char *error;

	pc->tls = tls_conn_new(login_svc.tls, pc->fd, &error);
	if (pc->tls == NULL) {
		clog_error(&pc->log, "TLS set-up failed: %s", error);
		pconn_end(pc, "TLS set-up failed");
		return;
	}
	if (!pc->request_cert)
		tls_conn_no_client_cert(pc->tls);
	pc->handshaking = true;
	pc->hs_timer = timer_add(login_svc.cfg.login_idle_timeout * 1000u,
				 pconn_hs_timeout, pc);
	pconn_handshake(pc);
}

void login_tlsproxy_accept(struct login_listener *l, int fd)
{
	struct pconn *pc = calloc(1, sizeof(*pc));
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	unsigned port;

	if (pc == NULL) {
		close(fd);
		log_error("out of memory accepting on %s", l->name);
		return;
	}
	pc->fd = fd;
	pc->plain_fd = -1;
	str_cpy(pc->listener, l->name, sizeof(pc->listener));
	do {
		pc->log.session = rand_u64();
	} while (pc->log.session == 0);
	memset(&sa, 0, sizeof(sa));
	if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
		sa.ss_family = AF_UNSPEC;
	login_sockaddr_describe(&sa, pc->log.remote, sizeof(pc->log.remote),
				&port);
	if (sa.ss_family == AF_INET || sa.ss_family == AF_INET6)
		login_socket_nodelay(fd, &pc->log);
	pc->next = pconns;
	if (pconns != NULL)
		pconns->prev = pc;
	pconns = pc;
	login_svc.nclients++;
	pc->io = io_add(fd, 0, pconn_client_io, pc);
	clog_info(&pc->log, "connect listener=%s remote_port=%u", l->name, port);
	pc->request_cert = login_service_request_cert(l->name);
	if (!l->tls) {
		pc->plain_listener = true;
		pconn_established(pc);
		return;
	}
	pconn_start_tls(pc);
}

/* Everything before the fence and the reply are out: TLS from here. */
static void pconn_switch(struct pconn *pc)
{
	while (pc->reply_off < pc->reply_len) {
		ssize_t n = send(pc->fd, pc->reply + pc->reply_off,
				 pc->reply_len - pc->reply_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (again()) {
				io_set_events(pc->io, IO_WRITE);
				io_set_events(pc->plain_io, 0);
				return;
			}
			pconn_end(pc, "client write failed");
			return;
		}
		pc->reply_off += (size_t)n;
	}
	free(pc->reply);
	pc->reply = NULL;
	pc->switching = false;
	io_set_events(pc->plain_io, 0);
	pconn_start_tls(pc);
}

void login_tlsproxy_starttls(struct ipc_msg *m)
{
	uint32_t login_pid;
	uint64_t session, fence;
	const void *reply;
	size_t reply_len;
	struct pconn *pc;

	if (ipc_get_u32(m, &login_pid) < 0 || ipc_get_u64(m, &session) < 0 ||
	    ipc_get_u64(m, &fence) < 0 ||
	    ipc_get_data(m, &reply, &reply_len) < 0 || ipc_end(m) < 0) {
		log_error("malformed PROXY_STARTTLS from master");
		return;
	}
	for (pc = pconns; pc != NULL; pc = pc->next) {
		if (pc->log.session == session)
			break;
	}
	/* once per connection, before any TLS, from the one that holds it:
	 * the session number is random and known only to that process */
	if (pc == NULL || pc->dead || !pc->plain_listener || pc->tls != NULL ||
	    pc->switching || fence < pc->down_total) {
		log_warn("STARTTLS for an unknown or unfit connection dropped");
		return;
	}
	pc->reply = malloc(reply_len > 0 ? reply_len : 1);
	if (pc->reply == NULL) {
		pconn_end(pc, "out of memory");
		return;
	}
	memcpy(pc->reply, reply, reply_len);
	pc->reply_len = reply_len;
	pc->reply_off = 0;
	pc->fence = fence;
	pc->login_pid = login_pid;
	pc->client_id = m->peer_id;
	pc->switching = true;
	/* plaintext the client sent behind STARTTLS is never forwarded */
	if (pc->up.len > 0) {
		pc->up.len = 0;
		buf_drop(&pc->up, 0);
	}
	clog_info(&pc->log, "starttls fence=%llu", (unsigned long long)fence);
	pconn_update(pc);
}

void login_tlsproxy_deinit(void)
{
	while (pconns != NULL) {
		struct pconn *pc = pconns;
		if (!pc->dead && pc->plain_fd >= 0 && pc->tls != NULL &&
		    !pc->handshaking)
			tls_bye(pc->tls);
		pc->dead = true;
		pconn_free(pc);
	}
}
