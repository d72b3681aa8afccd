/* IPC framing over real SEQPACKET socketpairs: typed fields, fd passing,
 * malformed frames crafted by hand, fd hygiene, and channels enforcing their
 * rule table in the ioloop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ioloop.h"
#include "ipc.h"
#include "tap.h"

/* The wire header as ipc.h documents it, built here independently. */
struct raw_hdr {
	uint32_t type;
	uint32_t len;
	uint32_t peer_id;
	uint16_t flags;
	uint16_t version;
};

enum { TAG_U32 = 1, TAG_U64 = 2, TAG_STR = 3, TAG_DATA = 4 };

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Pipes in these tests are non-blocking: a leaked write end must show up as
 * a failed check (EAGAIN instead of EOF), not as a hung test. */

/* The lowest free fd number: where the next received fd lands. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd;
}

static int pair(int fds[2])
{
	int r = ipc_socketpair(fds);
	CHECK(r == 0);
	return r;
}

/* Sends one datagram: hdr (if non-NULL) then payload, with nfds fds. */
static int send_raw(int sock, const struct raw_hdr *hdr, const void *payload,
                    size_t len, const int *fds, size_t nfds)
{
	unsigned char frame[IPC_HDR_SIZE + IPC_MAX_PAYLOAD + 256];
	size_t n = 0;
	if (hdr != NULL) {
		memcpy(frame, hdr, sizeof(*hdr));
		n = sizeof(*hdr);
	}
	if (len > sizeof(frame) - n)
		return -1;
	if (len > 0)
		memcpy(frame + n, payload, len);
	n += len;
	struct iovec iov = {frame, n};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cbuf;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* A well-formed header for a payload of len bytes. */
static struct raw_hdr hdr_for(uint32_t type, size_t len)
{
	return (struct raw_hdr){type, (uint32_t)len, 7, 0, IPC_VERSION};
}

static int send_payload(int sock, uint32_t type, const void *payload,
                        size_t len)
{
	struct raw_hdr h = hdr_for(type, len);
	return send_raw(sock, &h, payload, len, NULL, 0);
}

/* Appends a string/data field with an arbitrary declared length. */
static size_t put_field(unsigned char *p, uint8_t tag, uint32_t declared,
                        const void *body, size_t n)
{
	p[0] = tag;
	memcpy(p + 1, &declared, 4);
	memcpy(p + 5, body, n);
	return 5 + n;
}

/* ---- framing ---- */

static void test_roundtrip(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	static const unsigned char bin[] = {0, 1, 0, 0xff, 0};
	char longstr[1001];
	memset(longstr, 'L', 1000);
	longstr[1000] = '\0';

	struct ipc_msg m;
	ipc_msg_init(&m, 77, 0xdeadbeef);
	m.flags = 0x8001;
	ipc_add_u32(&m, 0);
	ipc_add_u32(&m, UINT32_MAX);
	ipc_add_u64(&m, UINT64_MAX);
	ipc_add_u64(&m, 0x0102030405060708ULL);
	ipc_add_str(&m, "");
	ipc_add_str(&m, "hello");
	ipc_add_data(&m, bin, sizeof(bin));
	ipc_add_data(&m, NULL, 0);
	ipc_add_str(&m, longstr);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(m.fd == -1);

	struct ipc_msg r;
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(r.type == 77 && r.peer_id == 0xdeadbeef && r.flags == 0x8001);
	CHECK(r.fd == -1 && !r.bad);
	uint32_t u32 = 1;
	uint64_t u64 = 1;
	const char *str = NULL;
	const void *data = NULL;
	size_t len = 99;
	CHECK(ipc_get_u32(&r, &u32) == 0 && u32 == 0);
	CHECK(ipc_get_u32(&r, &u32) == 0 && u32 == UINT32_MAX);
	CHECK(ipc_get_u64(&r, &u64) == 0 && u64 == UINT64_MAX);
	CHECK(ipc_get_u64(&r, &u64) == 0 && u64 == 0x0102030405060708ULL);
	CHECK(ipc_get_str(&r, &str) == 0 && str != NULL &&
	      strcmp(str, "") == 0);
	CHECK(ipc_get_str(&r, &str) == 0 && str != NULL &&
	      strcmp(str, "hello") == 0);
	CHECK(ipc_get_data(&r, &data, &len) == 0 && len == sizeof(bin) &&
	      memcmp(data, bin, sizeof(bin)) == 0);
	CHECK(ipc_get_data(&r, &data, &len) == 0 && len == 0);
	CHECK(ipc_get_str(&r, &str) == 0 && str != NULL &&
	      strcmp(str, longstr) == 0);
	CHECK(ipc_end(&r) == 0 && !r.bad);
	/* nothing more to read */
	CHECK(ipc_get_u32(&r, &u32) < 0 && r.bad);
	ipc_msg_deinit(&r);

	/* an empty message is a message */
	ipc_msg_init(&m, 5, 0);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(r.type == 5 && r.payload.len == 0 && ipc_end(&r) == 0);
	ipc_msg_deinit(&r);

	/* and the other direction works too */
	ipc_msg_init(&m, 6, 1);
	ipc_add_str(&m, "back");
	CHECK(ipc_send_blocking(s[1], &m) == 0);
	CHECK(ipc_recv_blocking(s[0], &r, 2000) == 0);
	CHECK(r.type == 6 && ipc_get_str(&r, &str) == 0 &&
	      strcmp(str, "back") == 0 && ipc_end(&r) == 0);
	ipc_msg_deinit(&r);
	close(s[0]);
	close(s[1]);
}

static void test_fd_passing(void)
{
	int s[2], p[2];
	if (pair(s) < 0)
		return;
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	struct ipc_msg m;
	ipc_msg_init(&m, 10, 0);
	ipc_add_str(&m, "take this");
	ipc_msg_set_fd(&m, p[1]);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	/* the message owned the fd and sending consumed it */
	CHECK(!fd_is_open(p[1]));
	CHECK(m.fd == -1);

	struct ipc_msg r;
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(r.fd >= 0);
	CHECK((fcntl(r.fd, F_GETFD) & FD_CLOEXEC) != 0);
	const char *str;
	CHECK(ipc_get_str(&r, &str) == 0 && strcmp(str, "take this") == 0);
	CHECK(ipc_end(&r) == 0);
	int fd = ipc_msg_take_fd(&r);
	CHECK(fd >= 0 && r.fd == -1);
	CHECK(ipc_msg_take_fd(&r) == -1);
	ipc_msg_deinit(&r);
	/* deinit after take leaves the fd alone */
	CHECK(fd_is_open(fd));
	CHECK(write(fd, "ping", 4) == 4);
	close(fd);
	char got[8] = {0};
	CHECK(read(p[0], got, sizeof(got)) == 4 && memcmp(got, "ping", 4) == 0);
	/* every write end is closed: EOF */
	CHECK(read(p[0], got, sizeof(got)) == 0);
	close(p[0]);

	/* an fd left in a received message is closed by deinit */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	ipc_msg_init(&m, 11, 0);
	ipc_msg_set_fd(&m, p[1]);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	fd = r.fd;
	CHECK(fd >= 0);
	ipc_msg_deinit(&r);
	CHECK(fd < 0 || !fd_is_open(fd));
	CHECK(read(p[0], got, sizeof(got)) == 0);
	close(p[0]);

	/* set_fd twice closes the first */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	ipc_msg_init(&m, 12, 0);
	ipc_msg_set_fd(&m, p[0]);
	ipc_msg_set_fd(&m, p[1]);
	CHECK(!fd_is_open(p[0]));
	ipc_msg_deinit(&m);
	CHECK(!fd_is_open(p[1]));
	close(s[0]);
	close(s[1]);
}

static void test_reader_discipline(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	struct ipc_msg m, r;
	uint32_t u32;
	uint64_t u64;
	const char *str;
	const void *data;
	size_t len;

	/* leftovers: ipc_end refuses a message not read to the end */
	ipc_msg_init(&m, 1, 0);
	ipc_add_u32(&m, 1);
	ipc_add_u32(&m, 2);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_u32(&r, &u32) == 0 && u32 == 1);
	CHECK(ipc_end(&r) < 0);
	CHECK(r.bad);
	ipc_msg_deinit(&r);

	/* a wrong tag fails, sets bad, and every later get fails too */
	ipc_msg_init(&m, 1, 0);
	ipc_add_u32(&m, 1);
	ipc_add_str(&m, "s");
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_str(&r, &str) < 0 && r.bad);
	CHECK(ipc_get_u32(&r, &u32) < 0);
	CHECK(ipc_end(&r) < 0);
	ipc_msg_deinit(&r);

	/* each type mismatch on its own */
	/* sent as u64, u32, data, str; read as u32, u64, str, data */
	for (int i = 0; i < 4; i++) {
		ipc_msg_init(&m, 1, 0);
		switch (i) {
		case 0:
			ipc_add_u64(&m, 1);
			break;
		case 1:
			ipc_add_u32(&m, 1);
			break;
		case 2:
			ipc_add_data(&m, "abc", 4);
			break;
		case 3:
			ipc_add_str(&m, "abc");
			break;
		}
		CHECK(ipc_send_blocking(s[0], &m) == 0);
		CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
		int got = -1;
		switch (i) {
		case 0:
			got = ipc_get_u32(&r, &u32);
			break;
		case 1:
			got = ipc_get_u64(&r, &u64);
			break;
		case 2:
			got = ipc_get_str(&r, &str);
			break;
		case 3:
			got = ipc_get_data(&r, &data, &len);
			break;
		}
		CHECK(got < 0 && r.bad);
		CHECK(ipc_end(&r) < 0);
		ipc_msg_deinit(&r);
	}

	/* reading past the end */
	ipc_msg_init(&m, 1, 0);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_u64(&r, &u64) < 0 && r.bad);
	CHECK(ipc_end(&r) < 0);
	ipc_msg_deinit(&r);
	close(s[0]);
	close(s[1]);
}

