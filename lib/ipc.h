#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H
/* The one framing for every internal Unix socket (modelled on imsg).
 *
 * Sockets are SOCK_SEQPACKET, so one datagram is one message. On the wire:
 *   header { u32 type; u32 len; u32 peer_id; u16 flags; u16 version }
 *   payload: typed fields, each 1 tag byte then
 *     IPC_F_U32: 4 bytes, IPC_F_U64: 8 bytes,
 *     IPC_F_STR: u32 length incl. trailing NUL, bytes (exactly one NUL, last)
 *     IPC_F_DATA: u32 length, bytes
 * Host byte order: both ends are on one machine. At most one fd per message
 * (SCM_RIGHTS). `len` must equal the received payload size and may not exceed
 * IPC_MAX_PAYLOAD. Readers get fields in order and must finish with ipc_end,
 * which fails on leftovers: no field is ever silently ignored. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "buf.h"

#define IPC_VERSION	1
#define IPC_HDR_SIZE	16
#define IPC_MAX_PAYLOAD (64 * 1024)

struct ipc_msg {
	uint32_t type;
	uint32_t peer_id; /* request / connection id chosen by the requester */
	uint16_t flags;
	int fd; /* -1 if none; owned by the message */
	struct buf payload;
	size_t rpos;
	bool bad; /* a get failed: the message is malformed */
};

/* Building. The msg owns fd from ipc_msg_set_fd on (closed by deinit/send). */
void ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t peer_id);
void ipc_msg_deinit(struct ipc_msg *m);
void ipc_msg_set_fd(struct ipc_msg *m, int fd);
void ipc_add_u32(struct ipc_msg *m, uint32_t v);
void ipc_add_u64(struct ipc_msg *m, uint64_t v);
void ipc_add_str(struct ipc_msg *m, const char *s);
void ipc_add_data(struct ipc_msg *m, const void *p, size_t n);

/* Reading. Each returns 0, or -1 and sets m->bad (wrong tag, short message,
 * string without its single trailing NUL). Pointers stay valid until deinit. */
int ipc_get_u32(struct ipc_msg *m, uint32_t *r);
int ipc_get_u64(struct ipc_msg *m, uint64_t *r);
int ipc_get_str(struct ipc_msg *m, const char **r);
int ipc_get_data(struct ipc_msg *m, const void **p_r, size_t *len_r);
/* 0 if every field was read and none failed; -1 otherwise. */
int ipc_end(struct ipc_msg *m);
/* Takes the fd out of the message (caller owns it); -1 if none. */
int ipc_msg_take_fd(struct ipc_msg *m);

/* What a channel accepts from its peer: anything not in the table, larger
 * than max_len, or carrying an fd where fd is false (or lacking one where
 * fd_required) drops the channel before any handler runs. */
struct ipc_rule {
	uint32_t type;
	uint32_t max_len;
	bool fd_allowed;
	bool fd_required;
};

struct ipc_chan;
/* The handler owns nothing: the dispatcher deinits msg afterwards (take the fd
 * with ipc_msg_take_fd to keep it). The handler may free the channel. */
typedef void ipc_handler_t(struct ipc_chan *chan, struct ipc_msg *msg,
			   void *ctx);
/* Called once when the peer hung up or broke the rules; free the channel in
 * it (or later). reason is for the log. */
typedef void ipc_close_t(struct ipc_chan *chan, const char *reason, void *ctx);

/* Wraps a connected SEQPACKET socket (made non-blocking) in the ioloop. name
 * is used in logs. The channel owns fd. Peer credentials are read at once. */
struct ipc_chan *ipc_chan_new(int fd, const char *name,
			      const struct ipc_rule *rules, size_t nrules,
			      ipc_handler_t *handler, ipc_close_t *on_close,
			      void *ctx);
void ipc_chan_free(struct ipc_chan **chan);
/* Queues msg (taking over its payload and fd; msg is left deinitialised).
 * on_close is never called from inside this function, only from the loop.
 * Sending never blocks; the queue is bounded (IPC_MAX_QUEUE messages) and a
 * peer that does not read is dropped via on_close. */
void ipc_chan_send(struct ipc_chan *chan, struct ipc_msg *msg);
const struct ucred *ipc_chan_peer(const struct ipc_chan *chan);
int ipc_chan_fd(const struct ipc_chan *chan);
void ipc_chan_set_ctx(struct ipc_chan *chan, void *ctx);
#define IPC_MAX_QUEUE 4096

/* Blocking helpers for CLI tools and start-up handshakes. */
int ipc_send_blocking(int fd, struct ipc_msg *m);
/* Receives one message into m (initialised by this call). timeout_ms < 0:
 * forever. -1 with errno (ETIMEDOUT, EPROTO for malformed frames, ECONNRESET
 * on EOF). */
int ipc_recv_blocking(int fd, struct ipc_msg *m, int timeout_ms);

/* Unix-socket helpers. Listening socket at path (unlinked first), mode set
 * with fchmod before bind; non-blocking, close-on-exec. */
int ipc_listen(const char *path, mode_t mode);
int ipc_connect(const char *path);
/* accept4 + SO_PEERCRED in one go. -1 with errno. */
int ipc_accept(int listen_fd, struct ucred *cred_r);
/* SEQPACKET socketpair, close-on-exec on both ends. */
int ipc_socketpair(int fds[2]);

/* Whether a peer is root, the given uid, or a member (primary or
 * supplementary, from /proc/<pid>/status) of gid. gid (gid_t)-1 = none. */
bool ipc_peer_allowed(const struct ucred *peer, uid_t uid, gid_t gid);

#endif
