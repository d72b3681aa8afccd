#include "settings.h"

#include <inttypes.h>
#include <string.h>

#include "account.h"
#include "admin.h"
#include "auth.h"
#include "ipc_proto.h"
#include "strnum.h"

/* A limit as an admin writes it. 0 with *v_r set (0 = unlimited) or left
 * alone for "-", -1 if it is none of the accepted forms. */
static int parse_limit(const char *in, bool units, uint64_t *v_r)
{
	static const char suffixes[] = "KMGT";
	size_t len = strlen(in);
	unsigned shift = 0;
	const char *u;
	char upper;
	uint64_t v;

	if (strcmp(in, "-") == 0)
		return 0;
	if (strcmp(in, "none") == 0) {
		*v_r = 0;
		return 0;
	}
	upper = len > 1 ? (char)(in[len - 1] & ~0x20) : '\0';
	if (units && upper != '\0' && (u = strchr(suffixes, upper)) != NULL) {
		shift = 10 * (unsigned)(u - suffixes + 1);
		len--;
	}
	if (strnum_u64(in, len, &v) < 0 || (shift > 0 && v >> (64 - shift)))
		return -1;
	*v_r = v << shift;
	return 0;
}

/* Stores a's settings and tells the master. */
static uint32_t settings_save(struct account *a, struct buf *out)
{
	const char *error;
	uint32_t code;

	switch (authdb_update(auth.db, a, &error)) {
	case AUTHDB_OK:
		master_conn_push_settings(a->address, &a->settings);
		code = admin_reply(out, IPC_ADMIN_OK, "%s", "");
		break;
	case AUTHDB_NOTFOUND: /* deleted meanwhile */
		code = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such user: %s", a->address);
		break;
	default:
		code = admin_db_error(out, error);
		break;
	}
	account_wipe(a);
	return code;
}

uint32_t settings_admin_quota(const char *account, const char *storage,
			      const char *messages, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct account a;
	uint32_t code = IPC_ADMIN_OK;
	uint64_t st, msgs;

	if (admin_address(account, addr, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	st = a.settings.quota_storage;
	msgs = a.settings.quota_messages;
	if (parse_limit(storage, true, &st) < 0) {
		account_wipe(&a);
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "invalid storage limit: %s (bytes, with an "
				   "optional K, M, G or T, or none)",
				   storage);
	}
	if (parse_limit(messages, false, &msgs) < 0) {
		account_wipe(&a);
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "invalid message limit: %s (a number, or "
				   "none)",
				   messages);
	}
	a.settings.quota_storage = st;
	a.settings.quota_messages = msgs;
	return settings_save(&a, out);
}

uint32_t settings_admin_trace(const char *account, const char *level,
			      struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct account a;
	uint32_t code = IPC_ADMIN_OK, trace;

	if (user_trace_parse(level, &trace) < 0)
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "invalid trace level: %s (none, trace, "
				   "traceauth or tracedata)",
				   level);
	if (admin_address(account, addr, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	a.settings.trace = trace;
	return settings_save(&a, out);
}

uint32_t settings_admin_set(const char *account, const char *name,
			    const char *value, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct account a;
	uint32_t code = IPC_ADMIN_OK;
	bool on = strcmp(value, "on") == 0;

	if (strcmp(name, "save-sent") != 0)
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "unknown setting: %s (save-sent)", name);
	if (!on && strcmp(value, "off") != 0)
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "invalid value: %s (on or off)", value);
	if (admin_address(account, addr, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	if (on)
		a.settings.flags |= USER_F_SAVE_SENT;
	else
		a.settings.flags &= ~USER_F_SAVE_SENT;
	return settings_save(&a, out);
}

static void show_limit(struct buf *out, const char *name, uint64_t v)
{
	if (v == 0)
		(void)buf_printf(out, "%s: none\n", name);
	else
		(void)buf_printf(out, "%s: %" PRIu64 "\n", name, v);
}

void settings_show(const struct user_settings *s, struct buf *out)
{
	show_limit(out, "quota-storage", s->quota_storage);
	show_limit(out, "quota-messages", s->quota_messages);
	(void)buf_printf(out, "trace: %s\n", user_trace_name(s->trace));
	(void)buf_printf(out, "save-sent: %s\n",
			 (s->flags & USER_F_SAVE_SENT) != 0 ? "on" : "off");
}
