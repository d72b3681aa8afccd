/* PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd.
 * We do not support acting as another user: authzid must be empty or equal
 * to authcid. */
#include <string.h>

#include "ipc_proto.h"
#include "mech.h"
#include "saslprep.h"

static enum mech_status plain_step(struct mech_request *req,
				   const unsigned char *in, size_t len)
{
	const unsigned char *authzid, *authcid, *pw, *nul1, *nul2;
	size_t zlen, clen, pwlen;

	nul1 = len == 0 ? NULL : memchr(in, '\0', len);
	nul2 = nul1 == NULL ? NULL
			    : memchr(nul1 + 1, '\0',
				     len - (size_t)(nul1 + 1 - in));
	if (nul2 == NULL)
		return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
				 "malformed-message");
	authzid = in;
	zlen = (size_t)(nul1 - in);
	authcid = nul1 + 1;
	clen = (size_t)(nul2 - authcid);
	pw = nul2 + 1;
	pwlen = len - (size_t)(pw - in);
	mech_set_attempted(req, authcid, clen);
	if (memchr(pw, '\0', pwlen) != NULL)
		return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
				 "malformed-message");
	if (clen == 0 || pwlen == 0 || clen > ACCOUNT_ADDR_MAX ||
	    zlen > ACCOUNT_ADDR_MAX || pwlen > ACCOUNT_PASSWORD_MAX)
		return mech_fail(req, IPC_AUTH_FAIL_MALFORMED,
				 "field-empty-or-too-long");
	if (zlen != 0 && (zlen != clen || memcmp(authzid, authcid, clen) != 0))
		return mech_fail(req, IPC_AUTH_FAIL_CREDENTIALS,
				 "authzid-differs");

	return mech_password_check(req, authcid, clen, pw, pwlen);
}

enum mech_status mech_password_check(struct mech_request *req,
				     const unsigned char *authcid, size_t clen,
				     const unsigned char *pw, size_t pwlen)
{
	char prepped[ACCOUNT_PASSWORD_MAX + 1];
	struct account acct;
	const char *error;
	size_t plen;
	bool ok, prep_ok;
	int ret;

	/* the secret was derived from the SASLprep'ed password; a password
	 * SASLprep refuses cannot be right (same work, same answer) */
	prep_ok = saslprep((const char *)pw, pwlen, SASLPREP_QUERY, prepped,
			   sizeof(prepped), &plen, &error) == 0;
	if (!prep_ok) {
		memset(prepped, 'x', 8);
		plen = 8;
	}
	ret = mech_lookup_account((const char *)authcid, clen, &acct);
	if (ret < 0) {
		explicit_bzero(prepped, sizeof(prepped));
		return mech_fail(req, IPC_AUTH_FAIL_TEMP, "database-error");
	}
	if (ret == 0) {
		/* same work as a real check, same answer */
		(void)scram_verify_password(mech_dummy_secret(), prepped,
					    plen);
		explicit_bzero(prepped, sizeof(prepped));
		return mech_fail(req, IPC_AUTH_FAIL_CREDENTIALS,
				 "unknown-user");
	}
	ok = scram_verify_password(&acct.sha256, prepped, plen) && prep_ok;
	explicit_bzero(prepped, sizeof(prepped));
	if (ok)
		memcpy(req->user, acct.address, sizeof(req->user));
	account_wipe(&acct);
	if (!ok)
		return mech_fail(req, IPC_AUTH_FAIL_CREDENTIALS,
				 prep_ok ? "wrong-password"
					 : "password-not-saslprep");
	return MECH_SUCCESS;
}

const struct mech mech_plain = {
	.name = "PLAIN",
	.flags = MECH_F_PLAINTEXT,
	.step = plain_step,
	.deinit = NULL,
};
