#ifndef POSTERN_IMAP_WORKER_H
#define POSTERN_IMAP_WORKER_H
/* Process-wide state of the per-user IMAP worker: one user, one home, every
 * connection of that user in one event loop. Private to imap/. */
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"
#include "storage.h"
#include "user_settings.h"

struct client;

/* Message files being saved at once by all connections together (each is
 * an open, locked file until its APPEND commits); past it an APPEND is
 * refused NO [LIMIT]. Two MULTIAPPENDs of the largest size fit. */
#define WORKER_SAVES_MAX 10000

struct imap_worker {
	struct config cfg;
	const char *user; /* --user: the only user this process serves */
	const char *home; /* --home */
	struct storage *store; /* the user's mail store, opened at start */
	struct io *store_io;   /* its change notifications */

	struct ipc_chan *master;
	struct client *clients; /* doubly linked */
	unsigned nclients;
	unsigned saves; /* open message saves (WORKER_SAVES_MAX) */
	/* the account's settings: from each IPC_T_CLIENT (as of its ticket
	 * redemption) and every IPC_T_USER_SETTINGS push; read them through
	 * worker_settings() */
	struct user_settings settings;
	bool quit_requested;	  /* IPC_T_WORKER_QUIT received */
	bool stopping;
};

extern struct imap_worker worker;

/* The account's current settings (quota limits, trace level). Valid for
 * the process's life; the values change when the master passes a change
 * (the store's quota limits follow at once). All zero (unlimited, no
 * trace) until the first connection arrived. */
const struct user_settings *worker_settings(void);

/* Bookkeeping called by imap_client.c when a connection starts / ends.
 * The last one ending starts the idle timer, or ends the process after
 * IPC_T_WORKER_QUIT. */
void worker_client_added(struct client *c);
void worker_client_removed(struct client *c);

/* Says "* BYE <text>" to every connection, closes them and stops the loop
 * (master gone, SIGTERM). */
void worker_shutdown(const char *why);
/* Records a login in HOME/last-login ("UNIXTIME SERVICE REMOTE", replaced
 * atomically, not synced: `mailadm user show` reads it). */
void worker_note_login(const char *remote_ip);

/* Sets up the master channel (fd 3), the lifeline (fd 4) and SIGTERM, and
 * sends IPC_T_CHILD_READY. */
void worker_master_init(void);
/* Opens the user's store in worker.home and watches its notify fd; exits
 * (log_fatal) if it cannot be opened. */
void worker_store_init(void);
/* Frees what is left after the loop stopped. */
void worker_deinit(void);

#endif