/* Receives one frame that must pass framing, then tries get_str/get_data. */
static void check_bad_field(int s[2], const void *payload, size_t len,
                            bool is_str)
{
	CHECK(send_payload(s[0], 3, payload, len) == 0);
	struct ipc_msg r;
	if (ipc_recv_blocking(s[1], &r, 2000) < 0) {
		CHECK(!"frame with a bad field must still be received");
		return;
	}
	const char *str = NULL;
	const void *data = NULL;
	size_t dlen = 0;
	int got =
	        is_str ? ipc_get_str(&r, &str) : ipc_get_data(&r, &data, &dlen);
	CHECK(got < 0);
	CHECK(r.bad);
	CHECK(ipc_end(&r) < 0);
	ipc_msg_deinit(&r);
}

static void test_raw_fields(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	unsigned char p[256];
	size_t n;

	/* a string with an embedded NUL */
	n = put_field(p, TAG_STR, 4, "a\0b", 4);
	check_bad_field(s, p, n, true);
	/* a string without its trailing NUL */
	n = put_field(p, TAG_STR, 3, "abc", 3);
	check_bad_field(s, p, n, true);
	/* a zero-length string field (not even the NUL) */
	n = put_field(p, TAG_STR, 0, "", 0);
	check_bad_field(s, p, n, true);
	/* declared lengths beyond the payload */
	n = put_field(p, TAG_STR, 10, "abc", 4);
	check_bad_field(s, p, n, true);
	n = put_field(p, TAG_DATA, 5, "abcd", 4);
	check_bad_field(s, p, n, false);
	n = put_field(p, TAG_DATA, UINT32_MAX, "abcd", 4);
	check_bad_field(s, p, n, false);
	/* a length field cut short */
	check_bad_field(s, "\x04\x01\x00", 3, false);

	/* fixed-size fields cut short, unknown tags */
	struct ipc_msg r;
	uint32_t u32;
	uint64_t u64;
	CHECK(send_payload(s[0], 3, "\x01\x01\x02\x03", 4) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_u32(&r, &u32) < 0 && r.bad);
	ipc_msg_deinit(&r);
	CHECK(send_payload(s[0], 3, "\x02\x01\x02\x03\x04\x05\x06\x07", 8) ==
	      0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_u64(&r, &u64) < 0 && r.bad);
	ipc_msg_deinit(&r);
	CHECK(send_payload(s[0], 3, "\x09\x01\x02\x03\x04", 5) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(ipc_get_u32(&r, &u32) < 0 && r.bad);
	CHECK(ipc_end(&r) < 0);
	ipc_msg_deinit(&r);

	/* a hand-made frame in the documented layout is understood */
	n = 0;
	p[n++] = TAG_U32;
	u32 = 0x11223344;
	memcpy(p + n, &u32, 4);
	n += 4;
	n += put_field(p + n, TAG_STR, 3, "ok", 3);
	CHECK(send_payload(s[0], 3, p, n) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	const char *str = NULL;
	CHECK(ipc_get_u32(&r, &u32) == 0 && u32 == 0x11223344);
	CHECK(ipc_get_str(&r, &str) == 0 && str != NULL &&
	      strcmp(str, "ok") == 0);
	CHECK(ipc_end(&r) == 0);
	ipc_msg_deinit(&r);
	close(s[0]);
	close(s[1]);
}

/* The frame must be refused with EPROTO, and the next good one still read. */
static void expect_eproto(int s[2], const char *what)
{
	struct ipc_msg r;
	errno = 0;
	int ret = ipc_recv_blocking(s[1], &r, 2000);
	CHECK(ret < 0 && errno == EPROTO);
	if (ret == 0) {
		fprintf(stderr, "# accepted: %s\n", what);
		ipc_msg_deinit(&r);
	}
	struct ipc_msg m;
	ipc_msg_init(&m, 99, 0);
	ipc_add_u32(&m, 4242);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	uint32_t v = 0;
	CHECK(r.type == 99 && ipc_get_u32(&r, &v) == 0 && v == 4242 &&
	      ipc_end(&r) == 0);
	ipc_msg_deinit(&r);
}

static void test_bad_headers(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	static unsigned char big[IPC_MAX_PAYLOAD + 100];
	const char pl[] = "\x01\x01\x02\x03\x04";
	struct raw_hdr h;

	h = hdr_for(1, 5);
	h.version = IPC_VERSION + 1;
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "version + 1");
	h.version = 0;
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "version 0");

	h = hdr_for(1, 6);
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "len one too large");
	h = hdr_for(1, 4);
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "len one too small");
	h = hdr_for(1, 0);
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "len 0 with payload");
	h = hdr_for(1, UINT32_MAX);
	CHECK(send_raw(s[0], &h, pl, 5, NULL, 0) == 0);
	expect_eproto(s, "len 2^32-1");

	/* shorter than a header */
	CHECK(send_raw(s[0], NULL, "\x01\x00\x00\x00\x00\x00\x00\x00", 8, NULL,
	               0) == 0);
	expect_eproto(s, "8-byte frame");
	CHECK(send_raw(s[0], NULL, "x", 1, NULL, 0) == 0);
	expect_eproto(s, "1-byte frame");

	/* a payload one past the limit, with a consistent header */
	h = hdr_for(1, IPC_MAX_PAYLOAD + 1);
	CHECK(send_raw(s[0], &h, big, IPC_MAX_PAYLOAD + 1, NULL, 0) == 0);
	expect_eproto(s, "payload max + 1");
	h = hdr_for(1, IPC_MAX_PAYLOAD + 100);
	CHECK(send_raw(s[0], &h, big, IPC_MAX_PAYLOAD + 100, NULL, 0) == 0);
	expect_eproto(s, "payload max + 100 (truncated datagram)");

	/* exactly at the limit is fine */
	big[0] = TAG_DATA;
	uint32_t dl = IPC_MAX_PAYLOAD - 5;
	memcpy(big + 1, &dl, 4);
	h = hdr_for(1, IPC_MAX_PAYLOAD);
	CHECK(send_raw(s[0], &h, big, IPC_MAX_PAYLOAD, NULL, 0) == 0);
	struct ipc_msg r;
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	const void *data;
	size_t len = 0;
	CHECK(ipc_get_data(&r, &data, &len) == 0 && len == IPC_MAX_PAYLOAD - 5);
	CHECK(ipc_end(&r) == 0);
	ipc_msg_deinit(&r);
	close(s[0]);
	close(s[1]);
}

