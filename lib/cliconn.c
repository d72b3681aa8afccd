#include "cliconn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "str.h"

/* One trace line is cut here (a client line is shorter, a data line may
 * not be). */
#define CLICONN_TRACE_LINE 2048
/* Read granularity. */
#define CLICONN_READ_CHUNK 16384

struct cliconn {
	int fd;
	struct tls_client *tlscli;
	struct tls_conn *tls;
	unsigned timeout_ms;
	size_t max_line;
	struct buf in, out;
	/* bytes of in already returned as the last line */
	size_t consumed;
	enum cliconn_errclass err;
	char error[256];

	enum user_trace trace;
	char name[16];
	struct log_ctx log_ctx;
	bool have_log_ctx;
	struct buf tline;     /* client trace line being composed */
	size_t tdata_out;     /* message bytes written, not yet traced */
};

static void trace_emit(struct cliconn *c, char dir, const char *p, size_t n)
{
	log_msg(LOG_LEVEL_INFO, c->have_log_ctx ? &c->log_ctx : NULL,
		"%s: %c: %.*s", c->name, dir, (int)n, p);
}

static void trace_data_flush(struct cliconn *c)
{
	char msg[64];

	if (c->tdata_out == 0)
		return;
	snprintf(msg, sizeof(msg), "... (%zu bytes)", c->tdata_out);
	c->tdata_out = 0;
	trace_emit(c, 'C', msg, strlen(msg));
}

static void tline_flush(struct cliconn *c)
{
	if (c->tline.len > 0)
		trace_emit(c, 'C', (const char *)c->tline.data, c->tline.len);
	buf_clear(&c->tline);
}

/* Appends text to the client trace line, emitting at each LF (the CR
 * before it is dropped). */
static void tline_add(struct cliconn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (c->tline.len > 0 &&
			    c->tline.data[c->tline.len - 1] == '\r')
				c->tline.len--;
			tline_flush(c);
			continue;
		}
		if (c->tline.len + 1 >= CLICONN_TRACE_LINE)
			tline_flush(c);
		(void)buf_append(&c->tline, &p[i], 1);
	}
}

static void trace_out(struct cliconn *c, const void *p, size_t n,
		      enum cliconn_part part)
{
	if (c->trace == USER_TRACE_NONE)
		return;
	if (part == CLICONN_DATA && c->trace < USER_TRACE_TRACEDATA) {
		c->tdata_out += n;
		return;
	}
	trace_data_flush(c);
	if (part == CLICONN_SECRET && c->trace < USER_TRACE_TRACEAUTH) {
		tline_add(c, "***", 3);
		return;
	}
	tline_add(c, p, n);
}

static void trace_in(struct cliconn *c, const void *p, size_t n,
		     enum cliconn_part part)
{
	char msg[64];

	if (c->trace == USER_TRACE_NONE)
		return;
	trace_data_flush(c);
	if (part == CLICONN_CHALLENGE && c->trace < USER_TRACE_TRACEAUTH) {
		const char *s = p;
		size_t pre = n >= 4 && memcmp(s, "334 ", 4) == 0   ? 4
			     : n >= 2 && memcmp(s, "+ ", 2) == 0 ? 2
								 : 0;
		if (pre > 0) {
			snprintf(msg, sizeof(msg), "%.*s***", (int)pre, s);
			trace_emit(c, 'S', msg, strlen(msg));
			return;
		}
		part = CLICONN_PROTO;
	}
	if (part == CLICONN_DATA && c->trace < USER_TRACE_TRACEDATA) {
		snprintf(msg, sizeof(msg), "... (%zu bytes)", n);
		trace_emit(c, 'S', msg, strlen(msg));
	} else if (part == CLICONN_SECRET && c->trace < USER_TRACE_TRACEAUTH) {
		trace_emit(c, 'S', "***", 3);
	} else {
		/* data (a literal) line by line, as the client side does */
		const char *s = p, *end = s + n;
		do {
			const char *lf = memchr(s, '\n', (size_t)(end - s));
			const char *e = lf != NULL ? lf : end;
			size_t len = (size_t)(e - s);
			if (len > 0 && s[len - 1] == '\r')
				len--;
			trace_emit(c, 'S', s, len);
			s = lf != NULL ? lf + 1 : end;
		} while (s < end);
	}
}

int cliconn_fail(struct cliconn *c, enum cliconn_errclass class,
		 const char *fmt, ...)
{
	va_list ap;

	if (c->err != CLICONN_OK)
		return -1; /* the first failure is the cause */
	c->err = class;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	if (c->trace != USER_TRACE_NONE)
		log_msg(LOG_LEVEL_INFO, c->have_log_ctx ? &c->log_ctx : NULL,
			"%s: failed: %s", c->name, c->error);
	return -1;
}

