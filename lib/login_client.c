/* One pre-auth connection: buffers, TLS, idle timeout, orderly close.
 *
 * Entry points are only loop callbacks (fd events, timers, IPC handlers).
 * Protocol callbacks may call login_client_close(); the client is then freed
 * from a zero-length timer, never under the caller's feet. */
#include "login_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ioloop.h"
#include "metrics.h"
#include "proxy_client.h"
#include "rand.h"
#include "str.h"
#include "tls.h"
#include "x509.h"

static void client_flush(struct login_client *c);
static void client_read(struct login_client *c);
static void client_handshake(struct login_client *c);

void login_sockaddr_describe(const struct sockaddr_storage *sa, char *ip,
			      size_t iplen, unsigned *port_r)
{
	*port_r = 0;
	str_cpy(ip, "unknown", iplen);
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		if (inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen))
			*port_r = ntohs(s4->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		if (inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen))
			*port_r = ntohs(s6->sin6_port);
	} else if (sa->ss_family == AF_UNIX) {
		str_cpy(ip, "local", iplen);
	}
}

/* Every reply is written whole, so Nagle only delays it: without
 * TCP_NODELAY the greeting behind a TLS 1.3 session ticket waits for the
 * client's delayed ACK (40 ms). The option stays with the socket when it is
 * handed to a worker (plaintext) or kept by a TLS proxy. */
void login_socket_nodelay(int fd, const struct log_ctx *log)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOPROTOOPT)
		clog_warn(log, "TCP_NODELAY: %m");
}

static bool client_may_read(const struct login_client *c)
{
	const struct login_client_priv *p = c->priv;
	return p->proto_started && !c->closing && !p->starttls_wait &&
	       !p->handshaking && !c->handing_off && c->in.len < c->in.max;
}

void login_client_update_io(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	if (p->io == NULL)
		return;
	unsigned ev = 0;
	if (p->handshaking) {
		ev = p->hs_want_write ? IO_WRITE : IO_READ;
	} else {
		if (client_may_read(c))
			ev |= IO_READ;
		if (p->out.len > 0) {
			/* a TLS write may wait for the socket to be readable
			 * (TLS 1.2 renegotiation traffic) */
			if (c->tls != NULL && !tls_want_write(c->tls))
				ev |= IO_READ;
			ev |= IO_WRITE;
		}
	}
	io_set_events(p->io, ev);
}

static void client_post_timeout(void *ctx)
{
	struct login_client *c = ctx;
	c->priv->post_timer = NULL;
	if (c->priv->destroy_pending) {
		login_client_destroy(c);
		return;
	}
	/* GnuTLS holds decrypted bytes the fd will not signal again */
	if (client_may_read(c))
		client_read(c);
	login_client_update_io(c);
}

static void client_post(struct login_client *c)
{
	if (c->priv->post_timer == NULL)
		c->priv->post_timer = timer_add(0, client_post_timeout, c);
}

static void client_schedule_destroy(struct login_client *c)
{
	c->priv->destroy_pending = true;
	timer_remove(&c->priv->post_timer);
	client_post(c);
}

static void client_close_timeout(void *ctx)
{
	struct login_client *c = ctx;
	c->priv->idle_timer = NULL;
	login_client_destroy(c);
}

static void client_idle_timeout(void *ctx)
{
	struct login_client *c = ctx;
	c->priv->idle_timer = NULL;
	if (c->priv->proto_started && login_svc.proto->bye != NULL)
		login_svc.proto->bye(c, LOGIN_BYE_IDLE);
	login_client_close(c, "idle timeout");
}

static void client_reset_idle(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	timer_remove(&p->idle_timer);
	if (c->closing || c->handing_off)
		return;
	p->idle_timer = timer_add(login_svc.cfg.login_idle_timeout * 1000u,
				  client_idle_timeout, c);
}

void login_client_stop_idle(struct login_client *c)
{
	timer_remove(&c->priv->idle_timer);
}

