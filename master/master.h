#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H
/* Private interface between the master's files. The master trusts its
 * config file and the binaries it execs; it trusts no byte from a login
 * process (untrusted: faces the network), treats the auth daemon and workers
 * as trusted but separately privileged, and never parses client bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

enum child_kind {
	CHILD_AUTH,
	CHILD_LOGIN,
	CHILD_WORKER,
	CHILD_PROXY, /* tls-proxy: implicit-TLS connections of every service */
	CHILD_LMTP,    /* the LMTP delivery service (one process) */
	CHILD_METRICS, /* the OpenMetrics endpoint (one process) */
};

/* A protocol served by a login pool and per-user workers. The login process
 * names it in IPC_T_HANDOFF; the ticket must have been issued for it. */
enum master_service {
	SERVICE_IMAP,
	SERVICE_SUBMISSION,
	SERVICE_COUNT,
};

struct service_info {
	const char *name;	/* "imap": IPC service name */
	const char *login_bin;	/* "imap-login" */
	const char *worker_bin; /* "imap" */
};
extern const struct service_info services[SERVICE_COUNT];
/* The service of an IPC service name; -1 if none. */
int service_find(const char *name);

struct child {
	pid_t pid;
	enum child_kind kind;
	enum master_service service; /* login and worker */
	struct ipc_chan *chan; /* NULL once the channel closed */
	bool ready;	       /* sent IPC_T_CHILD_READY */
	bool retiring;	       /* told to stop (login) or quit (worker) */
	unsigned long long started_ms;
	int metrics_slot; /* lib/metrics.h gauge slot, -1 for none */
	char user[256];	      /* worker: the user it serves */
	struct child *next;
};

struct listener {
	int fd;
	char name[16]; /* "imap", "imaps", "submission", "submissions" */
	bool tls;      /* implicit TLS */
	enum master_service service; /* whose login pool accepts on it */
};

struct master {
	struct config cfg;
	bool root;
	bool shutting_down;
	int lifeline_w; /* write end; closing it tells every descendant to exit
			 */
	int lifeline_r;
	struct listener *listeners;
	size_t nlisteners;
	struct child *children;
	bool auth_ready;
	/* lmtp_socket and lmtp_listen, served by the lmtp process */
	struct listener *lmtp_listeners;
	size_t nlmtp_listeners;
	/* metrics_listen, served by postern-metrics */
	struct listener *metrics_listeners;
	size_t nmetrics_listeners;
	int metrics_fd;	 /* run_dir/metrics, handed to every child; -1 none */
	int sessions_fd; /* run_dir/sessions, handed to workers; -1 none */
};

extern struct master master;

/* master/listeners.c: binds every address of imap_listen, imaps_listen,
 * submission_listen and submissions_listen. */
int listeners_open(const struct config *cfg, struct listener **list_r,
		   size_t *count_r, const char **error_r);

/* master/listeners.c: binds lmtp_socket (a stream socket, mode 0666) and
 * every address of lmtp_listen; none configured is fine. */
int lmtp_listeners_open(const struct config *cfg, struct listener **list_r,
			size_t *count_r, const char **error_r);
/* metrics_listen: a host:port, or a Unix socket path (mode 0660, group
 * admin_group); empty is fine. */
int metrics_listeners_open(const struct config *cfg, bool root,
			   struct listener **list_r, size_t *count_r,
			   const char **error_r);

/* master/dirs.c: creates the instance directories with the owners and modes
 * the privilege model needs (idempotent). */
int dirs_prepare(const struct config *cfg, bool root, const char **error_r);

/* master/children.c */
void children_start(void);
void children_reload(void);
void children_shutdown(void);
struct child *child_find_pid(pid_t pid);
struct child *worker_find(enum master_service service, const char *user);
struct child *worker_spawn(enum master_service service, const char *user,
			   const char *home);
void child_kill(struct child *c, const char *why);

/* master/routing.c: ticket redemption and hand-off to workers. */
void routing_auth_up(void);
void routing_auth_down(void);
void routing_login_gone(struct child *login);
struct ipc_msg;
void routing_handoff(struct child *login, struct ipc_msg *msg);
/* A tls-proxy's new connection: to a login process of the listener's
 * service (IPC_T_LOGIN_CLIENT), or closed if none can take it. */
void routing_proxy_client(struct child *proxy, struct ipc_msg *msg);
/* STARTTLS on a proxied plain connection: login -> the proxy holding it,
 * and the proxy's handshake result back to that login process. Both
 * carry the other side's pid, checked against our children. */
void routing_login_starttls(struct child *login, struct ipc_msg *msg);
void routing_proxy_tls(struct child *proxy, struct ipc_msg *msg);

/* master/notify.c: systemd's readiness protocol (Type=notify): "READY=1"
 * once the auth daemon is up, "RELOADING=1" then "READY=1" around a
 * SIGHUP reload, "STOPPING=1" at shutdown. No-op without NOTIFY_SOCKET. */
void notify_state(const char *state);
void notify_reloading(void);

/* master/init_dev.c */
int init_dev(const char *dir, unsigned port_base);
int demo_prepare(const char *dir, char **conf_path_r);

/* master/spawn.c: fork + exec of a role binary with the fixed fd layout. */
/* extra_fds go to IPC_FD_FIRST_LISTENER.. in order. Returns the pid, fills
 * *chan_fd_r with the master's end of the channel. */
/* slot: the child's gauge slot in the metrics file (lib/metrics.h), -1
 * for none; sessions: it also gets the live-session table (workers). */
pid_t spawn_child(const char *binary, char *const argv[], const int *extra_fds,
		  size_t nextra, int slot, bool sessions, int *chan_fd_r);
/* Full path of a role binary ("imap-login", "imap", "submission-login",
 * "submission", "postern-auth"). */
const char *spawn_binary_path(const char *name);

#endif
