/* LOGIN (draft-murchison-sasl-login-00): the server asks "Username:",
 * then "Password:", the client answers each with the plain value. Older
 * clients and Outlook know nothing else. It sends the password like
 * PLAIN, so it is offered under TLS only (MECH_F_PLAINTEXT), and its
 * check is PLAIN's. A client may send the user name as the initial
 * response; the challenge texts are the customary ones (clients ignore
 * them, but some log them). */
#include <stdlib.h>
#include <string.h>

#include "ipc_proto.h"
#include "mech.h"

struct login_state {
	unsigned stage; /* 0: nothing yet, 1: asked for the name, 2: asked
			 * for the password */
	size_t ulen;
	unsigned char user[ACCOUNT_ADDR_MAX + 1];
};

static enum mech_status ask(struct mech_request *req, struct login_state *st,
			    unsigned stage, const char *prompt)
{
	st->stage = stage;
	if (buf_append_cstr(&req->out, prompt) < 0)
		return mech_fail(req, IPC_AUTH_FAIL_TEMP, "out-of-memory");
	return MECH_CONTINUE;
}

static enum mech_status login_step(struct mech_request *req,
				   const unsigned char *in, size_t len)
{
	struct login_state *st = req->mech_ctx;

	if (st == NULL) {
		st = calloc(1, sizeof(*st));
		if (st == NULL)
			return mech_fail(req, IPC_AUTH_FAIL_TEMP,
					 "out-of-memory");
		req->mech_ctx = st;
	}
	if (st->stage == 0 && len == 0)
		return ask(req, st, 1, "Username:");
	if (st->stage < 2) {
		if (len == 0 || len > ACCOUNT_ADDR_MAX ||
		    memchr(in, '\0', len) != NULL)
			return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
					 "bad-user-name");
		memcpy(st->user, in, len);
		st->ulen = len;
		mech_set_attempted(req, in, len);
		return ask(req, st, 2, "Password:");
	}
	if (len == 0 || len > ACCOUNT_PASSWORD_MAX ||
	    memchr(in, '\0', len) != NULL)
		return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
				 "field-empty-or-too-long");
	return mech_password_check(req, st->user, st->ulen, in, len);
}

static void login_deinit(struct mech_request *req)
{
	if (req->mech_ctx != NULL)
		explicit_bzero(req->mech_ctx, sizeof(struct login_state));
	free(req->mech_ctx);
	req->mech_ctx = NULL;
}

const struct mech mech_login = {
	.name = "LOGIN",
	.flags = MECH_F_PLAINTEXT | MECH_F_SERVER_FIRST,
	.step = login_step,
	.deinit = login_deinit,
};