static void client_start_proto(struct login_client *c)
{
	if (login_svc.proto->client_new(c) < 0) {
		login_client_close(c, "protocol set-up failed");
		return;
	}
	c->priv->proto_started = true;
}

static void client_io(void *ctx, unsigned events)
{
	struct login_client *c = ctx;
	struct login_client_priv *p = c->priv;
	if (p->destroy_pending)
		return;
	if (p->handshaking) {
		client_handshake(c);
	} else {
		if (p->out.len > 0)
			client_flush(c);
		if ((events & (IO_READ | IO_ERROR)) != 0 && client_may_read(c))
			client_read(c);
		else if ((events & IO_ERROR) != 0 && p->out.len > 0 &&
			 !c->closing)
			login_client_close(c, "connection error");
		/* the proxy closes when the STARTTLS handshake fails; a hang-up
		 * is reported even while we do not read */
		else if ((events & IO_ERROR) != 0 && p->proxied_plain &&
			 p->starttls_wait && !c->closing)
			login_client_close(c, "tls-proxy closed during STARTTLS");
	}
	if (!p->destroy_pending)
		login_client_update_io(c);
}

/* The part of a new client common to accepted and proxied connections:
 * allocated, numbered, listed, watched. NULL (fd closed) on ENOMEM. */
static struct login_client *client_alloc(const char *listener, int fd)
{
	struct login_client *c = calloc(1, sizeof(*c));
	struct login_client_priv *p = calloc(1, sizeof(*p));
	if (c == NULL || p == NULL) {
		free(c);
		free(p);
		close(fd);
		log_error("out of memory accepting on %s", listener);
		return NULL;
	}
	c->priv = p;
	c->fd = fd;
	p->proxy_fd = -1;
	if (++login_svc.last_client_id == 0)
		login_svc.last_client_id = 1;
	p->id = login_svc.last_client_id;
	str_cpy(c->listener, listener, sizeof(c->listener));
	buf_init(&c->in, login_svc.cfg.login_max_line);
	buf_init(&p->out, LOGIN_OUT_MAX);
	{
		enum trace_level level = TRACE_OFF;

		(void)trace_level_parse(login_svc.cfg.trace_level, &level);
		trace_init(&c->trace, &c->log, level);
	}

	p->next = login_svc.clients;
	if (p->next != NULL)
		p->next->priv->prev = c;
	login_svc.clients = c;
	login_svc.nclients++;
	metrics_count(strncmp(listener, "submission", 10) == 0
			      ? METRICS_CONN_SUBMISSION
			      : METRICS_CONN_IMAP,
		      1);
	metrics_gauge_add(METRICS_G_PREAUTH, 1);

	p->io = io_add(fd, 0, client_io, c);
	return c;
}

struct tls_facts *login_tls_facts_dup(const struct tls_facts *f)
{
	struct tls_facts *d = malloc(sizeof(*d) + f->cert_len);
	if (d == NULL)
		return NULL;
	*d = *f;
	if (f->cert_len > 0) {
		memcpy(d + 1, f->cert, f->cert_len);
		d->cert = d + 1;
	} else {
		d->cert = NULL;
	}
	return d;
}

struct login_client *login_client_create(struct login_listener *l, int fd)
{
	struct login_client *c = client_alloc(l->name, fd);
	if (c == NULL)
		return NULL;
	struct login_client_priv *p = c->priv;
	do {
		c->session = rand_u64();
	} while (c->session == 0);
	c->implicit_tls = l->tls;

	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
		sa.ss_family = AF_UNSPEC;
	login_sockaddr_describe(&sa, c->remote_ip, sizeof(c->remote_ip),
			  &c->remote_port);
	len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		sa.ss_family = AF_UNSPEC;
	login_sockaddr_describe(&sa, c->local_ip, sizeof(c->local_ip),
			  &c->local_port);
	c->log.session = c->session;
	str_cpy(c->log.remote, c->remote_ip, sizeof(c->log.remote));
	if (sa.ss_family == AF_INET || sa.ss_family == AF_INET6)
		login_socket_nodelay(fd, &c->log);

