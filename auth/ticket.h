#ifndef POSTERN_AUTH_TICKET_H
#define POSTERN_AUTH_TICKET_H
/* One-time login tickets: issued to a login process on successful
 * authentication, redeemed once by the master (or a worker) for the user
 * record. A ticket is IPC_TICKET_SIZE random bytes, valid for
 * IPC_TICKET_TTL_S seconds and for the service it was issued for. The table
 * is bounded (TICKET_MAX); issuing fails when it is full of live tickets. */
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "ipc_proto.h"

#define TICKET_MAX 8192
#define TICKET_SERVICE_MAX 32

struct ticket_user {
	char user[ACCOUNT_ADDR_MAX + 1];
	char *home; /* malloc'd; free with ticket_user_deinit */
	uint64_t session;
};

/* Remembers user, home and service and writes a fresh ticket into
 * ticket_r. 0, or -1 if the table is full. */
int ticket_issue(const char *user, const char *home, const char *service,
		 uint64_t session, unsigned char ticket_r[IPC_TICKET_SIZE]);
/* Looks the ticket up (constant-time comparison against every entry) and
 * removes it whatever the outcome, so each ticket is tried at most once.
 * 0 with user_r filled, or -1 with a static reason for the log. */
int ticket_redeem(const void *ticket, size_t len, const char *service,
		  struct ticket_user *user_r, const char **reason_r);
void ticket_user_deinit(struct ticket_user *u);
/* Number of live (unexpired) tickets. */
size_t ticket_count(void);
/* Forgets every ticket (shutdown). */
void ticket_deinit(void);

#endif
