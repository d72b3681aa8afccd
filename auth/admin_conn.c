/* The auth-admin socket (mailadm) and the admin commands themselves.
 *
 * Peers are root or members of admin_group, checked at accept. They may
 * change any account, but their input is still validated like any other:
 * addresses are canonicalised, passwords bounded, and a password never
 * reaches a log line. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "admin.h"
#include "alias.h"
#include "auth.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "settings.h"
#include "tlskey.h"

/* Arguments per request; the longest command has two. */
#define ADMIN_MAX_ARGS 4

struct admin_conn {
	struct admin_conn *prev, *next;
	struct ipc_chan *chan;
	struct ucred peer;
};

static const struct ipc_rule admin_rules[] = {
	/* tlskey-add carries a certificate (up to X509_PEM_MAX) */
	{IPC_T_ADMIN_REQUEST, X509_PEM_MAX + 4096, false, false},
};

static struct admin_conn *admin_conns;
static size_t admin_nconns;

uint32_t admin_reply(struct buf *out, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	buf_clear(out);
	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	return code;
}

uint32_t admin_db_error(struct buf *out, const char *error)
{
	log_error("admin: account database: %s", error);
	return admin_reply(out, IPC_ADMIN_E_INTERNAL,
			   "account database error (see the auth daemon's "
			   "log)");
}

int admin_address(const char *in, char *addr, struct buf *out, uint32_t *code_r)
{
	const char *error;

	if (account_address_canonical(in, strlen(in), addr, &error) < 0) {
		*code_r = admin_reply(out, IPC_ADMIN_E_INVALID,
				      "invalid address: %s: %s", in, error);
		return -1;
	}
	return 0;
}

int admin_account_get(const char *addr, struct account *a_r, struct buf *out,
		      uint32_t *code_r)
{
	const char *error;

	switch (authdb_get(auth.db, addr, a_r, &error)) {
	case AUTHDB_OK:
		return 0;
	case AUTHDB_NOTFOUND:
		*code_r = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				      "no such user: %s", addr);
		return -1;
	default:
		*code_r = admin_db_error(out, error);
		return -1;
	}
}

static int check_password(const char *pw, struct buf *out, uint32_t *code_r)
{
	size_t len = strlen(pw);

	if (len == 0) {
		*code_r =
			admin_reply(out, IPC_ADMIN_E_INVALID, "empty password");
		return -1;
	}
	if (len > ACCOUNT_PASSWORD_MAX) {
		*code_r = admin_reply(out, IPC_ADMIN_E_INVALID,
				      "password longer than %d bytes",
				      ACCOUNT_PASSWORD_MAX);
		return -1;
	}
	return 0;
}

static uint32_t user_add(const char *in, const char *pw, struct buf *out)
{
	struct account a;
	const char *error;
	uint32_t code = IPC_ADMIN_OK;

	memset(&a, 0, sizeof(a));
	if (admin_address(in, a.address, out, &code) < 0 ||
	    check_password(pw, out, &code) < 0)
		return code;
	a.created = (uint64_t)time(NULL);
	if (account_set_password(&a, pw, strlen(pw), auth.iterations,
				 &error) < 0) {
		account_wipe(&a);
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "%s", error);
	}
	switch (authdb_add(auth.db, &a, &error)) {
	case AUTHDB_OK:
		code = admin_reply(out, IPC_ADMIN_OK, "%s", "");
		break;
	case AUTHDB_EXISTS:
		code = admin_reply(out, IPC_ADMIN_E_EXISTS,
				   "user already exists: %s", a.address);
		break;
	default:
		code = admin_db_error(out, error);
		break;
	}
	account_wipe(&a);
	return code;
}

