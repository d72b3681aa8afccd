#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ioloop.h"
#include "log.h"
#include "str.h"
#include "strnum.h"

enum {
	IPC_F_U32 = 1,
	IPC_F_U64 = 2,
	IPC_F_STR = 3,
	IPC_F_DATA = 4,
};

void ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t peer_id)
{
	m->type = type;
	m->peer_id = peer_id;
	m->flags = 0;
	m->fd = -1;
	buf_init(&m->payload, IPC_MAX_PAYLOAD);
	m->rpos = 0;
	m->bad = false;
}

void ipc_msg_deinit(struct ipc_msg *m)
{
	/* payloads may carry passwords: always wipe */
	buf_deinit_secret(&m->payload);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

void ipc_msg_set_fd(struct ipc_msg *m, int fd)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = fd;
}

int ipc_msg_take_fd(struct ipc_msg *m)
{
	int fd = m->fd;
	m->fd = -1;
	return fd;
}

static void ipc_add_field(struct ipc_msg *m, uint8_t tag, const void *p,
			  size_t n, bool with_len)
{
	if (with_len) {
		if (n > UINT32_MAX) {
			m->payload.overflow = true;
			return;
		}
		uint32_t len = (uint32_t)n;
		(void)buf_append(&m->payload, &tag, 1);
		(void)buf_append(&m->payload, &len, sizeof(len));
	} else {
		(void)buf_append(&m->payload, &tag, 1);
	}
	(void)buf_append(&m->payload, p, n);
}

void ipc_add_u32(struct ipc_msg *m, uint32_t v)
{
	ipc_add_field(m, IPC_F_U32, &v, sizeof(v), false);
}

void ipc_add_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_add_field(m, IPC_F_U64, &v, sizeof(v), false);
}

void ipc_add_str(struct ipc_msg *m, const char *s)
{
	ipc_add_field(m, IPC_F_STR, s, strlen(s) + 1, true);
}

void ipc_add_data(struct ipc_msg *m, const void *p, size_t n)
{
	ipc_add_field(m, IPC_F_DATA, p, n, true);
}

static int ipc_get_bad(struct ipc_msg *m)
{
	m->bad = true;
	return -1;
}

/* Returns the field body (after tag and length) and its size. */
static const unsigned char *ipc_get_field(struct ipc_msg *m, uint8_t tag,
					  size_t fixed, size_t *len_r)
{
	const unsigned char *p = m->payload.data;
	size_t avail = m->payload.len - m->rpos;
	if (m->bad || avail < 1 || p[m->rpos] != tag) {
		m->bad = true;
		return NULL;
	}
	size_t pos = m->rpos + 1, len = fixed;
	avail--;
	if (fixed == 0) {
		uint32_t l32;
		if (avail < sizeof(l32)) {
			m->bad = true;
			return NULL;
		}
		memcpy(&l32, p + pos, sizeof(l32));
		pos += sizeof(l32);
		avail -= sizeof(l32);
		len = l32;
	}
	if (len > avail) {
		m->bad = true;
		return NULL;
	}
	m->rpos = pos + len;
	*len_r = len;
	return p + pos;
}

int ipc_get_u32(struct ipc_msg *m, uint32_t *r)
{
	size_t len;
	const unsigned char *p = ipc_get_field(m, IPC_F_U32, sizeof(*r), &len);
	if (p == NULL)
		return -1;
	memcpy(r, p, sizeof(*r));
	return 0;
}

int ipc_get_u64(struct ipc_msg *m, uint64_t *r)
{
	size_t len;
	const unsigned char *p = ipc_get_field(m, IPC_F_U64, sizeof(*r), &len);
	if (p == NULL)
		return -1;
	memcpy(r, p, sizeof(*r));
	return 0;
}

int ipc_get_str(struct ipc_msg *m, const char **r)
{
	size_t len;
	const unsigned char *p = ipc_get_field(m, IPC_F_STR, 0, &len);
	if (p == NULL)
		return -1;
	if (len == 0 || p[len - 1] != '\0' || memchr(p, '\0', len - 1) != NULL)
		return ipc_get_bad(m);
	*r = (const char *)p;
	return 0;
}

