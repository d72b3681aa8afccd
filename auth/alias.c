#include "alias.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "str.h"
#include "tlskey.h"

/* Record layout, version 1: u8 version = 1, u8 length, account (the
 * canonical address the alias belongs to). The alias is the db key. */
#define RECORD_VERSION 1
#define REPLY_MAX      (IPC_MAX_PAYLOAD - 64)

int alias_encode(const char *account, struct buf *out)
{
	unsigned char hdr[2];
	size_t n = strlen(account);

	if (n == 0 || n > ACCOUNT_ADDR_MAX)
		return -1;
	hdr[0] = RECORD_VERSION;
	hdr[1] = (unsigned char)n;
	if (buf_append(out, hdr, 2) < 0 || buf_append(out, account, n) < 0)
		return -1;
	return 0;
}

int alias_decode(const void *p, size_t len, char *account_r,
		 const char **error_r)
{
	const unsigned char *b = p;

	if (len < 2 || b[0] != RECORD_VERSION) {
		*error_r = "unknown alias record version";
		return -1;
	}
	if (b[1] == 0 || b[1] > ACCOUNT_ADDR_MAX || len != 2u + b[1] ||
	    memchr(b + 2, '\0', b[1]) != NULL) {
		*error_r = "malformed alias record";
		return -1;
	}
	memcpy(account_r, b + 2, b[1]);
	account_r[b[1]] = '\0';
	return 0;
}

static uint32_t reply(struct buf *out, uint32_t code, const char *fmt, ...)
	POSTERN_PRINTF(3, 4);

static uint32_t reply(struct buf *out, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	buf_clear(out);
	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	return code;
}

static uint32_t db_error(struct buf *out, const char *error)
{
	log_error("admin: account database: %s", error);
	return reply(out, IPC_ADMIN_E_INTERNAL,
		     "account database error (see the auth daemon's log)");
}

static int parse_address(const char *in, char *addr, struct buf *out,
			 uint32_t *code_r)
{
	const char *error;

	if (account_address_canonical(in, strlen(in), addr, &error) < 0) {
		*code_r = reply(out, IPC_ADMIN_E_INVALID,
				"invalid address: %s: %s", in, error);
		return -1;
	}
	return 0;
}

uint32_t alias_admin_add(const char *account_in, const char *alias_in,
			 struct buf *out)
{
	char account[ACCOUNT_ADDR_MAX + 1], alias[ACCOUNT_ADDR_MAX + 1];
	char owner[ACCOUNT_ADDR_MAX + 1];
	const char *error;
	uint32_t code = IPC_ADMIN_OK;

	if (parse_address(account_in, account, out, &code) < 0 ||
	    parse_address(alias_in, alias, out, &code) < 0)
		return code;
	switch (authdb_alias_add(auth.db, account, alias, &error)) {
	case AUTHDB_OK:
		return reply(out, IPC_ADMIN_OK, "%s", "");
	case AUTHDB_NOTFOUND:
		if (authdb_resolve(auth.db, account, owner, &error) ==
		    AUTHDB_OK)
			return reply(out, IPC_ADMIN_E_INVALID,
				     "%s is an alias of %s: give the "
				     "account's primary address",
				     account, owner);
		return reply(out, IPC_ADMIN_E_NOTFOUND, "no such user: %s",
			     account);
	case AUTHDB_EXISTS:
		if (authdb_resolve(auth.db, alias, owner, &error) ==
			    AUTHDB_OK &&
		    strcmp(owner, alias) != 0)
			return reply(out, IPC_ADMIN_E_EXISTS,
				     "address already in use: %s is an alias "
				     "of %s",
				     alias, owner);
		return reply(out, IPC_ADMIN_E_EXISTS,
			     "address already in use: %s is an account", alias);
	default:
		return db_error(out, error);
	}
}