enum cliconn_errclass cliconn_err(const struct cliconn *c)
{
	return c->err;
}

const char *cliconn_error(const struct cliconn *c)
{
	return c->error;
}

void cliconn_limit_timeout(struct cliconn *c, unsigned ms)
{
	if (ms < c->timeout_ms)
		c->timeout_ms = ms;
}

/* Waits until fd is ready for events: 1 ready, -1 timeout or error (the
 * connection is failed). */
static int wait_fd(struct cliconn *c, short events)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};

	for (;;) {
		int n = poll(&pfd, 1, (int)c->timeout_ms);
		if (n > 0)
			return 1;
		if (n == 0)
			return cliconn_fail(c, CLICONN_E_TIMEOUT,
					    "no answer from the server for "
					    "%u ms",
					    c->timeout_ms);
		if (errno != EINTR)
			return cliconn_fail(c, CLICONN_E_IO, "poll: %s",
					    strerror(errno));
	}
}

static int connect_one(const struct addrinfo *ai, unsigned timeout_ms,
		       int *errno_r)
{
	int fd = socket(ai->ai_family,
			ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0) {
		*errno_r = errno;
		return -1;
	}
	/* every command waits for its reply: Nagle would hold a small write
	 * behind the server's delayed ACK (40 ms a round on Linux) */
	int one = 1;
	if (ai->ai_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n, soerr = 0;
		socklen_t len = sizeof(soerr);

		do {
			n = poll(&pfd, 1, (int)timeout_ms);
		} while (n < 0 && errno == EINTR);
		if (n == 0) {
			*errno_r = ETIMEDOUT;
		} else if (n < 0 ||
			   getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) <
				   0) {
			*errno_r = errno;
		} else if (soerr == 0) {
			return fd;
		} else {
			*errno_r = soerr;
		}
	} else {
		*errno_r = errno;
	}
	close(fd);
	return -1;
}

static void set_name(struct cliconn *c, const struct cliconn_opts *o)
{
	if (str_cpy(c->name, o->name != NULL ? o->name : "client",
		    sizeof(c->name)) < 0)
		c->name[0] = '\0';
	if (o->log_ctx != NULL) {
		c->log_ctx = *o->log_ctx;
		c->have_log_ctx = true;
	}
}

struct cliconn *cliconn_connect(const char *host, const char *port,
				const struct cliconn_opts *o,
				enum cliconn_errclass *class_r, char *err,
				size_t errsz)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	unsigned timeout = o->timeout_ms != 0 ? o->timeout_ms
					      : CLICONN_DEFAULT_TIMEOUT_MS;
	/* a host that does not answer SYN is not worth minutes per address */
	unsigned conn_timeout = timeout < CLICONN_CONNECT_TIMEOUT_MS
					? timeout
					: CLICONN_CONNECT_TIMEOUT_MS;
	int fd = -1, last_errno = ECONNREFUSED;
	int ret = getaddrinfo(host, port, &hints, &res);

	if (ret != 0) {
		/* a resolver that could not answer now is no verdict on the
		 * name: that is worth another try later */
		*class_r = ret == EAI_AGAIN ? CLICONN_E_CONNECT
					    : CLICONN_E_RESOLVE;
		snprintf(err, errsz, "cannot resolve %s port %s: %s", host,
			 port, gai_strerror(ret));
		return NULL;
	}
	for (const struct addrinfo *ai = res; ai != NULL && fd < 0;
	     ai = ai->ai_next)
		fd = connect_one(ai, conn_timeout, &last_errno);
	freeaddrinfo(res);
	if (fd < 0) {
		*class_r = last_errno == ETIMEDOUT ? CLICONN_E_TIMEOUT
						  : CLICONN_E_CONNECT;
		snprintf(err, errsz, "cannot connect to %s port %s: %s", host,
			 port, strerror(last_errno));
		return NULL;
	}
	struct cliconn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		*class_r = CLICONN_E_IO;
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->timeout_ms = timeout > INT_MAX ? INT_MAX : timeout;
	c->max_line =
		o->max_line != 0 ? o->max_line : CLICONN_DEFAULT_MAX_LINE;
	/* room for one whole line plus a read chunk behind it */
	buf_init(&c->in, c->max_line + CLICONN_READ_CHUNK + 2);
	buf_init(&c->out, SIZE_MAX);
	buf_init(&c->tline, CLICONN_TRACE_LINE);
	c->trace = o->trace;
	set_name(c, o);
	*class_r = CLICONN_OK;
	return c;
}

