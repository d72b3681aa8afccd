#ifndef POSTERN_AUTH_ADMIN_H
#define POSTERN_AUTH_ADMIN_H
/* What every admin command (admin_run: accounts in admin_conn.c, aliases in
 * alias.c, TLS keys in tlskey.c) answers with: one reply text and an
 * IPC_ADMIN_* code, the same wording for the same failure. Implemented in
 * admin_conn.c. */
#include <stdint.h>

#include "account.h"
#include "buf.h"
#include "compat.h"
#include "ipc.h"

/* Reply text: what fits into one message next to its framing. */
#define ADMIN_REPLY_MAX (IPC_MAX_PAYLOAD - 64)

/* Replaces out with the formatted text; returns code, so that a command
 * can end with `return admin_reply(...)`. */
uint32_t admin_reply(struct buf *out, uint32_t code, const char *fmt, ...)
	POSTERN_PRINTF(3, 4);
/* Logs the database's reason and replies IPC_ADMIN_E_INTERNAL without it
 * (the admin is pointed to the log). */
uint32_t admin_db_error(struct buf *out, const char *error);
/* The canonical form of an address the admin gave into addr
 * (ACCOUNT_ADDR_MAX + 1 bytes). 0, or -1 with an IPC_ADMIN_E_INVALID reply
 * in out and its code in *code_r. */
int admin_address(const char *in, char *addr, struct buf *out,
		  uint32_t *code_r);
/* The account of a canonical address (an alias finds its account) into
 * a_r. 0, or -1 with an IPC_ADMIN_E_NOTFOUND ("no such user") or database
 * error reply in out and its code in *code_r. */
int admin_account_get(const char *addr, struct account *a_r, struct buf *out,
		      uint32_t *code_r);

#endif