uint32_t alias_admin_del(const char *alias_in, struct buf *out)
{
	char alias[ACCOUNT_ADDR_MAX + 1], owner[ACCOUNT_ADDR_MAX + 1];
	struct buf fps;
	struct tlskey *k;
	const char *error;
	uint32_t code = IPC_ADMIN_OK;
	char *fp, *next;

	if (parse_address(alias_in, alias, out, &code) < 0)
		return code;
	switch (authdb_resolve(auth.db, alias, owner, &error)) {
	case AUTHDB_OK:
		break;
	case AUTHDB_NOTFOUND:
		return reply(out, IPC_ADMIN_E_NOTFOUND, "no such alias: %s",
			     alias);
	default:
		return db_error(out, error);
	}
	if (strcmp(owner, alias) == 0)
		return reply(out, IPC_ADMIN_E_INVALID,
			     "%s is an account, not an alias (user del "
			     "deletes accounts)",
			     alias);
	/* a key logs in as one address: do not leave it pointing nowhere */
	k = malloc(sizeof(*k));
	if (k == NULL)
		return reply(out, IPC_ADMIN_E_INTERNAL, "out of memory");
	buf_init(&fps, REPLY_MAX);
	if (authdb_links(auth.db, owner, 'k', &fps, &error) < 0) {
		code = db_error(out, error);
		goto out;
	}
	for (fp = (char *)buf_cstr(&fps); *fp != '\0'; fp = next) {
		next = strchr(fp, '\n');
		if (next == NULL)
			break;
		*next++ = '\0';
		if (authdb_key_get(auth.db, fp, k, &error) == AUTHDB_OK &&
		    strcmp(k->login, alias) == 0) {
			code = reply(out, IPC_ADMIN_E_EXISTS,
				     "%s is the login address of key %s "
				     "(\"%s\"): remove the key first",
				     alias, fp, k->name);
			goto out;
		}
	}
	switch (authdb_alias_del(auth.db, alias, &error)) {
	case AUTHDB_OK:
		code = reply(out, IPC_ADMIN_OK, "%s", "");
		break;
	case AUTHDB_NOTFOUND:
		code = reply(out, IPC_ADMIN_E_NOTFOUND, "no such alias: %s",
			     alias);
		break;
	default:
		code = db_error(out, error);
		break;
	}
out:
	buf_deinit(&fps);
	free(k);
	return code;
}

uint32_t alias_admin_show(const char *account_in, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct account a;
	struct buf links;
	struct tlskey *k;
	const char *error;
	char created[32];
	uint32_t code = IPC_ADMIN_OK;
	time_t t;
	struct tm tm;
	char *item, *next;

	if (parse_address(account_in, addr, out, &code) < 0)
		return code;
	switch (authdb_get(auth.db, addr, &a, &error)) {
	case AUTHDB_OK:
		break;
	case AUTHDB_NOTFOUND:
		return reply(out, IPC_ADMIN_E_NOTFOUND, "no such user: %s",
			     addr);
	default:
		return db_error(out, error);
	}
	t = (time_t)a.created;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_cpy(created, "-", sizeof(created));
	code = reply(out, IPC_ADMIN_OK, "account: %s\ncreated: %s\n", a.address,
		     created);
	k = malloc(sizeof(*k));
	buf_init(&links, REPLY_MAX);
	if (k == NULL ||
	    authdb_links(auth.db, a.address, 'a', &links, &error) < 0)
		goto fail;
	for (item = (char *)buf_cstr(&links); *item != '\0'; item = next) {
		if ((next = strchr(item, '\n')) == NULL)
			break;
		*next++ = '\0';
		(void)buf_printf(out, "alias: %s\n", item);
	}
	buf_clear(&links);
	if (authdb_links(auth.db, a.address, 'k', &links, &error) < 0)
		goto fail;
	for (item = (char *)buf_cstr(&links); *item != '\0'; item = next) {
		if ((next = strchr(item, '\n')) == NULL)
			break;
		*next++ = '\0';
		if (authdb_key_get(auth.db, item, k, &error) != AUTHDB_OK)
			continue;
		(void)buf_printf(out, "key: %s\t%s\t%s\t%s\t%s\n", item,
				 k->login, k->key_type,
				 (k->flags & TLSKEY_F_NO_IMAP_PREAUTH) != 0
					 ? "no-imap-preauth"
					 : "imap-preauth",
				 k->name);
	}
	goto out;
fail:
	code = k == NULL ? reply(out, IPC_ADMIN_E_INTERNAL, "out of memory")
			 : db_error(out, error);
out:
	account_wipe(&a);
	buf_deinit(&links);
	free(k);
	return code;
}