void cliconn_close(struct cliconn **cp)
{
	struct cliconn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	trace_data_flush(c);
	tline_flush(c);
	if (c->tls != NULL) {
		if (c->err == CLICONN_OK)
			tls_bye(c->tls);
		tls_conn_free(&c->tls);
	}
	tls_client_free(&c->tlscli);
	close(c->fd);
	buf_deinit(&c->in);
	buf_deinit_secret(&c->out);
	buf_deinit_secret(&c->tline);
	free(c);
}

int cliconn_starttls(struct cliconn *c, const struct tls_client_opts *opts,
		     const char *server_name)
{
	const char *error = NULL;

	if (c->err != CLICONN_OK)
		return -1;
	if (c->in.len > c->consumed)
		return cliconn_fail(c, CLICONN_E_PROTOCOL,
				    "server sent data before the TLS "
				    "handshake (injection attempt?)");
	if (cliconn_flush(c) < 0)
		return -1;
	if (c->tls != NULL)
		return cliconn_fail(c, CLICONN_E_PROTOCOL, "TLS is up already");
	if (tls_client_new(opts, &c->tlscli, &error) < 0)
		return cliconn_fail(c, CLICONN_E_CONFIG, "TLS client setup: %s",
				    error);
	c->tls = tls_client_conn_new(c->tlscli, c->fd, server_name, &error);
	if (c->tls == NULL)
		return cliconn_fail(c, CLICONN_E_TLS, "TLS: %s", error);
	for (;;) {
		enum tls_step st = tls_handshake(c->tls, &error);
		if (st == TLS_STEP_DONE)
			break;
		if (st == TLS_STEP_ERROR) {
			return cliconn_fail(c,
					    tls_conn_verify_failed(c->tls)
						    ? CLICONN_E_TLS_VERIFY
						    : CLICONN_E_TLS,
					    "TLS handshake with %s: %s",
					    server_name, error);
		}
		if (wait_fd(c, st == TLS_STEP_WANT_WRITE ? POLLOUT : POLLIN) <
		    0)
			return -1;
	}
	if (c->trace != USER_TRACE_NONE)
		log_msg(LOG_LEVEL_INFO, c->have_log_ctx ? &c->log_ctx : NULL,
			"%s: TLS: %s", c->name, tls_describe(c->tls));
	return 0;
}

bool cliconn_is_tls(const struct cliconn *c)
{
	return c->tls != NULL;
}

const char *cliconn_tls_describe(struct cliconn *c)
{
	return c->tls != NULL ? tls_describe(c->tls) : "";
}

int cliconn_channel_binding(struct cliconn *c, const char **type_r,
			    unsigned char buf[TLS_CB_MAX], size_t *len_r)
{
	if (c->tls == NULL)
		return -1;
	return tls_channel_binding(c->tls, type_r, buf, len_r);
}

int cliconn_write(struct cliconn *c, const void *p, size_t n,
		  enum cliconn_part part)
{
	if (c->err != CLICONN_OK)
		return -1;
	trace_out(c, p, n, part);
	if (buf_append(&c->out, p, n) < 0)
		return cliconn_fail(c, CLICONN_E_IO, "out of memory");
	return 0;
}

size_t cliconn_pending_output(const struct cliconn *c)
{
	return c->out.len;
}

static ssize_t raw_write(struct cliconn *c, const void *p, size_t n,
			 short *wait_r)
{
	const char *error = NULL;
	ssize_t w;

	if (c->tls == NULL) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			*wait_r = POLLOUT;
			return 0;
		}
		if (w < 0)
			return cliconn_fail(c, CLICONN_E_IO, "write: %s",
					    strerror(errno));
		return w;
	}
	w = tls_write(c->tls, p, n, &error);
	if (w < 0 && errno == EAGAIN) {
		*wait_r = tls_want_write(c->tls) ? POLLOUT : POLLIN;
		return 0;
	}
	if (w < 0)
		return cliconn_fail(c, CLICONN_E_TLS, "TLS write: %s", error);
	return w;
}

int cliconn_flush(struct cliconn *c)
{
	if (c->err != CLICONN_OK)
		return -1;
	while (c->out.len > 0) {
		short ev = 0;
		ssize_t w = raw_write(c, c->out.data, c->out.len, &ev);
		if (w < 0)
			return -1;
		if (w > 0)
			buf_consume(&c->out, (size_t)w);
		else if (wait_fd(c, ev) < 0)
			return -1;
	}
	return 0;
}