int ipc_get_data(struct ipc_msg *m, const void **p_r, size_t *len_r)
{
	const unsigned char *p = ipc_get_field(m, IPC_F_DATA, 0, len_r);
	if (p == NULL)
		return -1;
	*p_r = p;
	return 0;
}

int ipc_end(struct ipc_msg *m)
{
	if (m->bad || m->rpos != m->payload.len)
		return ipc_get_bad(m);
	return 0;
}

/* ---- wire ---- */

struct ipc_hdr {
	uint32_t type;
	uint32_t len;
	uint32_t peer_id;
	uint16_t flags;
	uint16_t version;
};

_Static_assert(sizeof(struct ipc_hdr) == IPC_HDR_SIZE, "ipc header layout");

/* 0 sent, 1 would block, -1 error. */
static int ipc_sendmsg(int fd, const struct ipc_msg *m, bool block)
{
	if (m->payload.overflow || m->payload.len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	struct ipc_hdr hdr = {m->type, (uint32_t)m->payload.len, m->peer_id,
			      m->flags, IPC_VERSION};
	struct iovec iov[2] = {
		{&hdr, sizeof(hdr)},
		{m->payload.data, m->payload.len},
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr mh = {.msg_iov = iov,
			    .msg_iovlen = m->payload.len > 0 ? 2 : 1};
	if (m->fd >= 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &m->fd, sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(fd, &mh,
				    MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
		if (r >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (!block && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		return -1;
	}
}

/* Receives one datagram into m. 1 got one, 0 would block, -1 error (errno;
 * ECONNRESET on EOF, EPROTO for a malformed frame). */
static int ipc_recvmsg(int fd, struct ipc_msg *m, bool block)
{
	static unsigned char frame[IPC_HDR_SIZE + IPC_MAX_PAYLOAD + 1];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	struct iovec iov = {frame, sizeof(frame)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cmsgbuf.buf,
			    .msg_controllen = sizeof(cmsgbuf.buf)};
	ssize_t r;
	do {
		r = recvmsg(fd, &mh,
			    MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;

	/* Collect any passed fds first so every path closes extras. */
	int fds[4], nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && nfds < 4; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	}
	bool bad = (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0 || nfds > 1;
	if (r == 0 && nfds == 0) {
		errno = ECONNRESET;
		return -1;
	}
	struct ipc_hdr hdr;
	if (!bad && (size_t)r >= sizeof(hdr)) {
		memcpy(&hdr, frame, sizeof(hdr));
		bad = hdr.version != IPC_VERSION ||
		      hdr.len != (size_t)r - sizeof(hdr) ||
		      hdr.len > IPC_MAX_PAYLOAD;
	} else {
		bad = true;
	}
	if (bad) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		errno = EPROTO;
		return -1;
	}
	ipc_msg_init(m, hdr.type, hdr.peer_id);
	m->flags = hdr.flags;
	m->fd = nfds == 1 ? fds[0] : -1;
	if (buf_append(&m->payload, frame + sizeof(hdr), hdr.len) < 0) {
		ipc_msg_deinit(m);
		errno = ENOMEM;
		return -1;
	}
	return 1;
}

int ipc_send_blocking(int fd, struct ipc_msg *m)
{
	int ret = ipc_sendmsg(fd, m, true);
	ipc_msg_deinit(m);
	return ret;
}

int ipc_recv_blocking(int fd, struct ipc_msg *m, int timeout_ms)
{
	unsigned long long deadline =
		ioloop_now_ms() +
		(unsigned long long)(timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		int wait = -1;
		if (timeout_ms >= 0) {
			unsigned long long now = ioloop_now_ms();
			if (now >= deadline) {
				errno = ETIMEDOUT;
				return -1;
			}
			wait = (int)(deadline - now);
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		r = ipc_recvmsg(fd, m, false);
		if (r != 0)
			return r > 0 ? 0 : -1;
	}
}

/* ---- channels ---- */

struct ipc_queued {
	struct ipc_msg msg;
	struct ipc_queued *next;
};

struct ipc_chan {
	int fd;
	char name[48];
	const struct ipc_rule *rules;
	size_t nrules;
	ipc_handler_t *handler;
	ipc_close_t *on_close;
	void *ctx;
	struct ucred peer;
	struct io *io;
	struct ipc_queued *qhead, *qtail;
	size_t qlen;
	bool closed;   /* on_close called */
	bool *freed_r; /* set while dispatching, to notice a free by the handler
			*/
	/* failures found while the caller is inside ipc_chan_send are reported
	 * from the loop, never re-entrantly */
	struct timer *fail_timer;
	char fail_reason[128];
};

static void ipc_chan_update_io(struct ipc_chan *c)
{
	if (c->io != NULL)
		io_set_events(c->io,
			      IO_READ | (c->qhead != NULL ? IO_WRITE : 0));
}

static void ipc_chan_fail(struct ipc_chan *c, const char *reason)
{
	if (c->closed)
		return;
	c->closed = true;
	io_remove(&c->io);
	c->on_close(c, reason, c->ctx);
}

static void ipc_chan_fail_timeout(void *ctx)
{
	struct ipc_chan *c = ctx;
	c->fail_timer = NULL;
	ipc_chan_fail(c, c->fail_reason);
}

static void ipc_chan_fail_later(struct ipc_chan *c, const char *reason)
{
	if (c->closed || c->fail_timer != NULL)
		return;
	if (str_cpy(c->fail_reason, reason, sizeof(c->fail_reason)) < 0)
		c->fail_reason[0] = '\0';
	io_remove(&c->io);
	c->fail_timer = timer_add(0, ipc_chan_fail_timeout, c);
}

static const struct ipc_rule *ipc_chan_rule(const struct ipc_chan *c,
					    uint32_t type)
{
	for (size_t i = 0; i < c->nrules; i++) {
		if (c->rules[i].type == type)
			return &c->rules[i];
	}
	return NULL;
}

static void ipc_chan_flush(struct ipc_chan *c)
{
	while (c->qhead != NULL && c->fail_timer == NULL) {
		struct ipc_queued *q = c->qhead;
		int r = ipc_sendmsg(c->fd, &q->msg, false);
		if (r == 1)
			break;
		if (r < 0) {
			char reason[128];
			snprintf(reason, sizeof(reason), "send failed: %s",
				 strerror(errno));
			ipc_chan_fail_later(c, reason);
			return;
		}
		c->qhead = q->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->qlen--;
		ipc_msg_deinit(&q->msg);
		free(q);
	}
	ipc_chan_update_io(c);
}

static void ipc_chan_read(struct ipc_chan *c)
{
	/* bounded batch so one chatty peer cannot starve the loop */
	for (int i = 0; i < 64 && !c->closed; i++) {
		struct ipc_msg m;
		int r = ipc_recvmsg(c->fd, &m, false);
		if (r == 0)
			return;
		if (r < 0) {
			ipc_chan_fail(c, errno == ECONNRESET ? "peer closed"
					 : errno == EPROTO   ? "malformed frame"
							     : strerror(errno));
			return;
		}
		const struct ipc_rule *rule = ipc_chan_rule(c, m.type);
		const char *violation = NULL;
		if (rule == NULL)
			violation = "unexpected message type";
		else if (m.payload.len > rule->max_len)
			violation = "message too long";
		else if (m.fd >= 0 && !rule->fd_allowed)
			violation = "unexpected fd";
		else if (m.fd < 0 && rule->fd_required)
			violation = "missing fd";
		if (violation != NULL) {
			char reason[128];
			snprintf(reason, sizeof(reason), "%s (type %u)",
				 violation, m.type);
			ipc_msg_deinit(&m);
			ipc_chan_fail(c, reason);
			return;
		}
		bool freed = false;
		c->freed_r = &freed;
		c->handler(c, &m, c->ctx);
		ipc_msg_deinit(&m);
		if (freed)
			return;
		c->freed_r = NULL;
	}
}

static void ipc_chan_event(void *ctx, unsigned events)
{
	struct ipc_chan *c = ctx;
	if (events & IO_WRITE) {
		ipc_chan_flush(c);
		if (c->closed || c->fail_timer != NULL)
			return;
	}
	if (events & (IO_READ | IO_ERROR))
		ipc_chan_read(c);
}

struct ipc_chan *ipc_chan_new(int fd, const char *name,
			      const struct ipc_rule *rules, size_t nrules,
			      ipc_handler_t *handler, ipc_close_t *on_close,
			      void *ctx)
{
	struct ipc_chan *c = calloc(1, sizeof(*c));
	if (c == NULL)
		log_fatal("out of memory");
	c->fd = fd;
	if (str_cpy(c->name, name, sizeof(c->name)) < 0)
		c->name[0] = '\0';
	c->rules = rules;
	c->nrules = nrules;
	c->handler = handler;
	c->on_close = on_close;
	c->ctx = ctx;
	socklen_t len = sizeof(c->peer);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
		c->peer.pid = 0;
		c->peer.uid = (uid_t)-1;
		c->peer.gid = (gid_t)-1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	c->io = io_add(fd, IO_READ, ipc_chan_event, c);
	return c;
}

void ipc_chan_free(struct ipc_chan **cp)
{
	struct ipc_chan *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	if (c->freed_r != NULL)
		*c->freed_r = true;
	io_remove(&c->io);
	timer_remove(&c->fail_timer);
	while (c->qhead != NULL) {
		struct ipc_queued *q = c->qhead;
		c->qhead = q->next;
		ipc_msg_deinit(&q->msg);
		free(q);
	}
	close(c->fd);
	free(c);
}

void ipc_chan_send(struct ipc_chan *c, struct ipc_msg *msg)
{
	if (c->closed) {
		ipc_msg_deinit(msg);
		return;
	}
	if (msg->payload.overflow)
		log_panic("ipc %s: message type %u exceeds %d bytes", c->name,
			  msg->type, IPC_MAX_PAYLOAD);
	if (c->qlen >= IPC_MAX_QUEUE || c->fail_timer != NULL) {
		ipc_msg_deinit(msg);
		ipc_chan_fail_later(c, "peer not reading (queue full)");
		return;
	}
	struct ipc_queued *q = calloc(1, sizeof(*q));
	if (q == NULL)
		log_fatal("out of memory");
	q->msg = *msg;
	/* the caller's copy no longer owns anything */
	msg->fd = -1;
	buf_init(&msg->payload, IPC_MAX_PAYLOAD);
	if (c->qtail != NULL)
		c->qtail->next = q;
	else
		c->qhead = q;
	c->qtail = q;
	c->qlen++;
	if (c->qlen == 1)
		ipc_chan_flush(c);
}

const struct ucred *ipc_chan_peer(const struct ipc_chan *c)
{
	return &c->peer;
}

int ipc_chan_fd(const struct ipc_chan *c)
{
	return c->fd;
}

void ipc_chan_set_ctx(struct ipc_chan *c, void *ctx)
{
	c->ctx = ctx;
}

/* ---- sockets ---- */

static int ipc_sockaddr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (str_cpy(sa->sun_path, path, sizeof(sa->sun_path)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int ipc_listen(const char *path, mode_t mode)
{
	struct sockaddr_un sa;
	if (ipc_sockaddr(path, &sa) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -1;
	(void)unlink(path);
	/* fchmod on an unbound socket does not reach the file; umask does */
	mode_t old = umask((mode_t)(~mode & 0777));
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, mode) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int ipc_connect(const char *path)
{
	struct sockaddr_un sa;
	if (ipc_sockaddr(path, &sa) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int ipc_accept(int listen_fd, struct ucred *cred_r)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	socklen_t len = sizeof(*cred_r);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred_r, &len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int ipc_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

/* Reads the supplementary groups of pid from /proc. The pid comes from
 * SO_PEERCRED; if the process has exited and the pid been reused, the worst
 * case is a refusal or the groups of a process of the same uid. */
static bool ipc_pid_in_group(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7;
		while (*p != '\0' && !found) {
			while (*p == ' ' || *p == '\t')
				p++;
			char *end = p;
			while (*end >= '0' && *end <= '9')
				end++;
			uint32_t g;
			if (end > p &&
			    strnum_u32(p, (size_t)(end - p), &g) == 0 &&
			    g == gid)
				found = true;
			if (end == p)
				break;
			p = end;
		}
	}
	fclose(f);
	return found;
}

bool ipc_peer_allowed(const struct ucred *peer, uid_t uid, gid_t gid)
{
	if (peer->uid == 0 || peer->uid == uid)
		return true;
	if (gid == (gid_t)-1)
		return false;
	return peer->gid == gid || ipc_pid_in_group(peer->pid, gid);
}
