#include "alias.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "auth.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "record.h"
#include "settings.h"
#include "str.h"
#include "tlskey.h"

/* Record layout, version 1: u8 version = 1, u8 length, account (the
 * canonical address the alias belongs to). The alias is the db key. */
#define RECORD_VERSION 1

int alias_encode(const char *account, struct buf *out)
{
	size_t n = strlen(account);

	if (n == 0 || n > ACCOUNT_ADDR_MAX)
		return -1;
	record_put_be(out, RECORD_VERSION, 1);
	record_put_text(out, 1, account, n);
	return out->overflow ? -1 : 0;
}

int alias_decode(const void *p, size_t len, char *account_r,
		 const char **error_r)
{
	struct record_reader r;

	record_reader_init(&r, p, len);
	/* the shortest record is the version and a length */
	if (len < 2 || record_get_be(&r, 1) != RECORD_VERSION) {
		*error_r = "unknown alias record version";
		return -1;
	}
	record_get_text(&r, 1, account_r, ACCOUNT_ADDR_MAX + 1);
	if (r.bad || r.left != 0 || account_r[0] == '\0') {
		*error_r = "malformed alias record";
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

	if (admin_address(account_in, account, out, &code) < 0 ||
	    admin_address(alias_in, alias, out, &code) < 0)
		return code;
	switch (authdb_alias_add(auth.db, account, alias, &error)) {
	case AUTHDB_OK:
		return admin_reply(out, IPC_ADMIN_OK, "%s", "");
	case AUTHDB_NOTFOUND:
		if (authdb_resolve(auth.db, account, owner, &error) ==
		    AUTHDB_OK)
			return admin_reply(out, IPC_ADMIN_E_INVALID,
					   "%s is an alias of %s: give the "
					   "account's primary address",
					   account, owner);
		return admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such user: %s", account);
	case AUTHDB_EXISTS:
		if (authdb_resolve(auth.db, alias, owner, &error) ==
			    AUTHDB_OK &&
		    strcmp(owner, alias) != 0)
			return admin_reply(
				out, IPC_ADMIN_E_EXISTS,
				"address already in use: %s is an alias "
				"of %s",
				alias, owner);
		return admin_reply(out, IPC_ADMIN_E_EXISTS,
				   "address already in use: %s is an account",
				   alias);
	default:
		return admin_db_error(out, error);
	}
}

uint32_t alias_admin_del(const char *alias_in, struct buf *out)
{
	char alias[ACCOUNT_ADDR_MAX + 1], owner[ACCOUNT_ADDR_MAX + 1];
	struct buf fps;
	struct tlskey *k;
	const char *error;
	uint32_t code = IPC_ADMIN_OK;
	char *pos, *fp;

	if (admin_address(alias_in, alias, out, &code) < 0)
		return code;
	switch (authdb_resolve(auth.db, alias, owner, &error)) {
	case AUTHDB_OK:
		break;
	case AUTHDB_NOTFOUND:
		return admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such alias: %s", alias);
	default:
		return admin_db_error(out, error);
	}
	if (strcmp(owner, alias) == 0)
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "%s is an account, not an alias (user del "
				   "deletes accounts)",
				   alias);
	/* a key logs in as one address: do not leave it pointing nowhere */
	k = malloc(sizeof(*k));
	if (k == NULL)
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "out of memory");
	buf_init(&fps, ADMIN_REPLY_MAX);
	if (authdb_links(auth.db, owner, 'k', &fps, &error) < 0) {
		code = admin_db_error(out, error);
		goto out;
	}
	pos = (char *)buf_cstr(&fps);
	while ((fp = authdb_links_next(&pos)) != NULL) {
		if (authdb_key_get(auth.db, fp, k, &error) == AUTHDB_OK &&
		    strcmp(k->login, alias) == 0) {
			code = admin_reply(out, IPC_ADMIN_E_EXISTS,
					   "%s is the login address of key %s "
					   "(\"%s\"): remove the key first",
					   alias, fp, k->name);
			goto out;
		}
	}
	switch (authdb_alias_del(auth.db, alias, &error)) {
	case AUTHDB_OK:
		code = admin_reply(out, IPC_ADMIN_OK, "%s", "");
		break;
	case AUTHDB_NOTFOUND:
		code = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such alias: %s", alias);
		break;
	default:
		code = admin_db_error(out, error);
		break;
	}
out:
	buf_deinit(&fps);
	free(k);
	return code;
}

uint32_t alias_admin_kick(const char *account_in, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct account a;
	uint32_t code = IPC_ADMIN_OK;

	if (admin_address(account_in, addr, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	master_conn_push_kick(a.address);
	log_info("admin: kick user=%s", a.address);
	code = admin_reply(out, IPC_ADMIN_OK, "sessions of %s closed",
			   a.address);
	account_wipe(&a);
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
	char *pos, *item;

	if (admin_address(account_in, addr, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	t = (time_t)a.created;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_cpy(created, "-", sizeof(created));
	char home[4096];
	if (auth_home(a.address, home, sizeof(home)) < 0)
		home[0] = '\0';
	code = admin_reply(out, IPC_ADMIN_OK,
			   "account: %s\ncreated: %s\nhome: %s\n", a.address,
			   created, home);
	settings_show(&a.settings, out);
	k = malloc(sizeof(*k));
	buf_init(&links, ADMIN_REPLY_MAX);
	if (k == NULL ||
	    authdb_links(auth.db, a.address, 'a', &links, &error) < 0)
		goto fail;
	pos = (char *)buf_cstr(&links);
	while ((item = authdb_links_next(&pos)) != NULL)
		(void)buf_printf(out, "alias: %s\n", item);
	buf_clear(&links);
	if (authdb_links(auth.db, a.address, 'k', &links, &error) < 0)
		goto fail;
	pos = (char *)buf_cstr(&links);
	while ((item = authdb_links_next(&pos)) != NULL) {
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
	code = k == NULL
		       ? admin_reply(out, IPC_ADMIN_E_INTERNAL, "out of memory")
		       : admin_db_error(out, error);
out:
	account_wipe(&a);
	buf_deinit(&links);
	free(k);
	return code;
}
