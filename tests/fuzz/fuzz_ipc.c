/* Fuzz target: the IPC framing's readers (lib/ipc.c).
 *
 * Input: byte 0 selects the path.
 * - even: the rest is a payload put into an ipc_msg. It is walked field by
 *   field, at each position trying every getter (a wrong one must fail and
 *   mark the message bad without reading out of bounds) and then the one
 *   the tag asks for; if the whole walk succeeds and ipc_end agrees, the
 *   fields re-added with ipc_add_* must rebuild the payload byte for byte.
 * - odd: the rest is a raw frame (header + payload) sent as one datagram
 *   on a SEQPACKET socketpair and read with ipc_recv_blocking; a frame it
 *   accepts must have the length and version it announced, and its payload
 *   is then walked as above. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "ipc.h"

/* The field tags (ipc.c; the wire format is documented in ipc.h). */
enum { TAG_U32 = 1, TAG_U64 = 2, TAG_STR = 3, TAG_DATA = 4 };

static int pair[2] = {-1, -1};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(ipc_socketpair(pair) == 0);
	/* room for the largest frame */
	int sz = 4 * (IPC_HDR_SIZE + IPC_MAX_PAYLOAD);
	(void)setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return 0;
}

/* Tries getter g at the current position; restores the position. */
static void try_getter(struct ipc_msg *m, int g)
{
	size_t rpos = m->rpos;
	bool bad = m->bad;
	uint32_t u32;
	uint64_t u64;
	const char *s;
	const void *p;
	size_t len;
	int r = -1;

	switch (g) {
	case 0:
		r = ipc_get_u32(m, &u32);
		break;
	case 1:
		r = ipc_get_u64(m, &u64);
		break;
	case 2:
		r = ipc_get_str(m, &s);
		if (r == 0) {
			/* inside the payload, NUL-terminated there */
			FUZZ_CHECK((const unsigned char *)s >=
					   m->payload.data &&
				   (const unsigned char *)s <
					   m->payload.data + m->payload.len);
			len = strlen(s);
			FUZZ_CHECK((const unsigned char *)s + len <
				   m->payload.data + m->payload.len);
		}
		break;
	default:
		r = ipc_get_data(m, &p, &len);
		if (r == 0 && len > 0)
			FUZZ_CHECK((const unsigned char *)p >=
					   m->payload.data &&
				   (const unsigned char *)p + len <=
					   m->payload.data + m->payload.len);
		break;
	}
	FUZZ_CHECK(m->rpos <= m->payload.len);
	if (r < 0)
		FUZZ_CHECK(m->bad);
	else
		FUZZ_CHECK(!bad && !m->bad);
	m->rpos = rpos;
	m->bad = bad;
}

static void walk(struct ipc_msg *m)
{
	struct ipc_msg re;
	bool ok = true;

	ipc_msg_init(&re, m->type, m->peer_id);
	while (m->rpos < m->payload.len) {
		uint8_t tag = m->payload.data[m->rpos];
		uint32_t u32;
		uint64_t u64;
		const char *s;
		const void *p;
		size_t len;

		for (int g = 0; g < 4; g++)
			try_getter(m, g);
		switch (tag) {
		case TAG_U32:
			ok = ipc_get_u32(m, &u32) == 0;
			if (ok)
				ipc_add_u32(&re, u32);
			break;
		case TAG_U64:
			ok = ipc_get_u64(m, &u64) == 0;
			if (ok)
				ipc_add_u64(&re, u64);
			break;
		case TAG_STR:
			ok = ipc_get_str(m, &s) == 0;
			if (ok)
				ipc_add_str(&re, s);
			break;
		case TAG_DATA:
			ok = ipc_get_data(m, &p, &len) == 0;
			if (ok)
				ipc_add_data(&re, p, len);
			break;
		default:
			/* no getter takes an unknown tag */
			ok = ipc_get_u32(m, &u32) == 0;
			FUZZ_CHECK(!ok);
			break;
		}
		if (!ok)
			break;
	}
	if (ok) {
		FUZZ_CHECK(ipc_end(m) == 0);
		FUZZ_CHECK(re.payload.len == m->payload.len &&
			   (re.payload.len == 0 ||
			    memcmp(re.payload.data, m->payload.data,
				   re.payload.len) == 0));
	} else {
		FUZZ_CHECK(m->bad);
		FUZZ_CHECK(ipc_end(m) < 0);
	}
	ipc_msg_deinit(&re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg m;

	if (size < 1 || size > IPC_HDR_SIZE + IPC_MAX_PAYLOAD + 1)
		return 0;
	if ((data[0] & 1) == 0) {
		ipc_msg_init(&m, 1, 2);
		FUZZ_CHECK(buf_append(&m.payload, data + 1, size - 1) == 0 ||
			   size - 1 > IPC_MAX_PAYLOAD);
		walk(&m);
		ipc_msg_deinit(&m);
		return 0;
	}
	if (size - 1 == 0)
		return 0; /* an empty datagram reads as EOF */
	ssize_t n = send(pair[0], data + 1, size - 1, MSG_DONTWAIT);
	if (n < 0)
		return 0; /* too big for the socket: not the reader's case */
	FUZZ_CHECK((size_t)n == size - 1);
	if (ipc_recv_blocking(pair[1], &m, 5000) < 0) {
		FUZZ_CHECK(errno == EPROTO || errno == ENOMEM);
		return 0;
	}
	FUZZ_CHECK(size - 1 >= IPC_HDR_SIZE);
	FUZZ_CHECK(m.payload.len == size - 1 - IPC_HDR_SIZE);
	FUZZ_CHECK(m.payload.len <= IPC_MAX_PAYLOAD);
	FUZZ_CHECK(m.fd == -1);
	FUZZ_CHECK(m.payload.len == 0 ||
		   memcmp(m.payload.data, data + 1 + IPC_HDR_SIZE,
			  m.payload.len) == 0);
	walk(&m);
	ipc_msg_deinit(&m);
	return 0;
}
