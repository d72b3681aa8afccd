#ifndef POSTERN_AUTH_AUTH_H
#define POSTERN_AUTH_AUTH_H
/* State of the postern-auth daemon shared by its socket handlers. One
 * process, one event loop: the handlers run one at a time. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "authdb.h"
#include "buf.h"
#include "config.h"
#include "scram.h"
#include "user_settings.h"

struct auth_daemon {
	struct config cfg;
	struct authdb *db;
	struct scram_secret dummy; /* see mech_dummy_secret */
	uint32_t iterations;       /* for new secrets */
	bool dev_mode;             /* not started as root */
	/* who may connect to which socket (besides root) */
	uid_t login_uid;
	uid_t mail_uid;
	gid_t admin_gid; /* (gid_t)-1: no admin group */
};

extern struct auth_daemon auth;

/* Home directory of a canonical address: mail_dir "/" address. The
 * address was validated as one safe path component. 0, or -1 if too long. */
int auth_home(const char *address, char *out, size_t outsz);

/* Socket handlers: take over an accepted, already authorised connection. */
void login_conn_accept(int fd, const struct ucred *peer);
void master_conn_accept(int fd, const struct ucred *peer);
void admin_conn_accept(int fd, const struct ucred *peer);
/* Drop every connection of that kind (shutdown). */
void login_conn_deinit_all(void);
void master_conn_deinit_all(void);
void admin_conn_deinit_all(void);
/* Tells the master (IPC_T_USER_SETTINGS) that the settings of account user
 * changed, so that it passes them to the account's running workers. */
void master_conn_push_settings(const char *user, const struct user_settings *s);
/* IPC_T_USER_KICK to the master (mailadm kick). */
void master_conn_push_kick(const char *user);
/* Open connections of that kind. */
size_t login_conn_count(void);
size_t master_conn_count(void);
size_t admin_conn_count(void);

/* Runs one admin command (see IPC_T_ADMIN_REQUEST) against auth.db; the
 * reply text goes to out. Returns IPC_ADMIN_OK or an IPC_ADMIN_E_* code.
 * Arguments holding passwords are wiped by the caller. */
uint32_t admin_run(const char *cmd, const char *const *args, size_t argc,
		   struct buf *out);

#endif