/* Reads what is available (waiting for it) into in: 0, or -1 (EOF too). */
static int fill(struct cliconn *c)
{
	const char *error = NULL;

	if (c->consumed > 0) {
		buf_consume(&c->in, c->consumed);
		c->consumed = 0;
	}
	for (;;) {
		unsigned char *dst = buf_reserve(&c->in, CLICONN_READ_CHUNK);
		ssize_t r;
		short ev = POLLIN;

		if (dst == NULL)
			return cliconn_fail(c, CLICONN_E_PROTOCOL,
					    "server line too long");
		if (c->tls == NULL) {
			r = recv(c->fd, dst, CLICONN_READ_CHUNK, 0);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return cliconn_fail(c, CLICONN_E_IO,
						    "read: %s",
						    strerror(errno));
		} else {
			r = tls_read(c->tls, dst, CLICONN_READ_CHUNK, &error);
			if (r < 0 && errno == EAGAIN)
				ev = tls_want_write(c->tls) ? POLLOUT : POLLIN;
			else if (r < 0)
				return cliconn_fail(c, CLICONN_E_TLS,
						    "TLS read: %s", error);
		}
		if (r == 0)
			return cliconn_fail(c, CLICONN_E_IO,
					    "connection closed by the server");
		if (r > 0) {
			buf_commit(&c->in, (size_t)r);
			return 0;
		}
		if (wait_fd(c, ev) < 0)
			return -1;
	}
}

int cliconn_read_line(struct cliconn *c, enum cliconn_part part,
		      const char **line_r, size_t *len_r)
{
	size_t scanned = 0;

	if (cliconn_flush(c) < 0)
		return -1;
	trace_data_flush(c);
	tline_flush(c);
	if (c->consumed > 0) {
		buf_consume(&c->in, c->consumed);
		c->consumed = 0;
	}
	for (;;) {
		const unsigned char *lf =
			c->in.len > scanned ? memchr(c->in.data + scanned, '\n',
						     c->in.len - scanned)
					    : NULL;
		if (lf != NULL) {
			size_t n = (size_t)(lf - c->in.data);
			c->consumed = n + 1;
			if (n > 0 && c->in.data[n - 1] == '\r')
				n--;
			if (n > c->max_line)
				break;
			*line_r = (const char *)c->in.data;
			*len_r = n;
			trace_in(c, c->in.data, n, part);
			return 1;
		}
		scanned = c->in.len;
		if (scanned > c->max_line + 1)
			break;
		if (fill(c) < 0)
			return -1;
	}
	return cliconn_fail(c, CLICONN_E_PROTOCOL,
			    "server line longer than %zu bytes", c->max_line);
}

int cliconn_read_exact(struct cliconn *c, size_t n, struct buf *out,
		       enum cliconn_part part)
{
	size_t start = out->len, want = n;

	if (cliconn_flush(c) < 0)
		return -1;
	if (c->consumed > 0) {
		buf_consume(&c->in, c->consumed);
		c->consumed = 0;
	}
	while (want > 0) {
		if (c->in.len == 0 && fill(c) < 0)
			return -1;
		size_t take = c->in.len < want ? c->in.len : want;
		if (buf_append(out, c->in.data, take) < 0)
			return cliconn_fail(c, CLICONN_E_PROTOCOL,
					    "literal larger than allowed");
		buf_consume(&c->in, take);
		want -= take;
	}
	trace_in(c, out->data + start, n, part);
	return 0;
}

bool cliconn_has_input(struct cliconn *c)
{
	return c->in.len > c->consumed ||
	       (c->tls != NULL && tls_pending(c->tls));
}

int cliconn_sasl_choose(struct cliconn *c, const char *prefs,
			const char *offered, bool have_password,
			bool have_cert, enum saslc_mech *m_r)
{
	unsigned char cb[TLS_CB_MAX];
	const char *cbt;
	size_t cbl = 0;
	bool have_cb = cliconn_channel_binding(c, &cbt, cb, &cbl) == 0;
	explicit_bzero(cb, sizeof(cb));
	if (!have_password)
		prefs = "EXTERNAL";
	else if (prefs == NULL)
		prefs = SASLC_DEFAULT_MECHS;
	return saslc_choose(prefs, offered, cliconn_is_tls(c), have_cb,
			    have_password, have_cert, m_r);
}

struct saslc *cliconn_saslc_new(struct cliconn *c, enum saslc_mech m,
				const char *user, const char *password,
				bool server_has_plus, const char **error_r)
{
	struct saslc_params p = {.user = user,
				 .password = password,
				 .server_has_plus = server_has_plus};
	unsigned char cb[TLS_CB_MAX];
	if (cliconn_channel_binding(c, &p.cb_type, cb, &p.cb_len) == 0)
		p.cb_data = cb;
	else
		p.cb_type = NULL;
	struct saslc *sc = saslc_new(m, &p, error_r);
	explicit_bzero(cb, sizeof(cb));
	return sc;
}
