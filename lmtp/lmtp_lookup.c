/* Address lookups at the auth daemon's auth-master socket
 * (IPC_T_USER_LOOKUP). A session process asks one question at a time and
 * waits, so the exchange is blocking. auth is trusted: a malformed reply is
 * logged as its bug and answered TEMP. */
#include "lmtp.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "str.h"

/* auth answers from its database at once; a slower answer means trouble */
#define LMTP_LOOKUP_TIMEOUT_MS 10000

static int auth_fd = -1;
static uint32_t last_id;

void lmtp_lookup_close(void)
{
	if (auth_fd >= 0)
		close(auth_fd);
	auth_fd = -1;
}

static int lookup_connect(void)
{
	char path[4096];
	if (auth_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", lmtp.cfg.run_dir,
		 IPC_SOCK_AUTH_MASTER);
	auth_fd = ipc_connect(path);
	if (auth_fd < 0) {
		log_error("connect %s: %m", path);
		return -1;
	}
	return 0;
}

static enum lmtp_lookup_result lookup_reply(struct ipc_msg *m, uint32_t id,
					    struct lmtp_account *acct_r)
{
	const char *user, *home, *reason;
	if (m->peer_id != id) {
		log_error("auth-master: reply for request %u, expected %u",
			  m->peer_id, id);
		return LMTP_LOOKUP_TEMP;
	}
	if (m->type == IPC_T_USER_UNKNOWN) {
		if (ipc_get_str(m, &reason) < 0 || ipc_end(m) < 0)
			return LMTP_LOOKUP_TEMP;
		/* auth says "temporary failure" when its database failed */
		if (str_eq(str_from_cstr(reason),
			   STR_LIT("temporary failure")))
			return LMTP_LOOKUP_TEMP;
		return LMTP_LOOKUP_UNKNOWN;
	}
	if (m->type != IPC_T_USER_INFO || ipc_get_str(m, &user) < 0 ||
	    ipc_get_str(m, &home) < 0 ||
	    user_settings_get(m, &acct_r->settings) < 0 || ipc_end(m) < 0 ||
	    home[0] != '/' ||
	    str_cpy(acct_r->user, user, sizeof(acct_r->user)) < 0 ||
	    str_cpy(acct_r->home, home, sizeof(acct_r->home)) < 0) {
		log_error("auth-master: malformed lookup reply (type %u)",
			  m->type);
		return LMTP_LOOKUP_TEMP;
	}
	return LMTP_LOOKUP_FOUND;
}

enum lmtp_lookup_result lmtp_lookup(const char *address,
				    struct lmtp_account *acct_r)
{
	/* one retry: auth may have restarted since the last question */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (lookup_connect() < 0)
			return LMTP_LOOKUP_TEMP;
		struct ipc_msg q, r;
		uint32_t id = ++last_id;
		ipc_msg_init(&q, IPC_T_USER_LOOKUP, id);
		ipc_add_str(&q, address);
		if (ipc_send_blocking(auth_fd, &q) < 0 || ipc_recv_blocking(auth_fd, &r,
						  LMTP_LOOKUP_TIMEOUT_MS) < 0) {
			log_warn("auth-master: lookup failed: %m");
			lmtp_lookup_close();
			continue;
		}
		enum lmtp_lookup_result res = lookup_reply(&r, id, acct_r);
		ipc_msg_deinit(&r);
		if (res == LMTP_LOOKUP_TEMP)
			lmtp_lookup_close();
		return res;
	}
	return LMTP_LOOKUP_TEMP;
}
