#ifndef POSTERN_AUTH_ALIAS_H
#define POSTERN_AUTH_ALIAS_H
/* Account aliases: further addresses of an account. An alias is a login
 * name for the account (any mechanism; the session is the account's), never
 * a separate account: the account's canonical (primary) address stays its
 * worker's name, its home and what a ticket redeems to. Addresses are one
 * namespace: an alias is never also an account or another account's alias.
 * Stored in the auth database (authdb.h) under the alias. */
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "buf.h"

/* Versioned record: the account the alias belongs to. 0, or -1 if out
 * overflowed. */
int alias_encode(const char *account, struct buf *out);
/* Strict parse into account_r (ACCOUNT_ADDR_MAX + 1 bytes). 0, or -1 with
 * a static reason. */
int alias_decode(const void *p, size_t len, char *account_r,
		 const char **error_r);

/* Admin commands (see admin_run). */
uint32_t alias_admin_add(const char *account, const char *alias,
			 struct buf *out);
uint32_t alias_admin_del(const char *alias, struct buf *out);
/* "user-show": the account, its addresses and its keys. */
uint32_t alias_admin_show(const char *account, struct buf *out);
/* user-kick: asks the master to close every session of the account. */
uint32_t alias_admin_kick(const char *account, struct buf *out);

#endif