static uint32_t user_passwd(const char *in, const char *pw, struct buf *out)
{
	struct account a;
	char addr[ACCOUNT_ADDR_MAX + 1];
	const char *error;
	uint32_t code = IPC_ADMIN_OK;

	if (admin_address(in, addr, out, &code) < 0 ||
	    check_password(pw, out, &code) < 0 ||
	    admin_account_get(addr, &a, out, &code) < 0)
		return code;
	if (account_set_password(&a, pw, strlen(pw), auth.iterations,
				 &error) < 0) {
		account_wipe(&a);
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "%s", error);
	}
	switch (authdb_update(auth.db, &a, &error)) {
	case AUTHDB_OK:
		code = admin_reply(out, IPC_ADMIN_OK, "%s", "");
		break;
	case AUTHDB_NOTFOUND: /* deleted meanwhile */
		code = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such user: %s", addr);
		break;
	default:
		code = admin_db_error(out, error);
		break;
	}
	account_wipe(&a);
	return code;
}

static uint32_t user_del(const char *in, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	const char *error;
	uint32_t code = IPC_ADMIN_OK;

	if (admin_address(in, addr, out, &code) < 0)
		return code;
	switch (authdb_del(auth.db, addr, &error)) {
	case AUTHDB_OK:
		return admin_reply(out, IPC_ADMIN_OK, "%s", "");
	case AUTHDB_NOTFOUND:
		return admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such user: %s", addr);
	default:
		return admin_db_error(out, error);
	}
}

/* One page of addresses sorted after `after`; mailadm asks again with the
 * last address it got until a page comes back empty. */
static uint32_t user_list(const char *after, struct buf *out)
{
	const char *error;
	size_t count;
	size_t max = out->max;

	buf_clear(out);
	if (out->max > ADMIN_REPLY_MAX)
		out->max = ADMIN_REPLY_MAX;
	if (authdb_list(auth.db, after, out, &count, &error) < 0) {
		out->max = max;
		return admin_db_error(out, error);
	}
	out->max = max;
	return IPC_ADMIN_OK;
}