	client_reset_idle(c);
	clog_info(&c->log, "connect listener=%s local=%s:%u remote_port=%u",
		  c->listener, c->local_ip, c->local_port, c->remote_port);
	if (login_limit_preauth(c))
		return c;

	if (c->implicit_tls) {
		const char *error;
		c->tls = tls_conn_new(login_svc.tls, fd, &error);
		if (c->tls == NULL) {
			login_client_close(c, "TLS set-up failed");
			return c;
		}
		if (!login_service_request_cert(c->listener))
			tls_conn_no_client_cert(c->tls);
		p->handshaking = true;
		client_handshake(c);
	} else {
		client_start_proto(c);
	}
	if (!p->destroy_pending)
		login_client_update_io(c);
	return c;
}

void login_client_create_proxied(struct ipc_msg *m)
{
	struct proxy_client pc;
	const char *error;
	int fd = ipc_msg_take_fd(m);

	if (proxy_client_get(m, &pc, &error) < 0) {
		log_error("LOGIN_CLIENT from master: %s", error);
		close(fd);
		return;
	}
	if (login_svc.draining || login_svc.nclients >= login_svc.max_clients) {
		/* the proxy sees the close and drops the client */
		log_warn("proxied connection refused: %s",
			 login_svc.draining ? "retiring" : "login_max_clients");
		close(fd);
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	struct login_client *c = client_alloc(pc.listener, fd);
	if (c == NULL)
		return;
	struct login_client_priv *p = c->priv;
	c->session = pc.session;
	c->implicit_tls = !pc.plain;
	c->secured = !pc.plain;
	p->proxied_plain = pc.plain;
	p->proxy_pid = pc.proxy_pid;
	str_cpy(c->remote_ip, pc.remote_ip, sizeof(c->remote_ip));
	c->remote_port = pc.remote_port;
	str_cpy(c->local_ip, pc.local_ip, sizeof(c->local_ip));
	c->local_port = pc.local_port;
	c->log.session = c->session;
	str_cpy(c->log.remote, c->remote_ip, sizeof(c->log.remote));
	client_reset_idle(c);
	if (pc.plain) {
		clog_info(&c->log,
			  "connect listener=%s local=%s:%u remote_port=%u "
			  "via=tls-proxy",
			  c->listener, c->local_ip, c->local_port,
			  c->remote_port);
		if (login_limit_preauth(c))
			return;
		client_start_proto(c);
		if (!p->destroy_pending)
			login_client_update_io(c);
		return;
	}
	clog_info(&c->log,
		  "connect listener=%s local=%s:%u remote_port=%u "
		  "tls=\"%s\"%s via=tls-proxy",
		  c->listener, c->local_ip, c->local_port, c->remote_port,
		  pc.tls.describe, pc.tls.resumed ? " resumed=yes" : "");
	if (login_limit_preauth(c))
		return;
	p->tls = login_tls_facts_dup(&pc.tls);
	if (p->tls == NULL)
		login_client_close(c, "out of memory");
	else
		client_start_proto(c);
	if (!p->destroy_pending)
		login_client_update_io(c);
}

void login_client_destroy(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	if (!c->closing)
		clog_info(&c->log, "disconnect reason=%s",
			  p->handed_off ? "handed off" : "closed");
	login_auth_client_gone(c);
	if (p->proto_started && login_svc.proto->client_free != NULL)
		login_svc.proto->client_free(c);
	p->proto_started = false;

	io_remove(&p->io);
	timer_remove(&p->idle_timer);
	timer_remove(&p->post_timer);
	timer_remove(&p->fail_timer);
	if (c->tls != NULL) {
		/* a handed-off session lives on in the proxy: no bye here */
		if (!p->handed_off && c->secured && p->out.len == 0)
			tls_bye(c->tls);
		tls_conn_free(&c->tls);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (p->proxy_fd >= 0)
		close(p->proxy_fd);

	if (p->prev != NULL)
		p->prev->priv->next = p->next;
	else
		login_svc.clients = p->next;
	if (p->next != NULL)
		p->next->priv->prev = p->prev;
	login_svc.nclients--;
	metrics_gauge_add(METRICS_G_PREAUTH, -1);

	buf_deinit_secret(&c->in);
	buf_deinit(&p->out);
	trace_deinit(&c->trace);
	free(p->resume);
	free(p->tls);
	explicit_bzero(p, sizeof(*p));
	free(p);
	free(c);
	login_service_client_gone();
}

struct login_client *login_client_find(uint32_t id)
{
	for (struct login_client *c = login_svc.clients; c != NULL;
	     c = c->priv->next) {
		if (c->priv->id == id)
			return c;
	}
	return NULL;
}

void login_client_close(struct login_client *c, const char *reason)
{
	struct login_client_priv *p = c->priv;
	if (c->closing)
		return;
	c->closing = true;
	clog_info(&c->log, "disconnect reason=\"%s\"", reason);
	login_auth_client_gone(c);
	timer_remove(&p->fail_timer);
	timer_remove(&p->idle_timer);
	if (p->out.len == 0 || p->starttls_wait || p->handshaking ||
	    (c->tls != NULL && tls_is_broken(c->tls))) {
		client_schedule_destroy(c);
		return;
	}
	p->idle_timer =
		timer_add(LOGIN_CLOSE_TIMEOUT_MS, client_close_timeout, c);
	login_client_update_io(c);
}

static void client_start_tls(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	const char *error;
	p->starttls_wait = false;
	c->tls = tls_conn_new(login_svc.tls, c->fd, &error);
	if (c->tls == NULL) {
		clog_error(&c->log, "TLS set-up failed: %s", error);
		login_client_close(c, "TLS set-up failed");
		return;
	}
	if (!login_service_request_cert(c->listener))
		tls_conn_no_client_cert(c->tls);
	p->handshaking = true;
	client_handshake(c);
}

static void client_handshake(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	const char *error;
	switch (tls_handshake(c->tls, &error)) {
	case TLS_STEP_DONE:
		p->handshaking = false;
		c->secured = true;
		struct tls_facts facts;
		tls_facts_capture(c->tls, &facts);
		p->tls = login_tls_facts_dup(&facts);
		if (p->tls == NULL) {
			login_client_close(c, "out of memory");
			break;
		}
		clog_info(&c->log, "tls handshake done tls=\"%s\"%s",
			  tls_describe(c->tls),
			  tls_is_resumed(c->tls) ? " resumed=yes" : "");
		client_reset_idle(c);
		if (c->implicit_tls)
			client_start_proto(c);
		else if (login_svc.proto->starttls_done != NULL)
			login_svc.proto->starttls_done(c);
		break;
	case TLS_STEP_WANT_READ:
		p->hs_want_write = false;
		break;
	case TLS_STEP_WANT_WRITE:
		p->hs_want_write = true;
		break;
	case TLS_STEP_ERROR:
		p->handshaking = false;
		clog_info(&c->log, "tls handshake failed: %s", error);
		login_client_close(c, "TLS handshake failed");
		break;
	}
	if (!p->destroy_pending)
		login_client_update_io(c);
}

static void client_read(struct login_client *c)
{
	size_t room = c->in.max - c->in.len;
	if (room > LOGIN_READ_CHUNK)
		room = LOGIN_READ_CHUNK;
	void *dst = buf_reserve(&c->in, room);
	if (dst == NULL)
		return;
	const char *error = NULL;
	ssize_t n;
	if (c->tls != NULL) {
		n = tls_read(c->tls, dst, room, &error);
	} else {
		do {
			n = read(c->fd, dst, room);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			error = strerror(errno);
	}
	if (n == 0) {
		login_client_close(c, "client disconnected");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		char reason[160];
		snprintf(reason, sizeof(reason), "read failed: %s", error);
		login_client_close(c, reason);
		return;
	}
	if (c->tls == NULL) {
		c->priv->in_read += (uint64_t)n;
		/* what the proxy forwarded before the STARTTLS switch came in
		 * plaintext: dropped like the login process's own buffer */
		if (c->priv->discard > 0) {
			size_t k = c->priv->discard < (uint64_t)n
					   ? (size_t)c->priv->discard
					   : (size_t)n;
			memmove(dst, (unsigned char *)dst + k, (size_t)n - k);
			n -= (ssize_t)k;
			c->priv->discard -= k;
			if (n == 0)
				return;
		}
	}
	buf_commit(&c->in, (size_t)n);
	client_reset_idle(c);
	login_svc.proto->input(c);
	if (c->tls != NULL && !c->priv->destroy_pending && client_may_read(c) &&
	    tls_pending(c->tls))
		client_post(c);
}

static void client_flush(struct login_client *c)
{
	struct login_client_priv *p = c->priv;
	while (p->out.len > 0) {
		const char *error = NULL;
		ssize_t n;
		if (c->tls != NULL) {
			n = tls_write(c->tls, p->out.data, p->out.len, &error);
		} else {
			do {
				n = send(c->fd, p->out.data, p->out.len,
					 MSG_NOSIGNAL);
			} while (n < 0 && errno == EINTR);
			if (n < 0)
				error = strerror(errno);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* broken: nothing more is ever written */
			buf_clear(&p->out);
			if (!c->closing) {
				char reason[160];
				snprintf(reason, sizeof(reason),
					 "write failed: %s", error);
				login_client_close(c, reason);
			} else {
				client_schedule_destroy(c);
			}
			return;
		}
		if (c->tls == NULL)
			p->out_written += (uint64_t)n;
		buf_consume(&p->out, (size_t)n);
	}
	if (p->out.len > 0)
		return;
	if (c->closing)
		client_schedule_destroy(c);
	else if (p->starttls_wait && !p->proxied_plain)
		client_start_tls(c);
}

void login_client_send(struct login_client *c, const void *data, size_t n)
{
	struct login_client_priv *p = c->priv;
	if (c->closing || p->handed_off)
		return;
	if (buf_append(&p->out, data, n) < 0) {
		clog_warn(&c->log, "output buffer full (limit %zu bytes)",
			  p->out.max);
		buf_clear(&p->out);
		login_client_close(c, "client does not read its output");
		return;
	}
	trace_output(&c->trace, data, n);
	login_client_update_io(c);
}

void login_client_send_str(struct login_client *c, const char *s)
{
	login_client_send(c, s, strlen(s));
}

void login_client_printf(struct login_client *c, const char *fmt, ...)
{
	/* a line may echo client text (an IMAP tag) up to login_max_line */
	struct buf line;
	buf_init(&line, LOGIN_OUT_MAX);
	va_list ap;
	va_start(ap, fmt);
	int ret = buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (ret < 0) {
		buf_deinit(&line);
		buf_clear(&c->priv->out);
		login_client_close(c, "reply too long");
		return;
	}
	login_client_send(c, line.data, line.len);
	buf_deinit(&line);
}

int login_client_set_resume(struct login_client *c, const char *resume)
{
	if (strlen(resume) > LOGIN_RESUME_MAX)
		return -1;
	char *copy = strdup(resume);
	if (copy == NULL)
		return -1;
	free(c->priv->resume);
	c->priv->resume = copy;
	return 0;
}

void login_client_set_user_hint(struct login_client *c, const char *user)
{
	if (str_cpy(c->priv->user_hint, user, sizeof(c->priv->user_hint)) < 0)
		c->priv->user_hint[0] = '\0';
}

bool login_client_can_starttls(const struct login_client *c)
{
	return !c->implicit_tls && c->tls == NULL && c->priv->tls == NULL &&
	       login_svc.tls != NULL;
}

/* The proxy holds the client socket: it gets the queued go-ahead with the
 * count of bytes already written before it, so the reply reaches the
 * client after them and before the handshake, and no byte the client
 * sends once it has the go-ahead is ever read as plaintext. We read
 * nothing until the proxy reports the handshake (IPC_T_LOGIN_TLS). */
static void client_proxy_starttls(struct login_client *c)
{
	struct login_client_priv *p = c->priv;

	if (login_svc.master == NULL ||
	    p->out.len > IPC_MAX_PAYLOAD - LOGIN_HANDOFF_OVERHEAD) {
		buf_clear(&p->out);
		login_client_close(c, login_svc.master == NULL
					      ? "master unavailable"
					      : "too much queued output");
		return;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_LOGIN_STARTTLS, p->id);
	ipc_add_u32(&m, p->proxy_pid);
	ipc_add_u64(&m, c->session);
	ipc_add_u64(&m, p->out_written);
	ipc_add_data(&m, p->out.data != NULL ? p->out.data
					     : (unsigned char *)"",
		     p->out.len);
	buf_clear(&p->out);
	ipc_chan_send(login_svc.master, &m);
	login_client_update_io(c);
}

void login_client_proxy_tls(struct ipc_msg *m)
{
	struct login_client *c = login_client_find(m->peer_id);
	struct proxy_client pc;
	const char *error;
	uint64_t up_fence;

	if (ipc_get_u64(m, &up_fence) < 0 ||
	    proxy_client_get(m, &pc, &error) < 0) {
		log_error("LOGIN_TLS from master: malformed");
		return;
	}
	if (c == NULL || c->closing || !c->priv->proxied_plain ||
	    !c->priv->starttls_wait || c->session != pc.session ||
	    c->priv->proxy_pid != pc.proxy_pid) {
		log_warn("STARTTLS result for unknown connection id=%u",
			 m->peer_id);
		return;
	}
	struct login_client_priv *p = c->priv;
	if (up_fence < p->in_read) {
		login_client_close(c, "tls-proxy fence out of range");
		return;
	}
	p->tls = login_tls_facts_dup(&pc.tls);
	if (p->tls == NULL) {
		login_client_close(c, "out of memory");
		return;
	}
	p->discard = up_fence - p->in_read;
	p->starttls_wait = false;
	c->secured = true;
	clog_info(&c->log, "tls handshake done tls=\"%s\"%s via=tls-proxy",
		  p->tls->describe, pc.tls.resumed ? " resumed=yes" : "");
	client_reset_idle(c);
	if (login_svc.proto->starttls_done != NULL)
		login_svc.proto->starttls_done(c);
	if (!p->destroy_pending)
		login_client_update_io(c);
}

void login_client_starttls(struct login_client *c)
{
	if (!login_client_can_starttls(c))
		log_panic("login_client_starttls: TLS already active");
	/* Bytes pipelined behind STARTTLS arrived in plaintext; treating them
	 * as protected would let an attacker inject commands (CVE-2011-0411
	 * class). They are thrown away, and reading stops until the go-ahead
	 * has left, so the ClientHello is never read as plaintext. */
	buf_clear(&c->in);
	c->priv->starttls_wait = true;
	if (c->priv->proxied_plain)
		client_proxy_starttls(c);
	else if (c->priv->out.len == 0)
		client_start_tls(c);
	else
		login_client_update_io(c);
}

void login_client_log_cert(struct login_client *c, const char *what)
{
	struct x509_cert_info info;
	const char *error;
	const void *der;
	size_t len;

	if (c->priv->tls == NULL || c->priv->tls->cert == NULL)
		return;
	der = c->priv->tls->cert;
	len = c->priv->tls->cert_len;
	if (x509_parse_der(der, len, &info, &error) < 0) {
		clog_info(&c->log, "client certificate %s: %s", what, error);
		return;
	}
	/* the subject and issuer are client text: last, and escaped by the
	 * logger */
	clog_info(&c->log,
		  "client certificate %s key=%s type=%s subject=\"%s\" "
		  "issuer=\"%s\"",
		  what, info.fingerprint, info.key_type, info.subject,
		  info.issuer);
}