/* Sends a frame with nfds fds (copies of a pipe's ends) and checks that the
 * receiver refuses it and keeps none of them. */
static void check_fds_refused(int s[2], const struct raw_hdr *h, const void *pl,
                              size_t len, size_t nfds, const char *what)
{
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	int fds[8];
	for (size_t i = 0; i < nfds; i++)
		fds[i] = p[i % 2];
	int before = count_fds();
	int first_free = lowest_free_fd();
	CHECK(send_raw(s[0], h, pl, len, fds, nfds) == 0);
	struct ipc_msg r;
	errno = 0;
	int ret = ipc_recv_blocking(s[1], &r, 2000);
	CHECK(ret < 0 && errno == EPROTO);
	if (ret == 0) {
		fprintf(stderr, "# accepted: %s\n", what);
		ipc_msg_deinit(&r);
	}
	int after = count_fds();
	CHECK(before >= 0 && before == after);
	if (before != after)
		fprintf(stderr, "# %s: %d fds before, %d after\n", what, before,
		        after);
	/* the numbers the kernel handed out are free again */
	CHECK(first_free >= 0 && !fd_is_open(first_free));
	CHECK(!fd_is_open(first_free + 1));
	/* and no copy of the write end survives anywhere: EOF on the pipe */
	close(p[1]);
	char c;
	CHECK(read(p[0], &c, 1) == 0);
	close(p[0]);
}

