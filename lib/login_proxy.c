/* The TLS proxy of one handed-off connection, in a child forked from the
 * pool process. It trusts nothing it did not have before the fork: it keeps
 * the client socket, the plaintext end of the hand-off socketpair, stderr
 * and the lifeline, and closes every other descriptor (listeners, the master
 * and auth channels, other clients, the parent's epoll and signalfd). It runs
 * its own poll() loop; the parent's ioloop state is never used here. */
#include "login_private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

/* Fixed numbers in the child. 3 is free because the master channel is
 * closed; the lifeline keeps 4. */
#define PROXY_FD_CLIENT 3
#define PROXY_FD_PLAIN 5
#define PROXY_FD_FIRST_FREE 6
/* Per direction: bounded, so a slow reader stalls its writer instead of
 * growing memory. */
#define PROXY_BUF_SIZE 16384

struct proxy_dir {
	unsigned char data[PROXY_BUF_SIZE];
	size_t len;
	unsigned long long total;
};

struct proxy {
	struct tls_conn *tls;
	const struct log_ctx *log;
	struct proxy_dir up; /* client -> worker (decrypted) */
	struct proxy_dir down; /* worker -> client (to encrypt) */
	bool client_eof, worker_eof;
	/* the worker stopped reading (it closed after a last answer, e.g.
	 * "* BYE" for a literal it refuses): client bytes are dropped, its
	 * output is still read and delivered */
	bool worker_deaf;
	const char *reason;
};

/* After the last byte went out, how long the client's further bytes are
 * read and dropped before the close, so that the close does not reset the
 * connection (a TCP RST makes the client's kernel discard our last
 * responses unread). */
#define PROXY_LINGER_MS 2000

static int proxy_move_fd(int fd, int target)
{
	if (fd == target)
		return 0;
	return dup2(fd, target) < 0 ? -1 : 0;
}

/* Puts the two descriptors at fixed numbers and closes everything else. */
static void proxy_fix_fds(struct login_client *c, int plain_fd)
{
	/* first above every target so dup2 cannot clobber the other */
	int cfd = fcntl(c->fd, F_DUPFD_CLOEXEC, PROXY_FD_FIRST_FREE + 64);
	int pfd = fcntl(plain_fd, F_DUPFD_CLOEXEC, PROXY_FD_FIRST_FREE + 64);
	if (cfd < 0 || pfd < 0 || proxy_move_fd(cfd, PROXY_FD_CLIENT) < 0 ||
	    proxy_move_fd(pfd, PROXY_FD_PLAIN) < 0) {
		clog_error(&c->log, "proxy: cannot arrange descriptors: %m");
		_exit(1);
	}
	if (close_range(PROXY_FD_FIRST_FREE, ~0U, 0) < 0) {
		for (int fd = PROXY_FD_FIRST_FREE; fd < 1024; fd++)
			(void)close(fd);
	}
	tls_conn_set_fd(c->tls, PROXY_FD_CLIENT);
}

/* The child inherits copies of other clients' buffers, which may hold
 * passwords typed moments ago; this process lives long, so wipe them. */
static void proxy_wipe_others(struct login_client *self)
{
	for (struct login_client *c = login_svc.clients; c != NULL;
	     c = c->priv->next) {
		if (c == self)
			continue;
		if (c->in.data != NULL)
			explicit_bzero(c->in.data, c->in.cap);
		explicit_bzero(c->priv->ticket, sizeof(c->priv->ticket));
	}
}

static bool proxy_again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Client -> worker. Returns false when the proxy should end. */
static bool proxy_up(struct proxy *px)
{
	const char *error;
	while (!px->client_eof && px->up.len < PROXY_BUF_SIZE) {
		ssize_t n = tls_read(px->tls, px->up.data + px->up.len,
				     PROXY_BUF_SIZE - px->up.len, &error);
		if (n > 0) {
			px->up.len += (size_t)n;
			px->up.total += (unsigned long long)n;
			continue;
		}
		if (n == 0) {
			px->client_eof = true;
			px->reason = "client closed";
		} else if (errno != EAGAIN) {
			px->client_eof = true;
			px->reason = "client TLS error";
			clog_info(px->log, "proxy: TLS read: %s", error);
		}
		break;
	}
	while (px->up.len > 0) {
		ssize_t n = px->worker_deaf ? (ssize_t)px->up.len
					    : send(PROXY_FD_PLAIN, px->up.data,
						   px->up.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (proxy_again())
				break;
			px->reason = "worker connection failed";
			px->worker_deaf = true;
			continue;
		}
		memmove(px->up.data, px->up.data + n, px->up.len - (size_t)n);
		px->up.len -= (size_t)n;
	}
	/* a client that went away has nothing more to forward; a deaf worker
	 * ends the proxy once its output is out (proxy_down) */
	return !(px->client_eof && px->up.len == 0);
}

