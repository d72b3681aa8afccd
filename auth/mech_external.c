/* EXTERNAL (RFC 4422 appendix A) over TLS client certificates.
 *
 * The credential is the client's key: the login process sends the
 * fingerprint of the certificate the client proved it holds (GnuTLS checked
 * the handshake signature); a registered key (tlskey.h) authenticates its
 * account. The message is the authzid: empty means the key's login address,
 * otherwise any address (primary or alias) of that same account.
 *
 * With IPC_AUTH_F_PREAUTH the login process asks right after the handshake,
 * before any greeting: success hands the connection straight to the worker
 * (IMAP PREAUTH). Those automatic attempts fail with codes that are not
 * credential failures (MECH: no registered key; NO_PREAUTH: registered but
 * the key opted out of IMAP preauth), so a client that happens to send an
 * unrelated certificate is neither delayed nor counted as guessing. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ipc_proto.h"
#include "mech.h"
#include "str.h"
#include "tlskey.h"

/* 1 with key_r filled, or a failure already set in req (0). */
static int external_key(struct mech_request *req, struct tlskey *key_r,
			bool automatic)
{
	int ret;

	if (req->client_key[0] == '\0') {
		mech_fail(req,
			  automatic ? IPC_AUTH_FAIL_MECH
				    : IPC_AUTH_FAIL_CREDENTIALS,
			  "no-client-certificate");
		return 0;
	}
	ret = tlskey_lookup(req->client_key, key_r);
	if (ret < 0) {
		mech_fail(req, IPC_AUTH_FAIL_TEMP, "database-error");
		return 0;
	}
	if (ret == 0) {
		mech_fail(req,
			  automatic ? IPC_AUTH_FAIL_MECH
				    : IPC_AUTH_FAIL_CREDENTIALS,
			  "unknown-client-key");
		return 0;
	}
	return 1;
}

static enum mech_status external_automatic(struct mech_request *req,
					   const struct tlskey *k, size_t len)
{
	if (len != 0)
		return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
				 "preauth-with-authzid");
	if ((req->flags & IPC_AUTH_F_PROBE) != 0)
		return mech_fail(req, IPC_AUTH_FAIL_NO_PREAUTH,
				 "registered-key-probe");
	if (strcmp(req->service, "imap") == 0 &&
	    (k->flags & TLSKEY_F_NO_IMAP_PREAUTH) != 0)
		return mech_fail(req, IPC_AUTH_FAIL_NO_PREAUTH,
				 "key-without-imap-preauth");
	return MECH_SUCCESS;
}

static enum mech_status external_step(struct mech_request *req,
				      const unsigned char *in, size_t len)
{
	bool automatic = (req->flags & IPC_AUTH_F_PREAUTH) != 0;
	struct tlskey *k = NULL;
	struct account acct;
	char account[ACCOUNT_ADDR_MAX + 1];
	enum mech_status st;
	int ret;

	if (len > 0)
		mech_set_attempted(req, in, len);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return mech_fail(req, IPC_AUTH_FAIL_TEMP, "out-of-memory");
	if (external_key(req, k, automatic) == 0) {
		free(k);
		return MECH_FAILURE;
	}
	if (len == 0)
		(void)str_cpy(req->attempted, k->login, sizeof(req->attempted));
	(void)str_cpy(account, k->account, sizeof(account));
	st = automatic ? external_automatic(req, k, len) : MECH_SUCCESS;
	free(k);
	if (st != MECH_SUCCESS)
		return st;
	/* the authzid names the key's account (or is empty) */
	if (len > 0) {
		ret = mech_lookup_account((const char *)in, len, &acct);
		if (ret < 0)
			return mech_fail(req, IPC_AUTH_FAIL_TEMP,
					 "database-error");
		ret = ret == 0 ? -1 : strcmp(acct.address, account);
		account_wipe(&acct);
		if (ret != 0)
			return mech_fail(req, IPC_AUTH_FAIL_CREDENTIALS,
					 "authzid-not-of-key-account");
	} else {
		/* deleting an account deletes its keys; this only closes
		 * the window of a concurrent delete */
		ret = mech_lookup_account(account, strlen(account), &acct);
		account_wipe(&acct);
		if (ret <= 0)
			return mech_fail(req,
					 ret < 0 ? IPC_AUTH_FAIL_TEMP
						 : IPC_AUTH_FAIL_CREDENTIALS,
					 "key-account-gone");
	}
	memcpy(req->user, account, sizeof(req->user));
	return MECH_SUCCESS;
}

int mech_check_client_key(struct mech_request *req)
{
	struct tlskey *k;
	int ret;

	if (req->client_key[0] == '\0' || req->mech == &mech_external)
		return 0;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		mech_fail(req, IPC_AUTH_FAIL_TEMP, "out-of-memory");
		return -1;
	}
	ret = tlskey_lookup(req->client_key, k);
	if (ret < 0)
		mech_fail(req, IPC_AUTH_FAIL_TEMP, "database-error");
	else if (ret > 0 && strcmp(k->account, req->user) != 0)
		/* someone else's device: its owner must not log in as
		 * another account on it (nor an attacker holding the key) */
		mech_fail(req, IPC_AUTH_FAIL_CREDENTIALS,
			  "client-key-of-another-account");
	else
		ret = 0;
	free(k);
	return ret == 0 ? 0 : -1;
}

const struct mech mech_external = {
	.name = "EXTERNAL",
	.flags = 0,
	.step = external_step,
	.deinit = NULL,
};