static void test_fd_hygiene(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	const char pl[] = "\x01\x01\x02\x03\x04";
	struct raw_hdr h = hdr_for(1, 5);
	check_fds_refused(s, &h, pl, 5, 2, "two fds");
	check_fds_refused(s, &h, pl, 5, 3, "three fds");
	/* more than the receiver's control buffer holds (MSG_CTRUNC) */
	check_fds_refused(s, &h, pl, 5, 8, "eight fds");
	/* one fd, but a malformed header */
	struct raw_hdr bad = h;
	bad.version = IPC_VERSION + 1;
	check_fds_refused(s, &bad, pl, 5, 1, "one fd, bad version");
	bad = h;
	bad.len = 4;
	check_fds_refused(s, &bad, pl, 5, 1, "one fd, bad len");
	/* one fd on a frame too short for a header */
	check_fds_refused(s, NULL, pl, 5, 1, "one fd, short frame");

	/* the channel is still in sync afterwards */
	struct ipc_msg m, r;
	ipc_msg_init(&m, 3, 0);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0 && r.type == 3 &&
	      r.fd == -1);
	ipc_msg_deinit(&r);
	close(s[0]);
	close(s[1]);
}

static void test_send_limits(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	static unsigned char big[IPC_MAX_PAYLOAD + 1];
	memset(big, 'b', sizeof(big));
	struct ipc_msg m, r;

	/* largest data field that fits: payload exactly IPC_MAX_PAYLOAD */
	ipc_msg_init(&m, 1, 0);
	ipc_add_data(&m, big, IPC_MAX_PAYLOAD - 5);
	CHECK(!m.payload.overflow && m.payload.len == IPC_MAX_PAYLOAD);
	CHECK(ipc_send_blocking(s[0], &m) == 0);
	CHECK(ipc_recv_blocking(s[1], &r, 2000) == 0);
	CHECK(r.payload.len == IPC_MAX_PAYLOAD);
	ipc_msg_deinit(&r);

	/* one byte more is refused on the sending side, fd included */
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	ipc_msg_init(&m, 1, 0);
	ipc_msg_set_fd(&m, p[1]);
	ipc_add_data(&m, big, IPC_MAX_PAYLOAD - 4);
	CHECK(m.payload.overflow);
	errno = 0;
	CHECK(ipc_send_blocking(s[0], &m) < 0 && errno == EMSGSIZE);
	CHECK(!fd_is_open(p[1]));
	close(p[0]);
	/* ... even when the overflow came from an earlier field */
	ipc_msg_init(&m, 1, 0);
	ipc_add_data(&m, big, IPC_MAX_PAYLOAD);
	ipc_add_u32(&m, 1);
	CHECK(m.payload.overflow);
	CHECK(ipc_send_blocking(s[0], &m) < 0 && errno == EMSGSIZE);
	errno = 0;
	ipc_msg_init(&m, 1, 0);
	char *str = malloc(IPC_MAX_PAYLOAD + 1);
	if (str != NULL) {
		memset(str, 's', IPC_MAX_PAYLOAD);
		str[IPC_MAX_PAYLOAD] = '\0';
		ipc_add_str(&m, str);
		free(str);
	}
	CHECK(ipc_send_blocking(s[0], &m) < 0 && errno == EMSGSIZE);
	/* nothing reached the peer */
	errno = 0;
	CHECK(ipc_recv_blocking(s[1], &r, 50) < 0 && errno == ETIMEDOUT);

	/* EOF is ECONNRESET */
	close(s[0]);
	errno = 0;
	CHECK(ipc_recv_blocking(s[1], &r, 2000) < 0 && errno == ECONNRESET);
	close(s[1]);
}