/* Reads and drops what the client still sends, until it closes or
 * PROXY_LINGER_MS pass (close_notify was sent, our side is shut). */
static void proxy_linger(void)
{
	unsigned char scratch[4096];
	struct pollfd pfd = {PROXY_FD_CLIENT, POLLIN, 0};

	if (shutdown(PROXY_FD_CLIENT, SHUT_WR) < 0)
		return;
	for (int waited = 0; waited < PROXY_LINGER_MS; waited += 100) {
		int n = poll(&pfd, 1, 100);

		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && recv(PROXY_FD_CLIENT, scratch, sizeof(scratch),
				  MSG_DONTWAIT) <= 0 &&
		    !proxy_again())
			return;
	}
}

/* Worker -> client. */
static bool proxy_down(struct proxy *px)
{
	while (!px->worker_eof && px->down.len < PROXY_BUF_SIZE) {
		ssize_t n = recv(PROXY_FD_PLAIN, px->down.data + px->down.len,
				 PROXY_BUF_SIZE - px->down.len, 0);
		if (n > 0) {
			px->down.len += (size_t)n;
			px->down.total += (unsigned long long)n;
			continue;
		}
		if (n == 0 || !proxy_again()) {
			px->worker_eof = true;
			px->reason = "worker closed";
		}
		break;
	}
	const char *error;
	while (px->down.len > 0) {
		ssize_t n =
			tls_write(px->tls, px->down.data, px->down.len, &error);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			px->reason = "client TLS error";
			return false;
		}
		memmove(px->down.data, px->down.data + n,
			px->down.len - (size_t)n);
		px->down.len -= (size_t)n;
	}
	return !(px->worker_eof && px->down.len == 0);
}

static void proxy_loop(struct proxy *px)
{
	for (;;) {
		if (!proxy_up(px) || !proxy_down(px))
			return;
		struct pollfd pfd[3] = {
			{PROXY_FD_CLIENT, 0, 0},
			{PROXY_FD_PLAIN, 0, 0},
			{IPC_FD_LIFELINE, POLLIN, 0},
		};
		if (!px->client_eof && px->up.len < PROXY_BUF_SIZE)
			pfd[0].events |= POLLIN;
		if (px->down.len > 0)
			pfd[0].events |=
				tls_want_write(px->tls) ? POLLOUT : POLLIN;
		if (!px->worker_eof && px->down.len < PROXY_BUF_SIZE)
			pfd[1].events |= POLLIN;
		if (px->up.len > 0)
			pfd[1].events |= POLLOUT;
		/* decrypted bytes inside GnuTLS do not wake poll() */
		int timeout =
			px->up.len < PROXY_BUF_SIZE && tls_pending(px->tls)
				? 0
				: -1;
		int n = poll(pfd, 3, timeout);
		if (n < 0 && errno != EINTR) {
			px->reason = "poll failed";
			return;
		}
		if (n > 0 && pfd[2].revents != 0) {
			px->reason = "master gone";
			return;
		}
	}
}

void login_proxy_run(struct login_client *c, int plain_fd)
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGCHLD, SIG_DFL);
	proxy_fix_fds(c, plain_fd);
	proxy_wipe_others(c);

	struct proxy *px = calloc(1, sizeof(*px));
	if (px == NULL)
		_exit(1);
	px->tls = c->tls;
	px->log = &c->log;
	px->reason = "unknown";
	proxy_loop(px);
	/* whatever the worker still sent goes out before close_notify */
	if (px->down.len > 0) {
		const char *error;
		(void)tls_write(px->tls, px->down.data, px->down.len, &error);
	}
	tls_bye(px->tls);
	/* only a client whose bytes the worker refused can still be sending */
	if (px->worker_deaf && !px->client_eof)
		proxy_linger();
	clog_info(
		&c->log,
		"proxy done reason=\"%s\" client_bytes=%llu worker_bytes=%llu",
		px->reason, px->up.total, px->down.total);
	_exit(0);
}
