#ifndef POSTERN_WORKER_PROC_H
#define POSTERN_WORKER_PROC_H
/* What every per-user worker process (imap, submission) does the same way
 * around its protocol: the command line the master gives it, becoming
 * mail_user, the fixed descriptors (fd 3 master channel, fd 4 lifeline)
 * and the ways it is told to stop (lifeline hang-up, SIGTERM, SIGINT). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "user_settings.h"

struct worker_proc_args {
	const char *config_path;
	const char *user; /* --user: the one account the process serves */
	const char *home; /* --home: absolute */
};

/* Parses "-c CONFIG --user ADDRESS --home DIR"; anything else prints the
 * usage line for prog and exits 2. */
void worker_proc_parse_args(const char *prog, int argc, char **argv,
			    struct worker_proc_args *a_r);

/* After the config is loaded: sets the log level, switches to
 * cfg->mail_user when root (no capabilities, no-new-privs, no core dumps),
 * lowers RLIMIT_NOFILE to nofile, names user on every log line and checks
 * that fd 3 and 4 are open. Fatal on failure. */
void worker_proc_start(const struct config *cfg, const char *user,
		       unsigned long nofile);

/* Watches the lifeline and SIGTERM/SIGINT (after ioloop_init): stop runs
 * once per event with the reason ("master gone (lifeline)", "signal").
 * Also what lmtp and postern-metrics use: the master's children all stop
 * the same way. */
void worker_proc_watch(void (*stop)(const char *why));
void worker_proc_unwatch(void);

struct ipc_chan;
/* For a child the master sends nothing (lmtp, postern-metrics): opens the
 * master channel (fd 3), tells the master it is ready (IPC_T_CHILD_READY)
 * and stops like the lifeline when the channel closes (stop of
 * worker_proc_watch, which must come first, with "master gone"). The
 * caller frees the channel with ipc_chan_free. */
struct ipc_chan *worker_proc_master_idle(void);

/* A connection the master hands over (IPC_T_CLIENT, ipc_proto.h); the
 * strings and pending bytes point into the message. */
struct worker_client {
	const char *user, *home;
	uint64_t session;
	const char *remote_ip;
	uint32_t remote_port;
	const char *local_ip;
	uint32_t local_port;
	uint32_t flags; /* IPC_HANDOFF_F_* */
	const char *tls_info;
	const char *listener; /* its name: "imap", "imaps", "submission", ... */
	const char *resume; /* the login protocol's state */
	const void *pending;
	size_t pending_len;
	struct user_settings settings;
};
struct ipc_msg;
/* Reads IPC_T_CLIENT. 0, or -1 (logged: a master bug) if it is malformed
 * or for another user or home than this worker's -- one user's connection
 * must never reach another user's worker. */
int worker_proc_client_get(struct ipc_msg *m, const char *user,
			   const char *home, struct worker_client *c_r);
/* Refuses a connection (the per-user limit) with line (CRLF included),
 * best effort: the socket is made non-blocking and the line is short, so a
 * write either fits or is dropped. Closes fd. */
void worker_proc_refuse(int fd, const char *line);
/* How a protocol words the per-user limits' refusals: noun for the log
 * ("connection", "session"); the lines as for worker_proc_refuse. */
struct worker_refusals {
	const char *noun;
	const char *too_many;	 /* worker_max_clients */
	const char *too_many_ip; /* max_userip_connections */
};
/* The per-user limits every worker applies to a new connection: open of
 * them already (worker_max_clients), from_ip of those from its address
 * (max_userip_connections, 0 = none). A hit is logged as "limit NAME=N
 * hit", counted in the metrics and refused (fd closed): false. true if
 * the connection may be served. */
bool worker_proc_admit(int fd, const struct config *cfg,
		       const struct worker_refusals *r, unsigned open,
		       unsigned from_ip, const char *remote_ip);
/* Records a login of this worker's user in HOME/last-login ("UNIXTIME
 * SERVICE REMOTE", replaced atomically, not synced; `mailadm user show` reads it).
 * Needs the home as the working directory; failures are only logged. */
void worker_proc_note_login(const char *service, const char *remote_ip);

/* The retirement clock: worker_proc_idle_start (re)starts it when the last
 * connection ended; after secs seconds IPC_T_WORKER_IDLE goes to *master
 * (unless it is NULL by then), asking the master to retire the worker.
 * worker_proc_idle_stop stops it (a connection came). */
struct ipc_chan;
void worker_proc_idle_start(struct ipc_chan **master, unsigned secs);
void worker_proc_idle_stop(void);

#endif