static void test_sockets(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/postern-test-ipc-%ld.sock",
	         (long)getpid());
	int l = ipc_listen(path, 0660);
	CHECK(l >= 0);
	if (l < 0)
		return;
	struct stat st;
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 0777) == 0660);
	CHECK((fcntl(l, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK((fcntl(l, F_GETFL) & O_NONBLOCK) != 0);
	int c = ipc_connect(path);
	CHECK(c >= 0);
	struct ucred cred = {0, (uid_t)-1, (gid_t)-1};
	int a = ipc_accept(l, &cred);
	CHECK(a >= 0);
	CHECK(cred.pid == getpid() && cred.uid == getuid() &&
	      cred.gid == getgid());
	CHECK(a < 0 || (fcntl(a, F_GETFD) & FD_CLOEXEC) != 0);
	if (a >= 0 && c >= 0) {
		struct ipc_msg m, r;
		ipc_msg_init(&m, 8, 0);
		ipc_add_str(&m, "over a path");
		CHECK(ipc_send_blocking(c, &m) == 0);
		CHECK(ipc_recv_blocking(a, &r, 2000) == 0 && r.type == 8);
		ipc_msg_deinit(&r);
	}
	/* listening again on the same path replaces the stale socket */
	int l2 = ipc_listen(path, 0600);
	CHECK(l2 >= 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* a path that does not fit in sun_path */
	char longpath[200];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	errno = 0;
	CHECK(ipc_listen(longpath, 0600) < 0 && errno == ENAMETOOLONG);
	CHECK(ipc_connect(longpath) < 0);
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (l2 >= 0)
		close(l2);
	close(l);
	unlink(path);

	int s[2];
	CHECK(ipc_socketpair(s) == 0);
	int type = 0;
	socklen_t tl = sizeof(type);
	CHECK(getsockopt(s[0], SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	      type == SOCK_SEQPACKET);
	CHECK((fcntl(s[0], F_GETFD) & FD_CLOEXEC) != 0);
	CHECK((fcntl(s[1], F_GETFD) & FD_CLOEXEC) != 0);
	close(s[0]);
	close(s[1]);

	struct ucred me = {getpid(), getuid(), getgid()};
	CHECK(ipc_peer_allowed(&me, getuid(), (gid_t)-1));
	struct ucred other = {getpid(), getuid() + 1, getgid()};
	CHECK(!ipc_peer_allowed(&other, getuid(), (gid_t)-1));
	CHECK(ipc_peer_allowed(&other, getuid(), getgid()));
	struct ucred root = {1, 0, 0};
	CHECK(ipc_peer_allowed(&root, 12345, (gid_t)-1));
	if (getuid() != 0 && getgid() != 0) {
		struct ucred stranger = {getpid(), getuid() + 1, getgid() + 1};
		/* our pid's groups do not include an unused gid */
		CHECK(!ipc_peer_allowed(&stranger, getuid(),
		                        (gid_t)4000000000u));
	}
}

/* ---- channels ---- */

enum { T_PLAIN = 100, T_FD_OK = 101, T_FD_MUST = 102, T_BULK = 200 };

static const struct ipc_rule rules[] = {
        {T_PLAIN, 64, false, false},
        {T_FD_OK, 64, true, false},
        {T_FD_MUST, 64, true, true},
};

struct chan_state {
	struct ipc_chan *chan;
	unsigned handled;
	uint32_t types[16];
	bool fields_ok;
	unsigned closes;
	char reason[128];
	bool free_in_handler;
	/* bulk */
	unsigned bulk_expected;
	uint32_t next_seq;
	bool order_ok;
};

static void chan_handler(struct ipc_chan *chan, struct ipc_msg *msg, void *ctx)
{
	struct chan_state *st = ctx;
	CHECK(chan == st->chan);
	if (st->handled < 16)
		st->types[st->handled] = msg->type;
	st->handled++;
	uint32_t v;
	const void *data;
	size_t len;
	if (ipc_get_u32(msg, &v) < 0)
		st->fields_ok = false;
	if (msg->rpos < msg->payload.len && ipc_get_data(msg, &data, &len) < 0)
		st->fields_ok = false;
	if (ipc_end(msg) < 0)
		st->fields_ok = false;
	if (msg->fd >= 0) {
		int fd = ipc_msg_take_fd(msg);
		if (write(fd, "x", 1) != 1)
			st->fields_ok = false;
		close(fd);
	}
	if (st->free_in_handler)
		ipc_chan_free(&st->chan);
}

static void chan_close(struct ipc_chan *chan, const char *reason, void *ctx)
{
	struct chan_state *st = ctx;
	CHECK(chan == st->chan);
	st->closes++;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	ipc_chan_free(&st->chan);
}

static void stop_timer(void *ctx)
{
	struct timer **t = ctx;
	*t = NULL;
	ioloop_stop();
}

/* Runs the loop until the timer fires. */
static void run_for(unsigned msecs)
{
	struct timer *t = NULL;
	t = timer_add(msecs, stop_timer, &t);
	ioloop_run();
	timer_remove(&t);
}

static void send_plain(int fd, uint32_t type, uint32_t v, int pass_fd)
{
	struct ipc_msg m;
	ipc_msg_init(&m, type, 0);
	ipc_add_u32(&m, v);
	if (pass_fd >= 0)
		ipc_msg_set_fd(&m, dup(pass_fd));
	CHECK(ipc_send_blocking(fd, &m) == 0);
}

/* One valid message, then the offending one, then another valid one; only
 * the first may reach the handler and on_close must be called once. */
static void check_violation(const char *what,
                            void (*offend)(int fd, int pipe_w),
                            const char *reason_part)
{
	int s[2], p[2];
	if (pair(s) < 0)
		return;
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	int before = count_fds();
	struct chan_state st = {.fields_ok = true};
	st.chan = ipc_chan_new(s[0], what, rules, 3, chan_handler, chan_close,
	                       &st);
	send_plain(s[1], T_PLAIN, 1, -1);
	offend(s[1], p[1]);
	send_plain(s[1], T_PLAIN, 2, -1);
	run_for(100);
	CHECK(st.handled == 1 && st.types[0] == T_PLAIN && st.fields_ok);
	CHECK(st.closes == 1);
	CHECK(st.chan == NULL);
	CHECK(strstr(st.reason, reason_part) != NULL);
	if (st.handled != 1 || st.closes != 1 ||
	    strstr(st.reason, reason_part) == NULL)
		fprintf(stderr, "# %s: handled %u, closes %u, reason '%s'\n",
		        what, st.handled, st.closes, st.reason);
	ipc_chan_free(&st.chan);
	/* the channel closed s[0]; any fd carried by the offender is gone */
	CHECK(count_fds() == before - 1);
	close(s[1]);
	close(p[1]);
	char c;
	CHECK(read(p[0], &c, 1) == 0); /* nobody wrote through a smuggled fd */
	close(p[0]);
}

static void offend_unknown_type(int fd, int pipe_w)
{
	(void)pipe_w;
	send_plain(fd, 999, 0, -1);
}

static void offend_too_long(int fd, int pipe_w)
{
	(void)pipe_w;
	/* 65 bytes where 64 is the rule's max */
	char data[60] = {0};
	struct ipc_msg m;
	ipc_msg_init(&m, T_PLAIN, 0);
	ipc_add_data(&m, data, sizeof(data));
	CHECK(m.payload.len == 65);
	CHECK(ipc_send_blocking(fd, &m) == 0);
}

static void offend_unexpected_fd(int fd, int pipe_w)
{
	send_plain(fd, T_PLAIN, 0, pipe_w);
}

static void offend_missing_fd(int fd, int pipe_w)
{
	(void)pipe_w;
	send_plain(fd, T_FD_MUST, 0, -1);
}

static void offend_bad_version(int fd, int pipe_w)
{
	(void)pipe_w;
	struct raw_hdr h = hdr_for(T_PLAIN, 5);
	h.version = IPC_VERSION + 1;
	CHECK(send_raw(fd, &h, "\x01\x00\x00\x00\x00", 5, NULL, 0) == 0);
}

static void offend_two_fds(int fd, int pipe_w)
{
	struct raw_hdr h = hdr_for(T_FD_OK, 5);
	int fds[2] = {pipe_w, pipe_w};
	CHECK(send_raw(fd, &h, "\x01\x00\x00\x00\x00", 5, fds, 2) == 0);
}

static void test_chan_rules(void)
{
	check_violation("unknown-type", offend_unknown_type,
	                "unexpected message type");
	check_violation("too-long", offend_too_long, "too long");
	check_violation("unexpected-fd", offend_unexpected_fd, "unexpected fd");
	check_violation("missing-fd", offend_missing_fd, "missing fd");
	check_violation("bad-version", offend_bad_version, "malformed");
	check_violation("two-fds", offend_two_fds, "malformed");
}

static void test_chan_valid(void)
{
	int s[2], p[2];
	if (pair(s) < 0)
		return;
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	struct chan_state st = {.fields_ok = true};
	st.chan = ipc_chan_new(s[0], "valid", rules, 3, chan_handler,
	                       chan_close, &st);
	CHECK(ipc_chan_fd(st.chan) == s[0]);
	const struct ucred *peer = ipc_chan_peer(st.chan);
	CHECK(peer->pid == getpid() && peer->uid == getuid() &&
	      peer->gid == getgid());
	CHECK((fcntl(s[0], F_GETFL) & O_NONBLOCK) != 0);

	send_plain(s[1], T_PLAIN, 1, -1);
	send_plain(s[1], T_FD_OK, 2, -1);
	send_plain(s[1], T_FD_OK, 3, p[1]);
	send_plain(s[1], T_FD_MUST, 4, p[1]);
	/* exactly max_len is allowed: (1 + 4) + (1 + 4 + 54) = 64 */
	struct ipc_msg m;
	ipc_msg_init(&m, T_PLAIN, 0);
	ipc_add_u32(&m, 5);
	char data[54] = {0};
	ipc_add_data(&m, data, sizeof(data));
	CHECK(m.payload.len == 64);
	CHECK(ipc_send_blocking(s[1], &m) == 0);
	run_for(100);
	CHECK(st.handled == 5 && st.closes == 0);
	CHECK(st.types[0] == T_PLAIN && st.types[1] == T_FD_OK &&
	      st.types[2] == T_FD_OK && st.types[3] == T_FD_MUST &&
	      st.types[4] == T_PLAIN);
	CHECK(st.fields_ok);
	char buf[4];
	close(p[1]);
	CHECK(read(p[0], buf, sizeof(buf)) == 2);
	close(p[0]);

	/* hang-up reaches on_close */
	close(s[1]);
	run_for(100);
	CHECK(st.closes == 1 && st.chan == NULL);
	CHECK(strstr(st.reason, "closed") != NULL);
	ipc_chan_free(&st.chan);
}

static void test_chan_free_in_handler(void)
{
	int s[2];
	if (pair(s) < 0)
		return;
	struct chan_state st = {.fields_ok = true, .free_in_handler = true};
	st.chan = ipc_chan_new(s[0], "free", rules, 3, chan_handler, chan_close,
	                       &st);
	send_plain(s[1], T_PLAIN, 1, -1);
	send_plain(s[1], T_PLAIN, 2, -1);
	send_plain(s[1], T_PLAIN, 3, -1);
	run_for(100);
	CHECK(st.handled == 1 && st.closes == 0 && st.chan == NULL);
	CHECK(!fd_is_open(s[0]));
	close(s[1]);
}

static const struct ipc_rule bulk_rules[] = {
        {T_BULK, 2048, true, false},
};

static void bulk_handler(struct ipc_chan *chan, struct ipc_msg *msg, void *ctx)
{
	(void)chan;
	struct chan_state *st = ctx;
	uint32_t seq;
	const void *data;
	size_t len;
	if (ipc_get_u32(msg, &seq) < 0 || ipc_get_data(msg, &data, &len) < 0 ||
	    ipc_end(msg) < 0 || seq != st->next_seq || len != 1500)
		st->order_ok = false;
	if (msg->fd >= 0) {
		int fd = ipc_msg_take_fd(msg);
		if (write(fd, "q", 1) != 1)
			st->order_ok = false;
		close(fd);
	}
	st->next_seq++;
	st->handled++;
	if (st->handled == st->bulk_expected)
		ioloop_stop();
}

/* More than the socket buffer holds: ipc_chan_send must queue and the loop
 * must deliver everything, in order. */
static void test_chan_queue(void)
{
	int s[2], p[2];
	if (pair(s) < 0)
		return;
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	struct chan_state tx = {.fields_ok = true};
	struct chan_state rx = {.order_ok = true, .bulk_expected = 600};
	tx.chan = ipc_chan_new(s[0], "tx", NULL, 0, chan_handler, chan_close,
	                       &tx);
	rx.chan = ipc_chan_new(s[1], "rx", bulk_rules, 1, bulk_handler,
	                       chan_close, &rx);
	static unsigned char data[1500];
	memset(data, 'd', sizeof(data));
	for (uint32_t i = 0; i < rx.bulk_expected; i++) {
		struct ipc_msg m;
		ipc_msg_init(&m, T_BULK, i);
		ipc_add_u32(&m, i);
		ipc_add_data(&m, data, sizeof(data));
		if (i == 300)
			ipc_msg_set_fd(&m, dup(p[1]));
		ipc_chan_send(tx.chan, &m);
		/* the caller's message no longer owns anything */
		CHECK(m.fd == -1 && m.payload.len == 0);
		ipc_msg_deinit(&m);
	}
	struct timer *t = NULL;
	t = timer_add(3000, stop_timer, &t);
	ioloop_run();
	CHECK(t != NULL); /* stopped by the handler, not the safety timer */
	timer_remove(&t);
	CHECK(rx.handled == rx.bulk_expected && rx.order_ok);
	CHECK(tx.closes == 0 && rx.closes == 0);
	close(p[1]);
	char c[4];
	CHECK(read(p[0], c, sizeof(c)) == 1 && c[0] == 'q');
	close(p[0]);

	/* after the peer is gone, sending neither crashes nor calls on_close
	 * from inside ipc_chan_send */
	ipc_chan_free(&rx.chan);
	struct ipc_msg m;
	ipc_msg_init(&m, T_BULK, 0);
	ipc_add_u32(&m, 0);
	ipc_chan_send(tx.chan, &m);
	CHECK(tx.closes == 0);
	run_for(100);
	CHECK(tx.closes == 1 && tx.chan == NULL);
	ipc_chan_free(&tx.chan);
}

int main(void)
{
	test_roundtrip();
	test_fd_passing();
	test_reader_discipline();
	test_raw_fields();
	test_bad_headers();
	test_fd_hygiene();
	test_send_limits();
	test_sockets();

	ioloop_init();
	int fds_before = count_fds();
	test_chan_valid();
	test_chan_rules();
	test_chan_free_in_handler();
	test_chan_queue();
	CHECK(count_fds() == fds_before);
	return tap_done();
}