uint32_t admin_run(const char *cmd, const char *const *args, size_t argc,
		   struct buf *out)
{
	if (strcmp(cmd, "user-add") == 0) {
		if (argc != 2)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-add ADDRESS PASSWORD");
		return user_add(args[0], args[1], out);
	}
	if (strcmp(cmd, "user-passwd") == 0) {
		if (argc != 2)
			return admin_reply(
				out, IPC_ADMIN_E_USAGE,
				"usage: user-passwd ADDRESS PASSWORD");
		return user_passwd(args[0], args[1], out);
	}
	if (strcmp(cmd, "user-del") == 0) {
		if (argc != 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-del ADDRESS");
		return user_del(args[0], out);
	}
	if (strcmp(cmd, "user-alias-add") == 0) {
		if (argc != 2)
			return admin_reply(
				out, IPC_ADMIN_E_USAGE,
				"usage: user-alias-add ACCOUNT ADDRESS");
		return alias_admin_add(args[0], args[1], out);
	}
	if (strcmp(cmd, "user-alias-del") == 0) {
		if (argc != 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-alias-del ADDRESS");
		return alias_admin_del(args[0], out);
	}
	if (strcmp(cmd, "user-show") == 0) {
		if (argc != 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-show ACCOUNT");
		return alias_admin_show(args[0], out);
	}
	if (strcmp(cmd, "user-kick") == 0) {
		if (argc != 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-kick ACCOUNT");
		return alias_admin_kick(args[0], out);
	}
	if (strcmp(cmd, "user-quota") == 0) {
		if (argc != 3)
			return admin_reply(
				out, IPC_ADMIN_E_USAGE,
				"usage: user-quota ACCOUNT STORAGE MESSAGES");
		return settings_admin_quota(args[0], args[1], args[2], out);
	}
	if (strcmp(cmd, "user-trace") == 0) {
		if (argc != 2)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-trace ACCOUNT LEVEL");
		return settings_admin_trace(args[0], args[1], out);
	}
	if (strcmp(cmd, "user-set") == 0) {
		if (argc != 3)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-set ACCOUNT NAME VALUE");
		return settings_admin_set(args[0], args[1], args[2], out);
	}
	if (strcmp(cmd, "tlskey-add") == 0) {
		if (argc != 4)
			return admin_reply(
				out, IPC_ADMIN_E_USAGE,
				"usage: tlskey-add ADDRESS NAME FLAGS "
				"PEM");
		return tlskey_admin_add(args[0], args[1], args[2], args[3],
					out);
	}
	if (strcmp(cmd, "tlskey-list") == 0) {
		if (argc > 2)
			return admin_reply(
				out, IPC_ADMIN_E_USAGE,
				"usage: tlskey-list [ACCOUNT [AFTER]]");
		return tlskey_admin_list(argc > 0 ? args[0] : "",
					 argc > 1 ? args[1] : "", out);
	}
	if (strcmp(cmd, "tlskey-show") == 0 || strcmp(cmd, "tlskey-rm") == 0) {
		if (argc != 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: %s FINGERPRINT", cmd);
		return cmd[7] == 's' ? tlskey_admin_show(args[0], out)
				     : tlskey_admin_rm(args[0], out);
	}
	if (strcmp(cmd, "user-list") == 0) {
		if (argc > 1)
			return admin_reply(out, IPC_ADMIN_E_USAGE,
					   "usage: user-list [AFTER]");
		return user_list(argc == 1 ? args[0] : "", out);
	}
	return admin_reply(out, IPC_ADMIN_E_USAGE, "unknown command: %s", cmd);
}

static void admin_conn_free(struct admin_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		admin_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	admin_nconns--;
	ipc_chan_free(&c->chan);
	free(c);
}

static void admin_handler(struct ipc_chan *chan, struct ipc_msg *msg,
			  void *ctx)
{
	struct admin_conn *c = ctx;
	const char *cmd, *args[ADMIN_MAX_ARGS];
	uint32_t argc, code;
	struct buf out;
	struct ipc_msg m;
	bool ok;

	ok = ipc_get_str(msg, &cmd) == 0 && ipc_get_u32(msg, &argc) == 0 &&
	     argc <= ADMIN_MAX_ARGS;
	for (uint32_t i = 0; ok && i < argc; i++)
		ok = ipc_get_str(msg, &args[i]) == 0;
	if (!ok || ipc_end(msg) < 0) {
		log_warn("admin: malformed request from uid=%ld pid=%ld",
			 (long)c->peer.uid, (long)c->peer.pid);
		admin_conn_free(c);
		return;
	}
	buf_init(&out, IPC_MAX_PAYLOAD);
	code = admin_run(cmd, args, argc, &out);
	/* the address is the first argument of every command but the
	 * listing; passwords (the second) are never logged */
	if (strcmp(cmd, "user-list") != 0)
		log_info("admin: command=%s uid=%ld pid=%ld address=%s "
			 "result=%s code=%u%s%s",
			 cmd, (long)c->peer.uid, (long)c->peer.pid,
			 argc > 0 ? args[0] : "-",
			 code == IPC_ADMIN_OK ? "ok" : "fail", code,
			 code == IPC_ADMIN_OK ? "" : " error=",
			 code == IPC_ADMIN_OK ? "" : buf_cstr(&out));
	ipc_msg_init(&m, IPC_T_ADMIN_REPLY, msg->peer_id);
	ipc_add_u32(&m, code);
	ipc_add_str(&m, buf_cstr(&out));
	ipc_chan_send(chan, &m);
	buf_deinit(&out);
	/* the request payload (with any password) is wiped by ipc_msg_deinit
	 * when this handler returns */
}

static void admin_close(struct ipc_chan *chan POSTERN_UNUSED,
			const char *reason, void *ctx)
{
	struct admin_conn *c = ctx;

	if (strcmp(reason, "peer closed") != 0)
		log_warn("admin: dropping uid=%ld pid=%ld: %s",
			 (long)c->peer.uid, (long)c->peer.pid, reason);
	admin_conn_free(c);
}

void admin_conn_accept(int fd, const struct ucred *peer)
{
	struct admin_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		log_fatal("out of memory");
	c->peer = *peer;
	c->chan = ipc_chan_new(fd, "auth-admin", admin_rules,
			       N_ELEMENTS(admin_rules), admin_handler,
			       admin_close, c);
	c->next = admin_conns;
	if (admin_conns != NULL)
		admin_conns->prev = c;
	admin_conns = c;
	admin_nconns++;
}

void admin_conn_deinit_all(void)
{
	while (admin_conns != NULL)
		admin_conn_free(admin_conns);
}

size_t admin_conn_count(void)
{
	return admin_nconns;
}
