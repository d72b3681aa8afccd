#ifndef POSTERN_LOGIN_PRIVATE_H
#define POSTERN_LOGIN_PRIVATE_H
/* Internals shared by lib/login_*.c; never included elsewhere. */
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipc_proto.h"
#include "login_client.h"
#include "tls.h"

#define LOGIN_MAX_LISTENERS 16
/* Output queued for one pre-auth client: greeting, capability lists and
 * short replies; a client that does not read is cut off past this. */
#define LOGIN_OUT_MAX (64 * 1024)
/* How long a closing client may take to read its farewell. */
#define LOGIN_CLOSE_TIMEOUT_MS 5000
/* Bytes read per read(2) for a pre-auth client. */
#define LOGIN_READ_CHUNK 4096
/* Room kept for the fixed fields of IPC_T_HANDOFF next to the pending bytes. */
#define LOGIN_HANDOFF_OVERHEAD 4096

struct io;
struct timer;
struct ipc_chan;
struct ipc_msg;
struct tls_server;

struct login_listener {
	int fd;
	char name[32];
	bool tls;
	struct io *io;
};

struct login_service {
	const struct login_proto *proto;
	struct config cfg;
	struct tls_server *tls;
	struct ipc_chan *master;
	struct ipc_chan *auth;
	struct io *lifeline;
	struct login_listener listeners[LOGIN_MAX_LISTENERS];
	size_t nlisteners;
	bool accept_paused;
	bool tls_proxy; /* this process is a tls-proxy, not a login process */
	unsigned max_clients; /* login_max_clients or tls_proxy_max_clients */
	struct login_client *clients; /* list via priv->next */
	unsigned nclients;
	uint32_t last_client_id;
	uint32_t last_auth_id;
	/* stop once no client is left: retired by the master, or auth lost */
	bool draining;
};

extern struct login_service login_svc;

struct login_client_priv {
	struct login_client *prev, *next;
	uint32_t id; /* peer_id of the hand-off */
	uint32_t auth_id; /* peer_id of the current SASL exchange; 0 = none */
	uint32_t auth_flags; /* IPC_AUTH_F_* sent with its AUTH_BEGIN */
	struct io *io;
	struct timer *idle_timer; /* idle timeout, then the close deadline */
	struct timer *post_timer; /* deferred destroy or TLS-pending read */
	struct timer *fail_timer; /* authentication failure delay */
	struct buf out;
	bool proto_started; /* proto->client_new returned 0 */
	bool handshaking;
	bool hs_want_write;
	bool starttls_wait; /* go-ahead queued; TLS starts once flushed */
	bool destroy_pending;
	bool handed_off; /* the fd and session belong to someone else */
	char mech[32];
	char user_hint[256];
	char *resume; /* login_client_set_resume; travels with the hand-off */
	char user[256]; /* from IPC_T_AUTH_SUCCESS */
	unsigned char ticket[IPC_TICKET_SIZE];
	uint32_t fail_code;
	char fail_msg[256];
	int proxy_fd; /* our end of the hand-off socketpair (TLS); -1 */
	/* a plaintext-listener connection a tls-proxy relays (c->fd is the
	 * socketpair): STARTTLS is the proxy's job (login_client_starttls) */
	bool proxied_plain;
	uint32_t proxy_pid; /* who holds it, for IPC_T_LOGIN_STARTTLS */
	/* bytes written to / read from c->fd, the fences of the switch */
	uint64_t out_written, in_read;
	uint64_t discard; /* plaintext still to drop after the switch */
	/* the TLS session: captured from c->tls after our handshake, or sent
	 * by the tls-proxy that holds it (c->tls NULL); NULL before TLS */
	struct tls_facts *tls;
};

/* login_client.c */
struct sockaddr_storage;
/* "1.2.3.4" / "::1" / "local" and the port of sa. */
void login_sockaddr_describe(const struct sockaddr_storage *sa, char *ip,
			     size_t iplen, unsigned *port_r);
/* TCP_NODELAY on a client socket (see login_client.c for why). */
void login_socket_nodelay(int fd, const struct log_ctx *log);
/* A malloc'd copy of f that owns its certificate bytes (free()). */
struct tls_facts *login_tls_facts_dup(const struct tls_facts *f);
struct login_client *login_client_create(struct login_listener *l, int fd);
/* Frees now; only from the loop (never inside a protocol callback). */
void login_client_destroy(struct login_client *client);
void login_client_update_io(struct login_client *client);
struct login_client *login_client_find(uint32_t id);
void login_client_stop_idle(struct login_client *client);

/* A pre-auth connection a tls-proxy accepted (IPC_T_LOGIN_CLIENT from the
 * master): the fd is the plaintext end of the proxy's socketpair. Closes the
 * fd on any failure. */
void login_client_create_proxied(struct ipc_msg *msg);
/* IPC_T_LOGIN_TLS: the proxy finished the STARTTLS handshake. */
void login_client_proxy_tls(struct ipc_msg *msg);

/* login_tlsproxy.c: the tls-proxy side (login_tlsproxy_main). Takes the
 * accepted socket. */
void login_tlsproxy_accept(struct login_listener *l, int fd);
/* IPC_T_PROXY_STARTTLS from the master. */
void login_tlsproxy_starttls(struct ipc_msg *msg);
/* Frees every connection (end of the process). */
void login_tlsproxy_deinit(void);

/* login_auth.c */
void login_auth_connected(int fd);
/* Called on destroy: tells auth to forget an open exchange. */
void login_auth_client_gone(struct login_client *client);

/* login_handoff.c */
void login_handoff_master_msg(struct ipc_msg *msg);

/* login_service.c */
/* run_dir file of the shared TLS session-ticket key */
#define LOGIN_TICKET_KEY_FILE TLS_TICKET_KEY_FILE
/* Whether a TLS handshake on that listener asks for a client certificate
 * (config tls_request_client_cert). */
bool login_service_request_cert(const char *listener);
void login_service_client_gone(void);
/* login_limit.c: true if c is one over login_max_per_ip (logged, the
 * refusal sent, c closing). */
bool login_limit_preauth(struct login_client *c);
void login_service_start_draining(const char *why);

/* login_proxy.c: runs in the forked child; never returns. */
void login_proxy_run(struct login_client *client,
		     int plain_fd) POSTERN_NORETURN;

#endif
